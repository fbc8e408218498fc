//! x402 payments for axum and hyper: a tower [`Layer`](tower_layer::Layer).
//!
//! [`X402Layer`] wraps any `Service<http::Request<B>>` returning `http::Response<_>` —
//! an axum `Router` (`Router::layer`, `route_layer`) or a plain hyper `service_fn`. It runs the
//! payment exchange of [`x402_core::gate`]: unpriced requests pass untouched; priced requests
//! without a payment get `402 Payment Required` with the challenge (`PAYMENT-REQUIRED` header,
//! a v1 JSON body, an HTML paywall for browsers); paid requests are checked locally, verified
//! with the facilitator, served, and settled before the response body is sent — only when the
//! handler answered below 400.
//!
//! [`ForwardAuth`] is the same exchange for a reverse proxy's authorization subrequest (Traefik
//! `forwardAuth`, nginx `auth_request`, Envoy `ext_authz`): a service answering 200 or 402 from
//! the `X-Forwarded-*` headers, for apps that gate another server's routes.
//!
//! [`BindBodyLayer`], outside the `X402Layer`, reads a paid request's body for a gate with a
//! ledger, so that a retry with the same body is served again (see [`bind_body`]).
//!
//! [`usage::UsageService`] serves the usage API of a payment ledger (`/internal/usage`,
//! `/internal/usage/recent`; see [`x402_core::usage`]).
//!
//! The buyer side is `client::X402PayLayer` (feature `client`): it wraps an HTTP
//! client service and pays the x402 challenges it meets, within spending caps.
//!
//! Payment outcomes are responses, never errors: the service's `Error` is the inner service's.
//! The route table can be replaced while serving through the gate's [`RouteTableHandle`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use x402_core::{RouteTable, spec::RouteSpec, facilitator::Facilitator};
//! use x402_tower::{Gate, Paid, RouteTableHandle, X402Layer};
//!
//! async fn weather(Paid(payment): Paid) -> String {
//!     format!("sunny, thanks {:?}", payment.payer)
//! }
//!
//! # fn facilitator() -> Arc<dyn Facilitator> { unimplemented!() }
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
//! routes: [ { path: /weather, methods: [GET], price: "$0.001" } ]
//! "#).unwrap();
//! let routes = RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap());
//! let gate = Gate::builder(routes, facilitator()).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/weather", get(weather))
//!     .layer(X402Layer::new(gate));
//! ```
//!
//! # Feature flags
//!
//! | Feature | Default | What it enables |
//! |---|---|---|
//! | `axum` | yes | the `Payment` extractor for axum handlers |
//! | `client` | no | `client::X402PayLayer`: pays x402 challenges for an HTTP client service |
//! | `dev-facilitator` | no | serve the dev facilitator over HTTP (`dev_facilitator::router`); it settles nothing on chain |
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod bind_body;
mod body;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "dev-facilitator")]
pub mod dev_facilitator;
pub mod discovery;
#[cfg(feature = "axum")]
mod extract;
pub mod forward_auth;
mod future;
mod layer;
mod service;
pub mod usage;

pub use bind_body::{BindBody, BindBodyLayer};
pub use body::ResponseBody;
#[cfg(feature = "client")]
pub use client::X402PayLayer;
#[cfg(feature = "axum")]
pub use extract::{Paid, PaymentMissing};
pub use forward_auth::ForwardAuth;
pub use future::ResponseFuture;
pub use layer::X402Layer;
pub use service::{HeaderMapLookup, X402, reply_response, request_parts};
pub use x402_core::{
    self,
    gate::{
        Gate, GateBuilder, Payment, PaymentOutcome, RouteTableHandle, SettlementMode,
        SettlementOverrides,
    },
};
