//! The conformance cases. Each is `async fn(&dyn AppFactory)`; [`crate::conformance_suite!`]
//! turns every one into a test for an adapter.

use std::time::Duration;

use x402_core::{
    RouteTable,
    gate::SettlementMode,
    spec::RouteSpec,
    wire::{v1, v2},
};

use crate::{
    AppFactory, Script, TestRequest,
    facilitator::TX,
    fixture::{self, Fixture, NOW, PAYER, challenge, receipt, v2_header},
};

/// Expands every case into a `#[tokio::test]` for `$factory` (an [`AppFactory`] value).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@cases $factory;
            free_route_is_untouched,
            unmatched_route_is_untouched,
            options_preflight_passes_unpriced,
            unpaid_request_gets_the_v2_challenge_and_a_v1_body,
            browser_gets_an_html_paywall_with_the_challenge_header,
            bypass_spellings_of_a_paid_path_are_priced_or_refused,
            paid_v2_request_is_served_and_settled_with_a_receipt,
            paid_v1_request_is_served_with_an_x_payment_response,
            lower_case_payment_header_is_accepted,
            malformed_payment_header_is_a_402_naming_the_reason,
            oversized_payment_header_is_a_402_naming_the_reason,
            payment_in_the_wrong_header_version_is_refused,
            tampered_amount_matches_no_requirement,
            payment_to_another_recipient_is_refused_locally,
            expired_payment_is_refused_locally,
            payment_with_a_bad_signature_is_refused_locally,
            facilitator_invalid_is_a_402_with_its_reason,
            facilitator_unavailable_is_a_503_with_retry_after,
            facilitator_timeout_is_a_503,
            facilitator_malformed_answer_is_a_502,
            handler_server_error_is_not_charged,
            handler_not_found_is_not_charged,
            refused_settlement_replaces_the_handler_output_with_a_402,
            unknown_settlement_is_a_503_with_the_transaction_in_the_receipt,
            same_payment_sent_twice_concurrently_is_served_once,
            used_payment_is_refused_as_a_replay,
            streamed_response_stays_streamed_and_is_settled_once,
            client_that_disconnects_before_settlement_is_not_charged,
            route_table_swapped_mid_traffic_takes_effect,
            settle_before_handler_charges_even_when_the_handler_fails,
            verify_only_mode_never_settles,
            resource_url_uses_the_configured_base_url,
            upfront_route_is_advertised_and_settled_before_the_handler_without_verify,
            upfront_payment_is_charged_even_when_the_handler_fails,
            refused_upfront_settlement_never_runs_the_handler,
            payment_naming_a_flow_we_did_not_offer_is_refused,
            upto_offer_names_permit2_and_the_facilitator_address,
            upto_without_a_choice_charges_the_maximum,
            upto_charges_what_the_settlement_overrides_header_says_and_hides_it,
            upto_charges_what_the_handler_put_in_its_response_extensions,
            upto_charge_above_the_maximum_is_not_settled,
            upto_invalid_settlement_overrides_is_not_settled,
            upto_charge_of_zero_settles_nothing_and_says_so,
            upto_permit_for_another_facilitator_is_refused_locally,
            exact_permit2_route_is_advertised_and_paid_with_a_permit,
            eip3009_payload_for_a_permit2_option_is_refused_locally,
            permit2_allowance_required_is_a_412_with_the_challenge,
            upto_is_charged_after_the_handler_even_when_the_gate_settles_before,
            upto_permit_charged_nothing_cannot_be_used_again,
            settlement_overrides_on_an_exact_route_is_ignored_and_removed,
            permit2_allowance_required_under_upfront_is_a_412_too,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::cases::$case(&$factory).await;
            }
        )*

        #[::core::prelude::v1::test]
        fn every_case_is_listed() {
            $crate::assert_every_case_is_listed(
                "conformance_suite!",
                $crate::cases::SOURCE,
                &[$(stringify!($case)),*],
            );
        }
    };
}

/// This file's source, for the check that every case is in [`crate::conformance_suite!`].
pub const SOURCE: &str = include_str!("cases.rs");

