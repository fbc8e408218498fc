//! The x402 gateway: a reverse proxy or a ForwardAuth server that charges per request, for
//! services that cannot embed a Rust library. Run it with
//! `cargo run -p x402-gateway -- --config FILE`.
//!
//! Everything comes from one configuration file ([`config`]): the gateway settings, then
//! `payment` and `routes` exactly as in an `X402Route` spec. [`start`] validates it (refusing
//! to start with every error listed), binds the listeners, and serves until the shutdown
//! signal, then finishes the requests in flight (and their settlements) before returning.
//!
//! - [`proxy`]: proxy mode, `X402Layer` over a streaming reverse proxy, with its timeouts
//!   (`504`/`502`), the forwarding headers ([`forwarded`]), `https://` upstreams
//!   ([`upstream_tls`]), an `upstream` per route, and `Upgrade` pass-through (WebSocket; on a
//!   priced route `101` only after settlement);
//! - the listener: hyper's server, HTTP/1.1 and HTTP/2, the client header-read timeout, TLS
//!   with a certificate reloaded in place ([`listener_tls`]);
//! - [`access_log`]: one structured line per request, never a payment header;
//! - [`limits`]: `maxBodyBytes` (`413`) and `maxConcurrentRequests` (`503`), before anything
//!   else;
//! - ForwardAuth mode: [`x402_tower::ForwardAuth`], the gate driven from `X-Forwarded-*`
//!   headers (`200` with `X-Payment-Payer`, `402`, `403`/`400`, `502`/`503`). The auth hop
//!   cannot see the upstream's status, so it verifies only by default; settling there charges
//!   clients even when the upstream then fails (the gateway warns at startup);
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics` on `metricsListen`, and the metrics recorder
//!   that removes the series of deleted routes.
//!
//! The route table reloads on `SIGHUP` and when the file changes (its modification time and
//! size are polled every second); a file with errors keeps the old table and logs why. Only
//! `payment` and `routes` reload (and the files of the listener's certificate,
//! [`listener_tls`]): the other settings need a restart, and the gateway says so.
//! That includes `replay`: the running replay store is kept (replacing it would forget the
//! payments in flight).
//!
//! With `routesFrom.kubernetes` (feature `kube`, on by default) the table comes from `X402Route` resources instead, through
//! `x402_kube::watch::RouteWatcher` (`route_watcher`): the main listener serves nothing,
//! and `/readyz` answers 503, until the first full list is live; every change is one atomic
//! swap. Every swap, from the file or from the watcher, runs the same label GC ([`label_gc`]).
//! With `routesFrom.kubernetes.ingress: { service, port }` (operator mode, opt-in) the watcher
//! also patches the Ingress each `X402Route` names in `spec.ingressRef`, so that its paid paths
//! reach this gateway's Service (`x402_kube::operator`).
//!
//! With `replay.redis` (feature `redis`, on by default) several instances share one replay store
//! ([`x402_core::replay::RedisReplayGuard`]): a payment in flight or settled on one is refused
//! by the others; Redis not answering within `timeout` refuses the payment with 503.
//!
//! With `ledger: sqlite:///path/ledger.db` (feature `sqlite`, on by default) every payment is
//! recorded in a durable ledger ([`ledger`], [`x402_core::ledger`]) before each step: the
//! ledger is the replay store, a buyer re-sending the same payment header for the same request
//! is served again with its receipt (no second charge), and a background reconciler finishes
//! the settlements the facilitator left pending.
//!
//! Built without a feature, the file's setting that needs it is refused at startup, naming
//! the feature.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = x402_gateway::start("gateway.yaml", async move {
//!     let _ = stopped.await;
//! })
//! .await?;
//! println!("listening on {}", running.listen);
//! let _ = stop.send(());
//! running.wait().await?;
//! # Ok(())
//! # }
//! ```

