//! First-match-wins lookup of a request path among many patterns, in time that does not grow
//! with the number of patterns.
//!
//! [`PathMatcher::new`] compiles the patterns, in declaration order, into a trie of segments:
//! each node has its exact literal children in a short list while there are at most eight
//! (compared in order), then in a hash table; its case-insensitive literal children in a hash
//! table keyed by ASCII-lowercased text (for
//! [case-insensitive](crate::pattern::MatchCase::Insensitive) patterns, looked up by lowercasing
//! the request segment into a stack buffer); its glob children indexed by their literal prefix
//! or suffix; and at most one `*` and one `**` child. Every node records the smallest pattern
//! index below it.
//!
//! [`PathMatcher::first_match`] walks the trie depth-first along every branch that can match
//! the path, cheapest index first, and keeps the smallest index whose pattern matches the whole
//! path *and* passes the caller's `accept` filter (the route table checks methods and hosts
//! there, so a route whose path matches but whose method does not lets the next one win). A
//! branch whose smallest index cannot beat the best found so far is never entered. A literal
//! segment costs at most eight string comparisons or one hash lookup (one more where exact and
//! case-insensitive literals share a node) whatever the number of routes, and a glob segment
//! one walk of a byte trie. Down nodes whose only children are exact literals (the common
//! prefix of most tables) the walk follows the one candidate without the search machinery.
//!
//! The work per request is bounded: a `(node, position)` state is expanded at most once (states
//! that several `**` can reach are remembered), the exploration uses an explicit stack rather
//! than recursion, and a path has at most [`MAX_SEGMENTS`](crate::path::MAX_SEGMENTS)
//! segments. In the common case (patterns with at most one `**`, paths of a few segments) a
//! lookup allocates nothing.
//!
//! # Example
//!
//! ```
//! use x402_core::{matcher::PathMatcher, path::NormalizedPath, pattern::{MatchCase, PathPattern}};
//!
//! let patterns = ["/rpc/premium/*", "/rpc/*", "/inference-*/v1/**", "/**"]
//!     .into_iter()
//!     .map(|text| PathPattern::parse(text, MatchCase::Sensitive).unwrap())
//!     .collect();
//! let matcher = PathMatcher::new(patterns);
//! let path = NormalizedPath::parse("/rpc/premium/mainnet").unwrap();
//!
//! assert_eq!(matcher.first_match(&path, |_| true), Some(0));
//! // Route 0 filtered out (say, by method): the next matching route wins.
//! assert_eq!(matcher.first_match(&path, |index| index != 0), Some(3));
//! let path = NormalizedPath::parse("/inference-prod/v1/chat/completions").unwrap();
//! assert_eq!(matcher.first_match(&path, |_| true), Some(2));
//! ```

use std::{fmt, hash::BuildHasher};

use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};

use crate::{
    path::{NormalizedPath, split_first_segment},
    pattern::{Glob, MatchCase, PathPattern, Segment},
};

/// Index of the root in [`PathMatcher::nodes`].
const ROOT: usize = 0;

/// Patterns compiled for first-match-wins lookup (see the [module docs](self)).
///
/// Immutable once built; cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct PathMatcher {
    patterns: Vec<PathPattern>,
    /// `nodes[ROOT]` is the root; never empty.
    nodes: Vec<Node>,
    /// Hashes request segments for every node's [`Node::folded_literals`].
    hasher: DefaultHashBuilder,
}

#[derive(Debug, Clone)]
struct Node {
    /// The smallest index of a pattern that goes through this node (`usize::MAX` for the root
    /// of an empty matcher).
    min_index: usize,
    /// Indices of the patterns that end here, ascending.
    terminals: Vec<usize>,
    /// Literal children of case-sensitive patterns.
    literals: Literals,
    /// Literal children of case-insensitive patterns: (ASCII-lowercased text, child), hashed
    /// with [`folded_hash`].
    folded_literals: HashTable<(Box<str>, usize)>,
    globs: Option<Box<GlobChildren>>,
    star: Option<usize>,
    double_star: Option<usize>,
    /// Reached through a `**` edge: the node consumes any segment and stays where it is.
    loops: bool,
    /// How many `**` edges lead from the root to here.
    double_stars: usize,
    /// The only way on from here is a case-sensitive literal child (set once built).
    literal_only: bool,
}

