//! The one comparison report: every request path through our layers, the bare handlers they
//! replace and `x402-axum` 2.x on the same app, measured in the same run, as ratios.
//!
//! - **axum** (in process, no socket, no runtime: the service is cloned, driven ready, called
//!   and its body read, as hyper does; everything answers on the first poll): bare
//!   `GET /weather` (small JSON) and `GET /health`; our layer on an unpriced route (a
//!   `free: true` route and an unmatched one); our 402 challenge; a paid v2 request with an
//!   instant in-process facilitator, the default in-memory replay guard and a fixed clock, with
//!   the local signature check off and on; each with the layer added by `Router::layer` and
//!   around the whole router; the same paid request by Permit2, `exact` and `upto` (local
//!   checks on, EIP-712 recovery of the permit included; `Router::layer`); and `x402-axum` on
//!   the same routes and price with an equivalent in-process facilitator
//!   ([`benches::incumbent`]).
//! - **actix**: the same paths through our actix-web middleware, beside the bare actix app
//!   (`actix_web::test::init_service`, called inside one `block_on`).
//! - **ledger**: the actix paid path (signature check off) with a `SqliteLedger` on a fresh
//!   file in the temp directory (WAL, `synchronous = FULL`) and, when `X402_TEST_POSTGRES_URL`
//!   names a server, a `PostgresLedger` in a fresh schema, each as a ratio to the same paid
//!   path without a ledger (`actix/paid/signature_off`). (The axum cases are driven without a
//!   runtime, and both ledgers need tokio: the actix cases run on actix's tokio runtime.)
//! - **facilitator alone**: one verify plus one settle of each in-process facilitator, so the
//!   paid paths can be compared excluding the facilitator.
//! - **route matching**: `PathMatcher::first_match` among 10, 1 000 and 10 000 routes.
//!
//! Paid requests use payments signed before the timed loops (distinct nonces, so the replay
//! guard accepts each once; the app is rebuilt with a fresh guard when the pool is used up,
//! outside the timed stretches). Requests are built outside the timed stretches too.
//!
//! After criterion's own report, a table gives each path's median time per call over
//! [`ROUNDS`] interleaved rounds, its ratio to the bare request it replaces, and for our 402
//! and paid paths how many times faster than `x402-axum`'s they are. Allocation counts are the
//! `allocs` benchmark's (a counting allocator would slow every path measured here).
//!
//! `cargo bench -p benches --features incumbent --bench compare` (`-- --quick` for a shorter
//! criterion part). Without the `incumbent` feature, `x402-axum` is not built and the report
//! gives our cases only.

use std::{
    hint::black_box,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    App, HttpResponse,
    dev::{Service, ServiceResponse},
    rt::{System, SystemRunner},
    test, web,
};
use benches::{
    axum_app::{PAYMENT_POOL, WEATHER_JSON, scenarios},
    fixture::{
        InstantFacilitator, SPEC, gate, gate_with_ledger, poll_once, requirement, signed_payments,
        table,
    },
    routes::{ROUTE_COUNTS, lookups, matcher},
};
use criterion::Criterion;
use x402_actix::X402;
use x402_core::{
    facilitator::{Facilitator, FacilitatorRequest, Requirements},
    ledger::{Ledger, PostgresLedger, SqliteLedger},
    wire::PaymentPayload,
};

/// One measured path: `run(iters)` serves `iters` calls and returns the time they took.
struct Case {
    name: String,
    description: String,
    /// The case this one is a ratio to (its bare counterpart), if any.
    baseline: Option<String>,
    run: Box<dyn FnMut(u64) -> Duration>,
}

impl Case {
    fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        baseline: Option<&str>,
        run: impl FnMut(u64) -> Duration + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            baseline: baseline.map(str::to_owned),
            run: Box::new(run),
        }
    }
}

