//! The compiled, immutable route table.
//!
//! [`RouteTable`] is built once from one or more [`RouteSpec`]s. Building validates everything
//! — patterns, methods, hosts, networks, addresses, prices, condition regexes — and reports
//! *every* error with the spec, the route and the field at fault ([`BuildErrors`]); it also
//! reports routes shadowed by an earlier one ([`BuildWarning`]). The request path then only
//! does lookups: normalise the path, walk the pattern trie, check methods and hosts, evaluate
//! conditions, and hand back the route with its precomputed [`Offer`].
//!
//! Semantics (the README's "Route configuration"): first match in declaration order wins,
//! across specs in the order they were added; a route with no `methods` applies to every
//! method except `OPTIONS` (so CORS preflights pass unpriced); `hosts` compare
//! case-insensitively without the port, and `*.example.com` matches any subdomain of
//! `example.com`; a request whose path cannot be normalised safely is an error the adapters
//! answer with 400 — never "unmatched".
//!
//! ```
//! use x402_core::{RouteTable, spec::RouteSpec, table::{RequestParts, RouteMatch}};
//!
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia,
//!            defaultPrice: "0.01" }
//! routes:
//!   - { path: /api/free/**, free: true }
//!   - { path: /api/**, name: api, methods: [GET, POST] }
//! "#).unwrap();
//! let table = RouteTable::from_spec(&spec).unwrap();
//!
//! let matched = |method, path| table.match_request(&RequestParts::new(method, None, path));
//! assert!(matches!(matched("GET", "/api/free/x"), Ok(RouteMatch::Free(_))));
//! assert!(matches!(matched("GET", "/api//report/"), Ok(RouteMatch::Priced(..))));
//! assert!(matches!(matched("DELETE", "/api/report"), Ok(RouteMatch::Unmatched)));
//! assert!(matched("GET", "/api/%zz").is_err()); // answered with 400
//! ```

mod compile;
mod handle;

use self::compile::{SpecCompiler, shadowed};
pub use self::handle::{RouteTableHandle, TableSwap};

use std::{
    collections::BTreeSet,
    error::Error as StdError,
    fmt,
    sync::{Arc, OnceLock},
};

use regex::Regex;

use crate::{
    ErrorChain,
    discovery::{ApiInfo, Documents, Listing, RouteDiscovery},
    labels::RouteLabels,
    matcher::PathMatcher,
    money::MoneyError,
    network::NetworkError,
    offer::Offer,
    path::{NormalizedPath, PathError},
    pattern::{MatchCase, PatternError},
    spec::{ConditionAction, RouteSpec},
    telemetry::{self, RouteSeries},
    wire::SupportedResponse,
};

/// The default `maxTimeoutSeconds` of a payment option.
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 300;
/// The largest accepted `maxTimeoutSeconds` (one day).
pub const MAX_MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// The compiled routes of one or more specs, ready for matching. Immutable; cheap to share
/// behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Box<[Route]>,
    matcher: PathMatcher,
    warnings: Box<[BuildWarning]>,
    /// The discovery documents, built on first use.
    documents: OnceLock<Arc<Documents>>,
}

/// One compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    index: usize,
    source: Option<Arc<str>>,
    name: Arc<str>,
    methods: MethodSet,
    hosts: HostSet,
    kind: RouteKind,
    facilitator_url: Option<Arc<str>>,
    free_series: RouteSeries,
    allow_ambiguous_path: bool,
    upstream: Option<Arc<str>>,
    discovery: Option<Arc<RouteDiscovery>>,
}

#[derive(Debug, Clone)]
enum RouteKind {
    Free,
    Priced {
        offer: Offer,
        conditions: Box<[Condition]>,
    },
}

#[derive(Debug, Clone)]
struct Condition {
    header: Box<str>,
    regex: Regex,
    action: ConditionAction,
}

/// What a request matched.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RouteMatch<'t> {
    /// No route applies: pass the request through untouched.
    Unmatched,
    /// A free route, or a conditional route whose conditions let this request through.
    Free(&'t Route),
    /// A priced route and its offer: the request must pay.
    Priced(&'t Route, &'t Offer),
}

