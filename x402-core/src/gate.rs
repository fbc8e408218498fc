//! The payment exchange, framework-free: what the tower and actix adapters both run.
//!
//! A [`Gate`] holds the live route table (swappable through a [`RouteTableHandle`]), the
//! facilitator, the replay guard and the settings. For each request an adapter calls
//! [`Gate::admit`], which decides without I/O:
//!
//! - [`Admission::Pass`]: unmatched or free — call the handler untouched (no allocation);
//! - [`Admission::Reply`]: answer now — the 402 challenge (JSON, or an HTML paywall for
//!   browsers), a 402 re-challenge naming why a payment was refused, or a 400 for a path that
//!   cannot be matched safely;
//! - [`Admission::Pay`]: a decoded payment that passed the local checks. The adapter then
//!   awaits [`PendingPayment::authorize`] (replay claim + facilitator verify, and settle too in
//!   [`SettlementMode::BeforeHandler`]), calls the handler with the typed [`Payment`] in the
//!   request extensions, and finally awaits [`PendingPayment::settle`] with the handler's status
//!   *before* sending the body: settlement happens only if the status is below 400, and a
//!   failed settlement replaces the handler's response.
//!
//! Dropping a [`PendingPayment`] before settlement (the client went away) settles nothing and
//! releases its replay claim.
//!
//! The replies carry machine-readable reasons ([`Reason`]) and every status of DESIGN.md §4:
//! 402 for the client's payment problems, 503 (with `Retry-After`) when the facilitator or the
//! replay store is unreachable, 502 when the facilitator answers nonsense — never a 402 for our
//! own trouble.

use std::{
    borrow::Cow,
    collections::BTreeSet,
    fmt,
    sync::{Arc, OnceLock},
};

use alloy_primitives::{Address, U256};
use arc_swap::ArcSwap;
use bytes::Bytes;
use tracing::Instrument;

use crate::{
    RouteTable,
    clock::{Clock, SystemClock},
    codec::{self, DecodeError, DecodedPayment, PaymentHeader},
    facilitator::{Facilitator, FacilitatorError, FacilitatorRequest, Requirements, request_body},
    labels::{Outcome, Reason, ReloadResult, RouteLabels, keys, names},
    network::Network,
    offer::{Accept, Offer},
    paywall,
    replay::{InMemoryReplayGuard, ReplayGuard, ReplayKey},
    table::{HeaderLookup, RequestInfo, Route, RouteMatch},
    telemetry::{self, RouteSeries},
    wire::{ExactEvmPayload, PaymentPayload, SchemePayload, SettleResponse, v1, v2},
};

/// Response header names the gate sets.
pub mod headers {
    /// `Access-Control-Expose-Headers` value on every x402 response, so browser clients can
    /// read the payment headers.
    pub const EXPOSE_VALUE: &str = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE";
    /// `Access-Control-Expose-Headers`.
    pub const EXPOSE: &str = "Access-Control-Expose-Headers";
    /// `Cache-Control` of challenges and errors.
    pub const NO_STORE: &str = "no-store";
    /// `Cache-Control` directive added to paid responses.
    pub const PRIVATE: &str = "private";
    /// `Content-Type` of JSON bodies.
    pub const JSON: &str = "application/json";
    /// `Content-Type` of the paywall page.
    pub const HTML: &str = "text/html; charset=utf-8";
    /// `Cache-Control`.
    pub const CACHE_CONTROL: &str = "Cache-Control";
    /// `Content-Type`.
    pub const CONTENT_TYPE: &str = "Content-Type";
    /// `Retry-After`.
    pub const RETRY_AFTER: &str = "Retry-After";

    /// How an adapter adds one of the gate's headers to a response.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum HeaderMerge {
        /// Set the header, replacing any value.
        Set,
        /// Add the value next to the existing ones.
        Append,
        /// Leave the response's header as it is.
        Keep,
        /// Replace the header with this merged value.
        Replace(String),
    }

    /// Decides how `name: value` joins a response whose first value of `name` is `existing`
    /// (its raw bytes). `Cache-Control` directives are merged into the handler's (`private`
    /// added to `max-age=60`, kept as is when already there or not text); CORS exposure is
    /// appended to the handler's own; everything else is set. One rule for every adapter.
    pub fn merge(name: &str, existing: Option<&[u8]>, value: &str) -> HeaderMerge {
        if name.eq_ignore_ascii_case(EXPOSE) {
            return HeaderMerge::Append;
        }
        if !name.eq_ignore_ascii_case(CACHE_CONTROL) {
            return HeaderMerge::Set;
        }
        let Some(existing) = existing else {
            return HeaderMerge::Set;
        };
        match std::str::from_utf8(existing) {
            Ok(existing)
                if !existing
                    .split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case(value)) =>
            {
                HeaderMerge::Replace(format!("{existing}, {value}"))
            }
            _ => HeaderMerge::Keep,
        }
    }
}

