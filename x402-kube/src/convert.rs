//! From one `X402Route` object to its compiled routes and its status.
//!
//! Each resource is read and compiled on its own, so one that is wrong fails alone: its
//! [`Compiled`] result names the route and the field at fault, and the watcher keeps its last
//! good spec in the table. The object is read as a [`DynamicObject`] (not as [`X402Route`]) so
//! a resource whose `spec` does not even parse — e.g. a field this version does not know,
//! stored under another CRD — is one failed resource, not a failed list.
//!
//! ```
//! use kube::api::DynamicObject;
//! use x402_kube::convert::{Compiled, compile};
//!
//! let object: DynamicObject = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "x402.io/v1alpha1", "kind": "X402Route",
//!     "metadata": { "name": "api", "namespace": "shop", "generation": 3 },
//!     "spec": {
//!         "payment": { "wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
//!                      "network": "base-sepolia" },
//!         "routes": [ { "path": "/report", "price": "ten" } ]
//!     }
//! })).unwrap();
//! let Compiled::Failed(why) = compile(&object) else { panic!("must not compile") };
//! assert!(why.contains("routes[0].price"), "{why}");
//! ```
//!
//! [`X402Route`]: crate::crd::X402Route

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::api::DynamicObject;
use serde::Deserialize;
use x402_core::{ErrorChain, RouteTable, spec::RouteSpec, wire::SupportedResponse};

use crate::crd::X402RouteStatus;

/// The condition type the library writes.
pub const READY: &str = "Ready";
/// Reason of a `Ready=True` condition: the spec compiled.
pub const REASON_COMPILED: &str = "Compiled";
/// Reason of a `Ready=False` condition: the spec did not parse or compile.
pub const REASON_COMPILE_ERROR: &str = "CompileError";
/// The longest condition message Kubernetes accepts.
const MAX_MESSAGE: usize = 32_768;

/// The result of reading and compiling one resource's spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiled {
    /// The spec compiled.
    Good {
        /// The spec.
        spec: Box<RouteSpec>,
        /// How many routes it has.
        routes: usize,
    },
    /// The spec does not parse or does not compile: every error, one per line, each naming
    /// the route and the field at fault.
    Failed(String),
}

/// Reads and compiles the `spec` of one `X402Route` object.
pub fn compile(object: &DynamicObject) -> Compiled {
    compile_with(object, None)
}

/// [`compile`] with the facilitator's `/supported` answer, which `scheme: upto` routes need
/// (their offer names the facilitator's address).
pub fn compile_with(object: &DynamicObject, supported: Option<&SupportedResponse>) -> Compiled {
    compile_checked(object, supported, None)
}

