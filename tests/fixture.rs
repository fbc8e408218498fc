//! The shared fixture: the route table, a fixed clock, a scripted facilitator, a known payer
//! key, and helpers that build real signed payments for the advertised requirements.

use std::sync::Arc;

use alloy_primitives::Address;
use x402_core::{
    RouteTable, codec,
    evm::{
        FixedClock, RequirementView,
        signer::{PrivateKeySigner, sign_payment},
    },
    gate::{Gate, GateBuilder, RouteTableHandle},
    permit2::{self, Permit2Terms},
    spec::RouteSpec,
    wire::{ExactEvmPayload, SupportedResponse, v2},
};

use crate::{AppFactory, AppUnderTest, ScriptedFacilitator, TestRequest, TestResponse};

/// The recipient of every priced route.
pub const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
/// anvil's first dev key (public knowledge; test funds only).
pub const PAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The address of [`PAYER_KEY`].
pub const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The fixed time of every test (unix seconds).
pub const NOW: u64 = 1_795_346_121;

/// The route table every adapter is tested with.
pub const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather, description: Weather data, mimeType: application/json }
  - { path: /fail, name: fail }
  - { path: /missing, name: missing }
  - { path: /stream, name: stream }
  - { path: /slow, name: slow }
"#;

/// An app under test with its facilitator, clock and route table handle.
pub struct Fixture {
    /// The scripted facilitator.
    pub facilitator: Arc<ScriptedFacilitator>,
    /// The clock, set to [`NOW`].
    pub clock: Arc<FixedClock>,
    /// The live route table.
    pub routes: RouteTableHandle,
    /// The app.
    pub app: Box<dyn AppUnderTest>,
    signer: PrivateKeySigner,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

/// The compiled [`SPEC`].
pub fn table() -> RouteTable {
    RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).expect("spec parses")).expect("spec builds")
}

impl Fixture {
    /// The app with the default gate settings.
    pub fn new(factory: &dyn AppFactory) -> Self {
        Self::with(factory, |builder| builder)
    }

    /// The app with gate settings changed by `configure`.
    pub fn with(
        factory: &dyn AppFactory,
        configure: impl FnOnce(GateBuilder) -> GateBuilder,
    ) -> Self {
        let facilitator = ScriptedFacilitator::new();
        let clock = Arc::new(FixedClock::new(NOW));
        let routes = RouteTableHandle::new(table());
        let builder = Gate::builder(routes.clone(), facilitator.clone()).clock(clock.clone());
        let gate = configure(builder).build().expect("gate builds");
        Self {
            facilitator,
            clock,
            routes,
            app: factory.build(gate),
            signer: PAYER_KEY.parse().expect("valid key"),
        }
    }

    /// Sends a request.
    pub async fn send(&self, request: TestRequest) -> TestResponse {
        self.app.send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(TestRequest::get(path)).await
    }

    /// The v2 requirement the route at `path` advertises first.
    pub fn requirement(&self, path: &str) -> v2::PaymentRequirements {
        let table = self.routes.load();
        let route = table
            .routes()
            .iter()
            .find(|r| r.name().as_ref() == path.trim_start_matches('/'))
            .unwrap_or_else(|| panic!("no route named after {path}"));
        route.offer().expect("priced").accepts()[0]
            .requirements()
            .clone()
    }

    /// A payload for `requirement` signed by the payer key at [`NOW`].
    pub fn signed(&self, requirement: &v2::PaymentRequirements) -> ExactEvmPayload {
        let view = RequirementView::from_v2(requirement).expect("usable requirement");
        sign_payment(&self.signer, &view, NOW).expect("signs")
    }

    /// A `PAYMENT-SIGNATURE` value paying `requirement` (v2).
    pub fn pay_v2(&self, requirement: &v2::PaymentRequirements) -> String {
        v2_header(requirement, &self.signed(requirement))
    }

