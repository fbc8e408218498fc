//! The watcher: `X402Route` resources in, one live route table out.
//!
//! [`RouteWatcher`] watches one namespace, a list of namespaces, or the whole cluster (with an
//! optional label selector) through kube-runtime's watcher, and keeps a
//! [`RouteTableHandle`] — the one the adapters' gate reads — in step with the resources:
//!
//! - **Per-resource compilation.** Each resource is compiled on its own
//!   ([`convert::compile`]). A resource that fails keeps its last good spec in the table (or
//!   contributes nothing if it never compiled); the others are unaffected. Its status says why.
//! - **One table, one swap.** The table is built from every resource's good spec in
//!   `(namespace, name)` order — the first match wins across resources in that order too — and
//!   published with one atomic store, after the initial list and after every change that
//!   alters a good spec. Requests in flight keep the table they started with.
//! - **Lists are atomic.** The initial list, and every re-list after a watch restart (e.g.
//!   `410 Gone`), is buffered and applied as a whole when it completes: resources missing from
//!   it are removed, and the table never holds a half-listed state.
//! - **Readiness.** [`Readiness`] resolves after the first complete list of every watched
//!   namespace has been published. Hold your readiness probe (or the listener) on it, so a
//!   replica never serves paid routes as free during start-up.
//! - **Status** (`ready`, `activeRoutes`, the `Ready` condition with reason `Compiled` or
//!   `CompileError`, a message naming the route and field, `observedGeneration`) is written
//!   with server-side apply on the status subresource, only when it differs from what is
//!   stored. Every replica computes the same status, so they agree. A write that fails is
//!   logged and retried after the next event.
//! - **Metrics** (names from [`x402_core::labels`]): `x402_route_table_reloads_total{result}`
//!   counts table swaps (`ok`) and resources that failed to compile (`error`);
//!   `x402_route_table_routes` is the size of the live table. On every swap the `(route,
//!   chain)` label sets that left the table are handed to [`RouteWatcher::on_swap`], so the
//!   exporter can drop their series (see `x402_core::labels`).
//!
//! ```no_run
//! use x402_core::{RouteTable, gate::RouteTableHandle};
//! use x402_kube::watch::RouteWatcher;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! // Start empty; keep the service unready until the first list is in.
//! let routes = RouteTableHandle::new(RouteTable::empty());
//! let watcher = RouteWatcher::new(client, routes.clone())
//!     .namespace("shop")
//!     .labels("team=payments");
//! let readiness = watcher.readiness();
//! tokio::spawn(watcher.run());
//! readiness.ready().await?;
//! println!("{} routes live", routes.load().len());
//! # Ok(())
//! # }
//! ```
//!
//! RBAC: `list` and `watch` on `x402routes.x402.io`, and `patch` on `x402routes/status` when
//! status writing is on (see `examples/kube/rbac.yaml`).
//!
//! **Operator mode** ([`RouteWatcher::ingress_operator`], see [`crate::operator`]): the
//! watcher also patches the Ingress each resource names in `spec.ingressRef`, holds a
//! finalizer to undo it, and reports the patch in the resources' status. Resources being
//! deleted then leave the table at once (their Ingress no longer sends them traffic).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::Arc,
};

use futures_util::{StreamExt, stream, stream::BoxStream};
use k8s_openapi::api::networking::v1::Ingress;
use kube::{
    Client, Resource,
    api::{Api, ApiResource, DynamicObject, Patch, PatchParams},
    runtime::{
        WatchStreamExt,
        watcher::{self, Event},
    },
};
use metrics::counter;
use tokio::sync::watch as signal;
use x402_core::{
    RouteTable,
    gate::RouteTableHandle,
    labels::{ReloadResult, keys, names},
    spec::RouteSpec,
    wire::SupportedResponse,
};

use crate::{
    convert::{self, Compiled},
    crd::{X402Route, X402RouteStatus},
    ingress::MANAGED_BY,
    operator::{FINALIZER, IngressOperator, IngressOutcome, ingress_status},
};

