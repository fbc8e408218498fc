//! `https://` upstreams on loopback: a test CA generated here (rcgen), an upstream serving
//! TLS with it (tokio-rustls, hyper), the gateway in front with `upstreamTls`. The upstream
//! answers with what it saw: the HTTP version (ALPN), the SNI name, whether the client showed
//! a certificate.

#[allow(dead_code, reason = "the helpers of the other test binaries")]
mod support;

use std::{sync::Arc, time::Duration};

use axum::{Extension, Json, Router, extract::Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use reqwest::StatusCode;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
};
use support::{Task, TempPath};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use x402_gateway::Running;

const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PATIENCE: Duration = Duration::from_secs(30);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA, and certificates it signed.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM, in a file.
    ca_file: TempPath,
}

/// A certificate and its key, DER and in PEM files.
struct Leaf {
    der: CertificateDer<'static>,
    key: Vec<u8>,
    cert_file: TempPath,
    key_file: TempPath,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a key"))
            .expect("a CA");
        let ca_file = TempPath::new(&format!("{name}-ca.pem"));
        std::fs::write(&ca_file.0, ca.pem()).expect("writes");
        Self { ca, ca_file }
    }

    fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().expect("a key");
        let params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        let certificate = params.signed_by(&key, &self.ca).expect("signs");
        let cert_file = TempPath::new(&format!("{name}.pem"));
        let key_file = TempPath::new(&format!("{name}.key"));
        std::fs::write(&cert_file.0, certificate.pem()).expect("writes");
        std::fs::write(&key_file.0, key.serialize_pem()).expect("writes");
        Leaf {
            der: certificate.der().clone(),
            key: key.serialize_der(),
            cert_file,
            key_file,
        }
    }
}

/// What the upstream saw of one TLS connection.
#[derive(Clone)]
struct Seen {
    sni: Option<String>,
    client_certificate: bool,
}

/// An `https://localhost:PORT` upstream with `leaf`, offering `alpn`, requiring a client
/// certificate from `client_ca` when given.
async fn tls_upstream(leaf: &Leaf, alpn: &[&[u8]], client_ca: Option<&Pki>) -> (String, Task) {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(pki) => {
            let mut roots = RootCertStore::empty();
            roots.add(pki.ca.der().clone()).expect("a root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .expect("a verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone()));
    let mut config = builder
        .with_single_cert(vec![leaf.der.clone()], key)
        .expect("a server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let app = Router::new().fallback(
        |Extension(seen): Extension<Seen>, request: Request| async move {
            Json(serde_json::json!({
                "version": format!("{:?}", request.version()),
                "path": request.uri().path(),
                "sni": seen.sni,
                "clientCertificate": seen.client_certificate,
                "forwardedProto": request
                    .headers()
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok()),
            }))
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("address").port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_, connection) = tls.get_ref();
                let seen = Seen {
                    sni: connection.server_name().map(str::to_owned),
                    client_certificate: connection.peer_certificates().is_some(),
                };
                let service =
                    app.map_request(move |mut request: Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(seen.clone());
                        request
                    });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    (format!("localhost:{port}"), Task::new(task))
}

struct Gateway {
    running: Option<Running>,
    stop: Option<oneshot::Sender<()>>,
    base: String,
    _file: TempPath,
}

impl Gateway {
    async fn start(upstream: &str, tls: &str) -> Self {
        let file = TempPath::new("tls.yaml");
        Self::write_and_start(file, upstream, tls).await
    }

