//! `/.well-known/x402.json` and `/openapi.json`, generated from a route table.
//!
//! Built once per table (lazily, on the first request for either), as JSON fragments: a
//! request only joins the fragments of the routes its host may use, around its origin.

use std::{fmt::Write as _, sync::Arc};

use serde_json::{Map, Value, json};

use super::{
    Listing,
    bazaar::{Declared, Unlisted},
};
use crate::{money::format_units, offer::Offer, table::RouteTable};

/// One route's part of the documents.
#[derive(Debug)]
struct Entry {
    /// The route's position in the table (for its host rule).
    route: usize,
    /// The manifest item after its `resource.url` string.
    item_after_url: String,
    /// The URL path (`/users/:var1`).
    url_path: String,
    /// The OpenAPI path key (`/users/{var1}`) and its operations (`"get":{…}`).
    openapi_path: String,
    operations: Vec<(String, String)>,
}

/// The documents of one route table.
#[derive(Debug)]
pub(crate) struct Documents {
    entries: Vec<Entry>,
    /// The entries by OpenAPI path, in table order of each path's first entry.
    paths: Vec<(String, Vec<usize>)>,
    left_out: Vec<(Arc<str>, Unlisted)>,
    last_updated: u64,
}

impl Documents {
    pub(crate) fn new(table: &RouteTable, last_updated: u64) -> Self {
        let mut entries = Vec::new();
        let mut left_out = Vec::new();
        for route in table.routes() {
            let (Some(offer), Some(discovery)) = (route.offer(), route.discovery()) else {
                continue;
            };
            let declared = &discovery.declared;
            let (url_path, openapi_path) = match &declared.template {
                Some(template) => (template.colon(), template.braces()),
                None => match super::bazaar::RouteTemplate::of_pattern(&discovery.pattern) {
                    Ok(_) => (discovery.pattern.to_string(), discovery.pattern.to_string()),
                    Err(why) => {
                        left_out.push((route.name().clone(), why));
                        continue;
                    }
                },
            };
            let methods: Vec<&str> = if declared.declares || discovery.methods.is_empty() {
                vec![declared.method]
            } else {
                discovery.methods.iter().map(|m| &**m).collect()
            };
            entries.push(Entry {
                route: route.index(),
                item_after_url: item_after_url(offer, declared),
                url_path,
                operations: methods
                    .iter()
                    .map(|m| (m.to_ascii_lowercase(), operation(offer, declared, m)))
                    .collect(),
                openapi_path,
            });
        }
        let mut paths: Vec<(String, Vec<usize>)> = Vec::new();
        let mut by_path: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            match by_path.get(&entry.openapi_path) {
                Some(&at) => paths[at].1.push(i),
                None => {
                    by_path.insert(entry.openapi_path.clone(), paths.len());
                    paths.push((entry.openapi_path.clone(), vec![i]));
                }
            }
        }
        Self {
            entries,
            paths,
            left_out,
            last_updated,
        }
    }

    /// The priced routes the documents cannot list, and why.
    pub(crate) fn left_out(&self) -> &[(Arc<str>, Unlisted)] {
        &self.left_out
    }

    /// The document for a request to `origin` whose host is `host`.
    pub(crate) fn render(
        &self,
        table: &RouteTable,
        listing: Listing,
        origin: &str,
        host: Option<&str>,
        info: &ApiInfo,
    ) -> String {
        let serves = |entry: &&Entry| table.routes()[entry.route].serves_host(host);
        match listing {
            Listing::WellKnown => {
                let mut out = format!(
                    r#"{{"x402Version":2,"lastUpdated":{},"items":["#,
                    self.last_updated
                );
                for (i, entry) in self.entries.iter().filter(serves).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(r#"{"resource":{"url":"#);
                    out.push_str(&json_string(&[origin, &entry.url_path].concat()));
                    out.push_str(&entry.item_after_url);
                }
                out.push_str("]}");
                out
            }
            Listing::OpenApi => {
                let mut out = format!(
                    r#"{{"openapi":"3.1.0","info":{},"servers":[{{"url":{}}}],"paths":{{"#,
                    json!({ "title": info.title, "version": info.version }),
                    json_string(origin)
                );
                // Paths in table order; a path's operations from every route serving it, the
                // first route winning a method (as matching does).
                let mut first = true;
                for (path, members) in &self.paths {
                    let mut methods: Vec<&str> = Vec::new();
                    let mut body = String::new();
                    for entry in members.iter().map(|&i| &self.entries[i]).filter(serves) {
                        for (method, operation) in &entry.operations {
                            if methods.contains(&method.as_str()) {
                                continue;
                            }
                            if !methods.is_empty() {
                                body.push(',');
                            }
                            methods.push(method);
                            let _ = write!(body, "{}:{operation}", json_string(method));
                        }
                    }
                    if methods.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    let _ = write!(out, "{}:{{{body}}}", json_string(path));
                }
                out.push_str("}}");
                out
            }
        }
    }
}

