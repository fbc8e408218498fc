//! The `bazaar` extension's declaration, as the official server sends it.
//!
//! [`Declared::new`] builds, once per route, what `declareDiscoveryExtension` of
//! `@x402/extensions` 2.27 returns for the same configuration, after the server's
//! `enrichDeclaration` narrowed it to the route's method: the method is fixed when the table
//! is built (the route's declared one), not per request.

use serde_json::{Map, Value, json};

use crate::spec::DiscoverySpec;

/// The extension's key in `PaymentRequired.extensions`.
pub const BAZAAR: &str = "bazaar";

/// The JSON Schema dialect of the declaration's `schema`.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The methods that take query parameters, and those that take a body.
const QUERY_METHODS: [&str; 3] = ["GET", "HEAD", "DELETE"];
const BODY_METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];
/// `bodyType` values.
const BODY_TYPES: [&str; 3] = ["json", "form-data", "text"];

/// How a priced route is called, resolved from its `discovery` block and path.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    /// The method declared (upper case).
    pub(crate) method: &'static str,
    /// `bodyType`, for a body method.
    pub(crate) body_type: Option<&'static str>,
    /// The example input (query parameters or body).
    pub(crate) input: Option<Value>,
    /// The input's JSON Schema.
    pub(crate) input_schema: Option<Value>,
    /// The example output and its schema.
    pub(crate) output: Option<(Value, Option<Value>)>,
    /// The `:param` form of the path, when it has `*` segments.
    pub(crate) template: Option<RouteTemplate>,
    /// Whether the route has a `discovery` block (and so declares the extension).
    pub(crate) declares: bool,
}

/// A path with its `*` segments named `:var1`, `:var2`, … (the names the official server
/// gives wildcard segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteTemplate {
    /// The segments; `Err(n)` is the `n`-th parameter.
    segments: Vec<Result<String, usize>>,
}

/// Why a route cannot be listed by the discovery documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unlisted {
    /// `**` or a glob inside a segment: no URL template says which paths it covers.
    Glob,
}

impl RouteTemplate {
    /// The template of a route pattern: `Ok(None)` for a literal path.
    pub(crate) fn of_pattern(pattern: &str) -> Result<Option<Self>, Unlisted> {
        let mut segments = Vec::new();
        let mut params = 0;
        for segment in pattern.split('/').skip(1).filter(|s| !s.is_empty()) {
            if segment == "*" {
                params += 1;
                segments.push(Err(params));
            } else if segment.contains('*') {
                return Err(Unlisted::Glob);
            } else {
                segments.push(Ok(segment.to_owned()));
            }
        }
        Ok((params > 0).then_some(Self { segments }))
    }

    /// `/users/:var1` — the bazaar `routeTemplate` and the manifest's URL path.
    pub(crate) fn colon(&self) -> String {
        self.render(|n| format!(":var{n}"))
    }

    /// `/users/{var1}` — the OpenAPI path.
    pub(crate) fn braces(&self) -> String {
        self.render(|n| format!("{{var{n}}}"))
    }

    /// The parameter names, in order.
    pub(crate) fn params(&self) -> impl Iterator<Item = String> + '_ {
        self.segments
            .iter()
            .filter_map(|s| s.as_ref().err().map(|n| format!("var{n}")))
    }

    fn render(&self, param: impl Fn(usize) -> String) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Ok(literal) => out.push_str(literal),
                Err(n) => out.push_str(&param(*n)),
            }
        }
        out
    }

    /// Whether facilitators keep it: `^/[a-zA-Z0-9_/:.\-~%]+$`, no `..` and no `://` (they
    /// drop any other).
    fn is_catalogable(text: &str) -> bool {
        text.starts_with('/')
            && text.len() > 1
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_/:.-~%".contains(&b))
            && !text.contains("..")
            && !text.contains("://")
    }
}

/// A `discovery` block that cannot be declared: the field at fault and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) field: &'static str,
    pub(crate) problem: &'static str,
}