/// The error text of a plain challenge (what the official server sends).
pub const PAYMENT_REQUIRED_TEXT: &str = "Payment required";

/// When a payment is settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettlementMode {
    /// Verify, run the handler, settle only if it answered below 400, before sending its body.
    #[default]
    AfterHandler,
    /// Verify and settle, then run the handler (the client pays even if the handler fails).
    BeforeHandler,
    /// Verify only; settlement happens elsewhere (e.g. a ForwardAuth hop).
    VerifyOnly,
}

/// A shared, swappable route table: the gate loads it once per request; a reload stores a new
/// table atomically (requests in flight keep the table they started with).
#[derive(Debug, Clone)]
pub struct RouteTableHandle(Arc<ArcSwap<RouteTable>>);

impl RouteTableHandle {
    /// A handle holding `table`.
    pub fn new(table: RouteTable) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(table)))
    }

    /// The current table.
    pub fn load(&self) -> Arc<RouteTable> {
        self.0.load_full()
    }

    /// Replaces the table; returns the previous one (e.g. to remove its metric series).
    pub fn store(&self, table: RouteTable) -> Arc<RouteTable> {
        self.0.swap(Arc::new(table))
    }

    /// Publishes `table` with one atomic store, records it (`x402_route_table_routes`, one
    /// `x402_route_table_reloads_total{result="ok"}`), and returns what changed, for the label
    /// GC of DESIGN.md §6. Every reload path (a file, the Kubernetes watcher) goes through here.
    pub fn swap(&self, table: RouteTable) -> TableSwap {
        let live = table.label_sets();
        let routes = table.len();
        let old = self.store(table);
        let removed = old.label_sets().difference(&live).cloned().collect();
        #[allow(clippy::cast_precision_loss, reason = "route counts are small")]
        metrics::gauge!(names::ROUTE_TABLE_ROUTES).set(routes as f64);
        metrics::counter!(names::ROUTE_TABLE_RELOADS_TOTAL, keys::RESULT => ReloadResult::Ok.as_str())
            .increment(1);
        TableSwap {
            routes,
            removed,
            live,
        }
    }

    fn guard(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.0.load()
    }
}

/// What a [`RouteTableHandle::swap`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSwap {
    /// Routes in the new table.
    pub routes: usize,
    /// `(route, chain)` label sets of the old table that the new one no longer has: their
    /// metric series should go.
    pub removed: BTreeSet<RouteLabels>,
    /// The label sets of the new table.
    pub live: BTreeSet<RouteLabels>,
}

/// The request parts the gate reads. Adapters fill it from their request type.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a, H: ?Sized> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The scheme the connection used (`"http"`/`"https"`), when the adapter knows it.
    pub scheme: Option<&'a str>,
    /// The host when the adapter has it without a header lookup: the request-target's
    /// authority (HTTP/2 `:authority`, an absolute-form target — these take precedence over
    /// `Host`, RFC 9113 §8.3.1 and RFC 9112 §3.2.2) or a forwarded host. When `None`, the gate
    /// reads the `Host` header from `headers`, and only if it needs the host (a route restricted
    /// to hosts, a resource URL without a configured base URL).
    pub host: Option<&'a str>,
    /// The request target's path and query, as received.
    pub path_and_query: &'a str,
    /// The request headers.
    pub headers: &'a H,
}

impl<'a, H: HeaderLookup + ?Sized> RequestParts<'a, H> {
    /// The host: [`RequestParts::host`] if set, else the `Host` header.
    pub fn host(&self) -> Option<&'a str> {
        self.host.or_else(|| self.headers.first("host"))
    }
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

/// The configuration of a [`Gate`], set through [`GateBuilder`].
#[derive(Debug)]
struct Config {
    routes: RouteTableHandle,
    facilitator: Arc<dyn Facilitator>,
    replay: Arc<dyn ReplayGuard>,
    clock: Arc<dyn Clock>,
    settlement: SettlementMode,
    unmatched: UnmatchedPolicy,
    v1: bool,
    local_checks: bool,
    paywall: bool,
    base_url: Option<Box<str>>,
    trust_forwarded: bool,
    max_header_bytes: usize,
    retry_after_seconds: u32,
}

/// The payment exchange shared by every adapter. Cheap to clone: one `Arc` (the adapters'
/// services are cloned per request).
#[derive(Debug, Clone)]
pub struct Gate {
    config: Arc<Config>,
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

