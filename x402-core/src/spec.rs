//! The route configuration: the `spec` of an `X402Route` resource.
//!
//! One schema serves every source — Rust code, a YAML or JSON file, a Kubernetes
//! `X402Route` (`x402.io/v1alpha1`) — so a block can move between them unchanged. It is the
//! shape existing operator users already write, extended with optional fields:
//!
//! ```yaml
//! payment:                      # defaults for every route below
//!   wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"   # payTo
//!   network: base-sepolia       # legacy name or CAIP-2 (eip155:84532)
//!   defaultPrice: "$0.001"      # USD stablecoin (the network's default USDC)
//!   facilitatorURL: https://x402.org/facilitator
//! routes:
//!   - path: /api/**             # required
//!     name: api                 # metric label (defaults to the path text)
//!     methods: [GET, POST]      # empty = any method but OPTIONS
//!     hosts: [api.example.com]  # case-insensitive, port ignored, *.example.com allowed
//!     price: "0.01"             # overrides defaultPrice
//!   - path: /health
//!     free: true
//! ```
//!
//! A spec is only data: [`RouteTable::from_spec`](crate::RouteTable::from_spec) validates it and
//! compiles it, reporting every error with the route and the field at fault.
//!
//! ```
//! use x402_core::spec::RouteSpec;
//!
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base }
//! routes:
//!   - { path: /report, price: "0.25" }
//! "#).unwrap();
//! assert_eq!(spec.routes[0].price.as_deref(), Some("0.25"));
//! ```

use serde::{Deserialize, Serialize};

/// The `spec` of an `X402Route`: payment defaults and an ordered list of routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct RouteSpec {
    /// The Ingress the operator patches. Accepted for compatibility with operator manifests
    /// and ignored by this library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_ref: Option<IngressRef>,
    /// Defaults shared by every route.
    #[serde(default)]
    pub payment: PaymentDefaults,
    /// The routes, in priority order: the first match wins.
    #[serde(default)]
    pub routes: Vec<RouteRule>,
}

/// `spec.ingressRef` of an operator manifest (ignored by the library).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct IngressRef {
    /// The Ingress name.
    pub name: String,
    /// The Ingress namespace (defaults to the resource's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.payment`: defaults inherited by every route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct PaymentDefaults {
    /// The default recipient (`payTo`) address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    /// The default network: a legacy name (`base-sepolia`) or CAIP-2 (`eip155:84532`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The default price, `"0.001"` or `"$0.001"` (USD stablecoin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_price: Option<String>,
    /// The facilitator these routes name. The library's adapters use the facilitator they were
    /// built with; the gateway uses this URL. Must be `http://` or `https://`.
    #[serde(
        default,
        rename = "facilitatorURL",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "schemars",
        schemars(pattern("^https?://"), length(max = 2048))
    )]
    pub facilitator_url: Option<String>,
    /// Extension: the default token, instead of the network's USDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetSpec>,
    /// Extension: the default `maxTimeoutSeconds` (300 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<u64>,
    /// The default of every route's `paymentIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_identifier: Option<String>,
}

/// One route of `spec.routes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct RouteRule {
    /// The path pattern: `*` is one segment, `**` any number of segments, `*` inside a segment
    /// globs within it; everything else is literal.
    pub path: String,
    /// The metric label of the route (defaults to the path text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Methods this route applies to; empty = every method except `OPTIONS` (preflights pass).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Hosts this route applies to; empty = any host. Case-insensitive, port ignored,
    /// `*.example.com` matches any subdomain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The price, overriding `payment.defaultPrice`: `"0.01"` or `"$0.01"`, in units of the
    /// route's asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Extension: the price in atomic units of the asset (`"1000"`), instead of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The network, overriding `payment.network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The recipient, overriding `payment.wallet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_to: Option<String>,
    /// Extension: the token, overriding `payment.asset` and the network's USDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetSpec>,
    /// The scheme of the route's payment: `exact` (the default) or `upto` (EVM: the buyer
    /// authorizes the price as a maximum and the handler chooses the charge). The default of
    /// each `accepts` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// When the payment is settled: `authorization` (the default: verify, run the handler,
    /// settle after it) or `upfront` (settle before the handler, without `/verify`; advertised
    /// as `extra.paymentFlow: "upfront"`). The default of each `accepts` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_flow: Option<String>,
    /// How an EVM `exact` payment moves the funds: `eip3009` (the default) or `permit2` (for
    /// tokens without EIP-3009; advertised as `extra.assetTransferMethod: "permit2"`). `upto`
    /// is always `permit2`. The default of each `accepts` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<String>,
    /// Declares the [`payment-identifier`](crate::payment_identifier) extension: `optional`
    /// (an id is used when the buyer sends one) or `required` (a payment without one is refused
    /// with 400). Needs a gate with a ledger. Overrides `payment.paymentIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_identifier: Option<String>,
    /// Extension: several payment options (network/asset/price each). When set, the route's
    /// own price/network/payTo/asset are the defaults of each option.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepts: Vec<AcceptSpec>,
    /// What the resource is, sent in the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The resource's media type, sent in the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// How long a payment authorization may stay valid (default 300 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<u64>,
    /// A free route: matched (so it shadows later routes) but never priced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub free: bool,
    /// `all-pay` (default) or `conditional` (the conditions decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(extend("default" = "all-pay")))]
    pub mode: Option<RouteMode>,
    /// With `mode: conditional`: header conditions, evaluated in order; the first whose header
    /// is present and matches decides; none matching means pay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionSpec>,
    /// Extension: match the path ASCII case-insensitively (`true`) or exactly (`false`). Unset:
    /// the table's default — exact in the embedded layers, case-insensitive in the gateway's
    /// proxy and ForwardAuth modes, whose upstream may route case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
    /// Extension, gateway modes only: accept on this *priced* route the spellings common servers
    /// read differently (an encoded `/`, a `;` parameter, …; see `x402_core::path::gateway`)
    /// instead of refusing them with 400. They are charged as any other request to the route,
    /// and forwarded as the client sent them — so only set it where no spelling can escape the
    /// route on the upstream (an upstream that decodes and resolves one may serve another
    /// resource at this route's price). Refused on a free route: there it would let any
    /// spelling through unpaid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_ambiguous_path: bool,
    /// Extension, the gateway's proxy mode only: the upstream base URL this route is forwarded
    /// to (`https://api:8443`, optionally with a path prefix), instead of the gateway's
    /// `upstream`. Ignored where the gate is embedded in an app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Extension: how buyers and crawlers call this priced route — the `bazaar` declaration in
    /// its 402, and its entries in the discovery documents (`/.well-known/x402.json`,
    /// `/openapi.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoverySpec>,
}

