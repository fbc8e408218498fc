//! The local EVM `exact` checks: the signed vectors of x402-protocol.md §12, each check's
//! failure, the signature rules, and property tests.
//!
//! Only `v1_payment_is_checked_with_its_network_name_resolved_by_the_network_table` goes
//! through `network.rs` (`Network::parse`).
#![cfg(feature = "evm-signer")]

use alloy_primitives::{Address, B256, Bytes, U256, address, b256};
use proptest::prelude::*;
use x402_core::{
    evm::{
        CheckError, CheckOptions, Clock, Eip3009Domain, FixedClock, LocalVerdict, RequirementView,
        SignatureCheck, applies_to, check_exact_evm, check_payment, eip155_chain_id, eip712_digest,
        signer::{PrivateKeySigner, authorization_for, sign_authorization, sign_payment},
    },
    facilitator::{FacilitatorRequest, Requirements},
    labels::Reason,
    wire::PaymentPayload,
    wire::{Eip3009Authorization, ExactEvmPayload, SchemePayload, v1, v2},
};

// ---------------------------------------------------------------------------------------------
// Vectors (x402-protocol.md §12)

const PAY_TO: Address = address!("0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
const BASE_SEPOLIA_USDC: Address = address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
/// anvil's first dev key (public; never for real funds).
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ANVIL_ADDRESS_0: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const SPEC_PAYER: Address = address!("0x857b06519E91e3A54538791bDbb0E22373e36b66");

/// The v2 spec's `PAYMENT-SIGNATURE`, decoded.
const SPEC_V2_PAYMENT: &str = r#"{"x402Version":2,"resource":{"url":"https://api.example.com/premium-data","description":"Access to premium market data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}},"payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
const SPEC_DIGEST: B256 =
    b256!("0xf256992871671abcb27ff92885a7afa46218724e5fc0bac35d050115aa1d22e6");
const SPEC_NOW: u64 = 1_740_672_100;

/// The v1 spec's `X-PAYMENT`, decoded (same signature as the v2 spec vector).
const SPEC_V1_PAYMENT: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;

/// The payment the real 2.27.0 client sent (harness).
const SDK_V2_PAYMENT: &str = r#"{"x402Version":2,"payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0","validBefore":"1795346421","nonce":"0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204"},"signature":"0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c"},"resource":{"url":"http://127.0.0.1:4021/weather?city=SF","description":"Weather data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}}"#;
const SDK_V2_REQUIREMENT: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}"#;
const SDK_V2_DIGEST: B256 =
    b256!("0x6dcdb3d4789e8fb798ef3f2338c29698021ff584080793a5b5dee448d172914e");
const SDK_NOW: u64 = 1_795_346_121;

/// The v1 payment the 2.27.0 client sent to the `x402-express@1.2.0` server, and its
/// requirement.
const SDK_V1_PAYMENT: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"1795345544","validBefore":"1795346204","nonce":"0x9e014683ee187cd0b70815ce1555e2223770982225f58d3bdc1db6f309151971"},"signature":"0xd55e7a042396474f95668b02907cef800e12d855f714b48637237b33c2874daa5aab725de39d7ae56a00fdaa86b622c667619c5ffe3c40475b9bc6dce7366d711b"}}"#;
const SDK_V1_REQUIREMENT: &str = r#"{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000","resource":"http://127.0.0.1:4023/weather","description":"Weather data","mimeType":"","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","outputSchema":{"input":{"type":"http","method":"GET","discoverable":true}},"extra":{"name":"USDC","version":"2"}}"#;
const SDK_V1_DIGEST: B256 =
    b256!("0x13d8a82e0a22f1532a08788fdd8a8253ebfbf2ecbd90b25450495606e344ca7b");
const SDK_V1_NOW: u64 = 1_795_345_604;

const BASE_SEPOLIA_CHAIN_ID: u64 = 84_532;

fn v2_payment(json: &str) -> v2::PaymentPayload {
    serde_json::from_str(json).expect("v2 vector parses")
}

fn v1_payment(json: &str) -> v1::PaymentPayload {
    serde_json::from_str(json).expect("v1 vector parses")
}

fn exact(payload: &SchemePayload) -> ExactEvmPayload {
    payload.as_exact_evm().expect("an EIP-3009 payload").clone()
}

/// The spec vector: its payload and its `accepted` requirement.
fn spec() -> (ExactEvmPayload, v2::PaymentRequirements) {
    let payment = v2_payment(SPEC_V2_PAYMENT);
    (exact(&payment.payload), payment.accepted)
}

/// The 2.27 vector: its payload and the server's requirement.
fn sdk() -> (ExactEvmPayload, v2::PaymentRequirements) {
    let payment = v2_payment(SDK_V2_PAYMENT);
    let requirement = serde_json::from_str(SDK_V2_REQUIREMENT).expect("requirement parses");
    (exact(&payment.payload), requirement)
}

fn sdk_v1() -> (ExactEvmPayload, v1::PaymentRequirements) {
    let payment = v1_payment(SDK_V1_PAYMENT);
    let requirement = serde_json::from_str(SDK_V1_REQUIREMENT).expect("requirement parses");
    (exact(&payment.payload), requirement)
}

fn view(requirement: &v2::PaymentRequirements) -> RequirementView<'_> {
    RequirementView::from_v2(requirement).expect("a usable requirement")
}