    /// The `Retry-After` seconds on 503 answers (default 1).
    pub fn retry_after_seconds(mut self, seconds: u32) -> Self {
        self.config.retry_after_seconds = seconds;
        self
    }

    /// Builds the gate.
    pub fn build(self) -> Result<Gate, GateConfigError> {
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
        Ok(Gate {
            config: Arc::new(self.config),
        })
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Admission {
    /// Not priced: call the handler untouched.
    Pass,
    /// Answer with this reply; the handler is not called.
    Reply(Reply),
    /// A payment to authorize, then the handler, then settlement. (Boxed: the common,
    /// unpriced answers stay small.)
    Pay(Box<PendingPayment>),
}

/// A response produced by the gate (challenge, rejection, facilitator trouble).
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, Cow<'static, str>)>,
    body: Bytes,
    outcome: Outcome,
    reason: Option<Reason>,
}

impl Reply {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names as the protocol spells them (HTTP is case-insensitive).
    pub fn headers(&self) -> &[(&'static str, Cow<'static, str>)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The headers and the body, owned: what an adapter moves into its response (no copy).
    pub fn into_parts(self) -> (Vec<(&'static str, Cow<'static, str>)>, Bytes) {
        (self.headers, self.body)
    }

    /// What happened (for metrics and logs).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why a payment was refused, when it was.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }
}

/// A verified (or settled) payment, given to the handler in the request extensions.
#[derive(Debug, Clone)]
pub struct Payment {
    /// The payer, as checked locally or reported by the facilitator.
    pub payer: Option<Address>,
    /// The amount, in atomic units of the asset.
    pub amount: U256,
    /// The network.
    pub network: Network,
    /// The token.
    pub asset: Address,
    /// The recipient.
    pub pay_to: Address,
    /// The x402 version the client used (1 or 2).
    pub x402_version: u8,
    /// The route name.
    pub route: Arc<str>,
    /// The requirement paid (v2 shape, also for v1 payments), shared with the route table.
    pub requirements: Arc<v2::PaymentRequirements>,
    /// The settlement receipt, when settled before the handler.
    pub receipt: Option<SettleResponse>,
}

/// How settlement ended, after the handler.
#[derive(Debug)]
pub enum Settlement {
    /// Settled: add these headers (the receipt, `Cache-Control: private`, CORS exposure) to the
    /// handler's response and send it.
    Paid {
        /// Headers to add to the handler's response.
        headers: Vec<(&'static str, Cow<'static, str>)>,
        /// The facilitator's receipt.
        receipt: SettleResponse,
    },
    /// Verify-only mode: send the handler's response as is.
    Verified,
    /// The handler answered ≥ 400: nothing was charged; send its response as is.
    NotCharged,
    /// Settlement failed: send this reply instead of the handler's response.
    Failed(Reply),
}

impl Gate {
    /// A builder over a route table handle and a facilitator.
    pub fn builder(routes: RouteTableHandle, facilitator: Arc<dyn Facilitator>) -> GateBuilder {
        GateBuilder {
            config: Config {
                routes,
                facilitator,
                replay: Arc::new(InMemoryReplayGuard::new()),
                clock: Arc::new(SystemClock),
                settlement: SettlementMode::default(),
                unmatched: UnmatchedPolicy::default(),
                v1: true,
                local_checks: true,
                paywall: true,
                base_url: None,
                trust_forwarded: false,
                max_header_bytes: codec::DEFAULT_MAX_HEADER_BYTES,
                retry_after_seconds: 1,
            },
        }
    }

    /// The route table handle (to swap the table while serving).
    pub fn routes(&self) -> &RouteTableHandle {
        &self.config.routes
    }

    /// The settlement mode.
    pub fn settlement_mode(&self) -> SettlementMode {
        self.config.settlement
    }