impl Declared {
    /// Resolves a priced route's discovery: `spec` is its `discovery` block (if any),
    /// `route_methods` the methods it is limited to (upper case; empty = any).
    pub(crate) fn new(
        spec: Option<&DiscoverySpec>,
        route_methods: &[String],
        pattern: &str,
    ) -> Result<Self, Invalid> {
        let template = RouteTemplate::of_pattern(pattern).unwrap_or(None);
        let Some(spec) = spec else {
            // Listed in the documents only: any method the route names.
            let method = match route_methods {
                [only] => find_method(&QUERY_METHODS, only)
                    .or_else(|| find_method(&BODY_METHODS, only))
                    .unwrap_or(QUERY_METHODS[0]),
                _ => QUERY_METHODS[0],
            };
            return Ok(Self {
                method,
                body_type: None,
                input: None,
                input_schema: None,
                output: None,
                template,
                declares: false,
            });
        };
        let body_type = match spec.body_type.as_deref() {
            None => None,
            Some(text) => Some(*BODY_TYPES.iter().find(|t| **t == text).ok_or(Invalid {
                field: "bodyType",
                problem: "must be json, form-data or text",
            })?),
        };
        let allowed: &[&'static str] = if body_type.is_some() {
            &BODY_METHODS
        } else {
            &QUERY_METHODS
        };
        let method = match (spec.method.as_deref(), route_methods) {
            (Some(text), _) => find_method(allowed, text).ok_or(Invalid {
                field: "method",
                problem: if body_type.is_some() {
                    "must be POST, PUT or PATCH with a bodyType"
                } else {
                    "must be GET, HEAD or DELETE without a bodyType"
                },
            })?,
            (None, [only]) => find_method(allowed, only).ok_or(Invalid {
                field: "method",
                problem: "the route's only method cannot be declared with this bodyType; set discovery.method",
            })?,
            (None, _) => allowed[0],
        };
        if let Some(input) = &spec.input
            && body_type.is_none()
            && !input.is_object()
        {
            return Err(Invalid {
                field: "input",
                problem: "query parameters must be an object (or set a bodyType for a body)",
            });
        }
        if spec.input_schema.as_ref().is_some_and(|s| !s.is_object()) {
            return Err(Invalid {
                field: "inputSchema",
                problem: "must be a JSON Schema object",
            });
        }
        if let Some(output) = &spec.output
            && output.schema.as_ref().is_some_and(|s| !s.is_object())
        {
            return Err(Invalid {
                field: "output.schema",
                problem: "must be a JSON Schema object",
            });
        }
        Ok(Self {
            method,
            body_type,
            input: spec.input.clone(),
            input_schema: spec.input_schema.clone(),
            output: spec
                .output
                .as_ref()
                .map(|o| (o.example.clone(), o.schema.clone())),
            template,
            declares: true,
        })
    }

    /// The `routeTemplate` to declare, if the route has one facilitators keep.
    pub(crate) fn route_template(&self) -> Option<String> {
        self.template
            .as_ref()
            .map(RouteTemplate::colon)
            .filter(|t| RouteTemplate::is_catalogable(t))
    }

    /// The extension's value: `{info, schema}` (and `routeTemplate` for a route with `*`
    /// segments), or `None` when the route has no `discovery` block.
    pub(crate) fn declaration(&self) -> Option<Value> {
        if !self.declares {
            return None;
        }
        let method = self.method;
        let empty = Value::Object(Map::new());
        let input_value = self.input.clone().unwrap_or_else(|| empty.clone());
        let input_schema = self
            .input_schema
            .clone()
            .unwrap_or_else(|| json!({ "properties": {} }));
        let (input, mut properties, required) = match self.body_type {
            None => {
                let mut schema = Map::new();
                schema.insert("type".into(), "object".into());
                if let Value::Object(fields) = input_schema {
                    schema.extend(fields);
                }
                (
                    json!({ "type": "http", "method": method, "queryParams": input_value }),
                    json!({
                        "type": { "type": "string", "const": "http" },
                        "method": { "type": "string", "enum": [method] },
                        "queryParams": schema,
                    }),
                    json!(["type", "method"]),
                )
            }
            Some(body_type) => (
                json!({ "type": "http", "method": method, "bodyType": body_type, "body": input_value }),
                json!({
                    "type": { "type": "string", "const": "http" },
                    "method": { "type": "string", "enum": [method] },
                    "bodyType": { "type": "string", "enum": BODY_TYPES },
                    "body": input_schema,
                }),
                json!(["type", "method", "bodyType", "body"]),
            ),
        };
        let route_template = self.route_template();
        if route_template.is_some() {
            properties["pathParams"] = json!({ "type": "object" });
        }
        let mut info = json!({ "input": input });
        let mut schema_properties = json!({
            "input": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            }
        });
        if let Some((example, schema)) = self.output.as_ref().filter(|(e, _)| truthy(e)) {
            info["output"] = json!({ "type": "json", "example": example });
            let mut example_schema = Map::new();
            example_schema.insert("type".into(), "object".into());
            if let Some(Value::Object(fields)) = schema {
                example_schema.extend(fields.clone());
            }
            schema_properties["output"] = json!({
                "type": "object",
                "properties": { "type": { "type": "string" }, "example": example_schema },
                "required": ["type"],
            });
        }
        let mut declaration = json!({
            "info": info,
            "schema": {
                "$schema": DRAFT_2020_12,
                "type": "object",
                "properties": schema_properties,
                "required": ["input"],
            },
        });
        if let Some(template) = route_template {
            declaration["routeTemplate"] = template.into();
        }
        Some(declaration)
    }
}

