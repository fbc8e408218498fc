//! The request limits, applied before anything else (no payment work for a refused request):
//!
//! - `maxConcurrentRequests`: a request beyond it gets 503 `overloaded` with `Retry-After: 1`;
//!   a request counts until its response body has been sent;
//! - `maxBodyBytes`: a `Content-Length` above it gets 413 `body_too_large` at once; a body
//!   without one is cut when it goes past it, and the proxy answers 413 (see
//!   [`crate::proxy`]): the upstream's request fails, so nothing is settled.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    Router,
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::Response,
};
use http_body::{Frame, SizeHint};
use http_body_util::Limited;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use x402_core::labels::ErrorCode;

use crate::{config::Limits, proxy::error_response};

/// `router` with `limits` applied to every request.
pub fn apply(router: Router, limits: Limits) -> Router {
    let slots = limits
        .max_concurrent_requests
        .map(|n| Arc::new(Semaphore::new(n)));
    let max_body = limits.max_body_bytes;
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let slots = slots.clone();
        async move {
            let permit = match slots.map(Semaphore::try_acquire_owned) {
                None => None,
                Some(Ok(permit)) => Some(permit),
                Some(Err(_)) => return overloaded(),
            };
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > max_body) {
                return error_response(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge);
            }
            let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
            let request = request.map(|body| Body::new(Limited::new(body, limit)));
            let response = next.run(request).await;
            match permit {
                Some(permit) => response.map(|body| {
                    Body::new(Held {
                        body,
                        _permit: permit,
                    })
                }),
                None => response,
            }
        }
    }))
}

fn overloaded() -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A response body holding its request's slot until it is sent (or dropped).
struct Held {
    body: Body,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
