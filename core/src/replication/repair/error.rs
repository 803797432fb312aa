//! Why a comparison or a repair step stopped short. The repairer logs it and tries again on
//! a later pass; each names the cluster and partition it is about.

use crate::backend::BackendError;

/// A comparison or repair step that did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RepairError {
    /// A request to a cluster failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// None of the clusters up answered for their topic lists in time.
    #[error("no cluster answered the comparison")]
    NoClusterAnswered,
    /// Writes kept flowing while the comparison waited for a moment without any.
    #[error("writes kept flowing; comparison postponed")]
    WritesFlowing,
    /// The target's end could not be read, yet creating the topic there said it exists.
    #[error(
        "cluster {cluster}: the end of {tp} could not be read (creating the topic answered \
         code {code}); repairing it later"
    )]
    EndUnreadable {
        /// The target cluster.
        cluster: String,
        /// The partition (`topic-partition`).
        tp: String,
        /// CreateTopics' error code.
        code: i16,
    },
    /// The source's batches do not start where the target's log ends.
    #[error(
        "cluster {cluster}: {tp} ends at {end} inside a batch of {copied_from} (it starts at {base}): \
         batch boundaries differ, repair needs a manual copy"
    )]
    BatchBoundaries {
        /// The target cluster.
        cluster: String,
        /// The partition.
        tp: String,
        /// The target's end.
        end: i64,
        /// The source cluster.
        copied_from: String,
        /// Where the source's batch starts.
        base: i64,
    },
    /// A copy landed elsewhere than expected: something else writes there.
    #[error(
        "cluster {cluster}: repair of {tp}: a batch expected at {expected} landed at {landed}; \
         another writer is active there, comparing it again"
    )]
    AnotherWriter {
        /// The target cluster.
        cluster: String,
        /// The partition.
        tp: String,
        /// Where the copy should have landed.
        expected: i64,
        /// Where it did.
        landed: i64,
    },
    /// The target holds another batch than the source where its end was read.
    #[error(
        "cluster {cluster}: {tp} holds another batch at offset {at} than {copied_from}: divergent"
    )]
    Divergent {
        /// The target cluster.
        cluster: String,
        /// The partition.
        tp: String,
        /// The first differing offset.
        at: i64,
        /// The source cluster.
        copied_from: String,
    },
    /// The target's end was read inside a source batch it does not hold.
    #[error(
        "cluster {cluster}: {tp} ends inside a batch of {copied_from} (it starts at {base}) and \
         holds no batch there; reading its end again next pass"
    )]
    EndInsideBatch {
        /// The target cluster.
        cluster: String,
        /// The partition.
        tp: String,
        /// Where the source's batch starts.
        base: i64,
        /// The source cluster.
        copied_from: String,
    },
    /// The target closed a connection during the repair (it may be a new, empty broker).
    #[error(
        "cluster {cluster}: it closed a connection during the repair; comparing it before \
         copying more"
    )]
    NotCompared {
        /// The target cluster.
        cluster: String,
    },
    /// The proxy's producer sequence on the target is not known yet.
    #[error("cluster {cluster}: no producer sequence to copy to {tp} under yet")]
    NoSequence {
        /// The target cluster.
        cluster: String,
        /// The partition.
        tp: String,
    },
}
