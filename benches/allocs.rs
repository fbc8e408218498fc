//! Heap allocations per request on every path of the `tower` benchmark, counted with a
//! counting global allocator, with no metrics recorder installed and with one (metrics-util's
//! `DebuggingRecorder`, a registry like the Prometheus exporter's), plus what one `counter!`
//! call with runtime label values allocates in each case.
//!
//! A count covers serving one request (the layer, axum, the handler, the facilitator's answer,
//! reading the body, dropping the response); building the request is not counted. Paid paths
//! cycle through pre-signed payments with the default in-memory replay guard, whose map grows
//! as payments are remembered: its occasional reallocation is why the mean can exceed the
//! median there.
//!
//! The allocator is `stats_alloc`'s instrumented `System` allocator: a global allocator needs
//! an `unsafe impl GlobalAlloc`, which the workspace forbids (`unsafe_code = "forbid"`), and
//! this 300-line dependency-free crate keeps that `unsafe` out of our code while leaving the
//! workspace lint table shared rather than copied and relaxed for this crate.
//!
//! `cargo bench -p benches --features incumbent --bench allocs` (without the `incumbent`
//! feature, the `x402-axum` paths are left out).
//!
//! Profiling: with `X402_PROFILE=<path name>` (e.g. `402/around_router`) and optionally
//! `X402_PROFILE_CALLS=<n>` (default 1000), only that path is served, `n` times, each call
//! through the never-inlined `measured_serve`, so that
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_serve*'` counts
//! the instructions of exactly those calls.

use std::{alloc::System, hint::black_box, sync::Arc};

use axum::{body::Body, http::Request};
use benches::axum_app::{Answer, Scenario, scenarios, scenarios_with_pool};
use metrics_util::debugging::{DebuggingRecorder, Snapshotter};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARM_UP: usize = 64;
const SAMPLES: usize = 512;

fn main() {
    if let Ok(name) = std::env::var("X402_PROFILE") {
        let calls = std::env::var("X402_PROFILE_CALLS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        profile(&name, calls);
        return;
    }
    // `cargo test --benches` runs this without `--bench`: check that the paths work, quickly.
    let samples = if std::env::args().any(|a| a == "--bench") {
        SAMPLES
    } else {
        8
    };

    let mut scenarios = scenarios();
    let without: Vec<Counts> = scenarios.iter_mut().map(|s| count(s, samples)).collect();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let with: Vec<Counts> = metrics::with_local_recorder(&recorder, || {
        scenarios.iter_mut().map(|s| count(s, samples)).collect()
    });
    assert!(
        requests_counted(&snapshotter) > 0,
        "the recorder saw x402_requests_total"
    );
    report(&scenarios, &without, &with);
    report_counter_macro(&recorder);
}

/// Allocations per request over `samples` requests.
#[derive(Debug, Clone, Copy)]
struct Counts {
    median: usize,
    min: usize,
    max: usize,
    mean: f64,
    median_bytes: usize,
}

fn count(scenario: &mut Scenario, samples: usize) -> Counts {
    let mut batch = Vec::with_capacity(1);
    for _ in 0..WARM_UP {
        scenario.prepare(1, &mut batch);
        for request in batch.drain(..) {
            black_box(scenario.serve(request));
        }
    }
    let mut allocations = Vec::with_capacity(samples);
    let mut bytes = Vec::with_capacity(samples);
    while allocations.len() < samples {
        scenario.prepare(1, &mut batch);
        let Some(request) = batch.pop() else { continue };
        let region = Region::new(GLOBAL);
        let answer = scenario.serve(request);
        let change = region.change();
        assert_eq!(answer.status, scenario.expected_status, "{}", scenario.name);
        allocations.push(change.allocations + change.reallocations);
        bytes.push(change.bytes_allocated);
    }
    let mean = allocations.iter().sum::<usize>() as f64 / samples as f64;
    allocations.sort_unstable();
    bytes.sort_unstable();
    Counts {
        median: allocations[samples / 2],
        min: allocations[0],
        max: allocations[samples - 1],
        mean,
        median_bytes: bytes[samples / 2],
    }
}

fn requests_counted(snapshotter: &Snapshotter) -> usize {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "x402_requests_total")
        .count()
}

