//! A payment admitted by the local checks: the replay claim and the facilitator verify.

use std::{
    borrow::Cow,
    fmt,
    sync::{Arc, OnceLock},
};

use alloy_primitives::{Address, U256};
use bytes::Bytes;
use tracing::Instrument;

use super::{
    Gate, Reply, SettlementMode,
    headers::Header,
    json_reply,
    ledgered::{Claimed, LedgerRequest},
};
use crate::{
    RouteTable,
    codec::DecodedPayment,
    facilitator::{FacilitatorRequest, Requirements, request_body},
    labels::{Outcome, Reason},
    ledger::{ClaimToken, Transition},
    network::Network,
    offer::{Accept, Offer},
    payment_identifier::PaymentId,
    replay::ReplayKey,
    table::Route,
    telemetry::{self, RouteSeries},
    wire::{PaymentPayload, SettleResponse, v1, v2},
};

/// A verified (or settled) payment, given to the handler in the request extensions.
/// (`#[non_exhaustive]`: fields may be added; read them, the gate builds it.)
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Payment {
    /// The payer, as checked locally or reported by the facilitator.
    pub payer: Option<Address>,
    /// The amount, in atomic units of the asset: the price (for `upto`, the authorized
    /// maximum; the charge is chosen after the handler, see
    /// [`SettlementOverrides`](super::SettlementOverrides)).
    pub amount: U256,
    /// The network.
    pub network: Network,
    /// The token.
    pub asset: Address,
    /// The recipient.
    pub pay_to: Address,
    /// The x402 version the client used (1 or 2).
    pub x402_version: u8,
    /// The route name.
    pub route: Arc<str>,
    /// The requirement paid (v2 shape, also for v1 payments), shared with the route table.
    pub requirements: Arc<v2::PaymentRequirements>,
    /// The settlement receipt, when settled before the handler.
    pub receipt: Option<SettleResponse>,
}

/// A payment admitted by the local checks, not yet verified. The only way on is
/// [`AdmittedPayment::authorize`]; dropping it releases its replay claim and charges nothing.
///
/// It cannot be settled — only the [`AuthorizedPayment`] that authorizing returns can:
///
/// ```compile_fail
/// async fn settle_unverified(payment: x402_core::gate::AdmittedPayment) {
///     payment.settle(200).await; // no such method: verify first
/// }
/// ```
pub struct AdmittedPayment {
    pub(super) gate: Gate,
    pub(super) table: Arc<RouteTable>,
    pub(super) route: usize,
    pub(super) accept: usize,
    pub(super) decoded: DecodedPayment,
    pub(super) v1: Option<(v1::PaymentRequirements, String)>,
    pub(super) url: String,
    pub(super) replay_key: ReplayKey,
    pub(super) expires_at: u64,
    pub(super) payer: Option<Address>,
    /// The verify/settle request body, built once (see `facilitator_request`).
    pub(super) facilitator_body: OnceLock<Bytes>,
    pub(super) claimed: bool,
    pub(super) settled: Option<SettleResponse>,
    /// With a ledger: the request's fingerprint, the claim's token while this request holds
    /// the record, and the receipt of an earlier settlement served again.
    pub(super) ledger_request: Option<LedgerRequest>,
    pub(super) ledger_token: Option<ClaimToken>,
    /// The buyer's `payment-identifier` id, on a route that declares the extension.
    pub(super) payment_id: Option<PaymentId>,
    pub(super) replayed: Option<SettleResponse>,
    /// The charge the handler chose (`upto`), once known.
    pub(super) charge: Option<U256>,
    pub(super) span: tracing::Span,
}

