//! One multiplexed connection to one backend broker. Requests are pipelined: a writer task
//! sends them in order, a reader task matches responses by correlation id (brokers answer in
//! request order), so many client requests share one socket without waiting on each other.

use crate::backend::BackendError;
use crate::backend::pool::Counted;
use crate::backend::security::{Secured, Security};
use crate::wire::frame::{FrameError, FrameReader};
use crate::wire::patched::{PatchedFrame, Pieces};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

type ReplyTx = oneshot::Sender<Result<Bytes, BackendError>>;

/// Requests written with one call at most.
const MAX_BATCH: usize = 64;

/// A request frame on its way out: `head` then `tail` (empty unless the frame is a client's
/// forwarded as is, where `head` carries the new length prefix and correlation id).
struct QueuedRequest {
    head: Bytes,
    tail: Pieces,
    correlation_id: i32,
    reply: ReplyTx,
}

/// A backend response: decoded, and the frame it was decoded from (without the length
/// prefix, starting with the backend's correlation id). The decoded record batches are slices
/// of `raw`, so keeping both costs nothing.
pub struct Answer {
    /// The decoded response.
    pub body: ResponseKind,
    /// The response frame as received.
    pub raw: Bytes,
}

/// A request on its way to a broker; [`Pending::answer`] waits for the response.
pub struct Pending {
    cluster: Arc<str>,
    addr: Arc<str>,
    api_key: ApiKey,
    version: i16,
    timeout: Duration,
    alive: Arc<AtomicBool>,
    rx: oneshot::Receiver<Result<Bytes, BackendError>>,
}

/// Marks a connection dead after a stall and describes the timeout.
fn stalled(
    alive: &AtomicBool,
    cluster: &str,
    addr: &str,
    api: ApiKey,
    after: Duration,
) -> BackendError {
    alive.store(false, Ordering::Release);
    BackendError::Timeout {
        cluster: cluster.to_owned(),
        addr: addr.to_owned(),
        api,
        after,
    }
}

/// How long the broker may legitimately hold a request before answering, on top of the
/// request timeout: a fetch's long poll, a produce's replication timeout, a join's rebalance.
fn expected_wait(body: &RequestKind) -> Duration {
    let ms = match body {
        RequestKind::Fetch(r) => r.max_wait_ms,
        RequestKind::Produce(r) => r.timeout_ms,
        RequestKind::JoinGroup(r) => r.rebalance_timeout_ms.max(r.session_timeout_ms),
        RequestKind::SyncGroup(_) | RequestKind::LeaveGroup(_) => 0,
        RequestKind::CreateTopics(r) => r.timeout_ms,
        RequestKind::DeleteTopics(r) => r.timeout_ms,
        RequestKind::DeleteRecords(r) => r.timeout_ms,
        RequestKind::CreatePartitions(r) => r.timeout_ms,
        _ => 0,
    };
    crate::base::timing::from_ms(ms)
}

impl Pending {
    /// Waits (up to the request timeout) for the response and decodes it.
    pub async fn answer(self) -> Result<Answer, BackendError> {
        let (api_key, version) = (self.api_key, self.version);
        let mut bytes = match tokio::time::timeout(self.timeout, self.rx).await {
            Err(_) => {
                // A broker that stopped answering stays stuck: let the next request reconnect
                // instead of queuing behind this one.
                return Err(stalled(
                    &self.alive,
                    &self.cluster,
                    &self.addr,
                    api_key,
                    self.timeout,
                ));
            }
            Ok(Err(_)) => {
                return Err(BackendError::ConnectionLost {
                    cluster: self.cluster.to_string(),
                    addr: self.addr.to_string(),
                });
            }
            Ok(Ok(r)) => r?,
        };
        let decode_err = |e: anyhow::Error| BackendError::Decode {
            cluster: self.cluster.to_string(),
            api: api_key,
            version,
            reason: e.to_string(),
        };
        let raw = bytes.clone();
        ResponseHeader::decode(&mut bytes, api_key.response_header_version(version))
            .map_err(decode_err)?;
        let body = ResponseKind::decode(api_key, &mut bytes, version).map_err(decode_err)?;
        Ok(Answer { body, raw })
    }
}

