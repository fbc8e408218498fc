//! Settlement after the handler, and the typed outcome of the exchange.

use std::borrow::Cow;

use alloy_primitives::U256;
use tracing::Instrument;

use super::{
    AdmittedPayment, AuthorizedPayment, Reply, SettlementMode,
    headers::{self, Header},
    json_reply,
    overrides::{OverrideError, SettlementOverrides},
};
use crate::{
    codec,
    facilitator::{
        FacilitatorError, FacilitatorRequest, Requirements as FacilitatorRequirements, request_body,
    },
    labels::{ErrorCode, Outcome, Reason},
    ledger::Transition,
    telemetry,
    wire::{PaymentPayload, SettleResponse, v2},
};

/// How settlement ended, after the handler. Most adapters need only
/// [`Settlement::into_response_parts`]. (Deliberately exhaustive, like [`Admission`]: a new
/// way for settlement to end is a breaking change every adapter must handle.)
///
/// [`Admission`]: super::Admission
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per paid request and consumed at once; boxing the receipt would cost an allocation per payment"
)]
pub enum Settlement {
    /// Settled: add these headers (the receipt, `Cache-Control: private`, CORS exposure) to the
    /// handler's response and send it. (An `upto` charge of zero is "settled" without a
    /// facilitator call: its receipt has an empty `transaction` and `amount: "0"`.)
    Paid {
        /// Headers to add to the handler's response.
        headers: ResponseHeaders,
        /// The facilitator's receipt.
        receipt: SettleResponse,
        /// The atomic units charged (for `upto`, the handler's choice; else the price).
        amount: U256,
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
            Self::Paid {
                headers,
                receipt,
                amount,
            } => {
                let mut outcome = PaymentOutcome::paid(receipt);
                outcome.amount = Some(amount);
                Ok((headers, outcome))
            }
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
    /// An `upto` payment is charged its authorized maximum; see
    /// [`AuthorizedPayment::settle_with`].
    pub async fn settle(self, status: u16) -> Settlement {
        self.settle_with(status, None).await
    }

    /// [`AuthorizedPayment::settle`] with the charge the handler chose for an `upto` payment
    /// (read from its response by [`from_response`](super::overrides::from_response); see
    /// [`overrides`](super::overrides)). `None`
    /// charges the maximum; an invalid choice, or one above the maximum, settles nothing and
    /// fails with a 500 `invalid_settlement_override`; zero settles nothing and is paid with a
    /// receipt of `amount: "0"`. On other schemes the choice is ignored (the facilitator would
    /// refuse any amount but the signed one), with a warning.
    pub async fn settle_with(
        self,
        status: u16,
        overrides: Option<Result<SettlementOverrides, OverrideError>>,
    ) -> Settlement {
        let span = self.0.span.clone();
        let settlement = self
            .0
            .settle_inner(status, overrides)
            .instrument(span.clone())
            .await;
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
    async fn settle_inner(
        mut self,
        status: u16,
        overrides: Option<Result<SettlementOverrides, OverrideError>>,
    ) -> Settlement {
        if let Some(receipt) = self.replayed.take() {
            // Settled earlier for this very request (a retry): the same receipt, no second
            // settlement, whatever the handler answered this time. An `upto` charge is the
            // one the receipt names.
            if let Some(amount) = receipt.amount.as_deref().and_then(|a| a.parse().ok()) {
                self.charge = Some(amount);
            }
            telemetry::request(self.series(), Outcome::Paid);
            return self.paid(receipt);
        }
        match self.gate.config.settlement {
            SettlementMode::VerifyOnly => {
                // The authorization was used for this request: refuse it again until it
                // expires, even though it settles elsewhere.
                self.confirm_claim().await;
                telemetry::request(self.series(), Outcome::Verified);
                Settlement::Verified
            }
            _ if self.settles_before_handler() => match self.settled.take() {
                Some(receipt) => self.paid(receipt),
                None => Settlement::NotCharged,
            },
            // After the handler (`settles_before_handler` covers `BeforeHandler`).
            SettlementMode::AfterHandler | SettlementMode::BeforeHandler if status >= 400 => {
                telemetry::request(self.series(), Outcome::NotCharged);
                self.release();
                Settlement::NotCharged
            }
            SettlementMode::AfterHandler | SettlementMode::BeforeHandler => {
                if let Err(reply) = self.choose_charge(overrides) {
                    return Settlement::Failed(reply);
                }
                if self.settled_amount().is_zero() {
                    return self.charged_nothing().await;
                }
                match self.settle_now().await {
                    Ok(receipt) => self.paid(receipt),
                    Err(reply) => Settlement::Failed(reply),
                }
            }
        }
    }

    /// Sets the charge of an `upto` payment from the handler's choice (the maximum without
    /// one); refuses a choice that cannot be settled.
    fn choose_charge(
        &mut self,
        overrides: Option<Result<SettlementOverrides, OverrideError>>,
    ) -> Result<(), Reply> {
        let accept = self.accept();
        if !accept.mechanism().charge_is_chosen_after_handler() {
            if overrides.is_some() {
                tracing::warn!(
                    route = %self.route().name(),
                    "Settlement-Overrides ignored: the payment's scheme charges exactly its price"
                );
            }
            return Ok(());
        }
        let max = accept.amount();
        let resolved = match overrides {
            None => Ok(max),
            Some(choice) => choice.and_then(|o| o.resolve(max, accept.asset().decimals)),
        };
        match resolved {
            Ok(charge) => {
                self.charge = Some(charge);
                Ok(())
            }
            Err(error) => {
                tracing::error!(route = %self.route().name(), %error, "charge refused; not settled");
                self.release();
                telemetry::request(self.series(), Outcome::SettlementFailed);
                let mut reply = json_reply(
                    500,
                    Outcome::SettlementFailed,
                    None,
                    ErrorCode::InvalidSettlementOverride,
                    &error.to_string(),
                    false,
                );
                reply.outcome = Outcome::SettlementFailed;
                Err(reply)
            }
        }
    }

    /// An `upto` charge of zero: no facilitator call, and a receipt saying nothing moved (as
    /// the reference facilitator answers: `success`, empty `transaction`, `amount: "0"`). The
    /// payment stays used until it expires.
    async fn charged_nothing(&mut self) -> Settlement {
        let receipt = SettleResponse {
            payer: self.payer.map(|p| p.to_checksum(None)),
            amount: Some("0".to_owned()),
            ..SettleResponse::success("", self.network_for_receipt())
        };
        // A ledger records it as settled for nothing; a replay guard claim is confirmed.
        self.record_settlement(&Ok(receipt.clone())).await;
        self.confirm_claim().await;
        telemetry::request(self.series(), Outcome::Paid);
        self.span.record("amount", 0u64);
        self.paid(receipt)
    }

    /// Keeps this payment's replay guard claim until its authorization expires (it settled, or
    /// may have); nothing when the guard holds no claim (a ledger records the outcome instead).
    async fn confirm_claim(&mut self) {
        if self.claimed {
            self.gate
                .config
                .replay
                .confirm(self.replay_key, self.expires_at)
                .await;
            self.claimed = false;
        }
    }

    fn paid(&mut self, mut receipt: SettleResponse) -> Settlement {
        let amount = self.settled_amount();
        if self.charge.is_some() && receipt.amount.is_none() {
            receipt.amount = Some(amount.to_string());
        }
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
        Settlement::Paid {
            headers,
            receipt,
            amount,
        }
    }

    /// Settles with the facilitator; records the outcome and the replay state. An `upto`
    /// charge below the maximum goes to `/settle` as the requirement's `amount` (the payload,
    /// with the maximum signed, is unchanged), as the scheme specifies.
    pub(super) async fn settle_now(&mut self) -> Result<SettleResponse, Reply> {
        // An `upto` charge below the maximum goes to `/settle` as the requirement's amount.
        let charged = self
            .charge
            .filter(|c| *c != self.accept().amount())
            .map(|charge| v2::PaymentRequirements {
                amount: charge.to_string(),
                ..self.accept().requirements().clone()
            });
        let body = match &charged {
            Some(requirements) => {
                let json = serde_json::to_string(requirements).unwrap_or_default();
                request_body(self.decoded.payload(), self.decoded.json_text(), &json)
            }
            None => self.facilitator_request().body().clone(),
        };
        // With a ledger: the exact body, recorded before it is sent.
        self.record(Transition::Settling { request: &body }).await?;
        let request = match &charged {
            Some(requirements) => FacilitatorRequest::with_body(
                self.decoded.payload(),
                FacilitatorRequirements::V2(requirements),
                body,
            ),
            None => self.facilitator_request(),
        };
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
                // Without `/verify` (the `upfront` flow) the receipt may be the first to name
                // the payer.
                if self.payer.is_none() {
                    self.payer = receipt.payer.as_deref().and_then(|p| p.parse().ok());
                }
                // Only a replay guard claim (a ledger records the settlement instead).
                self.confirm_claim().await;
                telemetry::settled(self.series(), self.settled_amount());
                self.span
                    .record("amount", tracing::field::display(self.settled_amount()));
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
                // Project rule: also under `upfront`, where it arrives from `/settle`.
                if super::pending::needs_permit2_allowance(receipt.error_reason.as_deref()) {
                    reply.status = 412;
                }
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
                self.confirm_claim().await;
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
    /// The atomic units charged, when settled (for `upto`, what the handler chose; zero when
    /// it chose nothing).
    pub amount: Option<U256>,
}

impl PaymentOutcome {
    /// Paid and settled.
    pub fn paid(receipt: SettleResponse) -> Self {
        Self {
            outcome: Outcome::Paid,
            reason: None,
            receipt: Some(receipt),
            amount: None,
        }
    }

    /// Verified only (settlement elsewhere).
    pub fn verified() -> Self {
        Self {
            outcome: Outcome::Verified,
            reason: None,
            receipt: None,
            amount: None,
        }
    }

    /// The handler failed: nothing charged.
    pub fn not_charged() -> Self {
        Self {
            outcome: Outcome::NotCharged,
            reason: None,
            receipt: None,
            amount: None,
        }
    }

    /// The outcome of a reply of the gate.
    pub fn from_reply(reply: &Reply) -> Self {
        Self {
            outcome: reply.outcome(),
            reason: reply.reason(),
            receipt: None,
            amount: None,
        }
    }
}
