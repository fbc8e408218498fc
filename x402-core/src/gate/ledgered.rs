//! The gate with a [`Ledger`]: the claim is the record's insert, each step is written before
//! the effect it names, and a retry of a settled payment for the same request is served again
//! with its receipt.

use std::borrow::Cow;

use super::{AdmittedPayment, Reply, headers::Header, json_reply};
use crate::{
    ErrorChain, codec,
    facilitator::FacilitatorError,
    labels::{ErrorCode, Outcome, Reason},
    ledger::{
        BodyDigest, Claim, Fingerprint, LedgerError, NewPayment, PartialFingerprint, PaymentState,
        Transition,
    },
    path::NormalizedPath,
    table::{HeaderLookup, RequestParts},
    telemetry,
    wire::SettleResponse,
};

/// What the gate keeps of a request for its ledger record.
#[derive(Debug, Clone)]
pub(super) struct LedgerRequest {
    pub(super) fingerprint: Fingerprint,
    /// While the request has a body the adapter did not hash (never served again from the
    /// ledger): the method and target hashed, for [`Self::bind_body`].
    unbound: Option<PartialFingerprint>,
}

impl LedgerRequest {
    /// The request's fingerprint: method, canonical path and query, body marker. (Only called
    /// when a ledger is configured; the table match has already parsed the path, so it parses.)
    pub(super) fn of<H: HeaderLookup + ?Sized>(request: &RequestParts<'_, H>) -> Self {
        let (path, query) = match request.path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.path_and_query, None),
        };
        let canonical = NormalizedPath::parse(path)
            .map_or(Cow::Borrowed(path), |p| Cow::Owned(p.as_str().to_owned()));
        let target = match query {
            Some(query) => Cow::Owned([&*canonical, "?", query].concat()),
            None => canonical,
        };
        // A body of unknown length (HTTP/2 and 3 need no `Content-Length`) counts as a body,
        // except on the methods that carry none in practice: a GET's body has no meaning.
        let has_body = request.headers.first("transfer-encoding").is_some()
            || match request.headers.first("content-length") {
                Some(length) => length.trim() != "0",
                None => !matches!(request.method, "GET" | "HEAD" | "OPTIONS" | "TRACE"),
            };
        let partial = PartialFingerprint::new(request.method, &target);
        if has_body {
            Self {
                fingerprint: partial.clone().finish(BodyDigest::Unbound),
                unbound: Some(partial),
            }
        } else {
            Self {
                fingerprint: partial.finish(BodyDigest::Empty),
                unbound: None,
            }
        }
    }

    /// Whether the request has a body the adapter did not hash.
    fn body_unbound(&self) -> bool {
        self.unbound.is_some()
    }

    /// The same request with its body's bytes: served again when retried with the same body.
    fn bind_body(&mut self, body: &[u8]) {
        if let Some(partial) = self.unbound.take() {
            self.fingerprint = partial.finish(BodyDigest::of(body));
        }
    }
}

/// How a ledger claim ended, for [`AdmittedPayment::authorize`].
pub(super) enum Claimed {
    /// This request holds the payment: verify it.
    New,
    /// Settled before for this very request: serve it again with this receipt, no facilitator.
    Replayed(Box<SettleResponse>),
}

impl AdmittedPayment {
    fn ledger_request(&self) -> &LedgerRequest {
        self.ledger_request
            .as_ref()
            .expect("a gate with a ledger fingerprints every payment")
    }

    /// Binds the payment to the request's body, which the adapter read because
    /// [`Gate::body_to_bind`](super::Gate::body_to_bind) asked it to: a retry of this request
    /// with the same body is then served again from the ledger, and with another body refused
    /// as `payment_request_mismatch`. Nothing happens without a ledger, or once bound.
    pub fn bind_body(&mut self, body: &[u8]) {
        if let Some(request) = self.ledger_request.as_mut() {
            request.bind_body(body);
        }
    }

