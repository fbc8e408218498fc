//! A live x402 route table filled from `X402Route` Kubernetes custom resources.
//!
//! Platform teams declare paid routes as resources; every replica of a service embedding
//! `x402-tower` or `x402-actix` (or running `x402-gateway`) picks them up within a
//! second, without restarts.
//!
//! - [`crd`]: the `X402Route` resource (`x402.io/v1alpha1`, short name `x4r`), derived with
//!   kube's `CustomResource` over the core's [`RouteSpec`](x402_core::spec::RouteSpec) and
//!   schema-compatible with the existing operator's CRD; [`crd::crd_yaml`] prints it.
//! - [`convert`]: one object to its compiled routes and its status, each resource on its own.
//! - [`ingress`] and [`operator`]: operator mode — the watcher patches the Ingress each
//!   resource names in `spec.ingressRef` so that its paid paths reach the gateway, and undoes
//!   it when the resource goes.
//! - [`watch`]: [`RouteWatcher`](watch::RouteWatcher) keeps a
//!   [`RouteTableHandle`](x402_core::gate::RouteTableHandle) in step with the resources, with
//!   [`Readiness`](watch::Readiness) for the probe, status writes and metrics.
//!
//! ```no_run
//! use std::sync::Arc;
//! use x402_core::{RouteTable, facilitator::HttpFacilitator, gate::{Gate, RouteTableHandle}};
//! use x402_kube::watch::RouteWatcher;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let routes = RouteTableHandle::new(RouteTable::empty());
//! let watcher = RouteWatcher::new(kube::Client::try_default().await?, routes.clone())
//!     .namespace("shop");
//! let readiness = watcher.readiness();
//! tokio::spawn(watcher.run());
//!
//! let facilitator = Arc::new(HttpFacilitator::builder("https://x402.org/facilitator").build()?);
//! let gate = Gate::builder(routes, facilitator).build()?; // hand it to X402Layer / X402
//! readiness.ready().await?; // then report ready and start serving
//! # Ok(())
//! # }
//! ```
//!
//! # Notes
//!
//! - Route names are metric labels: give routes of different resources different `name`s if
//!   their series should stay apart (a route without a name is labelled with its path).
//! - Install this crate's CRD (`examples/kube/crd.yaml`) rather than the operator's to use the
//!   extension fields: under the operator's CRD the API server prunes fields it does not know.
//! - TLS: kube's client is built with rustls and the `ring` provider (no aws-lc, no cmake). If
//!   your build also enables another rustls provider, install one as the process default.
//!
//! # Kubernetes version
//!
//! Like every library over `k8s-openapi`, this crate enables no `k8s-openapi` version
//! feature: the binary does (`k8s-openapi = { version = "0.29", features = ["v1_33"] }`),
//! as the workspace's `examples` package does. The workspace's `cargo clippy --workspace`/`cargo test --workspace` get
//! it from there; `cargo check -p x402-kube` alone needs `K8S_OPENAPI_ENABLED_VERSION=1.33`.
//!
//! # Feature flags
//!
//! | Feature | Default | What it enables |
//! |---|---|---|
//! | `rustls-tls` | yes | kube's client over rustls with the `ring` provider (no aws-lc, no cmake) |
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The crate README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod convert;
pub mod crd;
pub mod ingress;
pub mod operator;
pub mod watch;

pub use x402_core as core;
