//! The watcher against a fake API server: kube's `Client` over a `tower_test` mock that
//! answers the list, watch and status-patch requests with the JSON a real API server sends
//! (as kube's own `mock_tests.rs` does). Each test is a script: the watcher's next request is
//! awaited, checked, and answered, so the order of requests is part of what is tested.
//!
//! Time is paused: kube's watch backoff and the script's timeouts advance instantly when the
//! runtime is idle, so a watcher that sends no request fails the test quickly instead of
//! hanging it.
//!
//! Tests against a real cluster are in `cluster.rs` (ignored by default).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use x402_core::{RouteTable, gate::RouteTableHandle};
use x402_kube::watch::{Readiness, RouteWatcher, TableSwap};

const WALLET: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

/// A spec with one priced route.
fn priced(path: &str, price: &str) -> Value {
    json!({
        "payment": { "wallet": WALLET, "network": "base-sepolia" },
        "routes": [ { "path": path, "price": price } ],
    })
}

/// The fake API server: the stored objects, and the mock's request handle.
struct ApiServer {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    objects: BTreeMap<(String, String), Value>,
    resource_version: u64,
}

/// A request the watcher sent, with its body read.
struct Seen {
    method: Method,
    uri: String,
    content_type: Option<String>,
    body: Value,
    respond: tower_test::mock::SendResponse<Response<Body>>,
}

impl ApiServer {
    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Creates or updates an object (a new spec bumps `generation`, as the API server does).
    fn put(&mut self, namespace: &str, name: &str, spec: Value) -> Value {
        let version = self.next_version();
        let key = (namespace.to_owned(), name.to_owned());
        let (generation, status) = match self.objects.get(&key) {
            Some(old) => (
                old["metadata"]["generation"].as_i64().unwrap() + 1,
                old.get("status").cloned(),
            ),
            None => (1, None),
        };
        let mut object = json!({
            "apiVersion": "x402.io/v1alpha1",
            "kind": "X402Route",
            "metadata": {
                "name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}"),
                "generation": generation, "resourceVersion": version,
            },
        });
        object["spec"] = spec;
        if let Some(status) = status {
            object["status"] = status;
        }
        self.objects.insert(key, object.clone());
        object
    }

    /// Deletes an object; returns it as the DELETED event carries it.
    fn delete(&mut self, namespace: &str, name: &str) -> Value {
        let version = self.next_version();
        let mut object = self
            .objects
            .remove(&(namespace.to_owned(), name.to_owned()))
            .expect("object exists");
        object["metadata"]["resourceVersion"] = json!(version);
        object
    }

    async fn next(&mut self) -> Seen {
        let (request, respond) =
            tokio::time::timeout(Duration::from_secs(60), self.handle.next_request())
                .await
                .expect("the watcher sent no further request")
                .expect("the client was dropped");
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Seen {
            method: parts.method,
            uri: parts.uri.to_string(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            },
            respond,
        }
    }

    /// Answers the next request, which must be a list of `namespace` (all when `None`).
    async fn list(&mut self, namespace: Option<&str>) {
        let seen = self.next().await;
        assert_eq!(seen.method, Method::GET, "{}", seen.uri);
        assert!(
            !seen.uri.contains("watch=true"),
            "expected a list: {}",
            seen.uri
        );
        self.answer_list(seen, namespace);
    }

    fn answer_list(&mut self, seen: Seen, namespace: Option<&str>) {
        let prefix = match namespace {
            Some(ns) => format!("/apis/x402.io/v1alpha1/namespaces/{ns}/x402routes?"),
            None => "/apis/x402.io/v1alpha1/x402routes?".to_owned(),
        };
        assert!(
            seen.uri.starts_with(&prefix),
            "{} is not {prefix}",
            seen.uri
        );
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, object)| object.clone())
            .collect();
        let list = json!({
            "apiVersion": "x402.io/v1alpha1", "kind": "X402RouteList",
            "metadata": { "resourceVersion": self.resource_version.to_string() },
            "items": items,
        });
        seen.respond
            .send_response(json_response(StatusCode::OK, &list));
    }

    /// Answers the next request, which must be a watch, with `events` (then the stream ends,
    /// and kube's watcher resumes from the last resource version). Returns the request URI.
    async fn watch(&mut self, events: Vec<(&str, Value)>) -> String {
        let seen = self.next().await;
        assert_eq!(seen.method, Method::GET, "{}", seen.uri);
        assert!(
            seen.uri.contains("watch=true"),
            "expected a watch: {}",
            seen.uri
        );
        let mut body = Vec::new();
        for (kind, object) in events {
            serde_json::to_writer(&mut body, &json!({ "type": kind, "object": object })).unwrap();
            body.push(b'\n');
        }
        seen.respond.send_response(Response::new(Body::from(body)));
        seen.uri
    }

    /// Answers the next request, which must be a server-side-apply status patch; stores the
    /// status and returns `(namespace, name, status)`.
    async fn status_patch(&mut self) -> (String, String, Value) {
        let seen = self.next().await;
        assert_eq!(seen.method, Method::PATCH, "{}", seen.uri);
        assert_eq!(
            seen.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        let path = seen.uri.split('?').next().unwrap().to_owned();
        let query = seen.uri.split('?').nth(1).unwrap_or_default().to_owned();
        assert!(query.contains("fieldManager=x402-kube"), "{query}");
        assert!(query.contains("force=true"), "{query}");
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // apis/x402.io/v1alpha1/namespaces/{ns}/x402routes/{name}/status
        assert_eq!(
            (segments.len(), segments[5], segments[7]),
            (8, "x402routes", "status"),
            "{path}"
        );
        let (namespace, name) = (segments[4].to_owned(), segments[6].to_owned());
        assert_eq!(seen.body["apiVersion"], "x402.io/v1alpha1");
        assert_eq!(seen.body["kind"], "X402Route");
        let status = seen.body["status"].clone();
        let version = self.next_version();
        let object = self
            .objects
            .get_mut(&(namespace.clone(), name.clone()))
            .expect("patched object exists");
        object["status"] = status.clone();
        object["metadata"]["resourceVersion"] = json!(version);
        let object = object.clone();
        seen.respond
            .send_response(json_response(StatusCode::OK, &object));
        (namespace, name, status)
    }

    /// Answers the next status patches (any order); returns the statuses by name.
    async fn status_patches(&mut self, count: usize) -> BTreeMap<String, Value> {
        let mut statuses = BTreeMap::new();
        for _ in 0..count {
            let (_, name, status) = self.status_patch().await;
            assert!(statuses.insert(name, status).is_none(), "patched twice");
        }
        statuses
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap()));
    *response.status_mut() = status;
    response
}

