//! WebSocket through the gateway, on loopback: an axum WebSocket echo upstream, a
//! tokio-tungstenite client, the dev facilitator over HTTP (or one whose `/settle` fails). A
//! free route passes the upgrade through; a priced one answers `101` only after settlement,
//! with its receipt, and never when settlement fails.

#[allow(dead_code, reason = "the helpers of the other test binaries")]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::ws::{Message as AxumMessage, WebSocketUpgrade},
    http::StatusCode as AxumStatus,
    response::IntoResponse,
};
use futures_util::{SinkExt as _, StreamExt as _};
use support::{Gateway, Task, payment_for, serve_facilitator};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest as _};
use x402_core::{
    codec,
    facilitator::dev::{DevFacilitator, DevNetwork},
};

const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PATIENCE: Duration = Duration::from_secs(30);

/// A WebSocket upstream echoing every message; counts the upgrades it accepted and the
/// sockets that ended.
async fn echo_upstream() -> (String, Arc<AtomicUsize>, Task) {
    let (address, upgrades, _ended, task) = echo_upstream_counting_ends().await;
    (address, upgrades, task)
}

async fn echo_upstream_counting_ends() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>, Task) {
    let upgrades = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&upgrades);
    let ends = Arc::clone(&ended);
    let router = Router::new().fallback(move |ws: WebSocketUpgrade| {
        counted.fetch_add(1, Ordering::SeqCst);
        let ends = Arc::clone(&ends);
        async move {
            ws.on_upgrade(|mut socket| async move {
                let _count = Ended(ends);
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, AxumMessage::Close(_)) {
                        break;
                    }
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
            })
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, upgrades, ended, Task::new(task))
}

/// Counts one ended socket when dropped.
struct Ended(Arc<AtomicUsize>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The dev facilitator over HTTP whose `/settle` answers 500.
async fn failing_settle_facilitator() -> (String, Arc<DevFacilitator>, Task) {
    let dev = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
    let router = x402_tower::dev_facilitator::router(dev.clone()).layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            if request.uri().path() == "/settle" {
                return (AxumStatus::INTERNAL_SERVER_ERROR, "settle trouble").into_response();
            }
            next.run(request).await
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, dev, Task::new(task))
}

/// The gateway's configuration: a free and a paid WebSocket route in front of `upstream`.
fn config(upstream: &str, facilitator: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
  - {{ path: /ws/free, name: free, free: true }}
  - {{ path: /ws/paid, name: paid }}
"#
    )
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `ws://gateway/path`, with the payment header when given.
async fn connect(
    gateway: &Gateway,
    path: &str,
    payment: Option<&str>,
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut request = format!("ws://{}{path}", gateway.address)
        .into_client_request()
        .expect("a request");
    if let Some(payment) = payment {
        request.headers_mut().insert(
            codec::PAYMENT_SIGNATURE,
            payment.parse().expect("a header value"),
        );
    }
    tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake ends")
}

/// Sends a text message and reads the echo.
async fn round_trip(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::text(text)).await.expect("sends");
    let echoed = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("an echo in time")
        .expect("a message")
        .expect("reads");
    echoed.into_text().expect("text").to_string()
}

#[tokio::test]
async fn a_websocket_passes_through_a_free_route() {
    let (upstream, upgrades, _upstream) = echo_upstream().await;
    let (facilitator, _dev, _settles, _facilitator) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    let gateway = Gateway::start(&config(&upstream, &facilitator)).await;

    let (mut socket, response) = connect(&gateway, "/ws/free", None).await.expect("upgraded");

    assert_eq!(response.status(), 101);
    assert_eq!(round_trip(&mut socket, "hello").await, "hello");
    assert_eq!(round_trip(&mut socket, "again").await, "again");
    assert_eq!(upgrades.load(Ordering::SeqCst), 1);
    socket.close(None).await.expect("closes");
    gateway.stop().await;
}

#[tokio::test]
async fn a_priced_websocket_is_402_unpaid_and_101_with_its_receipt_after_settlement() {
    let (upstream, upgrades, _upstream) = echo_upstream().await;
    let (facilitator, dev, _settles, _facilitator) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    let gateway = Gateway::start(&config(&upstream, &facilitator)).await;

    // Unpaid: the challenge, and the upstream never sees the upgrade.
    match connect(&gateway, "/ws/paid", None).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 402),
        other => panic!("expected a 402, got {other:?}"),
    }
    assert_eq!(upgrades.load(Ordering::SeqCst), 0);

    let payment = payment_for(&format!("http://{}/ws/paid", gateway.address)).await;
    let (mut socket, response) = connect(&gateway, "/ws/paid", Some(&payment))
        .await
        .expect("upgraded");

    assert_eq!(response.status(), 101);
    // The receipt rides on the 101: settlement happened before it was sent.
    let receipt = response
        .headers()
        .get(codec::PAYMENT_RESPONSE)
        .expect("a receipt on the 101");
    let receipt =
        codec::decode_settle_response(receipt.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
            .expect("decodes");
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(dev.settlements().len(), 1);
    assert_eq!(round_trip(&mut socket, "paid hello").await, "paid hello");
    socket.close(None).await.expect("closes");
    gateway.stop().await;
}

#[tokio::test]
async fn a_priced_websocket_whose_settlement_fails_never_gets_a_101() {
    let (upstream, upgrades, ended, _upstream) = echo_upstream_counting_ends().await;
    let (facilitator, dev, _facilitator) = failing_settle_facilitator().await;
    let gateway = Gateway::start(&config(&upstream, &facilitator)).await;
    let payment = payment_for(&format!("http://{}/ws/paid", gateway.address)).await;

    match connect(&gateway, "/ws/paid", Some(&payment)).await {
        Err(tungstenite::Error::Http(response)) => {
            assert!(response.status().as_u16() >= 500, "{}", response.status());
            // A receipt, if any, says it failed.
            if let Some(receipt) = response.headers().get(codec::PAYMENT_RESPONSE) {
                let receipt = codec::decode_settle_response(
                    receipt.as_bytes(),
                    codec::DEFAULT_MAX_HEADER_BYTES,
                )
                .expect("decodes");
                assert!(!receipt.success, "{receipt:?}");
            }
        }
        Ok((_, response)) => panic!("upgraded without settlement: {}", response.status()),
        Err(other) => panic!("expected an HTTP error answer, got {other}"),
    }
    assert!(dev.settlements().is_empty());
    // The upstream upgraded (its 101 is what was priced), and the gateway dropped that
    // connection instead of joining it to the client.
    assert_eq!(upgrades.load(Ordering::SeqCst), 1);
    tokio::time::timeout(PATIENCE, async {
        while ended.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the upstream's upgraded connection is closed");
    gateway.stop().await;
}