fn assert_no_facilitator_call(f: &Fixture) {
    assert_eq!(f.facilitator.verify_calls(), 0, "verify must not be called");
    assert_eq!(f.facilitator.settle_calls(), 0, "settle must not be called");
}

fn assert_refused(response: &crate::TestResponse, reason: &str) {
    assert_eq!(response.status, 402, "{}", response.text());
    assert_eq!(challenge(response).error.as_deref(), Some(reason));
    assert!(response.header("payment-response").is_none());
}

/// A free route is served as the handler answers; the facilitator is never called.
pub async fn free_route_is_untouched(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.get("/health").await;
    assert_eq!((response.status, response.text().as_str()), (200, "ok"));
    assert!(response.header("payment-required").is_none());
    assert_no_facilitator_call(&f);
}

/// A path the table does not know is served untouched.
pub async fn unmatched_route_is_untouched(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.get("/open").await;
    assert_eq!((response.status, response.text().as_str()), (200, "open"));
    assert!(response.header("payment-required").is_none());
}

/// `OPTIONS` on a priced path is not priced (CORS preflights must pass).
pub async fn options_preflight_passes_unpriced(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.send(TestRequest::new("OPTIONS", "/weather")).await;
    assert_ne!(response.status, 402);
    assert!(response.header("payment-required").is_none());
}

/// The 402: v2 header, v1 body, no-store, CORS exposure, absolute resource URL.
pub async fn unpaid_request_gets_the_v2_challenge_and_a_v1_body(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.get("/weather?city=SF").await;
    assert_eq!(response.status, 402);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let expose = response
        .header("access-control-expose-headers")
        .unwrap_or("");
    for name in ["PAYMENT-REQUIRED", "PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE"] {
        assert!(expose.contains(name), "{name} not exposed: {expose}");
    }
    let required = challenge(&response);
    assert_eq!(required.error.as_deref(), Some("Payment required"));
    assert_eq!(
        required.resource.url,
        "http://api.example.com/weather?city=SF"
    );
    assert_eq!(required.accepts.len(), 1);
    let accept = &required.accepts[0];
    assert_eq!(
        (
            accept.network.as_str(),
            accept.amount.as_str(),
            accept.pay_to.as_str()
        ),
        ("eip155:84532", "1000", fixture::PAY_TO)
    );
    let body: v1::PaymentRequired = serde_json::from_slice(&response.body).expect("v1 body");
    assert_eq!(body.accepts[0].network, "base-sepolia");
    assert_eq!(body.accepts[0].max_amount_required, "1000");
    assert_eq!(
        body.accepts[0].resource,
        "http://api.example.com/weather?city=SF"
    );
    assert_no_facilitator_call(&f);
}

/// Browsers get an HTML page, with the same machine-readable header.
pub async fn browser_gets_an_html_paywall_with_the_challenge_header(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f
        .send(
            TestRequest::get("/weather")
                .header("accept", "text/html,application/xhtml+xml")
                .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        )
        .await;
    assert_eq!(response.status, 402);
    assert!(
        response
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(response.text().contains("Payment required"));
    assert_eq!(challenge(&response).accepts[0].amount, "1000");
}

/// Non-canonical spellings of a priced path are priced (402) or refused (400), never served.
pub async fn bypass_spellings_of_a_paid_path_are_priced_or_refused(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    for path in [
        "/weather/",
        "//weather",
        "/%77eather",
        "/weather?x=1",
        "/weather%3F",
    ] {
        let response = f.get(path).await;
        let status = response.status;
        if path == "/weather%3F" {
            // `?` encoded is part of the segment: a different path, not priced, not served.
            assert_ne!(status, 200, "{path}");
            continue;
        }
        assert_eq!(status, 402, "{path} must be priced");
    }
    for path in [
        "/x/../weather",
        "/./weather",
        "/%2e%2e/weather",
        "/weather/%zz",
    ] {
        let response = f.get(path).await;
        assert_eq!(response.status, 400, "{path} must be refused");
        assert_eq!(response.json()["reason"], "invalid_path");
    }
    assert_no_facilitator_call(&f);
}

/// A valid v2 payment: served, settled once, receipt in `PAYMENT-RESPONSE`, typed payment in
/// the handler, raw header removed.
pub async fn paid_v2_request_is_served_and_settled_with_a_receipt(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"weather": "sunny"}));
    let receipt = receipt(&response, "payment-response");
    assert!(receipt.success);
    assert_eq!(receipt.transaction, TX);
    assert_eq!(receipt.network, "eip155:84532");
    assert!(response.header("x-payment-response").is_none());
    assert!(
        response
            .header("cache-control")
            .unwrap_or("")
            .contains("private")
    );
    assert_eq!(response.header("x-seen-payer"), Some(PAYER));
    assert_eq!(response.header("x-seen-payment-header"), Some("no"));
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 1)
    );
}

