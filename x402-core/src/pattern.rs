//! Route path patterns: `*`, `**` and segment globs over [normalised paths](crate::path).
//!
//! A pattern is a path whose segments may be wildcards:
//!
//! | segment | matches |
//! |---|---|
//! | `*` | exactly one segment (segments are never empty) |
//! | `**` | zero or more segments, anywhere in the pattern: `/a/**/c` matches `/a/c`, `/a/b/c` and `/a/b/x/c` |
//! | `inference-*`, `a-*-b`, `*.json` | one segment, where each `*` stands for zero or more characters of that segment |
//! | anything else | that exact segment |
//!
//! The pattern text goes through the same normalisation as a request path (see
//! [`crate::path`]), so `/a%20b` and `/a b` are the same pattern and `/api/` is `/api`. `/`
//! matches only the root; `/**` matches every path, the root included. Matching is
//! case-sensitive unless the pattern is parsed with [`MatchCase::Insensitive`] (ASCII case
//! folding).
//!
//! Refused with a [`PatternError`]:
//! - a pattern that does not start with `/`;
//! - `**` that is not a whole segment (`***`, `a**`, `**.json`): it would read like "any depth"
//!   but could only ever glob within one segment, so it is almost certainly a mistake;
//! - a raw `?` or `#` (in a request they start the query or fragment, so a pattern containing
//!   them could never match; write `%3F` or `%23` for the literal character);
//! - a `.` or `..` segment, invalid percent-encoding, control characters, non-UTF-8 escapes
//!   (request paths with those are refused, so such a pattern could never match).
//!
//! A literal `*` is written `%2A`. Percent-escapes are decoded once, as in request paths: a
//! `%2F` in a pattern matches a `%2F` inside a request segment, never a `/`.
//!
//! # Example
//!
//! ```
//! use x402_core::{path::NormalizedPath, pattern::{MatchCase, PathPattern}};
//!
//! let pattern = PathPattern::parse("/inference-*/v1/**", MatchCase::Sensitive).unwrap();
//! let path = |text| NormalizedPath::parse(text).unwrap();
//! assert!(pattern.matches(&path("/inference-prod/v1/chat/completions")));
//! assert!(pattern.matches(&path("/inference-prod/v1")));
//! assert!(!pattern.matches(&path("/inference-prod/v2/models")));
//!
//! let all = PathPattern::parse("/inference-*/**", MatchCase::Sensitive).unwrap();
//! assert!(all.covers(&pattern));
//! assert!(!pattern.covers(&all));
//! ```

use std::hash::{Hash, Hasher};

use crate::path::{
    MAX_SEGMENTS, NormalizedPath, SegmentFault, decode_segment, push_canonical,
    segments_with_offsets,
};

/// Whether a pattern's literal text is compared case-sensitively (the default) or with ASCII
/// case folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
// Exhaustive on purpose: a configuration choice with two sides.
pub enum MatchCase {
    /// `/Health` does not match `/health`.
    #[default]
    Sensitive,
    /// ASCII letters match either case: `/Health` matches `/health`. Non-ASCII text is still
    /// compared exactly.
    Insensitive,
}

/// A compiled route path pattern (see the [module docs](self) for the syntax).
///
/// Equality and hashing follow what the pattern matches: two spellings of one pattern
/// (`/a%20b` and `/a b/`) are equal, although [`as_str`](Self::as_str) returns each as written.
#[derive(Debug, Clone)]
pub struct PathPattern {
    /// As written in the configuration.
    text: Box<str>,
    /// Normalised: `/` followed by the rendered segments; re-parsing it yields the same pattern.
    canonical: Box<str>,
    case: MatchCase,
    /// No two `**` in a row.
    segments: Box<[Segment]>,
}

/// One segment of a compiled pattern. Literal text is in the canonical form of
/// [`NormalizedPath`] segments, so comparing it is comparing canonical strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Literal(Box<str>),
    Glob(Glob),
    Star,
    DoubleStar,
}

/// A segment with at least one `*` that is not the whole segment: the literal pieces around the
/// stars (at least two; the first and last may be empty), each in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Glob {
    pieces: Box<[Box<str>]>,
}

