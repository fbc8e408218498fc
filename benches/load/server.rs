//! The server the load test (`benches/load/run.sh`) drives: the bench app of the in-process
//! benchmarks, served over HTTP/1.1 on loopback three ways at once, and the pre-signed payments
//! the paid runs send.
//!
//! ```text
//! load-server serve [--local-checks on|off]   # prints "bare <port>", "x402 <port>", "x402-axum <port>"
//! load-server sign <ours|x402-axum> <count>   # one PAYMENT-SIGNATURE value per line
//! ```
//!
//! `serve` listens on three ephemeral ports of 127.0.0.1: the bare axum app (`GET /weather`,
//! `GET /health`); the same app with our layer added by `Router::layer` (`/health` free, `/weather` priced),
//! with the in-process instant facilitator of the benchmarks (it answers at once and settles
//! nothing: the load test measures the server, not a chain), the default in-memory replay
//! guard, a clock fixed at the payments' signing time and the local EVM checks (signature
//! recovery included) on or off; and the app with `x402-axum` and its equivalent instant
//! facilitator. **This is a benchmark server, not a deployment**: its facilitator accepts
//! every payment that passes our own checks.
//!
//! `sign` writes `count` payments with distinct nonces (each is accepted once by our replay
//! guard, so a paid run needs one per request), signed for our offer or for the one
//! `x402-axum` advertises. The `x402-axum` server and payments need the `incumbent` feature
//! (`run.sh` builds with it); without it, `serve` prints the first two ports only.

// A command-line tool: its output is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{io::Write, process::ExitCode, thread};

use benches::{
    axum_app::{bare, layered},
    fixture::{SPEC, gate, requirement, signed_payments_in, table},
};
use tokio::net::TcpListener;

const USAGE: &str = "usage: load-server serve [--local-checks on|off]\n       load-server sign <ours|x402-axum> <count>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve"] => serve(true),
        ["serve", "--local-checks", "on"] => serve(true),
        ["serve", "--local-checks", "off"] => serve(false),
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
            #[cfg(feature = "incumbent")]
            ("x402-axum", benches::incumbent::app()),
        ];
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

fn sign(target: &str, count: usize) -> Result<(), String> {
    let requirement = match target {
        "ours" => requirement(&table(SPEC), "weather"),
        #[cfg(feature = "incumbent")]
        "x402-axum" => benches::incumbent::offered_requirement(),
        _ => return Err(USAGE.to_owned()),
    };
    // Signing takes tens of µs each: split the work over the CPUs.
    let threads = thread::available_parallelism().map_or(1, usize::from);
    let payments: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let requirement = &requirement;
                scope.spawn(move || {
                    signed_payments_in(requirement, count * t / threads..count * (t + 1) / threads)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for payment in payments {
        writeln!(out, "{payment}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