/// A valid v1 payment (`X-PAYMENT`): receipt in `X-PAYMENT-RESPONSE`, v1 network name.
pub async fn paid_v1_request_is_served_with_an_x_payment_response(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let header = f.pay_v1(&f.requirement("/weather"));
    let response = f
        .send(TestRequest::get("/weather").header("X-PAYMENT", header))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let receipt = receipt(&response, "x-payment-response");
    assert!(receipt.success);
    assert_eq!(receipt.network, "base-sepolia");
    assert!(response.header("payment-response").is_none());
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 1)
    );
}

/// Header names are case-insensitive.
pub async fn lower_case_payment_header_is_accepted(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let header = f.pay_v2(&f.requirement("/weather"));
    let response = f
        .send(TestRequest::get("/weather").header("payment-signature", header))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// Garbage in the payment header: 402 naming the reason, no facilitator call.
pub async fn malformed_payment_header_is_a_402_naming_the_reason(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    for value in ["!!!notbase64", "e30", "W10=", "eyJ4NDAyVmVyc2lvbiI6Mn0="] {
        let response = f
            .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", value))
            .await;
        assert_refused(&response, "invalid_payment_header");
    }
    assert_no_facilitator_call(&f);
}

/// A payment header over the size bound is refused before decoding.
pub async fn oversized_payment_header_is_a_402_naming_the_reason(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let value = "A".repeat(20 * 1024);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", value))
        .await;
    assert_refused(&response, "invalid_payment_header");
    assert_no_facilitator_call(&f);
}

/// A v2 payload in `X-PAYMENT` (or v1 in `PAYMENT-SIGNATURE`) is refused.
pub async fn payment_in_the_wrong_header_version_is_refused(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let v2 = f.pay_v2(&f.requirement("/weather"));
    let response = f
        .send(TestRequest::get("/weather").header("X-PAYMENT", v2))
        .await;
    assert_refused(&response, "x402_version_mismatch");
    let v1 = f.pay_v1(&f.requirement("/weather"));
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", v1))
        .await;
    assert_refused(&response, "x402_version_mismatch");
    assert_no_facilitator_call(&f);
}

/// `accepted` changed by the client matches no advertised requirement.
pub async fn tampered_amount_matches_no_requirement(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let mut requirement = f.requirement("/weather");
    requirement.amount = "1".into();
    let header = f.pay_v2(&requirement);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_refused(&response, "no_matching_requirement");
    assert_no_facilitator_call(&f);
}

/// An authorization paying someone else is refused without the facilitator.
pub async fn payment_to_another_recipient_is_refused_locally(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let requirement = f.requirement("/weather");
    let mut other = requirement.clone();
    other.pay_to = "0x1111111111111111111111111111111111111111".into();
    let payload = f.signed(&other);
    let response = f
        .send(
            TestRequest::get("/weather")
                .header("PAYMENT-SIGNATURE", v2_header(&requirement, &payload)),
        )
        .await;
    assert_refused(&response, "recipient_mismatch");
    assert_no_facilitator_call(&f);
}

/// An authorization past its `validBefore` is refused without the facilitator.
pub async fn expired_payment_is_refused_locally(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let request = f.paid("/weather");
    f.clock.set(NOW + 3_600);
    let response = f.send(request).await;
    assert_refused(&response, "expired");
    assert_no_facilitator_call(&f);
}

/// A signature that does not recover to `from` is refused without the facilitator.
pub async fn payment_with_a_bad_signature_is_refused_locally(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let requirement = f.requirement("/weather");
    let mut payload = f.signed(&requirement);
    payload.authorization.from = "0x1111111111111111111111111111111111111111"
        .parse()
        .unwrap();
    let response = f
        .send(
            TestRequest::get("/weather")
                .header("PAYMENT-SIGNATURE", v2_header(&requirement, &payload)),
        )
        .await;
    assert_refused(&response, "invalid_signature");
    assert_no_facilitator_call(&f);
}

/// The facilitator's `isValid: false` is a 402 carrying its reason; nothing settles.
pub async fn facilitator_invalid_is_a_402_with_its_reason(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator
        .on_verify(Script::Refuse("invalid_exact_evm_insufficient_balance"));
    let response = f.send(f.paid("/weather")).await;
    assert_refused(&response, "invalid_exact_evm_insufficient_balance");
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 0)
    );
}

