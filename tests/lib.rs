//! The x402 conformance suite.
//!
//! One table of cases, written once and run against every adapter. An adapter provides an
//! [`AppFactory`]: given a [`Gate`](x402_core::gate::Gate), it builds the same small app
//! (see [`app`]) behind its middleware and sends requests to it in process. The
//! [`conformance_suite!`] macro then expands every case into a `#[tokio::test]`:
//!
//! ```text
//! tests::conformance_suite!(Axum); // in tests/tower.rs, with `struct Axum;` its factory
//! ```
//!
//! The facilitator is [`ScriptedFacilitator`]: in process, scripted per test, counting calls.
//! The HTTP facilitator client is tested against real HTTP servers in `x402-core`.

pub mod app;
pub mod cases;
pub mod facilitator;
pub mod fixture;
pub mod hardening;

pub use app::{AppFactory, AppUnderTest, TestRequest, TestResponse};
pub use facilitator::{Script, ScriptedFacilitator};
pub use fixture::Fixture;