impl Node {
    fn new(min_index: usize, loops: bool, double_stars: usize) -> Self {
        Self {
            min_index,
            terminals: Vec::new(),
            literals: Literals::default(),
            folded_literals: HashTable::new(),
            globs: None,
            star: None,
            double_star: None,
            loops,
            double_stars,
            literal_only: false,
        }
    }

    /// Whether a `(node, position)` state can be reached in more than one way (two `**` on the
    /// way from the root can share the skipped segments differently), so it must be remembered.
    fn needs_memo(&self) -> bool {
        self.double_stars >= 2
    }
}

impl PathMatcher {
    /// Compiles `patterns`; a pattern's index is its position in the vector, and the smallest
    /// matching index wins.
    pub fn new(patterns: Vec<PathPattern>) -> Self {
        let root_min = if patterns.is_empty() { usize::MAX } else { 0 };
        let mut builder = Builder {
            nodes: vec![Node::new(root_min, false, 0)],
            globs: std::collections::HashMap::new(),
            hasher: DefaultHashBuilder::default(),
        };
        for (index, pattern) in patterns.iter().enumerate() {
            builder.insert(index, pattern);
        }
        let Builder {
            mut nodes, hasher, ..
        } = builder;
        for node in &mut nodes {
            if let Some(globs) = &mut node.globs {
                globs.build_index();
            }
            node.literal_only = node.folded_literals.is_empty()
                && node.globs.is_none()
                && node.star.is_none()
                && node.double_star.is_none()
                && !node.loops;
        }
        Self {
            patterns,
            nodes,
            hasher,
        }
    }

    /// The number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there are no patterns (nothing matches).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern at `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`; indices returned by [`first_match`](Self::first_match) are
    /// always in range.
    pub fn pattern(&self, index: usize) -> &PathPattern {
        &self.patterns[index]
    }

    /// The pattern at `index`, if any.
    pub fn get(&self, index: usize) -> Option<&PathPattern> {
        self.patterns.get(index)
    }

    /// All patterns, in declaration order.
    pub fn patterns(&self) -> &[PathPattern] {
        &self.patterns
    }

