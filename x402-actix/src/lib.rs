//! x402 payments as actix-web middleware (`App::wrap`).
//!
//! **Status: skeleton.** The `X402` middleware and its `Payment` extractor arrive with the
//! actix adapter; they will be thin over [`x402_core`], exactly like the tower adapter, so both
//! behave identically.

pub use x402_core as core;
