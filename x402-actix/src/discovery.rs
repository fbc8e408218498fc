//! The [discovery documents](x402_core::discovery) as actix-web resources:
//! `/.well-known/x402.json` and `/openapi.json`, generated from the gate's live route table.
//!
//! ```no_run
//! # async fn run(gate: x402_core::gate::Gate) -> std::io::Result<()> {
//! use actix_web::{App, HttpServer};
//!
//! HttpServer::new(move || App::new().service(x402_actix::discovery::resources(gate.clone())))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```

use actix_web::{HttpRequest, HttpResponse, Resource, web};
use x402_core::{discovery::Listing, gate::Gate};

use crate::middleware::{Headers, reply_response, request_parts};

/// Both documents at their usual paths ([`Listing::path`]), answering `GET` and `HEAD`.
pub fn resources(gate: Gate) -> (Resource, Resource) {
    (
        resource(gate.clone(), Listing::WellKnown, Listing::WellKnown.path()),
        resource(gate, Listing::OpenApi, Listing::OpenApi.path()),
    )
}

/// `listing` at `path`.
pub fn resource(gate: Gate, listing: Listing, path: &str) -> Resource {
    web::resource(path)
        .app_data(web::Data::new((gate, listing)))
        .route(web::get().to(answer))
        .route(web::head().to(answer))
}

async fn answer(request: HttpRequest, state: web::Data<(Gate, Listing)>) -> HttpResponse {
    let (gate, listing) = state.get_ref();
    let headers = Headers(request.headers());
    reply_response(gate.discovery(*listing, &request_parts(&request, &headers)))
}
