//! The [`X402`] service: the payment exchange around an inner service.

use std::{
    borrow::Cow,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use tower_service::Service;
use x402_core::{
    gate::{
        self, Admission, Gate, PaymentOutcome, Reply, RequestParts, SettlementOverrides,
        headers::{Header, HeaderMerge, STRIPPED_REQUEST_HEADERS},
        overrides,
    },
    table::HeaderLookup,
};

use crate::{bind_body::BoundBody, body::ResponseBody, future::ResponseFuture};

/// Middleware that charges for priced routes with x402. See [`X402Layer`](crate::X402Layer).
///
/// - Unpriced requests go to the inner service untouched (no boxing, no allocation).
/// - Priced requests without a payment get the 402 challenge; bad payments a 402 naming why.
/// - Paid requests are verified, the inner service runs with the typed
///   [`Payment`](x402_core::gate::Payment) in the request extensions (the raw payment header
///   removed), and the payment is settled when the inner service answered below 400, before
///   the body is sent. The receipt goes in `PAYMENT-RESPONSE` (v2) or `X-PAYMENT-RESPONSE`
///   (v1), and a [`PaymentOutcome`] in the response extensions.
#[derive(Debug, Clone)]
pub struct X402<S> {
    inner: S,
    gate: Gate,
}

impl<S> X402<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, gate: Gate) -> Self {
        Self { inner, gate }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, owned.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Header access for the gate over an `http::HeaderMap` (for code that drives a
/// [`Gate`] directly, e.g. a ForwardAuth endpoint).
#[derive(Debug, Clone, Copy)]
pub struct HeaderMapLookup<'a>(pub &'a HeaderMap);

impl HeaderLookup for HeaderMapLookup<'_> {
    fn first(&self, name: &str) -> Option<&str> {
        // `HeaderMap::get(&str)` parses the name on every call; the gate's names are known.
        let value = match known_request_header(name) {
            Some(name) => self.0.get(name),
            None => self.0.get(name),
        };
        value.and_then(|v| v.to_str().ok())
    }
}

/// The gate's view of an `http` request: method, scheme and authority of its URI, its target,
/// and `headers` (`HeaderMapLookup(request.headers())`). The `Host` header is read by the gate
/// only when it needs it.
pub fn request_parts<'a, B>(
    request: &'a Request<B>,
    headers: &'a HeaderMapLookup<'a>,
) -> RequestParts<'a, HeaderMapLookup<'a>> {
    RequestParts {
        method: request.method().as_str(),
        scheme: request.uri().scheme_str(),
        host: request.uri().authority().map(|a| a.as_str()),
        path_and_query: request.uri().path_and_query().map_or("/", |p| p.as_str()),
        headers,
    }
}

/// The request headers the gate looks up, as `HeaderName`s (names come in lower case).
fn known_request_header(name: &str) -> Option<HeaderName> {
    Some(match name {
        "payment-signature" => PAYMENT_SIGNATURE,
        "x-payment" => X_PAYMENT,
        "host" => header::HOST,
        "accept" => header::ACCEPT,
        "user-agent" => header::USER_AGENT,
        "x-forwarded-proto" => X_FORWARDED_PROTO,
        "x-forwarded-host" => X_FORWARDED_HOST,
        _ => return None,
    })
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for X402<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let admission = {
            let headers = HeaderMapLookup(request.headers());
            self.gate.admit(&request_parts(&request, &headers))
        };
        match admission {
            Admission::Pass => ResponseFuture::inner(self.inner.call(request)),
            Admission::Reply(reply) => ResponseFuture::reply(reply_response(reply)),
            Admission::Pay(mut pending) => {
                // The body `BindBodyLayer` read for the gate, if it did.
                if let Some(BoundBody(body)) = request.extensions_mut().remove() {
                    pending.bind_body(&body);
                }
                // Call the instance that was driven to readiness; keep a fresh clone here.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::paid(Box::pin(async move {
                    let (authorized, payment) = match pending.authorize().await {
                        Ok(authorized) => authorized,
                        Err(reply) => return Ok(reply_response(reply)),
                    };
                    for name in STRIPPED_REQUEST_HEADERS {
                        request.headers_mut().remove(header_name(name));
                    }
                    request.extensions_mut().insert(payment);
                    let mut response = inner.call(request).await?;
                    let status = response.status().as_u16();
                    // The handler's charge (`upto`); the header never reaches the client.
                    let header = response.headers_mut().remove(SETTLEMENT_OVERRIDES);
                    let overrides = overrides::from_response(
                        response.extensions_mut().remove::<SettlementOverrides>(),
                        header.as_ref().map(HeaderValue::as_bytes),
                    );
                    match authorized
                        .settle_with(status, overrides)
                        .await
                        .into_response_parts()
                    {
                        Ok((headers, outcome)) => {
                            for (name, value) in headers {
                                append_header(response.headers_mut(), name, value);
                            }
                            response.extensions_mut().insert(outcome);
                            Ok(response.map(ResponseBody::inner))
                        }
                        Err(reply) => Ok(reply_response(reply)),
                    }
                }))
            }
        }
    }
}

