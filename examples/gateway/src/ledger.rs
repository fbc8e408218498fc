//! The gateway's payment ledger (`ledger: sqlite:///var/lib/x402/ledger.db`, feature `sqlite`,
//! or `ledger: postgres://x402@db/x402` for several instances, feature `postgres`; both on by
//! default): opened at start-up, the gate's replay store and idempotency record, and a
//! background reconciler that finishes the settlements left pending.
//!
//! The usage API is mounted with it on the main listener (`/internal/usage`,
//! `/internal/usage/recent`), gated by [`INTERNAL_SECRET_VAR`].
//!
//! Like `replay`, the setting needs a restart to change: a reload keeps the open ledger.

use std::{sync::Arc, time::Duration};

use axum::Router;
use tokio::{sync::watch, task::JoinHandle};
use x402_core::{
    ErrorChain,
    clock::{Clock as _, SystemClock},
    facilitator::Facilitator,
    ledger::{self, Ledger, LedgerError},
    usage::UsageApi,
};
use x402_tower::usage::UsageService;

use crate::config::LedgerTimers;

/// The environment variable holding the usage API's shared secret (`x-internal-secret`).
/// Unset or empty: every `/internal/*` path answers 404.
pub const INTERNAL_SECRET_VAR: &str = "X402_INTERNAL_SECRET";

/// Mounts the usage API (`/internal/usage`, `/internal/usage/recent`; see
/// [`x402_core::usage`]) on `app`, gated by `secret`. Its paths are answered by the gateway,
/// never charged nor proxied.
pub fn mount_usage(app: Router, ledger: Arc<dyn Ledger>, secret: Option<String>) -> Router {
    let usage = UsageService::new(UsageApi::new(ledger, secret));
    app.route_service("/internal", usage.clone())
        .route_service("/internal/{*rest}", usage)
}

/// How often the reconciler looks for unfinished settlements.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// How long a record may stay `settling` before the reconciler takes it for abandoned (its
/// gateway died mid-settle) and settles it again with the recorded body.
pub const SETTLING_STALE_AFTER: Duration = Duration::from_secs(60);

/// At most this many records per reconciler pass.
const RECONCILE_BATCH: u32 = 100;

/// Checks a `ledger` URL without opening it: the message names what is wrong.
pub fn check_url(url: &str) -> Result<(), String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return match path {
            "" => Err("the SQLite URL has no path: `sqlite:///path/to/ledger.db`".to_owned()),
            _ if cfg!(feature = "sqlite") => Ok(()),
            _ => Err("this gateway was built without the `sqlite` feature".to_owned()),
        };
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return if cfg!(feature = "postgres") {
            Ok(())
        } else {
            Err("this gateway was built without the `postgres` feature".to_owned())
        };
    }
    Err(
        "not a supported ledger URL: `sqlite:///path/to/ledger.db` (an absolute path after \
         `sqlite://`) or `postgres://user@host/database`"
            .to_owned(),
    )
}

/// Opens the ledger a (checked) URL names, applying its migrations, with a claim lease of
/// `claim_lease_seconds` (`ledgerTiming.claimLease`).
pub async fn open(url: &str, claim_lease_seconds: u64) -> Result<Arc<dyn Ledger>, LedgerError> {
    ledger::open_with_claim_lease(url, claim_lease_seconds).await
}

/// Runs the reconciler until `stop`: every `timers.reconcile_every` ([`RECONCILE_EVERY`] by
/// default), settles again, with the same body, every pending record and every `settling` one
/// older than `timers.settling_stale_after` ([`SETTLING_STALE_AFTER`] by default).
pub fn spawn_reconciler(
    ledger: Arc<dyn Ledger>,
    facilitator: Arc<dyn Facilitator>,
    timers: LedgerTimers,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(timers.reconcile_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let now = SystemClock.now();
            let stale_before = now.saturating_sub(timers.settling_stale_after.as_secs());
            match ledger::reconcile(&*ledger, &*facilitator, now, stale_before, RECONCILE_BATCH)
                .await
            {
                Ok(report) if report.examined > 0 => tracing::info!(
                    examined = report.examined,
                    settled = report.settled,
                    failed = report.failed,
                    still_pending = report.still_pending,
                    unusable = report.unusable,
                    "reconciled unfinished settlements"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "the ledger reconciler failed");
                }
            }
        }
    })
}
