//! Client authentication, answered by the proxy itself (backends are not involved): PLAIN and
//! SCRAM-SHA-256/512 against the users (`auth.users` and the admin API's), and PLAIN checked
//! by the `auth.plugins` on_auth plugins in order. A client's principal is its user name
//! (what quotas and ACLs name).

use crate::base::scram::{ScramHash, ServerFinal, ServerFirst};
use crate::proxy::{Frame, Handled, Proxy, encode_reply};
use crate::wire::frame;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

/// What a SASL request did to the connection.
pub enum SaslStep {
    /// Answer and go on (handshake done, or a SCRAM round).
    Continue(Handled),
    /// Logged in as this principal.
    LoggedIn(Handled, String),
    /// Answer, then close (a failed login).
    Refused(Handled),
}

/// Where one connection is in its login.
#[derive(Default)]
pub enum SaslSession {
    /// No handshake yet.
    #[default]
    Start,
    /// PLAIN agreed.
    Plain,
    /// SCRAM agreed, no message yet.
    Scram(ScramHash),
    /// SCRAM's first round done: the proof is checked next.
    ScramProof(String, ServerFinal),
}

impl Proxy {
    /// Whether clients must log in.
    pub fn auth_required(&self) -> bool {
        self.config.auth.required()
    }

    /// The mechanisms offered: SCRAM only when there are users.
    fn mechanisms(&self) -> Vec<&'static str> {
        if self.books.users.any() {
            vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        } else {
            vec!["PLAIN"]
        }
    }

    /// Answers a SaslHandshake or SaslAuthenticate request.
    pub fn sasl(&self, raw: Bytes, session: &mut SaslSession) -> SaslStep {
        let (peek, decoded) = match frame::decode_request(raw) {
            Ok(d) => d,
            Err(_) => return SaslStep::Refused(Handled::Close("undecodable SASL request".into())),
        };
        let reply = |body: ResponseKind| match encode_reply(
            decoded.api_key,
            decoded.version,
            peek.correlation_id,
            &body,
        ) {
            Ok(b) => Handled::Reply(Frame::Encoded(b)),
            Err(e) => Handled::Close(format!("cannot encode the SASL response: {e}")),
        };
        match &decoded.body {
            RequestKind::SaslHandshake(r) => self.handshake(r, session, reply),
            RequestKind::SaslAuthenticate(r) => self.authenticate(r, session, reply),
            _ => SaslStep::Refused(Handled::Close("expected a SASL request".into())),
        }
    }

    /// Agrees on a mechanism, if the proxy offers the one asked for.
    fn handshake(
        &self,
        r: &SaslHandshakeRequest,
        session: &mut SaslSession,
        reply: impl Fn(ResponseKind) -> Handled,
    ) -> SaslStep {
        let offered = self.mechanisms();
        let asked = r.mechanism.as_str();
        let mut resp = SaslHandshakeResponse::default().with_mechanisms(
            offered
                .iter()
                .map(|m| StrBytes::from_static_str(m))
                .collect(),
        );
        let agreed = match (offered.contains(&asked), ScramHash::from_mechanism(asked)) {
            (false, _) => None,
            (true, Some(h)) => Some(SaslSession::Scram(h)),
            (true, None) => Some(SaslSession::Plain),
        };
        match agreed {
            Some(next) => {
                *session = next;
                SaslStep::Continue(reply(ResponseKind::SaslHandshake(resp)))
            }
            None => {
                resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
                SaslStep::Refused(reply(ResponseKind::SaslHandshake(resp)))
            }
        }
    }

    /// One SaslAuthenticate round of the agreed mechanism.
    fn authenticate(
        &self,
        r: &SaslAuthenticateRequest,
        session: &mut SaslSession,
        reply: impl Fn(ResponseKind) -> Handled,
    ) -> SaslStep {
        let answer = |bytes: Vec<u8>| {
            reply(ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(bytes)),
            ))
        };
        // The client learns only that the login failed: which user names exist, and why a
        // login failed, is for the log.
        let refuse = |reason: String| {
            tracing::warn!("login refused: {reason}");
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "Authentication failed: invalid credentials",
                )));
            SaslStep::Refused(reply(ResponseKind::SaslAuthenticate(resp)))
        };
        match std::mem::take(session) {
            SaslSession::Plain => match self.login(&r.auth_bytes) {
                Ok(principal) => {
                    tracing::info!("client logged in as {principal} (PLAIN)");
                    SaslStep::LoggedIn(answer(Vec::new()), principal)
                }
                Err(reason) => refuse(reason.to_string()),
            },
            SaslSession::Scram(hash) => {
                let first = match ServerFirst::read(&r.auth_bytes) {
                    Ok(f) => f,
                    Err(e) => return refuse(e.to_string()),
                };
                let Some(user) = self.books.users.get(&first.user) else {
                    return refuse(format!("user {}: unknown", first.user));
                };
                let Some(cred) = user.credential(hash) else {
                    return refuse(format!(
                        "user {}: no {} credential",
                        first.user,
                        hash.mechanism()
                    ));
                };
                let name = first.user.clone();
                let (msg, state) = first.answer(cred);
                *session = SaslSession::ScramProof(name, state);
                SaslStep::Continue(answer(msg))
            }
            SaslSession::ScramProof(user, state) => match state.verify(&r.auth_bytes) {
                Ok(msg) => {
                    tracing::info!("client logged in as {user} (SCRAM)");
                    SaslStep::LoggedIn(answer(msg), user)
                }
                Err(e) => refuse(format!("user {user}: {e}")),
            },
            SaslSession::Start => SaslStep::Refused(Handled::Close(
                "SaslAuthenticate before SaslHandshake".into(),
            )),
        }
    }

    /// Checks PLAIN credentials (`authzid \0 username \0 password`): against the users,
    /// then with the on_auth plugins.
    fn login(&self, auth_bytes: &[u8]) -> Result<String, LoginError> {
        let mut parts = auth_bytes.splitn(3, |b| *b == 0);
        let (_authzid, user, password) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(u), Some(p)) => (a, u, p),
            _ => return Err(LoginError::Malformed),
        };
        let user = std::str::from_utf8(user).map_err(|_| LoginError::UserNotUtf8)?;
        let mut reasons = Vec::new();
        if let Some(known) = self.books.users.get(user) {
            if known.check_password(password) {
                return Ok(user.to_owned());
            }
            reasons.push("wrong password".to_owned());
        }
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
        if reasons.is_empty() {
            reasons.push("unknown user".into());
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
    /// Neither the users nor an on_auth plugin allowed the user; each one's answer.
    #[error("user {user}: {reasons}")]
    Refused {
        /// The username.
        user: String,
        /// What each check said.
        reasons: String,
    },
}