/// A running watcher and what it publishes.
struct Harness {
    api: ApiServer,
    routes: RouteTableHandle,
    readiness: Readiness,
    swaps: Arc<Mutex<Vec<TableSwap>>>,
    task: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Harness {
    fn start(configure: impl FnOnce(RouteWatcher) -> RouteWatcher) -> Self {
        Self::start_with(Vec::new(), configure)
    }

    fn start_with(
        objects: Vec<(&str, &str, Value)>,
        configure: impl FnOnce(RouteWatcher) -> RouteWatcher,
    ) -> Self {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let mut api = ApiServer {
            handle,
            objects: BTreeMap::new(),
            resource_version: 0,
        };
        for (namespace, name, spec) in objects {
            api.put(namespace, name, spec);
        }
        let routes = RouteTableHandle::new(RouteTable::empty());
        let swaps = Arc::new(Mutex::new(Vec::new()));
        let recorded = swaps.clone();
        let watcher = configure(RouteWatcher::new(client, routes.clone()))
            .on_swap(move |swap| recorded.lock().unwrap().push(swap.clone()));
        let readiness = watcher.readiness();
        let task = tokio::spawn(watcher.run());
        Self {
            api,
            routes,
            readiness,
            swaps,
            task,
        }
    }

    /// `(source, route name)` of every route in the live table, in order.
    fn table(&self) -> Vec<(String, String)> {
        self.routes
            .load()
            .routes()
            .iter()
            .map(|r| (r.source().unwrap_or("").to_owned(), r.name().to_string()))
            .collect()
    }

    /// The atomic amount of the live route named `name`.
    fn amount(&self, name: &str) -> Option<String> {
        let table = self.routes.load();
        let route = table.routes().iter().find(|r| &**r.name() == name)?;
        Some(route.offer()?.accepts()[0].amount().to_string())
    }

    fn swap_count(&self) -> usize {
        self.swaps.lock().unwrap().len()
    }

    fn last_swap(&self) -> TableSwap {
        self.swaps.lock().unwrap().last().cloned().expect("a swap")
    }
}

fn route(source: &str, name: &str) -> (String, String) {
    (source.to_owned(), name.to_owned())
}

fn ready_condition(status: &Value) -> &Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("a Ready condition")
}