/// The field manager of status writes, unless set with [`RouteWatcher::field_manager`].
pub const DEFAULT_FIELD_MANAGER: &str = "x402-kube";

/// What a table swap changed, as handed to [`RouteWatcher::on_swap`].
pub use x402_core::gate::TableSwap;

type SwapHook = Arc<dyn Fn(&TableSwap) + Send + Sync>;

/// Keeps a [`RouteTableHandle`] in step with `X402Route` resources. See the
/// [module docs](self).
pub struct RouteWatcher {
    client: Client,
    routes: RouteTableHandle,
    /// `None`: the whole cluster.
    namespaces: Option<Vec<String>>,
    labels: Option<String>,
    field_manager: String,
    write_status: bool,
    case_insensitive: bool,
    supported: Option<Arc<SupportedResponse>>,
    ledger: Option<bool>,
    on_swap: Option<SwapHook>,
    operator: Option<IngressOperator>,
    ready: signal::Sender<bool>,
}

impl fmt::Debug for RouteWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteWatcher")
            .field("namespaces", &self.namespaces)
            .field("labels", &self.labels)
            .field("field_manager", &self.field_manager)
            .field("write_status", &self.write_status)
            .field("case_insensitive", &self.case_insensitive)
            .field("on_swap", &self.on_swap.is_some())
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl RouteWatcher {
    /// A watcher of every `X402Route` in the cluster that publishes into `routes`, writing
    /// status as [`DEFAULT_FIELD_MANAGER`].
    pub fn new(client: Client, routes: RouteTableHandle) -> Self {
        Self {
            client,
            routes,
            namespaces: None,
            labels: None,
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
            write_status: true,
            case_insensitive: false,
            supported: None,
            ledger: None,
            on_swap: None,
            operator: None,
            ready: signal::Sender::new(false),
        }
    }

    /// Watches `namespace` (added to the namespaces already given; the default is the whole
    /// cluster).
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let namespaces = self.namespaces.get_or_insert_with(Vec::new);
        if !namespaces.contains(&namespace) {
            namespaces.push(namespace);
        }
        self
    }

    /// Watches each of `namespaces`.
    #[must_use]
    pub fn namespaces<I>(self, namespaces: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        namespaces.into_iter().fold(self, Self::namespace)
    }

    /// Only resources matching this label selector (`team=payments`, `tier in (a,b)`).
    #[must_use]
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.labels = Some(selector.into());
        self
    }

    /// The field manager of status writes (default [`DEFAULT_FIELD_MANAGER`]).
    #[must_use]
    pub fn field_manager(mut self, name: impl Into<String>) -> Self {
        self.field_manager = name.into();
        self
    }

    /// Whether to write `status` (default on; off needs no `patch` permission).
    #[must_use]
    pub fn write_status(mut self, on: bool) -> Self {
        self.write_status = on;
        self
    }

    /// Whether routes that do not set `caseInsensitive` match case-insensitively (default off;
    /// a gateway in front of an arbitrary upstream turns it on, see
    /// [`x402_core::path::gateway`]).
    #[must_use]
    pub fn case_insensitive_by_default(mut self, on: bool) -> Self {
        self.case_insensitive = on;
        self
    }

    /// The facilitator's `/supported` answer, for `scheme: upto` routes (their offer names the
    /// facilitator's address); without it their `upto` options are not offered.
    #[must_use]
    pub fn supported(mut self, supported: Arc<SupportedResponse>) -> Self {
        self.supported = Some(supported);
        self
    }

    /// Whether the gate serving the routes has a payment ledger: without one (`false`), a
    /// resource with a route declaring `paymentIdentifier` does not compile, and its status
    /// says why (see [`RouteTableBuilder::ledger`](x402_core::table::RouteTableBuilder::ledger)).
    /// Unset: not checked.
    #[must_use]
    pub fn ledger(mut self, present: bool) -> Self {
        self.ledger = Some(present);
        self
    }

    /// Called after every table swap, e.g. to remove the metric series of deleted routes.
    #[must_use]
    pub fn on_swap(mut self, hook: impl Fn(&TableSwap) + Send + Sync + 'static) -> Self {
        self.on_swap = Some(Arc::new(hook));
        self
    }

    /// Operator mode: patch the Ingress of every resource with `spec.ingressRef` so that its
    /// paid paths reach the gateway (see [`crate::operator`]). Needs status writing on.
    #[must_use]
    pub fn ingress_operator(mut self, operator: IngressOperator) -> Self {
        self.operator = Some(operator);
        self
    }

    /// Resolves once the first complete list is published.
    pub fn readiness(&self) -> Readiness {
        Readiness(self.ready.subscribe())
    }

    /// Watches until the task is dropped. Watch errors are logged and retried with kube's
    /// default backoff; the last published table stays meanwhile.
    pub async fn run(self) {
        let resource = ApiResource::erase::<X402Route>(&());
        let apis: Vec<Api<DynamicObject>> = match &self.namespaces {
            None => vec![Api::all_with(self.client.clone(), &resource)],
            Some(namespaces) => namespaces
                .iter()
                .map(|ns| Api::namespaced_with(self.client.clone(), ns, &resource))
                .collect(),
        };
        let mut config = watcher::Config::default();
        if let Some(selector) = &self.labels {
            config = config.labels(selector);
        }
        let mut state = State::new(apis.len(), self.supported.clone(), self.ledger);
        state.operator = self.operator.is_some();
        let mut inputs: Vec<BoxStream<'static, Input>> = apis
            .into_iter()
            .enumerate()
            .map(|(index, api)| {
                watcher::watcher(api, config.clone())
                    .default_backoff()
                    .map(move |event| Input::Route(index, event))
                    .boxed()
            })
            .collect();
        if let Some(operator) = &self.operator {
            inputs.extend(self.ingress_inputs(operator.retry));
        }
        let mut events = stream::select_all(inputs);
        while let Some(input) = events.next().await {
            match input {
                Input::Route(stream, Ok(event)) => {
                    let table_changed = state.handle(stream, event);
                    self.publish(&mut state, table_changed, &resource).await;
                }
                Input::Route(_, Err(error)) => {
                    tracing::warn!(%error, "X402Route watch failed; retrying with backoff");
                }
                Input::Ingress(Ok(event)) => {
                    if state.ingress_event(&event, &self.field_manager) {
                        self.publish(&mut state, false, &resource).await;
                    }
                }
                Input::Ingress(Err(error)) => {
                    tracing::warn!(%error, "Ingress watch failed; retrying with backoff");
                }
                Input::Retry => {
                    if state.retry() {
                        self.publish(&mut state, false, &resource).await;
                    }
                }
            }
        }
    }

    /// Operator mode: the Ingress watches (same namespaces) and the retry tick.
    fn ingress_inputs(&self, retry: std::time::Duration) -> Vec<BoxStream<'static, Input>> {
        let apis: Vec<Api<Ingress>> = match &self.namespaces {
            None => vec![Api::all(self.client.clone())],
            Some(namespaces) => namespaces
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect(),
        };
        let mut inputs: Vec<BoxStream<'static, Input>> = apis
            .into_iter()
            .map(|api| {
                watcher::watcher(api, watcher::Config::default())
                    .default_backoff()
                    .map(Input::Ingress)
                    .boxed()
            })
            .collect();
        inputs.push(
            stream::unfold((), move |()| async move {
                tokio::time::sleep(retry).await;
                Some((Input::Retry, ()))
            })
            .boxed(),
        );
        inputs
    }

    /// Publishes the table if it changed (or was never published) once every stream has
    /// listed, then writes the statuses that differ.
    async fn publish(&self, state: &mut State, table_changed: bool, resource: &ApiResource) {
        if !state.listed() {
            return;
        }
        if table_changed || !state.published {
            match state.table(self.case_insensitive) {
                Ok(table) => {
                    self.swap(table);
                    state.published = true;
                    self.ready.send_replace(true);
                }
                Err(errors) => {
                    // Each spec compiled alone, so this is not expected; fail closed anyway.
                    tracing::error!("route table refused, keeping the current one: {errors}");
                    counter!(names::ROUTE_TABLE_RELOADS_TOTAL, keys::RESULT => ReloadResult::Error.as_str())
                        .increment(1);
                }
            }
        }
        if state.published
            && let Some(operator) = &self.operator
        {
            self.operate(operator, state, resource).await;
        }
        if self.write_status && state.published {
            self.write_statuses(state, resource).await;
        }
    }

    /// Operator mode: finalizers on, dirty Ingresses reconciled, finalizers of deleted
    /// resources off once their Ingress no longer needs them.
    async fn operate(&self, operator: &IngressOperator, state: &mut State, resource: &ApiResource) {
        for ((namespace, name), entry) in &mut state.entries {
            let wanted = entry.ingress.is_some() && !entry.deleting;
            let drop_now = entry.deleting && entry.ingress.is_none();
            if (wanted && !entry.has_finalizer()) || (drop_now && entry.has_finalizer()) {
                self.set_finalizer(resource, namespace, name, entry, wanted)
                    .await;
                if let Some(key) = entry.ingress.clone().filter(|_| entry.has_finalizer()) {
                    state.dirty.insert(key);
                }
            }
        }
        for key in std::mem::take(&mut state.dirty) {
            let routes: Vec<x402_core::spec::RouteRule> = state
                .entries
                .values()
                .filter(|e| e.ingress.as_ref() == Some(&key) && !e.deleting && e.has_finalizer())
                .filter_map(|e| e.good.as_ref())
                .flat_map(|(spec, _)| spec.routes.iter().cloned())
                .collect();
            let refs: Vec<&x402_core::spec::RouteRule> = routes.iter().collect();
            let outcome = operator
                .reconcile(&self.client, &self.field_manager, (&key.0, &key.1), &refs)
                .await;
            let done = matches!(
                outcome,
                IngressOutcome::Patched { .. } | IngressOutcome::NotFound
            );
            if !done {
                tracing::warn!(namespace = %key.0, name = %key.1, ?outcome, "Ingress not patched; retrying");
            }
            let mut referenced = false;
            for ((namespace, name), entry) in &mut state.entries {
                if entry.ingress.as_ref() != Some(&key) {
                    continue;
                }
                referenced = true;
                entry.outcome = Some(outcome.clone());
                if done && entry.deleting && entry.has_finalizer() {
                    self.set_finalizer(resource, namespace, name, entry, false)
                        .await;
                }
            }
            if done && !referenced {
                state.touched.remove(&key);
            } else {
                state.touched.insert(key);
            }
        }
    }

    /// Adds (`on`) or removes our finalizer with a merge patch guarded by the resource
    /// version (a merge patch never creates a deleted object).
    async fn set_finalizer(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        entry: &mut Entry,
        on: bool,
    ) {
        let mut finalizers: Vec<String> = entry
            .finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        if on {
            finalizers.push(FINALIZER.to_owned());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        let patch = Patch::Merge(serde_json::json!({
            "metadata": { "finalizers": finalizers, "resourceVersion": entry.resource_version },
        }));
        match api.patch(name, &PatchParams::default(), &patch).await {
            Ok(object) => {
                entry.finalizers = object.metadata.finalizers.unwrap_or_default();
                entry.resource_version = object.metadata.resource_version;
            }
            Err(error) => {
                tracing::warn!(%namespace, %name, %error, on, "cannot update the X402Route finalizer; retrying");
            }
        }
    }

    fn swap(&self, table: RouteTable) {
        let swap = self.routes.replace(table);
        tracing::info!(
            routes = swap.routes,
            removed = swap.removed.len(),
            "route table swapped"
        );
        if let Some(hook) = &self.on_swap {
            hook(&swap);
        }
    }

    async fn write_statuses(&self, state: &mut State, resource: &ApiResource) {
        let params = PatchParams::apply(&self.field_manager).force();
        for ((namespace, name), entry) in &mut state.entries {
            if entry.deleting {
                continue;
            }
            let mut desired = entry.desired_status();
            if self.operator.is_some()
                && let Some((ingress_ns, ingress_name)) = &entry.ingress
            {
                let pending = IngressOutcome::Failed("not reconciled yet".to_owned());
                desired = ingress_status(
                    desired,
                    &format!("{ingress_ns}/{ingress_name}"),
                    entry.outcome.as_ref().unwrap_or(&pending),
                    entry.generation,
                    entry.stored.as_ref(),
                    convert::now(),
                );
            }
            if !convert::needs_update(&desired, entry.stored.as_ref()) {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, resource);
            let patch = Patch::Apply(serde_json::json!({
                "apiVersion": X402Route::api_version(&()),
                "kind": X402Route::kind(&()),
                "status": desired,
            }));
            match api.patch_status(name, &params, &patch).await {
                Ok(object) => entry.stored = convert::stored_status(&object),
                Err(error) => {
                    tracing::warn!(%namespace, %name, %error, "cannot write X402Route status");
                }
            }
        }
    }
}

