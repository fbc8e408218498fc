//! The framework-free core of x402 for Rust.
//!
//! Everything that does not depend on a web framework lives here, so the tower/axum and
//! actix-web adapters stay thin and behave identically:
//!
//! - [`wire`]: the v1 and v2 JSON types of the x402 protocol (`PaymentRequired`,
//!   `PaymentRequirements`, `PaymentPayload`, facilitator responses);
//! - [`codec`]: the base64 header codecs (`PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`, `X-PAYMENT`,
//!   `PAYMENT-RESPONSE`, `X-PAYMENT-RESPONSE`);
//! - [`network`] and [`money`]: networks (legacy names ↔ CAIP-2), default USDC assets, and exact
//!   decimal prices in atomic units;
//! - [`spec`], [`path`], [`pattern`], [`matcher`] and [`table`]: the route configuration (the
//!   `X402Route` spec shape), path normalisation, and the compiled, immutable [`RouteTable`];
//! - [`mechanism`]: the payment mechanisms (EVM `exact` by EIP-3009 or Permit2, EVM `upto` by
//!   Permit2) behind one trait — offer part, payload classification, local checks, replay
//!   identity, settled amount, payment flows — and how to add one; [`permit2`]: the Permit2
//!   EIP-712 checks; [`flow`]: the payment flows (`authorization`, `upfront`);
//!   [`gas_sponsoring`]: the Permit2 approval extensions an offer declares;
//! - [`offer`]: the per-route payment offer, with its 402 challenge serialized once;
//! - [`labels`]: the closed outcome/reason enums and per-route metric labels;
//! - [`ledger`] and [`usage`]: the durable payment ledger (SQLite with feature `sqlite`) and
//!   the usage API over it;
//! - `client` (feature `client`): the buyer side — decode a 402, choose an option by policy,
//!   cap spending, sign the payment.
//!
//! No tower, axum, actix or `http` types appear in this crate's API.
//!
//! # Layers
//!
//! Dependencies run one way, and no module imports from a layer above its own: [`wire`],
//! [`codec`], [`money`], [`network`] (and [`labels`], [`clock`], [`BoxFuture`]) at the bottom;
//! [`flow`] beside them; the payment [`mechanism`]s (and the cryptography they use, `evm` and
//! [`permit2`]) above them;
//! `facilitator` and [`replay`] above those, [`ledger`] above them; [`spec`] → [`table`] →
//! [`offer`] (with [`gas_sponsoring`]) beside them;
//! [`gate`] on top, which is what the adapters call.
//!
//! # Example
//!
//! ```
//! use x402_core::{RouteTable, spec::RouteSpec, table::{RequestParts, RouteMatch}};
//!
//! let spec = RouteSpec::from_json(r#"{
//!     "payment": { "wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
//!                  "network": "base-sepolia", "defaultPrice": "$0.001" },
//!     "routes": [ { "path": "/weather", "methods": ["GET"] },
//!                 { "path": "/health", "free": true } ]
//! }"#).unwrap();
//! let table = RouteTable::from_spec(&spec).unwrap();
//!
//! let request = RequestParts::new("GET", Some("api.example.com"), "/weather?city=SF");
//! match table.match_request(&request).unwrap() {
//!     RouteMatch::Priced(_route, offer) => {
//!         let accept = &offer.accepts()[0];
//!         assert_eq!(accept.requirements().amount, "1000");
//!         assert_eq!(accept.requirements().network, "eip155:84532");
//!     }
//!     other => panic!("expected a priced route, got {other:?}"),
//! }
//! ```
//!
//! # Errors
//!
//! Every error type here follows one rule: its `Display` prints only its own level (what failed
//! and where), and the cause, if any, comes from [`std::error::Error::source`], never both. To
//! print the whole chain, walk `source()` (as `anyhow`'s `{:#}` does; [`ErrorChain`] does it for
//! one error); a `transparent` variant forwards both to the error it wraps.
//!
//! # Feature flags
//!
//! | Feature | Default | What it enables |
//! |---|---|---|
//! | `yaml` | yes | `RouteSpec::from_yaml` |
//! | `evm` | yes | local checks of EVM `exact` (EIP-3009) payments (`evm`); recovery on libsecp256k1 (C, built by `cc`) |
//! | `http-client` | yes | `facilitator::HttpFacilitator`: reqwest over rustls (`ring`), tokio timers |
//! | `evm-signer` | no | sign EIP-3009 authorizations with a local key (`evm::signer`) |
//! | `client` | no | the buyer side (`client`) |
//! | `redis` | no | `replay::RedisReplayGuard`, shared by several instances |
//! | `sqlite` | no | `ledger::SqliteLedger`: the durable payment ledger in one SQLite file (bundled SQLite, built by `cc`) |
//! | `postgres` | no | `ledger::PostgresLedger`: the payment ledger on PostgreSQL, shared by several instances (`tokio-postgres`, no TLS) |
//! | `dev-facilitator` | no | the in-process dev facilitator (`facilitator::dev`); it settles nothing on chain |
//! | `schemars` | no | `schemars::JsonSchema` on the route spec types (`spec`) |
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "client")]
pub mod client;
pub mod clock;
pub mod codec;
pub mod discovery;
mod error;
#[cfg(feature = "evm")]
pub mod evm;
pub mod facilitator;
pub mod flow;
pub mod gas_sponsoring;
pub mod gate;
pub mod labels;
pub mod ledger;
pub mod matcher;
pub mod mechanism;
pub mod money;
pub mod network;
pub mod offer;
pub mod path;
pub mod pattern;
pub mod payment_identifier;
mod paywall;
pub mod permit2;
pub mod replay;
pub mod spec;
pub mod table;
mod telemetry;
pub mod usage;
pub mod wire;

pub use error::ErrorChain;
pub use table::RouteTable;

/// A boxed, `Send` future, as returned by the [`facilitator::Facilitator`] and
/// [`replay::ReplayGuard`] methods. (Defined at the bottom layer so both can name it.)
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
