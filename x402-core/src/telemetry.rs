//! Metric recording through the `metrics` facade, in one place so every adapter emits the same
//! series (names and labels documented in [`crate::labels`]).
//!
//! `counter!(name, "route" => …, …)` with runtime label values builds a `Key` — a `Vec` of
//! labels, hashed — on every call, even with no recorder installed. Here each `(route, chain)`
//! label set keeps its keys ([`RouteSeries`], stored with the route table): a key is built the
//! first time its series is recorded, and later requests only hand the stored key to the
//! recorder. The recorder itself is still looked up on every call, exactly as the macros do, so
//! a recorder installed late or set locally (`metrics::with_local_recorder`) sees every series.
//!
//! When a table goes live ([`register`], from [`RouteTableHandle`](crate::gate::RouteTableHandle) and
//! the gate builder) every counter the recording rules read is registered at 0, building its
//! key then rather than on the first request: Prometheus sees a series *before* its first
//! increment, so `increase()` counts a route's first payment (a series born at 1 has no
//! earlier sample to increase from). The last-payment gauge is not registered: "no payment yet"
//! stays an absent series, not a payment at 1970.

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::U256;
use metrics::{Key, Label, Level, Metadata};

use crate::labels::{Outcome, Reason, RouteLabels, keys, names};

/// What the `counter!`/`gauge!` macros would pass from this module.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The labels of one payment option (or free route) and its metric keys, built on first use.
#[derive(Debug, Clone)]
pub(crate) struct RouteSeries {
    labels: RouteLabels,
    requests: LazyKeys<{ Outcome::ALL.len() }>,
    rejections: LazyKeys<{ Reason::ALL.len() }>,
    /// Settled count, settled amount, last success time.
    settled: LazyKeys<3>,
}

impl RouteSeries {
    pub(crate) fn new(labels: RouteLabels) -> Self {
        Self {
            labels,
            requests: LazyKeys::default(),
            rejections: LazyKeys::default(),
            settled: LazyKeys::default(),
        }
    }

    pub(crate) fn labels(&self) -> &RouteLabels {
        &self.labels
    }

    fn key(&self, name: &'static str, extra: Option<(&'static str, &'static str)>) -> Key {
        let mut labels = Vec::with_capacity(3);
        labels.push(Label::new(keys::ROUTE, self.labels.route().clone()));
        labels.push(Label::new(keys::CHAIN, self.labels.chain().clone()));
        if let Some((key, value)) = extra {
            labels.push(Label::new(key, value));
        }
        Key::from_parts(name, labels)
    }
}

/// `N` keys of one label set, each built the first time it is used. The array itself is
/// allocated on first use too, so a route that is never requested costs one pointer per group.
#[derive(Debug, Clone)]
struct LazyKeys<const N: usize>(OnceLock<Box<[OnceLock<Key>; N]>>);

impl<const N: usize> Default for LazyKeys<N> {
    fn default() -> Self {
        Self(OnceLock::new())
    }
}

impl<const N: usize> LazyKeys<N> {
    fn get(&self, index: usize, make: impl FnOnce() -> Key) -> &Key {
        self.0
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())))[index]
            .get_or_init(make)
    }
}

/// Registers the counters of one label set at 0: every [`Outcome`] of `x402_requests_total`,
/// and for a priced option also `x402_payments_settled_total` and `x402_amount_settled_total`.
/// Rejections by reason (fifteen per option, read by no rule) still appear on first use.
pub(crate) fn register(series: &RouteSeries, priced: bool) {
    metrics::with_recorder(|recorder| {
        for outcome in Outcome::ALL {
            if !priced && !matches!(outcome, Outcome::Free | Outcome::BadRequest) {
                continue;
            }
            let key = series.requests.get(*outcome as usize, || {
                series.key(
                    names::REQUESTS_TOTAL,
                    Some((keys::OUTCOME, outcome.as_str())),
                )
            });
            recorder.register_counter(key, &METADATA).increment(0);
        }
        if priced {
            let count = series
                .settled
                .get(0, || series.key(names::PAYMENTS_SETTLED_TOTAL, None));
            recorder.register_counter(count, &METADATA).increment(0);
            let total = series
                .settled
                .get(1, || series.key(names::AMOUNT_SETTLED_TOTAL, None));
            recorder.register_counter(total, &METADATA).increment(0);
        }
    });
}

fn increment(key: &Key, by: u64) {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(by);
}

/// Counts a matched request by outcome.
pub(crate) fn request(series: &RouteSeries, outcome: Outcome) {
    let key = series.requests.get(outcome as usize, || {
        series.key(
            names::REQUESTS_TOTAL,
            Some((keys::OUTCOME, outcome.as_str())),
        )
    });
    increment(key, 1);
}

/// Counts a refused payment by reason.
pub(crate) fn rejection(series: &RouteSeries, reason: Reason) {
    let key = series.rejections.get(reason as usize, || {
        series.key(
            names::PAYMENT_REJECTIONS_TOTAL,
            Some((keys::REASON, reason.as_str())),
        )
    });
    increment(key, 1);
}