    /// An `X-PAYMENT` value paying `requirement` (v1, network `base-sepolia`).
    pub fn pay_v1(&self, requirement: &v2::PaymentRequirements) -> String {
        let payload = self.signed(requirement);
        codec::encode_header(&serde_json::json!({
            "x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": payload,
        }))
    }

    /// A paid `GET path` request (v2).
    pub fn paid(&self, path: &str) -> TestRequest {
        TestRequest::get(path).header("PAYMENT-SIGNATURE", self.pay_v2(&self.requirement(path)))
    }
}

impl Fixture {
    /// A `PAYMENT-SIGNATURE` value paying `requirement` with a Permit2 permit signed by the
    /// payer key at [`NOW`]: for `upto` (the witness names `extra.facilitatorAddress`, or
    /// `facilitator` when given, to forge a mismatch) and for `exact` by Permit2.
    pub fn pay_permit2(
        &self,
        requirement: &v2::PaymentRequirements,
        facilitator: Option<Address>,
    ) -> String {
        let view = RequirementView::from_v2(requirement).expect("usable requirement");
        let offered = requirement.extra.as_ref().and_then(|e| {
            e.get("facilitatorAddress")?
                .as_str()?
                .parse::<Address>()
                .ok()
        });
        let facilitator = facilitator.or(offered);
        let terms = Permit2Terms {
            chain_id: view.chain_id,
            asset: view.asset,
            pay_to: view.pay_to,
            amount: view.amount,
            spender: if requirement.scheme == "upto" {
                permit2::UPTO_PERMIT2_PROXY
            } else {
                permit2::EXACT_PERMIT2_PROXY
            },
            facilitator,
        };
        let payload =
            permit2::signer::sign_payment(&self.signer, &terms, NOW, view.max_timeout_seconds)
                .expect("signs");
        codec::encode_header(&serde_json::json!({
            "x402Version": 2,
            "resource": { "url": "http://api.example.com/metered", "description": "", "mimeType": "" },
            "accepted": requirement,
            "payload": payload,
        }))
    }
}

/// The facilitator address the `upto` tables are built with (from its `/supported`).
pub const UPTO_FACILITATOR: &str = "0x1111111111111111111111111111111111111111";

/// A table with the `upto` route `/metered` (max `$0.01`, 10000 units), built with a
/// `/supported` naming [`UPTO_FACILITATOR`].
pub fn upto_table() -> RouteTable {
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}\n\
         routes: [{{ path: /metered, name: metered, scheme: upto, price: '$0.01' }}]"
    ))
    .expect("spec parses");
    let supported: SupportedResponse = serde_json::from_value(serde_json::json!({
        "kinds": [{"x402Version": 2, "scheme": "upto", "network": "eip155:84532",
                   "extra": {"facilitatorAddress": UPTO_FACILITATOR}}]
    }))
    .expect("supported parses");
    RouteTable::builder()
        .supported(&supported)
        .spec(&spec)
        .build()
        .expect("upto table builds")
}

/// A `PAYMENT-SIGNATURE` value with `accepted` = `requirement` and `payload`.
pub fn v2_header(requirement: &v2::PaymentRequirements, payload: &ExactEvmPayload) -> String {
    codec::encode_header(&serde_json::json!({
        "x402Version": 2,
        "resource": { "url": "http://api.example.com/weather", "description": "", "mimeType": "" },
        "accepted": requirement,
        "payload": payload,
    }))
}

/// Decodes the `PAYMENT-REQUIRED` header of a response.
pub fn challenge(response: &TestResponse) -> v2::PaymentRequired {
    let header = response
        .header("payment-required")
        .unwrap_or_else(|| panic!("no PAYMENT-REQUIRED header (status {})", response.status));
    codec::decode_payment_required(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
        .expect("PAYMENT-REQUIRED decodes")
}

/// Decodes a receipt header of a response.
pub fn receipt(response: &TestResponse, name: &str) -> x402_core::wire::SettleResponse {
    let header = response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header (status {})", response.status));
    codec::decode_settle_response(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
        .expect("receipt decodes")
}
