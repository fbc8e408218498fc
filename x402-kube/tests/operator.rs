//! Operator mode against a scripted API server: kube's `Client` over a `tower_test` mock, as
//! in `watch.rs`, but answered by a small in-memory API server (lists, watches held open until
//! there is an event, gets, merge patches, and server-side apply of Ingresses with the field
//! ownership the tests need), so the watcher's concurrent X402Route and Ingress streams need
//! no fixed request order. Every request is logged; the tests assert the body of every patch.
//!
//! Time is paused: a test "settles" when no request comes for 5 virtual seconds, and the
//! operator's retry tick (60 s here) fires only when a test waits for it.
#![allow(
    clippy::needless_pass_by_value,
    reason = "fixtures take `Value`s to read like the JSON they build (`json!` borrows them)"
)]

use std::{collections::BTreeMap, time::Duration};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{Handle, SendResponse};
use x402_core::{RouteTable, gate::RouteTableHandle};
use x402_kube::{ingress::GatewayService, operator::IngressOperator, watch::RouteWatcher};

const WALLET: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const ROUTES: &str = "/apis/x402.io/v1alpha1/namespaces/shop/x402routes";
const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/shop/ingresses";
const RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Route,
    Ingress,
}

/// One request as the operator sent it.
#[derive(Debug, Clone)]
struct Logged {
    method: Method,
    path: String,
    query: String,
    content_type: Option<String>,
    body: Value,
}

struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
    version: u64,
    objects: BTreeMap<(Kind, String), Value>,
    events: Vec<(u64, Kind, &'static str, Value)>,
    held: Vec<(Kind, u64, SendResponse<Response<Body>>)>,
    log: Vec<Logged>,
    /// Ingress annotations owned by our field manager (server-side apply removes those it
    /// stops sending).
    owned_annotations: BTreeMap<String, Vec<String>>,
    /// Another manager owns `spec.rules`: applies that change them get 409.
    rules_owner: Option<&'static str>,
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap()));
    *response.status_mut() = status;
    response
}

fn status(code: u16, reason: &str, message: &str, causes: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "code": code, "reason": reason, "message": message, "details": { "causes": causes } })
}

impl ApiServer {
    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn record(&mut self, kind: Kind, event: &'static str, object: Value) {
        let version = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        self.events.push((version, kind, event, object));
    }

    /// Creates or replaces an object as a user would (a new X402Route spec bumps
    /// `generation`); keeps metadata the server owns.
    fn put(&mut self, kind: Kind, name: &str, mut object: Value) {
        let version = self.bump();
        let old = self.objects.get(&(kind, name.to_owned())).cloned();
        let generation = old
            .as_ref()
            .map_or(1, |o| o["metadata"]["generation"].as_i64().unwrap() + 1);
        let metadata = &mut object["metadata"];
        metadata["name"] = json!(name);
        metadata["namespace"] = json!("shop");
        metadata["uid"] = json!(format!("uid-{name}"));
        metadata["resourceVersion"] = json!(version.to_string());
        metadata["generation"] = json!(generation);
        if let Some(old) = &old {
            for key in ["finalizers", "deletionTimestamp"] {
                if let Some(value) = old["metadata"].get(key) {
                    object["metadata"][key] = value.clone();
                }
            }
            if let Some(status) = old.get("status") {
                object["status"] = status.clone();
            }
        }
        self.objects.insert((kind, name.to_owned()), object.clone());
        self.record(
            kind,
            if old.is_some() { "MODIFIED" } else { "ADDED" },
            object,
        );
    }

    fn route(&mut self, name: &str, spec: Value) {
        self.put(
            Kind::Route,
            name,
            json!({ "apiVersion": "x402.io/v1alpha1", "kind": "X402Route", "metadata": {}, "spec": spec }),
        );
    }

    fn ingress(&mut self, name: &str, object: Value) {
        self.put(Kind::Ingress, name, object);
    }

    fn get(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.objects.get(&(kind, name.to_owned()))
    }

