//! The paying client (`X402PayLayer`) against our own seller (`X402Layer` + the in-process dev
//! facilitator), reached through a `service_fn`, and against hand-made 402s.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use alloy_primitives::U256;
use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{Service, ServiceExt as _, service_fn, util::BoxCloneSyncService};
use tower_layer::Layer as _;
use x402_core::{
    ErrorChain, RouteTable,
    client::{
        AssetKey, Budget, BuyError, Buyer, Cap, ChallengeError, Limits, PaymentPolicy, Purchase,
        PurchaseOutcome,
    },
    codec,
    evm::signer::PrivateKeySigner,
    facilitator::dev::{DevFacilitator, DevNetwork},
    network::Network,
    spec::RouteSpec,
};
use x402_tower::{
    Gate, Paid, RouteTableHandle, X402Layer,
    client::{PayError, X402PayLayer},
};

/// anvil's test key #0 and its address: public, never for real funds.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

type Client = BoxCloneSyncService<Request<Full<Bytes>>, Response<Body>, Infallible>;

/// The seller: `GET /weather` costs 1000 atomic units of Base Sepolia USDC.
fn seller() -> Router {
    let spec = RouteSpec::from_yaml(&format!(
        r#"
payment: {{ wallet: "{PAY_TO}", network: base-sepolia }}
routes: [ {{ path: /weather, methods: [GET, POST], price: "$0.001" }} ]
"#
    ))
    .unwrap();
    let gate = Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
    )
    .build()
    .unwrap();
    Router::new()
        .route(
            "/weather",
            get(weather).post(|body: String| async move { format!("posted {body}") }),
        )
        .layer(X402Layer::new(gate))
}

async fn weather(Paid(payment): Paid) -> String {
    format!(
        "sunny, paid by {}",
        payment.payer.unwrap().to_checksum(None)
    )
}

/// What the seller saw: the payment headers of each request.
#[derive(Debug, Default, Clone)]
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    fn payments(&self) -> usize {
        let requests = self.0.lock().unwrap();
        requests
            .iter()
            .filter(|headers| {
                headers.contains_key(codec::PAYMENT_SIGNATURE)
                    || headers.contains_key(codec::X_PAYMENT)
            })
            .count()
    }
    fn requests(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// The seller as a client service (a `service_fn`); `v1_only` strips `PAYMENT-REQUIRED` so
/// only the v1 body is left.
fn client_of(router: Router, seen: &Seen, v1_only: bool) -> Client {
    let seen = seen.clone();
    BoxCloneSyncService::new(service_fn(move |request: Request<Full<Bytes>>| {
        seen.0.lock().unwrap().push(request.headers().clone());
        let router = router.clone();
        async move {
            let mut response = router.oneshot(request.map(Body::new)).await?;
            if v1_only {
                response.headers_mut().remove(codec::PAYMENT_REQUIRED);
            }
            Ok(response)
        }
    }))
}

fn usdc() -> AssetKey {
    AssetKey::default_for(&Network::parse("base-sepolia").unwrap()).unwrap()
}

fn buyer(policy: PaymentPolicy, budget: Budget) -> Buyer {
    let key: PrivateKeySigner = KEY.parse().unwrap();
    Buyer::builder(Arc::new(key))
        .upstream("weather")
        .policy(policy)
        .budget(budget)
        .build()
        .unwrap()
}

fn capped(max_total: u64) -> Budget {
    Budget::new([(
        usdc(),
        Limits {
            max_total: Some(U256::from(max_total)),
            max_per_day: None,
        },
    )])
}

fn get_weather() -> Request<Full<Bytes>> {
    Request::get("http://127.0.0.1:4021/weather")
        .body(Full::default())
        .unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_402_from_our_seller_is_paid_and_the_receipt_exposed() {
    let seen = Seen::default();
    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()));
    let client = layer.layer(client_of(seller(), &seen, false));

    let response = client.oneshot(get_weather()).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let purchase = response.extensions().get::<Purchase>().unwrap().clone();
    assert!(purchase.is_paid(), "{purchase:?}");
    assert_eq!(purchase.chain, "eip155:84532");
    assert_eq!(purchase.amount, U256::from(1000));
    let receipt = purchase.receipt.as_ref().unwrap();
    assert_eq!(receipt.payer.as_deref(), Some(PAYER));
    assert_eq!(text(response).await, format!("sunny, paid by {PAYER}"));
    assert_eq!((seen.requests(), seen.payments()), (2, 1));
}

