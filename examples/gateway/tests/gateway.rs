//! The gateway end to end on loopback: each test writes a configuration file, starts the
//! gateway in-process on `127.0.0.1:0` in front of a small axum upstream, with the dev
//! facilitator (served over HTTP when the test counts settlements), and stops everything it
//! started. No test asserts a duration; waits are bounded only to fail instead of hanging.

#[allow(dead_code, reason = "the helpers this test does not use")]
mod support;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, StatusCode as AxumStatus, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use examples::{BUYER, BUYER_KEY};
use hyper::body::Frame;
use reqwest::StatusCode;
use support::{client, json, payment_for, seen};
use tokio::{
    net::TcpListener,
    sync::{Notify, mpsc, oneshot},
    task::JoinHandle,
};
use x402_core::{
    clock::{Clock as _, SystemClock},
    codec,
    evm::signer::PrivateKeySigner,
    facilitator::dev::{DevFacilitator, DevNetwork},
    wire::{SettleResponse, v2},
};
use x402_gateway::{self as gateway, Running, StartError, config::ConfigError};

/// The recipient of every priced route (anvil's test address #1).
const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Bounds every wait, so a broken gateway fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The upstream: echoes what it received; /fail answers 500; /stream sends two frames, the
// second only once the test has read the first; /slow answers once released.

#[derive(Clone, Default)]
struct Gates {
    stream_first_read: Arc<Notify>,
    slow_release: Arc<Notify>,
    slow_entered: Arc<Notify>,
}

