//! Proxy mode: a streaming reverse proxy (hyper-util's legacy client) behind `X402Layer`.
//!
//! The layer runs the payment exchange and removes the payment header from paid requests;
//! this service then cleans the request and forwards it:
//!
//! - `X-Payment-Payer` from the client is removed on every request (any spelling: header
//!   names are case-insensitive), and set to the verified payer on paid ones;
//! - payment headers are removed on every request (the layer only removes them on priced
//!   routes);
//! - hop-by-hop headers (`Connection` and the headers it names, `Keep-Alive`,
//!   `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`) are removed both ways;
//! - `X-Forwarded-For` gets the client's address, `X-Forwarded-Proto` and `X-Forwarded-Host`
//!   are set (the client's own values are kept only with `trustForwardedHeaders`);
//! - `Host` becomes the upstream's; the path is the upstream prefix plus the request's.
//!
//! Bodies stream both ways. An unreachable upstream is a 502, so nothing is settled.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower::Service;
use x402_core::{ErrorChain, gate::Payment, labels::ErrorCode, path::gateway::canonical_target};

use super::config::Upstream;

/// The header carrying the verified payer to the upstream (the one ForwardAuth answers with).
pub use x402_tower::forward_auth::PAYER_HEADER;

const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The reverse proxy service (the inner service of `X402Layer`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReverseProxy {
    client: Client<HttpConnector, Body>,
    upstream: Arc<Upstream>,
    trust_forwarded: bool,
}

impl ReverseProxy {
    /// A proxy to `upstream`.
    pub fn new(upstream: Upstream, trust_forwarded: bool) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            upstream: Arc::new(upstream),
            trust_forwarded,
        }
    }

    /// The request to send upstream; `None` if its target cannot be rewritten.
    fn prepare(&self, mut request: Request<Body>) -> Option<Request<Body>> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let payment = request.extensions().get::<Payment>();
        let paid = payment.is_some();
        let payer = payment.and_then(|payment| payment.payer);
        let original_host = request.headers().get(header::HOST).cloned();

        let headers = request.headers_mut();
        remove_hop_by_hop(headers);
        headers.remove(&PAYER_HEADER);
        headers.remove(&PAYMENT_SIGNATURE);
        headers.remove(&X_PAYMENT);
        if let Some(payer) = payer
            && let Ok(value) = HeaderValue::try_from(payer.to_checksum(None))
        {
            headers.insert(PAYER_HEADER, value);
        }
        self.set_forwarded(headers, peer, original_host);

        // The path that was priced, not the client's spelling of it (x402_core::path::gateway);
        // a spelling without one canonical form reaches here only paid, on a route that allows
        // it (`allowAmbiguousPath`), and goes on as the client sent it.
        let raw = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let path = match canonical_target(raw) {
            Ok(path) => path,
            Err(_) if paid => raw.to_owned(),
            Err(_) => return None,
        };
        let uri = Uri::builder()
            .scheme(self.upstream.scheme.clone())
            .authority(self.upstream.authority.clone())
            .path_and_query(format!("{}{path}", self.upstream.prefix))
            .build()
            .ok()?;
        *request.uri_mut() = uri;
        if let Ok(host) = HeaderValue::from_str(self.upstream.authority.as_str()) {
            request.headers_mut().insert(header::HOST, host);
        }
        Some(request)
    }

    fn set_forwarded(
        &self,
        headers: &mut HeaderMap,
        peer: Option<std::net::IpAddr>,
        host: Option<HeaderValue>,
    ) {
        let client = peer.map(|ip| ip.to_string());
        if self.trust_forwarded {
            if let Some(client) = client {
                let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                    Some(previous) => format!("{previous}, {client}"),
                    None => client,
                };
                if let Ok(value) = HeaderValue::try_from(chain) {
                    headers.insert(X_FORWARDED_FOR, value);
                }
            }
            if !headers.contains_key(&X_FORWARDED_PROTO) {
                headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
            }
            if !headers.contains_key(&X_FORWARDED_HOST)
                && let Some(host) = host
            {
                headers.insert(X_FORWARDED_HOST, host);
            }
        } else {
            headers.remove(&X_FORWARDED_FOR);
            headers.remove(&X_FORWARDED_HOST);
            if let Some(value) = client.and_then(|c| HeaderValue::try_from(c).ok()) {
                headers.insert(X_FORWARDED_FOR, value);
            }
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
            if let Some(host) = host {
                headers.insert(X_FORWARDED_HOST, host);
            }
        }
    }
}

/// The future of [`ReverseProxy`].
pub type ProxyFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl Service<Request<Body>> for ReverseProxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The client pools connections and is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let Some(request) = self.prepare(request) else {
            let code = ErrorCode::InvalidRequestTarget;
            let response = error_response(StatusCode::BAD_REQUEST, code);
            return Box::pin(async move { Ok(response) });
        };
        let client = self.client.clone();
        Box::pin(async move {
            match client.request(request).await {
                Ok(response) => {
                    let mut response = response.map(Body::new);
                    remove_hop_by_hop(response.headers_mut());
                    Ok(response)
                }
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "upstream unavailable");
                    Ok(error_response(
                        StatusCode::BAD_GATEWAY,
                        ErrorCode::UpstreamUnavailable,
                    ))
                }
            }
        })
    }
}

/// Removes the hop-by-hop headers, and those `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// A small JSON error response (`{"error", "reason"}`), as the gate's own.
pub fn error_response(status: StatusCode, reason: ErrorCode) -> Response<Body> {
    let message = match status {
        StatusCode::BAD_GATEWAY => "the upstream service is unavailable",
        _ => "the request cannot be forwarded",
    };
    let body = serde_json::json!({ "error": message, "reason": reason, "retriable": false });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
