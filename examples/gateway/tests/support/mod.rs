//! What the ledger and crash tests share: an upstream, the dev facilitator over HTTP, temporary
//! files and free ports on loopback.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, extract::Request, middleware::Next, response::Response, routing::get};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use x402_core::facilitator::dev::DevFacilitator;
use x402_gateway::Running;

/// A spawned server, aborted on drop.
pub(crate) struct Task(JoinHandle<()>);

impl Task {
    /// Aborts `task` when dropped.
    #[allow(dead_code, reason = "not every test binary uses it")]
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        Self(task)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An upstream answering `{"ok":true}` everywhere, counting its hits.
pub(crate) async fn upstream() -> (String, Arc<AtomicUsize>, Task) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = Router::new().fallback(get(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { r#"{"ok":true}"# }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, hits, Task(task))
}

/// An upstream answering every `POST` with the body it received, counting its hits.
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) async fn echo_upstream() -> (String, Arc<AtomicUsize>, Task) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = Router::new().fallback(axum::routing::post(move |body: bytes::Bytes| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { body }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, hits, Task(task))
}

/// `dev` over HTTP: its URL, itself (its record of settlements), and a count of the `/settle`
/// calls it answered.
pub(crate) async fn serve_facilitator(
    dev: DevFacilitator,
) -> (String, Arc<DevFacilitator>, Arc<AtomicUsize>, Task) {
    let dev = Arc::new(dev);
    let settles = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&settles);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let router = x402_tower::dev_facilitator::router(dev.clone()).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let counted = Arc::clone(&counted);
            async move {
                if request.uri().path() == "/settle" {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let response: Response = next.run(request).await;
                response
            }
        },
    ));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, dev, settles, Task(task))
}

static FILES: AtomicUsize = AtomicUsize::new(0);

/// A fresh path in the temp directory (the file and its SQLite companions removed on drop).
pub(crate) struct TempPath(pub(crate) PathBuf);

impl TempPath {
    /// A new path ending in `name`.
    pub(crate) fn new(name: &str) -> Self {
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!(
            "x402-gateway-test-{}-{n}-{name}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A free loopback port (bound, then released for a child process to take).
pub(crate) fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The environment variable naming the PostgreSQL server of the shared-ledger tests.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_URL_VAR: &str = "X402_TEST_POSTGRES_URL";

/// A fresh schema on the PostgreSQL server [`POSTGRES_URL_VAR`] names, migrated: its ledger and
/// the URL that points gateways at it. `None` (the test skips, saying so) when the variable is
/// unset — a failure under `CI=true`, where the server is part of the run.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_schema(
    test: &str,
) -> Option<(x402_core::ledger::PostgresLedger, String)> {
    let Some(url) = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {POSTGRES_URL_VAR} is unset (.ci/run starts PostgreSQL and sets it)"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("SKIPPED {test}: set {POSTGRES_URL_VAR}");
        }
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = format!("x402_gateway_test_{}_{nanos}", std::process::id());
    // Creates the schema and its table; the gateways then use it through the URL's options.
    let ledger = x402_core::ledger::PostgresLedger::connect_in_schema(&url, &schema)
        .await
        .expect("connects and migrates");
    let separator = if url.contains('?') { '&' } else { '?' };
    Some((
        ledger,
        format!("{url}{separator}options=-c%20search_path%3D{schema}"),
    ))
}

/// A gateway started in this process from a config file, stopped on drop.
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) struct Gateway {
    running: Option<Running>,
    stop: Option<oneshot::Sender<()>>,
    /// The address it listens on (`127.0.0.1:port`).
    pub(crate) address: String,
    _file: TempPath,
}

#[allow(dead_code, reason = "not every test binary uses it")]
impl Gateway {
    /// Starts a gateway from `config` (YAML); panics naming the error if it does not start.
    pub(crate) async fn start(config: &str) -> Self {
        let file = TempPath::new("config.yaml");
        std::fs::write(&file.0, config).expect("writes the config");
        let (stop, stopped) = oneshot::channel::<()>();
        let running = x402_gateway::start(file.0.clone(), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap_or_else(|error| panic!("the gateway did not start: {error}"));
        Self {
            address: running.listen.to_string(),
            running: Some(running),
            stop: Some(stop),
            _file: file,
        }
    }

    /// The URL of `path` on the gateway.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops the gateway and waits until it has.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let running = self.running.take().expect("running");
        tokio::time::timeout(std::time::Duration::from_secs(30), running.wait())
            .await
            .expect("the gateway stops")
            .expect("the gateway stopped cleanly");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The tests' HTTP client (reqwest with the workspace's TLS setup).
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) fn client() -> reqwest::Client {
    examples::http_client().expect("client builds")
}

/// A `PAYMENT-SIGNATURE` for the challenge at `url` (fetched without paying), signed by the
/// funded test buyer.
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) async fn payment_for(url: &str) -> String {
    use x402_core::clock::{Clock as _, SystemClock};

    let challenge = examples::request_challenge(&client(), url)
        .await
        .expect("a 402 challenge");
    let buyer: x402_core::evm::signer::PrivateKeySigner =
        examples::BUYER_KEY.parse().expect("valid key");
    examples::sign(&challenge.payment_required, &buyer, SystemClock.now())
        .expect("signs")
        .header
}

/// A JSON body (reqwest is built without its `json` feature here).
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) async fn json(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// The first value of `header` an echoing upstream saw (`{"headers": {name: [values]}}`).
#[allow(dead_code, reason = "not every test binary uses it")]
pub(crate) fn seen<'a>(echo: &'a serde_json::Value, header: &str) -> Option<&'a str> {
    echo["headers"][header][0].as_str()
}
