//! The `/supported` cache: a TTL, one fetch at a time, stale answers while unreachable.
//!
//! - Fresh (younger than the TTL): served from memory, a shared `Arc`.
//! - Otherwise one caller fetches; callers arriving meanwhile wait for that fetch and share its
//!   outcome, except that when a stale answer is at hand they take it at once rather than wait
//!   (stale-while-revalidate).
//! - A definitive answer (a 2xx with the expected JSON) always replaces the cached one.
//! - When the facilitator is unreachable (unavailable, timed out, every breaker open) the stale
//!   answer is served until it is `max_stale` old; then the error.
//! - Any other error (a malformed answer, a 4xx) is returned as is.
//!
//! The state sits behind a `std` mutex held only to copy an `Arc` or a counter, never across an
//! await; the single flight is an async mutex held by the fetching caller. A fetch whose caller
//! is dropped releases it, and the next waiter fetches.

use std::{
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::FacilitatorError;
use crate::wire::SupportedResponse;

#[derive(Debug)]
pub(crate) struct SupportedCache {
    ttl: Duration,
    max_stale: Duration,
    state: Mutex<State>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<(Arc<SupportedResponse>, Instant)>,
    /// Bumped by every completed fetch, so a waiter can tell a fetch finished while it waited.
    generation: u64,
    /// The error of the last completed fetch, if it failed.
    last_error: Option<Arc<FacilitatorError>>,
}

impl State {
    fn fresh(&self, now: Instant, ttl: Duration) -> Option<Arc<SupportedResponse>> {
        self.cached
            .as_ref()
            .filter(|(_, fetched)| now.saturating_duration_since(*fetched) < ttl)
            .map(|(value, _)| Arc::clone(value))
    }

    fn usable(&self, now: Instant, max_stale: Duration) -> Option<Arc<SupportedResponse>> {
        self.cached
            .as_ref()
            .filter(|(_, fetched)| now.saturating_duration_since(*fetched) <= max_stale)
            .map(|(value, _)| Arc::clone(value))
    }

    /// What the last completed fetch means for a caller now.
    fn outcome(
        &self,
        now: Instant,
        max_stale: Duration,
    ) -> Result<Arc<SupportedResponse>, FacilitatorError> {
        match &self.last_error {
            // The last fetch succeeded: its answer is definitive, whatever its age by now.
            None => self
                .cached
                .as_ref()
                .map(|(value, _)| Arc::clone(value))
                .ok_or(FacilitatorError::AllCircuitsOpen),
            Some(error) if is_unreachable(error) => {
                self.usable(now, max_stale).ok_or_else(|| duplicate(error))
            }
            Some(error) => Err(duplicate(error)),
        }
    }
}

/// Errors that say "no answer", as opposed to a wrong answer.
fn is_unreachable(error: &FacilitatorError) -> bool {
    matches!(
        error,
        FacilitatorError::Unavailable { .. }
            | FacilitatorError::Timeout { .. }
            | FacilitatorError::AllCircuitsOpen
    )
}

/// A copy of an error for each caller that shared a failed fetch (the error type is not
/// `Clone` on purpose: adapters own theirs).
pub(crate) fn duplicate(error: &FacilitatorError) -> FacilitatorError {
    match error {
        FacilitatorError::Unavailable {
            facilitator,
            operation,
            detail,
        } => FacilitatorError::Unavailable {
            facilitator: Arc::clone(facilitator),
            operation: *operation,
            detail: detail.clone(),
        },
        FacilitatorError::Timeout {
            facilitator,
            operation,
            after,
        } => FacilitatorError::Timeout {
            facilitator: Arc::clone(facilitator),
            operation: *operation,
            after: *after,
        },
        FacilitatorError::Malformed {
            facilitator,
            operation,
            detail,
        } => FacilitatorError::Malformed {
            facilitator: Arc::clone(facilitator),
            operation: *operation,
            detail: detail.clone(),
        },
        FacilitatorError::SettleUnknown {
            facilitator,
            transaction,
            detail,
        } => FacilitatorError::SettleUnknown {
            facilitator: Arc::clone(facilitator),
            transaction: transaction.clone(),
            detail: detail.clone(),
        },
        FacilitatorError::AllCircuitsOpen => FacilitatorError::AllCircuitsOpen,
    }
}

impl SupportedCache {
    pub(crate) fn new(ttl: Duration, max_stale: Duration) -> Self {
        Self {
            ttl,
            max_stale,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is always consistent between statements, so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached answer, or the outcome of one shared `fetch`.
    pub(crate) async fn get<F, Fut>(
        &self,
        fetch: F,
    ) -> Result<Arc<SupportedResponse>, FacilitatorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SupportedResponse, FacilitatorError>>,
    {
        let seen = {
            let state = self.state();
            if let Some(fresh) = state.fresh(Instant::now(), self.ttl) {
                return Ok(fresh);
            }
            state.generation
        };
        let _flight = match self.fetching.try_lock() {
            Ok(flight) => flight,
            Err(_) => {
                if let Some(stale) = self.state().usable(Instant::now(), self.max_stale) {
                    return Ok(stale);
                }
                self.fetching.lock().await
            }
        };
        {
            let state = self.state();
            if state.generation != seen {
                // A fetch completed while we waited: share its outcome.
                return state.outcome(Instant::now(), self.max_stale);
            }
        }
        let result = fetch().await;
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        match result {
            Ok(answer) => {
                let answer = Arc::new(answer);
                state.cached = Some((Arc::clone(&answer), Instant::now()));
                state.last_error = None;
                Ok(answer)
            }
            Err(error) => {
                state.last_error = Some(Arc::new(error));
                state.outcome(Instant::now(), self.max_stale)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::labels::FacilitatorOperation;

    fn answer(network: &str) -> SupportedResponse {
        serde_json::from_str(&format!(
            r#"{{"kinds":[{{"x402Version":2,"scheme":"exact","network":"{network}"}}]}}"#
        ))
        .unwrap()
    }

    fn unavailable() -> FacilitatorError {
        FacilitatorError::Unavailable {
            facilitator: "http://f".into(),
            operation: FacilitatorOperation::Supported,
            detail: "down".into(),
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_fresh_answer_is_served_without_fetching() {
        let cache = SupportedCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        block_on(async {
            for _ in 0..3 {
                let got = cache
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        Ok(answer("eip155:84532"))
                    })
                    .await
                    .unwrap();
                assert_eq!(got.kinds[0].network, "eip155:84532");
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stale_answer_older_than_max_stale_is_not_served() {
        let cache = SupportedCache::new(Duration::ZERO, Duration::ZERO);
        block_on(async {
            cache.get(|| async { Ok(answer("a:1")) }).await.unwrap();
            std::thread::sleep(Duration::from_millis(5));
            let error = cache
                .get(|| async { Err(unavailable()) })
                .await
                .unwrap_err();
            assert!(matches!(error, FacilitatorError::Unavailable { .. }));
        });
    }

    #[test]
    fn a_malformed_answer_is_returned_even_with_a_stale_one_at_hand() {
        let cache = SupportedCache::new(Duration::ZERO, Duration::from_secs(60));
        block_on(async {
            cache.get(|| async { Ok(answer("a:1")) }).await.unwrap();
            let error = cache
                .get(|| async {
                    Err(FacilitatorError::Malformed {
                        facilitator: "http://f".into(),
                        operation: FacilitatorOperation::Supported,
                        detail: "status 401".into(),
                    })
                })
                .await
                .unwrap_err();
            assert!(matches!(error, FacilitatorError::Malformed { .. }));
        });
    }
}
