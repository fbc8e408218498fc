//! The live route table: one atomic load per request, an atomic publish per reload.

use std::{collections::BTreeSet, sync::Arc};

use arc_swap::ArcSwap;

use super::RouteTable;
use crate::labels::{ReloadResult, RouteLabels, keys, names};

/// A shared, swappable route table: the gate loads it once per request; a reload stores a new
/// table atomically (requests in flight keep the table they started with).
#[derive(Debug, Clone)]
pub struct RouteTableHandle(Arc<ArcSwap<RouteTable>>);

impl RouteTableHandle {
    /// A handle holding `table`, whose counter series are registered at 0 with the metrics
    /// recorder installed now (see [`crate::labels`]).
    pub fn new(table: RouteTable) -> Self {
        table.register_series();
        Self(Arc::new(ArcSwap::from_pointee(table)))
    }

    /// The current table.
    pub fn load(&self) -> Arc<RouteTable> {
        self.0.load_full()
    }

    /// Publishes `table` and returns the previous one, as arc-swap's `swap` does; records no
    /// metrics (see [`RouteTableHandle::replace`] for reloads).
    pub fn swap(&self, table: RouteTable) -> Arc<RouteTable> {
        self.0.swap(Arc::new(table))
    }

    /// Publishes `table` with one atomic store, records it (`x402_route_table_routes`, one
    /// `x402_route_table_reloads_total{result="ok"}`, every counter series of the new table
    /// registered at 0 before it goes live), and returns what changed, for the label GC
    /// described in [`crate::labels`]. Every reload path (a file, the Kubernetes watcher) goes
    /// through here.
    pub fn replace(&self, table: RouteTable) -> TableSwap {
        table.register_series();
        let live = table.label_sets();
        let routes = table.len();
        let old = self.swap(table);
        let removed = old.label_sets().difference(&live).cloned().collect();
        #[allow(clippy::cast_precision_loss, reason = "route counts are small")]
        metrics::gauge!(names::ROUTE_TABLE_ROUTES).set(routes as f64);
        metrics::counter!(names::ROUTE_TABLE_RELOADS_TOTAL, keys::RESULT => ReloadResult::Ok.as_str())
            .increment(1);
        TableSwap {
            routes,
            removed,
            live,
        }
    }

    pub(crate) fn guard(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.0.load()
    }
}

/// What a [`RouteTableHandle::replace`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSwap {
    /// Routes in the new table.
    pub routes: usize,
    /// `(route, chain)` label sets of the old table that the new one no longer has: their
    /// metric series should go.
    pub removed: BTreeSet<RouteLabels>,
    /// The label sets of the new table.
    pub live: BTreeSet<RouteLabels>,
}
