//! The [discovery documents](x402_core::discovery) as a tower service: `/.well-known/x402.json`
//! and `/openapi.json`, generated from the gate's live route table.
//!
//! ```
//! use axum::Router;
//! use x402_tower::{Gate, discovery::Discovery};
//!
//! fn app(gate: Gate) -> Router {
//!     let discovery = Discovery::new(gate);
//!     Router::new()
//!         .route_service("/.well-known/x402.json", discovery.clone())
//!         .route_service("/openapi.json", discovery)
//! }
//! ```

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;
use x402_core::{discovery::Listing, gate::Gate};

use crate::service::{HeaderMapLookup, header_name, header_value, request_parts};

/// Answers `GET` (and `HEAD`) for the discovery documents. Never fails, always ready, cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Discovery {
    gate: Gate,
    listing: Option<Listing>,
}

impl Discovery {
    /// Serves each document at its usual path ([`Listing::path`]); any other path is a 404.
    pub fn new(gate: Gate) -> Self {
        Self {
            gate,
            listing: None,
        }
    }

    /// Serves `listing` at whatever path the service is mounted on.
    pub fn document(gate: Gate, listing: Listing) -> Self {
        Self {
            gate,
            listing: Some(listing),
        }
    }
}

impl<B> Service<Request<B>> for Discovery {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(listing) = self
            .listing
            .or_else(|| Listing::for_path(request.uri().path()))
        else {
            return ready(Ok(status(StatusCode::NOT_FOUND)));
        };
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(response));
        }
        let headers = HeaderMapLookup(request.headers());
        let reply = self
            .gate
            .discovery(listing, &request_parts(&request, &headers));
        let code = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::OK);
        let (reply_headers, body) = reply.into_parts();
        let mut headers = HeaderMap::with_capacity(reply_headers.len());
        for (name, value) in reply_headers {
            if let Some(value) = header_value(value) {
                headers.append(header_name(name), value);
            }
        }
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = code;
        *response.headers_mut() = headers;
        ready(Ok(response))
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
