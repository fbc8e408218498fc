//! A paid streamed response: an LLM-style handler that sends one chunk every 50 ms for 2 s.
//!
//! ```sh
//! cargo run -p examples --example streaming
//! curl -i http://127.0.0.1:4023/stream     # 402 Payment Required
//! ```
//!
//! `GET /stream` costs $0.001 in USDC on Base Sepolia; `GET /health` is free. Settings, from the
//! environment: `PORT` (default 4023), `X402_PAY_TO` (default a demo address) and
//! `X402_FACILITATOR_URL` (without it, the in-process dev facilitator, which settles nothing on
//! chain).
//!
//! What it shows: [`X402Layer`] settles as soon as the handler has returned its status and
//! headers, then passes the body through as the handler produces it. A paying client gets its
//! first chunk right after settlement, not after the last chunk: the body is never buffered.
//! (Settlement cannot wait for the end of a stream: once the first byte is sent the status can no
//! longer change, so a handler that may fail must do so before it returns its response.)

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its banner and its errors"
)]

use std::{process::ExitCode, sync::Arc, time::Duration};

use axum::{Router, body::Body, http::header, response::Response, routing::get};
use bytes::Bytes;
use x402_core::{RouteTable, facilitator::Facilitator, spec::RouteSpec};
use x402_tower::{Gate, RouteTableHandle, X402Layer};

/// The routes: `/stream` priced, `/health` free. The wallet comes from `X402_PAY_TO`.
const ROUTES: &str = r#"
payment: { network: base-sepolia }
routes:
  - { path: /stream, name: stream, methods: [GET], price: "$0.001", description: A streamed completion, mimeType: text/plain }
  - { path: /health, name: health, free: true }
"#;

/// How many chunks `/stream` sends, and how long apart.
const CHUNKS: u32 = 40;
const CHUNK_EVERY: Duration = Duration::from_millis(50);

/// Answers at once with a body that yields `token 1 ... token 40`, one every 50 ms.
async fn stream() -> Response {
    let chunks = futures_util::stream::unfold(1, |n| async move {
        if n > CHUNKS {
            return None;
        }
        tokio::time::sleep(CHUNK_EVERY).await;
        let chunk = Bytes::from(format!("token {n}\n"));
        Some((Ok::<_, std::convert::Infallible>(chunk), n + 1))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The app: [`ROUTES`] paid to `pay_to` through `facilitator`.
fn app(pay_to: &str, facilitator: Arc<dyn Facilitator>) -> Result<Router, String> {
    let mut spec = RouteSpec::from_yaml(ROUTES).map_err(|e| e.to_string())?;
    spec.payment.wallet = Some(pay_to.to_owned());
    let routes = RouteTable::from_spec(&spec).map_err(|e| e.to_string())?;
    let gate = Gate::builder(RouteTableHandle::new(routes), facilitator)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/stream", get(stream))
        .route("/health", get(|| async { "ok" }))
        .layer(X402Layer::new(gate)))
}

async fn run() -> Result<(), String> {
    let pay_to = std::env::var("X402_PAY_TO").unwrap_or_else(|_| examples::DEMO_PAY_TO.to_owned());
    let (facilitator, facilitator_name) = examples::facilitator_from_env()?;
    let app = app(&pay_to, facilitator)?;
    let (listener, address) = examples::listen_on_loopback(4023, "streaming").await?;
    println!("x402 streaming example on http://{address}");
    println!("  facilitator: {facilitator_name}");
    println!(
        "  curl -i http://{address}/stream    # 402; pay it to get {CHUNKS} chunks, 50 ms apart"
    );
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("the server stopped: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("streaming: {message}");
            ExitCode::FAILURE
        }
    }
}
