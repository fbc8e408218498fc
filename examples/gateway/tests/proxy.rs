//! The gateway as a production reverse proxy, on loopback: its timeouts and limits, each with
//! the status a proxy gives (and never a charge for a response that was not delivered).
//! The gateway runs in process in front of a small axum upstream (or a raw TCP one that
//! misbehaves), with the dev facilitator over HTTP so settlements are counted.

#[allow(dead_code, reason = "the helpers of the other test binaries")]
mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    http::{HeaderMap, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use reqwest::StatusCode;
use support::{Gateway, Task, client, json, payment_for, seen, serve_facilitator};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::Notify,
};
use x402_core::{
    codec,
    facilitator::dev::{DevFacilitator, DevNetwork},
};

const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Bounds every wait, so a broken gateway fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The upstream: `/slow` answers once released, `/upload` reads the whole body and answers its
// length, everything else echoes the path and headers it received.

#[derive(Clone, Default)]
struct Gates {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

struct Upstream {
    address: String,
    gates: Gates,
    hits: Arc<AtomicUsize>,
    _task: Task,
}

async fn upstream() -> Upstream {
    let gates = Gates::default();
    let slow = gates.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = Router::new()
        .route(
            "/slow",
            get(move || {
                let slow = slow.clone();
                async move {
                    slow.entered.notify_one();
                    slow.release.notified().await;
                    "slow but done"
                }
            }),
        )
        .route(
            "/upload",
            post(|body: bytes::Bytes| async move { body.len().to_string() }),
        )
        .fallback(echo)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Upstream {
        address,
        gates,
        hits,
        _task: Task::new(task),
    }
}

async fn echo(uri: Uri, headers: HeaderMap) -> Response {
    let mut seen = BTreeMap::<String, Vec<String>>::new();
    for (name, value) in &headers {
        seen.entry(name.as_str().to_owned())
            .or_default()
            .push(value.to_str().unwrap_or("<binary>").to_owned());
    }
    Json(serde_json::json!({ "path": uri.to_string(), "headers": seen })).into_response()
}

/// An upstream that accepts connections, reads the request, and closes without a word.
async fn hanging_up_upstream() -> (String, Task) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buffer = [0_u8; 4096];
            let _ = tcp.read(&mut buffer).await;
            drop(tcp);
        }
    });
    (address, Task::new(task))
}

// ---------------------------------------------------------------------------------------------
// The gateway under test: `support::Gateway`.

