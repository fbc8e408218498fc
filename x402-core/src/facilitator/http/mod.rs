//! The HTTP facilitator client: timeouts, bounded retries, failover with circuit breakers,
//! per-call auth headers, and a cached `/supported`.
//!
//! [`HttpFacilitator`] talks to one facilitator service reachable at one or more base URLs in
//! priority order (`POST {base}/verify`, `POST {base}/settle`, `GET {base}/supported`, trailing
//! slashes of the base stripped). All calls share one connection pool. The request body is the
//! one [`FacilitatorRequest`] built, sent as is.
//!
//! # Example
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//!
//! use x402_core::facilitator::{Facilitator, HttpFacilitator, auth::StaticAuth};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let facilitator: Arc<dyn Facilitator> = Arc::new(
//!     HttpFacilitator::builder("https://facilitator.example.com/")
//!         .auth(StaticAuth::bearer("secret")?)
//!         .fallback("https://x402.org/facilitator")
//!         .verify_timeout(Duration::from_secs(3))
//!         .build()?,
//! );
//! let supported = facilitator.supported().await?;
//! println!("{} kinds", supported.kinds.len());
//! # Ok(())
//! # }
//! ```
//!
//! # What each answer becomes
//!
//! | the facilitator answers | verify / supported | settle |
//! |---|---|---|
//! | 2xx with the expected JSON | `Ok(answer)` (valid or not) | `Ok(answer)` (success or not) |
//! | 2xx, `success: false`, `errorReason: "settlement_pending"` | — | [`SettleUnknown`] with the tx if any |
//! | 2xx, not JSON or not the expected shape | [`Malformed`] | [`Malformed`] |
//! | non-2xx with a `VerifyResponse` body, `isValid: false` | `Ok(VerifyResponse { is_valid: false, .. })` | — |
//! | non-2xx with `isValid: true` (contradiction) | [`Malformed`] | — |
//! | non-2xx with a `SettleResponse` body, `success: false`, no tx (or a 4xx) | — | `Ok(SettleResponse { success: false, .. })` |
//! | non-2xx with `settlement_pending`, `success: true`, or a 5xx with a non-empty `transaction` | — | [`SettleUnknown`] with the tx |
//! | 5xx otherwise | [`Unavailable`] (retried) | [`SettleUnknown`] (tx from the body if any) |
//! | 429 | [`Unavailable`] (retried) | [`Unavailable`] (not retried) |
//! | other 4xx (our request or auth is wrong), 1xx/3xx | [`Malformed`] with status and ≤ 200 chars of body | same |
//! | body over the size cap (default 64 KiB) | [`Malformed`] | [`Malformed`] |
//! | connection refused, DNS, TLS handshake, connect timeout (nothing sent) | [`Unavailable`] (retried, fails over) | [`Unavailable`] (fails over) |
//! | connection lost after the request may have been sent | [`Unavailable`] (retried) | [`SettleUnknown`] |
//! | no complete answer in time | [`Timeout`] | [`SettleUnknown`] (it may have reached the chain) |
//! | the auth provider fails (nothing sent) | [`Malformed`] | [`Malformed`] |
//! | every facilitator's breaker is open | [`AllCircuitsOpen`] | [`AllCircuitsOpen`] |
//!
//! For settle this follows the trait's contract: once the request may have reached the
//! facilitator, a failure is [`SettleUnknown`] (503, not retriable, tx hash in the receipt when
//! known). So a settle `Unavailable` means nothing was settled: either nothing was sent, or the
//! facilitator refused it (429).
//!
//! # Retries, failover and circuit breakers
//!
//! Every call has a deadline: the operation's timeout (verify 5 s, settle 60 s, supported 5 s by
//! default), or for verify and supported the retry budget when one is set. Each attempt gets the
//! operation's timeout or what is left of the deadline, whichever is shorter. So by default a
//! verify never takes longer than 5 s, retries and failover included: they are for fast
//! failures.
//!
//! - **Verify and supported**: each facilitator, in priority order, gets up to
//!   [`max_attempts`](HttpFacilitatorBuilder::max_attempts) tries (default 2) on connection
//!   errors, timeouts, 5xx and 429, with jittered exponential backoff between them; then the
//!   next facilitator is tried. A well-formed answer or a [`Malformed`] one ends the call.
//! - **Settle** is never retried once the request may have been sent: one attempt, failing over
//!   to the next facilitator only when the connection could not be made.
//! - **Circuit breakers**, one per facilitator: [`breaker_threshold`] consecutive failures
//!   (unavailable, timeout, settle unknown) open it; an open facilitator is skipped for the
//!   [`breaker_cool_down`], then one probe call goes through (half-open) and its success closes
//!   it. Any answer, even a malformed one, is a success: the breaker guards reachability. When
//!   every breaker refuses, the call fails with [`AllCircuitsOpen`] without waiting.
//!
//! Failover lives in this client rather than in a wrapper over `dyn Facilitator` because its
//! rules depend on what only the transport knows: whether a settle request was written, and
//! whether a `/supported` answer came from the network or from the cache (a cache hit must
//! not count as a breaker success).
//!
//! # `/supported`
//!
//! Cached for [`supported_ttl`] (default 5 min), one fetch at a time: concurrent callers wait for
//! the same fetch and share its `Arc`. A definitive answer (2xx with the expected JSON) always
//! replaces the cached one. While every facilitator is unreachable the cached answer is served
//! until it is [`supported_max_stale`] old (default 1 h); callers arriving during a refetch get
//! the stale answer at once instead of waiting.
//!
//! # Observability
//!
//! Each call (not each cache hit) records `x402_facilitator_request_duration_seconds` with the
//! labels `operation` and `outcome` ([`FacilitatorOutcome`]), and runs in an `x402_facilitator`
//! tracing span with the fields `operation`, `host` (the facilitator that answered last),
//! `attempts` and `outcome`. Failed attempts are `debug` events, failed calls `warn` events, a
//! breaker opening a `warn` event and a count in `x402_facilitator_breaker_opened_total`
//! (label `facilitator`, its `host:port`); a call moving on to the next facilitator counts in
//! `x402_facilitator_failovers_total` (labels `operation`, `facilitator`: the one it moved to).
//! Payers and transaction hashes are never metric labels.
//! [`HttpFacilitator::breaker_states`] reports each facilitator's breaker, and
//! [`HttpFacilitator::record_breaker_states`] sets them as `x402_facilitator_breaker_state`
//! (an exporter calls it before rendering).
//!
//! [`SettleUnknown`]: FacilitatorError::SettleUnknown
//! [`Malformed`]: FacilitatorError::Malformed
//! [`Unavailable`]: FacilitatorError::Unavailable
//! [`Timeout`]: FacilitatorError::Timeout
//! [`AllCircuitsOpen`]: FacilitatorError::AllCircuitsOpen
//! [`breaker_threshold`]: HttpFacilitatorBuilder::breaker_threshold
//! [`breaker_cool_down`]: HttpFacilitatorBuilder::breaker_cool_down
//! [`supported_ttl`]: HttpFacilitatorBuilder::supported_ttl
//! [`supported_max_stale`]: HttpFacilitatorBuilder::supported_max_stale