    /// `kubectl delete`: with finalizers the object only gets a deletion timestamp.
    fn delete_route(&mut self, name: &str) {
        let version = self.bump();
        let key = (Kind::Route, name.to_owned());
        let mut object = self.objects[&key].clone();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        if object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            self.objects.insert(key, object.clone());
            self.record(Kind::Route, "MODIFIED", object);
        } else {
            self.objects.remove(&key);
            self.record(Kind::Route, "DELETED", object);
        }
    }

    /// Answers requests until none comes for 5 s (virtual).
    async fn settle(&mut self) {
        self.flush();
        while let Ok(next) =
            tokio::time::timeout(Duration::from_secs(5), self.handle.next_request()).await
        {
            let (request, respond) = next.expect("the client was dropped");
            self.serve(request, respond).await;
            self.flush();
        }
    }

    /// Lets the retry tick fire, then settles.
    async fn after_retry(&mut self) {
        let until = tokio::time::Instant::now() + RETRY + Duration::from_secs(1);
        while tokio::time::Instant::now() < until {
            self.settle().await;
        }
    }

    /// Answers held watches that have events now.
    fn flush(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (kind, from, respond) in held {
            let events: Vec<&(u64, Kind, &str, Value)> = self
                .events
                .iter()
                .filter(|(v, k, _, _)| *k == kind && *v > from)
                .collect();
            if events.is_empty() {
                self.held.push((kind, from, respond));
                continue;
            }
            let mut body = Vec::new();
            for (_, _, event, object) in events {
                serde_json::to_writer(&mut body, &json!({ "type": event, "object": object }))
                    .unwrap();
                body.push(b'\n');
            }
            respond.send_response(Response::new(Body::from(body)));
        }
    }

    async fn serve(&mut self, request: Request<Body>, respond: SendResponse<Response<Body>>) {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let logged = Logged {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            },
        };
        self.log.push(logged.clone());
        let (kind, rest) = if let Some(rest) = logged.path.strip_prefix(ROUTES) {
            (Kind::Route, rest)
        } else if let Some(rest) = logged.path.strip_prefix(INGRESSES) {
            (Kind::Ingress, rest)
        } else {
            panic!("unexpected request {} {}", logged.method, logged.path)
        };
        let name = rest.trim_start_matches('/').split('/').next().unwrap_or("");
        let response = match (&logged.method, name, rest.ends_with("/status")) {
            (&Method::GET, "", _) if logged.query.contains("watch=true") => {
                let from = query(&logged.query, "resourceVersion").parse().unwrap();
                self.held.push((kind, from, respond));
                return;
            }
            (&Method::GET, "", _) => {
                let items: Vec<&Value> = self
                    .objects
                    .iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|(_, o)| o)
                    .collect();
                json_response(
                    StatusCode::OK,
                    &json!({ "kind": "List", "apiVersion": "v1",
                             "metadata": { "resourceVersion": self.version.to_string() },
                             "items": items }),
                )
            }
            (&Method::GET, name, _) => match self.get(kind, name) {
                Some(object) => json_response(StatusCode::OK, object),
                None => not_found(name),
            },
            (&Method::PATCH, name, true) => self.patch_status(name, &logged),
            (&Method::PATCH, name, false) if kind == Kind::Route => {
                self.patch_finalizers(name, &logged)
            }
            (&Method::PATCH, name, false) => self.apply_ingress(name, &logged),
            _ => panic!("unexpected request {} {}", logged.method, logged.path),
        };
        respond.send_response(response);
    }

    fn patch_status(&mut self, name: &str, logged: &Logged) -> Response<Body> {
        assert_eq!(
            logged.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        let version = self.bump();
        let Some(object) = self.objects.get_mut(&(Kind::Route, name.to_owned())) else {
            return not_found(name);
        };
        object["status"] = logged.body["status"].clone();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let object = object.clone();
        self.record(Kind::Route, "MODIFIED", object.clone());
        json_response(StatusCode::OK, &object)
    }

    /// The finalizer merge patch: guarded by the resource version; removing the last
    /// finalizer of a deleted object deletes it.
    fn patch_finalizers(&mut self, name: &str, logged: &Logged) -> Response<Body> {
        assert_eq!(
            logged.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        let metadata = logged.body["metadata"].as_object().unwrap();
        assert_eq!(
            metadata.keys().collect::<Vec<_>>(),
            ["finalizers", "resourceVersion"],
            "a finalizer patch touches nothing else"
        );
        let key = (Kind::Route, name.to_owned());
        let Some(mut object) = self.objects.get(&key).cloned() else {
            return not_found(name);
        };
        if object["metadata"]["resourceVersion"] != logged.body["metadata"]["resourceVersion"] {
            return json_response(
                StatusCode::CONFLICT,
                &status(409, "Conflict", "the object has been modified", json!([])),
            );
        }
        let version = self.bump();
        object["metadata"]["finalizers"] = logged.body["metadata"]["finalizers"].clone();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let gone = object["metadata"].get("deletionTimestamp").is_some()
            && object["metadata"]["finalizers"]
                .as_array()
                .unwrap()
                .is_empty();
        if gone {
            self.objects.remove(&key);
            self.record(Kind::Route, "DELETED", object.clone());
        } else {
            self.objects.insert(key, object.clone());
            self.record(Kind::Route, "MODIFIED", object.clone());
        }
        json_response(StatusCode::OK, &object)
    }

    /// Server-side apply of an Ingress: never forced, as our field manager; replaces
    /// `spec.rules` (atomic) and the annotations we own.
    fn apply_ingress(&mut self, name: &str, logged: &Logged) -> Response<Body> {
        assert_eq!(
            logged.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(query(&logged.query, "fieldManager"), "x402-kube");
        assert!(
            !logged.query.contains("force"),
            "never forced: {}",
            logged.query
        );
        let key = (Kind::Ingress, name.to_owned());
        let Some(mut object) = self.objects.get(&key).cloned() else {
            return not_found(name);
        };
        if object["metadata"]["resourceVersion"] != logged.body["metadata"]["resourceVersion"] {
            return json_response(
                StatusCode::CONFLICT,
                &status(409, "Conflict", "the object has been modified", json!([])),
            );
        }
        if let Some(owner) = self.rules_owner
            && object["spec"]["rules"] != logged.body["spec"]["rules"]
        {
            let message = format!("conflict with \"{owner}\" using networking.k8s.io/v1");
            return json_response(
                StatusCode::CONFLICT,
                &status(
                    409,
                    "Conflict",
                    &format!("Apply failed with 1 conflict: {message}: .spec.rules"),
                    json!([{ "type": "FieldManagerConflict", "message": message, "field": ".spec.rules" }]),
                ),
            );
        }
        object["spec"]["rules"] = logged.body["spec"]["rules"].clone();
        let sent: BTreeMap<String, Value> = logged.body["metadata"]
            .get("annotations")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        let annotations = object["metadata"]
            .as_object_mut()
            .unwrap()
            .entry("annotations")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
        for owned in self.owned_annotations.remove(name).unwrap_or_default() {
            annotations.remove(&owned);
        }
        for (key, value) in &sent {
            annotations.insert(key.clone(), value.clone());
        }
        if annotations.is_empty() {
            object["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("annotations");
        }
        self.owned_annotations
            .insert(name.to_owned(), sent.keys().cloned().collect());
        let version = self.bump();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        self.objects.insert(key, object.clone());
        self.record(Kind::Ingress, "MODIFIED", object.clone());
        json_response(StatusCode::OK, &object)
    }

    /// The patches logged since the last call, as `(path, body)`, status writes apart.
    fn patches(&mut self) -> (Vec<(String, Value)>, BTreeMap<String, Value>) {
        let mut patches = Vec::new();
        let mut statuses = BTreeMap::new();
        for logged in std::mem::take(&mut self.log) {
            if logged.method != Method::PATCH {
                continue;
            }
            if let Some(name) = logged
                .path
                .strip_prefix(&format!("{ROUTES}/"))
                .and_then(|p| p.strip_suffix("/status"))
            {
                statuses.insert(name.to_owned(), logged.body["status"].clone());
            } else {
                let mut body = logged.body;
                // The record is a JSON string (annotation values are strings): compare its
                // content, whatever the key order.
                if let Some(record) =
                    body.pointer_mut("/metadata/annotations/x402.io~1original-backends")
                {
                    let text = record.as_str().expect("annotation values are strings");
                    *record = serde_json::from_str(text).unwrap();
                }
                patches.push((logged.path, body));
            }
        }
        (patches, statuses)
    }

    /// How many GETs of the Ingress `name` are logged (not taken by `patches`).
    fn gets_of(&self, name: &str) -> usize {
        self.log
            .iter()
            .filter(|l| l.method == Method::GET && l.path == format!("{INGRESSES}/{name}"))
            .count()
    }
}

fn not_found(name: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &status(404, "NotFound", &format!("\"{name}\" not found"), json!([])),
    )
}

fn query(query: &str, key: &str) -> String {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {query}"))
        .to_owned()
}

struct Harness {
    api: ApiServer,
    task: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start() -> Harness {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let api = ApiServer {
        handle,
        version: 0,
        objects: BTreeMap::new(),
        events: Vec::new(),
        held: Vec::new(),
        log: Vec::new(),
        owned_annotations: BTreeMap::new(),
        rules_owner: None,
    };
    let watcher = RouteWatcher::new(client, RouteTableHandle::new(RouteTable::empty()))
        .namespace("shop")
        .ingress_operator(
            IngressOperator::new(GatewayService::new("x402-gateway", 8402)).retry_every(RETRY),
        );
    Harness {
        api,
        task: tokio::spawn(watcher.run()),
    }
}

fn spec(ingress: &str, routes: Value) -> Value {
    json!({
        "ingressRef": { "name": ingress },
        "payment": { "wallet": WALLET, "network": "base-sepolia", "defaultPrice": "0.01" },
        "routes": routes,
    })
}

fn backend(service: &str, port: Value) -> Value {
    json!({ "service": { "name": service, "port": port } })
}

fn gateway() -> Value {
    backend("x402-gateway", json!({ "number": 8402 }))
}

fn path(path: &str, path_type: &str, backend: Value) -> Value {
    json!({ "path": path, "pathType": path_type, "backend": backend })
}

/// The shop's Ingress: a catch-all to `web` (named port), `/api` to `api`, and an admin host.
fn original_rules() -> Value {
    json!([
        { "host": "shop.example.com", "http": { "paths": [
            path("/", "Prefix", backend("web", json!({ "name": "http" }))),
            path("/api", "Prefix", backend("api", json!({ "number": 8080 }))),
        ] } },
        { "host": "admin.example.com", "http": { "paths": [
            path("/admin", "Prefix", backend("admin", json!({ "number": 80 }))),
        ] } },
    ])
}

fn shop_ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "annotations": { "team": "shop" } },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [ { "hosts": ["shop.example.com"], "secretName": "shop-tls" } ],
            "rules": original_rules(),
        },
    })
}

