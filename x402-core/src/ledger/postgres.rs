//! [`PostgresLedger`]: the ledger on PostgreSQL, shared by several instances.
//!
//! The same table as [`SqliteLedger`](super::SqliteLedger) (the same columns, states and
//! rules), with PostgreSQL types. Every step is one statement, so one connection serves all
//! requests (tokio-postgres pipelines them): a claim is one `INSERT … ON CONFLICT DO UPDATE …
//! WHERE` that takes over only a record that charged nothing or whose claim's lease ran out,
//! atomically across instances; every transition is an `UPDATE … WHERE key AND token`.
//!
//! Migrations are numbered rows in `x402_ledger_migrations`, applied at connect time in one
//! transaction under an advisory lock, so instances starting together migrate once. A lost
//! connection is re-established by the next call (that call fails with 503
//! `ledger_unavailable` if the server is still down: fail closed).

use std::{
    fmt,
    hash::{BuildHasher as _, Hasher as _, RandomState},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row, types::ToSql};

use super::{
    Claim, ClaimToken, DEFAULT_CLAIM_LEASE_SECONDS, Fingerprint, Ledger, LedgerError, NewPayment,
    PaymentRecord, PaymentState, ReplayKey, SettledQuery, Transition,
};
use crate::{BoxFuture, wire::SettleResponse};

/// The migrations, in order (their number is their index + 1).
const MIGRATIONS: &[&str] = &[
    // 1: the payments table.
    "CREATE TABLE x402_payments (
        key BYTEA PRIMARY KEY,
        fingerprint BYTEA NOT NULL,
        token BIGINT NOT NULL,
        state TEXT NOT NULL,
        route TEXT NOT NULL,
        network TEXT NOT NULL,
        payer TEXT,
        amount TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        settled_at BIGINT,
        settle_request BYTEA,
        receipt TEXT,
        tx TEXT,
        reason TEXT,
        seq BIGINT GENERATED ALWAYS AS IDENTITY
    );
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
        key BYTEA NOT NULL,
        PRIMARY KEY (route, id)
    );",
];

const COLUMNS: &str = "key, fingerprint, token, state, route, network, payer, amount, expires_at, \
                       created_at, updated_at, settle_request, receipt, tx, reason";

/// An arbitrary constant for `pg_advisory_xact_lock`: instances migrating at once take turns.
const MIGRATION_LOCK: i64 = 0x7834_3032_6c65_6467; // "x402ledg"

/// A [`Ledger`] on PostgreSQL.
///
/// ```no_run
/// # async fn run() -> Result<(), x402_core::ledger::LedgerError> {
/// use x402_core::ledger::PostgresLedger;
///
/// let ledger = PostgresLedger::connect("postgres://x402@db/x402").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresLedger {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    store: String,
    schema: Option<String>,
    client: Mutex<Option<Arc<Client>>>,
    lease: AtomicU64,
    seed: RandomState,
    counter: AtomicU64,
}

impl fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

fn pg_error(store: &str, operation: &'static str, error: tokio_postgres::Error) -> LedgerError {
    LedgerError::Store {
        store: store.to_owned(),
        operation,
        source: Box::new(error),
    }
}

