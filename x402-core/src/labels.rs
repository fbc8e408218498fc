//! Metric names, bounded label values, the reasons a payment is refused, and the codes of the
//! gate's other error bodies ([`ErrorCode`]).
//!
//! Every adapter records the same series with the same names and labels, so they live here.
//! Labels are bounded by construction: `route` is a configured route name, `chain` the
//! *resolved* CAIP-2 id (also for routes that inherit the default network), and `outcome`,
//! `reason`, `operation` are closed enums. A raw path, a payer or a transaction hash is never a
//! label.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `x402_requests_total` | counter | `route`, `chain`, `outcome` | matched requests by [`Outcome`] |
//! | `x402_payment_rejections_total` | counter | `route`, `chain`, `reason` | payments refused, by [`Reason`] |
//! | `x402_payments_settled_total` | counter | `route`, `chain` | successful settlements |
//! | `x402_amount_settled_total` | counter | `route`, `chain` | atomic units settled (saturating at `u64::MAX` per payment) |
//! | `x402_last_payment_success_timestamp_seconds` | gauge | `route`, `chain` | unix time of the last successful payment |
//! | `x402_facilitator_request_duration_seconds` | histogram | `operation`, `outcome` | facilitator latency by [`FacilitatorOperation`] and [`FacilitatorOutcome`] |
//! | `x402_route_table_routes` | gauge | — | routes in the live table |
//! | `x402_route_table_reloads_total` | counter | `result` | table swaps by [`ReloadResult`] |
//! | `x402_facilitator_breaker_opened_total` | counter | `facilitator` | a facilitator's circuit breaker opened |
//! | `x402_facilitator_breaker_state` | gauge | `facilitator` | `0` closed, `1` half-open, `2` open (set when an exporter asks) |
//! | `x402_facilitator_failovers_total` | counter | `operation`, `facilitator` | calls moved on to the next facilitator |
//!
//! The counters of every `(route, chain)` pair of a table — `x402_requests_total` for each
//! [`Outcome`] (a free route: `free` and `bad_request`), `x402_payments_settled_total` and
//! `x402_amount_settled_total` — are registered at 0 when the table goes live
//! ([`RouteTableHandle::new`](crate::gate::RouteTableHandle::new),
//! [`replace`](crate::gate::RouteTableHandle::replace), [`GateBuilder::build`](crate::gate::GateBuilder::build)),
//! so Prometheus scrapes a 0 before the first payment and `increase()` counts that payment.
//! Rejections by reason and the last-payment gauge appear on first use.
//!
//! When a reload removes a route, its `(route, chain)` series must disappear from the exporter:
//! [`RouteTable::label_sets`](crate::RouteTable::label_sets) lists the pairs a table can emit,
//! so the difference between the old and the new table is what to remove.
//!
//! ```
//! use x402_core::labels::{Outcome, Reason, names};
//!
//! assert_eq!(names::REQUESTS_TOTAL, "x402_requests_total");
//! assert_eq!(Outcome::Paid.as_str(), "paid");
//! assert_eq!(Reason::InvalidSignature.as_str(), "invalid_signature");
//! ```

use std::sync::Arc;

