//! A commit decision, kept in the control log before the commit's first write: the
//! commit's records in chunks (`txn-decision-chunks/{index}/{id}`, at most 256 KiB each,
//! under any broker's message size limit) and a head (`txn-decisions/{id}`) that names the
//! partitions, the offsets to store and a checksum of the records. A proxy that stops
//! between the decision and the last write finds the decision when it (or another instance)
//! starts and finishes the commit; the entries are deleted once the commit is written.
//! The keys are reused by the id's next commit, so the control state does not grow with the
//! number of transactions.

use super::{GroupOffsets, Member, Work};
use crate::backend::partitioned::Tp;
use crate::control::keys::Key;
use crate::groups::Commit;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bytes of records per chunk entry.
const CHUNK_SIZE: usize = 256 << 10;

/// Bytes of entries appended in one batch (chunks of a large decision go in several).
const APPEND_BYTES: usize = 1 << 20;

/// Who decides commits here: this instance and this run of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    /// `server.node_id`.
    pub node: i32,
    /// This run's control-log writer id.
    pub incarnation: String,
}

/// One partition's share of the records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DecisionPartition {
    topic: String,
    partition: i32,
    bytes: usize,
}

/// One committed offset.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DecisionOffset {
    topic: String,
    partition: i32,
    offset: i64,
    metadata: Option<String>,
}

/// One group's offsets and the member they were sent for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DecisionGroup {
    group: String,
    member: Option<(String, i32, Option<String>)>,
    offsets: Vec<DecisionOffset>,
}

/// The head entry of a decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionHead {
    /// The producer id the transaction ran under.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// The `server.node_id` of the instance that decided it.
    #[serde(default)]
    pub node: i32,
    /// Which run of that instance decided it (its control-log writer id).
    #[serde(default)]
    pub incarnation: String,
    produce_version: i16,
    chunks: u32,
    /// CRC32C of the records, all chunks in order.
    crc: u32,
    partitions: Vec<DecisionPartition>,
    groups: Vec<DecisionGroup>,
}

impl DecisionHead {
    /// How many chunks hold the records.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }
}

/// The control-log key of `tid`'s decision head.
pub fn decision_key(tid: &str) -> String {
    Key::TxnDecision { id: tid.to_owned() }.to_string()
}

/// The control-log key of chunk `index` of `tid`'s decision.
fn decision_chunk_key(tid: &str, index: u32) -> String {
    Key::TxnDecisionChunk {
        index,
        id: tid.to_owned(),
    }
    .to_string()
}

/// The entries that record the decision to commit `work`, in batches to append one after
/// another: chunks first, the head in the last batch (a head is never read before its
/// chunks were written).
pub fn entries(
    tid: &str,
    decider: &Decider,
    producer_id: i64,
    epoch: i16,
    work: &Work,
) -> Result<Vec<Vec<(String, Bytes)>>, serde_json::Error> {
    let mut records = BytesMut::with_capacity(work.partitions.iter().map(|(_, r)| r.len()).sum());
    for (_, r) in &work.partitions {
        records.extend_from_slice(r);
    }
    let records = records.freeze();
    let chunks: Vec<Bytes> = (0..records.len())
        .step_by(CHUNK_SIZE)
        .map(|at| records.slice(at..(at + CHUNK_SIZE).min(records.len())))
        .collect();
    let head = DecisionHead {
        producer_id,
        epoch,
        node: decider.node,
        incarnation: decider.incarnation.clone(),
        produce_version: work.produce_version,
        chunks: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        crc: crc32c::crc32c(&records),
        partitions: work
            .partitions
            .iter()
            .map(|(tp, r)| DecisionPartition {
                topic: tp.topic.as_str().to_owned(),
                partition: tp.partition,
                bytes: r.len(),
            })
            .collect(),
        groups: work
            .groups
            .iter()
            .map(|g| {
                let offsets = g
                    .offsets
                    .iter()
                    .map(|(tp, c)| DecisionOffset {
                        topic: tp.topic.as_str().to_owned(),
                        partition: tp.partition,
                        offset: c.offset,
                        metadata: c.metadata.as_ref().map(|m| m.as_str().to_owned()),
                    })
                    .collect();
                DecisionGroup {
                    group: g.group.as_str().to_owned(),
                    member: g.member.as_ref().map(|m| {
                        (
                            m.member_id.as_str().to_owned(),
                            m.generation,
                            m.instance_id.as_ref().map(|i| i.as_str().to_owned()),
                        )
                    }),
                    offsets,
                }
            })
            .collect(),
    };
    let head = Bytes::from(serde_json::to_vec(&head)?);
    let mut batches: Vec<Vec<(String, Bytes)>> = vec![Vec::new()];
    let mut size = 0;
    let all = (0u32..)
        .zip(chunks)
        .map(|(i, c)| (decision_chunk_key(tid, i), c))
        .chain([(decision_key(tid), head)]);
    for (key, value) in all {
        if size > 0 && size + value.len() > APPEND_BYTES {
            batches.push(Vec::new());
            size = 0;
        }
        size += value.len();
        if let Some(b) = batches.last_mut() {
            b.push((key, value));
        }
    }
    Ok(batches)
}