fn check(
    payload: &ExactEvmPayload,
    view: &RequirementView<'_>,
    now: u64,
) -> Result<LocalVerdict, CheckError> {
    check_exact_evm(payload, view, now, &CheckOptions::default())
}

fn recovered(payer: Address) -> LocalVerdict {
    LocalVerdict {
        payer,
        signature: SignatureCheck::Recovered,
    }
}

fn anvil_signer() -> PrivateKeySigner {
    ANVIL_KEY_0.parse().expect("a valid key")
}

/// The signature with its last byte replaced.
fn with_v(signature: &Bytes, v: u8) -> Bytes {
    let mut bytes = signature.to_vec();
    bytes[64] = v;
    bytes.into()
}

// ---------------------------------------------------------------------------------------------
// The signed vectors

#[test]
fn spec_vector_digest_is_the_documented_one() {
    let (payload, requirement) = spec();
    let domain = view(&requirement).domain().unwrap();
    assert_eq!(eip712_digest(&domain, &payload.authorization), SPEC_DIGEST);
}

#[test]
fn spec_vector_recovers_to_its_payer_inside_its_window() {
    let (payload, requirement) = spec();
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW),
        Ok(recovered(SPEC_PAYER))
    );
}

#[test]
fn sdk_2_27_vector_digest_is_the_documented_one() {
    let (payload, requirement) = sdk();
    let domain = view(&requirement).domain().unwrap();
    assert_eq!(
        eip712_digest(&domain, &payload.authorization),
        SDK_V2_DIGEST
    );
}

#[test]
fn sdk_2_27_vector_recovers_to_anvil_key_zero() {
    let (payload, requirement) = sdk();
    assert_eq!(
        check(&payload, &view(&requirement), SDK_NOW),
        Ok(recovered(ANVIL_ADDRESS_0))
    );
}

#[test]
fn sdk_v1_vector_digest_is_the_documented_one() {
    let (payload, requirement) = sdk_v1();
    let view = RequirementView::from_v1_with_chain_id(&requirement, BASE_SEPOLIA_CHAIN_ID).unwrap();
    let domain = view.domain().unwrap();
    assert_eq!(
        eip712_digest(&domain, &payload.authorization),
        SDK_V1_DIGEST
    );
}

#[test]
fn sdk_v1_vector_recovers_to_anvil_key_zero() {
    let (payload, requirement) = sdk_v1();
    let view = RequirementView::from_v1_with_chain_id(&requirement, BASE_SEPOLIA_CHAIN_ID).unwrap();
    assert_eq!(
        check(&payload, &view, SDK_V1_NOW),
        Ok(recovered(ANVIL_ADDRESS_0))
    );
}

#[test]
fn spec_v1_vector_recovers_to_the_same_payer_as_the_v2_one() {
    let payment = v1_payment(SPEC_V1_PAYMENT);
    let (_, v2_requirement) = spec();
    let requirement = v1::PaymentRequirements {
        scheme: "exact".to_owned(),
        network: "base-sepolia".to_owned(),
        max_amount_required: "10000".to_owned(),
        resource: "https://api.example.com/premium-data".to_owned(),
        description: String::new(),
        mime_type: String::new(),
        output_schema: None,
        pay_to: v2_requirement.pay_to,
        max_timeout_seconds: 60,
        asset: v2_requirement.asset,
        extra: v2_requirement.extra,
    };
    let view = RequirementView::from_v1_with_chain_id(&requirement, BASE_SEPOLIA_CHAIN_ID).unwrap();
    assert_eq!(
        check(&exact(&payment.payload), &view, SPEC_NOW),
        Ok(recovered(SPEC_PAYER))
    );
}

/// Depends on `network.rs` (`Network::parse("base-sepolia")`).
#[test]
fn v1_payment_is_checked_with_its_network_name_resolved_by_the_network_table() {
    let payment = PaymentPayload::V1(v1_payment(SDK_V1_PAYMENT));
    let (_, requirement) = sdk_v1();
    let verdict = check_payment(
        &payment,
        Requirements::V1(&requirement),
        SDK_V1_NOW,
        &CheckOptions::default(),
    );
    assert_eq!(verdict, Ok(recovered(ANVIL_ADDRESS_0)));
}

#[test]
fn v2_payment_is_checked_through_check_payment() {
    let payment = PaymentPayload::V2(v2_payment(SDK_V2_PAYMENT));
    let (_, requirement) = sdk();
    let verdict = check_payment(
        &payment,
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    );
    assert_eq!(verdict, Ok(recovered(ANVIL_ADDRESS_0)));
}

#[test]
fn facilitator_request_is_checked_through_check_exact_evm() {
    let payment = PaymentPayload::V2(v2_payment(SDK_V2_PAYMENT));
    let (_, requirement) = sdk();
    let request = FacilitatorRequest::new(
        &payment,
        SDK_V2_PAYMENT,
        Requirements::V2(&requirement),
        SDK_V2_REQUIREMENT,
    );
    assert_eq!(
        request.check_exact_evm(SDK_NOW, &CheckOptions::default()),
        Ok(recovered(ANVIL_ADDRESS_0))
    );
}

