//! Path normalisation and matching, case by case.
//!
//! The tables are the path-matching acceptance behaviours of `shared/seed-behaviours.md` §5
//! (items 1–13 and 15) and obol's `matcher_test.go` tables (§2.9), adjusted to our semantics.
//! Rows where we decide differently from a seed carry a comment saying which seed and why.
//! Items 14 and 16–19 are about ForwardAuth, hosts and Ingress wiring, not path matching; they
//! are tested where those live.

use x402_core::{
    matcher::PathMatcher,
    path::{NormalizedPath, PathError},
    pattern::{MatchCase, PathPattern, PatternError},
};

fn pattern(text: &str) -> PathPattern {
    PathPattern::parse(text, MatchCase::Sensitive)
        .unwrap_or_else(|error| panic!("pattern {text:?}: {error}"))
}

fn insensitive(text: &str) -> PathPattern {
    PathPattern::parse(text, MatchCase::Insensitive)
        .unwrap_or_else(|error| panic!("pattern {text:?}: {error}"))
}

fn path(text: &str) -> NormalizedPath<'_> {
    NormalizedPath::parse(text).unwrap_or_else(|error| panic!("path {text:?}: {error}"))
}

fn matcher(patterns: &[&str]) -> PathMatcher {
    PathMatcher::new(patterns.iter().map(|text| pattern(text)).collect())
}

