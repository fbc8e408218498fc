//! [`RedisReplayGuard`]: the replay store shared by several instances through Redis.
//!
//! Each authorization is one key, `{prefix}{hex of the ReplayKey}`:
//!
//! | state | value | written by | lifetime |
//! |---|---|---|---|
//! | in flight | `c:{claim token}` | `SET key value NX EX ttl` (atomic: one instance wins) | until released, confirmed, or the authorization expires |
//! | settled | `s` | `SET key s EX ttl` | until the authorization expires |
//!
//! A claim's TTL already runs to the authorization's expiry, so an instance that dies
//! mid-payment, or a confirm that is lost, leaves the payment refused rather than reusable.
//! Release deletes the key only if it still holds *this* claim's token (a compare-and-delete
//! Lua script), so a late release never frees another instance's claim or a settled payment.
//!
//! Every call is bounded by the configured timeout. When Redis cannot answer in time the claim
//! fails and the gate refuses the payment with 503 `replay_guard_unavailable` and
//! `Retry-After` — fail closed, never a silent pass.

use std::{
    fmt::{self, Write as _},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{AsyncCommands as _, Client, aio::ConnectionManager};

use super::{ReplayError, ReplayGuard, ReplayKey};
use crate::BoxFuture;

/// Deletes `KEYS[1]` only while it holds `ARGV[1]`.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

/// The default bound on one Redis round trip (connection included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "x402:replay:";

/// What this instance remembers about a claim it holds.
#[derive(Debug, Clone)]
struct Claim {
    token: String,
    /// The gate's clock at claim time: TTLs are computed against it, not Redis's clock.
    now: u64,
}

/// A [`ReplayGuard`] on Redis, shared by every instance pointed at the same server and prefix.
///
/// Built without connecting; the first claim connects. A server that is down at start-up is
/// therefore the same case as one that goes down later: claims fail closed (503).
///
/// ```no_run
/// # async fn run() -> Result<(), x402_core::replay::ReplayError> {
/// use std::sync::Arc;
/// use x402_core::replay::RedisReplayGuard;
///
/// let guard = RedisReplayGuard::new("redis://127.0.0.1:6379/")?;
/// // Gate::builder(routes, facilitator).replay_guard(Arc::new(guard))
/// # let _ = Arc::new(guard);
/// # Ok(())
/// # }
/// ```
pub struct RedisReplayGuard {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    instance: u64,
    next_claim: AtomicU64,
    /// The claims this instance holds, by key (a lock-free map: no lock on the request path).
    claims: papaya::HashMap<ReplayKey, Claim>,
    release: redis::Script,
    /// Releases spawned and not yet finished (see [`RedisReplayGuard::flush_releases`]).
    releasing: tokio::sync::watch::Sender<usize>,
}

impl fmt::Debug for RedisReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayGuard")
            .field("server", &self.inner.client.get_connection_info().addr())
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisReplayGuard {
    /// A guard on the server at `url` (`redis://host:port/db`), with [`DEFAULT_PREFIX`] and
    /// [`DEFAULT_TIMEOUT`]. Fails only on an invalid URL; nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, ReplayError> {
        let client =
            Client::open(url).map_err(|e| ReplayError(format!("redis url {url:?}: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                connection: tokio::sync::OnceCell::new(),
                prefix: DEFAULT_PREFIX.to_owned(),
                timeout: DEFAULT_TIMEOUT,
                instance: fastrand::u64(..),
                next_claim: AtomicU64::new(0),
                claims: papaya::HashMap::new(),
                release: redis::Script::new(RELEASE_SCRIPT),
                releasing: tokio::sync::watch::Sender::new(0),
            }),
        })
    }

    /// Sets the key prefix (instances sharing replay state must use the same one).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inner_mut().prefix = prefix.into();
        self
    }

    /// Sets the bound on one Redis call, connection included.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner_mut().timeout = timeout;
        self
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configured before it is shared")
    }

    /// Waits until every claim release started so far has reached Redis (or failed). A
    /// release is a delete sent in the background, because it starts from `Drop`; await this
    /// before shutting down so released payments do not stay blocked until they expire, or in
    /// a test before presenting a released payment to another instance.
    pub async fn flush_releases(&self) {
        let mut releasing = self.inner.releasing.subscribe();
        // The sender lives in `inner`, which `self` keeps alive: this cannot fail.
        let _ = releasing.wait_for(|n| *n == 0).await;
    }
}

