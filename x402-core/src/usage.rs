//! The usage API over a [`Ledger`]: who paid what, for a control plane. Framework-free: the
//! tower service (`x402_tower::usage`) and the actix scope (`x402_actix::usage`) only convert
//! their request and response.
//!
//! | request | answer |
//! |---|---|
//! | `GET /internal/usage?payer=0x…&since_ts=…[&bucket=day]` | totals per route and chain (`count`, `amount` in atomic units as a decimal string), and per UTC day with `bucket=day` |
//! | `GET /internal/usage/recent?payer=0x…&limit=…` | the latest settlements with their tx hash, newest first; `limit` 1..500, default 50 |
//!
//! `payer` is optional (every payer when absent); `since_ts` is unix seconds (default 0).
//!
//! - No secret configured: **404 `not_found` for every `/internal/*` path**, as if the API did
//!   not exist.
//! - `x-internal-secret` absent or wrong: 403 `forbidden`. It is compared in constant time
//!   (both sides hashed with SHA-256, the digests compared without an early exit).
//! - A bad query value: 400 naming the parameter (`{"error": "invalid_parameter",
//!   "parameter": "limit", …}`). Another method than `GET`: 405. Another `/internal/` path: 404.
//! - The ledger failing: 503 `ledger_unavailable`.
//!
//! ```no_run
//! # async fn run(ledger: std::sync::Arc<dyn x402_core::ledger::Ledger>) {
//! use x402_core::usage::UsageApi;
//!
//! let api = UsageApi::new(ledger, std::env::var("X402_INTERNAL_SECRET").ok());
//! let answer = api
//!     .answer("GET", "/internal/usage", Some("since_ts=0"), Some(b"s3cret"), 1_800_000_000)
//!     .await;
//! assert_eq!(answer.status(), 200);
//! # }
//! ```

use std::{collections::BTreeMap, fmt, str::FromStr as _, sync::Arc};

use alloy_primitives::{Address, U256};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{
    ErrorChain,
    ledger::{Ledger, PaymentRecord, SettledQuery},
};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-internal-secret";

/// The path prefix the API answers under (every path below it is the API's, even unknown).
pub const PREFIX: &str = "/internal";

/// The most settlements `/internal/usage/recent` lists.
pub const MAX_RECENT: u32 = 500;

/// How many `/internal/usage/recent` lists without `limit`.
pub const DEFAULT_RECENT: u32 = 50;

/// The usage API: a ledger and the shared secret.
#[derive(Clone)]
pub struct UsageApi {
    ledger: Arc<dyn Ledger>,
    secret: Option<[u8; 32]>,
}

impl fmt::Debug for UsageApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageApi")
            .field("ledger", &self.ledger)
            .field("secret", &self.secret.map(|_| "<set>"))
            .finish()
    }
}

/// An answer of the API: status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageAnswer {
    status: u16,
    body: Bytes,
}

impl UsageAnswer {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    fn error(status: u16, error: &str) -> Self {
        Self::json(status, &json!({ "error": error }))
    }

