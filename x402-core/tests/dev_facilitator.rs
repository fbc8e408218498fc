//! The dev facilitator: verify, settle (once), balances, v1 and v2 bodies, `/supported`.
//!
//! None of these tests goes through `network.rs`: v1 names are resolved by the facilitator's
//! own configured networks.
#![cfg(all(feature = "dev-facilitator", feature = "evm-signer"))]

use std::{
    future::Future,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use alloy_primitives::{Address, B256, U256, address};
use proptest::prelude::*;
use x402_core::{
    evm::{
        FixedClock, RequirementView,
        signer::{PrivateKeySigner, sign_payment},
    },
    facilitator::{
        Facilitator, FacilitatorRequest, Requirements,
        dev::{
            DEV_MARKER_KEY, DEV_MARKER_VALUE, DevError, DevFacilitator, DevNetwork,
            fake_transaction_hash,
        },
    },
    wire::PaymentPayload,
    wire::{JsonObject, SchemePayload, SupportedKind, v1, v2},
};

// ---------------------------------------------------------------------------------------------
// Vectors (x402-protocol.md §12.2 and §12.4) and helpers

const SDK_V2_PAYMENT: &str = r#"{"x402Version":2,"payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0","validBefore":"1795346421","nonce":"0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204"},"signature":"0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c"},"resource":{"url":"http://127.0.0.1:4021/weather?city=SF","description":"Weather data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}}"#;
const SDK_V2_REQUIREMENT: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}"#;
const SDK_V2_NONCE: &str = "0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204";
const SDK_NOW: u64 = 1_795_346_121;

const SDK_V1_PAYMENT: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"1795345544","validBefore":"1795346204","nonce":"0x9e014683ee187cd0b70815ce1555e2223770982225f58d3bdc1db6f309151971"},"signature":"0xd55e7a042396474f95668b02907cef800e12d855f714b48637237b33c2874daa5aab725de39d7ae56a00fdaa86b622c667619c5ffe3c40475b9bc6dce7366d711b"}}"#;
const SDK_V1_REQUIREMENT: &str = r#"{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000","resource":"http://127.0.0.1:4023/weather","description":"Weather data","mimeType":"","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","outputSchema":{"input":{"type":"http","method":"GET","discoverable":true}},"extra":{"name":"USDC","version":"2"}}"#;
const SDK_V1_NOW: u64 = 1_795_345_604;