/// An unreachable facilitator is our trouble: 503 with `Retry-After`, never a 402.
pub async fn facilitator_unavailable_is_a_503_with_retry_after(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator.on_verify(Script::Unavailable);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 503);
    assert!(response.header("retry-after").is_some());
    assert_eq!(response.json()["reason"], "facilitator_unavailable");
    assert_eq!(response.json()["retriable"], true);
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// A facilitator timeout is a 503.
pub async fn facilitator_timeout_is_a_503(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator.on_verify(Script::Timeout);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["reason"], "facilitator_timeout");
}

/// A nonsense facilitator answer is a 502.
pub async fn facilitator_malformed_answer_is_a_502(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator.on_verify(Script::Malformed);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 502);
    assert_eq!(response.json()["reason"], "facilitator_bad_response");
}

/// A handler answering 500 is not charged: its response goes out as is, without a receipt.
pub async fn handler_server_error_is_not_charged(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.send(f.paid("/fail")).await;
    assert_eq!((response.status, response.text().as_str()), (500, "boom"));
    assert!(response.header("payment-response").is_none());
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 0)
    );
}

/// A handler answering 404 is not charged.
pub async fn handler_not_found_is_not_charged(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.send(f.paid("/missing")).await;
    assert_eq!(response.status, 404);
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// `success: false` from settle: 402 with the failure receipt; the handler's output is dropped.
pub async fn refused_settlement_replaces_the_handler_output_with_a_402(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator
        .on_settle(Script::Refuse("insufficient_funds"));
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 402);
    assert!(!response.text().contains("sunny"), "handler output leaked");
    let receipt = receipt(&response, "payment-response");
    assert!(!receipt.success);
    assert_eq!(receipt.error_reason.as_deref(), Some("insufficient_funds"));
    assert_eq!(
        challenge(&response).error.as_deref(),
        Some("insufficient_funds")
    );
}

/// A settle whose outcome is unknown: 503, the transaction hash in the receipt, output dropped.
pub async fn unknown_settlement_is_a_503_with_the_transaction_in_the_receipt(
    factory: &dyn AppFactory,
) {
    let f = Fixture::new(factory);
    let tx = "0xb5122d0000000000000000000000000000000000000000000000000000002307";
    f.facilitator.on_settle(Script::SettleUnknown(tx));
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 503);
    assert!(!response.text().contains("sunny"), "handler output leaked");
    let receipt = receipt(&response, "payment-response");
    assert!(!receipt.success);
    assert_eq!(receipt.transaction, tx);
}

