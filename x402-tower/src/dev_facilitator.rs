//! The dev facilitator over HTTP: `POST /verify`, `POST /settle`, `GET /supported`.
//!
//! Serves [`DevFacilitator`] with the facilitator HTTP API, so the gateway, other processes or
//! other languages' x402 servers can point at it. Like the type it serves, it **settles nothing
//! on chain**: it checks signatures locally and keeps an in-memory ledger. For tests and demos.
//!
//! ```no_run
//! use std::sync::Arc;
//! use x402_core::facilitator::dev::{DevFacilitator, DevNetwork};
//!
//! # async fn run() -> std::io::Result<()> {
//! let dev = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4022").await?;
//! axum::serve(listener, x402_tower::dev_facilitator::router(dev)).await
//! # }
//! ```

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use x402_core::facilitator::{Facilitator, dev::DevFacilitator};

/// An axum router serving `dev` as a facilitator.
pub fn router(dev: Arc<DevFacilitator>) -> Router {
    Router::new()
        .route("/verify", post(verify))
        .route("/settle", post(settle))
        .route("/supported", get(supported))
        .with_state(dev)
}

async fn verify(State(dev): State<Arc<DevFacilitator>>, body: Bytes) -> Response {
    match dev.verify_body(&body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => bad_request(&error),
    }
}

async fn settle(State(dev): State<Arc<DevFacilitator>>, body: Bytes) -> Response {
    match dev.settle_body(&body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => bad_request(&error),
    }
}

async fn supported(State(dev): State<Arc<DevFacilitator>>) -> Response {
    match dev.supported().await {
        Ok(answer) => Json(&*answer).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": x402_core::ErrorChain(&error).to_string() })),
        )
            .into_response(),
    }
}

fn bad_request(error: &dyn std::error::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": x402_core::ErrorChain(error).to_string() })),
    )
        .into_response()
}
