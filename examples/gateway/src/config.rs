//! The gateway's configuration file: the gateway settings, then `payment` and `routes` exactly
//! as in the `spec` of an `X402Route`, so the block moves between a file and a CRD unchanged.
//!
//! Loading validates everything and reports every error at once, each naming its field (and,
//! for routes, the route): a gateway never starts, and a reload never applies, a half-valid
//! configuration.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Deserialize;

use crate::listener_tls::Certificates;
pub use crate::{listener_tls::ListenerTlsConfig, upstream_tls::UpstreamTlsConfig};
use x402_core::{
    RouteTable,
    facilitator::dev::DevFacilitator,
    flow::PaymentFlow,
    gate::{Gate, RouteTableHandle, SettlementMode, UnmatchedPolicy},
    replay::ReplayGuard,
    spec::{IngressRef, PaymentDefaults, RouteRule, RouteSpec},
    wire::SupportedResponse,
};

/// The configuration file, as written.
///
/// ```yaml
/// listen: 0.0.0.0:8080
/// mode: proxy                 # or forward-auth
/// tls: { certFile: /etc/x402/tls.crt, keyFile: /etc/x402/tls.key }  # default: plain http
/// upstream: http://app:3000   # proxy mode; or https://
/// upstreamTls: { caFile: ca.pem, certFile: client.pem, keyFile: client.key }  # all optional
/// unmatched: deny             # default: deny (403 no_route); or allow
/// settlement: after           # after | before | verify-only (forward-auth default: verify-only)
/// trustForwardedHeaders: false
/// forwarded: false            # also set RFC 7239 `Forwarded`
/// preserveHost: false         # true: the upstream gets the client's `Host`
/// timeouts: { upstreamConnect: 5s, upstreamResponse: 60s, upstreamIdle: 90s, clientHeader: 10s }
/// maxBodyBytes: 10485760      # 10 MiB (default); larger bodies get 413
/// maxConcurrentRequests: 1024 # default: unlimited; beyond it 503
/// accessLog: true             # one line per request (default); false: none
/// logFormat: text             # or json (every log line)
/// baseUrl: https://api.example.com
/// metricsListen: 0.0.0.0:9090 # /metrics, /healthz, /readyz
/// facilitator: dev            # the dev facilitator; otherwise payment.facilitatorURL
/// replay:                     # default: in memory (one instance)
///   redis: { url: "redis://redis:6379/", timeout: 1s, keyPrefix: "x402:replay:" }
/// ledger: sqlite:///var/lib/x402/ledger.db  # default: none; replaces `replay` when set
/// ledgerTiming: { claimLease: 60s, settlingStaleAfter: 60s, reconcileEvery: 5s }  # defaults
/// discovery: { wellKnown: true, openapi: true, title: Weather API, version: "1.0" }  # default: off
/// routesFrom:                 # default: `routes` below
///   kubernetes: { namespaces: [shop], labelSelector: team=payments, writeStatus: true }
///   # operator mode (opt-in): patch each X402Route's `ingressRef` so paid paths reach us
///   #   kubernetes: { namespaces: [shop], ingress: { service: x402-gateway, port: 8402 } }
/// payment: { wallet: "0x…", network: base-sepolia, facilitatorURL: https://x402.org/facilitator }
/// routes:
///   - { path: /api/**, price: "$0.001" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// The address the gateway listens on (`0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// Reverse proxy, or ForwardAuth server.
    pub mode: Mode,
    /// TLS on the listener (see [`crate::listener_tls`]); default plain HTTP.
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
    /// Proxy mode: the upstream base URL (`http://app:3000`, optionally with a path prefix).
    #[serde(default)]
    pub upstream: Option<String>,
    /// `https://` upstreams: the CAs to trust and a client certificate (see
    /// [`crate::upstream_tls`]).
    #[serde(default)]
    pub upstream_tls: Option<UpstreamTlsConfig>,
    /// What requests no route matches get (default: `deny`, a 403 — fail closed).
    #[serde(default)]
    pub unmatched: Unmatched,
    /// When payments settle (default: `after` in proxy mode, `verify-only` in forward-auth).
    #[serde(default)]
    pub settlement: Option<Settlement>,
    /// Trust `X-Forwarded-*` from the client side (only behind a proxy that sets them).
    #[serde(default)]
    pub trust_forwarded_headers: bool,
    /// Also set RFC 7239 `Forwarded` on proxied requests (`X-Forwarded-*` are always set).
    #[serde(default)]
    pub forwarded: bool,
    /// Proxy mode: send the client's `Host` to the upstream instead of the upstream's own.
    #[serde(default)]
    pub preserve_host: bool,
    /// The proxy's timeouts (see [`TimeoutsConfig`]; defaults for what it leaves out).
    #[serde(default)]
    pub timeouts: Option<TimeoutsConfig>,
    /// The largest request body accepted, in bytes (default 10 MiB): a larger `Content-Length`
    /// is refused with 413 before anything else, and a streamed body is cut, and answered 413,
    /// when it goes past it.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// The most requests served at once (default: no limit); those beyond it get 503
    /// `overloaded` at once, before any payment work.
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// One access log line per request (default `true`; see [`crate::access_log`]).
    #[serde(default = "yes")]
    pub access_log: bool,
    /// How the binary writes its log lines (default `text`). Read once at startup.
    #[serde(default)]
    pub log_format: LogFormat,
    /// The public base URL used in resource URLs of challenges.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The operations listener: `/metrics` (Prometheus text), `/healthz`, `/readyz`.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// `dev` for the dev facilitator (settles nothing on chain); otherwise unset, and
    /// `payment.facilitatorURL` is used.
    #[serde(default)]
    pub facilitator: Option<String>,
    /// Where replay state lives (default: in this process). Restart to change it.
    #[serde(default)]
    pub replay: Option<ReplayConfig>,
    /// The durable payment ledger (`sqlite:///path/ledger.db`; see [`crate::ledger`]): the
    /// replay store, idempotent retries and the record of every payment. Restart to change it.
    #[serde(default)]
    pub ledger: Option<String>,
    /// How the ledger takes over what a dead gateway left (see [`LedgerTiming`]); only with
    /// `ledger`. Restart to change it.
    #[serde(default)]
    pub ledger_timing: Option<LedgerTiming>,
    /// Proxy mode: serve the discovery documents generated from the routes (see
    /// `x402_core::discovery`); default: neither, so that the upstream's own paths stay its.
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// Where the route table comes from (default: `routes` in this file). Restart to change it.
    #[serde(default)]
    pub routes_from: Option<RoutesFrom>,
    /// As in an `X402Route` spec: accepted and ignored.
    #[serde(default)]
    pub ingress_ref: Option<IngressRef>,
    /// As in an `X402Route` spec: defaults for every route.
    #[serde(default)]
    pub payment: PaymentDefaults,
    /// As in an `X402Route` spec: the routes, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteRule>,
}

