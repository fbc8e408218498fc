//! The access log: one structured `tracing` event per request, target `x402_gateway::access`,
//! level `info`, written when the response body has been sent (or dropped):
//!
//! | field | value |
//! |---|---|
//! | `method` | the request method |
//! | `path` | the request path, **without the query** (which may carry keys) |
//! | `route` | the name of the route the path matches, `-` for none |
//! | `status` | the response status |
//! | `outcome` | the payment outcome (`paid`, `payment_required`, `not_charged`, …), `free`, or `-` |
//! | `reason` | why a payment was refused (`expired`, …), when it was |
//! | `duration_ms` | from the request to the end of its response body |
//! | `bytes_in` / `bytes_out` | the body bytes read from the client / sent to it |
//! | `complete` | `false` when the response body was cut short (the client went away) |
//!
//! No header is logged, so never a payment header, a signature, a receipt or a secret.
//! `accessLog: false` turns it off; `logFormat: json` (read by the binary) writes every log
//! line, this one included, as JSON.

use std::{
    pin::Pin,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    Router,
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::Method,
    middleware::{self, Next},
};
use http_body::{Frame, SizeHint};
use x402_core::{
    gate::{PaymentOutcome, RouteTableHandle},
    table::RouteMatch,
};
use x402_tower::{HeaderMapLookup, request_parts};

/// The `tracing` target of the access log.
pub const TARGET: &str = "x402_gateway::access";

/// `router` with an access log line for every request, naming the routes of `routes`.
pub fn apply(router: Router, routes: RouteTableHandle) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let routes = routes.clone();
        async move {
            let started = Instant::now();
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let (route, free) = route_of(&routes, &request);
            let bytes_in = Arc::new(AtomicU64::new(0));
            let counted = Arc::clone(&bytes_in);
            let request = request.map(|body| {
                Body::new(Counted {
                    body,
                    bytes: counted,
                })
            });
            let response = next.run(request).await;
            let (outcome, reason) = match response.extensions().get::<PaymentOutcome>() {
                Some(outcome) => (
                    outcome.outcome.as_str(),
                    outcome.reason.map_or("", |r| r.as_str()),
                ),
                None if free => ("free", ""),
                None => ("-", ""),
            };
            let line = Line {
                started,
                method,
                path,
                route,
                status: response.status().as_u16(),
                outcome,
                reason,
                bytes_in,
                bytes_out: 0,
                complete: false,
            };
            response.map(|body| Body::new(Logged { body, line }))
        }
    }))
}

/// The `route` of a request no route matches.
static UNMATCHED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("-"));

/// The matched route's name and whether it is free (`-` and `false` for none).
fn route_of(routes: &RouteTableHandle, request: &Request) -> (Arc<str>, bool) {
    let table = routes.load();
    let headers = HeaderMapLookup(request.headers());
    match table.match_request(&request_parts(request, &headers)) {
        Ok(RouteMatch::Free(route)) => (Arc::clone(route.name()), true),
        Ok(RouteMatch::Priced(route, _)) => (Arc::clone(route.name()), false),
        _ => (Arc::clone(&UNMATCHED), false),
    }
}

/// What the line says, filled in as the response goes out.
struct Line {
    started: Instant,
    method: Method,
    path: String,
    route: Arc<str>,
    status: u16,
    outcome: &'static str,
    reason: &'static str,
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
    complete: bool,
}

impl Drop for Line {
    fn drop(&mut self) {
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = %self.path,
            route = %self.route,
            status = self.status,
            outcome = self.outcome,
            reason = self.reason,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes_in = self.bytes_in.load(Ordering::Relaxed),
            bytes_out = self.bytes_out,
            complete = self.complete,
            "request"
        );
    }
}

/// The response body, logging its line when it is done.
struct Logged {
    body: Body,
    line: Line,
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.line.bytes_out += data.len() as u64;
                }
                if self.body.is_end_stream() {
                    self.line.complete = true;
                }
            }
            Poll::Ready(None) => self.line.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request body, counting the bytes read.
struct Counted {
    body: Body,
    bytes: Arc<AtomicU64>,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
