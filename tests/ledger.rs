//! Ledger cases run against every adapter: idempotent retries, the same payment for another
//! request, `settlement_pending`, the reconciler, and a ledger that cannot answer.
//!
//! [`crate::ledger_suite!`] expands them into tests, as [`crate::conformance_suite!`] does.
//! Each case builds its gate with a fresh in-memory [`SqliteLedger`], except the one sharing a
//! [`PostgresLedger`] between two instances: it reads [`POSTGRES_URL_VAR`] and is skipped,
//! saying so, when it is unset — except under `CI=true`, where it fails (`.ci/run` starts
//! PostgreSQL and sets it).

use std::{sync::Arc, time::Duration};

use x402_core::{
    BoxFuture,
    ledger::{
        self, Claim, ClaimToken, Ledger, LedgerError, NewPayment, PaymentRecord, PaymentState,
        PostgresLedger, ReplayKey, SettledQuery, SqliteLedger, Transition,
    },
};

use crate::{
    AppFactory, Script, TestResponse,
    facilitator::TX,
    fixture::{Fixture, NOW, PAYER, challenge, receipt},
};

/// This file's source, for the check that every case is in [`crate::ledger_suite!`].
pub const SOURCE: &str = include_str!("ledger.rs");

/// Expands every ledger case into a `#[tokio::test]` in a `ledger` module, for the unit struct
/// `$factory` (an [`AppFactory`]) of the calling test file.
#[macro_export]
macro_rules! ledger_suite {
    ($factory:ident) => {
        $crate::ledger_suite!(@cases $factory;
            retried_payment_for_the_same_request_is_served_again_with_the_same_receipt,
            same_payment_for_another_request_is_a_409_naming_the_reason,
            retry_when_settling_before_the_handler_is_served_without_a_second_settlement,
            same_payment_in_flight_is_a_409_with_retry_after,
            payment_refused_by_the_handler_can_be_sent_again,
            settled_payment_past_its_validity_is_a_replay,
            ledger_records_the_settlement_with_the_exact_body_sent,
            refused_settlement_is_recorded_failed_with_its_reason,
            settlement_pending_is_retried_once_with_the_same_body,
            still_pending_is_a_503_with_the_pending_receipt_and_no_challenge,
            reconciler_finishes_a_pending_payment_and_the_retry_is_served,
            unavailable_ledger_fails_closed_with_a_503,
            payment_abandoned_mid_settlement_is_finished_by_the_reconciler,
            interrupted_settlement_refused_on_retry_stays_pending_until_it_expires,
            two_instances_sharing_postgres_serve_a_payment_once_and_its_retry_on_either,
            payment_identifier_is_declared_and_its_retry_is_served_once,
            payment_identifier_on_another_payment_is_a_409,
            payment_identifier_missing_or_malformed_is_a_400,
            payment_identifier_without_a_ledger_is_a_503,
            retried_paid_post_with_the_same_body_is_served_again,
            paid_post_with_a_body_above_the_bound_is_never_served_twice,
            retried_paid_post_without_a_body_is_served_again,
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod ledger {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::ledger::$case(&super::$factory).await;
                }
            )*

            #[::core::prelude::v1::test]
            fn every_case_is_listed() {
                $crate::assert_every_case_is_listed(
                    "ledger_suite!",
                    $crate::ledger::SOURCE,
                    &[$(stringify!($case)),*],
                );
            }
        }
    };
}

fn with_ledger(factory: &dyn AppFactory) -> (Fixture, Arc<SqliteLedger>) {
    let ledger = Arc::new(SqliteLedger::in_memory().expect("in-memory ledger"));
    let shared = Arc::clone(&ledger);
    let f = Fixture::with(factory, |builder| builder.ledger(shared));
    (f, ledger)
}

fn error_reason(response: &TestResponse) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("a JSON body, got {:?}", response.text()));
    body["reason"].as_str().unwrap_or_default().to_owned()
}

async fn settled(ledger: &SqliteLedger) -> Vec<PaymentRecord> {
    ledger
        .settled(SettledQuery::default())
        .await
        .expect("ledger answers")
}

