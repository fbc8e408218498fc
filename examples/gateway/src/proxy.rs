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
//! - the forwarding headers are set ([`crate::forwarded`]: `X-Forwarded-*`, optionally RFC 7239
//!   `Forwarded`, and `Via` both ways);
//! - `Host` becomes the upstream's (`preserveHost: true` keeps the client's); the path is the
//!   upstream prefix plus the request's.
//!
//! Bodies stream both ways. Each failure gets the status a proxy gives, and none is charged
//! (the gate settles only below 400):
//!
//! | what | status | `reason` |
//! |---|---|---|
//! | the upstream refuses the connection, resets it, or breaks mid-response head | 502 | `upstream_unavailable` |
//! | no connection within `timeouts.upstreamConnect`, or no response head within `timeouts.upstreamResponse` | 504 | `upstream_timeout` |
//! | the request body goes past `maxBodyBytes` while it streams | 413 | `body_too_large` |

use std::{
    convert::Infallible,
    error::Error as StdError,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use arc_swap::ArcSwap;
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{
        HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version, header,
    },
};
use http_body_util::LengthLimitError;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tower::Service;
use x402_core::{ErrorChain, gate::Payment, labels::ErrorCode, path::gateway::canonical_target};

use x402_core::{gate::RouteTableHandle, table::RouteMatch};
use x402_tower::{HeaderMapLookup, request_parts};

use super::{
    config::{Timeouts, Upstream, parse_upstream},
    forwarded::{Forwarding, append_via},
    upgrade,
};

/// The header carrying the verified payer to the upstream (the one ForwardAuth answers with).
pub use x402_tower::forward_auth::PAYER_HEADER;

const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");

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
    client: Client<HttpsConnector<HttpConnector>, Body>,
    upstream: Arc<Upstream>,
    routes: RouteTableHandle,
    route_upstreams: bool,
    /// The routes' own upstreams, parsed the first time a request uses each (the file's routes
    /// name few; a reload may add one). Copied on write: a request only reads it.
    parsed: Arc<ArcSwap<ParsedUpstreams>>,
    forwarding: Forwarding,
    preserve_host: bool,
    response_timeout: std::time::Duration,
}

/// How [`ReverseProxy`] forwards (from the configuration file).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// `trustForwardedHeaders`, `forwarded`, and whether the listener is TLS.
    pub forwarding: Forwarding,
    /// `preserveHost`: the upstream gets the client's `Host`.
    pub preserve_host: bool,
    /// `timeouts` (the client header one is the listener's).
    pub timeouts: Timeouts,
    /// Whether routes may name their own `upstream`: only those of the file (a route from
    /// Kubernetes naming one is answered 502, never sent elsewhere).
    pub route_upstreams: bool,
    /// The TLS client configuration of `https://` upstreams ([`crate::upstream_tls`]).
    pub tls: Arc<rustls::ClientConfig>,
}

impl ProxyOptions {
    /// The options of a configuration file.
    pub fn new(
        forwarding: Forwarding,
        preserve_host: bool,
        timeouts: Timeouts,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            forwarding,
            preserve_host,
            timeouts,
            route_upstreams: true,
            tls,
        }
    }
}

impl ReverseProxy {
    /// A proxy to `upstream`, or to the `upstream` of the route of `routes` a request matches.
    pub fn new(upstream: Upstream, options: &ProxyOptions, routes: RouteTableHandle) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(options.timeouts.upstream_connect));
        // `https://` upstreams; SNI from the URL's host; ALPN `h2`, `http/1.1`.
        connector.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&options.tls))
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(options.timeouts.upstream_idle)
            .build(connector);
        Self {
            client,
            upstream: Arc::new(upstream),
            routes,
            route_upstreams: options.route_upstreams,
            parsed: Arc::default(),
            forwarding: options.forwarding,
            preserve_host: options.preserve_host,
            response_timeout: options.timeouts.upstream_response,
        }
    }

    /// The upstream of the request's route (`upstream` on the route), matched exactly as the
    /// gate matched it; the gateway's own when the route names none. `Err` for a route whose
    /// `upstream` is not a valid URL (only routes from Kubernetes can be: a file's are checked).
    fn upstream_for(&self, request: &Request<Body>) -> Result<Arc<Upstream>, String> {
        let table = self.routes.load();
        let headers = HeaderMapLookup(request.headers());
        let url = match table.match_request(&request_parts(request, &headers)) {
            Ok(RouteMatch::Free(route) | RouteMatch::Priced(route, _)) => route.upstream(),
            _ => None,
        };
        match url {
            None => Ok(Arc::clone(&self.upstream)),
            Some(url) if !self.route_upstreams => Err(format!(
                "the route names an `upstream` ({url:?}), which only routes of the file may"
            )),
            Some(url) => self.parsed_upstream(url),
        }
    }

    /// `url` parsed, once per URL (the file's check already refused a bad one; a route from a
    /// reload that names a bad one is a 502 here).
    fn parsed_upstream(&self, url: &str) -> Result<Arc<Upstream>, String> {
        if let Some((_, upstream)) = self.parsed.load().iter().find(|(u, _)| &**u == url) {
            return Ok(Arc::clone(upstream));
        }
        let upstream = Arc::new(
            parse_upstream(url)
                .map_err(|why| format!("the route's `upstream` = {url:?}: {why}"))?,
        );
        self.parsed.rcu(|parsed| {
            let mut parsed = Vec::clone(parsed);
            if !parsed.iter().any(|(u, _)| &**u == url) {
                parsed.push((url.into(), Arc::clone(&upstream)));
            }
            parsed
        });
        Ok(upstream)
    }

    /// The request to send upstream; `None` if its target cannot be rewritten.
    fn prepare(&self, mut request: Request<Body>, upstream: &Upstream) -> Option<Request<Body>> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let payment = request.extensions().get::<Payment>();
        let paid = payment.is_some();
        let payer = payment.and_then(|payment| payment.payer);
        // HTTP/2 clients name the host in the URI (`:authority`), HTTP/1.1 ones in `Host`.
        let original_host = request.headers().get(header::HOST).cloned().or_else(|| {
            let authority = request.uri().authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        let version = request.version();

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
        self.forwarding.apply(headers, peer, original_host.as_ref());
        append_via(headers, version);

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
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(format!("{}{path}", upstream.prefix))
            .build()
            .ok()?;
        *request.uri_mut() = uri;
        // The upstream connection is HTTP/1.1 (or what ALPN picks): not the client's version.
        *request.version_mut() = Version::HTTP_11;
        let host = match original_host {
            Some(host) if self.preserve_host => Some(host),
            _ => HeaderValue::from_str(upstream.authority.as_str()).ok(),
        };
        if let Some(host) = host {
            request.headers_mut().insert(header::HOST, host);
        }
        Some(request)
    }
}

