//! The Prometheus rules and the Grafana dashboard of `examples/kube/`, against real tools:
//!
//! - the plain rule groups (`prometheus-rules.groups.yaml`) are the `spec` of the
//!   PrometheusRule (`prometheus-rules.yaml`), generated from it;
//! - `promtool check rules` and `promtool test rules` (synthetic series,
//!   `prometheus-rules.test.yaml`);
//! - end to end: a real Prometheus server on loopback scrapes the gateway every 500 ms while the
//!   test pays it through the dev facilitator (over HTTP); the recording rules then give each
//!   route's revenue on its chain, and every query of the dashboard returns data.
//!
//! Prometheus and promtool come from Debian's `prometheus` package (`.ci/run` installs it).
//! Without them the tests say so and skip, except under `CI=true`, where they fail.

#[allow(dead_code, reason = "the shared helpers this test does not use")]
mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::Request,
    http::StatusCode as AxumStatus,
    middleware::Next,
    response::{IntoResponse, Response},
};
use examples::BUYER_KEY;
use reqwest::StatusCode;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use support::{TempPath, free_port, upstream};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use x402_core::{
    clock::{Clock as _, SystemClock},
    codec,
    evm::signer::PrivateKeySigner,
    facilitator::dev::{DevFacilitator, DevNetwork},
};

const KUBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kube");
/// Set to rewrite `prometheus-rules.groups.yaml` from `prometheus-rules.yaml`.
const WRITE_VAR: &str = "X402_WRITE_RULE_GROUPS";
/// The recipient of every priced route (anvil's test address #1).
const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Bounds every wait, so a broken setup fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

fn kube(name: &str) -> PathBuf {
    Path::new(KUBE).join(name)
}

/// `name` on the `PATH`; `None` (the test skips, saying why) when absent — a failure under
/// `CI=true`, where `.ci/run` installs it.
fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but `{name}` is not installed (.ci/run installs Debian's `prometheus`)"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("SKIPPED {test}: `{name}` not found (apt-get install prometheus)");
        }
    }
    found
}

/// The plain rule groups: the PrometheusRule's `spec`, with a header saying where it is from.
fn rule_groups() -> String {
    let text = std::fs::read_to_string(kube("prometheus-rules.yaml")).expect("reads the rules");
    let rule: Yaml = serde_yaml_ng::from_str(&text).expect("the PrometheusRule is YAML");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let spec = serde_yaml_ng::to_string(&rule["spec"]).expect("serializes");
    format!(
        "# GENERATED from prometheus-rules.yaml (its `spec`): the rule groups for Prometheus'\n\
         # `rule_files` and promtool. Edit prometheus-rules.yaml, then run\n\
         # `{WRITE_VAR}=1 cargo test -p x402-gateway --test prometheus`.\n{spec}"
    )
}

#[test]
fn the_plain_rule_groups_are_generated_from_the_prometheus_rule() {
    let generated = rule_groups();
    let path = kube("prometheus-rules.groups.yaml");
    if std::env::var_os(WRITE_VAR).is_some() {
        std::fs::write(&path, &generated).expect("writes the groups");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == checked_in,
        "examples/kube/prometheus-rules.groups.yaml is stale: run \
         `{WRITE_VAR}=1 cargo test -p x402-gateway --test prometheus` and review the diff"
    );
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let Some(promtool) = tool("promtool", "promtool_checks_the_rules") else {
        return;
    };
    for args in [
        ["check", "rules", "prometheus-rules.groups.yaml"],
        ["test", "rules", "prometheus-rules.test.yaml"],
    ] {
        let output = Command::new(&promtool)
            .args(args)
            .current_dir(KUBE)
            .output()
            .expect("promtool runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
        assert!(text.contains("SUCCESS"), "promtool {args:?}:\n{text}");
    }
}

/// The dashboard's queries, with Grafana's interval variable replaced by a window that holds
/// the whole test run.
fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(kube("grafana-dashboard.json")).expect("reads the dashboard");
    let dashboard: Json = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().expect("a title").to_owned();
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id taken"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            let expr = expr.replace("$__rate_interval", "1m");
            assert!(
                !expr.contains('$'),
                "{title}: an unknown variable in {expr}"
            );
            queries.push((title.clone(), expr));
        }
    }
    queries
}

// ---------------------------------------------------------------------------------------------
// End to end.

/// A spawned server, aborted on drop.
struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The dev facilitator over HTTP on Base Sepolia and Base; `/verify` answers 500 while
/// `failing` is set.
async fn facilitator(failing: Arc<AtomicBool>) -> (String, Abort) {
    let dev = Arc::new(DevFacilitator::new([
        DevNetwork::base_sepolia(),
        DevNetwork::new("eip155:8453", Some("base")).expect("Base"),
    ]));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let router = x402_tower::dev_facilitator::router(dev).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let fail = failing.load(Ordering::SeqCst) && request.uri().path() == "/verify";
            async move {
                if fail {
                    (AxumStatus::INTERNAL_SERVER_ERROR, "facilitator trouble").into_response()
                } else {
                    let response: Response = next.run(request).await;
                    response
                }
            }
        },
    ));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, Abort(task))
}

