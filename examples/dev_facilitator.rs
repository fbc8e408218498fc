//! The dev facilitator over HTTP, for servers that take a facilitator URL.
//!
//! ```text
//! cargo run -p examples --example dev_facilitator
//! X402_FACILITATOR_URL=http://127.0.0.1:4022 cargo run -p examples --example quickstart
//! ```
//!
//! Serves `POST /verify`, `POST /settle` and `GET /supported` on `127.0.0.1:4022` (`PORT`
//! overrides) for Base Sepolia, with [`x402_tower::dev_facilitator::router`]. It **settles
//! nothing on chain**: it checks signatures and keeps an in-memory ledger, for tests and demos.

// Printing what it serves, and each call, is this example's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, sync::Arc};

use axum::{extract::Request, middleware::Next, response::Response};
use x402_core::facilitator::dev::{DEV_MARKER_VALUE, DevFacilitator, DevNetwork};

const DEFAULT_PORT: u16 = 4022;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let (listener, address) = examples::listen_on_loopback(DEFAULT_PORT, "dev_facilitator").await?;

    let network = DevNetwork::base_sepolia();
    println!("x402 dev facilitator on http://{address}");
    println!("  POST /verify     is this payment valid?");
    println!("  POST /settle     \"settle\" it (recorded in memory only)");
    println!(
        "  GET  /supported  exact on {} (v2) and {} (v1)",
        network.caip2(),
        network.v1_name().unwrap_or("-")
    );
    println!(
        "\nWARNING: dev facilitator: {DEV_MARKER_VALUE}. It checks EIP-3009 signatures for real, \
         but no\ntoken moves and its transaction hashes are made up. For tests and demos only."
    );
    println!("\nPoint the quickstart at it:");
    println!(
        "  X402_FACILITATOR_URL=http://{address} cargo run -p examples --example quickstart\n"
    );

    let dev = Arc::new(DevFacilitator::new([network]));
    let app = x402_tower::dev_facilitator::router(dev).layer(axum::middleware::from_fn(log));
    axum::serve(listener, app)
        .await
        .map_err(|error| format!("the server stopped: {error}"))
}

/// Prints each call and its status.
async fn log(request: Request, next: Next) -> Response {
    let call = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    println!("{call} -> {}", response.status());
    response
}