fn ingress_patch(version: &str, rules: Value, record: Option<Value>) -> (String, Value) {
    let mut metadata = json!({ "name": "web", "namespace": "shop", "resourceVersion": version });
    if let Some(record) = record {
        metadata["annotations"] = json!({
            "x402.io/managed-by": "x402-kube",
            "x402.io/original-backends": record,
        });
    }
    (
        format!("{INGRESSES}/web"),
        json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": metadata, "spec": { "rules": rules } }),
    )
}

fn finalizer_patch(name: &str, version: &str, finalizers: Value) -> (String, Value) {
    (
        format!("{ROUTES}/{name}"),
        json!({ "metadata": { "finalizers": finalizers, "resourceVersion": version } }),
    )
}

fn version_of(api: &ApiServer, kind: Kind, name: &str) -> String {
    api.get(kind, name).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

/// `/api/**` paid (with a free `/api/health` first) and `/report` paid: `/api` is redirected,
/// `/report` is added under the catch-all, which keeps `web`.
fn patched_rules(report: bool) -> Value {
    let mut shop = vec![
        path("/", "Prefix", backend("web", json!({ "name": "http" }))),
        path("/api", "Prefix", gateway()),
    ];
    if report {
        shop.push(path("/report", "Prefix", gateway()));
    }
    json!([
        { "host": "shop.example.com", "http": { "paths": shop } },
        original_rules()[1].clone(),
    ])
}

fn record(report: bool) -> Value {
    let mut record = vec![
        json!({ "host": "shop.example.com", "path": "/api", "pathType": "Prefix",
                                  "backend": backend("api", json!({ "number": 8080 })) }),
    ];
    if report {
        record.push(json!({ "host": "shop.example.com", "path": "/report", "pathType": "Prefix" }));
    }
    Value::Array(record)
}

#[tokio::test(start_paused = true)]
async fn patches_repatches_after_edits_and_restores_on_delete() {
    let mut h = start();
    h.api.ingress("web", shop_ingress());
    h.api.route(
        "a",
        spec(
            "web",
            json!([ { "path": "/api/health", "free": true },
                    { "path": "/api/**" }, { "path": "/report" } ]),
        ),
    );
    let (ingress_v, route_v) = (
        version_of(&h.api, Kind::Ingress, "web"),
        version_of(&h.api, Kind::Route, "a"),
    );
    h.api.settle().await;

    // The finalizer first, then one apply: paid paths to the gateway, the rest untouched.
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [
            finalizer_patch("a", &route_v, json!(["x402.io/finalizer"])),
            ingress_patch(&ingress_v, patched_rules(true), Some(record(true))),
        ]
    );
    let stored = h.api.get(Kind::Ingress, "web").unwrap().clone();
    assert_eq!(
        stored["spec"]["tls"],
        shop_ingress()["spec"]["tls"],
        "TLS untouched"
    );
    assert_eq!(stored["spec"]["ingressClassName"], "nginx");
    assert_eq!(stored["metadata"]["annotations"]["team"], "shop");
    let a = &statuses["a"];
    assert_eq!(
        (&a["ingressPatched"], &a["ready"], &a["activeRoutes"]),
        (&json!(true), &json!(true), &json!(3))
    );
    let patched = condition(a, "IngressPatched");
    assert_eq!(
        (&patched["status"], &patched["reason"]),
        (&json!("True"), &json!("Reconciled"))
    );
    assert!(
        patched["message"]
            .as_str()
            .unwrap()
            .contains("1 path(s) redirected to the gateway, 1 added"),
        "{patched}"
    );
    assert_eq!(condition(a, "Ready")["reason"], "Compiled");

    // The X402Route edited: `/report` no longer paid, `/data/**` paid (no Ingress path
    // serves `/data` but the catch-all, so it is added there).
    h.api.route(
        "a",
        spec(
            "web",
            json!([ { "path": "/api/health", "free": true },
                            { "path": "/api/**" }, { "path": "/data/**" } ]),
        ),
    );
    let ingress_v = version_of(&h.api, Kind::Ingress, "web");
    h.api.settle().await;
    let mut rules = patched_rules(false);
    rules[0]["http"]["paths"]
        .as_array_mut()
        .unwrap()
        .push(path("/data", "Prefix", gateway()));
    let mut data_record = record(false);
    data_record
        .as_array_mut()
        .unwrap()
        .push(json!({ "host": "shop.example.com", "path": "/data", "pathType": "Prefix" }));
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [ingress_patch(
            &ingress_v,
            rules.clone(),
            Some(data_record.clone())
        )]
    );
    let a = &statuses["a"];
    assert_eq!(
        (&a["ingressPatched"], &a["ready"]),
        (&json!(true), &json!(true))
    );
    let patched = condition(a, "IngressPatched");
    assert_eq!(patched["observedGeneration"], 2);
    assert!(
        patched["message"]
            .as_str()
            .unwrap()
            .contains("1 path(s) redirected to the gateway, 1 added"),
        "{patched}"
    );

    // The Ingress edited: its author re-applied the original rules (our annotations stay).
    // The record tells the original apart, and the same patch is applied again.
    let mut reverted = h.api.get(Kind::Ingress, "web").unwrap().clone();
    reverted["spec"]["rules"] = original_rules();
    h.api.ingress("web", reverted);
    let ingress_v = version_of(&h.api, Kind::Ingress, "web");
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [ingress_patch(&ingress_v, rules, Some(data_record))]
    );
    assert!(
        statuses.is_empty(),
        "the same outcome: nothing to write: {statuses:?}"
    );

    // Deleted: the original restored (annotations dropped), then the finalizer removed.
    h.api.delete_route("a");
    let (ingress_v, route_v) = (
        version_of(&h.api, Kind::Ingress, "web"),
        version_of(&h.api, Kind::Route, "a"),
    );
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [
            ingress_patch(&ingress_v, original_rules(), None),
            finalizer_patch("a", &route_v, json!([])),
        ]
    );
    assert!(
        statuses.is_empty(),
        "no status written while deleting: {statuses:?}"
    );
    assert!(
        h.api.get(Kind::Route, "a").is_none(),
        "deleted once the finalizer is off"
    );
    let restored = h.api.get(Kind::Ingress, "web").unwrap();
    assert_eq!(restored["spec"], shop_ingress()["spec"]);
    assert_eq!(
        restored["metadata"]["annotations"],
        json!({ "team": "shop" })
    );
}

