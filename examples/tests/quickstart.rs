//! The quickstart's seller and buyer end to end, over HTTP on loopback: once with the
//! in-process dev facilitator (the quickstart's default), once with the HTTP facilitator client
//! talking to the dev facilitator served on its own port (`X402_FACILITATOR_URL`).

use std::sync::Arc;

use axum::Router;
use examples::{BUYER, BUYER_KEY, Purchase, SetupError, SignedPayment, weather_app, weather_gate};
use reqwest::StatusCode;
use tokio::net::TcpListener;
use x402_core::{
    client::Buyer,
    evm::signer::PrivateKeySigner,
    facilitator::{
        HttpFacilitator,
        dev::{DevFacilitator, DevNetwork},
    },
    wire::PaymentPayload,
};

/// The recipient, deliberately not the quickstart's default (anvil's test address #1).
const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("has an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

fn dev_facilitator() -> Arc<DevFacilitator> {
    Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]))
}

/// The quickstart's seller with the in-process dev facilitator; its base URL.
async fn seller_with_dev_facilitator() -> String {
    let gate = weather_gate(PAY_TO, dev_facilitator()).expect("gate builds");
    serve(weather_app(gate)).await
}

/// The quickstart's seller with an `HttpFacilitator` pointed at a dev facilitator served over
/// HTTP; its base URL.
async fn seller_with_http_facilitator() -> String {
    let facilitator_url = serve(x402_tower::dev_facilitator::router(dev_facilitator())).await;
    let facilitator = HttpFacilitator::builder(facilitator_url)
        .build()
        .expect("facilitator client builds");
    let gate = weather_gate(PAY_TO, Arc::new(facilitator)).expect("gate builds");
    serve(weather_app(gate)).await
}

fn client() -> reqwest::Client {
    examples::http_client().expect("client builds")
}

fn buyer() -> PrivateKeySigner {
    BUYER_KEY.parse().expect("valid key")
}

/// `GET /weather` through the quickstart's paying client (`X402PayLayer`).
async fn buy(base: &str) -> Purchase {
    let buyer = Buyer::builder(Arc::new(buyer()))
        .upstream("weather")
        .build()
        .expect("buyer builds");
    examples::buy(&examples::paying_client(buyer), &format!("{base}/weather"))
        .await
        .expect("the exchange completes")
}

fn is_32_byte_hash(text: &str) -> bool {
    text.strip_prefix("0x")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The same cases for each way of reaching the dev facilitator.
macro_rules! exchange_tests {
    ($name:ident, $seller:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn unpaid_weather_is_a_402_asking_1000_units_on_base_sepolia_for_pay_to() {
                let base = $seller().await;
                let paid = buy(&base).await.paid.expect("a 402 was paid");

                let x402_core::client::Challenge::V2 {
                    required: offer, ..
                } = &paid.challenge
                else {
                    panic!("expected a v2 challenge, got {:?}", paid.challenge)
                };
                assert!(
                    offer.resource.url.ends_with("/weather"),
                    "resource URL {:?}",
                    offer.resource.url
                );
                let accepted = &offer.accepts[0];
                assert_eq!(accepted.amount, "1000");
                assert_eq!(accepted.network, "eip155:84532");
                assert_eq!(accepted.pay_to, PAY_TO);
            }

            #[tokio::test]
            async fn paid_weather_is_served_with_a_successful_receipt() {
                let base = $seller().await;
                let response = buy(&base).await.response;

                assert_eq!(response.status, StatusCode::OK, "body: {:?}", response.body);
                let body: serde_json::Value =
                    serde_json::from_slice(&response.body).expect("JSON body");
                assert!(body.get("weather").is_some(), "body: {body}");
                assert_eq!(body["paidBy"], BUYER);
                let receipt = response.receipt.as_ref().expect("PAYMENT-RESPONSE");
                assert!(receipt.success, "receipt: {receipt:?}");
                assert!(
                    is_32_byte_hash(&receipt.transaction),
                    "transaction {:?}",
                    receipt.transaction
                );
                assert_eq!(receipt.network, "eip155:84532");
                assert_eq!(receipt.payer.as_deref(), Some(BUYER));
                assert!(response.is_paid());
            }

            #[tokio::test]
            async fn the_same_payment_sent_again_is_refused_with_402() {
                let base = $seller().await;
                let url = format!("{base}/weather");
                let purchase = buy(&base).await;
                assert!(purchase.response.is_paid());

                let payment = purchase.paid.expect("a 402 was paid").payment;
                let PaymentPayload::V2(payload) = payment.payload else {
                    panic!("expected a v2 payment")
                };
                let payment = SignedPayment {
                    payload,
                    header: payment.value,
                };
                let replay = examples::send_payment(&client(), &url, &payment)
                    .await
                    .expect("answered");

                assert_eq!(replay.status, StatusCode::PAYMENT_REQUIRED);
                let error = replay.rechallenge.and_then(|c| c.error).unwrap_or_default();
                assert!(error.contains("replay"), "refused because {error:?}");
            }
        }
    };
}

exchange_tests!(
    with_the_in_process_dev_facilitator,
    seller_with_dev_facilitator
);
exchange_tests!(
    with_a_dev_facilitator_over_http,
    seller_with_http_facilitator
);

#[tokio::test]
async fn health_is_free() {
    let base = seller_with_dev_facilitator().await;

    let response = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("payment-required").is_none());
    assert_eq!(response.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn a_pay_to_that_is_not_an_address_is_a_configuration_error() {
    let error = weather_gate("not-an-address", dev_facilitator()).expect_err("refused");

    assert!(matches!(error, SetupError::Routes(_)), "{error:?}");
    assert!(error.to_string().contains("not-an-address"), "{error}");
}
