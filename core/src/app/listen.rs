//! Binding listeners, and why the server could not start.

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not bind.
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        /// Which listener (config path).
        what: &'static str,
        /// The address.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Metrics could not be registered.
    #[error("metrics setup failed: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The proxy context could not be built.
    #[error("{0}")]
    Setup(String),
}

pub(crate) async fn bind(
    what: &'static str,
    host: &str,
    port: u16,
) -> Result<TcpListener, ServeError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

/// Parses `host:port` into a socket address for the HTTP listeners.
pub fn socket_addr(host: &str, port: u16) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs().ok()?.next()
}
