//! The axum extractor for the verified payment.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::{StatusCode, request::Parts};
use x402_core::gate::Payment;

/// Extracts the verified [`Payment`] that [`X402Layer`](crate::X402Layer) put in the request
/// extensions. Use `Option<Paid>` on routes that may be free.
#[derive(Debug, Clone)]
pub struct Paid(pub Payment);

/// The rejection when no payment is in the request: the route is not behind the layer, or it
/// is not priced. A server bug, answered with 500.
#[derive(Debug, Clone, Copy)]
pub struct PaymentMissing;

impl IntoResponse for PaymentMissing {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "x402: no payment in this request (is the route priced and behind X402Layer?)",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Paid {
    type Rejection = PaymentMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Payment>()
            .cloned()
            .map(Paid)
            .ok_or(PaymentMissing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Paid {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Payment>().cloned().map(Paid))
    }
}
