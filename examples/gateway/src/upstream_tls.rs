//! `https://` upstreams: the rustls client configuration (ring), from `upstreamTls`.
//!
//! - The server certificate is checked against the platform's roots (rustls-platform-verifier)
//!   by default, or only against the CAs of `caFile` (PEM) when it is set;
//! - `certFile` and `keyFile` (PEM) give a client certificate (mutual TLS);
//! - SNI is the upstream URL's host; ALPN offers `h2` and `http/1.1`, so the upstream picks
//!   HTTP/2 or HTTP/1.1.
//!
//! A certificate the upstream presents that does not verify fails the connection: the request
//! gets 502 `upstream_unavailable`, and nothing is charged.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    ClientConfig, RootCertStore,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
};
use serde::Deserialize;

/// The `upstreamTls` setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// Trust only the CAs in this PEM file (default: the platform's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain (PEM), with `keyFile`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM), with `certFile`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// The crypto provider of every TLS connection the gateway makes: ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl UpstreamTlsConfig {
    /// The client configuration (without ALPN: the connector sets it), or every error naming
    /// its field (`upstreamTls.caFile`, …).
    pub fn client_config(&self) -> Result<ClientConfig, Vec<String>> {
        let mut errors = Vec::new();
        let builder = match ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder,
            Err(error) => return Err(vec![format!("`upstreamTls`: {error}")]),
        };
        let builder = match &self.ca_file {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                match certificates(path) {
                    Ok(certificates) => {
                        for certificate in certificates {
                            if let Err(error) = roots.add(certificate) {
                                errors.push(format!(
                                    "`upstreamTls.caFile` = {}: {error}",
                                    path.display()
                                ));
                            }
                        }
                    }
                    Err(why) => {
                        errors.push(format!("`upstreamTls.caFile` = {}: {why}", path.display()));
                    }
                }
                builder.with_root_certificates(roots)
            }
            None => match rustls_platform_verifier::Verifier::new(provider()) {
                Ok(verifier) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier)),
                Err(error) => {
                    return Err(vec![format!(
                        "`upstreamTls`: the platform's certificate roots: {error}"
                    )]);
                }
            },
        };
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => Some(builder.with_no_client_auth()),
            (Some(cert), Some(key)) => {
                let chain = certificates(cert)
                    .map_err(|why| format!("`upstreamTls.certFile` = {}: {why}", cert.display()));
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|error| {
                    format!(
                        "`upstreamTls.keyFile` = {}: not a PEM private key ({error})",
                        key.display()
                    )
                });
                match (chain, key_der) {
                    (Ok(chain), Ok(key_der)) => match builder.with_client_auth_cert(chain, key_der)
                    {
                        Ok(config) => Some(config),
                        Err(error) => {
                            errors.push(format!(
                                "`upstreamTls.keyFile` = {}: does not go with `certFile` ({error})",
                                key.display()
                            ));
                            None
                        }
                    },
                    (chain, key_der) => {
                        errors.extend(chain.err());
                        errors.extend(key_der.err());
                        None
                    }
                }
            }
            (Some(_), None) => {
                errors.push("`upstreamTls.keyFile`: missing: `certFile` needs it".to_owned());
                None
            }
            (None, Some(_)) => {
                errors.push("`upstreamTls.certFile`: missing: `keyFile` needs it".to_owned());
                None
            }
        };
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(errors),
        }
    }
}

/// The client configuration of a gateway whose upstream is plain `http://`: never used to
/// connect, so it trusts nothing.
pub fn unused_client_config() -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// Every certificate of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("cannot read it ({error})"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not PEM certificates ({error})"))?;
    if certificates.is_empty() {
        return Err("no PEM certificate in it".to_owned());
    }
    Ok(certificates)
}
