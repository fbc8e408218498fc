//! The buyer side of x402 (feature `client`): pay the 402 challenges of paid APIs, within caps.
//!
//! - [`Challenge`]: a decoded 402, v2 (`PAYMENT-REQUIRED` header) or v1 (JSON body);
//! - [`PaymentPolicy`]: which option to pay (allowed networks and assets, `maxPerRequest`,
//!   preference order);
//! - [`Budget`]: `maxTotal` and `maxSpendPerDay` per asset, reserved before signing, released
//!   when a payment certainly failed;
//! - [`Signer`]: the async, object-safe signer (a local key with feature `evm-signer`, or a KMS);
//! - [`build_payment`]: the v1/v2 payment for a chosen option, as the official clients build it;
//! - [`Buyer`]: all of the above for one upstream, with its [`metrics`]. HTTP clients drive it:
//!   the tower layer `x402_tower::client::X402PayLayer` is one.
//!
//! ```
//! use std::sync::Arc;
//! use alloy_primitives::U256;
//! use x402_core::client::{AssetKey, Budget, Buyer, Limits, PaymentPolicy, PurchaseOutcome};
//! use x402_core::{codec, network::Network};
//! use x402_core::evm::signer::PrivateKeySigner;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let base_sepolia = Network::parse("base-sepolia")?;
//! let usdc = AssetKey::default_for(&base_sepolia).expect("Base Sepolia has USDC");
//! // anvil's first dev key: never use it for real funds.
//! let key: PrivateKeySigner =
//!     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse()?;
//! let buyer = Buyer::builder(Arc::new(key))
//!     .upstream("weather-api")
//!     .policy(PaymentPolicy::new()
//!         .networks([base_sepolia])
//!         .max_per_request(usdc, U256::from(10_000))) // $0.01
//!     .budget(Budget::new([(usdc, Limits {
//!         max_total: Some(U256::from(1_000_000)),      // $1
//!         max_per_day: Some(U256::from(100_000)),      // $0.10
//!     })]))
//!     .build()?;
//!
//! // The 402's PAYMENT-REQUIRED header (here: the official server's for $0.001).
//! let header = "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQYXltZW50IHJlcXVpcmVkIiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cDovLzEyNy4wLjAuMTo0MDIxL3dlYXRoZXI/Y2l0eT1TRiIsImRlc2NyaXB0aW9uIjoiV2VhdGhlciBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAiLCJhc3NldCI6IjB4MDM2Q2JENTM4NDJjNTQyNjYzNGU3OTI5NTQxZUMyMzE4ZjNkQ0Y3ZSIsInBheVRvIjoiMHgyMDk2OTNCYzZhZmMwQzUzMjhiQTM2RmFGMDNDNTE0RUYzMTIyODdDIiwibWF4VGltZW91dFNlY29uZHMiOjMwMCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";
//! let pending = buyer.pay(Some(header.as_bytes()), b"").await?;
//! assert_eq!(pending.header_name(), codec::PAYMENT_SIGNATURE);
//! // ... send the request again with the header; then, with the answer:
//! let purchase = pending.finish(200, None);
//! assert_eq!(purchase.outcome, PurchaseOutcome::Unconfirmed); // no receipt came back
//! let now = x402_core::clock::Clock::now(&x402_core::clock::SystemClock);
//! assert_eq!(buyer.budget().remaining(usdc, now), Some(U256::from(99_000)));
//! # Ok(())
//! # }
//! ```

mod budget;
mod buyer;
mod challenge;
pub mod metrics;
mod payload;
mod policy;
mod signer;

pub use budget::{Budget, Cap, CapError, Limits, Reservation};
pub use buyer::{
    BuyError, Buyer, BuyerBuilder, BuyerConfigError, PendingPayment, Purchase, PurchaseOutcome,
};
pub use challenge::{Challenge, ChallengeError};
pub use payload::{PaymentError, SignedPayment, build_payment};
pub use policy::{AssetKey, AssetRule, Candidate, PaymentPolicy, Refusal, SelectError};
pub use signer::{AuthorizationToSign, Permit2ToSign, SignFuture, Signer, SignerError};
