//! The forwarding headers the proxy sets on each request it sends upstream.
//!
//! - `X-Forwarded-For` gets the client's address; `X-Forwarded-Proto` (`http`, or `https` on
//!   a TLS listener) and `X-Forwarded-Host` (the client's `Host`) are set. With
//!   `trustForwardedHeaders` (only behind a proxy that sets them) the client side's values are
//!   kept: `X-Forwarded-For` is appended to, the other two kept when present. Without it the
//!   client's own values are replaced, so a client cannot forge its address.
//! - `Forwarded` (RFC 7239), with `forwarded: true`: `for=…;host=…;proto=…`, appended to the
//!   client side's with `trustForwardedHeaders`, replacing it otherwise. Without the setting a
//!   client's `Forwarded` is removed unless trusted (an upstream may read it).
//! - `Via` (RFC 9110 §7.6.3): `1.1 x402-gateway` (the request's protocol version) is appended,
//!   on requests and on responses.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Version, header};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The name the gateway gives itself in `Via`.
pub const VIA_NAME: &str = "x402-gateway";

/// How the forwarding headers are set (from the configuration file).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Forwarding {
    /// `trustForwardedHeaders`.
    pub trust: bool,
    /// `forwarded`: also set RFC 7239 `Forwarded`.
    pub rfc7239: bool,
    /// `https` when the listener terminates TLS.
    pub https: bool,
}

impl Forwarding {
    /// Sets the forwarding headers of a request from `client` (its address) that named `host`.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        client: Option<IpAddr>,
        host: Option<&HeaderValue>,
    ) {
        let proto = if self.https { "https" } else { "http" };
        let for_value = client.map(|ip| ip.to_string());
        if self.trust {
            if let Some(client) = &for_value {
                append_list(headers, X_FORWARDED_FOR, client);
            }
            if !headers.contains_key(&X_FORWARDED_PROTO) {
                headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
            }
            if !headers.contains_key(&X_FORWARDED_HOST)
                && let Some(host) = host
            {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
        } else {
            headers.remove(&X_FORWARDED_FOR);
            headers.remove(&X_FORWARDED_HOST);
            headers.remove(header::FORWARDED);
            if let Some(value) = for_value.as_deref().and_then(value) {
                headers.insert(X_FORWARDED_FOR, value);
            }
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
            if let Some(host) = host {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
        }
        if self.rfc7239 {
            let element = forwarded_element(client, host, proto);
            append_list(headers, header::FORWARDED, &element);
        }
    }
}

/// Appends `this` hop to `Via` (`1.1 x402-gateway`), for a message of `version`.
pub fn append_via(headers: &mut HeaderMap, version: Version) {
    // `<protocol> x402-gateway`, spelled out so the common case (no `Via` yet) allocates nothing.
    let ours = match version {
        Version::HTTP_09 => "0.9 x402-gateway",
        Version::HTTP_10 => "1.0 x402-gateway",
        Version::HTTP_2 => "2 x402-gateway",
        Version::HTTP_3 => "3 x402-gateway",
        _ => "1.1 x402-gateway",
    };
    debug_assert!(ours.ends_with(VIA_NAME));
    if headers.contains_key(header::VIA) {
        append_list(headers, header::VIA, ours);
    } else {
        headers.insert(header::VIA, HeaderValue::from_static(ours));
    }
}

/// One RFC 7239 element: `for=192.0.2.1;host=example.com;proto=https`, an IPv6 address
/// quoted and bracketed, a host quoted when it is not a token (a port's `:` is not).
fn forwarded_element(client: Option<IpAddr>, host: Option<&HeaderValue>, proto: &str) -> String {
    let mut element = match client {
        Some(IpAddr::V4(ip)) => format!("for={ip}"),
        Some(IpAddr::V6(ip)) => format!("for=\"[{ip}]\""),
        None => "for=unknown".to_owned(),
    };
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        if host.bytes().all(is_token) {
            element.push_str(&format!(";host={host}"));
        } else if !host.contains(['"', '\\']) {
            element.push_str(&format!(";host=\"{host}\""));
        }
    }
    element.push_str(&format!(";proto={proto}"));
    element
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `name: previous, item` (every previous line joined), or `name: item`.
fn append_list(headers: &mut HeaderMap, name: HeaderName, item: &str) {
    let previous: Vec<&str> = headers
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = if previous.is_empty() {
        item.to_owned()
    } else {
        format!("{}, {item}", previous.join(", "))
    };
    if let Some(value) = value(&joined) {
        headers.insert(name, value);
    }
}

fn value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_elements_quote_ipv6_and_non_token_hosts() {
        let host = HeaderValue::from_static("api.example.com:8443");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            forwarded_element(Some(v6), Some(&host), "https"),
            "for=\"[2001:db8::1]\";host=\"api.example.com:8443\";proto=https"
        );
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let plain = HeaderValue::from_static("example.com");
        assert_eq!(
            forwarded_element(Some(v4), Some(&plain), "http"),
            "for=192.0.2.1;host=example.com;proto=http"
        );
    }

    #[test]
    fn trusted_headers_are_appended_to_and_untrusted_ones_replaced() {
        let client: IpAddr = "10.0.0.2".parse().unwrap();
        let host = HeaderValue::from_static("shop.example");
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=203.0.113.9"),
        );
        let mut trusted = headers.clone();

        Forwarding {
            trust: false,
            rfc7239: true,
            https: true,
        }
        .apply(&mut headers, Some(client), Some(&host));
        assert_eq!(headers[&X_FORWARDED_FOR], "10.0.0.2");
        assert_eq!(headers[&X_FORWARDED_PROTO], "https");
        assert_eq!(
            headers[header::FORWARDED],
            "for=10.0.0.2;host=shop.example;proto=https"
        );

        Forwarding {
            trust: true,
            rfc7239: true,
            https: false,
        }
        .apply(&mut trusted, Some(client), Some(&host));
        assert_eq!(trusted[&X_FORWARDED_FOR], "203.0.113.9, 10.0.0.2");
        assert_eq!(
            trusted[header::FORWARDED],
            "for=203.0.113.9, for=10.0.0.2;host=shop.example;proto=http"
        );
    }

    #[test]
    fn via_is_appended_with_the_protocol_version() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VIA, HeaderValue::from_static("1.0 fred"));
        append_via(&mut headers, Version::HTTP_11);
        assert_eq!(headers[header::VIA], "1.0 fred, 1.1 x402-gateway");
    }
}
