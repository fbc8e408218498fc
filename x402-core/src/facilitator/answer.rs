//! The facilitator's answer rules, sans I/O: how an HTTP status and body from `/verify`,
//! `/settle` or `/supported` become our answer or a [`FacilitatorError`]. The HTTP client
//! ([`super::http`]) only moves bytes; every decision about what an answer means is here.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{FacilitatorError, SETTLEMENT_PENDING};
use crate::{
    labels::FacilitatorOperation,
    wire::{SettleResponse, SupportedResponse, VerifyResponse},
};

/// At most this many characters of a body go into an error's detail.
const EXCERPT_CHARS: usize = 200;

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

pub(super) fn verify_answer(
    name: &Arc<str>,
    status: u16,
    body: &Bytes,
) -> Result<VerifyResponse, FacilitatorError> {
    let operation = FacilitatorOperation::Verify;
    if is_success(status) {
        return serde_json::from_slice(body).map_err(|error| {
            malformed(
                name,
                operation,
                status,
                &format!("not a VerifyResponse ({error})"),
                body,
            )
        });
    }
    match serde_json::from_slice::<VerifyResponse>(body) {
        Ok(answer) if !answer.is_valid => Ok(answer),
        Ok(_) => Err(malformed(
            name,
            operation,
            status,
            "an error status with isValid: true",
            body,
        )),
        Err(_) => Err(error_status(name, operation, status, body)),
    }
}

pub(super) fn settle_answer(
    name: &Arc<str>,
    status: u16,
    body: &Bytes,
) -> Result<SettleResponse, FacilitatorError> {
    let operation = FacilitatorOperation::Settle;
    if is_success(status) {
        let answer: SettleResponse = serde_json::from_slice(body).map_err(|error| {
            malformed(
                name,
                operation,
                status,
                &format!("not a SettleResponse ({error})"),
                body,
            )
        })?;
        if is_pending(&answer) {
            return Err(settle_unknown(
                name,
                status,
                answer.transaction,
                SETTLEMENT_PENDING,
            ));
        }
        return Ok(answer);
    }
    if let Ok(answer) = serde_json::from_slice::<SettleResponse>(body) {
        if is_pending(&answer) {
            return Err(settle_unknown(
                name,
                status,
                answer.transaction,
                SETTLEMENT_PENDING,
            ));
        }
        if answer.success {
            return Err(settle_unknown(
                name,
                status,
                answer.transaction,
                "success: true with an error status",
            ));
        }
        if status >= 500 && !answer.transaction.is_empty() {
            let reason = answer.error_reason.unwrap_or_default();
            return Err(settle_unknown(name, status, answer.transaction, &reason));
        }
        return Ok(answer);
    }
    if status >= 500 {
        // The facilitator failed after receiving the request: it may have broadcast the
        // transaction (and may even say which).
        #[derive(Deserialize)]
        struct Transaction {
            #[serde(default)]
            transaction: String,
        }
        let transaction = serde_json::from_slice::<Transaction>(body)
            .map(|t| t.transaction)
            .unwrap_or_default();
        return Err(settle_unknown(name, status, transaction, &excerpt(body)));
    }
    Err(error_status(name, operation, status, body))
}

pub(super) fn supported_answer(
    name: &Arc<str>,
    status: u16,
    body: &Bytes,
) -> Result<SupportedResponse, FacilitatorError> {
    let operation = FacilitatorOperation::Supported;
    if is_success(status) {
        return serde_json::from_slice(body).map_err(|error| {
            malformed(
                name,
                operation,
                status,
                &format!("not a SupportedResponse ({error})"),
                body,
            )
        });
    }
    Err(error_status(name, operation, status, body))
}

fn is_pending(answer: &SettleResponse) -> bool {
    !answer.success && answer.error_reason.as_deref() == Some(SETTLEMENT_PENDING)
}

/// An error status without a usable body: 5xx and 429 mean "not now", the rest "not like this".
fn error_status(
    name: &Arc<str>,
    operation: FacilitatorOperation,
    status: u16,
    body: &[u8],
) -> FacilitatorError {
    if status >= 500 || status == 429 {
        FacilitatorError::Unavailable {
            facilitator: Arc::clone(name),
            operation,
            detail: format!("status {status}: {}", excerpt(body)),
        }
    } else {
        malformed(name, operation, status, "unexpected status", body)
    }
}

fn malformed(
    name: &Arc<str>,
    operation: FacilitatorOperation,
    status: u16,
    what: &str,
    body: &[u8],
) -> FacilitatorError {
    FacilitatorError::Malformed {
        facilitator: Arc::clone(name),
        operation,
        detail: format!("status {status}, {what}: {}", excerpt(body)),
    }
}

fn settle_unknown(
    name: &Arc<str>,
    status: u16,
    transaction: String,
    detail: &str,
) -> FacilitatorError {
    FacilitatorError::SettleUnknown {
        facilitator: Arc::clone(name),
        transaction: (!transaction.is_empty()).then_some(transaction),
        detail: format!("status {status}: {detail}"),
    }
}

