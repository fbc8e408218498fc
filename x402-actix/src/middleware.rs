//! The [`X402`] middleware: the payment exchange of [`x402_core::gate`] around an actix-web
//! service.
//!
//! This is a translation layer only. [`Gate::admit`], [`AdmittedPayment::authorize`] and
//! [`AuthorizedPayment::settle`] decide everything; the code here converts actix's request into the
//! core's [`RequestParts`], and the core's [`Reply`] and [`Settlement`] into actix responses,
//! exactly as the tower adapter does.
//!
//! [`AdmittedPayment::authorize`]: x402_core::gate::AdmittedPayment::authorize
//! [`AuthorizedPayment::settle`]: x402_core::gate::AuthorizedPayment::settle

use std::{
    borrow::Cow,
    fmt,
    future::{Future, Ready, ready},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use actix_web::web::{Bytes, BytesMut};
use actix_web::{
    HttpMessage, HttpRequest, HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{
        StatusCode, Version,
        header::{self, HeaderMap, HeaderName, HeaderValue},
    },
};
use futures_util::StreamExt as _;
use pin_project_lite::pin_project;
use x402_core::{
    gate::{
        self, Admission, BodyToBind, Gate, PaymentOutcome, Reply, RequestParts,
        SettlementOverrides,
        headers::{Header, HeaderMerge, STRIPPED_REQUEST_HEADERS},
        overrides,
    },
    table::HeaderLookup,
};

/// Middleware that charges for priced routes with x402: `App::wrap(X402::new(gate))`, or
/// `Scope::wrap` / `Resource::wrap` for part of an app.
///
/// - Unpriced requests go to the inner service untouched (no boxing, no allocation).
/// - Priced requests without a payment get the 402 challenge; bad payments a 402 naming why.
/// - Paid requests are verified, the inner service runs with the typed
///   [`Payment`](x402_core::gate::Payment) in the request extensions (the raw
///   `PAYMENT-SIGNATURE`/`X-PAYMENT` header removed; read it with [`Paid`](crate::Paid)), and the
///   payment is settled when the inner service answered below 400, before the body is sent
///   (streamed bodies stay streamed). The receipt goes in `PAYMENT-RESPONSE` (v2) or
///   `X-PAYMENT-RESPONSE` (v1), and a [`PaymentOutcome`] in the response extensions.
///
/// Payment outcomes are responses, never errors: the middleware's error type is the inner
/// service's. Cheap to clone: the [`Gate`] inside is built once and shared, so `HttpServer::new`
/// may build an `X402` per worker from a gate made outside it.
#[derive(Debug, Clone)]
pub struct X402 {
    gate: Gate,
}

impl X402 {
    /// Middleware running `gate`.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }

    /// The gate (e.g. to reach its route table handle).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<S, B> Transform<S, ServiceRequest> for X402
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Transform = X402Middleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(X402Middleware {
            service: Rc::new(service),
            gate: self.gate.clone(),
        }))
    }
}

/// The service [`X402`] wraps around an actix-web service. Built by actix-web through
/// [`Transform`]; see [`X402`] for what it does.
pub struct X402Middleware<S> {
    // `Rc`: the paid path calls the inner service after awaiting the facilitator.
    service: Rc<S>,
    gate: Gate,
}

impl<S> fmt::Debug for X402Middleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X402Middleware")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

/// The gate's view of an actix request; `headers` is `Headers(request.headers())`.
pub(crate) fn request_parts<'a>(
    request: &'a HttpRequest,
    headers: &'a Headers<'a>,
) -> RequestParts<'a, Headers<'a>> {
    // The URI's scheme (absolute-form targets, HTTP/2), else what the server knows of the
    // connection (bound with TLS or not). Never the client's forwarded headers: trusting those
    // is the gate's opt-in decision.
    let scheme = request
        .uri()
        .scheme_str()
        .or_else(|| request.app_config().secure().then_some("https"));
    RequestParts {
        method: request.method().as_str(),
        scheme,
        // The `Host` header is read by the gate only when it needs it.
        host: request.uri().authority().map(|a| a.as_str()),
        path_and_query: request.uri().path_and_query().map_or("/", |p| p.as_str()),
        headers,
    }
}

/// Header access over actix-web's `HeaderMap`.
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn first(&self, name: &str) -> Option<&str> {
        // actix's `HeaderMap::get(&str)` builds an owned `HeaderName`, which allocates for
        // non-standard names; the ones the gate asks for on every priced request are static.
        let value = match name {
            "payment-signature" => self.0.get(&PAYMENT_SIGNATURE),
            "x-payment" => self.0.get(&X_PAYMENT),
            "host" => self.0.get(&header::HOST),
            "x-forwarded-proto" => self.0.get(&header::X_FORWARDED_PROTO),
            "x-forwarded-host" => self.0.get(&header::X_FORWARDED_HOST),
            _ => self.0.get(name),
        };
        value.and_then(visible_ascii)
    }
}