#[tokio::test]
async fn a_v1_challenge_is_paid_with_x_payment() {
    let seen = Seen::default();
    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()));
    let client = layer.layer(client_of(seller(), &seen, true));

    let response = client.oneshot(get_weather()).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let purchase = response.extensions().get::<Purchase>().unwrap();
    assert_eq!(purchase.challenge.x402_version(), 1);
    assert!(purchase.is_paid(), "{purchase:?}");
    assert!(response.headers().contains_key(codec::X_PAYMENT_RESPONSE));
    let sent = seen.0.lock().unwrap();
    assert!(sent[1].contains_key(codec::X_PAYMENT));
    assert!(!sent[1].contains_key(codec::PAYMENT_SIGNATURE));
}

#[tokio::test]
async fn a_free_answer_passes_through_unpaid() {
    let seen = Seen::default();
    let router = Router::new().route("/weather", get(|| async { "free" }));
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()))
        .layer(client_of(router, &seen, false));

    let response = client.oneshot(get_weather()).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<Purchase>().is_none());
    assert_eq!(seen.requests(), 1);
}

#[tokio::test]
async fn the_total_cap_refuses_the_next_payment_before_signing() {
    let seen = Seen::default();
    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), capped(2_000)));
    let mut client = layer.layer(client_of(seller(), &seen, false));

    for _ in 0..2 {
        let response = client.ready().await.unwrap().call(get_weather()).await;
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    let error = client
        .ready()
        .await
        .unwrap()
        .call(get_weather())
        .await
        .unwrap_err();

    let PayError::Buy(BuyError::Cap { upstream, source }) = &error else {
        panic!("expected a cap error, got {error}")
    };
    assert_eq!(&**upstream, "weather");
    assert_eq!(source.cap, Cap::MaxTotal);
    assert!(
        ErrorChain(&error).to_string().contains("maxTotal"),
        "{error}"
    );
    assert_eq!(seen.payments(), 2, "the third payment was never sent");
}

#[tokio::test]
async fn the_per_request_cap_refuses_a_dearer_price() {
    let seen = Seen::default();
    let policy = PaymentPolicy::new().max_per_request(usdc(), U256::from(999));
    let client = X402PayLayer::new(buyer(policy, Budget::unlimited())).layer(client_of(
        seller(),
        &seen,
        false,
    ));

    let error = client.oneshot(get_weather()).await.unwrap_err();

    assert!(
        matches!(error, PayError::Buy(BuyError::NoPayableOption { .. })),
        "{error}"
    );
    assert!(
        ErrorChain(&error).to_string().contains("maxPerRequest"),
        "{error}"
    );
    assert_eq!(seen.payments(), 0);
}

#[tokio::test]
async fn concurrent_buyers_never_overspend_the_total_cap() {
    let seen = Seen::default();
    let budget = capped(5_000);
    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), budget.clone()));
    let client = layer.layer(client_of(seller(), &seen, false));

    let tasks: Vec<_> = (0..12)
        .map(|_| tokio::spawn(client.clone().oneshot(get_weather())))
        .collect();
    let mut paid = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(response)
                if response
                    .extensions()
                    .get::<Purchase>()
                    .is_some_and(Purchase::is_paid) =>
            {
                paid += 1;
            }
            Err(PayError::Buy(BuyError::Cap { .. })) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((paid, refused), (5, 7));
    assert_eq!(seen.payments(), 5);
    assert_eq!(budget.used(usdc()), U256::from(5_000));
}

/// A service answering every request with `response()`, counting the payments it gets.
fn fixed(
    seen: &Seen,
    response: impl Fn(&HeaderMap) -> Response<Body> + Clone + Send + Sync + 'static,
) -> Client {
    let seen = seen.clone();
    BoxCloneSyncService::new(service_fn(move |request: Request<Full<Bytes>>| {
        seen.0.lock().unwrap().push(request.headers().clone());
        let answer = response(request.headers());
        async move { Ok::<_, Infallible>(answer) }
    }))
}