impl fmt::Debug for AdmittedPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmittedPayment")
            .field("route", &self.route().name())
            .field("payer", &self.payer)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AdmittedPayment {
    pub(super) fn route(&self) -> &Route {
        &self.table.routes()[self.route]
    }

    pub(super) fn offer(&self) -> &Offer {
        self.route()
            .offer()
            .expect("a pending payment is always for a priced route")
    }

    pub(super) fn accept(&self) -> &Accept {
        &self.offer().accepts()[self.accept]
    }

    /// The atomic units this payment moves when it settles: the handler's charge (`upto`)
    /// once chosen, else as its mechanism reckons it.
    pub(super) fn settled_amount(&self) -> U256 {
        if let Some(charge) = self.charge {
            return charge;
        }
        let payload = match self.decoded.payload() {
            PaymentPayload::V1(p) => &p.payload,
            PaymentPayload::V2(p) => &p.payload,
        };
        let accept = self.accept();
        accept.mechanism().settled_amount(&accept.terms(), payload)
    }

    pub(super) fn series(&self) -> &RouteSeries {
        self.accept().series()
    }

    /// The verify or settle request. Its body is built on first use and shared by both calls.
    pub(super) fn facilitator_request(&self) -> FacilitatorRequest<'_> {
        let (requirements, json) = match &self.v1 {
            Some((requirements, json)) => (Requirements::V1(requirements), json.as_str()),
            None => (
                Requirements::V2(self.accept().requirements()),
                self.accept().requirements_json().get(),
            ),
        };
        let payment = self.decoded.payload();
        let body = self
            .facilitator_body
            .get_or_init(|| request_body(payment, self.decoded.json_text(), json));
        FacilitatorRequest::with_body(payment, requirements, body.clone())
    }

    pub(super) fn reject(&self, reason: Reason, detail: Option<&str>) -> Reply {
        self.gate
            .reject(self.route(), self.offer(), &self.url, reason, detail)
    }

    /// Claims the payment against replays and verifies it with the facilitator; settles it
    /// instead when its option's flow is `upfront` (no `/verify`), and after verifying in
    /// [`SettlementMode::BeforeHandler`]. `Ok` carries the payment to
    /// [settle](AuthorizedPayment::settle) after the handler and the typed [`Payment`] for the
    /// handler; `Err` is the reply to send instead of calling it.
    pub async fn authorize(mut self) -> Result<(AuthorizedPayment, Payment), Reply> {
        let span = self.span.clone();
        match self.authorize_inner().instrument(span).await {
            Ok(payment) => Ok((AuthorizedPayment(self), payment)),
            Err(reply) => {
                self.span.record("outcome", reply.outcome().as_str());
                Err(reply)
            }
        }
    }

    async fn authorize_inner(&mut self) -> Result<Payment, Reply> {
        if self.gate.config.ledger.is_some() {
            if let Claimed::Replayed(receipt) = self.claim_in_ledger().await? {
                self.replayed = Some((*receipt).clone());
                let mut payment = self.payment();
                payment.receipt = Some(*receipt);
                return Ok(payment);
            }
        } else {
            self.claim_replay().await?;
        }

        if self.verifies_before_handler() {
            self.verify().await?;
        }
        if self.settles_before_handler() {
            match self.settle_now().await {
                Ok(receipt) => self.settled = Some(receipt),
                Err(reply) => return Err(reply),
            }
        }
        Ok(self.payment())
    }

    /// Whether `/verify` is called: always in [`SettlementMode::VerifyOnly`], else unless the
    /// option's flow is `upfront` (whose `/settle` re-verifies).
    fn verifies_before_handler(&self) -> bool {
        self.gate.config.settlement == SettlementMode::VerifyOnly
            || self.accept().flow().verifies_before_handler()
    }

    /// Whether the payment settles before the handler: an `upfront` option, or every payment
    /// in [`SettlementMode::BeforeHandler`] but those whose charge the handler chooses
    /// (`upto`); never in [`SettlementMode::VerifyOnly`].
    pub(super) fn settles_before_handler(&self) -> bool {
        match self.gate.config.settlement {
            SettlementMode::VerifyOnly => false,
            SettlementMode::BeforeHandler => {
                !self.accept().mechanism().charge_is_chosen_after_handler()
            }
            SettlementMode::AfterHandler => self.accept().flow().settles_before_handler(),
        }
    }

    /// `/verify`, recorded in the ledger when there is one; a refusal is the 402 naming the
    /// facilitator's reason (412 when the payer must first approve Permit2).
    async fn verify(&mut self) -> Result<(), Reply> {
        let request = self.facilitator_request();
        let verified = self.gate.config.facilitator.verify(&request).await;
        drop(request);
        match verified {
            Ok(response) if response.is_valid => {
                if self.payer.is_none() {
                    self.payer = response.payer.as_deref().and_then(|p| p.parse().ok());
                    if let Some(payer) = self.payer {
                        self.span.record("payer", tracing::field::display(payer));
                    }
                }
                let payer = self.payer.map(|payer| format!("{payer:#x}"));
                self.record(Transition::Verified {
                    payer: payer.as_deref(),
                })
                .await
            }
            Ok(response) => {
                let detail = response.invalid_reason.as_deref();
                let reason = detail.unwrap_or(Reason::VerifyRejected.as_str()).to_owned();
                // Refused: nothing charged; a failure to record it only leaves the claim to lapse.
                let _ = self.record(Transition::Failed { reason: &reason }).await;
                let mut reply = self.reject(Reason::VerifyRejected, detail);
                if needs_permit2_allowance(detail) {
                    reply.status = 412;
                }
                Err(reply)
            }
            Err(error) => {
                tracing::warn!(%error, "facilitator verify failed");
                Err(self.gate.facilitator_trouble(self.series(), &error))
            }
        }
    }

    /// Claims the payment in the replay guard (no ledger configured).
    async fn claim_replay(&mut self) -> Result<(), Reply> {
        let now = self.gate.config.clock.now();
        match self
            .gate
            .config
            .replay
            .claim(self.replay_key, self.expires_at, now)
            .await
        {
            Ok(true) => self.claimed = true,
            Ok(false) => return Err(self.reject(Reason::Replay, None)),
            Err(error) => {
                tracing::warn!(%error, "replay guard unavailable; refusing the payment");
                telemetry::request(self.series(), Outcome::FacilitatorError);
                let mut reply = json_reply(
                    503,
                    Outcome::FacilitatorError,
                    None,
                    crate::labels::ErrorCode::ReplayGuardUnavailable,
                    "payment state is unavailable; try again later",
                    true,
                );
                reply.headers.push((
                    Header::RetryAfter,
                    Cow::Owned(self.gate.config.retry_after_seconds.to_string()),
                ));
                return Err(reply);
            }
        }
        Ok(())
    }

    pub(super) fn payment(&self) -> Payment {
        let accept = self.accept();
        Payment {
            payer: self.payer,
            amount: self.settled_amount(),
            network: accept.network().clone(),
            asset: accept.asset().address,
            pay_to: accept.pay_to(),
            x402_version: self.facilitator_version(),
            route: self.route().name().clone(),
            requirements: Arc::clone(accept.shared_requirements()),
            receipt: self.settled.clone(),
        }
    }

    pub(super) fn facilitator_version(&self) -> u8 {
        match self.decoded.payload() {
            PaymentPayload::V1(_) => 1,
            PaymentPayload::V2(_) => 2,
        }
    }

    /// Whether the adapter must hold the handler's response until [`AuthorizedPayment::settle`]
    /// has run (true in the default mode, for an option of the `authorization` flow).
    pub fn settles_after_handler(&self) -> bool {
        self.gate.config.settlement == SettlementMode::AfterHandler
            && !self.settles_before_handler()
    }
}

