//! The local checks of EVM `exact` payments (amount, recipient, validity window, EIP-712
//! digest and signature recovery): any v1 or v2 payment JSON is accepted or refused with a
//! reason — never a panic. v2 payments are checked against their own `accepted` requirement
//! (so the fuzzer drives both sides) and against a fixed one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use x402_core::{
    evm::{CheckOptions, check_payment},
    facilitator::Requirements,
    wire::{PaymentPayload, v1, v2},
};

const NOW: u64 = 1_795_346_121;

const REQUIREMENT: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}"#;

const V1_REQUIREMENT: &str = r#"{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000","resource":"http://127.0.0.1:4021/weather","description":"","mimeType":"","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}"#;

fn fixed() -> &'static (v2::PaymentRequirements, v1::PaymentRequirements) {
    static FIXED: OnceLock<(v2::PaymentRequirements, v1::PaymentRequirements)> = OnceLock::new();
    FIXED.get_or_init(|| {
        (
            serde_json::from_str(REQUIREMENT).expect("v2 requirement"),
            serde_json::from_str(V1_REQUIREMENT).expect("v1 requirement"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (v2_requirement, v1_requirement) = fixed();
    let mut unsigned = CheckOptions::default();
    unsigned.check_signature = false;
    let options = [CheckOptions::default(), unsigned];
    if let Ok(payment) = serde_json::from_slice::<v2::PaymentPayload>(data) {
        let accepted = payment.accepted.clone();
        let payment = PaymentPayload::V2(payment);
        for options in &options {
            let _ = check_payment(&payment, Requirements::V2(&accepted), NOW, options);
            let _ = check_payment(&payment, Requirements::V2(v2_requirement), NOW, options);
            let _ = check_payment(&payment, Requirements::V1(v1_requirement), NOW, options);
        }
    }
    if let Ok(payment) = serde_json::from_slice::<v1::PaymentPayload>(data) {
        let payment = PaymentPayload::V1(payment);
        for options in &options {
            let _ = check_payment(&payment, Requirements::V1(v1_requirement), NOW, options);
            let _ = check_payment(&payment, Requirements::V2(v2_requirement), NOW, options);
        }
    }
});
