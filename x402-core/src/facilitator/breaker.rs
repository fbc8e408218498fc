//! A circuit breaker per facilitator endpoint: lock-free, one atomic word.
//!
//! Closed: calls go through; `threshold` consecutive failures open it. Open: calls are refused
//! until `cool_down` has passed, then the first caller takes the single half-open probe.
//! Half-open: every other caller is refused; the probe's success closes the breaker, its failure
//! opens it for another cool-down, and a probe abandoned (its future dropped) lets the next
//! caller probe.
//!
//! The state is packed into an `AtomicU64`: the low two bits are the state, the rest is the
//! consecutive failure count (closed) or the time it opened, in milliseconds since the breaker
//! was created (open). The healthy path is one load: a success with no failures to forget
//! writes nothing, so concurrent calls do not contend on the cache line.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The state of one facilitator's circuit breaker, for metrics and health endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cool-down has passed.
    Open,
    /// One probe call is in flight; the others are refused until it ends.
    HalfOpen,
}

impl BreakerState {
    /// A label value: `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const TAG_BITS: u32 = 2;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

const fn pack(tag: u64, payload: u64) -> u64 {
    (payload << TAG_BITS) | tag
}

const fn tag(word: u64) -> u64 {
    word & TAG_MASK
}

const fn payload(word: u64) -> u64 {
    word >> TAG_BITS
}

/// One endpoint's breaker.
pub(crate) struct Breaker {
    word: AtomicU64,
    epoch: Instant,
    threshold: u64,
    cool_down_ms: u64,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("threshold", &self.threshold)
            .field("cool_down_ms", &self.cool_down_ms)
            .finish()
    }
}

/// What [`Breaker::admit`] decided for one call.
pub(crate) enum Admission {
    /// Go ahead (closed).
    Call,
    /// Go ahead as the half-open probe.
    Probe,
    /// Skip this endpoint.
    Refused,
}

impl Breaker {
    /// A closed breaker. `threshold` is at least 1 (checked by the builder).
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            word: AtomicU64::new(pack(CLOSED, 0)),
            epoch: Instant::now(),
            threshold: u64::from(threshold.max(1)),
            cool_down_ms: u64::try_from(cool_down.as_millis()).unwrap_or(u64::MAX >> TAG_BITS),
        }
    }

    fn now_ms(&self) -> u64 {
        // Saturates after ~1.4e8 years of uptime, and stays within the 62-bit payload.
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .min(u64::MAX >> TAG_BITS)
    }

    /// The state for reporting. An open breaker whose cool-down has passed reads `Open` until a
    /// caller takes the probe.
    pub(crate) fn state(&self) -> BreakerState {
        match tag(self.word.load(Ordering::Acquire)) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// May a call go to this endpoint now? Takes the probe slot when the cool-down has passed.
    pub(crate) fn admit(&self) -> Admission {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            match tag(current) {
                CLOSED => return Admission::Call,
                OPEN => {
                    let opened_at = payload(current);
                    if self.now_ms().saturating_sub(opened_at) < self.cool_down_ms {
                        return Admission::Refused;
                    }
                    match self.word.compare_exchange_weak(
                        current,
                        pack(HALF_OPEN, 0),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Admission::Probe,
                        Err(actual) => current = actual,
                    }
                }
                _ => return Admission::Refused,
            }
        }
    }

    /// The call (or probe) reached the facilitator and got an answer.
    pub(crate) fn record_success(&self, probe: bool) {
        if probe {
            // Only the probe holder leaves half-open; nothing else writes in that state.
            let _ = self.word.compare_exchange(
                pack(HALF_OPEN, 0),
                pack(CLOSED, 0),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            return;
        }
        let mut current = self.word.load(Ordering::Acquire);
        // A success forgets earlier failures, but a call that started before the breaker opened
        // does not close it: only the probe does.
        while tag(current) == CLOSED && payload(current) != 0 {
            match self.word.compare_exchange_weak(
                current,
                pack(CLOSED, 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The call (or probe) failed in a way that says the facilitator is unhealthy. Returns
    /// whether this failure opened the breaker.
    pub(crate) fn record_failure(&self, probe: bool) -> bool {
        let opened = pack(OPEN, self.now_ms());
        if probe {
            return self
                .word
                .compare_exchange(
                    pack(HALF_OPEN, 0),
                    opened,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        }
        let mut current = self.word.load(Ordering::Acquire);
        while tag(current) == CLOSED {
            let failures = payload(current) + 1;
            let next = if failures >= self.threshold {
                opened
            } else {
                pack(CLOSED, failures)
            };
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return tag(next) == OPEN,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// The probe ended without telling us anything (dropped, or failed before sending): open
    /// again with the cool-down already over, so the next caller probes.
    pub(crate) fn abandon_probe(&self) {
        let opened_at = self.now_ms().saturating_sub(self.cool_down_ms);
        let _ = self.word.compare_exchange(
            pack(HALF_OPEN, 0),
            pack(OPEN, opened_at),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// Permission for one call through a breaker. Drop it without recording and a probe is
/// abandoned, so a cancelled probe never leaves the breaker half-open for good.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl<'a> Permit<'a> {
    /// Asks `breaker` for a permit; `None` when the endpoint is to be skipped.
    pub(crate) fn acquire(breaker: &'a Breaker) -> Option<Self> {
        let probe = match breaker.admit() {
            Admission::Call => false,
            Admission::Probe => true,
            Admission::Refused => return None,
        };
        Some(Self {
            breaker,
            probe,
            recorded: false,
        })
    }

    /// Whether this call is the half-open probe.
    pub(crate) fn is_probe(&self) -> bool {
        self.probe
    }

    /// The facilitator answered.
    pub(crate) fn success(mut self) {
        self.recorded = true;
        self.breaker.record_success(self.probe);
    }

    /// The facilitator is unhealthy. Returns whether the breaker opened (again).
    pub(crate) fn failure(mut self) -> bool {
        self.recorded = true;
        self.breaker.record_failure(self.probe)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded && self.probe {
            self.breaker.abandon_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_breaker(cool_down: Duration) -> Breaker {
        let breaker = Breaker::new(2, cool_down);
        assert!(!breaker.record_failure(false));
        assert!(breaker.record_failure(false));
        breaker
    }

    #[test]
    fn consecutive_failures_up_to_the_threshold_open_the_breaker() {
        let breaker = Breaker::new(3, Duration::from_secs(60));
        breaker.record_failure(false);
        breaker.record_failure(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(Permit::acquire(&breaker).is_none());
    }

    #[test]
    fn a_success_forgets_earlier_failures() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        breaker.record_failure(false);
        breaker.record_success(false);
        breaker.record_failure(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn after_the_cool_down_exactly_one_probe_is_admitted() {
        let breaker = open_breaker(Duration::ZERO);
        let probe = Permit::acquire(&breaker).expect("the probe");
        assert!(probe.is_probe());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(Permit::acquire(&breaker).is_none());
        probe.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let breaker = open_breaker(Duration::ZERO);
        let probe = Permit::acquire(&breaker).expect("the probe");
        assert!(probe.failure());
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_dropped_probe_lets_the_next_caller_probe() {
        let breaker = open_breaker(Duration::ZERO);
        drop(Permit::acquire(&breaker).expect("the probe"));
        assert_eq!(breaker.state(), BreakerState::Open);
        let next = Permit::acquire(&breaker).expect("a new probe");
        assert!(next.is_probe());
    }

    #[test]
    fn a_late_success_of_an_ordinary_call_does_not_close_an_open_breaker() {
        let breaker = open_breaker(Duration::from_secs(60));
        breaker.record_success(false);
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