/// `discovery`: which documents the gateway answers itself (each then shadows the upstream's
/// path), and the OpenAPI document's `info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Serve `/.well-known/x402.json` (default: yes).
    #[serde(default = "yes")]
    pub well_known: bool,
    /// Serve `/openapi.json` (default: yes).
    #[serde(default = "yes")]
    pub openapi: bool,
    /// The OpenAPI `info.title` (default: `x402 paid API`).
    #[serde(default)]
    pub title: Option<String>,
    /// The OpenAPI `info.version` (default: `1.0.0`).
    #[serde(default)]
    pub version: Option<String>,
}

impl DiscoveryConfig {
    /// The OpenAPI `info` this asks for.
    pub fn api_info(&self) -> x402_core::discovery::ApiInfo {
        let default = x402_core::discovery::ApiInfo::default();
        x402_core::discovery::ApiInfo::new(
            self.title.clone().unwrap_or(default.title),
            self.version.clone().unwrap_or(default.version),
        )
    }
}

/// The `replay` setting: the store that remembers payments in flight and settled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayConfig {
    /// A Redis server shared by every instance behind the load balancer.
    pub redis: RedisReplayConfig,
}

/// `replay.redis`: see `x402_core::replay::RedisReplayGuard`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisReplayConfig {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// The bound on one Redis call, connection included: `500ms`, `1s` (default `1s`). When
    /// Redis does not answer in time the payment is refused with 503 (fail closed).
    #[serde(default)]
    pub timeout: Option<String>,
    /// The key prefix; instances sharing replay state must use the same one (default
    /// `x402:replay:`).
    #[serde(default)]
    pub key_prefix: Option<String>,
}