/// The facilitator cases to subtract from a pair of paid paths (ours, x402-axum's) for the
/// "excluding the facilitator" figure.
type Facilitators = Option<(&'static str, &'static str)>;

/// Our path and `x402-axum`'s equivalent, for the "× faster" column.
const VERSUS: &[(&str, &str, Facilitators)] = &[
    ("402/router_layer", "x402-axum/402", None),
    ("402/around_router", "x402-axum/402", None),
    (
        "paid/signature_off/router_layer",
        "x402-axum/paid",
        Some(("facilitator/ours", "facilitator/x402-axum")),
    ),
    (
        "paid/signature_off/around_router",
        "x402-axum/paid",
        Some(("facilitator/ours", "facilitator/x402-axum")),
    ),
    (
        "paid/signature_on/router_layer",
        "x402-axum/paid",
        Some(("facilitator/ours", "facilitator/x402-axum")),
    ),
    (
        "paid/signature_on/around_router",
        "x402-axum/paid",
        Some(("facilitator/ours", "facilitator/x402-axum")),
    ),
];

fn main() {
    let system = Rc::new(System::new());
    let mut cases: Vec<Case> = scenarios()
        .into_iter()
        .map(|mut scenario| {
            Case::new(
                scenario.name,
                scenario.description,
                Some(scenario.baseline),
                move |iters| scenario.run(iters),
            )
        })
        .collect();
    cases.extend(actix_cases(&system));
    cases.extend(facilitator_cases());
    cases.extend(matching_cases());

    // Short runs: there are some thirty cases, and the table below is the report.
    let mut criterion = Criterion::default()
        .sample_size(30)
        .nresamples(10_000)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let mut group = criterion.benchmark_group("compare");
    for case in &mut cases {
        group.bench_function(&case.name, |b| b.iter_custom(|iters| (case.run)(iters)));
    }
    group.finish();
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion's test mode).
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list") {
        ratio_table(&mut cases);
    }
}

// ---------------------------------------------------------------------------------------------
// actix

fn actix_routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(|| async { "ok" }))
        .route(
            "/weather",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(WEATHER_JSON)
            }),
        );
}

/// Requests are built in batches this small just before they are sent, so they are still in
/// the cache, as a request a server has just parsed is.
const BATCH: u64 = 64;

/// What an actix case sends and expects: `(name, description, baseline, path, status)`.
type ActixPath = (&'static str, &'static str, &'static str, &'static str, u16);

/// A case serving `path` (with the next pre-signed payment, if `payments`) to the app `build`
/// makes; the app is rebuilt (fresh gate and replay guard) when the payments are used up.
fn actix_case<S, B>(
    system: &Rc<SystemRunner>,
    (name, description, baseline, path, expected_status): ActixPath,
    build: impl Fn() -> S + 'static,
    payments: Option<Rc<Vec<String>>>,
) -> Case
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>
        + 'static,
{
    let system = Rc::clone(system);
    let mut app = build();
    let mut next = 0;
    let make = move |app: &mut S, next: &mut usize| {
        let request = test::TestRequest::get()
            .uri(path)
            .insert_header(("host", "api.example.com"))
            .insert_header(("accept", "*/*"))
            .insert_header(("user-agent", "bench/1.0"));
        let request = match &payments {
            Some(payments) => {
                if *next == payments.len() {
                    *app = build();
                    *next = 0;
                }
                *next += 1;
                request.insert_header(("payment-signature", payments[*next - 1].as_str()))
            }
            None => request,
        };
        request.to_request()
    };
    let first = make(&mut app, &mut next);
    let answer = system.block_on(app.call(first)).expect("actix answers");
    assert_eq!(answer.status().as_u16(), expected_status, "{name}");
    drop(answer);
    Case::new(name, description, Some(baseline), move |iters| {
        let mut elapsed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let batch = left.min(BATCH);
            left -= batch;
            let requests: Vec<_> = (0..batch).map(|_| make(&mut app, &mut next)).collect();
            elapsed += system.block_on(async {
                let start = Instant::now();
                for request in requests {
                    black_box(app.call(request).await.ok());
                }
                start.elapsed()
            });
        }
        elapsed
    })
}