/// A payment the facilitator verified (and, in [`SettlementMode::BeforeHandler`], settled):
/// what [`AdmittedPayment::authorize`] returns, and the only value that can be settled.
/// Dropping it before [`AuthorizedPayment::settle`] charges nothing and releases its replay
/// claim.
#[derive(Debug)]
pub struct AuthorizedPayment(pub(super) AdmittedPayment);

impl AuthorizedPayment {
    /// Whether the adapter must hold the handler's response until [`AuthorizedPayment::settle`]
    /// has run (true in the default mode).
    pub fn settles_after_handler(&self) -> bool {
        self.0.settles_after_handler()
    }
}

impl AdmittedPayment {
    pub(super) fn release(&mut self) {
        self.release_in_ledger();
        if self.claimed {
            self.gate.config.replay.release(self.replay_key);
            self.claimed = false;
        }
    }
}

/// Whether a facilitator's reason says the payer must first approve Permit2
/// (`permit2_allowance_required`, compared case-insensitively: the spec spells it in capitals).
/// The official server answers it with 412 Precondition Failed and the challenge, so the buyer
/// knows to send the one-time `approve` and retry.
pub(super) fn needs_permit2_allowance(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| r.eq_ignore_ascii_case("permit2_allowance_required"))
}

impl Drop for AdmittedPayment {
    fn drop(&mut self) {
        self.release();
    }
}
