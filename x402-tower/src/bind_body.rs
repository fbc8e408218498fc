//! [`BindBodyLayer`]: reads the body of a paid request before [`X402`](crate::X402) claims the
//! payment, so that the payment is bound to the body and a retry can be served again.
//!
//! With a ledger, a paid request retried with the same payment header is served again without a
//! second charge, but only if the gate can tell it is the same request. A body the gate has not
//! seen cannot be compared, so such a payment is never served twice (the retry gets `402
//! replay`). Put this layer outside [`X402Layer`](crate::X402Layer) to bind bodies: for
//! requests the gate asks for ([`Gate::body_to_bind`]: a ledger, a payment header, a
//! `Content-Length` up to [`GateBuilder::max_bound_body_bytes`](x402_core::gate::GateBuilder::max_bound_body_bytes)),
//! it reads the body, hands its bytes to the gate, and passes the request on with the same
//! bytes; a paid request without a length whose body ended with its headers is bound as
//! empty. Every other request passes untouched and unboxed.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use axum::{Router, routing::post};
//! # use x402_tower::{BindBodyLayer, Gate, X402Layer};
//! # fn gate() -> Gate { unimplemented!() }
//! let gate = gate(); // built with a ledger
//! let app: Router = Router::new()
//!     .route("/complete", post(|prompt: String| async move { prompt }))
//!     .layer(X402Layer::new(gate.clone()))
//!     .layer(BindBodyLayer::new(gate));
//! ```

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use x402_core::gate::{BodyToBind, Gate};

use crate::HeaderMapLookup;

/// The body bytes [`BindBody`] read, for [`X402`](crate::X402) to bind the payment to.
#[derive(Debug, Clone)]
pub(crate) struct BoundBody(pub(crate) Bytes);

/// Applies [`BindBody`]; see the [module](self).
#[derive(Debug, Clone)]
pub struct BindBodyLayer {
    gate: Gate,
}

impl BindBodyLayer {
    /// Reads the bodies `gate` asks for (the same gate as the `X402Layer` inside it).
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for BindBodyLayer {
    type Service = BindBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BindBody {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// Reads the body of a paid request the gate wants bound; see the [module](self).
#[derive(Debug, Clone)]
pub struct BindBody<S> {
    inner: S,
    gate: Gate,
}

impl<S, B, ResBody> Service<Request<B>> for BindBody<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BindBodyFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let length = match self.gate.body_to_bind(&HeaderMapLookup(request.headers())) {
            Some(BodyToBind::Read(length)) => length,
            bind => {
                // No length given, and the body ended with the headers: bound as empty.
                if bind == Some(BodyToBind::IfEmpty) && request.body().is_end_stream() {
                    request.extensions_mut().insert(BoundBody(Bytes::new()));
                }
                return BindBodyFuture {
                    kind: Kind::Inner {
                        future: self.inner.call(request),
                    },
                };
            }
        };
        // Call the instance that was driven to readiness; keep a fresh clone here.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // At most the announced length: a longer body is an error of the body itself.
            let bytes = match Limited::new(body, length).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => {
                    tracing::debug!(error = %error, "the paid request's body could not be read");
                    let mut response = Response::new(ResBody::default());
                    *response.status_mut() = StatusCode::BAD_REQUEST;
                    return Ok(response);
                }
            };
            parts.extensions.insert(BoundBody(bytes.clone()));
            inner.call(Request::from_parts(parts, B::from(bytes))).await
        });
        BindBodyFuture {
            kind: Kind::Reading { future },
        }
    }
}

type Reading<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

pin_project! {
    /// The response future of [`BindBody`]: the inner service's future, unboxed, unless the
    /// body is being read.
    pub struct BindBodyFuture<F, ResBody, E> {
        #[pin]
        kind: Kind<F, ResBody, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, ResBody, E> {
        Inner {
            #[pin]
            future: F,
        },
        Reading {
            future: Reading<Response<ResBody>, E>,
        },
    }
}

impl<F, ResBody, E> Future for BindBodyFuture<F, ResBody, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Reading { future } => future.as_mut().poll(cx),
        }
    }
}
