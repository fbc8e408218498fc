//! x402 payments as a [tower] `Layer` for axum and hyper services.
//!
//! **Status: skeleton.** The layer (`X402Layer`), the axum `Payment` extractor and the
//! quickstart arrive with the tower adapter; until then this crate only re-exports
//! [`x402_core`], the framework-free core every adapter is built on.
//!
//! [tower]: https://docs.rs/tower

pub use x402_core as core;
