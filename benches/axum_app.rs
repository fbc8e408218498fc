//! The axum app of the request-path benchmarks, and a driver that serves one request to it in
//! process the way hyper does (clone the service, `poll_ready`, `call`, read the body) without
//! a socket or a runtime.

use std::{future::poll_fn, pin::pin, task::Poll};

use axum::{
    Router,
    body::Body,
    http::{HeaderValue, Request, Uri, header},
    routing::get,
};
use bytes::Buf;
use tower_service::Service;
use x402_core::gate::Gate;
use x402_tower::{X402, X402Layer};

use crate::fixture::poll_once;

/// The small JSON `/weather` answers.
pub const WEATHER_JSON: &str = r#"{"city":"San Francisco","weather":"sunny","temperature":18}"#;

/// The app without payments: `GET /weather` (small JSON) and `GET /health` (`ok`).
pub fn bare() -> Router {
    Router::new()
        .route(
            "/weather",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], WEATHER_JSON) }),
        )
        .route("/health", get(|| async { "ok" }))
}

/// The app with the layer added through `Router::layer`, as the README shows it: axum wraps
/// every route's (boxed) service in the layer.
pub fn layered(gate: Gate) -> Router {
    bare().layer(X402Layer::new(gate))
}

/// The app with the layer around the whole router: one `X402` in front of axum's routing.
pub fn wrapped(gate: Gate) -> X402<Router> {
    X402::new(bare(), gate)
}

/// A `GET path` request as a client sends it (`Host`, `Accept`, `User-Agent`), with a
/// `PAYMENT-SIGNATURE` header when `payment` is given.
pub fn request(path: &'static str, payment: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = Uri::from_static(path);
    let headers = request.headers_mut();
    headers.insert(header::HOST, HeaderValue::from_static("api.example.com"));
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    headers.insert(header::USER_AGENT, HeaderValue::from_static("bench/1.0"));
    if let Some(payment) = payment {
        headers.insert("payment-signature", payment.clone());
    }
    request
}

/// What a served request answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body length in bytes.
    pub body_len: usize,
}

/// Serves `request` with a clone of `service` (as hyper does per request), reads the whole
/// body and drops the response.
///
/// # Panics
///
/// If anything waits (see [`poll_once`]) or the service or the body fails.
pub fn serve<S, B>(service: &S, request: Request<Body>) -> Answer
where
    S: Service<Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let mut service = service.clone();
    poll_once(poll_fn(|cx| service.poll_ready(cx))).expect("service ready");
    let response = poll_once(service.call(request)).expect("service answers");
    let status = response.status().as_u16();
    let mut body = pin!(response.into_body());
    let mut body_len = 0;
    let body_len = poll_once(poll_fn(|cx| {
        loop {
            match body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(frame)) => {
                    if let Ok(data) = frame.expect("body frame").into_data() {
                        body_len += data.remaining();
                    }
                }
                Poll::Ready(None) => return Poll::Ready(body_len),
                Poll::Pending => return Poll::Pending,
            }
        }
    }));
    Answer { status, body_len }
}

/// How many requests are built ahead of one timed stretch.
const CHUNK: usize = 1024;

/// The payments signed for each paid scenario: each is accepted once by a replay guard, so
/// the app is rebuilt (fresh gate, fresh in-memory replay guard) when they are used up, outside
/// the timed stretches.
pub const PAYMENT_POOL: usize = 4096;

type App = Box<dyn FnMut(Request<Body>) -> Answer>;

