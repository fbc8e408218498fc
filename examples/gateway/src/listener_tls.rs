//! TLS on the main listener (`tls: {certFile, keyFile}`, PEM): rustls with ring, ALPN `h2`
//! and `http/1.1`, so clients speak HTTP/2 or HTTP/1.1.
//!
//! The certificate reloads without dropping a connection: every handshake takes the current
//! certificate ([`Certificates`] resolves it), and the files are read again on `SIGHUP`, and
//! when their modification time or size changes (polled with the configuration file, every
//! second). Connections already open keep the session they have; a pair of files that does not
//! load keeps the old certificate and logs why.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use arc_swap::ArcSwap;
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use serde::Deserialize;

/// The `tls` setting of the listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// The certificate chain, PEM, the server's first.
    pub cert_file: PathBuf,
    /// Its private key, PEM.
    pub key_file: PathBuf,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listener's certificate, swapped in place when its files change.
#[derive(Debug)]
pub struct Certificates {
    files: ListenerTlsConfig,
    current: ArcSwap<CertifiedKey>,
    /// The files' modification times and sizes when last loaded.
    stamps: Mutex<Option<Stamps>>,
}

type Stamps = [(SystemTime, u64); 2];

impl Certificates {
    /// Loads the files, or says what is wrong, naming `tls.certFile` or `tls.keyFile`.
    pub fn load(files: &ListenerTlsConfig) -> Result<Self, Vec<String>> {
        let stamps = stamps(files);
        let key = certified_key(files)?;
        Ok(Self {
            files: files.clone(),
            current: ArcSwap::from_pointee(key),
            stamps: Mutex::new(stamps),
        })
    }

    /// Reads the files again, and swaps the certificate in if they load (new handshakes get it).
    pub fn reload(&self) -> Result<(), Vec<String>> {
        let stamps = stamps(&self.files);
        let key = certified_key(&self.files)?;
        self.current.store(Arc::new(key));
        if let Ok(mut last) = self.stamps.lock() {
            *last = stamps;
        }
        tracing::info!(cert = %self.files.cert_file.display(), "listener certificate reloaded");
        Ok(())
    }

    /// [`Self::reload`] if the files changed since they were last loaded; a failure is logged
    /// (the old certificate stays).
    pub fn reload_if_changed(&self) {
        let now = stamps(&self.files);
        let changed = self.stamps.lock().map(|last| *last != now).unwrap_or(false);
        if changed {
            self.reload_or_log();
        }
    }

    /// [`Self::reload`], logging a failure.
    pub fn reload_or_log(&self) {
        if let Err(errors) = self.reload() {
            // Don't retry the same broken files every second.
            if let Ok(mut last) = self.stamps.lock() {
                *last = stamps(&self.files);
            }
            tracing::error!(
                "listener certificate not reloaded, keeping the current one: {}",
                errors.join("; ")
            );
        }
    }

    /// The server configuration resolving to this certificate, with ALPN `h2`, `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn stamps(files: &ListenerTlsConfig) -> Option<Stamps> {
    let stamp = |path: &Path| {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    };
    Some([stamp(&files.cert_file)?, stamp(&files.key_file)?])
}

fn certified_key(files: &ListenerTlsConfig) -> Result<CertifiedKey, Vec<String>> {
    let cert = &files.cert_file;
    let key = &files.key_file;
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|error| format!("cannot read it ({error})"))
        .and_then(|certs| {
            certs
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("not PEM certificates ({error})"))
        })
        .and_then(|chain| {
            if chain.is_empty() {
                Err("no PEM certificate in it".to_owned())
            } else {
                Ok(chain)
            }
        })
        .map_err(|why| format!("`tls.certFile` = {}: {why}", cert.display()));
    let signing_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("not a PEM private key ({error})"))
        .and_then(|der| {
            provider()
                .key_provider
                .load_private_key(der)
                .map_err(|error| format!("unusable key ({error})"))
        })
        .map_err(|why| format!("`tls.keyFile` = {}: {why}", key.display()));
    match (chain, signing_key) {
        (Ok(chain), Ok(signing_key)) => {
            let certified = CertifiedKey::new(chain, signing_key);
            certified.keys_match().map_err(|error| {
                vec![format!(
                    "`tls.keyFile` = {}: does not go with `tls.certFile` ({error})",
                    key.display()
                )]
            })?;
            Ok(certified)
        }
        (chain, signing_key) => Err(chain.err().into_iter().chain(signing_key.err()).collect()),
    }
}
