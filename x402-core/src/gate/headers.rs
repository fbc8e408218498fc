//! The header vocabulary of the gate — every name it sets on a response or has an adapter
//! strip from a request, as one closed [`Header`] enum — and how an adapter merges the gate's
//! headers into a response. (The gate *reads* request headers through
//! [`HeaderLookup`](crate::table::HeaderLookup), by name, since route conditions may name any
//! header.)
//!
//! An adapter translates [`Header`] to its framework's header type in one exhaustive `match`,
//! removes [`STRIPPED_REQUEST_HEADERS`] from a paid request before calling the handler, and
//! adds response headers by [`merge`].

use crate::codec;

/// Every header the gate sets on a response or has an adapter strip from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    /// `PAYMENT-REQUIRED`: the v2 challenge (response).
    PaymentRequired,
    /// `PAYMENT-SIGNATURE`: the v2 payment (request).
    PaymentSignature,
    /// `X-PAYMENT`: the v1 payment (request).
    XPayment,
    /// `PAYMENT-RESPONSE`: the v2 settlement receipt (response).
    PaymentResponse,
    /// `X-PAYMENT-RESPONSE`: the v1 settlement receipt (response).
    XPaymentResponse,
    /// `Access-Control-Expose-Headers` (response).
    AccessControlExposeHeaders,
    /// `Cache-Control` (response).
    CacheControl,
    /// `Content-Type` (response).
    ContentType,
    /// `Retry-After` (response).
    RetryAfter,
}

impl Header {
    /// The name as the protocol spells it (HTTP names are case-insensitive).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PaymentRequired => codec::PAYMENT_REQUIRED,
            Self::PaymentSignature => codec::PAYMENT_SIGNATURE,
            Self::XPayment => codec::X_PAYMENT,
            Self::PaymentResponse => codec::PAYMENT_RESPONSE,
            Self::XPaymentResponse => codec::X_PAYMENT_RESPONSE,
            Self::AccessControlExposeHeaders => EXPOSE,
            Self::CacheControl => CACHE_CONTROL,
            Self::ContentType => CONTENT_TYPE,
            Self::RetryAfter => RETRY_AFTER,
        }
    }
}

/// The request headers an adapter removes before calling the handler of a paid request: the
/// payment itself, which the handler receives typed in the request extensions instead.
pub const STRIPPED_REQUEST_HEADERS: [Header; 2] = [Header::PaymentSignature, Header::XPayment];

/// `Access-Control-Expose-Headers` value on every x402 response, so browser clients can
/// read the payment headers.
pub const EXPOSE_VALUE: &str = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE";
/// `Access-Control-Expose-Headers`.
pub const EXPOSE: &str = "Access-Control-Expose-Headers";
/// `Cache-Control` of challenges and errors.
pub const NO_STORE: &str = "no-store";
/// `Cache-Control` directive added to paid responses.
pub const PRIVATE: &str = "private";
/// `Cache-Control` of the discovery documents.
pub const PUBLIC_MINUTE: &str = "public, max-age=60";
/// `Content-Type` of JSON bodies.
pub const JSON: &str = "application/json";
/// `Content-Type` of the paywall page.
pub const HTML: &str = "text/html; charset=utf-8";
/// `Cache-Control`.
pub const CACHE_CONTROL: &str = "Cache-Control";
/// `Content-Type`.
pub const CONTENT_TYPE: &str = "Content-Type";
/// `Retry-After`.
pub const RETRY_AFTER: &str = "Retry-After";

/// How an adapter adds one of the gate's headers to a response.
#[derive(Debug, Clone, PartialEq, Eq)]
// Exhaustive on purpose: adapters must handle every merge; a new one should break them.
pub enum HeaderMerge {
    /// Set the header, replacing any value.
    Set,
    /// Add the value next to the existing ones.
    Append,
    /// Leave the response's header as it is.
    Keep,
    /// Replace the header with this merged value.
    Replace(String),
}

/// Decides how `name: value` joins a response whose first value of `name` is `existing`
/// (its raw bytes). `Cache-Control` directives are merged into the handler's (`private`
/// added to `max-age=60`, kept as is when already there or not text); CORS exposure is
/// appended to the handler's own; everything else is set. One rule for every adapter.
pub fn merge(name: Header, existing: Option<&[u8]>, value: &str) -> HeaderMerge {
    match name {
        Header::AccessControlExposeHeaders => return HeaderMerge::Append,
        Header::CacheControl => {}
        _ => return HeaderMerge::Set,
    }
    let Some(existing) = existing else {
        return HeaderMerge::Set;
    };
    match std::str::from_utf8(existing) {
        Ok(existing)
            if !existing
                .split(',')
                .any(|d| d.trim().eq_ignore_ascii_case(value)) =>
        {
            HeaderMerge::Replace(format!("{existing}, {value}"))
        }
        _ => HeaderMerge::Keep,
    }
}
