//! The usage API ([`x402_core::usage`]) as an actix-web scope.
//!
//! ```no_run
//! # async fn run(ledger: std::sync::Arc<dyn x402_core::ledger::Ledger>) -> std::io::Result<()> {
//! use actix_web::{App, HttpServer};
//! use x402_core::usage::UsageApi;
//!
//! let api = UsageApi::new(ledger, std::env::var("X402_INTERNAL_SECRET").ok());
//! HttpServer::new(move || App::new().service(x402_actix::usage::scope(api.clone())))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{
    HttpRequest, HttpResponse, Scope,
    http::{StatusCode, header},
    web,
};
use x402_core::{
    gate::headers,
    usage::{PREFIX, SECRET_HEADER, UsageApi},
};

/// A scope answering every `/internal/*` path from `api`.
pub fn scope(api: UsageApi) -> Scope {
    web::scope(PREFIX)
        .app_data(web::Data::new(api))
        .default_service(web::to(answer))
}

async fn answer(request: HttpRequest, api: web::Data<UsageApi>) -> HttpResponse {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secret = request
        .headers()
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes());
    let query = Some(request.query_string()).filter(|q| !q.is_empty());
    let answer = api
        .answer(
            request.method().as_str(),
            request.path(),
            query,
            secret,
            now,
        )
        .await;
    HttpResponse::build(
        StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .insert_header((header::CONTENT_TYPE, headers::JSON))
    .insert_header((header::CACHE_CONTROL, headers::NO_STORE))
    .body(answer.into_body())
}