/// The request as the core sees it: what the table matches on and the gate reads. Adapters
/// fill it from their request type; one view for both.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a, H: ?Sized> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The scheme the connection used (`"http"`/`"https"`), when the adapter knows it.
    pub scheme: Option<&'a str>,
    /// The host when the adapter has it without a header lookup: the request-target's
    /// authority (HTTP/2 `:authority`, an absolute-form target — these take precedence over
    /// `Host`, RFC 9113 §8.3.1 and RFC 9112 §3.2.2) or a forwarded host. When `None`, the
    /// `Host` header is read from `headers`, and only if it is needed (a route restricted to
    /// hosts, a resource URL without a configured base URL). A port is allowed.
    pub host: Option<&'a str>,
    /// The request target's path and query, as received.
    pub path_and_query: &'a str,
    /// The request headers.
    pub headers: &'a H,
}

impl<'a> RequestParts<'a, ()> {
    /// A request with its method (`"GET"`), host and request-target path with optional query,
    /// no known scheme and no headers (add them with [`RequestParts::with_headers`]).
    pub fn new(method: &'a str, host: Option<&'a str>, path_and_query: &'a str) -> Self {
        Self {
            method,
            scheme: None,
            host,
            path_and_query,
            headers: &(),
        }
    }
}

impl<'a, H: ?Sized> RequestParts<'a, H> {
    /// The same request with these headers.
    pub fn with_headers<G: ?Sized>(self, headers: &'a G) -> RequestParts<'a, G> {
        RequestParts {
            method: self.method,
            scheme: self.scheme,
            host: self.host,
            path_and_query: self.path_and_query,
            headers,
        }
    }
}

impl<'a, H: HeaderLookup + ?Sized> RequestParts<'a, H> {
    /// The host: [`RequestParts::host`] if set, else the `Host` header.
    pub fn host(&self) -> Option<&'a str> {
        self.host.or_else(|| self.headers.first("host"))
    }
}

/// Header access for conditional routes, implemented by the adapters over their header maps.
pub trait HeaderLookup {
    /// The first value of the header `name` (given in lower case), if present and valid text.
    fn first(&self, name: &str) -> Option<&str>;
}