/// At most 200 characters of a body, control characters blanked, for error details.
pub(super) fn excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let long = text.chars().nth(EXCERPT_CHARS).is_some();
    let keep = if long {
        EXCERPT_CHARS - 1
    } else {
        EXCERPT_CHARS
    };
    let mut out: String = text
        .chars()
        .take(keep)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if long {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an answer became, without the details.
    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Answer,
        Unavailable,
        Malformed,
        SettleUnknown { transaction: Option<&'static str> },
    }

    fn verdict<T>(result: Result<T, FacilitatorError>) -> Verdict {
        match result {
            Ok(_) => Verdict::Answer,
            Err(FacilitatorError::Unavailable { .. }) => Verdict::Unavailable,
            Err(FacilitatorError::Malformed { .. }) => Verdict::Malformed,
            Err(FacilitatorError::SettleUnknown { transaction, .. }) => Verdict::SettleUnknown {
                transaction: transaction.map(|t| &*String::leak(t)),
            },
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn every_documented_answer_becomes_its_verdict() {
        use FacilitatorOperation::{Settle, Supported, Verify};
        let cases: &[(FacilitatorOperation, u16, &str, Verdict)] = &[
            (
                Verify,
                200,
                r#"{"isValid":true,"payer":"0x1"}"#,
                Verdict::Answer,
            ),
            (
                Verify,
                200,
                r#"{"isValid":false,"invalidReason":"x"}"#,
                Verdict::Answer,
            ),
            (Verify, 200, "nonsense", Verdict::Malformed),
            (
                Verify,
                400,
                r#"{"isValid":false,"invalidReason":"x"}"#,
                Verdict::Answer,
            ),
            (Verify, 400, r#"{"isValid":true}"#, Verdict::Malformed),
            (Verify, 400, "bad request", Verdict::Malformed),
            (Verify, 429, "", Verdict::Unavailable),
            (Verify, 503, "down", Verdict::Unavailable),
            (
                Settle,
                200,
                r#"{"success":true,"transaction":"0xab","network":"base"}"#,
                Verdict::Answer,
            ),
            (Settle, 200, "nonsense", Verdict::Malformed),
            (
                Settle,
                200,
                r#"{"success":false,"errorReason":"settlement_pending","transaction":"0xab","network":"base"}"#,
                Verdict::SettleUnknown {
                    transaction: Some("0xab"),
                },
            ),
            (
                Settle,
                400,
                r#"{"success":false,"errorReason":"x","transaction":"","network":"base"}"#,
                Verdict::Answer,
            ),
            (
                Settle,
                400,
                r#"{"success":true,"transaction":"0xab","network":"base"}"#,
                Verdict::SettleUnknown {
                    transaction: Some("0xab"),
                },
            ),
            (
                Settle,
                500,
                r#"{"success":false,"errorReason":"x","transaction":"0xab","network":"base"}"#,
                Verdict::SettleUnknown {
                    transaction: Some("0xab"),
                },
            ),
            (
                Settle,
                502,
                "bad gateway",
                Verdict::SettleUnknown { transaction: None },
            ),
            (Settle, 400, "bad request", Verdict::Malformed),
            (Supported, 200, r#"{"kinds":[]}"#, Verdict::Answer),
            (Supported, 200, "nonsense", Verdict::Malformed),
            (Supported, 503, "", Verdict::Unavailable),
            (Supported, 404, "", Verdict::Malformed),
        ];
        let name: Arc<str> = "http://f".into();
        for (operation, status, body, expected) in cases {
            let body = Bytes::from_static(body.as_bytes());
            let got = match operation {
                Verify => verdict(verify_answer(&name, *status, &body)),
                Settle => verdict(settle_answer(&name, *status, &body)),
                _ => verdict(supported_answer(&name, *status, &body)),
            };
            assert_eq!(&got, expected, "{operation:?} {status} {body:?}");
        }
    }

    #[test]
    fn only_a_pending_answer_with_a_transaction_is_settlement_pending() {
        let name: Arc<str> = "http://f".into();
        let settle = |status, body: &'static str| {
            settle_answer(&name, status, &Bytes::from_static(body.as_bytes())).unwrap_err()
        };
        let pending = r#"{"success":false,"errorReason":"settlement_pending","transaction":"0xab","network":"base"}"#;
        assert!(settle(200, pending).is_settlement_pending());
        assert!(settle(202, pending).is_settlement_pending());
        let no_tx = r#"{"success":false,"errorReason":"settlement_pending","transaction":"","network":"base"}"#;
        assert!(!settle(200, no_tx).is_settlement_pending());
        let failed = r#"{"success":false,"errorReason":"x","transaction":"0xab","network":"base"}"#;
        assert!(!settle(500, failed).is_settlement_pending());
        assert!(!settle(502, "bad gateway").is_settlement_pending());
    }
}