    /// The smallest index whose pattern matches `path` and for which `accept(index)` is true.
    ///
    /// `accept` is called only for indices whose pattern matches, at most once each, and only
    /// while it could still change the answer; it is not necessarily called in index order.
    pub fn first_match(
        &self,
        path: &NormalizedPath<'_>,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let root = self.nodes.get(ROOT)?;
        if root.min_index == usize::MAX {
            return None;
        }
        // Down nodes whose only way on is a literal child there is one candidate: follow it
        // without the search below (most tables start with literal segments).
        let mut start = State {
            node: ROOT,
            rest: path.after_root(),
        };
        while let Some(node) = self.nodes.get(start.node)
            && node.literal_only
        {
            if start.rest.is_empty() {
                // Its children all need another segment: only patterns ending here match.
                return node.terminals.iter().copied().find(|&index| accept(index));
            }
            let (segment, rest) = split_first_segment(start.rest);
            start = State {
                node: node.literals.get(segment)?,
                rest,
            };
        }
        let mut best = usize::MAX;
        // Depth-first: `current` is explored next; the other candidates wait on `stack`, which
        // a walk down literal segments never touches.
        let mut current = Some(start);
        let mut stack = Stack::Empty;
        let mut seen: Option<HashSet<(usize, usize)>> = None;

        while let Some(state) = current.take().or_else(|| stack.pop()) {
            let Some(node) = self.nodes.get(state.node) else {
                continue;
            };
            // `best` may have improved since this state was put aside.
            if node.min_index >= best {
                continue;
            }
            if node.needs_memo()
                && !seen
                    .get_or_insert_with(HashSet::new)
                    .insert((state.node, state.rest.len()))
            {
                continue;
            }
            if state.rest.is_empty() {
                for &index in &node.terminals {
                    if index >= best {
                        break;
                    }
                    if accept(index) {
                        best = index;
                        break;
                    }
                }
            }

            // The candidate with the smallest index goes next, so that the first complete match
            // is likely the answer and prunes the rest; the others are put aside.
            let mut next: Option<(usize, State<'_>)> = None;
            let mut offer = |child: usize, rest| {
                let Some(min_index) = self.nodes.get(child).map(|child| child.min_index) else {
                    return;
                };
                if min_index >= best {
                    return;
                }
                let candidate = State { node: child, rest };
                match next {
                    Some((next_min, _)) if next_min <= min_index => stack.push(candidate),
                    Some((_, previous)) => {
                        stack.push(previous);
                        next = Some((min_index, candidate));
                    }
                    None => next = Some((min_index, candidate)),
                }
            };
            let consumes = !node.literals.is_empty()
                || !node.folded_literals.is_empty()
                || node.globs.is_some()
                || node.star.is_some()
                || node.loops;
            if consumes && !state.rest.is_empty() {
                let (segment, rest) = split_first_segment(state.rest);
                if !node.literals.is_empty()
                    && let Some(child) = node.literals.get(segment)
                {
                    offer(child, rest);
                }
                if !node.folded_literals.is_empty() {
                    let hash = folded_hash(&self.hasher, segment);
                    let same = |(text, _): &(Box<str>, usize)| text.eq_ignore_ascii_case(segment);
                    if let Some(&(_, child)) = node.folded_literals.find(hash, same) {
                        offer(child, rest);
                    }
                }
                if let Some(globs) = &node.globs {
                    globs.for_each_match(segment, |child| offer(child, rest));
                }
                if let Some(child) = node.star {
                    offer(child, rest);
                }
                if node.loops {
                    offer(state.node, rest);
                }
            }
            if let Some(child) = node.double_star {
                offer(child, state.rest);
            }
            current = next.map(|(_, state)| state);
        }
        (best != usize::MAX).then_some(best)
    }
}

impl Default for PathMatcher {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl fmt::Debug for PathMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathMatcher")
            .field(
                "patterns",
                &self
                    .patterns
                    .iter()
                    .map(PathPattern::as_str)
                    .collect::<Vec<_>>(),
            )
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

/// How many exact literal children a node keeps in a list before it switches to a hash map.
const FEW_LITERALS: usize = 8;

/// The exact literal children of a node: a short list compared in order while there are at
/// most [`FEW_LITERALS`] (most nodes: cheaper than hashing the segment), a hash map beyond.
#[derive(Debug, Clone, Default)]
struct Literals {
    few: Vec<(Box<str>, usize)>,
    many: HashMap<Box<str>, usize>,
}

impl Literals {
    fn get(&self, segment: &str) -> Option<usize> {
        if self.many.is_empty() {
            self.few
                .iter()
                .find(|(text, _)| **text == *segment)
                .map(|&(_, child)| child)
        } else {
            self.many.get(segment).copied()
        }
    }

    /// Adds a child for `text`, which has none yet.
    fn insert(&mut self, text: Box<str>, child: usize) {
        if self.many.is_empty() && self.few.len() < FEW_LITERALS {
            self.few.push((text, child));
            return;
        }
        self.many.extend(self.few.drain(..));
        self.many.insert(text, child);
    }