/// `routes[].discovery`: what the [`bazaar`](crate::discovery) extension declares for a
/// route, in the terms of the official SDKs' `declareDiscoveryExtension` (the same field
/// names).
///
/// ```yaml
/// discovery:
///   input: { city: Paris }                       # example query parameters
///   inputSchema: { properties: { city: { type: string } }, required: [city] }
///   output: { example: { city: Paris, weather: sunny } }
/// ```
///
/// With `bodyType` the route takes a body (`input` is an example body, `inputSchema` its
/// schema) and is declared as a `POST`, `PUT` or `PATCH`; without, a `GET`, `HEAD` or `DELETE`
/// with query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct DiscoverySpec {
    /// The method declared: defaults to the route's only method, else `GET` (`POST` with a
    /// `bodyType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// An example input: query parameters (an object of strings), or with `bodyType` a body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(schema_with = "any_json"))]
    pub input: Option<serde_json::Value>,
    /// The JSON Schema (draft 2020-12) of the query parameters or the body: its
    /// `properties`, `required`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(schema_with = "any_json"))]
    pub input_schema: Option<serde_json::Value>,
    /// `json`, `form-data` or `text`: the route takes a body of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_type: Option<String>,
    /// What a paid request returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<DiscoveryOutputSpec>,
}

/// `routes[].discovery.output`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct DiscoveryOutputSpec {
    /// An example response body (JSON).
    #[cfg_attr(feature = "schemars", schemars(schema_with = "any_json"))]
    pub example: serde_json::Value,
    /// The JSON Schema of the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(schema_with = "any_json"))]
    pub schema: Option<serde_json::Value>,
}

/// Any JSON value; Kubernetes keeps such a field as written.
#[cfg(feature = "schemars")]
fn any_json(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// How a route decides whether to charge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub enum RouteMode {
    /// Every matched request pays.
    #[default]
    AllPay,
    /// The route's conditions decide.
    Conditional,
}

/// A header condition of a conditional route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct ConditionSpec {
    /// The header name (case-insensitive; the first value is tested).
    pub header: String,
    /// A regular expression, unanchored (anchor it with `^…$` for a whole-value match).
    pub pattern: String,
    /// What a match means.
    pub action: ConditionAction,
}

/// The effect of a matching condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub enum ConditionAction {
    /// The request must pay.
    Pay,
    /// The request is served free.
    Free,
}

/// One payment option of a route with several (`accepts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct AcceptSpec {
    /// The scheme: `exact` (the default) or `upto` (inherits the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The payment flow, `authorization` or `upfront` (inherits the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_flow: Option<String>,
    /// The asset transfer method, `eip3009` or `permit2` (inherits the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<String>,
    /// The network (inherits the route's, then `payment.network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The price (inherits the route's, then `payment.defaultPrice`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The price in atomic units, instead of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The recipient (inherits the route's, then `payment.wallet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_to: Option<String>,
    /// The token (inherits the route's, then `payment.asset`, then the network's USDC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetSpec>,
    /// `maxTimeoutSeconds` for this option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<u64>,
}

/// A token other than the network's default USDC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct AssetSpec {
    /// The token contract address.
    pub address: String,
    /// The token's decimals.
    pub decimals: u8,
    /// The token's EIP-712 domain, which EIP-3009 signatures are made over.
    pub eip712: Eip712Spec,
}

/// An EIP-712 domain's `name` and `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
// Exhaustive on purpose: written as a struct literal; a new field is a breaking change.
pub struct Eip712Spec {
    /// The domain name, e.g. `"USD Coin"`.
    pub name: String,
    /// The domain version, e.g. `"2"`.
    pub version: String,
}

/// A spec that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecParseError {
    /// Invalid JSON, or JSON that is not a route spec.
    #[error("invalid route spec (JSON)")]
    Json(#[from] serde_json::Error),
    /// Invalid YAML, or YAML that is not a route spec.
    #[cfg(feature = "yaml")]
    #[error("invalid route spec (YAML)")]
    Yaml(#[from] serde_yaml_ng::Error),
}

impl RouteSpec {
    /// Parses a spec from JSON.
    pub fn from_json(text: &str) -> Result<Self, SpecParseError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses a spec from YAML.
    #[cfg(feature = "yaml")]
    pub fn from_yaml(text: &str) -> Result<Self, SpecParseError> {
        Ok(serde_yaml_ng::from_str(text)?)
    }
}
