//! Serves the HTTP routers (admin API and dashboard, health, metrics, schema registry) with
//! limits a listener open to the network needs: a request head must arrive within
//! `HTTP_HEAD_WAIT` (a client that opens connections and sends half a request line does not
//! keep them), and each listener holds at most `HTTP_MAX_CONNECTIONS` connections (one more is
//! closed at once), so HTTP clients cannot use up the file descriptors the Kafka listener
//! shares.

use crate::base::timing::{ACCEPT_RETRY_PAUSE, HTTP_HEAD_WAIT};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connections one HTTP listener holds at once (server-sent event streams included).
pub const HTTP_MAX_CONNECTIONS: usize = 512;

/// Serves `router` on `listener` until `stop` changes; `what` names the listener in logs.
pub async fn serve_listener(
    what: &'static str,
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(HTTP_MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("{what}: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                %peer,
                "{what}: closing a new HTTP connection: {HTTP_MAX_CONNECTIONS} are open"
            );
            continue;
        };
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                // What `into_make_service_with_connect_info` would give handlers.
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move { tower_service::Service::call(&mut router, req).await }
            });
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HTTP_HEAD_WAIT);
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, "{what}: HTTP connection ended: {e}");
            }
            drop(slot);
        });
    }
}