    /// Decides what to do with a request, without I/O. One table load; no allocation when the
    /// request is not priced.
    pub fn admit<H: HeaderLookup + ?Sized>(&self, request: &RequestParts<'_, H>) -> Admission {
        let table = self.config.routes.guard();
        let info = RequestInfo::new(request.method, request.host, request.path_and_query);
        let (route, offer) = match table.match_request(&info, request.headers) {
            Ok(RouteMatch::Unmatched) => {
                return match self.config.unmatched {
                    UnmatchedPolicy::Allow => Admission::Pass,
                    UnmatchedPolicy::Deny => Admission::Reply(json_reply(
                        403,
                        Outcome::BadRequest,
                        None,
                        "no_route",
                        "no route is configured for this path",
                        false,
                    )),
                };
            }
            Ok(RouteMatch::Free(route)) => {
                telemetry::request(route.series(), Outcome::Free);
                return Admission::Pass;
            }
            Ok(RouteMatch::Priced(route, offer)) => (route, offer),
            Err(error) => {
                return Admission::Reply(json_reply(
                    400,
                    Outcome::BadRequest,
                    None,
                    "invalid_path",
                    &error.to_string(),
                    false,
                ));
            }
        };

        let Some((header, value)) = self.payment_header(request.headers) else {
            telemetry::request(route.series(), Outcome::PaymentRequired);
            return Admission::Reply(self.challenge(
                offer,
                &self.resource_url(request),
                PAYMENT_REQUIRED_TEXT,
                None,
                is_browser(request.headers),
            ));
        };

        let url = self.resource_url(request);
        let decoded =
            match codec::decode_payment(header, value.as_bytes(), self.config.max_header_bytes) {
                Ok(decoded) => decoded,
                Err(error) => {
                    let reason = if matches!(
                        error,
                        DecodeError::VersionMismatch { .. }
                            | DecodeError::UnsupportedVersion { .. }
                    ) {
                        Reason::VersionMismatch
                    } else {
                        Reason::InvalidPaymentHeader
                    };
                    tracing::debug!(route = %route.name(), %error, "payment header refused");
                    return Admission::Reply(self.reject(route, offer, &url, reason, None));
                }
            };

        let now = self.config.clock.now();
        let selected = match &decoded.payload() {
            PaymentPayload::V2(payload) => match offer.find_v2(&payload.accepted) {
                Some(accept) => self
                    .check(accept, &payload.payload, now)
                    .map(|c| (accept, c)),
                None => Err(Reason::NoMatchingRequirement),
            },
            PaymentPayload::V1(payload) => {
                let mut result = Err(Reason::NoMatchingRequirement);
                for accept in offer.find_v1(&payload.scheme, &payload.network) {
                    result = self
                        .check(accept, &payload.payload, now)
                        .map(|c| (accept, c));
                    if result.is_ok() {
                        break;
                    }
                }
                result
            }
        };
        let (accept, checked) = match selected {
            Ok(selected) => selected,
            Err(reason) => return Admission::Reply(self.reject(route, offer, &url, reason, None)),
        };
        let accept_index = offer
            .accepts()
            .iter()
            .position(|a| std::ptr::eq(a, accept))
            .unwrap_or(0);

        let v1 = match &decoded.payload() {
            PaymentPayload::V1(_) => accept.v1_requirements().map(|r| {
                let json = accept
                    .v1_requirements_json(&url)
                    .map(String::from_utf8)
                    .and_then(Result::ok)
                    .unwrap_or_default();
                (
                    v1::PaymentRequirements {
                        resource: url.clone(),
                        ..r.clone()
                    },
                    json,
                )
            }),
            PaymentPayload::V2(_) => None,
        };
        let replay_key = replay_key(accept, &decoded, &checked);
        let span = tracing::info_span!(
            "x402.payment",
            route = %route.name(),
            chain = %accept.labels().chain(),
            x402_version = decoded.payload().x402_version(),
            payer = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        if let Some(payer) = checked.payer {
            span.record("payer", tracing::field::display(payer));
        }
        let route_index = route.index();
        let table = arc_swap::Guard::into_inner(table);
        Admission::Pay(Box::new(PendingPayment {
            gate: self.clone(),
            table,
            route: route_index,
            accept: accept_index,
            decoded,
            v1,
            url,
            replay_key,
            expires_at: checked.expires_at,
            payer: checked.payer,
            facilitator_body: OnceLock::new(),
            claimed: false,
            settled: None,
            span,
        }))
    }

    fn payment_header<'h, H: HeaderLookup + ?Sized>(
        &self,
        headers: &'h H,
    ) -> Option<(PaymentHeader, &'h str)> {
        if let Some(value) = headers.first("payment-signature") {
            return Some((PaymentHeader::PaymentSignature, value));
        }
        if self.config.v1
            && let Some(value) = headers.first("x-payment")
        {
            return Some((PaymentHeader::XPayment, value));
        }
        None
    }

    /// Local checks of one payment option; the verdict carries what replay protection needs.
    fn check(&self, accept: &Accept, payload: &SchemePayload, now: u64) -> Result<Checked, Reason> {
        // Replay state is kept until the authorization expires, but never more than a day.
        let horizon = now.saturating_add(MAX_REPLAY_MEMORY_SECONDS);
        let Some(evm) = payload.as_exact_evm() else {
            // Another scheme's payload: only the facilitator can judge it.
            return Ok(Checked {
                payer: None,
                expires_at: now
                    .saturating_add(accept.requirements().max_timeout_seconds)
                    .min(horizon),
            });
        };
        if self.config.local_checks {
            local_check(accept, evm, now)?;
        }
        Ok(Checked {
            payer: Some(evm.authorization.from),
            expires_at: u256_to_u64(evm.authorization.valid_before).min(horizon),
        })
    }

