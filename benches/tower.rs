//! The tower/axum adapter on every request path, in process: an axum `Router` with
//! `GET /weather` (small JSON) and `GET /health`, served the way hyper serves it (clone the
//! service, `poll_ready`, `call`, read the body) with no socket and no runtime — everything
//! answers on the first poll.
//!
//! Paths: bare axum; the layer on an unpriced route (a `free: true` route, which is matched and
//! counted, and an unmatched one); the 402 challenge; a paid v2 request with an instant
//! in-process facilitator, the default in-memory replay guard and a fixed clock, with the
//! local signature check on and off. The layer is measured both added with `Router::layer` (as
//! the README shows; axum wraps each route's boxed service) and around the whole router.
//!
//! Paid requests use payments signed before the timed loop (distinct nonces, so the replay
//! guard accepts each once); when the pool of [`PAYMENT_POOL`] is used up the app is rebuilt
//! with a fresh gate and guard, outside the timed stretches. Requests are built outside the
//! timed stretches too; the timed part is serve + read body + drop.
//!
//! After criterion, a table gives each path's median time per call over 7 interleaved rounds
//! and its ratio to the bare request it replaces (`/health` for unpriced paths, `/weather`
//! otherwise) — the PERFORMANCE.md targets are ratios and absolute times of this kind.
//!
//! `cargo bench -p benches --bench tower`

use std::time::Duration;

use benches::axum_app::{PAYMENT_POOL, Scenario, scenarios};
use criterion::Criterion;

fn main() {
    let mut scenarios = scenarios();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("tower");
    for scenario in &mut scenarios {
        group.bench_function(scenario.name, |b| {
            b.iter_custom(|iters| scenario.run(iters));
        });
    }
    group.finish();
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion's test mode).
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list") {
        ratio_table(&mut scenarios);
    }
}

const ROUNDS: usize = 7;
const ROUND_TIME: Duration = Duration::from_millis(40);

/// Median time per call over interleaved rounds, and the ratio to each path's baseline.
#[allow(clippy::print_stdout)] // a bench harness reports on stdout
fn ratio_table(scenarios: &mut [Scenario]) {
    // Calls per round, so each round of each path takes about ROUND_TIME.
    let calls: Vec<u64> = scenarios
        .iter_mut()
        .map(|s| {
            let per_call = (s.run(200) / 200).as_nanos().max(1);
            let calls = (ROUND_TIME.as_nanos() / per_call).clamp(200, 200_000);
            u64::try_from(calls).unwrap_or(200_000)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); scenarios.len()];
    for _ in 0..ROUNDS {
        for ((scenario, calls), samples) in scenarios.iter_mut().zip(&calls).zip(&mut samples) {
            samples.push(scenario.run(*calls).as_secs_f64() / *calls as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    let median_of = |name: &str| {
        scenarios
            .iter()
            .position(|s| s.name == name)
            .map(|i| medians[i])
    };

    println!();
    println!("median of {ROUNDS} interleaved rounds (payment pool {PAYMENT_POOL})");
    println!(
        "| {:<34} | {:>11} | {:>15} | what",
        "path", "µs per call", "ratio to bare"
    );
    println!("|{:-<36}|{:->13}|{:->17}|------", "", ":", ":");
    for (scenario, median) in scenarios.iter().zip(&medians) {
        let ratio = median_of(scenario.baseline).map_or(f64::NAN, |b| median / b);
        let ratio = format!("{ratio:.2}× {}", &scenario.baseline["bare".len()..]);
        println!(
            "| {:<34} | {:>11.3} | {:>15} | {}",
            scenario.name,
            median * 1e6,
            ratio,
            scenario.description,
        );
    }
}
