//! Metric recording through the `metrics` facade, in one place so every adapter emits the same
//! series (names and labels documented in [`crate::labels`]).

use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::U256;
use metrics::{counter, gauge};

use crate::labels::{Outcome, Reason, RouteLabels, keys, names};

/// Counts a matched request by outcome.
pub(crate) fn request(labels: &RouteLabels, outcome: Outcome) {
    counter!(
        names::REQUESTS_TOTAL,
        keys::ROUTE => labels.route().clone(),
        keys::CHAIN => labels.chain().clone(),
        keys::OUTCOME => outcome.as_str(),
    )
    .increment(1);
}

/// Counts a refused payment by reason.
pub(crate) fn rejection(labels: &RouteLabels, reason: Reason) {
    counter!(
        names::PAYMENT_REJECTIONS_TOTAL,
        keys::ROUTE => labels.route().clone(),
        keys::CHAIN => labels.chain().clone(),
        keys::REASON => reason.as_str(),
    )
    .increment(1);
}

/// Records a successful settlement: count, amount, last-success time.
pub(crate) fn settled(labels: &RouteLabels, amount: U256) {
    let route = labels.route().clone();
    let chain = labels.chain().clone();
    counter!(names::PAYMENTS_SETTLED_TOTAL, keys::ROUTE => route.clone(), keys::CHAIN => chain.clone())
        .increment(1);
    counter!(names::AMOUNT_SETTLED_TOTAL, keys::ROUTE => route.clone(), keys::CHAIN => chain.clone())
        .increment(u64::try_from(amount).unwrap_or(u64::MAX));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    gauge!(names::LAST_PAYMENT_SUCCESS_TIMESTAMP_SECONDS, keys::ROUTE => route, keys::CHAIN => chain)
        .set(now);
}