/// `timeouts`: how long the gateway waits, each a duration (`500ms`, `5s`, `1m`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Connecting to the upstream (default 5 s); past it the request gets 504.
    #[serde(default)]
    pub upstream_connect: Option<String>,
    /// From sending the request to the upstream's response head (default 60 s); past it the
    /// request gets 504 `upstream_timeout`, and a paid request is not charged.
    #[serde(default)]
    pub upstream_response: Option<String>,
    /// How long an idle upstream connection is kept in the pool (default 90 s).
    #[serde(default)]
    pub upstream_idle: Option<String>,
    /// How long a client may take to send a request's headers (default 10 s; slowloris): past
    /// it the connection is closed.
    #[serde(default)]
    pub client_header: Option<String>,
}

/// [`TimeoutsConfig`] read: the values the gateway runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `upstreamConnect`.
    pub upstream_connect: Duration,
    /// `upstreamResponse`.
    pub upstream_response: Duration,
    /// `upstreamIdle`.
    pub upstream_idle: Duration,
    /// `clientHeader`.
    pub client_header: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            upstream_connect: Duration::from_secs(5),
            upstream_response: Duration::from_secs(60),
            upstream_idle: Duration::from_secs(90),
            client_header: Duration::from_secs(10),
        }
    }
}

impl TimeoutsConfig {
    /// The timeouts, or every error naming its field (`timeouts.upstreamResponse`, …).
    pub fn timeouts(&self) -> Result<Timeouts, Vec<String>> {
        let mut timeouts = Timeouts::default();
        let mut errors = Vec::new();
        let fields = [
            (
                "upstreamConnect",
                &self.upstream_connect,
                &mut timeouts.upstream_connect,
            ),
            (
                "upstreamResponse",
                &self.upstream_response,
                &mut timeouts.upstream_response,
            ),
            (
                "upstreamIdle",
                &self.upstream_idle,
                &mut timeouts.upstream_idle,
            ),
            (
                "clientHeader",
                &self.client_header,
                &mut timeouts.client_header,
            ),
        ];
        for (field, text, slot) in fields {
            let Some(text) = text.as_deref() else {
                continue;
            };
            match parse_duration(text) {
                Ok(duration) => *slot = duration,
                Err(why) => errors.push(format!("`timeouts.{field}` = {text:?}: {why}")),
            }
        }
        if errors.is_empty() {
            Ok(timeouts)
        } else {
            Err(errors)
        }
    }
}

/// The default of `maxBodyBytes`: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// The request limits the gateway runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `maxBodyBytes`.
    pub max_body_bytes: u64,
    /// `maxConcurrentRequests` (`None`: no limit).
    pub max_concurrent_requests: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent_requests: None,
        }
    }
}

/// `ledgerTiming`: how soon the records a killed (or hung) gateway left are taken over. Each is
/// a duration (`500ms`, `2s`, `1m`), whole seconds for the first two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerTiming {
    /// How long a payment claimed (or verified) and not yet sent to `/settle` stays held by its
    /// request before a retry may take it over (default 60 s,
    /// [`x402_core::ledger::DEFAULT_CLAIM_LEASE_SECONDS`]). Nothing was charged, so taking it
    /// over cannot charge twice; it must exceed the slowest handler of a route settling after
    /// it, or that request loses its claim and answers 503.
    #[serde(default)]
    pub claim_lease: Option<String>,
    /// How long a payment may stay `settling` before the reconciler takes its gateway for dead
    /// and settles it again with the recorded body (default 60 s,
    /// [`crate::ledger::SETTLING_STALE_AFTER`]). Keep it above the facilitator's settle time.
    #[serde(default)]
    pub settling_stale_after: Option<String>,
    /// How often the reconciler looks for unfinished settlements (default 5 s,
    /// [`crate::ledger::RECONCILE_EVERY`]).
    #[serde(default)]
    pub reconcile_every: Option<String>,
}

/// [`LedgerTiming`] read: the values the gateway runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerTimers {
    /// `claimLease`, whole seconds.
    pub claim_lease_seconds: u64,
    /// `settlingStaleAfter`.
    pub settling_stale_after: Duration,
    /// `reconcileEvery`.
    pub reconcile_every: Duration,
}

impl Default for LedgerTimers {
    fn default() -> Self {
        Self {
            claim_lease_seconds: x402_core::ledger::DEFAULT_CLAIM_LEASE_SECONDS,
            settling_stale_after: crate::ledger::SETTLING_STALE_AFTER,
            reconcile_every: crate::ledger::RECONCILE_EVERY,
        }
    }
}

