//! The server the load test (`benches/load/run.sh`) drives: the bench app of the in-process
//! benchmarks, served over HTTP/1.1 on loopback three ways at once, and the pre-signed payments
//! the paid runs send.
//!
//! ```text
//! load-server serve [--local-checks on|off]   # prints "bare <port>", "x402 <port>", "x402-v2-only <port>", "x402-ledger <port>", "x402-axum <port>"
//! load-server sign <ours|x402-axum> <count>   # one PAYMENT-SIGNATURE value per line
//! load-server probe <count> [--local-checks on|off]  # the paid path's tail, in process
//! load-server sweep <count>                    # the replay guard's claims, timed one by one
//! ```
//!
//! `serve` listens on three ephemeral ports of 127.0.0.1: the bare axum app (`GET /weather`,
//! `GET /health`); the same app with our layer added by `Router::layer` (`/health` free, `/weather` priced),
//! with the in-process instant facilitator of the benchmarks (it answers at once and settles
//! nothing: the load test measures the server, not a chain), the default in-memory replay
//! guard, a clock fixed at the payments' signing time and the local EVM checks (signature
//! recovery included) on or off; the same with v1 off (`x402-v2-only`: its 402 body is `{}`, as
//! the official v2 server's, which shows what the v1 body costs on the wire); and the app with
//! `x402-axum` and its equivalent instant facilitator. `x402-ledger` is our layer with the local
//! checks off and a SQLite payment ledger (WAL, `synchronous = FULL`) in the file
//! `LOAD_SERVER_LEDGER` names (default: a new file in the temp directory), removed first. **This is a benchmark server, not a deployment**: its facilitator accepts
//! every payment that passes our own checks.
//!
//! `sign` writes `count` payments with distinct nonces (each is accepted once by our replay
//! guard, so a paid run needs one per request), signed for our offer or for the one
//! `x402-axum` advertises. The `x402-axum` server and payments need the `incumbent` feature
//! (`run.sh` builds with it); without it, `serve` prints the first three ports only.
//!
//! `LOAD_SERVER_SERVICE_TIMES=1 load-server serve …` also prints, once a second, how many
//! requests the server served and the slowest service time (see `service_times`).
//!
//! `probe` is for finding what stalls the paid path: it signs `count` distinct payments, then
//! serves them one at a time to our layered app in process (no socket, no runtime: see
//! `benches::axum_app::serve`), timing each call, and prints the distribution of the call times
//! and the slowest calls with their index (a stall at the same index in every run points at
//! the replay guard's growth or its sweep; anywhere at random, at something else).

// A command-line tool: its output is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{io::Write, path::PathBuf, process::ExitCode, sync::Arc, thread};

use benches::{
    axum_app::{bare, layered},
    fixture::{SPEC, gate, gate_v2_only, gate_with_ledger, requirement, signed_payments_in, table},
};
use tokio::net::TcpListener;
use x402_core::{
    ErrorChain,
    ledger::{Ledger, SqliteLedger},
};