const PAYER: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const PAYER_TEXT: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Polls a future that never waits (the dev facilitator's never do) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn body(version: u8, payment: &str, requirement: &str) -> Vec<u8> {
    format!(r#"{{"x402Version":{version},"paymentPayload":{payment},"paymentRequirements":{requirement}}}"#)
        .into_bytes()
}

fn v2_body() -> Vec<u8> {
    body(2, SDK_V2_PAYMENT, SDK_V2_REQUIREMENT)
}

fn v1_body() -> Vec<u8> {
    body(1, SDK_V1_PAYMENT, SDK_V1_REQUIREMENT)
}

fn facilitator_at(now: u64) -> DevFacilitator {
    DevFacilitator::new([DevNetwork::base_sepolia()]).with_clock(FixedClock::new(now))
}

fn v2_payment() -> PaymentPayload {
    PaymentPayload::V2(serde_json::from_str(SDK_V2_PAYMENT).unwrap())
}

fn v2_requirement() -> v2::PaymentRequirements {
    serde_json::from_str(SDK_V2_REQUIREMENT).unwrap()
}

fn dev_marker() -> Option<JsonObject> {
    let mut marker = JsonObject::new();
    marker.insert(DEV_MARKER_KEY.to_owned(), DEV_MARKER_VALUE.into());
    Some(marker)
}

/// A fresh v2 payment (random nonce) for the 2.27 requirement, signed with anvil key #0.
fn fresh_v2_body() -> Vec<u8> {
    let requirement = v2_requirement();
    let signer: PrivateKeySigner = ANVIL_KEY_0.parse().unwrap();
    let payload = sign_payment(
        &signer,
        &RequirementView::from_v2(&requirement).unwrap(),
        SDK_NOW,
    )
    .unwrap();
    let mut payment: v2::PaymentPayload = serde_json::from_str(SDK_V2_PAYMENT).unwrap();
    payment.payload = SchemePayload::ExactEvm(payload);
    body(
        2,
        &serde_json::to_string(&payment).unwrap(),
        SDK_V2_REQUIREMENT,
    )
}

// ---------------------------------------------------------------------------------------------
// Through the Facilitator trait

#[test]
fn verifying_a_valid_payment_says_it_is_valid_with_its_payer() {
    let facilitator = facilitator_at(SDK_NOW);
    let (payment, requirement) = (v2_payment(), v2_requirement());
    let request = FacilitatorRequest::new(
        &payment,
        SDK_V2_PAYMENT,
        Requirements::V2(&requirement),
        SDK_V2_REQUIREMENT,
    );
    let response = block_on(facilitator.verify(&request)).unwrap();
    assert!(response.is_valid, "{response:?}");
    assert_eq!(response.payer.as_deref(), Some(PAYER_TEXT));
    assert_eq!(response.invalid_reason, None);
}

#[test]
fn settling_a_valid_payment_succeeds_with_a_transaction_and_the_payer() {
    let facilitator = facilitator_at(SDK_NOW);
    let (payment, requirement) = (v2_payment(), v2_requirement());
    let request = FacilitatorRequest::new(
        &payment,
        SDK_V2_PAYMENT,
        Requirements::V2(&requirement),
        SDK_V2_REQUIREMENT,
    );
    let response = block_on(facilitator.settle(&request)).unwrap();
    let nonce: B256 = SDK_V2_NONCE.parse().unwrap();
    let transaction = fake_transaction_hash(84_532, PAYER, nonce);
    assert!(response.success, "{response:?}");
    assert_eq!(response.transaction, transaction.to_string());
    assert_eq!(response.transaction.len(), 66);
    assert_eq!(response.payer.as_deref(), Some(PAYER_TEXT));
    assert_eq!(response.network, "eip155:84532");
    assert_eq!(response.amount.as_deref(), Some("1000"));
    assert_eq!(response.error_reason, None);

    let settlements = facilitator.settlements();
    assert_eq!(settlements.len(), 1);
    assert_eq!(settlements[0].payer, PAYER);
    assert_eq!(settlements[0].value, U256::from(1000u64));
    assert_eq!(settlements[0].nonce, nonce);
    assert_eq!(settlements[0].transaction, transaction);
}

#[test]
fn the_fake_transaction_hash_is_deterministic_and_per_authorization() {
    let nonce = B256::repeat_byte(1);
    assert_eq!(
        fake_transaction_hash(1, PAYER, nonce),
        fake_transaction_hash(1, PAYER, nonce)
    );
    assert_ne!(
        fake_transaction_hash(1, PAYER, nonce),
        fake_transaction_hash(2, PAYER, nonce)
    );
    assert_ne!(
        fake_transaction_hash(1, PAYER, nonce),
        fake_transaction_hash(1, Address::ZERO, nonce)
    );
    assert_ne!(
        fake_transaction_hash(1, PAYER, nonce),
        fake_transaction_hash(1, PAYER, B256::ZERO)
    );
}

#[test]
fn supported_lists_the_configured_networks_as_v2_and_v1_kinds() {
    let facilitator = DevFacilitator::new([
        DevNetwork::base_sepolia(),
        DevNetwork::new("eip155:8453", Some("base")).unwrap(),
        DevNetwork::new("eip155:31337", None).unwrap(),
    ]);
    let supported = block_on(facilitator.supported()).unwrap();
    let kinds: Vec<(u8, &str, &str)> = supported
        .kinds
        .iter()
        .map(|kind| {
            (
                kind.x402_version,
                kind.scheme.as_str(),
                kind.network.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (2, "exact", "eip155:84532"),
            (2, "exact", "eip155:8453"),
            (2, "exact", "eip155:31337"),
            (1, "exact", "base-sepolia"),
            (1, "exact", "base"),
            (2, "upto", "eip155:84532"),
            (2, "upto", "eip155:8453"),
            (2, "upto", "eip155:31337"),
        ]
    );
}

#[test]
fn supported_is_built_once_and_shared() {
    let facilitator = facilitator_at(SDK_NOW);
    let first = block_on(facilitator.supported()).unwrap();
    let second = block_on(facilitator.supported()).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
}

// ---------------------------------------------------------------------------------------------
// Replay and state

#[test]
fn the_same_payment_settled_twice_is_refused_the_second_time() {
    let facilitator = facilitator_at(SDK_NOW);
    let first = block_on(facilitator.settle_body(&v2_body())).unwrap();
    let second = block_on(facilitator.settle_body(&v2_body())).unwrap();
    assert!(first.success);
    assert!(!second.success);
    assert_eq!(
        second.error_reason.as_deref(),
        Some("invalid_exact_evm_nonce_already_used")
    );
    assert_eq!(second.transaction, "");
    assert_eq!(second.network, "eip155:84532");
    assert_eq!(second.payer.as_deref(), Some(PAYER_TEXT));
    assert_eq!(facilitator.settlements().len(), 1);
}

#[test]
fn with_idempotent_settles_a_repeat_settle_answers_the_first_receipt_and_moves_nothing() {
    let facilitator = facilitator_at(SDK_NOW)
        .with_idempotent_settles()
        .with_balances([(PAYER, U256::from(5000u64))]);
    let first = block_on(facilitator.settle_body(&v2_body())).unwrap();
    let second = block_on(facilitator.settle_body(&v2_body())).unwrap();
    assert!(first.success, "{first:?}");
    assert_eq!(second, first, "the same receipt, the same transaction");
    assert_eq!(facilitator.settlements().len(), 1, "recorded once");
    assert_eq!(
        facilitator.balance(PAYER),
        Some(U256::from(4000u64)),
        "debited once"
    );
    // A settled authorization still fails verification.
    let verified = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert_eq!(
        verified.invalid_reason.as_deref(),
        Some("invalid_exact_evm_nonce_already_used")
    );
}

#[test]
fn with_idempotent_settles_concurrent_repeats_settle_once_and_all_get_the_receipt() {
    let facilitator = Arc::new(facilitator_at(SDK_NOW).with_idempotent_settles());
    let receipts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let facilitator = Arc::clone(&facilitator);
                scope.spawn(move || block_on(facilitator.settle_body(&v2_body())).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(
        receipts
            .iter()
            .all(|r| r.success && r.transaction == receipts[0].transaction)
    );
    assert_eq!(facilitator.settlements().len(), 1);
}

#[test]
fn verify_after_settle_says_the_nonce_is_used() {
    let facilitator = facilitator_at(SDK_NOW);
    assert!(
        block_on(facilitator.settle_body(&v2_body()))
            .unwrap()
            .success
    );
    let response = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert!(!response.is_valid);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("invalid_exact_evm_nonce_already_used")
    );
    assert_eq!(response.payer.as_deref(), Some(PAYER_TEXT));
}

#[test]
fn verify_does_not_use_up_the_payment() {
    let facilitator = facilitator_at(SDK_NOW);
    for _ in 0..3 {
        assert!(
            block_on(facilitator.verify_body(&v2_body()))
                .unwrap()
                .is_valid
        );
    }
    assert!(
        block_on(facilitator.settle_body(&v2_body()))
            .unwrap()
            .success
    );
}

#[test]
fn concurrent_settlements_of_one_payment_succeed_exactly_once() {
    let facilitator = Arc::new(facilitator_at(SDK_NOW));
    let successes = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let facilitator = Arc::clone(&facilitator);
                scope.spawn(move || {
                    block_on(facilitator.settle_body(&v2_body()))
                        .unwrap()
                        .success
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .filter(|&ok| ok)
            .count()
    });
    assert_eq!(successes, 1);
    assert_eq!(facilitator.settlements().len(), 1);
}

#[test]
fn a_payment_expires_as_the_clock_moves_on() {
    let clock = Arc::new(FixedClock::new(SDK_NOW));
    let facilitator =
        DevFacilitator::new([DevNetwork::base_sepolia()]).with_clock(Arc::clone(&clock));
    assert!(
        block_on(facilitator.verify_body(&v2_body()))
            .unwrap()
            .is_valid
    );
    clock.set(1_795_346_421 - 5); // inside the 6 s margin
    let response = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert!(!response.is_valid);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("invalid_exact_evm_payload_authorization_valid_before")
    );
    assert!(
        !block_on(facilitator.settle_body(&v2_body()))
            .unwrap()
            .success
    );
}

// ---------------------------------------------------------------------------------------------
// Balances

#[test]
fn balances_are_off_by_default() {
    let facilitator = facilitator_at(SDK_NOW);
    assert_eq!(facilitator.balance(PAYER), None);
    assert!(
        block_on(facilitator.settle_body(&v2_body()))
            .unwrap()
            .success
    );
}

#[test]
fn a_payer_short_of_funds_is_refused_with_insufficient_funds() {
    let facilitator = facilitator_at(SDK_NOW).with_balances([(PAYER, U256::from(999u64))]);
    let verified = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert!(!verified.is_valid);
    assert_eq!(
        verified.invalid_reason.as_deref(),
        Some("insufficient_funds")
    );
    let settled = block_on(facilitator.settle_body(&v2_body())).unwrap();
    assert!(!settled.success);
    assert_eq!(settled.error_reason.as_deref(), Some("insufficient_funds"));
    assert_eq!(facilitator.balance(PAYER), Some(U256::from(999u64)));
    assert!(facilitator.settlements().is_empty());
}

#[test]
fn settling_debits_the_payer_until_the_funds_run_out() {
    let facilitator = facilitator_at(SDK_NOW).with_balances([(PAYER, U256::from(1500u64))]);
    assert!(
        block_on(facilitator.settle_body(&v2_body()))
            .unwrap()
            .success
    );
    assert_eq!(facilitator.balance(PAYER), Some(U256::from(500u64)));
    let next = block_on(facilitator.settle_body(&fresh_v2_body())).unwrap();
    assert_eq!(next.error_reason.as_deref(), Some("insufficient_funds"));
    facilitator.set_balance(PAYER, U256::from(1000u64));
    assert!(
        block_on(facilitator.settle_body(&fresh_v2_body()))
            .unwrap()
            .success
    );
    assert_eq!(facilitator.balance(PAYER), Some(U256::ZERO));
}

#[test]
fn setting_a_balance_turns_balances_on_and_other_payers_have_none() {
    let facilitator = facilitator_at(SDK_NOW);
    facilitator.set_balance(Address::ZERO, U256::from(5u64));
    assert_eq!(facilitator.balance(PAYER), Some(U256::ZERO));
    let response = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("insufficient_funds")
    );
}