/// Sends `request` twice: both must be 200 (with `body`, when given) and carry the same
/// receipt, which is returned.
async fn served_twice(
    f: &Fixture,
    request: crate::TestRequest,
    body: Option<&str>,
) -> x402_core::wire::SettleResponse {
    let first = f.send(request.clone()).await;
    let again = f.send(request).await;
    for response in [&first, &again] {
        assert_eq!(response.status, 200, "{}", response.text());
        if let Some(body) = body {
            assert_eq!(response.text(), body);
        }
    }
    let receipt_of_first = receipt(&first, "payment-response");
    assert_eq!(receipt_of_first, receipt(&again, "payment-response"));
    receipt_of_first
}

/// The buyer lost our answer and sends the same header again: served again, same receipt,
/// one verify and one settlement in all.
pub async fn retried_payment_for_the_same_request_is_served_again_with_the_same_receipt(
    factory: &dyn AppFactory,
) {
    let (f, _ledger) = with_ledger(factory);
    let receipt = served_twice(&f, f.paid("/weather"), Some(r#"{"weather":"sunny"}"#)).await;
    assert_eq!(receipt.transaction, TX);
    assert_eq!(f.facilitator.settle_calls(), 1);
    assert_eq!(f.facilitator.verify_calls(), 1);
}

/// Settling before the handler: a retry of a settled payment runs the handler again with the
/// recorded receipt, without a second settlement. A verify-only gate refuses a ledger.
pub async fn retry_when_settling_before_the_handler_is_served_without_a_second_settlement(
    factory: &dyn AppFactory,
) {
    let ledger = Arc::new(SqliteLedger::in_memory().expect("in-memory ledger"));
    let shared = Arc::clone(&ledger);
    let f = Fixture::with(factory, |builder| {
        builder
            .ledger(shared)
            .settlement(x402_core::gate::SettlementMode::BeforeHandler)
    });
    served_twice(&f, f.paid("/weather"), Some(r#"{"weather":"sunny"}"#)).await;
    assert_eq!(f.facilitator.settle_calls(), 1);

    let refused = x402_core::gate::Gate::builder(f.routes.clone(), f.facilitator.clone())
        .ledger(ledger)
        .settlement(x402_core::gate::SettlementMode::VerifyOnly)
        .build()
        .expect_err("a verify-only gate with a ledger");
    assert!(matches!(
        refused,
        x402_core::gate::GateConfigError::LedgerWithoutSettlement
    ));
}

/// A payment header taken from one request and sent with another: 409, not served, no new
/// challenge.
pub async fn same_payment_for_another_request_is_a_409_naming_the_reason(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    let header = f.pay_v2(&f.requirement("/weather"));
    let paid = crate::TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header.clone());
    assert_eq!(f.send(paid).await.status, 200);
    let other = crate::TestRequest::get("/weather?city=Oslo").header("PAYMENT-SIGNATURE", header);
    let response = f.send(other).await;
    assert_eq!(response.status, 409, "{}", response.text());
    assert_eq!(error_reason(&response), "payment_request_mismatch");
    assert!(!response.text().contains("sunny"));
    assert!(response.header("payment-required").is_none());
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// Two requests carrying one payment at once: one is served, the other told to retry.
pub async fn same_payment_in_flight_is_a_409_with_retry_after(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    f.facilitator.on_verify(Script::Delay(
        Duration::from_millis(200),
        Box::new(Script::Accept),
    ));
    let request = f.paid("/weather");
    let (a, b) = tokio::join!(f.send(request.clone()), f.send(request));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let busy = if a.status == 409 { &a } else { &b };
    assert_eq!(error_reason(busy), "payment_in_progress");
    assert!(busy.header("retry-after").is_some());
    assert!(busy.header("payment-required").is_none());
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// The handler failed, nothing was charged: the same payment may be sent again.
pub async fn payment_refused_by_the_handler_can_be_sent_again(factory: &dyn AppFactory) {
    let (f, ledger) = with_ledger(factory);
    let request = f.paid("/fail");
    assert_eq!(f.send(request.clone()).await.status, 500);
    // The release is written without waiting; let it land.
    wait_until_released(&ledger).await;
    assert_eq!(f.send(request).await.status, 500);
    assert_eq!(f.facilitator.verify_calls(), 2);
    assert_eq!(f.facilitator.settle_calls(), 0);
}

async fn wait_until_released(ledger: &SqliteLedger) {
    for _ in 0..500 {
        let records = ledger.records(10).await.expect("ledger answers");
        assert_eq!(records.len(), 1, "{records:?}");
        assert!(!records[0].state.may_have_charged(), "{records:?}");
        if records[0].state == PaymentState::Released {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the claim was never released");
}

/// A payment settled before, re-sent after its authorization expired: a replay, as without a
/// ledger. (Local checks off, or they would refuse it as expired before the ledger is asked.)
pub async fn settled_payment_past_its_validity_is_a_replay(factory: &dyn AppFactory) {
    let ledger = Arc::new(SqliteLedger::in_memory().expect("in-memory ledger"));
    let f = Fixture::with(factory, |builder| {
        builder.ledger(ledger).local_checks(false)
    });
    let request = f.paid("/weather");
    assert_eq!(f.send(request.clone()).await.status, 200);
    f.clock.advance(24 * 3_600);
    let response = f.send(request).await;
    assert_eq!(response.status, 402, "{}", response.text());
    assert_eq!(challenge(&response).error.as_deref(), Some("replay"));
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// The record of a settled payment: the exact `/settle` body, the receipt the buyer got, the
/// payer, route, chain and amount.
pub async fn ledger_records_the_settlement_with_the_exact_body_sent(factory: &dyn AppFactory) {
    let (f, ledger) = with_ledger(factory);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 200);
    let records = settled(&ledger).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.state, PaymentState::Settled);
    assert_eq!(record.route, "weather");
    assert_eq!(record.network, "eip155:84532");
    assert_eq!(record.amount, "1000");
    assert_eq!(record.payer.as_deref(), Some(&*PAYER.to_lowercase()));
    assert_eq!(record.transaction.as_deref(), Some(TX));
    assert_eq!(
        record.receipt.as_ref(),
        Some(&receipt(&response, "payment-response"))
    );
    let body: serde_json::Value =
        serde_json::from_slice(record.settle_request.as_deref().expect("body recorded"))
            .expect("the body is JSON");
    assert_eq!(body["x402Version"], 2);
    assert_eq!(body["paymentRequirements"]["amount"], "1000");
    assert_eq!(
        body["paymentPayload"]["payload"]["authorization"]["from"]
            .as_str()
            .map(str::to_lowercase),
        Some(PAYER.to_lowercase())
    );
}

/// A refused settlement: 402 as without a ledger, recorded failed with the facilitator's
/// reason, and the authorization usable again (nothing was charged).
pub async fn refused_settlement_is_recorded_failed_with_its_reason(factory: &dyn AppFactory) {
    let (f, ledger) = with_ledger(factory);
    f.facilitator
        .on_settle(Script::Refuse("insufficient_funds"));
    let request = f.paid("/weather");
    let response = f.send(request.clone()).await;
    assert_eq!(response.status, 402);
    let record = record_of(&ledger).await;
    assert_eq!(record.state, PaymentState::Failed);
    assert_eq!(record.reason.as_deref(), Some("insufficient_funds"));
    f.facilitator.on_settle(Script::Accept);
    assert_eq!(f.send(request).await.status, 200);
    assert_eq!(f.facilitator.settle_calls(), 2);
}

/// `settlement_pending` once, then settled: `/settle` called exactly twice, the buyer served.
pub async fn settlement_pending_is_retried_once_with_the_same_body(factory: &dyn AppFactory) {
    let (f, ledger) = with_ledger(factory);
    let tx = "0x5e771e0000000000000000000000000000000000000000000000000000000001";
    f.facilitator
        .on_next_settles([Script::SettlementPending(tx)]);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(receipt(&response, "payment-response").transaction, TX);
    assert_eq!(f.facilitator.settle_calls(), 2);
    assert_eq!(settled(&ledger).await.len(), 1);
}

/// Still pending after the retry: 503 with `Retry-After` and the pending receipt, never a
/// fresh challenge, no resource; the same header again does not settle a third time.
pub async fn still_pending_is_a_503_with_the_pending_receipt_and_no_challenge(
    factory: &dyn AppFactory,
) {
    let (f, ledger) = with_ledger(factory);
    let tx = "0x5e771e0000000000000000000000000000000000000000000000000000000002";
    f.facilitator.on_settle(Script::SettlementPending(tx));
    let request = f.paid("/weather");
    for _ in 0..2 {
        let response = f.send(request.clone()).await;
        assert_eq!(response.status, 503, "{}", response.text());
        assert!(response.header("retry-after").is_some());
        assert!(response.header("payment-required").is_none());
        assert!(!response.text().contains("sunny"), "handler output leaked");
        let pending = receipt(&response, "payment-response");
        assert!(!pending.success);
        assert_eq!(pending.transaction, tx);
        assert_eq!(pending.error_reason.as_deref(), Some("settlement_pending"));
    }
    assert_eq!(f.facilitator.settle_calls(), 2);
    let record = record_of(&ledger).await;
    assert_eq!(record.state, PaymentState::Pending);
    assert_eq!(record.transaction.as_deref(), Some(tx));
}

/// The reconciler settles the pending payment with its recorded body; the buyer's next retry
/// of the same header is served with the receipt, without another settlement.
pub async fn reconciler_finishes_a_pending_payment_and_the_retry_is_served(
    factory: &dyn AppFactory,
) {
    let (f, ledger) = with_ledger(factory);
    let tx = "0x5e771e0000000000000000000000000000000000000000000000000000000003";
    f.facilitator.on_settle(Script::SettlementPending(tx));
    let request = f.paid("/weather");
    assert_eq!(f.send(request.clone()).await.status, 503);
    f.facilitator.on_settle(Script::Accept);
    let report = ledger::reconcile(&*ledger, &*f.facilitator, NOW, NOW, 10)
        .await
        .expect("reconciles");
    assert_eq!((report.examined, report.settled), (1, 1), "{report:?}");
    assert_eq!(f.facilitator.settle_calls(), 3);
    let response = f.send(request).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(receipt(&response, "payment-response").transaction, TX);
    assert_eq!(f.facilitator.settle_calls(), 3);
    let again = ledger::reconcile(&*ledger, &*f.facilitator, NOW, NOW, 10)
        .await
        .expect("reconciles");
    assert_eq!(again.examined, 0, "nothing left unfinished");
}

/// The request dies while `/settle` is in flight (as a crash would leave it): the record says
/// `settling` with the body sent; a retry is not settled again; the reconciler settles the
/// recorded body and the next retry is served with the receipt.
pub async fn payment_abandoned_mid_settlement_is_finished_by_the_reconciler(
    factory: &dyn AppFactory,
) {
    let (f, ledger) = with_ledger(factory);
    f.facilitator.on_settle(Script::Delay(
        Duration::from_secs(3_600),
        Box::new(Script::Accept),
    ));
    let request = f.paid("/weather");
    tokio::select! {
        response = f.send(request.clone()) => panic!("answered {}", response.status),
        () = async {
            while f.facilitator.settle_calls() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => {}
    }
    f.app.abandoned_requests_dropped().await;
    let record = record_of(&ledger).await;
    assert_eq!(record.state, PaymentState::Settling);
    let body = record
        .settle_request
        .clone()
        .expect("the body sent is recorded");
    let busy = f.send(request.clone()).await;
    assert_eq!(busy.status, 409, "{}", busy.text());
    assert_eq!(
        f.facilitator.settle_calls(),
        1,
        "not settled again by the retry"
    );

    f.facilitator.on_settle(Script::Accept);
    let report = ledger::reconcile(&*ledger, &*f.facilitator, NOW, NOW + 1, 10)
        .await
        .expect("reconciles");
    assert_eq!((report.examined, report.settled), (1, 1), "{report:?}");
    let record = record_of(&ledger).await;
    assert_eq!(record.state, PaymentState::Settled);
    assert_eq!(record.settle_request, Some(body), "the same body");
    let served = f.send(request).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(receipt(&served, "payment-response").transaction, TX);
    assert_eq!(f.facilitator.settle_calls(), 2);
}

/// The request dies mid-settle and the facilitator then refuses the recorded body: the first
/// attempt may have landed (an authorization used is refused), so the record stays pending —
/// retries get 503 with the pending receipt, never a 402 — until the authorization expires.
pub async fn interrupted_settlement_refused_on_retry_stays_pending_until_it_expires(
    factory: &dyn AppFactory,
) {
    let (f, ledger) = with_ledger(factory);
    f.facilitator.on_settle(Script::Delay(
        Duration::from_secs(3_600),
        Box::new(Script::Accept),
    ));
    let request = f.paid("/weather");
    tokio::select! {
        response = f.send(request.clone()) => panic!("answered {}", response.status),
        () = async {
            while f.facilitator.settle_calls() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => {}
    }
    f.app.abandoned_requests_dropped().await;
    f.facilitator
        .on_settle(Script::Refuse("invalid_exact_evm_nonce_already_used"));
    let report = ledger::reconcile(&*ledger, &*f.facilitator, NOW, NOW + 1, 10)
        .await
        .expect("reconciles");
    assert_eq!((report.still_pending, report.failed), (1, 0), "{report:?}");
    let record = record_of(&ledger).await;
    assert_eq!(record.state, PaymentState::Pending);
    let retry = f.send(request.clone()).await;
    assert_eq!(retry.status, 503, "{}", retry.text());
    assert!(retry.header("payment-required").is_none());

    let expired = record.expires_at;
    let report = ledger::reconcile(&*ledger, &*f.facilitator, expired, expired, 10)
        .await
        .expect("reconciles");
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(record_of(&ledger).await.state, PaymentState::Failed);
}

/// The only payment record.
async fn record_of(ledger: &SqliteLedger) -> PaymentRecord {
    let mut records = ledger.records(10).await.expect("ledger answers");
    assert_eq!(records.len(), 1, "{records:?}");
    records.remove(0)
}

/// A ledger that cannot answer.
#[derive(Debug)]
struct DownLedger;

fn down() -> LedgerError {
    LedgerError::Store {
        store: "down".into(),
        operation: "claim",
        source: "scripted outage".into(),
    }
}

impl Ledger for DownLedger {
    fn claim(&self, _: NewPayment) -> BoxFuture<'_, Result<Claim, LedgerError>> {
        Box::pin(async { Err(down()) })
    }

    fn record<'a>(
        &'a self,
        _: ReplayKey,
        _: ClaimToken,
        _: Transition<'a>,
        _: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async { Err(down()) })
    }

    fn release(&self, _: ReplayKey, _: ClaimToken) {}

    fn unfinished(&self, _: u64, _: u32) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        Box::pin(async { Err(down()) })
    }

    fn settled(&self, _: SettledQuery) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        Box::pin(async { Err(down()) })
    }

    fn get(&self, _: ReplayKey) -> BoxFuture<'_, Result<Option<PaymentRecord>, LedgerError>> {
        Box::pin(async { Err(down()) })
    }
}

/// The ledger cannot record the claim: 503 `ledger_unavailable` with `Retry-After`, before
/// any facilitator call.
pub async fn unavailable_ledger_fails_closed_with_a_503(factory: &dyn AppFactory) {
    let f = Fixture::with(factory, |builder| builder.ledger(Arc::new(DownLedger)));
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(error_reason(&response), "ledger_unavailable");
    assert!(response.header("retry-after").is_some());
    assert_eq!(f.facilitator.verify_calls(), 0);
    assert_eq!(f.facilitator.settle_calls(), 0);
}

/// The environment variable naming the PostgreSQL server of the shared-ledger case.
pub const POSTGRES_URL_VAR: &str = "X402_TEST_POSTGRES_URL";

/// The server's URL, or `None` (the case is skipped, saying so) outside CI when it is unset.
#[allow(clippy::print_stderr)]
pub fn postgres_url(case: &str) -> Option<String> {
    let url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        // Under CI the server is part of the run: its absence is a failure, not a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{case}: CI=true but {POSTGRES_URL_VAR} is unset (.ci/run starts PostgreSQL and sets it)"
        );
        eprintln!(
            "SKIPPED {case}: set {POSTGRES_URL_VAR}=postgres://user@127.0.0.1:PORT/db to run it"
        );
    }
    url
}