/// One request path of the benchmarks: an app, the request it is sent, and for paid paths the
/// pool of pre-signed payments it cycles through.
pub struct Scenario {
    /// A short name (`402/router_layer`, …).
    pub name: &'static str,
    /// What it does, for tables.
    pub description: &'static str,
    /// The [`Scenario::name`] of the bare request it is compared with.
    pub baseline: &'static str,
    /// The status every answer must have.
    pub expected_status: u16,
    path: &'static str,
    build: Box<dyn Fn() -> App>,
    app: App,
    payments: Option<Vec<HeaderValue>>,
    next_payment: usize,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Scenario {
    fn new(
        name: &'static str,
        description: &'static str,
        baseline: &'static str,
        expected_status: u16,
        path: &'static str,
        build: Box<dyn Fn() -> App>,
    ) -> Self {
        Self {
            name,
            description,
            baseline,
            expected_status,
            path,
            app: build(),
            build,
            payments: None,
            next_payment: 0,
        }
    }

    fn paid(mut self, payments: Vec<HeaderValue>) -> Self {
        self.payments = Some(payments);
        self
    }

    /// How many requests can be prepared before the app must be rebuilt (unbounded for unpaid
    /// paths).
    fn capacity(&self) -> usize {
        self.payments
            .as_ref()
            .map_or(usize::MAX, |p| p.len() - self.next_payment)
    }

    /// Appends up to `n` requests to `out` (fewer if the payment pool runs out first: call
    /// again). Rebuilds the app when the pool was used up. Not meant to be timed.
    pub fn prepare(&mut self, n: usize, out: &mut Vec<Request<Body>>) {
        if self.capacity() == 0 {
            self.app = (self.build)();
            self.next_payment = 0;
        }
        let n = n.min(self.capacity());
        match &self.payments {
            None => out.extend((0..n).map(|_| request(self.path, None))),
            Some(payments) => {
                let range = self.next_payment..self.next_payment + n;
                out.extend(payments[range].iter().map(|p| request(self.path, Some(p))));
                self.next_payment += n;
            }
        }
    }

    /// Serves one prepared request.
    pub fn serve(&mut self, request: Request<Body>) -> Answer {
        (self.app)(request)
    }

    /// Serves `iters` requests and returns the time spent serving them (preparing requests
    /// and rebuilding the app are not timed): the body of a criterion `iter_custom`.
    pub fn run(&mut self, iters: u64) -> std::time::Duration {
        let mut total = std::time::Duration::ZERO;
        let mut left = iters;
        let mut batch = Vec::with_capacity(CHUNK);
        while left > 0 {
            self.prepare(
                usize::try_from(left).unwrap_or(CHUNK).min(CHUNK),
                &mut batch,
            );
            left -= batch.len() as u64;
            let start = std::time::Instant::now();
            for request in batch.drain(..) {
                std::hint::black_box((self.app)(request));
            }
            total += start.elapsed();
        }
        total
    }

    /// Serves one request and checks its status and body.
    ///
    /// # Panics
    ///
    /// If the answer is not what this path must answer.
    pub fn check(&mut self) {
        let mut batch = Vec::with_capacity(1);
        self.prepare(1, &mut batch);
        let answer = self.serve(batch.pop().expect("a request"));
        assert_eq!(answer.status, self.expected_status, "{}", self.name);
        // x402-axum's 402 has an empty body (the challenge is in the header alone).
        if self.expected_status == 200 {
            assert!(answer.body_len > 0, "{}: empty body", self.name);
        }
    }
}

fn app<S, B>(service: S) -> App
where
    S: Service<Request<Body>, Response = http::Response<B>> + Clone + 'static,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    Box::new(move |request| serve(&service, request))
}

/// `count` signed payments for `requirement`, as header values.
fn payment_headers(
    requirement: &x402_core::wire::v2::PaymentRequirements,
    count: usize,
) -> Vec<HeaderValue> {
    crate::fixture::signed_payments(requirement, count)
        .into_iter()
        .map(|p| HeaderValue::try_from(p).expect("a header value"))
        .collect()
}

/// `count` signed Permit2 payments (`exact` by Permit2 or `upto`) for `requirement`, as header
/// values.
fn permit2_headers(
    requirement: &x402_core::wire::v2::PaymentRequirements,
    count: usize,
) -> Vec<HeaderValue> {
    crate::fixture::signed_permit2_payments(requirement, count)
        .into_iter()
        .map(|p| HeaderValue::try_from(p).expect("a header value"))
        .collect()
}

/// The request paths measured by the `compare` and `allocs` benchmarks, each built and
/// checked: bare axum, the layer on an unpriced route (free and unmatched), the 402 challenge,
/// and paid requests with the instant facilitator (signature check on and off) — with the
/// layer added through `Router::layer` and around the whole router; `exact` by Permit2 and
/// `upto` (signature check on, `Router::layer`) — and, with the
/// `incumbent` feature, the same app with `x402-axum` (see `crate::incumbent`).
pub fn scenarios() -> Vec<Scenario> {
    scenarios_with_pool(PAYMENT_POOL)
}

