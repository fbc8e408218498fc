//! The facilitator: the one remote dependency of every payment.
//!
//! A facilitator verifies a payment (`POST /verify`), settles it on chain (`POST /settle`) and
//! says what it supports (`GET /supported`). [`Facilitator`] abstracts it so the adapters work
//! the same with the HTTP client, several facilitators with failover, or the in-process dev
//! facilitator used by the quickstart and tests.
//!
//! The trait is object-safe (`Arc<dyn Facilitator>`) and its futures are `Send`, so it is usable
//! from tower services and from actix-web middleware alike.
//!
//! Outcomes, and the status the adapters answer with:
//!
//! | result | meaning | status |
//! |---|---|---|
//! | `Ok(VerifyResponse { is_valid: false, .. })` | the payment is invalid | 402 with `invalidReason` |
//! | `Ok(SettleResponse { success: false, .. })` | settlement refused | 402 with the failure receipt |
//! | [`FacilitatorError::Unavailable`] / [`FacilitatorError::Timeout`] | unreachable, 5xx, timed out | 503 + `Retry-After` |
//! | [`FacilitatorError::Malformed`] | an answer that is not the expected JSON, or a 4xx without one | 502 |
//! | [`FacilitatorError::SettleUnknown`] | settle may have reached the chain but the outcome is unknown | 503, tx hash in the receipt when known |

#[cfg(feature = "http-client")]
mod answer;
#[cfg(feature = "http-client")]
pub mod auth;
#[cfg(feature = "http-client")]
mod breaker;
#[cfg(feature = "dev-facilitator")]
pub mod dev;
#[cfg(feature = "http-client")]
pub mod http;
#[cfg(feature = "http-client")]
mod supported;

#[cfg(feature = "http-client")]
pub use self::{
    breaker::BreakerState,
    http::{HttpFacilitator, HttpFacilitatorBuilder, HttpFacilitatorConfigError},
};

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;

use crate::{
    labels::{ErrorCode, FacilitatorOperation, FacilitatorOutcome},
    wire::PaymentPayload,
    wire::{SettleResponse, SupportedResponse, VerifyResponse},
};

pub use crate::BoxFuture;

/// Verifies and settles payments.
pub trait Facilitator: fmt::Debug + Send + Sync + 'static {
    /// `POST /verify`: is this payment valid for these requirements?
    fn verify<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>>;

    /// `POST /settle`: execute the payment on chain.
    fn settle<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>>;

    /// `GET /supported`: the `(x402Version, scheme, network)` kinds the facilitator handles.
    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>>;
}

impl<F: Facilitator + ?Sized> Facilitator for Arc<F> {
    fn verify<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        (**self).verify(request)
    }

    fn settle<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        (**self).settle(request)
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        (**self).supported()
    }
}

/// Re-exported from [`crate::wire`], where it lives so the mechanisms below this module can
/// name it.
pub use crate::wire::Requirements;

/// One payment to verify or settle: the typed payload and requirement, and the JSON request
/// body built once — `{"x402Version", "paymentPayload", "paymentRequirements"}` with the
/// client's payload forwarded byte for byte and our requirement as serialized at build time.
#[derive(Debug, Clone)]
pub struct FacilitatorRequest<'a> {
    payment: &'a PaymentPayload,
    requirements: Requirements<'a>,
    body: Bytes,
}

impl<'a> FacilitatorRequest<'a> {
    /// A request for `payment` against `requirements`. `payment_json` is the client's payload
    /// JSON exactly as decoded from its header; `requirements_json` is our requirement's JSON.
    pub fn new(
        payment: &'a PaymentPayload,
        payment_json: &str,
        requirements: Requirements<'a>,
        requirements_json: &str,
    ) -> Self {
        Self::with_body(
            payment,
            requirements,
            request_body(payment, payment_json, requirements_json),
        )
    }

    /// A request with a body [`request_body`] built before for the same payment and requirement:
    /// the verify and the settle of one payment share one body.
    pub(crate) fn with_body(
        payment: &'a PaymentPayload,
        requirements: Requirements<'a>,
        body: Bytes,
    ) -> Self {
        Self {
            payment,
            requirements,
            body,
        }
    }

    /// The typed payment.
    pub fn payment(&self) -> &'a PaymentPayload {
        self.payment
    }

    /// The server's requirement.
    pub fn requirements(&self) -> Requirements<'a> {
        self.requirements
    }

    /// The local EVM `exact` checks of this request ([`crate::evm::check_payment`]).
    #[cfg(feature = "evm")]
    pub fn check_exact_evm(
        &self,
        now: u64,
        options: &crate::evm::CheckOptions,
    ) -> Result<crate::evm::LocalVerdict, crate::evm::CheckError> {
        crate::evm::check_payment(self.payment, self.requirements, now, options)
    }

    /// `1` or `2`, from the payload.
    pub fn x402_version(&self) -> u8 {
        match self.payment {
            PaymentPayload::V1(_) => 1,
            PaymentPayload::V2(_) => 2,
        }
    }

    /// The JSON request body (cheap to clone).
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The JSON body of a verify or settle request: `{"x402Version", "paymentPayload",
/// "paymentRequirements"}`, the two JSON texts copied in verbatim.
pub(crate) fn request_body(
    payment: &PaymentPayload,
    payment_json: &str,
    requirements_json: &str,
) -> Bytes {
    let version = match payment {
        PaymentPayload::V1(_) => "1",
        PaymentPayload::V2(_) => "2",
    };
    let mut body = Vec::with_capacity(64 + payment_json.len() + requirements_json.len());
    body.extend_from_slice(b"{\"x402Version\":");
    body.extend_from_slice(version.as_bytes());
    body.extend_from_slice(b",\"paymentPayload\":");
    body.extend_from_slice(payment_json.as_bytes());
    body.extend_from_slice(b",\"paymentRequirements\":");
    body.extend_from_slice(requirements_json.as_bytes());
    body.push(b'}');
    body.into()
}

