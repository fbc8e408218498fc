//! The gateway's `discovery` setting: the documents generated from its routes, served in proxy
//! mode in front of the upstream's own paths, and the `bazaar` declaration in its 402s.

#[allow(dead_code, reason = "the helpers this test does not use")]
mod support;

use reqwest::StatusCode;
use support::{Gateway, serve_facilitator, upstream};
use x402_core::{
    codec,
    facilitator::dev::{DevFacilitator, DevNetwork},
};

fn config(upstream: &str, facilitator: &str, discovery: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
{discovery}
payment:
  wallet: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator}
routes:
  - path: /weather
    description: Weather now
    discovery:
      input: {{ city: Paris }}
      inputSchema: {{ properties: {{ city: {{ type: string }} }} }}
      output: {{ example: {{ weather: sunny }} }}
  - {{ path: /users/*/report, price: "0.05" }}
  - {{ path: /files/**, price: "0.01" }}
  - {{ path: /**, free: true }}
"#
    )
}

#[tokio::test]
async fn proxy_mode_serves_the_documents_from_its_routes_and_declares_bazaar() {
    let (upstream, hits, _upstream_task) = upstream().await;
    let (facilitator, _, _, _facilitator_task) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    let gateway = Gateway::start(&config(
        &upstream,
        &facilitator,
        "discovery: { title: Weather API, version: \"2.1\" }",
    ))
    .await;
    let client = examples::http_client().expect("client builds");

    let response = client
        .get(gateway.url("/.well-known/x402.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let manifest: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let urls: Vec<&str> = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["resource"]["url"].as_str().unwrap())
        .collect();
    let base = gateway.url("");
    assert_eq!(
        urls,
        [
            format!("{base}/weather"),
            format!("{base}/users/:var1/report")
        ]
    );
    assert_eq!(manifest["items"][0]["accepts"][0]["amount"], "1000");

    let openapi = client
        .get(gateway.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let openapi: serde_json::Value =
        serde_json::from_slice(&openapi.bytes().await.unwrap()).unwrap();
    assert_eq!(openapi["info"]["title"], "Weather API");
    assert_eq!(openapi["info"]["version"], "2.1");
    assert_eq!(
        openapi["paths"]["/users/{var1}/report"]["get"]["x-payment-info"]["price"]["amount"],
        "0.05"
    );
    // Neither document reached the upstream.
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    let challenge = client.get(gateway.url("/weather")).send().await.unwrap();
    assert_eq!(challenge.status(), StatusCode::PAYMENT_REQUIRED);
    let header = challenge.headers()["payment-required"].as_bytes();
    let required = codec::decode_payment_required(header, codec::DEFAULT_MAX_HEADER_BYTES).unwrap();
    let bazaar = &required.extensions.unwrap()["bazaar"];
    assert_eq!(bazaar["info"]["input"]["queryParams"]["city"], "Paris");
    gateway.stop().await;
}

#[tokio::test]
async fn without_the_setting_the_paths_are_the_upstreams() {
    let (upstream, hits, _upstream_task) = upstream().await;
    let (facilitator, _, _, _facilitator_task) =
        serve_facilitator(DevFacilitator::new([DevNetwork::base_sepolia()])).await;
    let gateway = Gateway::start(&config(&upstream, &facilitator, "")).await;
    let client = examples::http_client().expect("client builds");
    let response = client
        .get(gateway.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), r#"{"ok":true}"#);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn forward_auth_mode_refuses_the_setting() {
    let file = support::TempPath::new("discovery-forward-auth.yaml");
    std::fs::write(
        &file.0,
        r#"
listen: 127.0.0.1:0
mode: forward-auth
facilitator: dev
discovery: {}
payment: { wallet: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", network: base-sepolia }
routes: [{ path: /weather, price: "$0.001" }]
"#,
    )
    .unwrap();
    let Err(error) = x402_gateway::start(file.0.clone(), std::future::pending::<()>()).await else {
        panic!("the gateway started with `discovery` in forward-auth mode");
    };
    assert!(
        error.to_string().contains("`discovery`: proxy mode only"),
        "{error}"
    );
}
