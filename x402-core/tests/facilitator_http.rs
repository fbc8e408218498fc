//! The HTTP facilitator client against real local servers whose answers are scripted per path.
//!
//! Each test facilitator is an axum app on 127.0.0.1:0 running on its own small runtime, so a
//! test can kill it outright (listener and open connections alike). Assertions are on what the
//! server saw and what the client returned; timeouts are short on the client and long on the
//! server, and no test asserts a duration.
#![cfg(feature = "http-client")]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy_primitives::{B256, Bytes as EvmBytes, U256, address};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use x402_core::{
    facilitator::{
        BoxFuture, BreakerState, Facilitator, FacilitatorError, FacilitatorRequest,
        HttpFacilitator, HttpFacilitatorBuilder, Requirements,
        auth::{AuthError, AuthHeaders, AuthRequest, FacilitatorAuth, StaticAuth},
    },
    labels::FacilitatorOperation,
    wire::PaymentPayload,
    wire::{Eip3009Authorization, ExactEvmPayload, SchemePayload, V2, v2},
};

// ---------------------------------------------------------------------------------------------
// A scripted facilitator

const VALID: &str = r#"{"isValid":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#;
const INVALID: &str = r#"{"isValid":false,"invalidReason":"invalid_exact_evm_signature","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#;
const SETTLED: &str = r#"{"success":true,"transaction":"0x5f1c0ffee","network":"eip155:84532","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#;
const SUPPORTED: &str =
    r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"}]}"#;
const SUPPORTED_BASE: &str =
    r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:8453"}]}"#;

/// What the server answers on one path.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug, Default)]
struct Script {
    replies: Mutex<HashMap<String, Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct TestFacilitator {
    base: String,
    script: Arc<Script>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestFacilitator {
    /// A facilitator answering `VALID`, `SETTLED` and `SUPPORTED`.
    fn healthy() -> Self {
        let facilitator = Self::start();
        facilitator.reply("/verify", Reply::json(200, VALID));
        facilitator.reply("/settle", Reply::json(200, SETTLED));
        facilitator.reply("/supported", Reply::json(200, SUPPORTED));
        facilitator
    }

    /// A facilitator that answers 404 until told otherwise.
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Script::default());
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&script));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            script,
            runtime: Some(runtime),
        }
    }

    fn reply(&self, path: &str, reply: Reply) {
        self.script
            .replies
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.script
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| seen.path == path)
            .cloned()
            .collect()
    }

    fn hits(&self, path: &str) -> usize {
        self.seen(path).len()
    }

    /// Stops the server: its listener and every open connection close.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for TestFacilitator {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let reply = script.replies.lock().unwrap().get(&path).cloned();
    script.seen.lock().unwrap().push(Seen {
        method,
        path,
        headers,
        body,
    });
    let Some(reply) = reply else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response()
}

/// A loopback address with nothing listening.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A client with quick retries, so failing tests stay short.
fn client(base: &str) -> HttpFacilitatorBuilder {
    HttpFacilitator::builder(base).retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

// ---------------------------------------------------------------------------------------------
// A payment, from typed wire values

struct Payment {
    payload: PaymentPayload,
    payload_json: String,
    requirements: v2::PaymentRequirements,
    requirements_json: String,
}

impl Payment {
    fn new() -> Self {
        let extra = serde_json::json!({ "name": "USDC", "version": "2" });
        let requirements = v2::PaymentRequirements {
            scheme: "exact".to_owned(),
            network: "eip155:84532".to_owned(),
            amount: "1000".to_owned(),
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".to_owned(),
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".to_owned(),
            max_timeout_seconds: 300,
            extra: extra.as_object().cloned(),
        };
        let payload = v2::PaymentPayload {
            x402_version: V2,
            resource: None,
            accepted: requirements.clone(),
            payload: SchemePayload::ExactEvm(ExactEvmPayload {
                signature: EvmBytes::from(vec![0x1b; 65]),
                authorization: Eip3009Authorization {
                    from: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
                    to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
                    value: U256::from(1000),
                    valid_after: U256::ZERO,
                    valid_before: U256::from(1_900_000_000_u64),
                    nonce: B256::repeat_byte(0x42),
                },
            }),
            extensions: None,
        };
        Self {
            payload_json: serde_json::to_string(&payload).unwrap(),
            payload: PaymentPayload::V2(payload),
            requirements_json: serde_json::to_string(&requirements).unwrap(),
            requirements,
        }
    }

    fn request(&self) -> FacilitatorRequest<'_> {
        FacilitatorRequest::new(
            &self.payload,
            &self.payload_json,
            Requirements::V2(&self.requirements),
            &self.requirements_json,
        )
    }
}