impl LedgerTiming {
    /// The timers, or every error naming its field (`ledgerTiming.claimLease`, …).
    pub fn timers(&self) -> Result<LedgerTimers, Vec<String>> {
        let mut timers = LedgerTimers::default();
        let mut errors = Vec::new();
        let mut read = |field: &str, value: &Option<String>, whole_seconds: bool| {
            let text = value.as_deref()?;
            match parse_duration(text) {
                Ok(duration) if whole_seconds && duration.subsec_nanos() != 0 => {
                    errors.push(format!(
                        "`ledgerTiming.{field}` = {text:?}: must be whole seconds (`2s`, `1m`)"
                    ));
                    None
                }
                Ok(duration) => Some(duration),
                Err(why) => {
                    errors.push(format!("`ledgerTiming.{field}` = {text:?}: {why}"));
                    None
                }
            }
        };
        if let Some(lease) = read("claimLease", &self.claim_lease, true) {
            timers.claim_lease_seconds = lease.as_secs();
        }
        if let Some(stale) = read("settlingStaleAfter", &self.settling_stale_after, true) {
            timers.settling_stale_after = stale;
        }
        if let Some(every) = read("reconcileEvery", &self.reconcile_every, false) {
            timers.reconcile_every = every;
        }
        if errors.is_empty() {
            Ok(timers)
        } else {
            Err(errors)
        }
    }
}

impl GatewayConfig {
    /// The timeouts (`timeouts`, defaults for what it leaves out; see [`Self::ledger_timers`]
    /// for a config built by hand with bad values).
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
            .as_ref()
            .and_then(|timeouts| timeouts.timeouts().ok())
            .unwrap_or_default()
    }

    /// The request limits (`maxBodyBytes`, `maxConcurrentRequests`).
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_concurrent_requests: self.max_concurrent_requests,
        }
    }

    /// The ledger's timers (`ledgerTiming`, defaults for what it leaves out). A loaded
    /// configuration has been checked, so this falls back to the defaults only for a config
    /// built by hand with bad values.
    pub fn ledger_timers(&self) -> LedgerTimers {
        self.ledger_timing
            .as_ref()
            .and_then(|timing| timing.timers().ok())
            .unwrap_or_default()
    }
}

/// The `routesFrom` setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoutesFrom {
    /// The routes of `X402Route` resources, live (see `x402_kube::watch::RouteWatcher`).
    pub kubernetes: KubernetesRoutes,
}

/// `routesFrom.kubernetes`: which `X402Route` resources make the route table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesRoutes {
    /// The namespaces to watch (default, or empty: the whole cluster).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Only resources matching this label selector (`team=payments`).
    #[serde(default)]
    pub label_selector: Option<String>,
    /// Write each resource's `status` (default `true`; `false` needs no `patch` permission).
    #[serde(default = "yes")]
    pub write_status: bool,
    /// Operator mode (opt-in): patch the Ingress each resource names in `spec.ingressRef` so
    /// that its paid paths reach this gateway's Service (see `x402_kube::operator`).
    #[serde(default)]
    pub ingress: Option<IngressPatching>,
}

/// `routesFrom.kubernetes.ingress`: the gateway's own Service, which paid Ingress paths are
/// pointed at. It must exist in each patched Ingress's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressPatching {
    /// The Service name (`x402-gateway`).
    pub service: String,
    /// Its port: a number (`8402`) or a name (`http`).
    pub port: ServicePort,
}

/// A Service port, by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ServicePort {
    /// `8402`.
    Number(u16),
    /// `http`.
    Name(String),
}

fn yes() -> bool {
    true
}

/// The `logFormat` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines (`tracing-subscriber`'s default format).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A reverse proxy to `upstream` running the whole exchange.
    Proxy,
    /// An authorization server for Traefik `forwardAuth`, nginx `auth_request`, Envoy
    /// `ext_authz` (HTTP).
    ForwardAuth,
}

/// The `unmatched` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmatched {
    /// Serve unmatched requests unpriced.
    Allow,
    /// Refuse them with 403 `no_route`.
    #[default]
    Deny,
}

/// The `settlement` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Settlement {
    /// Settle after the upstream answered below 400, before its body is sent.
    After,
    /// Settle before calling the upstream.
    Before,
    /// Verify only; settlement happens elsewhere.
    VerifyOnly,
}

/// Which facilitator the gateway talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacilitatorChoice {
    /// The in-process dev facilitator. **It settles nothing on chain.**
    Dev,
    /// The facilitator at this URL (`payment.facilitatorURL`).
    Url(String),
}