pub mod access_log;
pub mod config;
pub mod forwarded;
pub mod ledger;
pub mod limits;
pub mod listener_tls;
pub mod ops;
pub mod proxy;
mod serve;
mod upgrade;
pub mod upstream_tls;

use std::{
    collections::BTreeSet,
    future::Future,
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    serve::{ListenerExt, TapIo},
};
use metrics::counter;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};
use tower::Layer;
use x402_core::{
    RouteTable,
    facilitator::{
        Facilitator, HttpFacilitator, HttpFacilitatorConfigError,
        dev::{DevFacilitator, DevNetwork},
    },
    gate::{Gate, GateConfigError, PathRule, RouteTableHandle, TableSwap},
    labels::{ReloadResult, RouteLabels, keys, names},
    network::Network,
    wire::SupportedResponse,
};
#[cfg(feature = "kube")]
use x402_kube::{ingress::GatewayService, operator::IngressOperator, watch::RouteWatcher};
use x402_tower::{BindBodyLayer, ForwardAuth, X402Layer};

#[cfg(feature = "kube")]
use self::config::KubernetesRoutes;
use self::{
    config::{ConfigError, FacilitatorChoice, GatewayConfig, Loaded, Mode, RouteSource},
    ops::{MetricsRecorder, Readiness},
    proxy::{ProxyOptions, ReverseProxy},
    serve::ServerSettings,
};

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid (every error is listed).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The facilitator client could not be built.
    #[error("invalid facilitator settings")]
    Facilitator(#[from] HttpFacilitatorConfigError),
    /// The gate settings are invalid.
    #[error(transparent)]
    Gate(#[from] GateConfigError),
    /// The `ledger` could not be opened (or migrated).
    #[error("cannot open the payment ledger")]
    Ledger(#[from] x402_core::ledger::LedgerError),
    /// `routesFrom.kubernetes` is set and no Kubernetes client could be configured.
    #[cfg(feature = "kube")]
    #[error("routesFrom.kubernetes: no Kubernetes client")]
    Kube(#[from] kube::Error),
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// The address the gateway serves on (useful with port 0).
    pub listen: SocketAddr,
    /// The address of the operations listener, if configured.
    pub ops: Option<SocketAddr>,
    /// The warnings of the configuration, as logged at startup.
    pub warnings: Vec<String>,
    reloader: Arc<Reloader>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Reloads the route table from the file, and the listener's certificate, now (what
    /// `SIGHUP` does). On error the old table (or certificate) stays.
    pub fn reload(&self) -> Result<ReloadSummary, ConfigError> {
        if let Some(certificates) = &self.reloader.certificates {
            certificates.reload_or_log();
        }
        self.reloader.reload()
    }

    /// The live route table.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.reloader.gate.routes().load()
    }

    /// Waits until the gateway has shut down: the shutdown signal came and every request in
    /// flight finished.
    pub async fn wait(self) -> io::Result<()> {
        self.task.await.unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

/// What a successful reload changed.
#[derive(Debug, Clone)]
pub struct ReloadSummary {
    /// Routes in the new table.
    pub routes: usize,
    /// `(route, chain)` pairs whose metric series were removed.
    pub removed: Vec<RouteLabels>,
}

/// Starts the gateway described by the file at `path`; it serves until `shutdown` completes,
/// then drains. Returns once the listeners are bound.
///
/// With `routesFrom.kubernetes`, the Kubernetes client is `kube::Client::try_default()`
/// (`KUBECONFIG`, or the in-cluster service account); `start_with_kube` takes one instead.
pub async fn start(
    path: impl Into<PathBuf>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    start_inner(path.into(), None, shutdown).await
}

/// [`start`], with the client that watches `X402Route` resources when the file sets
/// `routesFrom.kubernetes` (unused otherwise).
#[cfg(feature = "kube")]
pub async fn start_with_kube(
    path: impl Into<PathBuf>,
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    start_inner(path.into(), Some(client), shutdown).await
}

/// The Kubernetes client given to `start_with_kube`, if any (nothing without `kube`).
#[cfg(feature = "kube")]
type KubeClient = Option<kube::Client>;
#[cfg(not(feature = "kube"))]
type KubeClient = Option<std::convert::Infallible>;

async fn start_inner(
    path: PathBuf,
    client: KubeClient,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let supported = startup_supported(&path).await;
    let loaded = config::load_with(&path, supported.as_deref())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let Loaded {
        config,
        table,
        settlement,
        unmatched,
        facilitator,
        upstream,
        upstream_tls,
        listener_tls,
        replay_guard,
        route_source,
        warnings,
    } = loaded;

    let metrics = config
        .metrics_listen
        .and_then(|_| MetricsRecorder::global());
    let facilitator: Arc<dyn Facilitator> = match &facilitator {
        FacilitatorChoice::Dev => Arc::new(DevFacilitator::new(dev_networks(&table))),
        FacilitatorChoice::Url(url) => {
            let http = Arc::new(HttpFacilitator::builder(url.clone()).build()?);
            if let Some(metrics) = metrics {
                metrics.watch_breakers(&http);
            }
            http
        }
    };
    let readiness = Arc::new(Readiness::default());

    // From the file: the table is live now. From Kubernetes: empty until the first full list,
    // and the main listener does not serve until then (see `serve`).
    let (routes, kube_routes) = match route_source {
        RouteSource::File => (swap_in(table, metrics), None),
        #[cfg(feature = "kube")]
        RouteSource::Kubernetes(selection) => {
            let routes = RouteTableHandle::new(RouteTable::empty());
            let client = match client {
                Some(client) => client,
                None => {
                    // kube's client uses rustls with ring, like the facilitator client.
                    let _ = rustls::crypto::ring::default_provider().install_default();
                    kube::Client::try_default().await?
                }
            };
            // Without a ledger, a resource declaring `paymentIdentifier` does not compile (its
            // status says why).
            let watcher = route_watcher(
                client,
                routes.clone(),
                &selection,
                metrics,
                supported.clone(),
            )
            .ledger(config.ledger.is_some());
            let readiness = watcher.readiness();
            let loaded: FirstTable =
                Box::pin(async move { readiness.ready().await.map_err(|error| error.to_string()) });
            (routes, Some((loaded, tokio::spawn(watcher.run()))))
        }
    };
    #[cfg(not(feature = "kube"))]
    let _ = client;
    // The upstream may be any server: refuse what servers read differently (x402_core::path::gateway).
    let reconcile_with = Arc::clone(&facilitator);
    let config_timers = config.ledger_timers();
    let mut builder = Gate::builder(routes, facilitator)
        .path_rule(PathRule::Gateway)
        .settlement(settlement)
        .unmatched(unmatched)
        .trust_forwarded_headers(config.trust_forwarded_headers);
    if let Some(base_url) = &config.base_url {
        builder = builder.base_url(base_url.clone());
    }
    if let Some(discovery) = &config.discovery {
        builder = builder.api_info(discovery.api_info());
    }
    if let Some(guard) = replay_guard {
        builder = builder.replay_guard(guard);
    }
    let payment_ledger = match &config.ledger {
        Some(url) => Some(ledger::open(url, config_timers.claim_lease_seconds).await?),
        None => None,
    };
    if let Some(payment_ledger) = &payment_ledger {
        builder = builder.ledger(Arc::clone(payment_ledger));
    }
    let gate = builder.build()?;

    let listener = bind(config.listen).await?;
    let listen = listener.local_addr().map_err(|source| StartError::Bind {
        address: config.listen,
        source,
    })?;
    let ops_listener = match config.metrics_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let ops = ops_listener.as_ref().and_then(|l| l.local_addr().ok());

    let timeouts = config.timeouts();
    let forwarding = forwarded::Forwarding {
        trust: config.trust_forwarded_headers,
        rfc7239: config.forwarded,
        https: listener_tls.is_some(),
    };
    let upstream = upstream.zip(upstream_tls);
    let server = ServerSettings {
        client_header: timeouts.client_header,
        tls: match &listener_tls {
            Some(certificates) => {
                Some(
                    certificates
                        .server_config()
                        .map_err(|error| ConfigError::Invalid {
                            path: path.clone(),
                            errors: vec![format!("`tls`: {error}")],
                        })?,
                )
            }
            None => None,
        },
    };
    let app = match (config.mode, upstream) {
        // With a ledger, `BindBodyLayer` reads a paid request's body (up to 1 MiB) so that a
        // retry with the same body is served again; without one it passes everything on.
        (Mode::Proxy, Some((upstream, tls))) => {
            let mut options = ProxyOptions::new(forwarding, config.preserve_host, timeouts, tls);
            options.route_upstreams = kube_routes.is_none();
            Router::new().fallback_service(BindBodyLayer::new(gate.clone()).layer(
                X402Layer::new(gate.clone()).layer(ReverseProxy::new(
                    upstream,
                    &options,
                    gate.routes().clone(),
                )),
            ))
        }
        _ => Router::new().fallback_service(ForwardAuth::new(gate.clone())),
    };
    let app = match &config.discovery {
        Some(discovery) => mount_discovery(app, &gate, discovery),
        None => app,
    };
    // The limits come first: a refused request costs no payment work.
    let app = limits::apply(app, config.limits());
    let app = match &payment_ledger {
        Some(payment_ledger) => ledger::mount_usage(
            app,
            Arc::clone(payment_ledger),
            std::env::var(ledger::INTERNAL_SECRET_VAR).ok(),
        ),
        None => app,
    };
    let app = if config.access_log {
        access_log::apply(app, gate.routes().clone())
    } else {
        app
    };

    let (loaded, mut background) = match kube_routes {
        Some((loaded, task)) => (Some(loaded), vec![task]),
        None => {
            readiness.set_loaded();
            (None, Vec::new())
        }
    };
    let reloader = Arc::new(Reloader {
        path: path.clone(),
        certificates: listener_tls,
        gate,
        metrics,
        routes_from_file: loaded.is_none(),
        supported,
        startup: config,
        startup_warnings: warnings.clone(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    background.push(tokio::spawn(watch_file(reloader.clone(), stop_rx.clone())));
    if let Some(payment_ledger) = payment_ledger {
        background.push(ledger::spawn_reconciler(
            payment_ledger,
            reconcile_with,
            config_timers,
            stop_rx.clone(),
        ));
    }

    let task = tokio::spawn(serve(
        listener,
        app,
        server,
        ops_listener.map(|l| (l, ops::router(readiness.clone(), metrics))),
        Serving {
            readiness,
            loaded,
            stop: stop_rx,
            background,
        },
    ));
    tracing::info!(%listen, ops = ?ops, config = %path.display(), "gateway started");
    Ok(Running {
        listen,
        ops,
        warnings,
        reloader,
        task,
    })
}

/// The watcher of `routesFrom.kubernetes`, publishing into `routes` with the label GC on
/// every swap.
#[cfg(feature = "kube")]
pub fn route_watcher(
    client: kube::Client,
    routes: RouteTableHandle,
    selection: &KubernetesRoutes,
    metrics: Option<&'static MetricsRecorder>,
    supported: Option<Arc<SupportedResponse>>,
) -> RouteWatcher {
    let mut watcher = RouteWatcher::new(client, routes)
        .namespaces(selection.namespaces.iter().cloned())
        .write_status(selection.write_status)
        .case_insensitive_by_default(true)
        .on_swap(move |swap| label_gc(metrics, swap));
    if let Some(selector) = &selection.label_selector {
        watcher = watcher.labels(selector.clone());
    }
    if let Some(supported) = supported {
        watcher = watcher.supported(supported);
    }
    if let Some(ingress) = &selection.ingress {
        let service = match &ingress.port {
            config::ServicePort::Number(port) => GatewayService::new(&ingress.service, *port),
            config::ServicePort::Name(port) => GatewayService::named_port(&ingress.service, port),
        };
        watcher = watcher.ingress_operator(IngressOperator::new(service));
    }
    watcher
}

/// A handle on `table` as the first live table (recorded and GC'd like any swap).
fn swap_in(table: RouteTable, metrics: Option<&'static MetricsRecorder>) -> RouteTableHandle {
    let routes = RouteTableHandle::new(RouteTable::empty());
    label_gc(metrics, &routes.replace(table));
    routes
}

/// The label GC of DESIGN.md §6, after every table swap whoever made it (a file reload or
/// the Kubernetes watcher): the series of the `(route, chain)` pairs that left the table go
/// from the next scrape; pairs back in the table stay.
pub fn label_gc(metrics: Option<&MetricsRecorder>, swap: &TableSwap) {
    if let Some(metrics) = metrics {
        metrics.prune(&swap.removed, &swap.live);
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })
}

/// Resolves once the first route table from Kubernetes is live; `Err` names why it never will.
type FirstTable = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What `serve` watches besides the listeners.
struct Serving {
    readiness: Arc<Readiness>,
    /// Routes from Kubernetes: resolves after the first full list.
    loaded: Option<FirstTable>,
    stop: watch::Receiver<bool>,
    /// The file watcher and the Kubernetes watcher, stopped after draining.
    background: Vec<JoinHandle<()>>,
}

/// Answers the discovery documents `discovery` asks for, from the gate's live table; warns
/// about the priced routes they cannot list.
fn mount_discovery(app: Router, gate: &Gate, discovery: &config::DiscoveryConfig) -> Router {
    use x402_core::discovery::Listing;
    use x402_tower::discovery::Discovery;

    let unlisted = gate.routes().load().undiscoverable();
    if !unlisted.is_empty() {
        tracing::warn!(
            routes = ?unlisted,
            "these priced routes are not in the discovery documents: no URL template says a \
             path with `**` or a glob inside a segment"
        );
    }
    let mut app = app;
    for (on, listing) in [
        (discovery.well_known, Listing::WellKnown),
        (discovery.openapi, Listing::OpenApi),
    ] {
        if on {
            app = app.route_service(listing.path(), Discovery::document(gate.clone(), listing));
        }
    }
    app
}

/// `listener` with `TCP_NODELAY` set on every accepted connection (see [`serve::set_nodelay`]);
/// the operations listener is axum's own server.
fn without_nagle(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    fn set_nodelay(tcp: &mut TcpStream) {
        serve::set_nodelay(tcp);
    }
    listener.tap_io(set_nodelay)
}

/// Serves until the stop signal, drains the main listener (readiness says so meanwhile), then
/// stops the operations listener. With routes from Kubernetes, the main listener accepts
/// nothing until the first full list is live (`/readyz` answers 503 meanwhile), so a paid
/// route is never served as unmatched during start-up.
async fn serve(
    listener: TcpListener,
    app: Router,
    server: ServerSettings,
    ops: Option<(TcpListener, Router)>,
    serving: Serving,
) -> io::Result<()> {
    let Serving {
        readiness,
        loaded,
        stop,
        background,
    } = serving;
    let (ops_done_tx, ops_done_rx) = watch::channel(false);
    let ops_task = ops.map(|(listener, router)| {
        tokio::spawn(async move {
            axum::serve(without_nagle(listener), router)
                .with_graceful_shutdown(stopped(ops_done_rx))
                .await
        })
    });
    let listed = match loaded {
        None => true,
        Some(loaded) => {
            tracing::info!("waiting for the first full list of X402Route resources");
            tokio::select! {
                result = loaded => match result {
                    Ok(()) => {
                        readiness.set_loaded();
                        tracing::info!("routes from Kubernetes loaded: serving");
                        true
                    }
                    Err(error) => {
                        tracing::error!(%error, "not serving");
                        false
                    }
                },
                () = stopped(stop.clone()) => false,
            }
        }
    };
    let served = if listed {
        let draining = {
            let stop = stop.clone();
            let readiness = readiness.clone();
            async move {
                stopped(stop).await;
                readiness.set_draining();
                tracing::info!("shutting down: finishing requests in flight");
            }
        };
        serve::serve(listener, app, server, draining).await
    } else {
        readiness.set_draining();
        Ok(())
    };
    for task in background {
        task.abort();
    }
    let _ = ops_done_tx.send(true);
    if let Some(task) = ops_task {
        task.await.map_err(io::Error::other)??;
    }
    tracing::info!("gateway stopped");
    served
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Every network the dev facilitator may see: the known ones, and the table's (so a reload
/// adding a route on another network works).
fn dev_networks(table: &RouteTable) -> Vec<DevNetwork> {
    let mut networks: Vec<Network> = Network::known().collect();
    for route in table.routes() {
        if let Some(offer) = route.offer() {
            networks.extend(offer.accepts().iter().map(|a| a.network().clone()));
        }
    }
    let mut seen = BTreeSet::new();
    networks
        .iter()
        .filter(|n| seen.insert(n.caip2().to_owned()))
        .filter_map(|n| DevNetwork::from_network(n).ok())
        .collect()
}

/// The facilitator's `/supported` answer when some route is `scheme: upto` (its offer names
/// the facilitator's address), fetched once at startup and kept for every reload, so that the
/// 402 and the paid retry name the same address. `None` (and a warning) when the facilitator
/// cannot answer: the `upto` options are then not offered, and the table build says why.
async fn startup_supported(path: &Path) -> Option<Arc<SupportedResponse>> {
    let text = std::fs::read_to_string(path).ok()?;
    let config = GatewayConfig::parse(path, &text).ok()?;
    if !config.needs_supported() {
        return None;
    }
    let facilitator: Arc<dyn Facilitator> = if config.facilitator.as_deref() == Some("dev") {
        let networks = Network::known().filter_map(|n| DevNetwork::from_network(&n).ok());
        Arc::new(DevFacilitator::new(networks))
    } else {
        let url = config.payment.facilitator_url.clone()?;
        Arc::new(HttpFacilitator::builder(url).build().ok()?)
    };
    match facilitator.supported().await {
        Ok(supported) => Some(supported),
        Err(error) => {
            tracing::warn!(%error, "the facilitator's /supported is unavailable; `upto` routes are not offered");
            None
        }
    }
}

/// Reloads the route table from the file.
#[derive(Debug)]
struct Reloader {
    path: PathBuf,
    /// The listener's certificate (`tls`), reloaded with the file.
    certificates: Option<Arc<listener_tls::Certificates>>,
    /// The facilitator's `/supported` of startup (see `startup_supported`).
    supported: Option<Arc<SupportedResponse>>,
    gate: Gate,
    metrics: Option<&'static MetricsRecorder>,
    /// `false` with `routesFrom.kubernetes`: a reload then checks the file and swaps nothing.
    routes_from_file: bool,
    startup: GatewayConfig,
    startup_warnings: Vec<String>,
}

impl Reloader {
    fn reload(&self) -> Result<ReloadSummary, ConfigError> {
        let loaded = match config::load_with(&self.path, self.supported.as_deref()) {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!("reload refused, keeping the current routes: {error}");
                counter!(names::ROUTE_TABLE_RELOADS_TOTAL, keys::RESULT => ReloadResult::Error.as_str())
                    .increment(1);
                return Err(error);
            }
        };
        for setting in restart_needed(&self.startup, &loaded.config) {
            tracing::warn!("reload: `{setting}` changed; it takes effect after a restart");
        }
        // Warnings about the table (shadowed routes); the startup ones were logged already.
        for warning in loaded
            .warnings
            .iter()
            .filter(|w| !self.startup_warnings.contains(w))
        {
            tracing::warn!("{warning}");
        }
        if !self.routes_from_file {
            tracing::info!("reload: the routes come from Kubernetes; the file's table is not used");
            return Ok(ReloadSummary {
                routes: self.gate.routes().load().len(),
                removed: Vec::new(),
            });
        }
        let swap = self.gate.routes().replace(loaded.table);
        label_gc(self.metrics, &swap);
        let TableSwap {
            routes, removed, ..
        } = swap;
        let removed: Vec<RouteLabels> = removed.into_iter().collect();
        tracing::info!(
            routes,
            removed = ?removed.iter().map(|l| format!("{}@{}", l.route(), l.chain())).collect::<Vec<_>>(),
            "route table reloaded"
        );
        Ok(ReloadSummary { routes, removed })
    }
}

/// The settings that differ between the startup file and a reloaded one (only `payment` and
/// `routes` reload).
fn restart_needed(startup: &GatewayConfig, now: &GatewayConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let checks: [(&'static str, bool); 22] = [
        ("listen", startup.listen != now.listen),
        // The certificate files reload; which files they are does not.
        ("tls", startup.tls != now.tls),
        ("mode", startup.mode != now.mode),
        ("upstream", startup.upstream != now.upstream),
        ("upstreamTls", startup.upstream_tls != now.upstream_tls),
        ("unmatched", startup.unmatched != now.unmatched),
        ("settlement", startup.settlement != now.settlement),
        (
            "trustForwardedHeaders",
            startup.trust_forwarded_headers != now.trust_forwarded_headers,
        ),
        ("baseUrl", startup.base_url != now.base_url),
        ("forwarded", startup.forwarded != now.forwarded),
        ("accessLog", startup.access_log != now.access_log),
        ("logFormat", startup.log_format != now.log_format),
        ("preserveHost", startup.preserve_host != now.preserve_host),
        ("timeouts", startup.timeouts != now.timeouts),
        ("maxBodyBytes", startup.max_body_bytes != now.max_body_bytes),
        (
            "maxConcurrentRequests",
            startup.max_concurrent_requests != now.max_concurrent_requests,
        ),
        (
            "metricsListen",
            startup.metrics_listen != now.metrics_listen,
        ),
        (
            "facilitator / payment.facilitatorURL",
            startup.facilitator != now.facilitator
                || startup.payment.facilitator_url != now.payment.facilitator_url,
        ),
        // The running replay store is kept: replacing it would forget the payments in flight.
        ("replay", startup.replay != now.replay),
        // Likewise the open ledger.
        ("ledger", startup.ledger != now.ledger),
        ("ledgerTiming", startup.ledger_timing != now.ledger_timing),
        ("routesFrom", startup.routes_from != now.routes_from),
    ];
    for (name, differs) in checks {
        if differs {
            changed.push(name);
        }
    }
    changed
}

/// Reloads on `SIGHUP` and when the file's modification time or size changes (polled every
/// second).
async fn watch_file(reloader: Arc<Reloader>, stop: watch::Receiver<bool>) {
    let mut last = stamp(&reloader.path);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hangup = hangup_signal();
    let stopped = stopped(stop);
    tokio::pin!(stopped);
    loop {
        let forced = tokio::select! {
            () = &mut stopped => return,
            _ = tick.tick() => false,
            () = next_hangup(&mut hangup) => true,
        };
        if let Some(certificates) = &reloader.certificates {
            if forced {
                certificates.reload_or_log();
            } else {
                certificates.reload_if_changed();
            }
        }
        let now = stamp(&reloader.path);
        if forced || now != last {
            last = now;
            let _ = reloader.reload();
        }
    }
}

/// The file's modification time and length, when it can be read.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(signal: &mut Hangup) {
    match signal {
        Some(signal) => {
            if signal.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the route table");
                return;
            }
            std::future::pending::<()>().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener as _;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = without_nagle(listener);
        let client = tokio::spawn(TcpStream::connect(address));
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY not set");
        drop(client.await.unwrap().unwrap());
    }
}
