//! Process assembly: the Kafka listener, the HTTP endpoints, health sampling, and draining on
//! SIGTERM.

use crate::base::cluster_idx::ClusterIdx;
use crate::base::metrics::Metrics;
use crate::base::timing::DRAIN_POLL;
use crate::proxy::{Proxy, session};
use kafkatwin_config::Config;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::app::listen::ServeError;
use crate::app::listen::bind;

/// Runs the proxy until `shutdown` resolves, then drains: stops accepting, lets in-flight
/// requests finish (up to `server.drain_timeout`), and returns.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let metrics = Metrics::new()?;
    let proxy =
        Arc::new(Proxy::new(config, metrics).map_err(|e| ServeError::Setup(e.to_string()))?);
    let cfg = proxy.config();
    // The HTTP listeners first: once the Kafka port accepts, every endpoint does.
    let rates = Arc::new(crate::app::rates::RateHistory::default());
    let http = crate::app::http::bind_all(proxy.clone(), rates.clone()).await?;
    let kafka = bind("server", &cfg.server.listen_address, cfg.server.port).await?;
    let tls = match &cfg.server.tls {
        Some(t) => Some(Arc::new(
            crate::base::tls::Acceptor::new(t).map_err(|e| ServeError::Setup(e.to_string()))?,
        )),
        None => None,
    };
    announce(&proxy);
    let (drain_tx, drain_rx) = watch::channel(false);
    serve_http(http, &drain_rx);
    tokio::spawn(crate::app::rates::sample_rates(
        proxy.clone(),
        rates,
        drain_rx.clone(),
    ));
    let membership = start_background(&proxy, &drain_rx);
    start_control_log(&proxy, &drain_rx);
    if let Some(tls) = &tls {
        tokio::spawn(reload_tls(tls.clone(), drain_rx.clone()));
    }
    let sessions = accept(&proxy, kafka, tls, shutdown, &drain_rx).await;
    drain(&proxy, sessions, drain_tx, membership).await;
    Ok(())
}

/// Logs config warnings, the listener and, with several clusters, who takes writes and reads.
fn announce(proxy: &Proxy) {
    let cfg = proxy.config();
    for w in kafkatwin_config::validate::warnings(cfg) {
        tracing::warn!("{w}");
    }
    tracing::info!(
        listen = %format!("{}:{}", cfg.server.listen_address, cfg.server.port),
        advertised = %format!("{}:{}", proxy.identity().host.as_str(), proxy.identity().port),
        backend = %proxy.primary().id,
        "kafkatwin listening"
    );
    let Some(rep) = proxy.replicator() else {
        return;
    };
    let plan = rep.plan();
    let ids = |set: &[ClusterIdx]| -> String {
        let v: Vec<&str> = set.iter().map(|&i| &*rep.clusters()[i].id).collect();
        v.join(", ")
    };
    tracing::info!(
        "{} clusters, strategy {}: writes counted on [{}] (ack policy {:?}), background [{}]; \
         reads and groups prefer [{}]; logical offsets are cluster {}'s",
        cfg.clusters.len(),
        if cfg.multi_dc.enabled {
            format!("{:?}", cfg.multi_dc.strategy)
        } else {
            "none (all clusters sync)".into()
        },
        ids(&plan.sync),
        cfg.producer.ack_policy,
        ids(&plan.background),
        ids(&plan.reads),
        rep.clusters()[ClusterIdx::FIRST].id
    );
}