/// [`compile_with`], also checking `paymentIdentifier` against whether the gate has a ledger
/// (`Some(false)`: a declaring route is an error; see
/// [`RouteTableBuilder::ledger`](x402_core::table::RouteTableBuilder::ledger)).
pub fn compile_checked(
    object: &DynamicObject,
    supported: Option<&SupportedResponse>,
    ledger: Option<bool>,
) -> Compiled {
    let spec = match object.data.get("spec") {
        None => return Compiled::Failed("`spec` is missing".to_owned()),
        Some(value) => match RouteSpec::deserialize(value) {
            Ok(spec) => spec,
            Err(error) => return Compiled::Failed(format!("`spec` does not parse: {error}")),
        },
    };
    let mut builder = RouteTable::builder().spec(&spec);
    if let Some(supported) = supported {
        builder = builder.supported(supported);
    }
    if let Some(ledger) = ledger {
        builder = builder.ledger(ledger);
    }
    match builder.build() {
        Ok(table) => Compiled::Good {
            routes: table.len(),
            spec: Box::new(spec),
        },
        Err(errors) => Compiled::Failed(
            errors
                .errors()
                .iter()
                // With its causes: a bad regex's own message says where it is wrong.
                .map(|error| ErrorChain(error).to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

/// The status of an object as stored (`None` when absent or unreadable).
pub fn stored_status(object: &DynamicObject) -> Option<X402RouteStatus> {
    X402RouteStatus::deserialize(object.data.get("status")?).ok()
}

/// The status the library wants on a resource.
///
/// - `current`: whether the current spec compiled (`Ok`) or why not (`Err`);
/// - `active_routes`: the resource's routes in the live table (the last good spec's);
/// - `generation`: the object's `metadata.generation`, reported as `observedGeneration`;
/// - `stored`: the status as stored. Its other conditions are kept, and the `Ready`
///   condition's `lastTransitionTime` too unless its status flips;
/// - `now`: the transition time of a flip.
///
/// `ingressPatched` is left out (the operator's field). Comparing the result with the stored
/// status (see [`needs_update`]) tells whether a write is due.
///
/// ```
/// use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
/// use x402_kube::convert::{desired_status, needs_update};
///
/// let now = Time(Timestamp::UNIX_EPOCH);
/// let status = desired_status(Ok(()), 2, Some(1), None, now.clone());
/// assert_eq!(status.ready, Some(true));
/// assert_eq!(status.conditions[0].reason, "Compiled");
/// // The same result later changes nothing: no write.
/// let again = desired_status(Ok(()), 2, Some(1), Some(&status), Time(Timestamp::now()));
/// assert!(!needs_update(&again, Some(&status)));
/// ```
pub fn desired_status(
    current: Result<(), &str>,
    active_routes: usize,
    generation: Option<i64>,
    stored: Option<&X402RouteStatus>,
    now: Time,
) -> X402RouteStatus {
    let (status, reason, message) = match current {
        Ok(()) => (
            "True",
            REASON_COMPILED,
            format!("{active_routes} route(s) compiled and live"),
        ),
        Err(why) => (
            "False",
            REASON_COMPILE_ERROR,
            if active_routes > 0 {
                format!("{why}\nthe last good spec's {active_routes} route(s) stay live")
            } else {
                why.to_owned()
            },
        ),
    };
    let previous = stored.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match previous {
        Some(previous) if previous.status == status => previous.last_transition_time.clone(),
        _ => now,
    };
    let ready = Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: truncate(message, MAX_MESSAGE),
        observed_generation: generation,
        last_transition_time,
    };
    let mut conditions: Vec<Condition> = stored
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(ready);
    X402RouteStatus {
        ingress_patched: None,
        ready: Some(current.is_ok()),
        active_routes: Some(i64::try_from(active_routes).unwrap_or(i64::MAX)),
        conditions,
    }
}

/// Whether the stored status differs from the desired one in the fields the library writes.
pub fn needs_update(desired: &X402RouteStatus, stored: Option<&X402RouteStatus>) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    desired.ready != stored.ready
        || desired.ingress_patched != stored.ingress_patched
        || desired.active_routes != stored.active_routes
        || !same_conditions(&desired.conditions, &stored.conditions)
}

/// Conditions compare without regard to order.
fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.contains(c))
}

