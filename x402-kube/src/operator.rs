//! Operator mode: the watcher patches the Ingress each `X402Route` names in `spec.ingressRef`,
//! so that its paid paths reach the gateway ([`crate::ingress`] says which paths, and how).
//!
//! Turn it on with [`RouteWatcher::ingress_operator`](crate::watch::RouteWatcher::ingress_operator).
//! The watcher then also watches Ingresses (in the namespaces it watches) and, for every
//! Ingress referenced by an `X402Route` (or patched before):
//!
//! 1. adds the finalizer [`FINALIZER`] to each referencing `X402Route` first, so what it
//!    changes can always be undone (a resource without it contributes no paid path yet);
//! 2. reads the Ingress and plans it from the routes of every referencing resource (their last
//!    good spec; resources being deleted excluded), in `(namespace, name)` order;
//! 3. applies the plan with **server-side apply as the watcher's field manager, never
//!    forced**: when another manager owns `spec.rules` (an atomic list), the API server answers
//!    409 and the conflict is reported in status (reason [`REASON_CONFLICT`], naming the
//!    manager), not overwritten. An Ingress whose `x402.io/managed-by` names another manager is
//!    left alone the same way. Nothing is sent when the Ingress already matches the plan;
//! 4. when a resource is deleted (or its `ingressRef` changes), re-plans the Ingress without
//!    it — restoring the original backends when no paid route is left — and then removes the
//!    finalizer.
//!
//! Ingresses that are missing, in conflict or failed are retried every
//! [`IngressOperator::retry_every`] (default 10 s), and at once when the Ingress changes.
//!
//! Status (one writer: the watcher's own status write, see [`ingress_status`]): for resources
//! with an `ingressRef`, `ingressPatched`, the condition [`INGRESS_PATCHED`] (`Reconciled`,
//! `IngressNotFound`, `Conflict` or `PatchError`), and `ready` is true only when the spec
//! compiled *and* the Ingress is patched (the `Ready` condition then says `IngressNotPatched`).
//!
//! RBAC: besides the watcher's rights, `get`, `list`, `watch` and `patch` on
//! `ingresses.networking.k8s.io`, and `patch` on `x402routes` (the finalizer); see
//! `examples/kube/install.yaml`.

use std::time::Duration;

