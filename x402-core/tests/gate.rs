//! The payment gate without a web framework: settings that shape the challenge, and the metric
//! series every adapter emits (names, labels, values). The whole exchange is also run through
//! each adapter by the conformance suite in `tests/`.

use std::sync::Arc;

use metrics_util::{
    CompositeKey, MetricKind,
    debugging::{DebugValue, DebuggingRecorder},
};
use x402_core::{
    RouteTable, codec,
    evm::{FixedClock, RequirementView, signer::PrivateKeySigner, signer::sign_payment},
    facilitator::{BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest},
    gate::{
        Admission, BodyToBind, Gate, GateBuilder, GateConfigError, PathRule, RequestParts,
        RouteTableHandle, Settlement, UnmatchedPolicy,
    },
    spec::RouteSpec,
    wire::{SettleResponse, SupportedResponse, VerifyResponse, v2},
};

const NOW: u64 = 1_795_346_121;
const PAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /weather, name: weather, price: "$0.001" }
  - { path: /health, name: health, free: true }
"#;

/// Accepts everything, instantly.
#[derive(Debug)]
struct Accepting;

impl Facilitator for Accepting {
    fn verify<'a>(
        &'a self,
        _: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(async { Ok(VerifyResponse::valid(None)) })
    }

    fn settle<'a>(
        &'a self,
        _: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        Box::pin(async {
            Ok(SettleResponse::success(
                format!("0x{}", "ab".repeat(32)),
                "eip155:84532",
            ))
        })
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(async { Ok(Arc::new(SupportedResponse::new(Vec::new()))) })
    }
}

fn gate(configure: impl FnOnce(GateBuilder) -> GateBuilder) -> Gate {
    let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).unwrap()).unwrap();
    let builder = Gate::builder(RouteTableHandle::new(table), Arc::new(Accepting))
        .clock(Arc::new(FixedClock::new(NOW)));
    configure(builder).build().unwrap()
}

fn admit(gate: &Gate, path: &str, headers: &[(&str, &str)]) -> Admission {
    gate.admit(&RequestParts {
        method: "GET",
        scheme: None,
        host: Some("api.example.com"),
        path_and_query: path,
        headers,
    })
}

fn reply_header<'r>(admission: &'r Admission, name: &str) -> Option<&'r str> {
    match admission {
        Admission::Reply(reply) => reply
            .headers()
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref()),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn challenge(admission: &Admission) -> v2::PaymentRequired {
    let header = reply_header(admission, "payment-required").expect("PAYMENT-REQUIRED");
    codec::decode_payment_required(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES).unwrap()
}

fn payment_header(gate: &Gate) -> String {
    let table = gate.routes().load();
    let requirement = table.routes()[0].offer().unwrap().accepts()[0]
        .requirements()
        .clone();
    let signer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let payload = sign_payment(
        &signer,
        &RequirementView::from_v2(&requirement).unwrap(),
        NOW,
    )
    .unwrap();
    codec::encode_header(&serde_json::json!({
        "x402Version": 2, "accepted": requirement, "payload": payload,
    }))
}

#[test]
fn forwarded_headers_are_ignored_unless_trusted() {
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "public.example.com"),
    ];
    let untrusted = gate(|b| b);
    assert_eq!(
        challenge(&admit(&untrusted, "/weather", &forwarded))
            .resource
            .url,
        "http://api.example.com/weather"
    );
    let trusted = gate(|b| b.trust_forwarded_headers(true));
    assert_eq!(
        challenge(&admit(&trusted, "/weather", &forwarded))
            .resource
            .url,
        "https://public.example.com/weather"
    );
}

#[test]
fn the_resource_url_takes_the_given_host_else_the_host_header() {
    let gate = gate(|b| b);
    let url = |host: Option<&str>, headers: &[(&str, &str)]| {
        let admission = gate.admit(&RequestParts {
            method: "GET",
            scheme: Some("https"),
            host,
            path_and_query: "/weather",
            headers,
        });
        challenge(&admission).resource.url
    };
    let with_header = [("host", "header.example.com")];
    assert_eq!(
        url(None, &with_header),
        "https://header.example.com/weather"
    );
    assert_eq!(
        url(Some("authority.example.com"), &with_header),
        "https://authority.example.com/weather"
    );
    assert_eq!(url(None, &[]), "https://localhost/weather");
}