/// Two instances (two gates, two facilitators) on one PostgreSQL ledger: a payment served by
/// one is served again, with its receipt and without a settlement, by the other; a payment in
/// flight on one is refused as in progress by the other.
pub async fn two_instances_sharing_postgres_serve_a_payment_once_and_its_retry_on_either(
    factory: &dyn AppFactory,
) {
    let case = "two_instances_sharing_postgres";
    let Some(url) = postgres_url(case) else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = format!(
        "x402_test_{}_{}_{nanos}",
        factory.name(),
        std::process::id()
    );
    let connect = || async {
        Arc::new(
            PostgresLedger::connect_in_schema(&url, &schema)
                .await
                .expect("connects"),
        )
    };
    let (first_ledger, second_ledger) = (connect().await, connect().await);
    let first = Fixture::with(factory, |builder| builder.ledger(first_ledger));
    let second = Fixture::with(factory, |builder| builder.ledger(second_ledger));

    let request = first.paid("/weather");
    let served = first.send(request.clone()).await;
    assert_eq!(served.status, 200, "{}", served.text());
    let again = second.send(request).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(
        receipt(&served, "payment-response"),
        receipt(&again, "payment-response")
    );
    let settled = first.facilitator.settle_calls() + second.facilitator.settle_calls();
    assert_eq!(settled, 1, "one settlement across both instances");
    assert_eq!(second.facilitator.verify_calls(), 0);

    // In flight on the first (its verify held), the same payment on the second: 409.
    first.facilitator.on_verify(Script::Delay(
        Duration::from_millis(300),
        Box::new(Script::Accept),
    ));
    let request = first.paid("/weather");
    let (on_first, on_second) = tokio::join!(first.send(request.clone()), async {
        first.facilitator.verify_called(2).await;
        second.send(request.clone()).await
    });
    assert_eq!(on_first.status, 200, "{}", on_first.text());
    assert_eq!(on_second.status, 409, "{}", on_second.text());
    assert_eq!(error_reason(&on_second), "payment_in_progress");
    let settled = first.facilitator.settle_calls() + second.facilitator.settle_calls();
    assert_eq!(settled, 2);
}