/// Why a path pattern was refused. Each variant names the pattern; offsets are byte offsets
/// into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is the empty string.
    #[error("a path pattern must not be empty (use \"/\" for the root, \"/**\" for everything)")]
    Empty,
    /// The pattern does not start with `/`.
    #[error("path pattern {pattern:?} must start with '/'")]
    NotAbsolute {
        /// The pattern as written.
        pattern: String,
    },
    /// A `%` is not followed by two hexadecimal digits.
    #[error("path pattern {pattern:?}: invalid percent-encoding at byte {offset}")]
    InvalidPercentEncoding {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// Percent-decoding a segment (or a piece of a glob) does not give UTF-8.
    #[error(
        "path pattern {pattern:?}: the text at byte {offset} is not UTF-8 once percent-decoded"
    )]
    InvalidUtf8 {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the segment or glob piece.
        offset: usize,
    },
    /// A control character, raw or percent-encoded.
    #[error("path pattern {pattern:?}: control character at byte {offset}")]
    ControlCharacter {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the character or of its escape.
        offset: usize,
    },
    /// A `.` or `..` segment: request paths containing one are refused, so it could never match.
    #[error(
        "path pattern {pattern:?}: '.' or '..' segment at byte {offset} (request paths with dot \
         segments are refused, so this pattern could never match)"
    )]
    DotSegment {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the segment.
        offset: usize,
    },
    /// A raw `?` or `#`, which would start a query or fragment in a request.
    #[error(
        "path pattern {pattern:?}: '?' or '#' at byte {offset} (a request's query and fragment \
         are not matched; write %3F or %23 for the literal character)"
    )]
    QueryOrFragment {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the character.
        offset: usize,
    },
    /// `**` inside a segment (`***`, `a**`, `**.json`).
    #[error(
        "path pattern {pattern:?}: '**' at byte {offset} must be a whole segment ('**' matches \
         any number of segments; use a single '*' to match within a segment)"
    )]
    DoubleStarInSegment {
        /// The pattern as written.
        pattern: String,
        /// Byte offset of the `**`.
        offset: usize,
    },
    /// More than [`MAX_SEGMENTS`] segments that each need a request segment: no accepted request
    /// path could match.
    #[error("path pattern {pattern:?} has more than {max} segments")]
    TooManySegments {
        /// The pattern as written.
        pattern: String,
        /// The limit, [`MAX_SEGMENTS`].
        max: usize,
    },
}

impl PatternError {
    fn from_fault(pattern: &str, fault: SegmentFault) -> Self {
        let pattern = pattern.to_owned();
        match fault {
            SegmentFault::PercentEncoding(offset) => {
                Self::InvalidPercentEncoding { pattern, offset }
            }
            SegmentFault::Utf8(offset) => Self::InvalidUtf8 { pattern, offset },
            SegmentFault::Control(offset) => Self::ControlCharacter { pattern, offset },
            SegmentFault::Dot(offset) => Self::DotSegment { pattern, offset },
        }
    }
}

