//! The local EVM `exact` check: what one payment costs us before any facilitator call (and so
//! what an attacker can make us spend per forged payment header).
//!
//! `cargo bench -p benches --bench evm`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use x402_core::{
    evm::{CheckOptions, RequirementView, check_exact_evm, eip712_digest},
    wire::{ExactEvmPayload, v2},
};

/// The payment the official 2.27.0 client sent (x402-protocol.md §12.2), and its requirement.
const PAYLOAD: &str = r#"{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0","validBefore":"1795346421","nonce":"0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204"},"signature":"0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c"}"#;
const REQUIREMENT: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}"#;
const NOW: u64 = 1_795_346_121;

fn evm(c: &mut Criterion) {
    let payload: ExactEvmPayload = serde_json::from_str(PAYLOAD).expect("payload parses");
    let requirement: v2::PaymentRequirements =
        serde_json::from_str(REQUIREMENT).expect("requirement parses");
    let options = CheckOptions::default();
    let wrong_amount: ExactEvmPayload =
        serde_json::from_str(&PAYLOAD.replace(r#""value":"1000""#, r#""value":"1001""#))
            .expect("payload parses");

    let mut group = c.benchmark_group("evm");
    group.bench_function(
        "check_exact_evm (requirement view + digest + recovery)",
        |b| {
            b.iter(|| {
                let view = RequirementView::from_v2(black_box(&requirement)).expect("usable");
                check_exact_evm(black_box(&payload), &view, black_box(NOW), &options)
            });
        },
    );
    let view = RequirementView::from_v2(&requirement).expect("usable");
    let domain = view.domain().expect("a domain");
    group.bench_function("eip712_digest", |b| {
        b.iter(|| eip712_digest(black_box(&domain), black_box(&payload.authorization)));
    });
    group.bench_function("RequirementView::from_v2", |b| {
        b.iter(|| RequirementView::from_v2(black_box(&requirement)));
    });
    // A forged payment: well-formed, right terms, signed by someone else. Refusing it costs one
    // recovery: what an attacker can make us spend per request.
    let forged: ExactEvmPayload = serde_json::from_str(&PAYLOAD.replace(
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    ))
    .expect("payload parses");
    assert!(check_exact_evm(&forged, &view, NOW, &options).is_err());
    group.bench_function("check_exact_evm rejecting a forged signature", |b| {
        b.iter(|| check_exact_evm(black_box(&forged), &view, black_box(NOW), &options));
    });
    group.bench_function(
        "check_exact_evm rejecting a wrong amount (no signature work)",
        |b| {
            b.iter(|| check_exact_evm(black_box(&wrong_amount), &view, black_box(NOW), &options));
        },
    );
    group.finish();
}

criterion_group!(benches, evm);
criterion_main!(benches);
