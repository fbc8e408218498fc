//! Hostile requests over a real socket to an axum server (hyper 1, default limits) with the
//! tower layer, sent as raw bytes so nothing is cleaned up by a client library. Each gets its
//! documented answer; what hyper refuses before our code runs is asserted too.
//!
//! | request | answered by | status |
//! |---|---|---|
//! | a 1 MB header | hyper (header block over its ~400 KB default buffer) | 431 |
//! | 10 000 headers | hyper (over its 100-header default) | 431 |
//! | invalid UTF-8 bytes in the path | hyper (not a valid request-target) | 400 |
//! | `%00` in a priced path | the gate (the path does not normalise safely) | 400 |
//! | mixed-case payment header name | the gate (names are case-insensitive) | 200 |
//! | two `PAYMENT-SIGNATURE` headers | the gate (the first value is the payment; every value is stripped before the handler) | 200, one settlement |
//! | `PAYMENT-SIGNATURE` and `X-PAYMENT` | the gate (v2 preferred, DESIGN.md) | 200, one settlement |

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get};
use tests::fixture::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x402_tower::X402Layer;

async fn weather() -> &'static str {
    r#"{"weather":"sunny"}"#
}

struct Server {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    fixture: Arc<Fixture>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A factory for the fixture that only records the gate; the server is built around it here.
struct Capture(std::sync::Mutex<Option<x402_core::gate::Gate>>);

impl tests::AppFactory for Capture {
    fn name(&self) -> &'static str {
        "hyper"
    }

    fn build(&self, gate: x402_core::gate::Gate) -> Box<dyn tests::AppUnderTest> {
        *self.0.lock().unwrap() = Some(gate);
        Box::new(Unused)
    }
}

struct Unused;

impl tests::AppUnderTest for Unused {
    fn send(
        &self,
        _: tests::TestRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = tests::TestResponse> + Send + '_>> {
        unreachable!("requests go over the socket")
    }
}

async fn server() -> Server {
    let capture = Capture(std::sync::Mutex::new(None));
    let fixture = Arc::new(Fixture::new(&capture));
    let gate = capture.0.lock().unwrap().take().expect("gate built");
    let app = Router::new()
        .route("/weather", get(weather))
        .layer(X402Layer::new(gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        task,
        fixture,
    }
}

/// Sends raw bytes, returns the status and the whole answer as text.
async fn raw(server: &Server, request: &[u8]) -> (u16, String) {
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // The server may answer (and close) before reading all of a huge request.
    let _ = socket.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

fn request(path: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_mb_header_is_refused_by_hyper_with_431() {
    let server = server().await;
    let big = "a".repeat(1 << 20);
    let (status, _) = raw(&server, &request(b"/weather", &[("x-big", &big)])).await;
    assert_eq!(status, 431);
    // A 1 MB payment header too: hyper refuses it before the gate's own 16 KiB limit is reached.
    let (status, _) = raw(
        &server,
        &request(b"/weather", &[("payment-signature", &big)]),
    )
    .await;
    assert_eq!(status, 431);
    assert_eq!(server.fixture.facilitator.verify_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_headers_are_refused_by_hyper_with_431() {
    let server = server().await;
    let names: Vec<String> = (0..10_000).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let (status, _) = raw(&server, &request(b"/weather", &headers)).await;
    assert_eq!(status, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_the_path_is_refused_by_hyper_with_400() {
    let server = server().await;
    let (status, text) = raw(&server, &request(b"/weather\xff\xfe", &[])).await;
    assert_eq!(status, 400, "{text}");
    assert!(!text.contains("sunny"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_00_in_a_priced_path_is_a_400_from_the_gate() {
    let server = server().await;
    for path in [&b"/weather%00"[..], b"/wea%00ther", b"/weather/%00/.."] {
        let (status, text) = raw(&server, &request(path, &[])).await;
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(path));
        assert!(!text.contains("sunny"));
    }
    // Percent-encoded invalid UTF-8 too.
    let (status, text) = raw(&server, &request(b"/weather%ff", &[])).await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_header_names_are_case_insensitive_and_the_first_of_duplicates_is_the_payment() {
    let server = server().await;
    let f = &server.fixture;
    let requirement = f.requirement("/weather");

    let (status, text) = raw(
        &server,
        &request(
            b"/weather",
            &[("PaYmEnT-SiGnAtUrE", &f.pay_v2(&requirement))],
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");

    // Two payment headers: the first value is the payment, the others are ignored (and
    // stripped before the handler, like the first).
    let verified = f.facilitator.verify_calls();
    let a = f.pay_v2(&requirement);
    let (status, text) = raw(
        &server,
        &request(
            b"/weather",
            &[("payment-signature", &a), ("PAYMENT-SIGNATURE", "garbage")],
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(f.facilitator.verify_calls(), verified + 1);
    let c = f.pay_v2(&requirement);
    let (status, text) = raw(
        &server,
        &request(
            b"/weather",
            &[("payment-signature", "garbage"), ("payment-signature", &c)],
        ),
    )
    .await;
    assert_eq!(status, 402, "{text}");
    assert_eq!(
        f.facilitator.verify_calls(),
        verified + 1,
        "the second value was not used"
    );
    let verified = f.facilitator.verify_calls();
    // v1 and v2 headers at once: `PAYMENT-SIGNATURE` is preferred (DESIGN.md), the v1 one is
    // ignored; one verify, one settlement.
    let settled = f.facilitator.settle_calls();
    let (status, text) = raw(
        &server,
        &request(
            b"/weather",
            &[
                ("x-payment", &f.pay_v1(&requirement)),
                ("payment-signature", &c),
            ],
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.to_ascii_lowercase().contains("payment-response:"));
    assert_eq!(f.facilitator.verify_calls(), verified + 1);
    assert_eq!(f.facilitator.settle_calls(), settled + 1);
}