    fn is_empty(&self) -> bool {
        self.few.is_empty() && self.many.is_empty()
    }
}

/// Compile-time state of [`PathMatcher::new`].
struct Builder {
    nodes: Vec<Node>,
    /// Glob children by (parent, glob, case), to share a node between patterns with one glob.
    globs: std::collections::HashMap<(usize, Glob, MatchCase), usize>,
    hasher: DefaultHashBuilder,
}

impl Builder {
    fn insert(&mut self, index: usize, pattern: &PathPattern) {
        let case = pattern.case();
        let mut at = ROOT;
        for segment in pattern.segments() {
            at = match segment {
                Segment::Literal(text) => match case {
                    MatchCase::Sensitive => match self.nodes[at].literals.get(text) {
                        Some(child) => child,
                        None => {
                            let child = self.add_node(at, index, false);
                            self.nodes[at].literals.insert(text.clone(), child);
                            child
                        }
                    },
                    MatchCase::Insensitive => {
                        let hash = folded_hash(&self.hasher, text);
                        let same = |(key, _): &(Box<str>, usize)| key.eq_ignore_ascii_case(text);
                        match self.nodes[at].folded_literals.find(hash, same) {
                            Some(&(_, child)) => child,
                            None => {
                                let child = self.add_node(at, index, false);
                                let hasher = &self.hasher;
                                self.nodes[at].folded_literals.insert_unique(
                                    hash,
                                    (text.to_ascii_lowercase().into(), child),
                                    |(key, _)| folded_hash(hasher, key),
                                );
                                child
                            }
                        }
                    }
                },
                Segment::Glob(glob) => {
                    let glob = match case {
                        MatchCase::Sensitive => glob.clone(),
                        MatchCase::Insensitive => glob.to_ascii_lowercase(),
                    };
                    let key = (at, glob, case);
                    match self.globs.get(&key) {
                        Some(&child) => child,
                        None => {
                            let child = self.add_node(at, index, false);
                            let edge = GlobEdge {
                                glob: key.1.clone(),
                                case,
                                child,
                            };
                            self.nodes[at]
                                .globs
                                .get_or_insert_with(Default::default)
                                .edges
                                .push(edge);
                            self.globs.insert(key, child);
                            child
                        }
                    }
                }
                Segment::Star => match self.nodes[at].star {
                    Some(child) => child,
                    None => {
                        let child = self.add_node(at, index, false);
                        self.nodes[at].star = Some(child);
                        child
                    }
                },
                Segment::DoubleStar => match self.nodes[at].double_star {
                    Some(child) => child,
                    None => {
                        let child = self.add_node(at, index, true);
                        self.nodes[at].double_star = Some(child);
                        child
                    }
                },
            };
        }
        self.nodes[at].terminals.push(index);
    }

    /// A new child of `parent`, first reached by pattern `index` (patterns are inserted in
    /// index order, so that is the smallest index below it).
    fn add_node(&mut self, parent: usize, index: usize, double_star: bool) -> usize {
        let double_stars = self.nodes[parent].double_stars + usize::from(double_star);
        self.nodes.push(Node::new(index, double_star, double_stars));
        self.nodes.len() - 1
    }
}

/// The glob children of one node, indexed so that a request segment is only tested against the
/// globs whose literal prefix (or, lacking one, suffix) it has.
#[derive(Debug, Clone, Default)]
struct GlobChildren {
    edges: Vec<GlobEdge>,
    exact: AffixIndex,
    /// Keys ASCII-lowercased; walked with the lowercased request segment.
    folded: AffixIndex,
}

#[derive(Debug, Clone)]
struct GlobEdge {
    /// ASCII-lowercased when `case` is insensitive.
    glob: Glob,
    case: MatchCase,
    child: usize,
}

impl GlobChildren {
    fn build_index(&mut self) {
        for (edge_index, edge) in self.edges.iter().enumerate() {
            let index = match edge.case {
                MatchCase::Sensitive => &mut self.exact,
                MatchCase::Insensitive => &mut self.folded,
            };
            let (prefix, suffix) = (edge.glob.prefix(), edge.glob.suffix());
            if !prefix.is_empty() {
                index.prefixes.insert(prefix.bytes(), edge_index);
            } else if !suffix.is_empty() {
                index.suffixes.insert(suffix.bytes().rev(), edge_index);
            } else {
                index.unanchored.push(edge_index);
            }
        }
    }

