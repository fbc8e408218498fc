//! Pays for any x402 URL: `GET` it through hyper-util's client wrapped in `X402PayLayer`.
//!
//! ```text
//! X402_BUYER_KEY=0x... cargo run -p examples --example buyer -- http://127.0.0.1:4021/weather
//! ```
//!
//! Prints the status, the body and, when a 402 was paid, the purchase as JSON (the option
//! chosen, the payment sent, the decoded receipt). Pays v2 (`PAYMENT-REQUIRED` →
//! `PAYMENT-SIGNATURE`) and v1 (JSON body → `X-PAYMENT`) challenges, in the network's default
//! USDC only. `--repeat N` buys the URL N times in a row through the same client, so the caps
//! span the requests (each report then starts with `request I of N`). Exit status: 0 when every
//! answer is below 400 (and, for each paid 402, a receipt says `success: true`), 1 otherwise or
//! on the first refused payment (its error names the cap), 2 for bad arguments.

// Printing is this example's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{io::Write as _, process::ExitCode, sync::Arc};

use alloy_primitives::U256;
use serde_json::json;
use x402_core::{
    ErrorChain,
    client::{AssetKey, Budget, Buyer, Challenge, Limits, PaymentPolicy, Purchase},
    evm::signer::PrivateKeySigner,
    money::parse_atomic,
    network::Network,
};

const USAGE: &str = "\
usage: cargo run -p examples --example buyer -- URL [options]

Pays for URL (http://) if it answers 402, with the key in X402_BUYER_KEY (hex).

options (each also read from the environment variable named in brackets):
  --network NAME          the network to pay on, e.g. base-sepolia or eip155:84532
                          [X402_NETWORK] (default base-sepolia)
  --max-per-request N     at most N atomic units of the network's USDC per payment
                          [X402_MAX_PER_REQUEST] (default 100000 = $0.10)
  --max-total N           at most N atomic units in total, this run [X402_MAX_TOTAL]
  --max-per-day N         at most N atomic units per UTC day, this run [X402_MAX_PER_DAY]
  --repeat N              buy URL N times in a row, the caps spanning them (default 1)";

/// The command line.
#[derive(Debug)]
struct Args {
    url: String,
    network: String,
    max_per_request: U256,
    max_total: Option<U256>,
    max_per_day: Option<U256>,
    repeat: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut url = None;
    let mut network = env("X402_NETWORK");
    let mut max_per_request = env("X402_MAX_PER_REQUEST");
    let mut max_total = env("X402_MAX_TOTAL");
    let mut max_per_day = env("X402_MAX_PER_DAY");
    let mut repeat = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--network" => &mut network,
            "--max-per-request" => &mut max_per_request,
            "--max-total" => &mut max_total,
            "--max-per-day" => &mut max_per_day,
            "--repeat" => &mut repeat,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag:?}")),
            _ if url.is_none() => {
                url = Some(arg);
                continue;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        };
        *slot = Some(args.next().ok_or_else(|| format!("{arg} needs a value"))?);
    }
    let atomic = |name: &str, text: Option<String>| -> Result<Option<U256>, String> {
        text.map(|text| {
            parse_atomic(&text).map_err(|error| {
                let error = ErrorChain(&error);
                format!("{name} {text:?}: {error}")
            })
        })
        .transpose()
    };
    Ok(Some(Args {
        url: url.ok_or("the URL to buy is missing")?,
        network: network.unwrap_or_else(|| "base-sepolia".to_owned()),
        max_per_request: atomic("--max-per-request", max_per_request)?
            .unwrap_or(U256::from(100_000)),
        max_total: atomic("--max-total", max_total)?,
        max_per_day: atomic("--max-per-day", max_per_day)?,
        repeat: match repeat {
            None => 1,
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("--repeat {text:?}: not a count of at least 1"))?,
        },
    }))
}

async fn run(args: Args) -> Result<bool, String> {
    let key = env("X402_BUYER_KEY").ok_or("set X402_BUYER_KEY to the buyer's private key (hex)")?;
    let signer: PrivateKeySigner = key.trim().parse().map_err(|error| {
        let error = ErrorChain(&error);
        format!("X402_BUYER_KEY is not a private key: {error}")
    })?;
    let network = Network::parse(&args.network).map_err(|error| {
        let error = ErrorChain(&error);
        format!("--network: {error}")
    })?;
    let usdc = AssetKey::default_for(&network)
        .ok_or_else(|| format!("{} has no default USDC to pay in", network.caip2()))?;
    let buyer = Buyer::builder(Arc::new(signer))
        .upstream("cli")
        .policy(
            PaymentPolicy::new()
                .networks([network])
                .max_per_request(usdc, args.max_per_request),
        )
        .budget(Budget::new([(
            usdc,
            Limits {
                max_total: args.max_total,
                max_per_day: args.max_per_day,
            },
        )]))
        .build()
        .map_err(|error| ErrorChain(&error).to_string())?;
    let client = examples::paying_client(buyer);

    let mut all_paid = true;
    for i in 1..=args.repeat {
        let purchase = examples::buy(&client, &args.url).await.map_err(|error| {
            if args.repeat > 1 {
                format!("request {i} of {}: {}", args.repeat, ErrorChain(&error))
            } else {
                ErrorChain(&error).to_string()
            }
        })?;
        let mut report = String::new();
        if args.repeat > 1 {
            report.push_str(&format!("request {i} of {}\n", args.repeat));
        }
        let paid = describe(&purchase, &mut report)?;
        // Written at once, and a closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::stdout().lock().write_all(report.as_bytes());
        all_paid &= paid;
    }
    Ok(all_paid)
}

/// Appends the status, the body and the purchase of one request to `report`; whether it was
/// served (and, if a 402 was paid, confirmed by a successful receipt).
fn describe(purchase: &examples::Purchase, report: &mut String) -> Result<bool, String> {
    let response = &purchase.response;
    report.push_str(&format!(
        "status: {}\nbody:\n{}\n",
        response.status,
        String::from_utf8_lossy(&response.body)
    ));
    let paid = match &purchase.paid {
        None => {
            report.push_str("purchase: null (no 402, nothing paid)\n");
            response.status.as_u16() < 400
        }
        Some(paid) => {
            let json = serde_json::to_string_pretty(&purchase_json(paid))
                .map_err(|error| ErrorChain(&error).to_string())?;
            report.push_str(&format!("purchase:\n{json}\n"));
            paid.is_paid()
        }
    };
    Ok(paid)
}

/// The purchase as JSON: what was paid, how, and the receipt.
fn purchase_json(paid: &Purchase) -> serde_json::Value {
    let challenge = match &paid.challenge {
        Challenge::V2 { json, .. } => json.clone(),
        Challenge::V1(required) => serde_json::to_value(required).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    json!({
        "x402Version": paid.challenge.x402_version(),
        "outcome": format!("{:?}", paid.outcome),
        "chain": paid.chain,
        "asset": paid.asset.asset.to_checksum(None),
        "amount": paid.amount.to_string(),
        "acceptedIndex": paid.index,
        "paymentHeader": paid.payment.header.name(),
        "payment": paid.payment.payload,
        "receipt": paid.receipt,
        "challenge": challenge,
    })
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
