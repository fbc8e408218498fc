//! Operator mode, the pure part: which paths of an Ingress go to the gateway, and the patch
//! that sends them there (or undoes it). No I/O here; [`crate::operator`] applies the result.
//!
//! Given an Ingress (`networking.k8s.io/v1`), the routes of every `X402Route` whose
//! `spec.ingressRef` names it (in `(namespace, name)` order, then declaration order) and the
//! gateway's Service, [`plan`] computes the Ingress's `spec.rules` with:
//!
//! - **redirected paths**: an Ingress path whose every request is paid (a paid route
//!   [`covers`](x402_core::pattern::PathPattern::covers) it: `/api` Prefix under `/api/**`) or
//!   whose requests paid routes overlap in a way no narrower path can express, gets the
//!   gateway's Service as its backend — its `path` and `pathType` stay;
//! - **added paths**: an Ingress path wider than the paid routes under it (the catch-all `/`
//!   with a paid `/api/**`) keeps its backend, and a `Prefix` path for the paid route's literal
//!   prefix (`/api`) is added to the same rule, pointing at the gateway. Ingress controllers
//!   pick the longest matching path, so paid requests reach the gateway and the others keep
//!   their original backend;
//! - **free paths** (no paid route overlaps them, or a free route earlier in the list covers
//!   them) are left alone.
//!
//! Hosts, TLS, `defaultBackend`, `ingressClassName` and rules without paid paths are never
//! written: the patch carries `spec.rules` only (an atomic list in server-side apply, so it is
//! sent whole, each rule as it is but for the redirected backends and the added paths).
//!
//! What was changed is recorded in the annotation [`ORIGINAL_BACKENDS`]: a JSON list of
//! [`Changed`] entries, one per redirected path (with its original backend, verbatim — named
//! ports stay named) and one per added path (without a backend). [`original_rules`] undoes
//! them, so a plan is always computed from the Ingress as its author wrote it: re-planning is
//! idempotent, and a plan without paid paths restores the original (and drops the
//! annotations).
//!
//! # Differences from the seed operator (on purpose)
//!
//! - **Catch-all paths are split, not redirected.** The seed redirects an Ingress path `/` to
//!   the gateway whenever any route is paid, and its gateway answers 404 for every path no
//!   route declares, so every undeclared path of such an Ingress broke. Here the catch-all
//!   keeps its backend and the paid prefixes get their own paths. The same holds for any
//!   Ingress path wider than the paid routes under it (`/api` Prefix with paid `/api/v1/**`),
//!   which the seed also redirected whole.
//! - **The record is keyed by host, path and `pathType`**, and keeps the whole backend. The
//!   seed's `{"<path>":"<svc>:<port>"}` lost named ports (restored as port 80) and mixed up
//!   equal paths of different hosts.
//!
//! # Limits
//!
//! - Ingress paths match case-sensitively; the gateway's routes match case-insensitively by
//!   default. A request spelled `/API/x` under a split `/api` path reaches the catch-all's
//!   backend directly. Split paths are safe for backends that route case-sensitively (most);
//!   for a case-insensitive backend, declare the paid prefixes as Ingress paths yourself, so
//!   they are redirected rather than split.
//! - An added path is the paid route's literal prefix: for `/api/*/admin` it is `/api`, so the
//!   gateway also receives `/api/x/public`, and answers it with its `unmatched` policy (`deny`
//!   by default: 403; `allow` serves it unpriced).
//! - Route `hosts` and `methods` are not taken into account (more paths reach the gateway,
//!   which applies them); `ImplementationSpecific` paths are read as prefixes, after dropping a
//!   trailing `(.*)` or `.*`; a path with other regular-expression characters is never split.
//!
//! ```
//! use k8s_openapi::api::networking::v1::Ingress;
//! use x402_core::spec::RouteRule;
//! use x402_kube::ingress::{GatewayService, plan};
//!
//! let ingress: Ingress = serde_json::from_value(serde_json::json!({
//!     "metadata": { "name": "web", "namespace": "shop" },
//!     "spec": { "rules": [ { "host": "shop.example.com", "http": { "paths": [
//!         { "path": "/", "pathType": "Prefix",
//!           "backend": { "service": { "name": "web", "port": { "number": 80 } } } } ] } } ] }
//! })).unwrap();
//! let paid = RouteRule { path: "/api/**".into(), ..Default::default() };
//! let plan = plan(&ingress, &[&paid], &GatewayService::new("x402-gateway", 8402)).unwrap();
//! let paths = &plan.rules[0].http.as_ref().unwrap().paths;
//! assert_eq!(paths[0].backend.service.as_ref().unwrap().name, "web"); // the catch-all stays
//! assert_eq!(paths[1].path.as_deref(), Some("/api"));                 // the paid prefix is added
//! assert_eq!(paths[1].backend.service.as_ref().unwrap().name, "x402-gateway");
//! ```

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    ServiceBackendPort,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use x402_core::{
    path::NormalizedPath,
    pattern::{MatchCase, PathPattern},
    spec::RouteRule,
};

