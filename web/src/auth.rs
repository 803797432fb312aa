//! Who may use the admin API, and the audit trail of what they changed.
//!
//! With tokens configured (`admin_api.auth_token`, `admin_api.tokens`), every `/api/v1`
//! request needs `Authorization: Bearer <token>`: 401 without a valid one, 403 for a `read`
//! token on a change. With none, changes (anything but GET and HEAD) are served to loopback
//! clients only, since anyone who can upload a plugin and bind it can rewrite every record.
//! Tokens are compared in constant time and never logged or returned. Every change that
//! succeeds is recorded: who (token name, or `loopback`), from where, what, and the new
//! version when the response names one (`ETag`).

use crate::{AdminState, ApiError};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kafkatwin_config::{AdminApiConfig, AdminRole};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// One accepted token.
#[derive(Clone)]
struct Token {
    name: String,
    secret: Vec<u8>,
    role: AdminRole,
}

/// The tokens the admin API accepts (none: changes from loopback clients only).
#[derive(Clone, Default)]
pub struct AdminAuth {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|t| t.name.as_str()).collect();
        write!(f, "AdminAuth(tokens: {names:?})")
    }
}

impl AdminAuth {
    /// The tokens of `admin_api`, resolved; an error names the key whose value could not be
    /// resolved (never the value).
    pub fn from_config(c: &AdminApiConfig) -> Result<Self, String> {
        let mut tokens = Vec::new();
        if let Some(t) = &c.auth_token {
            let secret = t
                .resolve()
                .map_err(|e| format!("admin_api.auth_token: {e}"))?;
            tokens.push(Token {
                name: "admin".into(),
                secret: secret.into_bytes(),
                role: AdminRole::Admin,
            });
        }
        for (i, t) in c.tokens.iter().enumerate() {
            let secret = t
                .token
                .resolve()
                .map_err(|e| format!("admin_api.tokens[{i}].token: {e}"))?;
            tokens.push(Token {
                name: t.name.clone(),
                secret: secret.into_bytes(),
                role: t.role,
            });
        }
        Ok(Self { tokens })
    }

    /// Tokens given directly (tests).
    pub fn with_tokens(tokens: &[(&str, &str, AdminRole)]) -> Self {
        Self {
            tokens: tokens
                .iter()
                .map(|(name, secret, role)| Token {
                    name: (*name).into(),
                    secret: secret.as_bytes().to_vec(),
                    role: *role,
                })
                .collect(),
        }
    }

    /// The token matching `presented`, compared with every token in constant time.
    fn find(&self, presented: &[u8]) -> Option<&Token> {
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.secret.as_slice().ct_eq(presented)) {
                found = Some(t);
            }
        }
        found
    }
}

/// One change made through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The token's name, or `loopback` when no token is configured.
    pub who: String,
    /// The client's address.
    pub client: String,
    /// Method and path, e.g. `POST /api/v1/transformations/orders`.
    pub action: String,
    /// The new version, when the change has one.
    pub version: Option<String>,
}

fn is_change(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn deny(status: u16, message: String) -> Response {
    let mut r = ApiError {
        status,
        field: None,
        message,
    }
    .into_response();
    if status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// The middleware in front of `/api/v1`: checks the caller, runs the request, records a
/// successful change.
pub async fn guard(
    State((state, auth)): State<(Arc<dyn AdminState>, Arc<AdminAuth>)>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    let change = is_change(req.method());
    let who = if auth.tokens.is_empty() {
        if change && !peer.is_some_and(|p| p.ip().is_loopback()) {
            return deny(
                403,
                format!(
                    "changes are accepted from loopback clients only while the admin API has no \
                     token ({client} is not one): set admin_api.auth_token or admin_api.tokens"
                ),
            );
        }
        "loopback".to_owned()
    } else {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = presented.and_then(|p| auth.find(p.as_bytes())) else {
            let why = if presented.is_some() {
                "the bearer token is not one of admin_api.tokens"
            } else {
                "send Authorization: Bearer <token> (admin_api.auth_token or admin_api.tokens)"
            };
            return deny(401, format!("this admin API needs a token: {why}"));
        };
        if change && token.role == AdminRole::Read {
            return deny(
                403,
                format!(
                    "token {:?} has the read role; changes need a token with the admin role",
                    token.name
                ),
            );
        }
        token.name.clone()
    };
    let action = format!("{} {}", req.method(), req.uri().path());
    let resp = next.run(req).await;
    if change && resp.status().is_success() {
        let version = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_owned());
        let entry = AuditEntry {
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
            who,
            client,
            action,
            version,
        };
        tracing::info!(
            "admin change by {} from {}: {}{}",
            entry.who,
            entry.client,
            entry.action,
            entry
                .version
                .as_deref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default()
        );
        state.record_audit(entry).await;
    }
    resp
}