/// Two requests carrying one payment at once: one is served, the other refused as a replay.
pub async fn same_payment_sent_twice_concurrently_is_served_once(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.facilitator.on_verify(Script::Delay(
        Duration::from_millis(200),
        Box::new(Script::Accept),
    ));
    let request = f.paid("/weather");
    let (a, b) = tokio::join!(f.send(request.clone()), f.send(request));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 402]);
    let refused = if a.status == 402 { &a } else { &b };
    assert_eq!(challenge(refused).error.as_deref(), Some("replay"));
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// A payment already settled is refused as a replay without calling the facilitator again.
pub async fn used_payment_is_refused_as_a_replay(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let request = f.paid("/weather");
    assert_eq!(f.send(request.clone()).await.status, 200);
    let again = f.send(request).await;
    assert_refused(&again, "replay");
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 1)
    );
}

/// A streamed body arrives in several frames, and the payment is settled exactly once.
pub async fn streamed_response_stays_streamed_and_is_settled_once(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = f.send(f.paid("/stream")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "one,two,three");
    assert!(
        response.frames >= 3,
        "body was buffered into {} frame(s)",
        response.frames
    );
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// A client gone before the handler answered: nothing settles, and the payment is not burned.
pub async fn client_that_disconnects_before_settlement_is_not_charged(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let request = f.paid("/slow");
    // The client goes away once the payment is being verified (the handler never answers).
    tokio::select! {
        response = f.send(request.clone()) => panic!("/slow answered {}", response.status),
        () = f.facilitator.verify_called(1) => {}
    }
    f.app.abandoned_requests_dropped().await;
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 0)
    );
    // The replay claim was released: the same payment reaches the facilitator again instead
    // of being refused as a replay.
    tokio::select! {
        response = f.send(request) => panic!("payment was burned without settlement: {}", response.status),
        () = f.facilitator.verify_called(2) => {}
    }
}

/// Replacing the route table takes effect on the next request.
pub async fn route_table_swapped_mid_traffic_takes_effect(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    assert_eq!(f.get("/open").await.status, 200);
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '0.01' }}\nroutes: [{{ path: /open }}]",
        fixture::PAY_TO
    ))
    .unwrap();
    let old = f.routes.swap(RouteTable::from_spec(&spec).unwrap());
    assert_eq!(old.len(), 6);
    let response = f.get("/open").await;
    assert_eq!(response.status, 402);
    assert_eq!(challenge(&response).accepts[0].amount, "10000");
    assert_eq!(f.get("/weather").await.status, 200, "old routes are gone");
}

/// Settling before the handler charges even if the handler then fails; the receipt goes out.
pub async fn settle_before_handler_charges_even_when_the_handler_fails(factory: &dyn AppFactory) {
    let f = Fixture::with(factory, |b| b.settlement(SettlementMode::BeforeHandler));
    let response = f.send(f.paid("/fail")).await;
    assert_eq!(response.status, 500);
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// Verify-only mode serves verified payments and never settles; the payment cannot be reused.
pub async fn verify_only_mode_never_settles(factory: &dyn AppFactory) {
    let f = Fixture::with(factory, |b| b.settlement(SettlementMode::VerifyOnly));
    let request = f.paid("/weather");
    let response = f.send(request.clone()).await;
    assert_eq!(response.status, 200);
    assert!(response.header("payment-response").is_none());
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 0)
    );
    assert_refused(&f.send(request).await, "replay");
}

/// A configured base URL makes the resource URL, whatever the Host header says.
pub async fn resource_url_uses_the_configured_base_url(factory: &dyn AppFactory) {
    let f = Fixture::with(factory, |b| b.base_url("https://pay.example.org/"));
    let response = f.get("/weather?x=1").await;
    let required: v2::PaymentRequired = challenge(&response);
    assert_eq!(required.resource.url, "https://pay.example.org/weather?x=1");
}

/// The fixture's table with `/weather` and `/fail` in the `upfront` payment flow.
fn upfront_table() -> RouteTable {
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '$0.001' }}\n\
         routes:\n\
         - {{ path: /weather, name: weather, paymentFlow: upfront }}\n\
         - {{ path: /fail, name: fail, paymentFlow: upfront }}",
        fixture::PAY_TO
    ))
    .unwrap();
    RouteTable::from_spec(&spec).unwrap()
}

