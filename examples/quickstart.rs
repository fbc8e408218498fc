//! The quickstart: a paid API and a buyer paying it, fully offline.
//!
//! ```text
//! cargo run -p examples --example quickstart                 # pay once, then keep serving
//! cargo run -p examples --example quickstart -- --once       # pay once and exit (0 = paid)
//! cargo run -p examples --example quickstart -- --serve-only # serve only
//! ```
//!
//! The seller is an axum app on `127.0.0.1:4021` (`PORT` overrides): `GET /health` is free,
//! `GET /weather` costs $0.001 in USDC on Base Sepolia, paid to `X402_PAY_TO` (default
//! [`examples::DEMO_PAY_TO`]). Its routes are the YAML of [`examples::ROUTES`]. Payments are
//! checked and settled by the in-process dev facilitator — which settles nothing on chain — or,
//! when `X402_FACILITATOR_URL` is set, by the facilitator at that URL.
//!
//! The buyer is hyper-util's HTTP client wrapped in `x402_tower::client::X402PayLayer`, with
//! spending caps. One `GET /weather` through it makes the whole exchange: 402 with the offer in
//! `PAYMENT-REQUIRED`; the layer picks the offer, checks the caps and signs an EIP-3009
//! authorization; `GET /weather` again with the payment in `PAYMENT-SIGNATURE` → 200 with the
//! receipt in `PAYMENT-RESPONSE`. The quickstart then prints each step from what the layer
//! reports.

// Printing the exchange is this example's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, sync::Arc};

use alloy_primitives::U256;
use examples::{BUYER_KEY, DEMO_PAY_TO, PaidResponse};
use serde::Serialize;
use x402_core::{
    ErrorChain,
    client::{AssetKey, Budget, Buyer, Challenge, Limits, PaymentPolicy},
    evm::signer::PrivateKeySigner,
    facilitator::{
        Facilitator, HttpFacilitator,
        dev::{DEV_MARKER_KEY, DEV_MARKER_VALUE, DevFacilitator, DevNetwork},
    },
    gate::Gate,
    money::format_units,
    network::Network,
    wire::PaymentPayload,
};

const DEFAULT_PORT: u16 = 4021;

const USAGE: &str = "\
usage: cargo run -p examples --example quickstart [-- --once | --serve-only]

  (no flag)     serve, pay for GET /weather once with the built-in buyer, keep serving
  --once        serve, pay once, exit: status 0 if it ended in 200 with a successful receipt
  --serve-only  serve, without the buyer

environment:
  PORT                  port on 127.0.0.1 (default 4021)
  X402_PAY_TO           the address that gets paid (default 0x209693Bc6afc0C5328bA36FaF03C514EF312287C)
  X402_FACILITATOR_URL  a facilitator to use instead of the in-process dev facilitator";

/// What to do after the server is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    BuyThenServe,
    BuyOnce,
    ServeOnly,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(Some(mode)) => mode,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(mode).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("\nerror: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Mode>, String> {
    let mut mode = Mode::BuyThenServe;
    for arg in args {
        let next = match arg.as_str() {
            "--once" => Mode::BuyOnce,
            "--serve-only" => Mode::ServeOnly,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        };
        if mode != Mode::BuyThenServe && mode != next {
            return Err("--once and --serve-only exclude each other".to_owned());
        }
        mode = next;
    }
    Ok(Some(mode))
}