/// A fresh ledger per app build (the pool's payments are reused after a rebuild).
#[derive(Clone, Copy)]
enum LedgerKind {
    Sqlite,
    Postgres,
}

/// The environment variable naming the PostgreSQL server of the `postgres` ledger case.
const POSTGRES_URL_VAR: &str = "X402_TEST_POSTGRES_URL";

/// The actix paid-path cases with a ledger: SQLite always, PostgreSQL when
/// [`POSTGRES_URL_VAR`] is set (skipped, saying so, otherwise).
fn actix_ledger_cases(system: &Rc<SystemRunner>, payments: &Rc<Vec<String>>) -> Vec<Case> {
    let postgres = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty());
    if postgres.is_none() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("SKIPPED actix/paid/ledger_postgres: set {POSTGRES_URL_VAR}");
        }
    }
    let builds = Rc::new(std::cell::Cell::new(0usize));
    let ledgered = |kind: LedgerKind| {
        let system = Rc::clone(system);
        let builds = Rc::clone(&builds);
        let postgres = postgres.clone();
        move || {
            let n = builds.get();
            builds.set(n + 1);
            let ledger: Arc<dyn Ledger> = match kind {
                LedgerKind::Sqlite => {
                    let dir = std::env::temp_dir();
                    let path = |n: usize| {
                        dir.join(format!("x402-bench-ledger-{}-{n}.db", std::process::id()))
                    };
                    // The build before last is dropped by now: its files go.
                    if let Some(old) = n.checked_sub(2) {
                        for suffix in ["", "-wal", "-shm"] {
                            let mut file = path(old).into_os_string();
                            file.push(suffix);
                            let _ = std::fs::remove_file(file);
                        }
                    }
                    Arc::new(SqliteLedger::open(path(n)).expect("the SQLite ledger opens"))
                }
                LedgerKind::Postgres => {
                    let url = postgres.as_deref().expect("a PostgreSQL URL");
                    let schema = format!("x402_bench_{}_{n}", std::process::id());
                    Arc::new(
                        system
                            .block_on(PostgresLedger::connect_in_schema(url, &schema))
                            .expect("the PostgreSQL ledger connects"),
                    )
                }
            };
            let gate = gate_with_ledger(table(SPEC), ledger);
            system.block_on(test::init_service(
                App::new().wrap(X402::new(gate)).configure(actix_routes),
            ))
        }
    };
    let mut cases = vec![actix_case(
        system,
        (
            "actix/paid/ledger_sqlite",
            "X402 middleware, paid v2, signature check off, SQLite ledger (file, WAL, FULL sync)",
            "actix/paid/signature_off",
            "/weather",
            200,
        ),
        ledgered(LedgerKind::Sqlite),
        Some(Rc::clone(payments)),
    )];
    if postgres.is_some() {
        cases.push(actix_case(
            system,
            (
                "actix/paid/ledger_postgres",
                "X402 middleware, paid v2, signature check off, PostgreSQL ledger (loopback)",
                "actix/paid/signature_off",
                "/weather",
                200,
            ),
            ledgered(LedgerKind::Postgres),
            Some(Rc::clone(payments)),
        ));
    }
    cases
}