/// An `upfront` option says so on the wire (`extra.paymentFlow`); its payment is settled
/// before the handler, with no `/verify` call, and the receipt goes out with the response.
pub async fn upfront_route_is_advertised_and_settled_before_the_handler_without_verify(
    factory: &dyn AppFactory,
) {
    let f = Fixture::new(factory);
    f.routes.swap(upfront_table());
    let required = challenge(&f.get("/weather").await);
    let extra = required.accepts[0].extra.as_ref().expect("extra");
    assert_eq!(extra["paymentFlow"], "upfront");
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(response.header("x-seen-payer"), Some(PAYER));
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (0, 1)
    );
}

/// `upfront`: the buyer pays even when the handler then fails, and gets the receipt.
pub async fn upfront_payment_is_charged_even_when_the_handler_fails(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(upfront_table());
    let response = f.send(f.paid("/fail")).await;
    assert_eq!(response.status, 500);
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (0, 1)
    );
}

/// `upfront`: a refused settlement is a 402 with the failure receipt; the handler never runs.
pub async fn refused_upfront_settlement_never_runs_the_handler(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(upfront_table());
    f.facilitator
        .on_settle(Script::Refuse("insufficient_funds"));
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 402, "{}", response.text());
    assert!(!receipt(&response, "payment-response").success);
    assert!(response.header("x-seen-payer").is_none(), "handler ran");
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (0, 1)
    );
}

/// A payment whose `accepted` names a flow the option does not offer (or one we do not serve,
/// such as `escrow`) is refused locally with `payment_flow_mismatch`.
pub async fn payment_naming_a_flow_we_did_not_offer_is_refused(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    for flow in ["upfront", "escrow"] {
        let mut requirement = f.requirement("/weather");
        requirement
            .extra
            .get_or_insert_with(Default::default)
            .insert("paymentFlow".to_owned(), flow.into());
        let header = f.pay_v2(&requirement);
        let response = f
            .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
            .await;
        assert_refused(&response, "payment_flow_mismatch");
    }
    // An `upfront` option paid as if it were `authorization` (the field dropped).
    f.routes.swap(upfront_table());
    let mut requirement = f.requirement("/weather");
    requirement
        .extra
        .as_mut()
        .expect("extra")
        .remove("paymentFlow");
    let header = f.pay_v2(&requirement);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_refused(&response, "payment_flow_mismatch");
    assert_no_facilitator_call(&f);
}

/// A paid `GET /metered` on the `upto` table, the charge asked for by `header` (the request
/// header telling the handler how to choose: `x-charge-header` or `x-charge-typed`).
async fn metered(f: &Fixture, choice: Option<(&str, &str)>) -> crate::TestResponse {
    f.routes.swap(fixture::upto_table());
    let mut request = TestRequest::get("/metered").header(
        "PAYMENT-SIGNATURE",
        f.pay_permit2(&f.requirement("/metered"), None),
    );
    if let Some((name, value)) = choice {
        request = request.header(name, value);
    }
    f.send(request).await
}

/// `upto`: the offer is the maximum, by Permit2, naming the facilitator from `/supported`.
pub async fn upto_offer_names_permit2_and_the_facilitator_address(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(fixture::upto_table());
    let required = challenge(&f.get("/metered").await);
    let accept = &required.accepts[0];
    assert_eq!(
        (accept.scheme.as_str(), accept.amount.as_str()),
        ("upto", "10000")
    );
    let extra = accept.extra.as_ref().expect("extra");
    assert_eq!(extra["assetTransferMethod"], "permit2");
    assert_eq!(extra["facilitatorAddress"], fixture::UPTO_FACILITATOR);
    assert!(
        extra.get("paymentFlow").is_none(),
        "authorization is the default"
    );
    assert_no_facilitator_call(&f);
}

/// `upto` without a choice from the handler settles the maximum, as the reference does.
pub async fn upto_without_a_choice_charges_the_maximum(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = metered(&f, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        receipt(&response, "payment-response").amount.as_deref(),
        Some("10000")
    );
    assert_eq!(f.facilitator.settle_amounts(), ["10000"]);
}

