//! Building a [`Gate`]: the settings and their defaults, validated once.

use std::sync::Arc;

use super::{Gate, RouteTableHandle};
use crate::{
    clock::{Clock, SystemClock},
    codec,
    facilitator::Facilitator,
    ledger::Ledger,
    replay::{InMemoryReplayGuard, ReplayGuard},
};

/// When a payment is settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettlementMode {
    /// Verify, run the handler, settle only if it answered below 400, before sending its body.
    #[default]
    AfterHandler,
    /// Verify and settle, then run the handler (the client pays even if the handler fails),
    /// for every option. On the wire this is the `authorization` flow settled early; to
    /// advertise it as the protocol's `upfront` flow (no `/verify`), configure the options
    /// with `paymentFlow: upfront` instead (see [`crate::flow`]), which settle before the
    /// handler in any mode but [`SettlementMode::VerifyOnly`].
    BeforeHandler,
    /// Verify only; settlement happens elsewhere (e.g. a ForwardAuth hop).
    VerifyOnly,
}

/// What to do with a request no route matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnmatchedPolicy {
    /// Pass it through untouched (embedded use: the application serves its other routes).
    #[default]
    Allow,
    /// Refuse it with 403 `no_route` (gateway and ForwardAuth use: fail closed).
    Deny,
}

/// Which spellings of a request path the gate accepts (see [`crate::path::gateway`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRule {
    /// [`NormalizedPath::parse`](crate::path::NormalizedPath::parse)'s rules: safe in front of
    /// an axum or actix router, which matches the raw path and decodes nothing.
    #[default]
    Embedded,
    /// Also refuse, with `400 invalid_path`, every spelling common servers read differently
    /// ([`check_unambiguous`](crate::path::gateway::check_unambiguous)): for a proxy or a
    /// ForwardAuth server, whose upstream may be any server.
    Gateway,
}

/// The configuration of a [`Gate`], set through [`GateBuilder`].
#[derive(Debug)]
pub(super) struct Config {
    pub(super) routes: RouteTableHandle,
    pub(super) facilitator: Arc<dyn Facilitator>,
    pub(super) replay: Arc<dyn ReplayGuard>,
    pub(super) ledger: Option<Arc<dyn Ledger>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settlement: SettlementMode,
    pub(super) unmatched: UnmatchedPolicy,
    pub(super) path_rule: PathRule,
    pub(super) v1: bool,
    pub(super) local_checks: bool,
    pub(super) paywall: bool,
    pub(super) base_url: Option<Box<str>>,
    pub(super) trust_forwarded: bool,
    pub(super) max_header_bytes: usize,
    pub(super) max_bound_body_bytes: usize,
    pub(super) retry_after_seconds: u32,
    pub(super) api_info: crate::discovery::ApiInfo,
}

/// Builds a [`Gate`].
#[derive(Debug)]
pub struct GateBuilder {
    config: Config,
}

/// An invalid gate setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateConfigError {
    /// The base URL is not `http(s)://host[:port][/prefix]` without query or fragment.
    #[error("base URL {0:?} must be http:// or https:// with a host, and no query or fragment")]
    BaseUrl(String),
    /// A ledger records settlements; a verify-only gate settles nothing.
    #[error("a payment ledger needs a gate that settles; this one is verify-only")]
    LedgerWithoutSettlement,
    /// A route of the table declares `paymentIdentifier`, whose ids only a ledger can keep.
    #[error(
        "route {0:?} declares paymentIdentifier, whose ids need a payment ledger; add one with \
         `GateBuilder::ledger`"
    )]
    PaymentIdentifierWithoutLedger(String),
}

impl GateBuilder {
    /// When to settle (default: after the handler).
    pub fn settlement(mut self, mode: SettlementMode) -> Self {
        self.config.settlement = mode;
        self
    }

    /// What to do with requests no route matches (default: let them through).
    pub fn unmatched(mut self, policy: UnmatchedPolicy) -> Self {
        self.config.unmatched = policy;
        self
    }

    /// Which path spellings are accepted (default: [`PathRule::Embedded`]). A gateway in front
    /// of an arbitrary upstream uses [`PathRule::Gateway`], builds its tables
    /// [case-insensitive by default](crate::table::RouteTableBuilder::case_insensitive_by_default)
    /// and forwards [`canonical_target`](crate::path::gateway::canonical_target).
    pub fn path_rule(mut self, rule: PathRule) -> Self {
        self.config.path_rule = rule;
        self
    }

    /// Whether v1 clients are served: a v1 402 body and `X-PAYMENT` accepted (default: yes).
    pub fn v1(mut self, enabled: bool) -> Self {
        self.config.v1 = enabled;
        self
    }

    /// Whether payments are checked locally (recipient, amount, validity window, signature)
    /// before the facilitator is called (default: yes).
    pub fn local_checks(mut self, enabled: bool) -> Self {
        self.config.local_checks = enabled;
        self
    }