use std::{
    error::Error as StdError,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use reqwest::{Method, Url};
use tracing::{Instrument as _, field};

use super::{
    BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest,
    answer::{settle_answer, supported_answer, verify_answer},
    auth::{AuthRequest, FacilitatorAuth},
    breaker::{Breaker, BreakerState, Permit},
    supported::SupportedCache,
};
use crate::{
    labels::{FacilitatorOperation, FacilitatorOutcome, keys, names},
    wire::{SettleResponse, SupportedResponse, VerifyResponse},
};

mod builder;

pub use self::builder::{HttpFacilitatorBuilder, HttpFacilitatorConfigError};

const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_SUPPORTED_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_ATTEMPTS: u32 = 2;
const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(25);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_millis(500);
const DEFAULT_BREAKER_THRESHOLD: u32 = 5;
const DEFAULT_BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);
const DEFAULT_SUPPORTED_TTL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_SUPPORTED_MAX_STALE: Duration = Duration::from_secs(60 * 60);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A facilitator reached over HTTP, at one or more base URLs in priority order.
///
/// Build it with [`HttpFacilitator::builder`]; share it as `Arc<dyn Facilitator>`.
#[derive(Debug)]
pub struct HttpFacilitator {
    client: reqwest::Client,
    endpoints: Box<[Endpoint]>,
    timeouts: [Duration; 3],
    retry: Retry,
    max_response_bytes: usize,
    supported: SupportedCache,
}

