//! Compiling a [`RouteSpec`] into routes: defaults, levels, prices, conditions, and the
//! shadowed-route warnings.

use std::{collections::HashMap, sync::Arc};

use alloy_primitives::{Address, U256};

use super::{
    BuildWarning, Condition, ConfigError, ConfigErrorKind, DEFAULT_MAX_TIMEOUT_SECONDS,
    HostPattern, HostSet, Location, MAX_MAX_TIMEOUT_SECONDS, MethodSet, Route, RouteKind,
};
use crate::{
    discovery::{Declared, RouteDiscovery},
    flow::PaymentFlow,
    labels::RouteLabels,
    mechanism, money,
    network::{Asset, Eip712Domain, Network},
    offer::{Offer, ResolvedAccept, TemplateError},
    pattern::{MatchCase, PathPattern},
    payment_identifier::PaymentIdentifier,
    spec::{AssetSpec, ConditionSpec, RouteMode, RouteRule, RouteSpec},
    telemetry::RouteSeries,
    wire::SupportedResponse,
};

/// The scheme of an option that names none.
const DEFAULT_SCHEME: &str = "exact";

/// Compiles one spec, collecting errors.
pub(super) struct SpecCompiler<'e> {
    pub(super) source: Option<Arc<str>>,
    pub(super) errors: &'e mut Vec<ConfigError>,
    /// The facilitator's `/supported` answer, when the builder was given one.
    pub(super) supported: Option<&'e SupportedResponse>,
    /// How a route without `caseInsensitive` matches.
    pub(super) default_case: MatchCase,
    /// The payment flow of an option that names none (when its mechanism allows it).
    pub(super) default_flow: PaymentFlow,
    /// Whether the gate has a ledger to keep `payment-identifier` ids (`None`: not checked).
    pub(super) ledger: Option<bool>,
}

/// A spec's `payment` block, validated.
struct Defaults<'a> {
    wallet: Option<Address>,
    /// `payment.wallet` was set (even if invalid).
    wallet_given: bool,
    network: Option<Network>,
    /// `payment.network` was set (even if invalid).
    network_given: bool,
    price: Option<&'a str>,
    asset: Option<Asset>,
    max_timeout_seconds: Option<u64>,
    facilitator_url: Option<Arc<str>>,
    chain_label: Arc<str>,
    payment_identifier: Option<PaymentIdentifier>,
}

/// The payment-relevant fields of one level (payment, route, accept option).
#[derive(Clone, Copy, Default)]
struct Level<'a> {
    network: Option<&'a str>,
    pay_to: Option<&'a str>,
    price: Option<&'a str>,
    amount: Option<&'a str>,
    asset: Option<&'a AssetSpec>,
    max_timeout_seconds: Option<u64>,
    payment_flow: Option<&'a str>,
    transfer_method: Option<&'a str>,
}

