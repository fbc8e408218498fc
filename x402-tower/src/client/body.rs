//! Request bodies the paying client can send twice.

use bytes::{Buf, Bytes};
use http_body_util::{Empty, Full};

/// A request body that may be sent again with the payment.
///
/// The paying client makes a copy of the body before the first request; if the answer is a
/// 402 and there is no copy, the call fails with
/// [`BuyError::BodyNotReplayable`](x402_core::client::BuyError::BodyNotReplayable) instead of
/// retrying without the body. Buffered bodies ([`Full`], [`Empty`], `String`, `Bytes`,
/// `Vec<u8>`) always replay; an axum [`Body`](axum::body::Body) replays only when it is known
/// to be empty (a streamed body cannot be read twice). To pay for a streamed body, buffer it
/// into a `Full<Bytes>` first.
pub trait ReplayBody: Sized {
    /// A copy to send again, or `None` if the body cannot be replayed.
    fn try_replay(&self) -> Option<Self>;
}

impl<D: Buf + Clone> ReplayBody for Full<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D: Buf> ReplayBody for Empty<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

macro_rules! replay_by_clone {
    ($($ty:ty),*) => {$(
        impl ReplayBody for $ty {
            fn try_replay(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replay_by_clone!(String, Bytes, Vec<u8>);

#[cfg(feature = "axum")]
impl ReplayBody for axum::body::Body {
    fn try_replay(&self) -> Option<Self> {
        use http_body::Body as _;
        (self.size_hint().exact() == Some(0)).then(axum::body::Body::empty)
    }
}
