//! Hardening cases run against every adapter: replay under concurrency, a replay store shared by
//! two instances through Redis, and route table reloads under sustained traffic.
//!
//! [`crate::hardening_suite!`] expands them into tests, as [`crate::conformance_suite!`] does.
//! The Redis cases need a server: they read [`REDIS_URL_VAR`] and are skipped, saying so on
//! stderr, when it is unset — except under `CI=true`, where they fail (`.ci/run` starts one
//! and sets it).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use x402_core::{RouteTable, replay::RedisReplayGuard, spec::RouteSpec};

use crate::{
    AppFactory, Script, TestRequest, TestResponse,
    fixture::{self, Fixture, challenge},
};

/// The environment variable naming the Redis server of the shared-store cases.
pub const REDIS_URL_VAR: &str = "X402_TEST_REDIS_URL";

/// This file's source, for the check that every case is in [`crate::hardening_suite!`].
pub const SOURCE: &str = include_str!("hardening.rs");

/// How many requests carry the same payment at once in the replay storm.
pub const REPLAY_STORM: usize = 200;

/// How many route table swaps happen during the reload case.
pub const RELOADS: usize = 1_000;

/// Expands every hardening case into a `#[tokio::test]` in a `hardening` module, for the unit
/// struct `$factory` (an [`AppFactory`]) of the calling test file.
#[macro_export]
macro_rules! hardening_suite {
    ($factory:ident) => {
        $crate::hardening_suite!(@cases $factory;
            same_payment_sent_200_times_at_once_is_served_once,
            two_instances_sharing_redis_serve_a_payment_once,
            unreachable_redis_fails_closed_with_a_503,
            route_table_reloaded_1000_times_under_traffic_answers_from_either_table,
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod hardening {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::hardening::$case(&super::$factory).await;
                }
            )*

            #[::core::prelude::v1::test]
            fn every_case_is_listed() {
                $crate::assert_every_case_is_listed(
                    "hardening_suite!",
                    $crate::hardening::SOURCE,
                    &[$(stringify!($case)),*],
                );
            }
        }
    };
}

/// The Redis URL of the shared-store cases, or `None` (and a note on stderr) to skip them.
#[allow(clippy::print_stderr)]
pub fn redis_url(case: &str) -> Option<String> {
    let url = std::env::var(REDIS_URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        // Under CI the server is part of the run: its absence is a failure, not a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{case}: CI=true but {REDIS_URL_VAR} is unset (.ci/run starts redis-server and sets it)"
        );
        eprintln!("SKIPPED {case}: set {REDIS_URL_VAR}=redis://127.0.0.1:PORT/ to run it");
    }
    url
}

/// A key prefix no other test run shares, so runs against one server never collide.
pub fn unique_prefix(case: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("x402-test:{case}:{}:{nanos}:", std::process::id())
}

/// Sends `copies` of `request` to `fixtures` (round robin) all at once, each from its own task;
/// the answers in order.
async fn storm(
    fixtures: &[&Arc<Fixture>],
    request: &TestRequest,
    copies: usize,
) -> Vec<TestResponse> {
    let sends = (0..copies).map(|i| {
        let (f, request) = (Arc::clone(fixtures[i % fixtures.len()]), request.clone());
        tokio::spawn(async move { f.send(request).await })
    });
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("no request panicked"))
        .collect()
}

