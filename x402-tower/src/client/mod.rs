//! The buyer side (feature `client`): [`X402PayLayer`] pays the x402 challenges met by an HTTP
//! client service, within the caps of its [`Buyer`](x402_core::client::Buyer).
//!
//! All decisions (decoding, policy, caps, signing, metrics) are made by
//! [`x402_core::client`]; this module moves requests and headers.
//!
//! ## Request bodies
//!
//! A 402 is answered by sending the request again, so the body must be available twice. The
//! body type must implement [`ReplayBody`]: buffered bodies (`Full<Bytes>`, `Empty`, `String`,
//! `Bytes`, `Vec<u8>`) are copied before the first request; a streamed body that meets a 402
//! is an error ([`BuyError::BodyNotReplayable`](x402_core::client::BuyError)), never a second
//! request without its body.

mod body;
mod future;
mod layer;
mod service;

use x402_core::client::BuyError;

pub use body::ReplayBody;
pub use future::ResponseFuture;
pub use layer::{DEFAULT_MAX_CHALLENGE_BODY, X402PayLayer};
pub use service::{DEFAULT_PAID_RETRIES, MAX_PAID_RETRY_WAIT, X402Pay};
pub use x402_core::client::{Purchase, PurchaseOutcome};

/// Why a request through [`X402Pay`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayError<E> {
    /// The inner service failed (on the first request or the paid one; in the second case the
    /// payment's amount stays counted in the budget, since it may have been settled).
    #[error("the HTTP client failed")]
    Inner(#[source] E),
    /// The 402 could not be paid: the message names the upstream and the cap, option or field
    /// at fault.
    #[error(transparent)]
    Buy(BuyError),
    /// The signed payment is not a valid header value (cannot happen with base64; kept
    /// fail-closed).
    #[error("the payment header is not a valid HTTP header value")]
    InvalidPaymentHeader,
}