#[test]
fn usdc_domain_separators_are_the_known_ones() {
    let cases: &[(&str, u64, Address, &str, B256)] = &[
        (
            "Base",
            8453,
            address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
            "USD Coin",
            b256!("0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f"),
        ),
        (
            "Base Sepolia",
            84532,
            BASE_SEPOLIA_USDC,
            "USDC",
            b256!("0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818"),
        ),
        (
            "Ethereum",
            1,
            address!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
            "USD Coin",
            b256!("0x06c37168a7db5138defc7866392bb87a741f9b3d104deb5094588ce041cae335"),
        ),
        (
            "Polygon",
            137,
            address!("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
            "USD Coin",
            b256!("0xcaa2ce1a5703ccbe253a34eb3166df60a705c561b44b192061e28f2a985be2ca"),
        ),
        (
            "Avalanche",
            43114,
            address!("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"),
            "USD Coin",
            b256!("0xbbea200329a938bc3438984a49cb0732e66d66d7bd59c127abacc1710e77f7b3"),
        ),
        (
            "Arbitrum One",
            42161,
            address!("0xaf88d065e77c8cC2239327C5EDb3A432268e5831"),
            "USD Coin",
            b256!("0x08d11903f8419e68b1b8721bcbe2e9fc68569122a77ef18c216f10b3b5112c78"),
        ),
    ];
    for &(chain, chain_id, verifying_contract, name, expected) in cases {
        let domain = Eip3009Domain {
            name,
            version: "2",
            chain_id,
            verifying_contract,
        };
        assert_eq!(domain.separator(), expected, "{chain}");
    }
}

// ---------------------------------------------------------------------------------------------
// The time window

#[test]
fn payment_after_valid_before_has_expired() {
    let (payload, requirement) = spec();
    let err = check(&payload, &view(&requirement), 1_740_672_154).unwrap_err();
    assert_eq!(
        err,
        CheckError::Expired {
            valid_before: U256::from(1_740_672_154u64),
            now: 1_740_672_154,
            margin: 6
        }
    );
    assert_eq!(err.reason(), Reason::Expired);
}

#[test]
fn payment_before_valid_after_is_not_yet_valid() {
    let (payload, requirement) = spec();
    let err = check(&payload, &view(&requirement), 1_740_672_088).unwrap_err();
    assert_eq!(
        err,
        CheckError::NotYetValid {
            valid_after: U256::from(1_740_672_089u64),
            now: 1_740_672_088
        }
    );
    assert_eq!(err.reason(), Reason::NotYetValid);
}

#[test]
fn payment_at_exactly_valid_after_is_valid() {
    let (payload, requirement) = spec();
    assert!(check(&payload, &view(&requirement), 1_740_672_089).is_ok());
}

#[test]
fn payment_six_seconds_before_valid_before_is_still_valid() {
    let (payload, requirement) = spec();
    assert!(check(&payload, &view(&requirement), 1_740_672_154 - 6).is_ok());
}

#[test]
fn payment_five_seconds_before_valid_before_is_inside_the_margin_and_expired() {
    let (payload, requirement) = spec();
    let err = check(&payload, &view(&requirement), 1_740_672_154 - 5).unwrap_err();
    assert_eq!(err.reason(), Reason::Expired);
}

#[test]
fn the_margin_is_configurable() {
    let (payload, requirement) = spec();
    let now = 1_740_672_154 - 5;
    let no_margin = CheckOptions::default().with_valid_before_margin(0);
    assert!(check_exact_evm(&payload, &view(&requirement), now, &no_margin).is_ok());
    let wide = CheckOptions::default().with_valid_before_margin(60);
    let err = check_exact_evm(&payload, &view(&requirement), SPEC_NOW, &wide).unwrap_err();
    assert_eq!(
        err,
        CheckError::Expired {
            valid_before: U256::from(1_740_672_154u64),
            now: SPEC_NOW,
            margin: 60
        }
    );
}

#[test]
fn valid_before_far_beyond_max_timeout_is_accepted_as_the_facilitator_does() {
    let signer = anvil_signer();
    let (_, requirement) = sdk();
    let view = view(&requirement);
    let mut authorization =
        authorization_for(signer.address(), &view, SDK_NOW, B256::repeat_byte(7));
    authorization.valid_before = U256::from(SDK_NOW + 365 * 24 * 3600);
    let payload = sign_authorization(&signer, &view.domain().unwrap(), authorization).unwrap();
    assert_eq!(
        check(&payload, &view, SDK_NOW),
        Ok(recovered(signer.address()))
    );
}

#[test]
fn a_fixed_clock_reads_what_it_was_set_to() {
    let clock = FixedClock::new(10);
    assert_eq!(clock.now(), 10);
    clock.advance(5);
    assert_eq!(clock.now(), 15);
    clock.set(3);
    assert_eq!(clock.now(), 3);
    clock.set(u64::MAX);
    clock.advance(1);
    assert_eq!(clock.now(), u64::MAX);
}

// ---------------------------------------------------------------------------------------------
// Recipient, amount, domain

#[test]
fn wrong_recipient_is_a_recipient_mismatch_naming_both_addresses() {
    let (mut payload, requirement) = spec();
    let other = address!("0x00000000000000000000000000000000000000aa");
    payload.authorization.to = other;
    let err = check(&payload, &view(&requirement), SPEC_NOW).unwrap_err();
    assert_eq!(
        err,
        CheckError::RecipientMismatch {
            to: other,
            pay_to: PAY_TO
        }
    );
    assert_eq!(err.reason(), Reason::RecipientMismatch);
    assert_eq!(
        err.to_string(),
        "authorization.to 0x00000000000000000000000000000000000000AA is not payTo \
         0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    );
}

#[test]
fn pay_to_is_compared_whatever_its_case() {
    let (payload, mut requirement) = spec();
    requirement.pay_to = requirement.pay_to.to_lowercase();
    assert!(check(&payload, &view(&requirement), SPEC_NOW).is_ok());
    requirement.pay_to = format!("0x{}", requirement.pay_to[2..].to_uppercase());
    assert!(check(&payload, &view(&requirement), SPEC_NOW).is_ok());
}

#[test]
fn wrong_value_is_an_amount_mismatch() {
    let (mut payload, requirement) = spec();
    payload.authorization.value = U256::from(9_999u64);
    let err = check(&payload, &view(&requirement), SPEC_NOW).unwrap_err();
    assert_eq!(
        err,
        CheckError::AmountMismatch {
            value: U256::from(9_999u64),
            amount: U256::from(10_000u64)
        }
    );
    assert_eq!(err.reason(), Reason::AmountMismatch);
    assert_eq!(
        err.to_string(),
        "authorization.value 9999 is not the required amount 10000"
    );
}

#[test]
fn more_than_the_amount_is_also_an_amount_mismatch() {
    let (mut payload, requirement) = spec();
    payload.authorization.value = U256::from(10_001u64);
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW)
            .unwrap_err()
            .reason(),
        Reason::AmountMismatch
    );
}

