//! The gateway's path rule: what a reverse proxy or a ForwardAuth server may price, when the
//! upstream can be any server.
//!
//! [`NormalizedPath::parse`] is safe when an axum or actix router sits behind the layer: that
//! router matches the raw path, case-sensitively, and decodes nothing. A gateway's upstream can
//! be anything, and common servers disagree about the same spelling: nginx and Python's
//! `http.server` decode `%2F` into a separator, Tomcat drops `;` parameters (`/paid;x/report`
//! is `/paid/report` there), some servers treat `\` as `/` or decode twice, Express routes
//! case-insensitively. A spelling that our matcher reads as a free path but one of them maps to
//! a priced resource would be served unpaid.
//!
//! So in gateway modes:
//!
//! 1. [`check_unambiguous`] refuses every spelling servers disagree on, *on top of*
//!    [`NormalizedPath::parse`]'s refusals (invalid escapes, dot segments, control characters,
//!    invalid UTF-8): a raw `\`, `;` or `#` in the path; an encoded `/`, `\`, `;`, `?`, `#` or
//!    `%` (`%2F`, `%5C`, `%3B`, `%3F`, `%23`, `%25`: the last is how double encoding starts).
//!    The gate answers `400 invalid_path`.
//! 2. What is left has one meaning everywhere, up to letter case, `//` and a trailing `/`:
//!    priced patterns match case-insensitively (the gateway builds its tables so), and
//! 3. the proxy forwards [`canonical_target`] — the canonical path, re-encoded, and the query
//!    as received — so the upstream sees exactly the path that was priced. A ForwardAuth server
//!    cannot rewrite what the proxy in front forwards; rules 1 and 2 are what keep it safe.
//!
//! ```
//! use x402_core::path::gateway::{canonical_target, check_unambiguous};
//!
//! assert!(check_unambiguous("/free/..%2fpaid/report").is_err()); // nginx: /paid/report
//! assert!(check_unambiguous("/paid;jsessionid=1/report").is_err()); // Tomcat: /paid/report
//! assert!(check_unambiguous("/free\\..\\paid").is_err());
//! assert!(check_unambiguous("/paid/%2570").is_err()); // double encoding
//! assert!(check_unambiguous("//paid/r%65port/?q=1").is_ok());
//! assert_eq!(canonical_target("//paid/r%65port/?q=1").unwrap(), "/paid/report?q=1");
//! ```

use super::{NormalizedPath, PathError};

/// Refuses a request target whose path has no single meaning on every common server (see the
/// [module docs](self)); `Ok` when [`NormalizedPath::parse`] accepts it and nothing in its path
/// is ambiguous. Only the path is examined, up to the first `?`.
///
/// # Errors
///
/// [`PathError::Ambiguous`] naming the construct and its byte offset, or what
/// [`NormalizedPath::parse`] refuses.
pub fn check_unambiguous(path_and_query: &str) -> Result<(), PathError> {
    scan_ambiguous(path_and_query)?;
    NormalizedPath::parse(path_and_query).map(drop)
}

/// The byte scan of [`check_unambiguous`] alone, without [`NormalizedPath::parse`]'s checks:
/// for a caller that parses the path anyway (the gate, whose table match parses it), so the
/// request path is parsed once.
pub(crate) fn scan_ambiguous(path_and_query: &str) -> Result<(), PathError> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    let bytes = path.as_bytes();
    for (offset, &byte) in bytes.iter().enumerate() {
        let what = match byte {
            b'\\' => "a backslash",
            b';' => "a ';' path parameter",
            b'#' => "a '#'",
            b'%' => match bytes.get(offset + 1..offset + 3) {
                Some([a, b]) => match (a.to_ascii_uppercase(), b.to_ascii_uppercase()) {
                    (b'2', b'F') => "an encoded '/'",
                    (b'5', b'C') => "an encoded backslash",
                    (b'3', b'B') => "an encoded ';'",
                    (b'3', b'F') => "an encoded '?'",
                    (b'2', b'3') => "an encoded '#'",
                    (b'2', b'5') => "an encoded '%' (double encoding)",
                    _ => continue,
                },
                // A truncated escape: `parse` names it below.
                _ => continue,
            },
            _ => continue,
        };
        return Err(PathError::Ambiguous { offset, what });
    }
    Ok(())
}