#[test]
fn invalid_forwarded_values_are_ignored_even_when_trusted() {
    let trusted = gate(|b| b.trust_forwarded_headers(true));
    let bad = [
        ("x-forwarded-proto", "javascript"),
        ("x-forwarded-host", "evil.example.com"),
    ];
    assert_eq!(
        challenge(&admit(&trusted, "/weather", &bad)).resource.url,
        "http://api.example.com/weather"
    );
    let bad_host = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "a b<script>"),
    ];
    assert_eq!(
        challenge(&admit(&trusted, "/weather", &bad_host))
            .resource
            .url,
        "http://api.example.com/weather"
    );
}

#[test]
fn base_url_must_be_http_with_a_host_and_no_query() {
    let table = RouteTableHandle::new(RouteTable::empty());
    for bad in [
        "ftp://x",
        "https://",
        "https:///path",
        "https://h/?q",
        "api.example.com",
    ] {
        let result = Gate::builder(table.clone(), Arc::new(Accepting))
            .base_url(bad)
            .build();
        assert!(matches!(result, Err(GateConfigError::BaseUrl(_))), "{bad}");
    }
    assert!(
        Gate::builder(table, Arc::new(Accepting))
            .base_url("https://api.example.com/prefix/")
            .build()
            .is_ok()
    );
}

#[test]
fn with_v1_disabled_x_payment_is_ignored_and_no_v1_body_is_sent() {
    let gate = gate(|b| b.v1(false));
    let admission = admit(&gate, "/weather", &[("x-payment", "anything")]);
    assert_eq!(
        challenge(&admission).error.as_deref(),
        Some("Payment required")
    );
    let Admission::Reply(reply) = admission else {
        unreachable!()
    };
    assert_eq!(reply.body().as_ref(), b"{}");
}

#[test]
fn with_the_paywall_disabled_browsers_get_json() {
    let browser = [("accept", "text/html"), ("user-agent", "Mozilla/5.0")];
    let with_paywall = gate(|b| b);
    assert!(
        reply_header(&admit(&with_paywall, "/weather", &browser), "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let without = gate(|b| b.paywall(false));
    assert_eq!(
        reply_header(&admit(&without, "/weather", &browser), "content-type"),
        Some("application/json")
    );
}

#[test]
fn paywall_html_escapes_configured_text() {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes: [ { path: /x, price: "0.01", description: "<script>alert(1)</script>" } ]
"#,
    )
    .unwrap();
    let gate = Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(Accepting),
    )
    .build()
    .unwrap();
    let browser = [("accept", "text/html"), ("user-agent", "Mozilla/5.0")];
    let Admission::Reply(reply) = admit(&gate, "/x", &browser) else {
        panic!("expected the paywall")
    };
    let html = String::from_utf8(reply.body().to_vec()).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("0.01"));
}

