//! Request path normalisation: the one canonical spelling that route patterns are matched
//! against.
//!
//! The most repeated security bug in x402 middleware is a path bypass: a non-canonical spelling
//! of a priced path (`/paid/`, `//paid`, `/%70aid`, `/paid?x`) that the application still serves
//! but the payment check does not recognise. [`NormalizedPath::parse`] turns the request target
//! the server received into a canonical form, or refuses it (the adapters answer `400 Bad
//! Request`), so that every spelling the application would route to `/paid` is priced as
//! `/paid`.
//!
//! # The rules
//!
//! 1. The query (`?…`) and the fragment (`#…`) are cut off.
//! 2. The path must start with `/` ([`PathError::NotAbsolute`] otherwise, also for an empty
//!    path and for the asterisk-form `*`).
//! 3. Each segment is percent-decoded **once**. An invalid escape (`%zz`, a truncated `%4` or a
//!    lone `%`) is an error, and so is a decoded segment that is not UTF-8.
//! 4. Empty segments are dropped: `//` collapses and a trailing `/` is removed (the root `/`
//!    stays).
//! 5. `\` is an ordinary character, not a separator.
//! 6. A control character (`0x00`–`0x1F`, `0x7F`), raw or percent-encoded, is an error.
//! 7. A `.` or `..` segment, raw or percent-encoded (`%2e`, `.%2E`, …), is an **error**; it is
//!    not resolved. This is deliberate: axum, hyper and actix-web route the raw path without
//!    resolving dot segments, so `/paid/../free` reaches the application's `/paid/*` handler. If
//!    the matcher resolved it to `/free`, the request would be priced as `/free` and the paid
//!    handler served for free. Browsers and HTTP clients resolve dot segments before sending, so
//!    only hand-made requests carry them, and refusing them closes the gap both ways.
//! 8. Characters that would change the structure if they were left decoded stay encoded, in
//!    upper-case hex: a decoded `/` (`%2F`, `%2f`) stays inside its segment as `%2F`, and `%`,
//!    `?` and `#` are written `%25`, `%3F` and `%23`. Everything else is decoded (`%41` → `A`,
//!    `%C3%A9` → `é`).
//! 9. A path with more than [`MAX_SEGMENTS`] segments is an error, which bounds the matching
//!    work an attacker can ask for.
//!
//! The canonical form is a fixed point: parsing it again yields it unchanged. Every failure is
//! a [`PathError`]; request-derived input never panics.
//!
//! These rules are the embedded layer's, safe in front of an axum or actix router. A gateway,
//! whose upstream may be any server, adds [`gateway`]'s: it refuses what servers disagree on,
//! matches case-insensitively and forwards the canonical path.
//!
//! # Allocation
//!
//! When the path needs no rewriting (no `%`, no `//`, at most a trailing slash or a query to cut
//! off), the [`NormalizedPath`] borrows the input and nothing is allocated. Iterating over its
//! segments never allocates.
//!
//! # Example
//!
//! ```
//! use x402_core::path::{NormalizedPath, PathError};
//!
//! let path = NormalizedPath::parse("/weather/?city=SF").unwrap();
//! assert_eq!(path.as_str(), "/weather");
//! assert!(path.is_borrowed());
//!
//! let path = NormalizedPath::parse("//api/%76%31/a%2Fb").unwrap();
//! assert_eq!(path.as_str(), "/api/v1/a%2Fb");
//! assert_eq!(path.segments().collect::<Vec<_>>(), ["api", "v1", "a%2Fb"]);
//!
//! assert!(matches!(
//!     NormalizedPath::parse("/paid/../free"),
//!     Err(PathError::DotSegment { offset: 6 })
//! ));
//! ```

pub mod gateway;

use std::{borrow::Cow, fmt, iter::FusedIterator};

/// The largest number of segments a request path may have; a longer path is
/// [`PathError::TooManySegments`].
///
/// Real paths have a few dozen segments at most. The bound caps the work a single request can
/// cause in the matcher (which is linear in the number of segments per pattern branch).
pub const MAX_SEGMENTS: usize = 1024;

