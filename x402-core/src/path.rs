//! Path normalisation. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath<'a> {
    canonical: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("todo")]
    Todo,
}

impl<'a> NormalizedPath<'a> {
    pub fn parse(_path_and_query: &'a str) -> Result<Self, PathError> {
        todo!()
    }
    pub fn as_str(&self) -> &str {
        &self.canonical
    }
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.canonical.split('/').skip(1).filter(|s| !s.is_empty())
    }
}