async fn run(mode: Mode) -> Result<ExitCode, String> {
    println!("x402 quickstart: a paid API and a buyer paying it");

    // ---- The seller -------------------------------------------------------------------------
    let pay_to = env("X402_PAY_TO").unwrap_or_else(|| DEMO_PAY_TO.to_owned());
    let (facilitator, facilitator_note) = facilitator().await?;
    let gate =
        examples::weather_gate(&pay_to, facilitator).map_err(|error| match env("X402_PAY_TO") {
            Some(_) => format!(
                "X402_PAY_TO is the route's `payment.wallet`: {}",
                ErrorChain(&error)
            ),
            None => format!("the route configuration is invalid: {}", ErrorChain(&error)),
        })?;
    let (listener, address) = examples::listen_on_loopback(DEFAULT_PORT, "quickstart").await?;
    let base = format!("http://{address}");
    let routes = describe_routes(&gate);
    let server =
        tokio::spawn(async move { axum::serve(listener, examples::weather_app(gate)).await });

    section("The seller");
    println!("Serving {base}");
    print_indented(&routes);
    println!(
        "\nIts routes (examples::ROUTES, in examples/lib.rs; X402_PAY_TO replaces the wallet):"
    );
    print_indented(examples::ROUTES.trim_matches('\n'));
    println!("\n{facilitator_note}");

    let paid = match mode {
        Mode::ServeOnly => false,
        Mode::BuyOnce | Mode::BuyThenServe => match buyer(&format!("{base}/weather")).await {
            Ok(paid) => paid,
            Err(message) => {
                eprintln!("\nerror: {message}");
                false
            }
        },
    };

    if mode != Mode::ServeOnly {
        println!();
        if paid {
            println!("Paid: 200 with a successful receipt.");
        } else {
            eprintln!("NOT PAID: the exchange did not end in 200 with a successful receipt.");
        }
    }
    if mode == Mode::BuyOnce {
        return Ok(if paid {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    section("Try it yourself");
    println!("  curl -i {base}/health");
    println!("  curl -i {base}/weather");
    println!("\nServing until Ctrl-C.");
    match server.await {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(error)) => Err(format!("the server stopped: {error}")),
        Err(error) => Err(format!("the server task failed: {error}")),
    }
}

/// The dev facilitator, or the one `X402_FACILITATOR_URL` names; and a note saying which.
async fn facilitator() -> Result<(Arc<dyn Facilitator>, String), String> {
    let Some(url) = env("X402_FACILITATOR_URL") else {
        let note = format!(
            "Facilitator: the in-process dev facilitator.\n\
             WARNING: dev facilitator: {DEV_MARKER_VALUE}. It checks signatures for real, but no \
             USDC moves\nand its transaction hashes are made up. Set X402_FACILITATOR_URL to use \
             a real facilitator."
        );
        let dev = DevFacilitator::new([DevNetwork::base_sepolia()]);
        return Ok((Arc::new(dev), note));
    };
    let facilitator = HttpFacilitator::builder(url.as_str())
        .build()
        .map_err(|error| {
            let error = ErrorChain(&error);
            format!("X402_FACILITATOR_URL={url:?}: {error}")
        })?;
    // Ask it what it supports: a wrong URL shows up now rather than as a 503 later.
    let note = match facilitator.supported().await {
        Ok(supported) => {
            let kinds: Vec<String> = supported
                .kinds
                .iter()
                .map(|k| format!("{} on {} (v{})", k.scheme, k.network, k.x402_version))
                .collect();
            format!(
                "Facilitator: {url} (X402_FACILITATOR_URL)\n  supports {}",
                kinds.join(", ")
            )
        }
        Err(error) => format!(
            "Facilitator: {url} (X402_FACILITATOR_URL)\n\
             WARNING: it did not answer GET /supported: {error}"
        ),
    };
    Ok((Arc::new(facilitator), note))
}

/// One line or two per route of the compiled table: what it costs, on which network, to whom.
fn describe_routes(gate: &Gate) -> String {
    let table = gate.routes().load();
    let mut lines = Vec::new();
    for route in table.routes() {
        let Some(offer) = route.offer() else {
            lines.push(format!("{:<10} free", route.name()));
            continue;
        };
        for accept in offer.accepts() {
            let requirements = accept.requirements();
            let price = format_units(accept.amount(), accept.asset().decimals);
            let token = accept
                .asset()
                .eip712
                .as_ref()
                .map_or("tokens", |domain| domain.name.as_ref());
            lines.push(format!(
                "{:<10} {price} {token} ({} atomic units) on {}, paid to",
                route.name(),
                requirements.amount,
                requirements.network,
            ));
            lines.push(format!("{:<10} {}", "", requirements.pay_to));
        }
    }
    lines.join("\n")
}

/// The buyer's caps: at most $0.01 per request and $0.10 per UTC day, in Base Sepolia USDC.
const MAX_PER_REQUEST: u64 = 10_000;
const MAX_PER_DAY: u64 = 100_000;

/// Buys `url` through `X402PayLayer`, then prints each step; true if it ended in 200 with a
/// receipt saying `success: true`.
async fn buyer(url: &str) -> Result<bool, String> {
    let signer: PrivateKeySigner = BUYER_KEY.parse().map_err(|error| {
        let error = ErrorChain(&error);
        format!("buyer key: {error}")
    })?;
    let base_sepolia =
        Network::parse("base-sepolia").map_err(|error| ErrorChain(&error).to_string())?;
    let usdc = AssetKey::default_for(&base_sepolia).ok_or("Base Sepolia has no default asset")?;
    let payer = signer.address();
    let buyer = Buyer::builder(Arc::new(signer))
        .upstream("weather")
        .policy(
            PaymentPolicy::new()
                .networks([base_sepolia])
                .max_per_request(usdc, U256::from(MAX_PER_REQUEST)),
        )
        .budget(Budget::new([(
            usdc,
            Limits {
                max_total: None,
                max_per_day: Some(U256::from(MAX_PER_DAY)),
            },
        )]))
        .build()
        .map_err(|error| ErrorChain(&error).to_string())?;
    let client = examples::paying_client(buyer);

    section("The buyer");
    println!("Buyer {payer}");
    println!("  (anvil's test key #0: a PUBLIC test key, never send real funds to it)");
    println!(
        "An HTTP client (hyper-util) wrapped in X402PayLayer: it pays Base Sepolia USDC only,
         at most {} per request and {} per UTC day.",
        format_units(U256::from(MAX_PER_REQUEST), 6),
        format_units(U256::from(MAX_PER_DAY), 6),
    );
    println!(
        "
> GET {url}"
    );
    let purchase = examples::buy(&client, url)
        .await
        .map_err(|error| ErrorChain(&error).to_string())?;
    let Some(paid) = &purchase.paid else {
        section("The answer");
        println!("No 402: nothing to pay.");
        print_response(&purchase.response);
        return Ok(false);
    };

    section("1. The seller answered 402 Payment Required");
    print_challenge(&paid.challenge);

    section("2. The layer chose an offer and signed a payment");
    print_payment(paid.index, &paid.payment.payload);
    println!(
        "  {}: {}",
        paid.payment.header,
        abbreviated(&paid.payment.value)
    );

    section("3. The layer asked again, paying; the answer");
    print_response(&purchase.response);
    Ok(purchase.response.is_paid())
}

fn print_challenge(challenge: &Challenge) {
    match challenge {
        Challenge::V2 { json, .. } => {
            println!("PAYMENT-REQUIRED, decoded (base64 -> JSON): the offer");
            print_json(json);
        }
        Challenge::V1(required) => {
            println!("The v1 body: the offer");
            print_json(required);
        }
        _ => println!("(a challenge of another version)"),
    }
}

fn print_payment(index: usize, payment: &PaymentPayload) {
    if let PaymentPayload::V2(payment) = payment {
        let accepted = &payment.accepted;
        let token = accepted
            .extra
            .as_ref()
            .and_then(|extra| extra.get("name"))
            .and_then(|name| name.as_str())
            .unwrap_or("the token");
        println!("It pays offer accepts[{index}]:");
        println!(
            "  {} atomic units of {token} ({}) on {}",
            accepted.amount, accepted.asset, accepted.network
        );
        println!("  to {}", accepted.pay_to);
        println!(
            "by signing (EIP-712) an EIP-3009 transferWithAuthorization for exactly that, valid {} s.",
            accepted.max_timeout_seconds
        );
    }
    println!("\nThe payment payload (sent base64-encoded)");
    print_json(payment);
}

fn print_response(response: &PaidResponse) {
    println!("< {}", response.status);
    if let Some(rechallenge) = &response.rechallenge {
        println!(
            "\nPAYMENT-REQUIRED, decoded: the payment was refused: {}",
            rechallenge.error.as_deref().unwrap_or("(no reason given)")
        );
    }
    match &response.receipt {
        Some(receipt) => {
            println!("\nPAYMENT-RESPONSE, decoded: the receipt");
            print_json(receipt);
            if receipt
                .extra
                .as_ref()
                .is_some_and(|extra| extra.contains_key(DEV_MARKER_KEY))
            {
                println!("  (made up by the dev facilitator: nothing happened on chain)");
            }
        }
        None => println!("\n(no PAYMENT-RESPONSE receipt)"),
    }
    println!(
        "\nBody ({}):",
        response
            .content_type
            .as_deref()
            .unwrap_or("no content type")
    );
    print_indented(&String::from_utf8_lossy(&response.body));
}

fn section(title: &str) {
    println!(
        "\n== {title} {}",
        "=".repeat(76_usize.saturating_sub(title.len()))
    );
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(json) => print_indented(&json),
        Err(error) => println!("  (cannot print as JSON: {error})"),
    }
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("  {line}");
    }
}

/// The start of a header value and its length: the value itself is base64 noise.
fn abbreviated(value: &str) -> String {
    let start: String = value.chars().take(40).collect();
    format!("{start}... ({} characters of base64)", value.len())
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
