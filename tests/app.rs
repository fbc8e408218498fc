//! The app under test: the same handlers behind every adapter, driven in process.
//!
//! Every adapter serves these routes (the route table in [`crate::fixture`] prices some):
//!
//! | route | handler |
//! |---|---|
//! | `GET /health` | 200 `ok` (a free route in the table) |
//! | `GET /open` | 200 `open` (not in the table) |
//! | `GET /weather` | 200 `{"weather":"sunny"}`; headers `x-seen-payer` (the payer of the typed payment in the request extensions, or `none`) and `x-seen-payment-header` (`yes` if a raw payment header reached the handler) |
//! | `GET /fail` | 500 `boom` |
//! | `GET /missing` | 404 `missing` |
//! | `GET /stream` | 200, the body `one,two,three` sent as three chunks 20 ms apart |
//! | `GET /slow` | never answers (the client gives up) |
//! | `POST /echo` | 200, the request body as received |
//! | `GET /metered` | 200 `metered`; chooses the charge of an `upto` payment as the request asks: the value of the request header `x-charge-header` becomes its `Settlement-Overrides` response header, and `x-charge-typed: <atomic units>` puts a typed `SettlementOverrides` in its response extensions |

use std::{future::Future, pin::Pin, time::Duration};

use bytes::Bytes;
use futures_util::Stream;
use x402_core::gate::Gate;

/// The body of `GET /stream`: `one,two,three` in three chunks 20 ms apart, for every adapter
/// to wrap in its own streaming body type.
pub fn stream_chunks() -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, |i| async move {
        let chunk = match i {
            0 => "one,",
            1 => "two,",
            2 => "three",
            _ => return None,
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok(Bytes::from_static(chunk.as_bytes())), i + 1))
    })
}

/// A request to send to the app.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// The method.
    pub method: &'static str,
    /// The request target (path and query).
    pub uri: String,
    /// Headers, in order (duplicates allowed).
    pub headers: Vec<(String, String)>,
    /// The body (empty: none).
    pub body: Bytes,
}

impl TestRequest {
    /// A `GET` of `uri`.
    pub fn get(uri: impl Into<String>) -> Self {
        Self::new("GET", uri)
    }

    /// A request with any method.
    pub fn new(method: &'static str, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: vec![("host".into(), "api.example.com".into())],
            body: Bytes::new(),
        }
    }

    /// Sets the body and its `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        let length = self.body.len().to_string();
        self.header("content-length", length)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the app answered.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// How many data frames the body arrived in (a streamed body stays several).
    pub frames: usize,
}

impl TestResponse {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A running app behind one adapter.
pub trait AppUnderTest: Send + Sync {
    /// Sends a request in process and collects the whole response.
    fn send(&self, request: TestRequest)
    -> Pin<Box<dyn Future<Output = TestResponse> + Send + '_>>;

    /// Resolves once every request whose caller went away has been dropped by the app: the
    /// hand-off after a client disconnect. Apps that drop an abandoned request synchronously
    /// (the caller's future owns it) keep this default.
    fn abandoned_requests_dropped(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// Builds the app of this module behind an adapter's middleware running `gate`.
pub trait AppFactory: Sync {
    /// The adapter's name, for messages.
    fn name(&self) -> &'static str;

    /// Builds the app.
    fn build(&self, gate: Gate) -> Box<dyn AppUnderTest>;
}