fn assert_signer_mismatch(result: Result<LocalVerdict, CheckError>, from: Address) {
    match result {
        Err(CheckError::SignerMismatch {
            recovered,
            from: claimed,
        }) => {
            assert_eq!(claimed, from);
            assert_ne!(recovered, from);
        }
        other => panic!("expected a signer mismatch, got {other:?}"),
    }
}

#[test]
fn signature_for_another_chain_does_not_recover_to_the_payer() {
    let (payload, requirement) = spec();
    let mut view = view(&requirement);
    view.chain_id = 8453;
    let result = check(&payload, &view, SPEC_NOW);
    assert_eq!(
        result.as_ref().unwrap_err().reason(),
        Reason::InvalidSignature
    );
    assert_signer_mismatch(result, SPEC_PAYER);
}

#[test]
fn signature_for_another_domain_name_does_not_recover_to_the_payer() {
    let (payload, requirement) = spec();
    let mut view = view(&requirement);
    view.eip712_name = Some("USD Coin");
    assert_signer_mismatch(check(&payload, &view, SPEC_NOW), SPEC_PAYER);
}

#[test]
fn signature_for_another_domain_version_does_not_recover_to_the_payer() {
    let (payload, requirement) = spec();
    let mut view = view(&requirement);
    view.eip712_version = Some("1");
    assert_signer_mismatch(check(&payload, &view, SPEC_NOW), SPEC_PAYER);
}

#[test]
fn signature_for_another_token_does_not_recover_to_the_payer() {
    let (payload, requirement) = spec();
    let mut view = view(&requirement);
    view.asset = address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
    assert_signer_mismatch(check(&payload, &view, SPEC_NOW), SPEC_PAYER);
}

#[test]
fn tampered_nonce_does_not_recover_to_the_payer() {
    let (mut payload, requirement) = spec();
    payload.authorization.nonce.0[31] ^= 1;
    assert_signer_mismatch(check(&payload, &view(&requirement), SPEC_NOW), SPEC_PAYER);
}

#[test]
fn claimed_payer_other_than_the_signer_is_a_signer_mismatch() {
    // `from` is part of the signed message, so the recovered address is some unrelated one.
    let (mut payload, requirement) = spec();
    payload.authorization.from = ANVIL_ADDRESS_0;
    let result = check(&payload, &view(&requirement), SPEC_NOW);
    let message = result.as_ref().unwrap_err().to_string();
    assert!(message.starts_with("signature recovers to 0x"), "{message}");
    assert!(
        message.ends_with(", not authorization.from 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        "{message}"
    );
    assert_signer_mismatch(result, ANVIL_ADDRESS_0);
}

#[test]
fn requirement_without_an_eip712_name_is_missing_its_domain() {
    let (payload, mut requirement) = spec();
    requirement.extra.as_mut().unwrap().remove("name");
    let err = check(&payload, &view(&requirement), SPEC_NOW).unwrap_err();
    assert_eq!(err, CheckError::MissingEip712Domain { field: "name" });
    assert_eq!(
        err.invalid_reason(),
        "invalid_exact_evm_missing_eip712_domain"
    );
}

#[test]
fn requirement_without_an_eip712_version_is_missing_its_domain() {
    let (payload, mut requirement) = spec();
    requirement.extra.as_mut().unwrap().remove("version");
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW),
        Err(CheckError::MissingEip712Domain { field: "version" })
    );
}

#[test]
fn requirement_without_extra_or_with_a_non_string_name_is_missing_its_domain() {
    let (payload, mut requirement) = spec();
    requirement
        .extra
        .as_mut()
        .unwrap()
        .insert("name".to_owned(), serde_json::json!(2));
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW),
        Err(CheckError::MissingEip712Domain { field: "name" })
    );
    requirement.extra = None;
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW),
        Err(CheckError::MissingEip712Domain { field: "name" })
    );
}

// ---------------------------------------------------------------------------------------------
// Signature encodings