/// Resolves once the watcher has published the first complete list. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness(signal::Receiver<bool>);

impl Readiness {
    /// Whether the first complete list is published.
    pub fn is_ready(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for the first complete list; fails if the watcher was dropped before.
    pub async fn ready(&self) -> Result<(), WatcherStopped> {
        self.0
            .clone()
            .wait_for(|ready| *ready)
            .await
            .map(drop)
            .map_err(|_| WatcherStopped)
    }
}

/// The watcher stopped before the first complete list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the X402Route watcher stopped before the first complete list")]
pub struct WatcherStopped;

/// One resource as last seen.
#[derive(Debug)]
struct Entry {
    /// The watch stream (namespace) it came from.
    stream: usize,
    generation: Option<i64>,
    /// The raw spec last compiled, to skip recompiling on status-only updates.
    spec: Option<serde_json::Value>,
    /// The last spec that compiled, and its route count.
    good: Option<(Box<RouteSpec>, usize)>,
    /// Why the current spec does not compile.
    error: Option<String>,
    /// The status as stored.
    stored: Option<X402RouteStatus>,
    /// `(namespace, name)` of `spec.ingressRef` (operator mode).
    ingress: Option<(String, String)>,
    /// `metadata.deletionTimestamp` is set.
    deleting: bool,
    finalizers: Vec<String>,
    resource_version: Option<String>,
    /// The last reconcile of its Ingress (operator mode).
    outcome: Option<IngressOutcome>,
}

impl Entry {
    fn has_finalizer(&self) -> bool {
        self.finalizers.iter().any(|f| f == FINALIZER)
    }