/// A Prometheus server, killed on drop (its data directory removed).
struct Prometheus {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Scraping `target` every 500 ms, evaluating the rules (every group) as often.
    fn start(binary: &Path, target: &str) -> Self {
        let dir = TempPath::new("prometheus").0.clone();
        std::fs::create_dir_all(dir.join("data")).expect("creates the data directory");
        let mut groups: Yaml =
            serde_yaml_ng::from_str(&rule_groups()).expect("the groups are YAML");
        for group in groups["groups"].as_sequence_mut().expect("groups") {
            group["interval"] = Yaml::from("500ms");
        }
        std::fs::write(
            dir.join("rules.yaml"),
            serde_yaml_ng::to_string(&groups).expect("serializes"),
        )
        .expect("writes the rules");
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global: {{ scrape_interval: 500ms, scrape_timeout: 400ms, evaluation_interval: 500ms }}\n\
                 rule_files: [rules.yaml]\n\
                 scrape_configs:\n  - job_name: x402-gateway\n    static_configs: [{{ targets: [\"{target}\"] }}]\n"
            ),
        )
        .expect("writes the configuration");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Waits (bounded) until the server answers `/-/ready`; fails if it exited.
    async fn ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("polls the child") {
                panic!("prometheus exited: {status}");
            }
            let answer = client.get(format!("{}/-/ready", self.url)).send().await;
            if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "prometheus never got ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The instant vector `query` evaluates to now: `(labels, value)` per series.
    async fn query(&self, client: &reqwest::Client, query: &str) -> Vec<(Json, f64)> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url),
            [("query", query)],
        )
        .expect("a query URL");
        let response = client.get(url).send().await.expect("Prometheus answers");
        let body: Json = serde_json::from_slice(&response.bytes().await.expect("a body"))
            .expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|sample| {
                let value = sample["value"][1].as_str().expect("a value");
                (sample["metric"].clone(), value.parse().expect("a number"))
            })
            .collect()
    }

    /// Waits (bounded) until `ready` holds for the result of `query`; returns that result.
    async fn until(
        &self,
        client: &reqwest::Client,
        query: &str,
        ready: impl Fn(&[(Json, f64)]) -> bool,
    ) -> Vec<(Json, f64)> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let result = self.query(client, query).await;
            if ready(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "{query} never got there: {result:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn value(result: &[(Json, f64)], labels: &[(&str, &str)]) -> Option<f64> {
    result
        .iter()
        .find(|(metric, _)| labels.iter().all(|(k, v)| metric[*k] == *v))
        .map(|(_, value)| *value)
}