impl SpecCompiler<'_> {
    fn error(
        &mut self,
        route: Option<(usize, &str)>,
        field: impl Into<String>,
        value: impl Into<String>,
        kind: impl Into<ConfigErrorKind>,
    ) {
        self.errors.push(ConfigError {
            location: Location {
                source: self.source.clone(),
                route: route.map(|(i, name)| (i, name.to_owned())),
            },
            field: field.into(),
            value: value.into(),
            kind: kind.into(),
        });
    }

    pub(super) fn compile(
        &mut self,
        spec: &RouteSpec,
        routes: &mut Vec<Route>,
        patterns: &mut Vec<PathPattern>,
        warnings: &mut Vec<BuildWarning>,
    ) {
        let defaults = self.defaults(spec);
        for (i, rule) in spec.routes.iter().enumerate() {
            let table_index = routes.len();
            if let Some((route, pattern, warning)) = self.route(i, table_index, rule, &defaults) {
                routes.push(route);
                patterns.push(pattern);
                warnings.extend(warning);
            }
        }
    }

    fn defaults<'a>(&mut self, spec: &'a RouteSpec) -> Defaults<'a> {
        let payment = &spec.payment;
        let wallet = payment
            .wallet
            .as_deref()
            .and_then(|w| self.address(None, "payment.wallet", w));
        let network = payment
            .network
            .as_deref()
            .and_then(|n| self.network(None, "payment.network", n));
        let asset = payment
            .asset
            .as_ref()
            .and_then(|a| self.asset(None, "payment.asset", a));
        let max_timeout_seconds = payment
            .max_timeout_seconds
            .and_then(|t| self.timeout(None, "payment.maxTimeoutSeconds", t));
        let facilitator_url = payment.facilitator_url.as_deref().and_then(|url| {
            if valid_http_url(url) {
                Some(Arc::from(url))
            } else {
                self.error(
                    None,
                    "payment.facilitatorURL",
                    url,
                    ConfigErrorKind::FacilitatorUrl,
                );
                None
            }
        });
        let chain_label = Arc::from(network.as_ref().map_or("none", Network::caip2));
        let payment_identifier = payment
            .payment_identifier
            .as_deref()
            .and_then(|text| self.payment_identifier(None, "payment.paymentIdentifier", text));
        Defaults {
            wallet,
            wallet_given: payment.wallet.is_some(),
            network,
            network_given: payment.network.is_some(),
            price: payment.default_price.as_deref(),
            asset,
            max_timeout_seconds,
            facilitator_url,
            chain_label,
            payment_identifier,
        }
    }

    fn payment_identifier(
        &mut self,
        at: Option<(usize, &str)>,
        field: &str,
        text: &str,
    ) -> Option<PaymentIdentifier> {
        let parsed = PaymentIdentifier::parse(text);
        if parsed.is_none() {
            self.error(at, field, text, ConfigErrorKind::PaymentIdentifier);
        }
        parsed
    }

    fn route(
        &mut self,
        i: usize,
        table_index: usize,
        rule: &RouteRule,
        defaults: &Defaults<'_>,
    ) -> Option<(Route, PathPattern, Vec<BuildWarning>)> {
        let name: Arc<str> = Arc::from(rule.name.as_deref().unwrap_or(&rule.path));
        let at = Some((i, &*name));
        let errors_before = self.errors.len();

        let case = match rule.case_insensitive {
            Some(true) => MatchCase::Insensitive,
            Some(false) => MatchCase::Sensitive,
            None => self.default_case,
        };
        let pattern = PathPattern::parse(&rule.path, case)
            .map_err(|e| self.error(at, format!("routes[{i}].path"), &rule.path, e))
            .ok();
        let methods = self.methods(at, i, &rule.methods);
        let hosts = self.hosts(at, i, &rule.hosts);
        for (field, text) in [
            ("description", rule.description.as_deref()),
            ("mimeType", rule.mime_type.as_deref()),
        ] {
            if let Some(text) = text.filter(|t| t.chars().any(char::is_control)) {
                self.error(
                    at,
                    format!("routes[{i}].{field}"),
                    text,
                    ConfigErrorKind::ControlCharacters,
                );
            }
        }

        if rule.allow_ambiguous_path && rule.free {
            self.error(
                at,
                format!("routes[{i}].allowAmbiguousPath"),
                "true",
                ConfigErrorKind::AmbiguousPathOnFreeRoute,
            );
        }
        let conditional = rule.mode == Some(RouteMode::Conditional);
        let mut warning_list = Vec::new();
        let mut discovery = None;
        let kind = if rule.free {
            Some(RouteKind::Free)
        } else {
            let conditions = if conditional {
                self.conditions(at, i, &rule.conditions)
            } else {
                if !rule.conditions.is_empty() {
                    warning_list.push(BuildWarning::ConditionsIgnored {
                        route: (table_index, name.clone()),
                    });
                }
                Vec::new()
            };
            let mut left_out = Vec::new();
            discovery = self.discovery(at, i, rule);
            let bazaar = discovery.as_ref().and_then(|d| d.declared.declaration());
            let offer = self.offer(
                at,
                (i, table_index),
                rule,
                defaults,
                &name,
                &mut left_out,
                bazaar,
            );
            warning_list.extend(left_out);
            offer.map(|offer| RouteKind::Priced {
                offer,
                conditions: conditions.into(),
            })
        };

        if self.errors.len() > errors_before {
            return None;
        }
        let route = Route {
            index: table_index,
            source: self.source.clone(),
            free_series: RouteSeries::new(RouteLabels::new(
                name.clone(),
                defaults.chain_label.clone(),
            )),
            name,
            methods: methods?,
            hosts: hosts?,
            kind: kind?,
            facilitator_url: defaults.facilitator_url.clone(),
            allow_ambiguous_path: rule.allow_ambiguous_path,
            upstream: rule.upstream.as_deref().map(Arc::from),
            discovery: discovery.map(Arc::new),
        };
        Some((route, pattern?, warning_list))
    }

    /// A priced route's discovery: its `discovery` block checked against its methods.
    fn discovery(
        &mut self,
        at: Option<(usize, &str)>,
        i: usize,
        rule: &RouteRule,
    ) -> Option<RouteDiscovery> {
        let methods: Vec<String> = rule
            .methods
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        match Declared::new(rule.discovery.as_ref(), &methods, &rule.path) {
            Ok(declared) => Some(RouteDiscovery {
                declared,
                pattern: rule.path.as_str().into(),
                methods: methods.into_iter().map(String::into_boxed_str).collect(),
            }),
            Err(invalid) => {
                let value = rule
                    .discovery
                    .as_ref()
                    .and_then(|d| match invalid.field {
                        "method" => d.method.clone(),
                        "bodyType" => d.body_type.clone(),
                        _ => None,
                    })
                    .unwrap_or_default();
                self.error(
                    at,
                    format!("routes[{i}].discovery.{}", invalid.field),
                    value,
                    ConfigErrorKind::Discovery(invalid.problem),
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn offer(
        &mut self,
        at: Option<(usize, &str)>,
        (i, table_index): (usize, usize),
        rule: &RouteRule,
        defaults: &Defaults<'_>,
        name: &Arc<str>,
        warnings: &mut Vec<BuildWarning>,
        bazaar: Option<serde_json::Value>,
    ) -> Option<Offer> {
        let route_level = Level {
            network: rule.network.as_deref(),
            pay_to: rule.pay_to.as_deref(),
            price: rule.price.as_deref(),
            amount: rule.amount.as_deref(),
            asset: rule.asset.as_ref(),
            max_timeout_seconds: rule.max_timeout_seconds,
            payment_flow: rule.payment_flow.as_deref(),
            transfer_method: rule.asset_transfer_method.as_deref(),
        };
        let route_field = format!("routes[{i}]");
        let route_scheme = rule.scheme.as_deref();
        let mut resolved = Vec::new();
        let mut ok = true;
        if rule.accepts.is_empty() {
            let scheme = route_scheme.unwrap_or(DEFAULT_SCHEME);
            if !mechanism::knows_scheme(scheme) {
                self.error(
                    at,
                    format!("{route_field}.scheme"),
                    scheme,
                    ConfigErrorKind::Scheme,
                );
                return None;
            }
            let levels = [(route_field, route_level)];
            match self.accept(at, &levels, defaults, name, scheme) {
                Some(accept) => resolved.push(accept),
                None => ok = false,
            }
        } else {
            for (j, option) in rule.accepts.iter().enumerate() {
                let field = format!("routes[{i}].accepts[{j}]");
                let (scheme_field, scheme) = match (option.scheme.as_deref(), route_scheme) {
                    (Some(scheme), _) => (&field, scheme),
                    (None, Some(scheme)) => (&route_field, scheme),
                    (None, None) => (&field, DEFAULT_SCHEME),
                };
                if !mechanism::knows_scheme(scheme) {
                    self.error(
                        at,
                        format!("{scheme_field}.scheme"),
                        scheme,
                        ConfigErrorKind::Scheme,
                    );
                    ok = false;
                    continue;
                }
                let level = Level {
                    network: option.network.as_deref(),
                    pay_to: option.pay_to.as_deref(),
                    price: option.price.as_deref(),
                    amount: option.amount.as_deref(),
                    asset: option.asset.as_ref(),
                    max_timeout_seconds: option.max_timeout_seconds,
                    payment_flow: option.payment_flow.as_deref(),
                    transfer_method: option.asset_transfer_method.as_deref(),
                };
                let levels = [(field, level), (route_field.clone(), route_level)];
                match self.accept(at, &levels, defaults, name, scheme) {
                    Some(accept) => resolved.push(accept),
                    None => ok = false,
                }
            }
        }
        if !ok {
            return None;
        }
        let payment_identifier = match rule.payment_identifier.as_deref() {
            Some(text) => Some(self.payment_identifier(
                at,
                &format!("routes[{i}].paymentIdentifier"),
                text,
            )?),
            None => defaults.payment_identifier,
        };
        if let (Some(declared), Some(false)) = (payment_identifier, self.ledger) {
            let field = match rule.payment_identifier {
                Some(_) => format!("routes[{i}].paymentIdentifier"),
                None => "payment.paymentIdentifier".to_owned(),
            };
            self.error(
                at,
                field,
                declared.as_str(),
                ConfigErrorKind::PaymentIdentifierWithoutLedger,
            );
            return None;
        }
        let description = rule.description.as_deref().unwrap_or("");
        let mime_type = rule.mime_type.as_deref().unwrap_or("");
        match Offer::offering(
            resolved,
            description,
            mime_type,
            self.supported,
            payment_identifier,
            bazaar,
        ) {
            Ok((offer, left_out)) => {
                for (option, reason) in left_out {
                    warnings.push(BuildWarning::OptionNotOffered {
                        route: (table_index, name.clone()),
                        option,
                        reason,
                    });
                }
                Some(offer)
            }
            Err(TemplateError::Placeholder) => {
                self.error(
                    at,
                    format!("routes[{i}].description"),
                    description,
                    ConfigErrorKind::ControlCharacters,
                );
                None
            }
            Err(TemplateError::Mechanism(error)) => {
                self.error(
                    at,
                    format!("routes[{i}]"),
                    "",
                    ConfigErrorKind::Offer(error),
                );
                None
            }
        }
    }

    /// Resolves one payment option from its levels (most specific first: the option, then
    /// the route), then the spec's `payment` defaults; the first level that sets a field wins.
    fn accept(
        &mut self,
        at: Option<(usize, &str)>,
        levels: &[(String, Level<'_>)],
        defaults: &Defaults<'_>,
        name: &Arc<str>,
        scheme: &str,
    ) -> Option<ResolvedAccept> {
        let base_field = levels[0].0.as_str();
        let field_of = |level: &str, key: &str| format!("{level}.{key}");

        // Every field is resolved and checked before giving up, so one pass reports every
        // error; a default that was given but is invalid was reported once already and is not
        // reported again as "missing" for each route.
        let network = match levels.iter().find_map(|(f, l)| l.network.map(|n| (f, n))) {
            Some((f, text)) => self.network(at, &field_of(f, "network"), text),
            None => match &defaults.network {
                Some(network) => Some(network.clone()),
                None if defaults.network_given => None,
                None => {
                    self.error(
                        at,
                        field_of(base_field, "network"),
                        "",
                        ConfigErrorKind::Missing("set `network` here or `payment.network`"),
                    );
                    None
                }
            },
        };

        let pay_to = match levels.iter().find_map(|(f, l)| l.pay_to.map(|p| (f, p))) {
            Some((f, text)) => self.address(at, &field_of(f, "payTo"), text),
            None => match defaults.wallet {
                Some(wallet) => Some(wallet),
                None if defaults.wallet_given => None,
                None => {
                    self.error(
                        at,
                        field_of(base_field, "payTo"),
                        "",
                        ConfigErrorKind::Missing("set `payTo` here or `payment.wallet`"),
                    );
                    None
                }
            },
        };

        // Asset: explicit at some level, else the spec default, else the network's USDC.
        let asset = match levels.iter().find_map(|(f, l)| l.asset.map(|a| (f, a))) {
            Some((f, spec)) => self
                .asset(at, &field_of(f, "asset"), spec)
                .map(|a| (a, false)),
            None => match (&defaults.asset, network.as_ref()) {
                (Some(asset), _) => Some((asset.clone(), false)),
                (None, None) => None,
                (None, Some(network)) => match network.default_asset() {
                    Some(asset) => Some((asset, true)),
                    None => {
                        self.error(
                            at,
                            field_of(base_field, "asset"),
                            network.caip2(),
                            ConfigErrorKind::NoDefaultAsset,
                        );
                        None
                    }
                },
            },
        };
        let (asset, is_default_asset) = asset?;

        // Amount: the most specific level with `price` or `amount`, else `defaultPrice`.
        let (price_level, price, amount) = match levels
            .iter()
            .find(|(_, l)| l.price.is_some() || l.amount.is_some())
        {
            Some((f, l)) => (Some(f.as_str()), l.price, l.amount),
            None => (None, defaults.price, None),
        };
        let price_field = |key: &str| {
            price_level.map_or_else(|| "payment.defaultPrice".to_owned(), |f| field_of(f, key))
        };
        let value = match (price, amount) {
            (Some(price), Some(_)) => {
                self.error(
                    at,
                    price_field("price"),
                    price,
                    ConfigErrorKind::PriceAndAmount,
                );
                return None;
            }
            (Some(price), None) => {
                self.price(at, &price_field("price"), price, &asset, is_default_asset)?
            }
            (None, Some(amount)) => money::parse_atomic(amount)
                .map_err(|e| self.error(at, price_field("amount"), amount, e))
                .ok()?,
            (None, None) => {
                self.error(
                    at,
                    field_of(base_field, "price"),
                    "",
                    ConfigErrorKind::Missing(
                        "set `price` here or `payment.defaultPrice` (or `free: true`)",
                    ),
                );
                return None;
            }
        };
        if value.is_zero() {
            let key = if price.is_some() { "price" } else { "amount" };
            let text = price.or(amount).unwrap_or("");
            self.error(at, price_field(key), text, ConfigErrorKind::ZeroPrice);
            return None;
        }

        let max_timeout_seconds = match levels
            .iter()
            .find_map(|(f, l)| l.max_timeout_seconds.map(|t| (f, t)))
        {
            Some((f, t)) => self.timeout(at, &field_of(f, "maxTimeoutSeconds"), t)?,
            None => defaults
                .max_timeout_seconds
                .unwrap_or(DEFAULT_MAX_TIMEOUT_SECONDS),
        };

        let flow = match levels
            .iter()
            .find_map(|(f, l)| l.payment_flow.map(|p| (f, p)))
        {
            Some((f, text)) => match PaymentFlow::parse(text) {
                Some(flow) => Some((Some(f), flow)),
                None => {
                    self.error(
                        at,
                        field_of(f, "paymentFlow"),
                        text,
                        ConfigErrorKind::PaymentFlow,
                    );
                    return None;
                }
            },
            None => None,
        };

        let transfer = levels
            .iter()
            .find_map(|(f, l)| l.transfer_method.map(|t| (f, t)));
        let (network, pay_to) = (network?, pay_to?);
        // The mechanism is found by scheme and, when one is named, transfer method, as a
        // requirement's `extra` names it.
        let method_extra = transfer.map(|(_, method)| {
            crate::wire::JsonObject::from_iter([(
                "assetTransferMethod".to_owned(),
                serde_json::Value::from(method),
            )])
        });
        let Some(mechanism) = mechanism::find(scheme, &network, method_extra.as_ref()) else {
            match transfer {
                Some((f, method)) if mechanism::knows_scheme(scheme) => self.error(
                    at,
                    field_of(f, "assetTransferMethod"),
                    method,
                    ConfigErrorKind::AssetTransferMethod,
                ),
                _ => self.error(
                    at,
                    field_of(base_field, "scheme"),
                    scheme,
                    ConfigErrorKind::Scheme,
                ),
            }
            return None;
        };
        let allowed = mechanism.flows();
        let flow = match flow {
            Some((_, flow)) if allowed.contains(&flow) => flow,
            Some((f, flow)) => {
                self.error(
                    at,
                    field_of(f.map_or(base_field, String::as_str), "paymentFlow"),
                    flow.as_str(),
                    ConfigErrorKind::UnsupportedPaymentFlow {
                        mechanism: mechanism.id(),
                    },
                );
                return None;
            }
            // The table's default where the mechanism allows it, else the mechanism's own.
            None if allowed.contains(&self.default_flow) => self.default_flow,
            None => allowed.first().copied().unwrap_or_default(),
        };
        let labels = RouteLabels::new(name.clone(), network.caip2());
        Some(ResolvedAccept {
            mechanism,
            network,
            asset,
            amount: value,
            pay_to,
            max_timeout_seconds,
            flow,
            labels,
        })
    }

    fn price(
        &mut self,
        at: Option<(usize, &str)>,
        field: &str,
        text: &str,
        asset: &Asset,
        is_default_asset: bool,
    ) -> Option<U256> {
        if text.starts_with('$') && !is_default_asset {
            self.error(at, field, text, ConfigErrorKind::DollarPriceOnToken);
            return None;
        }
        money::parse_price(text, asset.decimals)
            .map_err(|e| self.error(at, field, text, e))
            .ok()
    }

    fn network(&mut self, at: Option<(usize, &str)>, field: &str, text: &str) -> Option<Network> {
        Network::parse(text)
            .map_err(|e| self.error(at, field, text, e))
            .ok()
    }

    fn address(&mut self, at: Option<(usize, &str)>, field: &str, text: &str) -> Option<Address> {
        let valid = text.len() == 42
            && (text.starts_with("0x") || text.starts_with("0X"))
            && text[2..].bytes().all(|b| b.is_ascii_hexdigit());
        match text.parse::<Address>() {
            Ok(address) if valid => Some(address),
            _ => {
                self.error(at, field, text, ConfigErrorKind::Address);
                None
            }
        }
    }

    fn asset(&mut self, at: Option<(usize, &str)>, field: &str, spec: &AssetSpec) -> Option<Asset> {
        let address = self.address(at, &format!("{field}.address"), &spec.address)?;
        for (key, value) in [
            ("name", &spec.eip712.name),
            ("version", &spec.eip712.version),
        ] {
            if value.is_empty() {
                self.error(
                    at,
                    format!("{field}.eip712.{key}"),
                    "",
                    ConfigErrorKind::Empty,
                );
                return None;
            }
        }
        Some(Asset {
            address,
            decimals: spec.decimals,
            eip712: Some(Eip712Domain {
                name: spec.eip712.name.clone().into(),
                version: spec.eip712.version.clone().into(),
            }),
        })
    }

    fn timeout(&mut self, at: Option<(usize, &str)>, field: &str, seconds: u64) -> Option<u64> {
        if (1..=MAX_MAX_TIMEOUT_SECONDS).contains(&seconds) {
            Some(seconds)
        } else {
            self.error(at, field, seconds.to_string(), ConfigErrorKind::Timeout);
            None
        }
    }

    fn methods(
        &mut self,
        at: Option<(usize, &str)>,
        i: usize,
        methods: &[String],
    ) -> Option<MethodSet> {
        if methods.is_empty() {
            return Some(MethodSet::ANY_BUT_OPTIONS);
        }
        let mut set = MethodSet::NONE;
        let mut ok = true;
        for (j, method) in methods.iter().enumerate() {
            match MethodSet::of_config(method) {
                Some(bit) => set = set.union(bit),
                None => {
                    self.error(
                        at,
                        format!("routes[{i}].methods[{j}]"),
                        method,
                        ConfigErrorKind::Method,
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(set)
    }

    fn hosts(&mut self, at: Option<(usize, &str)>, i: usize, hosts: &[String]) -> Option<HostSet> {
        if hosts.is_empty() {
            return Some(HostSet::Any);
        }
        let mut patterns = Vec::with_capacity(hosts.len());
        for (j, host) in hosts.iter().enumerate() {
            match HostPattern::parse(host) {
                Some(pattern) => patterns.push(pattern),
                None => self.error(
                    at,
                    format!("routes[{i}].hosts[{j}]"),
                    host,
                    ConfigErrorKind::Host,
                ),
            }
        }
        (patterns.len() == hosts.len()).then(|| HostSet::Only(patterns.into()))
    }

    fn conditions(
        &mut self,
        at: Option<(usize, &str)>,
        i: usize,
        conditions: &[ConditionSpec],
    ) -> Vec<Condition> {
        let mut compiled = Vec::with_capacity(conditions.len());
        for (j, condition) in conditions.iter().enumerate() {
            let field = format!("routes[{i}].conditions[{j}]");
            let header_ok =
                !condition.header.is_empty() && condition.header.bytes().all(is_token_byte);
            if !header_ok {
                self.error(
                    at,
                    format!("{field}.header"),
                    &condition.header,
                    ConfigErrorKind::HeaderName,
                );
            }
            let regex = regex::RegexBuilder::new(&condition.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| self.error(at, format!("{field}.pattern"), &condition.pattern, e))
                .ok();
            if let (true, Some(regex)) = (header_ok, regex) {
                compiled.push(Condition {
                    header: condition.header.to_ascii_lowercase().into(),
                    regex,
                    action: condition.action,
                });
            }
        }
        compiled
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn valid_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Routes that can never match because an earlier route matches everything they match.
///
/// Routes are bucketed by their first path segment, so typical tables are checked in close
/// to linear time; a pattern whose first segment has a wildcard is compared with everything.
pub(super) fn shadowed(routes: &[Route], patterns: &[PathPattern]) -> Vec<BuildWarning> {
    fn first_segment(pattern: &PathPattern) -> Option<String> {
        let first = pattern
            .canonical()
            .trim_start_matches('/')
            .split('/')
            .next()?;
        (!first.contains('*')).then(|| first.to_ascii_lowercase())
    }
    let mut warnings = Vec::new();
    let mut by_first: HashMap<String, Vec<usize>> = HashMap::new();
    let mut wild: Vec<usize> = Vec::new();
    for (j, pattern) in patterns.iter().enumerate() {
        let key = first_segment(pattern);
        let candidates = key
            .as_ref()
            .and_then(|k| by_first.get(k))
            .into_iter()
            .flatten()
            .chain(wild.iter());
        let mut shadow: Option<usize> = None;
        for &i in candidates {
            let (a, b) = (&routes[i], &routes[j]);
            if a.methods.contains(b.methods)
                && a.hosts.covers(&b.hosts)
                && patterns[i].covers(pattern)
            {
                shadow = Some(shadow.map_or(i, |s| s.min(i)));
            }
        }
        if let Some(i) = shadow {
            warnings.push(BuildWarning::Shadowed {
                route: (j, routes[j].name.clone()),
                by: (i, routes[i].name.clone()),
            });
        }
        match key {
            Some(k) => by_first.entry(k).or_default().push(j),
            None => wild.push(j),
        }
    }
    warnings
}