    fn desired_status(&self) -> X402RouteStatus {
        convert::desired_status(
            self.error.as_deref().map_or(Ok(()), Err),
            self.good.as_ref().map_or(0, |(_, routes)| *routes),
            self.generation,
            self.stored.as_ref(),
            convert::now(),
        )
    }
}

/// What the watcher knows: every resource, and each stream's list state.
#[derive(Debug)]
struct State {
    entries: BTreeMap<(String, String), Entry>,
    streams: Vec<StreamState>,
    published: bool,
    supported: Option<Arc<SupportedResponse>>,
    ledger: Option<bool>,
    /// Operator mode: resources being deleted leave the table, Ingresses are tracked.
    operator: bool,
    /// Ingresses to reconcile.
    dirty: BTreeSet<(String, String)>,
    /// Ingresses reconciled that may still carry our changes.
    touched: BTreeSet<(String, String)>,
}

/// One input of the watcher's loop.
enum Input {
    Route(usize, Result<Event<DynamicObject>, watcher::Error>),
    Ingress(Result<Event<Ingress>, watcher::Error>),
    Retry,
}

#[derive(Debug, Default)]
struct StreamState {
    /// A complete list has been applied.
    listed: bool,
    /// Objects of a list in progress.
    buffer: Option<Vec<DynamicObject>>,
}

impl State {
    fn new(
        streams: usize,
        supported: Option<Arc<SupportedResponse>>,
        ledger: Option<bool>,
    ) -> Self {
        Self {
            entries: BTreeMap::new(),
            streams: (0..streams).map(|_| StreamState::default()).collect(),
            published: false,
            supported,
            ledger,
            operator: false,
            dirty: BTreeSet::new(),
            touched: BTreeSet::new(),
        }
    }

