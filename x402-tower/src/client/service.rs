//! The [`X402Pay`] service: an HTTP client service that pays x402 challenges.

use std::{
    error::Error as StdError,
    future::poll_fn,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt as _, Limited};
use tower_service::Service;
use x402_core::client::{BuyError, Buyer};

use super::{PayError, ReplayBody, ResponseFuture};

const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
const X_PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("x-payment-response");
const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
const X_PAYMENT: HeaderName = HeaderName::from_static("x-payment");

/// Pays x402 challenges for the inner client service. See
/// [`X402PayLayer`](super::X402PayLayer).
///
/// The instance driven to readiness by `poll_ready` makes the first request; the paid retry is
/// made by the same instance after it is driven to readiness again. A fresh clone stays here
/// for the next call.
#[derive(Debug, Clone)]
pub struct X402Pay<S> {
    inner: S,
    buyer: Buyer,
    max_challenge_body: usize,
    paid_retries: u32,
}

/// How many times a paid request is sent again, with the same payment header, after a
/// transport error, a 5xx, or a 409 with `Retry-After` (the seller still processing it).
pub const DEFAULT_PAID_RETRIES: u32 = 2;

/// The longest wait between two sends of a paid request, whatever `Retry-After` says.
pub const MAX_PAID_RETRY_WAIT: Duration = Duration::from_secs(5);

impl<S> X402Pay<S> {
    /// Wraps `inner`, paying with `buyer`; v1 challenge bodies are read up to
    /// `max_challenge_body` bytes.
    pub fn new(inner: S, buyer: Buyer, max_challenge_body: usize) -> Self {
        Self {
            inner,
            buyer,
            max_challenge_body,
            paid_retries: DEFAULT_PAID_RETRIES,
        }
    }

    /// How many times a paid request is sent again with the same header (default
    /// [`DEFAULT_PAID_RETRIES`]; 0: never).
    #[must_use]
    pub fn with_paid_retries(mut self, retries: u32) -> Self {
        self.paid_retries = retries;
        self
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, owned.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for X402Pay<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: ReplayBody + Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Response = Response<ResBody>;
    type Error = PayError<S::Error>;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(PayError::Inner)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.buyer.request_started();
        let retry = replay(&request);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let buyer = self.buyer.clone();
        let max_body = self.max_challenge_body;
        let paid_retries = self.paid_retries;
        ResponseFuture::new(async move {
            let response = inner.call(request).await.map_err(PayError::Inner)?;
            if response.status() != StatusCode::PAYMENT_REQUIRED {
                return Ok(response);
            }
            let Some(mut retry) = retry else {
                return Err(buyer.body_not_replayable().into());
            };
            let (parts, body) = response.into_parts();
            let header = parts.headers.get(PAYMENT_REQUIRED);
            // The body matters only for a v1 challenge, which has no header.
            let body = match header {
                Some(_) => Bytes::new(),
                None => read_body(body, max_body, &buyer).await?,
            };
            let pending = buyer.pay(header.map(HeaderValue::as_bytes), &body).await?;
            let name = match pending.header_name() {
                x402_core::codec::X_PAYMENT => X_PAYMENT,
                _ => PAYMENT_SIGNATURE,
            };
            // Standard base64 is always a valid header value.
            let Ok(value) = HeaderValue::from_str(pending.header_value()) else {
                pending.cancel();
                return Err(PayError::InvalidPaymentHeader);
            };
            retry.headers_mut().insert(name, value);
            let mut attempt = 0;
            let result = loop {
                // A copy for the next attempt, with the same header: a payment is never
                // signed twice for one request, so the caps count it once.
                let next = (attempt < paid_retries).then(|| replay(&retry)).flatten();
                if let Err(error) = poll_fn(|cx| inner.poll_ready(cx)).await {
                    if attempt == 0 {
                        pending.cancel();
                    } else {
                        pending.abandon();
                    }
                    return Err(PayError::Inner(error));
                }
                let result = inner.call(retry).await;
                let wait = match &result {
                    Ok(response) => retry_wait(response, attempt),
                    Err(_) => Some(backoff(attempt)),
                };
                match (next, wait) {
                    (Some(next), Some(wait)) => {
                        tokio::time::sleep(wait).await;
                        retry = next;
                        attempt += 1;
                    }
                    _ => break result,
                }
            };
            match result {
                Ok(mut response) => {
                    let receipt = response
                        .headers()
                        .get(PAYMENT_RESPONSE)
                        .or_else(|| response.headers().get(X_PAYMENT_RESPONSE))
                        .map(HeaderValue::as_bytes);
                    let purchase = pending.finish(response.status().as_u16(), receipt);
                    response.extensions_mut().insert(purchase);
                    Ok(response)
                }
                Err(error) => {
                    pending.abandon();
                    Err(PayError::Inner(error))
                }
            }
        })
    }
}

/// Whether to send a paid request again after this answer, and after how long: a 5xx (the
/// seller may have lost our answer, or its facilitator is busy; with a ledger it serves the
/// same header again without charging twice), or a 409 with `Retry-After` (the same payment
/// still in progress). `Retry-After` in seconds is honoured up to [`MAX_PAID_RETRY_WAIT`].
fn retry_wait<B>(response: &Response<B>, attempt: u32) -> Option<Duration> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds).min(MAX_PAID_RETRY_WAIT));
    if status.is_server_error() {
        return Some(retry_after.unwrap_or_else(|| backoff(attempt)));
    }
    if status == StatusCode::CONFLICT {
        return retry_after;
    }
    None
}

/// 100 ms, 200 ms, 400 ms, … at most [`MAX_PAID_RETRY_WAIT`].
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(MAX_PAID_RETRY_WAIT)
}

/// A copy of `request` to send again, if its body can be replayed.
fn replay<B: ReplayBody>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().try_replay()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

/// The 402 body, at most `max` bytes.
async fn read_body<B, E>(body: B, max: usize, buyer: &Buyer) -> Result<Bytes, PayError<E>>
where
    B: Body,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(PayError::Buy(buyer.unreadable_challenge(format!(
            "reading the 402 body (at most {max} bytes) failed: {error}"
        )))),
    }
}

impl<E> From<BuyError> for PayError<E> {
    fn from(error: BuyError) -> Self {
        Self::Buy(error)
    }
}