fn counter(snapshot: &[(CompositeKey, DebugValue)], name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, _)| {
            labels.iter().all(|(k, v)| {
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
fn every_outcome_is_counted_with_the_route_name_and_the_resolved_chain() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let gate = gate(|b| b);
        // Free, unpaid, refused.
        assert!(matches!(admit(&gate, "/health", &[]), Admission::Pass));
        assert!(matches!(admit(&gate, "/weather", &[]), Admission::Reply(_)));
        assert!(matches!(
            admit(&gate, "/weather", &[("payment-signature", "garbage")]),
            Admission::Reply(_)
        ));
        // Paid.
        let header = payment_header(&gate);
        let Admission::Pay(pending) = admit(&gate, "/weather", &[("payment-signature", &header)])
        else {
            panic!("expected a payment")
        };
        runtime.block_on(async {
            let (authorized, _payment) = pending.authorize().await.expect("authorized");
            assert!(matches!(
                authorized.settle(200).await,
                Settlement::Paid { .. }
            ));
        });
    });

    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let weather = [("route", "weather"), ("chain", "eip155:84532")];
    let requests = |outcome| {
        let mut labels = weather.to_vec();
        labels.push(("outcome", outcome));
        counter(&snapshot, "x402_requests_total", &labels)
    };
    assert_eq!(requests("payment_required"), 1);
    assert_eq!(requests("rejected"), 1);
    assert_eq!(requests("paid"), 1);
    assert_eq!(
        counter(
            &snapshot,
            "x402_requests_total",
            &[
                ("route", "health"),
                ("chain", "eip155:84532"),
                ("outcome", "free")
            ]
        ),
        1,
        "a free route inherits the spec's network as its chain label"
    );
    assert_eq!(
        counter(
            &snapshot,
            "x402_payment_rejections_total",
            &[("route", "weather"), ("reason", "invalid_payment_header")]
        ),
        1
    );
    assert_eq!(
        counter(&snapshot, "x402_payments_settled_total", &weather),
        1
    );
    assert_eq!(
        counter(&snapshot, "x402_amount_settled_total", &weather),
        1000
    );
    let gauge = snapshot
        .iter()
        .find(|(key, _)| key.key().name() == "x402_last_payment_success_timestamp_seconds");
    assert!(
        matches!(gauge, Some((_, DebugValue::Gauge(t))) if t.into_inner() > 1.0e9),
        "last-success gauge not set: {gauge:?}"
    );
    // Bounded labels only: never a path, a payer or a transaction.
    for (key, _) in &snapshot {
        for label in key.key().labels() {
            assert!(
                ["route", "chain", "outcome", "reason", "operation", "result"]
                    .contains(&label.key()),
                "unexpected label {}",
                label.key()
            );
        }
    }
}

/// Every `(route, chain)` series the recording rules read exists at 0 as soon as a table is
/// live (so Prometheus has a sample before the first payment and `increase()` counts it),
/// with the resolved chain, for each payment option; a replaced table's new routes too.
#[test]
fn every_counter_the_rules_read_is_registered_at_zero_when_a_table_goes_live() {
    const ROUTES: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /weather, name: weather, price: "$0.001" }
  - { path: /premium, name: premium, price: "$0.01", network: base }
  - path: /multi
    name: multi
    price: "$0.002"
    accepts: [ { network: base-sepolia }, { network: base } ]
  - { path: /health, name: health, free: true }
