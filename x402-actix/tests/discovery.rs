//! `discovery::resources`: the documents from the gate's live table, with the request's origin.

use std::sync::Arc;

use actix_web::{App, http::StatusCode, test};
use x402_actix::{Gate, RouteTableHandle};
use x402_core::{
    RouteTable,
    facilitator::dev::{DevFacilitator, DevNetwork},
    spec::RouteSpec,
};

#[actix_web::test]
async fn serves_both_documents_with_the_request_origin() {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /weather, price: "$0.001", discovery: { input: { city: Paris } } }
"#,
    )
    .unwrap();
    let gate = Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
    )
    .build()
    .unwrap();
    let app = test::init_service(App::new().service(x402_actix::discovery::resources(gate))).await;

    let request = test::TestRequest::get()
        .uri("/.well-known/x402.json")
        .insert_header(("host", "api.example.com"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "public, max-age=60"
    );
    let manifest: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(
        manifest["items"][0]["resource"]["url"],
        "http://api.example.com/weather"
    );
    assert_eq!(
        manifest["items"][0]["input"]["queryParams"]["city"],
        "Paris"
    );

    let request = test::TestRequest::get()
        .uri("/openapi.json")
        .insert_header(("host", "api.example.com"))
        .to_request();
    let openapi: serde_json::Value = test::call_and_read_body_json(&app, request).await;
    assert_eq!(openapi["openapi"], "3.1.0");
    // No inputSchema: the example alone declares no query parameters.
    assert!(
        openapi["paths"]["/weather"]["get"]
            .get("parameters")
            .is_none()
    );
    assert_eq!(
        openapi["paths"]["/weather"]["get"]["x-payment-info"]["price"]["amount"],
        "0.001"
    );

    let post = test::TestRequest::post().uri("/openapi.json").to_request();
    let response = test::call_service(&app, post).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
