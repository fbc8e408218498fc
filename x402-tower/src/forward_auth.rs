//! [`ForwardAuth`]: the authorization hop of Traefik `forwardAuth`, nginx `auth_request` and
//! Envoy `ext_authz` (HTTP service), as a tower service.
//!
//! The proxy in front sends each client request's headers to this service with the original
//! request described in `X-Forwarded-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
//! `X-Forwarded-Uri`. The service drives the gate's payment exchange from those and answers:
//!
//! - `200` to let the request through, with `X-Payment-Payer` (the verified payer; an empty
//!   value on free routes, so a proxy copying it overwrites a forged client header) and, when
//!   settled here, the receipt headers;
//! - `402` with the challenge (or a re-challenge naming why a payment was refused), which the
//!   proxy returns to the client as is;
//! - `403` without `X-Forwarded-Uri` (or `X-Original-URI`) or for an unmatched path (unless the gate allows
//!   unmatched requests), `400` for an `X-Forwarded-Uri` not starting with `/` or a path that
//!   cannot be matched safely, `502`/`503` for facilitator trouble.
//!
//! The auth hop cannot see the upstream's status, so build its gate with
//! [`SettlementMode::VerifyOnly`](x402_core::gate::SettlementMode::VerifyOnly): settling here
//! (the status settlement sees is this service's own 200) charges clients even when the
//! upstream then fails.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Empty;
use pin_project_lite::pin_project;
use tower_service::Service;
use x402_core::gate::{Admission, Gate, RequestParts, ResponseHeaders};

use crate::{
    HeaderMapLookup, ResponseBody, reply_response,
    service::{header_name, header_value},
};

/// `X-Payment-Payer`: the verified payer on a ForwardAuth `200` (empty on free routes). A
/// reverse proxy in front of an upstream sets it the same way, after removing the client's.
pub const PAYER_HEADER: HeaderName = HeaderName::from_static("x-payment-payer");

const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
/// nginx's customary name for the original request URI (`proxy_set_header X-Original-URI
/// $request_uri`), read when `X-Forwarded-Uri` is absent.
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The body of [`ForwardAuth`]'s responses: empty on a `200`, the gate's reply otherwise.
pub type ForwardAuthBody = ResponseBody<Empty<Bytes>>;

/// A ForwardAuth endpoint: answers a reverse proxy's authorization subrequest from its
/// `X-Forwarded-*` headers with the gate's decision:
///
/// - `200` to let the request through, with `X-Payment-Payer` (the verified payer; an empty
///   value on free routes, so a proxy copying it overwrites a forged client header) and, when
///   settled here, the receipt headers; a [`PaymentOutcome`](x402_core::gate::PaymentOutcome) in the extensions when paid;
/// - `402` with the challenge (or a re-challenge naming why a payment was refused), which the
///   proxy returns to the client as is;
/// - `403` without `X-Forwarded-Uri` (or `X-Original-URI`) or for an unmatched path (unless the gate allows
///   unmatched requests), `400` for an `X-Forwarded-Uri` not starting with `/` or a path that
///   cannot be matched safely, `502`/`503` for facilitator trouble.
///
/// The method is `X-Forwarded-Method` (else this request's), the URL the challenge names is
/// rebuilt from `X-Forwarded-Proto`, `X-Forwarded-Host` (else `Host`) and `X-Forwarded-Uri`
/// by the gate's rules (its `base_url` wins). Payment outcomes are responses: the service never
/// fails, is always ready, and is cheap to clone (one `Arc`).
///
/// ```no_run
/// use std::sync::Arc;
/// use axum::Router;
/// use x402_core::{RouteTable, facilitator::Facilitator, spec::RouteSpec};
/// use x402_tower::{ForwardAuth, Gate, RouteTableHandle, SettlementMode};
///
/// # fn facilitator() -> Arc<dyn Facilitator> { unimplemented!() }
/// let spec = RouteSpec::from_yaml(r#"
/// payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
/// routes: [ { path: /api/**, price: "$0.001" } ]
/// "#).unwrap();
/// let routes = RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap());
/// // The auth hop never sees the upstream's status: verify here, settle nothing.
/// let gate = Gate::builder(routes, facilitator())
///     .settlement(SettlementMode::VerifyOnly)
///     .build()
///     .unwrap();
/// // Traefik: `forwardAuth.address: http://auth:8080/auth`, `authResponseHeaders: [X-Payment-Payer]`.
/// let app: Router = Router::new().route_service("/auth", ForwardAuth::new(gate));
/// ```
#[derive(Debug, Clone)]
pub struct ForwardAuth {
    gate: Gate,
}

