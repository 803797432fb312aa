//! Backend clusters: connections to their brokers, their metadata and API versions.

mod cluster;
mod conn;
pub mod health;
pub mod partitioned;
pub mod pool;
pub mod security;

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
    /// The cluster has no bootstrap servers to connect to.
    #[error("cluster {cluster}: no bootstrap servers configured")]
    NoBootstrap {
        /// Cluster id.
        cluster: String,
    },
    /// A broker the request must go to is not in the cluster's metadata (yet).
    #[error("cluster {cluster}: broker {node} is not in its metadata")]
    UnknownBroker {
        /// Cluster id.
        cluster: String,
        /// The broker's node id.
        node: i32,
    },
    /// No writer connection is open to the broker a write must go to (it is being opened
    /// again).
    #[error("cluster {cluster}: no open connection to the partition's leader")]
    NoWriter {
        /// Cluster id.
        cluster: String,
    },
    /// There is no backend cluster at all.
    #[error("no backend cluster is configured")]
    NoCluster,
    /// The cluster answered a request with a Kafka error code.
    #[error("cluster {cluster}: {what} answered error code {code}{}", code_name(*.code))]
    Refused {
        /// Cluster id.
        cluster: String,
        /// The request, with what it was about (topic, partition, key).
        what: String,
        /// The Kafka error code.
        code: i16,
    },
    /// The cluster answered a request with another API's response.
    #[error("cluster {cluster}: {api:?} was answered with another API's response")]
    WrongAnswer {
        /// Cluster id.
        cluster: String,
        /// The API of the request.
        api: ApiKey,
    },
    /// A step of several requests (reading a log to compare it) did not finish in time.
    #[error("cluster {cluster}: no answer within {after:?} while {during}")]
    NoAnswer {
        /// Cluster id.
        cluster: String,
        /// What the proxy was doing.
        during: &'static str,
        /// How long it waited.
        after: Duration,
    },
}

/// ` (NAME)` for a known Kafka error code, else nothing.
fn code_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!(" ({e:?})"),
        None => String::new(),
    }
}

impl BackendError {
    /// The Kafka error code a client should see for this failure: retriable codes for
    /// transient trouble, so clients retry as they would against a broker.
    pub fn client_code(&self) -> i16 {
        match self {
            Self::Connect { .. }
            | Self::ConnectionLost { .. }
            | Self::UnknownBroker { .. }
            | Self::NoWriter { .. }
            | Self::CircuitOpen { .. } => ResponseError::NetworkException.code(),
            Self::NoBootstrap { .. } | Self::NoCluster => ResponseError::UnknownServerError.code(),
            Self::Timeout { .. } | Self::Saturated { .. } | Self::NoAnswer { .. } => {
                ResponseError::RequestTimedOut.code()
            }
            Self::Refused { code, .. } => *code,
            Self::Unsupported { .. } => ResponseError::UnsupportedVersion.code(),
            Self::Encode { .. } | Self::Decode { .. } | Self::WrongAnswer { .. } => {
                ResponseError::UnknownServerError.code()
            }
        }
    }

    /// Whether trying again on a fresh connection may help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectionLost { .. }
            | Self::UnknownBroker { .. }
            | Self::NoWriter { .. } => true,
            // Kafka says which of its codes are worth a retry (COORDINATOR_NOT_AVAILABLE is).
            Self::Refused { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            _ => false,
        }
    }
}
