//! Following a leader move without the client seeing it. Tansu clusters have one broker, so
//! this uses two *fake* brokers (a few lines of test code speaking the wire protocol):
//! broker 1 leads partition 0 until the first produce, which it refuses with
//! NOT_LEADER_OR_FOLLOWER as leadership moves to broker 2. The proxy's routing must refresh
//! metadata and retry on broker 2, answering the client with success.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafkatwin_config::{BackendConfig, CircuitBreakerConfig, ClusterConfig};
use kafkatwin_core::backend::Cluster;
use kafkatwin_core::base::sync::lock;
use kafkatwin_core::proxy::partitioned;
use kafkatwin_core::wire::frame;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Shared state of the two fake brokers.
struct FakeCluster {
    leader: i32,
    ports: [u16; 2],
    produces: [u32; 2],
}

fn respond(state: &Mutex<FakeCluster>, me: i32, req: RequestKind) -> ResponseKind {
    let mut s = lock(state);
    match req {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(
            ApiVersionsResponse::default().with_api_keys(
                [
                    (ApiKey::Produce, 3, 11),
                    (ApiKey::Metadata, 0, 12),
                    (ApiKey::ApiVersions, 0, 3),
                ]
                .into_iter()
                .map(|(k, min, max)| {
                    api_versions_response::ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
            ),
        ),
        RequestKind::Metadata(_) => ResponseKind::Metadata(
            MetadataResponse::default()
                .with_controller_id(BrokerId(1))
                .with_brokers(
                    (0..2)
                        .map(|i| {
                            metadata_response::MetadataResponseBroker::default()
                                .with_node_id(BrokerId(i + 1))
                                .with_host(StrBytes::from_static_str("127.0.0.1"))
                                .with_port(i32::from(s.ports[i as usize]))
                        })
                        .collect(),
                )
                .with_topics(vec![
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                        .with_partitions(vec![
                            metadata_response::MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(BrokerId(s.leader)),
                        ]),
                ]),
        ),
        RequestKind::Produce(_) => {
            s.produces[(me - 1) as usize] += 1;
            let refused = me != s.leader || me == 1;
            if me == 1 {
                s.leader = 2; // leadership moves as broker 1 refuses
            }
            let (code, offset) = if refused { (6, -1) } else { (0, 42) };
            ResponseKind::Produce(ProduceResponse::default().with_responses(vec![
                produce_response::TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_responses(vec![
                        produce_response::PartitionProduceResponse::default()
                            .with_index(0)
                            .with_error_code(code)
                            .with_base_offset(offset),
                    ]),
            ]))
        }
        _ => ResponseKind::ApiVersions(Default::default()),
    }
}

async fn serve(listener: TcpListener, me: i32, state: Arc<Mutex<FakeCluster>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            while let Ok(mut f) = frame::read_frame(&mut rd, 1 << 20).await {
                let Some(peek) = frame::peek_header(&f) else {
                    return;
                };
                let Ok(api) = ApiKey::try_from(peek.api_key) else {
                    return;
                };
                let v = peek.api_version;
                if RequestHeader::decode(&mut f, api.request_header_version(v)).is_err() {
                    return;
                }
                let Ok(req) = RequestKind::decode(api, &mut f, v) else {
                    return;
                };
                let resp = respond(&state, me, req);
                let mut out = BytesMut::new();
                out.put_i32(0);
                let header = ResponseHeader::default().with_correlation_id(peek.correlation_id);
                if header
                    .encode(&mut out, api.response_header_version(v))
                    .is_err()
                    || resp.encode(&mut out, v).is_err()
                {
                    return;
                }
                let len = (out.len() - 4) as i32;
                out[..4].copy_from_slice(&len.to_be_bytes());
                if wr.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test]
async fn produce_follows_a_leader_move_without_surfacing_it() {
    let l1 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let l2 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ports = [
        l1.local_addr().expect("addr").port(),
        l2.local_addr().expect("addr").port(),
    ];
    let state = Arc::new(Mutex::new(FakeCluster {
        leader: 1,
        ports,
        produces: [0, 0],
    }));
    tokio::spawn(serve(l1, 1, state.clone()));
    tokio::spawn(serve(l2, 2, state.clone()));

    let cluster = Cluster::new(
        &ClusterConfig {
            id: "fake".into(),
            bootstrap_servers: vec![format!("127.0.0.1:{}", ports[0])],
            priority: 1,
            weight: 100,
            tls: None,
            sasl: None,
        },
        &BackendConfig::default(),
        CircuitBreakerConfig::default(),
    );
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from_static(b"batch"))),
                ]),
        ]);
    let resp = partitioned::route(&cluster, 9, None, req, 3).await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(
        p.error_code, 0,
        "the client must not see the move: {resp:?}"
    );
    assert_eq!(p.base_offset, 42, "answered by the new leader");
    let produces = lock(&state).produces;
    assert_eq!(
        produces,
        [1, 1],
        "refused once by the old leader, taken once by the new"
    );
}
