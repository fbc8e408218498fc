//! The x402 gateway: charge per request in front of any HTTP service, as a reverse proxy or a
//! ForwardAuth server (Traefik `forwardAuth`, nginx `auth_request`, Envoy `ext_authz`).
//!
//! ```text
//! cargo run -p x402-gateway -- --config examples/gateway/proxy.yaml
//! ```
//!
//! `SIGHUP` (or editing the file) reloads the routes; `SIGTERM` or Ctrl-C drains and stops.
//! Logs go to stderr; `RUST_LOG` filters them (default `info`). The gateway itself is
//! the [`x402_gateway`] library.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use tracing_subscriber::EnvFilter;
use x402_core::ErrorChain;
use x402_gateway::config::{GatewayConfig, LogFormat};

#[tokio::main]
async fn main() -> ExitCode {
    let path = config_path();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    // `logFormat` from the file; a file that does not parse is reported by `start` below.
    if path.as_deref().and_then(log_format) == Some(LogFormat::Json) {
        logs.json().init();
    } else {
        logs.init();
    }

    let Some(path) = path else {
        tracing::error!("usage: x402-gateway --config FILE (YAML, or JSON when it ends in .json)");
        return ExitCode::from(2);
    };
    let running = match x402_gateway::start(path, shutdown_signal()).await {
        Ok(running) => running,
        Err(error) => {
            // Every configuration error, each with its route and field.
            tracing::error!("the gateway did not start: {}", ErrorChain(&error));
            return ExitCode::from(1);
        }
    };
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "the gateway failed");
            ExitCode::FAILURE
        }
    }
}

/// The file's `logFormat`, if it can be read.
fn log_format(path: &Path) -> Option<LogFormat> {
    let text = std::fs::read_to_string(path).ok()?;
    let config = GatewayConfig::parse(path, &text).ok()?;
    Some(config.log_format)
}

/// `--config FILE` or `--config=FILE`.
fn config_path() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