/// No headers at all.
impl HeaderLookup for () {
    fn first(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// A list of `(name, value)` pairs; names compare ASCII case-insensitively.
impl HeaderLookup for [(&str, &str)] {
    fn first(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl RouteTable {
    /// A table with no routes: every request is unmatched.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Compiles one spec.
    pub fn from_spec(spec: &RouteSpec) -> Result<Self, BuildErrors> {
        Self::builder().spec(spec).build()
    }

    /// A builder for a table made of several specs (e.g. several `X402Route` resources).
    pub fn builder<'s>() -> RouteTableBuilder<'s> {
        RouteTableBuilder {
            specs: Vec::new(),
            supported: None,
            default_case: MatchCase::Sensitive,
            default_flow: crate::flow::PaymentFlow::Authorization,
            ledger: None,
        }
    }

    /// Matches a request. `Err` means the path cannot be normalised safely (invalid percent
    /// encoding, a dot segment, …): answer 400, never serve it as unmatched.
    pub fn match_request<'t, H: HeaderLookup + ?Sized>(
        &'t self,
        request: &RequestParts<'_, H>,
    ) -> Result<RouteMatch<'t>, PathError> {
        let headers = request.headers;
        if self.routes.is_empty() {
            return Ok(RouteMatch::Unmatched);
        }
        let path = NormalizedPath::parse(request.path_and_query)?;
        let method = MethodSet::of_request(request.method);
        // Only routes restricted to hosts read the host: strip its port when one does.
        let mut host = None;
        let found = self.matcher.first_match(&path, |i| {
            let route = &self.routes[i];
            route.methods.contains(method)
                && (matches!(route.hosts, HostSet::Any)
                    || route
                        .hosts
                        .matches(*host.get_or_insert_with(|| request.host().map(strip_port))))
        });
        let Some(index) = found else {
            return Ok(RouteMatch::Unmatched);
        };
        let route = &self.routes[index];
        Ok(match &route.kind {
            RouteKind::Free => RouteMatch::Free(route),
            RouteKind::Priced { offer, conditions } => {
                if conditions_say_free(conditions, headers) {
                    RouteMatch::Free(route)
                } else {
                    RouteMatch::Priced(route, offer)
                }
            }
        })
    }

    /// The routes, in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// What building noticed but accepted: shadowed routes, ignored conditions.
    pub fn warnings(&self) -> &[BuildWarning] {
        &self.warnings
    }

    /// Every `(route, chain)` label pair this table can emit. When a reload replaces a table,
    /// the pairs of the old one missing from the new one are the series to remove.
    pub fn label_sets(&self) -> BTreeSet<RouteLabels> {
        let mut sets = BTreeSet::new();
        for route in self.routes.iter() {
            match &route.kind {
                RouteKind::Free => {
                    sets.insert(route.free_series.labels().clone());
                }
                RouteKind::Priced { offer, .. } => {
                    sets.extend(offer.accepts().iter().map(|a| a.labels().clone()));
                }
            }
        }
        sets
    }

    /// A [discovery document](crate::discovery) of this table for a request to `origin`
    /// (`https://api.example.com`, or a base URL with a path prefix) whose `Host` is `host`:
    /// routes limited to other hosts are not listed. Built once per table, on first use.
    pub fn discovery_document(
        &self,
        listing: Listing,
        origin: &str,
        host: Option<&str>,
        info: &ApiInfo,
    ) -> String {
        self.documents().render(self, listing, origin, host, info)
    }

    /// The priced routes the discovery documents leave out (paths with `**` or a glob inside a
    /// segment, which no URL template can say), by name.
    pub fn undiscoverable(&self) -> Vec<Arc<str>> {
        self.documents()
            .left_out()
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn documents(&self) -> &Documents {
        self.documents.get_or_init(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Arc::new(Documents::new(self, now))
        })
    }

    /// Registers every counter series of the table at 0 (see [`crate::telemetry`]).
    pub(crate) fn register_series(&self) {
        for route in self.routes.iter() {
            match &route.kind {
                RouteKind::Free => telemetry::register(&route.free_series, false),
                RouteKind::Priced { offer, .. } => {
                    for accept in offer.accepts() {
                        telemetry::register(accept.series(), true);
                    }
                }
            }
        }
    }
}

impl Route {
    /// The route's position in the table (match order).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The name of the spec the route came from, when the table was built from named specs
    /// (e.g. `namespace/name` of an `X402Route`).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The route name: its `name`, or its path text. This is the `route` metric label.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Whether the route is free (`free: true`).
    pub fn is_free(&self) -> bool {
        matches!(self.kind, RouteKind::Free)
    }

    /// The offer of a priced route (`None` for a free route).
    pub fn offer(&self) -> Option<&Offer> {
        match &self.kind {
            RouteKind::Free => None,
            RouteKind::Priced { offer, .. } => Some(offer),
        }
    }

    /// Whether the route accepts, in gateway modes, spellings servers read differently
    /// (`allowAmbiguousPath`; only ever set on a priced route).
    pub fn allows_ambiguous_path(&self) -> bool {
        self.allow_ambiguous_path
    }

    /// The route's own upstream (`upstream`, the gateway's proxy mode), if it names one.
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    /// What the route's `discovery` block compiled to (priced routes only).
    pub(crate) fn discovery(&self) -> Option<&RouteDiscovery> {
        self.discovery.as_deref()
    }

    /// Whether a request with this `Host` may match the route.
    pub(crate) fn serves_host(&self, host: Option<&str>) -> bool {
        self.hosts.matches(host.map(strip_port))
    }

    /// The facilitator URL the spec names (`payment.facilitatorURL`), if any.
    pub fn facilitator_url(&self) -> Option<&str> {
        self.facilitator_url.as_deref()
    }

    /// The labels of the route's primary payment option, or of its spec's default network for
    /// a free route (`chain = "none"` when it has none).
    pub fn labels(&self) -> &RouteLabels {
        self.series().labels()
    }

    /// The metric series of [`Route::labels`].
    pub(crate) fn series(&self) -> &RouteSeries {
        match &self.kind {
            RouteKind::Free => &self.free_series,
            RouteKind::Priced { offer, .. } => offer.accepts()[0].series(),
        }
    }
}

fn conditions_say_free<H: HeaderLookup + ?Sized>(conditions: &[Condition], headers: &H) -> bool {
    for condition in conditions {
        let Some(value) = headers.first(&condition.header) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        if condition.regex.is_match(value) {
            return condition.action == ConditionAction::Free;
        }
    }
    false
}

/// Builds a [`RouteTable`] from several specs, in order.
#[derive(Debug, Default)]
pub struct RouteTableBuilder<'s> {
    specs: Vec<(Option<&'s str>, &'s RouteSpec)>,
    supported: Option<&'s SupportedResponse>,
    default_case: MatchCase,
    default_flow: crate::flow::PaymentFlow,
    ledger: Option<bool>,
}

impl<'s> RouteTableBuilder<'s> {
    /// Whether the gate serving the table has a payment [ledger](crate::ledger): without one
    /// (`false`), a route declaring `paymentIdentifier` is an error, since its ids could not be
    /// kept. Unset, it is not checked here; a gate without a ledger then answers such a
    /// route's payments 503.
    pub fn ledger(mut self, present: bool) -> Self {
        self.ledger = Some(present);
        self
    }

