//! The usage API on both adapters, from one table: the tower service behind an axum router and
//! the actix scope, over one SQLite ledger holding two settled payments.

use std::sync::Arc;

use actix_web::{App, rt::System, test as actix_test};
use axum::{Router, body::Body};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use x402_core::{
    ledger::{
        BodyDigest, Claim, Fingerprint, Ledger, NewPayment, ReplayKey, SqliteLedger, Transition,
    },
    usage::UsageApi,
    wire::SettleResponse,
};

const SECRET: &str = "s3cret";
const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// One request and what it must answer: status and, for errors, the `error` (and the
/// `parameter` of a 400).
struct Case {
    target: &'static str,
    secret: Option<&'static str>,
    status: u16,
    error: Option<&'static str>,
    parameter: Option<&'static str>,
}

const fn case(
    target: &'static str,
    secret: Option<&'static str>,
    status: u16,
    error: Option<&'static str>,
    parameter: Option<&'static str>,
) -> Case {
    Case {
        target,
        secret,
        status,
        error,
        parameter,
    }
}

const CASES: &[Case] = &[
    case("/internal/usage", Some(SECRET), 200, None, None),
    case(
        "/internal/usage?bucket=day&since_ts=0",
        Some(SECRET),
        200,
        None,
        None,
    ),
    case(
        "/internal/usage/recent?limit=1",
        Some(SECRET),
        200,
        None,
        None,
    ),
    case("/internal/usage", None, 403, Some("forbidden"), None),
    case(
        "/internal/usage",
        Some("wrong"),
        403,
        Some("forbidden"),
        None,
    ),
    case("/internal/usage/recent", None, 403, Some("forbidden"), None),
    case(
        "/internal/nothing",
        Some(SECRET),
        404,
        Some("not_found"),
        None,
    ),
    case(
        "/internal/usage?since_ts=soon",
        Some(SECRET),
        400,
        Some("invalid_parameter"),
        Some("since_ts"),
    ),
    case(
        "/internal/usage?payer=me",
        Some(SECRET),
        400,
        Some("invalid_parameter"),
        Some("payer"),
    ),
    case(
        "/internal/usage/recent?limit=501",
        Some(SECRET),
        400,
        Some("invalid_parameter"),
        Some("limit"),
    ),
];

/// Without a secret configured, these all answer 404.
const HIDDEN: &[&str] = &[
    "/internal",
    "/internal/usage",
    "/internal/usage/recent",
    "/internal/x",
];

async fn ledger() -> Arc<dyn Ledger> {
    let ledger = SqliteLedger::in_memory().expect("in-memory ledger");
    for n in 0..2u8 {
        let key = ReplayKey::from_bytes(&[n]);
        let payment = NewPayment::new(
            key,
            Fingerprint::new("GET", "/weather", BodyDigest::Empty),
            "weather",
            "eip155:84532",
            Some(PAYER.to_lowercase()),
            "1000",
            2_000_000_000,
            1_800_000_000 + u64::from(n),
        );
        let Claim::Claimed(token) = ledger.claim(payment).await.expect("claims") else {
            panic!("a fresh key is claimed");
        };
        let receipt = SettleResponse::success(format!("0x{n:064x}"), "eip155:84532");
        let settled = Transition::Settled { receipt: &receipt };
        ledger
            .record(key, token, settled, 1_800_000_000 + u64::from(n))
            .await
            .expect("records");
    }
    Arc::new(ledger)
}

/// What an adapter answered: status and JSON body.
type Answer = (u16, serde_json::Value);

fn check(adapter: &str, case: &Case, (status, body): &Answer) {
    let what = format!("{adapter} {} (secret {:?})", case.target, case.secret);
    assert_eq!(*status, case.status, "{what}: {body}");
    assert_eq!(body["error"].as_str(), case.error, "{what}: {body}");
    assert_eq!(body["parameter"].as_str(), case.parameter, "{what}: {body}");
    if case.target.starts_with("/internal/usage/recent?limit=1") {
        assert_eq!(body["payments"].as_array().map(Vec::len), Some(1), "{what}");
        assert_eq!(body["payments"][0]["tx"], format!("0x{:064x}", 1), "{what}");
    } else if case.status == 200 {
        assert_eq!(
            (body["count"].as_u64(), body["amount"].as_str()),
            (Some(2), Some("2000")),
            "{what}"
        );
    }
}

async fn tower_answer(router: &Router, target: &str, secret: Option<&str>) -> Answer {
    let mut request = http::Request::get(target);
    if let Some(secret) = secret {
        request = request.header("x-internal-secret", secret);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON"))
}

fn tower_router(api: UsageApi) -> Router {
    let usage = x402_tower::usage::UsageService::new(api);
    Router::new()
        .route_service("/internal", usage.clone())
        .route_service("/internal/{*rest}", usage)
}

#[tokio::test]
async fn the_tower_service_answers_every_case() {
    let router = tower_router(UsageApi::new(ledger().await, Some(SECRET.to_owned())));
    for case in CASES {
        let answer = tower_answer(&router, case.target, case.secret).await;
        check("tower", case, &answer);
    }
}

#[tokio::test]
async fn the_tower_service_hides_the_api_without_a_secret() {
    let router = tower_router(UsageApi::new(ledger().await, None));
    for target in HIDDEN {
        let (status, body) = tower_answer(&router, target, Some(SECRET)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{target}"
        );
    }
}

fn actix_answers(
    api: UsageApi,
    requests: Vec<(&'static str, Option<&'static str>)>,
) -> Vec<Answer> {
    System::new().block_on(async move {
        let app = actix_test::init_service(App::new().service(x402_actix::usage::scope(api))).await;
        let mut answers = Vec::new();
        for (target, secret) in requests {
            let mut request = actix_test::TestRequest::get().uri(target);
            if let Some(secret) = secret {
                request = request.insert_header(("x-internal-secret", secret));
            }
            let response = actix_test::call_service(&app, request.to_request()).await;
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").cloned();
            assert_eq!(
                content_type.as_ref().map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
            let body = actix_test::read_body(response).await;
            answers.push((status, serde_json::from_slice(&body).expect("JSON")));
        }
        answers
    })
}

#[test]
fn the_actix_scope_answers_every_case() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ledger = runtime.block_on(ledger());
    let api = UsageApi::new(ledger, Some(SECRET.to_owned()));
    let requests = CASES.iter().map(|c| (c.target, c.secret)).collect();
    let answers = std::thread::spawn(move || actix_answers(api, requests))
        .join()
        .expect("actix thread");
    for (case, answer) in CASES.iter().zip(&answers) {
        check("actix", case, answer);
    }
}

#[test]
fn the_actix_scope_hides_the_api_without_a_secret() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let api = UsageApi::new(runtime.block_on(ledger()), None);
    let requests = HIDDEN.iter().map(|t| (*t, Some(SECRET))).collect();
    let answers = std::thread::spawn(move || actix_answers(api, requests))
        .join()
        .expect("actix thread");
    for (target, (status, body)) in HIDDEN.iter().zip(&answers) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (404, Some("not_found")),
            "{target}"
        );
    }
}