const USAGE: &str = "usage: load-server serve [--local-checks on|off]\n       load-server sign <ours|x402-axum> <count>\n       load-server probe <count> [--local-checks on|off]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve"] => serve(true),
        ["serve", "--local-checks", "on"] => serve(true),
        ["serve", "--local-checks", "off"] => serve(false),
        ["probe", count, rest @ ..] => match (count.parse(), rest) {
            (Ok(count), [] | ["--local-checks", "on"]) => probe(count, true),
            (Ok(count), ["--local-checks", "off"]) => probe(count, false),
            _ => Err(USAGE.to_owned()),
        },
        ["sweep", count] => match count.parse() {
            Ok(count) => {
                sweep(count);
                Ok(())
            }
            Err(_) => Err(format!("count: not a number: {count}")),
        },
        ["sign", target, count] => match count.parse() {
            Ok(count) => sign(target, count),
            Err(_) => Err(format!("count: not a number: {count}")),
        },
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(local_checks: bool) -> Result<(), String> {
    // As `#[tokio::main]` does: one worker per CPU this process may run on (`taskset` limits
    // it to one).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let apps = [
            ("bare", bare()),
            ("x402", layered(gate(table(SPEC), local_checks))),
            ("x402-v2-only", layered(gate_v2_only(table(SPEC)))),
            (
                "x402-ledger",
                layered(gate_with_ledger(table(SPEC), sqlite_ledger()?)),
            ),
            #[cfg(feature = "incumbent")]
            ("x402-axum", benches::incumbent::app()),
        ];
        let timed = std::env::var_os("LOAD_SERVER_SERVICE_TIMES").is_some();
        if timed {
            tokio::spawn(service_times::report());
        }
        let apps = apps.map(|(name, app)| {
            if timed {
                (
                    name,
                    app.layer(axum::middleware::from_fn(service_times::timed)),
                )
            } else {
                (name, app)
            }
        });
        let mut tasks = Vec::new();
        for (name, app) in apps {
            let listener = bind().await?;
            println!("{name} {}", port(&listener)?);
            tasks.push(tokio::spawn(
                async move { axum::serve(listener, app).await },
            ));
        }
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        for task in tasks {
            task.await
                .map_err(|e| format!("server task: {e}"))?
                .map_err(|e| format!("server: {e}"))?;
        }
        Ok(())
    })
}

/// The `x402-ledger` app's ledger: a fresh SQLite file at `LOAD_SERVER_LEDGER` (or in the temp
/// directory).
fn sqlite_ledger() -> Result<Arc<dyn Ledger>, String> {
    let path = std::env::var_os("LOAD_SERVER_LEDGER").map_or_else(
        || std::env::temp_dir().join(format!("x402-load-ledger-{}.db", std::process::id())),
        PathBuf::from,
    );
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    let ledger = SqliteLedger::open(&path)
        .map_err(|e| format!("the ledger {}: {}", path.display(), ErrorChain(&e)))?;
    Ok(Arc::new(ledger))
}

/// With `LOAD_SERVER_SERVICE_TIMES` set, `serve` times every request inside the server (from
/// the router's call to its response, our layer and the handler included) and prints once a
/// second to stderr how many were served and the slowest: a long stall seen by `wrk` but not
/// here was spent outside the service (scheduling, the socket, the client).
mod service_times {
    use std::{
        sync::atomic::{AtomicU64, Ordering},
        time::{Duration, Instant},
    };

    use axum::{extract::Request, middleware::Next, response::Response};

    static SERVED: AtomicU64 = AtomicU64::new(0);
    static OVER_1MS: AtomicU64 = AtomicU64::new(0);
    static MAX_NS: AtomicU64 = AtomicU64::new(0);

    pub(super) async fn timed(request: Request, next: Next) -> Response {
        let t0 = Instant::now();
        let response = next.run(request).await;
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        SERVED.fetch_add(1, Ordering::Relaxed);
        if ns > 1_000_000 {
            OVER_1MS.fetch_add(1, Ordering::Relaxed);
        }
        MAX_NS.fetch_max(ns, Ordering::Relaxed);
        response
    }

    pub(super) async fn report() {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            let t0 = Instant::now();
            tick.tick().await;
            // How late the timer fired: the worker was busy (or descheduled) that long.
            let late = t0.elapsed().saturating_sub(Duration::from_secs(1));
            eprintln!(
                "service t={:>3} s served={} over_1ms={} max={} us timer_late={} us",
                started.elapsed().as_secs(),
                SERVED.swap(0, Ordering::Relaxed),
                OVER_1MS.swap(0, Ordering::Relaxed),
                MAX_NS.swap(0, Ordering::Relaxed) / 1000,
                late.as_micros(),
            );
        }
    }
}

async fn bind() -> Result<TcpListener, String> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind 127.0.0.1:0: {e}"))
}

fn port(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local address: {e}"))
}