/// The annotation naming the field manager that patched the Ingress.
pub const MANAGED_BY: &str = "x402.io/managed-by";
/// The annotation recording what was changed (a JSON list of [`Changed`]).
pub const ORIGINAL_BACKENDS: &str = "x402.io/original-backends";

/// The gateway's Service, as the Ingress backends of paid paths name it. Ingress backends are
/// in the Ingress's namespace, so a Service of this name must exist there.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayService {
    name: String,
    port: ServiceBackendPort,
}

impl GatewayService {
    /// The Service `name`, port number `port`.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port: ServiceBackendPort {
                name: None,
                number: Some(i32::from(port)),
            },
        }
    }

    /// The Service `name`, named port `port` (`http`).
    pub fn named_port(name: impl Into<String>, port: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            port: ServiceBackendPort {
                name: Some(port.into()),
                number: None,
            },
        }
    }

    /// The Service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backend of a paid path.
    pub fn backend(&self) -> IngressBackend {
        IngressBackend {
            resource: None,
            service: Some(IngressServiceBackend {
                name: self.name.clone(),
                port: Some(self.port.clone()),
            }),
        }
    }

    fn is(&self, backend: &IngressBackend) -> bool {
        *backend == self.backend()
    }
}

/// One change recorded in [`ORIGINAL_BACKENDS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Changed {
    /// The rule's host (`None`: a rule without host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path.
    pub path: String,
    /// Its `pathType`.
    pub path_type: String,
    /// The original backend of a redirected path; `None` for a path the gateway added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<IngressBackend>,
}

impl Changed {
    fn is(&self, host: Option<&String>, path: &HTTPIngressPath) -> bool {
        self.host.as_ref() == host
            && Some(&self.path) == path.path.as_ref()
            && self.path_type == path.path_type
    }
}

/// Why an Ingress cannot be planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngressError {
    /// The [`ORIGINAL_BACKENDS`] annotation is not a record this crate wrote (e.g. the seed
    /// operator's format): the Ingress is left alone rather than guessed at.
    #[error("annotation `{ORIGINAL_BACKENDS}` is not a record of ours")]
    Record(#[source] serde_json::Error),
}

/// The Ingress's rules with the gateway's changes, and their record.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `spec.rules` as they should be.
    pub rules: Vec<IngressRule>,
    /// What differs from the original (empty: the original rules).
    pub record: Vec<Changed>,
}

impl Plan {
    /// Paths whose backend is now the gateway.
    pub fn redirected(&self) -> usize {
        self.record.iter().filter(|c| c.backend.is_some()).count()
    }

    /// Paths added for the gateway.
    pub fn added(&self) -> usize {
        self.record.iter().filter(|c| c.backend.is_none()).count()
    }