/// Metric names, one constant per series family.
pub mod names {
    /// Counter: matched requests, labels `route`, `chain`, `outcome`.
    pub const REQUESTS_TOTAL: &str = "x402_requests_total";
    /// Counter: refused payments, labels `route`, `chain`, `reason`.
    pub const PAYMENT_REJECTIONS_TOTAL: &str = "x402_payment_rejections_total";
    /// Counter: successful settlements, labels `route`, `chain`.
    pub const PAYMENTS_SETTLED_TOTAL: &str = "x402_payments_settled_total";
    /// Counter: atomic units settled, labels `route`, `chain`.
    pub const AMOUNT_SETTLED_TOTAL: &str = "x402_amount_settled_total";
    /// Gauge: unix time of the last successful payment, labels `route`, `chain`.
    pub const LAST_PAYMENT_SUCCESS_TIMESTAMP_SECONDS: &str =
        "x402_last_payment_success_timestamp_seconds";
    /// Histogram: facilitator latency, labels `operation`, `outcome`.
    pub const FACILITATOR_REQUEST_DURATION_SECONDS: &str =
        "x402_facilitator_request_duration_seconds";
    /// Gauge: routes in the live table.
    pub const ROUTE_TABLE_ROUTES: &str = "x402_route_table_routes";
    /// Counter: route table reloads, label `result`.
    pub const ROUTE_TABLE_RELOADS_TOTAL: &str = "x402_route_table_reloads_total";
    /// Counter: a facilitator's circuit breaker opened, label `facilitator` (its host).
    pub const FACILITATOR_BREAKER_OPENED_TOTAL: &str = "x402_facilitator_breaker_opened_total";
    /// Gauge: a facilitator's circuit breaker, `0` closed, `1` half-open, `2` open, label
    /// `facilitator`; set by `HttpFacilitator::record_breaker_states`.
    pub const FACILITATOR_BREAKER_STATE: &str = "x402_facilitator_breaker_state";
    /// Counter: a call moved on to the next facilitator because the previous one failed or its
    /// breaker was open, labels `operation`, `facilitator` (the host it moved to).
    pub const FACILITATOR_FAILOVERS_TOTAL: &str = "x402_facilitator_failovers_total";
}

/// Label keys.
pub mod keys {
    /// The route name.
    pub const ROUTE: &str = "route";
    /// The resolved CAIP-2 network.
    pub const CHAIN: &str = "chain";
    /// An [`Outcome`](super::Outcome) or a [`FacilitatorOutcome`](super::FacilitatorOutcome).
    pub const OUTCOME: &str = "outcome";
    /// A [`Reason`](super::Reason).
    pub const REASON: &str = "reason";
    /// A [`FacilitatorOperation`](super::FacilitatorOperation).
    pub const OPERATION: &str = "operation";
    /// A [`ReloadResult`](super::ReloadResult).
    pub const RESULT: &str = "result";
    /// A facilitator's host (a configured value, never a path or a query).
    pub const FACILITATOR: &str = "facilitator";
}

macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $( $(#[$vmeta])* $variant, )* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
/// Also used for the buyer's failure reasons (`client::metrics::Failure`).
#[cfg_attr(not(feature = "client"), allow(unused_imports))]
pub(crate) use label_enum;

label_enum! {
    /// What happened to a request that matched a route.
    pub enum Outcome {
        /// A free route, or a conditional route whose conditions let it through.
        Free => "free",
        /// No payment: answered with the 402 challenge.
        PaymentRequired => "payment_required",
        /// Paid and settled; the handler's response was delivered with a receipt.
        Paid => "paid",
        /// Verified only (settlement happens elsewhere); the handler's response was delivered.
        Verified => "verified",
        /// The payment was refused (402 with a [`Reason`]).
        Rejected => "rejected",
        /// The handler answered ≥ 400, so nothing was charged.
        NotCharged => "not_charged",
        /// The facilitator could not be reached, timed out or answered nonsense (502/503).
        FacilitatorError => "facilitator_error",
        /// Settlement failed after the handler ran; its output was not delivered.
        SettlementFailed => "settlement_failed",
        /// The request could not be matched safely (e.g. an invalid path): 400.
        BadRequest => "bad_request",
    }
}

label_enum! {
    /// Why a payment was refused. The text is also the `error` of the re-challenge, so
    /// clients can tell what to fix.
    pub enum Reason {
        /// The payment header is not valid base64 JSON of a payment payload, or too large.
        InvalidPaymentHeader => "invalid_payment_header",
        /// The payload's `x402Version` does not match the header it came in.
        VersionMismatch => "x402_version_mismatch",
        /// The payment does not match any requirement the route advertises.
        NoMatchingRequirement => "no_matching_requirement",
        /// The scheme is not supported here.
        UnsupportedScheme => "unsupported_scheme",
        /// The payment's `accepted` names another payment flow (`extra.paymentFlow`) than the
        /// option it otherwise matches, or one this server does not offer.
        PaymentFlowMismatch => "payment_flow_mismatch",
        /// `authorization.to` is not the route's `payTo`.
        RecipientMismatch => "recipient_mismatch",
        /// A Permit2 payment's `spender` is not the scheme's x402 proxy.
        SpenderMismatch => "spender_mismatch",
        /// An `upto` payment's witness names another facilitator than the offer's
        /// `facilitatorAddress`.
        FacilitatorMismatch => "facilitator_mismatch",
        /// `authorization.value` is not the route's amount.
        AmountMismatch => "amount_mismatch",
        /// The authorization is not valid yet (`validAfter` in the future).
        NotYetValid => "not_yet_valid",
        /// The authorization has expired (`validBefore` passed or too close).
        Expired => "expired",
        /// The signature does not recover to `authorization.from`.
        InvalidSignature => "invalid_signature",
        /// The same authorization is being, or has been, used.
        Replay => "replay",
        /// The facilitator said the payment is invalid (its reason goes in the challenge).
        VerifyRejected => "verify_rejected",
        /// The facilitator refused to settle.
        SettleRejected => "settle_rejected",
    }
}

label_enum! {
    /// The `reason` of every JSON error body the gate answers with (everything but a 402,
    /// whose reasons are [`Reason`]s). Serialized as its [`as_str`](Self::as_str) text.
    ///
    /// | code | status | meaning |
    /// |---|---|---|
    /// | `no_route` | 403 | no route matches and unmatched requests are denied |
    /// | `invalid_path` | 400 | the request path cannot be matched safely (bad escape, dot segment, …) |
    /// | `replay_guard_unavailable` | 503 | the replay store cannot answer; retriable, with `Retry-After` |
    /// | `facilitator_unavailable` | 503 | the facilitator cannot be reached, or every circuit breaker is open; retriable, with `Retry-After` |
    /// | `facilitator_timeout` | 503 | the facilitator did not answer in time; retriable, with `Retry-After` |
    /// | `facilitator_bad_response` | 502 | the facilitator answered something unusable |
    /// | `settlement_unknown` | 503 | settlement may have landed but its outcome is unknown; not retriable |
    /// | `invalid_request_target` | 400 | (the gateway's proxy) the request cannot be forwarded as received |
    /// | `upstream_unavailable` | 502 | (the gateway's proxy) the upstream service could not be reached |
    /// | `upstream_timeout` | 504 | (the gateway's proxy) the upstream did not connect or answer in time; nothing was charged |
    /// | `body_too_large` | 413 | (the gateway's proxy) the request body is larger than the gateway accepts |
    /// | `overloaded` | 503 | (the gateway's proxy) the gateway serves as many requests as it may; retriable, with `Retry-After` |
    /// | `ledger_unavailable` | 503 | the payment ledger cannot record a step; retriable, with `Retry-After` |
    /// | `payment_request_mismatch` | 409 | (with a ledger) this payment was made for another request |
    /// | `payment_in_progress` | 409 | (with a ledger) the same payment is being processed; retriable, with `Retry-After` |
    /// | `invalid_settlement_override` | 500 | an `upto` handler chose a charge above the authorized maximum, or an invalid `Settlement-Overrides`; nothing was settled |
    ///
    /// ```
    /// use x402_core::labels::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::NoRoute.as_str(), "no_route");
    /// assert_eq!(serde_json::to_string(&ErrorCode::InvalidPath).unwrap(), r#""invalid_path""#);
    /// ```
    pub enum ErrorCode {
        /// No route matches the request and the gate denies unmatched requests: 403.
        NoRoute => "no_route",
        /// The request path cannot be matched safely: 400.
        InvalidPath => "invalid_path",
        /// The replay store could not answer, so the payment is refused: 503.
        ReplayGuardUnavailable => "replay_guard_unavailable",
        /// The facilitator cannot be reached or answered a bare 5xx, or every circuit breaker is
        /// open: 503.
        FacilitatorUnavailable => "facilitator_unavailable",
        /// The facilitator did not answer in time: 503.
        FacilitatorTimeout => "facilitator_timeout",
        /// The facilitator answered something that is not the expected JSON: 502.
        FacilitatorBadResponse => "facilitator_bad_response",
        /// Settlement may have reached the chain but its outcome is unknown: 503.
        SettlementUnknown => "settlement_unknown",
        /// The gateway's proxy cannot forward the request as received: 400.
        InvalidRequestTarget => "invalid_request_target",
        /// The gateway's proxy could not reach the upstream service: 502.
        UpstreamUnavailable => "upstream_unavailable",
        /// The gateway's proxy got no connection or no response head from the upstream in
        /// time: 504.
        UpstreamTimeout => "upstream_timeout",
        /// The request body is larger than the gateway's proxy accepts: 413.
        BodyTooLarge => "body_too_large",
        /// The gateway's proxy already serves as many requests as it may: 503, retriable.
        Overloaded => "overloaded",
        /// The payment ledger could not record a step, so the payment is refused: 503.
        LedgerUnavailable => "ledger_unavailable",
        /// The payment was made for another request (method, path, body): 409.
        PaymentRequestMismatch => "payment_request_mismatch",
        /// The same payment is being processed by another request: 409, retriable.
        PaymentInProgress => "payment_in_progress",
        /// An `upto` handler chose a charge that cannot be settled (above the authorized
        /// maximum, or not a valid `Settlement-Overrides` value): nothing is settled and the
        /// handler's output is dropped: 500.
        InvalidSettlementOverride => "invalid_settlement_override",
        /// The route declares `payment-identifier` as required and the payment has no id: 400.
        PaymentIdentifierRequired => "payment_identifier_required",
        /// The payment's `payment-identifier` id is not 16–128 characters of `[A-Za-z0-9_-]`:
        /// 400.
        InvalidPaymentIdentifier => "invalid_payment_identifier",
        /// The payment's `payment-identifier` id belongs to another payment on this route: 409.
        PaymentIdentifierConflict => "payment_identifier_conflict",
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

label_enum! {
    /// A facilitator call.
    pub enum FacilitatorOperation {
        /// `POST /verify`.
        Verify => "verify",
        /// `POST /settle`.
        Settle => "settle",
        /// `GET /supported`.
        Supported => "supported",
    }
}

label_enum! {
    /// How a facilitator call ended.
    pub enum FacilitatorOutcome {
        /// A well-formed answer (valid or not).
        Ok => "ok",
        /// No answer in time.
        Timeout => "timeout",
        /// Connection refused, reset, or an HTTP error status without a usable body.
        Unavailable => "unavailable",
        /// An answer that is not the expected JSON.
        Malformed => "malformed",
    }
}

label_enum! {
    /// How a route table reload ended.
    pub enum ReloadResult {
        /// The new table replaced the old one.
        Ok => "ok",
        /// The new configuration had errors; the old table stays.
        Error => "error",
    }
}

/// The `(route, chain)` labels of one payment option of a route, built once with the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteLabels {
    route: Arc<str>,
    chain: Arc<str>,
}

impl RouteLabels {
    /// Labels for a route name and a resolved CAIP-2 chain.
    pub fn new(route: impl Into<Arc<str>>, chain: impl Into<Arc<str>>) -> Self {
        Self {
            route: route.into(),
            chain: chain.into(),
        }
    }

    /// The `route` label value.
    pub fn route(&self) -> &Arc<str> {
        &self.route
    }

    /// The `chain` label value: a CAIP-2 id, or `"none"` for a free route with no network.
    pub fn chain(&self) -> &Arc<str> {
        &self.chain
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn label_values_are_unique_snake_case() {
        let mut seen = HashSet::new();
        let all = Outcome::ALL
            .iter()
            .map(|o| o.as_str())
            .chain(Reason::ALL.iter().map(|r| r.as_str()))
            .chain(ErrorCode::ALL.iter().map(|c| c.as_str()));
        for text in all {
            assert!(seen.insert(text), "{text} appears twice");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()),
                "{text} is not snake_case"
            );
        }
    }

    #[test]
    fn error_codes_serialize_as_their_text() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
        }
    }
}
