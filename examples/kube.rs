//! An axum app whose paid routes come from `X402Route` resources in a Kubernetes cluster.
//!
//! ```text
//! kubectl apply -f examples/kube/crd.yaml -f examples/kube/x402route.yaml
//! cargo run -p examples --features kube --example kube   # uses KUBECONFIG (or in-cluster)
//! curl -i http://127.0.0.1:8080/api/premium/x            # 402 with the route's price
//! kubectl get x4r -A                                     # READY and ACTIVE ROUTES written by the app
//! ```
//!
//! The app answers every path with a small JSON document; which paths are paid, and how much,
//! is decided by the resources, live: edit one and the next request sees it. Until the first
//! complete list of resources is in, `/readyz` answers 503 and the app's listener is not even
//! bound, so no request is ever served with paid routes missing. A resource that does not
//! compile keeps its last good routes; `kubectl describe x4r NAME` shows why.
//!
//! Environment:
//!
//! - `X402_NAMESPACES`: comma-separated namespaces to watch (default: the whole cluster);
//! - `X402_LABEL_SELECTOR`: only resources matching it, e.g. `team=payments`;
//! - `PORT` (default 8080): the app, on 127.0.0.1; `OPS_PORT` (default 8081): `/healthz`,
//!   `/readyz`, `/metrics`;
//! - `X402_FACILITATOR_URL`: a facilitator, instead of the in-process dev facilitator (which
//!   settles nothing on chain).
//!
//! The service account needs `examples/kube/rbac.yaml` (list/watch X402Routes, patch their
//! status).

#![allow(
    clippy::print_stderr,
    reason = "the example reports fatal errors on stderr"
)]

use std::{net::SocketAddr, sync::Arc};

use axum::{Json, Router, http::Uri};
use tokio::net::TcpListener;
use x402_core::{
    RouteTable,
    facilitator::{
        Facilitator, HttpFacilitator,
        dev::{DevFacilitator, DevNetwork},
    },
    network::Network,
};
use x402_gateway::ops::{self, MetricsRecorder, Readiness};
use x402_kube::watch::RouteWatcher;
use x402_tower::{Gate, Paid, RouteTableHandle, X402Layer};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kube example: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // kube's client uses rustls with ring (no aws-lc, no cmake), like the facilitator client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await?;

    let metrics = MetricsRecorder::global();
    let routes = RouteTableHandle::new(RouteTable::empty());
    let mut watcher = RouteWatcher::new(client, routes.clone())
        .on_swap(move |swap| x402_gateway::label_gc(metrics, swap));
    if let Ok(namespaces) = std::env::var("X402_NAMESPACES") {
        watcher = watcher.namespaces(
            namespaces
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty()),
        );
    }
    if let Ok(selector) = std::env::var("X402_LABEL_SELECTOR") {
        watcher = watcher.labels(selector);
    }
    let loaded = watcher.readiness();
    tokio::spawn(watcher.run());

    // Probes first: /readyz says 503 until the routes are loaded.
    let readiness = Arc::new(Readiness::default());
    let ops_listener = bind("OPS_PORT", 8081).await?;
    tracing::info!(ops = %ops_listener.local_addr()?, "serving /healthz, /readyz, /metrics");
    tokio::spawn(axum::serve(ops_listener, ops::router(readiness.clone(), metrics)).into_future());

    let facilitator: Arc<dyn Facilitator> = match std::env::var("X402_FACILITATOR_URL") {
        Ok(url) => Arc::new(HttpFacilitator::builder(url).build()?),
        Err(_) => Arc::new(DevFacilitator::new(
            Network::known().filter_map(|n| DevNetwork::from_network(&n).ok()),
        )),
    };
    let gate = Gate::builder(routes.clone(), facilitator).build()?;

    tracing::info!("waiting for the first complete list of X402Route resources");
    loaded.ready().await?;
    readiness.set_loaded();
    tracing::info!(routes = routes.load().len(), "routes loaded");

    let app = Router::new().fallback(echo).layer(X402Layer::new(gate));
    let listener = bind("PORT", 8080).await?;
    tracing::info!(app = %listener.local_addr()?, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Every path answers what it is and who paid for it (if it is paid).
async fn echo(uri: Uri, paid: Option<Paid>) -> Json<serde_json::Value> {
    let payer = paid.and_then(|Paid(payment)| payment.payer.map(|p| p.to_checksum(None)));
    Json(serde_json::json!({ "path": uri.path(), "paidBy": payer }))
}

async fn bind(variable: &str, default: u16) -> std::io::Result<TcpListener> {
    let port = match std::env::var(variable) {
        Ok(port) => port
            .parse()
            .map_err(|_| std::io::Error::other(format!("{variable}={port:?} is not a port")))?,
        Err(_) => default,
    };
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}