    fn bad_parameter(parameter: &str, message: &str) -> Self {
        Self::json(
            400,
            &json!({ "error": "invalid_parameter", "parameter": parameter, "message": message }),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body (`Content-Type: application/json`, `Cache-Control: no-store`).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> Bytes {
        self.body
    }
}

impl UsageApi {
    /// The API over `ledger`, gated by `secret`. With no secret, or an empty one, every
    /// `/internal/*` path answers 404.
    pub fn new(ledger: Arc<dyn Ledger>, secret: Option<String>) -> Self {
        Self {
            ledger,
            secret: secret
                .filter(|s| !s.is_empty())
                .map(|s| Sha256::digest(s.as_bytes()).into()),
        }
    }

    /// Whether `path` is the API's (under [`PREFIX`]): an adapter routes those here.
    pub fn owns(path: &str) -> bool {
        path == PREFIX
            || path
                .strip_prefix(PREFIX)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether a secret is configured.
    pub fn is_enabled(&self) -> bool {
        self.secret.is_some()
    }

    fn secret_matches(&self, given: Option<&[u8]>) -> bool {
        let (Some(expected), Some(given)) = (&self.secret, given) else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given).into();
        // No early exit: the time does not depend on where the digests differ.
        expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }

    /// Answers one request: its method, path, raw query and `x-internal-secret` value, at
    /// `now` (unix seconds, the end of the usage window).
    pub async fn answer(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        secret: Option<&[u8]>,
        now: u64,
    ) -> UsageAnswer {
        if !self.is_enabled() || !Self::owns(path) {
            return UsageAnswer::error(404, "not_found");
        }
        if !self.secret_matches(secret) {
            return UsageAnswer::error(403, "forbidden");
        }
        let endpoint = match path.trim_end_matches('/') {
            "/internal/usage" => Endpoint::Usage,
            "/internal/usage/recent" => Endpoint::Recent,
            _ => return UsageAnswer::error(404, "not_found"),
        };
        if method != "GET" {
            return UsageAnswer::error(405, "method_not_allowed");
        }
        let params = match Params::parse(query.unwrap_or(""), endpoint) {
            Ok(params) => params,
            Err(answer) => return answer,
        };
        let query = SettledQuery {
            payer: params.payer.map(|p| format!("{p:#x}")),
            since: params.since,
            limit: match endpoint {
                Endpoint::Usage => None,
                Endpoint::Recent => Some(params.limit),
            },
        };
        let records = match self.ledger.settled(query).await {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "usage API: the ledger failed");
                return UsageAnswer::error(503, "ledger_unavailable");
            }
        };
        let payer = params.payer.map(|p| p.to_checksum(None));
        match endpoint {
            Endpoint::Usage => UsageAnswer::json(
                200,
                &usage_body(payer.as_deref(), &records, params.since, now, params.by_day),
            ),
            Endpoint::Recent => UsageAnswer::json(200, &recent_body(payer.as_deref(), &records)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Usage,
    Recent,
}

#[derive(Debug)]
struct Params {
    payer: Option<Address>,
    since: u64,
    by_day: bool,
    limit: u32,
}

impl Params {
    fn parse(query: &str, endpoint: Endpoint) -> Result<Self, UsageAnswer> {
        let mut params = Self {
            payer: None,
            since: 0,
            by_day: false,
            limit: DEFAULT_RECENT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(name), Some(value)) = (percent_decode(name), percent_decode(value)) else {
                return Err(UsageAnswer::bad_parameter(
                    pair.split('=').next().unwrap_or(""),
                    "not valid percent-encoded UTF-8",
                ));
            };
            match (name.as_str(), endpoint) {
                ("payer", _) => {
                    let valid = value.len() == 42
                        && value.starts_with("0x")
                        && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
                    match Address::from_str(&value) {
                        Ok(address) if valid => params.payer = Some(address),
                        _ => {
                            return Err(UsageAnswer::bad_parameter(
                                "payer",
                                "must be an address: 0x and 40 hex digits",
                            ));
                        }
                    }
                }
                ("since_ts", Endpoint::Usage) => match value.parse::<u64>() {
                    Ok(since) => params.since = since,
                    Err(_) => {
                        return Err(UsageAnswer::bad_parameter(
                            "since_ts",
                            "must be unix seconds, a non-negative integer",
                        ));
                    }
                },
                ("bucket", Endpoint::Usage) => match value.as_str() {
                    "day" => params.by_day = true,
                    _ => {
                        return Err(UsageAnswer::bad_parameter(
                            "bucket",
                            "the only bucket is `day`",
                        ));
                    }
                },
                ("limit", Endpoint::Recent) => match value.parse::<u32>() {
                    Ok(limit) if (1..=MAX_RECENT).contains(&limit) => params.limit = limit,
                    _ => {
                        return Err(UsageAnswer::bad_parameter(
                            "limit",
                            "must be an integer from 1 to 500",
                        ));
                    }
                },
                (other, _) => {
                    return Err(UsageAnswer::bad_parameter(other, "unknown parameter"));
                }
            }
        }
        Ok(params)
    }
}

/// `%XX` and `+` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The amount a record settled, atomic units (0 when unreadable, which a record written by the
/// gate never is).
fn amount(record: &PaymentRecord) -> U256 {
    U256::from_str_radix(&record.amount, 10).unwrap_or(U256::ZERO)
}

#[derive(Debug, Default)]
struct Total {
    count: u64,
    amount: U256,
}

impl Total {
    fn add(&mut self, record: &PaymentRecord) {
        self.count += 1;
        self.amount = self.amount.saturating_add(amount(record));
    }
}

fn usage_body(
    payer: Option<&str>,
    records: &[PaymentRecord],
    since: u64,
    now: u64,
    by_day: bool,
) -> Value {
    let mut all = Total::default();
    let mut totals = BTreeMap::<(&str, &str), Total>::new();
    let mut days = BTreeMap::<u64, Total>::new();
    for record in records {
        all.add(record);
        totals
            .entry((&record.route, &record.network))
            .or_default()
            .add(record);
        if by_day {
            days.entry(record.updated_at / 86_400)
                .or_default()
                .add(record);
        }
    }
    let totals: Vec<Value> = totals
        .iter()
        .map(|((route, chain), total)| {
            json!({
                "route": route, "chain": chain,
                "count": total.count, "amount": total.amount.to_string(),
            })
        })
        .collect();
    let mut body = json!({
        "payer": payer,
        "window": { "since_ts": since, "until_ts": now },
        "count": all.count,
        "amount": all.amount.to_string(),
        "totals": totals,
    });
    if by_day {
        body["buckets"] = days
            .iter()
            .map(|(day, total)| {
                json!({
                    "date": civil_date(*day), "count": total.count,
                    "amount": total.amount.to_string(),
                })
            })
            .collect();
    }
    body
}

fn recent_body(payer: Option<&str>, records: &[PaymentRecord]) -> Value {
    let payments: Vec<Value> = records
        .iter()
        .map(|record| {
            json!({
                "ts": record.updated_at,
                "route": record.route,
                "chain": record.network,
                "payer": record.payer,
                "amount": record.amount,
                "tx": record.transaction,
            })
        })
        .collect();
    json!({ "payer": payer, "payments": payments })
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (proleptic Gregorian, UTC; H. Hinnant's
/// `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::{
        ledger::{BodyDigest, Claim, Fingerprint, NewPayment, ReplayKey, SqliteLedger, Transition},
        wire::SettleResponse,
    };

    const SECRET: &[u8] = b"s3cret";
    const ALICE: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    const BOB: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    /// 2026-12-03T00:00:00Z.
    const DAY: u64 = 1_796_256_000;

    async fn settle(ledger: &SqliteLedger, n: u8, payer: &str, route: &str, amount: &str, at: u64) {
        let payment = NewPayment::new(
            ReplayKey::from_bytes(&[n]),
            Fingerprint::new("GET", route, BodyDigest::Empty),
            route.trim_start_matches('/'),
            "eip155:84532",
            Some(payer.to_lowercase()),
            amount,
            at + 300,
            at,
        );
        let Claim::Claimed(token) = ledger.claim(payment).await.unwrap() else {
            panic!("fresh key")
        };
        let receipt = SettleResponse::success(format!("0x{n:064x}"), "eip155:84532");
        let settled = Transition::Settled { receipt: &receipt };
        ledger
            .record(ReplayKey::from_bytes(&[n]), token, settled, at)
            .await
            .unwrap();
    }

    async fn api() -> UsageApi {
        let ledger = SqliteLedger::in_memory().unwrap();
        settle(&ledger, 1, ALICE, "/weather", "1000", DAY + 10).await;
        settle(&ledger, 2, ALICE, "/weather", "1000", DAY + 86_400 + 10).await;
        settle(&ledger, 3, ALICE, "/news", "2500", DAY + 86_400 + 20).await;
        settle(&ledger, 4, BOB, "/weather", "1000", DAY + 30).await;
        UsageApi::new(Arc::new(ledger), Some("s3cret".to_owned()))
    }

    async fn get(api: &UsageApi, target: &str) -> (u16, Value) {
        let (path, query) = target
            .split_once('?')
            .map_or((target, None), |(p, q)| (p, Some(q)));
        let answer = api
            .answer("GET", path, query, Some(SECRET), DAY + 200_000)
            .await;
        let body = serde_json::from_slice(answer.body()).expect("JSON");
        (answer.status(), body)
    }

    #[tokio::test]
    async fn without_a_secret_every_internal_path_is_404() {
        let ledger = Arc::new(SqliteLedger::in_memory().unwrap());
        for secret in [None, Some(String::new())] {
            let api = UsageApi::new(ledger.clone(), secret);
            for path in [
                "/internal/usage",
                "/internal/usage/recent",
                "/internal/other",
            ] {
                let answer = api.answer("GET", path, None, Some(SECRET), DAY).await;
                assert_eq!(answer.status(), 404, "{path}");
                assert_eq!(&answer.body()[..], br#"{"error":"not_found"}"#);
            }
        }
    }

    #[tokio::test]
    async fn an_absent_or_wrong_secret_is_403() {
        let api = api().await;
        for secret in [
            None,
            Some(&b"wrong"[..]),
            Some(&b"s3cre"[..]),
            Some(&b"s3cret "[..]),
        ] {
            let answer = api
                .answer("GET", "/internal/usage", None, secret, DAY)
                .await;
            assert_eq!(answer.status(), 403, "{secret:?}");
            assert_eq!(&answer.body()[..], br#"{"error":"forbidden"}"#);
        }
    }

    #[tokio::test]
    async fn usage_totals_per_route_and_chain_and_per_day() {
        let api = api().await;
        let (status, body) = get(
            &api,
            &format!("/internal/usage?payer={ALICE}&since_ts=0&bucket=day"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["payer"], ALICE);
        assert_eq!(body["count"], 3);
        assert_eq!(body["amount"], "4500");
        assert_eq!(
            body["totals"],
            json!([
                { "route": "news", "chain": "eip155:84532", "count": 1, "amount": "2500" },
                { "route": "weather", "chain": "eip155:84532", "count": 2, "amount": "2000" },
            ])
        );
        assert_eq!(
            body["buckets"],
            json!([
                { "date": "2026-12-03", "count": 1, "amount": "1000" },
                { "date": "2026-12-04", "count": 2, "amount": "3500" },
            ])
        );
        assert_eq!(
            body["window"],
            json!({ "since_ts": 0, "until_ts": DAY + 200_000 })
        );
    }

    #[tokio::test]
    async fn usage_without_a_payer_counts_every_payer_since_the_time_given() {
        let api = api().await;
        let (status, body) = get(&api, &format!("/internal/usage?since_ts={}", DAY + 20)).await;
        assert_eq!(status, 200);
        assert_eq!(body["payer"], Value::Null);
        assert_eq!(
            (body["count"].as_u64(), body["amount"].as_str()),
            (Some(3), Some("4500"))
        );
        assert!(body.get("buckets").is_none());
    }

    #[tokio::test]
    async fn recent_lists_the_latest_settlements_of_the_payer_with_their_tx() {
        let api = api().await;
        let (status, body) = get(
            &api,
            &format!("/internal/usage/recent?payer={ALICE}&limit=2"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let payments = body["payments"].as_array().unwrap();
        assert_eq!(payments.len(), 2);
        assert_eq!(payments[0]["route"], "news");
        assert_eq!(payments[0]["tx"], format!("0x{:064x}", 3));
        assert_eq!(payments[1]["tx"], format!("0x{:064x}", 2));
        assert_eq!(payments[0]["payer"], ALICE.to_lowercase());
        let (_, all) = get(&api, "/internal/usage/recent").await;
        assert_eq!(all["payments"].as_array().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn bad_query_values_are_400_naming_the_parameter() {
        let api = api().await;
        for (target, parameter) in [
            ("/internal/usage?payer=alice", "payer"),
            ("/internal/usage?payer=0x1234", "payer"),
            ("/internal/usage?since_ts=-1", "since_ts"),
            ("/internal/usage?since_ts=yesterday", "since_ts"),
            ("/internal/usage?bucket=hour", "bucket"),
            ("/internal/usage?caller=acme", "caller"),
            ("/internal/usage/recent?limit=0", "limit"),
            ("/internal/usage/recent?limit=501", "limit"),
            ("/internal/usage/recent?limit=ten", "limit"),
            ("/internal/usage/recent?since_ts=0", "since_ts"),
            ("/internal/usage?payer=%zz", "payer"),
        ] {
            let (status, body) = get(&api, target).await;
            assert_eq!(status, 400, "{target}: {body}");
            assert_eq!(body["parameter"], parameter, "{target}");
        }
        let (status, _) = get(&api, "/internal/usage/recent?limit=500").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn other_paths_are_404_and_other_methods_405() {
        let api = api().await;
        let (status, _) = get(&api, "/internal/keys").await;
        assert_eq!(status, 404);
        let answer = api
            .answer("POST", "/internal/usage", None, Some(SECRET), DAY)
            .await;
        assert_eq!(answer.status(), 405);
        assert!(!UsageApi::owns("/internalx"));
        assert!(UsageApi::owns("/internal") && UsageApi::owns("/internal/usage"));
    }

    #[test]
    fn civil_dates_match_the_calendar() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(DAY / 86_400), "2026-12-03");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