/// Checks every row with both the per-pattern matcher and a one-pattern [`PathMatcher`].
fn assert_matches(compiled: &PathPattern, rows: &[(&str, bool)]) {
    let one = PathMatcher::new(vec![compiled.clone()]);
    for &(input, expected) in rows {
        let normalized = path(input);
        assert_eq!(
            compiled.matches(&normalized),
            expected,
            "pattern {:?} vs path {input:?} (PathPattern::matches)",
            compiled.as_str()
        );
        assert_eq!(
            one.first_match(&normalized, |_| true).is_some(),
            expected,
            "pattern {:?} vs path {input:?} (PathMatcher)",
            compiled.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

#[test]
fn normalisation_gives_the_canonical_form() {
    // (input, canonical form, borrows the input)
    let table: &[(&str, &str, bool)] = &[
        ("/", "/", true),
        ("/a/b", "/a/b", true),
        ("/a/b/", "/a/b", true),
        ("/a/b///", "/a/b", true),
        ("/a/b?x=1&y=/z", "/a/b", true),
        ("/a/b/#frag", "/a/b", true),
        ("/a/b#frag?not-a-query", "/a/b", true),
        ("/?x", "/", true),
        ("//", "/", true),
        ("/a//b/", "/a/b", false),
        ("//a", "/a", false),
        ("/a%2fb", "/a%2Fb", false),
        ("/a%2Fb", "/a%2Fb", false),
        ("/%41", "/A", false),
        ("/%25", "/%25", false),
        ("/%2541", "/%2541", false), // decoded once, not twice
        ("/%3f/%3F", "/%3F/%3F", false),
        ("/%23", "/%23", false),
        ("/%7e%7E", "/~~", false),
        ("/a%20b", "/a b", false),
        ("/caf%C3%A9", "/café", false),
        ("/café", "/café", true),
        ("/a\\b", "/a\\b", true), // `\` is a character, not a separator
        ("/a%5Cb", "/a\\b", false),
        ("/a+b", "/a+b", true), // `+` is not a space in a path
        ("/...", "/...", true), // not a dot segment
        ("/.a/a./..b", "/.a/a./..b", true),
        ("/a;b=c", "/a;b=c", true),
    ];
    for &(input, canonical, borrowed) in table {
        let normalized = path(input);
        assert_eq!(normalized.as_str(), canonical, "input {input:?}");
        assert_eq!(
            normalized.is_borrowed(),
            borrowed,
            "input {input:?} borrowed"
        );
    }
}

#[test]
fn the_canonical_form_is_a_fixed_point() {
    for input in [
        "/a//b/",
        "/a%2fb",
        "/%25",
        "/%2541",
        "/%3f%23",
        "/caf%C3%A9/%7E",
        "/a%20b/",
    ] {
        let once = path(input);
        let twice = NormalizedPath::parse(once.as_str()).unwrap();
        assert_eq!(twice, once, "input {input:?}");
    }
}

#[test]
fn a_clean_path_borrows_the_input() {
    let input = String::from("/api/v1/users/123?expand=true");
    let normalized = path(&input);
    assert!(normalized.is_borrowed());
    assert_eq!(normalized.as_str().as_ptr(), input.as_ptr());
}

#[test]
fn segments_are_the_canonical_segments() {
    let normalized = path("//a/%2Fb//c%20d/");
    assert_eq!(
        normalized.segments().collect::<Vec<_>>(),
        ["a", "%2Fb", "c d"]
    );
    assert_eq!(path("/").segments().count(), 0);
}

#[test]
fn invalid_paths_are_errors_with_the_offset() {
    let table: &[(&str, PathError)] = &[
        ("", PathError::NotAbsolute),
        ("paid", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("?x=/paid", PathError::NotAbsolute),
        ("http://host/paid", PathError::NotAbsolute),
        ("/x/../paid", PathError::DotSegment { offset: 3 }),
        ("/paid/./x", PathError::DotSegment { offset: 6 }),
        ("/paid/..", PathError::DotSegment { offset: 6 }),
        ("/paid/../", PathError::DotSegment { offset: 6 }),
        ("/.", PathError::DotSegment { offset: 1 }),
        ("/%2e%2e/paid", PathError::DotSegment { offset: 1 }),
        ("/%2E/paid", PathError::DotSegment { offset: 1 }),
        ("/paid/.%2e/x", PathError::DotSegment { offset: 6 }),
        ("//x/%2e%2E", PathError::DotSegment { offset: 4 }),
        ("/paid/%zz", PathError::InvalidPercentEncoding { offset: 6 }),
        ("/paid/%4", PathError::InvalidPercentEncoding { offset: 6 }),
        ("/paid/%", PathError::InvalidPercentEncoding { offset: 6 }),
        (
            "/paid/%%41",
            PathError::InvalidPercentEncoding { offset: 6 },
        ),
        (
            "/paid/a%g1",
            PathError::InvalidPercentEncoding { offset: 7 },
        ),
        ("/paid%00", PathError::ControlCharacter { offset: 5 }),
        ("/paid/%0a", PathError::ControlCharacter { offset: 6 }),
        ("/paid/%7F", PathError::ControlCharacter { offset: 6 }),
        ("/paid/\u{0}", PathError::ControlCharacter { offset: 6 }),
        ("/pa\tid", PathError::ControlCharacter { offset: 3 }),
        ("/paid/%C3", PathError::InvalidUtf8 { offset: 6 }),
        ("/paid/%FF", PathError::InvalidUtf8 { offset: 6 }),
        ("/paid/%C3%28", PathError::InvalidUtf8 { offset: 6 }),
    ];
    for (input, expected) in table {
        assert_eq!(
            NormalizedPath::parse(input).as_ref(),
            Err(expected),
            "input {input:?}"
        );
    }
}

#[test]
fn error_messages_say_where_without_echoing_the_path() {
    let hostile = format!("/{}%zz", "a".repeat(10_000));
    let error = NormalizedPath::parse(&hostile).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("byte 10001"), "{message}");
    assert!(message.len() < 100, "{message}");
}

#[test]
fn too_many_segments_is_an_error_not_a_miss() {
    let deep = "/a".repeat(x402_core::path::MAX_SEGMENTS + 1);
    assert_eq!(
        NormalizedPath::parse(&deep),
        Err(PathError::TooManySegments {
            max: x402_core::path::MAX_SEGMENTS
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Bypass spellings of a paid path
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Priced,
    Unpriced,
    Rejected,
}

fn outcome(matcher: &PathMatcher, input: &str) -> Outcome {
    match NormalizedPath::parse(input) {
        Ok(normalized) if matcher.first_match(&normalized, |_| true).is_some() => Outcome::Priced,
        Ok(_) => Outcome::Unpriced,
        Err(_) => Outcome::Rejected,
    }
}

#[test]
fn every_spelling_of_a_paid_path_is_priced_or_rejected() {
    use Outcome::{Priced, Rejected, Unpriced};
    let paid = matcher(&["/paid", "/paid/**"]);
    let table: &[(&str, Outcome)] = &[
        ("/paid", Priced),
        ("/paid/", Priced),
        ("//paid", Priced),
        ("///paid//", Priced),
        ("/%70aid", Priced),
        ("/pa%69d/x", Priced),
        ("/%70%61%69%64", Priced),
        ("/paid?x", Priced),
        ("/paid?", Priced),
        ("/paid#x", Priced),
        ("/paid/?x=../free", Priced),
        ("/paid//x/", Priced),
        ("/paid/%C3%A9", Priced),
        ("/PAID", Unpriced), // case-sensitive by default; see the insensitive test below
        ("/x/../paid", Rejected),
        ("/paid/./x", Rejected),
        ("/%2e%2e/paid", Rejected),
        ("/free/%2E%2E/paid", Rejected),
        ("/paid/%zz", Rejected),
        ("/paid/%4", Rejected),
        ("/paid/%", Rejected),
        ("/paid%00", Rejected),
        ("/paid/%C3", Rejected),
        // A decoded `/` stays inside its segment, as it does for axum's and actix's routers:
        // `/paid%2Fx` is the one segment `paid%2Fx`, which `/paid/**` does not match.
        ("/paid%2Fx", Unpriced),
        ("/%2Fpaid", Unpriced),
        ("/paid%3Fx", Unpriced),
        ("/paid\\x", Unpriced), // `\` is a literal character, one segment
    ];
    for &(input, expected) in table {
        assert_eq!(outcome(&paid, input), expected, "input {input:?}");
    }
    assert_eq!(
        path("/paid%2Fx").segments().collect::<Vec<_>>(),
        ["paid%2Fx"]
    );
}

#[test]
fn upper_case_spellings_are_priced_when_the_route_is_case_insensitive() {
    let paid = PathMatcher::new(vec![insensitive("/paid"), insensitive("/paid/**")]);
    for input in ["/PAID", "/Paid/", "/%50aid", "/pAiD/x?y", "/paid"] {
        assert_eq!(outcome(&paid, input), Outcome::Priced, "input {input:?}");
    }
    assert_eq!(outcome(&paid, "/paidx"), Outcome::Unpriced);
}

// ---------------------------------------------------------------------------------------------
// Seed tables (seed-behaviours.md §5 items 1–13, 15; obol matcher_test.go)
// ---------------------------------------------------------------------------------------------

#[test]
fn single_star_matches_exactly_one_segment() {
    // §5 item 1, obol TestMatchRoute_PrefixMatch `/rpc/*`.
    assert_matches(
        &pattern("/rpc/*"),
        &[
            ("/rpc/mainnet", true),
            ("/rpc/sepolia", true),
            ("/rpc/a/b/c", false), // OB: match (greedy `/*`); for us `*` is one segment, use `/rpc/**`
            ("/rpc/", false),      // OB: match; for us `/rpc/` is `/rpc` and `*` needs a segment
            ("/rpc", false),       // OB: match; same reason
            ("/rpcx/foo", false),
            ("/other", false),
        ],
    );
}

#[test]
fn double_star_gives_the_obol_prefix_behaviour() {
    // §5 item 1 with the pattern that means what obol's `/rpc/*` did.
    assert_matches(
        &pattern("/rpc/**"),
        &[
            ("/rpc/mainnet", true),
            ("/rpc/a/b/c", true),
            ("/rpc/", true),
            ("/rpc", true),
            ("/rpcx/foo", false),
            ("/other", false),
        ],
    );
}

#[test]
fn a_segment_glob_then_one_segment() {
    // §5 item 2, obol TestMatchRoute_GlobMatch `/inference-*/v1/*`.
    assert_matches(
        &pattern("/inference-*/v1/*"),
        &[
            ("/inference-abc/v1/chat/completions", false), // OB: match (last `*` greedy); `*` is one segment
            ("/inference-prod/v1/models", true),
            ("/inference-test-123/v1/embeddings", true),
            ("/inference-abc/v1/a/b/c", false), // OB: match; same reason
            ("/inference-abc/v2/models", false),
            ("/inference/v1/models", false),
            ("/other-abc/v1/models", false),
            ("/inference-abc/v1", false),
        ],
    );
}

#[test]
fn a_segment_glob_then_any_depth() {
    // §5 item 2 with `**`: obol's intent for `/inference-*/v1/*`.
    assert_matches(
        &pattern("/inference-*/v1/**"),
        &[
            ("/inference-abc/v1/chat/completions", true),
            ("/inference-abc/v1/a/b/c", true),
            ("/inference-abc/v1", true), // OB: no; `**` includes zero segments
            ("/inference-/v1/models", true), // the `*` in a segment may match nothing
            ("/inference-abc/v2/models", false),
            ("/inference/v1/models", false),
            ("/other-abc/v1/models", false),
        ],
    );
}

#[test]
fn a_segment_glob_stays_within_its_segment() {
    // §5 item 3, obol TestMatchPattern_GlobSegmentBoundary.
    assert_matches(
        &pattern("/a-*/b"),
        &[
            ("/a-x/b", true),
            ("/a-/b", true),
            ("/a-x%2Fy/b", true), // the encoded slash is part of the segment
            ("/a-x/c", false),
            ("/a-x/b/extra", false),
            ("/a/x/b", false),
        ],
    );
}

#[test]
fn several_stars_in_one_segment() {
    assert_matches(
        &pattern("/*-*-*.json"),
        &[
            ("/a-b-c.json", true),
            ("/--.json", true),
            ("/a-b-c-d.json", true),
            ("/a-b.json", false),
            ("/a-b-c.jsonx", false),
            ("/a-b-c.json/x", false),
        ],
    );
}

#[test]
fn a_literal_path_ignores_trailing_and_duplicate_slashes() {
    // §5 item 4, obol TestMatchRoute_ExactMatch.
    assert_matches(
        &pattern("/health"),
        &[
            ("/health", true),
            ("/healthz", false),
            ("/health/deep", false),
            ("/health/", true), // OB: no (exact string compare); OP: match. We drop the trailing slash
            ("//health", true), // OP: match; we collapse `//`
            ("/health?probe=1", true),
        ],
    );
}

#[test]
fn star_under_a_prefix_is_one_segment_as_the_operator_docs_say() {
    // §5 item 5, OP `/api/v1/*`.
    assert_matches(
        &pattern("/api/v1/*"),
        &[
            ("/api/v1/users", true),
            ("/api/v1/users/123", false), // OP code: match (any depth); OP docs and we: no
            ("/api/v1", false),           // OP: match; `*` needs a segment
            ("/api/v1/", false),          // OP: match; same
            ("/api/v1x", false),
        ],
    );
}

#[test]
fn trailing_double_star_matches_the_prefix_and_anything_below() {
    // §5 item 6, OP `/api/v1/**`.
    assert_matches(
        &pattern("/api/v1/**"),
        &[
            ("/api/v1/users/123/posts", true),
            ("/api/v1", true),
            ("/api/v1/", true),
            ("/api/v10/x", false),
            ("/api", false),
        ],
    );
}

#[test]
fn root_double_star_matches_everything() {
    // §5 item 6, OP `/**`.
    assert_matches(
        &pattern("/**"),
        &[("/", true), ("/a", true), ("/a/b/c", true), ("/%2F", true)],
    );
}

#[test]
fn root_star_matches_one_segment_only() {
    // §5 item 6: OP `/*` matches every path; for us it is one segment.
    assert_matches(
        &pattern("/*"),
        &[
            ("/a", true),
            ("/a/b", false), // OP: match
            ("/", false),    // OP: match
        ],
    );
}

#[test]
fn double_star_in_the_middle_matches_zero_or_more_segments() {
    // §5 item 7: OP treats a middle `**` as a literal, obol as one segment. R: zero or more.
    assert_matches(
        &pattern("/a/**/c"),
        &[
            ("/a/c", true),
            ("/a/b/c", true),   // OP: no (literal `**`)
            ("/a/b/x/c", true), // OB: no (`**` = `*`)
            ("/a/c/c", true),
            ("/a/b", false),
            ("/a/c/d", false),
            ("/c", false),
            ("/a", false),
        ],
    );
}

#[test]
fn several_double_stars_in_one_pattern() {
    assert_matches(
        &pattern("/**/b/**/d"),
        &[
            ("/b/d", true),
            ("/a/b/c/d", true),
            ("/b/b/d/d", true),
            ("/a/b/c", false),
            ("/d/b", false),
        ],
    );
}

#[test]
fn star_in_the_middle_is_one_segment() {
    // §5 item 8, OP `/a/*/c`.
    assert_matches(
        &pattern("/a/*/c"),
        &[
            ("/a/b/c", true),
            ("/a/b/c/d", false),
            ("/a/c", false),
            ("/a//c", false),
        ],
    );
}

#[test]
fn matching_is_case_sensitive_by_default() {
    // §5 item 9.
    assert_matches(
        &pattern("/health"),
        &[("/Health", false), ("/health", true)],
    );
    assert_matches(&pattern("/rpc/*"), &[("/RPC/x", false), ("/rpc/X", true)]);
    assert_matches(
        &pattern("/Inference-*"),
        &[("/inference-a", false), ("/Inference-A", true)],
    );
}

#[test]
fn case_insensitive_patterns_fold_ascii_letters() {
    assert_matches(
        &insensitive("/health"),
        &[("/Health", true), ("/HEALTH/", true)],
    );
    assert_matches(
        &insensitive("/rpc/*"),
        &[("/RPC/x", true), ("/rpcx/x", false)],
    );
    assert_matches(
        &insensitive("/Inference-*/V1/**"),
        &[
            ("/inference-a/v1/x", true),
            ("/INFERENCE-/v1", true),
            ("/inferenc-a/v1", false),
        ],
    );
    // Only ASCII letters fold.
    assert_matches(&insensitive("/café"), &[("/CAFé", true), ("/CAFÉ", false)]);
}

#[test]
fn a_raw_question_mark_in_a_pattern_is_an_error() {
    // §5 item 10: obol compares `/a/?` literally. For us a raw `?` would start the request's
    // query, so such a pattern could never match: it is refused, and `%3F` is the literal.
    assert_eq!(
        PathPattern::parse("/a/?", MatchCase::Sensitive),
        Err(PatternError::QueryOrFragment {
            pattern: "/a/?".into(),
            offset: 3
        })
    );
    assert_matches(
        &pattern("/a/%3F"),
        &[
            ("/a/%3F", true),
            ("/a/%3f", true),
            ("/a/b", false),
            ("/a/?", false),
        ],
    );
}

#[test]
fn first_match_in_declaration_order_wins() {
    // §5 item 11, obol TestMatchRoute_FirstMatchWins.
    let rpc_first = matcher(&["/rpc/*", "/rpc/premium/*"]);
    // OB: "rpc" (index 0) wins because its `/rpc/*` is greedy; for us `/rpc/*` is one segment,
    // so only "premium" matches `/rpc/premium/mainnet`.
    assert_eq!(
        rpc_first.first_match(&path("/rpc/premium/mainnet"), |_| true),
        Some(1)
    );
    // With the pattern that means what obol meant, the first declared route wins.
    let rpc_first = matcher(&["/rpc/**", "/rpc/premium/*"]);
    assert_eq!(
        rpc_first.first_match(&path("/rpc/premium/mainnet"), |_| true),
        Some(0)
    );
}

#[test]
fn declaration_order_beats_specificity() {
    let m = matcher(&["/**", "/paid", "/paid/*"]);
    assert_eq!(m.first_match(&path("/paid"), |_| true), Some(0));
    let m = matcher(&["/paid/*", "/paid/x", "/**"]);
    assert_eq!(m.first_match(&path("/paid/x"), |_| true), Some(0));
    assert_eq!(m.first_match(&path("/paid"), |_| true), Some(2));
}

#[test]
fn the_root_pattern_matches_only_the_root() {
    // §5 item 12.
    assert_matches(
        &pattern("/"),
        &[("/", true), ("//", true), ("/?x", true), ("/other", false)],
    );
}

#[test]
fn the_query_never_affects_matching() {
    // §5 item 13: `/rpc?method=eth_sendRawTransaction` must not slip past a priced `/rpc/**`.
    let m = matcher(&["/rpc/**"]);
    assert_eq!(
        m.first_match(&path("/rpc?method=eth_sendRawTransaction"), |_| true),
        Some(0)
    );
    assert_eq!(m.first_match(&path("/rpc/?x=1#y"), |_| true), Some(0));
}

#[test]
fn a_literal_segment_does_not_match_a_longer_one() {
    // §5 item 15: `/services/foobar/x` is not under `/services/foo/*`.
    assert_matches(
        &pattern("/services/foo/*"),
        &[("/services/foobar/x", false), ("/services/foo/x", true)],
    );
}

#[test]
fn unmatched_paths_find_nothing() {
    // obol TestMatchRoute_NoMatch: `/health` and `/` match neither route.
    let m = matcher(&["/rpc/*", "/inference-*/v1/*"]);
    for input in ["/health", "/"] {
        assert_eq!(
            m.first_match(&path(input), |_| true),
            None,
            "input {input:?}"
        );
    }
    // OB also tries the empty string; for us it is not a path at all (400, fail closed).
    assert_eq!(NormalizedPath::parse(""), Err(PathError::NotAbsolute));
}

#[test]
fn an_empty_matcher_matches_nothing() {
    // obol TestMatchRoute_EmptyRoutes.
    for m in [PathMatcher::default(), PathMatcher::new(Vec::new())] {
        assert!(m.is_empty());
        assert_eq!(m.len(), 0);
        assert_eq!(m.first_match(&path("/"), |_| true), None);
        assert_eq!(m.first_match(&path("/a/b"), |_| true), None);
    }
}

#[test]
fn ethereum_network_patterns() {
    // obol TestMatchRoute_EthereumNetworkPattern, with `*` meaning one segment.
    let m = matcher(&["/ethereum-*/execution/*", "/ethereum-*/beacon/*"]);
    let table: &[(&str, Option<usize>)] = &[
        (
            "/ethereum-nervous-otter/execution/eth/v1/beacon/genesis",
            None,
        ), // OB: match (greedy)
        ("/ethereum-prod/execution/", None), // OB: match; `/…/execution` has no segment for `*`
        ("/ethereum-prod/execution/eth", Some(0)),
        ("/ethereum-prod/beacon/eth/v1/beacon/headers", None), // OB: match (greedy)
        ("/ethereum-prod/beacon/headers", Some(1)),
        ("/ethereum-prod/consensus/", None),
    ];
    for &(input, expected) in table {
        assert_eq!(
            m.first_match(&path(input), |_| true),
            expected,
            "input {input:?}"
        );
    }
    // The same table with `**`, which is what obol's patterns meant.
    let m = matcher(&["/ethereum-*/execution/**", "/ethereum-*/beacon/**"]);
    let table: &[(&str, Option<usize>)] = &[
        (
            "/ethereum-nervous-otter/execution/eth/v1/beacon/genesis",
            Some(0),
        ),
        ("/ethereum-prod/execution/", Some(0)),
        ("/ethereum-prod/beacon/eth/v1/beacon/headers", Some(1)),
        ("/ethereum-prod/consensus/", None),
    ];
    for &(input, expected) in table {
        assert_eq!(
            m.first_match(&path(input), |_| true),
            expected,
            "input {input:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_patterns_are_errors_naming_the_pattern() {
    let error = |text: &str| PathPattern::parse(text, MatchCase::Sensitive).unwrap_err();
    let owned = |text: &str| text.to_owned();
    let table: &[(&str, PatternError)] = &[
        ("", PatternError::Empty),
        (
            "paid",
            PatternError::NotAbsolute {
                pattern: owned("paid"),
            },
        ),
        (
            "*",
            PatternError::NotAbsolute {
                pattern: owned("*"),
            },
        ),
        (
            "/a/?",
            PatternError::QueryOrFragment {
                pattern: owned("/a/?"),
                offset: 3,
            },
        ),
        (
            "/a#b",
            PatternError::QueryOrFragment {
                pattern: owned("/a#b"),
                offset: 2,
            },
        ),
        (
            "/a/***",
            PatternError::DoubleStarInSegment {
                pattern: owned("/a/***"),
                offset: 3,
            },
        ),
        (
            "/a/**x",
            PatternError::DoubleStarInSegment {
                pattern: owned("/a/**x"),
                offset: 3,
            },
        ),
        (
            "/a/x**",
            PatternError::DoubleStarInSegment {
                pattern: owned("/a/x**"),
                offset: 4,
            },
        ),
        (
            "/a/../b",
            PatternError::DotSegment {
                pattern: owned("/a/../b"),
                offset: 3,
            },
        ),
        (
            "/a/%2e",
            PatternError::DotSegment {
                pattern: owned("/a/%2e"),
                offset: 3,
            },
        ),
        (
            "/./a",
            PatternError::DotSegment {
                pattern: owned("/./a"),
                offset: 1,
            },
        ),
        (
            "/a/%zz",
            PatternError::InvalidPercentEncoding {
                pattern: owned("/a/%zz"),
                offset: 3,
            },
        ),
        (
            "/a-*%4",
            PatternError::InvalidPercentEncoding {
                pattern: owned("/a-*%4"),
                offset: 4,
            },
        ),
        (
            "/a/%C3",
            PatternError::InvalidUtf8 {
                pattern: owned("/a/%C3"),
                offset: 3,
            },
        ),
        (
            "/a/%00",
            PatternError::ControlCharacter {
                pattern: owned("/a/%00"),
                offset: 3,
            },
        ),
    ];
    for (text, expected) in table {
        assert_eq!(&error(text), expected, "pattern {text:?}");
    }
    let message = error("/a/**x").to_string();
    assert!(
        message.contains("\"/a/**x\"") && message.contains("byte 3"),
        "{message}"
    );
}

#[test]
fn a_pattern_is_normalised_like_a_path() {
    let table: &[(&str, &str)] = &[
        ("/a%20b", "/a b"),
        ("/api/", "/api"),
        ("//api//v1", "/api/v1"),
        ("/a/**/**/b", "/a/**/b"),
        ("/%41*", "/A*"),
        ("/a%2fb", "/a%2Fb"),
        ("/a%2A", "/a%2A"),
        ("/", "/"),
    ];
    for &(written, canonical) in table {
        let compiled = pattern(written);
        assert_eq!(compiled.as_str(), written);
        assert_eq!(compiled.canonical(), canonical, "pattern {written:?}");
        assert_eq!(compiled, pattern(canonical), "pattern {written:?}");
    }
    assert_ne!(pattern("/a"), insensitive("/a"));
    assert_eq!(insensitive("/Api"), insensitive("/aPI"));
    assert_ne!(pattern("/Api"), pattern("/aPI"));
}

#[test]
fn encoded_characters_in_a_pattern_match_their_encoded_spelling() {
    // `%2F` in a pattern is a slash inside a segment, never a separator.
    assert_matches(
        &pattern("/a%2Fb"),
        &[("/a%2fb", true), ("/a%2Fb", true), ("/a/b", false)],
    );
    // `%2A` is a literal star, not a wildcard.
    assert_matches(
        &pattern("/a%2A"),
        &[("/a*", true), ("/a%2A", true), ("/ab", false)],
    );
    assert_matches(&pattern("/%2A-*"), &[("/*-x", true), ("/a-x", false)]);
    // A space spelled either way.
    assert_matches(&pattern("/a%20b"), &[("/a b", true), ("/a%20b", true)]);
}

// ---------------------------------------------------------------------------------------------
// The matcher: first match, accept filter
// ---------------------------------------------------------------------------------------------

#[test]
fn a_filtered_out_route_lets_the_next_match_win() {
    // Say route 0 is `GET /paid`, route 1 `POST /paid`, route 2 a free `/**`.
    let m = matcher(&["/paid", "/paid", "/**"]);
    let get = path("/paid");
    assert_eq!(m.first_match(&get, |index| index != 1), Some(0));
    assert_eq!(m.first_match(&get, |index| index != 0), Some(1));
    assert_eq!(m.first_match(&get, |index| index == 2), Some(2));
    assert_eq!(m.first_match(&get, |_| false), None);
}

#[test]
fn accept_is_asked_only_about_matching_routes_and_once_each() {
    let m = matcher(&["/a/*", "/b/**", "/**", "/a/x", "/a/**", "/*/x"]);
    let mut asked = Vec::new();
    let found = m.first_match(&path("/a/x"), |index| {
        asked.push(index);
        false
    });
    assert_eq!(found, None);
    asked.sort_unstable();
    assert_eq!(asked, [0, 2, 3, 4, 5]);
}

#[test]
fn case_sensitive_and_insensitive_routes_mix() {
    let m = PathMatcher::new(vec![
        pattern("/Paid/x"),
        insensitive("/paid/*"),
        pattern("/paid/**"),
    ]);
    assert_eq!(m.first_match(&path("/Paid/x"), |_| true), Some(0));
    assert_eq!(m.first_match(&path("/PAID/x"), |_| true), Some(1));
    assert_eq!(m.first_match(&path("/paid/x/y"), |_| true), Some(2));
    assert_eq!(m.first_match(&path("/PAID/x/y"), |_| true), None);
    assert_eq!(m.pattern(1).as_str(), "/paid/*");
    assert_eq!(m.get(3), None);
}

#[test]
fn the_matcher_agrees_with_each_pattern_on_a_larger_table() {
    let patterns = [
        "/",
        "/**",
        "/api/v1/*",
        "/api/v1/**",
        "/a/**/c",
        "/a/*/c",
        "/inference-*/v1/**",
        "/a-*/b",
        "/health",
        "/*/x",
        "/**/x",
        "/x/**/y/**/z",
        "/*.json",
        "/v*-*",
        "/%2A",
    ];
    let paths = [
        "/",
        "/a",
        "/a/c",
        "/a/b/c",
        "/a/b/x/c",
        "/api/v1",
        "/api/v1/users",
        "/api/v1/users/1",
        "/inference-x/v1",
        "/a-x/b",
        "/health",
        "/q/x",
        "/x",
        "/x/y/z",
        "/x/a/y/b/z",
        "/f.json",
        "/v1-2",
        "/*",
        "/a%2Fb/x",
    ];
    for order in [false, true] {
        let mut texts: Vec<&str> = patterns.to_vec();
        if order {
            texts.reverse();
        }
        let compiled: Vec<PathPattern> = texts.iter().map(|text| pattern(text)).collect();
        let m = PathMatcher::new(compiled.clone());
        for input in paths {
            let normalized = path(input);
            let expected = compiled.iter().position(|p| p.matches(&normalized));
            assert_eq!(
                m.first_match(&normalized, |_| true),
                expected,
                "path {input:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// covers
// ---------------------------------------------------------------------------------------------

#[test]
fn covers_reports_patterns_that_shadow_later_ones() {
    // (earlier, later, earlier covers later)
    let table: &[(&str, &str, bool)] = &[
        ("/**", "/anything/*", true),
        ("/**", "/", true),
        ("/**", "/**", true),
        ("/", "/", true),
        ("/", "/**", false),
        ("/api/**", "/api/v1/*", true),
        ("/api/**", "/api", true),
        ("/api/**", "/apix", false),
        ("/api/*", "/api/users", true),
        ("/api/*", "/api/**", false),
        ("/api/*", "/api", false),
        ("/a/**/c", "/a/b/c", true),
        ("/a/**/c", "/a/**/b/c", true),
        ("/a/**/c", "/a/**", false),
        ("/a/**", "/a/**/c", true),
        ("/**/c", "/a/**/c", true),
        ("/*/**", "/**", false),
        ("/*/**", "/a/**", true),
        ("/inference-*/v1/**", "/inference-prod/v1/models", true),
        ("/inference-*/**", "/inference-*/v1/**", true),
        ("/inference-*/**", "/inference-prod-*/x", true),
        ("/a-*", "/a-*-b", true),
        ("/*-b", "/a-*-b", true),
        ("/a-*-b", "/a-*", false),
        ("/a-*", "/a-x", true),
        ("/a-*", "/b-x", false),
        ("/*", "/a-*", true),
        ("/a-*", "/*", false),
        ("/x", "/x", true),
        ("/x", "/X", false),
        ("/x", "/y", false),
        ("/*F", "/a%2F", false), // `F` would start inside the escape
    ];
    for &(earlier, later, expected) in table {
        assert_eq!(
            pattern(earlier).covers(&pattern(later)),
            expected,
            "{earlier:?} covers {later:?}"
        );
    }
}

#[test]
fn covers_respects_case_modes() {
    assert!(insensitive("/paid").covers(&pattern("/PAID")));
    assert!(insensitive("/paid/**").covers(&insensitive("/PAID/x")));
    assert!(insensitive("/p-*").covers(&pattern("/P-x")));
    // A case-sensitive pattern does not cover the other spellings an insensitive one matches...
    assert!(!pattern("/paid").covers(&insensitive("/paid")));
    assert!(!pattern("/p-*").covers(&insensitive("/p-x")));
    // ...except through wildcards, or where there is no letter to fold.
    assert!(pattern("/*").covers(&insensitive("/paid")));
    assert!(pattern("/**").covers(&insensitive("/paid/x")));
    assert!(pattern("/123").covers(&insensitive("/123")));
}