/// The OpenAPI document's `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiInfo {
    /// `info.title`.
    pub title: String,
    /// `info.version` (of the API, not of OpenAPI).
    pub version: String,
}

impl ApiInfo {
    /// An `info` with this title and version.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            version: version.into(),
        }
    }
}

impl Default for ApiInfo {
    fn default() -> Self {
        Self::new("x402 paid API", "1.0.0")
    }
}

/// The manifest item of a route, from just after its `resource.url` value to its end.
fn item_after_url(offer: &Offer, declared: &Declared) -> String {
    let mut resource = Map::new();
    if !offer.description().is_empty() {
        resource.insert("description".into(), offer.description().into());
    }
    if !offer.mime_type().is_empty() {
        resource.insert("mimeType".into(), offer.mime_type().into());
    }
    let accepts: Vec<&crate::wire::v2::PaymentRequirements> =
        offer.accepts().iter().map(|a| a.requirements()).collect();
    let mut input = Map::new();
    input.insert("method".into(), declared.method.into());
    if let Some(template) = declared.route_template() {
        input.insert("routeTemplate".into(), template.into());
        if let Some(t) = &declared.template {
            input.insert(
                "pathParams".into(),
                t.params()
                    .map(|p| (p, json!({ "type": "string" })))
                    .collect::<Map<_, _>>()
                    .into(),
            );
        }
    }
    match declared.body_type {
        Some(body_type) => {
            input.insert("bodyType".into(), body_type.into());
            if let Some(body) = &declared.input {
                input.insert("body".into(), body.clone());
            }
        }
        None => {
            if let Some(query) = &declared.input {
                input.insert("queryParams".into(), query.clone());
            }
        }
    }
    let mut rest = Map::new();
    rest.insert("type".into(), "http".into());
    rest.insert("accepts".into(), json!(accepts));
    rest.insert("input".into(), input.into());
    if let Some((example, _)) = &declared.output {
        let mime = if offer.mime_type().is_empty() {
            "application/json"
        } else {
            offer.mime_type()
        };
        rest.insert(
            "output".into(),
            json!({ "mimeType": mime, "example": example }),
        );
    }
    // `{"resource":{"url":…` is written per request; continue the resource object, then the
    // item's other fields.
    let mut out = String::new();
    for (key, value) in &resource {
        let _ = write!(out, ",{}:{}", json_string(key), value);
    }
    out.push('}');
    for (key, value) in &rest {
        let _ = write!(out, ",{}:{}", json_string(key), value);
    }
    out.push('}');
    out
}

