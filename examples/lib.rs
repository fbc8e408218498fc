//! Runnable examples for the x402 crates, and the pieces they share.
//!
//! Run one with `cargo run -p examples --example NAME`:
//!
//! - `quickstart`: a paid weather API and a buyer paying it, fully offline (README command 1);
//! - `dev_facilitator`: the dev facilitator served over HTTP, to point `X402_FACILITATOR_URL` at;
//! - `buyer`: pays any x402 URL with a key from `X402_BUYER_KEY`, within optional caps;
//! - `streaming`: a paid streamed response (a chunk every 50 ms), settled before the first byte;
//! - `metered`: usage-based billing (`scheme: upto`, the handler charges what the request cost)
//!   and `exact` paid through Permit2;
//! - `actix`: the weather API on actix-web;
//! - `crd` and `kube` (feature `kube`): the `X402Route` CRD, and an app whose paid routes come
//!   from `X402Route` resources;
//! - `install` (feature `kube`): `examples/kube/install.yaml`, the gateway in operator mode
//!   (`examples::kube_install`).
//!
//! The gateway (a reverse proxy / ForwardAuth server configured by a file) is its own package,
//! `x402-gateway`: `cargo run -p x402-gateway -- --config FILE`.
//!
//! This library is what the quickstart and its tests share: the route configuration
//! ([`ROUTES`]), the seller ([`weather_gate`], [`weather_app`]) and the buyer ([`buy`], an HTTP
//! client wrapped in `x402_tower::client::X402PayLayer`, see [`paying_client`]). The exchange
//! step by step, without the layer, is [`request_challenge`], [`sign`] and [`send_payment`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use x402_core::facilitator::dev::{DevFacilitator, DevNetwork};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The seller: GET /weather costs $0.001 in USDC on Base Sepolia.
//! let facilitator = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
//! let gate = examples::weather_gate(examples::DEMO_PAY_TO, facilitator)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4021").await?;
//! tokio::spawn(async move { axum::serve(listener, examples::weather_app(gate)).await });
//!
//! // The buyer: an HTTP client that pays the 402 (sign, send again), 200 with a receipt.
//! let signer: x402_core::evm::signer::PrivateKeySigner = examples::BUYER_KEY.parse()?;
//! let buyer = x402_core::client::Buyer::builder(Arc::new(signer)).upstream("weather").build()?;
//! let client = examples::paying_client(buyer);
//! let purchase = examples::buy(&client, "http://127.0.0.1:4021/weather").await?;
//! assert!(purchase.response.is_paid());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "kube")]
pub mod kube_install;

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use reqwest::{StatusCode, header::HeaderMap};
use tower::ServiceExt as _;
use x402_core::{
    RouteTable,
    client::{self as x402_client, Buyer},
    codec::{self, DEFAULT_MAX_HEADER_BYTES, DecodeError},
    evm::{
        RequirementView,
        signer::{PrivateKeySigner, SignError, sign_payment},
    },
    facilitator::Facilitator,
    gate::GateConfigError,
    spec::{RouteSpec, SpecParseError},
    table::BuildErrors,
    wire::{SchemePayload, SettleResponse, V2, v2},
};
use x402_tower::{
    Gate, Paid, RouteTableHandle, X402Layer,
    client::{PayError, X402Pay, X402PayLayer},
};

/// The routes of the weather API: `GET /weather` costs $0.001 (1000 atomic units of USDC, which
/// has 6 decimals) on Base Sepolia; `/health` is free; `GET /broken` is priced like `/weather`
/// but its handler always fails (500), so it is never charged. [`weather_gate`] replaces
/// `wallet`.
///
/// The same YAML works as a file, or as the `spec` of an `X402Route` Kubernetes resource.
pub const ROUTES: &str = r#"
payment:
  wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"  # payTo: who gets paid
  network: base-sepolia                                 # = eip155:84532; asset: its USDC
routes:
  - path: /weather
    methods: [GET]
    price: "$0.001"
    description: Weather data
    mimeType: application/json
  - path: /health
    free: true
  - path: /broken
    methods: [GET]
    price: "$0.001"
    description: Always fails with 500, so it is never charged
"#;

/// The recipient the quickstart uses unless `X402_PAY_TO` is set (the address of the x402
/// protocol's examples).
pub const DEMO_PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

