//! The conformance suite against the actix-web adapter, with an actix-web app.
//!
//! actix-web services are `!Send`, and the suite's [`AppUnderTest`] hands out `Send` futures
//! run on a multi-thread tokio runtime. So each app lives on its own thread, in an actix
//! `System`, built with `actix_web::test::init_service` and driven with `call_service`; the
//! test sends it requests over a channel. A request whose caller goes away (the disconnect
//! case) has its call future dropped on the actix side, as a server would on a closed
//! connection.

use std::{future::Future, pin::Pin, rc::Rc, sync::Arc};

use actix_web::{
    App, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::Method,
    rt::System,
    test, web,
};
use tests::{AppFactory, AppUnderTest, TestRequest, TestResponse};
use tokio::sync::{mpsc, oneshot, watch};
use x402_actix::{Paid, SettlementOverrides, X402};
use x402_core::gate::Gate;

async fn weather(payment: Option<Paid>, request: HttpRequest) -> HttpResponse {
    let payer = payment
        .and_then(|Paid(p)| p.payer)
        .map_or_else(|| "none".to_owned(), |p| p.to_checksum(None));
    let headers = request.headers();
    let saw_header = headers.contains_key("payment-signature") || headers.contains_key("x-payment");
    HttpResponse::Ok()
        .insert_header(("x-seen-payer", payer))
        .insert_header((
            "x-seen-payment-header",
            if saw_header { "yes" } else { "no" },
        ))
        .insert_header(("content-type", "application/json"))
        .body(r#"{"weather":"sunny"}"#)
}

async fn metered(request: HttpRequest) -> HttpResponse {
    let headers = request.headers();
    let mut response = HttpResponse::Ok();
    if let Some(value) = headers.get("x-charge-header") {
        response.insert_header(("settlement-overrides", value.clone()));
    }
    if let Some(units) = headers
        .get("x-charge-typed")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        response
            .extensions_mut()
            .insert(SettlementOverrides::atomic(alloy_primitives::U256::from(
                units,
            )));
    }
    response.body("metered")
}

async fn stream() -> HttpResponse {
    let chunks = tests::app::stream_chunks();
    HttpResponse::Ok().streaming(chunks)
}

/// The app of `tests::app`, the same routes as the axum app of `tests/tower.rs`.
fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(|| async { "ok" }))
        .route("/open", web::get().to(|| async { "open" }))
        .route("/weather", web::get().to(weather))
        .route(
            "/fail",
            web::get().to(|| async { HttpResponse::InternalServerError().body("boom") }),
        )
        .route(
            "/missing",
            web::get().to(|| async { HttpResponse::NotFound().body("missing") }),
        )
        .route("/stream", web::get().to(stream))
        .route(
            "/echo",
            web::post().to(|body: web::Bytes| async move { body }),
        )
        .route("/metered", web::get().to(metered))
        .route(
            "/slow",
            web::get().to(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
}

struct Actix;

type Call = (TestRequest, oneshot::Sender<TestResponse>);

/// The handle on an app running on its own actix thread; dropping it stops the thread.
struct ActixApp {
    calls: mpsc::UnboundedSender<Call>,
    /// Calls sent and not yet answered or dropped by the actix thread.
    in_flight: Arc<watch::Sender<usize>>,
}

impl AppFactory for Actix {
    fn name(&self) -> &'static str {
        "actix"
    }

    fn build(&self, gate: Gate) -> Box<dyn AppUnderTest> {
        let (calls, mut incoming) = mpsc::unbounded_channel::<Call>();
        let in_flight = Arc::new(watch::Sender::new(0));
        let finished = Arc::clone(&in_flight);
        std::thread::Builder::new()
            .name("actix-app".to_owned())
            .spawn(move || {
                System::new().block_on(async move {
                    let app = Rc::new(
                        test::init_service(App::new().wrap(X402::new(gate)).configure(routes))
                            .await,
                    );
                    while let Some((request, answer)) = incoming.recv().await {
                        let app = Rc::clone(&app);
                        let finished = Arc::clone(&finished);
                        actix_web::rt::spawn(async move {
                            let mut answer = answer;
                            tokio::select! {
                                response = call(&*app, actix_request(request).to_request()) => {
                                    let _ = answer.send(response);
                                }
                                // The caller went away: drop the call, as a server does when
                                // the client disconnects.
                                () = answer.closed() => {}
                            }
                            // The call's future is dropped by now, whichever branch won.
                            finished.send_modify(|n| *n -= 1);
                        });
                    }
                });
            })
            .expect("spawn the actix thread");
        Box::new(ActixApp { calls, in_flight })
    }
}

/// The actix test request for `request`.
fn actix_request(request: TestRequest) -> test::TestRequest {
    let method = Method::from_bytes(request.method.as_bytes()).expect("valid method");
    let mut builder = test::TestRequest::default()
        .method(method)
        .uri(&request.uri);
    for (name, value) in request.headers {
        builder = builder.append_header((name, value));
    }
    builder.set_payload(request.body)
}

/// Sends `request` to `app` and collects the response frame by frame.
async fn call<S, R, B>(app: &S, request: R) -> TestResponse
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request).await;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut body = std::pin::pin!(response.into_body());
    let mut collected = Vec::new();
    let mut frames = 0;
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let data = chunk.map_err(Into::into).expect("body chunk");
        frames += 1;
        collected.extend_from_slice(&data);
    }
    TestResponse {
        status: status.as_u16(),
        headers,
        body: collected.into(),
        frames,
    }
}

impl AppUnderTest for ActixApp {
    fn send(
        &self,
        request: TestRequest,
    ) -> Pin<Box<dyn Future<Output = TestResponse> + Send + '_>> {
        Box::pin(async move {
            let (answer, response) = oneshot::channel();
            self.in_flight.send_modify(|n| *n += 1);
            self.calls
                .send((request, answer))
                .expect("the actix thread is running");
            response.await.expect("the actix app answered")
        })
    }

    fn abandoned_requests_dropped(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let mut in_flight = self.in_flight.subscribe();
            in_flight
                .wait_for(|&n| n == 0)
                .await
                .expect("the app holds its own sender");
        })
    }
}

tests::conformance_suite!(Actix);
tests::ledger_suite!(Actix);
tests::hardening_suite!(Actix);
