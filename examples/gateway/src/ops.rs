//! Operations: `/healthz`, `/readyz` and `/metrics` (Prometheus text), and the metrics recorder
//! that removes the series of deleted routes.
//!
//! # Removing series with metrics-exporter-prometheus
//!
//! The exporter (0.18) has no API to delete a series: its registry is private. What it has is
//! *recency*: with an idle timeout, a series whose value has not changed since the previous
//! render is deleted from its registry at the next render. [`MetricsRecorder`] builds on that:
//!
//! - it wraps the exporter's recorder and records the key of every series registered through
//!   it (keys are bounded: route names, CAIP-2 chains and closed enums);
//! - a reload marks the `(route, chain)` pairs that left the table (old `label_sets()` minus
//!   new) as *pruned*;
//! - [`MetricsRecorder::render`] first "touches" every series that is not pruned (an increment
//!   by zero, which bumps the series' generation without changing its value), then renders
//!   with an idle timeout of one nanosecond on counters and gauges: every live series is
//!   fresh, and the untouched series of deleted routes are deleted by the exporter itself.
//!
//! So a deleted route's series are gone from the first scrape after the reload — including
//! `x402_last_payment_success_timestamp_seconds`, which would otherwise satisfy "recent
//! payment" alerts forever. Histograms (facilitator latency, labelled by operation, not route)
//! are never expired. A route added back un-prunes its pairs.
//!
//! Each render also sets `x402_facilitator_breaker_state` from the facilitator clients it
//! watches ([`MetricsRecorder::watch_breakers`]), so the breaker state is read at scrape time,
//! never on the request path.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{
        Arc, OnceLock, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::MetricKindMask;
use x402_core::{
    facilitator::HttpFacilitator,
    labels::{RouteLabels, keys},
};

/// Whether the gateway can take traffic: a route table is loaded and it is not draining.
#[derive(Debug, Default)]
pub struct Readiness {
    loaded: AtomicBool,
    draining: AtomicBool,
}

impl Readiness {
    /// A route table is live.
    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }

    /// Shutting down: finishing in-flight requests, taking no new ones.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Acquire) {
            Err("not ready: shutting down")
        } else if !self.loaded.load(Ordering::Acquire) {
            Err("not ready: routes not loaded")
        } else {
            Ok(())
        }
    }
}

#[derive(Clone)]
struct OpsState {
    readiness: Arc<Readiness>,
    metrics: Option<&'static MetricsRecorder>,
}

/// The operations router: `/healthz` (the process is up), `/readyz` (503 until a route table
/// is loaded and while draining), `/metrics` (Prometheus text, when a recorder is installed).
pub fn router(readiness: Arc<Readiness>, metrics: Option<&'static MetricsRecorder>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { readiness, metrics })
}