/// The buyer's private key: anvil's well-known test key #0. It is public: never send real
/// funds to its address.
pub const BUYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The address of [`BUYER_KEY`], EIP-55 checksummed.
pub const BUYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// Why the weather API could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// [`ROUTES`] is not a route spec.
    #[error(transparent)]
    Spec(#[from] SpecParseError),
    /// The routes do not compile, e.g. `pay_to` is not an address (each error names its field).
    #[error(transparent)]
    Routes(#[from] BuildErrors),
    /// The gate settings are invalid.
    #[error(transparent)]
    Gate(#[from] GateConfigError),
}

/// The payment gate of the weather API: [`ROUTES`] paid to `pay_to`, checked and settled by
/// `facilitator`.
pub fn weather_gate(pay_to: &str, facilitator: Arc<dyn Facilitator>) -> Result<Gate, SetupError> {
    let mut spec = RouteSpec::from_yaml(ROUTES)?;
    spec.payment.wallet = Some(pay_to.to_owned());
    let routes = RouteTableHandle::new(RouteTable::from_spec(&spec)?);
    Ok(Gate::builder(routes, facilitator).build()?)
}

/// The weather API behind `gate`: `GET /weather` (paid) answers JSON naming its payer,
/// `GET /health` (free) answers `ok`, `GET /broken` (paid) answers 500 and so is not charged.
pub fn weather_app(gate: Gate) -> Router {
    Router::new()
        .route("/weather", get(weather))
        .route("/health", get(|| async { "ok" }))
        .route("/broken", get(broken))
        .layer(X402Layer::new(gate))
}

/// A handler that fails after the payment was verified: settlement is skipped (status >= 400).
async fn broken() -> (StatusCode, &'static str) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the handler failed: this request is not charged",
    )
}

/// Runs only once the payment is verified; settlement follows before the body is sent.
async fn weather(Paid(payment): Paid) -> Json<serde_json::Value> {
    let payer = payment.payer.map(|payer| payer.to_checksum(None));
    Json(serde_json::json!({
        "weather": "sunny",
        "temperatureC": 21,
        "paidBy": payer,
    }))
}

/// The facilitator an example server uses: the one at `X402_FACILITATOR_URL` when it is set,
/// else the in-process dev facilitator for Base Sepolia (which settles nothing on chain), with a
/// line saying which, for the banner. `Err` names the variable when its URL is unusable.
pub fn facilitator_from_env() -> Result<(Arc<dyn Facilitator>, String), String> {
    match std::env::var("X402_FACILITATOR_URL") {
        Ok(url) => {
            let facilitator = x402_core::facilitator::HttpFacilitator::builder(url.as_str())
                .build()
                .map_err(|e| format!("X402_FACILITATOR_URL={url:?}: {e}"))?;
            Ok((Arc::new(facilitator), url))
        }
        Err(_) => {
            use x402_core::facilitator::dev::{DevFacilitator, DevNetwork};
            Ok((
                Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
                "dev facilitator (settles nothing on chain; set X402_FACILITATOR_URL)".to_owned(),
            ))
        }
    }
}

/// What [`listen_on_loopback`] returns: a listener that sets `TCP_NODELAY` on each connection.
pub type Listener = axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

/// Binds `127.0.0.1` on `PORT` (or `default`) for the example `name`, with the errors a person
/// running it can act on (a port in use names the example and a free port to try).
///
/// Accepted connections get `TCP_NODELAY`: `axum::serve` leaves Nagle's algorithm on, and a
/// response sent in several writes (a stream's chunks, a head before its body) then waits up to
/// 40 ms for the client's delayed ACK before each write after the first.
pub async fn listen_on_loopback(
    default: u16,
    name: &str,
) -> Result<(Listener, std::net::SocketAddr), String> {
    let port = match std::env::var("PORT").ok().filter(|p| !p.is_empty()) {
        None => default,
        Some(text) => text
            .parse()
            .map_err(|_| format!("PORT={text:?} is not a port number (0-65535)"))?,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "port {port} on 127.0.0.1 is already in use (another {name} still running?).\n\
                 Stop it, or choose another port with PORT, e.g.\n\n  \
                 PORT={} cargo run -p examples --example {name}",
                port.wrapping_add(10)
            ),
            _ => format!("cannot listen on 127.0.0.1:{port}: {error}"),
        })?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the listening address: {error}"))?;
    fn set_nodelay(tcp: &mut tokio::net::TcpStream) {
        // Best effort: a connection without it is slower, not wrong.
        let _ = tcp.set_nodelay(true);
    }
    let listener = axum::serve::ListenerExt::tap_io(listener, set_nodelay as fn(&mut _));
    Ok((listener, address))
}

