//! [`SqliteLedger`]: the embedded ledger, one SQLite file in WAL mode.
//!
//! Every call runs on tokio's blocking pool (`spawn_blocking`, so the calls need a tokio
//! runtime: axum, hyper and actix-web all run on one) over one connection behind a mutex: SQLite serializes writers anyway, and a commit is one short local write. Claims run in
//! `BEGIN IMMEDIATE` transactions, so several processes sharing the file (through the same
//! busy timeout) still see exactly one winner per payment. `synchronous = FULL`: a record
//! written before a settlement survives a power cut, not only a crash.
//!
//! The schema is versioned with `PRAGMA user_version`; opening a file applies the migrations it
//! lacks, in one transaction each, and refuses a file newer than this build.

use std::{
    hash::{BuildHasher as _, Hasher as _, RandomState},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{
    Claim, ClaimToken, DEFAULT_CLAIM_LEASE_SECONDS, Fingerprint, Ledger, LedgerError, NewPayment,
    PaymentRecord, PaymentState, ReplayKey, SettledQuery, Transition,
};
use crate::{BoxFuture, wire::SettleResponse};

/// The migrations, in order: `user_version` is how many are applied.
const MIGRATIONS: &[&str] = &[
    // 1: the payments table.
    "CREATE TABLE x402_payments (
        key BLOB PRIMARY KEY NOT NULL,
        fingerprint BLOB NOT NULL,
        token INTEGER NOT NULL,
        state TEXT NOT NULL,
        route TEXT NOT NULL,
        network TEXT NOT NULL,
        payer TEXT,
        amount TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        settled_at INTEGER,
        settle_request BLOB,
        receipt TEXT,
        tx TEXT,
        reason TEXT
    ) STRICT;
    CREATE INDEX x402_payments_unfinished ON x402_payments (state, updated_at)
        WHERE state IN ('pending', 'settling');
    CREATE INDEX x402_payments_settled ON x402_payments (settled_at)
        WHERE state = 'settled';
    CREATE INDEX x402_payments_payer_settled ON x402_payments (payer, settled_at)
        WHERE state = 'settled';",
    // 2: `payment-identifier` ids, per route, and the payment each is bound to.
    "CREATE TABLE x402_payment_ids (
        route TEXT NOT NULL,
        id TEXT NOT NULL,
        key BLOB NOT NULL,
        PRIMARY KEY (route, id)
    ) STRICT;",
];

const COLUMNS: &str = "key, fingerprint, token, state, route, network, payer, amount, expires_at, \
                       created_at, updated_at, settle_request, receipt, tx, reason";

/// A [`Ledger`] in one SQLite file.
///
/// ```no_run
/// use x402_core::ledger::SqliteLedger;
///
/// let ledger = SqliteLedger::open("/var/lib/x402/ledger.db")?;
/// # Ok::<(), x402_core::ledger::LedgerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connection: Mutex<Connection>,
    store: String,
    lease: AtomicU64,
    tokens: TokenSource,
}

