//! The x402 conformance suite.
//!
//! One table of cases, written once and run against every adapter (tower/axum and actix-web).
//! The cases arrive with the tower adapter; this crate is their home.
