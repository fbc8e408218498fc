//! What the conformance suite (`tests/actix.rs`) cannot see: actix-specific wiring (`Scope` and
//! `Resource` wrapping, response extensions, the extractor's rejection, header merging with the
//! handler's own headers) and one paid request over a real socket.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Arc,
};

use actix_web::{
    App, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test, web,
};
use x402_actix::{Gate, Paid, PaymentOutcome, RouteTableHandle, X402};
use x402_core::{
    RouteTable, codec,
    evm::{
        Clock, RequirementView, SystemClock,
        signer::{PrivateKeySigner, sign_payment},
    },
    facilitator::dev::{DevFacilitator, DevNetwork},
    labels::Outcome,
    spec::RouteSpec,
};

/// anvil's first dev key (public knowledge; test funds only).
const PAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /api/weather, name: api-weather }
  - { path: /cached, name: cached }
  - { path: /thing, name: thing }
  - { path: /free, name: free, free: true }
"#;

fn gate() -> Gate {
    let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).unwrap()).unwrap();
    let facilitator = Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()]));
    Gate::builder(RouteTableHandle::new(table), facilitator)
        .build()
        .unwrap()
}

/// A `PAYMENT-SIGNATURE` value paying the route named `name`, signed now.
fn payment_for(gate: &Gate, name: &str) -> String {
    let table = gate.routes().load();
    let route = table
        .routes()
        .iter()
        .find(|r| r.name().as_ref() == name)
        .unwrap();
    let requirement = route.offer().unwrap().accepts()[0].requirements().clone();
    let signer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let view = RequirementView::from_v2(&requirement).unwrap();
    let payload = sign_payment(&signer, &view, SystemClock.now()).unwrap();
    codec::encode_header(&serde_json::json!({
        "x402Version": 2,
        "resource": { "url": "http://localhost/", "description": "", "mimeType": "" },
        "accepted": requirement,
        "payload": payload,
    }))
}

async fn paid_payer(Paid(payment): Paid) -> String {
    payment.payer.unwrap().to_checksum(None)
}

fn outcome<B>(response: &ServiceResponse<B>) -> Option<PaymentOutcome> {
    response
        .response()
        .extensions()
        .get::<PaymentOutcome>()
        .cloned()
}

async fn body_text<B: MessageBody>(response: ServiceResponse<B>) -> String {
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .map_err(Into::into)
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A `GET path` (with a payment, if given) for `test::call_service`.
fn get(path: &str, payment: Option<String>) -> test::TestRequest {
    let request = test::TestRequest::get()
        .uri(path)
        .insert_header(("host", "localhost"));
    match payment {
        Some(payment) => request.insert_header(("payment-signature", payment)),
        None => request,
    }
}

/// Sends `request` to `app`.
async fn call<S, R, B>(app: &S, request: R) -> ServiceResponse<B>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    test::call_service(app, request).await
}

#[actix_web::test]
async fn scope_wrap_prices_the_scope_by_its_full_paths() {
    let gate = gate();
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/api")
                    .wrap(X402::new(gate.clone()))
                    .route("/weather", web::get().to(paid_payer)),
            )
            .route("/free", web::get().to(|| async { "free" })),
    )
    .await;
    let response = call(&app, get("/api/weather", None).to_request()).await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let response = call(
        &app,
        get("/api/weather", Some(payment_for(&gate, "api-weather"))).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, PAYER);
}

#[actix_web::test]
async fn resource_wrap_prices_the_resource() {
    let gate = gate();
    let app = test::init_service(
        App::new().service(
            web::resource("/thing")
                .wrap(X402::new(gate.clone()))
                .route(web::get().to(paid_payer)),
        ),
    )
    .await;
    assert_eq!(
        call(&app, get("/thing", None).to_request()).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
    let response = call(
        &app,
        get("/thing", Some(payment_for(&gate, "thing"))).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn payment_outcome_is_in_the_response_extensions() {
    let gate = gate();
    let app = test::init_service(
        App::new()
            .wrap(X402::new(gate.clone()))
            .route("/thing", web::get().to(paid_payer))
            .route("/free", web::get().to(|| async { "free" })),
    )
    .await;
    let challenge = call(&app, get("/thing", None).to_request()).await;
    let seen = outcome(&challenge).expect("outcome on a 402");
    assert_eq!(seen.outcome, Outcome::PaymentRequired);

    let paid = call(
        &app,
        get("/thing", Some(payment_for(&gate, "thing"))).to_request(),
    )
    .await;
    let seen = outcome(&paid).expect("outcome on a paid response");
    assert_eq!(seen.outcome, Outcome::Paid);
    assert!(seen.receipt.expect("receipt").success);

    let free = call(&app, get("/free", None).to_request()).await;
    assert!(outcome(&free).is_none(), "unpriced responses are untouched");
}

#[actix_web::test]
async fn handler_cache_control_is_merged_and_cors_exposure_appended() {
    let gate = gate();
    let app = test::init_service(App::new().wrap(X402::new(gate.clone())).route(
        "/cached",
        web::get().to(|| async {
            HttpResponse::Ok()
                .insert_header(("cache-control", "max-age=60"))
                .insert_header(("access-control-expose-headers", "X-Request-Id"))
                .body("cached")
        }),
    ))
    .await;
    let response = call(
        &app,
        get("/cached", Some(payment_for(&gate, "cached"))).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers.get("cache-control").unwrap(), "max-age=60, private");
    let exposed: Vec<_> = headers
        .get_all("access-control-expose-headers")
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        exposed,
        [
            "X-Request-Id",
            "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"
        ]
    );
    assert!(headers.contains_key("payment-response"));
}

#[actix_web::test]
async fn paid_extractor_without_a_payment_is_a_500() {
    let app = test::init_service(
        App::new()
            .wrap(X402::new(gate()))
            .route("/free", web::get().to(paid_payer))
            .route(
                "/maybe",
                web::get().to(|payment: Option<Paid>| async move {
                    if payment.is_some() { "paid" } else { "free" }
                }),
            ),
    )
    .await;
    let response = call(&app, get("/free", None).to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body_text(response)
            .await
            .contains("no payment in this request")
    );
    let response = call(&app, get("/maybe", None).to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "free");
}

/// The whole exchange through a real server and socket: the 402, then the paid request.
#[actix_web::test]
async fn paid_request_over_http_is_served_with_a_receipt() {
    let gate = gate();
    let app_gate = gate.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(X402::new(app_gate.clone()))
            .route("/thing", web::get().to(paid_payer))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let payment = payment_for(&gate, "thing");
    let (challenge, paid) = web::block(move || {
        let exchange = |extra: &str| {
            let mut stream = TcpStream::connect(address).unwrap();
            write!(
                stream,
                "GET /thing HTTP/1.1\r\nHost: {address}\r\n{extra}Connection: close\r\n\r\n"
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        };
        (
            exchange(""),
            exchange(&format!("PAYMENT-SIGNATURE: {payment}\r\n")),
        )
    })
    .await
    .unwrap();
    handle.stop(true).await;

    assert!(challenge.starts_with("HTTP/1.1 402"), "{challenge}");
    let header = challenge
        .lines()
        .find_map(|l| l.strip_prefix("payment-required: "))
        .expect("PAYMENT-REQUIRED header");
    let required =
        codec::decode_payment_required(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES).unwrap();
    assert_eq!(required.resource.url, format!("http://{address}/thing"));

    assert!(paid.starts_with("HTTP/1.1 200"), "{paid}");
    assert!(paid.contains("payment-response: "), "{paid}");
    assert!(paid.ends_with(PAYER), "{paid}");
}