/// A request path in canonical form (see the [module docs](self) for the rules).
///
/// Two spellings of the same resource normalise to equal values, so comparing or matching
/// `NormalizedPath`s never depends on how the client spelled the path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedPath<'a> {
    /// Starts with `/`; no empty segment; no trailing `/` unless it is exactly `/`.
    canonical: Cow<'a, str>,
}

/// Why a request path was refused. The adapters answer `400 Bad Request`.
///
/// Offsets are byte offsets into the string given to [`NormalizedPath::parse`]; the message
/// never repeats the (attacker-controlled, possibly huge) path itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty or does not start with `/` (for example the asterisk-form `*` or an
    /// absolute URI).
    #[error("the request path does not start with '/'")]
    NotAbsolute,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("invalid percent-encoding at byte {offset} of the request path")]
    InvalidPercentEncoding {
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// A segment is not valid UTF-8 once percent-decoded.
    #[error("the segment at byte {offset} of the request path is not UTF-8 once percent-decoded")]
    InvalidUtf8 {
        /// Byte offset of the start of the segment.
        offset: usize,
    },
    /// A control character, raw or percent-encoded.
    #[error("control character at byte {offset} of the request path")]
    ControlCharacter {
        /// Byte offset of the character or of the `%` of its escape.
        offset: usize,
    },
    /// A `.` or `..` segment, raw or percent-encoded; these are refused, not resolved.
    #[error("'.' or '..' segment at byte {offset} of the request path")]
    DotSegment {
        /// Byte offset of the start of the segment.
        offset: usize,
    },
    /// More than [`MAX_SEGMENTS`] segments.
    #[error("the request path has more than {max} segments")]
    TooManySegments {
        /// The limit, [`MAX_SEGMENTS`].
        max: usize,
    },
    /// (The gateway's rule, [`gateway::check_unambiguous`].) A spelling common servers read
    /// differently: an encoded `/`, a `;` parameter, a backslash, …
    #[error(
        "{what} at byte {offset} of the request path means different paths to different servers"
    )]
    Ambiguous {
        /// Byte offset of the construct.
        offset: usize,
        /// What was found, e.g. `"an encoded '/'"`.
        what: &'static str,
    },
}

impl<'a> NormalizedPath<'a> {
    /// Normalises a request target in origin-form (`/path?query`, as the server received it).
    ///
    /// Borrows the input when it is already canonical apart from a query, a fragment or a
    /// trailing slash; allocates only when it has to rewrite (percent-escapes, `//`).
    ///
    /// # Errors
    ///
    /// A [`PathError`] when the path cannot be given one unambiguous canonical form; see the
    /// [module docs](self).
    pub fn parse(path_and_query: &'a str) -> Result<Self, PathError> {
        // One pass over the bytes with a class table: this runs on every request.
        let bytes = path_and_query.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Err(PathError::NotAbsolute);
        }
        let mut segment_start = 1;
        // End of the last non-empty segment: the canonical form, if nothing needs rewriting.
        let mut canonical_end = 1;
        let mut segments = 0;
        let mut empty_segment_seen = false;
        let mut i = 1;
        loop {
            // Most bytes are ordinary: skip them in a tight loop.
            while let Some(&byte) = bytes.get(i)
                && BYTE_CLASS[usize::from(byte)] == ORDINARY
            {
                i += 1;
            }
            let class = bytes
                .get(i)
                .map_or(END, |&byte| BYTE_CLASS[usize::from(byte)]);
            match class {
                PERCENT => return rewrite(path_and_query, i).map(Self::owned),
                CONTROL => return Err(PathError::ControlCharacter { offset: i }),
                _ => {
                    // A `/`, or the end of the path.
                    if i == segment_start {
                        empty_segment_seen = true;
                    } else {
                        if empty_segment_seen {
                            // `//` before this segment: collapsing it needs a new string.
                            return rewrite(path_and_query, i).map(Self::owned);
                        }
                        if is_dot_segment(bytes.get(segment_start..i).unwrap_or_default()) {
                            return Err(PathError::DotSegment {
                                offset: segment_start,
                            });
                        }
                        segments += 1;
                        if segments > MAX_SEGMENTS {
                            return Err(PathError::TooManySegments { max: MAX_SEGMENTS });
                        }
                        canonical_end = i;
                    }
                    if class == END {
                        break;
                    }
                    segment_start = i + 1;
                }
            }
            i += 1;
        }
        let canonical = path_and_query.get(..canonical_end).unwrap_or("/");
        Ok(Self {
            canonical: Cow::Borrowed(canonical),
        })
    }

    fn owned(canonical: String) -> Self {
        Self {
            canonical: Cow::Owned(canonical),
        }
    }

    /// The canonical form: starts with `/`, has no empty segment and no trailing `/` (except the
    /// root `/` itself).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The canonical segments, in order; never empty strings. The root `/` has none.
    ///
    /// Never allocates.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            rest: self.after_root(),
        }
    }

    /// Whether this is the root path `/`.
    pub fn is_root(&self) -> bool {
        self.canonical.len() == 1
    }

    /// Whether the canonical form borrows the input (no allocation was needed).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.canonical, Cow::Borrowed(_))
    }

    /// Detaches the path from the input it may borrow.
    pub fn into_owned(self) -> NormalizedPath<'static> {
        NormalizedPath {
            canonical: Cow::Owned(self.canonical.into_owned()),
        }
    }

    /// The canonical form without its leading `/` (empty for the root).
    pub(crate) fn after_root(&self) -> &str {
        self.canonical.strip_prefix('/').unwrap_or_default()
    }
}