#[tokio::test(start_paused = true)]
async fn two_routes_share_one_ingress() {
    let mut h = start();
    h.api.ingress("web", shop_ingress());
    h.api.route(
        "a",
        spec(
            "web",
            json!([ { "path": "/api/health", "free": true }, { "path": "/api/**" } ]),
        ),
    );
    h.api
        .route("b", spec("web", json!([ { "path": "/report" } ])));
    let (a_v, b_v) = (
        version_of(&h.api, Kind::Route, "a"),
        version_of(&h.api, Kind::Route, "b"),
    );
    let ingress_v = version_of(&h.api, Kind::Ingress, "web");
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [
            finalizer_patch("a", &a_v, json!(["x402.io/finalizer"])),
            finalizer_patch("b", &b_v, json!(["x402.io/finalizer"])),
            ingress_patch(&ingress_v, patched_rules(true), Some(record(true))),
        ],
        "one apply with the paid paths of both"
    );
    for name in ["a", "b"] {
        assert_eq!(statuses[name]["ingressPatched"], true, "{name}");
        assert_eq!(statuses[name]["ready"], true, "{name}");
    }

    // `b` goes: its path goes, `a`'s stays.
    h.api.delete_route("b");
    let (ingress_v, b_v) = (
        version_of(&h.api, Kind::Ingress, "web"),
        version_of(&h.api, Kind::Route, "b"),
    );
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [
            ingress_patch(&ingress_v, patched_rules(false), Some(record(false))),
            finalizer_patch("b", &b_v, json!([])),
        ]
    );
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        ["a"],
        "only `a` is written"
    );
    assert!(
        condition(&statuses["a"], "IngressPatched")["message"]
            .as_str()
            .unwrap()
            .contains("1 path(s) redirected to the gateway, 0 added")
    );
    assert!(h.api.get(Kind::Route, "b").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_changed_ingress_ref_restores_the_old_ingress_and_patches_the_new() {
    let mut h = start();
    h.api.ingress("web", shop_ingress());
    h.api.ingress("web2", shop_ingress());
    h.api
        .route("a", spec("web", json!([ { "path": "/api/**" } ])));
    h.api.settle().await;
    h.api.patches();

    h.api
        .route("a", spec("web2", json!([ { "path": "/api/**" } ])));
    let (web_v, web2_v) = (
        version_of(&h.api, Kind::Ingress, "web"),
        version_of(&h.api, Kind::Ingress, "web2"),
    );
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    let (_, restore) = ingress_patch(&web_v, original_rules(), None);
    let (_, mut patch) = ingress_patch(&web2_v, patched_rules(false), Some(record(false)));
    patch["metadata"]["name"] = json!("web2");
    assert_eq!(
        patches,
        [
            (format!("{INGRESSES}/web"), restore),
            (format!("{INGRESSES}/web2"), patch)
        ]
    );
    assert!(
        condition(&statuses["a"], "IngressPatched")["message"]
            .as_str()
            .unwrap()
            .contains("shop/web2")
    );
    assert_eq!(
        h.api.get(Kind::Ingress, "web").unwrap()["spec"],
        shop_ingress()["spec"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_conflicting_field_manager_is_reported_and_not_forced() {
    let mut h = start();
    h.api.rules_owner = Some("kubectl-client-side-apply");
    h.api.ingress("web", shop_ingress());
    h.api
        .route("a", spec("web", json!([ { "path": "/api/**" } ])));
    let (ingress_v, route_v) = (
        version_of(&h.api, Kind::Ingress, "web"),
        version_of(&h.api, Kind::Route, "a"),
    );
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [
            finalizer_patch("a", &route_v, json!(["x402.io/finalizer"])),
            ingress_patch(&ingress_v, patched_rules(false), Some(record(false))),
        ]
    );
    // Refused with 409: nothing changed, and the status says who owns what.
    assert_eq!(
        h.api.get(Kind::Ingress, "web").unwrap()["spec"],
        shop_ingress()["spec"]
    );
    let a = &statuses["a"];
    assert_eq!(
        (&a["ingressPatched"], &a["ready"]),
        (&json!(false), &json!(false))
    );
    let patched = condition(a, "IngressPatched");
    assert_eq!(
        (&patched["status"], &patched["reason"]),
        (&json!("False"), &json!("Conflict"))
    );
    let message = patched["message"].as_str().unwrap();
    assert!(message.contains(".spec.rules"), "{message}");
    assert!(message.contains("kubectl-client-side-apply"), "{message}");
    assert!(message.contains("not forced"), "{message}");
    let ready = condition(a, "Ready");
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("IngressNotPatched"))
    );

    // Retried on the tick, still not forced; once the other manager lets go, it applies.
    h.api.after_retry().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [ingress_patch(
            &ingress_v,
            patched_rules(false),
            Some(record(false))
        )]
    );
    assert!(statuses.is_empty(), "nothing new to say: {statuses:?}");
    h.api.rules_owner = None;
    h.api.after_retry().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [ingress_patch(
            &ingress_v,
            patched_rules(false),
            Some(record(false))
        )]
    );
    assert_eq!(statuses["a"]["ingressPatched"], true);
    assert_eq!(statuses["a"]["ready"], true);
    assert_eq!(condition(&statuses["a"], "Ready")["reason"], "Compiled");
}