impl ForwardAuth {
    /// Answers authorization requests with `gate`'s decisions.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }

    /// The gate.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<B> Service<Request<B>> for ForwardAuth {
    type Response = Response<ForwardAuthBody>;
    type Error = Infallible;
    type Future = ForwardAuthFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let Some(uri) =
            forwarded(headers, &X_FORWARDED_URI).or_else(|| forwarded(headers, &X_ORIGINAL_URI))
        else {
            return ForwardAuthFuture::ready(plain(
                StatusCode::FORBIDDEN,
                "forbidden: missing forwarded URI",
            ));
        };
        if !uri.starts_with('/') {
            return ForwardAuthFuture::ready(plain(
                StatusCode::BAD_REQUEST,
                "bad request: X-Forwarded-Uri must start with /",
            ));
        }
        let parts = RequestParts {
            method: forwarded(headers, &X_FORWARDED_METHOD).unwrap_or(request.method().as_str()),
            scheme: forwarded(headers, &X_FORWARDED_PROTO),
            // Without `X-Forwarded-Host`, the gate falls back to this request's `Host` header.
            host: forwarded(headers, &X_FORWARDED_HOST),
            path_and_query: uri,
            headers: &HeaderMapLookup(headers),
        };
        match self.gate.admit(&parts) {
            Admission::Pass => ForwardAuthFuture::ready(allowed(None, Vec::new())),
            Admission::Reply(reply) => ForwardAuthFuture::ready(reply_response(reply)),
            Admission::Pay(pending) => ForwardAuthFuture::paid(Box::pin(async move {
                let (authorized, payment) = match pending.authorize().await {
                    Ok(authorized) => authorized,
                    Err(reply) => return reply_response(reply),
                };
                let payer = payment.payer.map(|p| p.to_checksum(None));
                // The auth hop's own answer is 200: that is the status settlement sees.
                match authorized.settle(200).await.into_response_parts() {
                    Ok((headers, outcome)) => {
                        let mut response = allowed(payer, headers);
                        response.extensions_mut().insert(outcome);
                        response
                    }
                    Err(reply) => reply_response(reply),
                }
            })),
        }
    }
}

/// The first value of an `X-Forwarded-*` header, trimmed; `None` when missing or empty.
fn forwarded<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| !v.is_empty())
}

/// `200` letting the request through.
fn allowed(payer: Option<String>, extra: ResponseHeaders) -> Response<ForwardAuthBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::new()));
    let headers = response.headers_mut();
    let payer = payer
        .and_then(|p| HeaderValue::try_from(p).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""));
    headers.insert(PAYER_HEADER, payer);
    for (name, value) in extra {
        if let Some(value) = header_value(value) {
            headers.append(header_name(name), value);
        }
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<ForwardAuthBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

type PaidFuture = Pin<Box<dyn Future<Output = Response<ForwardAuthBody>> + Send>>;

pin_project! {
    /// The response future of [`ForwardAuth`]: ready at once, unless a payment must be
    /// verified (only that path is boxed).
    pub struct ForwardAuthFuture {
        #[pin]
        kind: Kind,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Ready { response: Option<Response<ForwardAuthBody>> },
        Paid { future: PaidFuture },
    }
}

impl ForwardAuthFuture {
    fn ready(response: Response<ForwardAuthBody>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn paid(future: PaidFuture) -> Self {
        Self {
            kind: Kind::Paid { future },
        }
    }
}

impl Future for ForwardAuthFuture {
    type Output = Result<Response<ForwardAuthBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("ForwardAuthFuture polled after completion"))),
            KindProj::Paid { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

impl fmt::Debug for ForwardAuthFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Ready { .. } => "Ready",
            Kind::Paid { .. } => "Paid",
        };
        f.debug_struct("ForwardAuthFuture")
            .field("kind", &kind)
            .finish()
    }
}
