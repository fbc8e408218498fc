//! Building an [`HttpFacilitator`]: its settings, validated once, and its TLS configuration.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use super::super::{auth::FacilitatorAuth, breaker::Breaker, supported::SupportedCache};
use super::{Endpoint, HttpFacilitator, Retry, error_chain};
use crate::labels::{FacilitatorOperation, FacilitatorOutcome, keys, names};
use reqwest::{
    Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue},
};

/// A configuration the builder refuses, naming the URL or setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpFacilitatorConfigError {
    /// The URL does not parse.
    #[error("facilitator URL {url:?} is not a valid URL: {detail}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        detail: String,
    },
    /// The scheme is not `http` or `https`.
    #[error("facilitator URL {url:?} must use http or https, not {scheme:?}")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A query or fragment: the base URL gets `/verify` etc. appended, so it must have neither.
    #[error("facilitator URL {url:?} must not have a query or fragment; give the base URL only")]
    QueryOrFragment {
        /// The URL as given.
        url: String,
    },
    /// Credentials in the URL (`user:pass@`) would leak into logs and errors.
    #[error(
        "facilitator URL {url:?} carries credentials; use an auth provider (`.auth(..)`) instead"
    )]
    CredentialsInUrl {
        /// The URL as given.
        url: String,
    },
    /// The same base URL is listed twice.
    #[error("facilitator URL {url:?} is listed twice")]
    DuplicateUrl {
        /// The URL, trailing slashes stripped.
        url: String,
    },
    /// A setting that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// The builder method, e.g. `verify_timeout`.
        setting: &'static str,
    },
    /// The initial backoff is longer than the maximum.
    #[error("retry_backoff: initial {initial:?} is longer than the maximum {max:?}")]
    BackoffOrder {
        /// The initial backoff.
        initial: Duration,
        /// The maximum backoff.
        max: Duration,
    },
    /// The stale limit is shorter than the TTL, so stale answers could never be served.
    #[error("supported_max_stale ({max_stale:?}) is shorter than supported_ttl ({ttl:?})")]
    StaleShorterThanTtl {
        /// The TTL.
        ttl: Duration,
        /// The stale limit.
        max_stale: Duration,
    },
    /// TLS could not be set up (e.g. no CA certificates on the system) while an `https` URL is
    /// configured.
    #[error("cannot set up TLS for {url:?}: {detail}")]
    Tls {
        /// The first `https` URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {detail}")]
    Client {
        /// What failed.
        detail: String,
    },
}

/// Builds an [`HttpFacilitator`]; every setting has a default.
#[derive(Debug)]
#[must_use]
pub struct HttpFacilitatorBuilder {
    pub(super) endpoints: Vec<(String, Option<Arc<dyn FacilitatorAuth>>)>,
    pub(super) timeouts: [Duration; 3],
    pub(super) connect_timeout: Duration,
    pub(super) retry: Retry,
    pub(super) breaker_threshold: u32,
    pub(super) breaker_cool_down: Duration,
    pub(super) supported_ttl: Duration,
    pub(super) supported_max_stale: Duration,
    pub(super) max_response_bytes: usize,
}

impl HttpFacilitatorBuilder {
    /// Auth headers for the primary facilitator (the URL given to
    /// [`HttpFacilitator::builder`]), computed before each attempt. Default: none.
    pub fn auth(mut self, auth: impl FacilitatorAuth) -> Self {
        self.endpoints[0].1 = Some(Arc::new(auth));
        self
    }

    /// A facilitator to fail over to, after those already listed; no auth headers.
    pub fn fallback(mut self, base_url: impl Into<String>) -> Self {
        self.endpoints.push((base_url.into(), None));
        self
    }

    /// A facilitator to fail over to, with its own auth headers.
    pub fn fallback_with_auth(
        mut self,
        base_url: impl Into<String>,
        auth: impl FacilitatorAuth,
    ) -> Self {
        self.endpoints.push((base_url.into(), Some(Arc::new(auth))));
        self
    }

