//! The actix-web adapter's cost, in process (no sockets): one small app called bare and behind
//! `X402`, on the paths that matter.
//!
//! - `bare`: the app without the middleware, `GET /health`;
//! - `unpriced_free`: behind `X402`, `GET /health` (a free route in the table);
//! - `unpriced_unmatched`: behind `X402`, `GET /open` (not in the table);
//! - `challenge_402`: behind `X402`, `GET /weather` without a payment;
//! - `paid`: behind `X402`, `GET /weather` with a valid v2 payment: local checks (with the
//!   EIP-712 signature recovery), an instant in-process facilitator, the handler, settlement;
//! - `paid_no_local_checks`: the same with the local checks off (the facilitator judges).
//!
//! Requests are built outside the timed region (`iter_custom`, in small batches so they are
//! still warm, see [`BATCH`]), and the calls run inside one `block_on`, so what is timed is the
//! service call and dropping its response. The paid cases
//! send one signed payment again and again: the gate gets a replay guard that admits
//! everything (the default guard would refuse the second use) and a fixed clock, so the
//! signature stays valid however long the run.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    App, HttpResponse,
    dev::{Service, ServiceResponse},
    rt::{System, SystemRunner},
    test, web,
};
use criterion::{Criterion, criterion_group, criterion_main};
use x402_actix::{Gate, RouteTableHandle, X402};
use x402_core::{
    RouteTable, codec,
    evm::{
        FixedClock, RequirementView,
        signer::{PrivateKeySigner, sign_payment},
    },
    facilitator::{BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest},
    replay::{ReplayError, ReplayGuard, ReplayKey},
    spec::RouteSpec,
    wire::{SettleResponse, SupportedResponse, VerifyResponse},
};

/// anvil's first dev key (public knowledge; test funds only).
const PAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The fixed time of the run (unix seconds).
const NOW: u64 = 1_795_346_121;

const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, name: health, free: true }
  - { path: /weather, name: weather, methods: [GET], description: Weather data, mimeType: application/json }
"#;

/// A facilitator that accepts every payment at once.
#[derive(Debug)]
struct InstantFacilitator;

impl Facilitator for InstantFacilitator {
    fn verify<'a>(
        &'a self,
        _request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(async {
            Ok(VerifyResponse {
                is_valid: true,
                invalid_reason: None,
                invalid_message: None,
                payer: None,
                extensions: None,
                extra: None,
            })
        })
    }

    fn settle<'a>(
        &'a self,
        _request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        Box::pin(async {
            Ok(SettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: None,
                transaction: "0xabababababababababababababababababababababababababababababababab"
                    .to_owned(),
                network: "eip155:84532".to_owned(),
                amount: None,
                extensions: None,
                extra: None,
            })
        })
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(async {
            Ok(Arc::new(SupportedResponse {
                kinds: Vec::new(),
                extensions: Vec::new(),
                signers: Default::default(),
            }))
        })
    }
}

/// A replay guard that admits every payment, so one signed payment serves every iteration.
#[derive(Debug)]
struct AdmitAll;

impl ReplayGuard for AdmitAll {
    fn claim(&self, _: ReplayKey, _: u64, _: u64) -> BoxFuture<'_, Result<bool, ReplayError>> {
        Box::pin(async { Ok(true) })
    }

    fn confirm(&self, _: ReplayKey, _: u64) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn release(&self, _: ReplayKey) {}
}

fn gate(local_checks: bool) -> Gate {
    let table = RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).expect("spec parses"))
        .expect("spec builds");
    Gate::builder(RouteTableHandle::new(table), Arc::new(InstantFacilitator))
        .clock(Arc::new(FixedClock::new(NOW)))
        .replay_guard(Arc::new(AdmitAll))
        .local_checks(local_checks)
        .build()
        .expect("gate builds")
}

/// A `PAYMENT-SIGNATURE` value paying `/weather`, signed at [`NOW`].
fn payment(gate: &Gate) -> String {
    let table = gate.routes().load();
    let route = table
        .routes()
        .iter()
        .find(|r| r.name().as_ref() == "weather")
        .expect("weather route");
    let requirement = route.offer().expect("priced").accepts()[0]
        .requirements()
        .clone();
    let signer: PrivateKeySigner = PAYER_KEY.parse().expect("valid key");
    let view = RequirementView::from_v2(&requirement).expect("usable requirement");
    let payload = sign_payment(&signer, &view, NOW).expect("signs");
    codec::encode_header(&serde_json::json!({
        "x402Version": 2,
        "resource": { "url": "http://api.example.com/weather", "description": "", "mimeType": "" },
        "accepted": requirement,
        "payload": payload,
    }))
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(|| async { "ok" }))
        .route("/open", web::get().to(|| async { "open" }))
        .route(
            "/weather",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"weather":"sunny"}"#)
            }),
        );
}

fn request(path: &str, payment: Option<&str>) -> test::TestRequest {
    let request = test::TestRequest::get()
        .uri(path)
        .insert_header(("host", "api.example.com"));
    match payment {
        Some(payment) => request.insert_header(("payment-signature", payment)),
        None => request,
    }
}

/// Checks that `app` answers `make()` with `expect`, then benches it as `name`: each sample's
/// requests are built before its timed loop.
fn bench<S, R, B>(
    c: &mut Criterion,
    system: &SystemRunner,
    name: &str,
    app: &S,
    make: impl Fn() -> R,
    expect: u16,
) where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let first = system.block_on(app.call(make())).expect("service call");
    assert_eq!(first.status().as_u16(), expect, "{name}: unexpected status");
    drop(first);
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(BATCH);
                    left -= batch;
                    let requests: Vec<R> = (0..batch).map(|_| make()).collect();
                    let start = Instant::now();
                    for request in requests {
                        let response = app.call(black_box(request)).await;
                        black_box(response.ok());
                    }
                    elapsed += start.elapsed();
                }
                elapsed
            })
        });
    });
}

/// Requests are built in batches this small just before they are sent, so they are still in
/// the cache, as a request a server has just parsed is. (Building a whole sample's requests
/// first leaves them cold, and then the middleware's first read of the headers pays cache
/// misses that the bare app, which reads no header, never does.)
const BATCH: u64 = 64;

fn adapter(c: &mut Criterion) {
    let system = System::new();
    let bare = system.block_on(test::init_service(App::new().configure(routes)));
    let checked = gate(true);
    let payment = payment(&checked);
    let wrapped = system.block_on(test::init_service(
        App::new().wrap(X402::new(checked)).configure(routes),
    ));
    let unchecked = system.block_on(test::init_service(
        App::new().wrap(X402::new(gate(false))).configure(routes),
    ));

    let get = |path: &'static str| move || request(path, None).to_request();
    let paid = || request("/weather", Some(&payment)).to_request();
    bench(c, &system, "actix/bare", &bare, get("/health"), 200);
    bench(
        c,
        &system,
        "actix/unpriced_free",
        &wrapped,
        get("/health"),
        200,
    );
    bench(
        c,
        &system,
        "actix/unpriced_unmatched",
        &wrapped,
        get("/open"),
        200,
    );
    bench(
        c,
        &system,
        "actix/challenge_402",
        &wrapped,
        get("/weather"),
        402,
    );
    bench(c, &system, "actix/paid", &wrapped, paid, 200);
    bench(
        c,
        &system,
        "actix/paid_no_local_checks",
        &unchecked,
        paid,
        200,
    );
}

criterion_group!(benches, adapter);
criterion_main!(benches);
