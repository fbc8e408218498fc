//! The reconciler: finishes the payments whose settlement did not finish, with the very
//! `/settle` body recorded before the first attempt, and records the result.
//!
//! A second `/settle` of the same body is safe: a facilitator that answered
//! `settlement_pending` reconciles it against the transaction it broadcast (x402 §5), and an
//! EIP-3009 authorization can move money once whatever is sent. The caller runs
//! [`reconcile`] on a timer (the gateway does, every few seconds).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Ledger, LedgerError, PaymentRecord, Transition};
use crate::{
    ErrorChain,
    facilitator::{Facilitator, FacilitatorRequest},
    wire::{PaymentPayload, Requirements, v1, v2},
};

/// What one [`reconcile`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// Records looked at.
    pub examined: usize,
    /// Now settled.
    pub settled: usize,
    /// Refused by the facilitator: recorded failed (nothing was charged).
    pub failed: usize,
    /// Still pending (or no answer): tried again next pass.
    pub still_pending: usize,
    /// Records that could not be retried (no recorded body, or one that does not parse).
    pub unusable: usize,
}

/// One pass: every `pending` record, and every `settling` one untouched since `stale_before`
/// (its holder died mid-settle), settled again with its recorded body, at most `limit` of them.
///
/// A success is recorded `settled`. A refusal is recorded `failed` when the facilitator had
/// reported a transaction for the earlier attempt (its answer then settles the question), or
/// once the authorization has expired; otherwise — the earlier attempt's outcome unknown — a
/// refusal may only mean it landed, so the record stays `pending` (retries get 503, never a
/// 402 inviting a second payment) until the authorization expires.
pub async fn reconcile(
    ledger: &dyn Ledger,
    facilitator: &dyn Facilitator,
    now: u64,
    stale_before: u64,
    limit: u32,
) -> Result<ReconcileReport, LedgerError> {
    let mut report = ReconcileReport::default();
    for record in ledger.unfinished(stale_before, limit).await? {
        report.examined += 1;
        finish(ledger, facilitator, &record, now, &mut report).await?;
    }
    Ok(report)
}

async fn finish(
    ledger: &dyn Ledger,
    facilitator: &dyn Facilitator,
    record: &PaymentRecord,
    now: u64,
    report: &mut ReconcileReport,
) -> Result<(), LedgerError> {
    let Some(body) = record.settle_request.clone() else {
        report.unusable += 1;
        return Ok(());
    };
    let Some((payment, requirements)) = parse_body(&body) else {
        tracing::error!(route = %record.route, "a recorded /settle body does not parse");
        report.unusable += 1;
        return Ok(());
    };
    let request = FacilitatorRequest::with_body(&payment, requirements.as_requirements(), body);
    let transition = match facilitator.settle(&request).await {
        Ok(receipt) if receipt.success => {
            report.settled += 1;
            let result = ledger
                .record(
                    record.key,
                    record.token,
                    Transition::Settled { receipt: &receipt },
                    now,
                )
                .await;
            return lost_is_fine(result);
        }
        Ok(receipt) => {
            let reason = receipt
                .error_reason
                .clone()
                .unwrap_or_else(|| "settle_rejected".to_owned());
            if record.transaction.is_none() && now < record.expires_at {
                // The first attempt's outcome is unknown (interrupted mid-settle, or no
                // answer): a refusal now may mean that it landed (the authorization is used).
                // Never make the payment reusable on that: pending until it expires.
                report.still_pending += 1;
                let reason = format!("outcome_unknown: {reason}");
                let pending = Transition::Pending {
                    transaction: None,
                    reason: &reason,
                };
                let result = ledger.record(record.key, record.token, pending, now).await;
                return lost_is_fine(result);
            }
            report.failed += 1;
            let result = ledger
                .record(
                    record.key,
                    record.token,
                    Transition::Failed { reason: &reason },
                    now,
                )
                .await;
            return lost_is_fine(result);
        }
        Err(error) => {
            report.still_pending += 1;
            tracing::warn!(error = %ErrorChain(&error), route = %record.route,
                "a pending settlement is still unfinished");
            error
        }
    };
    let transaction = match &transition {
        crate::facilitator::FacilitatorError::SettleUnknown { transaction, .. } => {
            transaction.as_deref()
        }
        _ => None,
    };
    let reason = transition.reason();
    let result = ledger
        .record(
            record.key,
            record.token,
            Transition::Pending {
                transaction,
                reason,
            },
            now,
        )
        .await;
    lost_is_fine(result)
}

/// Another holder (a second reconciler, a retry) moved the record on: its step stands.
fn lost_is_fine(result: Result<(), LedgerError>) -> Result<(), LedgerError> {
    match result {
        Err(LedgerError::ClaimLost { .. }) => Ok(()),
        other => other,
    }
}

/// The parsed requirement of a recorded body, owned.
enum OwnedRequirements {
    V1(v1::PaymentRequirements),
    V2(v2::PaymentRequirements),
}

impl OwnedRequirements {
    fn as_requirements(&self) -> Requirements<'_> {
        match self {
            Self::V1(requirement) => Requirements::V1(requirement),
            Self::V2(requirement) => Requirements::V2(requirement),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    x402_version: u64,
    #[serde(borrow)]
    payment_payload: &'a RawValue,
    #[serde(borrow)]
    payment_requirements: &'a RawValue,
}

fn parse_body(body: &[u8]) -> Option<(PaymentPayload, OwnedRequirements)> {
    let body: RequestBody<'_> = serde_json::from_slice(body).ok()?;
    let payload = body.payment_payload.get();
    let requirements = body.payment_requirements.get();
    match body.x402_version {
        1 => Some((
            PaymentPayload::V1(serde_json::from_str(payload).ok()?),
            OwnedRequirements::V1(serde_json::from_str(requirements).ok()?),
        )),
        2 => Some((
            PaymentPayload::V2(serde_json::from_str(payload).ok()?),
            OwnedRequirements::V2(serde_json::from_str(requirements).ok()?),
        )),
        _ => None,
    }
}
