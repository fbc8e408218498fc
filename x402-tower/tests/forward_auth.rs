//! `ForwardAuth`: the answers to a reverse proxy's auth subrequest, from its `X-Forwarded-*`
//! headers. (The gateway's tests run it end to end behind a proxy.)

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use tower::ServiceExt as _;
use x402_core::{
    RouteTable, codec,
    evm::{
        RequirementView,
        signer::{PrivateKeySigner, sign_payment},
    },
    facilitator::dev::{DevFacilitator, DevNetwork},
    gate::UnmatchedPolicy,
    labels::Outcome,
    spec::RouteSpec,
    wire::{SchemePayload, V2, v2},
};
use x402_tower::{
    ForwardAuth, Gate, PaymentOutcome, RouteTableHandle, SettlementMode,
    forward_auth::ForwardAuthBody,
};

/// anvil's well-known test key #0 and its address.
const BUYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BUYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn forward_auth() -> ForwardAuth {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /health, free: true }
  - { path: /weather, methods: [GET], price: "$0.001" }
"#,
    )
    .unwrap();
    let gate = Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
    )
    .settlement(SettlementMode::VerifyOnly)
    .unmatched(UnmatchedPolicy::Deny)
    .build()
    .unwrap();
    ForwardAuth::new(gate)
}

/// The auth subrequest for `method uri` (no `X-Forwarded-Uri` when `None`), plus `extra`.
async fn ask(method: &str, uri: Option<&str>, extra: &[(&str, &str)]) -> Response<ForwardAuthBody> {
    let mut request = Request::get("/auth")
        .header("x-forwarded-method", method)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.com");
    if let Some(uri) = uri {
        request = request.header("x-forwarded-uri", uri);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    forward_auth()
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap()
}

fn payer(response: &Response<ForwardAuthBody>) -> Option<&str> {
    response
        .headers()
        .get("x-payment-payer")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn statuses_without_a_payment_follow_the_forwarded_request() {
    // (method, X-Forwarded-Uri, expected status)
    let cases = [
        ("GET", None, StatusCode::FORBIDDEN),
        ("GET", Some("weather"), StatusCode::BAD_REQUEST),
        ("GET", Some("/nowhere"), StatusCode::FORBIDDEN),
        ("GET", Some("/health"), StatusCode::OK),
        (
            "GET",
            Some("/weather?city=paris"),
            StatusCode::PAYMENT_REQUIRED,
        ),
        // The method is the forwarded one: no route prices POST /weather.
        ("POST", Some("/weather"), StatusCode::FORBIDDEN),
    ];
    for (method, uri, status) in cases {
        let response = ask(method, uri, &[]).await;
        assert_eq!(response.status(), status, "{method} {uri:?}");
    }
}

#[tokio::test]
async fn a_free_route_is_200_with_an_empty_payer_header() {
    let response = ask("GET", Some("/health"), &[("x-payment-payer", "0xforged")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(payer(&response), Some(""));
}

#[tokio::test]
async fn the_challenge_names_the_forwarded_url() {
    let response = ask("GET", Some("/weather?city=paris"), &[]).await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let header = response.headers()[codec::PAYMENT_REQUIRED].as_bytes();
    let challenge =
        codec::decode_payment_required(header, codec::DEFAULT_MAX_HEADER_BYTES).unwrap();
    assert_eq!(
        challenge.resource.url,
        "https://api.example.com/weather?city=paris"
    );
}

#[tokio::test]
async fn a_valid_payment_is_200_with_the_verified_payer() {
    let challenge = ask("GET", Some("/weather"), &[]).await;
    let challenge = codec::decode_payment_required(
        challenge.headers()[codec::PAYMENT_REQUIRED].as_bytes(),
        codec::DEFAULT_MAX_HEADER_BYTES,
    )
    .unwrap();
    let accepted = challenge.accepts[0].clone();
    let signer: PrivateKeySigner = BUYER_KEY.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let authorization =
        sign_payment(&signer, &RequirementView::from_v2(&accepted).unwrap(), now).unwrap();
    let payment = codec::encode_header(&v2::PaymentPayload {
        x402_version: V2,
        resource: Some(challenge.resource.clone()),
        accepted,
        payload: SchemePayload::ExactEvm(authorization),
        extensions: None,
    });

    let response = ask(
        "GET",
        Some("/weather"),
        &[
            ("payment-signature", &payment),
            ("x-payment-payer", "0xforged"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(payer(&response), Some(BUYER));
    let outcome = response.extensions().get::<PaymentOutcome>().unwrap();
    assert_eq!(
        outcome.outcome,
        Outcome::Verified,
        "verify-only settles nothing"
    );
}