    /// Calls `found` with the child of every glob that matches `segment`.
    fn for_each_match(&self, segment: &str, mut found: impl FnMut(usize)) {
        let mut test = |edge_index: usize| {
            if let Some(edge) = self.edges.get(edge_index)
                && edge.glob.matches(segment, edge.case)
            {
                found(edge.child);
            }
        };
        let bytes = segment.as_bytes();
        self.exact.visit(
            bytes.iter().copied(),
            bytes.iter().rev().copied(),
            &mut test,
        );
        let lower = u8::to_ascii_lowercase;
        self.folded.visit(
            bytes.iter().map(lower),
            bytes.iter().rev().map(lower),
            &mut test,
        );
    }
}

/// Glob edges keyed by literal prefix, else by literal suffix, else unkeyed.
#[derive(Debug, Clone, Default)]
struct AffixIndex {
    prefixes: ByteTrie,
    /// Keyed by the reversed suffix.
    suffixes: ByteTrie,
    unanchored: Vec<usize>,
}

impl AffixIndex {
    fn visit(
        &self,
        forward: impl Iterator<Item = u8>,
        backward: impl Iterator<Item = u8>,
        found: &mut impl FnMut(usize),
    ) {
        self.prefixes.visit(forward, found);
        self.suffixes.visit(backward, found);
        self.unanchored.iter().for_each(|&edge| found(edge));
    }
}

/// A byte trie whose nodes hold edge indices: [`visit`](Self::visit) reports the edges of
/// every non-empty key that is a prefix of the given key, in time linear in the key.
#[derive(Debug, Clone, Default)]
struct ByteTrie {
    /// `nodes[0]` is the root when not empty.
    nodes: Vec<ByteTrieNode>,
}

#[derive(Debug, Clone, Default)]
struct ByteTrieNode {
    /// Sorted by byte.
    next: Vec<(u8, usize)>,
    edges: Vec<usize>,
}

impl ByteTrie {
    fn insert(&mut self, key: impl Iterator<Item = u8>, edge: usize) {
        if self.nodes.is_empty() {
            self.nodes.push(ByteTrieNode::default());
        }
        let mut at = 0;
        for byte in key {
            let fresh = self.nodes.len();
            let next = &mut self.nodes[at].next;
            at = match next.binary_search_by_key(&byte, |&(b, _)| b) {
                Ok(i) => next[i].1,
                Err(i) => {
                    next.insert(i, (byte, fresh));
                    self.nodes.push(ByteTrieNode::default());
                    fresh
                }
            };
        }
        self.nodes[at].edges.push(edge);
    }

    fn visit(&self, key: impl Iterator<Item = u8>, found: &mut impl FnMut(usize)) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        for byte in key {
            let next = node
                .next
                .binary_search_by_key(&byte, |&(b, _)| b)
                .ok()
                .and_then(|i| node.next.get(i))
                .and_then(|&(_, id)| self.nodes.get(id));
            let Some(next) = next else {
                return;
            };
            node = next;
            node.edges.iter().for_each(|&edge| found(edge));
        }
    }
}

/// Hashes the ASCII-lowercased text: equal for every ASCII-case spelling. Lowercases into a
/// stack buffer (no allocation);
/// segments too long for it, which are rare, are fed to the hasher byte by byte. The method
/// depends only on the length, which lowercasing keeps, so a spelling always hashes like its
/// key.
fn folded_hash(hasher: &DefaultHashBuilder, text: &str) -> u64 {
    const BUFFER: usize = 64;
    let bytes = text.as_bytes();
    let mut buffer = [0_u8; BUFFER];
    match buffer.get_mut(..bytes.len()) {
        Some(folded) => {
            for (slot, byte) in folded.iter_mut().zip(bytes) {
                *slot = byte.to_ascii_lowercase();
            }
            hasher.hash_one(&*folded)
        }
        None => {
            use std::hash::Hasher;
            let mut state = hasher.build_hasher();
            for byte in bytes {
                state.write_u8(byte.to_ascii_lowercase());
            }
            state.finish()
        }
    }
}

/// A pending step of the search: `rest` of the path (no leading `/`) still to match from
/// `node`.
#[derive(Debug, Clone, Copy)]
struct State<'p> {
    node: usize,
    rest: &'p str,
}

impl State<'static> {
    const EMPTY: Self = Self {
        node: ROOT,
        rest: "",
    };
}

/// How many pending states fit on the call stack before the search stack moves to the heap.
const INLINE_STATES: usize = 16;

