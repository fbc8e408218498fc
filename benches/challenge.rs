//! The core's challenge path, without a web framework.
//!
//! - `challenge_lookup/{10,1000,10000}`: what a 402 costs besides the adapter — match the
//!   request against a compiled table of that many priced routes (a mix of literals, `*`, `**`
//!   and segment globs; the request hits the last route declared) and render the
//!   `PAYMENT-REQUIRED` header from the route's precomputed template. `match_request` and
//!   `payment_required_header` are also measured alone.
//! - `admit`: `Gate::admit` for a free route, an unmatched path and a 402 (no payment), with a
//!   plain slice of header pairs as the `HeaderLookup` — the adapter-independent part of every
//!   request through the layer, including building the 402 [`Reply`](x402_core::gate::Reply).
//!
//! Inputs are built outside the timed loops. `cargo bench -p benches --bench challenge`

use std::hint::black_box;

use benches::fixture::{SPEC, SPEC_WEATHER_ONLY, gate, table};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use x402_core::{
    RouteTable,
    gate::{Admission, RequestParts},
    spec::RouteSpec,
    table::RouteMatch,
};

const ROUTE_COUNTS: [usize; 3] = [10, 1_000, 10_000];

/// The path pattern of route `index`: kinds cycle so that the last route is always a literal.
fn pattern(index: usize, count: usize) -> String {
    match (count - 1 - index) % 5 {
        0 => format!("/api/v{}/users-{index}", index % 3),
        1 => format!("/svc-{index}/items/*"),
        2 => format!("/svc-{index}/admin/**"),
        3 => format!("/inference-{index}-*/v1/**"),
        _ => format!("/static/{index}/*.json"),
    }
}

/// A table of `count` priced routes.
fn priced_table(count: usize) -> RouteTable {
    let routes: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "path": pattern(i, count),
                "name": format!("route-{i}"),
                "description": "Weather data",
                "mimeType": "application/json",
            })
        })
        .collect();
    let spec = serde_json::json!({
        "payment": {
            "wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "network": "base-sepolia",
            "defaultPrice": "$0.001",
        },
        "routes": routes,
    });
    let spec = RouteSpec::from_json(&spec.to_string()).expect("bench spec parses");
    RouteTable::from_spec(&spec).expect("bench spec builds")
}

fn challenge_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("challenge_lookup");
    for count in ROUTE_COUNTS {
        let table = priced_table(count);
        let last = count - 1;
        let path = format!("/api/v{}/users-{last}", last % 3);
        let url = format!("http://api.example.com{path}");
        let request = RequestParts::new("GET", Some("api.example.com"), &path);
        let Ok(RouteMatch::Priced(route, _)) = table.match_request(&request) else {
            panic!("{path} must match a priced route");
        };
        assert_eq!(route.index(), last);

        group.bench_function(BenchmarkId::new("match_and_header", count), |b| {
            b.iter(|| match table.match_request(black_box(&request)) {
                Ok(RouteMatch::Priced(_, offer)) => {
                    offer.payment_required_header(black_box(&url), "Payment required")
                }
                _ => unreachable!("checked above"),
            });
        });
        group.bench_function(BenchmarkId::new("match_request", count), |b| {
            b.iter(|| table.match_request(black_box(&request)).is_ok());
        });
    }
    let table = priced_table(10);
    let offer = table.routes()[9].offer().expect("priced");
    group.bench_function("payment_required_header", |b| {
        b.iter(|| {
            offer.payment_required_header(
                black_box("http://api.example.com/api/v0/users-9"),
                "Payment required",
            )
        });
    });
    group.finish();
}

fn admit(c: &mut Criterion) {
    let headers: &[(&str, &str)] = &[
        ("host", "api.example.com"),
        ("accept", "*/*"),
        ("user-agent", "bench/1.0"),
    ];
    let parts = |path| RequestParts {
        method: "GET",
        scheme: None,
        host: Some("api.example.com"),
        path_and_query: path,
        headers,
    };
    let with_free_route = gate(table(SPEC), true);
    let weather_only = gate(table(SPEC_WEATHER_ONLY), true);
    let cases = [
        ("free_route", &with_free_route, parts("/health")),
        ("unmatched", &weather_only, parts("/health")),
        ("402", &with_free_route, parts("/weather")),
    ];

    let mut group = c.benchmark_group("admit");
    for (name, gate, parts) in &cases {
        match (gate.admit(parts), *name) {
            (Admission::Pass, "free_route" | "unmatched") => {}
            (Admission::Reply(reply), "402") => assert_eq!(reply.status(), 402),
            (other, name) => panic!("{name}: unexpected {other:?}"),
        }
        group.bench_function(*name, |b| b.iter(|| gate.admit(black_box(parts))));
    }
    group.finish();
}

criterion_group!(benches, challenge_lookup, admit);
criterion_main!(benches);