/// Pays `url` once (fetching its challenge first, as a buyer does); the status of the paid try.
async fn pay(client: &reqwest::Client, url: &str) -> StatusCode {
    let challenge = examples::request_challenge(client, url)
        .await
        .expect("a 402 challenge");
    let buyer: PrivateKeySigner = BUYER_KEY.parse().expect("the test key");
    let signed =
        examples::sign(&challenge.payment_required, &buyer, SystemClock.now()).expect("signs");
    client
        .get(url)
        .header(codec::PAYMENT_SIGNATURE, signed.header)
        .send()
        .await
        .expect("answered")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scraping_the_gateway_records_revenue_by_route_and_chain() {
    let Some(binary) = tool("prometheus", "prometheus_scraping_the_gateway") else {
        return;
    };
    let started = Instant::now();
    let (upstream, _hits, _upstream_task) = upstream().await;
    let failing = Arc::new(AtomicBool::new(false));
    let (facilitator_url, _facilitator_task) = facilitator(Arc::clone(&failing)).await;
    // weather inherits the default network; premium is on Base; cold is never requested.
    let config = TempPath::new("prometheus.yaml");
    std::fs::write(
        &config.0,
        format!(
            r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{upstream}
metricsListen: 127.0.0.1:0
payment:
  wallet: "{PAY_TO}"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: {facilitator_url}
routes:
  - {{ path: /health, name: health, free: true }}
  - {{ path: /weather, name: weather }}
  - {{ path: /premium, name: premium, price: "$0.01", network: base }}
  - {{ path: /cold, name: cold }}
"#
        ),
    )
    .expect("writes the configuration");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = x402_gateway::start(config.0.clone(), async move {
        let _ = stopped.await;
    })
    .await
    .expect("the gateway starts");
    let base = format!("http://{}", running.listen);
    let ops = running.ops.expect("the metrics listener");
    let mut prometheus = Prometheus::start(&binary, &ops.to_string());
    let client = examples::http_client().expect("a client");
    prometheus.ready(&client).await;

    // Prometheus has scraped every route's counters (at 0) before the first payment: without
    // them, the first payment of each route would be the first sample, invisible to increase().
    prometheus
        .until(&client, "x402_amount_settled_total", |r| r.len() == 3)
        .await;

    // 3 payments of 1000 on weather (Base Sepolia), 2 of 10000 on premium (Base), a request
    // the facilitator fails, a refused payment and a free request.
    for _ in 0..3 {
        assert_eq!(
            pay(&client, &format!("{base}/weather")).await,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        assert_eq!(
            pay(&client, &format!("{base}/premium")).await,
            StatusCode::OK
        );
    }
    failing.store(true, Ordering::SeqCst);
    assert_eq!(
        pay(&client, &format!("{base}/weather")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    failing.store(false, Ordering::SeqCst);
    let refused = client
        .get(format!("{base}/weather"))
        .header(codec::PAYMENT_SIGNATURE, "not a payment")
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let free = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("answered");
    assert_eq!(free.status(), StatusCode::OK);

    // The exporter's own counts are exact.
    let raw = prometheus
        .until(&client, "x402_amount_settled_total", |r| {
            value(r, &[("route", "premium")]) == Some(20000.0)
                && value(r, &[("route", "weather")]) == Some(3000.0)
        })
        .await;
    assert_eq!(value(&raw, &[("route", "cold")]), Some(0.0));

    // The recording rules: increase() extrapolates to the end of its window by up to one
    // scrape interval, so a value is at least the revenue and less than half a payment more
    // once the samples span a few seconds.
    let near = |got: Option<f64>, expected: f64, price: f64| {
        got.is_some_and(|got| got >= expected && got < expected + price / 2.0)
    };
    for rule in [
        "x402:revenue_atomic:24h_by_route_chain",
        "x402:revenue_atomic:7d_by_route_chain",
    ] {
        let revenue = prometheus
            .until(&client, rule, |r| {
                near(
                    value(r, &[("route", "weather"), ("chain", "eip155:84532")]),
                    3000.0,
                    1000.0,
                ) && near(
                    value(r, &[("route", "premium"), ("chain", "eip155:8453")]),
                    20000.0,
                    10000.0,
                )
            })
            .await;
        assert_eq!(
            value(&revenue, &[("route", "cold"), ("chain", "eip155:84532")]),
            Some(0.0),
            "{rule}: the cold route reads 0: {revenue:?}"
        );
        assert_eq!(
            revenue.len(),
            3,
            "{rule}: one series per priced route: {revenue:?}"
        );
    }
    let lifetime = prometheus
        .until(&client, "x402:revenue_atomic:lifetime_by_route", |r| {
            near(value(r, &[("route", "weather")]), 3000.0, 1000.0)
                && near(value(r, &[("route", "premium")]), 20000.0, 10000.0)
        })
        .await;
    assert_eq!(value(&lifetime, &[("route", "cold")]), Some(0.0));

    let rate = prometheus
        .query(&client, "x402:settlement_rate:1h_by_route_chain")
        .await;
    let weather = value(&rate, &[("route", "weather"), ("chain", "eip155:84532")]);
    assert!(
        weather.is_some_and(|r| r > 0.0 && r < 1.0),
        "weather: paid 3 of its 402s, refused and failed some: {rate:?}"
    );
    assert_eq!(
        value(&rate, &[("route", "cold"), ("chain", "eip155:84532")]),
        Some(0.0),
        "the cold route's rate is 0, not NaN: {rate:?}"
    );
    assert!(
        value(&rate, &[("route", "health")]).is_none(),
        "a free route has no settlement rate: {rate:?}"
    );

    // No recording rule ever carries a blank chain.
    let blank = prometheus
        .query(&client, r#"{__name__=~"x402:.+_by_route_chain", chain=""}"#)
        .await;
    assert!(blank.is_empty(), "{blank:?}");

    // Every query of the dashboard returns data: a number for at least one series (a ratio
    // over an idle series, e.g. the latency of an operation not called lately, is NaN).
    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    for (title, expr) in queries {
        let result = prometheus
            .until(&client, &expr, |r| r.iter().any(|(_, v)| v.is_finite()))
            .await;
        assert!(!result.is_empty(), "{title}: {expr}");
    }
    let breaker = prometheus
        .query(&client, "x402_facilitator_breaker_state")
        .await;
    assert_eq!(breaker.len(), 1, "{breaker:?}");
    assert_eq!(breaker[0].1, 0.0, "closed: {breaker:?}");

    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, running.wait())
        .await
        .expect("the gateway stops")
        .expect("the gateway stopped cleanly");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("end to end with Prometheus: {:?}", started.elapsed());
    }
}
