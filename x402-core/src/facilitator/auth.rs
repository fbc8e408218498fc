//! Authentication headers for facilitator calls, computed before every attempt and keyed by
//! endpoint.
//!
//! Hosted facilitators authenticate each call: the CDP facilitator wants a fresh JWT per request
//! whose claims name the method and URL (`POST api.cdp.coinbase.com/platform/v2/x402/verify`).
//! So a [`FacilitatorAuth`] provider is asked for headers before each attempt, with the
//! operation, method and URL at hand ([`AuthRequest`]). [`StaticAuth`] is the simple case: fixed
//! headers, for every endpoint or for one.
//!
//! Header values are marked sensitive, so they never appear in `Debug` output.
//!
//! ```no_run
//! use x402_core::facilitator::{HttpFacilitator, auth::StaticAuth};
//! use x402_core::labels::FacilitatorOperation;
//!
//! let auth = StaticAuth::new()
//!     .header("Authorization", "Bearer settle-and-verify-token")?
//!     .endpoint_header(FacilitatorOperation::Supported, "X-Api-Key", "read-only")?;
//! let facilitator = HttpFacilitator::builder("https://facilitator.example.com")
//!     .auth(auth)
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{fmt, sync::Arc};

use reqwest::header::{HeaderName, HeaderValue};

use super::BoxFuture;
use crate::labels::FacilitatorOperation;

/// The error a [`FacilitatorAuth`] provider may return (e.g. a key that cannot sign).
pub type AuthError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Supplies the headers of each facilitator call.
///
/// Called before every attempt (retries included), so short-lived tokens are always fresh.
/// A failure ends the call with [`FacilitatorError::Malformed`](super::FacilitatorError::Malformed)
/// (502: our configuration is wrong) without sending anything.
pub trait FacilitatorAuth: fmt::Debug + Send + Sync + 'static {
    /// The headers for one call.
    fn headers<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<AuthHeaders, AuthError>>;
}

impl<A: FacilitatorAuth + ?Sized> FacilitatorAuth for Arc<A> {
    fn headers<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<AuthHeaders, AuthError>> {
        (**self).headers(request)
    }
}

/// The call a provider is asked to authenticate.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    operation: FacilitatorOperation,
    url: &'a str,
}

impl<'a> AuthRequest<'a> {
    pub(crate) fn new(operation: FacilitatorOperation, url: &'a str) -> Self {
        Self { operation, url }
    }

    /// The endpoint: verify, settle or supported.
    pub fn operation(&self) -> FacilitatorOperation {
        self.operation
    }

    /// `POST` for verify and settle, `GET` for supported.
    pub fn method(&self) -> &'static str {
        match self.operation {
            FacilitatorOperation::Verify | FacilitatorOperation::Settle => "POST",
            FacilitatorOperation::Supported => "GET",
        }
    }

    /// The full URL, e.g. `https://api.cdp.coinbase.com/platform/v2/x402/verify`.
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// The URL without its scheme (`api.cdp.coinbase.com/platform/v2/x402/verify`), as JWT
    /// `uris` claims spell it.
    pub fn url_without_scheme(&self) -> &'a str {
        self.url
            .split_once("://")
            .map_or(self.url, |(_, rest)| rest)
    }
}

/// A set of validated request headers. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct AuthHeaders {
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl AuthHeaders {
    /// No headers.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Headers from `(name, value)` pairs, validated; values are marked sensitive.
    pub fn from_pairs<N, V, I>(pairs: I) -> Result<Self, InvalidHeader>
    where
        N: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (N, V)>,
    {
        let headers = pairs
            .into_iter()
            .map(|(name, value)| parse_header(name.as_ref(), value.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            headers: headers.into(),
        })
    }

    /// How many headers.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The header names, lower-case.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.headers.iter().map(|(name, _)| name.as_str())
    }

    pub(crate) fn pairs(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

impl fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values are credentials.
        f.debug_list().entries(self.names()).finish()
    }
}

/// A header name or value that cannot be sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// Not a valid HTTP header name.
    #[error("invalid header name {name:?}")]
    Name {
        /// The name as given.
        name: String,
    },
    /// Not a valid HTTP header value (control characters, newlines). The value is not repeated
    /// here since it is probably a credential.
    #[error("invalid value for header {name:?}")]
    Value {
        /// The header name.
        name: String,
    },
}

fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidHeader> {
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidHeader::Name {
        name: name.to_owned(),
    })?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| InvalidHeader::Value {
        name: name.to_owned(),
    })?;
    header_value.set_sensitive(true);
    Ok((header_name, header_value))
}

/// Fixed headers: for every endpoint, or for one (`verify`, `settle`, `supported`).
///
/// Built once; each call gets a shared copy, no allocation.
#[derive(Debug, Clone, Default)]
pub struct StaticAuth {
    common: Vec<(HeaderName, HeaderValue)>,
    by_operation: [Vec<(HeaderName, HeaderValue)>; 3],
    built: [AuthHeaders; 3],
}

const OPERATIONS: [FacilitatorOperation; 3] = [
    FacilitatorOperation::Verify,
    FacilitatorOperation::Settle,
    FacilitatorOperation::Supported,
];

fn operation_index(operation: FacilitatorOperation) -> usize {
    match operation {
        FacilitatorOperation::Verify => 0,
        FacilitatorOperation::Settle => 1,
        FacilitatorOperation::Supported => 2,
    }
}

impl StaticAuth {
    /// No headers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Authorization: Bearer <token>` on every endpoint.
    pub fn bearer(token: &str) -> Result<Self, InvalidHeader> {
        Self::new().header("Authorization", &format!("Bearer {token}"))
    }

    /// A header sent to every endpoint.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, InvalidHeader> {
        self.common.push(parse_header(name, value)?);
        self.rebuild();
        Ok(self)
    }

    /// A header sent to one endpoint only.
    pub fn endpoint_header(
        mut self,
        operation: FacilitatorOperation,
        name: &str,
        value: &str,
    ) -> Result<Self, InvalidHeader> {
        self.by_operation[operation_index(operation)].push(parse_header(name, value)?);
        self.rebuild();
        Ok(self)
    }

    /// The headers one endpoint gets.
    pub fn headers_for(&self, operation: FacilitatorOperation) -> &AuthHeaders {
        &self.built[operation_index(operation)]
    }

    fn rebuild(&mut self) {
        for operation in OPERATIONS {
            let index = operation_index(operation);
            let headers: Vec<_> = self
                .common
                .iter()
                .chain(&self.by_operation[index])
                .cloned()
                .collect();
            self.built[index] = AuthHeaders {
                headers: headers.into(),
            };
        }
    }
}

impl FacilitatorAuth for StaticAuth {
    fn headers<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<AuthHeaders, AuthError>> {
        let headers = self.headers_for(request.operation()).clone();
        Box::pin(std::future::ready(Ok(headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_headers_add_to_the_common_ones() {
        let auth = StaticAuth::bearer("t")
            .unwrap()
            .endpoint_header(FacilitatorOperation::Settle, "X-Settle", "1")
            .unwrap();
        let settle: Vec<_> = auth
            .headers_for(FacilitatorOperation::Settle)
            .names()
            .collect();
        let verify: Vec<_> = auth
            .headers_for(FacilitatorOperation::Verify)
            .names()
            .collect();
        assert_eq!(settle, ["authorization", "x-settle"]);
        assert_eq!(verify, ["authorization"]);
    }

    #[test]
    fn debug_output_never_shows_header_values() {
        let auth = StaticAuth::bearer("secret-token").unwrap();
        assert!(!format!("{auth:?}").contains("secret-token"));
    }

    #[test]
    fn a_newline_in_a_value_is_refused_without_echoing_it() {
        let error = StaticAuth::new().header("X-Key", "a\nb").unwrap_err();
        assert_eq!(error.to_string(), r#"invalid value for header "X-Key""#);
    }

    #[test]
    fn jwt_uris_are_spelled_without_the_scheme() {
        let request = AuthRequest::new(
            FacilitatorOperation::Verify,
            "https://api.cdp.coinbase.com/platform/v2/x402/verify",
        );
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.url_without_scheme(),
            "api.cdp.coinbase.com/platform/v2/x402/verify"
        );
    }
}