impl PostgresLedger {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`, or the key=value form)
    /// and applies missing migrations.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        Self::connect_in(url, None).await
    }

    /// [`connect`](Self::connect), with the table in `schema` (created if missing): several
    /// ledgers in one database, e.g. one per test or per tenant. `schema` is an identifier:
    /// ASCII letters, digits and `_`.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, LedgerError> {
        Self::connect_in(url, Some(schema)).await
    }

    async fn connect_in(url: &str, schema: Option<&str>) -> Result<Self, LedgerError> {
        let config: tokio_postgres::Config = url.parse().map_err(|_| LedgerError::Url {
            url: url.to_owned(),
            expected: "postgres://user@host:port/database",
        })?;
        if let Some(schema) = schema
            && (schema.is_empty()
                || !schema
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(LedgerError::Url {
                url: url.to_owned(),
                expected: "a schema name of ASCII letters, digits and `_`",
            });
        }
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let store = format!(
            "postgres:{}/{}{}",
            hosts.join(","),
            config.get_dbname().unwrap_or(""),
            schema.map(|s| format!(" schema {s}")).unwrap_or_default()
        );
        let ledger = Self {
            inner: Arc::new(Inner {
                config,
                store,
                schema: schema.map(str::to_owned),
                client: Mutex::new(None),
                lease: AtomicU64::new(DEFAULT_CLAIM_LEASE_SECONDS),
                seed: RandomState::new(),
                counter: AtomicU64::new(0),
            }),
        };
        ledger.migrate().await?;
        Ok(ledger)
    }

    /// How long an unfinished claim holds its record (default
    /// [`DEFAULT_CLAIM_LEASE_SECONDS`]).
    pub fn with_claim_lease(self, seconds: u64) -> Self {
        self.inner.lease.store(seconds, Ordering::Relaxed);
        self
    }

    /// Every record, most recently changed first, at most `limit` (inspection and tests).
    pub async fn records(&self, limit: u32) -> Result<Vec<PaymentRecord>, LedgerError> {
        self.query(
            "list payments",
            &format!(
                "SELECT {COLUMNS} FROM x402_payments ORDER BY updated_at DESC, seq DESC LIMIT $1"
            ),
            &[&i64::from(limit)],
        )
        .await
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64, LedgerError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM x402_ledger_migrations",
                &[],
            )
            .await
            .map_err(|e| pg_error(&self.inner.store, "read the schema version", e))?;
        Ok(row.get(0))
    }

    async fn connect_client(&self) -> Result<Client, LedgerError> {
        let store = &self.inner.store;
        let (client, connection) = self
            .inner
            .config
            .connect(NoTls)
            .await
            .map_err(|e| pg_error(store, "connect", e))?;
        let name = store.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(store = %name, %error, "ledger connection closed");
            }
        });
        if let Some(schema) = &self.inner.schema {
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                ))
                .await
                .map_err(|e| pg_error(store, "set the schema", e))?;
        }
        Ok(client)
    }

    /// The shared client, connecting (again) when there is none or it was closed.
    async fn client(&self) -> Result<Arc<Client>, LedgerError> {
        let mut slot = self.inner.client.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(self.connect_client().await?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    async fn migrate(&self) -> Result<(), LedgerError> {
        let store = &self.inner.store;
        let fail = |operation| move |e| pg_error(store, operation, e);
        let mut client = self.connect_client().await?;
        let tx = client.transaction().await.map_err(fail("migrate"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(fail("migrate"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS x402_ledger_migrations (version BIGINT PRIMARY KEY)",
        )
        .await
        .map_err(fail("migrate"))?;
        let found: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM x402_ledger_migrations",
                &[],
            )
            .await
            .map_err(fail("read the schema version"))?
            .get(0);
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if found > known {
            return Err(LedgerError::SchemaTooNew {
                store: store.clone(),
                found,
                known,
            });
        }
        for (version, sql) in (1i64..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.batch_execute(sql).await.map_err(fail("migrate"))?;
            tx.execute(
                "INSERT INTO x402_ledger_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(fail("migrate"))?;
        }
        tx.commit().await.map_err(fail("migrate"))?;
        *self.inner.client.lock().await = Some(Arc::new(client));
        Ok(())
    }

    fn next_token(&self) -> ClaimToken {
        let mut hasher = self.inner.seed.build_hasher();
        hasher.write_u64(self.inner.counter.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        // BIGINT is signed: keep tokens in range.
        ClaimToken(hasher.finish() >> 1)
    }

    async fn query(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<PaymentRecord>, LedgerError> {
        let client = self.client().await?;
        let rows = client
            .query(sql, params)
            .await
            .map_err(|e| pg_error(&self.inner.store, operation, e))?;
        rows.iter()
            .map(|row| read_record(row, &self.inner.store))
            .collect()
    }

    async fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, LedgerError> {
        let client = self.client().await?;
        client
            .execute(sql, params)
            .await
            .map_err(|e| pg_error(&self.inner.store, operation, e))
    }

    /// Runs `sql`, whose one row's first column is a count (`SELECT count(*) …`).
    async fn count(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, LedgerError> {
        let client = self.client().await?;
        let row = client
            .query_one(sql, params)
            .await
            .map_err(|e| pg_error(&self.inner.store, operation, e))?;
        let count: i64 = row
            .try_get(0)
            .map_err(|e| pg_error(&self.inner.store, operation, e))?;
        Ok(to_u64(count))
    }

    async fn claim_now(&self, payment: NewPayment) -> Result<Claim, LedgerError> {
        let token = self.next_token();
        let lease = to_i64(self.inner.lease.load(Ordering::Relaxed));
        let now = to_i64(payment.now);
        let key = payment.key.as_bytes().as_slice();
        if let Some(id) = &payment.payment_id {
            // Bound to this payment unless another payment holds it. An id row lives as long
            // as its payment may charge: recording `failed` or `released` deletes it (see
            // `record_now`). So the conflict looks at the id row alone, which concurrent claims
            // of one id take turns on; a check of the other table here would read a snapshot
            // from before a concurrent claim's record was committed.
            let bound = self
                .execute(
                    "claim",
                    "INSERT INTO x402_payment_ids AS i (route, id, key) VALUES ($1, $2, $3)
                     ON CONFLICT (route, id) DO UPDATE SET key = EXCLUDED.key
                     WHERE i.key = EXCLUDED.key",
                    &[&payment.route, &id.as_str(), &key],
                )
                .await?;
            if bound == 0 {
                return Ok(Claim::PaymentIdInUse);
            }
        }
        let taken = self
            .execute(
                "claim",
                "INSERT INTO x402_payments AS p
                    (key, fingerprint, token, state, route, network, payer, amount, expires_at,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, 'claimed', $4, $5, $6, $7, $8, $9, $9)
                 ON CONFLICT (key) DO UPDATE SET
                    fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token,
                    state = 'claimed', route = EXCLUDED.route, network = EXCLUDED.network,
                    payer = EXCLUDED.payer, amount = EXCLUDED.amount,
                    expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at,
                    updated_at = EXCLUDED.updated_at, settled_at = NULL,
                    settle_request = NULL, receipt = NULL, tx = NULL, reason = NULL
                 WHERE p.state IN ('failed', 'released')
                    OR (p.state IN ('claimed', 'verified') AND p.updated_at + $10 <= $9)",
                &[
                    &key,
                    &payment.fingerprint.as_bytes().as_slice(),
                    &to_i64(token.0),
                    &payment.route,
                    &payment.network,
                    &payment.payer,
                    &payment.amount,
                    &to_i64(payment.expires_at),
                    &now,
                    &lease,
                ],
            )
            .await?;
        if taken == 1 {
            return Ok(Claim::Claimed(token));
        }
        let mut records = self
            .query(
                "claim",
                &format!("SELECT {COLUMNS} FROM x402_payments WHERE key = $1"),
                &[&key],
            )
            .await?;
        match records.pop() {
            Some(record) => Ok(Claim::Existing(Box::new(record))),
            // Taken over and released between the two statements: a rare race; the caller
            // answers 503 and the buyer retries.
            None => Err(LedgerError::ClaimLost {
                store: self.inner.store.clone(),
            }),
        }
    }

    async fn record_now(
        &self,
        key: ReplayKey,
        token: ClaimToken,
        transition: Transition<'_>,
        now: u64,
    ) -> Result<(), LedgerError> {
        let key = key.as_bytes().as_slice();
        let (token, now) = (to_i64(token.0), to_i64(now));
        let updated = match transition {
            Transition::Verified { payer } => {
                self.execute(
                    "record",
                    "UPDATE x402_payments SET state = 'verified', payer = COALESCE(payer, $4),
                        updated_at = $3 WHERE key = $1 AND token = $2",
                    &[&key, &token, &now, &payer],
                )
                .await?
            }
            Transition::Settling { request } => {
                self.execute(
                    "record",
                    "UPDATE x402_payments SET state = 'settling', settle_request = $4,
                        updated_at = $3 WHERE key = $1 AND token = $2",
                    &[&key, &token, &now, &request],
                )
                .await?
            }
            Transition::Settled { receipt } => {
                let json = serde_json::to_string(receipt).unwrap_or_default();
                self.execute(
                    "record",
                    "UPDATE x402_payments SET state = 'settled', receipt = $4, tx = $5,
                        amount = COALESCE($6, amount), reason = NULL, settled_at = $3,
                        updated_at = $3 WHERE key = $1 AND token = $2",
                    &[
                        &key,
                        &token,
                        &now,
                        &json,
                        &receipt.transaction,
                        &receipt.amount,
                    ],
                )
                .await?
            }
            // Nothing was charged: the payment's `payment-identifier` id, if any, is let go in
            // the same statement.
            Transition::Failed { reason } => {
                self.count(
                    "record",
                    "WITH u AS (UPDATE x402_payments SET state = 'failed', reason = $4,
                            updated_at = $3 WHERE key = $1 AND token = $2 RETURNING key),
                        d AS (DELETE FROM x402_payment_ids WHERE key IN (SELECT key FROM u))
                     SELECT count(*) FROM u",
                    &[&key, &token, &now, &reason],
                )
                .await?
            }
            Transition::Pending {
                transaction,
                reason,
            } => {
                self.execute(
                    "record",
                    "UPDATE x402_payments SET state = 'pending', tx = COALESCE($4, tx),
                        reason = $5, updated_at = $3 WHERE key = $1 AND token = $2",
                    &[&key, &token, &now, &transaction, &reason],
                )
                .await?
            }
            Transition::Released => {
                self.count(
                    "record",
                    "WITH u AS (UPDATE x402_payments SET state = 'released', updated_at = $3
                            WHERE key = $1 AND token = $2 AND state IN ('claimed', 'verified')
                            RETURNING key),
                        d AS (DELETE FROM x402_payment_ids WHERE key IN (SELECT key FROM u))
                     SELECT count(*) FROM u",
                    &[&key, &token, &now],
                )
                .await?
            }
        };
        if updated == 0 {
            return Err(LedgerError::ClaimLost {
                store: self.inner.store.clone(),
            });
        }
        Ok(())
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn read_record(row: &Row, store: &str) -> Result<PaymentRecord, LedgerError> {
    let corrupt = |what: String| LedgerError::Corrupt {
        store: store.to_owned(),
        what,
    };
    let get = |e: tokio_postgres::Error| corrupt(format!("a column of the wrong type ({e})"));
    let key: Vec<u8> = row.try_get(0).map_err(get)?;
    let fingerprint: Vec<u8> = row.try_get(1).map_err(get)?;
    let state: String = row.try_get(3).map_err(get)?;
    let receipt: Option<String> = row.try_get(12).map_err(get)?;
    let key = <[u8; 32]>::try_from(key.as_slice())
        .map_err(|_| corrupt(format!("a key of {} bytes", key.len())))?;
    let fingerprint = <[u8; 32]>::try_from(fingerprint.as_slice())
        .map_err(|_| corrupt(format!("a fingerprint of {} bytes", fingerprint.len())))?;
    let state = PaymentState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?;
    let receipt = receipt
        .map(|r| serde_json::from_str::<SettleResponse>(&r))
        .transpose()
        .map_err(|e| corrupt(format!("a receipt that is not JSON ({e})")))?;
    Ok(PaymentRecord {
        key: ReplayKey::from_raw(key),
        fingerprint: Fingerprint::from_bytes(fingerprint),
        token: ClaimToken(to_u64(row.try_get(2).map_err(get)?)),
        state,
        route: row.try_get(4).map_err(get)?,
        network: row.try_get(5).map_err(get)?,
        payer: row.try_get(6).map_err(get)?,
        amount: row.try_get(7).map_err(get)?,
        expires_at: to_u64(row.try_get(8).map_err(get)?),
        created_at: to_u64(row.try_get(9).map_err(get)?),
        updated_at: to_u64(row.try_get(10).map_err(get)?),
        settle_request: row
            .try_get::<_, Option<Vec<u8>>>(11)
            .map_err(get)?
            .map(Bytes::from),
        receipt,
        transaction: row.try_get(13).map_err(get)?,
        reason: row.try_get(14).map_err(get)?,
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ledger for PostgresLedger {
    fn claim(&self, payment: NewPayment) -> BoxFuture<'_, Result<Claim, LedgerError>> {
        Box::pin(self.claim_now(payment))
    }

    fn record<'a>(
        &'a self,
        key: ReplayKey,
        token: ClaimToken,
        transition: Transition<'a>,
        now: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(self.record_now(key, token, transition, now))
    }

    fn release(&self, key: ReplayKey, token: ClaimToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime to release a payment claim; it lapses with its lease");
            return;
        };
        let this = self.clone();
        drop(runtime.spawn(async move {
            match this
                .record_now(key, token, Transition::Released, unix_now())
                .await
            {
                Ok(()) | Err(LedgerError::ClaimLost { .. }) => {}
                Err(error) => tracing::warn!(
                    error = %crate::ErrorChain(&error),
                    "could not release a payment claim; it lapses with its lease"
                ),
            }
        }));
    }

    fn unfinished(
        &self,
        stale_before: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        Box::pin(async move {
            self.query(
                "list unfinished payments",
                &format!(
                    "SELECT {COLUMNS} FROM x402_payments
                     WHERE state = 'pending' OR (state = 'settling' AND updated_at < $1)
                     ORDER BY updated_at, seq LIMIT $2"
                ),
                &[&to_i64(stale_before), &i64::from(limit)],
            )
            .await
        })
    }

    fn settled(
        &self,
        query: SettledQuery,
    ) -> BoxFuture<'_, Result<Vec<PaymentRecord>, LedgerError>> {
        Box::pin(async move {
            let limit: Option<i64> = query.limit.map(i64::from);
            self.query(
                "list settled payments",
                &format!(
                    "SELECT {COLUMNS} FROM x402_payments
                     WHERE state = 'settled' AND ($1::TEXT IS NULL OR payer = $1)
                        AND settled_at >= $2
                     ORDER BY settled_at DESC, seq DESC LIMIT $3"
                ),
                &[&query.payer, &to_i64(query.since), &limit],
            )
            .await
        })
    }

    fn get(&self, key: ReplayKey) -> BoxFuture<'_, Result<Option<PaymentRecord>, LedgerError>> {
        Box::pin(async move {
            let mut records = self
                .query(
                    "read a payment",
                    &format!("SELECT {COLUMNS} FROM x402_payments WHERE key = $1"),
                    &[&key.as_bytes().as_slice()],
                )
                .await?;
            Ok(records.pop())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ledger::BodyDigest, payment_identifier::PaymentId};

    /// The environment variable naming the PostgreSQL server of these tests.
    const URL_VAR: &str = "X402_TEST_POSTGRES_URL";
    const NOW: u64 = 1_000_000;

    /// The server's URL; `None` (skipped, saying so) outside CI when unset. Under `CI=true`
    /// the server is part of the run (`.ci/run` starts one), so its absence fails the test.
    fn url(case: &str) -> Option<String> {
        let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
        if url.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{case}: CI=true but {URL_VAR} is unset (.ci/run starts PostgreSQL and sets it)"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED {case}: set {URL_VAR}=postgres://user@127.0.0.1:PORT/db");
            }
        }
        url
    }

    /// A schema no other test or run shares.
    fn schema(case: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("x402_test_{case}_{}_{nanos}", std::process::id())
    }

    async fn ledger(case: &str) -> Option<(PostgresLedger, String, String)> {
        let url = url(case)?;
        let schema = schema(case);
        let ledger = PostgresLedger::connect_in_schema(&url, &schema)
            .await
            .expect("connects and migrates");
        Some((ledger, url, schema))
    }

    fn key(n: u8) -> ReplayKey {
        ReplayKey::from_bytes(&[n])
    }

    fn payment(n: u8, path: &str, now: u64) -> NewPayment {
        NewPayment::new(
            key(n),
            Fingerprint::new("GET", path, BodyDigest::Empty),
            "weather",
            "eip155:84532",
            Some("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".to_owned()),
            "1000",
            NOW + 300,
            now,
        )
    }

    async fn claimed(ledger: &PostgresLedger, payment: NewPayment) -> ClaimToken {
        match ledger.claim(payment).await.expect("claims") {
            Claim::Claimed(token) => token,
            other => panic!("expected a new claim, found {other:?}"),
        }
    }

    async fn existing(ledger: &PostgresLedger, payment: NewPayment) -> PaymentRecord {
        match ledger.claim(payment).await.expect("claims") {
            Claim::Existing(record) => *record,
            other => panic!("expected an existing record, found {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_payment_is_claimed_once_and_its_record_follows_each_step() {
        let Some((ledger, ..)) = ledger("steps").await else {
            return;
        };
        assert_eq!(ledger.schema_version().await.unwrap(), 2);
        let token = claimed(&ledger, payment(1, "/weather", NOW)).await;
        assert_eq!(
            existing(&ledger, payment(1, "/weather", NOW)).await.state,
            PaymentState::Claimed
        );
        let receipt = SettleResponse::success("0xab", "eip155:84532");
        let steps = [
            Transition::Verified { payer: None },
            Transition::Settling {
                request: b"{\"body\":1}",
            },
            Transition::Settled { receipt: &receipt },
        ];
        for (step, transition) in (1..).zip(steps) {
            let state = transition.state();
            ledger
                .record(key(1), token, transition, NOW + step)
                .await
                .unwrap();
            let record = ledger.get(key(1)).await.unwrap().expect("stored");
            assert_eq!((record.state, record.updated_at), (state, NOW + step));
        }
        let record = ledger.get(key(1)).await.unwrap().unwrap();
        assert_eq!(record.settle_request.as_deref(), Some(&b"{\"body\":1}"[..]));
        assert_eq!(record.transaction.as_deref(), Some("0xab"));
        assert_eq!(record.receipt, Some(receipt));
        let settled = ledger.settled(SettledQuery::default()).await.unwrap();
        assert_eq!(settled, [record]);
    }

    #[tokio::test]
    async fn two_instances_claiming_one_payment_at_once_have_one_winner() {
        let Some((first, url, schema)) = ledger("one_winner").await else {
            return;
        };
        // A second instance on the same table (migrating again is a no-op).
        let second = PostgresLedger::connect_in_schema(&url, &schema)
            .await
            .expect("connects");
        let claims = (0..16).map(|n| {
            let ledger = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
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
    async fn only_a_record_that_charged_nothing_or_lapsed_is_taken_over() {
        let Some((ledger, ..)) = ledger("takeover").await else {
            return;
        };
        let ledger = ledger.with_claim_lease(10);
        // Failed: taken over at once, by another request too; the old token is dead.
        let token = claimed(&ledger, payment(2, "/weather", NOW)).await;
        let failed = Transition::Failed { reason: "x" };
        ledger.record(key(2), token, failed, NOW).await.unwrap();
        let again = claimed(&ledger, payment(2, "/other", NOW)).await;
        assert!(matches!(
            ledger
                .record(key(2), token, Transition::Released, NOW)
                .await,
            Err(LedgerError::ClaimLost { .. })
        ));
        // Claimed: held during the lease, taken over after it.
        existing(&ledger, payment(2, "/other", NOW + 9)).await;
        let taken = claimed(&ledger, payment(2, "/other", NOW + 10)).await;
        assert_ne!(taken, again);
        // Settling: never taken over.
        let settling = Transition::Settling { request: b"{}" };
        ledger
            .record(key(2), taken, settling, NOW + 10)
            .await
            .unwrap();
        let record = existing(&ledger, payment(2, "/other", NOW + 10_000)).await;
        assert_eq!(record.state, PaymentState::Settling);
        assert!(matches!(
            ledger
                .record(key(2), taken, Transition::Released, NOW)
                .await,
            Err(LedgerError::ClaimLost { .. })
        ));
    }

    #[tokio::test]
    async fn unfinished_and_settled_lists_follow_the_rules() {
        let Some((ledger, ..)) = ledger("lists").await else {
            return;
        };
        let pending = claimed(&ledger, payment(5, "/a", NOW)).await;
        let stale = claimed(&ledger, payment(6, "/b", NOW)).await;
        let fresh = claimed(&ledger, payment(8, "/c", NOW)).await;
        let body = Transition::Settling { request: b"{}" };
        ledger.record(key(5), pending, body, NOW).await.unwrap();
        let still = Transition::Pending {
            transaction: Some("0xcd"),
            reason: "settlement_pending",
        };
        ledger.record(key(5), pending, still, NOW).await.unwrap();
        ledger.record(key(6), stale, body, NOW).await.unwrap();
        ledger.record(key(8), fresh, body, NOW + 50).await.unwrap();
        let unfinished = ledger.unfinished(NOW + 10, 10).await.unwrap();
        let mut keys: Vec<_> = unfinished.iter().map(|r| r.key).collect();
        keys.sort_by_key(|k| *k.as_bytes());
        let mut expected = vec![key(5), key(6)];
        expected.sort_by_key(|k| *k.as_bytes());
        assert_eq!(keys, expected);

        for n in 0..3u8 {
            let mut new = payment(20 + n, "/weather", NOW);
            if n == 2 {
                new.payer = Some("0x0000000000000000000000000000000000000001".to_owned());
            }
            let token = claimed(&ledger, new).await;
            let receipt = SettleResponse::success(format!("0x{n:02x}"), "eip155:84532");
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
        assert_eq!(txs, ["0x02", "0x01", "0x00"]);
        let query = SettledQuery {
            payer: Some("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".to_owned()),
            since: NOW + 1,
            limit: Some(5),
        };
        let one = ledger.settled(query).await.unwrap();
        let txs: Vec<_> = one
            .iter()
            .filter_map(|r| r.transaction.as_deref())
            .collect();
        assert_eq!(txs, ["0x01"]);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_store_error() {
        // A closed port: nothing listens on port 1 of loopback.
        let error = PostgresLedger::connect("postgres://x402@127.0.0.1:1/x402")
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                LedgerError::Store {
                    operation: "connect",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// The window between binding an id and writing the payment's record (another instance
    /// mid-claim, or one that died there): the id is held, so another payment carrying it is
    /// refused rather than claimed beside it.
    #[tokio::test]
    async fn an_id_bound_before_its_record_is_written_is_held() {
        let Some((ledger, ..)) = ledger("payment_id_window").await else {
            return;
        };
        let id = PaymentId::parse("pay_cccccccccccccccc").unwrap();
        ledger
            .execute(
                "test",
                "INSERT INTO x402_payment_ids (route, id, key) VALUES ($1, $2, $3)",
                &[&"weather", &id.as_str(), &key(1).as_bytes().as_slice()],
            )
            .await
            .unwrap();
        let other = payment(2, "/weather", NOW).with_payment_id(Some(id.clone()));
        assert!(matches!(
            ledger.claim(other).await.unwrap(),
            Claim::PaymentIdInUse
        ));
        // The payment it was bound for claims it.
        let first = payment(1, "/weather", NOW).with_payment_id(Some(id));
        claimed(&ledger, first).await;
    }

    #[tokio::test]
    async fn payment_ids_bind_to_one_live_payment_per_route() {
        let Some((ledger, ..)) = ledger("payment_ids").await else {
            return;
        };
        crate::ledger::conformance::payment_ids_bind_to_one_live_payment_per_route(&ledger, |n| {
            payment(n, "/weather", NOW)
        })
        .await;
    }
}