/// The OpenAPI operation of a route for `method`.
fn operation(offer: &Offer, declared: &Declared, method: &str) -> String {
    let mut operation = Map::new();
    if !offer.description().is_empty() {
        operation.insert("summary".into(), offer.description().into());
    }
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(template) = &declared.template {
        for name in template.params() {
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "schema": { "type": "string" }
            }));
        }
    }
    let body_method = matches!(method, "POST" | "PUT" | "PATCH");
    let schema = declared.input_schema.as_ref().and_then(Value::as_object);
    if !body_method && declared.body_type.is_none() {
        let required: Vec<&str> = schema
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(Value::Object(properties)) = schema.and_then(|s| s.get("properties")) {
            for (name, property) in properties {
                parameters.push(json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": property,
                }));
            }
        }
    }
    if !parameters.is_empty() {
        operation.insert("parameters".into(), parameters.into());
    }
    if let Some(body_type) = declared.body_type {
        let content_type = match body_type {
            "form-data" => "multipart/form-data",
            "text" => "text/plain",
            _ => "application/json",
        };
        let mut media = Map::new();
        if let Some(schema) = &declared.input_schema {
            media.insert("schema".into(), schema.clone());
        }
        if let Some(example) = &declared.input {
            media.insert("example".into(), example.clone());
        }
        operation.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { content_type: media } }),
        );
    }
    let mut ok = json!({ "description": "The paid response, with a PAYMENT-RESPONSE receipt." });
    if let Some((example, schema)) = &declared.output {
        let mime = if offer.mime_type().is_empty() {
            "application/json"
        } else {
            offer.mime_type()
        };
        let mut media = Map::new();
        if let Some(schema) = schema {
            media.insert("schema".into(), schema.clone());
        }
        media.insert("example".into(), example.clone());
        ok["content"] = json!({ mime: media });
    }
    operation.insert(
        "responses".into(),
        json!({
            "200": ok,
            "402": {
                "description": "Payment Required: the PAYMENT-REQUIRED header carries the x402 payment requirements.",
            },
        }),
    );
    operation.insert("x-payment-info".into(), payment_info(offer));
    Value::Object(operation).to_string()
}

/// `x-payment-info`: the first option's price, as deployed servers write it
/// (`{"price":{"mode":"fixed","currency":"USD","amount":"0.10"},"protocols":[{"x402":{}}]}`).
/// A price in the network's USDC is in dollars; another token's in its units, with its
/// address as the currency. An `upto` option's amount is its maximum (`"mode":"upto"`).
fn payment_info(offer: &Offer) -> Value {
    let Some(first) = offer.accepts().first() else {
        return json!({ "protocols": [{ "x402": {} }] });
    };
    let asset = first.asset();
    let usdc = first
        .network()
        .default_asset()
        .is_some_and(|usdc| usdc.address == asset.address);
    let currency = if usdc {
        "USD".to_owned()
    } else {
        format!("{}:{}", first.network().caip2(), asset.address)
    };
    let mode = if first.requirements().scheme == "upto" {
        "upto"
    } else {
        "fixed"
    };
    json!({
        "price": {
            "mode": mode,
            "currency": currency,
            "amount": format_units(first.amount(), asset.decimals),
        },
        "protocols": [{ "x402": {} }],
    })
}