// ---------------------------------------------------------------------------------------------
// Request bodies, v1 and v2

#[test]
fn v2_body_verifies_and_settles() {
    let facilitator = facilitator_at(SDK_NOW);
    assert!(
        block_on(facilitator.verify_body(&v2_body()))
            .unwrap()
            .is_valid
    );
    let settled = block_on(facilitator.settle_body(&v2_body())).unwrap();
    assert!(settled.success);
    assert_eq!(settled.network, "eip155:84532");
}

#[test]
fn v1_body_verifies_and_settles_on_its_v1_network_name() {
    let facilitator = facilitator_at(SDK_V1_NOW);
    let verified = block_on(facilitator.verify_body(&v1_body())).unwrap();
    assert!(verified.is_valid, "{verified:?}");
    assert_eq!(verified.payer.as_deref(), Some(PAYER_TEXT));
    let settled = block_on(facilitator.settle_body(&v1_body())).unwrap();
    assert!(settled.success, "{settled:?}");
    assert_eq!(settled.network, "base-sepolia");
    assert_eq!(settled.amount, None);
    assert!(
        !block_on(facilitator.settle_body(&v1_body()))
            .unwrap()
            .success
    );
}

#[test]
fn v1_body_is_refused_on_a_network_without_a_v1_name() {
    let facilitator = DevFacilitator::new([DevNetwork::new("eip155:84532", None).unwrap()])
        .with_clock(FixedClock::new(SDK_V1_NOW));
    let response = block_on(facilitator.verify_body(&v1_body())).unwrap();
    assert_eq!(response.invalid_reason.as_deref(), Some("invalid_network"));
}

