//! Path normalisation and route matching.
//!
//! `first_match` over 10, 1 000 and 10 000 routes (a mix of literals, `*`, `**`, segment globs
//! and a few case-insensitive routes), for paths that match a route at or near the end of the
//! declaration order (a literal, a glob with `**`, a case-insensitive literal after `*`) and for
//! one that matches nothing. The target is that 10 000 routes cost at
//! most twice what 10 cost. Inputs are built outside the timed loops.
//!
//! Run with `cargo bench -p benches --bench matching`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use x402_core::{
    matcher::PathMatcher,
    path::NormalizedPath,
    pattern::{MatchCase, PathPattern},
};

const ROUTE_COUNTS: [usize; 3] = [10, 1_000, 10_000];

/// The route at `index` of `count`. Kinds cycle so that the last routes are the same kinds
/// whatever the count: route `count - 1 - k` is of kind `k % 8`.
fn route(index: usize, count: usize) -> PathPattern {
    let kind = (count - 1 - index) % 8;
    let (text, case) = match kind {
        0 => (
            format!("/api/v{}/users-{index}", index % 3),
            MatchCase::Sensitive,
        ),
        1 => (format!("/svc-{index}/items/*"), MatchCase::Sensitive),
        2 => (format!("/svc-{index}/admin/**"), MatchCase::Sensitive),
        3 => (format!("/inference-{index}-*/v1/**"), MatchCase::Sensitive),
        4 => (format!("/static/{index}/*.json"), MatchCase::Sensitive),
        5 => (
            format!("/tenants/*/resource-{index}"),
            MatchCase::Insensitive,
        ),
        6 => (format!("/files-{index}/**/raw"), MatchCase::Sensitive),
        _ => (
            format!("/ethereum-{index}-*/execution/*"),
            MatchCase::Sensitive,
        ),
    };
    PathPattern::parse(&text, case).expect("valid bench pattern")
}

fn matcher(count: usize) -> PathMatcher {
    PathMatcher::new((0..count).map(|index| route(index, count)).collect())
}

fn path(text: &str) -> NormalizedPath<'static> {
    NormalizedPath::parse(text)
        .expect("valid bench path")
        .into_owned()
}

fn first_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_match");
    for count in ROUTE_COUNTS {
        let matcher = matcher(count);
        let last = count - 1;
        // (name, path, the route it matches)
        let cases = [
            // The last route: the literal `/api/v{i % 3}/users-{i}`.
            (
                "literal_last",
                path(&format!("/api/v{}/users-{last}", last % 3)),
                Some(last),
            ),
            // Route `count - 4`: `/inference-{i}-*/v1/**`, a glob and a `**`.
            (
                "glob_near_end",
                path(&format!(
                    "/inference-{}-prod/v1/chat/completions",
                    count - 4
                )),
                Some(count - 4),
            ),
            // Route `count - 6`: the case-insensitive `/tenants/*/resource-{i}`.
            (
                "insensitive_near_end",
                path(&format!("/tenants/acme/RESOURCE-{}", count - 6)),
                Some(count - 6),
            ),
            ("no_match", path("/inference-none/v2/models/x"), None),
        ];
        for (name, path, expected) in &cases {
            assert_eq!(matcher.first_match(path, |_| true), *expected, "{name}");
            group.bench_with_input(BenchmarkId::new(*name, count), path, |b, path| {
                b.iter(|| matcher.first_match(black_box(path), |_| true));
            });
        }
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize");
    let inputs = [
        ("clean", "/api/v1/users/12345?expand=true"),
        ("messy", "//api/%76%31//users/%31%32%33/?x=1#frag"),
    ];
    for (name, input) in inputs {
        group.bench_with_input(name, input, |b, input| {
            b.iter(|| NormalizedPath::parse(black_box(input)).map(|path| path.as_str().len()));
        });
    }
    group.finish();
}

criterion_group!(benches, first_match, parse);
criterion_main!(benches);
