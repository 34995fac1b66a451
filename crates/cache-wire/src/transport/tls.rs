//! TLS settings for listeners and connections (rustls, TLS 1.2 and 1.3, ring as the
//! cryptography provider).
//!
//! A server needs a certificate chain and its key in PEM files, and may require clients to
//! present a certificate signed by a given CA. For development, [`ServerTls::self_signed`]
//! writes a certificate for `localhost`, `127.0.0.1` and `::1` into a directory, where clients
//! find it to trust. A client trusts exactly the CA (or self-signed certificate) it is given.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(invalid(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        invalid(format!(
            "cannot read a private key from {}: {e}",
            path.display()
        ))
    })
}

fn roots(ca: &Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("bad CA certificate in {}: {e}", ca.display())))?;
    }
    Ok(roots)
}

/// The names a development certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where [`ServerTls::self_signed`] keeps its files in `dir`: (certificate, key).
pub fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// A server's TLS configuration.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// From PEM files: the certificate chain, its key, and optionally a CA that client
    /// certificates must be signed by (then a client without one is refused).
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> io::Result<ServerTls> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let builder = match client_ca {
            Some(ca) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)?),
                    provider(),
                )
                .build()
                .map_err(|e| invalid(format!("client CA {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| {
                invalid(format!(
                    "certificate {} and key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// A development certificate for `localhost`, `127.0.0.1` and `::1`, kept in `dir`
    /// (`cert.pem`, `key.pem`): made on first use and reused after, so clients can keep
    /// trusting `dir/cert.pem` across restarts.
    pub fn self_signed(dir: &Path) -> io::Result<ServerTls> {
        let (cert, key) = self_signed_paths(dir);
        if !cert.exists() || !key.exists() {
            std::fs::create_dir_all(dir)?;
            let names = SELF_SIGNED_NAMES
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>();
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| invalid(format!("cannot make a certificate: {e}")))?;
            write_private(&key, made.key_pair.serialize_pem().as_bytes())?;
            std::fs::write(&cert, made.cert.pem())?;
        }
        ServerTls::from_files(&cert, &key, None)
    }

    /// The rustls configuration, with the ALPN protocols set to `alpn`.
    pub fn config_with_alpn(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Writes a key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// A client's TLS configuration.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trusts the certificates in `ca` (a CA, or a server's self-signed certificate) and, if
    /// given, presents `identity` (certificate, key) to servers that ask for one.
    pub fn new(ca: &Path, identity: Option<(&Path, &Path)>) -> io::Result<ClientTls> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots(ca)?);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .map_err(|e| invalid(format!("client certificate {}: {e}", cert.display())))?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, with the ALPN protocols set to `alpn`.
    pub fn config_with_alpn(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }
}

/// The name a server's certificate must carry, from `host:port`.
pub(crate) fn server_name(host_port: &str) -> io::Result<rustls::pki_types::ServerName<'static>> {
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| invalid(format!("'{host}' is not a valid TLS server name")))
}

/// A server's TLS settings as flags and config files give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// The certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// If set, clients must present a certificate signed by this CA (PEM).
    pub client_ca: Option<PathBuf>,
    /// Development mode: make (or reuse) a self-signed certificate in this directory.
    pub self_signed: Option<PathBuf>,
}

impl ServerTlsSettings {
    /// Lets settings given as flags override these (from a file): a certificate or a
    /// self-signed directory replaces the server identity, a client CA the client CA.
    pub fn override_with(&mut self, flags: ServerTlsSettings) {
        if flags.cert.is_some() || flags.self_signed.is_some() {
            self.cert = flags.cert;
            self.key = flags.key;
            self.self_signed = flags.self_signed;
        }
        if flags.client_ca.is_some() {
            self.client_ca = flags.client_ca;
        }
    }

    /// The configuration these settings describe; `None` when TLS is not configured.
    pub fn load(&self) -> io::Result<Option<ServerTls>> {
        match (&self.self_signed, &self.cert, &self.key) {
            (Some(dir), None, None) => ServerTls::self_signed(dir).map(Some),
            (Some(_), _, _) => Err(invalid(
                "give either a certificate and key or a self-signed directory, not both".into(),
            )),
            (None, Some(cert), Some(key)) => {
                ServerTls::from_files(cert, key, self.client_ca.as_deref()).map(Some)
            }
            (None, Some(_), None) | (None, None, Some(_)) => Err(invalid(
                "TLS needs both a certificate (--tls-cert) and its key (--tls-key)".into(),
            )),
            (None, None, None) if self.client_ca.is_some() => Err(invalid(
                "a client CA (--tls-client-ca) needs a certificate and key as well".into(),
            )),
            (None, None, None) => Ok(None),
        }
    }
}

/// A client's TLS settings as flags and config files give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// The CA (or the server's self-signed certificate) to trust (PEM).
    pub ca: Option<PathBuf>,
    /// A client certificate for servers that require one (PEM).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
}

impl ClientTlsSettings {
    /// The configuration these settings describe; `None` when no CA is given.
    pub fn load(&self) -> io::Result<Option<ClientTls>> {
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "a client certificate needs both --tls-cert and --tls-key".into(),
                ));
            }
        };
        match &self.ca {
            Some(ca) => ClientTls::new(ca, identity).map(Some),
            None if identity.is_some() => Err(invalid(
                "a client certificate needs --tls-ca too (the server's CA)".into(),
            )),
            None => Ok(None),
        }
    }
}