    /// The absolute URL of the request, for challenges. Built with one exact allocation (the
    /// pieces are concatenated, not formatted): it runs for every 402 and every payment.
    fn resource_url<H: HeaderLookup + ?Sized>(&self, request: &RequestParts<'_, H>) -> String {
        let path = request.path_and_query;
        if let Some(base) = &self.config.base_url {
            return [&**base, path].concat();
        }
        if self.config.trust_forwarded {
            let proto = request
                .headers
                .first("x-forwarded-proto")
                .map(|p| p.split(',').next().unwrap_or("").trim())
                .filter(|p| *p == "http" || *p == "https");
            let host = request
                .headers
                .first("x-forwarded-host")
                .map(|h| h.split(',').next().unwrap_or("").trim())
                .filter(|h| valid_authority(h));
            if let (Some(proto), Some(host)) = (proto, host) {
                return [proto, "://", host, path].concat();
            }
        }
        let scheme = request
            .scheme
            .filter(|s| *s == "http" || *s == "https")
            .unwrap_or("http");
        let host = request
            .host()
            .filter(|h| valid_authority(h))
            .unwrap_or("localhost");
        [scheme, "://", host, path].concat()
    }

    fn challenge(
        &self,
        offer: &Offer,
        url: &str,
        error: &str,
        reason: Option<Reason>,
        browser: bool,
    ) -> Reply {
        let header = offer.payment_required_header(url, error);
        let (content_type, body) = if browser && self.config.paywall && reason.is_none() {
            (headers::HTML, Bytes::from(paywall::render(offer, url)))
        } else {
            let body = if self.config.v1 {
                offer.v1_body(url, error).map(Bytes::from)
            } else {
                None
            };
            (
                headers::JSON,
                body.unwrap_or_else(|| Bytes::from_static(b"{}")),
            )
        };
        Reply {
            status: 402,
            headers: vec![
                (codec::PAYMENT_REQUIRED, Cow::Owned(header)),
                (headers::CONTENT_TYPE, Cow::Borrowed(content_type)),
                (headers::CACHE_CONTROL, Cow::Borrowed(headers::NO_STORE)),
                (headers::EXPOSE, Cow::Borrowed(headers::EXPOSE_VALUE)),
            ],
            body,
            outcome: if reason.is_some() {
                Outcome::Rejected
            } else {
                Outcome::PaymentRequired
            },
            reason,
        }
    }

    /// A 402 re-challenge naming why the payment was refused (`detail` overrides the text, e.g.
    /// the facilitator's own reason).
    fn reject(
        &self,
        route: &Route,
        offer: &Offer,
        url: &str,
        reason: Reason,
        detail: Option<&str>,
    ) -> Reply {
        telemetry::rejection(route.series(), reason);
        telemetry::request(route.series(), Outcome::Rejected);
        self.challenge(
            offer,
            url,
            detail.unwrap_or(reason.as_str()),
            Some(reason),
            false,
        )
    }