/// The keys that delete a decision of `chunks` chunks (head first: a head without its
/// chunks is never taken for a whole decision).
pub fn tombstones(tid: &str, chunks: u32) -> Vec<String> {
    std::iter::once(decision_key(tid))
        .chain((0..chunks).map(|i| decision_chunk_key(tid, i)))
        .collect()
}

/// A decision as read from the control log, entry by entry, in whatever order they come.
#[derive(Debug, Default)]
pub struct Gathered {
    head: Option<DecisionHead>,
    /// The head's control-log version (microseconds since the epoch, about).
    version: i64,
    chunks: BTreeMap<u32, Bytes>,
    /// Handed to the transactional id to be finished here.
    pub adopted: bool,
}

/// Why a gathered decision cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// Its records do not match the head's checksum or lengths.
    #[error("transactional id {tid:?}: the stored commit decision is damaged ({what})")]
    Damaged {
        /// The transactional id.
        tid: String,
        /// What does not match.
        what: String,
    },
}

impl Gathered {
    /// Takes one entry of `key` (a head or chunk of this id's decision) written at
    /// `version`; `None` deletes it.
    pub fn take(&mut self, key: &Key, value: Option<Bytes>, version: i64) {
        match key {
            Key::TxnDecision { id } => {
                self.version = version;
                self.adopted = false;
                self.head = value.and_then(|v| match serde_json::from_slice::<DecisionHead>(&v) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        tracing::warn!("transactional id {id:?}: commit decision unreadable: {e}");
                        None
                    }
                });
            }
            Key::TxnDecisionChunk { index, .. } => match value {
                Some(v) => {
                    self.chunks.insert(*index, v);
                }
                None => {
                    self.chunks.remove(index);
                }
            },
            _ => {}
        }
    }

    /// Whether nothing of a decision is held.
    pub fn is_empty(&self) -> bool {
        self.head.is_none() && self.chunks.is_empty()
    }

    /// The head, when it was read.
    pub fn head(&self) -> Option<&DecisionHead> {
        self.head.as_ref()
    }

    /// When the head was written, in ms since the epoch.
    pub fn written_ms(&self) -> i64 {
        self.version / 1000
    }

    /// The decided commit once the head and every chunk it names are here; `Ok(None)`
    /// while some are missing.
    pub fn work(&self, tid: &str) -> Result<Option<Work>, DecisionError> {
        let Some(head) = &self.head else {
            return Ok(None);
        };
        if (0..head.chunks).any(|i| !self.chunks.contains_key(&i)) {
            return Ok(None);
        }
        let damaged = |what: String| DecisionError::Damaged {
            tid: tid.to_owned(),
            what,
        };
        let mut records = BytesMut::new();
        for i in 0..head.chunks {
            records.extend_from_slice(self.chunks.get(&i).map_or(&[][..], |c| &c[..]));
        }
        let records = records.freeze();
        if crc32c::crc32c(&records) != head.crc {
            // A chunk of the id's previous decision not yet replaced here: wait for more.
            return Ok(None);
        }
        let total: usize = head.partitions.iter().map(|p| p.bytes).sum();
        if total != records.len() {
            return Err(damaged(format!(
                "the head names {total} bytes of records, the chunks hold {}",
                records.len()
            )));
        }
        let tp = |topic: &str, partition: i32| {
            Tp::new(
                TopicName(StrBytes::from_string(topic.to_owned())),
                partition,
            )
        };
        let mut at = 0;
        let partitions = head
            .partitions
            .iter()
            .map(|p| {
                let part = records.slice(at..at + p.bytes);
                at += p.bytes;
                (tp(&p.topic, p.partition), part)
            })
            .collect();
        let groups = head
            .groups
            .iter()
            .map(|g| {
                let offsets = g
                    .offsets
                    .iter()
                    .map(|o| {
                        let commit = Commit {
                            offset: o.offset,
                            metadata: o.metadata.clone().map(StrBytes::from_string),
                        };
                        (tp(&o.topic, o.partition), commit)
                    })
                    .collect();
                GroupOffsets {
                    group: StrBytes::from_string(g.group.clone()),
                    member: g.member.clone().map(|(id, generation, instance)| Member {
                        member_id: StrBytes::from_string(id),
                        generation,
                        instance_id: instance.map(StrBytes::from_string),
                    }),
                    offsets,
                }
            })
            .collect();
        Ok(Some(Work {
            partitions,
            groups,
            produce_version: head.produce_version,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> Tp {
        Tp::new(TopicName(StrBytes::from_static_str("t")), p)
    }

    fn decider() -> Decider {
        Decider {
            node: 1,
            incarnation: "run-1".into(),
        }
    }

    fn work(sizes: &[usize]) -> Work {
        Work {
            partitions: (0..)
                .zip(sizes)
                .map(|(i, n)| (tp(i), Bytes::from(vec![u8::try_from(i).unwrap_or(0); *n])))
                .collect(),
            groups: vec![GroupOffsets {
                group: StrBytes::from_static_str("g"),
                member: Some(Member {
                    member_id: StrBytes::from_static_str("m-1"),
                    generation: 3,
                    instance_id: None,
                }),
                offsets: vec![(
                    tp(0),
                    Commit {
                        offset: 41,
                        metadata: Some(StrBytes::from_static_str("m")),
                    },
                )],
            }],
            produce_version: 9,
        }
    }

    /// Feeds `batches` into a gathering, in the order given.
    fn gather(batches: &[Vec<(String, Bytes)>], order: impl Fn(usize) -> usize) -> Gathered {
        let all: Vec<&(String, Bytes)> = batches.iter().flatten().collect();
        let mut g = Gathered::default();
        for i in 0..all.len() {
            let (k, v) = all[order(i) % all.len()];
            g.take(&Key::parse(k).expect("a decision key"), Some(v.clone()), 1);
        }
        g
    }

    #[test]
    fn a_decision_reads_back_whole_in_any_order_and_not_before_every_chunk_is_there() {
        let w = work(&[900_000, 10, 400_000]);
        let batches = entries("app/tx", &decider(), 5, 2, &w).expect("encoded");
        assert!(batches.len() > 1, "a large decision takes several appends");
        let last = batches.last().expect("a batch");
        assert_eq!(
            last.last().map(|(k, _)| k.as_str()),
            Some("txn-decisions/app/tx")
        );
        // DecisionHead first, then the chunks backwards.
        let n = batches.iter().map(Vec::len).sum::<usize>();
        let g = gather(&batches, |i| n - 1 - i);
        let back = g.work("app/tx").expect("readable").expect("whole");
        assert_eq!(back.produce_version, 9);
        assert_eq!(back.partitions.len(), 3);
        for ((tp_a, a), (tp_b, b)) in back.partitions.iter().zip(&w.partitions) {
            assert_eq!((tp_a, a), (tp_b, b));
        }
        assert_eq!(back.groups[0].offsets, w.groups[0].offsets);
        assert_eq!(back.groups[0].member, w.groups[0].member);
        // Without one chunk: not yet.
        let mut partial = Gathered::default();
        for (k, v) in batches.iter().flatten().skip(1) {
            partial.take(&Key::parse(k).expect("key"), Some(v.clone()), 1);
        }
        assert!(partial.work("app/tx").expect("readable").is_none());
        // Tombstones empty it.
        let mut g = g;
        let chunks = g.head().map_or(0, DecisionHead::chunks);
        assert_eq!(chunks, 5);
        for k in tombstones("app/tx", chunks) {
            g.take(&Key::parse(&k).expect("key"), None, 2);
        }
        assert!(g.is_empty());
    }

    #[test]
    fn a_chunk_left_from_an_earlier_decision_is_not_taken_for_this_ones() {
        let older = entries("tx", &decider(), 1, 0, &work(&[300_000])).expect("encoded");
        let newer = entries("tx", &decider(), 1, 0, &work(&[10, 300_000])).expect("encoded");
        let mut g = gather(&older, |i| i);
        // The newer head arrives before its chunks.
        let head = newer.iter().flatten().last().expect("head");
        g.take(&Key::parse(&head.0).expect("key"), Some(head.1.clone()), 3);
        assert!(g.work("tx").expect("readable").is_none());
        let g = gather(&newer, |i| i);
        assert!(g.work("tx").expect("readable").is_some());
    }
}
