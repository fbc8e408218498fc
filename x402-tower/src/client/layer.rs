//! The tower [`Layer`] that pays x402 challenges.

use tower_layer::Layer;
use x402_core::client::Buyer;

use super::service::X402Pay;

/// The most bytes of a 402 body read for a v1 challenge (the official v1 server's is under
/// 1 KiB per option).
pub const DEFAULT_MAX_CHALLENGE_BODY: usize = 64 * 1024;

/// Pays the x402 challenges of an HTTP client service: on a `402 Payment Required` it decodes
/// the challenge, lets the [`Buyer`] choose, reserve and sign, and sends the request once more
/// with the payment (`PAYMENT-SIGNATURE`, or `X-PAYMENT` for v1). The
/// [`Purchase`](x402_core::client::Purchase) is in the extensions of the answer to the paid
/// request. Other answers pass through untouched.
///
/// Wraps any `Service<http::Request<B>>` that is `Clone` (hyper-util's legacy `Client`, a
/// `service_fn`, an axum `Router`); `B` must be a [`ReplayBody`](super::ReplayBody).
///
/// ```no_run
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
/// use tower::ServiceExt as _;
/// use x402_core::client::Buyer;
/// use x402_core::evm::signer::PrivateKeySigner;
/// use x402_tower::client::X402PayLayer;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let key: PrivateKeySigner = std::env::var("X402_BUYER_KEY")?.parse()?;
/// let buyer = Buyer::builder(Arc::new(key)).upstream("weather-api").build()?;
/// let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
/// let client = tower::ServiceBuilder::new().layer(X402PayLayer::new(buyer)).service(http);
///
/// let request = http::Request::get("http://127.0.0.1:4021/weather").body(Full::default())?;
/// let response = client.oneshot(request).await?;
/// let purchase = response.extensions().get::<x402_core::client::Purchase>();
/// println!("{} paid: {:?}", response.status(), purchase.map(|p| p.is_paid()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct X402PayLayer {
    buyer: Buyer,
    max_challenge_body: usize,
    paid_retries: u32,
}

impl X402PayLayer {
    /// A layer paying with `buyer`.
    pub fn new(buyer: Buyer) -> Self {
        Self {
            buyer,
            max_challenge_body: DEFAULT_MAX_CHALLENGE_BODY,
            paid_retries: super::DEFAULT_PAID_RETRIES,
        }
    }

    /// The most bytes of a 402 body read for a v1 challenge (default
    /// [`DEFAULT_MAX_CHALLENGE_BODY`]).
    #[must_use]
    pub fn max_challenge_body(mut self, max: usize) -> Self {
        self.max_challenge_body = max;
        self
    }

    /// How many times a paid request is sent again with the same payment header after a
    /// transport error, a 5xx, or a 409 with `Retry-After` (default
    /// [`DEFAULT_PAID_RETRIES`](super::DEFAULT_PAID_RETRIES); 0: never). Bounded, with
    /// backoff; never re-signed, so the caps count the payment once.
    #[must_use]
    pub fn paid_retries(mut self, retries: u32) -> Self {
        self.paid_retries = retries;
        self
    }

    /// The buyer.
    pub fn buyer(&self) -> &Buyer {
        &self.buyer
    }
}

impl<S> Layer<S> for X402PayLayer {
    type Service = X402Pay<S>;

    fn layer(&self, inner: S) -> Self::Service {
        X402Pay::new(inner, self.buyer.clone(), self.max_challenge_body)
            .with_paid_retries(self.paid_retries)
    }
}
