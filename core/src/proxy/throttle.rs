//! `throttle_time_ms` in answers: a client over its quota is told how long to wait, and is
//! told the longer of the proxy's and the backend's throttle.

use kafka_protocol::messages::ResponseKind;

/// Sets `resp`'s `throttle_time_ms` to `ms` unless it already holds a longer one (a
/// backend's). APIs whose answers have no such field are left as they are.
pub fn set_throttle(resp: &mut ResponseKind, ms: u64) {
    let ms = i32::try_from(ms).unwrap_or(i32::MAX);
    macro_rules! throttled {
        ($($kind:ident),*) => {
            match resp {
                $(ResponseKind::$kind(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),)*
                _ => {}
            }
        };
    }
    throttled!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        CreatePartitions,
        DeleteGroups,
        OffsetDelete,
        IncrementalAlterConfigs,
        DescribeCluster,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchResponse, ProduceResponse};

    #[test]
    fn the_longer_throttle_wins() {
        let mut r = ResponseKind::Produce(ProduceResponse::default().with_throttle_time_ms(50));
        set_throttle(&mut r, 20);
        assert!(matches!(&r, ResponseKind::Produce(p) if p.throttle_time_ms == 50));
        let mut r = ResponseKind::Fetch(FetchResponse::default());
        set_throttle(&mut r, 1200);
        assert!(matches!(&r, ResponseKind::Fetch(f) if f.throttle_time_ms == 1200));
    }
}
