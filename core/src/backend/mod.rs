//! Backend clusters: connections to their brokers, their metadata and API versions.

mod cluster;
mod conn;
pub mod health;
pub mod partitioned;
pub mod pool;

pub use cluster::{Cluster, ClusterStatus};
pub use conn::{Answer, BrokerConn, Pending};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use std::time::Duration;

/// Why a request to a backend cluster failed. Every variant names the cluster.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// No TCP connection could be made.
    #[error("cluster {cluster}: cannot connect to broker {addr}: {reason}")]
    Connect {
        /// Cluster id.
        cluster: String,
        /// Broker address.
        addr: String,
        /// The socket error.
        reason: String,
    },
    /// The broker closed the connection before answering.
    #[error("cluster {cluster}: broker {addr} closed the connection before answering")]
    ConnectionLost {
        /// Cluster id.
        cluster: String,
        /// Broker address.
        addr: String,
    },
    /// The broker did not answer within the request timeout.
    #[error("cluster {cluster}: broker {addr} did not answer {api:?} within {after:?}")]
    Timeout {
        /// Cluster id.
        cluster: String,
        /// Broker address.
        addr: String,
        /// The API called.
        api: ApiKey,
        /// The timeout.
        after: Duration,
    },
    /// The broker is not reading requests: the connection's queue of requests to send is
    /// full (a hung broker, or more requests than it takes), so this one was not sent.
    #[error(
        "cluster {cluster}: broker {addr} is not taking requests (its connection's send queue \
         is full); {api:?} not sent"
    )]
    Saturated {
        /// Cluster id.
        cluster: String,
        /// Broker address.
        addr: String,
        /// The API of the request not sent.
        api: ApiKey,
    },
    /// The request could not be encoded at the version chosen.
    #[error("cluster {cluster}: cannot encode {api:?} v{version}: {reason}")]
    Encode {
        /// Cluster id.
        cluster: String,
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// The encoder's message.
        reason: String,
    },
    /// The broker's response could not be decoded.
    #[error("cluster {cluster}: cannot decode {api:?} v{version} response: {reason}")]
    Decode {
        /// Cluster id.
        cluster: String,
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// The decoder's message.
        reason: String,
    },
    /// The cluster does not implement an API the request needs.
    #[error("cluster {cluster} does not support {api:?}")]
    Unsupported {
        /// Cluster id.
        cluster: String,
        /// The API.
        api: ApiKey,
    },
    /// The cluster's circuit is open: it failed repeatedly and is skipped for a while.
    #[error("cluster {cluster} is out of service for now (circuit open): {reason}")]
    CircuitOpen {
        /// Cluster id.
        cluster: String,
        /// The failure that opened it.
        reason: String,
    },
    /// The cluster answered metadata without the broker needed.
    #[error("cluster {cluster}: {reason}")]
    NoBroker {
        /// Cluster id.
        cluster: String,
        /// What was missing.
        reason: String,
    },
}

impl BackendError {
    /// The Kafka error code a client should see for this failure: retriable codes for
    /// transient trouble, so clients retry as they would against a broker.
    pub fn client_code(&self) -> i16 {
        match self {
            Self::Connect { .. }
            | Self::ConnectionLost { .. }
            | Self::NoBroker { .. }
            | Self::CircuitOpen { .. } => ResponseError::NetworkException.code(),
            Self::Timeout { .. } | Self::Saturated { .. } => ResponseError::RequestTimedOut.code(),
            Self::Unsupported { .. } => ResponseError::UnsupportedVersion.code(),
            Self::Encode { .. } | Self::Decode { .. } => ResponseError::UnknownServerError.code(),
        }
    }

    /// Whether trying again on a fresh connection may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::ConnectionLost { .. } | Self::NoBroker { .. }
        )
    }
}
