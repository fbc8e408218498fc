//! The usage API ([`x402_core::usage`]) as a tower service, for an axum router or hyper.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::Router;
//! use x402_core::{ledger::Ledger, usage::UsageApi};
//! use x402_tower::usage::UsageService;
//!
//! # fn ledger() -> Arc<dyn Ledger> { unimplemented!() }
//! let usage = UsageService::new(UsageApi::new(ledger(), std::env::var("X402_INTERNAL_SECRET").ok()));
//! let app: Router = Router::new()
//!     .route_service("/internal", usage.clone())
//!     .route_service("/internal/{*rest}", usage);
//! ```

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;
use x402_core::{
    clock::{Clock as _, SystemClock},
    gate::headers,
    usage::{SECRET_HEADER, UsageApi},
};

/// Answers the usage API's paths (`/internal/*`) from a [`UsageApi`]. Never fails, always
/// ready, cheap to clone.
#[derive(Debug, Clone)]
pub struct UsageService {
    api: UsageApi,
}

impl UsageService {
    /// The service over `api`.
    pub fn new(api: UsageApi) -> Self {
        Self { api }
    }
}

/// The future of [`UsageService`].
pub type UsageFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for UsageService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = UsageFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let api = self.api.clone();
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().map(str::to_owned);
        let secret = request
            .headers()
            .get(SECRET_HEADER)
            .map(|v| v.as_bytes().to_vec());
        Box::pin(async move {
            let answer = api
                .answer(
                    &method,
                    &path,
                    query.as_deref(),
                    secret.as_deref(),
                    SystemClock.now(),
                )
                .await;
            let status =
                StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = Response::new(Full::new(answer.into_body()));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(headers::JSON),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(headers::NO_STORE),
            );
            Ok(response)
        })
    }
}