struct Upstream {
    address: String,
    gates: Gates,
    /// Requests the upstream received.
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn upstream() -> Upstream {
    let gates = Gates::default();
    let router = Router::new()
        .route(
            "/fail",
            get(|| async { (AxumStatus::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/stream", get(stream))
        .route("/slow", get(slow))
        // A metering upstream: it charges 40 % of an `upto` payment's maximum.
        .route(
            "/metered",
            get(|| async { ([("settlement-overrides", r#"{"amount":"40%"}"#)], "tokens") }),
        )
        .fallback(echo)
        .with_state(gates.clone());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = router.layer(axum::middleware::from_fn(
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
        task,
    }
}

async fn echo(uri: Uri, headers: HeaderMap) -> Response {
    let mut seen = BTreeMap::<String, Vec<String>>::new();
    for (name, value) in &headers {
        seen.entry(name.as_str().to_owned())
            .or_default()
            .push(value.to_str().unwrap_or("<binary>").to_owned());
    }
    let mut response =
        Json(serde_json::json!({ "path": uri.to_string(), "headers": seen })).into_response();
    // A hop-by-hop header named by Connection, which the gateway must not pass back.
    response
        .headers_mut()
        .insert("connection", "x-upstream-hop".parse().expect("valid"));
    response
        .headers_mut()
        .insert("x-upstream-hop", "1".parse().expect("valid"));
    response
}

/// A body fed by a channel, so the upstream decides when each frame goes out.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

async fn stream(axum::extract::State(gates): axum::extract::State<Gates>) -> Response {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let _ = tx.send(Bytes::from_static(b"first;")).await;
        gates.stream_first_read.notified().await;
        let _ = tx.send(Bytes::from_static(b"second")).await;
    });
    Response::new(Body::new(ChannelBody(rx)))
}

async fn slow(axum::extract::State(gates): axum::extract::State<Gates>) -> &'static str {
    gates.slow_entered.notify_one();
    gates.slow_release.notified().await;
    "slow but done"
}

// ---------------------------------------------------------------------------------------------
// The dev facilitator over HTTP, so tests can count settlements.

struct Facilitator {
    url: String,
    dev: Arc<DevFacilitator>,
    task: JoinHandle<()>,
}

impl Drop for Facilitator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn facilitator() -> Facilitator {
    faulty_facilitator(Fault::None, Fault::None).await
}

/// What a scripted facilitator does on one operation, instead of answering.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answers (the dev facilitator).
    None,
    /// 500 with a text body.
    ServerError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Never answers.
    Hang,
}

/// The dev facilitator over HTTP, with `verify` and `settle` replaced by the given faults.
async fn faulty_facilitator(verify: Fault, settle: Fault) -> Facilitator {
    let dev = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let inject = move |request: axum::extract::Request, next: axum::middleware::Next| async move {
        let fault = match request.uri().path() {
            "/verify" => verify,
            "/settle" => settle,
            _ => Fault::None,
        };
        match fault {
            Fault::None => next.run(request).await,
            Fault::ServerError => {
                (AxumStatus::INTERNAL_SERVER_ERROR, "facilitator trouble").into_response()
            }
            Fault::Malformed => (AxumStatus::OK, "{not json").into_response(),
            Fault::Hang => std::future::pending::<Response>().await,
        }
    };
    let router =
        x402_tower::dev_facilitator::router(dev.clone()).layer(axum::middleware::from_fn(inject));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Facilitator { url, dev, task }
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.

static FILES: AtomicUsize = AtomicUsize::new(0);

/// A configuration file in the temp directory, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(text: &str) -> Self {
        Self::with_extension(text, "yaml")
    }

    fn with_extension(text: &str, extension: &str) -> Self {
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "x402-gateway-test-{}-{n}.{extension}",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("writes the config");
        Self(path)
    }

    fn rewrite(&self, text: &str) {
        std::fs::write(&self.0, text).expect("rewrites the config");
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Gateway {
    running: Option<Running>,
    stop: Option<oneshot::Sender<()>>,
    file: ConfigFile,
    base: String,
    ops: String,
}

/// The client of `routesFrom.kubernetes` a test may give (none without the `kube` feature).
#[cfg(feature = "kube")]
type KubeClient = kube::Client;
#[cfg(not(feature = "kube"))]
type KubeClient = std::convert::Infallible;

impl Gateway {
    async fn start(config: &str) -> Self {
        match Self::try_start(config).await {
            Ok(gateway) => gateway,
            Err(error) => panic!("the gateway did not start: {error}"),
        }
    }

    async fn try_start(config: &str) -> Result<Self, StartError> {
        Self::try_start_with(config, None).await
    }

    /// Starts with `kube` as the client of `routesFrom.kubernetes`, when given.
    async fn try_start_with(config: &str, kube: Option<KubeClient>) -> Result<Self, StartError> {
        let file = ConfigFile::new(config);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let running = match kube {
            #[cfg(not(feature = "kube"))]
            Some(never) => match never {},
            #[cfg(feature = "kube")]
            Some(client) => gateway::start_with_kube(file.0.clone(), client, shutdown).await?,
            None => gateway::start(file.0.clone(), shutdown).await?,
        };
        Ok(Self {
            base: format!("http://{}", running.listen),
            ops: running
                .ops
                .map(|a| format!("http://{a}"))
                .unwrap_or_default(),
            running: Some(running),
            stop: Some(stop),
            file,
        })
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits until the gateway has drained and stopped.
    async fn stop(mut self) {
        self.begin_shutdown();
        let running = self.running.take().expect("running");
        tokio::time::timeout(PATIENCE, running.wait())
            .await
            .expect("the gateway stops")
            .expect("the gateway stopped cleanly");
    }

    async fn metrics(&self) -> String {
        client()
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

fn buyer() -> PrivateKeySigner {
    BUYER_KEY.parse().expect("valid key")
}

/// The proxy configuration: every route on Base Sepolia at $0.001 unless free.
fn proxy_config(upstream: &str, facilitator: &str, extra: &str, routes: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
metricsListen: 127.0.0.1:0
{extra}
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
{routes}
"#
    )
}

const PROXY_ROUTES: &str = r#"
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather }
  - { path: /fail, name: fail }
  - { path: /stream, name: stream }
  - { path: /slow, name: slow }
"#;

struct ProxySetup {
    upstream: Upstream,
    facilitator: Facilitator,
    gateway: Gateway,
}

async fn proxy_setup() -> ProxySetup {
    proxy_setup_with(PROXY_ROUTES).await
}

/// [`proxy_setup`] with these routes.
async fn proxy_setup_with(routes: &str) -> ProxySetup {
    let upstream = upstream().await;
    let facilitator = facilitator().await;
    let gateway = Gateway::start(&proxy_config(
        &upstream.address,
        &facilitator.url,
        "",
        routes,
    ))
    .await;
    ProxySetup {
        upstream,
        facilitator,
        gateway,
    }
}

fn receipt(response: &reqwest::Response) -> Option<SettleResponse> {
    response
        .headers()
        .get(codec::PAYMENT_RESPONSE)
        .map(|value| {
            codec::decode_settle_response(value.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
                .expect("the receipt decodes")
        })
}

fn challenge(response: &reqwest::Response) -> v2::PaymentRequired {
    let value = response
        .headers()
        .get(codec::PAYMENT_REQUIRED)
        .expect("PAYMENT-REQUIRED");
    codec::decode_payment_required(value.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
        .expect("the challenge decodes")
}

/// What the upstream saw: its path and headers.
async fn echoed(response: reqwest::Response) -> serde_json::Value {
    json(response).await
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[tokio::test]
async fn a_bad_configuration_refuses_to_start_listing_every_error_with_route_and_field() {
    let error = Gateway::try_start(
        r#"
listen: 127.0.0.1:0
mode: proxy
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /a, name: cheap, price: "0,01" }
  - { path: /b, name: elsewhere, price: "1", network: not-a-chain }
"#,
    )
    .await
    .err()
    .expect("refused");

    let StartError::Config(ConfigError::Invalid { errors, .. }) = &error else {
        panic!("expected a list of errors, got {error:?}");
    };
    let text = error.to_string();
    assert_eq!(errors.len(), 4, "{text}");
    for expected in [
        "`upstream`",
        "`payment.facilitatorURL`",
        "\"cheap\"",
        "routes[0].price",
        "\"elsewhere\"",
        "routes[1].network",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

#[tokio::test]
async fn an_unknown_key_refuses_to_start_naming_it() {
    let error = Gateway::try_start("listen: 127.0.0.1:0\nmode: proxy\nupstreem: http://x\n")
        .await
        .err()
        .expect("refused");

    assert!(
        matches!(error, StartError::Config(ConfigError::Parse { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("upstreem"), "{error}");
}

#[tokio::test]
async fn a_json_configuration_is_accepted() {
    let upstream = upstream().await;
    let config = serde_json::json!({
        "listen": "127.0.0.1:0",
        "mode": "proxy",
        "upstream": format!("http://{}", upstream.address),
        "facilitator": "dev",
        "payment": { "wallet": PAY_TO, "network": "base-sepolia", "defaultPrice": "$0.001" },
        "routes": [ { "path": "/weather" } ],
    });
    let file = ConfigFile::with_extension(&config.to_string(), "json");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = gateway::start(file.0.clone(), async move {
        let _ = stopped.await;
    })
    .await
    .expect("starts");

    let response = client()
        .get(format!("http://{}/weather", running.listen))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let _ = stop.send(());
    running.wait().await.expect("stops");
}

// ---------------------------------------------------------------------------------------------
// Proxy mode.

#[tokio::test]
async fn proxy_unpaid_priced_route_is_402_and_the_upstream_is_not_called() {
    let setup = proxy_setup().await;

    let response = client()
        .get(setup.gateway.url("/weather"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let offer = challenge(&response);
    assert_eq!(offer.accepts[0].amount, "1000");
    assert_eq!(offer.accepts[0].pay_to, PAY_TO);
    assert!(
        offer.resource.url.ends_with("/weather"),
        "{}",
        offer.resource.url
    );
    let body = response.text().await.expect("body");
    assert!(!body.contains("headers"), "the upstream answered: {body}");
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_paid_request_reaches_the_upstream_with_the_payer_and_returns_a_receipt() {
    let setup = proxy_setup().await;
    let url = setup.gateway.url("/weather?city=Paris");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .header("X-Payment-Payer", "0xforged")
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    let receipt = receipt(&response).expect("PAYMENT-RESPONSE");
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(receipt.payer.as_deref(), Some(BUYER));
    let echo = echoed(response).await;
    assert_eq!(echo["path"], "/weather?city=Paris");
    assert_eq!(seen(&echo, "x-payment-payer"), Some(BUYER));
    assert_eq!(
        echo["headers"]["x-payment-payer"].as_array().map(Vec::len),
        Some(1),
        "{echo}"
    );
    assert_eq!(seen(&echo, "payment-signature"), None, "{echo}");
    assert_eq!(setup.facilitator.dev.settlements().len(), 1);
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_forged_payer_and_payment_headers_never_reach_the_upstream_on_free_routes() {
    let setup = proxy_setup().await;

    let response = client()
        .get(setup.gateway.url("/health"))
        .header("x-PAYMENT-payer", "0xforged")
        .header("X-Payment", "not-a-payment")
        .header("Payment-Signature", "not-a-payment")
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    let echo = echoed(response).await;
    for header in ["x-payment-payer", "x-payment", "payment-signature"] {
        assert_eq!(
            seen(&echo, header),
            None,
            "{header} reached the upstream: {echo}"
        );
    }
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_upstream_failure_is_passed_through_and_not_charged() {
    let setup = proxy_setup().await;
    let url = setup.gateway.url("/fail");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(receipt(&response).is_none());
    assert_eq!(response.text().await.expect("body"), "boom");
    assert!(setup.facilitator.dev.settlements().is_empty());
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_unreachable_upstream_is_502_and_not_charged() {
    // A port that was free a moment ago: nothing listens there.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        listener.local_addr().expect("address").to_string()
    };
    let facilitator = facilitator().await;
    let gateway = Gateway::start(&proxy_config(&closed, &facilitator.url, "", PROXY_ROUTES)).await;
    let url = gateway.url("/weather");
    let payment = payment_for(&url).await;

    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(receipt(&response).is_none());
    let body = json(response).await;
    assert_eq!(body["reason"], "upstream_unavailable");
    assert!(facilitator.dev.settlements().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn proxy_streams_the_upstream_body_frame_by_frame_after_settling() {
    let setup = proxy_setup().await;
    let url = setup.gateway.url("/stream");
    let payment = payment_for(&url).await;

    let mut response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(receipt(&response).is_some_and(|r| r.success));

    // The upstream sends its second frame only after we read the first: a buffering proxy
    // would never deliver the first.
    let first = tokio::time::timeout(PATIENCE, response.chunk())
        .await
        .expect("the first frame arrives before the body ends")
        .expect("reads");
    assert_eq!(first.as_deref(), Some(&b"first;"[..]));
    setup.upstream.gates.stream_first_read.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, response.chunk())
        .await
        .expect("the rest arrives")
        .expect("reads")
    {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"second");
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_sets_forwarded_headers_and_removes_hop_by_hop_headers_both_ways() {
    let setup = proxy_setup().await;

    let response = client()
        .get(setup.gateway.url("/health"))
        .header("Connection", "x-client-hop")
        .header("X-Client-Hop", "1")
        .header("Proxy-Authorization", "Basic c2VjcmV0")
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Forwarded-Host", "forged.example")
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-upstream-hop").is_none());
    let echo = echoed(response).await;
    assert_eq!(seen(&echo, "x-client-hop"), None, "{echo}");
    assert_eq!(seen(&echo, "proxy-authorization"), None, "{echo}");
    // Not trusted: the client's own forwarding headers are replaced.
    assert_eq!(seen(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("http"));
    let host = setup.gateway.base.trim_start_matches("http://");
    assert_eq!(seen(&echo, "x-forwarded-host"), Some(host));
    assert_eq!(seen(&echo, "host"), Some(setup.upstream.address.as_str()));
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_unmatched_path_is_403_by_default() {
    let setup = proxy_setup().await;

    let response = client()
        .get(setup.gateway.url("/elsewhere"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = json(response).await;
    assert_eq!(body["reason"], "no_route");
    setup.gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ForwardAuth mode.

fn forward_auth_config(extra: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
mode: forward-auth
facilitator: dev
{extra}
payment: {{ wallet: "{PAY_TO}", network: base-sepolia, defaultPrice: "$0.001" }}
routes:
  - {{ path: /health, free: true }}
  - {{ path: /rpc/**, name: rpc }}
"#
    )
}

/// An auth request as Traefik sends it for `GET https://api.example.com{uri}`.
fn auth_request(gateway: &Gateway, uri: Option<&str>) -> reqwest::RequestBuilder {
    let mut request = client()
        .get(gateway.url("/verify"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "api.example.com");
    if let Some(uri) = uri {
        request = request.header("X-Forwarded-Uri", uri);
    }
    request
}

/// A payment for the ForwardAuth challenge of `uri`.
async fn forward_auth_payment(gateway: &Gateway, uri: &str) -> String {
    let response = auth_request(gateway, Some(uri))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    examples::sign(&challenge(&response), &buyer(), SystemClock.now())
        .expect("signs")
        .header
}

#[tokio::test]
async fn forward_auth_without_a_forwarded_uri_is_403() {
    let gateway = Gateway::start(&forward_auth_config("")).await;

    let response = auth_request(&gateway, None).send().await.expect("answered");

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_unmatched_path_is_403_by_default() {
    let gateway = Gateway::start(&forward_auth_config("")).await;

    let response = auth_request(&gateway, Some("/admin"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_unmatched_path_is_200_when_allowed() {
    let gateway = Gateway::start(&forward_auth_config("unmatched: allow")).await;

    let response = auth_request(&gateway, Some("/admin"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_free_route_is_200_with_an_empty_payer_header() {
    let gateway = Gateway::start(&forward_auth_config("")).await;

    let response = auth_request(&gateway, Some("/health"))
        .header("X-Payment-Payer", "0xforged")
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("x-payment-payer")
            .map(|v| v.as_bytes()),
        Some(&b""[..])
    );
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_priced_route_is_402_for_the_forwarded_url_ignoring_the_query() {
    let gateway = Gateway::start(&forward_auth_config("")).await;

    let response = auth_request(&gateway, Some("/rpc?method=eth_sendRawTransaction"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let offer = challenge(&response);
    assert_eq!(
        offer.resource.url,
        "https://api.example.com/rpc?method=eth_sendRawTransaction"
    );
    assert_eq!(offer.accepts[0].amount, "1000");
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_paid_request_is_200_with_the_payer_and_verified_only() {
    let gateway = Gateway::start(&forward_auth_config("")).await;
    assert!(
        gateway
            .running()
            .warnings
            .iter()
            .all(|w| !w.contains("settle payments"))
    );
    let payment = forward_auth_payment(&gateway, "/rpc/mainnet").await;

    let response = auth_request(&gateway, Some("/rpc/mainnet"))
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("x-payment-payer")
            .and_then(|v| v.to_str().ok()),
        Some(BUYER)
    );
    assert!(receipt(&response).is_none(), "verify-only settles nothing");
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_replayed_payment_is_refused() {
    let gateway = Gateway::start(&forward_auth_config("")).await;
    let payment = forward_auth_payment(&gateway, "/rpc/mainnet").await;
    let first = auth_request(&gateway, Some("/rpc/mainnet"))
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    assert_eq!(first.status(), StatusCode::OK);

    let again = auth_request(&gateway, Some("/rpc/mainnet"))
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(challenge(&again).error.as_deref(), Some("replay"));
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_configured_to_settle_warns_and_returns_the_receipt_headers() {
    let gateway = Gateway::start(&forward_auth_config("settlement: after")).await;
    assert!(
        gateway
            .running()
            .warnings
            .iter()
            .any(|w| w == gateway::config::FORWARD_AUTH_SETTLES_WARNING),
        "{:?}",
        gateway.running().warnings
    );
    let payment = forward_auth_payment(&gateway, "/rpc/x").await;

    let response = auth_request(&gateway, Some("/rpc/x"))
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(receipt(&response).is_some_and(|r| r.success));
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reload.

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_changed_file_swaps_the_routes() {
    let upstream = upstream().await;
    let config = |routes| {
        proxy_config(
            &upstream.address,
            "http://127.0.0.1:1",
            "facilitator: dev",
            routes,
        )
    };
    let gateway = Gateway::start(&config("  - { path: /weather, name: weather }")).await;
    let url = gateway.url("/news");
    let before = client().get(&url).send().await.expect("answered");
    assert_eq!(before.status(), StatusCode::FORBIDDEN);

    gateway.file.rewrite(&config(
        "  - { path: /weather, name: weather }\n  - { path: /news, free: true }",
    ));

    eventually("the file change is picked up", async || {
        gateway.running().routes().len() == 2
    })
    .await;
    let after = client().get(&url).send().await.expect("answered");
    assert_eq!(after.status(), StatusCode::OK);
    gateway.stop().await;
}

#[tokio::test]
async fn a_bad_file_keeps_the_old_table() {
    let upstream = upstream().await;
    let gateway = Gateway::start(&proxy_config(
        &upstream.address,
        "http://127.0.0.1:1",
        "facilitator: dev",
        "  - { path: /weather, name: weather }",
    ))
    .await;

    gateway.file.rewrite(&proxy_config(
        &upstream.address,
        "http://127.0.0.1:1",
        "facilitator: dev",
        "  - { path: /weather, name: weather, price: \"-1\" }\n  - { path: /news, free: true }",
    ));
    let error = gateway.running().reload().expect_err("refused");

    assert!(error.to_string().contains("routes[0].price"), "{error}");
    assert_eq!(gateway.running().routes().len(), 1);
    let response = client()
        .get(gateway.url("/weather"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let news = client()
        .get(gateway.url("/news"))
        .send()
        .await
        .expect("answered");
    assert_eq!(news.status(), StatusCode::FORBIDDEN);
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Operations.

#[tokio::test]
async fn readiness_is_200_when_serving_and_503_while_draining_which_finishes_paid_requests() {
    let setup = proxy_setup().await;
    let mut gateway = setup.gateway;
    let ready = client()
        .get(format!("{}/readyz", gateway.ops))
        .send()
        .await
        .expect("answered");
    assert_eq!(ready.status(), StatusCode::OK);

    // A paid request in flight: the upstream holds it until released.
    let url = gateway.url("/slow");
    let payment = payment_for(&url).await;
    let in_flight = tokio::spawn({
        let client = client();
        async move {
            client
                .get(&url)
                .header(codec::PAYMENT_SIGNATURE, &payment)
                .send()
                .await
        }
    });
    tokio::time::timeout(PATIENCE, setup.upstream.gates.slow_entered.notified())
        .await
        .expect("the request reaches the upstream");

    gateway.begin_shutdown();
    let readyz = format!("{}/readyz", gateway.ops);
    eventually("readiness turns 503", async || {
        client()
            .get(&readyz)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
    })
    .await;
    let health = client()
        .get(format!("{}/healthz", gateway.ops))
        .send()
        .await
        .expect("answered");
    assert_eq!(health.status(), StatusCode::OK);

    setup.upstream.gates.slow_release.notify_one();
    let response = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .expect("finishes")
        .expect("joins")
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(receipt(&response).is_some_and(|r| r.success));
    assert_eq!(setup.facilitator.dev.settlements().len(), 1);
    gateway.stop().await;
}

fn series<'a>(text: &'a str, name: &str, route: &str) -> Vec<&'a str> {
    let route = format!("route=\"{route}\"");
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(&route))
        .collect()
}

#[tokio::test]
async fn metrics_show_resolved_chains_and_drop_the_series_of_deleted_routes() {
    let upstream = upstream().await;
    let facilitator = facilitator().await;
    let routes =
        "  - { path: /weather, name: metrics-kept }\n  - { path: /gone, name: metrics-gone }";
    let gateway = Gateway::start(&proxy_config(
        &upstream.address,
        &facilitator.url,
        "",
        routes,
    ))
    .await;
    // A 402 on each route, and a paid request on the one to be deleted.
    for path in ["/weather", "/gone"] {
        let response = client()
            .get(gateway.url(path))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    }
    let url = gateway.url("/gone");
    let payment = payment_for(&url).await;
    let paid = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    assert_eq!(paid.status(), StatusCode::OK);

    let before = gateway.metrics().await;
    let required = series(&before, "x402_requests_total", "metrics-kept");
    assert!(
        required
            .iter()
            .any(|l| l.contains("chain=\"eip155:84532\"")
                && l.contains("outcome=\"payment_required\"")),
        "{before}"
    );
    for name in [
        "x402_requests_total",
        "x402_payments_settled_total",
        "x402_amount_settled_total",
        "x402_last_payment_success_timestamp_seconds",
    ] {
        assert!(
            series(&before, name, "metrics-gone")
                .iter()
                .any(|l| l.contains("chain=\"eip155:84532\"")),
            "{name} for metrics-gone missing:\n{before}"
        );
    }
    assert!(before.contains("x402_route_table_routes"), "{before}");

    gateway.file.rewrite(&proxy_config(
        &upstream.address,
        &facilitator.url,
        "",
        "  - { path: /weather, name: metrics-kept }",
    ));
    let summary = gateway.running().reload().expect("reloads");
    assert_eq!(summary.routes, 1);

    let after = gateway.metrics().await;
    assert!(
        series(&after, "x402_", "metrics-gone").is_empty(),
        "series of the deleted route remain:\n{after}"
    );
    assert!(
        !series(&after, "x402_requests_total", "metrics-kept").is_empty(),
        "the kept route lost its series:\n{after}"
    );
    assert!(
        after.contains("x402_route_table_reloads_total{result=\"ok\"}"),
        "{after}"
    );
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// `replay` and `routesFrom`.

fn validate(text: &str) -> Result<gateway::config::Loaded, ConfigError> {
    let path = std::path::Path::new("gateway.yaml");
    gateway::config::validate(path, gateway::config::GatewayConfig::parse(path, text)?)
}

const SETTINGS_BASE: &str = r#"
listen: 127.0.0.1:0
mode: forward-auth
facilitator: dev
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
"#;

#[cfg(all(feature = "kube", feature = "redis"))]
#[test]
fn replay_redis_and_routes_from_kubernetes_are_accepted() {
    let loaded = validate(&format!(
        "{SETTINGS_BASE}
replay:
  redis: {{ url: \"redis://127.0.0.1:6379/0\", timeout: 250ms, keyPrefix: \"shop:replay:\" }}
routesFrom:
  kubernetes: {{ namespaces: [shop, billing], labelSelector: team=payments }}
"
    ))
    .expect("valid");

    let guard = format!("{:?}", loaded.replay_guard.expect("a shared replay store"));
    assert!(guard.starts_with("RedisReplayGuard"), "{guard}");
    assert!(
        guard.contains("shop:replay:") && guard.contains("250ms"),
        "{guard}"
    );
    assert_eq!(
        loaded.route_source,
        gateway::config::RouteSource::Kubernetes(gateway::config::KubernetesRoutes {
            namespaces: vec!["shop".into(), "billing".into()],
            label_selector: Some("team=payments".into()),
            write_status: true,
            ingress: None,
        })
    );
    assert!(loaded.table.is_empty());

    let defaults = validate(&format!(
        "{SETTINGS_BASE}routes: [{{ path: /a, free: true }}]"
    ))
    .expect("valid");
    assert!(defaults.replay_guard.is_none(), "in memory by default");
    assert_eq!(defaults.route_source, gateway::config::RouteSource::File);
}

#[cfg(all(feature = "kube", feature = "redis"))]
#[test]
fn bad_replay_and_routes_from_settings_are_listed_with_their_field() {
    let error = validate(&format!(
        "{SETTINGS_BASE}
replay:
  redis: {{ url: \"http://not-redis\", timeout: 0s }}
routesFrom:
  kubernetes: {{ namespaces: [\"\"], labelSelector: \" \" }}
routes: [{{ path: /a, free: true }}]
"
    ))
    .expect_err("refused");
    let ConfigError::Invalid { errors, .. } = &error else {
        panic!("expected a list of errors, got {error:?}");
    };
    let text = error.to_string();
    assert_eq!(errors.len(), 4, "{text}");
    for expected in [
        "`replay.redis.url`",
        "`routes`: must be empty with `routesFrom.kubernetes`",
        "`routesFrom.kubernetes.namespaces`",
        "`routesFrom.kubernetes.labelSelector`",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }

    for (timeout, why) in [
        ("0s", "more than zero"),
        ("fast", "a unit"),
        ("5h", "a unit"),
    ] {
        let error = validate(&format!(
            "{SETTINGS_BASE}replay: {{ redis: {{ url: \"redis://127.0.0.1/\", timeout: {timeout} }} }}"
        ))
        .expect_err("refused");
        let text = error.to_string();
        assert!(
            text.contains("`replay.redis.timeout`") && text.contains(why),
            "{text}"
        );
    }

    let typo = validate(&format!(
        "{SETTINGS_BASE}replay: {{ redis: {{ url: \"redis://127.0.0.1/\", prefix: x }} }}"
    ))
    .expect_err("refused");
    assert!(
        matches!(&typo, ConfigError::Parse { message, .. } if message.contains("prefix")),
        "{typo:?}"
    );
}

#[cfg(not(feature = "kube"))]
#[test]
fn routes_from_kubernetes_without_the_kube_feature_is_refused_naming_the_feature() {
    let error = validate(&format!(
        "{SETTINGS_BASE}routesFrom: {{ kubernetes: {{ namespaces: [shop] }} }}"
    ))
    .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains(gateway::config::NO_KUBE), "{text}");
}

#[cfg(not(feature = "redis"))]
#[test]
fn replay_redis_without_the_redis_feature_is_refused_naming_the_feature() {
    let error = validate(&format!(
        "{SETTINGS_BASE}replay: {{ redis: {{ url: \"redis://127.0.0.1/\" }} }}\nroutes: []"
    ))
    .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains(gateway::config::NO_REDIS), "{text}");
}

/// The Redis server of the shared replay store test (`.ci/run` starts one and sets it).
#[cfg(feature = "redis")]
const REDIS_URL_VAR: &str = "X402_TEST_REDIS_URL";

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_serve_a_payment_once_and_settle_it_once() {
    let Ok(url) = std::env::var(REDIS_URL_VAR) else {
        // Under CI the server is part of the run: its absence is a failure, not a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {REDIS_URL_VAR} is unset (.ci/run starts redis-server and sets it)"
        );
        #[allow(clippy::print_stderr, reason = "says why the test did not run")]
        {
            eprintln!(
                "SKIPPED two_gateways_sharing_redis_serve_a_payment_once_and_settle_it_once: \
                 set {REDIS_URL_VAR}=redis://127.0.0.1:PORT/ to run it"
            );
        }
        return;
    };
    let upstream = upstream().await;
    let facilitator = facilitator().await;
    let prefix = format!(
        "x402-gateway-test:{}:{:?}:",
        std::process::id(),
        std::time::SystemTime::now()
    );
    // Behind one load balancer: the same public base URL, so one challenge pays either.
    let extra = format!(
        "baseUrl: http://api.example.com\n\
         replay: {{ redis: {{ url: \"{url}\", timeout: 5s, keyPrefix: \"{prefix}\" }} }}"
    );
    let config = proxy_config(&upstream.address, &facilitator.url, &extra, PROXY_ROUTES);
    let (a, b) = (Gateway::start(&config).await, Gateway::start(&config).await);
    let payment = payment_for(&a.url("/weather")).await;

    let sends = (0..20).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/weather")
        } else {
            b.url("/weather")
        };
        let payment = payment.clone();
        tokio::spawn(async move {
            let response = client()
                .get(url)
                .header(codec::PAYMENT_SIGNATURE, payment)
                .send()
                .await
                .expect("answered");
            let status = response.status();
            let reason = (status == StatusCode::PAYMENT_REQUIRED)
                .then(|| challenge(&response).error)
                .flatten();
            let paid = receipt(&response).is_some_and(|r| r.success);
            let body = response.text().await.expect("body");
            (status, reason, paid, body)
        })
    });
    let answers: Vec<_> = join_all(sends).await;

    let served: Vec<_> = answers.iter().filter(|a| a.0 == StatusCode::OK).collect();
    assert_eq!(
        served.len(),
        1,
        "served {} times: {answers:?}",
        served.len()
    );
    assert!(served[0].2, "the served answer has a receipt");
    for (status, reason, paid, body) in answers.iter().filter(|a| a.0 != StatusCode::OK) {
        assert_eq!(*status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(reason.as_deref(), Some("replay"), "{body}");
        // The upstream's echo names the headers it saw; a refusal never carries it.
        assert!(
            !paid && !body.contains("\"headers\""),
            "paid content leaked: {body}"
        );
    }
    assert_eq!(facilitator.dev.settlements().len(), 1);

    // Settled: both still refuse it.
    for gateway in [&a, &b] {
        let again = client()
            .get(gateway.url("/weather"))
            .header(codec::PAYMENT_SIGNATURE, &payment)
            .send()
            .await
            .expect("answered");
        assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(challenge(&again).error.as_deref(), Some("replay"));
    }
    a.stop().await;
    b.stop().await;
}

#[cfg(feature = "redis")]
async fn join_all<T: Send + 'static>(tasks: impl Iterator<Item = JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.expect("no request panicked"));
    }
    out
}

#[cfg(feature = "kube")]
#[tokio::test]
async fn routes_from_kubernetes_are_served_after_the_first_list_and_readyz_waits_for_it() {
    use kube::client::Body as KubeBody;

    let upstream = upstream().await;
    let (service, mut api) =
        tower_test::mock::pair::<http::Request<KubeBody>, http::Response<KubeBody>>();
    let config = format!(
        r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{}
metricsListen: 127.0.0.1:0
facilitator: dev
routesFrom:
  kubernetes: {{ namespaces: [shop], labelSelector: team=payments, writeStatus: false }}
"#,
        upstream.address
    );
    let gateway = Gateway::try_start_with(&config, Some(kube::Client::new(service, "default")))
        .await
        .expect("starts");

    // The watcher lists; until it has the answer, the gateway is not ready.
    let (list, respond) = tokio::time::timeout(PATIENCE, api.next_request())
        .await
        .expect("the watcher lists")
        .expect("the client is alive");
    let uri = list.uri().to_string();
    assert!(
        uri.starts_with("/apis/x402.io/v1alpha1/namespaces/shop/x402routes?")
            && !uri.contains("watch=true")
            && uri.contains("labelSelector=team%3Dpayments"),
        "{uri}"
    );
    let readyz = format!("{}/readyz", gateway.ops);
    let before = client().get(&readyz).send().await.expect("answered");
    assert_eq!(before.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(gateway.running().routes().len(), 0);

    let list = serde_json::json!({
        "apiVersion": "x402.io/v1alpha1", "kind": "X402RouteList",
        "metadata": { "resourceVersion": "1" },
        "items": [{
            "apiVersion": "x402.io/v1alpha1", "kind": "X402Route",
            "metadata": { "name": "premium", "namespace": "shop", "uid": "uid-1",
                          "generation": 1, "resourceVersion": "1" },
            "spec": {
                "payment": { "wallet": PAY_TO, "network": "base-sepolia" },
                "routes": [ { "path": "/premium/**", "name": "premium", "price": "$0.01" } ],
            },
        }],
    });
    respond.send_response(http::Response::new(KubeBody::from(
        serde_json::to_vec(&list).expect("json"),
    )));

    eventually("ready after the first list", async || {
        client()
            .get(&readyz)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let paid = client()
        .get(gateway.url("/premium/report"))
        .send()
        .await
        .expect("answered");
    assert_eq!(paid.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(challenge(&paid).accepts[0].amount, "10000");
    let unmatched = client()
        .get(gateway.url("/other"))
        .send()
        .await
        .expect("answered");
    assert_eq!(unmatched.status(), StatusCode::FORBIDDEN);

    // A file reload checks the file but never replaces the table from Kubernetes.
    let summary = gateway.running().reload().expect("the file is valid");
    assert_eq!(summary.routes, 1);
    assert_eq!(gateway.running().routes().len(), 1);
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Facilitator faults (issue 10): every answer is a documented status, paid content never leaves
// unpaid, and a verify fault never reaches the upstream.

/// A listener that accepts connections and drops them at once (a connection reset).
async fn resetting_facilitator() -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    (url, task)
}

/// A loopback address nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    url
}

/// One paid request through a proxy gateway whose facilitator is at `facilitator_url`; returns
/// the status, whether a receipt saying "success" came back (a settle whose outcome is unknown
/// gets a failure receipt), the body, and the upstream's hit count.
async fn paid_through(facilitator_url: &str) -> (StatusCode, bool, String, usize) {
    let upstream = upstream().await;
    let gateway = Gateway::start(&proxy_config(
        &upstream.address,
        facilitator_url,
        "",
        PROXY_ROUTES,
    ))
    .await;
    let url = gateway.url("/weather");
    let payment = payment_for(&url).await;
    let response = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let receipted = receipt(&response).is_some_and(|receipt| receipt.success);
    let body = response.text().await.expect("body");
    gateway.stop().await;
    (
        status,
        receipted,
        body,
        upstream.hits.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facilitator_faults_get_their_documented_status_and_never_serve_paid_content() {
    let (resetting, resetter) = resetting_facilitator().await;
    let unreachable = closed_port().await;
    // (case, verify fault, settle fault, expected status, whether the upstream is reached)
    let scripted = [
        (
            "verify answers 500",
            Fault::ServerError,
            Fault::None,
            503,
            false,
        ),
        (
            "verify answers malformed JSON",
            Fault::Malformed,
            Fault::None,
            502,
            false,
        ),
        (
            "verify never answers (timeout)",
            Fault::Hang,
            Fault::None,
            503,
            false,
        ),
        (
            "settle answers 500",
            Fault::None,
            Fault::ServerError,
            503,
            true,
        ),
        (
            "settle answers malformed JSON",
            Fault::None,
            Fault::Malformed,
            502,
            true,
        ),
    ];
    let mut cases = Vec::new();
    for (case, verify, settle, status, reached) in scripted {
        cases.push(tokio::spawn(async move {
            let facilitator = faulty_facilitator(verify, settle).await;
            let answer = paid_through(&facilitator.url).await;
            let settled = facilitator.dev.settlements().len();
            (case, status, reached, answer, settled)
        }));
    }
    for (case, url) in [
        ("connections reset", resetting.clone()),
        ("nothing listening", unreachable),
    ] {
        cases.push(tokio::spawn(async move {
            (case, 503, false, paid_through(&url).await, 0)
        }));
    }
    for case in cases {
        let (case, status, reached, (got, receipted, body, hits), settled) =
            case.await.expect("the case ran");
        assert_eq!(got.as_u16(), status, "{case}: {body}");
        assert!(!receipted, "{case}: a success receipt without a settlement");
        assert_eq!(settled, 0, "{case}: settled");
        // The upstream's answer is JSON echoing the path; it never reaches the client unpaid.
        assert!(
            !body.contains("\"path\""),
            "{case}: paid content served: {body}"
        );
        assert_eq!(hits, usize::from(reached), "{case}: upstream hits");
    }
    resetter.abort();
}

// ---------------------------------------------------------------------------------------------
// The gateway's path rule (x402_core::path::gateway): refuse what servers read differently,
// match case-insensitively, forward the canonical path.

#[tokio::test]
async fn proxy_forwards_the_canonical_path_it_matched() {
    let setup = proxy_setup().await;

    for (sent, forwarded) in [
        ("/health//?q=a;b", "/health?q=a;b"),
        ("//%68ealth/", "/health"),
        ("/HEALTH", "/HEALTH"),
    ] {
        let response = client()
            .get(setup.gateway.url(sent))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK, "{sent}");
        assert_eq!(echoed(response).await["path"], forwarded, "{sent}");
    }
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_refuses_spellings_servers_read_differently_before_the_upstream() {
    let setup = proxy_setup().await;

    for target in [
        "/health/..%2Fweather",
        "/health%2fweather",
        "/weather;jsessionid=1",
        "/health%5C..%5Cweather",
        "/health/%252e%252e/weather",
        "/health%3F",
    ] {
        let response = client()
            .get(setup.gateway.url(target))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{target}");
        let body = json(response).await;
        assert_eq!(body["reason"], "invalid_path", "{target}");
        assert!(
            body.get("headers").is_none(),
            "the upstream answered {target}"
        );
    }
    setup.gateway.stop().await;
}

#[tokio::test]
async fn proxy_prices_routes_case_insensitively_unless_a_route_opts_out() {
    let routes =
        format!("{PROXY_ROUTES}  - {{ path: /Exact, name: exact, caseInsensitive: false }}\n");
    let setup = proxy_setup_with(&routes).await;

    for (target, status) in [
        ("/WEATHER", StatusCode::PAYMENT_REQUIRED),
        ("/Weather/", StatusCode::PAYMENT_REQUIRED),
        ("/Exact", StatusCode::PAYMENT_REQUIRED),
        // Opted out: another spelling is another path, unmatched and refused by default.
        ("/exact", StatusCode::FORBIDDEN),
    ] {
        let response = client()
            .get(setup.gateway.url(target))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), status, "{target}");
    }
    setup.gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_applies_the_gateway_path_rule_to_the_forwarded_uri() {
    let gateway = Gateway::start(&forward_auth_config("")).await;

    for (uri, status) in [
        ("/RPC/call", StatusCode::PAYMENT_REQUIRED),
        ("/health/..%2Frpc/call", StatusCode::BAD_REQUEST),
        ("/rpc;x=1/call", StatusCode::BAD_REQUEST),
        ("/health/#/../../rpc/call", StatusCode::BAD_REQUEST),
    ] {
        let response = auth_request(&gateway, Some(uri))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), status, "{uri}");
    }
    // nginx's customary header, when X-Forwarded-Uri is absent.
    let response = client()
        .get(gateway.url("/verify"))
        .header("X-Original-URI", "/rpc/call")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    gateway.stop().await;
}

#[tokio::test]
async fn a_priced_route_may_allow_ambiguous_spellings_which_are_charged_and_forwarded_as_sent() {
    let routes =
        format!("{PROXY_ROUTES}  - {{ path: /files/**, name: files, allowAmbiguousPath: true }}\n");
    let setup = proxy_setup_with(&routes).await;

    // Elsewhere still refused; on the route that allows it, priced.
    let refused = client()
        .get(setup.gateway.url("/weather;x=1"))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let url = setup.gateway.url("/files/a%2Fb;v=2");
    let unpaid = client().get(&url).send().await.expect("answered");
    assert_eq!(unpaid.status(), StatusCode::PAYMENT_REQUIRED);

    let payment = payment_for(&url).await;
    let paid = client()
        .get(&url)
        .header(codec::PAYMENT_SIGNATURE, &payment)
        .send()
        .await
        .expect("answered");
    assert_eq!(paid.status(), StatusCode::OK);
    assert_eq!(echoed(paid).await["path"], "/files/a%2Fb;v=2");
    assert_eq!(setup.facilitator.dev.settlements().len(), 1);
    setup.gateway.stop().await;
}

#[tokio::test]
async fn allowing_ambiguous_spellings_on_a_free_route_refuses_to_start() {
    let config = proxy_config(
        "127.0.0.1:9",
        "http://127.0.0.1:9",
        "",
        "  - { path: /files/**, free: true, allowAmbiguousPath: true }\n",
    );
    let error = Gateway::try_start(&config).await.err().expect("refused");
    let text = error.to_string();
    assert!(text.contains("routes[0].allowAmbiguousPath"), "{text}");
    assert!(
        text.contains("only a priced route may allow ambiguous paths"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// `upto` through the proxy

/// The upstream's `Settlement-Overrides` sets the charge of a proxied `upto` request: the
/// offer names the facilitator's address from its `/supported`, the charge (40 % of the
/// maximum) is settled and in the receipt, and the header never reaches the client.
#[tokio::test]
async fn proxy_upto_route_charges_what_the_upstream_says_in_settlement_overrides() {
    use x402_core::permit2::{self, Permit2Terms};
    let setup = proxy_setup_with(
        r#"
  - { path: /metered, name: metered, scheme: upto, price: "$0.01" }
"#,
    )
    .await;
    let url = format!("{}/metered", setup.gateway.base);
    let response = client().get(&url).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let required = challenge(&response);
    let accept = required.accepts[0].clone();
    assert_eq!(accept.scheme, "upto");
    let facilitator = x402_core::facilitator::dev::DEV_FACILITATOR_ADDRESS;
    assert_eq!(
        accept.extra.as_ref().expect("extra")["facilitatorAddress"],
        facilitator.to_checksum(None)
    );

    let view = x402_core::evm::RequirementView::from_v2(&accept).expect("usable");
    let terms = Permit2Terms {
        chain_id: view.chain_id,
        asset: view.asset,
        pay_to: view.pay_to,
        amount: view.amount,
        spender: permit2::UPTO_PERMIT2_PROXY,
        facilitator: Some(facilitator),
    };
    let payload = permit2::signer::sign_payment(
        &buyer(),
        &terms,
        SystemClock.now(),
        view.max_timeout_seconds,
    )
    .expect("signs");
    let header = codec::encode_header(&serde_json::json!({
        "x402Version": 2, "resource": required.resource, "accepted": accept, "payload": payload,
    }));
    let response = client()
        .get(&url)
        .header("PAYMENT-SIGNATURE", header)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("settlement-overrides").is_none());
    let receipt = receipt(&response).expect("a receipt");
    assert!(receipt.success);
    assert_eq!(receipt.amount.as_deref(), Some("4000"));
    let settled = setup.facilitator.dev.settlements();
    assert_eq!(settled.last().expect("settled").value.to_string(), "4000");
}

// ---------------------------------------------------------------------------------------------
// Operator mode (issue 21): `routesFrom.kubernetes.ingress`.

#[cfg(feature = "kube")]
const PROXY_BASE: &str = r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://127.0.0.1:9
facilitator: dev
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
"#;

#[cfg(feature = "kube")]
#[test]
fn ingress_patching_is_accepted_and_bad_settings_are_listed_with_their_field() {
    let loaded = validate(&format!(
        "{PROXY_BASE}routesFrom:\n  kubernetes: {{ namespaces: [shop], ingress: {{ service: x402-gateway, port: 8402 }} }}\n"
    ))
    .expect("valid");
    let gateway::config::RouteSource::Kubernetes(selection) = &loaded.route_source else {
        panic!("routes from Kubernetes")
    };
    assert_eq!(
        selection.ingress,
        Some(gateway::config::IngressPatching {
            service: "x402-gateway".into(),
            port: gateway::config::ServicePort::Number(8402),
        })
    );
    let named = validate(&format!(
        "{PROXY_BASE}routesFrom: {{ kubernetes: {{ ingress: {{ service: gw, port: http }} }} }}\n"
    ))
    .expect("valid");
    let gateway::config::RouteSource::Kubernetes(selection) = &named.route_source else {
        panic!("routes from Kubernetes")
    };
    assert_eq!(
        selection.ingress.as_ref().map(|i| &i.port),
        Some(&gateway::config::ServicePort::Name("http".into()))
    );

    let error = validate(&format!(
        "{PROXY_BASE}routesFrom: {{ kubernetes: {{ writeStatus: false, ingress: {{ service: X402_GW, port: 0 }} }} }}\n"
    ))
    .expect_err("refused");
    let text = error.to_string();
    for expected in [
        "`routesFrom.kubernetes.ingress.service`: \"X402_GW\" is not a Service name",
        "`routesFrom.kubernetes.ingress.port`: 0 is not a port",
        "`routesFrom.kubernetes.ingress`: needs `writeStatus: true`",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let forward_auth = validate(
        "listen: 127.0.0.1:0\nmode: forward-auth\nfacilitator: dev\n\
         routesFrom: { kubernetes: { ingress: { service: gw, port: 80 } } }\n",
    )
    .expect_err("refused");
    assert!(
        forward_auth
            .to_string()
            .contains("`routesFrom.kubernetes.ingress`: needs `mode: proxy`"),
        "{forward_auth}"
    );
}

/// With `ingress` set, the gateway's watcher also lists the Ingresses of the watched
/// namespaces (operator mode is on); without it, it never does (the test above, and
/// `routes_from_kubernetes_are_served_after_the_first_list_and_readyz_waits_for_it`).
#[cfg(feature = "kube")]
#[tokio::test]
async fn ingress_patching_makes_the_gateway_watch_ingresses() {
    use kube::client::Body as KubeBody;

    let upstream = upstream().await;
    let (service, mut api) =
        tower_test::mock::pair::<http::Request<KubeBody>, http::Response<KubeBody>>();
    let config = format!(
        "listen: 127.0.0.1:0\nmode: proxy\nupstream: http://{}\nfacilitator: dev\n\
         routesFrom:\n  kubernetes: {{ namespaces: [shop], ingress: {{ service: x402-gateway, port: 8402 }} }}\n",
        upstream.address
    );
    let gateway = Gateway::try_start_with(&config, Some(kube::Client::new(service, "default")))
        .await
        .expect("starts");
    let mut lists = Vec::new();
    let mut held = Vec::new();
    while lists.len() < 2 {
        let (request, respond) = tokio::time::timeout(PATIENCE, api.next_request())
            .await
            .expect("the watcher lists")
            .expect("the client is alive");
        lists.push(request.uri().path().to_owned());
        held.push(respond);
    }
    lists.sort();
    assert_eq!(
        lists,
        [
            "/apis/networking.k8s.io/v1/namespaces/shop/ingresses",
            "/apis/x402.io/v1alpha1/namespaces/shop/x402routes",
        ]
    );
    drop(held);
    gateway.stop().await;
}