    /// Time limit of one verify attempt, and of the whole call unless a
    /// [`retry_budget`](Self::retry_budget) is set. Default 5 s.
    pub fn verify_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts[0] = timeout;
        self
    }

    /// Time limit of a settle call. Default 60 s. Past it the outcome is
    /// [`SettleUnknown`](crate::facilitator::FacilitatorError::SettleUnknown).
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts[1] = timeout;
        self
    }

    /// Time limit of one `/supported` attempt, and of the whole fetch unless a
    /// [`retry_budget`](Self::retry_budget) is set. Default 5 s.
    pub fn supported_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts[2] = timeout;
        self
    }

    /// Time limit for opening a connection (within the call's own limit). A connection not
    /// made in time counts as "nothing sent", so even a settle fails over. Default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Attempts per facilitator for verify and supported (1 = no retry). Default 2. Settle
    /// always makes one.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts;
        self
    }

    /// The pause before the first retry, doubling up to `max`, with jitter. Default 25 ms up to
    /// 500 ms.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry.backoff_initial = initial;
        self.retry.backoff_max = max;
        self
    }

    /// Total time for a verify or supported call, retries and failover included. Default: the
    /// operation's timeout.
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry.budget = Some(budget);
        self
    }

    /// Consecutive failures that open a facilitator's circuit breaker. Default 5.
    pub fn breaker_threshold(mut self, failures: u32) -> Self {
        self.breaker_threshold = failures;
        self
    }

    /// How long an open breaker skips its facilitator before one probe call. Default 30 s.
    pub fn breaker_cool_down(mut self, cool_down: Duration) -> Self {
        self.breaker_cool_down = cool_down;
        self
    }

    /// How long a `/supported` answer is served without asking again. Default 5 min.
    pub fn supported_ttl(mut self, ttl: Duration) -> Self {
        self.supported_ttl = ttl;
        self
    }

    /// The age up to which a cached `/supported` answer is served while the facilitator is
    /// unreachable; at least the TTL. Default 1 h.
    pub fn supported_max_stale(mut self, max_stale: Duration) -> Self {
        self.supported_max_stale = max_stale;
        self
    }

    /// The largest response body read; a larger one is
    /// [`Malformed`](crate::facilitator::FacilitatorError::Malformed). Default 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<HttpFacilitator, HttpFacilitatorConfigError> {
        use HttpFacilitatorConfigError as E;

        let positive = [
            ("verify_timeout", self.timeouts[0].is_zero()),
            ("settle_timeout", self.timeouts[1].is_zero()),
            ("supported_timeout", self.timeouts[2].is_zero()),
            ("connect_timeout", self.connect_timeout.is_zero()),
            ("max_attempts", self.retry.max_attempts == 0),
            (
                "retry_budget",
                self.retry.budget.is_some_and(|b| b.is_zero()),
            ),
            ("breaker_threshold", self.breaker_threshold == 0),
            ("max_response_bytes", self.max_response_bytes == 0),
        ];
        if let Some((setting, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(E::Zero { setting });
        }
        if self.retry.backoff_initial > self.retry.backoff_max {
            return Err(E::BackoffOrder {
                initial: self.retry.backoff_initial,
                max: self.retry.backoff_max,
            });
        }
        if self.supported_max_stale < self.supported_ttl {
            return Err(E::StaleShorterThanTtl {
                ttl: self.supported_ttl,
                max_stale: self.supported_max_stale,
            });
        }

        let breaker = (self.breaker_threshold, self.breaker_cool_down);
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for (url, auth) in self.endpoints {
            let endpoint = Endpoint::parse(&url, auth, breaker)?;
            if endpoints
                .iter()
                .any(|known: &Endpoint| known.name == endpoint.name)
            {
                return Err(E::DuplicateUrl {
                    url: endpoint.name.to_string(),
                });
            }
            endpoints.push(endpoint);
        }

        let tls = match tls_config() {
            Ok(config) => config.clone(),
            Err(detail) => match endpoints.iter().find(|e| e.urls[0].scheme() == "https") {
                Some(https) => {
                    return Err(E::Tls {
                        url: https.name.to_string(),
                        detail: detail.clone(),
                    });
                }
                // Plain-HTTP facilitators only (a local one): no trust roots needed.
                None => plaintext_only_tls_config(),
            },
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .default_headers(headers)
            .user_agent(concat!("x402-rs/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|error| E::Client {
                detail: error_chain(&error),
            })?;

        register_series(&endpoints);
        Ok(HttpFacilitator {
            client,
            endpoints: endpoints.into(),
            timeouts: self.timeouts,
            retry: self.retry,
            max_response_bytes: self.max_response_bytes,
            supported: SupportedCache::new(self.supported_ttl, self.supported_max_stale),
        })
    }
}

/// Registers the facilitator series with the recorder installed now, before the first call:
/// the latency of every operation and outcome (empty), and each facilitator's breaker-opened
/// count at 0. A series born at its first call would hide that call from `rate()`.
fn register_series(endpoints: &[Endpoint]) {
    for operation in FacilitatorOperation::ALL {
        for outcome in FacilitatorOutcome::ALL {
            let _ = metrics::histogram!(
                names::FACILITATOR_REQUEST_DURATION_SECONDS,
                keys::OPERATION => operation.as_str(),
                keys::OUTCOME => outcome.as_str(),
            );
        }
    }
    for endpoint in endpoints {
        metrics::counter!(
            names::FACILITATOR_BREAKER_OPENED_TOTAL,
            keys::FACILITATOR => Arc::clone(&endpoint.host),
        )
        .increment(0);
    }
}

impl Endpoint {
    fn parse(
        given: &str,
        auth: Option<Arc<dyn FacilitatorAuth>>,
        (breaker_threshold, breaker_cool_down): (u32, Duration),
    ) -> Result<Self, HttpFacilitatorConfigError> {
        use HttpFacilitatorConfigError as E;

        let base = given.trim().trim_end_matches('/');
        let url = Url::parse(base).map_err(|error| E::InvalidUrl {
            url: given.to_owned(),
            detail: error.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(E::UnsupportedScheme {
                url: given.to_owned(),
                scheme: url.scheme().to_owned(),
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(E::QueryOrFragment {
                url: given.to_owned(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(E::CredentialsInUrl {
                url: given.to_owned(),
            });
        }
        let Some(host) = url.host_str() else {
            return Err(E::InvalidUrl {
                url: given.to_owned(),
                detail: "no host".to_owned(),
            });
        };
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let join = |path: &str| {
            Url::parse(&format!("{base}{path}")).map_err(|error| E::InvalidUrl {
                url: given.to_owned(),
                detail: error.to_string(),
            })
        };
        Ok(Self {
            name: base.into(),
            host: host.into(),
            urls: [join("/verify")?, join("/settle")?, join("/supported")?],
            auth,
            breaker: Breaker::new(breaker_threshold, breaker_cool_down),
        })
    }
}

/// The rustls configuration: the `ring` provider (no aws-lc, no cmake), the platform's trust
/// roots, HTTP/1.1. Built once per process; reading the system store is not free.
pub(super) fn tls_config() -> &'static Result<rustls::ClientConfig, String> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        use rustls_platform_verifier::BuilderVerifierExt as _;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_platform_verifier()
            .map_err(|error| error.to_string())?
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    })
}

/// A rustls configuration without trust roots, for a client that only speaks plain HTTP.
fn plaintext_only_tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
        // ring supports the default protocol versions; this cannot fail.
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
}
