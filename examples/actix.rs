//! The quickstart server on actix-web: `GET /health` free, `GET /weather` paid ($0.001 in USDC
//! on Base Sepolia), `GET /broken` priced the same but always failing (500), hence never charged.
//! Beside them, as in the `metered` example: `GET /metered?tokens=N` (`scheme: upto`, at most
//! $0.001; the handler charges one atomic unit per token by putting a [`SettlementOverrides`] in
//! its response extensions) and `GET /permit2` ($0.001 `exact`, paid through Permit2).
//!
//! ```sh
//! cargo run -p examples --example actix
//! ```
//!
//! Settings, from the environment:
//!
//! - `PORT`: the port on 127.0.0.1 (default 4021);
//! - `X402_PAY_TO`: the address paid (default a demo address);
//! - `X402_FACILITATOR_URL`: a real facilitator (e.g. `https://x402.org/facilitator`). Without
//!   it the server uses the **dev facilitator, which settles nothing on chain**: it checks
//!   signatures locally and gives the resource away. For trying the flow only.
//!
//! The route table, the facilitator and the gate are built once, before `HttpServer::new`; each
//! worker's `X402` middleware shares them (the gate is a pair of `Arc`s). The table is built with
//! the facilitator's `/supported` answer: an `upto` offer names the facilitator that may settle
//! it.

#![allow(clippy::print_stdout, reason = "an example prints its banner")]

use std::error::Error;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use alloy_primitives::U256;
use x402_actix::{Gate, Paid, RouteTableHandle, SettlementOverrides, X402};
use x402_core::{RouteTable, spec::RouteSpec};

/// The address paid when `X402_PAY_TO` is not set (a demo address; no key is known for it here).
const DEMO_PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

/// The routes: `/weather`, `/broken`, `/metered` (`upto`) and `/permit2` priced, `/health` free.
/// The wallet comes from `X402_PAY_TO`.
const SPEC: &str = r#"
payment: { network: base-sepolia }
routes:
  - { path: /weather, name: weather, methods: [GET], price: "$0.001", description: Weather data, mimeType: application/json }
  - { path: /health, name: health, free: true }
  - { path: /broken, name: broken, methods: [GET], price: "$0.001", description: "Always fails with 500, so it is never charged" }
  - { path: /metered, name: metered, methods: [GET], scheme: upto, price: "$0.001", description: "One atomic unit of USDC per token, at most $0.001", mimeType: application/json }
  - { path: /permit2, name: permit2, methods: [GET], price: "$0.001", assetTransferMethod: permit2, description: Paid through Permit2, mimeType: application/json }
"#;

async fn health() -> &'static str {
    "ok"
}

/// Fails after the payment was verified: settlement is skipped (status >= 400).
async fn broken() -> HttpResponse {
    HttpResponse::InternalServerError().body("the handler failed: this request is not charged")
}

async fn weather(Paid(payment): Paid) -> HttpResponse {
    let payer = payment
        .payer
        .map_or_else(|| "unknown".to_owned(), |p| p.to_checksum(None));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(
            r#"{{"weather":"sunny","temperature":70,"paidBy":"{payer}"}}"#
        ))
}

/// Charges one atomic unit per token (`?tokens=N`), at most the $0.001 the buyer authorized.
async fn metered(request: HttpRequest) -> HttpResponse {
    let tokens = request
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("tokens="))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let mut response = HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"tokens":{tokens}}}"#));
    response
        .extensions_mut()
        .insert(SettlementOverrides::atomic(U256::from(tokens)));
    response
}

async fn permit2(Paid(payment): Paid) -> HttpResponse {
    let payer = payment
        .payer
        .map_or_else(|| "unknown".to_owned(), |p| p.to_checksum(None));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"paidBy":"{payer}","via":"permit2"}}"#))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|e| format!("PORT={port:?} is not a port number: {e}"))?,
        Err(_) => 4021,
    };
    let pay_to = std::env::var("X402_PAY_TO").unwrap_or_else(|_| DEMO_PAY_TO.to_owned());

    let mut spec = RouteSpec::from_yaml(SPEC)?;
    spec.payment.wallet = Some(pay_to.clone());
    let (facilitator, facilitator_name) = examples::facilitator_from_env()?;
    let supported = facilitator.supported().await?;
    let routes = RouteTableHandle::new(
        RouteTable::builder()
            .supported(&supported)
            .spec(&spec)
            .build()?,
    );
    let gate = Gate::builder(routes, facilitator).build()?;

    let base = format!("http://127.0.0.1:{port}");
    println!("x402 actix-web example on {base}");
    println!("  facilitator: {facilitator_name}");
    println!("  pay to:      {pay_to} ($0.001 USDC on base-sepolia per /weather)");
    println!();
    println!("  curl -i {base}/health     # free: 200 ok");
    println!("  curl -i {base}/weather    # 402 Payment Required, PAYMENT-REQUIRED header");

    HttpServer::new(move || {
        App::new()
            .wrap(X402::new(gate.clone()))
            .route("/health", web::get().to(health))
            .route("/weather", web::get().to(weather))
            .route("/broken", web::get().to(broken))
            .route("/metered", web::get().to(metered))
            .route("/permit2", web::get().to(permit2))
    })
    // Nagle off, so a response written in parts never waits for the client's delayed ACK.
    .tcp_nodelay(true)
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