/// What the reader and writer tasks of one connection need.
struct Io {
    cluster: Arc<str>,
    addr: Arc<str>,
    max_response_bytes: u32,
    losses: Arc<std::sync::atomic::AtomicU64>,
}

impl Io {
    /// Starts the writer task on `wr` and the reader task on `rd`: the queue to send on,
    /// whether both still run, and the flag that marks a close as the proxy's own.
    fn spawn<R, W>(
        self,
        rd: R,
        mut wr: W,
    ) -> (
        mpsc::Sender<QueuedRequest>,
        Arc<AtomicBool>,
        Arc<AtomicBool>,
    )
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<QueuedRequest>(1024);
        let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<(i32, ReplyTx)>();
        let alive = Arc::new(AtomicBool::new(true));

        let w_alive = alive.clone();
        tokio::spawn(async move {
            // Requests queued together go out with one write.
            let mut queued = Vec::with_capacity(MAX_BATCH);
            'writing: while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
                let mut frames = Pieces::default();
                for out in queued.drain(..) {
                    // Register before writing so the response can never arrive unmatched.
                    if pending_tx.send((out.correlation_id, out.reply)).is_err() {
                        break 'writing;
                    }
                    frames.append(Pieces::after(out.head, out.tail));
                }
                if wr.write_all_buf(&mut frames).await.is_err() {
                    break;
                }
            }
            w_alive.store(false, Ordering::Release);
        });

        let r_alive = alive.clone();
        let closing = Arc::new(AtomicBool::new(false));
        let r_closing = closing.clone();
        let (r_cluster, r_addr) = (self.cluster.clone(), self.addr.clone());
        let (max_response_bytes, losses) = (self.max_response_bytes, self.losses);
        tokio::spawn(async move {
            let lost = || BackendError::ConnectionLost {
                cluster: r_cluster.to_string(),
                addr: r_addr.to_string(),
            };
            let mut frames = FrameReader::new(rd, max_response_bytes);
            loop {
                let frame = match frames.next().await {
                    Ok(f) => f,
                    Err(FrameError::Closed) => break,
                    Err(e) => {
                        tracing::warn!(cluster = %r_cluster, broker = %r_addr, "backend connection failed: {e}");
                        break;
                    }
                };
                let Some((expected, reply)) = pending_rx.recv().await else {
                    break;
                };
                let got = frame
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if got != Some(expected) {
                    tracing::warn!(cluster = %r_cluster, broker = %r_addr,
                        "backend answered correlation id {got:?}, expected {expected}; dropping the connection");
                    let _ = reply.send(Err(lost()));
                    break;
                }
                let _ = reply.send(Ok(frame));
            }
            r_alive.store(false, Ordering::Release);
            if !r_closing.load(Ordering::Acquire) {
                // Closed by the broker's side: it may have been restarted or replaced.
                losses.fetch_add(1, Ordering::AcqRel);
            }
            pending_rx.close();
            while let Ok((_, reply)) = pending_rx.try_recv() {
                let _ = reply.send(Err(lost()));
            }
        });

        (tx, alive, closing)
    }
}

/// A live connection to one broker of one cluster.
pub struct BrokerConn {
    cluster: Arc<str>,
    addr: Arc<str>,
    tx: mpsc::Sender<QueuedRequest>,
    next_correlation: AtomicI32,
    alive: Arc<AtomicBool>,
    request_timeout: Duration,
    _counted: Counted,
    /// Set when the proxy drops the connection: a close after that is not a loss.
    closing: Arc<AtomicBool>,
}

impl Drop for BrokerConn {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
    }
}