impl PathPattern {
    /// Parses and compiles a pattern.
    ///
    /// # Errors
    ///
    /// A [`PatternError`] naming the pattern and what is wrong with it; see the
    /// [module docs](self).
    pub fn parse(text: &str, case: MatchCase) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if !text.starts_with('/') {
            return Err(PatternError::NotAbsolute {
                pattern: text.to_owned(),
            });
        }
        if let Some(offset) = text.find(['?', '#']) {
            return Err(PatternError::QueryOrFragment {
                pattern: text.to_owned(),
                offset,
            });
        }
        let fault = |fault| PatternError::from_fault(text, fault);
        let mut segments = Vec::new();
        let mut buffer = Vec::new();
        for (offset, raw) in segments_with_offsets(text) {
            let segment = if raw == "**" {
                Segment::DoubleStar
            } else if let Some(at) = raw.find("**") {
                return Err(PatternError::DoubleStarInSegment {
                    pattern: text.to_owned(),
                    offset: offset + at,
                });
            } else if raw == "*" {
                Segment::Star
            } else if raw.contains('*') {
                let mut pieces = Vec::new();
                let mut piece_offset = offset;
                for piece in raw.split('*') {
                    let decoded =
                        decode_segment(piece, piece_offset, &mut buffer).map_err(fault)?;
                    pieces.push(canonical_text(decoded));
                    piece_offset += piece.len() + 1;
                }
                Segment::Glob(Glob {
                    pieces: pieces.into(),
                })
            } else {
                let decoded = decode_segment(raw, offset, &mut buffer).map_err(fault)?;
                if decoded == "." || decoded == ".." {
                    return Err(fault(SegmentFault::Dot(offset)));
                }
                Segment::Literal(canonical_text(decoded))
            };
            // `**/**` matches exactly what `**` matches; keeping one keeps matching simple.
            if segment == Segment::DoubleStar && segments.last() == Some(&Segment::DoubleStar) {
                continue;
            }
            segments.push(segment);
        }
        let needed = segments
            .iter()
            .filter(|s| **s != Segment::DoubleStar)
            .count();
        if needed > MAX_SEGMENTS {
            return Err(PatternError::TooManySegments {
                pattern: text.to_owned(),
                max: MAX_SEGMENTS,
            });
        }
        Ok(Self {
            text: text.into(),
            canonical: render(&segments).into(),
            case,
            segments: segments.into(),
        })
    }

    /// The pattern text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The normalised pattern text (`/a%20b/` → `/a b`); parsing it gives an equal pattern.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// How literal text is compared.
    pub fn case(&self) -> MatchCase {
        self.case
    }

    /// Whether the pattern matches `path`.
    ///
    /// This is the straightforward matcher for one pattern (linear in the path for most
    /// patterns, at most segments × pattern segments with `**`); use
    /// [`PathMatcher`](crate::matcher::PathMatcher) to find the first of many patterns that
    /// matches.
    pub fn matches(&self, path: &NormalizedPath<'_>) -> bool {
        let pattern = &*self.segments;
        let mut p = 0;
        let mut input = path.segments();
        // Where to resume if the text after the latest `**` fails: that `**` then takes one
        // more segment. Trying the latest `**` only is enough (the classic wildcard argument).
        let mut resume = None;
        loop {
            let before = input.clone();
            let Some(segment) = input.next() else {
                return pattern
                    .get(p..)
                    .is_some_and(|rest| rest.iter().all(|s| *s == Segment::DoubleStar));
            };
            match pattern.get(p) {
                Some(Segment::DoubleStar) => {
                    p += 1;
                    input = before.clone();
                    resume = Some((p, before));
                    continue;
                }
                Some(single) if single.matches_one(segment, self.case) => {
                    p += 1;
                    continue;
                }
                _ => {}
            }
            let Some((after_star, star_input)) = &mut resume else {
                return false;
            };
            star_input.next();
            p = *after_star;
            input = star_input.clone();
        }
    }

    /// Whether every path `other` matches is also matched by `self` (so `other`, declared after
    /// `self`, could never win).
    ///
    /// Sound: `true` is only returned when that holds. Incomplete: `false` may be returned for
    /// some glob-versus-glob pairs that do cover each other. A case-sensitive pattern covers a
    /// case-insensitive one only where the latter's literal text has no ASCII letters.
    pub fn covers(&self, other: &PathPattern) -> bool {
        let (a, b) = (&*self.segments, &*other.segments);
        let folds = self.case == MatchCase::Sensitive && other.case == MatchCase::Insensitive;
        let width = b.len() + 1;
        // covered[i * width + j]: a[i..] covers b[j..]. Filled from the ends backwards.
        let mut covered = vec![false; (a.len() + 1) * width];
        let at = |i: usize, j: usize| i * width + j;
        if let Some(last) = covered.last_mut() {
            *last = true;
        }
        for i in (0..a.len()).rev() {
            for j in (0..=b.len()).rev() {
                let value = match (&a[i], b.get(j)) {
                    (Segment::DoubleStar, next) => {
                        covered[at(i + 1, j)] || (next.is_some() && covered[at(i, j + 1)])
                    }
                    (_, None | Some(Segment::DoubleStar)) => false,
                    (single, Some(theirs)) => {
                        single.covers_one(theirs, self.case, folds) && covered[at(i + 1, j + 1)]
                    }
                };
                covered[at(i, j)] = value;
            }
        }
        covered.first().copied().unwrap_or(false)
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        self.case == other.case
            && match self.case {
                MatchCase::Sensitive => self.canonical == other.canonical,
                MatchCase::Insensitive => self.canonical.eq_ignore_ascii_case(&other.canonical),
            }
    }
}