/// One base URL: its endpoints pre-parsed, its auth and its breaker.
#[derive(Debug)]
struct Endpoint {
    /// The base URL without trailing slashes; names the facilitator in errors and states.
    name: Arc<str>,
    /// `host[:port]`, for tracing.
    host: Arc<str>,
    /// The verify, settle and supported URLs, indexed by [`op_index`].
    urls: [Url; 3],
    auth: Option<Arc<dyn FacilitatorAuth>>,
    breaker: Breaker,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    budget: Option<Duration>,
}

impl Retry {
    /// The pause after the `failures`-th failed attempt on one facilitator: exponential, with
    /// "equal jitter" (uniform in the upper half) so that callers failing together spread out.
    fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let base = self
            .backoff_initial
            .saturating_mul(1 << exponent)
            .min(self.backoff_max);
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(nanos / 2..=nanos))
    }
}

fn op_index(operation: FacilitatorOperation) -> usize {
    match operation {
        FacilitatorOperation::Verify => 0,
        FacilitatorOperation::Settle => 1,
        FacilitatorOperation::Supported => 2,
    }
}

impl HttpFacilitator {
    /// A builder for a facilitator at `base_url` (e.g. `https://x402.org/facilitator`).
    pub fn builder(base_url: impl Into<String>) -> HttpFacilitatorBuilder {
        HttpFacilitatorBuilder {
            endpoints: vec![(base_url.into(), None)],
            timeouts: [
                DEFAULT_VERIFY_TIMEOUT,
                DEFAULT_SETTLE_TIMEOUT,
                DEFAULT_SUPPORTED_TIMEOUT,
            ],
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: Retry {
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                budget: None,
            },
            breaker_threshold: DEFAULT_BREAKER_THRESHOLD,
            breaker_cool_down: DEFAULT_BREAKER_COOL_DOWN,
            supported_ttl: DEFAULT_SUPPORTED_TTL,
            supported_max_stale: DEFAULT_SUPPORTED_MAX_STALE,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Each facilitator's base URL and breaker state, in priority order (for metrics and health
    /// endpoints).
    pub fn breaker_states(&self) -> Vec<(Arc<str>, BreakerState)> {
        self.endpoints
            .iter()
            .map(|endpoint| (Arc::clone(&endpoint.name), endpoint.breaker.state()))
            .collect()
    }

    /// Sets `x402_facilitator_breaker_state{facilitator}` (its `host:port`) for each
    /// facilitator: `0` closed, `1` half-open, `2` open. For an exporter to call before it
    /// renders: the state is read when asked (an open breaker past its cool-down reads as it
    /// is), and the request path records nothing.
    pub fn record_breaker_states(&self) {
        for endpoint in self.endpoints.iter() {
            let value = match endpoint.breaker.state() {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
            };
            metrics::gauge!(
                names::FACILITATOR_BREAKER_STATE,
                keys::FACILITATOR => Arc::clone(&endpoint.host),
            )
            .set(value);
        }
    }

    /// The operation's deadline for one call, retries and failover included.
    fn budget(&self, operation: FacilitatorOperation) -> Duration {
        let timeout = self.timeouts[op_index(operation)];
        match (operation, self.retry.budget) {
            (FacilitatorOperation::Settle, _) | (_, None) => timeout,
            (_, Some(budget)) => budget,
        }
    }

    /// One call, timed and traced.
    async fn observed<T>(
        &self,
        operation: FacilitatorOperation,
        body: Option<&Bytes>,
        interpret: Interpret<T>,
    ) -> Result<T, FacilitatorError> {
        let span = tracing::info_span!(
            "x402_facilitator",
            operation = operation.as_str(),
            host = field::Empty,
            attempts = field::Empty,
            outcome = field::Empty,
        );
        let started = Instant::now();
        let result = self
            .call(operation, body, interpret)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => FacilitatorOutcome::Ok,
            Err(error) => error.outcome(),
        };
        metrics::histogram!(
            names::FACILITATOR_REQUEST_DURATION_SECONDS,
            keys::OPERATION => operation.as_str(),
            keys::OUTCOME => outcome.as_str(),
        )
        .record(started.elapsed().as_secs_f64());
        span.record("outcome", outcome.as_str());
        if let Err(error) = &result {
            span.in_scope(|| tracing::warn!(%error, "facilitator call failed"));
        }
        result
    }

    /// Walks the facilitators in priority order, with retries, within the call's deadline.
    async fn call<T>(
        &self,
        operation: FacilitatorOperation,
        body: Option<&Bytes>,
        interpret: Interpret<T>,
    ) -> Result<T, FacilitatorError> {
        let span = tracing::Span::current();
        let deadline = Instant::now() + self.budget(operation);
        let attempt_timeout = self.timeouts[op_index(operation)];
        let max_attempts = match operation {
            FacilitatorOperation::Settle => 1,
            _ => self.retry.max_attempts,
        };
        let mut attempts = 0_u32;
        let mut last_error = None;
        'facilitators: for (index, endpoint) in self.endpoints.iter().enumerate() {
            if index > 0 {
                // Reaching the next facilitator means the previous one failed or was skipped.
                metrics::counter!(
                    names::FACILITATOR_FAILOVERS_TOTAL,
                    keys::OPERATION => operation.as_str(),
                    keys::FACILITATOR => Arc::clone(&endpoint.host),
                )
                .increment(1);
            }
            for attempt in 1..=max_attempts {
                let Some(permit) = Permit::acquire(&endpoint.breaker) else {
                    continue 'facilitators;
                };
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break 'facilitators;
                }
                attempts += 1;
                span.record("host", &*endpoint.host);
                span.record("attempts", attempts);
                let outcome = self
                    .attempt(
                        endpoint,
                        operation,
                        body,
                        attempt_timeout.min(remaining),
                        interpret,
                    )
                    .await;
                match outcome.health {
                    Health::Answered => permit.success(),
                    Health::Failed => {
                        let probe = permit.is_probe();
                        if permit.failure() {
                            metrics::counter!(
                                names::FACILITATOR_BREAKER_OPENED_TOTAL,
                                keys::FACILITATOR => Arc::clone(&endpoint.host),
                            )
                            .increment(1);
                            tracing::warn!(
                                facilitator = %endpoint.host,
                                probe,
                                "facilitator circuit breaker opened"
                            );
                        }
                    }
                    Health::Unknown => drop(permit),
                }
                let error = match outcome.result {
                    Ok(answer) => return Ok(answer),
                    Err(error) => error,
                };
                match outcome.next {
                    Next::Done => return Err(error),
                    Next::Failover => {
                        tracing::debug!(attempt, %error, "facilitator attempt failed; failing over");
                        last_error = Some(error);
                        continue 'facilitators;
                    }
                    Next::Retry => {
                        tracing::debug!(attempt, %error, "facilitator attempt failed");
                        last_error = Some(error);
                        if attempt < max_attempts {
                            let pause = self.retry.backoff(attempt);
                            if Instant::now() + pause >= deadline {
                                continue 'facilitators;
                            }
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            }
        }
        Err(last_error.unwrap_or(FacilitatorError::AllCircuitsOpen))
    }

    /// One request to one facilitator, mapped to an answer or an error.
    async fn attempt<T>(
        &self,
        endpoint: &Endpoint,
        operation: FacilitatorOperation,
        body: Option<&Bytes>,
        timeout: Duration,
        interpret: Interpret<T>,
    ) -> Attempt<T> {
        let exchange = self.exchange(endpoint, operation, body);
        let exchanged = match tokio::time::timeout(timeout, exchange).await {
            Ok(exchanged) => exchanged,
            Err(_) => Err(Failure::TimedOut),
        };
        let settle = operation == FacilitatorOperation::Settle;
        let name = &endpoint.name;
        match exchanged {
            Ok((status, bytes)) => {
                let result = interpret(name, status, &bytes);
                let (health, next) = match &result {
                    Ok(_) | Err(FacilitatorError::Malformed { .. }) => {
                        (Health::Answered, Next::Done)
                    }
                    Err(_) if settle => (Health::Failed, Next::Done),
                    Err(_) => (Health::Failed, Next::Retry),
                };
                Attempt {
                    result,
                    health,
                    next,
                }
            }
            Err(Failure::NotSent(detail)) => Attempt {
                result: Err(FacilitatorError::Unavailable {
                    facilitator: Arc::clone(name),
                    operation,
                    detail,
                }),
                health: Health::Failed,
                next: if settle { Next::Failover } else { Next::Retry },
            },
            Err(Failure::Auth(detail)) => Attempt {
                result: Err(FacilitatorError::Malformed {
                    facilitator: Arc::clone(name),
                    operation,
                    detail: format!("the auth provider failed, nothing was sent: {detail}"),
                }),
                health: Health::Unknown,
                next: Next::Done,
            },
            Err(Failure::TooLarge { status }) => Attempt {
                result: Err(FacilitatorError::Malformed {
                    facilitator: Arc::clone(name),
                    operation,
                    detail: format!(
                        "status {status} with a body over {} bytes",
                        self.max_response_bytes
                    ),
                }),
                health: Health::Answered,
                next: Next::Done,
            },
            Err(Failure::Sent(detail)) if settle => Attempt {
                result: Err(FacilitatorError::SettleUnknown {
                    facilitator: Arc::clone(name),
                    transaction: None,
                    detail: format!("connection lost after the request was sent: {detail}"),
                }),
                health: Health::Failed,
                next: Next::Done,
            },
            Err(Failure::Sent(detail)) => Attempt {
                result: Err(FacilitatorError::Unavailable {
                    facilitator: Arc::clone(name),
                    operation,
                    detail,
                }),
                health: Health::Failed,
                next: Next::Retry,
            },
            Err(Failure::TimedOut) if settle => Attempt {
                result: Err(FacilitatorError::SettleUnknown {
                    facilitator: Arc::clone(name),
                    transaction: None,
                    detail: format!("no answer within {timeout:?}; the payment may still land"),
                }),
                health: Health::Failed,
                next: Next::Done,
            },
            Err(Failure::TimedOut) => Attempt {
                result: Err(FacilitatorError::Timeout {
                    facilitator: Arc::clone(name),
                    operation,
                    after: timeout,
                }),
                health: Health::Failed,
                next: Next::Retry,
            },
        }
    }

    /// Auth headers, the request, and the body read up to the size cap.
    async fn exchange(
        &self,
        endpoint: &Endpoint,
        operation: FacilitatorOperation,
        body: Option<&Bytes>,
    ) -> Result<(u16, Bytes), Failure> {
        let url = &endpoint.urls[op_index(operation)];
        let method = match operation {
            FacilitatorOperation::Supported => Method::GET,
            _ => Method::POST,
        };
        let mut request = self.client.request(method, url.clone());
        if let Some(auth) = &endpoint.auth {
            let headers = auth
                .headers(AuthRequest::new(operation, url.as_str()))
                .await
                .map_err(|error| Failure::Auth(error.to_string()))?;
            for (name, value) in headers.pairs() {
                request = request.header(name.clone(), value.clone());
            }
        }
        if let Some(body) = body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(Failure::from_send)?;
        let status = response.status().as_u16();
        let bytes = read_capped(response, self.max_response_bytes).await?;
        Ok((status, bytes))
    }
}

impl Facilitator for HttpFacilitator {
    fn verify<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(self.observed(
            FacilitatorOperation::Verify,
            Some(request.body()),
            verify_answer,
        ))
    }

    fn settle<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        Box::pin(self.observed(
            FacilitatorOperation::Settle,
            Some(request.body()),
            settle_answer,
        ))
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(
            self.supported
                .get(|| self.observed(FacilitatorOperation::Supported, None, supported_answer)),
        )
    }
}