fn status(code: StatusCode, headers: &[(&str, &str)], body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = code;
    for (name, value) in headers {
        response.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

/// The official server's 402 for $0.001 on Base Sepolia (x402-protocol.md §12.2).
const OFFICIAL_402: &str = "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQYXltZW50IHJlcXVpcmVkIiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cDovLzEyNy4wLjAuMTo0MDIxL3dlYXRoZXI/Y2l0eT1TRiIsImRlc2NyaXB0aW9uIjoiV2VhdGhlciBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAiLCJhc3NldCI6IjB4MDM2Q2JENTM4NDJjNTQyNjYzNGU3OTI5NTQxZUMyMzE4ZjNkQ0Y3ZSIsInBheVRvIjoiMHgyMDk2OTNCYzZhZmMwQzUzMjhiQTM2RmFGMDNDNTE0RUYzMTIyODdDIiwibWF4VGltZW91dFNlY29uZHMiOjMwMCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";

#[tokio::test]
async fn a_tampered_402_is_a_clear_error_and_nothing_is_paid() {
    let seen = Seen::default();
    let mut tampered = OFFICIAL_402.to_owned();
    tampered.truncate(200);
    tampered.push_str("%%");
    let service = fixed(&seen, move |_| {
        status(
            StatusCode::PAYMENT_REQUIRED,
            &[("payment-required", &tampered)],
            "{}",
        )
    });
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited())).layer(service);

    let error = client.oneshot(get_weather()).await.unwrap_err();

    let PayError::Buy(BuyError::Challenge { source, .. }) = &error else {
        panic!("expected a challenge error, got {error}")
    };
    assert!(matches!(source, ChallengeError::Header(_)), "{source}");
    assert!(
        ErrorChain(&error).to_string().contains("PAYMENT-REQUIRED"),
        "{error}"
    );
    assert_eq!(seen.requests(), 1);
}

#[tokio::test]
async fn a_402_that_is_not_x402_is_a_clear_error() {
    let seen = Seen::default();
    let service = fixed(&seen, |_| {
        status(StatusCode::PAYMENT_REQUIRED, &[], "pay up")
    });
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited())).layer(service);

    let error = client.oneshot(get_weather()).await.unwrap_err();

    assert!(
        matches!(
            &error,
            PayError::Buy(BuyError::Challenge {
                source: ChallengeError::Body { .. },
                ..
            })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_402_on_a_network_not_allowed_is_unpayable() {
    let seen = Seen::default();
    let service = fixed(&seen, |_| {
        status(
            StatusCode::PAYMENT_REQUIRED,
            &[("payment-required", OFFICIAL_402)],
            "{}",
        )
    });
    let policy = PaymentPolicy::new().networks([Network::parse("base").unwrap()]);
    let client = X402PayLayer::new(buyer(policy, Budget::unlimited())).layer(service);

    let error = client.oneshot(get_weather()).await.unwrap_err();

    assert!(
        matches!(error, PayError::Buy(BuyError::NoPayableOption { .. })),
        "{error}"
    );
    assert!(
        ErrorChain(&error)
            .to_string()
            .contains("eip155:84532 is not allowed"),
        "{error}"
    );
    assert_eq!(seen.payments(), 0);
}

#[tokio::test]
async fn a_streamed_body_meeting_a_402_is_refused_not_sent_without_its_body() {
    let inner = seller();
    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()));
    let requests = Arc::new(Mutex::new(0));
    let counter = requests.clone();
    let service = service_fn(move |request: Request<Body>| {
        *counter.lock().unwrap() += 1;
        inner.clone().oneshot(request)
    });
    let client = layer.layer(service);
    let stream = futures_stream(&["chunk one, ", "chunk two"]);
    let request = Request::post("http://127.0.0.1/weather")
        .body(stream)
        .unwrap();

    let error = client.oneshot(request).await.unwrap_err();

    assert!(
        matches!(error, PayError::Buy(BuyError::BodyNotReplayable { .. })),
        "{error}"
    );
    assert!(
        ErrorChain(&error)
            .to_string()
            .contains("cannot be replayed"),
        "{error}"
    );
    assert_eq!(
        *requests.lock().unwrap(),
        1,
        "sent once, not again without its body"
    );
}