fn detail(error: &FacilitatorError) -> &str {
    match error {
        FacilitatorError::Unavailable { detail, .. }
        | FacilitatorError::Malformed { detail, .. }
        | FacilitatorError::SettleUnknown { detail, .. } => detail,
        other => panic!("no detail in {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

#[tokio::test]
async fn a_valid_payment_is_verified() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base).build().unwrap();
    let payment = Payment::new();

    let answer = facilitator.verify(&payment.request()).await.unwrap();

    assert!(answer.is_valid);
    assert_eq!(
        answer.payer.as_deref(),
        Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    );
    let seen = server.seen("/verify");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].headers[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn an_invalid_payment_is_an_answer_whether_it_comes_with_200_or_400() {
    for status in [200, 400] {
        let server = TestFacilitator::start();
        server.reply("/verify", Reply::json(status, INVALID));
        let facilitator = client(&server.base).build().unwrap();
        let payment = Payment::new();

        let answer = facilitator.verify(&payment.request()).await.unwrap();

        assert!(!answer.is_valid, "status {status}");
        assert_eq!(
            answer.invalid_reason.as_deref(),
            Some("invalid_exact_evm_signature")
        );
        assert_eq!(server.hits("/verify"), 1, "an answer is not retried");
    }
}

#[tokio::test]
async fn a_verify_5xx_is_unavailable() {
    for status in [500, 502, 503, 504] {
        let server = TestFacilitator::start();
        server.reply("/verify", Reply::json(status, r#"{"error":"boom"}"#));
        let facilitator = client(&server.base).build().unwrap();
        let payment = Payment::new();

        let error = facilitator.verify(&payment.request()).await.unwrap_err();

        assert!(
            matches!(
                error,
                FacilitatorError::Unavailable {
                    operation: FacilitatorOperation::Verify,
                    ..
                }
            ),
            "status {status}: {error:?}"
        );
        assert!(detail(&error).contains(&format!("status {status}")));
        assert_eq!(error.status(), 503);
    }
}

#[tokio::test]
async fn a_200_that_is_not_a_verify_response_is_malformed() {
    for body in ["<html>hello</html>", r#"{"valid":true}"#, ""] {
        let server = TestFacilitator::start();
        server.reply("/verify", Reply::json(200, body));
        let facilitator = client(&server.base).build().unwrap();
        let payment = Payment::new();

        let error = facilitator.verify(&payment.request()).await.unwrap_err();

        assert!(
            matches!(error, FacilitatorError::Malformed { .. }),
            "{body:?}: {error:?}"
        );
        assert_eq!(error.status(), 502);
        assert_eq!(
            server.hits("/verify"),
            1,
            "a malformed answer is not retried"
        );
    }
}

#[tokio::test]
async fn a_4xx_without_a_verify_body_is_malformed_with_the_status_and_a_short_excerpt() {
    let server = TestFacilitator::start();
    let long_body = format!(
        r#"{{"errorType":"unauthorized","errorMessage":"{}"}}"#,
        "x".repeat(1000)
    );
    server.reply("/verify", Reply::json(401, &long_body));
    let facilitator = client(&server.base).build().unwrap();
    let payment = Payment::new();

    let error = facilitator.verify(&payment.request()).await.unwrap_err();

    assert!(
        matches!(error, FacilitatorError::Malformed { .. }),
        "{error:?}"
    );
    let detail = detail(&error);
    assert!(detail.contains("status 401"), "{detail}");
    assert!(
        detail.contains(r#"{"errorType":"unauthorized""#),
        "{detail}"
    );
    assert!(
        detail.matches('x').count() < 200,
        "the excerpt is cut: {detail}"
    );
}

#[tokio::test]
async fn an_oversized_answer_is_malformed() {
    let server = TestFacilitator::start();
    let huge = format!(r#"{{"isValid":true,"payer":"{}"}}"#, "0".repeat(8 * 1024));
    server.reply("/verify", Reply::json(200, &huge));
    let facilitator = client(&server.base)
        .max_response_bytes(1024)
        .build()
        .unwrap();
    let payment = Payment::new();

    let error = facilitator.verify(&payment.request()).await.unwrap_err();

    assert!(
        matches!(error, FacilitatorError::Malformed { .. }),
        "{error:?}"
    );
    assert!(detail(&error).contains("over 1024 bytes"));
}

#[tokio::test]
async fn a_slow_verify_times_out() {
    let server = TestFacilitator::start();
    server.reply(
        "/verify",
        Reply::json(200, VALID).after(Duration::from_secs(2)),
    );
    let facilitator = client(&server.base)
        .verify_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let payment = Payment::new();

    let error = facilitator.verify(&payment.request()).await.unwrap_err();

    assert!(
        matches!(
            error,
            FacilitatorError::Timeout {
                operation: FacilitatorOperation::Verify,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        server.hits("/verify"),
        1,
        "the timeout is the whole budget, so there is no time left to retry"
    );
}

#[tokio::test]
async fn a_timed_out_verify_is_retried_when_the_budget_allows() {
    let server = TestFacilitator::start();
    server.reply(
        "/verify",
        Reply::json(200, VALID).after(Duration::from_secs(2)),
    );
    let facilitator = client(&server.base)
        .verify_timeout(Duration::from_millis(200))
        .retry_budget(Duration::from_secs(30))
        .build()
        .unwrap();
    let payment = Payment::new();

    let error = facilitator.verify(&payment.request()).await.unwrap_err();

    assert!(
        matches!(error, FacilitatorError::Timeout { .. }),
        "{error:?}"
    );
    assert_eq!(server.hits("/verify"), 2);
}

#[tokio::test]
async fn a_slow_settle_is_an_unknown_settlement_and_is_not_sent_elsewhere() {
    let slow = TestFacilitator::start();
    slow.reply(
        "/settle",
        Reply::json(200, SETTLED).after(Duration::from_secs(2)),
    );
    let standby = TestFacilitator::healthy();
    let facilitator = client(&slow.base)
        .fallback(&standby.base)
        .settle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let payment = Payment::new();

    let error = facilitator.settle(&payment.request()).await.unwrap_err();

    assert!(
        matches!(
            error,
            FacilitatorError::SettleUnknown {
                transaction: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_retriable());
    assert_eq!(slow.hits("/settle"), 1);
    assert_eq!(standby.hits("/settle"), 0);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let facilitator = client(&refused_url()).build().unwrap();
    let payment = Payment::new();

    let verify = facilitator.verify(&payment.request()).await.unwrap_err();
    let settle = facilitator.settle(&payment.request()).await.unwrap_err();
    let supported = facilitator.supported().await.unwrap_err();

    for error in [verify, settle, supported] {
        assert!(
            matches!(error, FacilitatorError::Unavailable { .. }),
            "{error:?}"
        );
        assert!(error.is_retriable());
    }
}

#[tokio::test]
async fn a_settled_payment_is_an_answer() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base).build().unwrap();
    let payment = Payment::new();

    let answer = facilitator.settle(&payment.request()).await.unwrap();

    assert!(answer.success);
    assert_eq!(answer.transaction, "0x5f1c0ffee");
    assert_eq!(answer.network, "eip155:84532");
}

#[tokio::test]
async fn a_refused_settlement_is_an_answer_whether_it_comes_with_200_or_400() {
    let refused = r#"{"success":false,"errorReason":"invalid_exact_evm_insufficient_balance","transaction":"","network":"eip155:84532"}"#;
    for status in [200, 400] {
        let server = TestFacilitator::start();
        server.reply("/settle", Reply::json(status, refused));
        let facilitator = client(&server.base).build().unwrap();
        let payment = Payment::new();

        let answer = facilitator.settle(&payment.request()).await.unwrap();

        assert!(!answer.success, "status {status}");
        assert_eq!(
            answer.error_reason.as_deref(),
            Some("invalid_exact_evm_insufficient_balance")
        );
    }
}

#[tokio::test]
async fn a_settle_500_carrying_a_transaction_is_an_unknown_settlement_with_that_transaction() {
    let bodies = [
        r#"{"error":"receipt wait failed","transaction":"0xfeed"}"#,
        r#"{"success":false,"errorReason":"unexpected_settle_error","transaction":"0xfeed","network":"eip155:84532"}"#,
    ];
    for body in bodies {
        let server = TestFacilitator::start();
        server.reply("/settle", Reply::json(500, body));
        let facilitator = client(&server.base).build().unwrap();
        let payment = Payment::new();

        let error = facilitator.settle(&payment.request()).await.unwrap_err();

        match error {
            FacilitatorError::SettleUnknown { transaction, .. } => {
                assert_eq!(transaction.as_deref(), Some("0xfeed"), "{body}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_pending_settlement_is_an_unknown_settlement_with_its_transaction() {
    let server = TestFacilitator::start();
    server.reply(
        "/settle",
        Reply::json(
            200,
            r#"{"success":false,"errorReason":"settlement_pending","transaction":"0xbeef","network":"eip155:84532"}"#,
        ),
    );
    let facilitator = client(&server.base).build().unwrap();
    let payment = Payment::new();

    let error = facilitator.settle(&payment.request()).await.unwrap_err();

    match error {
        FacilitatorError::SettleUnknown { transaction, .. } => {
            assert_eq!(transaction.as_deref(), Some("0xbeef"));
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Retries and failover

#[tokio::test]
async fn verify_retries_are_bounded_by_max_attempts() {
    for attempts in [1, 2, 3] {
        let server = TestFacilitator::start();
        server.reply("/verify", Reply::json(503, ""));
        let facilitator = client(&server.base).max_attempts(attempts).build().unwrap();
        let payment = Payment::new();

        let error = facilitator.verify(&payment.request()).await.unwrap_err();

        assert!(
            matches!(error, FacilitatorError::Unavailable { .. }),
            "{error:?}"
        );
        assert_eq!(server.hits("/verify"), attempts as usize);
    }
}

#[tokio::test]
async fn settle_is_never_retried_nor_sent_to_a_fallback_once_sent() {
    let failing = TestFacilitator::start();
    failing.reply("/settle", Reply::json(503, ""));
    let standby = TestFacilitator::healthy();
    let facilitator = client(&failing.base)
        .fallback(&standby.base)
        .max_attempts(5)
        .build()
        .unwrap();
    let payment = Payment::new();

    let error = facilitator.settle(&payment.request()).await.unwrap_err();

    assert!(
        matches!(error, FacilitatorError::SettleUnknown { .. }),
        "{error:?}"
    );
    assert_eq!(failing.hits("/settle"), 1);
    assert_eq!(standby.hits("/settle"), 0);
}

#[tokio::test]
async fn a_settle_that_could_not_connect_fails_over() {
    let standby = TestFacilitator::healthy();
    let facilitator = client(&refused_url())
        .fallback(&standby.base)
        .build()
        .unwrap();
    let payment = Payment::new();

    let answer = facilitator.settle(&payment.request()).await.unwrap();

    assert!(answer.success);
    assert_eq!(standby.hits("/settle"), 1);
}

#[tokio::test]
async fn a_failing_facilitator_is_failed_over_then_skipped_by_its_breaker_until_one_probe() {
    let primary = TestFacilitator::healthy();
    let secondary = TestFacilitator::healthy();
    // Long enough that the calls made while open all fit in it, even on a loaded machine.
    let cool_down = Duration::from_secs(1);
    let facilitator = client(&primary.base)
        .fallback(&secondary.base)
        .max_attempts(1)
        .breaker_threshold(2)
        .breaker_cool_down(cool_down)
        .build()
        .unwrap();
    let payment = Payment::new();

    facilitator.verify(&payment.request()).await.unwrap();
    assert_eq!((primary.hits("/verify"), secondary.hits("/verify")), (1, 0));

    // The primary starts failing: each call fails over, and the second failure opens its breaker.
    primary.reply("/verify", Reply::json(503, ""));
    for _ in 0..2 {
        assert!(
            facilitator
                .verify(&payment.request())
                .await
                .unwrap()
                .is_valid
        );
    }
    assert_eq!((primary.hits("/verify"), secondary.hits("/verify")), (3, 2));
    let states = facilitator.breaker_states();
    assert_eq!(&*states[0].0, primary.base.as_str());
    assert_eq!(states[0].1, BreakerState::Open);
    assert_eq!(states[1].1, BreakerState::Closed);

    // While open, the primary is not even asked.
    for _ in 0..5 {
        assert!(
            facilitator
                .verify(&payment.request())
                .await
                .unwrap()
                .is_valid
        );
    }
    assert_eq!(primary.hits("/verify"), 3);
    assert_eq!(secondary.hits("/verify"), 7);

    // After the cool-down one probe reaches the recovered primary and closes the breaker.
    primary.reply("/verify", Reply::json(200, VALID));
    tokio::time::sleep(cool_down * 2).await;
    facilitator.verify(&payment.request()).await.unwrap();
    assert_eq!(primary.hits("/verify"), 4);
    assert_eq!(secondary.hits("/verify"), 7);
    assert_eq!(facilitator.breaker_states()[0].1, BreakerState::Closed);
}

#[tokio::test]
async fn a_facilitator_that_dies_mid_run_is_failed_over_and_its_breaker_opens() {
    let mut primary = TestFacilitator::healthy();
    let secondary = TestFacilitator::healthy();
    let facilitator = client(&primary.base)
        .fallback(&secondary.base)
        .breaker_threshold(2)
        .breaker_cool_down(Duration::from_secs(60))
        .build()
        .unwrap();
    let payment = Payment::new();
    facilitator.verify(&payment.request()).await.unwrap();
    assert_eq!(primary.hits("/verify"), 1);

    primary.kill();
    for _ in 0..4 {
        assert!(
            facilitator
                .verify(&payment.request())
                .await
                .unwrap()
                .is_valid
        );
    }

    assert_eq!(secondary.hits("/verify"), 4);
    assert_eq!(facilitator.breaker_states()[0].1, BreakerState::Open);
    assert_eq!(primary.hits("/verify"), 1);
}

#[tokio::test]
async fn when_every_breaker_is_open_calls_fail_fast_with_all_circuits_open() {
    let server = TestFacilitator::start();
    server.reply("/verify", Reply::json(503, ""));
    let facilitator = client(&server.base)
        .max_attempts(1)
        .breaker_threshold(1)
        .breaker_cool_down(Duration::from_secs(60))
        .build()
        .unwrap();
    let payment = Payment::new();

    let first = facilitator.verify(&payment.request()).await.unwrap_err();
    let second = facilitator.verify(&payment.request()).await.unwrap_err();

    assert!(
        matches!(first, FacilitatorError::Unavailable { .. }),
        "{first:?}"
    );
    assert!(
        matches!(second, FacilitatorError::AllCircuitsOpen),
        "{second:?}"
    );
    assert_eq!(server.hits("/verify"), 1);
}

// ---------------------------------------------------------------------------------------------
// Requests: body, URL, auth

#[tokio::test]
async fn the_body_sent_is_the_request_body_byte_for_byte() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base).build().unwrap();
    let payment = Payment::new();
    let request = payment.request();

    facilitator.verify(&request).await.unwrap();
    facilitator.settle(&request).await.unwrap();

    for path in ["/verify", "/settle"] {
        let seen = server.seen(path);
        assert_eq!(&seen[0].body, request.body(), "{path}");
        let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(body["x402Version"], 2);
        assert!(body["paymentPayload"].is_object());
        assert_eq!(body["paymentPayload"]["accepted"]["amount"], "1000");
        assert_eq!(
            body["paymentRequirements"],
            serde_json::to_value(&payment.requirements).unwrap()
        );
    }
}

#[tokio::test]
async fn trailing_slashes_of_the_base_url_are_stripped() {
    let server = TestFacilitator::start();
    server.reply("/facilitator/verify", Reply::json(200, VALID));
    server.reply("/facilitator/supported", Reply::json(200, SUPPORTED));
    let facilitator = client(&format!("{}/facilitator///", server.base))
        .build()
        .unwrap();
    let payment = Payment::new();

    facilitator.verify(&payment.request()).await.unwrap();
    facilitator.supported().await.unwrap();

    assert_eq!(server.hits("/facilitator/verify"), 1);
    let supported = server.seen("/facilitator/supported");
    assert_eq!(supported[0].method, Method::GET);
    assert_eq!(
        supported[0].headers[header::CONTENT_TYPE],
        "application/json"
    );
}

/// Signs a fresh token per call, naming the method and URL like a CDP JWT's `uris` claim.
#[derive(Debug, Default)]
struct PerCallToken {
    calls: AtomicUsize,
}

impl FacilitatorAuth for PerCallToken {
    fn headers<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<AuthHeaders, AuthError>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let token = format!(
                "Bearer {} {} #{call}",
                request.method(),
                request.url_without_scheme()
            );
            Ok(AuthHeaders::from_pairs([
                ("Authorization", token.as_str()),
                ("X-Endpoint", request.operation().as_str()),
            ])?)
        })
    }
}

#[tokio::test]
async fn auth_headers_are_computed_for_each_call_and_each_endpoint() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base)
        .auth(PerCallToken::default())
        .build()
        .unwrap();
    let payment = Payment::new();
    let host = server.base.trim_start_matches("http://");

    facilitator.verify(&payment.request()).await.unwrap();
    facilitator.settle(&payment.request()).await.unwrap();
    facilitator.supported().await.unwrap();
    facilitator.verify(&payment.request()).await.unwrap();

    let expected = [
        (
            "/verify",
            0,
            format!("Bearer POST {host}/verify #0"),
            "verify",
        ),
        (
            "/settle",
            0,
            format!("Bearer POST {host}/settle #1"),
            "settle",
        ),
        (
            "/supported",
            0,
            format!("Bearer GET {host}/supported #2"),
            "supported",
        ),
        (
            "/verify",
            1,
            format!("Bearer POST {host}/verify #3"),
            "verify",
        ),
    ];
    for (path, index, authorization, endpoint) in expected {
        let seen = &server.seen(path)[index];
        assert_eq!(seen.headers[header::AUTHORIZATION], authorization.as_str());
        assert_eq!(seen.headers["x-endpoint"], endpoint);
    }
}

#[tokio::test]
async fn each_facilitator_gets_its_own_static_headers() {
    let primary = TestFacilitator::start();
    primary.reply("/verify", Reply::json(503, ""));
    let secondary = TestFacilitator::healthy();
    let primary_auth = StaticAuth::bearer("primary-token")
        .unwrap()
        .endpoint_header(FacilitatorOperation::Verify, "X-Verify-Key", "v")
        .unwrap();
    let secondary_auth = StaticAuth::new()
        .header("X-Api-Key", "secondary-key")
        .unwrap();
    let facilitator = client(&primary.base)
        .auth(primary_auth)
        .fallback_with_auth(&secondary.base, secondary_auth)
        .max_attempts(1)
        .build()
        .unwrap();
    let payment = Payment::new();

    facilitator.verify(&payment.request()).await.unwrap();

    let to_primary = &primary.seen("/verify")[0].headers;
    assert_eq!(to_primary[header::AUTHORIZATION], "Bearer primary-token");
    assert_eq!(to_primary["x-verify-key"], "v");
    let to_secondary = &secondary.seen("/verify")[0].headers;
    assert_eq!(to_secondary["x-api-key"], "secondary-key");
    assert!(to_secondary.get(header::AUTHORIZATION).is_none());
}

// ---------------------------------------------------------------------------------------------
// /supported

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supported_is_fetched_once_under_100_concurrent_callers() {
    let server = TestFacilitator::start();
    server.reply(
        "/supported",
        Reply::json(200, SUPPORTED).after(Duration::from_millis(200)),
    );
    let facilitator = Arc::new(client(&server.base).build().unwrap());

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let facilitator = Arc::clone(&facilitator);
        callers.spawn(async move { facilitator.supported().await });
    }
    let answers: Vec<_> = callers
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(server.hits("/supported"), 1);
    assert_eq!(answers[0].kinds[0].network, "eip155:84532");
    assert!(
        answers
            .iter()
            .all(|answer| Arc::ptr_eq(answer, &answers[0]))
    );
}

#[tokio::test]
async fn a_fresh_supported_answer_is_served_from_the_cache() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base).build().unwrap();

    let first = facilitator.supported().await.unwrap();
    let second = facilitator.supported().await.unwrap();

    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(server.hits("/supported"), 1);
}

#[tokio::test]
async fn a_stale_supported_answer_is_served_while_the_facilitator_is_down() {
    let mut server = TestFacilitator::healthy();
    let facilitator = client(&server.base)
        .supported_ttl(Duration::from_millis(50))
        .supported_max_stale(Duration::from_secs(600))
        .build()
        .unwrap();
    let cached = facilitator.supported().await.unwrap();

    server.kill();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let served = facilitator.supported().await.unwrap();

    assert!(Arc::ptr_eq(&cached, &served));
}

#[tokio::test]
async fn a_stale_supported_answer_is_served_while_the_facilitator_answers_5xx() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base)
        .supported_ttl(Duration::from_millis(50))
        .supported_max_stale(Duration::from_secs(600))
        .build()
        .unwrap();
    let cached = facilitator.supported().await.unwrap();

    server.reply("/supported", Reply::json(503, ""));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let served = facilitator.supported().await.unwrap();

    assert!(Arc::ptr_eq(&cached, &served));
    assert_eq!(
        server.hits("/supported"),
        3,
        "one fetch, then two attempts at refreshing"
    );
}

#[tokio::test]
async fn a_supported_answer_past_its_max_stale_age_is_not_served() {
    let mut server = TestFacilitator::healthy();
    let facilitator = client(&server.base)
        .supported_ttl(Duration::from_millis(20))
        .supported_max_stale(Duration::from_millis(50))
        .build()
        .unwrap();
    facilitator.supported().await.unwrap();

    server.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let error = facilitator.supported().await.unwrap_err();

    assert!(
        matches!(error, FacilitatorError::Unavailable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_definitive_supported_answer_replaces_the_cached_one_after_the_ttl() {
    let server = TestFacilitator::healthy();
    let facilitator = client(&server.base)
        .supported_ttl(Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(
        facilitator.supported().await.unwrap().kinds[0].network,
        "eip155:84532"
    );

    server.reply("/supported", Reply::json(200, SUPPORTED_BASE));
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        facilitator.supported().await.unwrap().kinds[0].network,
        "eip155:8453"
    );
    assert_eq!(server.hits("/supported"), 2);
}

#[tokio::test]
async fn a_malformed_supported_answer_is_an_error_and_is_not_cached() {
    let server = TestFacilitator::start();
    server.reply("/supported", Reply::json(200, r#"{"kinds":"all of them"}"#));
    let facilitator = client(&server.base).build().unwrap();

    let error = facilitator.supported().await.unwrap_err();
    assert!(
        matches!(error, FacilitatorError::Malformed { .. }),
        "{error:?}"
    );

    server.reply("/supported", Reply::json(200, SUPPORTED));
    assert!(facilitator.supported().await.is_ok());
    assert_eq!(server.hits("/supported"), 2);
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// Recorded histogram samples: metric name and labels.
type Log = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// Records histogram samples with their labels.
#[derive(Debug, Default)]
struct Samples(Log);

#[derive(Debug)]
struct Sample {
    key: metrics::Key,
    log: Log,
}

impl metrics::HistogramFn for Sample {
    fn record(&self, _value: f64) {
        let labels = self
            .key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        self.log
            .lock()
            .unwrap()
            .push((self.key.name().to_owned(), labels));
    }
}

impl metrics::Recorder for Samples {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(Arc::new(Sample {
            key: key.clone(),
            log: Arc::clone(&self.0),
        }))
    }
}

#[test]
fn each_call_records_its_duration_by_operation_and_outcome_but_cache_hits_do_not() {
    let server = TestFacilitator::healthy();
    server.reply("/settle", Reply::json(503, ""));
    let samples = Samples::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    metrics::with_local_recorder(&samples, || {
        runtime.block_on(async {
            let facilitator = client(&server.base).build().unwrap();
            let payment = Payment::new();
            facilitator.verify(&payment.request()).await.unwrap();
            facilitator.settle(&payment.request()).await.unwrap_err();
            facilitator.supported().await.unwrap();
            facilitator.supported().await.unwrap();
        });
    });

    let recorded = samples.0.lock().unwrap().clone();
    let labels = |operation: &str, outcome: &str| {
        (
            "x402_facilitator_request_duration_seconds".to_owned(),
            vec![
                ("operation".to_owned(), operation.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ],
        )
    };
    assert_eq!(
        recorded,
        [
            labels("verify", "ok"),
            labels("settle", "timeout"),
            labels("supported", "ok"),
        ]
    );
}

/// The facilitator's series exist from `build` (latency per operation and outcome, empty; the
/// breaker-opened count at 0), and `record_breaker_states` sets the breaker gauge when asked.
#[tokio::test]
async fn facilitator_series_exist_from_build_and_breaker_states_are_recorded_when_asked() {
    use metrics_util::{
        MetricKind,
        debugging::{DebugValue, DebuggingRecorder},
    };
    /// Kind, name, labels and value of one series.
    type Series = (MetricKind, String, Vec<(String, String)>, DebugValue);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = TestFacilitator::healthy();
    let host = server.base.trim_start_matches("http://").to_owned();
    let facilitator = client(&server.base)
        .breaker_threshold(1)
        .breaker_cool_down(Duration::from_secs(60))
        .build()
        .unwrap();
    let snapshot = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let labels: Vec<(String, String)> = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                (key.kind(), key.key().name().to_owned(), labels, value)
            })
            .collect::<Vec<_>>()
    };
    let at_build = snapshot();
    let latencies = at_build
        .iter()
        .filter(|(kind, name, _, value)| {
            *kind == MetricKind::Histogram
                && name == "x402_facilitator_request_duration_seconds"
                && matches!(value, DebugValue::Histogram(v) if v.is_empty())
        })
        .count();
    assert_eq!(latencies, 3 * 4, "{at_build:?}");
    let opened = |snapshot: &[Series]| {
        snapshot.iter().find_map(|(_, name, labels, value)| {
            (name == "x402_facilitator_breaker_opened_total"
                && labels == &[("facilitator".to_owned(), host.clone())])
                .then(|| match value {
                    DebugValue::Counter(n) => *n,
                    other => panic!("{other:?}"),
                })
        })
    };
    assert_eq!(opened(&at_build), Some(0));

    let state = |snapshot: &[Series]| {
        snapshot.iter().find_map(|(_, name, labels, value)| {
            (name == "x402_facilitator_breaker_state"
                && labels == &[("facilitator".to_owned(), host.clone())])
                .then(|| match value {
                    DebugValue::Gauge(v) => v.into_inner(),
                    other => panic!("{other:?}"),
                })
        })
    };
    assert_eq!(state(&at_build), None, "only set when asked");
    facilitator.record_breaker_states();
    assert_eq!(state(&snapshot()), Some(0.0), "closed");

    server.reply("/verify", Reply::json(503, ""));
    let payment = Payment::new();
    assert!(facilitator.verify(&payment.request()).await.is_err());
    assert_eq!(facilitator.breaker_states()[0].1, BreakerState::Open);
    facilitator.record_breaker_states();
    let after = snapshot();
    assert_eq!(state(&after), Some(2.0), "open");
    assert_eq!(opened(&after), Some(1));
}
