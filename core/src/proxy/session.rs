//! One client connection. Requests are read in order and handled concurrently (clients
//! pipeline), and responses are written in request order, as the protocol requires.

use crate::backend;
use crate::proxy::partitioned::OrderGate;
use crate::proxy::read_ahead::ReadAhead;
use crate::proxy::sasl::{SaslSession, SaslStep};
use crate::proxy::{Frame, Handled, Proxy};
use crate::wire::frame::{self, FrameError, FrameReader};
use crate::wire::patched::Pieces;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

/// Requests in flight per connection before the proxy stops reading (backpressure).
const MAX_IN_FLIGHT: usize = 32;

/// What one client connection owns: its backend connections (closed when the client goes),
/// its read-ahead slot and its quota state.
#[derive(Default)]
struct Connection {
    pool: Arc<backend::pool::ConnPool>,
    read_ahead: ReadAhead,
    quota: crate::quotas::ClientQuota,
}

/// A client connection as the session sees it: its two halves (a TCP socket's, or a TLS
/// stream's) and who it is.
pub struct ClientConn<R, W> {
    /// The reading half.
    pub rd: R,
    /// The writing half.
    pub wr: W,
    /// The client's address.
    pub peer: SocketAddr,
    /// The principal its TLS certificate names (mutual TLS), if any.
    pub principal: Option<String>,
}

/// Serves one client connection until it closes, fails, or `drain` turns true; in-flight
/// requests are answered before the connection closes. `budget` holds one permit per byte of
/// request frames in flight across all connections (`server.max_inflight_request_bytes`).
pub async fn serve<R, W>(
    proxy: Arc<Proxy>,
    client: ClientConn<R, W>,
    mut drain: watch::Receiver<bool>,
    budget: Arc<Semaphore>,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let ClientConn {
        rd,
        wr,
        peer,
        principal,
    } = client;
    tracing::debug!(%peer, "client connected");
    let (queue_tx, queue_rx) = mpsc::channel::<oneshot::Receiver<Handled>>(MAX_IN_FLIGHT);
    let (closed_tx, mut closed_rx) = watch::channel(false);
    let writer = tokio::spawn(write_replies(wr, queue_rx, closed_tx, peer));

    let mut frames = FrameReader::new(rd, proxy.config.server.max_request_bytes);
    let idle = proxy.config.server.connections_max_idle.get();
    let mut produce_chain: Option<oneshot::Receiver<()>> = None;
    let conn = Arc::new(Connection::default());
    let mut sasl = login_due(&proxy, &conn, principal.as_deref());
    loop {
        if !throttle_passed(&conn, &mut drain, &mut closed_rx).await {
            break;
        }
        // A frame, then room for it in the proxy-wide budget of request bytes in flight.
        // Waiting for room is backpressure: this connection is not read meanwhile. (Room is
        // taken after the body so a client trickling a huge frame holds only what it sent.)
        let read = async {
            let frame = frames.next().await?;
            let permit = budget
                .clone()
                .acquire_many_owned(u32::try_from(frame.len()).unwrap_or(u32::MAX))
                .await
                .map_err(|_| FrameError::Closed)?;
            Ok((frame, permit))
        };
        let (frame, permit): (Bytes, _) = tokio::select! {
            biased;
            _ = drain.changed() => break,
            _ = closed_rx.changed() => break,
            r = tokio::time::timeout(idle, read) => match next_frame(r, peer, idle) {
                Some(f) => f,
                None => break,
            },
        };
        let (tx, rx) = oneshot::channel();
        if queue_tx.send(rx).await.is_err() {
            break;
        }
        let api = frame::peek_header(&frame).map(|h| h.api_key);
        // Until the login, in order, before anything else of this connection (the client
        // waits for it).
        let frame = match sasl.as_mut() {
            None => frame,
            Some(session) => match login_step(&proxy, &conn, frame, api, session) {
                Login::Pass(f) => f,
                Login::Answered(outcome, done) => {
                    if done {
                        sasl = None;
                    }
                    let _ = tx.send(outcome);
                    continue;
                }
                Login::Close(outcome) => {
                    let _ = tx.send(outcome);
                    break;
                }
            },
        };
        // Produce batches must reach the backend in the order the client sent them.
        let gate = (api == Some(ApiKey::Produce as i16)).then(|| {
            let (gate, next) = OrderGate::after(produce_chain.take());
            produce_chain = Some(next);
            gate
        });
        let (proxy, conn) = (proxy.clone(), conn.clone());
        tokio::spawn(async move {
            let handling = proxy.handle(frame, gate, &conn.read_ahead, peer, &conn.quota);
            let outcome = backend::pool::scope(conn.pool.clone(), handling).await;
            drop(permit);
            let _ = tx.send(outcome);
        });
    }
    // Let the writer answer everything already read, then close.
    drop(queue_tx);
    let _ = writer.await;
    tracing::debug!(%peer, "client disconnected");
}

/// The login a new connection owes: with `auth.users` or `auth.plugins` set, nothing but
/// ApiVersions and SASL until it logged in (`Some`). A certificate names the client unless it
/// must log in with SASL (then its login does).
fn login_due(proxy: &Proxy, conn: &Connection, principal: Option<&str>) -> Option<SaslSession> {
    if proxy.auth_required() {
        return Some(SaslSession::default());
    }
    if let Some(p) = principal {
        conn.quota.logged_in(p);
    }
    None
}

