//! The audit trail and who the caller is.

use super::Shared;
use crate::auth::{AuditEntry, Caller};
use crate::views::MeView;
use axum::Json;
use axum::extract::{Extension, Query, State};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct AuditQuery {
    /// How many entries, newest last (default 100, at most 10000).
    limit: Option<usize>,
}

/// The latest changes made through the admin API and the schema registry.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "Changes, newest last.", body = Vec<AuditEntry>),
              (status = 400, description = "`limit` is not a number.", body = crate::views::ErrorBody)))]
pub(crate) async fn audit_log(
    State(s): State<Shared>,
    Query(q): Query<AuditQuery>,
) -> Json<Vec<AuditEntry>> {
    Json(s.audit_log(q.limit.unwrap_or(100).min(10_000)))
}

/// Who the caller is and whether it may change things.
#[utoipa::path(get, path = "/api/v1/me", tag = "audit",
    responses((status = 200, description = "The caller.", body = MeView)))]
pub(crate) async fn me(Extension(caller): Extension<Caller>) -> Json<MeView> {
    Json(MeView {
        who: caller.who,
        role: caller.role.to_owned(),
        can_change: caller.can_change,
    })
}
