//! Consumer groups and the kafkatwin instances that coordinate them.

use super::Shared;
use crate::error::not_found;
use crate::views::{ErrorBody, GroupView, InstancesView};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// Every consumer group the proxy coordinates.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, description = "Groups with members, commits and lag.", body = Vec<GroupView>)))]
pub(crate) async fn list_groups(State(s): State<Shared>) -> Json<Vec<GroupView>> {
    Json(s.groups())
}

/// One consumer group.
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, description = "The group.", body = GroupView),
              (status = 404, description = "It has neither members nor commits.", body = ErrorBody)))]
pub(crate) async fn group(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.group(&name) {
        Some(g) => Json(g).into_response(),
        None => not_found(&format!("group {name}")),
    }
}

/// The kafkatwin instances (scale-out members), what each owns, and split-brain state.
#[utoipa::path(get, path = "/api/v1/instances", tag = "groups",
    responses((status = 200, description = "The instances.", body = InstancesView)))]
pub(crate) async fn instances(State(s): State<Shared>) -> Json<InstancesView> {
    Json(s.instances())
}
