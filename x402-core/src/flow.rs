//! Payment flows: when a payment is verified and settled relative to the handler, as the
//! protocol states it on the wire (`extra.paymentFlow` of a requirement).
//!
//! | flow | `extra.paymentFlow` | `/verify` before the handler | `/settle` |
//! |---|---|---|---|
//! | [`PaymentFlow::Authorization`] | absent (the default) | yes | after the handler, only if it answered below 400 |
//! | [`PaymentFlow::Upfront`] | `"upfront"` | no (the facilitator's `/settle` re-verifies) | before the handler; the buyer pays even if the handler fails |
//!
//! A route option states its flow in the route spec (`paymentFlow: upfront`, on the `payment`
//! defaults, a route or an `accepts` entry); each [mechanism](crate::mechanism) lists the flows
//! it allows ([`Mechanism::flows`](crate::mechanism::Mechanism::flows)), and a flow it does not
//! allow is a configuration error naming the route and the field. A payment whose `accepted`
//! names another flow than the option's (or a flow we do not know, such as `escrow`) is refused
//! with [`Reason::PaymentFlowMismatch`](crate::labels::Reason::PaymentFlowMismatch).
//!
//! ```
//! use x402_core::flow::PaymentFlow;
//!
//! assert_eq!(PaymentFlow::parse("upfront"), Some(PaymentFlow::Upfront));
//! assert_eq!(PaymentFlow::Authorization.wire_value(), None); // omitted on the wire
//! assert_eq!(PaymentFlow::Upfront.wire_value(), Some("upfront"));
//! assert!(PaymentFlow::Upfront.settles_before_handler());
//! ```

use std::fmt;

use crate::wire::JsonObject;

/// The key of a requirement's `extra` that names its flow.
pub const PAYMENT_FLOW_KEY: &str = "paymentFlow";

/// When a payment is verified and settled (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentFlow {
    /// Verify, run the handler, settle after it (the protocol default; `extra.paymentFlow`
    /// omitted).
    #[default]
    Authorization,
    /// Settle before the handler, without `/verify` (`extra.paymentFlow: "upfront"`).
    Upfront,
}

impl PaymentFlow {
    /// Every flow this crate serves.
    pub const ALL: &'static [Self] = &[Self::Authorization, Self::Upfront];

    /// The flow's name, e.g. `"upfront"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Upfront => "upfront",
        }
    }

    /// The flow named `text` (`"authorization"` or `"upfront"`), if this crate serves it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == text)
    }

    /// The value written to `extra.paymentFlow`: `None` for the default flow, which the
    /// protocol leaves out of the wire.
    pub const fn wire_value(self) -> Option<&'static str> {
        match self {
            Self::Authorization => None,
            Self::Upfront => Some("upfront"),
        }
    }

    /// The flow a requirement's `extra` names: absent means [`PaymentFlow::Authorization`];
    /// `Err` carries a value that is not a flow this crate serves (e.g. `"escrow"`, or not a
    /// string).
    pub fn of_extra(extra: Option<&JsonObject>) -> Result<Self, UnknownPaymentFlow> {
        match extra.and_then(|e| e.get(PAYMENT_FLOW_KEY)) {
            None => Ok(Self::Authorization),
            Some(serde_json::Value::String(text)) => {
                Self::parse(text).ok_or_else(|| UnknownPaymentFlow(text.clone()))
            }
            Some(other) => Err(UnknownPaymentFlow(other.to_string())),
        }
    }

    /// Whether `/verify` is called before the handler.
    pub const fn verifies_before_handler(self) -> bool {
        matches!(self, Self::Authorization)
    }

    /// Whether the payment settles before the handler runs.
    pub const fn settles_before_handler(self) -> bool {
        matches!(self, Self::Upfront)
    }
}

impl fmt::Display for PaymentFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `extra.paymentFlow` this crate does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment flow {0:?} is not one this server offers (authorization, upfront)")]
pub struct UnknownPaymentFlow(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(value: serde_json::Value) -> JsonObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn absent_flow_is_authorization() {
        assert_eq!(PaymentFlow::of_extra(None), Ok(PaymentFlow::Authorization));
        let e = extra(serde_json::json!({"name": "USDC"}));
        assert_eq!(
            PaymentFlow::of_extra(Some(&e)),
            Ok(PaymentFlow::Authorization)
        );
    }

    #[test]
    fn named_flows_are_read_and_unknown_ones_refused() {
        let upfront = extra(serde_json::json!({"paymentFlow": "upfront"}));
        assert_eq!(
            PaymentFlow::of_extra(Some(&upfront)),
            Ok(PaymentFlow::Upfront)
        );
        let explicit = extra(serde_json::json!({"paymentFlow": "authorization"}));
        assert_eq!(
            PaymentFlow::of_extra(Some(&explicit)),
            Ok(PaymentFlow::Authorization)
        );
        for bad in [
            serde_json::json!({"paymentFlow": "escrow"}),
            serde_json::json!({"paymentFlow": 1}),
            serde_json::json!({"paymentFlow": "Upfront"}),
        ] {
            assert!(
                PaymentFlow::of_extra(Some(&extra(bad.clone()))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_upfront_is_written_on_the_wire() {
        assert_eq!(PaymentFlow::Authorization.wire_value(), None);
        assert_eq!(PaymentFlow::Upfront.wire_value(), Some("upfront"));
        for flow in PaymentFlow::ALL {
            assert_eq!(PaymentFlow::parse(flow.as_str()), Some(*flow));
            assert_ne!(
                flow.verifies_before_handler(),
                flow.settles_before_handler()
            );
        }
    }
}