    /// Adds an anonymous spec.
    pub fn spec(mut self, spec: &'s RouteSpec) -> Self {
        self.specs.push((None, spec));
        self
    }

    /// Adds a spec named `source` (e.g. `namespace/name`); errors and routes carry the name.
    pub fn named_spec(mut self, source: &'s str, spec: &'s RouteSpec) -> Self {
        self.specs.push((Some(source), spec));
        self
    }

    /// The facilitator's `/supported` answer, for payment mechanisms whose offer needs
    /// something from it (a fee payer, a facilitator address; see [`crate::mechanism`]). The
    /// EVM `exact` (EIP-3009) mechanism needs nothing from it.
    pub fn supported(mut self, supported: &'s SupportedResponse) -> Self {
        self.supported = Some(supported);
        self
    }

    /// Matches routes that do not set `caseInsensitive` ASCII case-insensitively (the gateway's
    /// rule, see [`crate::path::gateway`]); by default they match exactly.
    pub fn case_insensitive_by_default(mut self, insensitive: bool) -> Self {
        self.default_case = if insensitive {
            MatchCase::Insensitive
        } else {
            MatchCase::Sensitive
        };
        self
    }

    /// The [payment flow](crate::flow) of options that name none (`paymentFlow` unset at every
    /// level), where their mechanism allows it; by default `authorization`. The gateway's
    /// `settlement: before` sets [`PaymentFlow::Upfront`](crate::flow::PaymentFlow::Upfront).
    pub fn default_payment_flow(mut self, flow: crate::flow::PaymentFlow) -> Self {
        self.default_flow = flow;
        self
    }

    /// Compiles every spec, returning every error at once.
    pub fn build(self) -> Result<RouteTable, BuildErrors> {
        let mut errors = Vec::new();
        let mut routes = Vec::new();
        let mut patterns = Vec::new();
        let mut warnings = Vec::new();
        for (source, spec) in self.specs {
            let mut cx = SpecCompiler {
                source: source.map(Arc::from),
                errors: &mut errors,
                supported: self.supported,
                default_case: self.default_case,
                default_flow: self.default_flow,
                ledger: self.ledger,
            };
            cx.compile(spec, &mut routes, &mut patterns, &mut warnings);
        }
        if !errors.is_empty() {
            return Err(BuildErrors { errors });
        }
        for (index, route) in routes.iter_mut().enumerate() {
            route.index = index;
        }
        warnings.extend(shadowed(&routes, &patterns));
        Ok(RouteTable {
            routes: routes.into(),
            matcher: PathMatcher::new(patterns),
            warnings: warnings.into(),
            documents: OnceLock::new(),
        })
    }
}

/// Every error found while building a table.
#[derive(Debug, thiserror::Error)]
pub struct BuildErrors {
    errors: Vec<ConfigError>,
}

impl BuildErrors {
    /// The errors, in the order of the spec.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }
}

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} error{} in the route configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        // Each line is one error with its causes (a regex's own message, for one).
        for error in &self.errors {
            write!(f, "\n  - {}", ErrorChain(error))?;
        }
        Ok(())
    }
}

/// One configuration error: where (spec, route, field), the value, and what is wrong.
///
/// The [`kind`](Self::kind) is this error's own level (what is wrong), so `Display` prints it
/// and [`source`](StdError::source) is the kind's cause (e.g. the regex parser's error).
#[derive(Debug)]
pub struct ConfigError {
    location: Location,
    field: String,
    value: String,
    kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            location,
            field,
            value,
            kind,
        } = self;
        write!(f, "{location}`{field}` = {value:?}: {kind}")
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.kind.source()
    }
}