/// The stack of states put aside: inline up to [`INLINE_STATES`] entries, so a typical lookup
/// does not allocate, and not even initialised until something is put aside.
#[allow(
    clippy::large_enum_variant,
    reason = "the inline variant is the point: it lives in one call's stack frame and saves a \
              heap allocation per lookup"
)]
enum Stack<'p> {
    Empty,
    Inline([State<'p>; INLINE_STATES], usize),
    Heap(Vec<State<'p>>),
}

impl<'p> Stack<'p> {
    fn push(&mut self, state: State<'p>) {
        match self {
            Self::Empty => {
                let mut states = [State::EMPTY; INLINE_STATES];
                states[0] = state;
                *self = Self::Inline(states, 1);
            }
            Self::Inline(states, len) => {
                if let Some(slot) = states.get_mut(*len) {
                    *slot = state;
                    *len += 1;
                } else {
                    let mut heap = Vec::with_capacity(INLINE_STATES * 4);
                    heap.extend_from_slice(states);
                    heap.push(state);
                    *self = Self::Heap(heap);
                }
            }
            Self::Heap(states) => states.push(state),
        }
    }

    fn pop(&mut self) -> Option<State<'p>> {
        match self {
            Self::Empty => None,
            Self::Inline(states, len) => {
                *len = len.checked_sub(1)?;
                states.get(*len).copied()
            }
            Self::Heap(states) => states.pop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> PathMatcher {
        PathMatcher::new(
            patterns
                .iter()
                .map(|p| PathPattern::parse(p, MatchCase::Sensitive).unwrap())
                .collect(),
        )
    }

    #[test]
    fn literal_children_are_found_in_the_short_list_and_in_the_map() {
        // 3 literals under /few, 40 at the root and under /many: both representations.
        let mut texts: Vec<String> = (0..40).map(|i| format!("/r{i}")).collect();
        texts.extend((0..40).map(|i| format!("/many/m{i}")));
        texts.extend(["/few/a", "/few/b", "/few/c", "/r7", "/**"].map(String::from));
        let patterns: Vec<&str> = texts.iter().map(String::as_str).collect();
        let m = matcher(&patterns);
        for (index, text) in texts.iter().enumerate().take(83) {
            let path = NormalizedPath::parse(text).unwrap();
            assert_eq!(m.first_match(&path, |_| true), Some(index), "{text}");
        }
        // The duplicate `/r7` (index 83) wins only when the first one is filtered out.
        let path = NormalizedPath::parse("/r7").unwrap();
        assert_eq!(m.first_match(&path, |i| i != 7), Some(83));
        // Unknown literals fall through to `/**` (index 84), in both representations.
        for text in ["/r40", "/many/m40", "/few/d", "/few/a/b"] {
            let path = NormalizedPath::parse(text).unwrap();
            assert_eq!(m.first_match(&path, |_| true), Some(84), "{text}");
        }
        let m = matcher(&patterns[..83]);
        for text in ["/r40", "/many/m40", "/few/d", "/few/a/b", "/"] {
            let path = NormalizedPath::parse(text).unwrap();
            assert_eq!(m.first_match(&path, |_| true), None, "{text}");
        }
    }

    #[test]
    fn the_search_stack_spills_to_the_heap_and_back_in_order() {
        let mut stack = Stack::Empty;
        for node in 0..100 {
            stack.push(State {
                node,
                ..State::EMPTY
            });
        }
        for node in (0..100).rev() {
            assert_eq!(stack.pop().map(|s| s.node), Some(node));
        }
        assert!(stack.pop().is_none());
    }

    #[test]
    fn folded_hashes_are_equal_for_every_ascii_case_spelling() {
        let hasher = DefaultHashBuilder::default();
        let hash = |text: &str| folded_hash(&hasher, text);
        assert_eq!(
            hash("HEALTH-Check-EndPoint@[`{"),
            hash("health-check-endpoint@[`{")
        );
        assert_eq!(hash("Été-Zz"), hash("ÉTé-zZ"));
        assert_ne!(hash("health-check-endpoint"), hash("health-check-endpoin"));
        let long = "Segment-".repeat(20);
        assert_eq!(hash(&long), hash(&long.to_ascii_lowercase()));
        assert_eq!(hash(&long), hash(&long.to_ascii_uppercase()));
    }

    #[test]
    fn patterns_sharing_a_prefix_share_nodes() {
        let shared = matcher(&["/api/v1/users", "/api/v1/orders", "/api/v1/*"]);
        // root, api, v1, users, orders, *
        assert_eq!(shared.nodes.len(), 6);
    }

    #[test]
    fn many_double_stars_on_a_long_path_finish() {
        let m = matcher(&["/**/a/**/a/**/a/**/a/**/b"]);
        let long = "/a".repeat(crate::path::MAX_SEGMENTS);
        let path = NormalizedPath::parse(&long).unwrap();
        assert_eq!(m.first_match(&path, |_| true), None);
    }
}