/// How one attempt ended, for the retry loop.
struct Attempt<T> {
    result: Result<T, FacilitatorError>,
    health: Health,
    next: Next,
}

/// What an attempt says about the facilitator's health.
enum Health {
    /// It answered (possibly nonsense): reachable.
    Answered,
    /// Unreachable, timed out, or an error status: unhealthy.
    Failed,
    /// Nothing was learned (our auth provider failed before sending).
    Unknown,
}

/// What the retry loop does after a failed attempt.
enum Next {
    /// Return the error.
    Done,
    /// Retry this facilitator (within the attempt limit and the deadline), then the next.
    Retry,
    /// Go to the next facilitator (a settle that was not sent).
    Failover,
}

/// Why an exchange produced no answer.
enum Failure {
    /// The connection could not be made: nothing was sent.
    NotSent(String),
    /// The auth provider failed: nothing was sent.
    Auth(String),
    /// The connection failed after the request may have been sent.
    Sent(String),
    /// The body exceeds the size cap.
    TooLarge { status: u16 },
    /// The attempt's time ran out.
    TimedOut,
}

impl Failure {
    fn from_send(error: reqwest::Error) -> Self {
        let connect = error.is_connect();
        let detail = error_chain(&error.without_url());
        if connect {
            Self::NotSent(detail)
        } else {
            Self::Sent(detail)
        }
    }
}