impl ConfigError {
    /// The spec's name, if it was added with one.
    pub fn source_name(&self) -> Option<&str> {
        self.location.source.as_deref()
    }

    /// The index of the route within its spec, if the error is in a route.
    pub fn route_index(&self) -> Option<usize> {
        self.location.route.as_ref().map(|r| r.0)
    }

    /// The route's name (or path), if the error is in a route.
    pub fn route_name(&self) -> Option<&str> {
        self.location.route.as_ref().map(|r| r.1.as_str())
    }

    /// The field path, e.g. `routes[2].accepts[0].price`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The offending value as configured (`""` when missing).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong.
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }
}

#[derive(Debug, Clone)]
struct Location {
    source: Option<Arc<str>>,
    route: Option<(usize, String)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{source}: ")?;
        }
        if let Some((index, name)) = &self.route {
            write!(f, "route #{index} ({name:?}): ")?;
        }
        Ok(())
    }
}

/// What is wrong with a configured value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A required value is missing.
    #[error("missing: {0}")]
    Missing(&'static str),
    /// The path pattern is invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// The network is unknown or unsupported.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The price is not a valid exact decimal for the asset.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The payment mechanism could not build its part of the offer.
    #[error(transparent)]
    Offer(crate::mechanism::OfferError),
    /// A zero price on a route that is not `free`.
    #[error("a zero price is only allowed with `free: true`")]
    ZeroPrice,
    /// A `$` price on a token that is not a known USD stablecoin.
    #[error(
        "a `$` price needs the network's default USD stablecoin; give this token's price without `$`, or `amount` in atomic units"
    )]
    DollarPriceOnToken,
    /// Both `price` and `amount` given at the same level.
    #[error("give either `price` or `amount`, not both")]
    PriceAndAmount,
    /// Not an EVM address (`0x` and 40 hex digits).
    #[error("not an EVM address (0x followed by 40 hex digits)")]
    Address,
    /// The network has no default token; an `asset` is needed.
    #[error("network has no default USD stablecoin; set `asset` (address, decimals, eip712)")]
    NoDefaultAsset,
    /// An unknown HTTP method.
    #[error(
        "not a standard HTTP method (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH)"
    )]
    Method,
    /// An invalid host pattern.
    #[error("not a host name or `*.domain` pattern")]
    Host,
    /// An invalid header name.
    #[error("not a valid header name")]
    HeaderName,
    /// An invalid condition regex.
    #[error("invalid regular expression")]
    Regex(#[from] regex::Error),
    /// An unsupported payment scheme.
    #[error("unsupported scheme; `exact` and `upto` are supported")]
    Scheme,
    /// An asset transfer method the scheme does not have (`eip3009` or `permit2` for `exact`,
    /// `permit2` for `upto`).
    #[error("not a transfer method of this scheme; `eip3009` or `permit2` (`upto`: `permit2`)")]
    AssetTransferMethod,
    /// Not a `paymentIdentifier` value (`optional` or `required`).
    #[error("not a paymentIdentifier value; `optional` or `required`")]
    PaymentIdentifier,
    /// `paymentIdentifier` on a table whose gate has no ledger (see
    /// [`RouteTableBuilder::ledger`]).
    #[error("needs a payment ledger to keep the ids, and this gate has none")]
    PaymentIdentifierWithoutLedger,
    /// Not a payment flow (`authorization` or `upfront`).
    #[error("not a payment flow; `authorization` (the default) or `upfront`")]
    PaymentFlow,
    /// A payment flow the option's mechanism does not allow (e.g. `upfront` with `upto`, whose
    /// charge is only known after the handler).
    #[error("payment flow not allowed for {mechanism}")]
    UnsupportedPaymentFlow {
        /// The option's mechanism.
        mechanism: crate::mechanism::MechanismId,
    },
    /// `maxTimeoutSeconds` out of range.
    #[error("must be between 1 and {MAX_MAX_TIMEOUT_SECONDS} seconds")]
    Timeout,
    /// A facilitator URL that is not `http://` or `https://`.
    #[error("must be an http:// or https:// URL with a host")]
    FacilitatorUrl,
    /// Text that may not contain control characters.
    #[error("must not contain control characters")]
    ControlCharacters,
    /// An EIP-712 name or version that is empty.
    #[error("must not be empty")]
    Empty,
    /// `allowAmbiguousPath` on a free route, which would let any spelling through unpaid.
    #[error("only a priced route may allow ambiguous paths: on a free one any spelling would pass")]
    AmbiguousPathOnFreeRoute,
    /// A `discovery` block that cannot be declared.
    #[error("{0}")]
    Discovery(&'static str),
}

/// Something building accepted but that probably is not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildWarning {
    /// Every request the route matches is matched by an earlier route, so it never applies.
    Shadowed {
        /// The shadowed route (table index and name).
        route: (usize, Arc<str>),
        /// The earlier route that shadows it.
        by: (usize, Arc<str>),
    },
    /// The route has conditions but is not `mode: conditional`, so they are ignored (as the
    /// operator ignores them).
    ConditionsIgnored {
        /// The route (table index and name).
        route: (usize, Arc<str>),
    },
    /// One of the route's payment options is not offered: its mechanism needs something the
    /// facilitator's `/supported` did not give (e.g. `upto`'s `facilitatorAddress`). The route
    /// is offered with its other options; with none left it is a build error instead.
    OptionNotOffered {
        /// The route (table index and name).
        route: (usize, Arc<str>),
        /// The option's index in the route's options (`accepts`).
        option: usize,
        /// Why it cannot be offered.
        reason: crate::mechanism::OfferError,
    },
}