/// Marks one background release finished when dropped, also if its task is cancelled.
struct ReleaseDone(Arc<Inner>);

impl Drop for ReleaseDone {
    fn drop(&mut self) {
        self.0.releasing.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Inner {
    fn redis_key(&self, key: ReplayKey) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 64);
        out.push_str(&self.prefix);
        for byte in key.as_bytes() {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    async fn connection(&self) -> Result<ConnectionManager, ReplayError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let manager = self
            .connection
            .get_or_try_init(|| async {
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(|e| ReplayError(format!("redis connect: {e}")))
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs `call` on a connection within the timeout.
    async fn bounded<T, F>(
        &self,
        operation: &str,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, ReplayError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let connection = self.connection().await?;
            call(connection)
                .await
                .map_err(|e| ReplayError(format!("redis {operation}: {e}")))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| {
                ReplayError(format!(
                    "redis {operation}: no answer in {:?}",
                    self.timeout
                ))
            })?
    }

    async fn claim(&self, key: ReplayKey, expires_at: u64, now: u64) -> Result<bool, ReplayError> {
        let token = format!(
            "c:{:016x}{:x}",
            self.instance,
            self.next_claim.fetch_add(1, Ordering::Relaxed)
        );
        let ttl = expires_at.saturating_sub(now).max(1);
        let redis_key = self.redis_key(key);
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl));
        let set: Option<String> = self
            .bounded("claim", |mut c| {
                let token = token.clone();
                async move { c.set_options(&redis_key, token, options).await }
            })
            .await?;
        let claimed = set.is_some();
        if claimed {
            self.claims.pin().insert(key, Claim { token, now });
        }
        Ok(claimed)
    }

    async fn confirm(&self, key: ReplayKey, expires_at: u64) {
        let claimed_at = self.claims.pin().remove(&key).map(|c| c.now);
        let now = claimed_at.unwrap_or_else(unix_now);
        let ttl = expires_at.saturating_sub(now).max(1);
        let redis_key = self.redis_key(key);
        let confirmed: Result<(), ReplayError> = self
            .bounded("confirm", |mut c| async move {
                c.set_ex(&redis_key, "s", ttl).await
            })
            .await;
        if let Err(error) = confirmed {
            // The claim's own TTL still runs to the authorization's expiry: the payment stays
            // refused, so this is only worth a warning.
            tracing::warn!(%error, "replay guard could not mark a payment settled");
        }
    }

    async fn release(&self, redis_key: String, token: String) {
        let released: Result<i64, ReplayError> = self
            .bounded("release", |mut c| async move {
                self.release
                    .key(redis_key)
                    .arg(token)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "replay guard could not release a claim; it expires with the authorization");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ReplayGuard for RedisReplayGuard {
    fn claim(
        &self,
        key: ReplayKey,
        expires_at: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<bool, ReplayError>> {
        Box::pin(self.inner.claim(key, expires_at, now))
    }

    fn confirm(&self, key: ReplayKey, expires_at: u64) -> BoxFuture<'_, ()> {
        Box::pin(self.inner.confirm(key, expires_at))
    }

    fn release(&self, key: ReplayKey) {
        let Some(token) = self
            .inner
            .claims
            .pin()
            .remove(&key)
            .map(|c| c.token.clone())
        else {
            return;
        };
        // Called from `Drop`: spawn the delete. Without a runtime the claim simply expires
        // with the authorization (refused until then, never reusable early).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = Arc::clone(&self.inner);
            let redis_key = inner.redis_key(key);
            inner.releasing.send_modify(|n| *n += 1);
            let done = ReleaseDone(Arc::clone(&inner));
            runtime.spawn(async move {
                inner.release(redis_key, token).await;
                drop(done);
            });
        }
    }
}
