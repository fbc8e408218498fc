//! The dev facilitator with Permit2 payments: `upto` (verified for the maximum, settled for a
//! partial charge, zero settles nothing) and its `/supported` facilitator address.
#![cfg(all(feature = "dev-facilitator", feature = "evm-signer"))]

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use alloy_primitives::{Address, U256, address};
use x402_core::{
    evm::{FixedClock, signer::PrivateKeySigner},
    facilitator::dev::{DEV_FACILITATOR_ADDRESS, DevFacilitator, DevNetwork},
    permit2::{self, Permit2Terms},
};

const NOW: u64 = 1_795_346_121;
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: Address = address!("209693Bc6afc0C5328bA36FaF03C514EF312287C");
const USDC: Address = address!("036CbD53842c5426634e7929541eC2318f3dCF7e");

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn facilitator() -> DevFacilitator {
    DevFacilitator::new([DevNetwork::base_sepolia()]).with_clock(FixedClock::new(NOW))
}

fn requirement(amount: &str) -> serde_json::Value {
    serde_json::json!({
        "scheme": "upto", "network": "eip155:84532", "amount": amount,
        "asset": USDC.to_checksum(None), "payTo": PAY_TO.to_checksum(None),
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USDC", "version": "2", "assetTransferMethod": "permit2",
                  "facilitatorAddress": DEV_FACILITATOR_ADDRESS.to_checksum(None)}
    })
}

/// A `/verify`-or-`/settle` body: an `upto` payment of max 10000 signed for `facilitator`,
/// against a requirement of `amount`.
fn body(facilitator: Address, amount: &str) -> Vec<u8> {
    let signer: PrivateKeySigner = KEY.parse().unwrap();
    let terms = Permit2Terms {
        chain_id: 84_532,
        asset: USDC,
        pay_to: PAY_TO,
        amount: U256::from(10_000),
        spender: permit2::UPTO_PERMIT2_PROXY,
        facilitator: Some(facilitator),
    };
    // A fixed nonce, so that two bodies are the same permit.
    let authorization =
        permit2::authorization_for(signer.address(), &terms, NOW, 300, U256::from(7));
    let payload = permit2::signer::sign_permit(&signer, 84_532, authorization).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": requirement("10000"), "payload": payload},
        "paymentRequirements": requirement(amount),
    }))
    .unwrap()
}

#[test]
fn supported_names_the_dev_facilitator_address_for_upto() {
    let supported = block_on(x402_core::facilitator::Facilitator::supported(
        &facilitator(),
    ))
    .unwrap();
    let kind = supported
        .kinds
        .iter()
        .find(|k| k.scheme == "upto" && k.network == "eip155:84532")
        .expect("an upto kind");
    assert_eq!(
        kind.extra.as_ref().unwrap()["facilitatorAddress"],
        DEV_FACILITATOR_ADDRESS.to_checksum(None)
    );
}

#[test]
fn an_upto_permit_verifies_for_the_maximum_and_settles_a_partial_charge() {
    let dev = facilitator();
    let verified = block_on(dev.verify_body(&body(DEV_FACILITATOR_ADDRESS, "10000"))).unwrap();
    assert!(verified.is_valid, "{:?}", verified.invalid_message);
    // At /verify the requirement is the maximum: a smaller amount is refused.
    let smaller = block_on(dev.verify_body(&body(DEV_FACILITATOR_ADDRESS, "4000"))).unwrap();
    assert_eq!(
        smaller.invalid_reason.as_deref(),
        Some("permit2_amount_mismatch")
    );
    let settled = block_on(dev.settle_body(&body(DEV_FACILITATOR_ADDRESS, "4000"))).unwrap();
    assert!(settled.success, "{:?}", settled.error_message);
    assert_eq!(settled.amount.as_deref(), Some("4000"));
    assert!(!settled.transaction.is_empty());
    let recorded = dev.settlements();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].value, U256::from(4000));
    // The permit's nonce is used now.
    let again = block_on(dev.settle_body(&body(DEV_FACILITATOR_ADDRESS, "1000"))).unwrap();
    assert!(!again.success);
}

#[test]
fn an_upto_charge_above_the_permit_is_refused() {
    let settled =
        block_on(facilitator().settle_body(&body(DEV_FACILITATOR_ADDRESS, "10001"))).unwrap();
    assert!(!settled.success);
    assert_eq!(
        settled.error_reason.as_deref(),
        Some("upto_amount_exceeds_permitted")
    );
}

#[test]
fn an_upto_charge_of_zero_moves_nothing() {
    let dev = facilitator();
    let settled = block_on(dev.settle_body(&body(DEV_FACILITATOR_ADDRESS, "0"))).unwrap();
    assert!(settled.success);
    assert_eq!(settled.amount.as_deref(), Some("0"));
    assert_eq!(settled.transaction, "");
    assert!(dev.settlements().is_empty());
}

#[test]
fn a_permit_for_another_facilitator_is_refused() {
    let other = address!("2222222222222222222222222222222222222222");
    let verified = block_on(facilitator().verify_body(&body(other, "10000"))).unwrap();
    assert!(!verified.is_valid);
    assert_eq!(
        verified.invalid_reason.as_deref(),
        Some("upto_facilitator_mismatch")
    );
}