/// A validated configuration: the settings resolved and the route table compiled.
#[derive(Debug)]
pub struct Loaded {
    /// The file as written.
    pub config: GatewayConfig,
    /// The compiled routes.
    pub table: RouteTable,
    /// The effective settlement mode.
    pub settlement: SettlementMode,
    /// The effective unmatched policy.
    pub unmatched: UnmatchedPolicy,
    /// The facilitator to use.
    pub facilitator: FacilitatorChoice,
    /// Proxy mode: the upstream, split for request rewriting.
    pub upstream: Option<Upstream>,
    /// Proxy mode: the TLS client configuration of `https://` upstreams (`upstreamTls`).
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
    /// The listener's certificate (`tls`), loaded.
    pub listener_tls: Option<Arc<Certificates>>,
    /// The shared replay store, when `replay` is set (`None`: the gate's in-memory one).
    pub replay_guard: Option<Arc<dyn ReplayGuard>>,
    /// Where the route table comes from.
    pub route_source: RouteSource,
    /// Accepted but probably not meant: log them.
    pub warnings: Vec<String>,
}

/// Where the live route table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    /// The file's `routes`, reloaded when the file changes.
    File,
    /// `X402Route` resources (`routesFrom.kubernetes`); the file's `routes` must be empty.
    #[cfg(feature = "kube")]
    Kubernetes(KubernetesRoutes),
}

/// The upstream of proxy mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// A path prefix without the trailing `/` (`""` for none).
    pub prefix: String,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a gateway configuration (syntax, unknown key, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// The file parses but has errors; every one is listed with its field.
    #[error("{}", Listed(.path, .errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every error, each naming its field (and route).
        errors: Vec<String>,
    },
}

struct Listed<'a>(&'a Path, &'a [String]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.1.len();
        write!(
            f,
            "{}: {n} error{} in the gateway configuration:",
            self.0.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for error in self.1 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

/// The text of the warning logged when ForwardAuth mode is configured to settle.
pub const FORWARD_AUTH_SETTLES_WARNING: &str = "forward-auth mode is configured to settle \
     payments, but the auth hop cannot see the upstream's status: clients are charged even when \
     the upstream then fails. Use `settlement: verify-only` (the default) unless settlement \
     really must happen here";

impl GatewayConfig {
    /// Parses a file's text: JSON when `path` ends in `.json`, YAML otherwise.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
        };
        parsed.map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Whether some route pays `scheme: upto`, whose offer needs the facilitator's
    /// `/supported` answer (always with `routesFrom.kubernetes`: those routes are not known
    /// yet).
    pub fn needs_supported(&self) -> bool {
        self.routes_from.is_some()
            || self.routes.iter().any(|route| {
                route.scheme.as_deref() == Some("upto")
                    || route
                        .accepts
                        .iter()
                        .any(|a| a.scheme.as_deref() == Some("upto"))
            })
    }

    /// The `payment` and `routes` blocks as the route spec they are.
    pub fn spec(&self) -> RouteSpec {
        RouteSpec {
            ingress_ref: self.ingress_ref.clone(),
            payment: self.payment.clone(),
            routes: self.routes.clone(),
        }
    }
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, None)
}

/// [`load`], building the route table with the facilitator's `/supported` answer, which
/// `scheme: upto` routes need (their offer names the facilitator's address).
pub fn load_with(
    path: &Path,
    supported: Option<&SupportedResponse>,
) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    validate_with(path, GatewayConfig::parse(path, &text)?, supported)
}

/// Validates a parsed configuration, collecting every error.
pub fn validate(path: &Path, config: GatewayConfig) -> Result<Loaded, ConfigError> {
    validate_with(path, config, None)
}