impl BrokerConn {
    /// Connects (TLS and SASL as `security` says, all within `connect_timeout`) and starts
    /// the reader and writer tasks.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        cluster: Arc<str>,
        addr: &str,
        security: &Security,
        connect_timeout: Duration,
        request_timeout: Duration,
        max_response_bytes: u32,
        counted: Counted,
        losses: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Self, BackendError> {
        let addr: Arc<str> = addr.into();
        let connect_err = |reason: String| BackendError::Connect {
            cluster: cluster.to_string(),
            addr: addr.to_string(),
            reason,
        };
        let secured = tokio::time::timeout(connect_timeout, async {
            let stream = TcpStream::connect(&*addr)
                .await
                .map_err(|e| connect_err(e.to_string()))?;
            stream.set_nodelay(true).ok();
            security
                .secure(stream, &addr)
                .await
                .map_err(|e| connect_err(e.to_string()))
        })
        .await
        .map_err(|_| connect_err(format!("timed out after {connect_timeout:?}")))??;
        let io = Io {
            cluster: cluster.clone(),
            addr: addr.clone(),
            max_response_bytes,
            losses,
        };
        let (tx, alive, closing) = match secured {
            Secured::Plain(s) => {
                let (rd, wr) = s.into_split();
                io.spawn(rd, wr)
            }
            Secured::Tls(s) => {
                let (rd, wr) = tokio::io::split(*s);
                io.spawn(rd, wr)
            }
        };
        Ok(Self {
            cluster,
            addr,
            tx,
            next_correlation: AtomicI32::new(1),
            alive,
            request_timeout,
            _counted: counted,
            closing,
        })
    }

