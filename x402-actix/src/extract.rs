//! The actix-web extractor for the verified payment.

use std::{
    fmt,
    future::{Ready, ready},
};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, dev::Payload,
    http::StatusCode,
};
use x402_core::gate::Payment;

/// Extracts the verified [`Payment`] that [`X402`](crate::X402) put in the request extensions.
/// Use `Option<Paid>` on routes that may be free.
#[derive(Debug, Clone)]
pub struct Paid(pub Payment);

/// The rejection when no payment is in the request: the route is not behind the middleware, or
/// it is not priced. A server bug, answered with 500.
#[derive(Debug, Clone, Copy)]
pub struct PaymentMissing;

impl fmt::Display for PaymentMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("x402: no payment in this request (is the route priced and behind X402?)")
    }
}

impl std::error::Error for PaymentMissing {}

impl ResponseError for PaymentMissing {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

impl FromRequest for Paid {
    type Error = PaymentMissing;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Payment>()
                .cloned()
                .map(Paid)
                .ok_or(PaymentMissing),
        )
    }
}