/// Route upstream URLs and what they parsed to.
type ParsedUpstreams = Vec<(Box<str>, Arc<Upstream>)>;

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

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // An `Upgrade` request (WebSocket, …): its headers are put back after the cleaning,
        // and the client's side of the connection is taken for the tunnel (crate::upgrade).
        let upgrade = upgrade::requested(request.headers())
            .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
        let upstream = match self.upstream_for(&request) {
            Ok(upstream) => upstream,
            Err(why) => {
                tracing::warn!("not forwarded: {why}");
                let response =
                    error_response(StatusCode::BAD_GATEWAY, ErrorCode::UpstreamUnavailable);
                return Box::pin(async move { Ok(response) });
            }
        };
        let Some(mut request) = self.prepare(request, &upstream) else {
            let code = ErrorCode::InvalidRequestTarget;
            let response = error_response(StatusCode::BAD_REQUEST, code);
            return Box::pin(async move { Ok(response) });
        };
        let client_side = upgrade.map(|(protocol, client_side)| {
            upgrade::restore(request.headers_mut(), protocol);
            client_side
        });
        let client = self.client.clone();
        let timeout = self.response_timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, client.request(request)).await {
                Ok(Ok(mut response)) => {
                    let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
                    let protocol = response.headers().get(header::UPGRADE).cloned();
                    match (switched, client_side, protocol) {
                        (true, Some(client_side), Some(protocol)) => {
                            let upstream_side = hyper::upgrade::on(&mut response);
                            tokio::spawn(upgrade::tunnel(client_side, upstream_side));
                            let mut response = response.map(Body::new);
                            remove_hop_by_hop(response.headers_mut());
                            upgrade::restore(response.headers_mut(), protocol);
                            return Ok(response);
                        }
                        (true, _, _) => {
                            tracing::warn!("the upstream switched protocols unasked");
                            return Ok(error_response(
                                StatusCode::BAD_GATEWAY,
                                ErrorCode::UpstreamUnavailable,
                            ));
                        }
                        _ => {}
                    }
                    let mut response = response.map(Body::new);
                    remove_hop_by_hop(response.headers_mut());
                    let version = response.version();
                    append_via(response.headers_mut(), version);
                    Ok(response)
                }
                Ok(Err(error)) => {
                    let (status, code) = classify(&error);
                    tracing::warn!(error = %ErrorChain(&error), %status, "upstream request failed");
                    Ok(error_response(status, code))
                }
                Err(_elapsed) => {
                    tracing::warn!(?timeout, "the upstream did not answer in time");
                    Ok(error_response(
                        StatusCode::GATEWAY_TIMEOUT,
                        ErrorCode::UpstreamTimeout,
                    ))
                }
            }
        })
    }
}

/// The status of a failed upstream request: 413 when the client's body went past
/// `maxBodyBytes`, 504 when connecting timed out, 502 for the rest.
fn classify(error: &(dyn StdError + 'static)) -> (StatusCode, ErrorCode) {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<LengthLimitError>() {
            return (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge);
        }
        if error
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            return (StatusCode::GATEWAY_TIMEOUT, ErrorCode::UpstreamTimeout);
        }
        cause = error.source();
    }
    (StatusCode::BAD_GATEWAY, ErrorCode::UpstreamUnavailable)
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

/// A small JSON error response (`{"error", "reason", "retriable"}`), as the gate's own.
pub fn error_response(status: StatusCode, reason: ErrorCode) -> Response<Body> {
    let message = match reason {
        ErrorCode::UpstreamUnavailable => "the upstream service is unavailable",
        ErrorCode::UpstreamTimeout => "the upstream service did not answer in time",
        ErrorCode::BodyTooLarge => "the request body is larger than this gateway accepts",
        ErrorCode::Overloaded => "the gateway is serving as many requests as it may",
        _ => "the request cannot be forwarded",
    };
    let retriable = reason == ErrorCode::Overloaded;
    let body = serde_json::json!({ "error": message, "reason": reason, "retriable": retriable });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
