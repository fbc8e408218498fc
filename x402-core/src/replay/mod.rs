//! The replay guard: one payment authorization serves one request.
//!
//! While a payment is being verified or settled, and after it settled until its authorization
//! expires, the same authorization is refused without calling the facilitator. The chain is the
//! final authority (an EIP-3009 nonce can be used once), but before settlement the same signed
//! authorization verifies any number of times — without this guard, concurrent requests
//! carrying one payment would all be served.
//!
//! [`ReplayGuard`] is a trait so several instances behind a load balancer can share a store;
//! [`InMemoryReplayGuard`] serves a single process; `RedisReplayGuard` (feature `redis`) is
//! shared by every instance pointed at the same Redis server.
//!
//! ```
//! use x402_core::replay::{InMemoryReplayGuard, ReplayGuard, ReplayKey};
//!
//! # futures_lite_block_on(async {
//! let guard = InMemoryReplayGuard::new();
//! let key = ReplayKey::from_bytes(b"chain|asset|from|nonce");
//! assert!(guard.claim(key, 2_000, 1_000).await.unwrap());   // first use: claimed
//! assert!(!guard.claim(key, 2_000, 1_000).await.unwrap());  // in flight: refused
//! guard.release(key);                                       // e.g. the handler failed
//! assert!(guard.claim(key, 2_000, 1_000).await.unwrap());   // usable again
//! guard.confirm(key, 2_000).await;                          // settled: kept until 2 000
//! assert!(!guard.claim(key, 2_000, 1_500).await.unwrap());
//! assert!(guard.claim(key, 3_000, 2_001).await.unwrap());   // expired authorization forgotten
//! # });
//! # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     use std::task::{Context, Poll, Waker};
//! #     let mut f = std::pin::pin!(f);
//! #     match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
//! #         Poll::Ready(v) => v,
//! #         Poll::Pending => unreachable!("in-memory guard never waits"),
//! #     }
//! # }
//! ```

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use alloy_primitives::{B256, keccak256};

use crate::facilitator::BoxFuture;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisReplayGuard};

/// Identifies one payment authorization: for EIP-3009, a hash of (chain id, token, payer,
/// nonce) — the tuple the token contract itself makes unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(B256);

impl ReplayKey {
    /// A key from arbitrary identifying bytes (hashed).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(keccak256(bytes))
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0.0
    }
}

/// The replay store could not answer (a shared store that is down). The adapters fail closed:
/// 503, never a silent pass.
#[derive(Debug, thiserror::Error)]
#[error("replay guard unavailable: {0}")]
pub struct ReplayError(pub String);

/// Tracks payment authorizations in flight and settled.
pub trait ReplayGuard: fmt::Debug + Send + Sync + 'static {
    /// Claims `key` for a payment being processed. `Ok(false)` when the key is in flight or
    /// settled and not yet expired at `now`. `expires_at` (unix seconds) bounds how long a
    /// claim may be remembered.
    fn claim(
        &self,
        key: ReplayKey,
        expires_at: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<bool, ReplayError>>;

    /// Marks `key` settled: refused until `expires_at` (the authorization's `validBefore`).
    fn confirm(&self, key: ReplayKey, expires_at: u64) -> BoxFuture<'_, ()>;

    /// Forgets an in-flight claim that did not settle (invalid payment, handler failure, client
    /// gone). Fire-and-forget: called from `Drop`, so it must not wait.
    fn release(&self, key: ReplayKey);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight,
    Settled,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    expires_at: u64,
}

const SHARDS: usize = 16;
const SWEEP_EVERY: u32 = 1024;

/// A process-local [`ReplayGuard`]: sharded maps, each behind a mutex held for a map
/// operation only (never across an await). Expired entries are swept as claims arrive.
pub struct InMemoryReplayGuard {
    shards: [Mutex<HashMap<ReplayKey, Entry>>; SHARDS],
    claims: AtomicU32,
}

impl fmt::Debug for InMemoryReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryReplayGuard")
            .field("entries", &self.len())
            .finish()
    }
}

impl Default for InMemoryReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            claims: AtomicU32::new(0),
        }
    }

    /// The number of remembered authorizations (in flight or settled).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &ReplayKey) -> &Mutex<HashMap<ReplayKey, Entry>> {
        &self.shards[usize::from(key.0.0[0]) % SHARDS]
    }

    fn claim_now(&self, key: ReplayKey, expires_at: u64, now: u64) -> bool {
        let sweep = self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY);
        let mut shard = lock(self.shard(&key));
        if sweep {
            shard.retain(|_, e| e.state == State::InFlight || e.expires_at > now);
        }
        match shard.get(&key) {
            Some(e) if e.state == State::InFlight || e.expires_at > now => false,
            _ => {
                shard.insert(
                    key,
                    Entry {
                        state: State::InFlight,
                        expires_at,
                    },
                );
                true
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map entry half-written; keep serving.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ReplayGuard for InMemoryReplayGuard {
    fn claim(
        &self,
        key: ReplayKey,
        expires_at: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<bool, ReplayError>> {
        let claimed = self.claim_now(key, expires_at, now);
        Box::pin(std::future::ready(Ok(claimed)))
    }

    fn confirm(&self, key: ReplayKey, expires_at: u64) -> BoxFuture<'_, ()> {
        lock(self.shard(&key)).insert(
            key,
            Entry {
                state: State::Settled,
                expires_at,
            },
        );
        Box::pin(std::future::ready(()))
    }

    fn release(&self, key: ReplayKey) {
        let mut shard = lock(self.shard(&key));
        if shard.get(&key).is_some_and(|e| e.state == State::InFlight) {
            shard.remove(&key);
        }
    }
}
