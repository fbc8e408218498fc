//! The [`Buyer`]: decode a 402, choose, reserve, sign; then read the answer to the paid request.
//! HTTP clients (the tower layer) only move bytes in and out of it.

use std::{fmt, sync::Arc};

use alloy_primitives::U256;

use super::{
    AssetKey, Budget, CapError, Challenge, ChallengeError, PaymentError, PaymentPolicy,
    Reservation, SelectError, SignedPayment, Signer, build_payment,
    metrics::{BuyerMetrics, Failure, NO_CHAIN},
};
use crate::{
    clock::{Clock, SystemClock},
    codec::{self, DEFAULT_MAX_HEADER_BYTES},
    wire::SettleResponse,
};

/// Pays 402 challenges for one upstream: a signer, a [`PaymentPolicy`], a [`Budget`] and the
/// upstream's metrics. Cheap to clone; the budget may be shared with other buyers.
///
/// ```
/// use std::sync::Arc;
/// use x402_core::client::{Buyer, Budget, PaymentPolicy};
/// use x402_core::evm::signer::PrivateKeySigner;
///
/// // anvil's first dev key: never use it for real funds.
/// let key: PrivateKeySigner =
///     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse().unwrap();
/// let buyer = Buyer::builder(Arc::new(key))
///     .upstream("weather-api")
///     .policy(PaymentPolicy::new())
///     .budget(Budget::unlimited())
///     .build()
///     .unwrap();
/// assert_eq!(&**buyer.upstream(), "weather-api");
/// ```
#[derive(Clone)]
pub struct Buyer {
    inner: Arc<Config>,
}

struct Config {
    signer: Arc<dyn Signer>,
    policy: PaymentPolicy,
    budget: Budget,
    metrics: BuyerMetrics,
    clock: Arc<dyn Clock>,
    max_header_bytes: usize,
}