impl fmt::Display for NormalizedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl AsRef<str> for NormalizedPath<'_> {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

/// Iterator over the segments of a [`NormalizedPath`], from [`NormalizedPath::segments`].
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    /// The part not yet iterated, without a leading `/`.
    rest: &'a str,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let (segment, rest) = split_first_segment(self.rest);
        self.rest = rest;
        Some(segment)
    }
}

impl FusedIterator for Segments<'_> {}

/// Splits `a/b/c` into `a` and `b/c` (and `a` into `a` and the empty string).
pub(crate) fn split_first_segment(rest: &str) -> (&str, &str) {
    // Segments are short: a plain loop beats a memchr-based searcher's setup.
    match rest.bytes().position(|byte| byte == b'/') {
        Some(slash) => (
            rest.get(..slash).unwrap_or_default(),
            rest.get(slash + 1..).unwrap_or_default(),
        ),
        None => (rest, ""),
    }
}

/// A problem in one segment, with a byte offset into the text being parsed; turned into a
/// [`PathError`] here and into a pattern error in [`crate::pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentFault {
    PercentEncoding(usize),
    Utf8(usize),
    Control(usize),
    Dot(usize),
}

impl From<SegmentFault> for PathError {
    fn from(fault: SegmentFault) -> Self {
        match fault {
            SegmentFault::PercentEncoding(offset) => Self::InvalidPercentEncoding { offset },
            SegmentFault::Utf8(offset) => Self::InvalidUtf8 { offset },
            SegmentFault::Control(offset) => Self::ControlCharacter { offset },
            SegmentFault::Dot(offset) => Self::DotSegment { offset },
        }
    }
}

/// Byte classes for [`NormalizedPath::parse`]'s fast path.
const ORDINARY: u8 = 0;
const SLASH: u8 = 1;
const PERCENT: u8 = 2;
const CONTROL: u8 = 3;
/// `?`, `#`, or (not in the table) the end of the input.
const END: u8 = 4;

const BYTE_CLASS: [u8; 256] = {
    let mut table = [ORDINARY; 256];
    let mut byte: u8 = 0;
    loop {
        table[byte as usize] = match byte {
            b'/' => SLASH,
            b'%' => PERCENT,
            b'?' | b'#' => END,
            0..=0x1F | 0x7F => CONTROL,
            _ => ORDINARY,
        };
        if byte == u8::MAX {
            break table;
        }
        byte += 1;
    }
};