"#;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let table = |text: &str| RouteTable::from_spec(&RouteSpec::from_yaml(text).unwrap()).unwrap();
    let snapshot = || -> Vec<(CompositeKey, DebugValue)> {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key, value))
            .collect()
    };
    let labels_of = |key: &CompositeKey| -> Vec<(String, String)> {
        key.key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect()
    };
    metrics::with_local_recorder(&recorder, || {
        let handle = RouteTableHandle::new(table(ROUTES));
        let at_start = snapshot();
        let priced = [
            ("weather", "eip155:84532"),
            ("premium", "eip155:8453"),
            ("multi", "eip155:84532"),
            ("multi", "eip155:8453"),
        ];
        for (route, chain) in priced {
            let labels = [("route", route), ("chain", chain)];
            for outcome in x402_core::labels::Outcome::ALL {
                let mut with_outcome = labels.to_vec();
                with_outcome.push(("outcome", outcome.as_str()));
                let found = at_start.iter().find(|(key, _)| {
                    key.key().name() == "x402_requests_total"
                        && labels_of(key).len() == 3
                        && with_outcome.iter().all(|(k, v)| {
                            labels_of(key).contains(&((*k).to_owned(), (*v).to_owned()))
                        })
                });
                assert!(
                    matches!(found, Some((_, DebugValue::Counter(0)))),
                    "x402_requests_total {with_outcome:?}: {found:?}"
                );
            }
            for name in ["x402_payments_settled_total", "x402_amount_settled_total"] {
                let found = at_start.iter().find(|(key, _)| {
                    key.key().name() == name
                        && labels_of(key)
                            == vec![
                                ("route".to_owned(), route.to_owned()),
                                ("chain".to_owned(), chain.to_owned()),
                            ]
                });
                assert!(
                    matches!(found, Some((_, DebugValue::Counter(0)))),
                    "{name} {labels:?}: {found:?}"
                );
            }
        }
        // A free route: its outcomes only, with the inherited chain; nothing to settle.
        let health: Vec<_> = at_start
            .iter()
            .filter(|(key, _)| labels_of(key).contains(&("route".into(), "health".into())))
            .map(|(key, value)| (key.key().name().to_owned(), labels_of(key), value))
            .collect();
        assert_eq!(health.len(), 2, "{health:?}");
        for (name, labels, value) in &health {
            assert_eq!(name, "x402_requests_total");
            assert!(
                labels.contains(&("chain".into(), "eip155:84532".into())),
                "{labels:?}"
            );
            assert!(matches!(value, DebugValue::Counter(0)), "{value:?}");
        }
        // No blank chain; no gauge ("no payment yet" is an absent series) and no rejections.
        for (key, _) in &at_start {
            assert!(
                !labels_of(key).contains(&("chain".into(), String::new())),
                "{key:?}"
            );
            assert!(
                key.key().name().starts_with("x402_requests_total")
                    || key.key().name() == "x402_payments_settled_total"
                    || key.key().name() == "x402_amount_settled_total",
                "registered at start: {key:?}"
            );
        }
        // 4 options x (9 outcomes + 2) + the free route's 2.
        assert_eq!(at_start.len(), 4 * 11 + 2);

        // A reload: the new route's series exist before its first request.
        handle.replace(table(&ROUTES.replace("name: health", "name: status")));
        let after = snapshot();
        assert!(after.iter().any(|(key, value)| {
            key.key().name() == "x402_requests_total"
                && labels_of(key).contains(&("route".into(), "status".into()))
                && labels_of(key).contains(&("outcome".into(), "free".into()))
                && *value == DebugValue::Counter(0)
        }));
    });
}

/// The gate builder registers the table again, for a handle made before the recorder was
/// installed; the first payment then increments the series registered at 0.
#[test]
fn the_gate_builder_registers_a_table_made_before_the_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).unwrap()).unwrap();
    let handle = RouteTableHandle::new(table);
    metrics::with_local_recorder(&recorder, || {
        let gate = Gate::builder(handle, Arc::new(Accepting))
            .clock(Arc::new(FixedClock::new(NOW)))
            .build()
            .unwrap();
        let weather = [("route", "weather"), ("chain", "eip155:84532")];
        let settled = |snapshot: &[(CompositeKey, DebugValue)]| {
            snapshot
                .iter()
                .find(|(key, _)| {
                    key.key().name() == "x402_amount_settled_total"
                        && weather.iter().all(|(k, v)| {
                            key.key().labels().any(|l| l.key() == *k && l.value() == *v)
                        })
                })
                .and_then(|(_, value)| match value {
                    DebugValue::Counter(n) => Some(*n),
                    _ => None,
                })
        };
        let plain = |s: Vec<(CompositeKey, _, _, DebugValue)>| -> Vec<(CompositeKey, DebugValue)> {
            s.into_iter().map(|(k, _, _, v)| (k, v)).collect()
        };
        let before = plain(snapshotter.snapshot().into_vec());
        assert_eq!(settled(&before), Some(0));
        let header = payment_header(&gate);
        let Admission::Pay(pending) = admit(&gate, "/weather", &[("payment-signature", &header)])
        else {
            panic!("expected a payment")
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let (authorized, _payment) = pending.authorize().await.expect("authorized");
                assert!(matches!(
                    authorized.settle(200).await,
                    Settlement::Paid { .. }
                ));
            });
        let after = plain(snapshotter.snapshot().into_vec());
        assert_eq!(settled(&after), Some(1000));
    });
}