/// [`validate`] with the facilitator's `/supported` answer (see [`load_with`]).
pub fn validate_with(
    path: &Path,
    config: GatewayConfig,
    supported: Option<&SupportedResponse>,
) -> Result<Loaded, ConfigError> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let upstream = match (config.mode, config.upstream.as_deref()) {
        (Mode::Proxy, None) => {
            errors.push("`upstream`: missing: proxy mode needs the upstream URL".to_owned());
            None
        }
        (Mode::Proxy, Some(url)) => match parse_upstream(url) {
            Ok(upstream) => Some(upstream),
            Err(message) => {
                errors.push(format!("`upstream` = {url:?}: {message}"));
                None
            }
        },
        (Mode::ForwardAuth, Some(url)) => {
            warnings.push(format!(
                "`upstream` = {url:?} is ignored in forward-auth mode (the reverse proxy in \
                 front of the gateway reaches the upstream)"
            ));
            None
        }
        (Mode::ForwardAuth, None) => None,
    };

    // Routes with their own `upstream` (proxy mode).
    let mut any_https = false;
    for (index, route) in config.routes.iter().enumerate() {
        let Some(url) = route.upstream.as_deref() else {
            continue;
        };
        let name = route.name.as_deref().unwrap_or(&route.path);
        match (config.mode, parse_upstream(url)) {
            (Mode::ForwardAuth, _) => warnings.push(format!(
                "route {name:?} (routes[{index}].upstream) is ignored in forward-auth mode"
            )),
            (Mode::Proxy, Ok(upstream)) => {
                any_https |= upstream.scheme == http::uri::Scheme::HTTPS;
            }
            (Mode::Proxy, Err(message)) => errors.push(format!(
                "route {name:?}: `routes[{index}].upstream` = {url:?}: {message}"
            )),
        }
    }
    let upstream_tls = match (&upstream, &config.upstream_tls) {
        (None, _) => None,
        (Some(upstream), tls) if any_https || upstream.scheme == http::uri::Scheme::HTTPS => {
            match tls.clone().unwrap_or_default().client_config() {
                Ok(client) => Some(Arc::new(client)),
                Err(mut found) => {
                    errors.append(&mut found);
                    None
                }
            }
        }
        (Some(_), tls) => {
            if tls.is_some() {
                warnings.push("`upstreamTls` is ignored: the upstream is plain http://".to_owned());
            }
            match crate::upstream_tls::unused_client_config() {
                Ok(client) => Some(Arc::new(client)),
                Err(error) => {
                    errors.push(format!("`upstreamTls`: {error}"));
                    None
                }
            }
        }
    };

    let listener_tls = config
        .tls
        .as_ref()
        .and_then(|files| match Certificates::load(files) {
            Ok(certificates) => Some(Arc::new(certificates)),
            Err(mut found) => {
                errors.append(&mut found);
                None
            }
        });

    if config.mode == Mode::ForwardAuth && config.discovery.is_some() {
        errors.push(
            "`discovery`: proxy mode only (in forward-auth mode the proxy in front routes the \
             paths; serve the documents from the upstream with x402-tower or x402-actix)"
                .to_owned(),
        );
    }

    let settlement = match (config.mode, config.settlement) {
        (Mode::Proxy, None | Some(Settlement::After)) => SettlementMode::AfterHandler,
        (Mode::ForwardAuth, None | Some(Settlement::VerifyOnly)) => SettlementMode::VerifyOnly,
        (Mode::Proxy, Some(Settlement::VerifyOnly)) => SettlementMode::VerifyOnly,
        (_, Some(Settlement::Before)) => SettlementMode::BeforeHandler,
        (Mode::ForwardAuth, Some(Settlement::After)) => SettlementMode::AfterHandler,
    };
    if config.mode == Mode::ForwardAuth && settlement != SettlementMode::VerifyOnly {
        warnings.push(FORWARD_AUTH_SETTLES_WARNING.to_owned());
    }

    let facilitator = match config.facilitator.as_deref() {
        Some("dev") => {
            warnings.push(
                "`facilitator: dev`: the dev facilitator settles nothing on chain; this \
                 gateway gives its resources away. For tests and demos only"
                    .to_owned(),
            );
            Some(FacilitatorChoice::Dev)
        }
        Some(other) => {
            errors.push(format!(
                "`facilitator` = {other:?}: only `dev` is accepted here; put the facilitator's \
                 URL in `payment.facilitatorURL`"
            ));
            None
        }
        None => match &config.payment.facilitator_url {
            Some(url) => Some(FacilitatorChoice::Url(url.clone())),
            None => {
                errors.push(
                    "`payment.facilitatorURL`: missing: set it, or `facilitator: dev` for the dev \
                     facilitator"
                        .to_owned(),
                );
                None
            }
        },
    };

    if let Some(base_url) = &config.base_url {
        let probe = Gate::builder(
            RouteTableHandle::new(RouteTable::empty()),
            Arc::new(DevFacilitator::new([])),
        )
        .base_url(base_url.clone())
        .build();
        if let Err(error) = probe {
            errors.push(format!("`baseUrl`: {error}"));
        }
    }

    let replay_guard = config
        .replay
        .as_ref()
        .and_then(|replay| match redis_guard(&replay.redis) {
            Ok(guard) => Some(guard),
            Err(error) => {
                errors.push(error);
                None
            }
        });

    if let Some(url) = &config.ledger {
        if let Err(message) = crate::ledger::check_url(url) {
            errors.push(format!("`ledger` = {url:?}: {message}"));
        }
        if config.replay.is_some() {
            errors.push(
                "`replay`: must be unset with `ledger` (the ledger is the replay store)".to_owned(),
            );
        }
        if settlement == SettlementMode::VerifyOnly {
            errors.push(
                "`ledger`: needs a gateway that settles; this one is verify-only (set \
                 `settlement: after` or `before`)"
                    .to_owned(),
            );
        }
    }
    if let Some(Err(mut found)) = config.timeouts.as_ref().map(TimeoutsConfig::timeouts) {
        errors.append(&mut found);
    }
    if config.max_body_bytes == Some(0) {
        errors.push("`maxBodyBytes`: must be more than zero".to_owned());
    }
    if config.max_concurrent_requests == Some(0) {
        errors.push(
            "`maxConcurrentRequests`: must be more than zero (remove it for no limit)".to_owned(),
        );
    }
    if let Some(timing) = &config.ledger_timing {
        if config.ledger.is_none() {
            errors.push(
                "`ledgerTiming`: needs `ledger` (it times the ledger's takeovers)".to_owned(),
            );
        }
        if let Err(mut found) = timing.timers() {
            errors.append(&mut found);
        }
    }

    let route_source = match &config.routes_from {
        None => RouteSource::File,
        Some(RoutesFrom { kubernetes }) => {
            if !config.routes.is_empty() {
                errors.push(
                    "`routes`: must be empty with `routesFrom.kubernetes` (the routes come from \
                     X402Route resources)"
                        .to_owned(),
                );
            }
            if kubernetes.namespaces.iter().any(|n| n.trim().is_empty()) {
                errors.push("`routesFrom.kubernetes.namespaces`: an empty name".to_owned());
            }
            if kubernetes
                .label_selector
                .as_deref()
                .is_some_and(|s| s.trim().is_empty())
            {
                errors.push(
                    "`routesFrom.kubernetes.labelSelector`: empty (remove it to select every \
                     resource)"
                        .to_owned(),
                );
            }
            if let Some(ingress) = &kubernetes.ingress {
                check_ingress_patching(ingress, kubernetes.write_status, config.mode, &mut errors);
            }
            kubernetes_source(kubernetes, &mut errors)
        }
    };

    let source = path.display().to_string();
    let spec = config.spec();
    // Gateway modes match case-insensitively unless a route says otherwise: the upstream may.
    // `settlement: before` is the protocol's `upfront` flow: advertised, and no `/verify`.
    let default_flow = if settlement == SettlementMode::BeforeHandler {
        PaymentFlow::Upfront
    } else {
        PaymentFlow::Authorization
    };
    // Without a ledger, a route declaring `paymentIdentifier` is refused, naming it.
    let mut builder = RouteTable::builder()
        .case_insensitive_by_default(true)
        .default_payment_flow(default_flow)
        .ledger(config.ledger.is_some())
        .named_spec(&source, &spec);
    if let Some(supported) = supported {
        builder = builder.supported(supported);
    }
    let table = match builder.build() {
        Ok(table) => {
            warnings.extend(table.warnings().iter().map(ToString::to_string));
            Some(table)
        }
        Err(build) => {
            errors.extend(build.errors().iter().map(ToString::to_string));
            None
        }
    };

    match (table, facilitator) {
        (Some(table), Some(facilitator)) if errors.is_empty() => Ok(Loaded {
            unmatched: match config.unmatched {
                Unmatched::Allow => UnmatchedPolicy::Allow,
                Unmatched::Deny => UnmatchedPolicy::Deny,
            },
            config,
            table,
            settlement,
            facilitator,
            upstream,
            upstream_tls,
            listener_tls,
            replay_guard,
            route_source,
            warnings,
        }),
        _ => Err(ConfigError::Invalid {
            path: path.to_owned(),
            errors,
        }),
    }
}