    /// The `info` (title and version) of the [OpenAPI document](crate::discovery)
    /// [`Gate::discovery`] serves (default: `x402 paid API`, `1.0.0`).
    pub fn api_info(mut self, info: crate::discovery::ApiInfo) -> Self {
        self.config.api_info = info;
        self
    }

    /// Whether browsers get an HTML paywall page with their 402 (default: yes).
    pub fn paywall(mut self, enabled: bool) -> Self {
        self.config.paywall = enabled;
        self
    }

    /// The public base URL (`https://api.example.com`), used for resource URLs in challenges.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.config.base_url = Some(url.trim_end_matches('/').into());
        self
    }

    /// Trust `X-Forwarded-Proto`/`X-Forwarded-Host` for resource URLs (default: no; enable only
    /// behind a proxy that sets them).
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        self.config.trust_forwarded = trust;
        self
    }

    /// The replay guard (default: in-memory, per process).
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.config.replay = guard;
        self
    }

    /// A durable payment ledger (default: none). It then serves as the replay store (the
    /// [`replay_guard`](Self::replay_guard) is not used), records each step of every payment
    /// before it is taken, and makes retries idempotent: the same payment header re-sent for the
    /// same request is served again with its receipt, without a second settlement. See
    /// [`crate::ledger`].
    pub fn ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.config.ledger = Some(ledger);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// The largest payment header accepted, in bytes (default
    /// [`codec::DEFAULT_MAX_HEADER_BYTES`]).
    pub fn max_payment_header_bytes(mut self, bytes: usize) -> Self {
        self.config.max_header_bytes = bytes;
        self
    }

    /// With a ledger: the largest request body an adapter reads to bind a payment to it
    /// (default [`DEFAULT_MAX_BOUND_BODY_BYTES`](super::DEFAULT_MAX_BOUND_BODY_BYTES), 1 MiB;
    /// 0 binds none). A paid request whose body is bound can be served again when retried with
    /// the same body (see [`Gate::body_to_bind`](super::Gate::body_to_bind)); a larger body, or
    /// one of unknown length, is passed on unread and its payment is never served twice.
    pub fn max_bound_body_bytes(mut self, bytes: usize) -> Self {
        self.config.max_bound_body_bytes = bytes;
        self
    }

    /// The `Retry-After` seconds on 503 answers (default 1).
    pub fn retry_after_seconds(mut self, seconds: u32) -> Self {
        self.config.retry_after_seconds = seconds;
        self
    }

    /// Builds the gate. The live table's counter series are registered at 0 again, with the
    /// recorder installed now (the handle may have been made before it).
    pub fn build(self) -> Result<Gate, GateConfigError> {
        if self.config.ledger.is_some() && self.config.settlement == SettlementMode::VerifyOnly {
            return Err(GateConfigError::LedgerWithoutSettlement);
        }
        if self.config.ledger.is_none() {
            // Tables published later are checked where they are built
            // (`RouteTableBuilder::ledger`); a declaring route that still arrives answers 503.
            let table = self.config.routes.load();
            let declaring = table.routes().iter().find(|route| {
                route
                    .offer()
                    .is_some_and(|offer| offer.payment_identifier().is_some())
            });
            if let Some(route) = declaring {
                return Err(GateConfigError::PaymentIdentifierWithoutLedger(
                    route.name().to_string(),
                ));
            }
        }
        if let Some(url) = &self.config.base_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty()
                    && !r.starts_with('/')
                    && !r.contains(['?', '#'])
                    && !r.chars().any(|c| c.is_whitespace() || c.is_control())
            });
            if !ok {
                return Err(GateConfigError::BaseUrl(url.to_string()));
            }
        }
        self.config.routes.load().register_series();
        Ok(Gate {
            config: Arc::new(self.config),
        })
    }
}

impl Gate {
    /// A builder over a route table handle and a facilitator.
    pub fn builder(routes: RouteTableHandle, facilitator: Arc<dyn Facilitator>) -> GateBuilder {
        GateBuilder {
            config: Config {
                routes,
                facilitator,
                replay: Arc::new(InMemoryReplayGuard::new()),
                ledger: None,
                clock: Arc::new(SystemClock),
                settlement: SettlementMode::default(),
                unmatched: UnmatchedPolicy::default(),
                path_rule: PathRule::default(),
                v1: true,
                local_checks: true,
                paywall: true,
                base_url: None,
                trust_forwarded: false,
                max_header_bytes: codec::DEFAULT_MAX_HEADER_BYTES,
                max_bound_body_bytes: super::DEFAULT_MAX_BOUND_BODY_BYTES,
                retry_after_seconds: 1,
                api_info: crate::discovery::ApiInfo::default(),
            },
        }
    }
}
