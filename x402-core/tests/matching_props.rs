//! Properties of path normalisation and matching, checked on random input.
//!
//! The matcher is compared with a reference written here independently: each pattern becomes a
//! regular expression over the canonical path, and the first match is found by a linear scan.

use proptest::{prelude::*, sample::select};
use regex::Regex;
use x402_core::{
    matcher::PathMatcher,
    path::NormalizedPath,
    pattern::{MatchCase, PathPattern},
};

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Strings made mostly of the characters that matter to the normaliser.
fn path_like() -> impl Strategy<Value = String> {
    let atom = select(vec![
        "/", "//", "%", "%2", "%2e", "%2E", "%2f", "%2F", "%25", "%00", "%C3", "%A9", "%zz", ".",
        "..", "?", "#", "\\", "a", "B", "é", " ", "*", "%41", "%7f", "\u{1}", ";",
    ]);
    prop::collection::vec(atom, 0..64).prop_map(|atoms| atoms.concat())
}

/// Checks the invariants of a successfully normalised path.
fn assert_canonical(normalized: &NormalizedPath<'_>) -> Result<(), TestCaseError> {
    let text = normalized.as_str();
    prop_assert!(text.starts_with('/'));
    prop_assert!(!text.contains("//"), "{text:?}");
    prop_assert!(text == "/" || !text.ends_with('/'), "{text:?}");
    prop_assert!(!text.contains(['?', '#']), "{text:?}");
    prop_assert!(!text.chars().any(|c| c.is_ascii_control()), "{text:?}");
    let segments: Vec<&str> = normalized.segments().collect();
    prop_assert!(
        segments
            .iter()
            .all(|s| !s.is_empty() && *s != "." && *s != "..")
    );
    let joined = if segments.is_empty() {
        "/".to_owned()
    } else {
        format!("/{}", segments.join("/"))
    };
    prop_assert_eq!(joined, text);
    // Fixed point.
    let again = NormalizedPath::parse(text);
    prop_assert_eq!(again.as_ref().map(NormalizedPath::as_str), Ok(text));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parsing_any_string_never_panics(input in any::<String>()) {
        if let Ok(normalized) = NormalizedPath::parse(&input) {
            assert_canonical(&normalized)?;
        }
    }

    #[test]
    fn parsing_path_like_strings_never_panics_and_gives_a_fixed_point(input in path_like()) {
        let input = format!("/{input}");
        if let Ok(normalized) = NormalizedPath::parse(&input) {
            assert_canonical(&normalized)?;
        }
    }

    #[test]
    fn long_paths_full_of_escapes_never_panic(
        input in prop::collection::vec(select(vec!["%", "%2", "%41", "/", "a", "%2F", "."]), 0..4000)
    ) {
        let input = format!("/{}", input.concat());
        if let Ok(normalized) = NormalizedPath::parse(&input) {
            assert_canonical(&normalized)?;
        }
    }

    /// Any spelling of a path (escapes in either hex case, doubled slashes, a trailing slash, a
    /// query or fragment) normalises to the same canonical form.
    #[test]
    fn every_spelling_of_a_path_normalises_the_same(
        segments in prop::collection::vec(
            prop::collection::vec(select(vec!['a', 'Z', '-', ' ', 'é', '/', '%', '?', '#', '~', '\\']), 1..6),
            0..6,
        ),
        choices in prop::collection::vec(any::<u8>(), 64),
        tail in select(vec!["", "/", "?x=/y", "#f", "/?q", "//#f?x"]),
    ) {
        let mut choice = choices.iter().copied().cycle();
        let mut expected = String::new();
        let mut spelled = String::new();
        for segment in &segments {
            expected.push('/');
            spelled.push('/');
            if choice.next().unwrap_or(0) % 4 == 0 {
                spelled.push('/');
            }
            for &ch in segment {
                match ch {
                    '/' => expected.push_str("%2F"),
                    '%' => expected.push_str("%25"),
                    '?' => expected.push_str("%3F"),
                    '#' => expected.push_str("%23"),
                    ch => expected.push(ch),
                }
                let must_escape = matches!(ch, '/' | '%' | '?' | '#');
                let pick = choice.next().unwrap_or(0);
                if must_escape || pick % 3 == 0 {
                    let mut utf8 = [0_u8; 4];
                    for byte in ch.encode_utf8(&mut utf8).bytes() {
                        if pick % 2 == 0 {
                            spelled.push_str(&format!("%{byte:02X}"));
                        } else {
                            spelled.push_str(&format!("%{byte:02x}"));
                        }
                    }
                } else {
                    spelled.push(ch);
                }
            }
        }
        if expected.is_empty() {
            expected.push('/');
        }
        spelled.push_str(tail);
        if !spelled.starts_with('/') {
            spelled.insert(0, '/');
        }
        let normalized = NormalizedPath::parse(&spelled);
        prop_assert_eq!(normalized.as_ref().map(NormalizedPath::as_str), Ok(expected.as_str()), "{}", spelled);
    }
}

// ---------------------------------------------------------------------------------------------
// Matching: the reference
// ---------------------------------------------------------------------------------------------

const PATTERN_SEGMENTS: &[&str] = &["a", "b", "A", "ab", "a-*", "*-b", "a*b", "*", "**"];
const PATH_SEGMENTS: &[&str] = &[
    "a", "b", "A", "B", "ab", "a-b", "a-", "-b", "axb", "c", "AB",
];

/// A pattern as the test built it: its segment tokens and case mode.
#[derive(Debug, Clone)]
struct RandomPattern {
    tokens: Vec<&'static str>,
    case: MatchCase,
}

impl RandomPattern {
    fn text(&self) -> String {
        format!("/{}", self.tokens.join("/"))
    }