    /// Claims the payment in the ledger.
    pub(super) async fn claim_in_ledger(&mut self) -> Result<Claimed, Reply> {
        let Some(ledger) = self.gate.config.ledger.clone() else {
            return Ok(Claimed::New);
        };
        let request = self.ledger_request();
        let now = self.gate.config.clock.now();
        let accept = self.accept();
        let payment = NewPayment::new(
            self.replay_key,
            request.fingerprint,
            &**self.route().name(),
            &**accept.labels().chain(),
            self.payer.map(|payer| format!("{payer:#x}")),
            self.settled_amount().to_string(),
            self.expires_at,
            now,
        )
        .with_payment_id(self.payment_id.clone());
        let record = match ledger.claim(payment).await {
            Ok(Claim::Claimed(token)) => {
                self.ledger_token = Some(token);
                return Ok(Claimed::New);
            }
            Ok(Claim::Existing(record)) => record,
            Ok(Claim::PaymentIdInUse) => {
                return Err(self.conflict(
                    ErrorCode::PaymentIdentifierConflict,
                    "this payment-identifier id belongs to another payment; send that payment \
                     again, or use a new id for a new one",
                    false,
                ));
            }
            Err(error) => return Err(self.ledger_trouble(&error)),
        };
        if record.fingerprint != request.fingerprint {
            return Err(self.conflict(
                ErrorCode::PaymentRequestMismatch,
                "this payment was made for another request; sign a new payment for this one",
                false,
            ));
        }
        match record.state {
            PaymentState::Settled if now < record.expires_at && !request.body_unbound() => {
                match record.receipt {
                    Some(receipt) => Ok(Claimed::Replayed(Box::new(receipt))),
                    None => Err(self.reject(Reason::Replay, None)),
                }
            }
            PaymentState::Pending => Err(self.pending_reply(
                record.transaction.as_deref(),
                record.reason.as_deref().unwrap_or("settlement_pending"),
            )),
            PaymentState::Claimed | PaymentState::Verified | PaymentState::Settling => Err(self
                .conflict(
                    ErrorCode::PaymentInProgress,
                    "this payment is being processed; retry the same request later",
                    true,
                )),
            _ => Err(self.reject(Reason::Replay, None)),
        }
    }

    /// Records a step of the payment this request holds (nothing without a ledger). `Err` with
    /// the 503 to answer when it could not be recorded (the ledger failed, or the claim was
    /// lost): the step it precedes must not be taken.
    pub(super) async fn record(&mut self, transition: Transition<'_>) -> Result<(), Reply> {
        let (Some(ledger), Some(token)) = (self.gate.config.ledger.clone(), self.ledger_token)
        else {
            return Ok(());
        };
        let terminal = matches!(
            transition.state(),
            PaymentState::Settled | PaymentState::Failed | PaymentState::Pending
        );
        let now = self.gate.config.clock.now();
        match ledger.record(self.replay_key, token, transition, now).await {
            Ok(()) => {
                if terminal {
                    // Nothing left to release.
                    self.ledger_token = None;
                }
                Ok(())
            }
            Err(error) => Err(self.ledger_trouble(&error)),
        }
    }

    /// Lets go of a claim that never reached `/settle`.
    pub(super) fn release_in_ledger(&mut self) {
        if let (Some(ledger), Some(token)) = (&self.gate.config.ledger, self.ledger_token.take()) {
            ledger.release(self.replay_key, token);
        }
    }

    /// Records how a settlement ended; a failure to record it is logged (the buyer's answer
    /// stands: money moved or not whatever the ledger says).
    pub(super) async fn record_settlement(
        &mut self,
        settled: &Result<SettleResponse, FacilitatorError>,
    ) {
        if self.ledger_token.is_none() {
            return;
        }
        let reason;
        let transition = match settled {
            Ok(receipt) if receipt.success => Transition::Settled { receipt },
            Ok(receipt) => {
                reason = receipt
                    .error_reason
                    .clone()
                    .unwrap_or_else(|| Reason::SettleRejected.as_str().to_owned());
                Transition::Failed { reason: &reason }
            }
            Err(error) => Transition::Pending {
                transaction: match error {
                    FacilitatorError::SettleUnknown { transaction, .. } => transaction.as_deref(),
                    _ => None,
                },
                reason: if error.is_settlement_pending() {
                    "settlement_pending"
                } else {
                    error.reason()
                },
            },
        };
        if self.record(transition).await.is_err() {
            tracing::error!(
                "could not record a settlement's outcome in the ledger; the reconciler will \
                 settle it again with the same body"
            );
        }
    }