use k8s_openapi::{
    api::networking::v1::Ingress,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{
    Client,
    api::{Api, Patch, PatchParams},
};
use x402_core::spec::RouteRule;

use crate::{
    convert::{READY, REASON_COMPILED},
    crd::X402RouteStatus,
    ingress::{self, GatewayService, MANAGED_BY},
};

/// The finalizer on every `X402Route` with an `ingressRef` in operator mode.
pub const FINALIZER: &str = "x402.io/finalizer";
/// The condition type of the Ingress patch.
pub const INGRESS_PATCHED: &str = "IngressPatched";
/// `IngressPatched=True`: the Ingress routes the paid paths to the gateway.
pub const REASON_RECONCILED: &str = "Reconciled";
/// `IngressPatched=False`: the Ingress does not exist (retried).
pub const REASON_INGRESS_NOT_FOUND: &str = "IngressNotFound";
/// `IngressPatched=False`: another field manager owns what the patch changes (retried, never
/// forced).
pub const REASON_CONFLICT: &str = "Conflict";
/// `IngressPatched=False`: the patch failed otherwise (retried).
pub const REASON_PATCH_ERROR: &str = "PatchError";
/// `Ready=False` of a spec that compiled while its Ingress is not patched.
pub const REASON_INGRESS_NOT_PATCHED: &str = "IngressNotPatched";

/// Operator-mode settings: the gateway's Service that paid paths are sent to.
#[derive(Debug, Clone)]
pub struct IngressOperator {
    pub(crate) gateway: GatewayService,
    pub(crate) retry: Duration,
}

impl IngressOperator {
    /// Paid paths go to `gateway` (a Service of that name must exist in each Ingress's
    /// namespace).
    pub fn new(gateway: GatewayService) -> Self {
        Self {
            gateway,
            retry: Duration::from_secs(10),
        }
    }

    /// How often Ingresses that are missing, in conflict or failed are retried (default 10 s).
    #[must_use]
    pub fn retry_every(mut self, every: Duration) -> Self {
        self.retry = every;
        self
    }

    /// Plans `namespace/name` from `routes` and applies the plan (see the [module docs](self)).
    pub(crate) async fn reconcile(
        &self,
        client: &Client,
        field_manager: &str,
        (namespace, name): (&str, &str),
        routes: &[&RouteRule],
    ) -> IngressOutcome {
        let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
        let current = match api.get_opt(name).await {
            Ok(Some(current)) => current,
            Ok(None) => return IngressOutcome::NotFound,
            Err(error) => return IngressOutcome::Failed(format!("cannot read it: {error}")),
        };
        if let Some(other) = ingress::annotation(&current, MANAGED_BY)
            && other != field_manager
        {
            return IngressOutcome::Conflict(format!(
                "annotation `{MANAGED_BY}` names another manager, {other:?}: left alone"
            ));
        }
        let plan = match ingress::plan(&current, routes, &self.gateway) {
            Ok(plan) => plan,
            Err(error) => {
                return IngressOutcome::Failed(x402_core::ErrorChain(&error).to_string());
            }
        };
        let patched = IngressOutcome::Patched {
            redirected: plan.redirected(),
            added: plan.added(),
        };
        if !plan.differs_from(&current, field_manager) {
            return patched;
        }
        let body = plan.apply_body(
            name,
            namespace,
            current.metadata.resource_version.as_deref(),
            field_manager,
        );
        match api
            .patch(
                name,
                &PatchParams::apply(field_manager),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(%namespace, %name, redirected = plan.redirected(), added = plan.added(), "Ingress patched");
                patched
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let fields: Vec<String> = status
                    .details
                    .iter()
                    .flat_map(|d| &d.causes)
                    .map(|c| format!("{} ({})", c.field, c.message))
                    .collect();
                if fields.is_empty() {
                    // The resource version moved: changed meanwhile (its watch event retries).
                    IngressOutcome::Failed(format!("changed while patching: {}", status.message))
                } else {
                    IngressOutcome::Conflict(format!(
                        "owned by another field manager: {}",
                        fields.join(", ")
                    ))
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => IngressOutcome::NotFound,
            Err(error) => IngressOutcome::Failed(format!("cannot patch it: {error}")),
        }
    }
}

/// The last reconcile of a resource's Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngressOutcome {
    /// The Ingress matches the plan.
    Patched {
        /// Paths whose backend is the gateway.
        redirected: usize,
        /// Paths added for the gateway.
        added: usize,
    },
    /// The Ingress does not exist.
    NotFound,
    /// Another field manager owns what the patch changes: why.
    Conflict(String),
    /// Anything else: why.
    Failed(String),
}

impl IngressOutcome {
    /// Whether the Ingress matches the plan.
    pub fn is_patched(&self) -> bool {
        matches!(self, Self::Patched { .. })
    }
}

/// `status` with the Ingress's outcome merged in (`ingress`: `namespace/name`).
///
/// Sets `ingressPatched` and the [`INGRESS_PATCHED`] condition (its `lastTransitionTime`
/// moves only when its status flips), and turns `ready` (and the `Ready` condition, reason
/// [`REASON_INGRESS_NOT_PATCHED`]) false while a compiled spec's Ingress is not patched.
///
/// ```
/// use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
/// use x402_kube::{convert::desired_status, operator::{IngressOutcome, ingress_status}};
///
/// let now = Time(Timestamp::UNIX_EPOCH);
/// let compiled = desired_status(Ok(()), 2, Some(1), None, now.clone());
/// let status = ingress_status(compiled, "shop/web", &IngressOutcome::NotFound, Some(1), None, now);
/// assert_eq!((status.ingress_patched, status.ready), (Some(false), Some(false)));
/// assert_eq!(status.conditions[1].reason, "IngressNotFound");
/// ```
pub fn ingress_status(
    mut status: X402RouteStatus,
    ingress: &str,
    outcome: &IngressOutcome,
    generation: Option<i64>,
    stored: Option<&X402RouteStatus>,
    now: Time,
) -> X402RouteStatus {
    let (state, reason, message) = match outcome {
        IngressOutcome::Patched { redirected, added } => (
            "True",
            REASON_RECONCILED,
            format!(
                "Ingress {ingress}: {redirected} path(s) redirected to the gateway, {added} added"
            ),
        ),
        IngressOutcome::NotFound => (
            "False",
            REASON_INGRESS_NOT_FOUND,
            format!("Ingress {ingress} not found (retried)"),
        ),
        IngressOutcome::Conflict(why) => (
            "False",
            REASON_CONFLICT,
            format!("Ingress {ingress} not patched (not forced; retried): {why}"),
        ),
        IngressOutcome::Failed(why) => (
            "False",
            REASON_PATCH_ERROR,
            format!("Ingress {ingress} not patched (retried): {why}"),
        ),
    };
    let previous = stored.and_then(|s| s.conditions.iter().find(|c| c.type_ == INGRESS_PATCHED));
    let last_transition_time = match previous {
        Some(previous) if previous.status == state => previous.last_transition_time.clone(),
        _ => now.clone(),
    };
    status.conditions.retain(|c| c.type_ != INGRESS_PATCHED);
    status.conditions.push(Condition {
        type_: INGRESS_PATCHED.to_owned(),
        status: state.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    });
    status.ingress_patched = Some(outcome.is_patched());
    if status.ready == Some(true) && !outcome.is_patched() {
        status.ready = Some(false);
        if let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == READY)
            && ready.reason == REASON_COMPILED
        {
            let stored_ready = stored.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
            ready.status = "False".to_owned();
            ready.reason = REASON_INGRESS_NOT_PATCHED.to_owned();
            ready.message = format!(
                "{}; but the Ingress {ingress} is not patched",
                ready.message
            );
            ready.last_transition_time = match stored_ready {
                Some(s) if s.status == "False" => s.last_transition_time.clone(),
                _ => now,
            };
        }
    }
    status
}