    /// Whether both tasks are still running and the broker has not stalled.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn lost(&self) -> BackendError {
        BackendError::ConnectionLost {
            cluster: self.cluster.to_string(),
            addr: self.addr.to_string(),
        }
    }

    fn encode(
        &self,
        api_key: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        body: &RequestKind,
    ) -> Result<(i32, Bytes), BackendError> {
        let correlation_id = self.next_correlation.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(client_id);
        let hv = api_key.request_header_version(version);
        // Produce carries the record batches: size it exactly so they are copied once.
        let size = match body {
            RequestKind::Produce(r) => r.compute_size(version).unwrap_or(0),
            _ => 256,
        };
        let mut out = BytesMut::with_capacity(64 + size);
        out.put_i32(0);
        header
            .encode(&mut out, hv)
            .and_then(|_| body.encode(&mut out, version))
            .map_err(|e| BackendError::Encode {
                cluster: self.cluster.to_string(),
                api: api_key,
                version,
                reason: e.to_string(),
            })?;
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        Ok((correlation_id, out.freeze()))
    }

    /// Sends a request and waits for its decoded response.
    pub async fn send(
        &self,
        api_key: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        body: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        self.call(api_key, version, client_id, body)
            .await
            .map(|a| a.body)
    }

    /// Sends a request and waits for its response, decoded and raw.
    pub async fn call(
        &self,
        api_key: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        body: &RequestKind,
    ) -> Result<Answer, BackendError> {
        self.start(api_key, version, client_id, body)
            .await?
            .answer()
            .await
    }

    /// Queues a request on the connection and returns at once; requests started in some
    /// order reach the broker in that order.
    pub async fn start(
        &self,
        api_key: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        body: &RequestKind,
    ) -> Result<Pending, BackendError> {
        let (correlation_id, frame) = self.encode(api_key, version, client_id, body)?;
        self.queue(
            api_key,
            version,
            correlation_id,
            frame,
            Pieces::default(),
            expected_wait(body),
        )
        .await
    }

    /// Like [`BrokerConn::start`], for a client's request frame forwarded as received (header
    /// included, length prefix excluded): only its correlation id is replaced, and the rest,
    /// record batches included, is written without a copy. `wait` is how long the broker may
    /// legitimately hold it (a produce's timeout).
    pub async fn start_frame(
        &self,
        api_key: ApiKey,
        version: i16,
        client_frame: PatchedFrame,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        let (correlation_id, head, tail) = self.reframe(api_key, version, &client_frame)?;
        self.queue(api_key, version, correlation_id, head, tail, wait)
            .await
    }

    /// [`BrokerConn::start_frame`] without waiting: when the connection's queue is full (the
    /// broker stopped reading), it fails at once instead of holding the caller.
    pub fn try_start_frame(
        &self,
        api_key: ApiKey,
        version: i16,
        client_frame: PatchedFrame,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        let (correlation_id, head, tail) = self.reframe(api_key, version, &client_frame)?;
        let (reply, rx) = oneshot::channel();
        let outgoing = QueuedRequest {
            head,
            tail,
            correlation_id,
            reply,
        };
        match self.tx.try_send(outgoing) {
            Ok(()) => Ok(self.pending(api_key, version, wait, rx)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.lost()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(BackendError::Saturated {
                cluster: self.cluster.to_string(),
                addr: self.addr.to_string(),
                api: api_key,
            }),
        }
    }

    /// A client frame's new head (length prefix, API key and version, a fresh correlation
    /// id) and its tail after the old correlation id.
    fn reframe(
        &self,
        api_key: ApiKey,
        version: i16,
        client_frame: &PatchedFrame,
    ) -> Result<(i32, Bytes, Pieces), BackendError> {
        if client_frame.len() < 8 {
            return Err(BackendError::Encode {
                cluster: self.cluster.to_string(),
                api: api_key,
                version,
                reason: "frame shorter than a request header".into(),
            });
        }
        let correlation_id = self.next_correlation.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let mut head = BytesMut::with_capacity(12);
        head.put_i32(client_frame.len() as i32);
        head.put_slice(client_frame.head(4)); // api key and version
        head.put_i32(correlation_id);
        Ok((correlation_id, head.freeze(), client_frame.pieces_from(8)))
    }

    fn pending(
        &self,
        api_key: ApiKey,
        version: i16,
        wait: Duration,
        rx: oneshot::Receiver<Result<Bytes, BackendError>>,
    ) -> Pending {
        Pending {
            cluster: self.cluster.clone(),
            addr: self.addr.clone(),
            api_key,
            version,
            timeout: self.request_timeout + wait,
            alive: self.alive.clone(),
            rx,
        }
    }

    async fn queue(
        &self,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        head: Bytes,
        tail: Pieces,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        let (reply, rx) = oneshot::channel();
        let queued = self.tx.send(QueuedRequest {
            head,
            tail,
            correlation_id,
            reply,
        });
        match tokio::time::timeout(self.request_timeout, queued).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(self.lost()),
            Err(_) => {
                // The broker stopped reading: this connection is stuck for good.
                return Err(stalled(
                    &self.alive,
                    &self.cluster,
                    &self.addr,
                    api_key,
                    self.request_timeout,
                ));
            }
        }
        Ok(self.pending(api_key, version, wait, rx))
    }
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize};

    async fn connect_to(addr: &str, losses: &Arc<AtomicU64>) -> BrokerConn {
        BrokerConn::connect(
            "c1".into(),
            addr,
            &Security::default(),
            Duration::from_secs(2),
            Duration::from_secs(2),
            1 << 20,
            Counted::new(&Arc::new(AtomicUsize::new(0))),
            losses.clone(),
        )
        .await
        .expect("connects")
    }

    /// A fake broker (a bare TCP listener): closing its side counts as a loss, dropping the
    /// proxy's side does not.
    #[tokio::test]
    async fn a_connection_the_broker_closes_counts_as_a_loss_one_the_proxy_drops_does_not() {
        let fake_broker = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = fake_broker.local_addr().expect("addr").to_string();
        let losses = Arc::new(AtomicU64::new(0));

        let ours = connect_to(&addr, &losses).await;
        let (kept, _) = fake_broker.accept().await.expect("accept");
        drop(ours);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(losses.load(Ordering::Acquire), 0, "dropped by the proxy");
        drop(kept);

        let conn = connect_to(&addr, &losses).await;
        let (theirs, _) = fake_broker.accept().await.expect("accept");
        drop(theirs);
        for _ in 0..50 {
            if losses.load(Ordering::Acquire) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(losses.load(Ordering::Acquire), 1, "closed by the broker");
        assert!(!conn.is_alive());
    }
}
