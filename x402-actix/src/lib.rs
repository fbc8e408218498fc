//! x402 payments for actix-web 4: the [`X402`] middleware and the [`Paid`] extractor.
//!
//! [`X402`] wraps an `App`, a `Scope` or a `Resource` (`.wrap(X402::new(gate))`). It runs the
//! payment exchange of [`x402_core::gate`], the same one the tower adapter runs, so both answer
//! alike: unpriced requests pass untouched; priced requests without a payment get
//! `402 Payment Required` with the challenge (`PAYMENT-REQUIRED` header, a v1 JSON body, an HTML
//! paywall for browsers); paid requests are checked locally, verified with the facilitator,
//! served, and settled before the response body is sent — only when the handler answered below
//! 400.
//!
//! Payment outcomes are responses, never errors. The route table can be replaced while serving
//! through the gate's [`RouteTableHandle`]. Build the [`Gate`] once, outside
//! `HttpServer::new`: every worker's middleware shares it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{App, HttpServer, web};
//! use x402_actix::{Gate, Paid, RouteTableHandle, X402};
//! use x402_core::{RouteTable, facilitator::Facilitator, spec::RouteSpec};
//!
//! async fn weather(Paid(payment): Paid) -> String {
//!     format!("sunny, thanks {:?}", payment.payer)
//! }
//!
//! # fn facilitator() -> Arc<dyn Facilitator> { unimplemented!() }
//! # async fn run() -> std::io::Result<()> {
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
//! routes: [ { path: /weather, methods: [GET], price: "$0.001" } ]
//! "#).unwrap();
//! let routes = RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap());
//! let gate = Gate::builder(routes, facilitator()).build().unwrap();
//!
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(X402::new(gate.clone()))
//!         .route("/weather", web::get().to(weather))
//! })
//! .bind(("127.0.0.1", 4021))?
//! .run()
//! .await
//! # }
//! ```
//!
//! # Feature flags
//!
//! This crate has no feature flags of its own; the core's features are enabled on
//! `x402-http-core` (re-exported here as [`x402_core`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod discovery;
mod extract;
mod middleware;
pub mod usage;

pub use extract::{Paid, PaymentMissing};
pub use middleware::{ResponseFuture, X402, X402Middleware};
pub use x402_core::{
    self,
    gate::{
        Gate, GateBuilder, Payment, PaymentOutcome, RouteTableHandle, SettlementMode,
        SettlementOverrides,
    },
};