/// `routesFrom.kubernetes.ingress`: a Service name as Kubernetes spells one, a port, proxy
/// mode (Ingress controllers forward the request itself to the gateway), and status on (it is
/// where a conflict or a missing Ingress is reported).
fn check_ingress_patching(
    ingress: &IngressPatching,
    write_status: bool,
    mode: Mode,
    errors: &mut Vec<String>,
) {
    let dns_label = |name: &str| {
        !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-')
    };
    if !dns_label(&ingress.service) {
        errors.push(format!(
            "`routesFrom.kubernetes.ingress.service`: {:?} is not a Service name (lowercase \
             letters, digits and `-`, at most 63)",
            ingress.service
        ));
    }
    match &ingress.port {
        ServicePort::Number(0) => errors.push(
            "`routesFrom.kubernetes.ingress.port`: 0 is not a port".to_owned(),
        ),
        ServicePort::Name(name) if !dns_label(name) || name.len() > 15 => errors.push(format!(
            "`routesFrom.kubernetes.ingress.port`: {name:?} is neither a port number nor a port name"
        )),
        _ => {}
    }
    if mode != Mode::Proxy {
        errors.push(
            "`routesFrom.kubernetes.ingress`: needs `mode: proxy` (the Ingress sends paid \
             requests to the gateway itself)"
                .to_owned(),
        );
    }
    if !write_status {
        errors.push(
            "`routesFrom.kubernetes.ingress`: needs `writeStatus: true` (patch results are \
             reported in status)"
                .to_owned(),
        );
    }
}