    fn facilitator_trouble(&self, series: &RouteSeries, error: &FacilitatorError) -> Reply {
        telemetry::request(series, Outcome::FacilitatorError);
        let mut reply = json_reply(
            error.status(),
            Outcome::FacilitatorError,
            None,
            error.reason(),
            "the payment facilitator could not process this payment; try again later",
            error.is_retriable(),
        );
        if error.status() == 503 {
            reply.headers.push((
                headers::RETRY_AFTER,
                Cow::Owned(self.config.retry_after_seconds.to_string()),
            ));
        }
        reply
    }
}

/// How long replay state is kept at most, whatever the authorization's `validBefore`.
const MAX_REPLAY_MEMORY_SECONDS: u64 = 86_400;

/// The local checks of an EIP-3009 payment against our requirement: recipient, amount,
/// validity window and the EIP-712 signature (see [`crate::evm`]).
#[cfg(feature = "evm")]
fn local_check(accept: &Accept, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    use crate::evm::{CheckOptions, check_exact_evm};
    check_exact_evm(
        payload,
        &accept.requirement_view(),
        now,
        &CheckOptions::default(),
    )
    .map(|_| ())
    .map_err(|e| e.reason())
}

/// Without the `evm` feature the signature cannot be checked here (the facilitator still
/// checks it); the cheap field checks still run.
#[cfg(not(feature = "evm"))]
fn local_check(accept: &Accept, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    let auth = &payload.authorization;
    if auth.to != accept.pay_to() {
        return Err(Reason::RecipientMismatch);
    }
    if auth.value != accept.amount() {
        return Err(Reason::AmountMismatch);
    }
    if auth.valid_after > U256::from(now) {
        return Err(Reason::NotYetValid);
    }
    if auth.valid_before < U256::from(now.saturating_add(VALIDITY_MARGIN_SECONDS)) {
        return Err(Reason::Expired);
    }
    Ok(())
}

/// The facilitator refuses authorizations expiring within this many seconds.
#[cfg(not(feature = "evm"))]
const VALIDITY_MARGIN_SECONDS: u64 = 6;

/// What the local checks established.
#[derive(Debug, Clone, Copy)]
struct Checked {
    payer: Option<Address>,
    expires_at: u64,
}

fn u256_to_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn replay_key(accept: &Accept, decoded: &DecodedPayment, checked: &Checked) -> ReplayKey {
    let evm = match &decoded.payload() {
        PaymentPayload::V2(p) => p.payload.as_exact_evm(),
        PaymentPayload::V1(p) => p.payload.as_exact_evm(),
    };
    match (evm, checked.payer) {
        (Some(evm), Some(from)) => {
            let mut bytes = [0u8; 8 + 20 + 20 + 32];
            bytes[..8].copy_from_slice(&accept.network().chain_id().to_be_bytes());
            bytes[8..28].copy_from_slice(accept.asset().address.as_slice());
            bytes[28..48].copy_from_slice(from.as_slice());
            bytes[48..].copy_from_slice(evm.authorization.nonce.as_slice());
            ReplayKey::from_bytes(&bytes)
        }
        _ => ReplayKey::from_bytes(decoded.json_text().as_bytes()),
    }
}

fn is_browser<H: HeaderLookup + ?Sized>(headers: &H) -> bool {
    headers
        .first("accept")
        .is_some_and(|a| a.contains("text/html"))
        && headers
            .first("user-agent")
            .is_some_and(|u| u.contains("Mozilla"))
}

fn valid_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

fn json_reply(
    status: u16,
    outcome: Outcome,
    reason: Option<Reason>,
    code: &str,
    message: &str,
    retriable: bool,
) -> Reply {
    let body = serde_json::json!({ "error": message, "reason": code, "retriable": retriable });
    Reply {
        status,
        headers: vec![
            (headers::CONTENT_TYPE, Cow::Borrowed(headers::JSON)),
            (headers::CACHE_CONTROL, Cow::Borrowed(headers::NO_STORE)),
            (headers::EXPOSE, Cow::Borrowed(headers::EXPOSE_VALUE)),
        ],
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        outcome,
        reason,
    }
}

/// A payment admitted by the local checks, on its way through verify, the handler and
/// settlement. Dropping it before settlement releases its replay claim and charges nothing.
pub struct PendingPayment {
    gate: Gate,
    table: Arc<RouteTable>,
    route: usize,
    accept: usize,
    decoded: DecodedPayment,
    v1: Option<(v1::PaymentRequirements, String)>,
    url: String,
    replay_key: ReplayKey,
    expires_at: u64,
    payer: Option<Address>,
    /// The verify/settle request body, built once (see `facilitator_request`).
    facilitator_body: OnceLock<Bytes>,
    claimed: bool,
    settled: Option<SettleResponse>,
    span: tracing::Span,
}

impl fmt::Debug for PendingPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPayment")
            .field("route", &self.route().name())
            .field("payer", &self.payer)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PendingPayment {
    fn route(&self) -> &Route {
        &self.table.routes()[self.route]
    }

    fn offer(&self) -> &Offer {
        self.route()
            .offer()
            .expect("a pending payment is always for a priced route")
    }

    fn accept(&self) -> &Accept {
        &self.offer().accepts()[self.accept]
    }

    fn series(&self) -> &RouteSeries {
        self.accept().series()
    }

    /// The verify or settle request. Its body is built on first use and shared by both calls.
    fn facilitator_request(&self) -> FacilitatorRequest<'_> {
        let (requirements, json) = match &self.v1 {
            Some((requirements, json)) => (Requirements::V1(requirements), json.as_str()),
            None => (
                Requirements::V2(self.accept().requirements()),
                self.accept().requirements_json().get(),
            ),
        };
        let payment = self.decoded.payload();
        let body = self
            .facilitator_body
            .get_or_init(|| request_body(payment, self.decoded.json_text(), json));
        FacilitatorRequest::with_body(payment, requirements, body.clone())
    }

    fn reject(&self, reason: Reason, detail: Option<&str>) -> Reply {
        self.gate
            .reject(self.route(), self.offer(), &self.url, reason, detail)
    }

    /// Claims the payment against replays and verifies it with the facilitator (and settles it
    /// too in [`SettlementMode::BeforeHandler`]). `Ok` carries the typed payment for the
    /// handler; `Err` is the reply to send instead of calling it.
    pub async fn authorize(&mut self) -> Result<Payment, Reply> {
        let span = self.span.clone();
        let result = self.authorize_inner().instrument(span).await;
        if let Err(reply) = &result {
            self.span.record("outcome", reply.outcome().as_str());
        }
        result
    }

