//! Buyer metrics through the `metrics` facade, named like the seller's ([`crate::labels`]).
//!
//! Labels are bounded: `upstream` is a configured name (never a URL), `chain` the resolved
//! CAIP-2 id of the option paid (`"none"` before one is known), `reason` a [`Failure`].
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `x402_buyer_requests_total` | counter | `upstream` | requests through the paying client |
//! | `x402_buyer_payment_attempts_total` | counter | `upstream`, `chain` | payments signed and sent |
//! | `x402_buyer_payments_succeeded_total` | counter | `upstream`, `chain` | 2xx with a successful receipt |
//! | `x402_buyer_payments_unconfirmed_total` | counter | `upstream`, `chain` | 2xx without a (readable) receipt: paid, unconfirmed |
//! | `x402_buyer_payment_failures_total` | counter | `upstream`, `chain`, `reason` | payments not made or refused, by [`Failure`] |
//! | `x402_buyer_amount_spent_total` | counter | `upstream`, `chain` | atomic units of confirmed payments (saturating at `u64::MAX` per payment) |
//! | `x402_buyer_budget_remaining` | gauge | `upstream`, `chain` | atomic units left under the tightest cap of the asset last paid |

use std::sync::Arc;

use alloy_primitives::U256;

use crate::labels::keys::{CHAIN, REASON};

/// Metric names.
pub mod names {
    /// Counter: requests through the paying client, label `upstream`.
    pub const REQUESTS_TOTAL: &str = "x402_buyer_requests_total";
    /// Counter: payments signed and sent, labels `upstream`, `chain`.
    pub const PAYMENT_ATTEMPTS_TOTAL: &str = "x402_buyer_payment_attempts_total";
    /// Counter: payments confirmed by a successful receipt, labels `upstream`, `chain`.
    pub const PAYMENTS_SUCCEEDED_TOTAL: &str = "x402_buyer_payments_succeeded_total";
    /// Counter: 2xx answers to a payment without a readable receipt, labels `upstream`, `chain`.
    pub const PAYMENTS_UNCONFIRMED_TOTAL: &str = "x402_buyer_payments_unconfirmed_total";
    /// Counter: failures by reason, labels `upstream`, `chain`, `reason`.
    pub const PAYMENT_FAILURES_TOTAL: &str = "x402_buyer_payment_failures_total";
    /// Counter: atomic units of confirmed payments, labels `upstream`, `chain`.
    pub const AMOUNT_SPENT_TOTAL: &str = "x402_buyer_amount_spent_total";
    /// Gauge: atomic units left under the tightest cap, labels `upstream`, `chain`.
    pub const BUDGET_REMAINING: &str = "x402_buyer_budget_remaining";
}

/// The `upstream` label key.
pub const UPSTREAM: &str = "upstream";

/// The `chain` label before a payment option is chosen.
pub const NO_CHAIN: &str = "none";

crate::labels::label_enum! {
    /// Why a buyer did not pay, or its payment did not go through.
    pub enum Failure {
        /// The 402 is not a challenge that can be read.
        InvalidChallenge => "invalid_challenge",
        /// No option is payable under the policy (network, asset, scheme).
        NoPayableOption => "no_payable_option",
        /// A cap (`maxPerRequest`, `maxTotal`, `maxSpendPerDay`) refused the payment.
        CapExceeded => "cap_exceeded",
        /// The request body cannot be sent twice.
        BodyNotReplayable => "body_not_replayable",
        /// The signer failed or signed wrongly.
        SigningFailed => "signing_failed",
        /// The seller refused the payment (402 again, no receipt).
        Rejected => "rejected",
        /// The seller's receipt says settlement failed.
        SettlementFailed => "settlement_failed",
        /// The paid request failed otherwise (an error status or a transport error).
        UpstreamError => "upstream_error",
    }
}

/// Records the buyer series of one upstream. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BuyerMetrics {
    upstream: Arc<str>,
}

impl BuyerMetrics {
    /// The series of `upstream` (a configured name).
    pub fn new(upstream: impl Into<Arc<str>>) -> Self {
        Self {
            upstream: upstream.into(),
        }
    }

    /// The `upstream` label value.
    pub fn upstream(&self) -> &Arc<str> {
        &self.upstream
    }

    /// A request went through the paying client.
    pub fn request(&self) {
        metrics::counter!(names::REQUESTS_TOTAL, UPSTREAM => self.upstream.clone()).increment(1);
    }

    /// A payment was signed and sent on `chain`.
    pub fn attempt(&self, chain: &str) {
        metrics::counter!(names::PAYMENT_ATTEMPTS_TOTAL, UPSTREAM => self.upstream.clone(), CHAIN => chain.to_owned())
            .increment(1);
    }

    /// A payment of `amount` on `chain` was confirmed by a successful receipt.
    pub fn succeeded(&self, chain: &str, amount: U256) {
        metrics::counter!(names::PAYMENTS_SUCCEEDED_TOTAL, UPSTREAM => self.upstream.clone(), CHAIN => chain.to_owned())
            .increment(1);
        let amount = u64::try_from(amount).unwrap_or(u64::MAX);
        metrics::counter!(names::AMOUNT_SPENT_TOTAL, UPSTREAM => self.upstream.clone(), CHAIN => chain.to_owned())
            .increment(amount);
    }

    /// A payment on `chain` was answered 2xx without a readable receipt.
    pub fn unconfirmed(&self, chain: &str) {
        metrics::counter!(names::PAYMENTS_UNCONFIRMED_TOTAL, UPSTREAM => self.upstream.clone(), CHAIN => chain.to_owned())
            .increment(1);
    }

    /// A payment on `chain` (or [`NO_CHAIN`]) failed for `reason`.
    pub fn failed(&self, chain: &str, reason: Failure) {
        metrics::counter!(
            names::PAYMENT_FAILURES_TOTAL,
            UPSTREAM => self.upstream.clone(),
            CHAIN => chain.to_owned(),
            REASON => reason.as_str()
        )
        .increment(1);
    }

    /// `remaining` atomic units are left under the tightest cap of the asset paid on `chain`.
    pub fn remaining(&self, chain: &str, remaining: U256) {
        // Gauges are floats; a budget above 2^53 atomic units loses precision, not meaning.
        #[allow(clippy::cast_precision_loss)]
        let value = u64::try_from(remaining).unwrap_or(u64::MAX) as f64;
        metrics::gauge!(names::BUDGET_REMAINING, UPSTREAM => self.upstream.clone(), CHAIN => chain.to_owned())
            .set(value);
    }
}