#[allow(clippy::print_stdout)] // a bench harness reports on stdout
fn report(scenarios: &[Scenario], without: &[Counts], with: &[Counts]) {
    println!();
    println!(
        "heap allocations per request (allocations + reallocations; median [min–max] mean), \
         request construction not counted"
    );
    println!(
        "| {:<34} | {:>26} | {:>7} | {:>26} | {:>6} |",
        "path", "no recorder", "bytes", "with a recorder", "vs bare"
    );
    println!(
        "|{:-<36}|{:->28}|{:->9}|{:->28}|{:->8}|",
        "", ":", ":", ":", ":"
    );
    let median_of = |name: &str| {
        scenarios
            .iter()
            .position(|s| s.name == name)
            .map(|i| without[i].median)
    };
    for ((scenario, without), with) in scenarios.iter().zip(without).zip(with) {
        let extra = median_of(scenario.baseline).map_or(String::new(), |b| {
            format!("{:+}", without.median as i64 - b as i64)
        });
        println!(
            "| {:<34} | {:>26} | {:>7} | {:>26} | {:>6} |",
            scenario.name,
            format_counts(without),
            without.median_bytes,
            format_counts(with),
            extra,
        );
    }
    if cfg!(not(feature = "incumbent")) {
        println!("x402-axum is not in this report: add `--features incumbent` for its paths.");
    }
}

fn format_counts(counts: &Counts) -> String {
    format!(
        "{} [{}–{}] {:.2}",
        counts.median, counts.min, counts.max, counts.mean
    )
}

/// What one `counter!` call with runtime label values allocates (the shape of the gate's
/// per-request metrics): the macro builds a `Key` with a `Vec` of labels on every call.
#[allow(clippy::print_stdout)] // a bench harness reports on stdout
fn report_counter_macro(recorder: &DebuggingRecorder) {
    let route: Arc<str> = Arc::from("weather");
    let chain: Arc<str> = Arc::from("eip155:84532");
    let call = || {
        metrics::counter!(
            "x402_bench_total",
            "route" => route.clone(),
            "chain" => chain.clone(),
            "outcome" => "payment_required",
        )
        .increment(1);
    };
    let allocations = || {
        call(); // the first call registers the series
        let region = Region::new(GLOBAL);
        call();
        let change = region.change();
        change.allocations + change.reallocations
    };
    let without = allocations();
    let with = metrics::with_local_recorder(recorder, allocations);
    println!();
    println!(
        "one counter!(name, 3 runtime labels).increment(1): {without} allocation(s) with no \
         recorder, {with} with a recorder (series already registered)"
    );
}

/// The profiling mode: serve `calls` requests of the path `name`, each through
/// [`measured_serve`].
#[allow(clippy::print_stdout)] // a bench harness reports on stdout
fn profile(name: &str, calls: usize) {
    // Enough payments for the warm-up, the check and the calls: signing is slow under valgrind.
    let mut scenarios = scenarios_with_pool(calls + WARM_UP + 1);
    let Some(scenario) = scenarios.iter_mut().find(|s| s.name == name) else {
        let names: Vec<_> = scenarios.iter().map(|s| s.name).collect();
        panic!("no path named {name}; the paths are {names:?}");
    };
    let mut batch = Vec::with_capacity(calls);
    scenario.prepare(WARM_UP, &mut batch);
    for request in batch.drain(..) {
        black_box(scenario.serve(request));
    }
    let mut served = 0;
    while served < calls {
        scenario.prepare(calls - served, &mut batch);
        served += batch.len();
        for request in batch.drain(..) {
            let answer = measured_serve(scenario, request);
            assert_eq!(answer.status, scenario.expected_status);
        }
    }
    println!("served {calls} requests of {name} through measured_serve");
}

#[inline(never)]
fn measured_serve(scenario: &mut Scenario, request: Request<Body>) -> Answer {
    scenario.serve(request)
}
