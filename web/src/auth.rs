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
use base64::Engine;
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The token's name, or `loopback` when no token is configured.
    pub who: String,
    /// The client's address.
    pub client: String,
    /// Method and path, e.g. `POST /api/v1/transformations/orders`.
    pub action: String,
    /// What changed, e.g. `rule orders/mask-pii` or `plugin redact version 3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The new version, when the change has one.
    pub version: Option<String>,
}

pub(crate) fn is_change(m: &Method) -> bool {
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

/// Who made a request, once let through (also handed to handlers as a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, or `loopback` / `anonymous` with no token configured.
    pub who: String,
    /// The client's address.
    pub client: String,
    /// `admin` or `read`.
    pub role: &'static str,
    /// Whether changes are accepted from this caller.
    pub can_change: bool,
}

/// Why a request is refused: 401 or 403, and what to do about it.
pub struct Refusal {
    /// 401 or 403.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

/// The token presented as `Authorization: Bearer <token>`, or, with `basic`, as the password
/// of `Authorization: Basic` (what every schema-registry client can send), or, for the event
/// stream only, as `?token=` (a browser's `EventSource` cannot send headers).
fn presented(req: &Request, basic: bool) -> Option<Vec<u8>> {
    let headers = req.headers();
    if headers.get(header::AUTHORIZATION).is_none() && req.uri().path() == EVENTS_PATH {
        #[derive(Deserialize)]
        struct TokenQuery {
            token: Option<String>,
        }
        let q = axum::extract::Query::<TokenQuery>::try_from_uri(req.uri()).ok()?;
        return q.0.token.map(String::into_bytes);
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = v.strip_prefix("Bearer ") {
        return Some(t.trim().as_bytes().to_vec());
    }
    let encoded = v.strip_prefix("Basic ").filter(|_| basic)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// The one endpoint that takes the token in its query.
const EVENTS_PATH: &str = "/api/v1/events";

impl AdminAuth {
    /// Checks a request: with no tokens, changes from loopback clients only; with tokens, a
    /// valid one, and the admin role for a change. `listener` names the API in messages;
    /// `basic` also takes the token as an HTTP Basic password.
    pub fn authorize(&self, req: &Request, listener: &str, basic: bool) -> Result<Caller, Refusal> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let change = is_change(req.method());
        let refuse = |status, message| Err(Refusal { status, message });
        if self.tokens.is_empty() {
            if change && !peer.is_some_and(|p| p.ip().is_loopback()) {
                return refuse(
                    403,
                    format!(
                        "changes are accepted from loopback clients only while the {listener} \
                         has no token ({client} is not one): set admin_api.auth_token or \
                         admin_api.tokens"
                    ),
                );
            }
            let local = peer.is_some_and(|p| p.ip().is_loopback());
            return Ok(Caller {
                who: if local { "loopback" } else { "anonymous" }.to_owned(),
                client,
                role: if local { "admin" } else { "read" },
                can_change: local,
            });
        }
        let presented = presented(req, basic);
        let Some(token) = presented.as_deref().and_then(|p| self.find(p)) else {
            let how = if basic {
                "Authorization: Bearer <token>, or HTTP Basic with the token as password"
            } else {
                "Authorization: Bearer <token>"
            };
            let why = if presented.is_some() {
                "the token is not one of admin_api.auth_token or admin_api.tokens".to_owned()
            } else {
                format!("send {how} (admin_api.auth_token or admin_api.tokens)")
            };
            return refuse(401, format!("the {listener} needs a token: {why}"));
        };
        if change && token.role == AdminRole::Read {
            return refuse(
                403,
                format!(
                    "token {:?} has the read role; changes need a token with the admin role",
                    token.name
                ),
            );
        }
        let admin = token.role == AdminRole::Admin;
        Ok(Caller {
            who: token.name.clone(),
            client,
            role: if admin { "admin" } else { "read" },
            can_change: admin,
        })
    }
}

/// The new version a change's response names (`ETag`), if any.
pub fn version_of(resp: &Response) -> Option<String> {
    resp.headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_owned())
}

/// Records a successful change in the audit trail.
pub async fn audit(
    state: &dyn AdminState,
    listener: &str,
    caller: Caller,
    action: String,
    object: Option<String>,
    version: Option<String>,
) {
    let entry = AuditEntry {
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        who: caller.who,
        client: caller.client,
        action,
        object,
        version,
    };
    tracing::info!(
        "{listener} change by {} from {}: {}{}{}",
        entry.who,
        entry.client,
        entry.action,
        entry
            .object
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default(),
        entry
            .version
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default()
    );
    state.record_audit(entry).await;
}

/// The middleware in front of `/api/v1`: checks the caller, runs the request, records a
/// successful change.
pub async fn guard(
    State((state, auth)): State<(Arc<dyn AdminState>, Arc<AdminAuth>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match auth.authorize(&req, "admin API", false) {
        Ok(c) => c,
        Err(r) => return deny(r.status, r.message),
    };
    req.extensions_mut().insert(caller.clone());
    let change = is_change(req.method());
    let action = format!("{} {}", req.method(), req.uri().path());
    let resp = next.run(req).await;
    if change && resp.status().is_success() {
        let object = resp
            .extensions()
            .get::<crate::api::Changed>()
            .map(|c| c.0.clone());
        audit(
            state.as_ref(),
            "admin",
            caller,
            action,
            object,
            version_of(&resp),
        )
        .await;
    }
    resp
}
