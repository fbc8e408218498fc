//! ForwardAuth mode: the authorization hop of Traefik `forwardAuth`, nginx `auth_request` and
//! Envoy `ext_authz` (HTTP service).
//!
//! The proxy in front sends each client request's headers to the gateway with the original
//! request described in `X-Forwarded-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
//! `X-Forwarded-Uri`. The gateway drives the payment exchange from those and answers:
//!
//! - `200` to let the request through, with `X-Payment-Payer` (the verified payer; an empty
//!   value on free routes, so a proxy copying it overwrites a forged client header) and, when
//!   settled here, the receipt headers;
//! - `402` with the challenge (or a re-challenge naming why a payment was refused), which the
//!   proxy returns to the client as is;
//! - `403` without `X-Forwarded-Uri` or for an unmatched path (unless `unmatched: allow`),
//!   `400` for a path that cannot be matched safely, `502`/`503` for facilitator trouble.
//!
//! The auth hop cannot see the upstream's status, so it verifies only by default; settling
//! here charges clients even when the upstream then fails (the gateway warns at startup).

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header},
};
use x402_core::gate::{Admission, Gate, Reply, RequestParts, Settlement};
use x402_tower::HeaderMapLookup;

use super::proxy::PAYER_HEADER;

fn forwarded<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| !v.is_empty())
}

/// Answers one authorization request.
pub async fn authorize(gate: Gate, request: Request<Body>) -> Response<Body> {
    let headers = request.headers();
    let Some(uri) = forwarded(headers, "x-forwarded-uri") else {
        return plain(StatusCode::FORBIDDEN, "forbidden: missing forwarded URI");
    };
    if !uri.starts_with('/') {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad request: X-Forwarded-Uri must start with /",
        );
    }
    let method = forwarded(headers, "x-forwarded-method").unwrap_or(request.method().as_str());
    let scheme = forwarded(headers, "x-forwarded-proto");
    // Without `X-Forwarded-Host`, the gate falls back to this request's `Host` header.
    let host = forwarded(headers, "x-forwarded-host");
    let parts = RequestParts {
        method,
        scheme,
        host,
        path_and_query: uri,
        headers: &HeaderMapLookup(headers),
    };
    let admission = gate.admit(&parts);
    match admission {
        Admission::Pass => allowed(None, Vec::new()),
        Admission::Reply(reply) => reply_response(reply),
        Admission::Pay(mut pending) => {
            let payment = match pending.authorize().await {
                Ok(payment) => payment,
                Err(reply) => return reply_response(reply),
            };
            let payer = payment.payer.map(|p| p.to_checksum(None));
            // The auth hop's own answer is 200: that is the status settlement sees.
            match pending.settle(200).await {
                Settlement::Paid { headers, .. } => allowed(payer, headers),
                Settlement::Verified | Settlement::NotCharged => allowed(payer, Vec::new()),
                Settlement::Failed(reply) => reply_response(reply),
            }
        }
    }
}

/// `200` letting the request through.
fn allowed(payer: Option<String>, extra: Vec<(&'static str, Cow<'static, str>)>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    let payer = payer
        .and_then(|p| HeaderValue::try_from(p).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""));
    headers.insert(PAYER_HEADER, payer);
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value.into_owned()),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// The gate's reply as a response.
fn reply_response(reply: Reply) -> Response<Body> {
    x402_tower::reply_response::<Body>(reply).map(Body::new)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