#[test]
fn v_as_27_28_and_as_0_1_are_both_accepted() {
    // The spec and 2.27 vectors end in v = 28, the v1 vector in v = 27.
    let (payload, requirement) = spec();
    let (v1_payload, v1_requirement) = sdk_v1();
    let v1_view =
        RequirementView::from_v1_with_chain_id(&v1_requirement, BASE_SEPOLIA_CHAIN_ID).unwrap();
    assert_eq!(payload.signature[64], 28);
    assert_eq!(v1_payload.signature[64], 27);
    for (payload, view, now, payer, v) in [
        (&payload, view(&requirement), SPEC_NOW, SPEC_PAYER, 1),
        (&v1_payload, v1_view, SDK_V1_NOW, ANVIL_ADDRESS_0, 0),
    ] {
        let raw = ExactEvmPayload {
            signature: with_v(&payload.signature, v),
            ..payload.clone()
        };
        assert_eq!(
            check(payload, &view, now),
            Ok(recovered(payer)),
            "v = {}",
            payload.signature[64]
        );
        assert_eq!(check(&raw, &view, now), Ok(recovered(payer)), "v = {v}");
    }
}

#[test]
fn the_other_parity_does_not_recover_to_the_payer() {
    let (payload, requirement) = spec();
    for v in [27, 0] {
        let flipped = ExactEvmPayload {
            signature: with_v(&payload.signature, v),
            ..payload.clone()
        };
        assert_eq!(
            check(&flipped, &view(&requirement), SPEC_NOW)
                .unwrap_err()
                .reason(),
            Reason::InvalidSignature
        );
    }
}

#[test]
fn v_other_than_0_1_27_28_is_malformed() {
    let (payload, requirement) = spec();
    for v in [2, 26, 29, 35, 36, 255] {
        let odd = ExactEvmPayload {
            signature: with_v(&payload.signature, v),
            ..payload.clone()
        };
        assert_eq!(
            check(&odd, &view(&requirement), SPEC_NOW),
            Err(CheckError::MalformedSignature {
                problem: "v must be 27 or 28 (or 0 or 1)"
            }),
            "v = {v}"
        );
    }
}

