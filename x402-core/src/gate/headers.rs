//! Response header names the gate sets, and how an adapter merges them into a response.

/// `Access-Control-Expose-Headers` value on every x402 response, so browser clients can
/// read the payment headers.
pub const EXPOSE_VALUE: &str = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE";
/// `Access-Control-Expose-Headers`.
pub const EXPOSE: &str = "Access-Control-Expose-Headers";
/// `Cache-Control` of challenges and errors.
pub const NO_STORE: &str = "no-store";
/// `Cache-Control` directive added to paid responses.
pub const PRIVATE: &str = "private";
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
pub fn merge(name: &str, existing: Option<&[u8]>, value: &str) -> HeaderMerge {
    if name.eq_ignore_ascii_case(EXPOSE) {
        return HeaderMerge::Append;
    }
    if !name.eq_ignore_ascii_case(CACHE_CONTROL) {
        return HeaderMerge::Set;
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