/// A proxy configuration in front of `upstream`: `/free/**` and `/slow-free` free, the rest
/// priced at $0.001 on Base Sepolia.
fn config(upstream: &str, facilitator: &str, extra: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
{extra}
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
  - {{ path: /upload, name: upload, free: true }}
  - {{ path: /free/**, name: free, free: true }}
  - {{ path: /slow, name: slow }}
  - {{ path: /paid, name: paid }}
"#
    )
}

/// The dev facilitator over HTTP: its URL, its record of settlements.
async fn facilitator() -> (String, Arc<DevFacilitator>, Task) {
    let (url, dev, _settles, task) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    (url, dev, task)
}

/// Sends `request` as raw bytes and reads until the gateway closes the connection.
async fn raw(address: &str, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(address).await.expect("connects");
    tcp.write_all(request).await.expect("writes");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the gateway neither answered nor closed");
    String::from_utf8_lossy(&answer).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Timeouts.

#[tokio::test]
async fn an_upstream_not_answering_in_time_is_504_and_the_paid_request_is_not_charged() {
    let upstream = upstream().await;
    let (facilitator_url, dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(
        &upstream.address,
        &facilitator_url,
        "timeouts: { upstreamResponse: 300ms }",
    ))
    .await;
    let url = gateway.url("/slow");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(response.headers().get(codec::PAYMENT_RESPONSE).is_none());
    let body = json(response).await;
    assert_eq!(body["reason"], "upstream_timeout", "{body}");
    assert_eq!(
        upstream.hits.load(Ordering::SeqCst),
        1,
        "the upstream was asked"
    );
    assert!(dev.settlements().is_empty(), "charged for a 504");
    upstream.gates.release.notify_waiters();
    gateway.stop().await;
}

/// A listener whose accept queue is full and never drained: the kernel drops further SYNs, so
/// connecting to it hangs. Its address, and what keeps it so.
async fn unaccepting_upstream() -> (String, Vec<TcpStream>, TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("binds");
    let listener = socket.listen(1).expect("listens");
    let address = listener.local_addr().expect("address");
    let mut queued = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(tcp)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(address)).await
        {
            queued.push(tcp);
        }
    }
    (address.to_string(), queued, listener)
}

#[tokio::test]
async fn an_upstream_not_accepting_in_time_is_504_and_the_paid_request_is_not_charged() {
    let (address, _queued, _listener) = unaccepting_upstream().await;
    let (facilitator_url, dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(
        &address,
        &facilitator_url,
        "timeouts: { upstreamConnect: 300ms }",
    ))
    .await;
    let url = gateway.url("/paid");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(json(response).await["reason"], "upstream_timeout");
    assert!(dev.settlements().is_empty(), "charged for a 504");
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_hanging_up_is_502_and_the_paid_request_is_not_charged() {
    let (address, _upstream) = hanging_up_upstream().await;
    let (facilitator_url, dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(&address, &facilitator_url, "")).await;
    let url = gateway.url("/paid");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get(codec::PAYMENT_RESPONSE).is_none());
    assert_eq!(json(response).await["reason"], "upstream_unavailable");
    assert!(dev.settlements().is_empty(), "charged for a 502");
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_stalling_its_headers_has_its_connection_closed() {
    let upstream = upstream().await;
    let (facilitator_url, _dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(
        &upstream.address,
        &facilitator_url,
        "timeouts: { clientHeader: 300ms }",
    ))
    .await;

    // Half a request head, then nothing: closed well before hyper's own default (30 s), and
    // the upstream never sees it.
    let mut stalled = TcpStream::connect(&gateway.address)
        .await
        .expect("connects");
    stalled
        .write_all(b"GET /free/x HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer));
    assert!(read.await.is_ok(), "the stalled connection was kept open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 0);

    // A client that sends its head in time is served.
    let answer = raw(
        &gateway.address,
        b"GET /free/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Limits.

#[tokio::test]
async fn a_body_above_max_body_bytes_is_413_declared_or_streamed() {
    let upstream = upstream().await;
    let (facilitator_url, _dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(
        &upstream.address,
        &facilitator_url,
        "maxBodyBytes: 64",
    ))
    .await;

    // Within the limit: forwarded whole.
    let response = client()
        .post(gateway.url("/upload"))
        .body(vec![b'a'; 64])
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "64");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 1);

    // A Content-Length above it: refused before the upstream.
    let response = client()
        .post(gateway.url("/upload"))
        .body(vec![b'a'; 65])
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(response).await["reason"], "body_too_large");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 1, "forwarded anyway");

    // A chunked body that goes past it while streaming: cut, and 413.
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..5 {
        request.extend_from_slice(b"14\r\n01234567890123456789\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&gateway.address, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    gateway.stop().await;
}

#[tokio::test]
async fn requests_beyond_max_concurrent_requests_get_503_until_a_slot_frees() {
    let upstream = upstream().await;
    let (facilitator_url, _dev, _facilitator) = facilitator().await;
    let routes = config(
        &upstream.address,
        &facilitator_url,
        "maxConcurrentRequests: 1",
    )
    // `/slow` free here: the slot is held by the upstream, not by a payment.
    .replace(
        "{ path: /slow, name: slow }",
        "{ path: /slow, name: slow, free: true }",
    );
    let gateway = Gateway::start(&routes).await;

    let slow_url = gateway.url("/slow");
    let first = tokio::spawn(async move { client().get(slow_url).send().await });
    tokio::time::timeout(PATIENCE, upstream.gates.entered.notified())
        .await
        .expect("the first request reaches the upstream");

    let response = client()
        .get(gateway.url("/free/x"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body = json(response).await;
    assert_eq!(body["reason"], "overloaded", "{body}");
    assert_eq!(body["retriable"], true, "{body}");

    upstream.gates.release.notify_one();
    let first = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("the first request finishes")
        .expect("joins")
        .expect("answered");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.text().await.expect("body"), "slow but done");

    // Its slot is free again (the body was read to the end above).
    let response = client()
        .get(gateway.url("/free/x"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    gateway.stop().await;
}

#[test]
fn bad_timeouts_and_limits_are_refused_naming_the_field() {
    let path = std::path::Path::new("gateway.yaml");
    let text = config(
        "127.0.0.1:1",
        "http://127.0.0.1:2",
        "timeouts: { upstreamConnect: 5, upstreamResponse: 0s, clientHeader: 1h }\nmaxBodyBytes: 0\nmaxConcurrentRequests: 0",
    );
    let parsed = x402_gateway::config::GatewayConfig::parse(path, &text).expect("parses");
    let error = x402_gateway::config::validate(path, parsed)
        .expect_err("refused")
        .to_string();
    for field in [
        "`timeouts.upstreamConnect`",
        "`timeouts.upstreamResponse`",
        "`timeouts.clientHeader`",
        "`maxBodyBytes`",
        "`maxConcurrentRequests`",
    ] {
        assert!(error.contains(field), "{field} missing from:\n{error}");
    }

    let text = config("127.0.0.1:1", "http://127.0.0.1:2", "");
    let parsed = x402_gateway::config::GatewayConfig::parse(path, &text).expect("parses");
    let loaded = x402_gateway::config::validate(path, parsed).expect("valid");
    let timeouts = loaded.config.timeouts();
    assert_eq!(timeouts.upstream_connect, Duration::from_secs(5));
    assert_eq!(timeouts.upstream_response, Duration::from_secs(60));
    assert_eq!(timeouts.client_header, Duration::from_secs(10));
    assert_eq!(loaded.config.limits().max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(loaded.config.limits().max_concurrent_requests, None);
}

// ---------------------------------------------------------------------------------------------
// Forwarding headers.

#[tokio::test]
async fn forwarding_headers_replace_the_clients_own_unless_trusted_and_via_goes_both_ways() {
    let upstream = upstream().await;
    let (facilitator_url, _dev, _facilitator) = facilitator().await;
    let forged = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Host", "forged.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=203.0.113.9"),
        ("Via", "1.0 client-proxy"),
    ];

    // Not trusted (the default), RFC 7239 on, the client's Host kept.
    let gateway = Gateway::start(&config(
        &upstream.address,
        &facilitator_url,
        "forwarded: true\npreserveHost: true",
    ))
    .await;
    let mut request = client().get(gateway.url("/free/headers"));
    for (name, value) in forged {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("via").map(|v| v.as_bytes()),
        Some(&b"1.1 x402-gateway"[..]),
        "Via on the response"
    );
    let echo = json(response).await;
    assert_eq!(seen(&echo, "x-forwarded-for"), Some("127.0.0.1"), "{echo}");
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("http"), "{echo}");
    assert_eq!(
        seen(&echo, "x-forwarded-host"),
        Some(gateway.address.as_str())
    );
    assert_eq!(
        seen(&echo, "forwarded"),
        Some(format!("for=127.0.0.1;host=\"{}\";proto=http", gateway.address).as_str()),
        "{echo}"
    );
    assert_eq!(
        seen(&echo, "via"),
        Some("1.0 client-proxy, 1.1 x402-gateway")
    );
    assert_eq!(
        seen(&echo, "host"),
        Some(gateway.address.as_str()),
        "preserveHost"
    );
    gateway.stop().await;

    // Trusted: appended to, or kept; Host rewritten to the upstream's (the default).
    let gateway = Gateway::start(&config(
        &upstream.address,
        &facilitator_url,
        "trustForwardedHeaders: true\nforwarded: true",
    ))
    .await;
    let mut request = client().get(gateway.url("/free/headers"));
    for (name, value) in forged {
        request = request.header(name, value);
    }
    let echo = json(request.send().await.expect("answered")).await;
    assert_eq!(
        seen(&echo, "x-forwarded-for"),
        Some("203.0.113.9, 127.0.0.1"),
        "{echo}"
    );
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("https"));
    assert_eq!(seen(&echo, "x-forwarded-host"), Some("forged.example"));
    assert_eq!(
        seen(&echo, "forwarded"),
        Some(
            format!(
                "for=203.0.113.9, for=127.0.0.1;host=\"{}\";proto=http",
                gateway.address
            )
            .as_str()
        ),
        "{echo}"
    );
    assert_eq!(seen(&echo, "host"), Some(upstream.address.as_str()));
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The access log.

/// Everything logged while it is the thread's default subscriber, as JSON lines.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }

    /// The access log lines, parsed.
    fn access_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["target"] == x402_gateway::access_log::TARGET)
            .collect()
    }
}

// A current-thread runtime: the gateway's tasks run on this thread, under its subscriber.
#[tokio::test]
async fn the_access_log_has_one_line_per_request_and_never_a_payment_header_or_signature() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let upstream = upstream().await;
    let (facilitator_url, dev, _facilitator) = facilitator().await;
    let gateway = Gateway::start(&config(&upstream.address, &facilitator_url, "")).await;
    let url = gateway.url("/paid?api_key=query-secret-value");
    let payment = payment_for(&url).await;
    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .header("authorization", "Bearer header-secret-value")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let receipt = response
        .headers()
        .get(codec::PAYMENT_RESPONSE)
        .expect("a receipt")
        .to_str()
        .expect("text")
        .to_owned();
    let body = response.bytes().await.expect("body");
    let response = client()
        .post(gateway.url("/upload"))
        .body(vec![b'a'; 5])
        .send()
        .await
        .expect("answered");
    assert_eq!(response.text().await.expect("body"), "5");
    gateway.stop().await;
    assert_eq!(dev.settlements().len(), 1);

    let lines = logs.access_lines();
    let fields: Vec<&serde_json::Value> = lines.iter().map(|line| &line["fields"]).collect();
    // The challenge (402), the paid request, the upload: one line each.
    assert_eq!(fields.len(), 3, "{}", logs.text());
    assert_eq!(fields[0]["route"], "paid");
    assert_eq!(fields[0]["status"], 402);
    assert_eq!(fields[0]["outcome"], "payment_required");
    assert_eq!(fields[1]["route"], "paid");
    assert_eq!(fields[1]["method"], "GET");
    assert_eq!(fields[1]["path"], "/paid");
    assert_eq!(fields[1]["status"], 200);
    assert_eq!(fields[1]["outcome"], "paid");
    assert_eq!(fields[1]["bytes_out"], body.len());
    assert_eq!(fields[1]["complete"], true);
    assert!(fields[1]["duration_ms"].as_f64().is_some(), "{}", fields[1]);
    assert_eq!(fields[2]["route"], "upload");
    assert_eq!(fields[2]["outcome"], "free");
    assert_eq!(fields[2]["bytes_in"], 5);
    assert_eq!(fields[2]["bytes_out"], 1);

    // Nothing secret anywhere in the log, access lines or not: not the payment header nor a
    // piece of it, not the signature inside it, not the receipt, not a query or a header.
    let everything = logs.text();
    let payload: serde_json::Value =
        codec::decode_header(payment.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
            .expect("the payment decodes");
    let signature = payload["payload"]["signature"]
        .as_str()
        .expect("a signature")
        .to_owned();
    for secret in [
        &payment[..],
        &payment[payment.len() / 2..payment.len() / 2 + 24],
        signature.as_str(),
        signature.trim_start_matches("0x"),
        &receipt[..],
        "query-secret-value",
        "header-secret-value",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret:?} was logged:\n{everything}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Several upstreams: `upstream` per route.

#[tokio::test]
async fn a_route_naming_its_own_upstream_is_forwarded_there_with_its_prefix() {
    let main = upstream().await;
    let other = upstream().await;
    let (facilitator_url, dev, _facilitator) = facilitator().await;
    let text = config(&main.address, &facilitator_url, "").replace(
        "routes:\n",
        &format!(
            "routes:\n  - {{ path: /other/**, name: other, free: true, upstream: \"http://{}/v2\" }}\n  - {{ path: /other-paid, name: other-paid, upstream: \"http://{}\" }}\n",
            other.address, other.address
        ),
    );
    let gateway = Gateway::start(&text).await;

    let echo = json(
        client()
            .get(gateway.url("/other/x?q=1"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(echo["path"], "/v2/other/x?q=1", "{echo}");
    assert_eq!(seen(&echo, "host"), Some(other.address.as_str()));
    assert_eq!(other.hits.load(Ordering::SeqCst), 1);
    assert_eq!(main.hits.load(Ordering::SeqCst), 0);

    // A paid route on the other upstream: charged once, served by it.
    let url = gateway.url("/other-paid");
    let payment = payment_for(&url).await;
    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["path"], "/other-paid");
    assert_eq!(other.hits.load(Ordering::SeqCst), 2);
    assert_eq!(dev.settlements().len(), 1);

    // The other routes go to the gateway's upstream.
    let echo = json(
        client()
            .get(gateway.url("/free/y"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(echo["path"], "/free/y");
    assert_eq!(main.hits.load(Ordering::SeqCst), 1);
    gateway.stop().await;
}

#[test]
fn a_bad_route_upstream_is_refused_naming_the_route() {
    let path = std::path::Path::new("gateway.yaml");
    let text = config("127.0.0.1:1", "http://127.0.0.1:2", "").replace(
        "routes:\n",
        "routes:\n  - { path: /x, name: elsewhere, upstream: \"ftp://files\" }\n",
    );
    let parsed = x402_gateway::config::GatewayConfig::parse(path, &text).expect("parses");
    let error = x402_gateway::config::validate(path, parsed)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("\"elsewhere\"") && error.contains("`routes[0].upstream`"),
        "{error}"
    );
}