/// A streamed axum body of `chunks` (its size is not known in advance).
fn futures_stream(chunks: &[&'static str]) -> Body {
    Body::new(Chunks(
        chunks
            .iter()
            .rev()
            .map(|c| Bytes::from_static(c.as_bytes()))
            .collect(),
    ))
}

/// A body streaming its chunks one frame at a time.
struct Chunks(Vec<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop().map(|chunk| Ok(http_body::Frame::data(chunk))))
    }
}

#[tokio::test]
async fn a_refused_payment_gives_its_amount_back() {
    let seen = Seen::default();
    let service = fixed(&seen, |_| {
        status(
            StatusCode::PAYMENT_REQUIRED,
            &[("payment-required", OFFICIAL_402)],
            "{}",
        )
    });
    let budget = capped(1_500);
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), budget.clone())).layer(service);

    let response = client.clone().oneshot(get_weather()).await.unwrap();

    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let purchase = response.extensions().get::<Purchase>().unwrap();
    assert_eq!(
        purchase.outcome,
        PurchaseOutcome::Failed(x402_core::client::metrics::Failure::Rejected)
    );
    assert_eq!(budget.used(usdc()), U256::ZERO);
    assert_eq!(seen.payments(), 1, "retried exactly once");
}

fn counter(
    snapshot: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| {
            key.key().name() == name
                && labels.iter().all(|(k, v)| {
                    key.key()
                        .labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn buyer_metrics_count_requests_payments_failures_and_spend() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let seen = Seen::default();
            let client = X402PayLayer::new(buyer(PaymentPolicy::new(), capped(1_000)))
                .layer(client_of(seller(), &seen, false));
            // Paid, then refused by the cap.
            assert!(client.clone().oneshot(get_weather()).await.is_ok());
            assert!(client.clone().oneshot(get_weather()).await.is_err());
            // A 2xx without a receipt: paid but unconfirmed.
            let no_receipt = fixed(&seen, |headers| {
                if headers.contains_key(codec::PAYMENT_SIGNATURE) {
                    status(StatusCode::OK, &[], "ok")
                } else {
                    status(
                        StatusCode::PAYMENT_REQUIRED,
                        &[("payment-required", OFFICIAL_402)],
                        "{}",
                    )
                }
            });
            let client = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()))
                .layer(no_receipt);
            let response = client.oneshot(get_weather()).await.unwrap();
            let purchase = response.extensions().get::<Purchase>().unwrap();
            assert_eq!(purchase.outcome, PurchaseOutcome::Unconfirmed);
        });
    });

    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let chain = [("upstream", "weather"), ("chain", "eip155:84532")];
    assert_eq!(
        counter(
            &snapshot,
            "x402_buyer_requests_total",
            &[("upstream", "weather")]
        ),
        3
    );
    assert_eq!(
        counter(&snapshot, "x402_buyer_payment_attempts_total", &chain),
        2
    );
    assert_eq!(
        counter(&snapshot, "x402_buyer_payments_succeeded_total", &chain),
        1
    );
    assert_eq!(
        counter(&snapshot, "x402_buyer_amount_spent_total", &chain),
        1000
    );
    assert_eq!(
        counter(&snapshot, "x402_buyer_payments_unconfirmed_total", &chain),
        1
    );
    let mut cap = chain.to_vec();
    cap.push(("reason", "cap_exceeded"));
    assert_eq!(
        counter(&snapshot, "x402_buyer_payment_failures_total", &cap),
        1
    );
    let remaining = snapshot.iter().find_map(|(key, value)| {
        (key.key().name() == "x402_buyer_budget_remaining").then_some(value)
    });
    assert!(
        matches!(remaining, Some(DebugValue::Gauge(g)) if g.into_inner() == 0.0),
        "{remaining:?}"
    );
    for (key, _) in &snapshot {
        for label in key.key().labels() {
            assert!(!label.value().contains("://"), "a URL in a label: {key:?}");
        }
    }
}