const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
const SETTLEMENT_OVERRIDES: HeaderName = HeaderName::from_static(gate::SETTLEMENT_OVERRIDES_HEADER);
const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
const X_PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("x-payment-response");

/// The HTTP response for a reply of the gate (a challenge, a rejection, facilitator trouble),
/// with its [`PaymentOutcome`] in the extensions.
pub fn reply_response<B>(reply: Reply) -> Response<ResponseBody<B>> {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let outcome = PaymentOutcome::from_reply(&reply);
    let (reply_headers, body) = reply.into_parts();
    // A fresh map and distinct names: nothing to merge with.
    let mut headers = HeaderMap::with_capacity(reply_headers.len());
    for (name, value) in reply_headers {
        if let Some(value) = header_value(value) {
            headers.append(header_name(name), value);
        }
    }
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.extensions_mut().insert(outcome);
    response
}

/// A header value of the gate. Its constant texts are used without a copy, those on every
/// challenge and paid response checked at compile time.
pub(crate) fn header_value(value: Cow<'static, str>) -> Option<HeaderValue> {
    const EXPOSE: HeaderValue = HeaderValue::from_static(gate::headers::EXPOSE_VALUE);
    const NO_STORE: HeaderValue = HeaderValue::from_static(gate::headers::NO_STORE);
    const PRIVATE: HeaderValue = HeaderValue::from_static(gate::headers::PRIVATE);
    const JSON: HeaderValue = HeaderValue::from_static(gate::headers::JSON);
    Some(match value {
        Cow::Borrowed(gate::headers::EXPOSE_VALUE) => EXPOSE,
        Cow::Borrowed(gate::headers::NO_STORE) => NO_STORE,
        Cow::Borrowed(gate::headers::PRIVATE) => PRIVATE,
        Cow::Borrowed(gate::headers::JSON) => JSON,
        Cow::Borrowed(text) => HeaderValue::from_static(text),
        Cow::Owned(text) => HeaderValue::try_from(text).ok()?,
    })
}

/// Adds one of the gate's headers to a response, by the core's merge rule.
fn append_header(headers: &mut HeaderMap, name: Header, value: Cow<'static, str>) {
    let header = header_name(name);
    let merge = gate::headers::merge(
        name,
        headers.get(&header).map(HeaderValue::as_bytes),
        &value,
    );
    let append = merge == HeaderMerge::Append;
    let value = match merge {
        HeaderMerge::Keep => return,
        HeaderMerge::Replace(merged) => Cow::Owned(merged),
        HeaderMerge::Set | HeaderMerge::Append => value,
    };
    let Some(value) = header_value(value) else {
        return;
    };
    if append {
        headers.append(header, value);
    } else {
        headers.insert(header, value);
    }
}

/// The `HeaderName` of one of the gate's headers, without parsing (the gate spells the x402
/// names in upper case, which `HeaderName` would lower-case into a new allocation).
pub(crate) fn header_name(name: Header) -> HeaderName {
    match name {
        Header::PaymentRequired => PAYMENT_REQUIRED,
        Header::PaymentSignature => PAYMENT_SIGNATURE,
        Header::XPayment => X_PAYMENT,
        Header::PaymentResponse => PAYMENT_RESPONSE,
        Header::XPaymentResponse => X_PAYMENT_RESPONSE,
        Header::AccessControlExposeHeaders => header::ACCESS_CONTROL_EXPOSE_HEADERS,
        Header::CacheControl => header::CACHE_CONTROL,
        Header::ContentType => header::CONTENT_TYPE,
        Header::RetryAfter => header::RETRY_AFTER,
    }
}
