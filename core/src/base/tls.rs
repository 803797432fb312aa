//! TLS with rustls (ring): the Kafka listener's server config, reloaded when its files
//! change, and the client config for a cluster's brokers. A certificate's subject becomes a
//! client's principal under mutual TLS.

use crate::base::sync::{read, write};
use kafkatwin_config::{ClusterTlsConfig, ServerTlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// Why a TLS setup failed; names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which setting (`server.tls.cert_file`, ...).
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the combination.
    #[error("{what}: {reason}")]
    Setup {
        /// Which setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// rustls with ring: it builds with a C compiler alone (aws-lc-rs, the provider with
/// post-quantum key exchange, needs CMake), and Kafka clients do not offer post-quantum key
/// exchange yet.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The private key in `path`; an `ENCRYPTED PRIVATE KEY` (PKCS#8) is opened with
/// `password`.
fn key(
    what: &'static str,
    path: &str,
    password: Option<&kafkatwin_config::Secret>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bad = |reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let Some(password) = password else {
        return PrivateKeyDer::from_pem_file(path)
            .map_err(|e| bad(format!("no PEM private key: {e}")));
    };
    let password = password
        .resolve()
        .map_err(|e| bad(format!("its key_password: {e}")))?;
    let pem = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| bad(format!("not PEM: {e}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(bad(format!(
            "key_password is set but the key is not encrypted (PEM label {label})"
        )));
    }
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| bad(format!("not an encrypted PKCS#8 key: {e}")))?;
    let plain = encrypted
        .decrypt(password.as_bytes())
        .map_err(|e| bad(format!("cannot open it with key_password: {e}")))?;
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

fn roots(what: &'static str, path: &str) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(what, path)? {
        roots.add(c).map_err(|e| TlsError::File {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The Kafka listener's TLS config from `server.tls`.
pub fn server_config(c: &ServerTlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let setup = |reason: String| TlsError::Setup {
        what: "server.tls",
        reason,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?;
    let builder = match &c.client_ca_file {
        Some(ca) => {
            let roots = roots("server.tls.client_ca_file", ca)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| setup(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(
            certs("server.tls.cert_file", &c.cert_file)?,
            key("server.tls.key_file", &c.key_file, c.key_password.as_ref())?,
        )
        .map_err(|e| setup(e.to_string()))
}

/// The listener's TLS acceptor, rebuilt when its files change (new connections get the new
/// certificate; open ones keep theirs).
pub struct Acceptor {
    config: ServerTlsConfig,
    current: RwLock<(tokio_rustls::TlsAcceptor, Vec<Option<SystemTime>>)>,
}

impl Acceptor {
    /// An acceptor for `server.tls`; an error names the file at fault.
    pub fn new(config: &ServerTlsConfig) -> Result<Self, TlsError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(config)?));
        Ok(Self {
            current: RwLock::new((acceptor, stamps(config))),
            config: config.clone(),
        })
    }

    /// The acceptor for a new connection.
    pub fn get(&self) -> tokio_rustls::TlsAcceptor {
        read(&self.current).0.clone()
    }

    /// Reads the files again when they changed since the last load (or when `force`); a
    /// failed reload keeps the old certificate and says why.
    pub fn reload(&self, force: bool) {
        let now = stamps(&self.config);
        if !force && read(&self.current).1 == now {
            return;
        }
        match server_config(&self.config) {
            Ok(c) => {
                *write(&self.current) = (tokio_rustls::TlsAcceptor::from(Arc::new(c)), now);
                tracing::info!(
                    "server.tls: certificate reloaded from {}",
                    self.config.cert_file
                );
            }
            Err(e) => {
                // Remember the stamps so a broken file is reported once, not every poll.
                write(&self.current).1 = now;
                tracing::warn!("server.tls: reload failed, keeping the previous certificate: {e}");
            }
        }
    }
}

/// Modification times of the listener's files.
fn stamps(c: &ServerTlsConfig) -> Vec<Option<SystemTime>> {
    [
        Some(&c.cert_file),
        Some(&c.key_file),
        c.client_ca_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .collect()
}

/// The principal a client certificate stands for: `User:` and its subject (`CN=alice,O=Org`),
/// as Kafka names principals of TLS clients.
pub fn principal_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed
        .subject()
        .iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .filter_map(|attr| {
            let name = x509_parser::objects::oid2abbrev(
                attr.attr_type(),
                x509_parser::objects::oid_registry(),
            )
            .map(str::to_owned)
            .unwrap_or_else(|_| attr.attr_type().to_id_string());
            attr.as_str().ok().map(|v| format!("{name}={v}"))
        })
        .collect::<Vec<_>>()
        .join(",");
    (!subject.is_empty()).then(|| format!("User:{subject}"))
}

/// The TLS client config for a cluster's brokers from `clusters[].tls`.
pub fn client_config(
    cluster: &str,
    c: &ClusterTlsConfig,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let setup = |reason: String| TlsError::Setup {
        what: "clusters[].tls",
        reason: format!("cluster {cluster}: {reason}"),
    };
    let roots = match &c.ca_file {
        Some(ca) => roots("clusters[].tls.ca_file", ca)?,
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&c.cert_file, &c.key_file) {
        (Some(cert), Some(key_file)) => builder
            .with_client_auth_cert(
                certs("clusters[].tls.cert_file", cert)?,
                key("clusters[].tls.key_file", key_file, c.key_password.as_ref())?,
            )
            .map_err(|e| setup(e.to_string()))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(setup("give both cert_file and key_file, or neither".into())),
    };
    Ok(Arc::new(config))
}

/// The name a broker's certificate must carry: `server_name`, else the broker's host.
pub fn server_name(c: &ClusterTlsConfig, addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match &c.server_name {
        Some(n) => n.as_str(),
        None => addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']'),
    };
    ServerName::try_from(host.to_owned()).map_err(|e| TlsError::Setup {
        what: "clusters[].tls.server_name",
        reason: format!("{host:?} is not a host name: {e}"),
    })
}