impl Eq for PathPattern {}

impl Hash for PathPattern {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.case.hash(state);
        match self.case {
            MatchCase::Sensitive => self.canonical.hash(state),
            MatchCase::Insensitive => {
                for byte in self.canonical.bytes() {
                    state.write_u8(byte.to_ascii_lowercase());
                }
            }
        }
    }
}

impl Segment {
    /// Whether this single-segment matcher (not `**`) accepts the canonical request segment.
    pub(crate) fn matches_one(&self, segment: &str, case: MatchCase) -> bool {
        match self {
            Self::Literal(text) => eq_case(text.as_bytes(), segment.as_bytes(), case),
            Self::Glob(glob) => glob.matches(segment, case),
            Self::Star => true,
            Self::DoubleStar => false,
        }
    }

    /// Whether every segment `theirs` (not `**`) matches is matched by `self` (not `**`).
    fn covers_one(&self, theirs: &Segment, case: MatchCase, folds: bool) -> bool {
        // A case-insensitive `theirs` compared against a case-sensitive `self` matches the
        // other case of any letter too; only letter-free text is safe to compare.
        if folds && theirs.has_ascii_letters() && !matches!(self, Self::Star) {
            return false;
        }
        match (self, theirs) {
            (Self::Star, _) => true,
            (Self::Literal(ours), Self::Literal(text)) => {
                eq_case(ours.as_bytes(), text.as_bytes(), case)
            }
            (Self::Glob(glob), Self::Literal(text)) => glob.matches(text, case),
            (Self::Glob(ours), Self::Glob(other)) => ours.covers(other, case),
            _ => false,
        }
    }

    fn has_ascii_letters(&self) -> bool {
        match self {
            Self::Literal(text) => text.bytes().any(|b| b.is_ascii_alphabetic()),
            Self::Glob(glob) => glob
                .pieces
                .iter()
                .any(|p| p.bytes().any(|b| b.is_ascii_alphabetic())),
            Self::Star | Self::DoubleStar => false,
        }
    }
}

impl Glob {
    /// The literal text before the first `*` (may be empty).
    pub(crate) fn prefix(&self) -> &str {
        self.pieces.first().map_or("", |p| p)
    }

    /// The literal text after the last `*` (may be empty).
    pub(crate) fn suffix(&self) -> &str {
        self.pieces.last().map_or("", |p| p)
    }

    /// The same glob with its text ASCII-lowercased (for case-insensitive indexing).
    pub(crate) fn to_ascii_lowercase(&self) -> Self {
        Self {
            pieces: self
                .pieces
                .iter()
                .map(|p| p.to_ascii_lowercase().into())
                .collect(),
        }
    }