fn probe(count: usize, local_checks: bool) -> Result<(), String> {
    use std::time::Instant;

    use axum::http::HeaderValue;
    use benches::axum_app::{request, serve};

    eprintln!("signing {count} payments");
    let payments: Vec<HeaderValue> = sign_pool(&requirement(&table(SPEC), "weather"), count)
        .into_iter()
        .map(|p| HeaderValue::try_from(p).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let app = layered(gate(table(SPEC), local_checks));
    eprintln!("serving them one at a time");
    let started = Instant::now();
    let mut times: Vec<(u64, usize)> = Vec::with_capacity(count);
    for (index, payment) in payments.iter().enumerate() {
        let t0 = Instant::now();
        let answer = serve(&app, request("/weather", Some(payment)));
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if answer.status != 200 {
            return Err(format!("payment {index}: status {}", answer.status));
        }
        times.push((ns, index));
    }
    let total = started.elapsed();
    let mut sorted: Vec<u64> = times.iter().map(|&(ns, _)| ns).collect();
    sorted.sort_unstable();
    // The q-quantile by rank: `per_10k` ten-thousandths of the way up the sorted times.
    let at = |per_10k: usize| sorted[(sorted.len() * per_10k / 10_000).min(sorted.len() - 1)];
    println!(
        "{count} paid calls in {:.2} s, local checks {}: p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns",
        total.as_secs_f64(),
        if local_checks { "on" } else { "off" },
        at(5_000),
        at(9_900),
        at(9_990),
        at(9_999),
        sorted[sorted.len() - 1],
    );
    times.sort_unstable_by(|a, b| b.cmp(a));
    println!("slowest calls (ns at index):");
    for (ns, index) in times.iter().take(12) {
        println!("  {ns:>12} at {index}");
    }
    Ok(())
}

/// Claims and confirms (settles) `count` distinct keys on a fresh in-memory replay guard, then
/// `count` more after every other one of the first has expired, timing each claim and confirm;
/// prints the slowest of each pass (the expiry sweep runs inside one claim now and then).
fn sweep(count: usize) {
    use std::time::Instant;

    use benches::fixture::poll_once;
    use x402_core::replay::{InMemoryReplayGuard, ReplayGuard as _, ReplayKey};

    let guard = InMemoryReplayGuard::new();
    let key = |i: usize| ReplayKey::from_bytes(&(i as u64).to_be_bytes());
    for (pass, now) in [(0, 1_u64), (1, 2_000)] {
        let mut slowest: Vec<(u64, usize)> = Vec::new();
        let started = Instant::now();
        for i in pass * count..(pass + 1) * count {
            // Even keys expire at 1 000, odd ones much later.
            let expires_at = if i % 2 == 0 { 1_000 } else { 1_000_000_000 };
            let t0 = Instant::now();
            let claimed = poll_once(guard.claim(key(i), expires_at, now)).unwrap_or(false);
            poll_once(guard.confirm(key(i), expires_at));
            let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            assert!(claimed, "key {i} claimed");
            slowest.push((ns, i));
        }
        let elapsed = started.elapsed();
        slowest.sort_unstable_by(|a, b| b.cmp(a));
        println!(
            "pass {pass}: {count} claims at now={now} in {:.3} s, {} entries after; slowest (ns at index): {:?}",
            elapsed.as_secs_f64(),
            guard.len(),
            &slowest[..6.min(slowest.len())]
        );
    }
}

/// `count` payments for `requirement`, signed on every CPU.
fn sign_pool(requirement: &x402_core::wire::v2::PaymentRequirements, count: usize) -> Vec<String> {
    // Signing takes tens of µs each: split the work over the CPUs.
    let threads = thread::available_parallelism().map_or(1, usize::from);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    signed_payments_in(requirement, count * t / threads..count * (t + 1) / threads)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

fn sign(target: &str, count: usize) -> Result<(), String> {
    let requirement = match target {
        "ours" => requirement(&table(SPEC), "weather"),
        #[cfg(feature = "incumbent")]
        "x402-axum" => benches::incumbent::offered_requirement(),
        _ => return Err(USAGE.to_owned()),
    };
    let payments = sign_pool(&requirement, count);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for payment in payments {
        writeln!(out, "{payment}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
