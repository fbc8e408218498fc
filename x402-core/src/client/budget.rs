//! Spending caps per asset: a total (`maxTotal`) and a per-UTC-day cap (`maxSpendPerDay`), in
//! atomic units, safe under concurrent buyers.
//!
//! A payment reserves its amount before anything is signed ([`Budget::reserve`]); the
//! [`Reservation`] is then either [`released`](Reservation::release) — the payment certainly
//! did not happen (refused before settlement, settlement failed) — or kept: settled, or of
//! unknown fate (a dropped request, a timeout, a 5xx after sending the payment). Dropping a
//! reservation keeps it: an unknown settlement stays counted, so a cap is never overspent.
//!
//! The ledger is behind a `std::sync::Mutex`, held for a few additions per payment and never
//! across an await: a reservation must check and add under one lock so two concurrent payments
//! cannot both fit in the last remaining amount.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use alloy_primitives::U256;

use super::AssetKey;

const SECS_PER_DAY: u64 = 86_400;

/// The caps of one asset. `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
// Exhaustive on purpose: built as `Limits { max_total, .. }`; both caps are the whole of it.
pub struct Limits {
    /// `maxTotal`: the most this budget ever spends.
    pub max_total: Option<U256>,
    /// `maxSpendPerDay`: the most it spends per UTC day.
    pub max_per_day: Option<U256>,
}

/// A cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cap {
    /// The most per request (checked by the policy, see
    /// [`PaymentPolicy::max_per_request`](super::PaymentPolicy::max_per_request)).
    MaxPerRequest,
    /// The most in total.
    MaxTotal,
    /// The most per UTC day.
    MaxSpendPerDay,
}

impl Cap {
    /// The cap's configuration name: `maxPerRequest`, `maxTotal` or `maxSpendPerDay`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MaxPerRequest => "maxPerRequest",
            Self::MaxTotal => "maxTotal",
            Self::MaxSpendPerDay => "maxSpendPerDay",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment would go over a cap; nothing was reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error(
    "paying {amount} would exceed the {cap} cap of {limit} atomic units of {asset} \
     ({used} already spent or in flight)"
)]
pub struct CapError {
    /// The cap that refused.
    pub cap: Cap,
    /// The asset.
    pub asset: AssetKey,
    /// The cap's value.
    pub limit: U256,
    /// What is spent or in flight under that cap.
    pub used: U256,
    /// The price asked.
    pub amount: U256,
}

/// Spending caps per asset, shared by every clone (and every layer given a clone).
///
/// ```
/// use alloy_primitives::{Address, U256};
/// use x402_core::client::{AssetKey, Budget, Cap, Limits};
///
/// let usdc = AssetKey { chain_id: 84532, asset: Address::ZERO };
/// let budget = Budget::new([(usdc, Limits {
///     max_total: Some(U256::from(2_500)),
///     max_per_day: None,
/// })]);
/// let now = 1_795_346_121;
/// let first = budget.reserve(usdc, U256::from(1_000), now).unwrap();
/// let second = budget.reserve(usdc, U256::from(1_000), now).unwrap();
/// second.release(); // that payment was refused: its amount is free again
/// first.keep(); // settled
/// let _third = budget.reserve(usdc, U256::from(1_000), now).unwrap();
/// let error = budget.reserve(usdc, U256::from(1_000), now).unwrap_err();
/// assert_eq!(error.cap, Cap::MaxTotal);
/// assert_eq!(budget.remaining(usdc, now), Some(U256::from(500)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    limits: HashMap<AssetKey, Limits>,
    ledgers: Mutex<HashMap<AssetKey, Ledger>>,
}

/// What is spent or in flight for one asset.
#[derive(Debug, Clone, Copy, Default)]
struct Ledger {
    total: U256,
    /// The UTC day (`unix / 86400`) that `today` counts.
    day: u64,
    today: U256,
}

impl Ledger {
    /// Starts a new day's count when `day` is past the ledger's.
    fn roll(&mut self, day: u64) {
        if day > self.day {
            self.day = day;
            self.today = U256::ZERO;
        }
    }
}