/// An HTTP client for the buyer.
///
/// The workspace builds reqwest with rustls but without a crypto provider (x402-core uses ring
/// and avoids aws-lc), so this installs ring as the process's default provider if none is.
/// With reqwest's default features, `reqwest::Client::new()` does the same job.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // Err means a provider is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No proxy: the quickstart's server is on the loopback interface.
    reqwest::Client::builder().no_proxy().build()
}

/// Why buying failed before the paid response arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuyError {
    /// The request failed (connection refused, reset, ...).
    #[error("GET {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The unpaid request was not answered `402 Payment Required`.
    #[error("GET {url} answered {status}, not 402 Payment Required: {body}")]
    NotPaymentRequired {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// A response lacks an x402 header it must have.
    #[error("the {status} response has no {header} header")]
    MissingHeader {
        /// The status of the response.
        status: StatusCode,
        /// The header.
        header: &'static str,
    },
    /// An x402 header does not decode.
    #[error("the {header} header does not decode")]
    BadHeader {
        /// The header.
        header: &'static str,
        /// Why.
        source: DecodeError,
    },
    /// The challenge offers no way to pay.
    #[error("the 402 challenge has no payment options (`accepts` is empty)")]
    NoPaymentOption,
    /// The first payment option cannot be signed with an EIP-3009 authorization.
    #[error("cannot pay the first payment option")]
    Sign(#[from] SignError),
}

/// The seller's answer to an unpaid request: `402` with a `PAYMENT-REQUIRED` header.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The status (402).
    pub status: StatusCode,
    /// The `PAYMENT-REQUIRED` header as sent: base64 of JSON.
    pub header: String,
    /// The header, decoded.
    pub payment_required: v2::PaymentRequired,
}

/// A signed payment, ready to send.
#[derive(Debug, Clone)]
pub struct SignedPayment {
    /// The payment: the chosen requirement and a signed EIP-3009 authorization.
    pub payload: v2::PaymentPayload,
    /// The `PAYMENT-SIGNATURE` header value: base64 of the payload's JSON.
    pub header: String,
}

/// The seller's answer to a paid request.
#[derive(Debug, Clone)]
pub struct PaidResponse {
    /// The status: 200 when paid and served.
    pub status: StatusCode,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
    /// The decoded `PAYMENT-RESPONSE` receipt (also sent, `success: false`, when settlement
    /// failed).
    pub receipt: Option<SettleResponse>,
    /// The decoded `PAYMENT-REQUIRED` of a 402: its `error` says why the payment was refused.
    pub rechallenge: Option<v2::PaymentRequired>,
}

impl PaidResponse {
    /// Whether the exchange succeeded: `200` with a receipt saying `success: true`.
    pub fn is_paid(&self) -> bool {
        self.status == StatusCode::OK && self.receipt.as_ref().is_some_and(|r| r.success)
    }
}

/// What [`buy`] got: the final answer, and what the layer paid for it.
#[derive(Debug, Clone)]
pub struct Purchase {
    /// The answer to the paid request (to the only request, if it was not a 402).
    pub response: PaidResponse,
    /// What `X402PayLayer` paid: the challenge, the option chosen, the signed payment and the
    /// receipt. `None` when the first answer was not a 402.
    pub paid: Option<x402_client::Purchase>,
}

/// The buyer's HTTP client: hyper-util's client wrapped in `X402PayLayer`.
pub type PayingClient = X402Pay<Client<HttpConnector, Full<Bytes>>>;

/// An HTTP (not HTTPS) client that pays x402 challenges with `buyer`.
pub fn paying_client(buyer: Buyer) -> PayingClient {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    tower::ServiceBuilder::new()
        .layer(X402PayLayer::new(buyer))
        .service(http)
}

/// Why [`buy`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PurchaseError {
    /// The URL is not an `http://` URL hyper can request.
    #[error("{url:?} is not a URL to request")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        source: http::Error,
    },
    /// The request failed, or the 402 could not be paid (the message names the cap, option or
    /// field at fault).
    #[error("GET {url} failed")]
    Pay {
        /// The URL.
        url: String,
        /// Why.
        source: PayError<hyper_util::client::legacy::Error>,
    },
    /// The answer's body could not be read.
    #[error("GET {url}: reading the body failed")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        source: hyper::Error,
    },
}

