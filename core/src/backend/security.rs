//! TLS and SASL to a cluster's brokers (`clusters[].tls`, `clusters[].sasl`): every
//! connection the proxy opens to the cluster (client traffic, writers, probes, the control
//! log, repair) is made secure the same way before it carries anything. A failed handshake
//! or login is a connection failure of that cluster: it shows in the cluster's health and
//! counts toward its circuit breaker; both are bounded by `backend.connect_timeout`.

use crate::base::scram::{self, ScramHash};
use crate::wire::frame;
use bytes::{BufMut, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafkatwin_config::{ClusterConfig, ClusterTlsConfig, SaslMechanism};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a connection to a broker could not be made secure; the message names the setting
/// or the step.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecureError {
    /// A TLS or SASL setting could not be read or resolved.
    #[error("{0}")]
    Setting(String),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The SASL login failed or was refused.
    #[error("{0}")]
    Login(String),
}

/// How the proxy reaches one cluster's brokers.
#[derive(Default)]
pub struct Security {
    tls: Option<(Arc<rustls::ClientConfig>, ClusterTlsConfig)>,
    sasl: Option<SaslLogin>,
}

/// `clusters[].sasl`, resolved.
struct SaslLogin {
    mechanism: SaslMechanism,
    username: String,
    password: String,
}

/// A connection to a broker once secured.
pub enum Secured {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Security {
    /// The cluster's TLS and SASL settings, read and resolved; an error names the setting.
    pub fn from_config(c: &ClusterConfig) -> Result<Self, SecureError> {
        let setting = |e: String| SecureError::Setting(e);
        let tls = match &c.tls {
            Some(t) => Some((
                crate::base::tls::client_config(&c.id, t).map_err(|e| setting(e.to_string()))?,
                t.clone(),
            )),
            None => None,
        };
        let sasl = match &c.sasl {
            Some(s) => Some(SaslLogin {
                mechanism: s.mechanism,
                username: s.username.clone(),
                password: s
                    .password
                    .resolve()
                    .map_err(|e| setting(format!("clusters[{}].sasl.password: {e}", c.id)))?,
            }),
            None => None,
        };
        Ok(Self { tls, sasl })
    }

    /// TLS, then the SASL login, on a fresh TCP connection to `addr`.
    pub async fn secure(&self, tcp: TcpStream, addr: &str) -> Result<Secured, SecureError> {
        match &self.tls {
            None => {
                let mut tcp = tcp;
                if let Some(login) = &self.sasl {
                    login.run(&mut tcp).await?;
                }
                Ok(Secured::Plain(tcp))
            }
            Some((config, settings)) => {
                let name = crate::base::tls::server_name(settings, addr)
                    .map_err(|e| SecureError::Setting(e.to_string()))?;
                let mut tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| SecureError::Handshake(e.to_string()))?;
                if let Some(login) = &self.sasl {
                    login.run(&mut tls).await?;
                }
                Ok(Secured::Tls(Box::new(tls)))
            }
        }
    }
}

impl SaslLogin {
    /// SaslHandshake, then SaslAuthenticate rounds until the broker accepts.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&self, s: &mut S) -> Result<(), SecureError> {
        let mechanism = self.mechanism.name();
        let hs =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        match exchange(
            s,
            ApiKey::SaslHandshake,
            1,
            1,
            RequestKind::SaslHandshake(hs),
        )
        .await?
        {
            ResponseKind::SaslHandshake(r) if r.error_code == 0 => {}
            ResponseKind::SaslHandshake(r) => {
                let offered: Vec<&str> = r.mechanisms.iter().map(|m| m.as_str()).collect();
                return Err(login(format!(
                    "SASL mechanism {mechanism} refused (error {}); the broker offers {offered:?}",
                    r.error_code
                )));
            }
            _ => return Err(login("the broker did not answer the SASL handshake")),
        }
        match ScramHash::from_mechanism(mechanism) {
            None => {
                let mut plain = vec![0u8];
                plain.extend_from_slice(self.username.as_bytes());
                plain.push(0);
                plain.extend_from_slice(self.password.as_bytes());
                self.authenticate(s, 2, plain).await.map(|_| ())
            }
            Some(hash) => {
                let (client, first) = scram::Client::start(hash, &self.username, &self.password)
                    .map_err(|e| login(e.to_string()))?;
                let server_first = self.authenticate(s, 2, first).await?;
                let (fin, expected) = client
                    .prove(&server_first)
                    .map_err(|e| login(e.to_string()))?;
                let server_final = self.authenticate(s, 3, fin).await?;
                scram::check_server_final(&server_final, &expected)
                    .map_err(|e| login(e.to_string()))
            }
        }
    }

    /// One SaslAuthenticate round: the broker's bytes, or why it refused.
    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        correlation: i32,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, SecureError> {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
        match exchange(
            s,
            ApiKey::SaslAuthenticate,
            2,
            correlation,
            RequestKind::SaslAuthenticate(req),
        )
        .await?
        {
            ResponseKind::SaslAuthenticate(r) if r.error_code == 0 => Ok(r.auth_bytes.to_vec()),
            ResponseKind::SaslAuthenticate(r) => Err(login(format!(
                "SASL login as {} refused: {} ({})",
                self.username,
                r.error_message
                    .as_ref()
                    .map_or("no message", |m| m.as_str()),
                ResponseError::try_from_code(r.error_code)
                    .map_or_else(|| r.error_code.to_string(), |e| format!("{e:?}"))
            ))),
            _ => Err(login("the broker did not answer SaslAuthenticate")),
        }
    }
}

/// A login step that failed, said for the cluster's health.
fn login(why: impl Into<String>) -> SecureError {
    SecureError::Login(why.into())
}

/// Largest answer a login step may get.
const LOGIN_FRAME_LIMIT: u32 = 1 << 20;

/// Sends one request on a connection not yet in service and reads its answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    api: ApiKey,
    version: i16,
    correlation: i32,
    body: RequestKind,
) -> Result<ResponseKind, SecureError> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("kafkatwin")));
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    header
        .encode(&mut out, api.request_header_version(version))
        .and_then(|_| body.encode(&mut out, version))
        .map_err(|e| login(format!("cannot encode {api:?}: {e}")))?;
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&out)
        .await
        .map_err(|e| login(format!("{api:?} not sent: {e}")))?;
    let mut answer = frame::read_frame(s, LOGIN_FRAME_LIMIT)
        .await
        .map_err(|e| login(format!("no answer to {api:?}: {e}")))?;
    let head = ResponseHeader::decode(&mut answer, api.response_header_version(version))
        .map_err(|e| login(format!("undecodable answer to {api:?}: {e}")))?;
    if head.correlation_id != correlation {
        return Err(login(format!(
            "answer to {api:?} with the wrong correlation id"
        )));
    }
    ResponseKind::decode(api, &mut answer, version)
        .map_err(|e| login(format!("undecodable answer to {api:?}: {e}")))
}