impl fmt::Debug for Buyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buyer")
            .field("upstream", self.upstream())
            .field("payer", &self.inner.signer.address())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Buyer`].
#[derive(Debug)]
pub struct BuyerBuilder {
    signer: Arc<dyn Signer>,
    upstream: String,
    policy: PaymentPolicy,
    budget: Budget,
    clock: Arc<dyn Clock>,
    max_header_bytes: usize,
}

/// A buyer's configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuyerConfigError {
    /// The upstream name is empty or looks like a URL; it is a metric label, so it must be a
    /// short configured name.
    #[error(
        "upstream {name:?} is not a name: use a short label such as \"weather-api\", not a URL \
         (it labels metrics)"
    )]
    Upstream {
        /// The name given.
        name: String,
    },
}

impl BuyerBuilder {
    /// The `upstream` metric label: a configured name such as `"weather-api"` (default
    /// `"default"`), never a URL.
    #[must_use]
    pub fn upstream(mut self, name: impl Into<String>) -> Self {
        self.upstream = name.into();
        self
    }

    /// How to choose among payment options (default [`PaymentPolicy::new`]).
    #[must_use]
    pub fn policy(mut self, policy: PaymentPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The spending caps (default [`Budget::unlimited`]).
    #[must_use]
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The clock for validity windows and daily caps (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The longest `PAYMENT-REQUIRED`/`PAYMENT-RESPONSE` value read (default
    /// [`DEFAULT_MAX_HEADER_BYTES`]).
    #[must_use]
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.max_header_bytes = max;
        self
    }

    /// The buyer, or why the configuration is invalid.
    pub fn build(self) -> Result<Buyer, BuyerConfigError> {
        let name = self.upstream;
        let is_label = !name.is_empty()
            && name.len() <= 64
            && !name.contains("://")
            && !name.contains('/')
            && !name.chars().any(char::is_whitespace);
        if !is_label {
            return Err(BuyerConfigError::Upstream { name });
        }
        Ok(Buyer {
            inner: Arc::new(Config {
                signer: self.signer,
                policy: self.policy,
                budget: self.budget,
                metrics: BuyerMetrics::new(name),
                clock: self.clock,
                max_header_bytes: self.max_header_bytes,
            }),
        })
    }
}

/// Why a 402 was not paid. Nothing was signed, except for [`BuyError::Payment`] with a
/// signature that failed its own check (and it was not sent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuyError {
    /// The 402 is not a readable challenge (tampered, truncated, not x402).
    #[error("upstream {upstream}: the 402 is not a readable challenge")]
    Challenge {
        /// The upstream name.
        upstream: Arc<str>,
        /// Why.
        source: ChallengeError,
    },
    /// No option of the challenge is payable under the policy; the message lists each
    /// option's reason (`maxPerRequest` among them).
    #[error("upstream {upstream}: no option of the 402 is payable under the policy")]
    NoPayableOption {
        /// The upstream name.
        upstream: Arc<str>,
        /// Why, per option.
        source: SelectError,
    },
    /// A cap (`maxTotal`, `maxSpendPerDay`) refuses the payment.
    #[error("upstream {upstream}: a spending cap refuses the payment")]
    Cap {
        /// The upstream name.
        upstream: Arc<str>,
        /// Which cap, and the figures.
        source: CapError,
    },
    /// Signing failed.
    #[error("upstream {upstream}: the payment could not be built")]
    Payment {
        /// The upstream name.
        upstream: Arc<str>,
        /// Why.
        source: PaymentError,
    },
    /// The request's body cannot be sent a second time, so the 402 cannot be answered.
    #[error(
        "upstream {upstream}: the 402 cannot be paid because the request body cannot be replayed \
         (send a buffered body, e.g. http_body_util::Full<Bytes>)"
    )]
    BodyNotReplayable {
        /// The upstream name.
        upstream: Arc<str>,
    },
}

impl BuyError {
    /// The metric reason.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Challenge { .. } => Failure::InvalidChallenge,
            Self::NoPayableOption { source, .. } if source.is_over_cap() => Failure::CapExceeded,
            Self::NoPayableOption { .. } => Failure::NoPayableOption,
            Self::Cap { .. } => Failure::CapExceeded,
            Self::Payment { .. } => Failure::SigningFailed,
            Self::BodyNotReplayable { .. } => Failure::BodyNotReplayable,
        }
    }
}

impl Buyer {
    /// A builder paying with `signer`.
    pub fn builder(signer: Arc<dyn Signer>) -> BuyerBuilder {
        BuyerBuilder {
            signer,
            upstream: "default".to_owned(),
            policy: PaymentPolicy::new(),
            budget: Budget::unlimited(),
            clock: Arc::new(SystemClock),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }

    /// The `upstream` label.
    pub fn upstream(&self) -> &Arc<str> {
        self.inner.metrics.upstream()
    }

    /// The budget.
    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    /// The metrics of this upstream.
    pub fn metrics(&self) -> &BuyerMetrics {
        &self.inner.metrics
    }

    /// Records a request going through the paying client.
    pub fn request_started(&self) {
        self.inner.metrics.request();
    }

    /// The error for a 402 whose request body cannot be replayed (recorded in the metrics).
    pub fn body_not_replayable(&self) -> BuyError {
        self.fail(
            NO_CHAIN,
            BuyError::BodyNotReplayable {
                upstream: self.upstream().clone(),
            },
        )
    }

    /// The error for a 402 whose body could not be read (recorded in the metrics).
    pub fn unreadable_challenge(&self, problem: String) -> BuyError {
        self.fail(
            NO_CHAIN,
            BuyError::Challenge {
                upstream: self.upstream().clone(),
                source: ChallengeError::Body { problem },
            },
        )
    }

    /// Pays a 402 whose `PAYMENT-REQUIRED` header is `header` and whose body is `body` (read
    /// only when there is no header, for a v1 challenge): decode, choose, reserve, sign.
    pub async fn pay(
        &self,
        header: Option<&[u8]>,
        body: &[u8],
    ) -> Result<PendingPayment, BuyError> {
        let upstream = self.upstream();
        let challenge =
            Challenge::decode(header, body, self.inner.max_header_bytes).map_err(|source| {
                let upstream = upstream.clone();
                self.fail(NO_CHAIN, BuyError::Challenge { upstream, source })
            })?;
        self.pay_challenge(challenge).await
    }

    /// Pays a decoded challenge: choose, reserve, sign.
    pub async fn pay_challenge(&self, challenge: Challenge) -> Result<PendingPayment, BuyError> {
        let upstream = self.upstream();
        let candidate = self.inner.policy.select(&challenge).map_err(|source| {
            let upstream = upstream.clone();
            self.fail(NO_CHAIN, BuyError::NoPayableOption { upstream, source })
        })?;
        let chain = candidate.network.caip2().to_owned();
        let asset = candidate.asset();
        let amount = candidate.amount();
        let now = self.inner.clock.now();
        let reservation = self
            .inner
            .budget
            .reserve(asset, amount, now)
            .map_err(|source| {
                let upstream = upstream.clone();
                self.fail(&chain, BuyError::Cap { upstream, source })
            })?;
        let signed = match build_payment(&challenge, &candidate, &*self.inner.signer, now).await {
            Ok(signed) => signed,
            Err(source) => {
                reservation.release();
                let upstream = upstream.clone();
                return Err(self.fail(&chain, BuyError::Payment { upstream, source }));
            }
        };
        self.inner.metrics.attempt(&chain);
        let index = candidate.index;
        let upto = candidate.mechanism.scheme == "upto";
        Ok(PendingPayment {
            buyer: self.clone(),
            signed,
            reservation,
            purchase: PurchaseInfo {
                challenge,
                index,
                chain,
                asset,
                amount,
                upto,
            },
        })
    }

    fn fail(&self, chain: &str, error: BuyError) -> BuyError {
        self.inner.metrics.failed(chain, error.failure());
        error
    }

    fn record_remaining(&self, chain: &str, asset: AssetKey) {
        if let Some(remaining) = self.inner.budget.remaining(asset, self.inner.clock.now()) {
            self.inner.metrics.remaining(chain, remaining);
        }
    }
}

/// A signed payment whose amount is reserved, waiting for the answer to the paid request.
///
/// Dropped without [`finish`](Self::finish), its amount stays counted: the payment may have
/// been settled.
#[derive(Debug)]
pub struct PendingPayment {
    buyer: Buyer,
    signed: SignedPayment,
    reservation: Reservation,
    purchase: PurchaseInfo,
}

#[derive(Debug)]
struct PurchaseInfo {
    challenge: Challenge,
    index: usize,
    chain: String,
    asset: AssetKey,
    amount: U256,
    /// An `upto` payment: `amount` is the maximum reserved; the receipt says the charge.
    upto: bool,
}

impl PendingPayment {
    /// The header to send: `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub fn header_name(&self) -> &'static str {
        self.signed.header.name()
    }

    /// The header value.
    pub fn header_value(&self) -> &str {
        &self.signed.value
    }

    /// The signed payment.
    pub fn signed(&self) -> &SignedPayment {
        &self.signed
    }

    /// Reads the answer to the paid request: its status and its `PAYMENT-RESPONSE` (or
    /// `X-PAYMENT-RESPONSE`) header. Releases the reservation when the payment certainly did
    /// not happen (402, other 4xx), keeps it otherwise, and records the metrics.
    pub fn finish(self, status: u16, receipt: Option<&[u8]>) -> Purchase {
        let max = self.buyer.inner.max_header_bytes;
        let receipt = receipt.and_then(|value| codec::decode_settle_response(value, max).ok());
        let outcome = PurchaseOutcome::of(status, receipt.as_ref());
        // `upto`: the maximum was reserved; a successful receipt says what was charged.
        let charged = match (&receipt, self.purchase.upto) {
            (Some(receipt), true) if receipt.success => receipt
                .amount
                .as_deref()
                .and_then(|a| U256::from_str_radix(a, 10).ok())
                .map(|a| a.min(self.purchase.amount)),
            _ => None,
        };
        let metrics = self.buyer.metrics();
        let chain = &self.purchase.chain;
        match outcome {
            PurchaseOutcome::Paid => {
                metrics.succeeded(chain, charged.unwrap_or(self.purchase.amount));
            }
            PurchaseOutcome::Unconfirmed => metrics.unconfirmed(chain),
            PurchaseOutcome::Failed(failure) => metrics.failed(chain, failure),
        }
        // A 4xx means the seller did not settle (it settles only below 400, and a refused
        // payment or a failed settlement is a 402); anything else may have moved the money.
        if (400..500).contains(&status) {
            self.reservation.release();
        } else if let Some(charged) = charged {
            self.reservation.keep_only(charged);
        } else {
            self.reservation.keep();
        }
        self.buyer.record_remaining(chain, self.purchase.asset);
        let PurchaseInfo {
            challenge,
            index,
            chain,
            asset,
            amount,
            upto: _,
        } = self.purchase;
        let amount = charged.unwrap_or(amount);
        Purchase {
            challenge,
            index,
            payment: self.signed,
            chain,
            asset,
            amount,
            receipt,
            outcome,
        }
    }

    /// The paid request was not sent (the client was not ready): the amount is given back.
    pub fn cancel(self) {
        let chain = &self.purchase.chain;
        self.buyer.metrics().failed(chain, Failure::UpstreamError);
        self.reservation.release();
        self.buyer.record_remaining(chain, self.purchase.asset);
    }

    /// The paid request failed in transport: whether the seller got it is unknown, so the
    /// amount stays counted.
    pub fn abandon(self) {
        let chain = &self.purchase.chain;
        self.buyer.metrics().failed(chain, Failure::UpstreamError);
        self.reservation.keep();
        self.buyer.record_remaining(chain, self.purchase.asset);
    }
}