/// Buys `url` with `client`: `GET`, and on a 402 the layer pays and asks again.
///
/// `Ok` once the final request was answered, whatever the answer: check
/// [`PaidResponse::is_paid`].
pub async fn buy(client: &PayingClient, url: &str) -> Result<Purchase, PurchaseError> {
    let request = http::Request::get(url)
        .body(Full::default())
        .map_err(|source| PurchaseError::Url {
            url: url.to_owned(),
            source,
        })?;
    let response = client
        .clone()
        .oneshot(request)
        .await
        .map_err(|source| PurchaseError::Pay {
            url: url.to_owned(),
            source,
        })?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|source| PurchaseError::Body {
            url: url.to_owned(),
            source,
        })?
        .to_bytes();
    let paid = parts.extensions.get::<x402_client::Purchase>().cloned();
    let rechallenge = header(&parts.headers, codec::PAYMENT_REQUIRED).and_then(|value| {
        codec::decode_payment_required(value.as_bytes(), DEFAULT_MAX_HEADER_BYTES).ok()
    });
    Ok(Purchase {
        response: PaidResponse {
            status: parts.status,
            content_type: header(&parts.headers, "content-type"),
            body,
            receipt: paid.as_ref().and_then(|paid| paid.receipt.clone()),
            rechallenge,
        },
        paid,
    })
}

/// Step 1: `GET url` without paying; expects `402` with a `PAYMENT-REQUIRED` header.
pub async fn request_challenge(client: &reqwest::Client, url: &str) -> Result<Challenge, BuyError> {
    let response = send_get(client, url, None).await?;
    let status = response.status();
    if status != StatusCode::PAYMENT_REQUIRED {
        let body = response.text().await.unwrap_or_default();
        return Err(BuyError::NotPaymentRequired {
            url: url.to_owned(),
            status,
            body: body.chars().take(200).collect(),
        });
    }
    let Some(header) = header(response.headers(), codec::PAYMENT_REQUIRED) else {
        return Err(BuyError::MissingHeader {
            status,
            header: codec::PAYMENT_REQUIRED,
        });
    };
    let payment_required =
        codec::decode_payment_required(header.as_bytes(), DEFAULT_MAX_HEADER_BYTES).map_err(
            |source| BuyError::BadHeader {
                header: codec::PAYMENT_REQUIRED,
                source,
            },
        )?;
    Ok(Challenge {
        status,
        header,
        payment_required,
    })
}

/// Step 2: pays the challenge's first option at unix time `now`: an EIP-3009
/// `transferWithAuthorization` for exactly the price, to `payTo`, valid until `now +
/// maxTimeoutSeconds`, with a fresh random nonce, signed by `signer` (EIP-712).
pub fn sign(
    challenge: &v2::PaymentRequired,
    signer: &PrivateKeySigner,
    now: u64,
) -> Result<SignedPayment, BuyError> {
    let accepted = challenge.accepts.first().ok_or(BuyError::NoPaymentOption)?;
    let requirement = RequirementView::from_v2(accepted).map_err(SignError::from)?;
    let authorization = sign_payment(signer, &requirement, now)?;
    let payload = v2::PaymentPayload {
        x402_version: V2,
        resource: Some(challenge.resource.clone()),
        accepted: accepted.clone(),
        payload: SchemePayload::ExactEvm(authorization),
        extensions: None,
    };
    let header = codec::encode_header(&payload);
    Ok(SignedPayment { payload, header })
}

/// Step 3: `GET url` again with the payment in `PAYMENT-SIGNATURE`.
pub async fn send_payment(
    client: &reqwest::Client,
    url: &str,
    payment: &SignedPayment,
) -> Result<PaidResponse, BuyError> {
    let response = send_get(client, url, Some(&payment.header)).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|source| BuyError::Http {
        url: url.to_owned(),
        source,
    })?;
    let receipt = header(&headers, codec::PAYMENT_RESPONSE)
        .map(|value| codec::decode_settle_response(value.as_bytes(), DEFAULT_MAX_HEADER_BYTES))
        .transpose()
        .map_err(|source| BuyError::BadHeader {
            header: codec::PAYMENT_RESPONSE,
            source,
        })?;
    let rechallenge = header(&headers, codec::PAYMENT_REQUIRED)
        .map(|value| codec::decode_payment_required(value.as_bytes(), DEFAULT_MAX_HEADER_BYTES))
        .transpose()
        .map_err(|source| BuyError::BadHeader {
            header: codec::PAYMENT_REQUIRED,
            source,
        })?;
    Ok(PaidResponse {
        status,
        content_type: header(&headers, "content-type"),
        body,
        receipt,
        rechallenge,
    })
}

async fn send_get(
    client: &reqwest::Client,
    url: &str,
    payment: Option<&str>,
) -> Result<reqwest::Response, BuyError> {
    let mut request = client.get(url);
    if let Some(payment) = payment {
        request = request.header(codec::PAYMENT_SIGNATURE, payment);
    }
    request.send().await.map_err(|source| BuyError::Http {
        url: url.to_owned(),
        source,
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}