#[tokio::test(start_paused = true)]
async fn the_initial_list_is_published_in_namespace_name_order_then_ready() {
    let mut h = Harness::start_with(
        vec![
            ("shop", "b", priced("/b", "0.02")),
            ("shop", "a", priced("/a", "0.01")),
        ],
        |w| w.namespace("shop"),
    );
    assert!(!h.readiness.is_ready());
    h.api.list(Some("shop")).await;

    let statuses = h.api.status_patches(2).await;
    for (name, status) in &statuses {
        assert_eq!(status["ready"], true, "{name}");
        assert_eq!(status["activeRoutes"], 1, "{name}");
        assert!(status.get("ingressPatched").is_none(), "operator's field");
        let ready = ready_condition(status);
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "Compiled");
        assert_eq!(ready["observedGeneration"], 1);
        assert!(ready["lastTransitionTime"].as_str().unwrap().ends_with('Z'));
    }
    h.api.watch(vec![]).await;

    assert!(h.readiness.is_ready());
    h.readiness.ready().await.unwrap();
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/b", "/b")]);
    assert_eq!(h.amount("/a").as_deref(), Some("10000"));
    assert_eq!(h.swap_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_list_is_ready_with_an_empty_table() {
    let mut h = Harness::start(|w| w);
    h.api.list(None).await;
    h.api.watch(vec![]).await;
    assert!(h.readiness.is_ready());
    assert!(h.table().is_empty());
}

#[tokio::test(start_paused = true)]
async fn adds_modifications_and_deletes_swap_the_table() {
    let mut h = Harness::start_with(vec![("shop", "a", priced("/a", "0.01"))], |w| {
        w.namespace("shop")
    });
    h.api.list(Some("shop")).await;
    h.api.status_patch().await;

    // Added.
    let b = h.api.put("shop", "b", priced("/b", "0.02"));
    h.api.watch(vec![("ADDED", b)]).await;
    let (_, name, status) = h.api.status_patch().await;
    assert_eq!((name.as_str(), &status["ready"]), ("b", &json!(true)));
    // The watch resumes from the last version seen.
    let uri = h.api.watch(vec![]).await;
    assert!(
        uri.contains(&format!("resourceVersion={}", h.api.resource_version - 1)),
        "{uri}"
    );
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/b", "/b")]);

    // Modified: a new price, a new generation.
    let a = h.api.put("shop", "a", priced("/a", "0.05"));
    h.api.watch(vec![("MODIFIED", a)]).await;
    let (_, name, status) = h.api.status_patch().await;
    assert_eq!(name, "a");
    assert_eq!(ready_condition(&status)["observedGeneration"], 2);
    h.api.watch(vec![]).await;
    assert_eq!(h.amount("/a").as_deref(), Some("50000"));
    assert_eq!(h.swap_count(), 3);

    // Deleted: its routes and their metric label sets go.
    let a = h.api.delete("shop", "a");
    h.api.watch(vec![("DELETED", a)]).await;
    h.api.watch(vec![]).await;
    assert_eq!(h.table(), [route("shop/b", "/b")]);
    let swap = h.last_swap();
    assert_eq!(swap.routes, 1);
    let removed: Vec<_> = swap
        .removed
        .iter()
        .map(|l| (l.route().to_string(), l.chain().to_string()))
        .collect();
    assert_eq!(removed, [("/a".to_owned(), "eip155:84532".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn a_status_only_update_writes_nothing_and_keeps_the_table() {
    let mut h = Harness::start_with(vec![("shop", "a", priced("/a", "0.01"))], |w| {
        w.namespace("shop")
    });
    h.api.list(Some("shop")).await;
    h.api.status_patch().await;
    // The API server's echo of our own status write.
    let echo = h.api.objects[&("shop".to_owned(), "a".to_owned())].clone();
    h.api.watch(vec![("MODIFIED", echo)]).await;
    // The next request is the resumed watch, not another patch.
    h.api.watch(vec![]).await;
    assert_eq!(h.swap_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_bad_resource_fails_alone_and_keeps_its_last_good_routes() {
    let bad_price = json!({
        "payment": { "wallet": WALLET, "network": "base-sepolia" },
        "routes": [ { "path": "/b", "name": "b-route", "price": "1.2.3" } ],
    });
    let mut h = Harness::start_with(
        vec![
            ("shop", "a", priced("/a", "0.01")),
            ("shop", "b", bad_price),
            ("shop", "c", priced("/c", "0.03")),
        ],
        |w| w.namespace("shop"),
    );
    h.api.list(Some("shop")).await;
    let statuses = h.api.status_patches(3).await;
    h.api.watch(vec![]).await;

    // The good ones are live; the bad one never compiled, so it has nothing live.
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/c", "/c")]);
    assert_eq!(statuses["a"]["ready"], true);
    assert_eq!(statuses["c"]["ready"], true);
    let b = &statuses["b"];
    assert_eq!(b["ready"], false);
    assert_eq!(b["activeRoutes"], 0);
    let ready = ready_condition(b);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "CompileError");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("route #0 (\"b-route\")"), "{message}");
    assert!(message.contains("routes[0].price"), "{message}");

    // `a` turns bad: its last good routes stay, its status says so, no swap happens.
    let swaps = h.swap_count();
    let a = h.api.put(
        "shop",
        "a",
        json!({ "routes": [ { "path": "/a", "unknownField": 1 } ] }),
    );
    h.api.watch(vec![("MODIFIED", a)]).await;
    let (_, name, status) = h.api.status_patch().await;
    h.api.watch(vec![]).await;
    assert_eq!(name, "a");
    assert_eq!(status["ready"], false);
    assert_eq!(status["activeRoutes"], 1);
    let message = ready_condition(&status)["message"].as_str().unwrap();
    assert!(message.contains("unknownField"), "{message}");
    assert!(message.contains("stay live"), "{message}");
    assert_eq!(ready_condition(&status)["observedGeneration"], 2);
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/c", "/c")]);
    assert_eq!(h.amount("/a").as_deref(), Some("10000"));
    assert_eq!(h.swap_count(), swaps);

    // Fixed: the new spec goes live and the condition flips back.
    let a = h.api.put("shop", "a", priced("/a", "0.07"));
    h.api.watch(vec![("MODIFIED", a)]).await;
    let (_, _, status) = h.api.status_patch().await;
    h.api.watch(vec![]).await;
    assert_eq!(status["ready"], true);
    assert_eq!(ready_condition(&status)["reason"], "Compiled");
    assert_eq!(h.amount("/a").as_deref(), Some("70000"));
}

#[tokio::test(start_paused = true)]
async fn without_a_ledger_a_resource_declaring_payment_identifier_fails_naming_the_route() {
    let declaring = json!({
        "payment": { "wallet": WALLET, "network": "base-sepolia" },
        "routes": [ { "path": "/o", "name": "orders", "price": "0.01", "paymentIdentifier": "required" } ],
    });
    let mut h = Harness::start_with(
        vec![
            ("shop", "a", priced("/a", "0.01")),
            ("shop", "o", declaring),
        ],
        |w| w.namespace("shop").ledger(false),
    );
    h.api.list(Some("shop")).await;
    let statuses = h.api.status_patches(2).await;
    h.api.watch(vec![]).await;
    assert_eq!(h.table(), [route("shop/a", "/a")]);
    assert_eq!(statuses["a"]["ready"], true);
    let ready = ready_condition(&statuses["o"]);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "CompileError");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("route #0 (\"orders\")"), "{message}");
    assert!(message.contains("routes[0].paymentIdentifier"), "{message}");
    assert!(message.contains("needs a payment ledger"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_410_gone_relists_and_applies_the_new_list_atomically() {
    let mut h = Harness::start_with(
        vec![
            ("shop", "a", priced("/a", "0.01")),
            ("shop", "b", priced("/b", "0.02")),
        ],
        |w| w.namespace("shop"),
    );
    h.api.list(Some("shop")).await;
    h.api.status_patches(2).await;

    // While the watch was away: `b` deleted, `a` changed, `c` created.
    h.api.delete("shop", "b");
    h.api.put("shop", "a", priced("/a", "0.04"));
    h.api.put("shop", "c", priced("/c", "0.03"));
    let gone = json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 3 (9)", "reason": "Expired", "code": 410,
    });
    h.api.watch(vec![("ERROR", gone)]).await;
    // Nothing changed yet: the old table stays until the re-list is complete.
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/b", "/b")]);

    h.api.list(Some("shop")).await;
    let statuses = h.api.status_patches(2).await;
    assert_eq!(statuses.keys().collect::<Vec<_>>(), ["a", "c"]);
    h.api.watch(vec![]).await;
    assert_eq!(h.table(), [route("shop/a", "/a"), route("shop/c", "/c")]);
    assert_eq!(h.amount("/a").as_deref(), Some("40000"));
    let swap = h.last_swap();
    assert_eq!(swap.routes, 2);
    assert!(swap.removed.iter().any(|l| &**l.route() == "/b"));
    assert_eq!(h.swap_count(), 2, "one swap for the whole re-list");
}

#[tokio::test(start_paused = true)]
async fn several_namespaces_are_ready_only_when_each_has_listed() {
    let mut h = Harness::start_with(
        vec![
            ("one", "a", priced("/one", "0.01")),
            ("two", "a", priced("/two", "0.02")),
            ("three", "a", priced("/three", "0.03")),
        ],
        |w| w.namespaces(["two", "one"]).write_status(false),
    );
    let mut listed = Vec::new();
    // Watches are left unanswered (held open), so each namespace's stream waits quietly.
    let mut held = Vec::new();
    while listed.len() < 2 {
        let seen = h.api.next().await;
        if seen.uri.contains("watch=true") {
            // The first namespace listed and went on to watch: not ready before the second.
            assert!(!h.readiness.is_ready());
            assert!(h.table().is_empty());
            held.push(seen);
            continue;
        }
        let ns = if seen.uri.contains("/namespaces/one/") {
            "one"
        } else {
            "two"
        };
        h.api.answer_list(seen, Some(ns));
        listed.push(ns);
    }
    // The last list's watch request follows; by then the table is published.
    let seen = h.api.next().await;
    assert!(seen.uri.contains("watch=true"), "{}", seen.uri);
    assert!(h.readiness.is_ready());
    assert_eq!(
        h.table(),
        [route("one/a", "/one"), route("two/a", "/two")],
        "namespace order, not watch order; `three` is not watched"
    );
}

#[tokio::test(start_paused = true)]
async fn the_label_selector_is_sent_with_list_and_watch() {
    let mut h = Harness::start(|w| w.namespace("shop").labels("team=payments"));
    let seen = h.api.next().await;
    assert!(
        seen.uri.contains("labelSelector=team%3Dpayments"),
        "{}",
        seen.uri
    );
    h.api.answer_list(seen, Some("shop"));
    let uri = h.api.watch(vec![]).await;
    assert!(uri.contains("labelSelector=team%3Dpayments"), "{uri}");
}

#[tokio::test(start_paused = true)]
async fn readiness_fails_when_the_watcher_stops_before_listing() {
    let h = Harness::start(|w| w);
    h.task.abort();
    assert!(h.readiness.ready().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn reloads_and_table_size_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let mut h = Harness::start_with(
        vec![
            ("shop", "a", priced("/a", "0.01")),
            (
                "shop",
                "b",
                json!({ "routes": [ { "path": "/b", "price": "x" } ] }),
            ),
        ],
        |w| w.namespace("shop").write_status(false),
    );
    h.api.list(Some("shop")).await;
    h.api.watch(vec![]).await;

    let mut reloads = BTreeMap::new();
    let mut routes = None;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        match (key.name(), value) {
            ("x402_route_table_reloads_total", DebugValue::Counter(n)) => {
                let result = key.labels().find(|l| l.key() == "result").unwrap();
                reloads.insert(result.value().to_owned(), n);
            }
            ("x402_route_table_routes", DebugValue::Gauge(v)) => routes = Some(v.into_inner()),
            _ => {}
        }
    }
    assert_eq!(reloads.get("ok"), Some(&1));
    assert_eq!(reloads.get("error"), Some(&1));
    assert_eq!(routes, Some(1.0));
}
