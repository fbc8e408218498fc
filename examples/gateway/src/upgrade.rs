//! `Upgrade` requests (WebSocket and any other protocol) pass through the proxy: the
//! `Connection: upgrade` and `Upgrade` headers, hop-by-hop otherwise, are kept for them; when
//! the upstream answers `101 Switching Protocols` the two connections are joined, byte for
//! byte, until either side closes.
//!
//! On a priced route the 101 is the upstream's answer, below 400, so the gate settles before
//! it is sent (`settlement: after`): the client gets `101` with its receipt, only after
//! settlement, and if settlement fails it gets the gate's error instead and the tunnel is
//! never joined (the upstream's upgraded connection is dropped).
//!
//! Upgrades need HTTP/1.1 on both sides: an HTTP/2 client cannot send one (no extended
//! CONNECT here), and an `https://` upstream must pick `http/1.1` by ALPN for them.

use axum::http::{HeaderMap, HeaderValue, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// The `Upgrade` header of a request that asks for one (`Connection` names `upgrade`).
pub(crate) fn requested(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if asks {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Puts back `Connection: upgrade` and `Upgrade: protocol` (after the hop-by-hop cleaning).
pub(crate) fn restore(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// Joins the client's and the upstream's upgraded connections, once both are (the client's
/// only if the 101 reached it), and copies both ways until either side closes.
pub(crate) async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade not completed; nothing joined");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => tracing::debug!(up, down, "upgraded connection closed"),
        Err(error) => tracing::debug!(%error, "upgraded connection ended with an error"),
    }
}