    async fn authorize_inner(&mut self) -> Result<Payment, Reply> {
        let now = self.gate.config.clock.now();
        match self
            .gate
            .config
            .replay
            .claim(self.replay_key, self.expires_at, now)
            .await
        {
            Ok(true) => self.claimed = true,
            Ok(false) => return Err(self.reject(Reason::Replay, None)),
            Err(error) => {
                tracing::warn!(%error, "replay guard unavailable; refusing the payment");
                telemetry::request(self.series(), Outcome::FacilitatorError);
                let mut reply = json_reply(
                    503,
                    Outcome::FacilitatorError,
                    None,
                    "replay_guard_unavailable",
                    "payment state is unavailable; try again later",
                    true,
                );
                reply.headers.push((
                    headers::RETRY_AFTER,
                    Cow::Owned(self.gate.config.retry_after_seconds.to_string()),
                ));
                return Err(reply);
            }
        }

        let request = self.facilitator_request();
        let verified = self.gate.config.facilitator.verify(&request).await;
        drop(request);
        match verified {
            Ok(response) if response.is_valid => {
                if self.payer.is_none() {
                    self.payer = response.payer.as_deref().and_then(|p| p.parse().ok());
                    if let Some(payer) = self.payer {
                        self.span.record("payer", tracing::field::display(payer));
                    }
                }
            }
            Ok(response) => {
                let detail = response.invalid_reason.as_deref();
                return Err(self.reject(Reason::VerifyRejected, detail));
            }
            Err(error) => {
                tracing::warn!(%error, "facilitator verify failed");
                return Err(self.gate.facilitator_trouble(self.series(), &error));
            }
        }

        if self.gate.config.settlement == SettlementMode::BeforeHandler {
            match self.settle_now().await {
                Ok(receipt) => self.settled = Some(receipt),
                Err(reply) => return Err(reply),
            }
        }
        Ok(self.payment())
    }

    fn payment(&self) -> Payment {
        let accept = self.accept();
        Payment {
            payer: self.payer,
            amount: accept.amount(),
            network: accept.network().clone(),
            asset: accept.asset().address,
            pay_to: accept.pay_to(),
            x402_version: self.facilitator_version(),
            route: self.route().name().clone(),
            requirements: Arc::clone(accept.shared_requirements()),
            receipt: self.settled.clone(),
        }
    }

    fn facilitator_version(&self) -> u8 {
        match self.decoded.payload() {
            PaymentPayload::V1(_) => 1,
            PaymentPayload::V2(_) => 2,
        }
    }

    /// Whether the adapter must hold the handler's response until [`PendingPayment::settle`]
    /// has run (true in the default mode).
    pub fn settles_after_handler(&self) -> bool {
        self.gate.config.settlement == SettlementMode::AfterHandler
    }

    /// Finishes the exchange once the handler answered with `status`, before its body is sent.
    pub async fn settle(self, status: u16) -> Settlement {
        let span = self.span.clone();
        let settlement = self.settle_inner(status).instrument(span.clone()).await;
        let outcome = match &settlement {
            Settlement::Paid { .. } => Outcome::Paid,
            Settlement::Verified => Outcome::Verified,
            Settlement::NotCharged => Outcome::NotCharged,
            Settlement::Failed(reply) => reply.outcome(),
        };
        span.record("outcome", outcome.as_str());
        settlement
    }

    async fn settle_inner(mut self, status: u16) -> Settlement {
        match self.gate.config.settlement {
            SettlementMode::VerifyOnly => {
                // The authorization was used for this request: refuse it again until it
                // expires, even though it settles elsewhere.
                self.gate
                    .config
                    .replay
                    .confirm(self.replay_key, self.expires_at)
                    .await;
                self.claimed = false;
                telemetry::request(self.series(), Outcome::Verified);
                Settlement::Verified
            }
            SettlementMode::BeforeHandler => match self.settled.take() {
                Some(receipt) => self.paid(receipt),
                None => Settlement::NotCharged,
            },
            SettlementMode::AfterHandler if status >= 400 => {
                telemetry::request(self.series(), Outcome::NotCharged);
                self.release();
                Settlement::NotCharged
            }
            SettlementMode::AfterHandler => match self.settle_now().await {
                Ok(receipt) => self.paid(receipt),
                Err(reply) => Settlement::Failed(reply),
            },
        }
    }