    /// Operator mode: marks the Ingress of an event dirty if it concerns us; returns whether
    /// anything is to do.
    fn ingress_event(&mut self, event: &Event<Ingress>, field_manager: &str) -> bool {
        let object = match event {
            Event::Apply(object) | Event::InitApply(object) | Event::Delete(object) => object,
            Event::Init | Event::InitDone => return false,
        };
        let key = (
            object.metadata.namespace.clone().unwrap_or_default(),
            object.metadata.name.clone().unwrap_or_default(),
        );
        let ours = crate::ingress::annotation(object, MANAGED_BY) == Some(field_manager);
        let referenced = self
            .entries
            .values()
            .any(|e| e.ingress.as_ref() == Some(&key));
        if !(ours || referenced || self.touched.contains(&key)) {
            return false;
        }
        if ours {
            self.touched.insert(key.clone());
        }
        self.dirty.insert(key);
        true
    }

    /// Operator mode, on the retry tick: marks dirty every Ingress not known to be patched
    /// (or restored); returns whether anything is to do.
    fn retry(&mut self) -> bool {
        for entry in self.entries.values() {
            if let Some(key) = &entry.ingress
                && (entry.deleting
                    || !entry.has_finalizer()
                    || !entry
                        .outcome
                        .as_ref()
                        .is_some_and(IngressOutcome::is_patched))
            {
                self.dirty.insert(key.clone());
            }
        }
        for key in &self.touched {
            if !self
                .entries
                .values()
                .any(|e| e.ingress.as_ref() == Some(key))
            {
                self.dirty.insert(key.clone());
            }
        }
        let pending_finalizer = self
            .entries
            .values()
            .any(|e| e.deleting && e.ingress.is_none() && e.has_finalizer());
        !self.dirty.is_empty() || pending_finalizer
    }

