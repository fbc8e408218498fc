//! The synthetic route sets of the matching benchmarks: `count` patterns mixing literals, `*`,
//! `**`, segment globs and case-insensitive routes, with the paths that hit them.

use x402_core::{
    matcher::PathMatcher,
    path::NormalizedPath,
    pattern::{MatchCase, PathPattern},
};

/// The route counts every matching figure is given for.
pub const ROUTE_COUNTS: [usize; 3] = [10, 1_000, 10_000];

/// The route at `index` of `count`. Kinds cycle so that the last routes are the same kinds
/// whatever the count: route `count - 1 - k` is of kind `k % 8`.
pub fn route(index: usize, count: usize) -> PathPattern {
    let kind = (count - 1 - index) % 8;
    let (text, case) = match kind {
        0 => (
            format!("/api/v{}/users-{index}", index % 3),
            MatchCase::Sensitive,
        ),
        1 => (format!("/svc-{index}/items/*"), MatchCase::Sensitive),
        2 => (format!("/svc-{index}/admin/**"), MatchCase::Sensitive),
        3 => (format!("/inference-{index}-*/v1/**"), MatchCase::Sensitive),
        4 => (format!("/static/{index}/*.json"), MatchCase::Sensitive),
        5 => (
            format!("/tenants/*/resource-{index}"),
            MatchCase::Insensitive,
        ),
        6 => (format!("/files-{index}/**/raw"), MatchCase::Sensitive),
        _ => (
            format!("/ethereum-{index}-*/execution/*"),
            MatchCase::Sensitive,
        ),
    };
    PathPattern::parse(&text, case).expect("valid bench pattern")
}

/// A matcher over `count` routes.
pub fn matcher(count: usize) -> PathMatcher {
    PathMatcher::new((0..count).map(|index| route(index, count)).collect())
}

/// A normalised request path.
pub fn path(text: &str) -> NormalizedPath<'static> {
    NormalizedPath::parse(text)
        .expect("valid bench path")
        .into_owned()
}

/// The paths looked up among `count` routes: `(name, path, the route it matches)`.
///
/// - `literal_last`: the last route, the literal `/api/v{i % 3}/users-{i}`;
/// - `glob_near_end`: route `count - 4`, `/inference-{i}-*/v1/**` (a glob and a `**`);
/// - `insensitive_near_end`: route `count - 6`, the case-insensitive `/tenants/*/resource-{i}`;
/// - `no_match`: a path no route matches.
pub fn lookups(count: usize) -> [(&'static str, NormalizedPath<'static>, Option<usize>); 4] {
    let last = count - 1;
    [
        (
            "literal_last",
            path(&format!("/api/v{}/users-{last}", last % 3)),
            Some(last),
        ),
        (
            "glob_near_end",
            path(&format!(
                "/inference-{}-prod/v1/chat/completions",
                count - 4
            )),
            Some(count - 4),
        ),
        (
            "insensitive_near_end",
            path(&format!("/tenants/acme/RESOURCE-{}", count - 6)),
            Some(count - 6),
        ),
        ("no_match", path("/inference-none/v2/models/x"), None),
    ]
}