/// The slow path: decodes and re-encodes every segment of the path part of `path_and_query`.
/// `from` is where the fast path stopped; the query or fragment, if any, starts after it.
fn rewrite(path_and_query: &str, from: usize) -> Result<String, PathError> {
    let end = path_and_query
        .bytes()
        .skip(from)
        .position(|byte| byte == b'?' || byte == b'#')
        .map_or(path_and_query.len(), |at| from + at);
    let path = path_and_query.get(..end).unwrap_or_default();
    let mut out = String::with_capacity(path.len());
    let mut decoded = Vec::new();
    let mut segments = 0;
    for (offset, raw) in segments_with_offsets(path) {
        segments += 1;
        if segments > MAX_SEGMENTS {
            return Err(PathError::TooManySegments { max: MAX_SEGMENTS });
        }
        let text = decode_segment(raw, offset, &mut decoded)?;
        if is_dot_segment(text.as_bytes()) {
            return Err(PathError::DotSegment { offset });
        }
        out.push('/');
        push_canonical(text, &mut out);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// The non-empty `/`-separated parts of `text`, each with its byte offset in `text`.
pub(crate) fn segments_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = Some(text);
    let mut offset = 0;
    std::iter::from_fn(move || {
        loop {
            let current = rest?;
            let (segment, after) = match current.bytes().position(|byte| byte == b'/') {
                Some(slash) => (current.get(..slash)?, current.get(slash + 1..)),
                None => (current, None),
            };
            let start = offset;
            offset += segment.len() + 1;
            rest = after;
            if !segment.is_empty() {
                return Some((start, segment));
            }
        }
    })
}

fn is_dot_segment(segment: &[u8]) -> bool {
    matches!(segment, b"." | b"..")
}

/// Percent-decodes `raw` (found at byte `offset` of the text being parsed), into `buffer` if it
/// has escapes, and returns it as text, refusing invalid escapes, control characters and
/// non-UTF-8 results.
pub(crate) fn decode_segment<'r>(
    raw: &'r str,
    offset: usize,
    buffer: &'r mut Vec<u8>,
) -> Result<&'r str, SegmentFault> {
    if !raw.bytes().any(|byte| byte == b'%') {
        return match raw.bytes().position(|byte| byte.is_ascii_control()) {
            Some(i) => Err(SegmentFault::Control(offset + i)),
            None => Ok(raw),
        };
    }
    buffer.clear();
    let mut bytes = raw.bytes().enumerate();
    while let Some((i, byte)) = bytes.next() {
        let decoded = if byte == b'%' {
            let high = bytes.next().and_then(|(_, b)| hex_value(b));
            let low = bytes.next().and_then(|(_, b)| hex_value(b));
            let (Some(high), Some(low)) = (high, low) else {
                return Err(SegmentFault::PercentEncoding(offset + i));
            };
            (high << 4) | low
        } else {
            byte
        };
        if decoded.is_ascii_control() {
            return Err(SegmentFault::Control(offset + i));
        }
        buffer.push(decoded);
    }
    std::str::from_utf8(buffer).map_err(|_| SegmentFault::Utf8(offset))
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Appends decoded segment text in canonical form: the characters that would change the
/// structure of the path when decoded again stay escaped.
pub(crate) fn push_canonical(text: &str, out: &mut String) {
    let mut copied = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'/' => "%2F",
            b'%' => "%25",
            b'?' => "%3F",
            b'#' => "%23",
            _ => continue,
        };
        // ASCII bytes are character boundaries.
        out.push_str(text.get(copied..i).unwrap_or_default());
        out.push_str(escape);
        copied = i + 1;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_and_query_are_cut_off_without_allocating() {
        let path = NormalizedPath::parse("/a/b/?q#f").unwrap();
        assert_eq!(path.as_str(), "/a/b");
        assert!(path.is_borrowed());
    }

    #[test]
    fn segments_of_the_root_are_empty() {
        let path = NormalizedPath::parse("/").unwrap();
        assert!(path.is_root());
        assert_eq!(path.segments().count(), 0);
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(NormalizedPath::parse("/%2541").unwrap().as_str(), "/%2541");
    }

    #[test]
    fn segment_offsets_point_into_the_input() {
        let found: Vec<_> = segments_with_offsets("/ab//c/").collect();
        assert_eq!(found, [(1, "ab"), (5, "c")]);
    }

    #[test]
    fn too_many_segments_is_an_error_on_both_paths() {
        let clean = "/a".repeat(MAX_SEGMENTS + 1);
        let messy = format!("/%61{clean}");
        for path in [clean.as_str(), messy.as_str()] {
            assert_eq!(
                NormalizedPath::parse(path),
                Err(PathError::TooManySegments { max: MAX_SEGMENTS })
            );
        }
        assert!(NormalizedPath::parse(&"/a".repeat(MAX_SEGMENTS)).is_ok());
    }
}