    fn listed(&self) -> bool {
        self.streams.iter().all(|s| s.listed)
    }

    /// Applies one event; returns whether the set of good specs changed.
    fn handle(&mut self, stream: usize, event: Event<DynamicObject>) -> bool {
        match event {
            Event::Init => {
                self.streams[stream].buffer = Some(Vec::new());
                false
            }
            Event::InitApply(object) => match &mut self.streams[stream].buffer {
                Some(buffer) => {
                    buffer.push(object);
                    false
                }
                None => self.apply(stream, &object),
            },
            Event::InitDone => {
                let listed = self.streams[stream].buffer.take().unwrap_or_default();
                self.streams[stream].listed = true;
                let keep: BTreeSet<(String, String)> = listed.iter().map(key).collect();
                let gone: Vec<(String, String)> = self
                    .entries
                    .iter()
                    .filter(|(k, e)| e.stream == stream && !keep.contains(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut changed = false;
                for k in gone {
                    changed |= self.remove(&k);
                }
                for object in &listed {
                    changed |= self.apply(stream, object);
                }
                changed
            }
            Event::Apply(object) => self.apply(stream, &object),
            Event::Delete(object) => self.remove(&key(&object)),
        }
    }

    fn remove(&mut self, key: &(String, String)) -> bool {
        let removed = self.entries.remove(key);
        if removed.is_some() {
            tracing::info!(namespace = %key.0, name = %key.1, "X402Route removed");
        }
        if let Some(ingress) = removed.as_ref().and_then(|e| e.ingress.clone()) {
            self.dirty.insert(ingress);
        }
        removed.is_some_and(|e| e.good.is_some() && !(self.operator && e.deleting))
    }

    fn apply(&mut self, stream: usize, object: &DynamicObject) -> bool {
        let key = key(object);
        let spec = object
            .data
            .get("spec")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            stream,
            generation: None,
            spec: None,
            good: None,
            error: None,
            stored: None,
            ingress: None,
            deleting: false,
            finalizers: Vec::new(),
            resource_version: None,
            outcome: None,
        });
        entry.generation = object.metadata.generation;
        entry.stored = convert::stored_status(object);
        entry.resource_version = object.metadata.resource_version.clone();
        let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
        let deleting = self.operator && object.metadata.deletion_timestamp.is_some();
        let ingress = self.operator.then(|| ingress_ref(object, &key.0)).flatten();
        let moved = entry.ingress != ingress;
        let flipped = entry.deleting != deleting
            || entry.finalizers.iter().any(|f| f == FINALIZER)
                != finalizers.iter().any(|f| f == FINALIZER);
        if moved && let Some(old) = entry.ingress.take() {
            self.dirty.insert(old);
        }
        entry.finalizers = finalizers;
        entry.ingress = ingress;
        let table_flip = entry.deleting != deleting && entry.good.is_some();
        entry.deleting = deleting;
        if entry.spec.as_ref() == Some(&spec) {
            if (moved || flipped)
                && let Some(ingress) = &entry.ingress
            {
                self.dirty.insert(ingress.clone());
            }
            return table_flip;
        }
        if let Some(ingress) = &entry.ingress {
            self.dirty.insert(ingress.clone());
        }
        entry.spec = Some(spec);
        match convert::compile_checked(object, self.supported.as_deref(), self.ledger) {
            Compiled::Good { spec, routes } => {
                entry.error = None;
                let changed = entry.good.as_ref().map(|(good, _)| good) != Some(&spec);
                entry.good = Some((spec, routes));
                tracing::info!(namespace = %key.0, name = %key.1, routes, "X402Route compiled");
                changed
            }
            Compiled::Failed(why) => {
                let kept = entry.good.as_ref().map_or(0, |(_, routes)| *routes);
                tracing::warn!(
                    namespace = %key.0, name = %key.1, kept,
                    "X402Route does not compile, keeping its last good routes: {why}"
                );
                entry.error = Some(why);
                counter!(names::ROUTE_TABLE_RELOADS_TOTAL, keys::RESULT => ReloadResult::Error.as_str())
                    .increment(1);
                false
            }
        }
    }