    /// The server-side-apply body: `spec.rules` and, while anything is changed, the two
    /// annotations (left out when restoring, so that server-side apply removes them). With
    /// `resource_version` the API server refuses the apply if the Ingress changed since it was
    /// read (and never creates one deleted meanwhile).
    pub fn apply_body(
        &self,
        name: &str,
        namespace: &str,
        resource_version: Option<&str>,
        field_manager: &str,
    ) -> Value {
        let mut metadata = json!({ "name": name, "namespace": namespace });
        if let Some(version) = resource_version {
            metadata["resourceVersion"] = json!(version);
        }
        if !self.record.is_empty() {
            metadata["annotations"] = json!({
                MANAGED_BY: field_manager,
                ORIGINAL_BACKENDS: self.record_text(),
            });
        }
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata,
            "spec": { "rules": self.rules },
        })
    }

    /// Whether `ingress` differs from this plan (so a patch is due).
    pub fn differs_from(&self, ingress: &Ingress, field_manager: &str) -> bool {
        let rules = rules(ingress);
        let recorded = annotation(ingress, ORIGINAL_BACKENDS);
        let wanted = (!self.record.is_empty()).then(|| self.record_text());
        let manager_ok =
            self.record.is_empty() || annotation(ingress, MANAGED_BY) == Some(field_manager);
        rules != self.rules || recorded.map(str::to_owned) != wanted || !manager_ok
    }

    fn record_text(&self) -> String {
        // Plain data: serialising cannot fail.
        serde_json::to_string(&self.record).unwrap_or_default()
    }
}

fn rules(ingress: &Ingress) -> Vec<IngressRule> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.rules.clone())
        .unwrap_or_default()
}

/// An annotation of the Ingress.
pub fn annotation<'a>(ingress: &'a Ingress, key: &str) -> Option<&'a str> {
    ingress
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The record in the Ingress's [`ORIGINAL_BACKENDS`] annotation (empty when absent).
pub fn record(ingress: &Ingress) -> Result<Vec<Changed>, IngressError> {
    annotation(ingress, ORIGINAL_BACKENDS).map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text).map_err(IngressError::Record)
    })
}

/// The Ingress's rules as its author wrote them: recorded redirects undone, added paths
/// removed. A recorded path whose backend is no longer the gateway's was edited since: its
/// current backend is the original.
pub fn original_rules(
    ingress: &Ingress,
    gateway: &GatewayService,
) -> Result<Vec<IngressRule>, IngressError> {
    let record = record(ingress)?;
    let mut rules = rules(ingress);
    for rule in &mut rules {
        let host = rule.host.clone();
        let Some(http) = &mut rule.http else { continue };
        http.paths.retain(|path| {
            !(gateway.is(&path.backend)
                && record
                    .iter()
                    .any(|c| c.backend.is_none() && c.is(host.as_ref(), path)))
        });
        for path in &mut http.paths {
            if !gateway.is(&path.backend) {
                continue;
            }
            let original = record
                .iter()
                .find(|c| c.is(host.as_ref(), path))
                .and_then(|c| c.backend.clone());
            if let Some(original) = original {
                path.backend = original;
            }
        }
    }
    Ok(rules)
}

/// The plan for `ingress` given the routes of every `X402Route` referencing it, in order.
pub fn plan(
    ingress: &Ingress,
    routes: &[&RouteRule],
    gateway: &GatewayService,
) -> Result<Plan, IngressError> {
    let mut rules = original_rules(ingress, gateway)?;
    let routes: Vec<(PathPattern, bool)> = routes
        .iter()
        .filter_map(|r| {
            Some((
                PathPattern::parse(&r.path, MatchCase::Sensitive).ok()?,
                r.free,
            ))
        })
        .collect();
    let mut record = Vec::new();
    for rule in &mut rules {
        let host = rule.host.clone();
        let Some(http) = &mut rule.http else { continue };
        let mut added: Vec<HTTPIngressPath> = Vec::new();
        for path in &mut http.paths {
            match decide(&Scope::of(path), &routes) {
                Decision::Keep => {}
                Decision::Redirect => {
                    record.push(Changed {
                        host: host.clone(),
                        path: path.path.clone().unwrap_or_default(),
                        path_type: path.path_type.clone(),
                        backend: Some(path.backend.clone()),
                    });
                    path.backend = gateway.backend();
                }
                Decision::Split(prefixes) => {
                    for (prefix, path_type) in prefixes {
                        let new = HTTPIngressPath {
                            backend: gateway.backend(),
                            path: Some(prefix),
                            path_type: path_type.to_owned(),
                        };
                        let exists = |p: &HTTPIngressPath| {
                            p.path == new.path && p.path_type == new.path_type
                        };
                        if !added.iter().any(exists) {
                            added.push(new);
                        }
                    }
                }
            }
        }
        // A path the rule already has is decided on its own, not added twice; nor is one
        // under a `Prefix` path of the rule that now goes to the gateway whole.
        let redirected: Vec<Vec<String>> = http
            .paths
            .iter()
            .filter(|p| p.path_type == "Prefix" && gateway.is(&p.backend))
            .map(|p| literal_segments(p.path.as_deref().unwrap_or("/")))
            .collect();
        added.retain(|new| {
            let under = literal_segments(new.path.as_deref().unwrap_or("/"));
            !http
                .paths
                .iter()
                .any(|p| p.path == new.path && p.path_type == new.path_type)
                && !redirected.iter().any(|prefix| is_prefix(prefix, &under))
        });
        for new in added {
            record.push(Changed {
                host: host.clone(),
                path: new.path.clone().unwrap_or_default(),
                path_type: new.path_type.clone(),
                backend: None,
            });
            http.paths.push(new);
        }
    }
    Ok(Plan { rules, record })
}

