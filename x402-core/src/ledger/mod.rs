//! The payment ledger: a durable record of every payment's life, written before each external
//! effect, so that a crash at any point leaves a record saying what may have happened.
//!
//! A payment goes through these [`PaymentState`]s, each written *before* the step it names:
//!
//! | state | written | what it says |
//! |---|---|---|
//! | `claimed` | before `/verify` | the authorization is taken by one request (its [`Fingerprint`]) |
//! | `verified` | after `/verify` said valid, before the handler | nothing sent to the chain yet |
//! | `settling` | before `/settle`, with the exact request body sent | the payment may land at any moment |
//! | `settled` | after `/settle` succeeded | tx hash, amount and the receipt the buyer got |
//! | `failed` | after a refusal, with its reason | nothing was charged; the authorization may be used again |
//! | `pending` | after `/settle` answered `settlement_pending` (or no answer) | the reconciler finishes it with the same body |
//! | `released` | the handler failed or the client went away before settling | nothing was charged |
//!
//! A [`Gate`](crate::gate::Gate) built with a ledger
//! ([`GateBuilder::ledger`](crate::gate::GateBuilder::ledger)) uses it as its replay store too:
//! the claim of a payment is the insert of its record. It also makes retries idempotent: the
//! same payment header re-sent for the same request ([`Fingerprint`]: method, canonical path and
//! query, and a digest of the body when the adapter bound one) is served again with the
//! receipt already recorded, without a second settlement; the same header for another request
//! is refused with `409 payment_request_mismatch`.
//!
//! Backends: `SqliteLedger` (feature `sqlite`): one file, WAL mode, schema migrations; and
//! `PostgresLedger` (feature `postgres`): the same table on PostgreSQL, for several instances.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # fn build(routes: x402_core::gate::RouteTableHandle,
//! #          facilitator: std::sync::Arc<dyn x402_core::facilitator::Facilitator>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use x402_core::{gate::Gate, ledger::SqliteLedger};
//!
//! let ledger = Arc::new(SqliteLedger::open("/var/lib/x402/ledger.db")?);
//! let gate = Gate::builder(routes, facilitator).ledger(ledger).build()?;
//! # let _ = gate;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "postgres")]
mod postgres;
mod reconcile;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresLedger;
pub use self::reconcile::{ReconcileReport, reconcile};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteLedger;
/// The key of a ledger record: the payment's replay identity (see [`crate::replay`]).
pub use crate::replay::ReplayKey;
use crate::{BoxFuture, payment_identifier::PaymentId, wire::SettleResponse};

/// How long a `claimed` or `verified` record stays held without a step before another claim may
/// take it over (its holder is taken to have died before settling; nothing was sent to
/// `/settle`, so taking over cannot charge twice).
pub const DEFAULT_CLAIM_LEASE_SECONDS: u64 = 60;

/// Where a payment is in its life. Stored as [`as_str`](Self::as_str).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentState {
    /// Claimed by one request, before `/verify`.
    Claimed,
    /// Verified, before the handler and settlement.
    Verified,
    /// `/settle` is being (or was) called with the recorded request body.
    Settling,
    /// Settled: the receipt, tx hash and amount are recorded.
    Settled,
    /// Refused (verify or settle) with a reason; nothing was charged.
    Failed,
    /// Settlement outcome not known yet (`settlement_pending`, or no answer).
    Pending,
    /// Released without settling (the handler failed, the client went away).
    Released,
}

impl PaymentState {
    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Verified => "verified",
            Self::Settling => "settling",
            Self::Settled => "settled",
            Self::Failed => "failed",
            Self::Pending => "pending",
            Self::Released => "released",
        }
    }

    /// The state a stored text names.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "claimed" => Self::Claimed,
            "verified" => Self::Verified,
            "settling" => Self::Settling,
            "settled" => Self::Settled,
            "failed" => Self::Failed,
            "pending" => Self::Pending,
            "released" => Self::Released,
            _ => return None,
        })
    }

    /// Whether a new claim may take over a record in this state: nothing was charged.
    pub const fn is_reclaimable(self) -> bool {
        matches!(self, Self::Failed | Self::Released)
    }

    /// Whether money may have moved, or will: the authorization must never be used again.
    pub const fn may_have_charged(self) -> bool {
        matches!(self, Self::Settling | Self::Settled | Self::Pending)
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one request is, for idempotent retries: SHA-256 over the method, the canonical path and
/// query, and the body's digest when the adapter bound one (or a marker that the request has a
/// body the gate has not seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// What the gate knows of a request's body, for its [`Fingerprint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyDigest {
    /// No body (no `Content-Length` above 0, no `Transfer-Encoding`).
    Empty,
    /// A body whose bytes the adapter did not hash: a retry cannot be shown to be the same
    /// request, so a settled payment is never served again for it.
    Unbound,
    /// The SHA-256 of the body's bytes.
    Sha256([u8; 32]),
}