#[tokio::test]
async fn readiness_is_awaited_before_the_first_request_and_before_the_paid_retry() {
    use std::task::Poll;
    use tower_test::mock;

    let layer = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited()));
    let (mut service, mut handle) =
        mock::spawn_with::<Request<Full<Bytes>>, Response<String>, _, _>(|inner| {
            layer.layer(inner)
        });

    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "not ready while the inner one is not"
    );
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let response = tokio::spawn(service.call(get_weather()));

    let (_, send) = handle.next_request().await.expect("the first request");
    let mut challenge = Response::new("{}".to_owned());
    *challenge.status_mut() = StatusCode::PAYMENT_REQUIRED;
    challenge
        .headers_mut()
        .insert("payment-required", OFFICIAL_402.parse().unwrap());
    send.send_response(challenge);

    // The retry waits for readiness: no request until the inner service allows one more.
    tokio::task::yield_now().await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), handle.next_request())
            .await
            .is_err(),
        "the retry was sent without poll_ready"
    );
    handle.allow(1);
    let (retry, send) = handle.next_request().await.expect("the paid retry");
    assert!(retry.headers().contains_key(codec::PAYMENT_SIGNATURE));
    send.send_response(Response::new("paid".to_owned()));
    let response = response.await.unwrap().unwrap();
    assert_eq!(
        response.extensions().get::<Purchase>().unwrap().outcome,
        PurchaseOutcome::Unconfirmed
    );
}

/// A seller that answers the paid request `failures` times with `failure`, then serves it with
/// a receipt; it records every payment header it got.
fn flaky(seen: &Seen, failures: usize, failure: fn() -> Response<Body>) -> Client {
    let seen = seen.clone();
    let paid = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    BoxCloneSyncService::new(service_fn(move |request: Request<Full<Bytes>>| {
        seen.0.lock().unwrap().push(request.headers().clone());
        let answer = if request.headers().contains_key(codec::PAYMENT_SIGNATURE) {
            if paid.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
                failure()
            } else {
                let receipt = x402_core::wire::SettleResponse::success("0xab", "eip155:84532");
                status(
                    StatusCode::OK,
                    &[("payment-response", &codec::encode_header(&receipt))],
                    "sunny",
                )
            }
        } else {
            status(
                StatusCode::PAYMENT_REQUIRED,
                &[("payment-required", OFFICIAL_402)],
                "{}",
            )
        };
        async move { Ok::<_, Infallible>(answer) }
    }))
}

fn payment_headers(seen: &Seen) -> Vec<String> {
    seen.0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|h| h.get(codec::PAYMENT_SIGNATURE))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_5xx_after_paying_is_retried_with_the_same_header_and_counted_once() {
    let seen = Seen::default();
    let service = flaky(&seen, 2, || {
        status(
            StatusCode::SERVICE_UNAVAILABLE,
            &[("retry-after", "0")],
            "{}",
        )
    });
    let budget = capped(1_500);
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), budget.clone())).layer(service);

    let response = client.oneshot(get_weather()).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<Purchase>().unwrap().is_paid());
    let headers = payment_headers(&seen);
    assert_eq!(headers.len(), 3, "sent, then retried twice");
    assert!(headers.iter().all(|h| *h == headers[0]), "never re-signed");
    assert_eq!(budget.used(usdc()), U256::from(1_000), "counted once");
}

#[tokio::test]
async fn paid_retries_are_bounded_and_a_409_without_retry_after_is_final() {
    let seen = Seen::default();
    let service = flaky(&seen, 10, || status(StatusCode::BAD_GATEWAY, &[], "{}"));
    let budget = capped(1_500);
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), budget.clone()))
        .paid_retries(1)
        .layer(service);
    let response = client.oneshot(get_weather()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(payment_headers(&seen).len(), 2, "one retry");
    assert_eq!(
        budget.used(usdc()),
        U256::from(1_000),
        "a 5xx may have charged: kept"
    );

    let seen = Seen::default();
    let service = flaky(&seen, 10, || status(StatusCode::CONFLICT, &[], "{}"));
    let client = X402PayLayer::new(buyer(PaymentPolicy::new(), Budget::unlimited())).layer(service);
    let response = client.oneshot(get_weather()).await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(payment_headers(&seen).len(), 1, "not retried");
}
