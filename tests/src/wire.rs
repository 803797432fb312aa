//! A minimal blocking Kafka wire client for tests: typed requests through `kafka-protocol`,
//! and raw bytes for the malformed-input cases.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One client connection.
pub struct Conn {
    stream: TcpStream,
    next: i32,
}

impl Conn {
    /// Connects with a read timeout, so a test never hangs on a missing answer.
    pub fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, next: 1 })
    }

    /// Encodes a request frame (length prefix included) with a fresh correlation id.
    pub fn encode(&mut self, api: ApiKey, version: i16, body: &RequestKind) -> (i32, Bytes) {
        let correlation = self.next;
        self.next += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("kafkatwin-tests")));
        let mut out = BytesMut::new();
        out.put_i32(0);
        header
            .encode(&mut out, api.request_header_version(version))
            .expect("encode header");
        body.encode(&mut out, version).expect("encode body");
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        (correlation, out.freeze())
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one response frame body; `Err` when the connection closed or timed out.
    pub fn read_frame(&mut self) -> io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Decodes a response frame for `api` at `version`; returns its correlation id and body.
    pub fn decode(api: ApiKey, version: i16, mut frame: Bytes) -> (i32, ResponseKind) {
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .expect("response header");
        let body = ResponseKind::decode(api, &mut frame, version).expect("response body");
        (header.correlation_id, body)
    }

    /// Sends a request and decodes its response, checking the correlation id.
    pub fn call(
        &mut self,
        api: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> io::Result<ResponseKind> {
        let (correlation, frame) = self.encode(api, version, &body);
        self.write_raw(&frame)?;
        let resp = self.read_frame()?;
        let (got, body) = Self::decode(api, version, resp);
        assert_eq!(got, correlation, "correlation id of the {api:?} response");
        Ok(body)
    }

    /// True when the peer has closed the connection (reads EOF or reset within the timeout).
    pub fn is_closed_by_peer(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok();
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
            && !matches!(self.stream.read(&mut b), Ok(n) if n > 0)
    }
}

/// The correlation id at the start of a response frame body.
pub fn correlation_of(frame: &Bytes) -> i32 {
    let mut b = frame.clone();
    b.get_i32()
}

/// Typed request builders the tests share.
pub mod build {
    use bytes::BytesMut;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// A topic name.
    pub fn topic(name: &str) -> TopicName {
        TopicName(StrBytes::from_string(name.to_owned()))
    }

    /// CreateTopics for one topic, replication factor 1.
    pub fn create_topic(name: &str, partitions: i32) -> RequestKind {
        RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    create_topics_request::CreatableTopic::default()
                        .with_name(topic(name))
                        .with_num_partitions(partitions)
                        .with_replication_factor(1),
                ]),
        )
    }

    /// An uncompressed v2 record batch of `(key, value)` records.
    pub fn batch(records: &[(String, String)]) -> bytes::Bytes {
        idempotent_batch(records, -1, -1, -1)
    }

    /// An uncompressed v2 record batch of `(key, value)` records from an idempotent producer
    /// (`producer_id` and `epoch`, first record at `sequence`; -1s for none).
    pub fn idempotent_batch(
        records: &[(String, String)],
        producer_id: i64,
        epoch: i16,
        sequence: i32,
    ) -> bytes::Bytes {
        producer_batch(records, producer_id, epoch, sequence, false)
    }

    /// An uncompressed v2 record batch of `(key, value)` records in a transaction of
    /// `producer_id` at `epoch`, first record at `sequence`.
    pub fn transactional_batch(
        records: &[(String, String)],
        producer_id: i64,
        epoch: i16,
        sequence: i32,
    ) -> bytes::Bytes {
        producer_batch(records, producer_id, epoch, sequence, true)
    }

    fn producer_batch(
        records: &[(String, String)],
        producer_id: i64,
        epoch: i16,
        sequence: i32,
        transactional: bool,
    ) -> bytes::Bytes {
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: if sequence < 0 {
                    -1
                } else {
                    sequence + i as i32
                },
                timestamp: 1_700_000_000_000,
                key: Some(k.clone().into()),
                value: Some(v.clone().into()),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode batch");
        buf.freeze()
    }

    /// Produce (acks=all) of one batch to partition 0 of `name`.
    pub fn produce(name: &str, batch: bytes::Bytes) -> RequestKind {
        RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![
                    produce_request::TopicProduceData::default()
                        .with_name(topic(name))
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch)),
                        ]),
                ]),
        )
    }

    /// Fetch of partition 0 of `name` from `offset`, up to 1 MiB, long-polling `max_wait_ms`.
    pub fn fetch(name: &str, offset: i64, max_wait_ms: i32) -> RequestKind {
        RequestKind::Fetch(
            FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(max_wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(topic(name))
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default()
                                .with_partition(0)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]),
        )
    }
}