/// Records a successful settlement: count, amount, last-success time.
pub(crate) fn settled(series: &RouteSeries, amount: U256) {
    let count = series
        .settled
        .get(0, || series.key(names::PAYMENTS_SETTLED_TOTAL, None));
    increment(count, 1);
    let total = series
        .settled
        .get(1, || series.key(names::AMOUNT_SETTLED_TOTAL, None));
    increment(total, u64::try_from(amount).unwrap_or(u64::MAX));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let last = series.settled.get(2, || {
        series.key(names::LAST_PAYMENT_SUCCESS_TIMESTAMP_SECONDS, None)
    });
    metrics::with_recorder(|recorder| recorder.register_gauge(last, &METADATA)).set(now);
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, KeyName, Recorder, SharedString, Unit,
    };

    use super::*;

    /// Records every registration: the key, the metadata, and the running counter values.
    #[derive(Debug, Default)]
    struct Seen(std::sync::Mutex<Vec<(Key, String, Arc<AtomicU64>)>>);

    impl CounterFn for Slot {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    impl GaugeFn for Slot {
        fn increment(&self, _: f64) {}
        fn decrement(&self, _: f64) {}
        fn set(&self, value: f64) {
            self.0.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    #[derive(Debug)]
    struct Slot(Arc<AtomicU64>);

    impl Seen {
        fn slot(&self, key: &Key, metadata: &Metadata<'_>) -> Arc<Slot> {
            let mut seen = self.0.lock().unwrap();
            let origin = format!(
                "{} {:?} {:?}",
                metadata.target(),
                metadata.level(),
                metadata.module_path()
            );
            let value = match seen.iter().find(|(k, o, _)| k == key && *o == origin) {
                Some((_, _, value)) => value.clone(),
                None => {
                    let value = Arc::new(AtomicU64::new(0));
                    seen.push((key.clone(), origin, value.clone()));
                    value
                }
            };
            Arc::new(Slot(value))
        }

        fn value(&self, key: &Key) -> Option<u64> {
            let seen = self.0.lock().unwrap();
            seen.iter()
                .find(|(k, ..)| k == key)
                .map(|(.., v)| v.load(Ordering::Relaxed))
        }
    }

    impl Recorder for Seen {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.slot(key, metadata))
        }
        fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.slot(key, metadata))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    fn labels() -> RouteLabels {
        RouteLabels::new("weather", "eip155:84532")
    }

    /// The series the `counter!`/`gauge!` macros record, for comparison.
    fn with_macros(outcome: Outcome, reason: Reason, amount: u64) {
        let labels = labels();
        metrics::counter!(
            names::REQUESTS_TOTAL,
            keys::ROUTE => labels.route().clone(),
            keys::CHAIN => labels.chain().clone(),
            keys::OUTCOME => outcome.as_str(),
        )
        .increment(1);
        metrics::counter!(
            names::PAYMENT_REJECTIONS_TOTAL,
            keys::ROUTE => labels.route().clone(),
            keys::CHAIN => labels.chain().clone(),
            keys::REASON => reason.as_str(),
        )
        .increment(1);
        metrics::counter!(names::PAYMENTS_SETTLED_TOTAL, keys::ROUTE => labels.route().clone(), keys::CHAIN => labels.chain().clone())
            .increment(1);
        metrics::counter!(names::AMOUNT_SETTLED_TOTAL, keys::ROUTE => labels.route().clone(), keys::CHAIN => labels.chain().clone())
            .increment(amount);
        metrics::gauge!(names::LAST_PAYMENT_SUCCESS_TIMESTAMP_SECONDS, keys::ROUTE => labels.route().clone(), keys::CHAIN => labels.chain().clone())
            .set(1.0);
    }

    fn registrations(seen: &Seen) -> Vec<(Key, String)> {
        let mut all: Vec<_> = seen
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, o, _)| (k.clone(), o.clone()))
            .collect();
        all.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        all
    }

    #[test]
    fn stored_keys_are_the_series_the_macros_record() {
        let series = RouteSeries::new(labels());
        for (outcome, reason) in Outcome::ALL.iter().zip(Reason::ALL.iter().cycle()) {
            let ours = Seen::default();
            metrics::with_local_recorder(&ours, || {
                request(&series, *outcome);
                rejection(&series, *reason);
                settled(&series, U256::from(1000));
            });
            let theirs = Seen::default();
            metrics::with_local_recorder(&theirs, || with_macros(*outcome, *reason, 1000));
            let keys = |seen| {
                registrations(seen)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&ours), keys(&theirs), "{outcome}");
            // What the macros called from this module (not from its tests) would pass.
            for (key, origin) in registrations(&ours) {
                assert_eq!(
                    origin, r#"x402_core::telemetry Level(Info) Some("x402_core::telemetry")"#,
                    "{key:?}"
                );
            }
        }
    }

    #[test]
    fn stored_keys_follow_the_recorder_of_each_call() {
        let series = RouteSeries::new(labels());
        let first = Seen::default();
        let second = Seen::default();
        metrics::with_local_recorder(&first, || request(&series, Outcome::Paid));
        metrics::with_local_recorder(&second, || {
            request(&series, Outcome::Paid);
            request(&series, Outcome::Paid);
        });
        let key = series.key(names::REQUESTS_TOTAL, Some((keys::OUTCOME, "paid")));
        assert_eq!(first.value(&key), Some(1));
        assert_eq!(second.value(&key), Some(2));
    }

    #[test]
    fn settled_amount_saturates_at_u64_max() {
        let series = RouteSeries::new(labels());
        let seen = Seen::default();
        metrics::with_local_recorder(&seen, || settled(&series, U256::MAX));
        let key = series.key(names::AMOUNT_SETTLED_TOTAL, None);
        assert_eq!(seen.value(&key), Some(u64::MAX));
    }
}
