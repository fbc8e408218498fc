//! The paying client (`X402PayLayer`) against our own seller with Permit2 routes: `upto` (the
//! handler charges part of the maximum; the buyer's cap keeps only the charge) and `exact` by
//! Permit2, through the in-process dev facilitator, which checks the permits for real.

use std::{convert::Infallible, sync::Arc};

use alloy_primitives::U256;
use axum::{Extension, Router, body::Body, routing::get};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceExt as _, service_fn, util::BoxCloneSyncService};
use tower_layer::Layer as _;
use x402_core::{
    RouteTable,
    client::{AssetKey, Budget, Buyer, Limits, PaymentPolicy, Purchase},
    evm::signer::PrivateKeySigner,
    facilitator::{
        Facilitator,
        dev::{DevFacilitator, DevNetwork},
    },
    network::Network,
    spec::RouteSpec,
};
use x402_tower::{Gate, RouteTableHandle, SettlementOverrides, X402Layer, client::X402PayLayer};

/// anvil's test key #0: public, never for real funds.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

type Client = BoxCloneSyncService<Request<Full<Bytes>>, Response<Body>, Infallible>;

/// The seller: `/llm` is `upto` $0.01 (10000 units) and charges 40 % by the header; `/typed`
/// the same, charging 2500 by the typed extension; `/p2` is `exact` $0.001 by Permit2.
async fn seller(dev: Arc<DevFacilitator>) -> Router {
    let spec = RouteSpec::from_yaml(&format!(
        r#"
payment: {{ wallet: "{PAY_TO}", network: base-sepolia }}
routes:
  - {{ path: /llm, scheme: upto, price: "$0.01" }}
  - {{ path: /typed, scheme: upto, price: "$0.01" }}
  - {{ path: /p2, price: "$0.001", assetTransferMethod: permit2 }}
"#
    ))
    .unwrap();
    // `upto` needs the facilitator's address: the table is built with its `/supported`.
    let supported = dev.supported().await.unwrap();
    let table = RouteTable::builder()
        .supported(&supported)
        .spec(&spec)
        .build()
        .unwrap();
    let gate = Gate::builder(RouteTableHandle::new(table), dev)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/llm",
            get(|| async { ([("settlement-overrides", r#"{"amount":"40%"}"#)], "tokens") }),
        )
        .route(
            "/typed",
            get(|| async {
                (
                    Extension(SettlementOverrides::atomic(U256::from(2500))),
                    "tokens",
                )
            }),
        )
        .route("/p2", get(|| async { "permit2" }))
        .layer(X402Layer::new(gate))
}

fn client_of(router: Router) -> Client {
    BoxCloneSyncService::new(service_fn(move |request: Request<Full<Bytes>>| {
        let router = router.clone();
        async move { router.oneshot(request.map(Body::new)).await }
    }))
}

fn usdc() -> AssetKey {
    AssetKey::default_for(&Network::parse("base-sepolia").unwrap()).unwrap()
}

fn buyer(budget: Budget) -> Buyer {
    let key: PrivateKeySigner = KEY.parse().unwrap();
    Buyer::builder(Arc::new(key))
        .upstream("llm")
        .policy(PaymentPolicy::new())
        .budget(budget)
        .build()
        .unwrap()
}

fn request(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://127.0.0.1:4021{path}"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn an_upto_route_charges_what_the_handler_chose_and_the_cap_keeps_only_that() {
    let dev = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
    let budget = Budget::new([(
        usdc(),
        Limits {
            max_total: Some(U256::from(20_000)),
            max_per_day: None,
        },
    )]);
    let client =
        X402PayLayer::new(buyer(budget.clone())).layer(client_of(seller(dev.clone()).await));

    let response = client.clone().oneshot(request("/llm")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("settlement-overrides").is_none());
    let purchase = response.extensions().get::<Purchase>().unwrap().clone();
    assert!(purchase.is_paid(), "{purchase:?}");
    assert_eq!(purchase.amount, U256::from(4_000));
    assert_eq!(
        purchase.receipt.as_ref().unwrap().amount.as_deref(),
        Some("4000")
    );
    // The maximum (10000) was reserved; the difference came back.
    assert_eq!(budget.used(usdc()), U256::from(4_000));
    // The dev facilitator recorded the partial settlement.
    assert_eq!(dev.settlements().last().unwrap().value, U256::from(4_000));

    let response = client.oneshot(request("/typed")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let purchase = response.extensions().get::<Purchase>().unwrap().clone();
    assert_eq!(purchase.amount, U256::from(2_500));
    assert_eq!(budget.used(usdc()), U256::from(6_500));
}

#[tokio::test]
async fn an_exact_permit2_route_is_paid_with_a_permit() {
    let dev = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
    let client =
        X402PayLayer::new(buyer(Budget::unlimited())).layer(client_of(seller(dev.clone()).await));
    let response = client.oneshot(request("/p2")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let purchase = response.extensions().get::<Purchase>().unwrap().clone();
    assert!(purchase.is_paid(), "{purchase:?}");
    assert_eq!(purchase.amount, U256::from(1_000));
    assert_eq!(dev.settlements().last().unwrap().value, U256::from(1_000));
}