#[test]
fn v1_payment_through_the_trait_uses_the_configured_network_names() {
    let facilitator = facilitator_at(SDK_V1_NOW);
    let payment = PaymentPayload::V1(serde_json::from_str(SDK_V1_PAYMENT).unwrap());
    let requirement: v1::PaymentRequirements = serde_json::from_str(SDK_V1_REQUIREMENT).unwrap();
    let request = FacilitatorRequest::new(
        &payment,
        SDK_V1_PAYMENT,
        Requirements::V1(&requirement),
        SDK_V1_REQUIREMENT,
    );
    assert!(block_on(facilitator.verify(&request)).unwrap().is_valid);
}

#[test]
fn unreadable_bodies_are_errors_not_verdicts() {
    let facilitator = facilitator_at(SDK_NOW);
    let not_json = block_on(facilitator.verify_body(b"not json"));
    assert!(
        matches!(not_json, Err(DevError::InvalidBody(_))),
        "{not_json:?}"
    );
    let missing = block_on(facilitator.verify_body(br#"{"x402Version":2,"paymentPayload":{}}"#));
    assert!(
        matches!(missing, Err(DevError::InvalidBody(_))),
        "{missing:?}"
    );
    let version = block_on(facilitator.settle_body(&body(3, SDK_V2_PAYMENT, SDK_V2_REQUIREMENT)));
    assert!(
        matches!(version, Err(DevError::UnsupportedVersion(3))),
        "{version:?}"
    );
    let mixed = block_on(facilitator.verify_body(&body(2, SDK_V1_PAYMENT, SDK_V2_REQUIREMENT)));
    assert!(
        matches!(
            mixed,
            Err(DevError::InvalidField {
                field: "paymentPayload",
                version: 2,
                ..
            })
        ),
        "{mixed:?}"
    );
    let bad_requirement = block_on(facilitator.verify_body(&body(2, SDK_V2_PAYMENT, "{}")));
    assert!(
        matches!(
            bad_requirement,
            Err(DevError::InvalidField {
                field: "paymentRequirements",
                ..
            })
        ),
        "{bad_requirement:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals

fn verify_with(requirement: &str, payment: &str, now: u64) -> x402_core::wire::VerifyResponse {
    block_on(facilitator_at(now).verify_body(&body(2, payment, requirement))).unwrap()
}

#[test]
fn a_network_it_is_not_configured_for_is_invalid_network() {
    let requirement = SDK_V2_REQUIREMENT.replace("eip155:84532", "eip155:8453");
    let payment = SDK_V2_PAYMENT.replace("eip155:84532", "eip155:8453");
    let response = verify_with(&requirement, &payment, SDK_NOW);
    assert_eq!(response.invalid_reason.as_deref(), Some("invalid_network"));
    assert_eq!(response.payer.as_deref(), Some(PAYER_TEXT));
}

#[test]
fn a_wrong_recipient_is_refused_with_its_reason_and_message() {
    let requirement = SDK_V2_REQUIREMENT.replace(
        "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "0x0000000000000000000000000000000000000001",
    );
    let response = verify_with(&requirement, SDK_V2_PAYMENT, SDK_NOW);
    assert!(!response.is_valid);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("invalid_exact_evm_recipient_mismatch")
    );
    assert_eq!(
        response.invalid_message.as_deref(),
        Some(
            "authorization.to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C is not payTo 0x0000000000000000000000000000000000000001"
        )
    );
}

#[test]
fn a_tampered_amount_is_refused_as_a_bad_signature() {
    let payment = SDK_V2_PAYMENT.replace(r#""value":"1000""#, r#""value":"1""#);
    let requirement = SDK_V2_REQUIREMENT.replace(r#""amount":"1000""#, r#""amount":"1""#);
    let response = verify_with(&requirement, &payment, SDK_NOW);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("invalid_exact_evm_signature")
    );
}

#[test]
fn a_smart_wallet_signature_is_refused_as_unsupported() {
    let long = format!("0x{}", "ab".repeat(200));
    let payment = SDK_V2_PAYMENT.replace(
        "0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c",
        &long,
    );
    let response = verify_with(SDK_V2_REQUIREMENT, &payment, SDK_NOW);
    assert!(!response.is_valid);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("unsupported_signature")
    );
    let facilitator = facilitator_at(SDK_NOW);
    let settled =
        block_on(facilitator.settle_body(&body(2, &payment, SDK_V2_REQUIREMENT))).unwrap();
    assert_eq!(
        settled.error_reason.as_deref(),
        Some("unsupported_signature")
    );
}

#[test]
fn a_non_eip3009_payload_is_refused_as_unsupported() {
    // A Permit2-shaped payload: the facilitator routes on `permit2Authorization`.
    let payment = SDK_V2_PAYMENT.replace(
        r#""payload":{"authorization""#,
        r#""payload":{"permit2Authorization""#,
    );
    let response = verify_with(SDK_V2_REQUIREMENT, &payment, SDK_NOW);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("unsupported_payload_type")
    );
    assert_eq!(response.payer, None);
}

#[test]
fn a_requirement_without_an_eip712_domain_is_refused() {
    let requirement = SDK_V2_REQUIREMENT.replace(r#","extra":{"name":"USDC","version":"2"}"#, "");
    let response = verify_with(&requirement, SDK_V2_PAYMENT, SDK_NOW);
    assert_eq!(
        response.invalid_reason.as_deref(),
        Some("invalid_exact_evm_missing_eip712_domain")
    );
}

// ---------------------------------------------------------------------------------------------
// It says what it is

#[test]
fn every_response_says_it_settles_nothing_on_chain() {
    let facilitator = facilitator_at(SDK_NOW);
    let valid = block_on(facilitator.verify_body(&v2_body())).unwrap();
    let settled = block_on(facilitator.settle_body(&v2_body())).unwrap();
    let refused = block_on(facilitator.settle_body(&v2_body())).unwrap();
    let invalid = block_on(facilitator.verify_body(&v2_body())).unwrap();
    assert!(settled.success && !refused.success && valid.is_valid && !invalid.is_valid);
    for extra in [valid.extra, invalid.extra, settled.extra, refused.extra] {
        assert_eq!(extra, dev_marker());
    }
    let supported = block_on(facilitator.supported()).unwrap();
    assert!(
        supported
            .kinds
            .iter()
            .all(
                |kind: &SupportedKind| kind.extra.as_ref().unwrap()[DEV_MARKER_KEY]
                    == DEV_MARKER_VALUE
            )
    );
    assert_eq!(DEV_MARKER_VALUE, "settles nothing on chain");
}

#[test]
fn dev_networks_must_be_evm_networks() {
    assert!(matches!(
        DevNetwork::new("base-sepolia", None),
        Err(DevError::InvalidNetwork { .. })
    ));
    assert!(matches!(
        DevNetwork::new(
            "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
            Some("solana-devnet")
        ),
        Err(DevError::InvalidNetwork { .. })
    ));
    let base = DevNetwork::new("eip155:8453", Some("base")).unwrap();
    assert_eq!(
        (base.caip2(), base.v1_name(), base.chain_id()),
        ("eip155:8453", Some("base"), 8453)
    );
    assert_eq!(
        DevNetwork::base_sepolia(),
        DevNetwork::new("eip155:84532", Some("base-sepolia")).unwrap()
    );
}

proptest! {
    #[test]
    fn bodies_never_make_it_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let facilitator = facilitator_at(SDK_NOW);
        let _ = block_on(facilitator.verify_body(&bytes));
        let _ = block_on(facilitator.settle_body(&bytes));
    }

    #[test]
    fn mangled_vector_bodies_never_make_it_panic(position in 0usize..1100, byte in any::<u8>()) {
        let mut body = v2_body();
        let position = position % body.len();
        body[position] = byte;
        let facilitator = facilitator_at(SDK_NOW);
        let _ = block_on(facilitator.verify_body(&body));
        let _ = block_on(facilitator.settle_body(&body));
    }
}
