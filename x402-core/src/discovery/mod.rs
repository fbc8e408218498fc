//! Discovery: what crawlers, directories and agents read about a seller's paid endpoints.
//!
//! Three things, all generated from the route table (nothing to keep in step by hand), and the
//! live 402 stays authoritative over each:
//!
//! - **The `bazaar` extension** (`specs/extensions/bazaar.md` in the coinbase/x402
//!   repository): a route with a `discovery` block ([`DiscoverySpec`](crate::spec::DiscoverySpec))
//!   declares, in its 402's `extensions`, how it is called (method, example query or body and
//!   their JSON Schema, example output), so that facilitators can catalog it. The declaration
//!   is what the official `declareDiscoveryExtension` and the server's enrichment produce for
//!   the same configuration and the route's method. A path with `*` segments declares a
//!   `routeTemplate` (`/users/*` → `/users/:var1`, the official server's names).
//! - **`/.well-known/x402.json`** ([`Listing::WellKnown`]), the manifest of the *draft*
//!   `well-known-discovery` proposal of the x402 repository (not merged; other shapes
//!   exist): `{x402Version: 2, lastUpdated, items: [{resource, type: "http", accepts, input,
//!   output?}]}`, one item per priced route.
//! - **`/openapi.json`** ([`Listing::OpenApi`]), OpenAPI 3.1 with a `402` response and the
//!   *proposed* `x-payment-info` on each operation (open pull requests in the x402
//!   repository; the shape deployed servers use: `{"price": {"mode": "fixed", "currency":
//!   "USD", "amount": "0.10"}, "protocols": [{"x402": {}}]}`).
//!
//! Both documents list every priced route (free ones are not listed) whose path a URL
//! template can say: literal paths and `*` segments. A route with `**` or a glob inside a
//! segment (`/v1/inference-*`) is left out ([`RouteTable::undiscoverable`](crate::RouteTable::undiscoverable)
//! names them). Routes limited to hosts appear only in the documents served to those hosts.
//! The documents are built once per table, on first use; a request only fills in its origin
//! (the same origin as the 402's `resource.url`: the gate's base URL, the trusted forwarded
//! headers, or the request's scheme and host).
//!
//! Serve them with [`Gate::discovery`](crate::gate::Gate::discovery) (the tower and actix
//! adapters wrap it: `x402_tower::Discovery`, `x402_actix::discovery`).
//!
//! ```
//! use x402_core::{RouteTable, discovery::{ApiInfo, Listing}, spec::RouteSpec};
//!
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
//! routes:
//!   - path: /weather
//!     price: "$0.001"
//!     description: Weather now
//!     discovery:
//!       input: { city: Paris }
//!       inputSchema: { properties: { city: { type: string } } }
//!       output: { example: { weather: sunny } }
//! "#).unwrap();
//! let table = RouteTable::from_spec(&spec).unwrap();
//! let manifest: serde_json::Value = serde_json::from_str(&table.discovery_document(
//!     Listing::WellKnown, "https://api.example.com", None, &ApiInfo::default(),
//! )).unwrap();
//! assert_eq!(manifest["items"][0]["resource"]["url"], "https://api.example.com/weather");
//! assert_eq!(manifest["items"][0]["input"]["queryParams"]["city"], "Paris");
//!
//! let offer = table.routes()[0].offer().unwrap();
//! let challenge = offer.payment_required("https://api.example.com/weather", "");
//! assert!(challenge.extensions.unwrap().contains_key("bazaar"));
//! ```

pub(crate) mod bazaar;
mod documents;

pub use self::bazaar::BAZAAR;
pub use self::documents::ApiInfo;
pub(crate) use self::{bazaar::Declared, documents::Documents};

/// Where the manifest is served.
pub const WELL_KNOWN_PATH: &str = "/.well-known/x402.json";
/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// One of the discovery documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// Exhaustive on purpose: an adapter serves each.
pub enum Listing {
    /// `/.well-known/x402.json`.
    WellKnown,
    /// `/openapi.json`.
    OpenApi,
}

impl Listing {
    /// The document served at `path` (exactly [`WELL_KNOWN_PATH`] or [`OPENAPI_PATH`]).
    pub fn for_path(path: &str) -> Option<Self> {
        match path {
            WELL_KNOWN_PATH => Some(Self::WellKnown),
            OPENAPI_PATH => Some(Self::OpenApi),
            _ => None,
        }
    }

    /// The path the document is served at.
    pub const fn path(self) -> &'static str {
        match self {
            Self::WellKnown => WELL_KNOWN_PATH,
            Self::OpenApi => OPENAPI_PATH,
        }
    }
}

/// What the table compiled for a priced route's discovery.
#[derive(Debug)]
pub(crate) struct RouteDiscovery {
    pub(crate) declared: Declared,
    /// The route's path pattern as configured.
    pub(crate) pattern: Box<str>,
    /// The methods the route is limited to (upper case; empty = any).
    pub(crate) methods: Vec<Box<str>>,
}