/// [`scenarios`] with `pool` payments per paid path (profiling under valgrind signs fewer).
pub fn scenarios_with_pool(pool: usize) -> Vec<Scenario> {
    use crate::fixture::{
        SPEC, SPEC_PERMIT2, SPEC_UPTO, SPEC_WEATHER_ONLY, gate, requirement, table, table_upto,
    };

    let payments = payment_headers(&requirement(&table(SPEC), "weather"), pool);

    let mut all = vec![
        Scenario::new(
            "bare/weather",
            "bare axum GET /weather (small JSON)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(bare())),
        ),
        Scenario::new(
            "bare/health",
            "bare axum GET /health",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(bare())),
        ),
        Scenario::new(
            "unpriced/free_route/router_layer",
            "layer, GET /health listed `free: true` (Router::layer)",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(layered(gate(table(SPEC), true)))),
        ),
        Scenario::new(
            "unpriced/unmatched/router_layer",
            "layer, GET /health not in the table (Router::layer)",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(layered(gate(table(SPEC_WEATHER_ONLY), true)))),
        ),
        Scenario::new(
            "unpriced/free_route/around_router",
            "layer, GET /health listed `free: true` (around the Router)",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(wrapped(gate(table(SPEC), true)))),
        ),
        Scenario::new(
            "unpriced/unmatched/around_router",
            "layer, GET /health not in the table (around the Router)",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(wrapped(gate(table(SPEC_WEATHER_ONLY), true)))),
        ),
        Scenario::new(
            "402/router_layer",
            "402 challenge, GET /weather without payment (Router::layer)",
            "bare/weather",
            402,
            "/weather",
            Box::new(|| app(layered(gate(table(SPEC), true)))),
        ),
        Scenario::new(
            "402/around_router",
            "402 challenge, GET /weather without payment (around the Router)",
            "bare/weather",
            402,
            "/weather",
            Box::new(|| app(wrapped(gate(table(SPEC), true)))),
        ),
        Scenario::new(
            "paid/signature_off/router_layer",
            "paid v2, instant facilitator, signature check off (Router::layer)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(layered(gate(table(SPEC), false)))),
        )
        .paid(payments.clone()),
        Scenario::new(
            "paid/signature_off/around_router",
            "paid v2, instant facilitator, signature check off (around the Router)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(wrapped(gate(table(SPEC), false)))),
        )
        .paid(payments.clone()),
        Scenario::new(
            "paid/signature_on/router_layer",
            "paid v2, instant facilitator, local signature check on (Router::layer)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(layered(gate(table(SPEC), true)))),
        )
        .paid(payments.clone()),
        Scenario::new(
            "paid/signature_on/around_router",
            "paid v2, instant facilitator, local signature check on (around the Router)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(wrapped(gate(table(SPEC), true)))),
        )
        .paid(payments),
        Scenario::new(
            "paid/permit2/router_layer",
            "paid v2 `exact` by Permit2, instant facilitator, local signature check on (Router::layer)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(layered(gate(table(SPEC_PERMIT2), true)))),
        )
        .paid(permit2_headers(&requirement(&table(SPEC_PERMIT2), "weather"), pool)),
        Scenario::new(
            "paid/upto/router_layer",
            "paid v2 `upto` (Permit2, the maximum charged), instant facilitator, local signature check on (Router::layer)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(layered(gate(table_upto(SPEC_UPTO), true)))),
        )
        .paid(permit2_headers(&requirement(&table_upto(SPEC_UPTO), "weather"), pool)),
    ];
    #[cfg(feature = "incumbent")]
    all.extend(incumbent_scenarios(pool));
    for scenario in &mut all {
        scenario.check();
    }
    all
}

/// The `x402-axum` app on the same routes and price: unpriced, 402 and paid.
#[cfg(feature = "incumbent")]
fn incumbent_scenarios(pool: usize) -> Vec<Scenario> {
    use crate::incumbent;

    let incumbent_payments = payment_headers(&incumbent::offered_requirement(), pool);
    vec![
        Scenario::new(
            "x402-axum/unpriced",
            "x402-axum app, GET /health (the layer is on /weather only)",
            "bare/health",
            200,
            "/health",
            Box::new(|| app(incumbent::app())),
        ),
        Scenario::new(
            "x402-axum/402",
            "x402-axum, 402 challenge, GET /weather without payment",
            "bare/weather",
            402,
            "/weather",
            Box::new(|| app(incumbent::app())),
        ),
        Scenario::new(
            "x402-axum/paid",
            "x402-axum, paid v2, instant facilitator (it has no local check)",
            "bare/weather",
            200,
            "/weather",
            Box::new(|| app(incumbent::app())),
        )
        .paid(incumbent_payments),
    ]
}