    /// 503 with `Retry-After` and the pending receipt: the payment may still land, so no
    /// `PAYMENT-REQUIRED` that would invite a second one, and no resource.
    pub(super) fn pending_reply(&self, transaction: Option<&str>, reason: &str) -> Reply {
        telemetry::request(self.series(), Outcome::SettlementFailed);
        let mut reply = json_reply(
            503,
            Outcome::SettlementFailed,
            None,
            ErrorCode::SettlementUnknown,
            "the payment has been sent and is not confirmed yet; retry the same request later",
            true,
        );
        let receipt = SettleResponse {
            payer: self.payer.map(|p| p.to_checksum(None)),
            transaction: transaction.unwrap_or_default().to_owned(),
            ..SettleResponse::failure(reason, self.network_for_receipt())
        };
        reply.headers.push((
            self.receipt_header(),
            Cow::Owned(codec::encode_header(&receipt)),
        ));
        self.retry_after(&mut reply);
        reply
    }

    fn conflict(&self, code: ErrorCode, message: &str, retriable: bool) -> Reply {
        telemetry::rejection(self.series(), Reason::Replay);
        telemetry::request(self.series(), Outcome::Rejected);
        let mut reply = json_reply(
            409,
            Outcome::Rejected,
            Some(Reason::Replay),
            code,
            message,
            retriable,
        );
        if retriable {
            self.retry_after(&mut reply);
        }
        reply
    }

    fn ledger_trouble(&self, error: &LedgerError) -> Reply {
        tracing::error!(error = %ErrorChain(error), "payment ledger unavailable; refusing the payment");
        telemetry::request(self.series(), Outcome::FacilitatorError);
        let mut reply = json_reply(
            503,
            Outcome::FacilitatorError,
            None,
            ErrorCode::LedgerUnavailable,
            "payment state is unavailable; try again later",
            true,
        );
        self.retry_after(&mut reply);
        reply
    }

    fn retry_after(&self, reply: &mut Reply) {
        reply.headers.push((
            Header::RetryAfter,
            Cow::Owned(self.gate.config.retry_after_seconds.to_string()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Headers(&'static [(&'static str, &'static str)]);

    impl HeaderLookup for Headers {
        fn first(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
    }

    fn of(
        method: &str,
        target: &str,
        headers: &'static [(&'static str, &'static str)],
    ) -> LedgerRequest {
        let headers = Headers(headers);
        LedgerRequest::of(&RequestParts {
            method,
            scheme: None,
            host: None,
            path_and_query: target,
            headers: &headers,
        })
    }

    #[test]
    fn spellings_of_one_path_share_a_fingerprint() {
        let plain = of("GET", "/weather", &[]).fingerprint;
        assert_eq!(of("GET", "/weather/", &[]).fingerprint, plain);
        assert_eq!(of("GET", "//weather", &[]).fingerprint, plain);
        assert_eq!(of("GET", "/%77eather", &[]).fingerprint, plain);
    }

    #[test]
    fn method_query_and_body_each_change_the_fingerprint() {
        let plain = of("GET", "/weather?city=SF", &[]);
        assert!(!plain.body_unbound());
        for other in [
            of("POST", "/weather?city=SF", &[]),
            of("GET", "/weather?city=NY", &[]),
            of("GET", "/weather", &[]),
            of("GET", "/weather?city=SF", &[("content-length", "5")]),
        ] {
            assert_ne!(other.fingerprint, plain.fingerprint);
        }
        assert!(of("GET", "/weather", &[("content-length", "5")]).body_unbound());
        assert!(of("GET", "/weather", &[("transfer-encoding", "chunked")]).body_unbound());
        assert!(!of("GET", "/weather", &[("content-length", "0")]).body_unbound());
        // No length: a POST may still stream a body (HTTP/2); a GET is taken as empty.
        assert!(of("POST", "/weather", &[]).body_unbound());
        assert!(!of("POST", "/weather", &[("content-length", "0")]).body_unbound());
        assert!(!of("GET", "/weather", &[]).body_unbound());
    }
}