#[test]
fn high_s_twin_of_a_valid_signature_is_refused() {
    // secp256k1 order n: (r, n - s) with the other parity is the same signature's malleable
    // twin; ecrecover accepts it, USDC's ECRecover does not.
    const N: U256 = alloy_primitives::uint!(
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
    );
    let (payload, requirement) = spec();
    let s = U256::from_be_slice(&payload.signature[32..64]);
    let mut twin = payload.signature.to_vec();
    twin[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
    twin[64] = 27; // 28 flipped
    let twin = ExactEvmPayload {
        signature: twin.into(),
        ..payload
    };
    let err = check(&twin, &view(&requirement), SPEC_NOW).unwrap_err();
    assert!(
        matches!(err, CheckError::MalformedSignature { problem } if problem.contains("upper half")),
        "{err:?}"
    );
    assert_eq!(err.reason(), Reason::InvalidSignature);
}

#[test]
fn zero_r_or_s_is_malformed() {
    let (payload, requirement) = spec();
    for range in [0..32, 32..64] {
        let mut zeroed = payload.signature.to_vec();
        zeroed[range].fill(0);
        let zeroed = ExactEvmPayload {
            signature: zeroed.into(),
            ..payload.clone()
        };
        assert!(matches!(
            check(&zeroed, &view(&requirement), SPEC_NOW),
            Err(CheckError::MalformedSignature { .. })
        ));
    }
}

#[test]
fn r_beyond_the_curve_order_is_malformed() {
    let (payload, requirement) = spec();
    let mut bad = payload.signature.to_vec();
    bad[..32].fill(0xff);
    let bad = ExactEvmPayload {
        signature: bad.into(),
        ..payload
    };
    assert_eq!(
        check(&bad, &view(&requirement), SPEC_NOW)
            .unwrap_err()
            .reason(),
        Reason::InvalidSignature
    );
}

#[test]
fn smart_wallet_signature_is_passed_on_unchecked() {
    let (payload, requirement) = spec();
    for len in [66, 97, 130, 600] {
        let long = ExactEvmPayload {
            signature: vec![0xab; len].into(),
            ..payload.clone()
        };
        let verdict = check(&long, &view(&requirement), SPEC_NOW).unwrap();
        assert_eq!(verdict.signature, SignatureCheck::SmartWallet { len });
        assert_eq!(verdict.payer, SPEC_PAYER);
        assert!(!verdict.signature_checked());
    }
}

#[test]
fn signatures_shorter_than_65_bytes_are_also_left_to_the_facilitator() {
    let (payload, requirement) = spec();
    for len in [0, 64] {
        let short = ExactEvmPayload {
            signature: vec![1; len].into(),
            ..payload.clone()
        };
        assert_eq!(
            check(&short, &view(&requirement), SPEC_NOW)
                .unwrap()
                .signature,
            SignatureCheck::SmartWallet { len }
        );
    }
}

#[test]
fn cheap_checks_still_apply_to_smart_wallet_payments() {
    let (mut payload, requirement) = spec();
    payload.signature = vec![0xab; 200].into();
    payload.authorization.value = U256::from(1u64);
    assert_eq!(
        check(&payload, &view(&requirement), SPEC_NOW)
            .unwrap_err()
            .reason(),
        Reason::AmountMismatch
    );
}

#[test]
fn signature_check_can_be_turned_off() {
    let (mut payload, requirement) = spec();
    payload.signature = with_v(&payload.signature, 27);
    let off = CheckOptions::default().with_signature_check(false);
    let verdict = check_exact_evm(&payload, &view(&requirement), SPEC_NOW, &off).unwrap();
    assert_eq!(verdict.signature, SignatureCheck::Disabled);
    assert!(!verdict.signature_checked());
}

// ---------------------------------------------------------------------------------------------
// Signing

#[test]
fn signing_the_sdk_vector_authorization_reproduces_its_signature() {
    // RFC 6979 deterministic nonces: alloy (k256) and viem (noble) produce the same bytes.
    let (payload, requirement) = sdk();
    let domain = view(&requirement).domain().unwrap();
    let signed =
        sign_authorization(&anvil_signer(), &domain, payload.authorization.clone()).unwrap();
    assert_eq!(signed, payload);
}

#[test]
fn payments_signed_with_a_known_key_verify() {
    let (_, requirement) = sdk();
    let view = view(&requirement);
    let signer = anvil_signer();
    let payload = sign_payment(&signer, &view, SDK_NOW).unwrap();
    assert_eq!(
        check(&payload, &view, SDK_NOW),
        Ok(recovered(ANVIL_ADDRESS_0))
    );
    assert_eq!(
        check(&payload, &view, SDK_NOW + 300 - 6),
        Ok(recovered(ANVIL_ADDRESS_0))
    );
    assert_eq!(
        check(&payload, &view, SDK_NOW + 300 - 5)
            .unwrap_err()
            .reason(),
        Reason::Expired
    );
}

#[test]
fn signed_payments_are_filled_as_the_2_27_client_fills_them() {
    let (_, requirement) = sdk();
    let view = view(&requirement);
    let signer = anvil_signer();
    let first = sign_payment(&signer, &view, SDK_NOW).unwrap();
    let second = sign_payment(&signer, &view, SDK_NOW).unwrap();
    let authorization = &first.authorization;
    assert_eq!(authorization.from, ANVIL_ADDRESS_0);
    assert_eq!(authorization.to, PAY_TO);
    assert_eq!(authorization.value, U256::from(1000u64));
    assert_eq!(authorization.valid_after, U256::ZERO);
    assert_eq!(authorization.valid_before, U256::from(SDK_NOW + 300));
    assert_ne!(
        authorization.nonce, second.authorization.nonce,
        "nonces are random"
    );
    assert_eq!(first.signature.len(), 65);
    assert!(matches!(first.signature[64], 27 | 28));
}

#[test]
fn signing_for_a_requirement_without_a_domain_fails() {
    let (_, mut requirement) = sdk();
    requirement.extra = None;
    assert!(sign_payment(&anvil_signer(), &view(&requirement), SDK_NOW).is_err());
}

// ---------------------------------------------------------------------------------------------
// Payment-level checks: versions, schemes, networks, payload shapes

#[test]
fn v1_payment_against_a_v2_requirement_is_a_version_mismatch() {
    let payment = PaymentPayload::V1(v1_payment(SDK_V1_PAYMENT));
    let (_, requirement) = sdk();
    let err = check_payment(
        &payment,
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CheckError::VersionMismatch {
            payment: 1,
            requirement: 2
        }
    );
    assert_eq!(err.reason(), Reason::VersionMismatch);
}

#[test]
fn v2_payment_accepted_on_another_network_is_a_network_mismatch() {
    let mut payment = v2_payment(SDK_V2_PAYMENT);
    payment.accepted.network = "eip155:8453".to_owned();
    let (_, requirement) = sdk();
    let err = check_payment(
        &PaymentPayload::V2(payment),
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CheckError::NetworkMismatch {
            payment: "eip155:8453".to_owned(),
            requirement: "eip155:84532".to_owned()
        }
    );
    assert_eq!(err.reason(), Reason::NoMatchingRequirement);
}

#[test]
fn requirement_of_another_scheme_is_unsupported() {
    let payment = PaymentPayload::V2(v2_payment(SDK_V2_PAYMENT));
    let (_, mut requirement) = sdk();
    requirement.scheme = "upto".to_owned();
    let err = check_payment(
        &payment,
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CheckError::UnsupportedScheme {
            scheme: "upto".to_owned()
        }
    );
    assert_eq!(err.reason(), Reason::UnsupportedScheme);
}

#[test]
fn payment_of_another_scheme_than_the_requirement_is_a_scheme_mismatch() {
    let mut payment = v2_payment(SDK_V2_PAYMENT);
    payment.accepted.scheme = "upto".to_owned();
    let (_, requirement) = sdk();
    let err = check_payment(
        &PaymentPayload::V2(payment),
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CheckError::SchemeMismatch { .. }), "{err:?}");
}

#[test]
fn non_eip3009_payload_is_unsupported_and_not_for_local_checks() {
    let mut payment = v2_payment(SDK_V2_PAYMENT);
    let serde_json::Value::Object(permit2) = serde_json::json!({
        "signature": "0x00",
        "permit2Authorization": { "from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" }
    }) else {
        unreachable!("a JSON object literal")
    };
    payment.payload = SchemePayload::Other(permit2);
    let payment = PaymentPayload::V2(payment);
    assert!(!applies_to(&payment));
    let (_, requirement) = sdk();
    let err = check_payment(
        &payment,
        Requirements::V2(&requirement),
        SDK_NOW,
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err, CheckError::UnsupportedPayload);
    assert_eq!(err.reason(), Reason::UnsupportedScheme);
}