impl BodyDigest {
    /// The digest of a body's bytes (empty bytes are [`BodyDigest::Empty`]).
    pub fn of(body: &[u8]) -> Self {
        if body.is_empty() {
            Self::Empty
        } else {
            Self::Sha256(Sha256::digest(body).into())
        }
    }
}

/// A [`Fingerprint`] with the method and target hashed and the body still to come.
#[derive(Clone)]
pub(crate) struct PartialFingerprint(Sha256);

impl fmt::Debug for PartialFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartialFingerprint")
    }
}

impl PartialFingerprint {
    pub(crate) fn new(method: &str, canonical_path_and_query: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(method.as_bytes());
        hash.update([0]);
        hash.update(canonical_path_and_query.as_bytes());
        hash.update([0]);
        Self(hash)
    }

    pub(crate) fn finish(self, body: BodyDigest) -> Fingerprint {
        let Self(mut hash) = self;
        match body {
            BodyDigest::Empty => hash.update(b"empty"),
            BodyDigest::Unbound => hash.update(b"unbound"),
            BodyDigest::Sha256(digest) => {
                hash.update(b"sha256:");
                hash.update(digest);
            }
        }
        Fingerprint(hash.finalize().into())
    }
}

impl Fingerprint {
    /// The fingerprint of a request.
    pub fn new(method: &str, canonical_path_and_query: &str, body: BodyDigest) -> Self {
        PartialFingerprint::new(method, canonical_path_and_query).finish(body)
    }

    /// A fingerprint from its stored bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Its 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A claim's token: only the request (or reconciler) holding it may move the record on, so a
/// request that lost its claim (the lease ran out and another took it) cannot settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub u64);

/// A payment about to be claimed: what its record starts with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewPayment {
    /// The payment's replay identity.
    pub key: ReplayKey,
    /// The request it is for.
    pub fingerprint: Fingerprint,
    /// The route name.
    pub route: String,
    /// The network (CAIP-2, or the v1 name the payment used).
    pub network: String,
    /// The payer, lower-case hex, when known before verify.
    pub payer: Option<String>,
    /// The amount the payment moves, atomic units as a decimal string.
    pub amount: String,
    /// Unix seconds after which the authorization is no longer valid.
    pub expires_at: u64,
    /// The gate's clock, unix seconds.
    pub now: u64,
    /// The buyer's [`payment-identifier`](crate::payment_identifier) id, when the route
    /// declares the extension and the payment carries one: reserved for this payment on its
    /// route ([`Claim::PaymentIdInUse`] when another live payment holds it).
    pub payment_id: Option<PaymentId>,
}

impl NewPayment {
    /// A new payment record.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: ReplayKey,
        fingerprint: Fingerprint,
        route: impl Into<String>,
        network: impl Into<String>,
        payer: Option<String>,
        amount: impl Into<String>,
        expires_at: u64,
        now: u64,
    ) -> Self {
        Self {
            key,
            fingerprint,
            route: route.into(),
            network: network.into(),
            payer,
            amount: amount.into(),
            expires_at,
            now,
            payment_id: None,
        }
    }

    /// The payment with the buyer's `payment-identifier` id.
    #[must_use]
    pub fn with_payment_id(mut self, id: Option<PaymentId>) -> Self {
        self.payment_id = id;
        self
    }
}

/// What a claim found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Claim {
    /// The record is new (or took over one that charged nothing): this request holds it.
    Claimed(ClaimToken),
    /// Another request holds, or held, this authorization: its record.
    Existing(Box<PaymentRecord>),
    /// The payment's `payment-identifier` id is held on this route by another payment that
    /// may have charged (any state but `failed` and `released`): nothing was written.
    PaymentIdInUse,
}

/// One step of a payment's life, recorded by the holder of its claim.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Transition<'a> {
    /// `/verify` said valid; the payer, when it said who.
    Verified {
        /// The payer, lower-case hex.
        payer: Option<&'a str>,
    },
    /// About to call `/settle` with exactly this body.
    Settling {
        /// The request body sent to `/settle`.
        request: &'a [u8],
    },
    /// Settled.
    Settled {
        /// The facilitator's receipt, as sent to the buyer.
        receipt: &'a SettleResponse,
    },
    /// Refused, with a reason; nothing was charged.
    Failed {
        /// Why (the facilitator's reason, or ours).
        reason: &'a str,
    },
    /// The settlement's outcome is not known yet.
    Pending {
        /// The transaction hash, when the facilitator reported one.
        transaction: Option<&'a str>,
        /// Why it is pending.
        reason: &'a str,
    },
    /// Let go without settling (handler failed, client gone).
    Released,
}