impl fmt::Display for BuildWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shadowed { route, by } => write!(
                f,
                "route #{} ({:?}) is shadowed by route #{} ({:?}) and never matches",
                route.0, route.1, by.0, by.1
            ),
            Self::ConditionsIgnored { route } => write!(
                f,
                "route #{} ({:?}) has conditions but not `mode: conditional`; they are ignored",
                route.0, route.1
            ),
            Self::OptionNotOffered {
                route,
                option,
                reason,
            } => write!(
                f,
                "route #{} ({:?}): payment option #{option} is not offered: {reason}",
                route.0, route.1
            ),
        }
    }
}

/// A set of HTTP methods as a bit set; bit 9 stands for every non-standard method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MethodSet(u16);

const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

impl MethodSet {
    const NONE: Self = Self(0);
    const OPTIONS: Self = Self(1 << 6);
    const EXTENSION: Self = Self(1 << 9);
    const ANY_BUT_OPTIONS: Self = Self(((1 << 10) - 1) & !Self::OPTIONS.0);

    fn of_request(method: &str) -> Self {
        STANDARD_METHODS
            .iter()
            .position(|m| *m == method)
            .map_or(Self::EXTENSION, |i| Self(1 << i))
    }

    fn of_config(method: &str) -> Option<Self> {
        STANDARD_METHODS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(method))
            .map(|i| Self(1 << i))
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

#[derive(Debug, Clone)]
enum HostSet {
    Any,
    Only(Box<[HostPattern]>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A host name, lower case, without a trailing dot.
    Exact(Box<str>),
    /// `*.example.com`, stored as `.example.com`.
    Subdomains(Box<str>),
}

impl HostPattern {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        let ipv6 = !wildcard
            && name.starts_with('[')
            && name.ends_with(']')
            && name[1..name.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !(valid || ipv6) {
            return None;
        }
        Some(if wildcard {
            Self::Subdomains(format!(".{name}").into())
        } else {
            Self::Exact(name.into())
        })
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }

    fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Subdomains(suffix), Self::Exact(b)) => {
                b.len() > suffix.len() && b.ends_with(&**suffix)
            }
            (Self::Subdomains(a), Self::Subdomains(b)) => b.ends_with(&**a),
            (Self::Exact(_), Self::Subdomains(_)) => false,
        }
    }
}

impl HostSet {
    fn matches(&self, host: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::Only(patterns) => host.is_some_and(|h| patterns.iter().any(|p| p.matches(h))),
        }
    }

    fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Any, _) => true,
            (Self::Only(_), Self::Any) => false,
            (Self::Only(ours), Self::Only(theirs)) => {
                theirs.iter().all(|t| ours.iter().any(|o| o.covers(t)))
            }
        }
    }
}

/// The host without its port (and without a trailing dot). IPv6 literals keep their brackets.
fn strip_port(host: &str) -> &str {
    let host = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}