#[tokio::test(start_paused = true)]
async fn a_missing_ingress_is_reported_retried_and_patched_when_created() {
    let mut h = start();
    h.api
        .route("a", spec("web", json!([ { "path": "/api/**" } ])));
    let route_v = version_of(&h.api, Kind::Route, "a");
    h.api.settle().await;
    assert_eq!(h.api.gets_of("web"), 1);
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [finalizer_patch("a", &route_v, json!(["x402.io/finalizer"]))]
    );
    let a = &statuses["a"];
    assert_eq!(
        (&a["ingressPatched"], &a["ready"]),
        (&json!(false), &json!(false))
    );
    let patched = condition(a, "IngressPatched");
    assert_eq!(
        (&patched["status"], &patched["reason"]),
        (&json!("False"), &json!("IngressNotFound"))
    );
    assert!(patched["message"].as_str().unwrap().contains("shop/web"));

    // Retried: read again on the tick.
    h.api.after_retry().await;
    assert_eq!(h.api.gets_of("web"), 1, "read again");
    let (patches, statuses) = h.api.patches();
    assert!(patches.is_empty(), "{patches:?}");
    assert!(
        statuses.is_empty(),
        "still not found: nothing new to write: {statuses:?}"
    );

    // Created: patched at once (the Ingress watch), without waiting for the tick.
    h.api.ingress("web", shop_ingress());
    let ingress_v = version_of(&h.api, Kind::Ingress, "web");
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert_eq!(
        patches,
        [ingress_patch(
            &ingress_v,
            patched_rules(false),
            Some(record(false))
        )]
    );
    assert_eq!(statuses["a"]["ingressPatched"], true);
    assert_eq!(
        condition(&statuses["a"], "IngressPatched")["reason"],
        "Reconciled"
    );
}

#[tokio::test(start_paused = true)]
async fn routes_without_ingress_ref_are_left_as_the_library_leaves_them() {
    let mut h = start();
    h.api.ingress("web", shop_ingress());
    h.api.route(
        "plain",
        json!({ "payment": { "wallet": WALLET, "network": "base-sepolia" },
                "routes": [ { "path": "/api/**", "price": "0.01" } ] }),
    );
    h.api.settle().await;
    let (patches, statuses) = h.api.patches();
    assert!(
        patches.is_empty(),
        "no finalizer, no Ingress patch: {patches:?}"
    );
    assert!(statuses["plain"].get("ingressPatched").is_none());
    assert_eq!(statuses["plain"]["ready"], true);
}
