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
//! The buyer then walks through the exchange: `GET /weather` → 402 with the offer in
//! `PAYMENT-REQUIRED`; sign an EIP-3009 authorization for it; `GET /weather` again with the
//! payment in `PAYMENT-SIGNATURE` → 200 with the receipt in `PAYMENT-RESPONSE`.

// Printing the exchange is this example's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, sync::Arc};

use examples::{BUYER_KEY, Challenge, DEMO_PAY_TO, PaidResponse, SignedPayment};
use serde::Serialize;
use tokio::net::TcpListener;
use x402_core::{
    clock::{Clock as _, SystemClock},
    evm::signer::PrivateKeySigner,
    facilitator::{
        Facilitator, HttpFacilitator,
        dev::{DEV_MARKER_KEY, DEV_MARKER_VALUE, DevFacilitator, DevNetwork},
    },
    gate::Gate,
    money::format_units,
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
    let port = port()?;
    let pay_to = env("X402_PAY_TO").unwrap_or_else(|| DEMO_PAY_TO.to_owned());
    let (facilitator, facilitator_note) = facilitator().await?;
    let gate =
        examples::weather_gate(&pay_to, facilitator).map_err(|error| match env("X402_PAY_TO") {
            Some(_) => format!("X402_PAY_TO is the route's `payment.wallet`: {error}"),
            None => format!("the route configuration is invalid: {error}"),
        })?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "port {port} on 127.0.0.1 is already in use (another quickstart still running?).\n\
                 Stop it, or choose another port with PORT, e.g.\n\n  \
                 PORT={} cargo run -p examples --example quickstart",
                port.wrapping_add(10)
            ),
            _ => format!("cannot listen on 127.0.0.1:{port}: {error}"),
        })?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the listening address: {error}"))?;
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
        .map_err(|error| format!("X402_FACILITATOR_URL={url:?}: {error}"))?;
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

/// Walks through the exchange, printing each step; true if it ended in 200 with a receipt
/// saying `success: true`.
async fn buyer(url: &str) -> Result<bool, String> {
    let client = examples::http_client().map_err(|error| format!("HTTP client: {error}"))?;
    let signer: PrivateKeySigner = BUYER_KEY
        .parse()
        .map_err(|error| format!("buyer key: {error}"))?;

    section("1. The buyer asks without paying");
    println!("> GET {url}");
    let challenge = examples::request_challenge(&client, url)
        .await
        .map_err(|error| error.to_string())?;
    print_challenge(&challenge);

    section("2. The buyer signs a payment");
    println!("Buyer {}", signer.address());
    println!("  (anvil's test key #0: a PUBLIC test key, never send real funds to it)");
    let payment = examples::sign(&challenge.payment_required, &signer, SystemClock.now())
        .map_err(|error| error.to_string())?;
    print_payment(&payment);

    section("3. The buyer asks again, paying");
    println!("> GET {url}");
    println!("  PAYMENT-SIGNATURE: {}", abbreviated(&payment.header));
    let response = examples::send_payment(&client, url, &payment)
        .await
        .map_err(|error| error.to_string())?;
    print_response(&response);
    Ok(response.is_paid())
}

fn print_challenge(challenge: &Challenge) {
    println!("< {}", challenge.status);
    println!("  PAYMENT-REQUIRED: {}", abbreviated(&challenge.header));
    println!("\nPAYMENT-REQUIRED, decoded (base64 -> JSON): the offer");
    print_json(&challenge.payment_required);
}

fn print_payment(payment: &SignedPayment) {
    let accepted = &payment.payload.accepted;
    let token = accepted
        .extra
        .as_ref()
        .and_then(|extra| extra.get("name"))
        .and_then(|name| name.as_str())
        .unwrap_or("the token");
    println!("It pays the first offer, accepts[0]:");
    println!(
        "  {} atomic units of {token} ({}) on {}",
        accepted.amount, accepted.asset, accepted.network
    );
    println!("  to {}", accepted.pay_to);
    println!(
        "by signing (EIP-712) an EIP-3009 transferWithAuthorization for exactly that, valid {} s.",
        accepted.max_timeout_seconds
    );
    println!("\nThe payment payload (sent base64-encoded in PAYMENT-SIGNATURE)");
    print_json(&payment.payload);
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

fn port() -> Result<u16, String> {
    match env("PORT") {
        None => Ok(DEFAULT_PORT),
        Some(text) => text
            .parse()
            .map_err(|_| format!("PORT={text:?} is not a port number (0-65535)")),
    }
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