#[test]
fn eip3009_payments_are_for_local_checks() {
    assert!(applies_to(&PaymentPayload::V2(v2_payment(SDK_V2_PAYMENT))));
    assert!(applies_to(&PaymentPayload::V1(v1_payment(SDK_V1_PAYMENT))));
}

#[test]
fn non_evm_requirement_network_is_unsupported() {
    let (_, mut requirement) = sdk();
    requirement.network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".to_owned();
    let err = RequirementView::from_v2(&requirement).unwrap_err();
    assert_eq!(
        err,
        CheckError::UnsupportedNetwork {
            network: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".to_owned()
        }
    );
    assert_eq!(err.reason(), Reason::UnsupportedScheme);
}

#[test]
fn unusable_requirement_fields_are_named() {
    type Spoil = fn(&mut v2::PaymentRequirements);
    let (_, requirement) = sdk();
    let cases: [(&str, Spoil); 4] = [
        ("payTo", |r| {
            r.pay_to = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV".to_owned();
        }),
        ("asset", |r| r.asset = "0x1234".to_owned()),
        ("amount", |r| r.amount = "1e3".to_owned()),
        ("amount", |r| r.amount = "-1".to_owned()),
    ];
    for (field, spoil) in cases {
        let mut spoilt = requirement.clone();
        spoil(&mut spoilt);
        let err = RequirementView::from_v2(&spoilt).unwrap_err();
        assert!(
            matches!(err, CheckError::InvalidRequirement { field: f, .. } if f == field),
            "{err:?}"
        );
        assert_eq!(err.reason(), Reason::NoMatchingRequirement);
    }
}

#[test]
fn eip155_chain_ids_are_parsed_strictly() {
    let cases = [
        ("eip155:84532", Some(84_532)),
        ("eip155:1", Some(1)),
        ("eip155:", None),
        ("eip155:+1", None),
        ("eip155:1a", None),
        ("eip155:99999999999999999999999", None),
        ("base-sepolia", None),
        ("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", None),
    ];
    for (network, expected) in cases {
        assert_eq!(eip155_chain_id(network), expected, "{network}");
    }
}