/// `HeaderValue::to_str`: the value if it is visible ASCII (or tab). http 0.2's own loop stops
/// at the first bad byte and so does not vectorize, which costs ~10 instructions a byte on a
/// 1 KB payment header; this one checks every byte, as http 1 does.
fn visible_ascii(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let mut bad = false;
    for &b in bytes {
        bad |= !((32..127).contains(&b) || b == b'\t');
    }
    if bad {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

impl<S, B> Service<ServiceRequest> for X402Middleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B, S::Error>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let admission = {
            let headers = Headers(request.headers());
            self.gate.admit(&request_parts(request.request(), &headers))
        };
        match admission {
            Admission::Pass => ResponseFuture::inner(self.service.call(request)),
            Admission::Reply(reply) => {
                ResponseFuture::reply(request.into_response(reply_response(reply)))
            }
            Admission::Pay(mut pending) => {
                let service = Rc::clone(&self.service);
                let read = match self.gate.body_to_bind(&Headers(request.headers())) {
                    Some(BodyToBind::Read(length)) => Some(length),
                    // No length: under HTTP/1 framing there is no body (RFC 9112 §6.3).
                    Some(BodyToBind::IfEmpty) if request.version() <= Version::HTTP_11 => {
                        pending.bind_body(&[]);
                        None
                    }
                    _ => None,
                };
                ResponseFuture::paid(Box::pin(async move {
                    if let Some(length) = read {
                        // The body the gate binds the payment to; the handler reads the same bytes.
                        match read_body(request.take_payload(), length).await {
                            Some(body) => {
                                pending.bind_body(&body);
                                request.set_payload(body.into());
                            }
                            None => {
                                return Ok(request
                                    .into_response(HttpResponse::BadRequest().finish())
                                    .map_into_right_body());
                            }
                        }
                    }
                    let (authorized, payment) = match pending.authorize().await {
                        Ok(authorized) => authorized,
                        Err(reply) => {
                            return Ok(request
                                .into_response(reply_response(reply))
                                .map_into_right_body());
                        }
                    };
                    for name in STRIPPED_REQUEST_HEADERS {
                        request.headers_mut().remove(header_name(name));
                    }
                    request.extensions_mut().insert(payment);
                    let mut response = service.call(request).await?;
                    let status = response.status().as_u16();
                    // The handler's charge (`upto`); the header never reaches the client.
                    let header = response.headers_mut().remove(SETTLEMENT_OVERRIDES).next();
                    let extension = response
                        .response_mut()
                        .extensions_mut()
                        .remove::<SettlementOverrides>();
                    let overrides =
                        overrides::from_response(extension, header.as_ref().map(|v| v.as_bytes()));
                    match authorized
                        .settle_with(status, overrides)
                        .await
                        .into_response_parts()
                    {
                        Ok((headers, outcome)) => {
                            for (name, value) in headers {
                                append_header(response.headers_mut(), name, value);
                            }
                            response.response_mut().extensions_mut().insert(outcome);
                            Ok(response.map_into_left_body())
                        }
                        Err(reply) => Ok(response
                            .into_response(reply_response(reply))
                            .map_into_right_body()),
                    }
                }))
            }
        }
    }
}

/// A request body of at most `limit` bytes (its `Content-Length`), or `None` if it could not be
/// read or is longer.
async fn read_body(mut payload: Payload, limit: usize) -> Option<Bytes> {
    let mut body = BytesMut::with_capacity(limit);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
const SETTLEMENT_OVERRIDES: HeaderName = HeaderName::from_static(gate::SETTLEMENT_OVERRIDES_HEADER);
const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");
const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
const X_PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("x-payment-response");

/// Builds the response for a reply of the gate.
pub(crate) fn reply_response(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let outcome = PaymentOutcome::from_reply(&reply);
    let mut response = HttpResponse::new(status);
    let (reply_headers, body) = reply.into_parts();
    // A fresh map and distinct names: nothing to merge with.
    let headers = response.headers_mut();
    for (name, value) in reply_headers {
        if let Some(value) = header_value(value) {
            headers.append(header_name(name), value);
        }
    }
    response.extensions_mut().insert(outcome);
    response.set_body(BoxBody::new(body))
}

/// The header name of one of the gate's headers, without parsing (the gate spells the x402
/// names in upper case, which `HeaderName` would lower-case into a new allocation).
fn header_name(name: Header) -> HeaderName {
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

/// A header value of the gate. Its constant texts are used without a copy, those on every
/// challenge and paid response checked at compile time.
fn header_value(value: Cow<'static, str>) -> Option<HeaderValue> {
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

/// The boxed future of the paid path (authorize, inner service, settle). Only priced requests
/// carrying a payment take it; unpriced requests and challenges are not boxed.
type PaidFuture<B, E> = Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, E>>>>;

pin_project! {
    /// The response future of [`X402Middleware`]: the inner service's future (unpriced), a
    /// ready response (a challenge or a rejection), or the boxed paid exchange.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        // Unpriced: the inner service's future, not boxed.
        Inner {
            #[pin]
            future: F,
        },
        // Answered by the middleware without calling the inner service.
        Reply {
            response: Option<ServiceResponse>,
        },
        // A payment: authorize, call the inner service, settle.
        Paid {
            future: PaidFuture<B, E>,
        },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn reply(response: ServiceResponse) -> Self {
        Self {
            kind: Kind::Reply {
                response: Some(response),
            },
        }
    }

    fn paid(future: PaidFuture<B, E>) -> Self {
        Self {
            kind: Kind::Paid { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<ServiceResponse<B>, E>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => {
                future.poll(cx).map_ok(ServiceResponse::map_into_left_body)
            }
            KindProj::Reply { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion")
                .map_into_right_body())),
            KindProj::Paid { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Reply { .. } => "Reply",
            Kind::Paid { .. } => "Paid",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
