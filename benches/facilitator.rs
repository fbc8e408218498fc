//! The HTTP facilitator client's own cost: a verify against an in-process axum facilitator on
//! loopback that answers instantly, beside the same request made with a bare `reqwest::Client`
//! (the difference is what `HttpFacilitator` adds: auth hook, breaker, deadline, size-capped
//! read, answer mapping, metrics and tracing), and a `/supported` cache hit.
//!
//! The server runs on its own one-thread runtime; the client calls are driven from a
//! current-thread runtime on the bench thread.

use std::{hint::black_box, sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, header},
    routing::{get, post},
};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use x402_core::{
    facilitator::{Facilitator, FacilitatorRequest, HttpFacilitator, Requirements},
    wire::PaymentPayload,
    wire::{SchemePayload, V2, VerifyResponse, v2},
};

const VALID: &str = r#"{"isValid":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#;
const SUPPORTED: &str = r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"},{"x402Version":1,"scheme":"exact","network":"base-sepolia"}]}"#;

const JSON: (HeaderName, &str) = (header::CONTENT_TYPE, "application/json");

/// Starts the instant facilitator; returns its base URL and the runtime that keeps it alive.
fn start_server() -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("non-blocking");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = Router::new()
        .route("/verify", post(|| async { ([JSON], VALID) }))
        .route("/supported", get(|| async { ([JSON], SUPPORTED) }));
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        axum::serve(listener, app).await.expect("serve");
    });
    (base, runtime)
}

struct Payment {
    payload: PaymentPayload,
    payload_json: String,
    requirements: v2::PaymentRequirements,
    requirements_json: String,
}

fn payment() -> Payment {
    let requirements = v2::PaymentRequirements {
        scheme: "exact".to_owned(),
        network: "eip155:84532".to_owned(),
        amount: "1000".to_owned(),
        asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".to_owned(),
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".to_owned(),
        max_timeout_seconds: 300,
        extra: serde_json::json!({ "name": "USDC", "version": "2" })
            .as_object()
            .cloned(),
    };
    let payload = v2::PaymentPayload {
        x402_version: V2,
        resource: None,
        accepted: requirements.clone(),
        payload: SchemePayload::Other(
            serde_json::json!({
                "signature": format!("0x{}", "1b".repeat(65)),
                "authorization": {
                    "from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                    "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                    "value": "1000",
                    "validAfter": "0",
                    "validBefore": "1900000000",
                    "nonce": format!("0x{}", "42".repeat(32)),
                }
            })
            .as_object()
            .cloned()
            .expect("a JSON object"),
        ),
        extensions: None,
    };
    Payment {
        payload_json: serde_json::to_string(&payload).expect("payload json"),
        payload: PaymentPayload::V2(payload),
        requirements_json: serde_json::to_string(&requirements).expect("requirements json"),
        requirements,
    }
}

fn facilitator(c: &mut Criterion) {
    let (base, _server) = start_server();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let payment = payment();
    let request = FacilitatorRequest::new(
        &payment.payload,
        &payment.payload_json,
        Requirements::V2(&payment.requirements),
        &payment.requirements_json,
    );
    let facilitator = Arc::new(
        HttpFacilitator::builder(&base)
            .build()
            .expect("facilitator"),
    );

    // The baseline needs a process-wide rustls provider: x402-core turns on reqwest's
    // `rustls-no-provider` and configures its own client with `ring`.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bare = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("bare client");
    let verify_url = format!("{base}/verify");
    let body: Bytes = request.body().clone();

    let mut group = c.benchmark_group("facilitator");
    group.bench_function("verify/http_facilitator", |b| {
        b.iter(|| {
            let answer = client
                .block_on(facilitator.verify(black_box(&request)))
                .expect("verify");
            black_box(answer)
        });
    });
    group.bench_function("verify/bare_reqwest", |b| {
        b.iter(|| {
            let answer = client.block_on(async {
                let response = bare
                    .post(&verify_url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(black_box(&body).clone())
                    .send()
                    .await
                    .expect("send");
                let bytes = response.bytes().await.expect("body");
                serde_json::from_slice::<VerifyResponse>(&bytes).expect("json")
            });
            black_box(answer)
        });
    });
    client
        .block_on(facilitator.supported())
        .expect("warm the /supported cache");
    group.bench_function("supported/cached", |b| {
        b.iter(|| {
            let supported = client.block_on(facilitator.supported()).expect("supported");
            black_box(supported)
        });
    });
    group.finish();
}

criterion_group!(benches, facilitator);
criterion_main!(benches);