/// What an Ingress path serves.
enum Scope {
    /// `Exact`: this one path.
    Exact(NormalizedPath<'static>),
    /// `Prefix` (and readable `ImplementationSpecific`): the path and everything under it.
    Prefix {
        /// `<path>/**`.
        pattern: Option<PathPattern>,
        /// Its literal segments.
        literal: Vec<String>,
        /// Whether narrower paths may be added under it.
        splittable: bool,
    },
}

impl Scope {
    fn of(path: &HTTPIngressPath) -> Self {
        let text = path.path.as_deref().unwrap_or("/");
        if path.path_type == "Exact"
            && let Ok(exact) = NormalizedPath::parse(text)
        {
            return Self::Exact(exact.into_owned());
        }
        let trimmed = if path.path_type == "ImplementationSpecific" {
            text.strip_suffix("(.*)")
                .or_else(|| text.strip_suffix(".*"))
                .unwrap_or(text)
        } else {
            text
        };
        let literal = literal_segments(trimmed);
        let plain = !trimmed.contains(is_meta);
        let pattern = plain
            .then(|| {
                PathPattern::parse(
                    &format!("{}/**", trimmed.trim_end_matches('/')),
                    MatchCase::Sensitive,
                )
                .ok()
            })
            .flatten();
        Self::Prefix {
            splittable: pattern.is_some(),
            pattern,
            literal,
        }
    }
}

enum Decision {
    Keep,
    Redirect,
    /// Add these `(path, pathType)` for the gateway.
    Split(Vec<(String, &'static str)>),
}

/// Regular-expression and wildcard characters: a segment with one is not literal.
fn is_meta(c: char) -> bool {
    matches!(
        c,
        '*' | '(' | ')' | '[' | ']' | '{' | '}' | '+' | '?' | '|' | '^' | '$' | '\\'
    )
}

/// The leading segments without wildcard or regular-expression characters.
fn literal_segments(text: &str) -> Vec<String> {
    text.split('/')
        .filter(|s| !s.is_empty())
        .take_while(|s| !s.contains(is_meta))
        .map(str::to_owned)
        .collect()
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Walks the routes in order: a free route covering the whole Ingress path ends the walk (the
/// path is free); each paid route overlapping it redirects it, or adds a narrower path.
fn decide(scope: &Scope, routes: &[(PathPattern, bool)]) -> Decision {
    let mut split = Vec::new();
    for (route, free) in routes {
        let route_literal = literal_segments(route.canonical());
        match scope {
            Scope::Exact(path) => {
                if route.matches(path) {
                    return if *free {
                        Decision::Keep
                    } else {
                        Decision::Redirect
                    };
                }
            }
            Scope::Prefix {
                pattern,
                literal,
                splittable,
            } => {
                if pattern.as_ref().is_some_and(|p| route.covers(p)) {
                    if *free {
                        break;
                    }
                    return Decision::Redirect;
                }
                let overlaps =
                    is_prefix(&route_literal, literal) || is_prefix(literal, &route_literal);
                if *free || !overlaps {
                    continue;
                }
                let is_literal = !route.canonical().contains('*');
                if *splittable && route_literal.len() > literal.len() {
                    split.push((format!("/{}", route_literal.join("/")), "Prefix"));
                } else if *splittable && is_literal && route_literal.is_empty() {
                    // The paid root alone: `Exact /` beats the catch-all for `/` only.
                    split.push(("/".to_owned(), "Exact"));
                } else {
                    return Decision::Redirect;
                }
            }
        }
    }
    if split.is_empty() {
        Decision::Keep
    } else {
        Decision::Split(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(paths: &[(&str, &str)]) -> Ingress {
        let paths: Vec<Value> = paths
            .iter()
            .map(|(path, path_type)| {
                json!({ "path": path, "pathType": path_type,
                        "backend": { "service": { "name": "app", "port": { "name": "http" } } } })
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": { "name": "web", "namespace": "shop" },
            "spec": { "rules": [ { "host": "shop.example.com", "http": { "paths": paths } } ] }
        }))
        .unwrap()
    }

    fn rule(path: &str, free: bool) -> RouteRule {
        RouteRule {
            path: path.to_owned(),
            free,
            ..Default::default()
        }
    }

    fn gateway() -> GatewayService {
        GatewayService::new("x402-gateway", 8402)
    }

    /// `(path, pathType, to the gateway)` of every path after planning.
    fn planned(paths: &[(&str, &str)], routes: &[(&str, bool)]) -> Vec<(String, String, bool)> {
        let rules: Vec<RouteRule> = routes.iter().map(|(p, f)| rule(p, *f)).collect();
        let refs: Vec<&RouteRule> = rules.iter().collect();
        let plan = plan(&ingress(paths), &refs, &gateway()).unwrap();
        plan.rules[0]
            .http
            .as_ref()
            .unwrap()
            .paths
            .iter()
            .map(|p| {
                (
                    p.path.clone().unwrap(),
                    p.path_type.clone(),
                    gateway().is(&p.backend),
                )
            })
            .collect()
    }

    fn p(path: &str, path_type: &str, gateway: bool) -> (String, String, bool) {
        (path.to_owned(), path_type.to_owned(), gateway)
    }

    /// The seed's `TestPathMatchesPaidRoutes` table, with what we do instead where it differs.
    #[test]
    fn the_seed_table_with_catch_alls_split() {
        let pre = "Prefix";
        // Same as the seed: redirected.
        assert_eq!(
            planned(&[("/api", pre)], &[("/api", false)]),
            [p("/api", pre, true)]
        );
        assert_eq!(
            planned(&[("/api", pre)], &[("/api/**", false)]),
            [p("/api", pre, true)]
        );
        assert_eq!(
            planned(
                &[("/api(.*)", "ImplementationSpecific")],
                &[("/api/**", false)]
            ),
            [p("/api(.*)", "ImplementationSpecific", true)]
        );
        // `/api/*` is one segment: `/api` Prefix is wider, and cannot be split at `/api`.
        assert_eq!(
            planned(&[("/api", pre)], &[("/api/*", false)]),
            [p("/api", pre, true)]
        );
        // Same as the seed: not redirected.
        assert_eq!(
            planned(&[("/web", pre)], &[("/api/*", false)]),
            [p("/web", pre, false)]
        );
        assert_eq!(
            planned(&[("/api-v2", pre)], &[("/api/*", false)]),
            [p("/api-v2", pre, false)]
        );
        assert_eq!(
            planned(&[("/web", pre)], &[("/api/*", false), ("/data/*", false)]),
            [p("/web", pre, false)]
        );
        // The seed redirects the catch-all whole (every undeclared path then 404s): split.
        assert_eq!(
            planned(&[("/", pre)], &[("/api/*", false)]),
            [p("/", pre, false), p("/api", pre, true)]
        );
        assert_eq!(
            planned(&[("/", pre)], &[("/api/v1/*", false)]),
            [p("/", pre, false), p("/api/v1", pre, true)]
        );
        assert_eq!(
            planned(&[("/", pre)], &[("/data", false)]),
            [p("/", pre, false), p("/data", pre, true)]
        );
        assert_eq!(
            planned(&[("/", pre)], &[("/api/*", false), ("/data/*", false)]),
            [
                p("/", pre, false),
                p("/api", pre, true),
                p("/data", pre, true)
            ]
        );
        // The seed redirects `/api` whole for a paid `/api/v1/*`: split too.
        assert_eq!(
            planned(&[("/api", pre)], &[("/api/v1/*", false)]),
            [p("/api", pre, false), p("/api/v1", pre, true)]
        );
        // A paid root alone: `Exact /` for the gateway, the catch-all stays.
        assert_eq!(
            planned(&[("/", pre)], &[("/", false)]),
            [p("/", pre, false), p("/", "Exact", true)]
        );
    }

    #[test]
    fn free_routes_and_exact_paths() {
        let pre = "Prefix";
        // Only free routes: nothing changes, nothing is recorded.
        let rules = [rule("/health", true), rule("/**", true)];
        let refs: Vec<&RouteRule> = rules.iter().collect();
        let plan = plan(&ingress(&[("/", pre)]), &refs, &gateway()).unwrap();
        assert!(plan.record.is_empty());
        // A free route covering the path first: free, even if a later paid route covers it.
        assert_eq!(
            planned(&[("/health", pre)], &[("/health/**", true), ("/**", false)]),
            [p("/health", pre, false)]
        );
        // Exact paths go where the first route matching them says.
        assert_eq!(
            planned(
                &[("/report", "Exact"), ("/about", "Exact")],
                &[("/report", false)]
            ),
            [p("/report", "Exact", true), p("/about", "Exact", false)]
        );
        // A path the rule already has is redirected, not added again.
        assert_eq!(
            planned(&[("/", pre), ("/api", pre)], &[("/api/**", false)]),
            [p("/", pre, false), p("/api", pre, true)]
        );
        // Nothing is added under a path that goes to the gateway whole.
        assert_eq!(
            planned(
                &[("/", pre), ("/api", pre)],
                &[("/api/premium/**", false), ("/api/**", false)]
            ),
            [p("/", pre, false), p("/api", pre, true)]
        );
        // A regular expression is never split: any overlap redirects it.
        assert_eq!(
            planned(
                &[("/(api|v1)/.*", "ImplementationSpecific")],
                &[("/api/**", false)]
            ),
            [p("/(api|v1)/.*", "ImplementationSpecific", true)]
        );
    }

    #[test]
    fn the_record_undoes_the_plan_and_replanning_is_idempotent() {
        let before = ingress(&[("/", "Prefix"), ("/report", "Exact")]);
        let rules = [rule("/api/**", false), rule("/report", false)];
        let refs: Vec<&RouteRule> = rules.iter().collect();
        let first = plan(&before, &refs, &gateway()).unwrap();
        // `/report` Exact redirected; `/api` and `/report` Prefix (its trailing-slash and
        // deeper spellings) added under the catch-all.
        assert_eq!((first.redirected(), first.added()), (1, 2));

        let mut after = before.clone();
        after.spec.as_mut().unwrap().rules = Some(first.rules.clone());
        after.metadata.annotations = Some(
            [(ORIGINAL_BACKENDS.to_owned(), first.record_text())]
                .into_iter()
                .collect(),
        );
        // The named port of the original backend is kept.
        assert!(
            first.record_text().contains(r#""port":{"name":"http"}"#),
            "{}",
            first.record_text()
        );
        assert_eq!(
            original_rules(&after, &gateway()).unwrap(),
            rules_of(&before)
        );
        assert_eq!(plan(&after, &refs, &gateway()).unwrap(), first);
        // Without paid routes: the original, nothing recorded.
        let restored = plan(&after, &[], &gateway()).unwrap();
        assert_eq!(restored.rules, rules_of(&before));
        assert!(restored.record.is_empty());
        assert!(restored.differs_from(&after, "x402-kube"));
    }

    fn rules_of(ingress: &Ingress) -> Vec<IngressRule> {
        rules(ingress)
    }

    #[test]
    fn a_foreign_record_is_refused() {
        let mut seeded = ingress(&[("/", "Prefix")]);
        seeded.metadata.annotations = Some(
            [(ORIGINAL_BACKENDS.to_owned(), r#"{"/":"app:80"}"#.to_owned())]
                .into_iter()
                .collect(),
        );
        let error = plan(&seeded, &[], &gateway()).unwrap_err();
        assert!(error.to_string().contains(ORIGINAL_BACKENDS), "{error}");
    }
}