/// The facilitator's non-terminal settle reason (and the detail of the error it becomes).
pub(crate) const SETTLEMENT_PENDING: &str = "settlement_pending";

/// Why a facilitator call failed. Closed: each variant tells the adapters which status to send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FacilitatorError {
    /// Could not reach the facilitator (connection refused/reset, DNS, TLS) or it answered a
    /// 5xx without a usable body. Retriable: 503 with `Retry-After`.
    #[error("facilitator {facilitator} unavailable for {operation}: {detail}")]
    Unavailable {
        /// The facilitator (its base URL, or a name).
        facilitator: Arc<str>,
        /// The call.
        operation: FacilitatorOperation,
        /// What went wrong.
        detail: String,
    },
    /// No answer in time. Retriable: 503 with `Retry-After`. (A settle timeout is reported as
    /// [`FacilitatorError::SettleUnknown`] instead, since the payment may have landed.)
    #[error("facilitator {facilitator} did not answer {operation} within {after:?}")]
    Timeout {
        /// The facilitator.
        facilitator: Arc<str>,
        /// The call.
        operation: FacilitatorOperation,
        /// The time limit that passed.
        after: Duration,
    },
    /// An answer that is not the expected JSON, or an HTTP error status without a verify/settle
    /// body (e.g. 400/401 from a hosted facilitator). Our trouble, not the client's: 502.
    #[error("facilitator {facilitator} answered {operation} with something unusable: {detail}")]
    Malformed {
        /// The facilitator.
        facilitator: Arc<str>,
        /// The call.
        operation: FacilitatorOperation,
        /// What was wrong (status and a short excerpt).
        detail: String,
    },
    /// Settlement may have reached the chain but its outcome is unknown (timeout after sending,
    /// 5xx, `settlement_pending`). 503, never retried blindly; the transaction hash goes in the
    /// failure receipt when known.
    #[error("settlement outcome unknown at {facilitator}: {detail}")]
    SettleUnknown {
        /// The facilitator.
        facilitator: Arc<str>,
        /// The transaction hash, if the facilitator reported one.
        transaction: Option<String>,
        /// What happened.
        detail: String,
    },
    /// Every configured facilitator is skipped by its circuit breaker. 503 with `Retry-After`.
    #[error("no facilitator available: every circuit breaker is open")]
    AllCircuitsOpen,
}

impl FacilitatorError {
    /// The HTTP status an adapter answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed { .. } => 502,
            Self::Unavailable { .. }
            | Self::Timeout { .. }
            | Self::SettleUnknown { .. }
            | Self::AllCircuitsOpen => 503,
        }
    }

    /// Whether the client may retry the same request later.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Timeout { .. } | Self::AllCircuitsOpen
        )
    }

    /// Whether this is the facilitator's `settlement_pending` answer with a transaction hash:
    /// the broadcast succeeded, confirmation was not seen in time, and a second `/settle` with
    /// the same body reconciles against that transaction instead of sending another.
    pub fn is_settlement_pending(&self) -> bool {
        matches!(self, Self::SettleUnknown { transaction: Some(tx), detail, .. }
            if !tx.is_empty() && detail.ends_with(SETTLEMENT_PENDING))
    }

    /// The machine-readable `reason` of the response body.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable { .. } | Self::AllCircuitsOpen => ErrorCode::FacilitatorUnavailable,
            Self::Timeout { .. } => ErrorCode::FacilitatorTimeout,
            Self::Malformed { .. } => ErrorCode::FacilitatorBadResponse,
            Self::SettleUnknown { .. } => ErrorCode::SettlementUnknown,
        }
    }

    /// [`code`](Self::code) as text (e.g. a failure receipt's `errorReason`).
    pub fn reason(&self) -> &'static str {
        self.code().as_str()
    }

    /// The facilitator outcome label for metrics.
    pub fn outcome(&self) -> FacilitatorOutcome {
        match self {
            Self::Unavailable { .. } | Self::AllCircuitsOpen => FacilitatorOutcome::Unavailable,
            Self::Timeout { .. } | Self::SettleUnknown { .. } => FacilitatorOutcome::Timeout,
            Self::Malformed { .. } => FacilitatorOutcome::Malformed,
        }
    }
}