/// The current time as a Kubernetes timestamp, to the second (as the API server stores it).
pub(crate) fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(spec: &serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "x402.io/v1alpha1", "kind": "X402Route",
            "metadata": { "name": "r", "namespace": "ns" },
            "spec": spec,
        }))
        .unwrap()
    }

    const WALLET: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

    #[test]
    fn a_good_spec_compiles_with_its_route_count() {
        let compiled = compile(&object(&json!({
            "payment": { "wallet": WALLET, "network": "base-sepolia", "defaultPrice": "0.01" },
            "routes": [ { "path": "/a" }, { "path": "/b", "free": true } ],
        })));
        assert!(
            matches!(compiled, Compiled::Good { routes: 2, .. }),
            "{compiled:?}"
        );
    }

    #[test]
    fn an_upto_route_needs_the_facilitators_supported_answer() {
        let upto = object(&json!({
            "payment": { "wallet": WALLET, "network": "base-sepolia", "defaultPrice": "0.01" },
            "routes": [ { "path": "/llm", "scheme": "upto" } ],
        }));
        let Compiled::Failed(why) = compile(&upto) else {
            panic!("compiled without a facilitator address")
        };
        assert!(why.contains("facilitatorAddress"), "{why}");
        let supported: SupportedResponse = serde_json::from_value(json!({
            "kinds": [{ "x402Version": 2, "scheme": "upto", "network": "eip155:84532",
                        "extra": { "facilitatorAddress": WALLET } }],
        }))
        .unwrap();
        let compiled = compile_with(&upto, Some(&supported));
        assert!(
            matches!(compiled, Compiled::Good { routes: 1, .. }),
            "{compiled:?}"
        );
    }

    #[test]
    fn an_operator_manifest_compiles_unchanged() {
        let compiled = compile(&object(&json!({
            "ingressRef": { "name": "web" },
            "payment": { "wallet": WALLET, "network": "base-sepolia", "defaultPrice": "0.001",
                         "facilitatorURL": "https://x402.org/facilitator" },
            "routes": [
                { "path": "/api/*", "price": "0.01", "mode": "all-pay" },
                { "path": "/health", "free": true },
                { "path": "/premium/**", "mode": "conditional", "conditions": [
                    { "header": "X-Bot-Score", "pattern": "^(bot|automated)$", "action": "pay" } ] },
            ],
        })));
        assert!(
            matches!(compiled, Compiled::Good { routes: 3, .. }),
            "{compiled:?}"
        );
    }

    #[test]
    fn an_unknown_field_fails_alone_with_its_name() {
        let Compiled::Failed(why) = compile(&object(
            &json!({ "routes": [ { "path": "/a", "prize": "1" } ] }),
        )) else {
            panic!("must fail")
        };
        assert!(why.contains("prize"), "{why}");
    }

    #[test]
    fn a_bad_condition_regex_fails_with_the_parser_message() {
        let Compiled::Failed(why) = compile(&object(&json!({
            "payment": { "wallet": WALLET, "network": "base-sepolia", "defaultPrice": "0.01" },
            "routes": [ { "path": "/a", "mode": "conditional", "conditions": [
                { "header": "X-Tier", "pattern": "(", "action": "pay" } ] } ],
        }))) else {
            panic!("must fail")
        };
        assert!(why.contains("invalid regular expression"), "{why}");
        assert!(why.contains("unclosed group"), "{why}");
    }

    #[test]
    fn a_missing_spec_fails() {
        let object: DynamicObject =
            serde_json::from_value(json!({ "metadata": { "name": "r" } })).unwrap();
        assert_eq!(
            compile(&object),
            Compiled::Failed("`spec` is missing".to_owned())
        );
    }

    #[test]
    fn a_compile_error_names_route_and_field() {
        let Compiled::Failed(why) = compile(&object(&json!({
            "payment": { "wallet": WALLET, "network": "base-sepolia" },
            "routes": [ { "path": "/ok", "price": "1" }, { "path": "/bad", "name": "bad", "price": "1.2.3" } ],
        }))) else {
            panic!("must fail")
        };
        assert!(why.contains("route #1 (\"bad\")"), "{why}");
        assert!(why.contains("routes[1].price"), "{why}");
    }

    #[test]
    fn payment_identifier_without_a_ledger_fails_naming_the_route() {
        let declaring = object(&json!({
            "payment": { "wallet": WALLET, "network": "base-sepolia" },
            "routes": [ { "path": "/orders", "name": "orders", "price": "1", "paymentIdentifier": "required" } ],
        }));
        let Compiled::Failed(why) = compile_checked(&declaring, None, Some(false)) else {
            panic!("must fail without a ledger")
        };
        assert!(why.contains("routes[0].paymentIdentifier"), "{why}");
        assert!(why.contains("needs a payment ledger"), "{why}");
        for ledger in [Some(true), None] {
            assert!(
                matches!(
                    compile_checked(&declaring, None, ledger),
                    Compiled::Good { .. }
                ),
                "ledger {ledger:?}"
            );
        }
    }

    #[test]
    fn a_failure_keeps_other_conditions_and_says_what_stays_live() {
        let stored = X402RouteStatus {
            ingress_patched: Some(true),
            ready: Some(true),
            active_routes: Some(2),
            conditions: vec![Condition {
                type_: "IngressPatched".to_owned(),
                status: "True".to_owned(),
                reason: "Reconciled".to_owned(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            }],
        };
        let desired = desired_status(Err("boom"), 2, Some(4), Some(&stored), now());
        assert_eq!(desired.ready, Some(false));
        assert_eq!(desired.active_routes, Some(2));
        assert_eq!(desired.ingress_patched, None);
        assert_eq!(desired.conditions.len(), 2);
        let ready = &desired.conditions[1];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "CompileError")
        );
        assert_eq!(ready.observed_generation, Some(4));
        assert!(ready.message.starts_with("boom\n"), "{}", ready.message);
        assert!(needs_update(&desired, Some(&stored)));
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let epoch = Time(Timestamp::UNIX_EPOCH);
        let good = desired_status(Ok(()), 1, Some(1), None, epoch.clone());
        let later = now();
        let still_good = desired_status(Ok(()), 1, Some(2), Some(&good), later.clone());
        assert_eq!(still_good.conditions[0].last_transition_time, epoch);
        assert!(
            needs_update(&still_good, Some(&good)),
            "observedGeneration changed"
        );
        let bad = desired_status(Err("x"), 1, Some(3), Some(&still_good), later.clone());
        assert_eq!(bad.conditions[0].last_transition_time, later);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_MESSAGE);
        let cut = truncate(text, MAX_MESSAGE);
        assert!(cut.len() <= MAX_MESSAGE);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