    async fn write_and_start(file: TempPath, upstream: &str, tls: &str) -> Self {
        std::fs::write(
            &file.0,
            format!(
                r#"
listen: 127.0.0.1:0
mode: proxy
upstream: https://{upstream}
{tls}
facilitator: dev
payment: {{ wallet: "{PAY_TO}", network: base-sepolia, defaultPrice: "$0.001" }}
routes:
  - {{ path: /free/**, free: true }}
"#
            ),
        )
        .expect("writes the config");
        Self::start_file(file).await
    }

    /// Starts with the configuration already in `file`.
    async fn start_file(file: TempPath) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let running = x402_gateway::start(file.0.clone(), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap_or_else(|error| panic!("the gateway did not start: {error}"));
        Self {
            base: format!("http://{}", running.listen),
            running: Some(running),
            stop: Some(stop),
            _file: file,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let response = examples::http_client()
            .expect("client")
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("answered");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let running = self.running.take().expect("running");
        tokio::time::timeout(PATIENCE, running.wait())
            .await
            .expect("the gateway stops")
            .expect("the gateway stopped cleanly");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn ca_setting(pki: &Pki) -> String {
    format!("upstreamTls: {{ caFile: \"{}\" }}", pki.ca_file.0.display())
}

#[tokio::test]
async fn an_https_upstream_with_the_test_ca_is_reached_over_http2_with_sni() {
    let pki = Pki::new("good");
    let leaf = pki.leaf("localhost");
    let (upstream, _task) = tls_upstream(&leaf, &[b"h2", b"http/1.1"], None).await;
    let gateway = Gateway::start(&upstream, &ca_setting(&pki)).await;

    let (status, seen) = gateway.get("/free/x").await;

    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["version"], "HTTP/2.0", "ALPN picked h2: {seen}");
    assert_eq!(seen["sni"], "localhost", "{seen}");
    assert_eq!(seen["path"], "/free/x");
    assert_eq!(seen["clientCertificate"], false);
    gateway.stop().await;
}

#[tokio::test]
async fn an_https_upstream_offering_only_http1_is_reached_over_http1() {
    let pki = Pki::new("h1");
    let leaf = pki.leaf("localhost");
    let (upstream, _task) = tls_upstream(&leaf, &[b"http/1.1"], None).await;
    let gateway = Gateway::start(&upstream, &ca_setting(&pki)).await;

    let (status, seen) = gateway.get("/free/x").await;

    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["version"], "HTTP/1.1", "{seen}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_route_may_name_an_https_upstream_beside_a_plain_http_one() {
    let pki = Pki::new("route");
    let leaf = pki.leaf("localhost");
    let (secure, _task) = tls_upstream(&leaf, &[b"h2", b"http/1.1"], None).await;
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let plain_address = plain.local_addr().expect("address");
    drop(plain);
    // The gateway's upstream plain http (nothing listens), one route's https.
    let file = TempPath::new("route-tls.yaml");
    std::fs::write(
        &file.0,
        format!(
            r#"
listen: 127.0.0.1:0
mode: proxy
upstream: http://{plain_address}
{tls}
facilitator: dev
payment: {{ wallet: "{PAY_TO}", network: base-sepolia, defaultPrice: "$0.001" }}
routes:
  - {{ path: /free/**, free: true, upstream: "https://{secure}" }}
"#,
            tls = ca_setting(&pki)
        ),
    )
    .expect("writes");
    let gateway = Gateway::start_file(file).await;
    let (status, seen) = gateway.get("/free/x").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["sni"], "localhost");
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_certificate_from_another_ca_is_refused_with_502() {
    let pki = Pki::new("upstream");
    let leaf = pki.leaf("localhost");
    let other = Pki::new("other");
    let (upstream, _task) = tls_upstream(&leaf, &[b"h2", b"http/1.1"], None).await;

    // Trusting another CA, and (the default) the platform's roots, which know no test CA.
    for setting in [ca_setting(&other), String::new()] {
        let gateway = Gateway::start(&upstream, &setting).await;
        let (status, body) = gateway.get("/free/x").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{setting}: {body}");
        assert_eq!(body["reason"], "upstream_unavailable", "{body}");
        gateway.stop().await;
    }
}

#[tokio::test]
async fn a_client_certificate_is_shown_to_an_upstream_requiring_one() {
    let pki = Pki::new("mtls");
    let leaf = pki.leaf("localhost");
    let client = pki.leaf("gateway.client");
    let (upstream, _task) = tls_upstream(&leaf, &[b"h2", b"http/1.1"], Some(&pki)).await;

    let with_certificate = format!(
        "upstreamTls: {{ caFile: \"{}\", certFile: \"{}\", keyFile: \"{}\" }}",
        pki.ca_file.0.display(),
        client.cert_file.0.display(),
        client.key_file.0.display()
    );
    let gateway = Gateway::start(&upstream, &with_certificate).await;
    let (status, seen) = gateway.get("/free/x").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["clientCertificate"], true, "{seen}");
    gateway.stop().await;

    let gateway = Gateway::start(&upstream, &ca_setting(&pki)).await;
    let (status, body) = gateway.get("/free/x").await;
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "no client certificate: {body}"
    );
    gateway.stop().await;
}

#[test]
fn bad_upstream_tls_files_are_refused_naming_the_field() {
    let pki = Pki::new("files");
    let not_pem = TempPath::new("not.pem");
    std::fs::write(&not_pem.0, "hello").expect("writes");
    let path = std::path::Path::new("gateway.yaml");
    for (setting, field) in [
        (
            "upstreamTls: { caFile: /nonexistent/ca.pem }".to_owned(),
            "`upstreamTls.caFile`",
        ),
        (
            format!("upstreamTls: {{ caFile: \"{}\" }}", not_pem.0.display()),
            "`upstreamTls.caFile`",
        ),
        (
            format!(
                "upstreamTls: {{ certFile: \"{}\" }}",
                pki.ca_file.0.display()
            ),
            "`upstreamTls.keyFile`",
        ),
        (
            format!(
                "upstreamTls: {{ certFile: \"{}\", keyFile: \"{}\" }}",
                pki.ca_file.0.display(),
                not_pem.0.display()
            ),
            "`upstreamTls.keyFile`",
        ),
    ] {
        let text = format!(
            "listen: 127.0.0.1:0\nmode: proxy\nupstream: https://localhost:1\n{setting}\n\
             facilitator: dev\npayment: {{ wallet: \"{PAY_TO}\", network: base-sepolia }}\n"
        );
        let parsed = x402_gateway::config::GatewayConfig::parse(path, &text).expect("parses");
        let error = x402_gateway::config::validate(path, parsed)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(field), "{field} missing from:\n{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// TLS on the listener.

/// A TLS connection to the gateway at `address`, trusting only `pki`, offering `alpn`.
async fn open(
    address: std::net::SocketAddr,
    pki: &Pki,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).expect("a root");
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

type H2 = hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>;

/// An HTTP/2 connection over `tls`.
async fn http2(tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> H2 {
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("an HTTP/2 connection");
    tokio::spawn(connection);
    sender
}

async fn get_on(sender: &mut H2, path: &str) -> (StatusCode, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let request = hyper::Request::get(format!("https://localhost{path}"))
        .body(http_body_util::Empty::new())
        .expect("a request");
    let response = sender.send_request(request).await.expect("answered");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_tls_over_http2_and_reloads_its_certificate_without_dropping_connections()
 {
    let upstream_pki = Pki::new("backend");
    let backend = upstream_pki.leaf("localhost");
    let (upstream, _task) = tls_upstream(&backend, &[b"http/1.1"], None).await;
    let first = Pki::new("first");
    let served = first.leaf("localhost");
    let settings = format!(
        "{}\ntls: {{ certFile: \"{}\", keyFile: \"{}\" }}",
        ca_setting(&upstream_pki),
        served.cert_file.0.display(),
        served.key_file.0.display()
    );
    let gateway = Gateway::start(&upstream, &settings).await;
    let address = gateway.running().listen;

    // HTTP/2 by ALPN; the upstream is told the client came over https.
    let mut kept = http2(open(address, &first, &[b"h2"]).await.expect("a handshake")).await;
    let (status, seen) = get_on(&mut kept, "/free/a").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["forwardedProto"], "https", "{seen}");
    // HTTP/1.1 by ALPN too.
    let tls = open(address, &first, &[b"http/1.1"])
        .await
        .expect("a handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(tls);

    // Under traffic on the kept connection, the files change to a certificate of another CA
    // and the gateway reloads them (what SIGHUP does).
    let traffic = tokio::spawn(async move {
        let mut statuses = Vec::new();
        for i in 0..40 {
            statuses.push(get_on(&mut kept, &format!("/free/{i}")).await.0);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (kept, statuses)
    });
    let second = Pki::new("second");
    let renewed = second.leaf("localhost");
    std::fs::copy(&renewed.cert_file.0, &served.cert_file.0).expect("copies");
    std::fs::copy(&renewed.key_file.0, &served.key_file.0).expect("copies");
    gateway.running().reload().expect("reloads");
    let (mut kept, statuses) = tokio::time::timeout(PATIENCE, traffic)
        .await
        .expect("the traffic ends")
        .expect("joins");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    // The connection opened before the reload still serves; new handshakes get the new
    // certificate, which only the second CA verifies.
    assert_eq!(get_on(&mut kept, "/free/after").await.0, StatusCode::OK);
    let mut fresh = http2(
        open(address, &second, &[b"h2"])
            .await
            .expect("the new certificate"),
    )
    .await;
    assert_eq!(get_on(&mut fresh, "/free/new").await.0, StatusCode::OK);
    assert!(
        open(address, &first, &[b"h2"]).await.is_err(),
        "the old certificate is still served"
    );

    // Without a signal: the files are polled, and a change is picked up by itself.
    let third = Pki::new("third");
    let polled = third.leaf("localhost");
    std::fs::copy(&polled.cert_file.0, &served.cert_file.0).expect("copies");
    std::fs::copy(&polled.key_file.0, &served.key_file.0).expect("copies");
    tokio::time::timeout(PATIENCE, async {
        while open(address, &third, &[b"h2"]).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the changed files are picked up");
    assert_eq!(get_on(&mut kept, "/free/last").await.0, StatusCode::OK);
    gateway.stop().await;
}

#[test]
fn bad_listener_tls_files_are_refused_naming_the_field() {
    let not_pem = TempPath::new("listener-not.pem");
    std::fs::write(&not_pem.0, "hello").expect("writes");
    let pki = Pki::new("listener-files");
    let leaf = pki.leaf("localhost");
    let other = pki.leaf("other.localhost");
    let path = std::path::Path::new("gateway.yaml");
    for (setting, field) in [
        (
            format!(
                "tls: {{ certFile: /nonexistent.pem, keyFile: \"{}\" }}",
                leaf.key_file.0.display()
            ),
            "`tls.certFile`",
        ),
        (
            format!(
                "tls: {{ certFile: \"{}\", keyFile: \"{}\" }}",
                leaf.cert_file.0.display(),
                not_pem.0.display()
            ),
            "`tls.keyFile`",
        ),
        (
            format!(
                "tls: {{ certFile: \"{}\", keyFile: \"{}\" }}",
                leaf.cert_file.0.display(),
                other.key_file.0.display()
            ),
            "`tls.keyFile`",
        ),
    ] {
        let text = format!(
            "listen: 127.0.0.1:0\nmode: proxy\nupstream: http://localhost:1\n{setting}\n\
             facilitator: dev\npayment: {{ wallet: \"{PAY_TO}\", network: base-sepolia }}\n"
        );
        let parsed = x402_gateway::config::GatewayConfig::parse(path, &text).expect("parses");
        let error = x402_gateway::config::validate(path, parsed)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(field), "{field} missing from:\n{error}");
    }
}