/// The method among `allowed` that `text` names (any case).
fn find_method(allowed: &[&'static str], text: &str) -> Option<&'static str> {
    allowed
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(text))
}

/// JavaScript truthiness, as the official builder tests `output.example`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DiscoveryOutputSpec;

    fn declared(spec: &DiscoverySpec, methods: &[&str], pattern: &str) -> Declared {
        let methods: Vec<String> = methods.iter().map(|m| (*m).to_owned()).collect();
        Declared::new(Some(spec), &methods, pattern).unwrap()
    }

    #[test]
    fn a_get_route_declares_what_the_official_builder_and_enrichment_produce() {
        let spec = DiscoverySpec {
            input: Some(json!({ "city": "Paris" })),
            input_schema: Some(json!({
                "properties": { "city": { "type": "string" } }, "required": ["city"]
            })),
            output: Some(DiscoveryOutputSpec {
                example: json!({ "weather": "sunny" }),
                schema: None,
            }),
            ..DiscoverySpec::default()
        };
        let declaration = declared(&spec, &[], "/weather").declaration().unwrap();
        // declareDiscoveryExtension({input, inputSchema, output}) then enrichDeclaration for
        // GET, as @x402/extensions 2.27 computes it.
        assert_eq!(
            declaration,
            json!({
                "info": {
                    "input": { "type": "http", "method": "GET", "queryParams": { "city": "Paris" } },
                    "output": { "type": "json", "example": { "weather": "sunny" } },
                },
                "schema": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "properties": {
                        "input": {
                            "type": "object",
                            "properties": {
                                "type": { "type": "string", "const": "http" },
                                "method": { "type": "string", "enum": ["GET"] },
                                "queryParams": {
                                    "type": "object",
                                    "properties": { "city": { "type": "string" } },
                                    "required": ["city"],
                                },
                            },
                            "required": ["type", "method"],
                            "additionalProperties": false,
                        },
                        "output": {
                            "type": "object",
                            "properties": {
                                "type": { "type": "string" },
                                "example": { "type": "object" },
                            },
                            "required": ["type"],
                        },
                    },
                    "required": ["input"],
                },
            })
        );
    }

    #[test]
    fn a_body_route_takes_its_method_from_the_route_and_its_body_schema_as_is() {
        let spec = DiscoverySpec {
            body_type: Some("json".into()),
            input: Some(json!({ "q": "rust" })),
            input_schema: Some(json!({ "properties": { "q": { "type": "string" } } })),
            ..DiscoverySpec::default()
        };
        let declaration = declared(&spec, &["PUT"], "/search").declaration().unwrap();
        assert_eq!(
            declaration["info"]["input"],
            json!({ "type": "http", "method": "PUT", "bodyType": "json", "body": { "q": "rust" } })
        );
        let input = &declaration["schema"]["properties"]["input"];
        assert_eq!(
            input["properties"]["body"],
            json!({ "properties": { "q": { "type": "string" } } })
        );
        assert_eq!(
            input["required"],
            json!(["type", "method", "bodyType", "body"])
        );
        assert!(declaration["info"].get("output").is_none());
        assert!(declaration["schema"]["properties"].get("output").is_none());
    }

    #[test]
    fn wildcard_segments_become_a_route_template() {
        let d = declared(&DiscoverySpec::default(), &[], "/users/*/posts/*");
        let declaration = d.declaration().unwrap();
        assert_eq!(declaration["routeTemplate"], "/users/:var1/posts/:var2");
        assert_eq!(
            declaration["schema"]["properties"]["input"]["properties"]["pathParams"],
            json!({ "type": "object" })
        );
        let template = d.template.unwrap();
        assert_eq!(template.braces(), "/users/{var1}/posts/{var2}");
        assert_eq!(template.params().collect::<Vec<_>>(), ["var1", "var2"]);
        // Literal paths have none; globs cannot be templated.
        assert_eq!(RouteTemplate::of_pattern("/weather"), Ok(None));
        assert_eq!(RouteTemplate::of_pattern("/api/**"), Err(Unlisted::Glob));
        assert_eq!(
            RouteTemplate::of_pattern("/v1/inference-*"),
            Err(Unlisted::Glob)
        );
        // A template facilitators would drop is not declared.
        let odd = declared(&DiscoverySpec::default(), &[], "/a@b/*");
        assert!(odd.declaration().unwrap().get("routeTemplate").is_none());
    }

    #[test]
    fn inconsistent_blocks_name_the_field() {
        let methods: Vec<String> = vec!["POST".into()];
        let body_method_without_body =
            Declared::new(Some(&DiscoverySpec::default()), &methods, "/x");
        assert_eq!(body_method_without_body.unwrap_err().field, "method");
        let bad_body_type = DiscoverySpec {
            body_type: Some("xml".into()),
            ..DiscoverySpec::default()
        };
        assert_eq!(
            Declared::new(Some(&bad_body_type), &[], "/x")
                .unwrap_err()
                .field,
            "bodyType"
        );
        let query_not_object = DiscoverySpec {
            input: Some(json!("city=Paris")),
            ..DiscoverySpec::default()
        };
        assert_eq!(
            Declared::new(Some(&query_not_object), &[], "/x")
                .unwrap_err()
                .field,
            "input"
        );
        let explicit_wrong = DiscoverySpec {
            method: Some("POST".into()),
            ..DiscoverySpec::default()
        };
        assert_eq!(
            Declared::new(Some(&explicit_wrong), &[], "/x")
                .unwrap_err()
                .field,
            "method"
        );
    }

    #[test]
    fn without_a_block_nothing_is_declared_but_the_route_is_described() {
        let d = Declared::new(None, &[], "/weather").unwrap();
        assert!(d.declaration().is_none());
        assert_eq!(d.method, "GET");
    }
}
