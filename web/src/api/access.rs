//! Who may log in and what each principal may do: users (SCRAM credentials kept, never the
//! password) and ACL entries, beside those of the config file.

use super::{Shared, changed, names};
use crate::views::{AclView, ErrorBody, UserView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Every user who may log in (names and mechanisms only).
#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    responses((status = 200, description = "Users.", body = Vec<UserView>)))]
pub(crate) async fn list_users(State(s): State<Shared>) -> Json<Vec<UserView>> {
    Json(s.list_users())
}

/// Sets a user's password (every instance; a restart keeps it).
#[utoipa::path(put, path = "/api/v1/users/{name}", tag = "access",
    params(("name" = String, Path, description = "User name")),
    request_body(content = Object, description = "`{\"password\": \"...\"}`", content_type = "application/json"),
    responses((status = 200, description = "Password replaced.", body = UserView),
              (status = 201, description = "User created.", body = UserView),
              (status = 400, description = "Not `{\"password\": ...}`, or not a name.", body = ErrorBody),
              (status = 409, description = "A user of the config file.", body = ErrorBody)))]
pub(crate) async fn put_user(
    State(s): State<Shared>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = names::bounded("name", &name) {
        return e.into_response();
    }
    match s.put_user(&name, body).await {
        Ok(created) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let view = s
                .list_users()
                .into_iter()
                .find(|u| u.username == name)
                .unwrap_or_else(|| UserView {
                    username: name.clone(),
                    origin: "api".into(),
                    mechanisms: Vec::new(),
                });
            changed((status, Json(view)).into_response(), format!("user {name}"))
        }
        Err(e) => e.into_response(),
    }
}

/// Removes a user set through the API.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "access",
    params(("name" = String, Path, description = "User name")),
    responses((status = 204, description = "Removed."),
              (status = 404, description = "The API set no such user.", body = ErrorBody)))]
pub(crate) async fn delete_user(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.delete_user(&name).await {
        Ok(()) => changed(
            StatusCode::NO_CONTENT.into_response(),
            format!("user {name}"),
        ),
        Err(e) => e.into_response(),
    }
}

/// Every ACL entry.
#[utoipa::path(get, path = "/api/v1/acls", tag = "access",
    responses((status = 200, description = "ACL entries, the config file's first.", body = Vec<AclView>)))]
pub(crate) async fn list_acls(State(s): State<Shared>) -> Json<Vec<AclView>> {
    Json(s.list_acls())
}

fn acl_object(a: &AclView) -> String {
    format!(
        "acl {} ({} {} {} {})",
        a.id.as_deref().unwrap_or("?"),
        a.principal,
        a.resource,
        a.name,
        a.operations.join(",")
    )
}

/// Adds an ACL entry (every instance; a restart keeps it).
#[utoipa::path(post, path = "/api/v1/acls", tag = "access",
    request_body(content = Object, description = "`{\"principal\": \"User:alice\", \"resource\": \"topic\", \"name\": \"orders\", \"pattern\": \"literal\", \"operations\": [\"read\"]}`", content_type = "application/json"),
    responses((status = 201, description = "Added, with its id.", body = AclView),
              (status = 400, description = "Not an ACL entry; `field` names the part at fault.", body = ErrorBody)))]
pub(crate) async fn add_acl(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    match s.add_acl(body).await {
        Ok(view) => {
            let object = acl_object(&view);
            changed((StatusCode::CREATED, Json(view)).into_response(), object)
        }
        Err(e) => e.into_response(),
    }
}

/// Removes an ACL entry added through the API.
#[utoipa::path(delete, path = "/api/v1/acls/{id}", tag = "access",
    params(("id" = String, Path, description = "The entry's id")),
    responses((status = 200, description = "Removed; the entry as it was.", body = AclView),
              (status = 404, description = "No such entry added through the API.", body = ErrorBody)))]
pub(crate) async fn delete_acl(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.delete_acl(&id).await {
        Ok(view) => {
            let object = acl_object(&view);
            changed(Json(view).into_response(), object)
        }
        Err(e) => e.into_response(),
    }
}
