//! Path patterns. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use crate::path::NormalizedPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchCase {
    #[default]
    Sensitive,
    Insensitive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    _p: (),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    #[error("todo")]
    Todo,
}

impl PathPattern {
    pub fn parse(_text: &str, _case: MatchCase) -> Result<Self, PatternError> {
        todo!()
    }
    pub fn as_str(&self) -> &str {
        todo!()
    }
    pub fn matches(&self, _path: &NormalizedPath<'_>) -> bool {
        todo!()
    }
    pub fn covers(&self, _other: &PathPattern) -> bool {
        todo!()
    }
}