#[test]
fn unmatched_requests_pass_by_default_and_are_refused_when_denied() {
    assert!(matches!(
        admit(&gate(|b| b), "/elsewhere", &[]),
        Admission::Pass
    ));
    let denied = gate(|b| b.unmatched(UnmatchedPolicy::Deny));
    let Admission::Reply(reply) = admit(&denied, "/elsewhere", &[]) else {
        panic!("expected a refusal")
    };
    assert_eq!(reply.status(), 403);
    assert!(String::from_utf8_lossy(reply.body()).contains("no_route"));
    // Free and priced routes are unaffected.
    assert!(matches!(admit(&denied, "/health", &[]), Admission::Pass));
    assert_eq!(challenge(&admit(&denied, "/weather", &[])).accepts.len(), 1);
}

#[test]
fn gate_headers_merge_into_a_handlers_response_by_one_rule() {
    use x402_core::gate::headers::{Header, HeaderMerge, STRIPPED_REQUEST_HEADERS, merge};
    assert_eq!(
        merge(Header::CacheControl, None, "private"),
        HeaderMerge::Set
    );
    assert_eq!(
        merge(Header::CacheControl, Some(b"max-age=60"), "private"),
        HeaderMerge::Replace("max-age=60, private".into())
    );
    assert_eq!(
        merge(Header::CacheControl, Some(b"Private, max-age=0"), "private"),
        HeaderMerge::Keep
    );
    assert_eq!(
        merge(Header::CacheControl, Some(&[0xff]), "private"),
        HeaderMerge::Keep
    );
    assert_eq!(
        merge(
            Header::AccessControlExposeHeaders,
            Some(b"X-Own"),
            "PAYMENT-RESPONSE"
        ),
        HeaderMerge::Append
    );
    assert_eq!(
        merge(Header::PaymentResponse, Some(b"stale"), "new"),
        HeaderMerge::Set
    );
    // The payment headers are what an adapter strips from a paid request.
    let stripped: Vec<_> = STRIPPED_REQUEST_HEADERS
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(stripped, ["PAYMENT-SIGNATURE", "X-PAYMENT"]);
    assert_eq!(
        Header::AccessControlExposeHeaders.as_str(),
        "Access-Control-Expose-Headers"
    );
}

#[test]
fn a_table_swap_publishes_the_new_table_and_names_the_label_sets_that_left() {
    let table = |yaml: &str| RouteTable::from_spec(&RouteSpec::from_yaml(yaml).unwrap()).unwrap();
    let handle = RouteTableHandle::new(table(SPEC));
    let swap = handle.replace(table(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /forecast, name: forecast, price: "$0.002" }
"#,
    ));
    assert_eq!(swap.routes, 1);
    assert_eq!(handle.load().len(), 1);
    let names = |set: &std::collections::BTreeSet<x402_core::labels::RouteLabels>| {
        set.iter()
            .map(|l| format!("{}@{}", l.route(), l.chain()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&swap.live), ["forecast@eip155:84532"]);
    assert!(
        names(&swap.removed).contains(&"weather@eip155:84532".to_owned()),
        "{:?}",
        names(&swap.removed)
    );
    assert!(
        !names(&swap.removed)
            .iter()
            .any(|n| n.starts_with("forecast"))
    );
}

