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

use benches::routes::{ROUTE_COUNTS, lookups, matcher};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use x402_core::path::NormalizedPath;

fn first_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_match");
    for count in ROUTE_COUNTS {
        let matcher = matcher(count);
        let cases = lookups(count);
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