/// [`crate::fixture::SPEC`] with `/weather` declaring `paymentIdentifier: required`, swapped
/// into the fixture's table.
fn require_payment_ids(f: &Fixture) {
    let spec = crate::fixture::SPEC.replace(
        "mimeType: application/json }",
        "mimeType: application/json, paymentIdentifier: required }",
    );
    let spec = x402_core::spec::RouteSpec::from_yaml(&spec).expect("spec parses");
    f.routes
        .swap(x402_core::RouteTable::from_spec(&spec).expect("spec builds"));
}

/// A fresh payment for `/weather` carrying `id` as its `payment-identifier`.
fn paid_with_id(f: &Fixture, id: &str) -> crate::TestRequest {
    let requirement = f.requirement("/weather");
    let header = x402_core::codec::encode_header(&serde_json::json!({
        "x402Version": 2,
        "resource": { "url": "http://api.example.com/weather", "description": "", "mimeType": "" },
        "accepted": requirement,
        "payload": f.signed(&requirement),
        "extensions": { "payment-identifier": { "info": { "required": true, "id": id } } },
    }));
    crate::TestRequest::get("/weather").header("PAYMENT-SIGNATURE", header)
}

/// `paymentIdentifier: required`: the challenge declares the extension as the reference
/// server does; a payment with an id is served, and its retry is served again with the same
/// receipt and no second settlement.
pub async fn payment_identifier_is_declared_and_its_retry_is_served_once(factory: &dyn AppFactory) {
    let (f, ledger) = with_ledger(factory);
    require_payment_ids(&f);
    let offered = challenge(&f.get("/weather").await);
    let declared = offered
        .extensions
        .as_ref()
        .and_then(|e| e.get("payment-identifier"))
        .expect("the challenge declares payment-identifier");
    assert_eq!(
        declared,
        &x402_core::payment_identifier::PaymentIdentifier::Required.declaration()
    );
    served_twice(&f, paid_with_id(&f, "order_0123456789abcdef"), None).await;
    assert_eq!(f.facilitator.settle_calls(), 1);
    assert_eq!(settled(&ledger).await.len(), 1);
}