impl SqliteLedger {
    /// Opens (or creates) the ledger file, sets WAL mode and applies missing migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path: PathBuf = path.as_ref().to_owned();
        let store = format!("sqlite:{}", path.display());
        let connection = Connection::open(&path).map_err(|e| store_error(&store, "open", e))?;
        Self::from_connection(connection, store, true)
    }

    /// A ledger in memory, gone when dropped (tests; no WAL).
    pub fn in_memory() -> Result<Self, LedgerError> {
        let store = "sqlite::memory:".to_owned();
        let connection =
            Connection::open_in_memory().map_err(|e| store_error(&store, "open", e))?;
        Self::from_connection(connection, store, false)
    }

    fn from_connection(
        mut connection: Connection,
        store: String,
        wal: bool,
    ) -> Result<Self, LedgerError> {
        let setup = |c: &Connection| -> rusqlite::Result<()> {
            c.busy_timeout(Duration::from_secs(5))?;
            if wal {
                let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(rusqlite::Error::InvalidParameterName(format!(
                        "journal_mode is {mode}, not wal"
                    )));
                }
            }
            c.pragma_update(None, "synchronous", "FULL")?;
            Ok(())
        };
        setup(&connection).map_err(|e| store_error(&store, "configure", e))?;
        migrate(&mut connection, &store)?;
        Ok(Self {
            inner: Arc::new(Inner {
                connection: Mutex::new(connection),
                store,
                lease: AtomicU64::new(DEFAULT_CLAIM_LEASE_SECONDS),
                tokens: TokenSource::new(),
            }),
        })
    }

    /// How long an unfinished claim holds its record (default
    /// [`DEFAULT_CLAIM_LEASE_SECONDS`]). Longer than the slowest handler.
    pub fn with_claim_lease(self, seconds: u64) -> Self {
        self.inner.lease.store(seconds, Ordering::Relaxed);
        self
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        let connection = self.lock();
        connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store_error(&self.inner.store, "read the schema version", e))
    }

    /// Every record, most recently changed first, at most `limit` (inspection and tests; the
    /// [`Ledger`] methods are what the gate and the usage API use).
    pub async fn records(&self, limit: u32) -> Result<Vec<PaymentRecord>, LedgerError> {
        self.run("list payments", move |connection, inner| {
            query_records(
                connection,
                &inner.store,
                "list payments",
                &format!(
                    "SELECT {COLUMNS} FROM x402_payments ORDER BY updated_at DESC, rowid DESC \
                     LIMIT ?1"
                ),
                [limit],
            )
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves SQLite consistent (its own transactions);
        // go on with it.
        self.inner
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the connection on the blocking pool.
    fn run<T, F>(&self, operation: &'static str, f: F) -> BoxFuture<'static, Result<T, LedgerError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T, LedgerError> + Send + 'static,
    {
        let this = self.clone();
        Box::pin(async move {
            let store = this.inner.store.clone();
            tokio::task::spawn_blocking(move || {
                let mut connection = this.lock();
                f(&mut connection, &this.inner)
            })
            .await
            .map_err(|e| LedgerError::Store {
                store,
                operation,
                source: Box::new(e),
            })?
        })
    }
}

fn store_error(store: &str, operation: &'static str, error: rusqlite::Error) -> LedgerError {
    LedgerError::Store {
        store: store.to_owned(),
        operation,
        source: Box::new(error),
    }
}

fn migrate(connection: &mut Connection, store: &str) -> Result<(), LedgerError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| store_error(store, "read the schema version", e))?;
    if found > known {
        return Err(LedgerError::SchemaTooNew {
            store: store.to_owned(),
            found,
            known,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let run = |connection: &mut Connection| -> rusqlite::Result<()> {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            // Another process may have migrated meanwhile.
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if now < version {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", version)?;
            }
            tx.commit()
        };
        run(connection).map_err(|e| store_error(store, "migrate", e))?;
    }
    Ok(())
}

/// Claim tokens: a per-process random seed and a counter, hashed (unique per process, and
/// unpredictable across processes sharing the file).
#[derive(Debug)]
struct TokenSource {
    seed: RandomState,
    counter: AtomicU64,
}

impl TokenSource {
    fn new() -> Self {
        Self {
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> ClaimToken {
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        // SQLite integers are signed 64-bit: keep tokens in range.
        ClaimToken(hasher.finish() >> 1)
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn read_record(
    row: &rusqlite::Row<'_>,
    store: &str,
) -> rusqlite::Result<Result<PaymentRecord, LedgerError>> {
    let key: Vec<u8> = row.get(0)?;
    let fingerprint: Vec<u8> = row.get(1)?;
    let token: i64 = row.get(2)?;
    let state: String = row.get(3)?;
    let receipt: Option<String> = row.get(12)?;
    let corrupt = |what: String| {
        Ok(Err(LedgerError::Corrupt {
            store: store.to_owned(),
            what,
        }))
    };
    let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
        return corrupt(format!("a key of {} bytes", key.len()));
    };
    let Ok(fingerprint) = <[u8; 32]>::try_from(fingerprint.as_slice()) else {
        return corrupt(format!("a fingerprint of {} bytes", fingerprint.len()));
    };
    let Some(state) = PaymentState::parse(&state) else {
        return corrupt(format!("state {state:?}"));
    };
    let receipt = match receipt.map(|r| serde_json::from_str::<SettleResponse>(&r)) {
        None => None,
        Some(Ok(receipt)) => Some(receipt),
        Some(Err(error)) => return corrupt(format!("a receipt that is not JSON ({error})")),
    };
    Ok(Ok(PaymentRecord {
        key: ReplayKey::from_raw(key),
        fingerprint: Fingerprint::from_bytes(fingerprint),
        token: ClaimToken(to_u64(token)),
        state,
        route: row.get(4)?,
        network: row.get(5)?,
        payer: row.get(6)?,
        amount: row.get(7)?,
        expires_at: to_u64(row.get(8)?),
        created_at: to_u64(row.get(9)?),
        updated_at: to_u64(row.get(10)?),
        settle_request: row.get::<_, Option<Vec<u8>>>(11)?.map(Bytes::from),
        receipt,
        transaction: row.get(13)?,
        reason: row.get(14)?,
    }))
}

fn query_records(
    connection: &Connection,
    store: &str,
    operation: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<PaymentRecord>, LedgerError> {
    let mut statement = connection
        .prepare_cached(sql)
        .map_err(|e| store_error(store, operation, e))?;
    let rows = statement
        .query_map(params, |row| read_record(row, store))
        .map_err(|e| store_error(store, operation, e))?;
    let mut records = Vec::new();
    for row in rows {
        records.push(row.map_err(|e| store_error(store, operation, e))??);
    }
    Ok(records)
}

fn claim(
    connection: &mut Connection,
    inner: &Inner,
    payment: &NewPayment,
) -> Result<Claim, LedgerError> {
    let store = inner.store.as_str();
    let fail = |e| store_error(store, "claim", e);
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    if let Some(id) = &payment.payment_id {
        let key = payment.key.as_bytes().as_slice();
        let bound: Option<Vec<u8>> = tx
            .query_row(
                "SELECT key FROM x402_payment_ids WHERE route = ?1 AND id = ?2",
                params![payment.route, id.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(fail)?;
        if let Some(bound) = bound.filter(|bound| bound.as_slice() != key) {
            let holder_live = tx
                .query_row(
                    "SELECT 1 FROM x402_payments WHERE key = ?1
                        AND state NOT IN ('failed', 'released')",
                    [bound.as_slice()],
                    |_| Ok(()),
                )
                .optional()
                .map_err(fail)?
                .is_some();
            if holder_live {
                return Ok(Claim::PaymentIdInUse);
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO x402_payment_ids (route, id, key) VALUES (?1, ?2, ?3)",
            params![payment.route, id.as_str(), key],
        )
        .map_err(fail)?;
    }
    let existing = tx
        .query_row(
            &format!("SELECT {COLUMNS} FROM x402_payments WHERE key = ?1"),
            [payment.key.as_bytes().as_slice()],
            |row| read_record(row, store),
        )
        .optional()
        .map_err(fail)?
        .transpose()?;
    let lease = inner.lease.load(Ordering::Relaxed);
    if let Some(record) = existing {
        let abandoned = matches!(record.state, PaymentState::Claimed | PaymentState::Verified)
            && record.updated_at.saturating_add(lease) <= payment.now;
        if !record.state.is_reclaimable() && !abandoned {
            // Keeps the id's binding, if one was written.
            tx.commit().map_err(fail)?;
            return Ok(Claim::Existing(Box::new(record)));
        }
    }
    let token = inner.tokens.next();
    tx.execute(
        "INSERT OR REPLACE INTO x402_payments
            (key, fingerprint, token, state, route, network, payer, amount, expires_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, 'claimed', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            payment.key.as_bytes().as_slice(),
            payment.fingerprint.as_bytes().as_slice(),
            to_i64(token.0),
            payment.route,
            payment.network,
            payment.payer,
            payment.amount,
            to_i64(payment.expires_at),
            to_i64(payment.now),
        ],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Claim::Claimed(token))
}

/// One step, as owned values (it crosses to the blocking pool).
#[derive(Debug)]
enum OwnedTransition {
    Verified(Option<String>),
    Settling(Vec<u8>),
    Settled {
        receipt: String,
        transaction: String,
        amount: Option<String>,
    },
    Failed(String),
    Pending {
        transaction: Option<String>,
        reason: String,
    },
    Released,
}

impl OwnedTransition {
    fn new(transition: Transition<'_>) -> Self {
        match transition {
            Transition::Verified { payer } => Self::Verified(payer.map(str::to_owned)),
            Transition::Settling { request } => Self::Settling(request.to_vec()),
            Transition::Settled { receipt } => Self::Settled {
                receipt: serde_json::to_string(receipt).unwrap_or_default(),
                transaction: receipt.transaction.clone(),
                amount: receipt.amount.clone(),
            },
            Transition::Failed { reason } => Self::Failed(reason.to_owned()),
            Transition::Pending {
                transaction,
                reason,
            } => Self::Pending {
                transaction: transaction.map(str::to_owned),
                reason: reason.to_owned(),
            },
            Transition::Released => Self::Released,
        }
    }
}

fn record(
    connection: &Connection,
    store: &str,
    key: ReplayKey,
    token: ClaimToken,
    transition: OwnedTransition,
    now: u64,
) -> Result<(), LedgerError> {
    let key = key.as_bytes().as_slice();
    let (token, now) = (to_i64(token.0), to_i64(now));
    let result = match transition {
        OwnedTransition::Verified(payer) => connection.execute(
            "UPDATE x402_payments SET state = 'verified', payer = COALESCE(payer, ?4),
                updated_at = ?3 WHERE key = ?1 AND token = ?2",
            params![key, token, now, payer],
        ),
        OwnedTransition::Settling(request) => connection.execute(
            "UPDATE x402_payments SET state = 'settling', settle_request = ?4, updated_at = ?3
                WHERE key = ?1 AND token = ?2",
            params![key, token, now, request],
        ),
        OwnedTransition::Settled {
            receipt,
            transaction,
            amount,
        } => connection.execute(
            "UPDATE x402_payments SET state = 'settled', receipt = ?4, tx = ?5,
                amount = COALESCE(?6, amount), reason = NULL, settled_at = ?3, updated_at = ?3
                WHERE key = ?1 AND token = ?2",
            params![key, token, now, receipt, transaction, amount],
        ),
        OwnedTransition::Failed(reason) => connection.execute(
            "UPDATE x402_payments SET state = 'failed', reason = ?4, updated_at = ?3
                WHERE key = ?1 AND token = ?2",
            params![key, token, now, reason],
        ),
        OwnedTransition::Pending {
            transaction,
            reason,
        } => connection.execute(
            "UPDATE x402_payments SET state = 'pending', tx = COALESCE(?4, tx), reason = ?5,
                updated_at = ?3 WHERE key = ?1 AND token = ?2",
            params![key, token, now, transaction, reason],
        ),
        // Only a claim that never reached `/settle`: a settling record stays as it is.
        OwnedTransition::Released => connection.execute(
            "UPDATE x402_payments SET state = 'released', updated_at = ?3
                WHERE key = ?1 AND token = ?2 AND state IN ('claimed', 'verified')",
            params![key, token, now],
        ),
    };
    match result {
        Ok(0) => Err(LedgerError::ClaimLost {
            store: store.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(error) => Err(store_error(store, "record", error)),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ledger for SqliteLedger {
    fn claim(&self, payment: NewPayment) -> BoxFuture<'_, Result<Claim, LedgerError>> {
        self.run("claim", move |connection, inner| {
            claim(connection, inner, &payment)
        })
    }

    fn record<'a>(
        &'a self,
        key: ReplayKey,
        token: ClaimToken,
        transition: Transition<'a>,
        now: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        let transition = OwnedTransition::new(transition);
        self.run("record", move |connection, inner| {
            record(connection, &inner.store, key, token, transition, now)
        })
    }

    fn release(&self, key: ReplayKey, token: ClaimToken) {
        let this = self.clone();
        let release = move || {
            let connection = this.lock();
            let result = record(
                &connection,
                &this.inner.store,
                key,
                token,
                OwnedTransition::Released,
                unix_now(),
            );
            match result {
                // Already settling (or taken over): nothing to release.
                Ok(()) | Err(LedgerError::ClaimLost { .. }) => {}
                Err(error) => tracing::warn!(
                    error = %crate::ErrorChain(&error),
                    "could not release a payment claim; it lapses with its lease"
                ),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(release)),
            Err(_) => release(),
        }
    }

    fn unfinished(
        &self,
        stale_before: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        self.run("list unfinished payments", move |connection, inner| {
            query_records(
                connection,
                &inner.store,
                "list unfinished payments",
                &format!(
                    "SELECT {COLUMNS} FROM x402_payments
                     WHERE state = 'pending' OR (state = 'settling' AND updated_at < ?1)
                     ORDER BY updated_at LIMIT ?2"
                ),
                params![to_i64(stale_before), limit],
            )
        })
    }

    fn settled(
        &self,
        query: SettledQuery,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        self.run("list settled payments", move |connection, inner| {
            let limit = query.limit.map_or(-1, i64::from);
            let since = to_i64(query.since);
            let store = &inner.store;
            let operation = "list settled payments";
            match &query.payer {
                Some(payer) => query_records(
                    connection,
                    store,
                    operation,
                    &format!(
                        "SELECT {COLUMNS} FROM x402_payments
                         WHERE state = 'settled' AND payer = ?1 AND settled_at >= ?2
                         ORDER BY settled_at DESC, rowid DESC LIMIT ?3"
                    ),
                    params![payer, since, limit],
                ),
                None => query_records(
                    connection,
                    store,
                    operation,
                    &format!(
                        "SELECT {COLUMNS} FROM x402_payments
                         WHERE state = 'settled' AND settled_at >= ?1
                         ORDER BY settled_at DESC, rowid DESC LIMIT ?2"
                    ),
                    params![since, limit],
                ),
            }
        })
    }

    fn get(&self, key: ReplayKey) -> BoxFuture<'_, Result<Option<PaymentRecord>, LedgerError>> {
        self.run("read a payment", move |connection, inner| {
            let mut records = query_records(
                connection,
                &inner.store,
                "read a payment",
                &format!("SELECT {COLUMNS} FROM x402_payments WHERE key = ?1"),
                [key.as_bytes().as_slice()],
            )?;
            Ok(records.pop())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::BodyDigest;

    const NOW: u64 = 1_000_000;

    fn key(n: u8) -> ReplayKey {
        ReplayKey::from_bytes(&[n])
    }

    fn fingerprint(path: &str) -> Fingerprint {
        Fingerprint::new("GET", path, BodyDigest::Empty)
    }

    fn payment(n: u8, path: &str, now: u64) -> NewPayment {
        NewPayment::new(
            key(n),
            fingerprint(path),
            "weather",
            "eip155:84532",
            Some("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".to_owned()),
            "1000",
            NOW + 300,
            now,
        )
    }

    fn receipt(tx: &str) -> SettleResponse {
        let mut receipt = SettleResponse::success(tx, "eip155:84532");
        receipt.payer = Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".to_owned());
        receipt
    }

    async fn claimed(ledger: &SqliteLedger, payment: NewPayment) -> ClaimToken {
        match ledger.claim(payment).await.expect("claims") {
            Claim::Claimed(token) => token,
            other => panic!("expected a new claim, found {other:?}"),
        }
    }

    async fn existing(ledger: &SqliteLedger, payment: NewPayment) -> PaymentRecord {
        match ledger.claim(payment).await.expect("claims") {
            Claim::Existing(record) => *record,
            other => panic!("expected an existing record, found {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_payment_is_claimed_once_and_its_record_follows_each_step() {
        let ledger = SqliteLedger::in_memory().unwrap();
        let token = claimed(&ledger, payment(1, "/weather", NOW)).await;
        assert_eq!(
            existing(&ledger, payment(1, "/weather", NOW)).await.state,
            PaymentState::Claimed
        );
        let steps: [(Transition<'_>, PaymentState); 3] = [
            (Transition::Verified { payer: None }, PaymentState::Verified),
            (
                Transition::Settling {
                    request: b"{\"body\":1}",
                },
                PaymentState::Settling,
            ),
            (
                Transition::Settled {
                    receipt: &receipt("0xab"),
                },
                PaymentState::Settled,
            ),
        ];
        for (step, (transition, state)) in (1..).zip(steps) {
            ledger
                .record(key(1), token, transition, NOW + step)
                .await
                .unwrap();
            let record = ledger.get(key(1)).await.unwrap().expect("stored");
            assert_eq!(record.state, state);
            assert_eq!(record.updated_at, NOW + step);
        }
        let record = ledger.get(key(1)).await.unwrap().unwrap();
        assert_eq!(record.settle_request.as_deref(), Some(&b"{\"body\":1}"[..]));
        assert_eq!(record.transaction.as_deref(), Some("0xab"));
        assert_eq!(record.receipt, Some(receipt("0xab")));
        assert_eq!(record.fingerprint, fingerprint("/weather"));
        assert_eq!(record.amount, "1000");
    }

    #[tokio::test]
    async fn concurrent_claims_of_one_payment_have_one_winner() {
        let ledger = SqliteLedger::in_memory().unwrap();
        let claims = (0..16).map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.claim(payment(7, "/weather", NOW)).await })
        });
        let mut winners = 0;
        for claim in claims {
            if let Claim::Claimed(_) = claim.await.unwrap().unwrap() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
    }

    #[tokio::test]
    async fn a_failed_or_released_payment_may_be_claimed_again() {
        let ledger = SqliteLedger::in_memory().unwrap();
        let token = claimed(&ledger, payment(2, "/weather", NOW)).await;
        let failed = Transition::Failed {
            reason: "insufficient_funds",
        };
        ledger.record(key(2), token, failed, NOW).await.unwrap();
        let again = claimed(&ledger, payment(2, "/other", NOW)).await;
        assert_ne!(again, token, "a new claim gets a new token");
        assert_eq!(
            ledger
                .record(key(2), token, Transition::Released, NOW)
                .await
                .unwrap_err()
                .to_string(),
            "payment ledger sqlite::memory:: the claim on this payment was lost to another holder"
        );
        ledger
            .record(key(2), again, Transition::Released, NOW)
            .await
            .unwrap();
        claimed(&ledger, payment(2, "/weather", NOW)).await;
    }

    #[tokio::test]
    async fn a_settling_or_settled_payment_is_never_claimed_again() {
        let ledger = SqliteLedger::in_memory().unwrap().with_claim_lease(10);
        let token = claimed(&ledger, payment(3, "/weather", NOW)).await;
        let settling = Transition::Settling { request: b"{}" };
        ledger.record(key(3), token, settling, NOW).await.unwrap();
        // Far past the lease: a claim that reached /settle stays held.
        let record = existing(&ledger, payment(3, "/weather", NOW + 1_000)).await;
        assert_eq!(record.state, PaymentState::Settling);
        // Released after settling: nothing happens.
        assert!(matches!(
            ledger
                .record(key(3), token, Transition::Released, NOW)
                .await,
            Err(LedgerError::ClaimLost { .. })
        ));
        assert_eq!(
            ledger.get(key(3)).await.unwrap().unwrap().state,
            PaymentState::Settling
        );
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_after_its_lease() {
        let ledger = SqliteLedger::in_memory().unwrap().with_claim_lease(10);
        let token = claimed(&ledger, payment(4, "/weather", NOW)).await;
        existing(&ledger, payment(4, "/weather", NOW + 9)).await;
        let taken = claimed(&ledger, payment(4, "/weather", NOW + 10)).await;
        assert_ne!(taken, token);
        let settling = Transition::Settling { request: b"{}" };
        assert!(matches!(
            ledger.record(key(4), token, settling, NOW + 11).await,
            Err(LedgerError::ClaimLost { .. })
        ));
    }

    #[tokio::test]
    async fn unfinished_lists_pending_and_stale_settling_records() {
        let ledger = SqliteLedger::in_memory().unwrap();
        let pending = claimed(&ledger, payment(5, "/a", NOW)).await;
        let settling = claimed(&ledger, payment(6, "/b", NOW)).await;
        let fresh = claimed(&ledger, payment(8, "/c", NOW)).await;
        let body = Transition::Settling { request: b"{}" };
        ledger.record(key(5), pending, body, NOW).await.unwrap();
        let still = Transition::Pending {
            transaction: Some("0xcd"),
            reason: "settlement_pending",
        };
        ledger.record(key(5), pending, still, NOW).await.unwrap();
        ledger.record(key(6), settling, body, NOW).await.unwrap();
        ledger.record(key(8), fresh, body, NOW + 50).await.unwrap();
        let unfinished = ledger.unfinished(NOW + 10, 10).await.unwrap();
        let keys: Vec<_> = unfinished.iter().map(|r| r.key).collect();
        assert_eq!(keys.len(), 2, "{unfinished:?}");
        assert!(keys.contains(&key(5)) && keys.contains(&key(6)));
        let pending = unfinished.iter().find(|r| r.key == key(5)).unwrap();
        assert_eq!(pending.transaction.as_deref(), Some("0xcd"));
    }

    #[tokio::test]
    async fn settled_lists_newest_first_by_payer_and_time() {
        let ledger = SqliteLedger::in_memory().unwrap();
        for n in 0..4u8 {
            let mut new = payment(20 + n, "/weather", NOW);
            if n == 3 {
                new.payer = Some("0x0000000000000000000000000000000000000001".to_owned());
            }
            let token = claimed(&ledger, new).await;
            let receipt = receipt(&format!("0x{n:02x}"));
            let settled = Transition::Settled { receipt: &receipt };
            ledger
                .record(key(20 + n), token, settled, NOW + u64::from(n))
                .await
                .unwrap();
        }
        let all = ledger.settled(SettledQuery::default()).await.unwrap();
        let txs: Vec<_> = all
            .iter()
            .filter_map(|r| r.transaction.as_deref())
            .collect();
        assert_eq!(txs, ["0x03", "0x02", "0x01", "0x00"]);
        let query = SettledQuery {
            payer: Some("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".to_owned()),
            since: NOW + 1,
            limit: Some(1),
        };
        let one = ledger.settled(query).await.unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].transaction.as_deref(), Some("0x02"));
    }

    #[tokio::test]
    async fn a_ledger_file_survives_reopening_in_wal_mode() {
        let (dir, path) = scratch_file("x402-ledger", "reopen.db");
        {
            let ledger = SqliteLedger::open(&path).unwrap();
            assert_eq!(ledger.schema_version().unwrap(), 2);
            let token = claimed(&ledger, payment(9, "/weather", NOW)).await;
            let settling = Transition::Settling {
                request: b"{\"x\":1}",
            };
            ledger.record(key(9), token, settling, NOW).await.unwrap();
        }
        let ledger = SqliteLedger::open(&path).unwrap();
        let mode: String = ledger
            .lock()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let record = ledger.get(key(9)).await.unwrap().expect("kept");
        assert_eq!(record.state, PaymentState::Settling);
        assert_eq!(record.settle_request.as_deref(), Some(&b"{\"x\":1}"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_with_a_newer_schema_is_refused() {
        let (dir, path) = scratch_file("x402-ledger-new", "newer.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = SqliteLedger::open(&path).unwrap_err();
        assert!(
            matches!(
                error,
                LedgerError::SchemaTooNew {
                    found: 99,
                    known: 2,
                    ..
                }
            ),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh `file` in a directory `prefix-<pid>` under the temporary directory (the
    /// caller removes the directory): `(directory, file)`.
    fn scratch_file(prefix: &str, file: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        let _ = std::fs::remove_file(&path);
        (dir, path)
    }

    #[tokio::test]
    async fn payment_ids_bind_to_one_live_payment_per_route() {
        let ledger = SqliteLedger::in_memory().unwrap();
        crate::ledger::conformance::payment_ids_bind_to_one_live_payment_per_route(&ledger, |n| {
            payment(n, "/weather", NOW)
        })
        .await;
    }

    #[test]
    fn a_version_1_file_is_migrated_to_version_2() {
        let (dir, path) = scratch_file("x402-ledger-v1", "v1.db");
        {
            let connection = Connection::open(&path).unwrap();
            connection.execute_batch(MIGRATIONS[0]).unwrap();
            connection.pragma_update(None, "user_version", 1).unwrap();
        }
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), 2);
        let ids: i64 = ledger
            .lock()
            .query_row("SELECT COUNT(*) FROM x402_payment_ids", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ids, 0);
        drop(ledger);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
