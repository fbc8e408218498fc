//! Path matcher. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use crate::{path::NormalizedPath, pattern::PathPattern};

#[derive(Debug, Clone, Default)]
pub struct PathMatcher {
    patterns: Vec<PathPattern>,
}

impl PathMatcher {
    pub fn new(patterns: Vec<PathPattern>) -> Self {
        Self { patterns }
    }
    pub fn len(&self) -> usize {
        self.patterns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
    pub fn pattern(&self, index: usize) -> &PathPattern {
        &self.patterns[index]
    }
    pub fn first_match(
        &self,
        _path: &NormalizedPath<'_>,
        _accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        todo!()
    }
}
