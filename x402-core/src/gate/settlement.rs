//! Settlement after the handler, and the typed outcome of the exchange.

use std::borrow::Cow;

use tracing::Instrument;

use super::{
    AdmittedPayment, AuthorizedPayment, Reply, SettlementMode,
    headers::{self, Header},
};
use crate::{
    codec,
    facilitator::FacilitatorError,
    labels::{Outcome, Reason},
    telemetry,
    wire::{PaymentPayload, SettleResponse},
};

/// How settlement ended, after the handler. Most adapters need only
/// [`Settlement::into_response_parts`]. (Deliberately exhaustive, like [`Admission`]: a new
/// way for settlement to end is a breaking change every adapter must handle.)
///
/// [`Admission`]: super::Admission
#[derive(Debug)]
pub enum Settlement {
    /// Settled: add these headers (the receipt, `Cache-Control: private`, CORS exposure) to the
    /// handler's response and send it.
    Paid {
        /// Headers to add to the handler's response.
        headers: ResponseHeaders,
        /// The facilitator's receipt.
        receipt: SettleResponse,
    },
    /// Verify-only mode: send the handler's response as is.
    Verified,
    /// The handler answered ≥ 400: nothing was charged; send its response as is.
    NotCharged,
    /// Settlement failed: send this reply instead of the handler's response.
    Failed(Reply),
}

impl Settlement {
    /// What the adapter does with the handler's response, one rule for every adapter: `Ok`
    /// with the headers to add to it (by [`headers::merge`]) and the [`PaymentOutcome`] to put
    /// in its extensions, or `Err` with the reply to send instead of it.
    pub fn into_response_parts(self) -> Result<(ResponseHeaders, PaymentOutcome), Reply> {
        match self {
            Self::Paid { headers, receipt } => Ok((headers, PaymentOutcome::paid(receipt))),
            Self::Verified => Ok((Vec::new(), PaymentOutcome::verified())),
            Self::NotCharged => Ok((Vec::new(), PaymentOutcome::not_charged())),
            Self::Failed(reply) => Err(reply),
        }
    }
}