/// How a paid request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurchaseOutcome {
    /// Answered below 400 with a receipt saying `success: true`.
    Paid,
    /// Answered below 400 without a readable receipt: probably paid, unconfirmed.
    Unconfirmed,
    /// Not paid, or of unknown fate after an error status.
    Failed(Failure),
}

impl PurchaseOutcome {
    /// The outcome of status `status` with `receipt`.
    ///
    /// Sellers settle only when their handler answered below 400, and answer 402 when the
    /// payment was refused or its settlement failed; a 5xx may come after settling (a
    /// facilitator timeout), so it is a failure of unknown fate.
    pub fn of(status: u16, receipt: Option<&SettleResponse>) -> Self {
        let success = receipt.map(|receipt| receipt.success);
        match (status, success) {
            (..400, Some(true)) => Self::Paid,
            (..400, None) => Self::Unconfirmed,
            (..400 | 402, Some(false)) => Self::Failed(Failure::SettlementFailed),
            (402, _) => Self::Failed(Failure::Rejected),
            _ => Self::Failed(Failure::UpstreamError),
        }
    }
}

/// A paid request, as the caller sees it (the tower layer puts it in the response
/// extensions).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Purchase {
    /// The challenge paid.
    pub challenge: Challenge,
    /// The index of the option paid in its `accepts`.
    pub index: usize,
    /// The payment sent, typed and as the header value.
    pub payment: SignedPayment,
    /// The CAIP-2 id of the chain paid on.
    pub chain: String,
    /// The asset paid in.
    pub asset: AssetKey,
    /// The price paid, in atomic units (for `upto`, the charge the receipt names, else the
    /// maximum authorized).
    pub amount: U256,
    /// The decoded `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`, if the answer had a readable one.
    pub receipt: Option<SettleResponse>,
    /// How it ended.
    pub outcome: PurchaseOutcome,
}

impl Purchase {
    /// Whether it ended below 400 with a successful receipt.
    pub fn is_paid(&self) -> bool {
        self.outcome == PurchaseOutcome::Paid
    }
}
