//! Which backend connection a request travels on.
//!
//! A Kafka broker works on one request per connection at a time and holds the rest until it
//! answers, so a long-poll Fetch or a JoinGroup waiting for a rebalance blocks everything
//! behind it on that connection. Each client connection therefore gets its own backend
//! connections (the 1:1 mapping Kafka's own clients assume); the proxy's internal requests
//! (health probes, metadata refreshes outside a client request) use the cluster's shared pool.
//! The client's pool is carried by the task that handles its request (a task-local set by
//! [`scope`]), so routing code needs no extra parameter.

use crate::backend::BrokerConn;
use crate::base::sync::lock;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A broker of a cluster: node ids repeat across clusters, so both are needed.
type BrokerKey = (Arc<str>, i32);

/// Open backend connections, keyed by cluster and broker node.
#[derive(Default)]
pub struct ConnPool {
    conns: Mutex<HashMap<BrokerKey, Arc<BrokerConn>>>,
}

/// The key for "a connection to some broker of the cluster" (bootstrap).
pub const ANY_NODE: i32 = i32::MIN;

impl ConnPool {
    /// A live connection to `node` of `cluster`.
    pub fn get(&self, cluster: &Arc<str>, node: i32) -> Option<Arc<BrokerConn>> {
        let conns = lock(&self.conns);
        conns
            .get(&(cluster.clone(), node))
            .filter(|c| c.is_alive())
            .cloned()
    }

    /// A live connection to any broker of `cluster`.
    pub fn any(&self, cluster: &Arc<str>) -> Option<Arc<BrokerConn>> {
        let conns = lock(&self.conns);
        conns
            .iter()
            .find(|((c, _), conn)| c == cluster && conn.is_alive())
            .map(|(_, conn)| conn.clone())
    }

    /// A live connection of `cluster` to the broker at `addr`, under any key.
    pub fn at_addr(&self, cluster: &Arc<str>, addr: &str) -> Option<Arc<BrokerConn>> {
        let conns = lock(&self.conns);
        conns
            .iter()
            .find(|((c, _), conn)| c == cluster && conn.is_alive() && conn.addr() == addr)
            .map(|(_, conn)| conn.clone())
    }

    /// Remembers a connection.
    pub fn put(&self, cluster: Arc<str>, node: i32, conn: Arc<BrokerConn>) {
        let mut conns = lock(&self.conns);
        conns.retain(|_, c| c.is_alive());
        conns.insert((cluster, node), conn);
    }
}

tokio::task_local! {
    static CLIENT_POOL: Arc<ConnPool>;
}

/// Runs `f` (one client request) with the client connection's pool.
pub async fn scope<F: Future>(pool: Arc<ConnPool>, f: F) -> F::Output {
    CLIENT_POOL.scope(pool, f).await
}

/// The pool of the client request being handled, if any.
pub fn client_pool() -> Option<Arc<ConnPool>> {
    CLIENT_POOL.try_with(Arc::clone).ok()
}

/// Counts a cluster's open connections; the count drops with the connection.
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// Counts one more connection on `counter`.
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