/// The request target to forward upstream: the canonical path (see [`NormalizedPath`]),
/// percent-encoded where a URI path needs it (anything but unreserved characters, sub-delims,
/// `:`, `@` and `/`), then the query exactly as received.
///
/// # Errors
///
/// What [`check_unambiguous`] refuses.
pub fn canonical_target(path_and_query: &str) -> Result<String, PathError> {
    scan_ambiguous(path_and_query)?;
    let path = NormalizedPath::parse(path_and_query)?;
    let query = path_and_query.split_once('?').map(|(_, query)| query);
    let mut target = String::with_capacity(path.as_str().len() + query.map_or(0, |q| q.len() + 1));
    for &byte in path.as_str().as_bytes() {
        if is_path_char(byte) {
            target.push(char::from(byte));
        } else {
            target.push('%');
            target.push(char::from(HEX[usize::from(byte >> 4)]));
            target.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    Ok(target)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A byte that stands for itself in a URI path (RFC 3986 `pchar` and `/`, without `%`: the
/// canonical path of an unambiguous target holds no escape).
fn is_path_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/".contains(&byte)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn spellings_servers_disagree_on_are_refused_with_what_and_where() {
        for (target, offset, what) in [
            ("/free/..%2Fpaid", 8, "an encoded '/'"),
            ("/free/%2fpaid", 6, "an encoded '/'"),
            ("/free/%5cpaid", 6, "an encoded backslash"),
            ("/free\\paid", 5, "a backslash"),
            ("/paid;x=1/report", 5, "a ';' path parameter"),
            ("/paid/report;jsessionid=1", 12, "a ';' path parameter"),
            ("/paid%3Bx/report", 5, "an encoded ';'"),
            ("/free%3f/../paid", 5, "an encoded '?'"),
            ("/free/#/../../paid", 6, "a '#'"),
            ("/free%23/x", 5, "an encoded '#'"),
            ("/paid/%252e%252e", 6, "an encoded '%' (double encoding)"),
        ] {
            assert_eq!(
                check_unambiguous(target),
                Err(PathError::Ambiguous { offset, what }),
                "{target}"
            );
        }
        // `parse`'s own refusals still apply.
        assert!(matches!(
            check_unambiguous("/free/%2e%2e/paid"),
            Err(PathError::DotSegment { .. })
        ));
        assert!(matches!(
            check_unambiguous("/paid/%c0%ae"),
            Err(PathError::InvalidUtf8 { .. })
        ));
        assert!(matches!(
            check_unambiguous("/paid%00"),
            Err(PathError::ControlCharacter { .. })
        ));
        // The query is not the path.
        assert!(check_unambiguous("/paid?next=/a;b%2F..\\").is_ok());
    }

    #[test]
    fn the_forwarded_target_is_the_canonical_path_and_the_query_as_received() {
        assert_eq!(canonical_target("/paid/report").unwrap(), "/paid/report");
        assert_eq!(canonical_target("//Paid//report/").unwrap(), "/Paid/report");
        assert_eq!(
            canonical_target("/p%61id/r%C3%A9port").unwrap(),
            "/paid/r%C3%A9port"
        );
        assert_eq!(
            canonical_target("/a%20b?x=%2F&y").unwrap(),
            "/a%20b?x=%2F&y"
        );
        assert_eq!(canonical_target("/?").unwrap(), "/?");
        assert!(canonical_target("/free/..%2Fpaid").is_err());
    }

    proptest! {
        /// The forwarded target is accepted again, forwards as itself, and normalises to the
        /// path that was priced: what the upstream sees is what was matched.
        #[test]
        fn the_canonical_target_is_a_fixed_point(target in "/[a-zA-Z0-9%/._~;\\\\?#é-]{0,24}") {
            if let Ok(forwarded) = canonical_target(&target) {
                prop_assert_eq!(&canonical_target(&forwarded).unwrap(), &forwarded);
                let (seen, priced) =
                    (NormalizedPath::parse(&forwarded).unwrap(), NormalizedPath::parse(&target).unwrap());
                prop_assert_eq!(seen.as_str(), priced.as_str());
            }
        }
    }
}