/// Headers the gate adds to a response: name and value.
pub type ResponseHeaders = Vec<(Header, Cow<'static, str>)>;

impl AuthorizedPayment {
    /// Finishes the exchange once the handler answered with `status`, before its body is sent.
    pub async fn settle(self, status: u16) -> Settlement {
        let span = self.0.span.clone();
        let settlement = self.0.settle_inner(status).instrument(span.clone()).await;
        let outcome = match &settlement {
            Settlement::Paid { .. } => Outcome::Paid,
            Settlement::Verified => Outcome::Verified,
            Settlement::NotCharged => Outcome::NotCharged,
            Settlement::Failed(reply) => reply.outcome(),
        };
        span.record("outcome", outcome.as_str());
        settlement
    }
}

impl AdmittedPayment {
    async fn settle_inner(mut self, status: u16) -> Settlement {
        if let Some(receipt) = self.replayed.take() {
            // Settled earlier for this very request (a retry): the same receipt, no second
            // settlement, whatever the handler answered this time.
            telemetry::request(self.series(), Outcome::Paid);
            return self.paid(receipt);
        }
        match self.gate.config.settlement {
            SettlementMode::VerifyOnly => {
                // The authorization was used for this request: refuse it again until it
                // expires, even though it settles elsewhere.
                self.gate
                    .config
                    .replay
                    .confirm(self.replay_key, self.expires_at)
                    .await;
                self.claimed = false;
                telemetry::request(self.series(), Outcome::Verified);
                Settlement::Verified
            }
            SettlementMode::BeforeHandler => match self.settled.take() {
                Some(receipt) => self.paid(receipt),
                None => Settlement::NotCharged,
            },
            SettlementMode::AfterHandler if status >= 400 => {
                telemetry::request(self.series(), Outcome::NotCharged);
                self.release();
                Settlement::NotCharged
            }
            SettlementMode::AfterHandler => match self.settle_now().await {
                Ok(receipt) => self.paid(receipt),
                Err(reply) => Settlement::Failed(reply),
            },
        }
    }

    fn paid(&mut self, receipt: SettleResponse) -> Settlement {
        let name = match self.decoded.payload() {
            PaymentPayload::V1(_) => Header::XPaymentResponse,
            PaymentPayload::V2(_) => Header::PaymentResponse,
        };
        let headers = vec![
            (name, Cow::Owned(codec::encode_header(&receipt))),
            (Header::CacheControl, Cow::Borrowed(headers::PRIVATE)),
            (
                Header::AccessControlExposeHeaders,
                Cow::Borrowed(headers::EXPOSE_VALUE),
            ),
        ];
        Settlement::Paid { headers, receipt }
    }

    /// Settles with the facilitator; records the outcome and the replay state.
    pub(super) async fn settle_now(&mut self) -> Result<SettleResponse, Reply> {
        let request = self.facilitator_request();
        let body = request.body().clone();
        drop(request);
        // With a ledger: the exact body, recorded before it is sent.
        self.record(crate::ledger::Transition::Settling { request: &body })
            .await?;
        let request = self.facilitator_request();
        let mut settled = self.gate.config.facilitator.settle(&request).await;
        if matches!(&settled, Err(error) if error.is_settlement_pending()) {
            // Broadcast but not confirmed yet: once more with the identical body (x402 §7.2),
            // which the facilitator reconciles against its transaction.
            settled = self.gate.config.facilitator.settle(&request).await;
        }
        drop(request);
        self.record_settlement(&settled).await;
        match settled {
            Ok(receipt) if receipt.success => {
                // Only a replay guard claim (a ledger records the settlement instead).
                if self.claimed {
                    self.gate
                        .config
                        .replay
                        .confirm(self.replay_key, self.expires_at)
                        .await;
                    self.claimed = false;
                }
                telemetry::settled(self.series(), self.settled_amount());
                telemetry::request(self.series(), Outcome::Paid);
                Ok(receipt)
            }
            Ok(receipt) => {
                self.release();
                telemetry::rejection(self.series(), Reason::SettleRejected);
                telemetry::request(self.series(), Outcome::SettlementFailed);
                let mut reply = self.gate.challenge(
                    self.offer(),
                    &self.url,
                    receipt
                        .error_reason
                        .as_deref()
                        .unwrap_or(Reason::SettleRejected.as_str()),
                    Some(Reason::SettleRejected),
                    false,
                );
                reply.outcome = Outcome::SettlementFailed;
                reply.headers.push((
                    self.receipt_header(),
                    Cow::Owned(codec::encode_header(&receipt)),
                ));
                Err(reply)
            }
            Err(error) => {
                tracing::error!(%error, "settlement failed");
                // The payment may have landed: keep the claim until the authorization expires
                // (a ledger keeps its record pending instead).
                if self.claimed {
                    self.gate
                        .config
                        .replay
                        .confirm(self.replay_key, self.expires_at)
                        .await;
                    self.claimed = false;
                }
                if let FacilitatorError::SettleUnknown { transaction, .. } = &error
                    && error.is_settlement_pending()
                {
                    return Err(self.pending_reply(transaction.as_deref(), "settlement_pending"));
                }
                let mut reply = self.gate.facilitator_trouble(self.series(), &error);
                reply.outcome = Outcome::SettlementFailed;
                if let FacilitatorError::SettleUnknown { transaction, .. } = &error {
                    let receipt = SettleResponse {
                        payer: self.payer.map(|p| p.to_checksum(None)),
                        transaction: transaction.clone().unwrap_or_default(),
                        ..SettleResponse::failure(error.reason(), self.network_for_receipt())
                    };
                    reply.headers.push((
                        self.receipt_header(),
                        Cow::Owned(codec::encode_header(&receipt)),
                    ));
                }
                Err(reply)
            }
        }
    }

    pub(super) fn receipt_header(&self) -> Header {
        match self.decoded.payload() {
            PaymentPayload::V1(_) => Header::XPaymentResponse,
            PaymentPayload::V2(_) => Header::PaymentResponse,
        }
    }

    pub(super) fn network_for_receipt(&self) -> String {
        match &self.decoded.payload() {
            PaymentPayload::V1(p) => p.network.clone(),
            PaymentPayload::V2(p) => p.accepted.network.clone(),
        }
    }
}

/// The typed outcome of the exchange, put in the response extensions by the adapters so outer
/// layers (logging, metrics) read it instead of re-parsing headers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PaymentOutcome {
    /// What happened.
    pub outcome: Outcome,
    /// Why a payment was refused, when it was.
    pub reason: Option<Reason>,
    /// The settlement receipt, when settled.
    pub receipt: Option<SettleResponse>,
}

impl PaymentOutcome {
    /// Paid and settled.
    pub fn paid(receipt: SettleResponse) -> Self {
        Self {
            outcome: Outcome::Paid,
            reason: None,
            receipt: Some(receipt),
        }
    }

    /// Verified only (settlement elsewhere).
    pub fn verified() -> Self {
        Self {
            outcome: Outcome::Verified,
            reason: None,
            receipt: None,
        }
    }

    /// The handler failed: nothing charged.
    pub fn not_charged() -> Self {
        Self {
            outcome: Outcome::NotCharged,
            reason: None,
            receipt: None,
        }
    }

    /// The outcome of a reply of the gate.
    pub fn from_reply(reply: &Reply) -> Self {
        Self {
            outcome: reply.outcome(),
            reason: reply.reason(),
            receipt: None,
        }
    }
}
