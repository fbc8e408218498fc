//! The main listener: hyper's server (HTTP/1.1 and HTTP/2, upgrades allowed; over TLS when
//! `tls` is set, see [`crate::listener_tls`]) with the client
//! header-read timeout (`timeouts.clientHeader`, against slowloris: a client that has not sent
//! a request's headers in time has its connection closed), `TCP_NODELAY` on every accepted
//! connection, the client's address in each request (`ConnectInfo`), and a graceful shutdown
//! that lets the requests in flight finish.
//!
//! axum's own `serve` sets none of these timeouts, hence this small accept loop.

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// What the main listener is configured with.
#[derive(Debug, Clone)]
pub(crate) struct ServerSettings {
    /// `timeouts.clientHeader` (also the bound on a TLS handshake).
    pub(crate) client_header: Duration,
    /// TLS on the listener.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections to
/// finish their requests (idle ones are closed at once).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.client_header);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let acceptor = settings.tls.clone().map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        set_nodelay(&tcp);
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(service);
        let Some(acceptor) = acceptor.clone() else {
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, error = %error, "client connection ended with an error");
                }
            });
            continue;
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let handshake = settings.client_header;
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %error, "client connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// `TCP_NODELAY`, as a reverse proxy must (nginx's `tcp_nodelay on`): a proxied response goes
/// out in several writes (head, then each body chunk as the upstream sends it), and with Nagle
/// a write that follows an unacknowledged one waits for the client's delayed ACK, up to 40 ms
/// on Linux.
pub(crate) fn set_nodelay(tcp: &TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// An accept error: a connection reset before it was accepted is nothing; anything else
/// (out of file descriptors) is logged and waited out, as axum's `serve` does.
async fn accept_failed(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::{
        io::{AsyncReadExt as _, AsyncWriteExt as _},
        sync::oneshot,
    };

    use super::*;

    /// Serves a router answering each request with its client's address.
    async fn start(client_header: Duration) -> (SocketAddr, oneshot::Sender<()>) {
        let app = Router::new()
            .fallback(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            app,
            ServerSettings {
                client_header,
                tls: None,
            },
            async {
                let _ = stopped.await;
            },
        ));
        (address, stop)
    }

    #[tokio::test]
    async fn requests_carry_the_client_address() {
        let (address, _stop) = start(Duration::from_secs(10)).await;
        let mut tcp = TcpStream::connect(address).await.unwrap();
        let local = tcp.local_addr().unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
    }

    #[tokio::test]
    async fn a_client_stalling_its_headers_is_cut_off_and_others_are_served() {
        let (address, _stop) = start(Duration::from_millis(300)).await;
        let mut stalled = TcpStream::connect(address).await.unwrap();
        // Half a request head, then nothing.
        stalled
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        // Well below hyper's own default (30 s): the configured timeout is the one that acts.
        let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut seen));
        assert!(read.await.is_ok(), "the stalled connection was not closed");
        let seen = String::from_utf8_lossy(&seen);
        // hyper closes the connection, with a 408 or without a word.
        assert!(
            seen.is_empty() || seen.starts_with("HTTP/1.1 408"),
            "{seen}"
        );

        let mut fine = TcpStream::connect(address).await.unwrap();
        fine.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        fine.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn http2_with_prior_knowledge_is_served_in_cleartext() {
        use http_body_util::BodyExt as _;

        let (address, _stop) = start(Duration::from_secs(10)).await;
        let tcp = TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(format!("http://{address}/"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(!body.is_empty());
    }
}
