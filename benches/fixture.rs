//! Framework-free pieces of the request-path benchmarks: the route table, a facilitator that
//! answers at once, a fixed clock, and payments signed ahead of the timed loops.

use std::{
    future::{Future, ready},
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use alloy_primitives::{Address, B256, U256, keccak256};
use x402_core::{
    RouteTable, codec,
    evm::{
        FixedClock, RequirementView,
        signer::{PrivateKeySigner, authorization_for, sign_authorization},
    },
    facilitator::{BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest},
    gate::{Gate, RouteTableHandle},
    permit2::{self, EXACT_PERMIT2_PROXY, Permit2Terms, UPTO_PERMIT2_PROXY, signer::sign_permit},
    spec::RouteSpec,
    wire::{SettleResponse, SupportedResponse, VerifyResponse, v2},
};

/// anvil's first dev key (public knowledge; test funds only).
pub const PAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The address of [`PAYER_KEY`].
pub const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The fixed time of every benchmark (unix seconds).
pub const NOW: u64 = 1_795_346_121;
/// The transaction hash the instant facilitator reports.
pub const TX: &str = "0xabababababababababababababababababababababababababababababababab";

/// `/weather` is priced, `/health` is a free route (matched, counted, passed through).
pub const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather, description: Weather data, mimeType: application/json }
"#;

/// Only `/weather` is listed: `/health` is unmatched (the gate does a lookup and nothing else).
pub const SPEC_WEATHER_ONLY: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /weather, name: weather, description: Weather data, mimeType: application/json }
"#;

/// [`SPEC`] with `/weather` paid `exact` through Permit2 instead of EIP-3009.
pub const SPEC_PERMIT2: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather, assetTransferMethod: permit2, description: Weather data, mimeType: application/json }
"#;

/// [`SPEC`] with `/weather` paid `upto` $0.001 (Permit2; the handler sets no override, so the
/// maximum is charged). Build it with [`table_upto`]: the offer names [`FACILITATOR`].
pub const SPEC_UPTO: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather, scheme: upto, description: Weather data, mimeType: application/json }
"#;

/// The facilitator address an `upto` offer names (from the `/supported` of [`table_upto`]).
pub const FACILITATOR: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// The compiled `spec`.
pub fn table(spec: &str) -> RouteTable {
    RouteTable::from_spec(&RouteSpec::from_yaml(spec).expect("spec parses")).expect("spec builds")
}

/// The compiled `spec` with a `/supported` naming [`FACILITATOR`] for `upto` on Base Sepolia.
pub fn table_upto(spec: &str) -> RouteTable {
    let supported: SupportedResponse = serde_json::from_value(serde_json::json!({
        "kinds": [{"x402Version": 2, "scheme": "upto", "network": "eip155:84532",
                   "extra": {"facilitatorAddress": FACILITATOR}}],
    }))
    .expect("a /supported answer");
    RouteTable::builder()
        .supported(&supported)
        .spec(&RouteSpec::from_yaml(spec).expect("spec parses"))
        .build()
        .expect("spec builds")
}

/// A facilitator that accepts every payment without waiting, answering what a real one sends
/// on success (a verify verdict; a receipt with payer, transaction and network).
#[derive(Debug, Clone, Copy, Default)]
pub struct InstantFacilitator;

impl Facilitator for InstantFacilitator {
    fn verify<'a>(
        &'a self,
        _request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(ready(Ok(VerifyResponse::valid(None))))
    }

    fn settle<'a>(
        &'a self,
        _request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        let mut settled = SettleResponse::success(TX, "eip155:84532");
        settled.payer = Some(PAYER.to_owned());
        Box::pin(ready(Ok(settled)))
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(ready(Ok(Arc::new(SupportedResponse::new(Vec::new())))))
    }
}

/// A gate over `table` with the [`InstantFacilitator`], a clock fixed at [`NOW`], the default
/// in-memory replay guard, and the local EVM checks (signature included) on or off.
pub fn gate(table: RouteTable, local_checks: bool) -> Gate {
    Gate::builder(RouteTableHandle::new(table), Arc::new(InstantFacilitator))
        .clock(Arc::new(FixedClock::new(NOW)))
        .local_checks(local_checks)
        .build()
        .expect("gate builds")
}

/// [`gate`] with local checks off and a payment `ledger` (the paid path's ledger cost: each
/// payment claimed, verified, settling and settled in it).
pub fn gate_with_ledger(table: RouteTable, ledger: Arc<dyn x402_core::ledger::Ledger>) -> Gate {
    Gate::builder(RouteTableHandle::new(table), Arc::new(InstantFacilitator))
        .clock(Arc::new(FixedClock::new(NOW)))
        .local_checks(false)
        .ledger(ledger)
        .build()
        .expect("gate builds")
}