/// Serves the HTTP routers until the drain starts.
fn serve_http(
    http: Vec<(&'static str, tokio::net::TcpListener, axum::Router)>,
    drain: &watch::Receiver<bool>,
) {
    for (what, listener, router) in http {
        tokio::spawn(crate::app::http_serve::serve_listener(
            what,
            listener,
            router,
            drain.clone(),
        ));
    }
}

/// Samplers, the instance group, the repairer, the read watch, producer-id prefetch and the
/// first backend connection; the instance group's task, if scale-out is on.
fn start_background(
    proxy: &Arc<Proxy>,
    drain: &watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    tokio::spawn(crate::app::samplers::sample_health(
        proxy.clone(),
        drain.clone(),
    ));
    tokio::spawn(crate::app::samplers::sample_lag(
        proxy.clone(),
        drain.clone(),
    ));
    let mut membership = None;
    if proxy.membership().enabled() {
        let so = &proxy.config().server.scale_out;
        membership = proxy.membership().spawn(
            proxy.clusters().clone(),
            so.group.clone(),
            so.session_timeout.get(),
            proxy.metrics().clone(),
            drain.clone(),
        );
        if let Some(rep) = proxy.replicator().cloned() {
            let mut changes = proxy.membership().subscribe();
            tokio::spawn(async move {
                while changes.changed().await.is_ok() {
                    rep.recompare();
                }
            });
        }
    }
    if let Some(rep) = proxy.replicator() {
        rep.spawn_repairer(drain.clone());
        rep.spawn_read_watch(drain.clone());
        tokio::spawn(proxy.clone().mirror_group_commits(drain.clone()));
        tokio::spawn(crate::app::samplers::tick_groups(
            proxy.clone(),
            drain.clone(),
        ));
    }
    tokio::spawn(crate::app::samplers::expire_transactions(
        proxy.clone(),
        drain.clone(),
    ));
    if let Some(ids) = proxy.producer_ids().cloned() {
        tokio::spawn(async move {
            if let Err(e) = ids.prefetch().await {
                tracing::warn!("{e}; the first InitProducerId will try again");
            }
        });
    }
    // Connect eagerly so ApiVersions reflects the backend from the first client on.
    let p = proxy.clone();
    tokio::spawn(async move {
        if let Err(e) = p.primary().any_conn().await {
            tracing::warn!("backend not reachable yet: {e}");
        }
    });
    membership
}

/// The control log on every cluster: admin changes go through it; every instance follows it,
/// and serves clients once a majority of clusters was read.
fn start_control_log(proxy: &Arc<Proxy>, drain: &watch::Receiver<bool>) {
    let p = proxy.clone();
    proxy.books().control_log().start(
        Box::new(move |k, v, offset| p.apply_logged(k, v, offset)),
        drain.clone(),
    );
}

/// Accepts Kafka clients, one session task each, until `shutdown` resolves. With
/// `server.tls`, each connection is a TLS handshake first; a client that does not complete
/// one (a plaintext client, say) is closed with one log line.
async fn accept(
    proxy: &Arc<Proxy>,
    kafka: tokio::net::TcpListener,
    tls: Option<Arc<crate::base::tls::Acceptor>>,
    shutdown: impl std::future::Future<Output = ()>,
    drain: &watch::Receiver<bool>,
) -> JoinSet<()> {
    let server = &proxy.config().server;
    let budget = Arc::new(tokio::sync::Semaphore::new(
        server.max_inflight_request_bytes as usize,
    ));
    let limits =
        crate::app::limits::ConnLimits::new(server.max_connections, server.max_connections_per_ip);
    let mut sessions = JoinSet::new();
    let gauge = proxy
        .metrics()
        .client_connections
        .with_label_values(&["kafka"]);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = kafka.accept() => match accepted {
                Ok((stream, peer)) => {
                    let admitted = match limits.admit(peer.ip()) {
                        Ok(a) => a,
                        Err(why) => {
                            tracing::warn!(%peer, "closing new client connection: {why}");
                            continue;
                        }
                    };
                    stream.set_nodelay(true).ok();
                    let (p, d, g) = (proxy.clone(), drain.clone(), gauge.clone());
                    let (b, tls) = (budget.clone(), tls.clone());
                    g.inc();
                    sessions.spawn(async move {
                        match tls {
                            None => {
                                let (rd, wr) = stream.into_split();
                                let client = session::ClientConn { rd, wr, peer, principal: None };
                                session::serve(p, client, d, b).await;
                            }
                            Some(tls) => {
                                if let Some(client) = handshake(&tls, stream, peer).await {
                                    session::serve(p, client, d, b).await;
                                }
                            }
                        }
                        g.dec();
                        drop(admitted);
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(crate::base::timing::ACCEPT_RETRY_PAUSE).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions
}

/// A TLS stream split for the session, with the principal of its client certificate;
/// `None` (after one log line) when the handshake fails or stalls.
async fn handshake(
    tls: &crate::base::tls::Acceptor,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
) -> Option<
    session::ClientConn<
        tokio::io::ReadHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
        tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
    >,
> {
    let shake = tls.get().accept(stream);
    let stream = match tokio::time::timeout(crate::base::timing::TLS_HANDSHAKE_WAIT, shake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(%peer, "closing client connection: TLS handshake failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::info!(%peer, "closing client connection: no TLS handshake within {:?}", crate::base::timing::TLS_HANDSHAKE_WAIT);
            return None;
        }
    };
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(crate::base::tls::principal_of);
    if let Some(p) = &principal {
        tracing::info!(%peer, "client authenticated by its certificate as {p}");
    }
    let (rd, wr) = tokio::io::split(stream);
    Some(session::ClientConn {
        rd,
        wr,
        peer,
        principal,
    })
}

/// Stops accepting, lets the sessions finish in-flight requests up to `server.drain_timeout`,
/// then closes the rest.
async fn drain(
    proxy: &Proxy,
    mut sessions: JoinSet<()>,
    drain_tx: watch::Sender<bool>,
    membership: Option<tokio::task::JoinHandle<()>>,
) {
    let open = sessions.len();
    tracing::info!(
        "draining: stopped accepting; {open} client connection(s) finishing in-flight requests"
    );
    let _ = drain_tx.send(true);
    // One deadline for the whole drain: client requests first, then the clusters' answers.
    let deadline = proxy.config().server.drain_timeout.get();
    let until = tokio::time::Instant::now() + deadline;
    let drained = tokio::time::timeout_at(until, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain timeout of {deadline:?} reached; closing the remaining connections");
        sessions.abort_all();
    }
    // Writes the clients were answered for before every cluster took them (a cluster the
    // ack policy does not wait for) are still on their way: a stop now would leave those
    // clusters to the next instance's repair.
    if let Some(rep) = proxy.replicator() {
        let left = rep.writes_in_flight();
        if left > 0 {
            tracing::info!("draining: {left} write(s) to the clusters still awaiting an answer");
            let settled = tokio::time::timeout_at(until, async {
                while rep.writes_in_flight() > 0 {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
            })
            .await;
            if settled.is_err() {
                tracing::warn!(
                    "drain timeout of {deadline:?} reached with {} write(s) to the clusters \
                     unanswered; repair completes them on the next start",
                    rep.writes_in_flight()
                );
            }
        }
    }
    // The instance group is left at the drain's start; waiting here for that leave lets the
    // other instances regroup at once rather than after this one's session times out.
    if let Some(task) = membership
        && tokio::time::timeout_at(until, task).await.is_err()
    {
        tracing::warn!("drain timeout of {deadline:?} reached before the instance group was left");
    }
    tracing::info!("kafkatwin stopped");
}

/// Reloads the listener's certificate on SIGHUP and when its files change.
async fn reload_tls(tls: Arc<crate::base::tls::Acceptor>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::base::timing::TLS_FILE_POLL);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = stop.changed() => return,
            // Files are read (and a key perhaps decrypted) off the runtime's workers.
            _ = tick.tick() => {
                let tls = tls.clone();
                let _ = tokio::task::spawn_blocking(move || tls.reload(false)).await;
            }
            _ = hangup => {
                tracing::info!("SIGHUP received: reloading server.tls");
                let tls = tls.clone();
                let _ = tokio::task::spawn_blocking(move || tls.reload(true)).await;
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
