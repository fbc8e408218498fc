//! criterion benchmarks for the x402 crates: run them with `cargo bench -p benches`.
//!
//! The benchmarks are the `[[bench]]` targets beside this file; `compare` is the one report
//! (our layers, bare handlers and `x402-axum` side by side, as ratios). This library holds
//! what several of them share: the route spec, an instant facilitator, pre-signed payments
//! ([`fixture`]), the axum apps with a driver that calls them in process ([`axum_app`]), the
//! incumbent's app and facilitator (`incumbent`, with the `incumbent` feature) and the
//! synthetic route sets ([`routes`]).

pub mod axum_app;
pub mod fixture;
#[cfg(feature = "incumbent")]
pub mod incumbent;
pub mod routes;