impl Budget {
    /// A budget with these caps per asset. Assets without limits are not capped (the policy
    /// decides which assets are paid at all).
    pub fn new(limits: impl IntoIterator<Item = (AssetKey, Limits)>) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: limits.into_iter().collect(),
                ledgers: Mutex::default(),
            }),
        }
    }

    /// A budget without caps.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// The caps of `asset`.
    pub fn limits(&self, asset: &AssetKey) -> Option<&Limits> {
        self.inner.limits.get(asset)
    }

    /// Reserves `amount` of `asset` at unix time `now`, or says which cap refuses it (then
    /// nothing is reserved).
    #[expect(
        clippy::result_large_err,
        reason = "a refusal is rare and its figures are the point; boxing them buys nothing"
    )]
    pub fn reserve(
        &self,
        asset: AssetKey,
        amount: U256,
        now: u64,
    ) -> Result<Reservation, CapError> {
        let day = now / SECS_PER_DAY;
        let Some(limits) = self.inner.limits.get(&asset) else {
            return Ok(Reservation::new(self, asset, amount, day, false));
        };
        let mut ledgers = self.lock();
        let ledger = ledgers.entry(asset).or_default();
        ledger.roll(day);
        let checks = [
            (Cap::MaxTotal, limits.max_total, ledger.total),
            (Cap::MaxSpendPerDay, limits.max_per_day, ledger.today),
        ];
        for (cap, limit, used) in checks {
            let Some(limit) = limit else { continue };
            if used.saturating_add(amount) > limit {
                return Err(CapError {
                    cap,
                    asset,
                    limit,
                    used,
                    amount,
                });
            }
        }
        ledger.total = ledger.total.saturating_add(amount);
        ledger.today = ledger.today.saturating_add(amount);
        Ok(Reservation::new(self, asset, amount, day, true))
    }

    /// What can still be spent in `asset` at unix time `now` under its tightest cap; `None`
    /// when the asset has no cap.
    pub fn remaining(&self, asset: AssetKey, now: u64) -> Option<U256> {
        let limits = self.inner.limits.get(&asset)?;
        let mut ledger = self.lock().get(&asset).copied().unwrap_or_default();
        ledger.roll(now / SECS_PER_DAY);
        let total = limits.max_total.map(|max| max.saturating_sub(ledger.total));
        let today = limits
            .max_per_day
            .map(|max| max.saturating_sub(ledger.today));
        match (total, today) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What has been spent or is in flight in `asset` (all time).
    pub fn used(&self, asset: AssetKey) -> U256 {
        self.lock()
            .get(&asset)
            .map_or(U256::ZERO, |ledger| ledger.total)
    }

    fn release(&self, asset: AssetKey, amount: U256, day: u64) {
        let mut ledgers = self.lock();
        let Some(ledger) = ledgers.get_mut(&asset) else {
            return;
        };
        ledger.total = ledger.total.saturating_sub(amount);
        // A reservation of an earlier day no longer counts toward today.
        if ledger.day == day {
            ledger.today = ledger.today.saturating_sub(amount);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AssetKey, Ledger>> {
        // The ledger holds plain numbers updated in one step, so a panic elsewhere while the
        // lock was held cannot have left it half-written.
        self.inner
            .ledgers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An amount reserved in a [`Budget`]. Dropped or [`kept`](Self::keep), it stays counted;
/// [`released`](Self::release), it is given back.
#[derive(Debug)]
#[must_use = "a dropped reservation stays counted; release it if the payment did not happen"]
pub struct Reservation {
    budget: Budget,
    asset: AssetKey,
    amount: U256,
    day: u64,
    /// Whether the ledger counts it (assets without caps have no ledger).
    counted: bool,
}

impl Reservation {
    fn new(budget: &Budget, asset: AssetKey, amount: U256, day: u64, counted: bool) -> Self {
        Self {
            budget: budget.clone(),
            asset,
            amount,
            day,
            counted,
        }
    }

    /// The asset.
    pub fn asset(&self) -> AssetKey {
        self.asset
    }

    /// The amount reserved.
    pub fn amount(&self) -> U256 {
        self.amount
    }

    /// The payment settled, or its fate is unknown: the amount stays counted.
    pub fn keep(self) {}

    /// The payment settled for `spent`, at most the amount reserved (an `upto` payment reserves
    /// its maximum and is charged what the seller chose): the difference is given back.
    pub fn keep_only(self, spent: U256) {
        if self.counted && spent < self.amount {
            self.budget
                .release(self.asset, self.amount - spent, self.day);
        }
    }

    /// The payment certainly did not happen: the amount is given back.
    pub fn release(self) {
        if self.counted {
            self.budget.release(self.asset, self.amount, self.day);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use alloy_primitives::Address;
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_795_346_121;

    fn usdc() -> AssetKey {
        AssetKey {
            chain_id: 84532,
            asset: Address::repeat_byte(0x36),
        }
    }

    fn budget(max_total: Option<u64>, max_per_day: Option<u64>) -> Budget {
        Budget::new([(
            usdc(),
            Limits {
                max_total: max_total.map(U256::from),
                max_per_day: max_per_day.map(U256::from),
            },
        )])
    }

    #[test]
    fn the_payment_over_max_total_is_refused_naming_the_cap() {
        let budget = budget(Some(2_000), None);
        budget
            .reserve(usdc(), U256::from(1_500), NOW)
            .unwrap()
            .keep();
        let error = budget.reserve(usdc(), U256::from(600), NOW).unwrap_err();
        assert_eq!(error.cap, Cap::MaxTotal);
        assert_eq!(error.used, U256::from(1_500));
        assert!(error.to_string().contains("maxTotal"), "{error}");
        assert_eq!(budget.used(usdc()), U256::from(1_500), "nothing reserved");
    }

    #[test]
    fn the_day_cap_resets_at_utc_midnight_but_the_total_does_not() {
        let budget = budget(Some(3_000), Some(1_000));
        budget
            .reserve(usdc(), U256::from(1_000), NOW)
            .unwrap()
            .keep();
        let error = budget.reserve(usdc(), U256::from(1), NOW).unwrap_err();
        assert_eq!(error.cap, Cap::MaxSpendPerDay);
        assert!(error.to_string().contains("maxSpendPerDay"), "{error}");

        let tomorrow = (NOW / SECS_PER_DAY + 1) * SECS_PER_DAY;
        assert_eq!(budget.remaining(usdc(), tomorrow), Some(U256::from(1_000)));
        budget
            .reserve(usdc(), U256::from(1_000), tomorrow)
            .unwrap()
            .keep();
        budget
            .reserve(usdc(), U256::from(1_000), tomorrow + SECS_PER_DAY)
            .unwrap()
            .keep();
        let error = budget
            .reserve(usdc(), U256::from(1), tomorrow + 2 * SECS_PER_DAY)
            .unwrap_err();
        assert_eq!(error.cap, Cap::MaxTotal);
    }

    #[test]
    fn a_released_reservation_frees_its_amount_and_a_dropped_one_does_not() {
        let budget = budget(Some(1_000), Some(1_000));
        budget
            .reserve(usdc(), U256::from(1_000), NOW)
            .unwrap()
            .release();
        assert_eq!(budget.remaining(usdc(), NOW), Some(U256::from(1_000)));
        drop(budget.reserve(usdc(), U256::from(400), NOW).unwrap());
        assert_eq!(budget.remaining(usdc(), NOW), Some(U256::from(600)));
    }

    #[test]
    fn keeping_part_of_a_reservation_gives_back_the_rest() {
        let budget = budget(Some(10_000), None);
        let reservation = budget.reserve(usdc(), U256::from(10_000), NOW).unwrap();
        assert_eq!(budget.remaining(usdc(), NOW), Some(U256::ZERO));
        reservation.keep_only(U256::from(4_000));
        assert_eq!(budget.used(usdc()), U256::from(4_000));
        assert_eq!(budget.remaining(usdc(), NOW), Some(U256::from(6_000)));
        // Never more than was reserved.
        let reservation = budget.reserve(usdc(), U256::from(1_000), NOW).unwrap();
        reservation.keep_only(U256::from(5_000));
        assert_eq!(budget.used(usdc()), U256::from(5_000));
    }

    #[test]
    fn an_asset_without_limits_is_not_capped() {
        let budget = Budget::unlimited();
        let other = AssetKey {
            chain_id: 1,
            asset: Address::ZERO,
        };
        budget.reserve(other, U256::MAX, NOW).unwrap().keep();
        assert_eq!(budget.remaining(other, NOW), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Several threads reserve, keep and release at once; what is kept never exceeds
        /// either cap, and every refusal was a real one at the time it was made.
        #[test]
        fn concurrent_buyers_never_overspend(
            max_total in 1_u64..5_000,
            max_per_day in 1_u64..5_000,
            buyers in proptest::collection::vec(
                proptest::collection::vec((1_u64..700, any::<bool>()), 1..40),
                2..6,
            ),
        ) {
            let budget = budget(Some(max_total), Some(max_per_day));
            let kept = AtomicU64::new(0);
            std::thread::scope(|scope| {
                for payments in &buyers {
                    let budget = &budget;
                    let kept = &kept;
                    scope.spawn(move || {
                        for &(amount, settles) in payments {
                            match budget.reserve(usdc(), U256::from(amount), NOW) {
                                Ok(reservation) if settles => {
                                    kept.fetch_add(amount, Ordering::SeqCst);
                                    reservation.keep();
                                }
                                Ok(reservation) => reservation.release(),
                                Err(error) => {
                                    assert!(error.used + error.amount > error.limit);
                                }
                            }
                            let used = budget.used(usdc());
                            assert!(used <= U256::from(max_total.min(max_per_day)));
                        }
                    });
                }
            });
            let kept = U256::from(kept.load(Ordering::SeqCst));
            prop_assert!(kept <= U256::from(max_total));
            prop_assert!(kept <= U256::from(max_per_day));
            prop_assert_eq!(budget.used(usdc()), kept, "released amounts were all given back");
        }
    }
}