#[test]
fn the_gateway_path_rule_refuses_ambiguous_spellings_unless_a_priced_route_allows_them() {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /files/**, allowAmbiguousPath: true }
  - path: /maybe/**
    allowAmbiguousPath: true
    mode: conditional
    conditions: [ { header: x-tier, pattern: "^gold$", action: free } ]
  - { path: /free/**, free: true }
"#,
    )
    .unwrap();
    let table = RouteTable::from_spec(&spec).unwrap();
    let gate = |rule| {
        Gate::builder(RouteTableHandle::new(table.clone()), Arc::new(Accepting))
            .path_rule(rule)
            .build()
            .unwrap()
    };
    let status = |admission: Admission| match admission {
        Admission::Reply(reply) => reply.status(),
        Admission::Pass => 200,
        Admission::Pay(_) => 0,
    };
    let (embedded, gateway) = (gate(PathRule::Embedded), gate(PathRule::Gateway));
    for (path, headers, in_gateway) in [
        // Refused: the free route would pass it, and nginx reads it as /paid.
        ("/free/..%2Fpaid", &[][..], 400),
        ("/free;x/../paid", &[][..], 400),
        // Priced and allowed: charged.
        ("/files/a%2Fb;v=1", &[][..], 402),
        ("/maybe/a%2Fb", &[][..], 402),
        // The conditional route resolves free for this request: refused, not passed.
        ("/maybe/a%2Fb", &[("x-tier", "gold")][..], 400),
        ("/maybe/plain", &[("x-tier", "gold")][..], 200),
    ] {
        assert_eq!(
            status(admit(&gateway, path, headers)),
            in_gateway,
            "{path} {headers:?}"
        );
    }
    // The embedded rule is unchanged: an encoded slash stays inside its segment.
    assert_eq!(status(admit(&embedded, "/free/..%2Fpaid", &[])), 200);
}

/// A gate asks an adapter to read a body only to bind a ledgered payment to it: with a ledger,
/// a payment header and a `Content-Length` from 1 to `max_bound_body_bytes` (no length: bind
/// as empty where the adapter knows there is no body).
#[cfg(feature = "sqlite")]
#[test]
fn a_body_is_read_only_for_a_paid_request_on_a_ledgered_gate() {
    let ledger = Arc::new(x402_core::ledger::SqliteLedger::in_memory().unwrap());
    let ledgered = gate(|b| b.ledger(ledger).max_bound_body_bytes(100));
    let paid = |length: &'static str| [("payment-signature", "e30="), ("content-length", length)];
    assert_eq!(
        ledgered.body_to_bind(&paid("42")[..]),
        Some(BodyToBind::Read(42))
    );
    assert_eq!(
        ledgered.body_to_bind(&paid("100")[..]),
        Some(BodyToBind::Read(100))
    );
    assert_eq!(
        ledgered.body_to_bind(&paid("101")[..]),
        None,
        "above the bound"
    );
    assert_eq!(ledgered.body_to_bind(&paid("0")[..]), None, "no body");
    assert_eq!(ledgered.body_to_bind(&paid("lots")[..]), None);
    assert_eq!(
        ledgered.body_to_bind(&[("x-payment", "e30="), ("content-length", "7")][..]),
        Some(BodyToBind::Read(7))
    );
    assert_eq!(
        ledgered.body_to_bind(&[("content-length", "42")][..]),
        None,
        "no payment"
    );
    assert_eq!(
        ledgered.body_to_bind(
            &[
                ("payment-signature", "e30="),
                ("transfer-encoding", "chunked")
            ][..]
        ),
        None,
        "unknown length"
    );
    assert_eq!(
        ledgered.body_to_bind(&[("payment-signature", "e30=")][..]),
        Some(BodyToBind::IfEmpty),
        "no length: bound as empty where the adapter knows the body is"
    );
    assert_eq!(gate(|b| b).body_to_bind(&paid("42")[..]), None, "no ledger");
}

/// A gate without a ledger refuses a table whose routes declare `paymentIdentifier`, naming
/// the route; with a ledger it builds.
#[cfg(feature = "sqlite")]
#[test]
fn a_gate_without_a_ledger_refuses_a_route_declaring_payment_identifier() {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /weather, name: weather, price: "$0.001" }
  - { path: /orders, name: orders, price: "$0.001", paymentIdentifier: required }
"#,
    )
    .unwrap();
    let routes = || RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap());
    let error = Gate::builder(routes(), Arc::new(Accepting))
        .build()
        .expect_err("no ledger");
    assert!(
        matches!(&error, GateConfigError::PaymentIdentifierWithoutLedger(route) if route == "orders"),
        "{error}"
    );
    assert!(
        error.to_string().contains("need a payment ledger"),
        "{error}"
    );
    let ledger = Arc::new(x402_core::ledger::SqliteLedger::in_memory().unwrap());
    assert!(
        Gate::builder(routes(), Arc::new(Accepting))
            .ledger(ledger)
            .build()
            .is_ok()
    );
}
