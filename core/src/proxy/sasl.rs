//! Client authentication: SASL/PLAIN answered by the proxy itself, each login checked by the
//! `auth.plugins` on_auth plugins in order. Backends are not involved.

use crate::proxy::{Frame, Handled, Proxy, encode_response};
use crate::wire::frame;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

/// What a SASL request did to the connection.
pub enum SaslStep {
    /// Answer and go on (handshake done, or an error the client may retry).
    Continue(Handled),
    /// Logged in as this principal.
    LoggedIn(Handled, String),
    /// Answer, then close (a failed login).
    Refused(Handled),
}

impl Proxy {
    /// Whether clients must log in.
    pub fn auth_required(&self) -> bool {
        !self.config.auth.plugins.is_empty()
    }

    /// Answers a SaslHandshake or SaslAuthenticate request.
    pub fn sasl(&self, raw: Bytes) -> SaslStep {
        let (peek, decoded) = match frame::decode_request(raw) {
            Ok(d) => d,
            Err(_) => return SaslStep::Refused(Handled::Close("undecodable SASL request".into())),
        };
        let reply = |body: ResponseKind| match encode_response(
            decoded.api_key,
            decoded.version,
            peek.correlation_id,
            &body,
        ) {
            Ok(b) => Handled::Reply(Frame::Encoded(b)),
            Err(e) => Handled::Close(format!("cannot encode the SASL response: {e}")),
        };
        match &decoded.body {
            RequestKind::SaslHandshake(r) => {
                let plain = r.mechanism.as_str() == "PLAIN";
                let mut resp = SaslHandshakeResponse::default()
                    .with_mechanisms(vec![StrBytes::from_static_str("PLAIN")]);
                if !plain {
                    resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
                }
                let out = reply(ResponseKind::SaslHandshake(resp));
                if plain {
                    SaslStep::Continue(out)
                } else {
                    SaslStep::Refused(out)
                }
            }
            RequestKind::SaslAuthenticate(r) => match self.login(&r.auth_bytes) {
                Ok(principal) => {
                    tracing::info!("client logged in as {principal}");
                    SaslStep::LoggedIn(
                        reply(ResponseKind::SaslAuthenticate(
                            SaslAuthenticateResponse::default(),
                        )),
                        principal,
                    )
                }
                Err(reason) => {
                    tracing::warn!("login refused: {reason}");
                    let resp = SaslAuthenticateResponse::default()
                        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "Authentication failed: {reason}"
                        ))));
                    SaslStep::Refused(reply(ResponseKind::SaslAuthenticate(resp)))
                }
            },
            _ => SaslStep::Refused(Handled::Close("expected a SASL request".into())),
        }
    }

    /// Checks PLAIN credentials (`authzid \0 username \0 password`) with the on_auth plugins.
    fn login(&self, auth_bytes: &[u8]) -> Result<String, LoginError> {
        let mut parts = auth_bytes.splitn(3, |b| *b == 0);
        let (_authzid, user, password) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(u), Some(p)) => (a, u, p),
            _ => return Err(LoginError::Malformed),
        };
        let user = std::str::from_utf8(user).map_err(|_| LoginError::UserNotUtf8)?;
        let mut reasons = Vec::new();
        for p in &self.config.auth.plugins {
            let config: Vec<(String, String)> = p
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match self
                .books
                .plugins
                .call_auth(&p.plugin, &config, "PLAIN", user, password)
            {
                Ok(Ok(principal)) => return Ok(principal),
                Ok(Err(reason)) => reasons.push(format!("{}: {reason}", p.plugin)),
                Err(e) => reasons.push(e.to_string()),
            }
        }
        Err(LoginError::Refused {
            user: user.to_owned(),
            reasons: reasons.join("; "),
        })
    }
}

/// Why a PLAIN login was refused.
#[derive(Debug, thiserror::Error)]
enum LoginError {
    /// Not `authzid \0 username \0 password`.
    #[error("malformed PLAIN credentials")]
    Malformed,
    /// The username is not UTF-8.
    #[error("username is not UTF-8")]
    UserNotUtf8,
    /// No on_auth plugin allowed the user; each one's answer.
    #[error("user {user}: {reasons}")]
    Refused {
        /// The username.
        user: String,
        /// What each plugin said, by plugin name.
        reasons: String,
    },
}