/// [`gate`] with local checks on and v1 off: its 402 carries the v2 `PAYMENT-REQUIRED` header
/// and a `{}` body, as the official v2 server's does (the default also writes the v1 body for
/// v1 clients).
pub fn gate_v2_only(table: RouteTable) -> Gate {
    Gate::builder(RouteTableHandle::new(table), Arc::new(InstantFacilitator))
        .clock(Arc::new(FixedClock::new(NOW)))
        .v1(false)
        .build()
        .expect("gate builds")
}

/// The v2 requirement `table`'s route `name` advertises first.
pub fn requirement(table: &RouteTable, name: &str) -> v2::PaymentRequirements {
    let route = table
        .routes()
        .iter()
        .find(|r| r.name().as_ref() == name)
        .unwrap_or_else(|| panic!("no route named {name}"));
    route.offer().expect("a priced route").accepts()[0]
        .requirements()
        .clone()
}

/// `count` distinct `PAYMENT-SIGNATURE` values (v2) paying `requirement` at [`NOW`], signed by
/// [`PAYER_KEY`]. Nonces are derived from the index, so runs are reproducible (same bytes,
/// same instruction counts) and every payment is a different authorization for the replay
/// guard.
pub fn signed_payments(requirement: &v2::PaymentRequirements, count: usize) -> Vec<String> {
    signed_payments_in(requirement, 0..count)
}

/// The payments of [`signed_payments`] with the indices `range` (so that several threads can
/// sign parts of one pool).
pub fn signed_payments_in(
    requirement: &v2::PaymentRequirements,
    range: std::ops::Range<usize>,
) -> Vec<String> {
    let signer: PrivateKeySigner = PAYER_KEY.parse().expect("valid key");
    let view = RequirementView::from_v2(requirement).expect("usable requirement");
    let domain = view.domain().expect("an EIP-712 domain");
    range
        .map(|i| {
            let nonce: B256 = keccak256((i as u64).to_be_bytes());
            let authorization = authorization_for(signer.address(), &view, NOW, nonce);
            let payload = sign_authorization(&signer, &domain, authorization).expect("signs");
            codec::encode_header(&serde_json::json!({
                "x402Version": 2,
                "resource": { "url": "http://api.example.com/weather",
                              "description": "Weather data", "mimeType": "application/json" },
                "accepted": requirement,
                "payload": payload,
            }))
        })
        .collect()
}

/// `count` distinct `PAYMENT-SIGNATURE` values (v2) paying the Permit2 `requirement` (`exact`
/// by Permit2, or `upto` for its maximum) at [`NOW`], signed by [`PAYER_KEY`], with nonces
/// derived from the index (as [`signed_payments`]).
pub fn signed_permit2_payments(requirement: &v2::PaymentRequirements, count: usize) -> Vec<String> {
    let signer: PrivateKeySigner = PAYER_KEY.parse().expect("valid key");
    let upto = requirement.scheme == "upto";
    let facilitator = requirement
        .extra
        .as_ref()
        .and_then(|extra| extra.get("facilitatorAddress"))
        .and_then(|address| address.as_str())
        .map(|address| address.parse::<Address>().expect("a facilitator address"));
    let terms = Permit2Terms {
        chain_id: 84532,
        asset: requirement.asset.parse().expect("an asset address"),
        pay_to: requirement.pay_to.parse().expect("a payTo address"),
        amount: requirement.amount.parse().expect("an amount"),
        spender: if upto {
            UPTO_PERMIT2_PROXY
        } else {
            EXACT_PERMIT2_PROXY
        },
        facilitator,
    };
    (0..count)
        .map(|i| {
            let nonce = U256::from_be_bytes(keccak256((i as u64).to_be_bytes()).0);
            let authorization = permit2::authorization_for(
                signer.address(),
                &terms,
                NOW,
                requirement.max_timeout_seconds,
                nonce,
            );
            let payload = sign_permit(&signer, terms.chain_id, authorization).expect("signs");
            codec::encode_header(&serde_json::json!({
                "x402Version": 2,
                "resource": { "url": "http://api.example.com/weather",
                              "description": "Weather data", "mimeType": "application/json" },
                "accepted": requirement,
                "payload": payload,
            }))
        })
        .collect()
}

/// Polls `future` once with a no-op waker. Everything the benchmarks call answers without
/// waiting (plain handlers, the instant facilitator, the in-memory replay guard), so one poll
/// finishes it and no runtime's scheduling is measured.
///
/// # Panics
///
/// If the future is not ready after one poll.
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a benchmarked future waited; the bench app never should"),
    }
}
