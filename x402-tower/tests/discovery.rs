//! `Discovery`: the documents from the gate's live table, with the request's origin.

use std::sync::Arc;

use http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use x402_core::{
    RouteTable,
    discovery::Listing,
    facilitator::dev::{DevFacilitator, DevNetwork},
    spec::RouteSpec,
};
use x402_tower::{Gate, RouteTableHandle, discovery::Discovery};

fn gate(yaml: &str) -> Gate {
    let spec = RouteSpec::from_yaml(yaml).unwrap();
    Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
    )
    .build()
    .unwrap()
}

const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /weather, price: "$0.001", discovery: { output: { example: { weather: sunny } } } }
"#;

async fn get(
    service: Discovery,
    method: &str,
    uri: &str,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "api.example.com")
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

#[tokio::test]
async fn serves_both_documents_at_their_paths_with_the_request_origin() {
    let service = Discovery::new(gate(SPEC));
    let (status, headers, manifest) = get(service.clone(), "GET", "/.well-known/x402.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(
        manifest["items"][0]["resource"]["url"],
        "http://api.example.com/weather"
    );

    let (status, _, openapi) = get(service.clone(), "GET", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(openapi["servers"][0]["url"], "http://api.example.com");
    assert!(openapi["paths"]["/weather"]["get"]["x-payment-info"].is_object());

    assert_eq!(
        get(service.clone(), "GET", "/other").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, _) = get(service, "POST", "/openapi.json").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn a_swapped_table_is_served_at_once() {
    let gate = gate(SPEC);
    let service = Discovery::document(gate.clone(), Listing::WellKnown);
    let (_, _, before) = get(service.clone(), "GET", "/anywhere").await;
    assert_eq!(before["items"].as_array().unwrap().len(), 1);
    gate.routes().replace(RouteTable::empty());
    let (_, _, after) = get(service, "GET", "/anywhere").await;
    assert_eq!(after["items"], serde_json::json!([]));
}