    fn compile(&self) -> PathPattern {
        PathPattern::parse(&self.text(), self.case).expect("the test alphabet is valid")
    }

    /// The reference: an anchored regex over the canonical path, the root written as "".
    fn regex(&self) -> Regex {
        let mut source = String::from(match self.case {
            MatchCase::Sensitive => "^",
            MatchCase::Insensitive => "(?i)^",
        });
        for token in &self.tokens {
            match *token {
                "**" => source.push_str("(?:/[^/]+)*"),
                "*" => source.push_str("/[^/]+"),
                glob if glob.contains('*') => {
                    source.push('/');
                    let pieces: Vec<String> = glob.split('*').map(regex::escape).collect();
                    source.push_str(&pieces.join("[^/]*"));
                }
                literal => {
                    source.push('/');
                    source.push_str(&regex::escape(literal));
                }
            }
        }
        source.push('$');
        Regex::new(&source).expect("valid reference regex")
    }
}

fn reference_matches(regex: &Regex, path: &NormalizedPath<'_>) -> bool {
    let text = if path.as_str() == "/" {
        ""
    } else {
        path.as_str()
    };
    regex.is_match(text)
}

fn random_pattern() -> impl Strategy<Value = RandomPattern> {
    (
        prop::collection::vec(select(PATTERN_SEGMENTS), 0..5),
        prop_oneof![3 => Just(MatchCase::Sensitive), 1 => Just(MatchCase::Insensitive)],
    )
        .prop_map(|(tokens, case)| RandomPattern { tokens, case })
}

fn random_path() -> impl Strategy<Value = String> {
    prop::collection::vec(select(PATH_SEGMENTS), 0..7)
        .prop_map(|segments| format!("/{}", segments.join("/")))
}

/// A path that `pattern` matches, built by filling in its wildcards.
fn instance_of(pattern: &RandomPattern, choices: &[u8]) -> String {
    let mut choice = choices.iter().copied().cycle();
    let mut next = move || usize::from(choice.next().unwrap_or(0));
    let fillers = ["", "x", "a", "-", "B"];
    let mut out = String::new();
    for token in &pattern.tokens {
        match *token {
            "**" => {
                for _ in 0..next() % 3 {
                    out.push('/');
                    out.push_str(PATH_SEGMENTS[next() % PATH_SEGMENTS.len()]);
                }
            }
            "*" => {
                out.push('/');
                out.push_str(PATH_SEGMENTS[next() % PATH_SEGMENTS.len()]);
            }
            text => {
                out.push('/');
                for (i, piece) in text.split('*').enumerate() {
                    if i > 0 {
                        out.push_str(fillers[next() % fillers.len()]);
                    }
                    for ch in piece.chars() {
                        let flip = pattern.case == MatchCase::Insensitive && next() % 2 == 0;
                        out.push(if flip { ch.to_ascii_uppercase() } else { ch });
                    }
                }
            }
        }
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

// ---------------------------------------------------------------------------------------------
// Matching: the properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn each_pattern_agrees_with_the_reference(pattern in random_pattern(), paths in prop::collection::vec(random_path(), 1..16)) {
        let compiled = pattern.compile();
        let regex = pattern.regex();
        for input in &paths {
            let normalized = NormalizedPath::parse(input).expect("valid test path");
            prop_assert_eq!(
                compiled.matches(&normalized),
                reference_matches(&regex, &normalized),
                "pattern {} ({:?}) vs {}", pattern.text(), pattern.case, input
            );
        }
    }

    #[test]
    fn the_first_match_agrees_with_a_linear_scan(
        patterns in prop::collection::vec(random_pattern(), 0..24),
        paths in prop::collection::vec(random_path(), 1..16),
        rejected in prop::collection::vec(any::<bool>(), 24),
        filter in any::<bool>(),
    ) {
        let matcher = PathMatcher::new(patterns.iter().map(RandomPattern::compile).collect());
        let regexes: Vec<Regex> = patterns.iter().map(RandomPattern::regex).collect();
        let accepts = |index: usize| !filter || !rejected.get(index).copied().unwrap_or(false);
        for input in &paths {
            let normalized = NormalizedPath::parse(input).expect("valid test path");
            let expected = regexes
                .iter()
                .enumerate()
                .position(|(index, regex)| accepts(index) && reference_matches(regex, &normalized));
            let mut asked = Vec::new();
            let found = matcher.first_match(&normalized, |index| {
                asked.push(index);
                accepts(index)
            });
            prop_assert_eq!(found, expected, "path {} among {:?}", input,
                patterns.iter().map(RandomPattern::text).collect::<Vec<_>>());
            // `accept` is asked only about matching patterns, once each.
            for &index in &asked {
                prop_assert!(reference_matches(&regexes[index], &normalized));
            }
            let mut unique = asked.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), asked.len());
        }
    }

    #[test]
    fn covers_is_sound(
        a in random_pattern(),
        b in random_pattern(),
        choices in prop::collection::vec(any::<u8>(), 32),
    ) {
        let (wide, narrow) = (a.compile(), b.compile());
        if wide.covers(&narrow) {
            for shift in 0..8 {
                let instance = instance_of(&b, choices.get(shift..).unwrap_or_default());
                let normalized = NormalizedPath::parse(&instance).expect("valid instance");
                prop_assert!(narrow.matches(&normalized), "{} does not match its instance {}", b.text(), instance);
                prop_assert!(
                    wide.matches(&normalized),
                    "{} ({:?}) covers {} ({:?}) but not its instance {}",
                    a.text(), a.case, b.text(), b.case, instance
                );
            }
        }
    }

    #[test]
    fn every_pattern_covers_itself(pattern in random_pattern()) {
        let compiled = pattern.compile();
        prop_assert!(compiled.covers(&compiled), "{}", pattern.text());
    }
}