/// The same id on a second payment: 409 while the first one may have charged; once the first
/// one is refused (nothing charged), the id moves to the new payment.
pub async fn payment_identifier_on_another_payment_is_a_409(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    require_payment_ids(&f);
    let id = "order_0123456789abcdef";
    assert_eq!(f.send(paid_with_id(&f, id)).await.status, 200);
    let response = f.send(paid_with_id(&f, id)).await;
    assert_eq!(response.status, 409, "{}", response.text());
    assert_eq!(error_reason(&response), "payment_identifier_conflict");
    assert!(!response.text().contains("sunny"));
    assert_eq!(f.facilitator.settle_calls(), 1);
    assert_eq!(f.facilitator.verify_calls(), 1);

    let refused_id = "order_fedcba9876543210";
    f.facilitator
        .on_settle(Script::Refuse("insufficient_funds"));
    assert_eq!(f.send(paid_with_id(&f, refused_id)).await.status, 402);
    f.facilitator.on_settle(Script::Accept);
    let response = f.send(paid_with_id(&f, refused_id)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(f.facilitator.settle_calls(), 3);
}

/// A payment without the id the route requires, or with a malformed one: 400 naming which,
/// before the facilitator is asked.
pub async fn payment_identifier_missing_or_malformed_is_a_400(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    require_payment_ids(&f);
    let response = f.send(f.paid("/weather")).await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(error_reason(&response), "payment_identifier_required");
    for id in ["too_short", "order_0123456789abcdef!"] {
        let response = f.send(paid_with_id(&f, id)).await;
        assert_eq!(response.status, 400, "{id}: {}", response.text());
        assert_eq!(error_reason(&response), "invalid_payment_identifier");
    }
    assert_eq!(f.facilitator.verify_calls(), 0);
}

/// A route declaring `paymentIdentifier` on a gate without a ledger: the ids cannot be kept,
/// so the payment is refused with 503 rather than processed without its guarantee.
pub async fn payment_identifier_without_a_ledger_is_a_503(factory: &dyn AppFactory) {
    let f = Fixture::new(factory);
    require_payment_ids(&f);
    let response = f.send(paid_with_id(&f, "order_0123456789abcdef")).await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(error_reason(&response), "ledger_unavailable");
    assert_eq!(f.facilitator.verify_calls(), 0);
}

/// [`crate::fixture::SPEC`] with the priced route `POST /echo` (the handler answers the body it
/// read), swapped into the fixture's table.
fn add_echo_route(f: &Fixture) {
    let spec = format!(
        "{}  - {{ path: /echo, name: echo }}\n",
        crate::fixture::SPEC
    );
    let spec = x402_core::spec::RouteSpec::from_yaml(&spec).expect("spec parses");
    f.routes
        .swap(x402_core::RouteTable::from_spec(&spec).expect("spec builds"));
}

/// A paid `POST /echo` with `body`, paying with `header`.
fn paid_post(header: &str, body: &'static str) -> crate::TestRequest {
    crate::TestRequest::new("POST", "/echo")
        .header("PAYMENT-SIGNATURE", header)
        .body(body)
}

/// A paid request with a body the adapter bound: its retry with the same body is served again
/// (the handler reads the same bytes) with the same receipt and one settlement; the same
/// payment with another body is a 409.
pub async fn retried_paid_post_with_the_same_body_is_served_again(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    add_echo_route(&f);
    let header = f.pay_v2(&f.requirement("/echo"));
    let hello = r#"{"prompt":"hello"}"#;
    served_twice(&f, paid_post(&header, hello), Some(hello)).await;
    let other = f
        .send(paid_post(&header, r#"{"prompt":"a longer one"}"#))
        .await;
    assert_eq!(other.status, 409, "{}", other.text());
    assert_eq!(error_reason(&other), "payment_request_mismatch");
    assert!(!other.text().contains("longer"));
    assert_eq!(f.facilitator.settle_calls(), 1);
    assert_eq!(f.facilitator.verify_calls(), 1);
}

/// A body above the gate's bound (`max_bound_body_bytes`) is passed on unread: the payment is
/// served once with the whole body, and its retry is a replay, never served again.
pub async fn paid_post_with_a_body_above_the_bound_is_never_served_twice(factory: &dyn AppFactory) {
    let ledger = Arc::new(SqliteLedger::in_memory().expect("in-memory ledger"));
    let f = Fixture::with(factory, |builder| {
        builder.ledger(ledger).max_bound_body_bytes(8)
    });
    add_echo_route(&f);
    let header = f.pay_v2(&f.requirement("/echo"));
    let first = f.send(paid_post(&header, "nine bytes")).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.text(), "nine bytes");
    let again = f.send(paid_post(&header, "nine bytes")).await;
    assert_eq!(again.status, 402, "{}", again.text());
    assert_eq!(challenge(&again).error.as_deref(), Some("replay"));
    assert_eq!(f.facilitator.settle_calls(), 1);
}

/// A paid `POST` without a body and without `Content-Length`: the adapter knows it is empty
/// (HTTP/1 framing, or a body that ended with the headers), so its retry is served again.
pub async fn retried_paid_post_without_a_body_is_served_again(factory: &dyn AppFactory) {
    let (f, _ledger) = with_ledger(factory);
    add_echo_route(&f);
    let header = f.pay_v2(&f.requirement("/echo"));
    let post = crate::TestRequest::new("POST", "/echo").header("PAYMENT-SIGNATURE", &header);
    served_twice(&f, post, Some("")).await;
    assert_eq!(f.facilitator.settle_calls(), 1);
}
