//! Usage-based billing (`upto`) and `exact` by Permit2, on axum.
//!
//! ```sh
//! cargo run -p examples --example metered
//! curl -i 'http://127.0.0.1:4024/metered?tokens=400'   # 402: up to $0.001, by Permit2
//! ```
//!
//! - `GET /metered?tokens=N` is `scheme: upto`: the buyer authorizes at most $0.001 (1000
//!   atomic units of USDC) with a Permit2 signature, and the handler charges what the request
//!   cost, one atomic unit per token: it puts the amount in its response extensions
//!   ([`SettlementOverrides`]), and the layer settles that much after the handler ran. `tokens=0`
//!   charges nothing (no transaction, a receipt with `amount: "0"`); more than 1000 is above
//!   what the buyer authorized, so nothing is settled and the client gets a 500 without the
//!   body.
//! - `GET /permit2` is `exact` $0.001 paid through Permit2 (`assetTransferMethod: permit2`)
//!   instead of EIP-3009: the payer must have approved Permit2 once (else 412).
//! - `GET /health` is free.
//!
//! An `upto` offer names the facilitator that may settle it (`extra.facilitatorAddress`), so the
//! route table is built with the facilitator's `/supported` answer. Settings, from the
//! environment: `PORT` (default 4024), `X402_PAY_TO` (default a demo address) and
//! `X402_FACILITATOR_URL` (without it, the in-process dev facilitator, which settles nothing on
//! chain).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its banner and its errors"
)]

use std::{process::ExitCode, sync::Arc};

use alloy_primitives::U256;
use axum::{Extension, Json, Router, http::Uri, routing::get};
use x402_core::{RouteTable, facilitator::Facilitator, spec::RouteSpec};
use x402_tower::{Gate, Paid, RouteTableHandle, SettlementOverrides, X402Layer};

/// The routes. The wallet comes from `X402_PAY_TO`.
const ROUTES: &str = r#"
payment: { network: base-sepolia }
routes:
  - { path: /metered, name: metered, methods: [GET], scheme: upto, price: "$0.001", description: "One atomic unit of USDC per token, at most $0.001", mimeType: application/json }
  - { path: /permit2, name: permit2, methods: [GET], price: "$0.001", assetTransferMethod: permit2, description: Paid through Permit2, mimeType: application/json }
  - { path: /health, name: health, free: true }
"#;

/// Runs once the buyer authorized up to $0.001; charges one atomic unit per token generated
/// (`?tokens=N`, the work this request did).
async fn metered(uri: Uri) -> (Extension<SettlementOverrides>, Json<serde_json::Value>) {
    let tokens = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("tokens="))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    (
        Extension(SettlementOverrides::atomic(U256::from(tokens))),
        Json(serde_json::json!({ "tokens": tokens })),
    )
}

async fn permit2(Paid(payment): Paid) -> Json<serde_json::Value> {
    let payer = payment.payer.map(|payer| payer.to_checksum(None));
    Json(serde_json::json!({ "paidBy": payer, "via": "permit2" }))
}

/// The app: [`ROUTES`] paid to `pay_to` through `facilitator`.
async fn app(pay_to: &str, facilitator: Arc<dyn Facilitator>) -> Result<Router, String> {
    let mut spec = RouteSpec::from_yaml(ROUTES).map_err(|e| e.to_string())?;
    spec.payment.wallet = Some(pay_to.to_owned());
    // `upto` needs the facilitator's address: build the table with its `/supported`.
    let supported = facilitator
        .supported()
        .await
        .map_err(|e| format!("the facilitator's /supported: {e}"))?;
    let routes = RouteTable::builder()
        .supported(&supported)
        .spec(&spec)
        .build()
        .map_err(|e| e.to_string())?;
    let gate = Gate::builder(RouteTableHandle::new(routes), facilitator)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/metered", get(metered))
        .route("/permit2", get(permit2))
        .route("/health", get(|| async { "ok" }))
        .layer(X402Layer::new(gate)))
}

async fn run() -> Result<(), String> {
    let pay_to = std::env::var("X402_PAY_TO").unwrap_or_else(|_| examples::DEMO_PAY_TO.to_owned());
    let (facilitator, facilitator_name) = examples::facilitator_from_env()?;
    let app = app(&pay_to, facilitator).await?;
    let (listener, address) = examples::listen_on_loopback(4024, "metered").await?;
    println!("x402 metered example on http://{address}");
    println!("  facilitator: {facilitator_name}");
    println!(
        "  curl -i 'http://{address}/metered?tokens=400'   # 402; paid, it charges 400 of 1000"
    );
    println!("  curl -i http://{address}/permit2               # 402; $0.001 by Permit2");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("the server stopped: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("metered: {message}");
            ExitCode::FAILURE
        }
    }
}
