//! criterion benchmarks for the x402 crates: run them with `cargo bench -p benches`.
//!
//! The benchmarks are the `[[bench]]` targets beside this file. This library holds what several
//! of them share: the route spec, an instant facilitator, pre-signed payments
//! ([`fixture`]), and the axum app with a driver that calls it in process ([`axum_app`]).

pub mod axum_app;
pub mod fixture;
