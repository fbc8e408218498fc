//! The conformance suite against the tower adapter, with an axum app.

use std::{future::Future, pin::Pin};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http_body_util::BodyExt;
use tests::{AppFactory, AppUnderTest, TestRequest, TestResponse};
use tower::ServiceExt;
use x402_core::gate::Gate;
use x402_tower::{BindBodyLayer, Paid, SettlementOverrides, X402Layer};

async fn weather(payment: Option<Paid>, headers: HeaderMap) -> impl IntoResponse {
    let payer = payment
        .and_then(|Paid(p)| p.payer)
        .map_or_else(|| "none".to_owned(), |p| p.to_checksum(None));
    let saw_header = headers.contains_key("payment-signature") || headers.contains_key("x-payment");
    (
        [
            ("x-seen-payer", payer),
            (
                "x-seen-payment-header",
                if saw_header { "yes" } else { "no" }.to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        r#"{"weather":"sunny"}"#,
    )
}

async fn metered(headers: HeaderMap) -> Response {
    let mut response = "metered".into_response();
    if let Some(value) = headers.get("x-charge-header") {
        response
            .headers_mut()
            .insert("settlement-overrides", value.clone());
    }
    if let Some(units) = headers
        .get("x-charge-typed")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        response
            .extensions_mut()
            .insert(SettlementOverrides::atomic(alloy_primitives::U256::from(
                units,
            )));
    }
    response
}

async fn stream() -> Body {
    let chunks = tests::app::stream_chunks();
    Body::from_stream(chunks)
}

fn app() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/open", get(|| async { "open" }))
        .route("/weather", get(weather))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "missing") }),
        )
        .route("/stream", get(stream))
        .route("/echo", post(|body: bytes::Bytes| async move { body }))
        .route("/metered", get(metered))
        .route(
            "/slow",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        )
}

struct Axum;

struct AxumApp(Router);

impl AppFactory for Axum {
    fn name(&self) -> &'static str {
        "axum"
    }

    fn build(&self, gate: Gate) -> Box<dyn AppUnderTest> {
        Box::new(AxumApp(
            app()
                .layer(X402Layer::new(gate.clone()))
                .layer(BindBodyLayer::new(gate)),
        ))
    }
}

impl AppUnderTest for AxumApp {
    fn send(
        &self,
        request: TestRequest,
    ) -> Pin<Box<dyn Future<Output = TestResponse> + Send + '_>> {
        let router = self.0.clone();
        Box::pin(async move {
            let mut builder = http::Request::builder()
                .method(request.method)
                .uri(&request.uri);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let response = router
                .oneshot(
                    builder
                        .body(Body::from(request.body))
                        .expect("valid request"),
                )
                .await
                .expect("infallible");
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let mut body = response.into_body();
            let mut collected = Vec::new();
            let mut frames = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("body frame").into_data() {
                    frames += 1;
                    collected.extend_from_slice(&data);
                }
            }
            TestResponse {
                status,
                headers,
                body: collected.into(),
                frames,
            }
        })
    }
}

tests::conformance_suite!(Axum);
tests::ledger_suite!(Axum);
tests::hardening_suite!(Axum);
