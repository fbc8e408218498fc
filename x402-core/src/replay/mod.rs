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

/// The in-memory guard's map is split into this many shards (a power of two), so that one
/// sweep visits one shard: a bounded slice of the entries, never the whole map at once.
const SHARDS: usize = 128;

/// A shard is swept at most once per this many claims (more often only while few entries are
/// remembered: see [`InMemoryReplayGuard`]).
const MIN_SWEEP_EVERY: usize = 128;

/// A process-local [`ReplayGuard`] on lock-free concurrent maps ([`papaya::HashMap`]).
///
/// A claim is one atomic compare-and-swap on the key's entry (refuse, or insert "in flight"),
/// a release removes the entry only while it is still in flight, a confirm replaces it with
/// "settled". No operation takes a lock or waits for another request: concurrent claims of one
/// key are decided by the map's compare-and-swap, exactly one wins. (A map takes an internal
/// lock only to allocate a bigger table while it grows, and then copies incrementally.)
///
/// Expired settled entries are swept a shard at a time: the entries are spread over 128 maps
/// by their key, and every `max(128, remembered / 128)` claims the claim that crosses that
/// count sweeps the next shard in turn, without holding anything exclusive. So a sweep visits
/// about 1/128 of the entries (about 8 000 at a million remembered), the visits cost at most
/// about one entry per claim, and every expired entry is forgotten within one round of the
/// shards (about as many claims as there are entries), so memory follows the payments still
/// valid, whatever the traffic.
pub struct InMemoryReplayGuard {
    shards: Box<[papaya::HashMap<ReplayKey, Entry>]>,
    /// Claims since the last sweep.
    since_sweep: AtomicUsize,
    /// Claims between two sweeps, set by each sweep from the entries then remembered.
    sweep_every: AtomicUsize,
    /// The shard the next sweep visits (taken modulo [`SHARDS`]).
    next_shard: AtomicUsize,
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
            shards: (0..SHARDS).map(|_| papaya::HashMap::new()).collect(),
            since_sweep: AtomicUsize::new(0),
            sweep_every: AtomicUsize::new(MIN_SWEEP_EVERY),
            next_shard: AtomicUsize::new(0),
        }
    }

    /// The number of remembered authorizations (in flight or settled).
    pub fn len(&self) -> usize {
        self.shards.iter().map(papaya::HashMap::len).sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(papaya::HashMap::is_empty)
    }

    /// The shard holding `key` (its SHA-256 bytes are uniform).
    fn shard(&self, key: &ReplayKey) -> &papaya::HashMap<ReplayKey, Entry> {
        &self.shards[usize::from(key.0.0[0]) % SHARDS]
    }

    /// Forgets the expired settled entries of the next shard in turn, and sets the claims until
    /// the next sweep from what is remembered now.
    fn sweep_next_shard(&self, now: u64) {
        let shard = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        // Removes each expired entry by compare-and-swap on that very entry: one claimed or
        // confirmed meanwhile is left alone.
        self.shards[shard]
            .pin()
            .retain(|_, entry| entry.refuses(now));
        let every = (self.len() / SHARDS).max(MIN_SWEEP_EVERY);
        self.sweep_every.store(every, Ordering::Relaxed);
    }

    fn claim_now(&self, key: ReplayKey, expires_at: u64, now: u64) -> bool {
        let since = self.since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        // Only the claim whose compare-and-swap resets the count sweeps; the others go on.
        if since >= self.sweep_every.load(Ordering::Relaxed)
            && self
                .since_sweep
                .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_next_shard(now);
        }
        let shard = self.shard(&key).pin();
        let claimed = shard.compute(key, |current| match current {
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
        self.shard(&key).pin().insert(
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
            .shard(&key)
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

    /// Claims and settles `count` fresh keys (`first..first + count`), each valid for
    /// `lifetime` seconds, one second of clock per `per_second` claims from `start`.
    fn settle_many(
        guard: &InMemoryReplayGuard,
        keys: std::ops::Range<u64>,
        start: u64,
        per_second: u64,
        lifetime: u64,
    ) -> u64 {
        let mut now = start;
        for n in keys.clone() {
            now = start + (n - keys.start) / per_second;
            let key = ReplayKey::from_bytes(&n.to_be_bytes());
            assert!(claim(guard, key, now + lifetime, now));
            drop(guard.confirm(key, now + lifetime));
        }
        now
    }

    #[test]
    fn sweep_forgets_expired_payments_and_keeps_claims_in_flight() {
        let guard = InMemoryReplayGuard::new();
        let settled = ReplayKey::from_bytes(b"settled, expires at 10");
        let in_flight = ReplayKey::from_bytes(b"in flight, expires at 10");
        assert!(claim(&guard, settled, 10, 1));
        drop(guard.confirm(settled, 10));
        assert!(claim(&guard, in_flight, 10, 1));
        // Long after both expired: payments that each expire after a second, enough claims for
        // every shard to be swept twice.
        let rounds = (2 * SHARDS * MIN_SWEEP_EVERY) as u64;
        settle_many(&guard, 0..rounds, 100, 100, 1);
        assert!(
            guard.shard(&settled).pin().get(&settled).is_none(),
            "expired settled entry swept"
        );
        assert!(
            guard.shard(&in_flight).pin().get(&in_flight).is_some(),
            "a claim in flight is never swept"
        );
    }

    #[test]
    fn memory_follows_the_payments_still_valid() {
        // Steady traffic: 1 000 payments a second, each valid for 60 s, so about 60 000 are
        // valid at any time. Whatever was remembered before, the guard must not keep growing
        // (it once stopped sweeping as soon as a sweep left entries behind).
        let guard = InMemoryReplayGuard::new();
        let now = settle_many(&guard, 0..600_000, 1_000, 1_000, 60);
        let valid = 60_000;
        let remembered = guard.len();
        assert!(
            remembered >= valid,
            "{remembered} remembered, fewer than the {valid} still valid"
        );
        assert!(
            remembered <= 2 * valid + SHARDS * MIN_SWEEP_EVERY,
            "{remembered} remembered after 600 000 payments with {valid} valid at {now}: expired ones are not swept"
        );
    }
}