fn json_string(text: &str) -> String {
    Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::{
        RouteTable,
        discovery::{ApiInfo, Listing},
        spec::RouteSpec,
    };

    const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /health, free: true }
  - path: /weather
    price: "$0.001"
    description: Weather now
    mimeType: application/json
    discovery:
      input: { city: Paris }
      inputSchema: { properties: { city: { type: string } }, required: [city] }
      output: { example: { weather: sunny } }
  - path: /users/*/report
    methods: [POST]
    price: "0.25"
    discovery:
      bodyType: json
      input: { period: week }
      inputSchema: { type: object, properties: { period: { type: string } } }
  - { path: /files/**, price: "0.01" }
  - { path: /weather, methods: [DELETE], price: "0.02" }
  - { path: /only-b, hosts: [b.example.com], price: "0.01" }
"#;

    fn document(listing: Listing, host: Option<&str>) -> Value {
        let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).unwrap()).unwrap();
        let text = table.discovery_document(
            listing,
            "https://api.example.com",
            host,
            &ApiInfo::new("Weather", "2.0"),
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn the_manifest_lists_each_priced_route_a_url_can_say() {
        let manifest = document(Listing::WellKnown, Some("a.example.com"));
        assert_eq!(manifest["x402Version"], 2);
        assert!(manifest["lastUpdated"].as_u64().unwrap() > 1_700_000_000);
        let items = manifest["items"].as_array().unwrap();
        let urls: Vec<&str> = items
            .iter()
            .map(|i| i["resource"]["url"].as_str().unwrap())
            .collect();
        // Not /health (free), not /files/** (no template), not /only-b (another host).
        assert_eq!(
            urls,
            [
                "https://api.example.com/weather",
                "https://api.example.com/users/:var1/report",
                "https://api.example.com/weather",
            ]
        );
        let weather = &items[0];
        assert_eq!(weather["type"], "http");
        assert_eq!(weather["resource"]["description"], "Weather now");
        assert_eq!(
            weather["input"],
            json!({ "method": "GET", "queryParams": { "city": "Paris" } })
        );
        assert_eq!(
            weather["output"],
            json!({ "mimeType": "application/json", "example": { "weather": "sunny" } })
        );
        assert_eq!(weather["accepts"][0]["amount"], "1000");
        assert_eq!(weather["accepts"][0]["network"], "eip155:84532");
        let report = &items[1];
        assert_eq!(report["input"]["method"], "POST");
        assert_eq!(report["input"]["routeTemplate"], "/users/:var1/report");
        assert_eq!(report["input"]["bodyType"], "json");
        assert_eq!(report["input"]["body"], json!({ "period": "week" }));
        assert_eq!(items[2]["input"]["method"], "DELETE");

        let for_b = document(Listing::WellKnown, Some("B.example.com:8443"));
        assert_eq!(for_b["items"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn the_openapi_document_has_an_operation_per_route_and_method() {
        let openapi = document(Listing::OpenApi, None);
        assert_eq!(openapi["openapi"], "3.1.0");
        assert_eq!(
            openapi["info"],
            json!({ "title": "Weather", "version": "2.0" })
        );
        assert_eq!(
            openapi["servers"],
            json!([{ "url": "https://api.example.com" }])
        );
        let paths = openapi["paths"].as_object().unwrap();
        let mut keys: Vec<&String> = paths.keys().collect();
        keys.sort();
        assert_eq!(keys, ["/users/{var1}/report", "/weather"]);
        let get = &paths["/weather"]["get"];
        assert_eq!(get["summary"], "Weather now");
        assert_eq!(
            get["parameters"],
            json!([{ "name": "city", "in": "query", "required": true, "schema": { "type": "string" } }])
        );
        assert_eq!(
            get["x-payment-info"],
            json!({ "price": { "mode": "fixed", "currency": "USD", "amount": "0.001" }, "protocols": [{ "x402": {} }] })
        );
        assert!(get["responses"]["402"]["description"].is_string());
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["example"],
            json!({ "weather": "sunny" })
        );
        assert_eq!(
            paths["/weather"]["delete"]["x-payment-info"]["price"]["amount"],
            "0.02"
        );
        let post = &paths["/users/{var1}/report"]["post"];
        assert_eq!(
            post["parameters"],
            json!([{ "name": "var1", "in": "path", "required": true, "schema": { "type": "string" } }])
        );
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["example"],
            json!({ "period": "week" })
        );
    }

    #[test]
    fn routes_without_a_template_are_named() {
        let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).unwrap()).unwrap();
        assert_eq!(
            table
                .undiscoverable()
                .iter()
                .map(|n| &**n)
                .collect::<Vec<_>>(),
            ["/files/**"]
        );
    }

    #[test]
    fn a_bad_discovery_block_is_a_configuration_error_naming_the_field() {
        let spec = RouteSpec::from_yaml(
            r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /x, price: "0.01", discovery: { bodyType: xml } }
"#,
        )
        .unwrap();
        let errors = RouteTable::from_spec(&spec).unwrap_err();
        let error = &errors.errors()[0];
        assert_eq!(error.field(), "routes[0].discovery.bodyType");
        assert_eq!(error.value(), "xml");
        assert!(
            error.to_string().contains("json, form-data or text"),
            "{error}"
        );
    }
}