/// The route source of `routesFrom.kubernetes`.
#[cfg(feature = "kube")]
fn kubernetes_source(kubernetes: &KubernetesRoutes, _: &mut [String]) -> RouteSource {
    RouteSource::Kubernetes(kubernetes.clone())
}

/// Without the `kube` feature, `routesFrom.kubernetes` is refused.
#[cfg(not(feature = "kube"))]
fn kubernetes_source(_: &KubernetesRoutes, errors: &mut Vec<String>) -> RouteSource {
    errors.push(NO_KUBE.to_owned());
    RouteSource::File
}

/// Why `routesFrom.kubernetes` is refused by a gateway built without the `kube` feature.
#[cfg(not(feature = "kube"))]
pub const NO_KUBE: &str = "`routesFrom.kubernetes`: this gateway was built without the `kube` \
     feature (build it with `--features kube`)";

/// Why `replay.redis` is refused by a gateway built without the `redis` feature.
#[cfg(not(feature = "redis"))]
pub const NO_REDIS: &str = "`replay.redis`: this gateway was built without the `redis` \
     feature (build it with `--features redis`)";

/// Without the `redis` feature, `replay.redis` is refused.
#[cfg(not(feature = "redis"))]
fn redis_guard(_: &RedisReplayConfig) -> Result<Arc<dyn ReplayGuard>, String> {
    Err(NO_REDIS.to_owned())
}

/// The guard of `replay.redis` (not connected yet), or the error naming the field.
#[cfg(feature = "redis")]
fn redis_guard(config: &RedisReplayConfig) -> Result<Arc<dyn ReplayGuard>, String> {
    use x402_core::replay::RedisReplayGuard;

    let mut guard =
        RedisReplayGuard::new(&config.url).map_err(|e| format!("`replay.redis.url`: {}", e.0))?;
    if let Some(timeout) = &config.timeout {
        let timeout = parse_duration(timeout)
            .map_err(|why| format!("`replay.redis.timeout` = {timeout:?}: {why}"))?;
        guard = guard.timeout(timeout);
    }
    if let Some(prefix) = &config.key_prefix {
        if prefix.is_empty() {
            return Err("`replay.redis.keyPrefix`: empty (remove it for the default)".to_owned());
        }
        guard = guard.prefix(prefix.clone());
    }
    Ok(Arc::new(guard))
}

/// `250ms`, `1s`, `2m`: a positive whole number and a unit.
fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    const EXPECTED: &str = "expected a positive whole number and a unit: `500ms`, `1s`, `1m`";
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or(EXPECTED)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| EXPECTED)?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(EXPECTED),
    };
    if duration.is_zero() {
        return Err("must be more than zero");
    }
    Ok(duration)
}

/// An upstream base URL: `http://` or `https://`, a host, an optional path prefix, no
/// credentials and no query.
pub(crate) fn parse_upstream(url: &str) -> Result<Upstream, &'static str> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "not a URL (http://host:port[/prefix])")?;
    let parts = uri.into_parts();
    let scheme = match parts.scheme {
        Some(s) if s == http::uri::Scheme::HTTP || s == http::uri::Scheme::HTTPS => s,
        _ => return Err("must start with http:// or https://"),
    };
    let authority = parts.authority.ok_or("has no host")?;
    if authority.as_str().contains('@') {
        return Err("must not contain credentials");
    }
    let prefix = match &parts.path_and_query {
        Some(pq) if pq.query().is_some() => return Err("must not have a query"),
        Some(pq) => pq.path().trim_end_matches('/').to_owned(),
        None => String::new(),
    };
    Ok(Upstream {
        scheme,
        authority,
        prefix,
    })
}