fn actix_cases(system: &Rc<SystemRunner>) -> Vec<Case> {
    let payments = Rc::new(signed_payments(
        &requirement(&table(SPEC), "weather"),
        PAYMENT_POOL,
    ));
    let bare = {
        let system = Rc::clone(system);
        move || system.block_on(test::init_service(App::new().configure(actix_routes)))
    };
    let ours = |local_checks: bool| {
        let system = Rc::clone(system);
        move || {
            system.block_on(test::init_service(
                App::new()
                    .wrap(X402::new(gate(table(SPEC), local_checks)))
                    .configure(actix_routes),
            ))
        }
    };
    let mut cases = vec![
        actix_case(
            system,
            (
                "actix/bare/health",
                "bare actix-web GET /health",
                "actix/bare/health",
                "/health",
                200,
            ),
            bare.clone(),
            None,
        ),
        actix_case(
            system,
            (
                "actix/bare/weather",
                "bare actix-web GET /weather (small JSON)",
                "actix/bare/weather",
                "/weather",
                200,
            ),
            bare,
            None,
        ),
        actix_case(
            system,
            (
                "actix/unpriced/free_route",
                "X402 middleware, GET /health listed `free: true`",
                "actix/bare/health",
                "/health",
                200,
            ),
            ours(true),
            None,
        ),
        actix_case(
            system,
            (
                "actix/402",
                "X402 middleware, 402 challenge, GET /weather without payment",
                "actix/bare/weather",
                "/weather",
                402,
            ),
            ours(true),
            None,
        ),
        actix_case(
            system,
            (
                "actix/paid/signature_off",
                "X402 middleware, paid v2, instant facilitator, signature check off",
                "actix/bare/weather",
                "/weather",
                200,
            ),
            ours(false),
            Some(Rc::clone(&payments)),
        ),
        actix_case(
            system,
            (
                "actix/paid/signature_on",
                "X402 middleware, paid v2, instant facilitator, local signature check on",
                "actix/bare/weather",
                "/weather",
                200,
            ),
            ours(true),
            Some(Rc::clone(&payments)),
        ),
    ];
    cases.extend(actix_ledger_cases(system, &payments));
    cases
}

// ---------------------------------------------------------------------------------------------
// The facilitators alone

fn facilitator_cases() -> Vec<Case> {
    let requirement = requirement(&table(SPEC), "weather");
    let header = signed_payments(&requirement, 1).remove(0);
    let decoded = x402_core::codec::decode_payment(
        x402_core::codec::PaymentHeader::PaymentSignature,
        header.as_bytes(),
        x402_core::codec::DEFAULT_MAX_HEADER_BYTES,
    )
    .expect("the payment decodes");
    let payload: PaymentPayload = decoded.payload().clone();
    let payload_json = serde_json::to_string(&payload).expect("payload json");
    let requirement_json = serde_json::to_string(&requirement).expect("requirement json");
    let ours = Arc::new(InstantFacilitator);

    #[cfg(feature = "incumbent")]
    let theirs = Some(incumbent_facilitator_case(&payload_json, &requirement_json));
    #[cfg(not(feature = "incumbent"))]
    let theirs = None;
    let ours = Case::new(
        "facilitator/ours",
        "our instant facilitator alone: one verify + one settle",
        None,
        move |iters| {
            let request = FacilitatorRequest::new(
                &payload,
                &payload_json,
                Requirements::V2(&requirement),
                &requirement_json,
            );
            let start = Instant::now();
            for _ in 0..iters {
                black_box(poll_once(ours.verify(black_box(&request))).ok());
                black_box(poll_once(ours.settle(black_box(&request))).ok());
            }
            start.elapsed()
        },
    );
    std::iter::once(ours).chain(theirs).collect()
}