/// The `Settlement-Overrides` response header sets the charge (40 % of 10000); `/settle` is
/// asked for it, the receipt says it, and the header never reaches the client.
pub async fn upto_charges_what_the_settlement_overrides_header_says_and_hides_it(
    factory: &dyn AppFactory,
) {
    let f = Fixture::new(factory);
    let response = metered(&f, Some(("x-charge-header", r#"{"amount":"40%"}"#))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "metered");
    let receipt = receipt(&response, "payment-response");
    assert!(receipt.success);
    assert_eq!(receipt.amount.as_deref(), Some("4000"));
    assert!(response.header("settlement-overrides").is_none());
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_amounts()),
        (1, vec!["4000".to_owned()])
    );
}

/// The typed charge in the handler's response extensions sets the charge.
pub async fn upto_charges_what_the_handler_put_in_its_response_extensions(
    factory: &dyn AppFactory,
) {
    let f = Fixture::new(factory);
    let response = metered(&f, Some(("x-charge-typed", "2500"))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        receipt(&response, "payment-response").amount.as_deref(),
        Some("2500")
    );
    assert_eq!(f.facilitator.settle_amounts(), ["2500"]);
}

/// A charge above the authorized maximum is never clamped: nothing is settled, the handler's
/// output is dropped, and the client gets a 500 naming the problem.
pub async fn upto_charge_above_the_maximum_is_not_settled(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = metered(&f, Some(("x-charge-header", r#"{"amount":"10001"}"#))).await;
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(response.json()["reason"], "invalid_settlement_override");
    assert!(!response.text().contains("metered"));
    assert!(response.header("payment-response").is_none());
    assert!(response.header("settlement-overrides").is_none());
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// A `Settlement-Overrides` value that is not one of the three forms fails closed too.
pub async fn upto_invalid_settlement_overrides_is_not_settled(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = metered(&f, Some(("x-charge-header", r#"{"amount":"a lot"}"#))).await;
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(response.json()["reason"], "invalid_settlement_override");
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// A charge of zero: no `/settle` call, and a receipt saying nothing moved.
pub async fn upto_charge_of_zero_settles_nothing_and_says_so(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let response = metered(&f, Some(("x-charge-header", r#"{"amount":"0"}"#))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let receipt = receipt(&response, "payment-response");
    assert!(receipt.success);
    assert_eq!(receipt.amount.as_deref(), Some("0"));
    assert_eq!(receipt.transaction, "");
    assert_eq!(receipt.payer.as_deref(), Some(PAYER));
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 0)
    );
}

/// A permit whose witness names another facilitator could never be settled by ours: refused
/// before any facilitator call.
pub async fn upto_permit_for_another_facilitator_is_refused_locally(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(fixture::upto_table());
    let other = "0x2222222222222222222222222222222222222222"
        .parse()
        .unwrap();
    let header = f.pay_permit2(&f.requirement("/metered"), Some(other));
    let response = f
        .send(TestRequest::get("/metered").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_refused(&response, "facilitator_mismatch");
    assert_no_facilitator_call(&f);
}

/// The fixture's `/weather` paid by Permit2 (`assetTransferMethod: permit2`).
fn permit2_table() -> RouteTable {
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '$0.001' }}\n\
         routes: [{{ path: /weather, name: weather, assetTransferMethod: permit2 }}]",
        fixture::PAY_TO
    ))
    .unwrap();
    RouteTable::from_spec(&spec).unwrap()
}

/// `exact` by Permit2: the offer says `assetTransferMethod: "permit2"` (official clients read an
/// absent one as EIP-3009) and a signed permit pays it.
pub async fn exact_permit2_route_is_advertised_and_paid_with_a_permit(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(permit2_table());
    let required = challenge(&f.get("/weather").await);
    let accept = &required.accepts[0];
    assert_eq!(accept.scheme, "exact");
    assert_eq!(
        accept.extra.as_ref().expect("extra")["assetTransferMethod"],
        "permit2"
    );
    let header = f.pay_permit2(&f.requirement("/weather"), None);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(response.header("x-seen-payer"), Some(PAYER));
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (1, 1)
    );
}

/// An EIP-3009 payload cannot pay a Permit2 option: refused before any facilitator call.
pub async fn eip3009_payload_for_a_permit2_option_is_refused_locally(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(permit2_table());
    let response = f.send(f.paid("/weather")).await;
    assert_refused(&response, "invalid_payment_header");
    assert_no_facilitator_call(&f);
}

/// The payer has not approved Permit2: the facilitator's `permit2_allowance_required` is
/// answered 412 with the challenge, as the official server does, so the buyer approves and
/// retries.
pub async fn permit2_allowance_required_is_a_412_with_the_challenge(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(permit2_table());
    f.facilitator
        .on_verify(Script::Refuse("permit2_allowance_required"));
    let header = f.pay_permit2(&f.requirement("/weather"), None);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_eq!(response.status, 412, "{}", response.text());
    assert_eq!(
        challenge(&response).error.as_deref(),
        Some("permit2_allowance_required")
    );
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// `upto` is `authorization` only: even a gate in `SettlementMode::BeforeHandler` settles it
/// after the handler, for the charge the handler chose.
pub async fn upto_is_charged_after_the_handler_even_when_the_gate_settles_before(
    factory: &dyn AppFactory,
) {
    let f = Fixture::with(factory, |b| b.settlement(SettlementMode::BeforeHandler));
    let response = metered(&f, Some(("x-charge-header", r#"{"amount":"25%"}"#))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        receipt(&response, "payment-response").amount.as_deref(),
        Some("2500")
    );
    assert_eq!(f.facilitator.settle_amounts(), ["2500"]);
}

/// A permit charged nothing moved nothing, but it was used for a request: sent again, it is a
/// replay.
pub async fn upto_permit_charged_nothing_cannot_be_used_again(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    f.routes.swap(fixture::upto_table());
    let header = f.pay_permit2(&f.requirement("/metered"), None);
    let request = TestRequest::get("/metered")
        .header("PAYMENT-SIGNATURE", header)
        .header("x-charge-header", r#"{"amount":"0"}"#);
    assert_eq!(f.send(request.clone()).await.status, 200);
    assert_refused(&f.send(request).await, "replay");
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// On an `exact` route a `Settlement-Overrides` header changes nothing (the facilitator would
/// refuse any amount but the signed one) and is still removed from the response.
pub async fn settlement_overrides_on_an_exact_route_is_ignored_and_removed(
    factory: &dyn AppFactory,
) {
    let f = Fixture::new(factory);
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '$0.001' }}\n\
         routes: [{{ path: /metered, name: metered }}]",
        fixture::PAY_TO
    ))
    .unwrap();
    f.routes.swap(RouteTable::from_spec(&spec).unwrap());
    let response = f
        .send(
            f.paid("/metered")
                .header("x-charge-header", r#"{"amount":"1"}"#),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.header("settlement-overrides").is_none());
    assert!(receipt(&response, "payment-response").success);
    assert_eq!(f.facilitator.settle_amounts(), ["1000"]);
}

/// Under `upfront` the missing Permit2 allowance comes from `/settle`: answered 412 as well.
pub async fn permit2_allowance_required_under_upfront_is_a_412_too(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{}', network: base-sepolia, defaultPrice: '$0.001' }}\n\
         routes: [{{ path: /weather, name: weather, assetTransferMethod: permit2, paymentFlow: upfront }}]",
        fixture::PAY_TO
    ))
    .unwrap();
    f.routes.swap(RouteTable::from_spec(&spec).unwrap());
    f.facilitator
        .on_settle(Script::Refuse("PERMIT2_ALLOWANCE_REQUIRED"));
    let header = f.pay_permit2(&f.requirement("/weather"), None);
    let response = f
        .send(TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header))
        .await;
    assert_eq!(response.status, 412, "{}", response.text());
    assert!(response.header("payment-required").is_some());
    assert!(response.header("x-seen-payer").is_none(), "handler ran");
    assert_eq!(
        (f.facilitator.verify_calls(), f.facilitator.settle_calls()),
        (0, 1)
    );
}
