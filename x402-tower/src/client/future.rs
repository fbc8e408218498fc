//! The response future of [`X402Pay`](super::X402Pay).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::Response;

use super::PayError;

type BoxedFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, PayError<E>>> + Send>>;

/// The response future of [`X402Pay`](super::X402Pay): one boxed future per request, since a
/// paid request is two calls with a signature in between.
pub struct ResponseFuture<B, E> {
    inner: BoxedFuture<B, E>,
}

impl<B, E> ResponseFuture<B, E> {
    pub(super) fn new(
        future: impl Future<Output = Result<Response<B>, PayError<E>>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, PayError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