    fn paid(&mut self, receipt: SettleResponse) -> Settlement {
        let name = match self.decoded.payload() {
            PaymentPayload::V1(_) => codec::X_PAYMENT_RESPONSE,
            PaymentPayload::V2(_) => codec::PAYMENT_RESPONSE,
        };
        let headers = vec![
            (name, Cow::Owned(codec::encode_header(&receipt))),
            (headers::CACHE_CONTROL, Cow::Borrowed(headers::PRIVATE)),
            (headers::EXPOSE, Cow::Borrowed(headers::EXPOSE_VALUE)),
        ];
        Settlement::Paid { headers, receipt }
    }

    /// Settles with the facilitator; records the outcome and the replay state.
    async fn settle_now(&mut self) -> Result<SettleResponse, Reply> {
        let request = self.facilitator_request();
        let settled = self.gate.config.facilitator.settle(&request).await;
        drop(request);
        match settled {
            Ok(receipt) if receipt.success => {
                self.gate
                    .config
                    .replay
                    .confirm(self.replay_key, self.expires_at)
                    .await;
                self.claimed = false;
                telemetry::settled(self.series(), self.accept().amount());
                telemetry::request(self.series(), Outcome::Paid);
                Ok(receipt)
            }
            Ok(receipt) => {
                self.release();
                telemetry::rejection(self.series(), Reason::SettleRejected);
                telemetry::request(self.series(), Outcome::SettlementFailed);
                let mut reply = self.gate.challenge(
                    self.offer(),
                    &self.url,
                    receipt
                        .error_reason
                        .as_deref()
                        .unwrap_or(Reason::SettleRejected.as_str()),
                    Some(Reason::SettleRejected),
                    false,
                );
                reply.outcome = Outcome::SettlementFailed;
                reply.headers.push((
                    self.receipt_header(),
                    Cow::Owned(codec::encode_header(&receipt)),
                ));
                Err(reply)
            }
            Err(error) => {
                tracing::error!(%error, "settlement failed");
                // The payment may have landed: keep the claim until the authorization expires.
                self.gate
                    .config
                    .replay
                    .confirm(self.replay_key, self.expires_at)
                    .await;
                self.claimed = false;
                let mut reply = self.gate.facilitator_trouble(self.series(), &error);
                reply.outcome = Outcome::SettlementFailed;
                if let FacilitatorError::SettleUnknown { transaction, .. } = &error {
                    let receipt = SettleResponse {
                        payer: self.payer.map(|p| p.to_checksum(None)),
                        transaction: transaction.clone().unwrap_or_default(),
                        ..SettleResponse::failure(error.reason(), self.network_for_receipt())
                    };
                    reply.headers.push((
                        self.receipt_header(),
                        Cow::Owned(codec::encode_header(&receipt)),
                    ));
                }
                Err(reply)
            }
        }
    }

    fn receipt_header(&self) -> &'static str {
        match self.decoded.payload() {
            PaymentPayload::V1(_) => codec::X_PAYMENT_RESPONSE,
            PaymentPayload::V2(_) => codec::PAYMENT_RESPONSE,
        }
    }

    fn network_for_receipt(&self) -> String {
        match &self.decoded.payload() {
            PaymentPayload::V1(p) => p.network.clone(),
            PaymentPayload::V2(p) => p.accepted.network.clone(),
        }
    }

    fn release(&mut self) {
        if self.claimed {
            self.gate.config.replay.release(self.replay_key);
            self.claimed = false;
        }
    }
}

impl Drop for PendingPayment {
    fn drop(&mut self) {
        self.release();
    }
}

/// The typed outcome of the exchange, put in the response extensions by the adapters so outer
/// layers (logging, metrics) read it instead of re-parsing headers.
#[derive(Debug, Clone)]
pub struct PaymentOutcome {
    /// What happened.
    pub outcome: Outcome,
    /// Why a payment was refused, when it was.
    pub reason: Option<Reason>,
    /// The settlement receipt, when settled.
    pub receipt: Option<SettleResponse>,
}

impl PaymentOutcome {
    /// Paid and settled.
    pub fn paid(receipt: SettleResponse) -> Self {
        Self {
            outcome: Outcome::Paid,
            reason: None,
            receipt: Some(receipt),
        }
    }

    /// Verified only (settlement elsewhere).
    pub fn verified() -> Self {
        Self {
            outcome: Outcome::Verified,
            reason: None,
            receipt: None,
        }
    }

    /// The handler failed: nothing charged.
    pub fn not_charged() -> Self {
        Self {
            outcome: Outcome::NotCharged,
            reason: None,
            receipt: None,
        }
    }

    /// The outcome of a reply of the gate.
    pub fn from_reply(reply: &Reply) -> Self {
        Self {
            outcome: reply.outcome(),
            reason: reply.reason(),
            receipt: None,
        }
    }
}