async fn readyz(State(state): State<OpsState>) -> Response {
    match state.readiness.check() {
        Ok(()) => "ready".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn render_metrics(State(state): State<OpsState>) -> Response {
    let Some(metrics) = state.metrics else {
        return (StatusCode::NOT_FOUND, "no metrics recorder installed").into_response();
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The process's metrics recorder: metrics-exporter-prometheus's, plus removal of the series
/// of deleted routes (see the [module docs](self)).
#[derive(Debug)]
pub struct MetricsRecorder {
    prometheus: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Every series key registered, with its kind.
    keys: RwLock<HashMap<Key, Kind>>,
    /// `(route, chain)` pairs of deleted routes.
    pruned: RwLock<HashSet<(String, String)>>,
    /// Facilitator clients whose breaker states each render records.
    breakers: RwLock<Vec<Weak<HttpFacilitator>>>,
}

static GLOBAL: OnceLock<Option<&'static MetricsRecorder>> = OnceLock::new();

const METADATA: Metadata<'static> =
    Metadata::new("x402_gateway", metrics::Level::INFO, Some(module_path!()));

impl MetricsRecorder {
    fn new() -> Self {
        let prometheus = PrometheusBuilder::new()
            .idle_timeout(
                MetricKindMask::COUNTER | MetricKindMask::GAUGE,
                Some(Duration::from_nanos(1)),
            )
            .build_recorder();
        let handle = prometheus.handle();
        Self {
            prometheus,
            handle,
            keys: RwLock::default(),
            pruned: RwLock::default(),
            breakers: RwLock::default(),
        }
    }

    /// The process-wide recorder, installed as the `metrics` global recorder on first use.
    /// `None` if another global recorder was installed first (then the gateway's series go
    /// there, and `/metrics` answers 404).
    pub fn global() -> Option<&'static Self> {
        *GLOBAL.get_or_init(|| {
            let recorder: &'static Self = Box::leak(Box::new(Self::new()));
            match metrics::set_global_recorder(GlobalRecorder(recorder)) {
                Ok(()) => Some(recorder),
                Err(_) => {
                    tracing::warn!("another metrics recorder is installed; /metrics is off");
                    None
                }
            }
        })
    }

    /// After a reload: the series of `removed` pairs disappear from the next render; pairs in
    /// `live` (added back) are kept again.
    pub fn prune(&self, removed: &BTreeSet<RouteLabels>, live: &BTreeSet<RouteLabels>) {
        let mut pruned = self.pruned.write().unwrap_or_else(PoisonError::into_inner);
        for labels in live {
            pruned.remove(&pair(labels));
        }
        pruned.extend(removed.iter().map(pair));
    }

    /// Records `facilitator`'s breaker states (`x402_facilitator_breaker_state`) at every
    /// render, for as long as it lives.
    pub fn watch_breakers(&self, facilitator: &Arc<HttpFacilitator>) {
        self.breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(facilitator));
    }

    /// Prometheus text of every live series.
    pub fn render(&self) -> String {
        self.breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|facilitator| match facilitator.upgrade() {
                Some(facilitator) => {
                    facilitator.record_breaker_states();
                    true
                }
                None => false,
            });
        let dropped = self.touch_live();
        if !dropped.is_empty() {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            for key in &dropped {
                keys.remove(key);
            }
            drop(keys);
            // The exporter only deletes a series it has seen unchanged since a previous
            // render: render once to be sure it has seen them, touch the live ones again.
            let _ = self.handle.render();
            self.touch_live();
        }
        self.handle.render()
    }

    /// Touches every live series; returns the keys of pruned ones.
    fn touch_live(&self) -> Vec<Key> {
        let mut dropped = Vec::new();
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let pruned = self.pruned.read().unwrap_or_else(PoisonError::into_inner);
        for (key, kind) in keys.iter() {
            if is_pruned(key, &pruned) {
                dropped.push(key.clone());
                continue;
            }
            // Bump the generation without changing the value: keeps it past recency.
            match kind {
                Kind::Counter => self
                    .prometheus
                    .register_counter(key, &METADATA)
                    .increment(0),
                Kind::Gauge => self
                    .prometheus
                    .register_gauge(key, &METADATA)
                    .increment(0.0),
                Kind::Histogram => {}
            }
        }
        dropped
    }

    fn track(&self, key: &Key, kind: Kind) {
        let known = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key);
        if !known {
            self.keys
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), kind);
        }
    }
}

fn pair(labels: &RouteLabels) -> (String, String) {
    (labels.route().to_string(), labels.chain().to_string())
}

fn is_pruned(key: &Key, pruned: &HashSet<(String, String)>) -> bool {
    if pruned.is_empty() {
        return false;
    }
    let mut route = None;
    let mut chain = None;
    for label in key.labels() {
        match label.key() {
            keys::ROUTE => route = Some(label.value()),
            keys::CHAIN => chain = Some(label.value()),
            _ => {}
        }
    }
    match (route, chain) {
        (Some(route), Some(chain)) => pruned.contains(&(route.to_owned(), chain.to_owned())),
        _ => false,
    }
}

/// The recorder installed globally: tracks keys, then delegates to the exporter.
#[derive(Debug)]
struct GlobalRecorder(&'static MetricsRecorder);

impl Recorder for GlobalRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.track(key, Kind::Counter);
        self.0.prometheus.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.track(key, Kind::Gauge);
        self.0.prometheus.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.track(key, Kind::Histogram);
        self.0.prometheus.register_histogram(key, metadata)
    }
}