/// Waits out the connection's throttle, if any: a throttled client is not read until its
/// throttle has passed (as a Kafka broker mutes its channel), so clients need not back off
/// by themselves. False when the connection is to close meanwhile.
async fn throttle_passed(
    conn: &Connection,
    drain: &mut watch::Receiver<bool>,
    closed: &mut watch::Receiver<bool>,
) -> bool {
    let Some(wait) = conn.quota.paused_for() else {
        return true;
    };
    tokio::select! {
        biased;
        _ = drain.changed() => false,
        _ = closed.changed() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Answers written with one call at most: a burst of pipelined answers that are ready
/// together goes out in one write.
const MAX_BATCH: usize = 64;

/// Writes each answer in request order until the queue closes, the client goes, or an
/// answer says to close; then shuts the connection and says so on `closed`. Answers already
/// there behind the first one are written with it.
async fn write_replies<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut queue: mpsc::Receiver<oneshot::Receiver<Handled>>,
    closed: watch::Sender<bool>,
    peer: SocketAddr,
) {
    // An answer awaited next: taken from the queue while gathering a batch, not ready yet.
    let mut next = None;
    loop {
        let rx = match next.take() {
            Some(rx) => rx,
            None => match queue.recv().await {
                Some(rx) => rx,
                None => break,
            },
        };
        let mut batch = Batch::default();
        let mut handled = rx.await.map_err(|_| ());
        let close = loop {
            match handled {
                Ok(Handled::Reply(frame)) => batch.push(frame),
                Ok(Handled::NoReply) => {}
                Ok(Handled::Close(reason)) => break Some(reason),
                // The handler task died; nothing sensible can follow on this connection.
                Err(_) => break Some("a request's handler failed".to_owned()),
            }
            if batch.answers == MAX_BATCH {
                break None;
            }
            let Ok(mut rx) = queue.try_recv() else {
                break None;
            };
            handled = match rx.try_recv() {
                Ok(h) => Ok(h),
                Err(oneshot::error::TryRecvError::Empty) => {
                    next = Some(rx);
                    break None;
                }
                Err(oneshot::error::TryRecvError::Closed) => Err(()),
            };
        };
        if let Err(e) = wr.write_all_buf(&mut batch.pieces).await {
            tracing::debug!(%peer, "client connection write failed: {e}");
            break;
        }
        if let Some(reason) = close {
            tracing::warn!(%peer, "closing client connection: {reason}");
            break;
        }
    }
    let _ = wr.shutdown().await;
    let _ = closed.send(true);
}

/// Answers gathered for one write.
#[derive(Default)]
struct Batch {
    pieces: Pieces,
    /// The forwarded answers' heads, side by side (one allocation per batch).
    heads: BytesMut,
    answers: usize,
}

impl Batch {
    fn push(&mut self, frame: Frame) {
        self.answers += 1;
        match frame {
            Frame::Encoded(bytes) => self.pieces.push(bytes),
            Frame::Forwarded { head, tail } => {
                if self.heads.capacity() < head.len() {
                    self.heads.reserve(head.len() * MAX_BATCH);
                }
                self.heads.extend_from_slice(&head);
                self.pieces.push(self.heads.split().freeze());
                self.pieces.push(tail);
            }
        }
    }
}

/// What a frame of a client that has not logged in yet leads to.
enum Login {
    /// ApiVersions: handled as usual.
    Pass(Bytes),
    /// A SASL step, answered; `true` once logged in.
    Answered(Handled, bool),
    /// A failed login or any other request: answer (or say why) and close.
    Close(Handled),
}

/// Runs the SASL steps of a client that must log in (`auth.users`, `auth.plugins`); anything
/// but ApiVersions and SASL before the login closes the connection.
fn login_step(
    proxy: &Proxy,
    conn: &Connection,
    frame: Bytes,
    api: Option<i16>,
    session: &mut SaslSession,
) -> Login {
    let sasl =
        api == Some(ApiKey::SaslHandshake as i16) || api == Some(ApiKey::SaslAuthenticate as i16);
    if sasl {
        return match proxy.sasl(frame, session) {
            SaslStep::Continue(o) => Login::Answered(o, false),
            SaslStep::LoggedIn(o, principal) => {
                conn.quota.logged_in(&principal);
                Login::Answered(o, true)
            }
            SaslStep::Refused(o) => Login::Close(o),
        };
    }
    if api == Some(ApiKey::ApiVersions as i16) {
        return Login::Pass(frame);
    }
    Login::Close(Handled::Close(format!(
        "request (api key {api:?}) before SASL authentication; auth.users or auth.plugins \
         requires a login"
    )))
}

/// The frame read, or `None` (after logging why) when the connection should close.
fn next_frame<T>(
    r: Result<Result<T, FrameError>, tokio::time::error::Elapsed>,
    peer: SocketAddr,
    idle: std::time::Duration,
) -> Option<T> {
    match r {
        Ok(Ok(f)) => Some(f),
        Ok(Err(FrameError::Closed)) => None,
        Ok(Err(e @ FrameError::TooLarge { .. })) => {
            // Kafka brokers close the connection on an oversized frame: the rest of the
            // stream cannot be re-synchronised.
            tracing::warn!(%peer, "closing client connection: {e} (server.max_request_bytes)");
            None
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, "client connection ended: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "closing client connection idle for {idle:?} (server.connections_max_idle)");
            None
        }
    }
}