#[test]
fn every_check_error_maps_to_a_reason_and_a_facilitator_string() {
    let cases = [
        (
            CheckError::VersionMismatch {
                payment: 1,
                requirement: 2,
            },
            Reason::VersionMismatch,
            "invalid_x402_version",
        ),
        (
            CheckError::UnsupportedPayload,
            Reason::UnsupportedScheme,
            "unsupported_payload_type",
        ),
        (
            CheckError::RecipientMismatch {
                to: Address::ZERO,
                pay_to: PAY_TO,
            },
            Reason::RecipientMismatch,
            "invalid_exact_evm_recipient_mismatch",
        ),
        (
            CheckError::AmountMismatch {
                value: U256::ZERO,
                amount: U256::from(1u64),
            },
            Reason::AmountMismatch,
            "invalid_exact_evm_payload_authorization_value_mismatch",
        ),
        (
            CheckError::NotYetValid {
                valid_after: U256::from(2u64),
                now: 1,
            },
            Reason::NotYetValid,
            "invalid_exact_evm_payload_authorization_valid_after",
        ),
        (
            CheckError::Expired {
                valid_before: U256::ZERO,
                now: 1,
                margin: 6,
            },
            Reason::Expired,
            "invalid_exact_evm_payload_authorization_valid_before",
        ),
        (
            CheckError::MalformedSignature { problem: "x" },
            Reason::InvalidSignature,
            "invalid_exact_evm_signature",
        ),
        (
            CheckError::SignerMismatch {
                recovered: Address::ZERO,
                from: PAY_TO,
            },
            Reason::InvalidSignature,
            "invalid_exact_evm_signature",
        ),
    ];
    for (error, reason, invalid_reason) in cases {
        assert_eq!(error.reason(), reason, "{error}");
        assert_eq!(error.invalid_reason(), invalid_reason, "{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

/// A random requirement, a key, a time and a payment by that key inside its window.
#[derive(Debug, Clone)]
struct Case {
    signer: PrivateKeySigner,
    name: String,
    version: String,
    chain_id: u64,
    asset: Address,
    pay_to: Address,
    amount: U256,
    now: u64,
    authorization: Eip3009Authorization,
}

impl Case {
    fn view(&self) -> RequirementView<'_> {
        RequirementView {
            scheme: "exact",
            network: "eip155:test",
            chain_id: self.chain_id,
            asset: self.asset,
            pay_to: self.pay_to,
            amount: self.amount,
            max_timeout_seconds: 300,
            eip712_name: Some(&self.name),
            eip712_version: Some(&self.version),
        }
    }

    fn signed(&self) -> ExactEvmPayload {
        let domain = self.view().domain().unwrap();
        sign_authorization(&self.signer, &domain, self.authorization.clone()).unwrap()
    }
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let key = any::<[u8; 32]>().prop_filter_map("a valid secp256k1 scalar", |bytes| {
        PrivateKeySigner::from_bytes(&B256::from(bytes)).ok()
    });
    (
        key,
        ("[ -~]{0,16}", "[0-9]{1,3}", any::<u64>()),
        (any::<[u8; 20]>(), any::<[u8; 20]>(), u256()),
        (
            1u64..(1 << 40),
            0u64..(1 << 40),
            6u64..(1 << 32),
            any::<[u8; 32]>(),
        ),
    )
        .prop_map(
            |(
                signer,
                (name, version, chain_id),
                (asset, pay_to, amount),
                (now, after, ahead, nonce),
            )| {
                let authorization = Eip3009Authorization {
                    from: signer.address(),
                    to: Address::from(pay_to),
                    value: amount,
                    valid_after: U256::from(after % (now + 1)),
                    valid_before: U256::from(now + ahead),
                    nonce: B256::from(nonce),
                };
                Case {
                    signer,
                    name,
                    version,
                    chain_id,
                    asset: Address::from(asset),
                    pay_to: Address::from(pay_to),
                    amount,
                    now,
                    authorization,
                }
            },
        )
}

/// One field of a signed payment changed, with the requirement and time kept consistent so
/// that only the signature can tell.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    To,
    Value,
    ValidAfter,
    ValidBefore,
    Nonce(usize, u8),
    From,
    SignatureByte(usize, u8),
    Parity,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::To),
        Just(Tamper::Value),
        Just(Tamper::ValidAfter),
        Just(Tamper::ValidBefore),
        (0usize..32, 0u8..8).prop_map(|(i, bit)| Tamper::Nonce(i, bit)),
        Just(Tamper::From),
        (0usize..64, 0u8..8).prop_map(|(i, bit)| Tamper::SignatureByte(i, bit)),
        Just(Tamper::Parity),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_payment_signed_by_its_payer_verifies_and_any_single_change_fails(case in case(), tamper in tamper()) {
        let payload = case.signed();
        prop_assert_eq!(check(&payload, &case.view(), case.now), Ok(recovered(case.signer.address())));

        let mut tampered = payload;
        let mut case = case;
        let authorization = &mut tampered.authorization;
        match tamper {
            Tamper::To => {
                authorization.to.0[0] ^= 1;
                // Against our requirement it is the wrong recipient …
                prop_assert_eq!(check(&tampered, &case.view(), case.now).unwrap_err().reason(), Reason::RecipientMismatch);
                // … and had we asked for that recipient, the signature still would not match.
                case.pay_to = tampered.authorization.to;
            }
            Tamper::Value => {
                authorization.value = authorization.value.wrapping_add(U256::from(1u64));
                prop_assert_eq!(check(&tampered, &case.view(), case.now).unwrap_err().reason(), Reason::AmountMismatch);
                case.amount = tampered.authorization.value;
            }
            Tamper::ValidAfter => {
                let after = authorization.valid_after;
                authorization.valid_after = if after.is_zero() { U256::from(1u64) } else { after - U256::from(1u64) };
            }
            Tamper::ValidBefore => authorization.valid_before += U256::from(1u64),
            Tamper::Nonce(i, bit) => authorization.nonce.0[i] ^= 1 << bit,
            Tamper::From => authorization.from.0[19] ^= 1,
            Tamper::SignatureByte(i, bit) => {
                let mut bytes = tampered.signature.to_vec();
                bytes[i] ^= 1 << bit;
                tampered.signature = bytes.into();
            }
            Tamper::Parity => {
                let mut bytes = tampered.signature.to_vec();
                bytes[64] ^= 1; // 27 <-> 28
                tampered.signature = bytes.into();
            }
        }
        let err = check(&tampered, &case.view(), case.now).unwrap_err();
        prop_assert_eq!(err.reason(), Reason::InvalidSignature, "{:?}: {}", tamper, err);
    }

    #[test]
    fn checks_never_panic_on_arbitrary_payloads(
        (from, to, nonce) in (any::<[u8; 20]>(), any::<[u8; 20]>(), any::<[u8; 32]>()),
        (value, valid_after, valid_before) in (u256(), u256(), u256()),
        signature in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..140),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), prop_oneof![Just(0u8), Just(1), Just(27), Just(28), any::<u8>()])
                .prop_map(|(r, s, v)| [&r[..], &s[..], &[v]].concat()),
        ],
        now in any::<u64>(),
        margin in any::<u64>(),
        name in ".{0,8}",
    ) {
        let payload = ExactEvmPayload {
            signature: signature.into(),
            authorization: Eip3009Authorization {
                from: Address::from(from),
                to: Address::from(to),
                value,
                valid_after,
                valid_before,
                nonce: B256::from(nonce),
            },
        };
        // Whatever the requirement, and one that lets the payload reach the signature check.
        let reaching = RequirementView {
            scheme: "exact",
            network: "eip155:84532",
            chain_id: BASE_SEPOLIA_CHAIN_ID,
            asset: BASE_SEPOLIA_USDC,
            pay_to: payload.authorization.to,
            amount: value,
            max_timeout_seconds: 60,
            eip712_name: Some(&name),
            eip712_version: Some("2"),
        };
        let other = RequirementView { pay_to: PAY_TO, amount: U256::from(1000u64), ..reaching };
        let options = CheckOptions::default().with_valid_before_margin(margin);
        let _ = check_exact_evm(&payload, &other, now, &options);
        let _ = check_exact_evm(&payload, &reaching, now, &options);
        let reaching_now = u64::try_from(valid_after).unwrap_or(now);
        let relaxed = CheckOptions::default().with_valid_before_margin(0);
        let _ = check_exact_evm(&payload, &reaching, reaching_now, &relaxed);
    }
}