/// Reads the body, refusing more than `cap` bytes; a body in one chunk is not copied.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, Failure> {
    let status = response.status().as_u16();
    let cap_u64 = u64::try_from(cap).unwrap_or(u64::MAX);
    if response
        .content_length()
        .is_some_and(|length| length > cap_u64)
    {
        return Err(Failure::TooLarge { status });
    }
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut total = 0_usize;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| Failure::Sent(error_chain(&error.without_url())))?
    {
        total = total.saturating_add(chunk.len());
        if total > cap {
            return Err(Failure::TooLarge { status });
        }
        match &mut joined {
            Some(buffer) => buffer.extend_from_slice(&chunk),
            None if first.is_empty() => first = chunk,
            None => {
                let mut buffer = BytesMut::with_capacity(total.max(1024).min(cap));
                buffer.extend_from_slice(&first);
                buffer.extend_from_slice(&chunk);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// Maps a status and body to an answer or an error.
type Interpret<T> = fn(&Arc<str>, u16, &Bytes) -> Result<T, FacilitatorError>;

/// An error and its sources, `: `-joined (reqwest's own message says little).
fn error_chain(error: &dyn StdError) -> String {
    crate::ErrorChain(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facilitator::answer::excerpt;

    fn name() -> Arc<str> {
        "http://f".into()
    }

    #[test]
    fn excerpts_stop_at_200_characters() {
        let long = "é".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"line\none"), "line one");
    }

    #[test]
    fn a_settle_4xx_with_a_failure_body_is_a_refusal() {
        let body = Bytes::from_static(
            br#"{"success":false,"errorReason":"insufficient_funds","transaction":"","network":"eip155:84532"}"#,
        );
        let answer = settle_answer(&name(), 400, &body).unwrap();
        assert_eq!(answer.error_reason.as_deref(), Some("insufficient_funds"));
    }

    #[test]
    fn a_settle_5xx_without_a_body_is_an_unknown_outcome() {
        let error = settle_answer(&name(), 502, &Bytes::from_static(b"bad gateway")).unwrap_err();
        assert!(matches!(
            error,
            FacilitatorError::SettleUnknown {
                transaction: None,
                ..
            }
        ));
    }

    #[test]
    fn a_429_is_unavailable() {
        let error = verify_answer(&name(), 429, &Bytes::new()).unwrap_err();
        assert!(matches!(error, FacilitatorError::Unavailable { .. }));
    }

    #[test]
    fn a_verify_error_status_claiming_validity_is_malformed() {
        let body = Bytes::from_static(br#"{"isValid":true}"#);
        let error = verify_answer(&name(), 400, &body).unwrap_err();
        assert!(matches!(error, FacilitatorError::Malformed { .. }));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() {
        let retry = Retry {
            max_attempts: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            budget: None,
        };
        for _ in 0..100 {
            let first = retry.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = retry.backoff(3);
            assert!(third >= Duration::from_millis(150) && third <= Duration::from_millis(300));
        }
    }

    #[test]
    fn base_urls_lose_trailing_slashes_and_credentials_are_refused() {
        let facilitator = HttpFacilitator::builder("http://127.0.0.1:9/facilitator//")
            .build()
            .unwrap();
        assert_eq!(
            &*facilitator.endpoints[0].name,
            "http://127.0.0.1:9/facilitator"
        );
        assert_eq!(
            facilitator.endpoints[0].urls[0].as_str(),
            "http://127.0.0.1:9/facilitator/verify"
        );
        let error = HttpFacilitator::builder("https://user:pw@example.com")
            .build()
            .unwrap_err();
        assert!(matches!(
            error,
            HttpFacilitatorConfigError::CredentialsInUrl { .. }
        ));
    }

    #[test]
    fn config_errors_name_the_setting_at_fault() {
        let cases = [
            (
                HttpFacilitator::builder("ftp://example.com").build(),
                r#"facilitator URL "ftp://example.com" must use http or https, not "ftp""#,
            ),
            (
                HttpFacilitator::builder("http://a")
                    .verify_timeout(Duration::ZERO)
                    .build(),
                "verify_timeout must be greater than zero",
            ),
            (
                HttpFacilitator::builder("http://a")
                    .fallback("http://a/")
                    .build(),
                r#"facilitator URL "http://a" is listed twice"#,
            ),
            (
                HttpFacilitator::builder("http://a?key=1").build(),
                r#"facilitator URL "http://a?key=1" must not have a query or fragment; give the base URL only"#,
            ),
            (
                HttpFacilitator::builder("not a url").build(),
                r#"facilitator URL "not a url" is not a valid URL: relative URL without a base"#,
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }
}