/// `x402-axum`'s instant facilitator alone, on the same payment.
#[cfg(feature = "incumbent")]
fn incumbent_facilitator_case(payload_json: &str, requirement_json: &str) -> Case {
    use benches::incumbent::IncumbentFacilitator;

    let body = format!(
        r#"{{"x402Version":2,"paymentPayload":{payload_json},"paymentRequirements":{requirement_json}}}"#
    );
    let theirs_request = x402_types::proto::VerifyRequest::from(
        serde_json::value::RawValue::from_string(body).expect("raw JSON"),
    );
    let theirs = IncumbentFacilitator::default();

    Case::new(
        "facilitator/x402-axum",
        "x402-axum's instant facilitator alone: one verify + one settle",
        None,
        move |iters| {
            use x402_types::facilitator::Facilitator as _;
            let start = Instant::now();
            for _ in 0..iters {
                black_box(poll_once(theirs.verify(black_box(&theirs_request))).ok());
                black_box(poll_once(theirs.settle(black_box(&theirs_request))).ok());
            }
            start.elapsed()
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Route matching

fn matching_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for count in ROUTE_COUNTS {
        let matcher = Rc::new(matcher(count));
        for (name, path, expected) in lookups(count) {
            if !matches!(name, "literal_last" | "glob_near_end" | "no_match") {
                continue;
            }
            assert_eq!(matcher.first_match(&path, |_| true), expected, "{name}");
            let matcher = Rc::clone(&matcher);
            cases.push(Case::new(
                format!("match/{name}/{count}"),
                format!("first_match among {count} routes, {name}"),
                Some(&format!("match/{name}/10")),
                move |iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(matcher.first_match(black_box(&path), |_| true));
                    }
                    start.elapsed()
                },
            ));
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// The table

/// Interleaved rounds per case; the table gives the median.
const ROUNDS: usize = 9;
const ROUND_TIME: Duration = Duration::from_millis(40);

#[allow(clippy::print_stdout)] // a bench harness reports on stdout
fn ratio_table(cases: &mut [Case]) {
    // Calls per round, so that each round of each case takes about ROUND_TIME.
    let calls: Vec<u64> = cases
        .iter_mut()
        .map(|case| {
            let per_call = ((case.run)(200) / 200).as_nanos().max(1);
            u64::try_from((ROUND_TIME.as_nanos() / per_call).clamp(200, 2_000_000)).unwrap_or(200)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for ((case, calls), samples) in cases.iter_mut().zip(&calls).zip(&mut samples) {
            samples.push((case.run)(*calls).as_secs_f64() / *calls as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    let median_of = |name: &str| {
        cases
            .iter()
            .position(|c| c.name == name)
            .map(|i| medians[i])
    };

    println!();
    println!("median of {ROUNDS} interleaved rounds, µs per call");
    println!(
        "| {:<34} | {:>9} | {:>19} | {:>24} | what",
        "path", "µs/call", "ratio to bare", "vs x402-axum"
    );
    println!("|{:-<36}|{:->11}|{:->21}|{:->26}|------", "", ":", ":", ":");
    for (case, median) in cases.iter().zip(&medians) {
        let ratio = match &case.baseline {
            Some(baseline) if *baseline != case.name => median_of(baseline)
                .map_or(String::new(), |b| format!("{:.2}× {baseline}", median / b)),
            Some(_) => "1".to_owned(),
            None => String::new(),
        };
        let versus = VERSUS
            .iter()
            .find(|(ours, ..)| *ours == case.name)
            .and_then(|(_, theirs, facilitators)| {
                let theirs = median_of(theirs)?;
                let mut text = format!("{:.2}× faster", theirs / median);
                if let Some((our_fac, their_fac)) = facilitators {
                    let (ours_net, theirs_net) =
                        (median - median_of(our_fac)?, theirs - median_of(their_fac)?);
                    text.push_str(&format!(" ({:.2}× net)", theirs_net / ours_net));
                }
                Some(text)
            })
            .unwrap_or_default();
        println!(
            "| {:<34} | {:>9.3} | {:>19} | {:>24} | {}",
            case.name,
            median * 1e6,
            ratio,
            versus,
            case.description,
        );
    }
    println!();
    println!(
        "\"net\": both paid paths minus their facilitator's own verify + settle (\"excluding \
         the facilitator\")."
    );
    if cfg!(not(feature = "incumbent")) {
        println!(
            "x402-axum is not in this report: run `cargo bench -p benches --features incumbent \
             --bench compare` for the comparison (it builds aws-lc-sys and needs Rust 1.93+)."
        );
    }
}
