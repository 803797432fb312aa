//! The web dashboard: `web/assets/` compiled into the binary (`rust-embed`), so the page, its
//! script and its vendored chart library load with no internet access.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

/// One embedded file with its content type; 404 when there is none.
fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return crate::error::not_found(&format!("dashboard file {path:?}"));
    };
    let mime = file.metadata.mimetype();
    let mut resp = (StatusCode::OK, file.data.into_owned()).into_response();
    if let Ok(v) = HeaderValue::from_str(mime) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// The web dashboard at `/` and its files under `/assets/` (served with the admin API when
/// `admin_api.web_ui` is on).
pub fn dashboard_router() -> Router {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}
