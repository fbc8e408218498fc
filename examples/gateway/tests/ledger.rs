//! The gateway with `ledger: sqlite:///…` end to end on loopback: the dev facilitator over
//! HTTP (so its settlements are counted), an echo upstream, the gateway in process — and, for
//! the usage API's secret (an environment variable), the gateway binary as a child process.

mod support;

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use reqwest::StatusCode;
use support::{
    Gateway, Task, TempPath, client, echo_upstream, free_port, payment_for, serve_facilitator,
    upstream,
};
use x402_core::{
    codec,
    facilitator::dev::{DevFacilitator, DevNetwork},
    wire::SettleResponse,
};

const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PATIENCE: Duration = Duration::from_secs(30);

/// The dev facilitator over HTTP.
async fn facilitator() -> (String, Arc<DevFacilitator>, Task) {
    let (url, dev, _settles, task) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    (url, dev, task)
}

fn config(listen: &str, upstream: &str, facilitator: &str, ledger: &TempPath) -> String {
    format!(
        r#"
listen: {listen}
mode: proxy
upstream: http://{upstream}
ledger: sqlite://{ledger}
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
  - {{ path: /weather, name: weather }}
"#,
        ledger = ledger.0.display()
    )
}

async fn paid(url: &str, header: &str) -> (StatusCode, Option<SettleResponse>, String) {
    let response = client()
        .get(url)
        .header("PAYMENT-SIGNATURE", header)
        .send()
        .await
        .expect("the gateway answers");
    let receipt = response.headers().get(codec::PAYMENT_RESPONSE).map(|v| {
        codec::decode_settle_response(v.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
            .expect("the receipt decodes")
    });
    let status = response.status();
    (status, receipt, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_retried_payment_is_served_again_without_a_second_settlement() {
    let (upstream, hits, _u) = upstream().await;
    let (facilitator, dev, _f) = facilitator().await;
    let ledger = TempPath::new("ledger.db");
    let gateway = Gateway::start(&config("127.0.0.1:0", &upstream, &facilitator, &ledger)).await;
    let url = gateway.url("/weather");
    let header = payment_for(&url).await;
    let (first, first_receipt, _) = paid(&url, &header).await;
    let (again, again_receipt, body) = paid(&url, &header).await;
    assert_eq!((first, again), (StatusCode::OK, StatusCode::OK), "{body}");
    assert!(first_receipt.as_ref().is_some_and(|r| r.success));
    assert_eq!(first_receipt, again_receipt);
    assert_eq!(dev.settlements().len(), 1, "settled once");
    assert_eq!(hits.load(Ordering::SeqCst), 2, "served twice");
    gateway.stop().await;
}

/// A paid `POST` through the proxy: the gateway reads the body to bind the payment to it, so
/// the retry with the same body is served again (the upstream gets the same bytes) and the
/// same payment with another body is refused.
#[tokio::test]
async fn a_retried_paid_post_is_served_again_with_its_body_and_another_body_is_refused() {
    let (upstream, hits, _u) = echo_upstream().await;
    let (facilitator, dev, _f) = facilitator().await;
    let ledger = TempPath::new("ledger-post.db");
    let gateway = Gateway::start(&config("127.0.0.1:0", &upstream, &facilitator, &ledger)).await;
    let url = gateway.url("/weather");
    let header = payment_for(&url).await;
    let post = |body: &'static str| {
        client()
            .post(&url)
            .header("PAYMENT-SIGNATURE", &header)
            .body(body)
            .send()
    };
    let mut receipts = Vec::new();
    for _ in 0..2 {
        let response = post(r#"{"prompt":"hello"}"#).await.expect("answers");
        assert_eq!(response.status(), StatusCode::OK);
        receipts.push(response.headers().get(codec::PAYMENT_RESPONSE).cloned());
        assert_eq!(
            response.text().await.expect("body"),
            r#"{"prompt":"hello"}"#
        );
    }
    assert!(receipts[0].is_some());
    assert_eq!(receipts[0], receipts[1], "the same receipt");
    let other = post("another prompt").await.expect("answers");
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert!(
        other
            .text()
            .await
            .expect("body")
            .contains("payment_request_mismatch")
    );
    assert_eq!(dev.settlements().len(), 1, "settled once");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "served twice, never the other body"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_restarted_gateway_serves_a_retry_from_its_ledger_file() {
    let (upstream, _hits, _u) = upstream().await;
    let (facilitator, dev, _f) = facilitator().await;
    let ledger = TempPath::new("ledger.db");
    let text = config("127.0.0.1:0", &upstream, &facilitator, &ledger);
    let gateway = Gateway::start(&text).await;
    let url = gateway.url("/weather");
    let header = payment_for(&url).await;
    let (status, receipt, _) = paid(&url, &header).await;
    assert_eq!(status, StatusCode::OK);
    gateway.stop().await;

    let gateway = Gateway::start(&text).await;
    let (status, again, body) = paid(&gateway.url("/weather"), &header).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(again, receipt, "the same receipt after the restart");
    assert_eq!(
        dev.settlements().len(),
        1,
        "settled once across the restart"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn without_a_secret_the_usage_api_is_404_and_not_proxied() {
    let (upstream, hits, _u) = upstream().await;
    let (facilitator, _dev, _f) = facilitator().await;
    let ledger = TempPath::new("ledger.db");
    let gateway = Gateway::start(&config("127.0.0.1:0", &upstream, &facilitator, &ledger)).await;
    // The test process does not set X402_INTERNAL_SECRET (the binary test below sets it on
    // its child only).
    assert!(std::env::var_os(x402_gateway::ledger::INTERNAL_SECRET_VAR).is_none());
    for path in [
        "/internal/usage",
        "/internal/usage/recent",
        "/internal/other",
    ] {
        let response = client()
            .get(gateway.url(path))
            .header("x-internal-secret", "anything")
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "never proxied");
    gateway.stop().await;
}

#[test]
fn a_bad_ledger_setting_is_refused_naming_the_field() {
    let dir = TempPath::new("config-errors.yaml");
    let text = r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://127.0.0.1:1
facilitator: dev
ledger: mysql://db/x402
settlement: verify-only
replay: { redis: { url: "redis://127.0.0.1:6379/" } }
payment: { wallet: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", network: base-sepolia, defaultPrice: "$0.001" }
routes: [ { path: /weather } ]
"#;
    std::fs::write(&dir.0, text).expect("writes");
    let error = x402_gateway::config::load(&dir.0).expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("`ledger` = \"mysql://db/x402\""),
        "{message}"
    );
    assert!(
        message.contains("`replay`: must be unset with `ledger`"),
        "{message}"
    );
    assert!(
        message.contains("`ledger`: needs a gateway that settles"),
        "{message}"
    );
}

#[test]
fn ledger_timing_is_read_and_each_bad_value_is_refused_naming_its_field() {
    let file = TempPath::new("config-timing.yaml");
    let base = r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://127.0.0.1:1
facilitator: dev
payment: { wallet: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", network: base-sepolia, defaultPrice: "$0.001" }
routes: [ { path: /weather } ]
"#;
    let load = |extra: &str| {
        std::fs::write(&file.0, format!("{base}{extra}")).expect("writes");
        x402_gateway::config::load(&file.0)
    };
    let loaded = load(
        "ledger: sqlite:///tmp/x.db\nledgerTiming: { claimLease: 3s, settlingStaleAfter: 2m, \
         reconcileEvery: 250ms }\n",
    )
    .expect("valid");
    let timers = loaded.config.ledger_timers();
    assert_eq!(timers.claim_lease_seconds, 3);
    assert_eq!(timers.settling_stale_after, Duration::from_secs(120));
    assert_eq!(timers.reconcile_every, Duration::from_millis(250));
    // Left out: the defaults.
    let loaded =
        load("ledger: sqlite:///tmp/x.db\nledgerTiming: { claimLease: 5s }\n").expect("valid");
    let timers = loaded.config.ledger_timers();
    assert_eq!(timers.claim_lease_seconds, 5);
    assert_eq!(
        timers.settling_stale_after,
        x402_gateway::ledger::SETTLING_STALE_AFTER
    );
    assert_eq!(
        timers.reconcile_every,
        x402_gateway::ledger::RECONCILE_EVERY
    );
    let defaults = load("ledger: sqlite:///tmp/x.db\n").expect("valid");
    assert_eq!(
        defaults.config.ledger_timers().claim_lease_seconds,
        x402_core::ledger::DEFAULT_CLAIM_LEASE_SECONDS
    );

    let message = load(
        "ledgerTiming: { claimLease: 1500ms, settlingStaleAfter: soon, reconcileEvery: 0s }\n",
    )
    .expect_err("refused")
    .to_string();
    for expected in [
        "`ledgerTiming`: needs `ledger`",
        "`ledgerTiming.claimLease` = \"1500ms\": must be whole seconds",
        "`ledgerTiming.settlingStaleAfter` = \"soon\"",
        "`ledgerTiming.reconcileEvery` = \"0s\": must be more than zero",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}

#[test]
fn payment_identifier_without_a_ledger_is_refused_naming_the_route() {
    let file = TempPath::new("config-payment-id.yaml");
    let config = |ledger: &str, payment: &str| {
        format!(
            "listen: 127.0.0.1:0\nmode: proxy\nupstream: http://127.0.0.1:1\nfacilitator: dev\n\
             {ledger}payment: {{ wallet: \"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\", \
             network: base-sepolia, defaultPrice: \"$0.001\"{payment} }}\n\
             routes: [ {{ path: /free, free: true }}, {{ path: /orders, paymentIdentifier: required }}, {{ path: /plain }} ]\n"
        )
    };
    std::fs::write(&file.0, config("", ", paymentIdentifier: optional")).expect("writes");
    let message = x402_gateway::config::load(&file.0)
        .expect_err("refused")
        .to_string();
    for expected in [
        "route #1 (\"/orders\"): `routes[1].paymentIdentifier` = \"required\": needs a payment ledger",
        "route #2 (\"/plain\"): `payment.paymentIdentifier` = \"optional\": needs a payment ledger",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    std::fs::write(&file.0, config("ledger: sqlite:///tmp/x.db\n", "")).expect("writes");
    let loaded = x402_gateway::config::load(&file.0).expect("valid with a ledger");
    assert_eq!(
        loaded.config.routes[1].payment_identifier.as_deref(),
        Some("required")
    );
}

struct ChildGateway(Child);

impl Drop for ChildGateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_gateway_binary_serves_the_usage_api_with_the_secret_from_its_environment() {
    let (upstream, _hits, _u) = upstream().await;
    let (facilitator, _dev, _f) = facilitator().await;
    let ledger = TempPath::new("ledger.db");
    let port = free_port();
    let file = TempPath::new("config.yaml");
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(&file.0, config(&listen, &upstream, &facilitator, &ledger)).expect("writes");
    let _child = ChildGateway(
        Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
            .arg("--config")
            .arg(&file.0)
            .env(x402_gateway::ledger::INTERNAL_SECRET_VAR, "s3cret")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the gateway binary starts"),
    );
    let base = format!("http://{listen}");
    let ready = async {
        loop {
            if client()
                .get(format!("{base}/internal/usage"))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(PATIENCE, ready)
        .await
        .expect("the gateway listens");

    let url = format!("{base}/weather");
    let header = payment_for(&url).await;
    let (status, receipt, _) = paid(&url, &header).await;
    assert_eq!(status, StatusCode::OK);
    let tx = receipt.expect("a receipt").transaction;

    let forbidden = client()
        .get(format!("{base}/internal/usage"))
        .header("x-internal-secret", "wrong")
        .send()
        .await
        .expect("answers");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let recent = client()
        .get(format!("{base}/internal/usage/recent?limit=5"))
        .header("x-internal-secret", "s3cret")
        .send()
        .await
        .expect("answers");
    assert_eq!(recent.status(), StatusCode::OK);
    let body: serde_json::Value =
        serde_json::from_slice(&recent.bytes().await.expect("body")).expect("JSON");
    assert_eq!(body["payments"][0]["tx"], tx.as_str(), "{body}");
    assert_eq!(body["payments"][0]["route"], "weather", "{body}");
    let usage = client()
        .get(format!("{base}/internal/usage?bucket=day"))
        .header("x-internal-secret", "s3cret")
        .send()
        .await
        .expect("answers");
    let body: serde_json::Value =
        serde_json::from_slice(&usage.bytes().await.expect("body")).expect("JSON");
    assert_eq!(
        (body["count"].as_u64(), body["amount"].as_str()),
        (Some(1), Some("1000")),
        "{body}"
    );
    assert_eq!(body["buckets"].as_array().map(Vec::len), Some(1), "{body}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn two_gateways_sharing_a_postgres_ledger_settle_a_payment_once_and_serve_its_retry() {
    let Some((_ledger, ledger_url)) =
        support::postgres_schema("two_gateways_sharing_a_postgres_ledger").await
    else {
        return;
    };

    let (upstream, hits, _u) = upstream().await;
    let (facilitator, dev, _f) = facilitator().await;
    let config = |ledger: &str| {
        format!(
            r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
ledger: "{ledger}"
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
  - {{ path: /weather, name: weather }}
"#
        )
    };
    let first = Gateway::start(&config(&ledger_url)).await;
    let second = Gateway::start(&config(&ledger_url)).await;
    let header = payment_for(&first.url("/weather")).await;
    let (status, receipt, body) = paid(&first.url("/weather"), &header).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, again, body) = paid(&second.url("/weather"), &header).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(again, receipt, "the other instance serves the same receipt");
    assert_eq!(dev.settlements().len(), 1, "settled once across both");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    first.stop().await;
    second.stop().await;
}
