//! The incumbent, measured beside our layer: `x402-axum` 2.x on the same axum app, with the
//! same price on `/weather` and an in-process facilitator that answers at once.
//!
//! The facilitator is its `x402_types::facilitator::Facilitator` trait implemented directly:
//! `verify` and `settle` build the same success answers ours does, and `supported` returns a
//! clone of a prebuilt `/supported` answer of 8 kinds, which is what its HTTP client's warm
//! cache returns per request (minus the cache's read lock and clock read, so if anything this
//! favours the incumbent).
//!
//! `x402-axum` does no local check of a payment (it forwards the payload to the facilitator)
//! and has no replay guard, so the fair comparison with our paid path is ours with the local
//! signature check off; both are reported.

use std::{convert::Infallible, future::ready, sync::Arc};

use axum::{Router, http::header, routing::get};
use tower_service::Service;
use x402_axum::X402Middleware;
use x402_chain_eip155::{KnownNetworkEip155, V2Eip155Exact};
use x402_core::{codec, wire::v2};
use x402_types::{
    facilitator::Facilitator,
    networks::USDC,
    proto::{self, SupportedResponse},
};

use crate::{
    axum_app::{WEATHER_JSON, request},
    fixture::{PAYER, TX, poll_once},
};

/// The wallet `/weather` pays, as in [`SPEC`](crate::fixture::SPEC).
const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

/// A `/supported` answer of 8 kinds, as a multi-network facilitator gives.
const SUPPORTED: &str = r#"{
  "kinds": [
    {"x402Version": 2, "scheme": "exact", "network": "eip155:8453"},
    {"x402Version": 2, "scheme": "exact", "network": "eip155:84532"},
    {"x402Version": 2, "scheme": "exact", "network": "eip155:137"},
    {"x402Version": 2, "scheme": "exact", "network": "eip155:80002"},
    {"x402Version": 2, "scheme": "exact", "network": "eip155:43114"},
    {"x402Version": 2, "scheme": "exact", "network": "eip155:43113"},
    {"x402Version": 1, "scheme": "exact", "network": "base"},
    {"x402Version": 1, "scheme": "exact", "network": "base-sepolia"}
  ],
  "extensions": [],
  "signers": {"eip155:8453": ["0x1111111111111111111111111111111111111111"],
              "eip155:84532": ["0x1111111111111111111111111111111111111111"]}
}"#;

/// The incumbent's in-process facilitator: accepts every payment without waiting.
#[derive(Debug, Clone)]
pub struct IncumbentFacilitator {
    supported: Arc<SupportedResponse>,
}

impl Default for IncumbentFacilitator {
    fn default() -> Self {
        Self {
            supported: Arc::new(serde_json::from_str(SUPPORTED).expect("supported parses")),
        }
    }
}

impl Facilitator for IncumbentFacilitator {
    type Error = Infallible;

    fn verify(
        &self,
        _request: &proto::VerifyRequest,
    ) -> impl Future<Output = Result<proto::VerifyResponse, Infallible>> + Send {
        ready(Ok(proto::v2::VerifyResponse::valid(PAYER.to_owned()).into()))
    }

    fn settle(
        &self,
        _request: &proto::SettleRequest,
    ) -> impl Future<Output = Result<proto::SettleResponse, Infallible>> + Send {
        ready(Ok(proto::v1::SettleResponse::Success {
            payer: PAYER.to_owned(),
            transaction: TX.to_owned(),
            network: "eip155:84532".to_owned(),
        }
        .into()))
    }

    fn supported(&self) -> impl Future<Output = Result<SupportedResponse, Infallible>> + Send {
        ready(Ok(SupportedResponse::clone(&self.supported)))
    }
}

/// The bench app with `x402-axum`: `/weather` priced at $0.001 USDC on Base Sepolia (its
/// layer on that route, as its README shows), `/health` unpriced.
pub fn app() -> Router {
    let x402 = X402Middleware::from_facilitator(IncumbentFacilitator::default());
    let price = V2Eip155Exact::price_tag(
        PAY_TO
            .parse::<alloy_primitives::Address>()
            .expect("an address"),
        USDC::base_sepolia().parse("0.001").expect("a price"),
    );
    Router::new()
        .route(
            "/weather",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], WEATHER_JSON) }).layer(
                x402.with_price_tag(price)
                    .with_description("Weather data".to_owned())
                    .with_mime_type("application/json".to_owned()),
            ),
        )
        .route("/health", get(|| async { "ok" }))
}

/// The requirement the incumbent's 402 offers first, read from its `PAYMENT-REQUIRED` header
/// (so payments signed for it match what it compares against, field for field).
///
/// # Panics
///
/// If the app does not answer `GET /weather` with a 402 carrying a decodable header.
pub fn offered_requirement() -> v2::PaymentRequirements {
    let mut app = app();
    let response = poll_once(app.call(request("/weather", None))).expect("infallible");
    assert_eq!(
        response.status(),
        402,
        "x402-axum answers /weather with a 402"
    );
    let header = response
        .headers()
        .get("payment-required")
        .expect("x402-axum sets PAYMENT-REQUIRED");
    let required: v2::PaymentRequired =
        codec::decode_header(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES)
            .expect("x402-axum's PAYMENT-REQUIRED decodes");
    required
        .accepts
        .into_iter()
        .next()
        .expect("x402-axum offers a requirement")
}
