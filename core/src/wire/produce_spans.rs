//! Where each partition's records sit in an encoded Produce request frame (header and body,
//! no length prefix), found by walking the frame's fields without decoding any record: the
//! proxy numbers each cluster's copy of a frame in place instead of encoding it again.

use std::ops::Range;

/// One partition's records in a Produce frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsSpan {
    /// The topic name's bytes.
    pub topic: Range<usize>,
    /// The partition index.
    pub partition: i32,
    /// The records' bytes (empty for null records).
    pub records: Range<usize>,
}

/// A cursor over frame bytes; every read fails (`None`) past the end.
struct Walk<'a> {
    b: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn take(&mut self, n: usize) -> Option<Range<usize>> {
        let end = self.at.checked_add(n)?;
        (end <= self.b.len()).then(|| {
            let r = self.at..end;
            self.at = end;
            r
        })
    }

    fn i16(&mut self) -> Option<i16> {
        let r = self.take(2)?;
        Some(i16::from_be_bytes([self.b[r.start], self.b[r.start + 1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        let r = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b[r]);
        Some(i32::from_be_bytes(a))
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A length: compact (unsigned varint, length + 1, 0 for null) or classic (`i16`/`i32`,
    /// negative for null). `None` inside: null.
    fn len(&mut self, compact: bool, wide: bool) -> Option<Option<usize>> {
        if compact {
            let n = self.uvarint()?;
            return Some(usize::try_from(n).ok()?.checked_sub(1));
        }
        let n = if wide {
            self.i32()?
        } else {
            i32::from(self.i16()?)
        };
        Some(usize::try_from(n).ok())
    }

    /// Bytes of a string or byte field; an empty range for null.
    fn field(&mut self, compact: bool, wide: bool) -> Option<Range<usize>> {
        match self.len(compact, wide)? {
            Some(n) => self.take(n),
            None => Some(self.at..self.at),
        }
    }

    fn tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).ok()?;
            self.take(size)?;
        }
        Some(())
    }
}

/// The records of every partition in a Produce `frame` of `version` (3 to 12: topics by
/// name), in frame order; `None` when the frame is not such a request.
pub fn records_spans(frame: &[u8], version: i16) -> Option<Vec<RecordsSpan>> {
    if !(3..=12).contains(&version) {
        return None;
    }
    let flexible = version >= 9;
    let mut w = Walk { b: frame, at: 0 };
    // Header: api key, version, correlation id, client id (a classic string in every
    // header version), then tagged fields in the flexible one.
    w.take(8)?;
    w.field(false, false)?;
    if flexible {
        w.tagged_fields()?;
    }
    w.field(flexible, false)?; // transactional id
    w.take(6)?; // acks, timeout
    let mut out = Vec::new();
    for _ in 0..w.len(flexible, true)?.unwrap_or(0) {
        let topic = w.field(flexible, false)?;
        for _ in 0..w.len(flexible, true)?.unwrap_or(0) {
            let partition = w.i32()?;
            let records = w.field(flexible, true)?;
            if flexible {
                w.tagged_fields()?;
            }
            out.push(RecordsSpan {
                topic: topic.clone(),
                partition,
                records,
            });
        }
        if flexible {
            w.tagged_fields()?;
        }
    }
    if flexible {
        w.tagged_fields()?;
    }
    (w.at == frame.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn frame(version: i16) -> Bytes {
        let topic = |name: &'static str, parts: &[(i32, Option<&'static [u8]>)]| {
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_partition_data(
                    parts
                        .iter()
                        .map(|(i, r)| {
                            PartitionProduceData::default()
                                .with_index(*i)
                                .with_records(r.map(Bytes::from_static))
                        })
                        .collect(),
                )
        };
        let req = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(500)
            .with_topic_data(vec![
                topic("alpha", &[(0, Some(b"first records")), (3, None)]),
                topic("b", &[(7, Some(b"x"))]),
            ]);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(9)
            .with_client_id(Some(StrBytes::from_static_str("client")));
        let mut out = BytesMut::new();
        header
            .encode(&mut out, ApiKey::Produce.request_header_version(version))
            .expect("header");
        req.encode(&mut out, version).expect("body");
        out.freeze()
    }

    #[test]
    fn finds_every_partitions_records_in_classic_and_flexible_frames() {
        for version in [3, 8, 9, 12] {
            let f = frame(version);
            let spans = records_spans(&f, version).expect("a produce frame");
            let seen: Vec<(&[u8], i32, &[u8])> = spans
                .iter()
                .map(|s| (&f[s.topic.clone()], s.partition, &f[s.records.clone()]))
                .collect();
            assert_eq!(
                seen,
                vec![
                    (&b"alpha"[..], 0, &b"first records"[..]),
                    (&b"alpha"[..], 3, &b""[..]),
                    (&b"b"[..], 7, &b"x"[..]),
                ],
                "version {version}"
            );
            // Cut short or with bytes after it, the frame is not taken.
            assert_eq!(records_spans(&f[..f.len() - 1], version), None);
            let mut longer = f.to_vec();
            longer.push(0);
            assert_eq!(records_spans(&longer, version), None);
        }
        assert_eq!(records_spans(&frame(12), 13), None, "topic ids: not walked");
    }
}