impl Transition<'_> {
    /// The state it moves the record to.
    pub const fn state(&self) -> PaymentState {
        match self {
            Self::Verified { .. } => PaymentState::Verified,
            Self::Settling { .. } => PaymentState::Settling,
            Self::Settled { .. } => PaymentState::Settled,
            Self::Failed { .. } => PaymentState::Failed,
            Self::Pending { .. } => PaymentState::Pending,
            Self::Released => PaymentState::Released,
        }
    }
}

/// A stored payment record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PaymentRecord {
    /// The payment's replay identity.
    pub key: ReplayKey,
    /// The request it was claimed for.
    pub fingerprint: Fingerprint,
    /// The current holder's token.
    pub token: ClaimToken,
    /// Where it is.
    pub state: PaymentState,
    /// The route name.
    pub route: String,
    /// The network.
    pub network: String,
    /// The payer, lower-case hex, when known.
    pub payer: Option<String>,
    /// Atomic units, decimal (the settled amount once settled, when the receipt said).
    pub amount: String,
    /// Unix seconds after which the authorization is no longer valid.
    pub expires_at: u64,
    /// When it was claimed, unix seconds.
    pub created_at: u64,
    /// When it last changed, unix seconds.
    pub updated_at: u64,
    /// The exact `/settle` request body, once settling.
    pub settle_request: Option<Bytes>,
    /// The receipt, once settled (or the pending receipt).
    pub receipt: Option<SettleResponse>,
    /// The transaction hash, once known.
    pub transaction: Option<String>,
    /// Why it failed or is pending.
    pub reason: Option<String>,
}

/// Which settled payments to list (for the usage API).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SettledQuery {
    /// Only this payer (lower-case hex); every payer when `None`.
    pub payer: Option<String>,
    /// Only payments settled at or after this time, unix seconds.
    pub since: u64,
    /// At most this many, newest first; all of them when `None`.
    pub limit: Option<u32>,
}

/// Why the ledger could not answer. The gate fails closed on it: 503 `ledger_unavailable`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The store failed (I/O, a locked database past the busy timeout, a lost connection).
    #[error("payment ledger {store} failed during {operation}")]
    Store {
        /// Which store (`sqlite:/path`).
        store: String,
        /// What the ledger was doing.
        operation: &'static str,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store holds a schema newer than this build knows.
    #[error("payment ledger {store} has schema version {found}; this build knows up to {known}")]
    SchemaTooNew {
        /// Which store.
        store: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A record could not be read back (a value this build cannot parse).
    #[error("payment ledger {store} holds an unreadable record: {what}")]
    Corrupt {
        /// Which store.
        store: String,
        /// What could not be read.
        what: String,
    },
    /// The record is no longer held by this claim (another request or the reconciler took it
    /// over): the step was not recorded and must not be taken.
    #[error("payment ledger {store}: the claim on this payment was lost to another holder")]
    ClaimLost {
        /// Which store.
        store: String,
    },
    /// The ledger URL is not one this build can open.
    #[error("ledger {url:?} is not a supported ledger URL ({expected})")]
    Url {
        /// The URL as given.
        url: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A durable payment ledger. Object-safe and `Send`, like [`crate::facilitator::Facilitator`].
pub trait Ledger: fmt::Debug + Send + Sync + 'static {
    /// Claims a payment for a request: inserts its record in state `claimed`, or takes over a
    /// record that charged nothing (`failed`, `released`) or whose claim's lease ran out while
    /// `claimed`/`verified` (its holder died before settling), atomically. Otherwise returns the
    /// existing record, untouched. With a [`NewPayment::payment_id`], first binds that id on
    /// the payment's route to this payment, unless another payment that may have charged
    /// holds it ([`Claim::PaymentIdInUse`]).
    fn claim(&self, payment: NewPayment) -> BoxFuture<'_, Result<Claim, LedgerError>>;

    /// Records one step, if `token` still holds the record ([`LedgerError::ClaimLost`]
    /// otherwise).
    fn record<'a>(
        &'a self,
        key: ReplayKey,
        token: ClaimToken,
        transition: Transition<'a>,
        now: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// Records [`Transition::Released`] without waiting (called from `Drop`): a failure is
    /// logged, and the record stays `claimed` until its lease runs out.
    fn release(&self, key: ReplayKey, token: ClaimToken);

    /// The records settlement has not finished: `pending` ones, and `settling` ones not
    /// touched since `stale_before` (their holder died mid-settle). Oldest first.
    fn unfinished(
        &self,
        stale_before: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>>;

    /// Settled payments, newest first.
    fn settled(
        &self,
        query: SettledQuery,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>>;

    /// One record, by key.
    fn get(&self, key: ReplayKey) -> BoxFuture<'_, Result<Option<PaymentRecord>, LedgerError>>;
}

/// Opens the ledger a URL names: `sqlite:///absolute/path.db` or `sqlite://relative.db`
/// (feature `sqlite`), `postgres://user@host/db` or `postgresql://…` (feature `postgres`),
/// with the default claim lease ([`DEFAULT_CLAIM_LEASE_SECONDS`]).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Ledger>, LedgerError> {
    open_with_claim_lease(url, DEFAULT_CLAIM_LEASE_SECONDS).await
}

/// Opens the ledger a URL names, as [`open`], with a claim lease of `lease_seconds`: how long a
/// `claimed` or `verified` record stays held without a step before another claim may take it
/// over (a process killed before `/settle` leaves such a record; nothing was charged). It must
/// be longer than the slowest handler of a route settling after it.
pub async fn open_with_claim_lease(
    url: &str,
    lease_seconds: u64,
) -> Result<std::sync::Arc<dyn Ledger>, LedgerError> {
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(LedgerError::Url {
                url: url.to_owned(),
                expected: "sqlite:///path/to/file.db",
            });
        }
        // Opening runs the migrations: blocking file I/O, off the async threads.
        let path = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || SqliteLedger::open(path))
            .await
            .map_err(|e| LedgerError::Store {
                store: format!("sqlite:{}", url.trim_start_matches("sqlite://")),
                operation: "open",
                source: Box::new(e),
            })?;
        return Ok(std::sync::Arc::new(opened?.with_claim_lease(lease_seconds)));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            PostgresLedger::connect(url)
                .await?
                .with_claim_lease(lease_seconds),
        ));
    }
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    let _ = lease_seconds;
    Err(LedgerError::Url {
        url: url.to_owned(),
        expected: SUPPORTED_URLS,
    })
}