    /// Whether the canonical request segment matches. A `*` stands for whole characters of the
    /// decoded segment, so no piece may start inside a `%XX` escape of the canonical text.
    pub(crate) fn matches(&self, segment: &str, case: MatchCase) -> bool {
        let s = segment.as_bytes();
        let Some((first, rest)) = self.pieces.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return false;
        };
        let (first, last) = (first.as_bytes(), last.as_bytes());
        let Some(end) = s
            .len()
            .checked_sub(last.len())
            .filter(|&end| end >= first.len())
        else {
            return false;
        };
        let head_matches = s
            .get(..first.len())
            .is_some_and(|head| eq_case(head, first, case));
        let tail_matches = s.get(end..).is_some_and(|tail| eq_case(tail, last, case));
        if !head_matches || !tail_matches || !is_boundary(s, end) {
            return false;
        }
        let mut position = first.len();
        for piece in middle {
            let piece = piece.as_bytes();
            // The leftmost occurrence leaves the most room for the pieces after it.
            let found = (position..=end.saturating_sub(piece.len())).find(|&at| {
                at + piece.len() <= end
                    && is_boundary(s, at)
                    && s.get(at..at + piece.len())
                        .is_some_and(|text| eq_case(text, piece, case))
            });
            match found {
                Some(at) => position = at + piece.len(),
                None => return false,
            }
        }
        true
    }

    /// Sound, incomplete: identical globs, and a `prefix*suffix` glob versus any glob whose
    /// first piece starts with `prefix` and whose last piece ends with `suffix`.
    fn covers(&self, other: &Glob, case: MatchCase) -> bool {
        let same = self.pieces.len() == other.pieces.len()
            && self
                .pieces
                .iter()
                .zip(other.pieces.iter())
                .all(|(a, b)| eq_case(a.as_bytes(), b.as_bytes(), case));
        if same {
            return true;
        }
        let [prefix, suffix] = &*self.pieces else {
            return false;
        };
        let (theirs_first, theirs_last) = (other.prefix().as_bytes(), other.suffix().as_bytes());
        let prefix_ok = theirs_first
            .get(..prefix.len())
            .is_some_and(|head| eq_case(head, prefix.as_bytes(), case));
        let suffix_ok = theirs_last
            .len()
            .checked_sub(suffix.len())
            .filter(|&start| is_boundary(theirs_last, start))
            .and_then(|start| theirs_last.get(start..))
            .is_some_and(|tail| eq_case(tail, suffix.as_bytes(), case));
        // Every segment `other` matches starts with its first piece and ends with its last one,
        // which do not overlap, so `prefix` and `suffix` do not overlap either.
        prefix_ok && suffix_ok
    }
}

fn eq_case(a: &[u8], b: &[u8], case: MatchCase) -> bool {
    match case {
        MatchCase::Sensitive => a == b,
        MatchCase::Insensitive => a.eq_ignore_ascii_case(b),
    }
}

/// Whether byte `at` of canonical text starts a character (is not inside a `%XX` escape).
fn is_boundary(text: &[u8], at: usize) -> bool {
    let percent_before =
        |back: usize| at.checked_sub(back).and_then(|i| text.get(i)) == Some(&b'%');
    !percent_before(1) && !percent_before(2)
}

fn canonical_text(decoded: &str) -> Box<str> {
    let mut text = String::with_capacity(decoded.len());
    push_canonical(decoded, &mut text);
    text.into()
}

/// The normalised pattern text; a literal `*` is written `%2A` so that it reads back as one.
fn render(segments: &[Segment]) -> String {
    let literal = |text: &str, out: &mut String| out.push_str(&text.replace('*', "%2A"));
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        match segment {
            Segment::Literal(text) => literal(text, &mut out),
            Segment::Glob(glob) => {
                for (i, piece) in glob.pieces.iter().enumerate() {
                    if i > 0 {
                        out.push('*');
                    }
                    literal(piece, &mut out);
                }
            }
            Segment::Star => out.push('*'),
            Segment::DoubleStar => out.push_str("**"),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text, MatchCase::Sensitive).unwrap()
    }

    #[test]
    fn canonical_text_reads_back_as_the_same_pattern() {
        for text in ["/a%20b/", "/%2A/a%2A*", "/**/**/x", "/", "//a//*-%2f-*"] {
            let parsed = pattern(text);
            let again = pattern(parsed.canonical());
            assert_eq!(again, parsed, "{text}");
            assert_eq!(again.canonical(), parsed.canonical(), "{text}");
        }
    }

    #[test]
    fn consecutive_double_stars_collapse() {
        assert_eq!(pattern("/a/**/**/b").segments().len(), 3);
    }

    #[test]
    fn a_glob_piece_never_starts_inside_an_escape() {
        let glob = pattern("/*F");
        let path = NormalizedPath::parse("/a%2F").unwrap();
        assert!(!glob.matches(&path));
        assert!(pattern("/*%2F").matches(&path));
        assert!(pattern("/a*").matches(&path));
        assert!(!pattern("/*2F*").matches(&path));
    }
}