/// Exactly one response is the handler's 200 with a receipt; every other one is a 402
/// refusing the payment as a replay, without the handler's body or a receipt.
fn assert_served_once(responses: &[TestResponse]) {
    let served: Vec<_> = responses.iter().filter(|r| r.status == 200).collect();
    assert_eq!(served.len(), 1, "served {} times", served.len());
    assert_eq!(served[0].text(), r#"{"weather":"sunny"}"#);
    assert!(served[0].header("payment-response").is_some());
    for refused in responses.iter().filter(|r| r.status != 200) {
        assert_eq!(refused.status, 402, "{}", refused.text());
        assert_eq!(challenge(refused).error.as_deref(), Some("replay"));
        assert!(refused.header("payment-response").is_none());
        assert!(!refused.text().contains("sunny"), "paid content leaked");
    }
}

/// 200 requests carrying one payment at once: one served and settled, 199 refused as replays.
pub async fn same_payment_sent_200_times_at_once_is_served_once(factory: &dyn AppFactory) {
    let f = Arc::new(Fixture::new(factory));
    // Keep the winner in flight while the others arrive.
    f.facilitator.on_verify(Script::Delay(
        Duration::from_millis(50),
        Box::new(Script::Accept),
    ));
    let request = f.paid("/weather");
    let responses = storm(&[&f], &request, REPLAY_STORM).await;
    assert_served_once(&responses);
    assert_eq!(f.facilitator.verify_calls(), 1, "replays reached verify");
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// Two app instances (each its own gate and facilitator) sharing one Redis replay store: the
/// same payment sent to both at once is served once and settled once across them; sent again
/// after settlement, both refuse it.
pub async fn two_instances_sharing_redis_serve_a_payment_once(factory: &dyn AppFactory) {
    let Some(url) = redis_url("two_instances_sharing_redis_serve_a_payment_once") else {
        return;
    };
    let prefix = unique_prefix(factory.name());
    let guards: Vec<_> = (0..2)
        .map(|_| {
            // Generous: this box's debug-build signature checks compete for two cores.
            let guard = RedisReplayGuard::new(&url)
                .expect("valid url")
                .prefix(prefix.clone())
                .timeout(Duration::from_secs(5));
            Arc::new(guard)
        })
        .collect();
    let instance = |guard: &Arc<RedisReplayGuard>| {
        let guard = Arc::clone(guard);
        Arc::new(Fixture::with(factory, |b| b.replay_guard(guard)))
    };
    let (a, b) = (instance(&guards[0]), instance(&guards[1]));
    for f in [&a, &b] {
        f.facilitator.on_verify(Script::Delay(
            Duration::from_millis(50),
            Box::new(Script::Accept),
        ));
    }
    let request = a.paid("/weather");
    let responses = storm(&[&a, &b], &request, 40).await;
    assert_served_once(&responses);
    assert_eq!(
        a.facilitator.settle_calls() + b.facilitator.settle_calls(),
        1
    );
    assert_eq!(
        a.facilitator.verify_calls() + b.facilitator.verify_calls(),
        1
    );

    // Settled: both instances keep refusing it.
    for f in [&a, &b] {
        let again = f.send(request.clone()).await;
        assert_eq!(again.status, 402);
        assert_eq!(challenge(&again).error.as_deref(), Some("replay"));
    }

    // A payment refused by the facilitator is released by the instance that claimed it and
    // can be presented again to the other one.
    let settled_by_b = b.facilitator.settle_calls();
    let fresh = a.paid("/weather");
    a.facilitator
        .on_verify(Script::Refuse("insufficient_funds"));
    assert_eq!(a.send(fresh.clone()).await.status, 402);
    // The release is a delete sent in the background: hand off once it has reached Redis.
    guards[0].flush_releases().await;
    assert_eq!(
        b.send(fresh).await.status,
        200,
        "released claim was not freed"
    );
    assert_eq!(b.facilitator.settle_calls(), settled_by_b + 1);
}

/// A Redis replay store that cannot be reached: the payment is refused with 503
/// `replay_guard_unavailable` and `Retry-After`; the facilitator and the handler are not reached.
pub async fn unreachable_redis_fails_closed_with_a_503(factory: &dyn AppFactory) {
    // A port that was just free: connection refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    // And a server that accepts and never answers: the timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    for port in [port, silent_port] {
        let guard = RedisReplayGuard::new(&format!("redis://127.0.0.1:{port}/"))
            .expect("valid url")
            .timeout(Duration::from_millis(200));
        let f = Fixture::with(factory, |b| b.replay_guard(Arc::new(guard)));
        let response = f.send(f.paid("/weather")).await;
        assert_eq!(response.status, 503, "{}", response.text());
        assert_eq!(
            response.json()["reason"],
            "replay_guard_unavailable",
            "{}",
            response.text()
        );
        assert!(response.header("retry-after").is_some());
        assert!(!response.text().contains("sunny"));
        assert_eq!(
            (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
            (0, 0)
        );
        // Unpaid requests still get the challenge: the store is only asked about payments.
        assert_eq!(f.get("/weather").await.status, 402);
    }
    holder.abort();
}

fn table_with_weather_price(price: &str) -> RouteTable {
    let spec = format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '{price}' }}\n\
         routes: [{{ path: /weather, name: weather }}, {{ path: /health, name: health, free: true }}]",
        fixture::PAY_TO
    );
    RouteTable::from_spec(&RouteSpec::from_yaml(&spec).expect("spec parses")).expect("builds")
}

/// 1 000 swaps between two tables (`/weather` at 1 000 or at 2 000 atomic units) while four
/// clients keep sending unpaid and free requests: every answer is what one of the two tables
/// says, and none is an error.
pub async fn route_table_reloaded_1000_times_under_traffic_answers_from_either_table(
    factory: &dyn AppFactory,
) {
    let f = Arc::new(Fixture::new(factory));
    let tables = [
        table_with_weather_price("0.001"),
        table_with_weather_price("0.002"),
    ];
    f.routes.swap(tables[0].clone());
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = ["/weather", "/weather", "/weather", "/health"]
        .into_iter()
        .map(|path| {
            let (f, stop, answered) = (Arc::clone(&f), Arc::clone(&stop), Arc::clone(&answered));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = f.get(path).await;
                    answered.fetch_add(1, Ordering::Relaxed);
                    if path == "/health" {
                        assert_eq!(response.status, 200, "free route: {}", response.text());
                    } else {
                        assert_eq!(response.status, 402, "{}", response.text());
                        let amount = &challenge(&response).accepts[0].amount;
                        assert!(
                            amount == "1000" || amount == "2000",
                            "amount {amount} is in neither table"
                        );
                    }
                    // An in-process answer may never be pending: let the swapper run.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 0..RELOADS {
        f.routes.swap(tables[(i + 1) % 2].clone());
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("no client saw an inconsistent answer");
    }
    let answered = answered.load(Ordering::Relaxed);
    assert!(answered >= 4, "no traffic during the reloads");
    // The last store was tables[0] (RELOADS is even): a request now sees it.
    let last = f.get("/weather").await;
    assert_eq!(challenge(&last).accepts[0].amount, "1000");
}
