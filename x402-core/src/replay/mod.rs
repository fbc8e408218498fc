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
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
};

use alloy_primitives::B256;
use sha2::{Digest as _, Sha256};

use crate::BoxFuture;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisReplayGuard};

/// Identifies one payment authorization: for EIP-3009, a hash of (chain id, token, payer,
/// nonce) — the tuple the token contract itself makes unique.
///
/// The hash is SHA-256: collision-resistant, so a client choosing payer and nonce cannot make
/// its payment's key equal another's, and deterministic, so instances sharing a store
/// (`RedisReplayGuard`) agree on keys. (It was keccak-256, which costs several times more
/// without the SHA extensions most x86-64 and ARMv8 servers have.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(B256);

impl ReplayKey {
    /// A key from arbitrary identifying bytes (hashed with SHA-256).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(B256::from(<[u8; 32]>::from(Sha256::digest(bytes))))
    }

    /// A key from its 32 bytes as stored (not hashed again).
    pub const fn from_raw(bytes: [u8; 32]) -> Self {
        Self(B256::new(bytes))
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0.0
    }
}

/// The replay store could not answer (a shared store that is down). The adapters fail closed:
/// 503, never a silent pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("replay guard unavailable: {0}")]
pub struct ReplayError(pub String);

impl ReplayError {
    /// The store could not answer; `detail` says which store and what failed.
    pub fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

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

impl Entry {
    /// Whether this entry still refuses its key at `now`: a claim in flight always does (it ends
    /// with a release or a confirm), a settled payment until its authorization expires.
    fn refuses(&self, now: u64) -> bool {
        self.state == State::InFlight || self.expires_at > now
    }
}

/// Sweep expired entries at most once per this many claims, and never more often than once per
/// `len()` claims, so that a sweep costs at most about one visited entry per claim.
const SWEEP_EVERY: usize = 1024;

/// A process-local [`ReplayGuard`] on a lock-free concurrent map ([`papaya::HashMap`]).
///
/// A claim is one atomic compare-and-swap on the key's entry (refuse, or insert "in flight"),
/// a release removes the entry only while it is still in flight, a confirm replaces it with
/// "settled". No operation takes a lock or waits for another request: concurrent claims of one
/// key are decided by the map's compare-and-swap, exactly one wins. (The map takes an internal
/// lock only to allocate a bigger table while it grows, a handful of times over its life.)
///
/// Expired settled entries are swept by the claim that crosses the sweep threshold (every
/// 1024 claims, or every `len()` claims when more entries are remembered): the sweep visits the
/// map without holding anything exclusive, while other requests go on claiming and releasing.
pub struct InMemoryReplayGuard {
    map: papaya::HashMap<ReplayKey, Entry>,
    since_sweep: AtomicUsize,
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
            map: papaya::HashMap::new(),
            since_sweep: AtomicUsize::new(0),
        }
    }

    /// The number of remembered authorizations (in flight or settled).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn claim_now(&self, key: ReplayKey, expires_at: u64, now: u64) -> bool {
        let map = self.map.pin();
        let since = self.since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        // Only the claim whose compare-and-swap resets the count sweeps; the others go on.
        if since >= SWEEP_EVERY
            && since >= map.len()
            && self
                .since_sweep
                .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // Removes each expired entry by compare-and-swap on that very entry: one claimed or
            // confirmed meanwhile is left alone.
            map.retain(|_, entry| entry.refuses(now));
        }
        let claimed = map.compute(key, |current| match current {
            Some((_, entry)) if entry.refuses(now) => papaya::Operation::Abort(()),
            _ => papaya::Operation::Insert(Entry {
                state: State::InFlight,
                expires_at,
            }),
        });
        !matches!(claimed, papaya::Compute::Aborted(()))
    }
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
        self.map.pin().insert(
            key,
            Entry {
                state: State::Settled,
                expires_at,
            },
        );
        Box::pin(std::future::ready(()))
    }

    fn release(&self, key: ReplayKey) {
        // Only an entry still in flight: a settled payment stays refused.
        let _ = self
            .map
            .pin()
            .remove_if(&key, |_, entry| entry.state == State::InFlight);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    fn claim(guard: &InMemoryReplayGuard, key: ReplayKey, expires_at: u64, now: u64) -> bool {
        guard.claim_now(key, expires_at, now)
    }

    #[test]
    fn concurrent_claims_of_one_key_have_one_winner() {
        let guard = Arc::new(InMemoryReplayGuard::new());
        let key = ReplayKey::from_bytes(b"one payment");
        let barrier = Arc::new(Barrier::new(8));
        let winners: usize = (0..8)
            .map(|_| {
                let (guard, barrier) = (Arc::clone(&guard), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..100)
                        .filter(|_| claim(&guard, key, 2_000, 1_000))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("claiming thread"))
            .sum();
        assert_eq!(winners, 1);
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn release_frees_only_a_claim_in_flight() {
        let guard = InMemoryReplayGuard::new();
        let key = ReplayKey::from_bytes(b"settled");
        assert!(claim(&guard, key, 2_000, 1_000));
        drop(guard.confirm(key, 2_000));
        guard.release(key);
        assert!(!claim(&guard, key, 2_000, 1_000), "settled stays refused");
    }

    #[test]
    fn sweep_forgets_expired_payments_and_keeps_claims_in_flight() {
        let guard = InMemoryReplayGuard::new();
        let settled = ReplayKey::from_bytes(b"settled, expires at 10");
        let in_flight = ReplayKey::from_bytes(b"in flight, expires at 10");
        assert!(claim(&guard, settled, 10, 1));
        drop(guard.confirm(settled, 10));
        assert!(claim(&guard, in_flight, 10, 1));
        // Enough claims of other keys, long after both expired, to cross the sweep threshold.
        for n in 0..SWEEP_EVERY as u64 {
            assert!(claim(
                &guard,
                ReplayKey::from_bytes(&n.to_be_bytes()),
                5_000,
                100
            ));
        }
        let map = guard.map.pin();
        assert!(map.get(&settled).is_none(), "expired settled entry swept");
        assert!(
            map.get(&in_flight).is_some(),
            "a claim in flight is never swept"
        );
    }
}