    /// The table of every good spec, in `(namespace, name)` order.
    fn table(&self, case_insensitive: bool) -> Result<RouteTable, x402_core::table::BuildErrors> {
        let sources: Vec<(String, &RouteSpec)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.deleting)
            .filter_map(|((ns, name), e)| Some((format!("{ns}/{name}"), &*e.good.as_ref()?.0)))
            .collect();
        let mut builder = RouteTable::builder().case_insensitive_by_default(case_insensitive);
        if let Some(supported) = &self.supported {
            builder = builder.supported(supported);
        }
        if let Some(ledger) = self.ledger {
            builder = builder.ledger(ledger);
        }
        sources
            .iter()
            .fold(builder, |builder, (source, spec)| {
                builder.named_spec(source, spec)
            })
            .build()
    }
}

/// `(namespace, name)` of the object's `spec.ingressRef` (the namespace defaults to the
/// object's), read from the raw spec so that it is known even when the spec does not compile.
fn ingress_ref(object: &DynamicObject, namespace: &str) -> Option<(String, String)> {
    let reference = object.data.get("spec")?.get("ingressRef")?;
    let name = reference.get("name")?.as_str()?.to_owned();
    let namespace = reference
        .get("namespace")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(namespace)
        .to_owned();
    Some((namespace, name))
}

fn key(object: &DynamicObject) -> (String, String) {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}