/// The ledger URLs this build opens.
const SUPPORTED_URLS: &str = match (cfg!(feature = "sqlite"), cfg!(feature = "postgres")) {
    (true, true) => "sqlite:///path/to/file.db or postgres://user@host/db",
    (true, false) => "sqlite:///path/to/file.db (PostgreSQL needs the `postgres` feature)",
    (false, true) => "postgres://user@host/db (SQLite needs the `sqlite` feature)",
    (false, false) => "no ledger backend is compiled in (features `sqlite`, `postgres`)",
};

/// Cases every backend runs against itself.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    fn id(text: &str) -> Option<PaymentId> {
        Some(PaymentId::parse(text).expect("a valid id"))
    }

    /// How `payment-identifier` ids bind: `payment(n)` is payment `n` on route `weather`.
    pub(crate) async fn payment_ids_bind_to_one_live_payment_per_route(
        ledger: &dyn Ledger,
        payment: impl Fn(u8) -> NewPayment,
    ) {
        let first = id("pay_aaaaaaaaaaaaaaaa");
        let claim =
            |n: u8, id: &Option<PaymentId>| ledger.claim(payment(n).with_payment_id(id.clone()));
        let Claim::Claimed(token) = claim(1, &first).await.unwrap() else {
            panic!("a new id and payment are claimed");
        };
        // Another payment with the id: refused while the first may charge.
        assert!(matches!(
            claim(2, &first).await.unwrap(),
            Claim::PaymentIdInUse
        ));
        // The same payment with its id: the existing record.
        assert!(matches!(
            claim(1, &first).await.unwrap(),
            Claim::Existing(_)
        ));
        // The same id on another route is another id.
        let mut elsewhere = payment(3).with_payment_id(first.clone());
        elsewhere.route = "forecast".to_owned();
        assert!(matches!(
            ledger.claim(elsewhere).await.unwrap(),
            Claim::Claimed(_)
        ));
        // Once the first payment charged nothing, the id moves to a new payment, and the first
        // cannot take it back while the new one is live.
        let failed = Transition::Failed {
            reason: "insufficient_funds",
        };
        ledger
            .record(payment(1).key, token, failed, payment(1).now)
            .await
            .unwrap();
        assert!(matches!(claim(2, &first).await.unwrap(), Claim::Claimed(_)));
        assert!(matches!(
            claim(1, &first).await.unwrap(),
            Claim::PaymentIdInUse
        ));
        // A refused claim wrote nothing: payment 1 is still `failed`, under its own key.
        let Claim::Claimed(_) = claim(1, &id("pay_bbbbbbbbbbbbbbbb")).await.unwrap() else {
            panic!("payment 1 charged nothing, so a claim with a fresh id takes it over");
        };
        // A payment without an id is not affected by ids.
        assert!(matches!(claim(4, &None).await.unwrap(), Claim::Claimed(_)));
    }
}
