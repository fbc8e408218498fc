//! The payment exchange, framework-free: what the tower and actix adapters both run.
//!
//! A [`Gate`] holds the live route table (swappable through a [`RouteTableHandle`]), the
//! facilitator, the replay guard and the settings. For each request an adapter calls
//! [`Gate::admit`], which decides without I/O:
//!
//! - [`Admission::Pass`]: unmatched or free — call the handler untouched (no allocation);
//! - [`Admission::Reply`]: answer now — the 402 challenge (JSON, or an HTML paywall for
//!   browsers), a 402 re-challenge naming why a payment was refused, or a 400 for a path that
//!   cannot be matched safely;
//! - [`Admission::Pay`]: a decoded payment that passed the local checks. The adapter then
//!   awaits [`PendingPayment::authorize`] (replay claim + facilitator verify, and settle too in
//!   [`SettlementMode::BeforeHandler`]), calls the handler with the typed [`Payment`] in the
//!   request extensions, and finally awaits [`PendingPayment::settle`] with the handler's status
//!   *before* sending the body: settlement happens only if the status is below 400, and a
//!   failed settlement replaces the handler's response.
//!
//! Dropping a [`PendingPayment`] before settlement (the client went away) settles nothing and
//! releases its replay claim.
//!
//! The replies carry machine-readable reasons ([`Reason`]) and every status of DESIGN.md §4:
//! 402 for the client's payment problems, 503 (with `Retry-After`) when the facilitator or the
//! replay store is unreachable, 502 when the facilitator answers nonsense — never a 402 for our
//! own trouble.

mod admission;
mod builder;
pub mod headers;
mod pending;
mod reply;
mod settlement;

use std::{collections::BTreeSet, sync::Arc};

use arc_swap::ArcSwap;

pub use self::{
    admission::{Admission, RequestParts},
    builder::{GateBuilder, GateConfigError, SettlementMode, UnmatchedPolicy},
    pending::{Payment, PendingPayment},
    reply::{PAYMENT_REQUIRED_TEXT, Reply},
    settlement::{PaymentOutcome, Settlement},
};
use self::{builder::Config, reply::json_reply};
use crate::{
    RouteTable,
    labels::{ReloadResult, RouteLabels, keys, names},
};

/// A shared, swappable route table: the gate loads it once per request; a reload stores a new
/// table atomically (requests in flight keep the table they started with).
#[derive(Debug, Clone)]
pub struct RouteTableHandle(Arc<ArcSwap<RouteTable>>);

impl RouteTableHandle {
    /// A handle holding `table`.
    pub fn new(table: RouteTable) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(table)))
    }

    /// The current table.
    pub fn load(&self) -> Arc<RouteTable> {
        self.0.load_full()
    }

    /// Replaces the table; returns the previous one (e.g. to remove its metric series).
    pub fn store(&self, table: RouteTable) -> Arc<RouteTable> {
        self.0.swap(Arc::new(table))
    }

    /// Publishes `table` with one atomic store, records it (`x402_route_table_routes`, one
    /// `x402_route_table_reloads_total{result="ok"}`), and returns what changed, for the label
    /// GC of DESIGN.md §6. Every reload path (a file, the Kubernetes watcher) goes through here.
    pub fn swap(&self, table: RouteTable) -> TableSwap {
        let live = table.label_sets();
        let routes = table.len();
        let old = self.store(table);
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

    fn guard(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.0.load()
    }
}

/// What a [`RouteTableHandle::swap`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSwap {
    /// Routes in the new table.
    pub routes: usize,
    /// `(route, chain)` label sets of the old table that the new one no longer has: their
    /// metric series should go.
    pub removed: BTreeSet<RouteLabels>,
    /// The label sets of the new table.
    pub live: BTreeSet<RouteLabels>,
}

/// The payment exchange shared by every adapter. Cheap to clone: one `Arc` (the adapters'
/// services are cloned per request).
#[derive(Debug, Clone)]
pub struct Gate {
    config: Arc<Config>,
}

impl Gate {
    /// The route table handle (to swap the table while serving).
    pub fn routes(&self) -> &RouteTableHandle {
        &self.config.routes
    }

    /// The settlement mode.
    pub fn settlement_mode(&self) -> SettlementMode {
        self.config.settlement
    }
}
