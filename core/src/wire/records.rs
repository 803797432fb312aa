//! Record-batch headers (magic 2), read and patched in place without decoding records.
//!
//! Layout: baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch i32 @12, magic i8 @16,
//! crc u32 @17 (CRC32C over attributes..end), attributes i16 @21, lastOffsetDelta i32 @23,
//! baseTimestamp i64 @27, maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51,
//! baseSequence i32 @53, recordCount i32 @57, records @61.

use bytes::{Bytes, BytesMut};

const HEADER_LEN: usize = 61;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_DELTA_AT: usize = 23;
const TIMESTAMPS_AT: usize = 27;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

/// What the header of one batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (the broker's, in fetched data).
    pub base_offset: i64,
    /// Records in the batch, from the offset delta (what the batch occupies in the log).
    pub offsets: i64,
    /// Producer id, -1 when not idempotent.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record.
    pub base_sequence: i32,
    /// Part of a transaction.
    pub transactional: bool,
    /// A transaction marker, not data.
    pub control: bool,
    /// The batch's CRC32C (over attributes..end, so over producer id, sequence and records).
    pub crc: u32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// `records` with every batch's base offset lowered by `by` (physical to logical offsets).
/// The base offset is outside the CRC, so nothing else changes; a trailing partial batch is
/// shifted too when its header is whole, and left as is otherwise.
pub fn shift_base_offsets(records: &[u8], by: i64) -> Bytes {
    let mut out = BytesMut::from(records);
    let mut at = 0usize;
    while out.len() >= at + 12 {
        let base = be_i64(&out, at);
        out[at..at + 8].copy_from_slice(&(base - by).to_be_bytes());
        let len = usize::try_from(be_i32(&out, at + 8)).unwrap_or(0);
        if len == 0 {
            break;
        }
        at += 12 + len;
    }
    out.freeze()
}

/// The batches in a partition's `records` field, each as `(header, byte range)`. A trailing
/// partial batch (fetch responses may end with one) is left out; a batch that is not magic 2
/// ends the walk with `None` for the rest.
pub fn batches(records: &[u8]) -> Vec<(BatchHeader, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while records.len() >= at + HEADER_LEN {
        let b = &records[at..];
        let len = be_i32(b, 8);
        let Ok(len) = usize::try_from(len) else { break };
        let total = len + 12;
        if total < HEADER_LEN || b.len() < total || b[16] != 2 {
            break;
        }
        let attributes = be_i16(b, ATTRIBUTES_AT);
        out.push((
            BatchHeader {
                base_offset: be_i64(b, 0),
                offsets: i64::from(be_i32(b, LAST_DELTA_AT)) + 1,
                producer_id: be_i64(b, PRODUCER_ID_AT),
                producer_epoch: be_i16(b, PRODUCER_EPOCH_AT),
                base_sequence: be_i32(b, BASE_SEQUENCE_AT),
                transactional: attributes & TRANSACTIONAL != 0,
                control: attributes & CONTROL != 0,
                crc: be_i32(b, CRC_AT) as u32,
            },
            at..at + total,
        ));
        at += total;
    }
    out
}

/// Records in `records` by the batch headers' record counts, without decoding them or
/// allocating (for the records-per-second metrics). Control batches and a trailing partial
/// batch are not counted.
pub fn record_count(records: &[u8]) -> u64 {
    let mut n = 0u64;
    let mut at = 0usize;
    while records.len() >= at + HEADER_LEN {
        let b = &records[at..];
        let Ok(len) = usize::try_from(be_i32(b, 8)) else {
            break;
        };
        let total = len + 12;
        if total < HEADER_LEN || b.len() < total || b[16] != 2 {
            break;
        }
        if be_i16(b, ATTRIBUTES_AT) & CONTROL == 0 {
            n += u64::try_from(be_i32(b, RECORD_COUNT_AT)).unwrap_or(0);
        }
        at += total;
    }
    n
}

/// What a checksum of a batch covers besides its records: both leave out the producer id,
/// epoch and sequence (the proxy clears them, and a copy by another producer changes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covering {
    /// The batch as stored: a copy between clusters keeps its timestamps.
    Stored,
    /// The batch as a client means it: a client may rebuild a batch for a retry with new
    /// batch timestamps (kafkajs stamps `Date.now()` at each attempt), and it stays the
    /// same batch.
    Sent,
}

/// The parts of one whole batch `b` (from its base offset on) a checksum or comparison
/// covers: attributes and offset delta, the timestamps for [`Covering::Stored`], then the
/// record count and records.
pub fn covered(b: &[u8], covering: Covering) -> [&[u8]; 2] {
    let head_end = match covering {
        Covering::Stored => PRODUCER_ID_AT,
        Covering::Sent => TIMESTAMPS_AT,
    };
    [
        b.get(ATTRIBUTES_AT..head_end).unwrap_or_default(),
        b.get(RECORD_COUNT_AT..).unwrap_or_default(),
    ]
}

/// CRC32C of what [`covered`] returns.
pub fn covered_sum(b: &[u8], covering: Covering) -> u32 {
    let [head, tail] = covered(b, covering);
    crc32c::crc32c_append(crc32c::crc32c(head), tail)
}

/// The first batch's header, if the bytes start with a whole magic-2 batch.
pub fn first(records: &[u8]) -> Option<BatchHeader> {
    batches(records).first().map(|(h, _)| *h)
}

/// A producer id, epoch and first sequence to write into a partition's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchStamp {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub sequence: i32,
}

/// The sequence `count` records after `sequence`: sequences wrap from `i32::MAX` to 0, as
/// Kafka's do.
pub fn sequence_after(sequence: i32, count: i64) -> i32 {
    let next = (i64::from(sequence) + count).rem_euclid(i64::from(i32::MAX) + 1);
    i32::try_from(next).unwrap_or(0)
}

/// Writes producer id, epoch and sequence into the whole batch `b` and recomputes its CRC.
/// Where a batch's producer patch starts: its CRC.
pub const PATCH_AT: usize = CRC_AT;
/// Where a batch's producer patch ends: after its base sequence.
pub const PATCH_END: usize = BASE_SEQUENCE_AT + 4;
/// Bytes in a producer patch.
pub const PATCH_LEN: usize = PATCH_END - PATCH_AT;

/// `batch`'s bytes from its CRC to the end of its base sequence with the producer fields set
/// and the CRC changed to match. The new CRC follows from the old one and the changed fields
/// alone (CRC32C is linear: the difference the fields make, carried past the records behind
/// them), so the records are not read; a batch that arrived corrupt stays so.
pub fn producer_patch(
    batch: &[u8],
    producer_id: i64,
    epoch: i16,
    sequence: i32,
) -> [u8; PATCH_LEN] {
    let mut out = [0u8; PATCH_LEN];
    out.copy_from_slice(&batch[PATCH_AT..PATCH_END]);
    let fields = |o: &[u8; PATCH_LEN]| crc32c::crc32c(&o[ATTRIBUTES_AT - PATCH_AT..]);
    let before = fields(&out);
    let at = |field: usize| field - PATCH_AT;
    out[at(PRODUCER_ID_AT)..at(PRODUCER_ID_AT) + 8].copy_from_slice(&producer_id.to_be_bytes());
    out[at(PRODUCER_EPOCH_AT)..at(PRODUCER_EPOCH_AT) + 2].copy_from_slice(&epoch.to_be_bytes());
    out[at(BASE_SEQUENCE_AT)..at(BASE_SEQUENCE_AT) + 4].copy_from_slice(&sequence.to_be_bytes());
    let after = fields(&out);
    let old = u32::from_be_bytes([out[0], out[1], out[2], out[3]]);
    let rest = batch.len() - PATCH_END;
    let crc = old ^ crc_shift(before ^ after, rest);
    out[..4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// CRC32C's polynomial, reflected.
const CRC32C_POLY: u32 = 0x82F6_3B78;

/// `a * b` modulo the CRC polynomial (bit-reflected, as the CRC register holds it).
const fn crc_mul(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut m = 1u32 << 31;
    while m != 0 {
        if a & m != 0 {
            product ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC32C_POLY
        } else {
            b >> 1
        };
    }
    product
}

/// `x^(2^k)` modulo the CRC polynomial, for k = 0..64 (reflected).
const X_POW_2K: [u32; 64] = {
    let mut t = [0u32; 64];
    t[0] = 1 << 30; // x^1
    let mut k = 1;
    while k < 64 {
        t[k] = crc_mul(t[k - 1], t[k - 1]);
        k += 1;
    }
    t
};

/// The CRC register `x` carried past `n` zero bytes: what a difference in a batch's leading
/// bytes makes to its CRC after `n` more bytes. A few multiplications by the table's powers
/// (`crc32c_combine` with a zero second CRC computes the same, slower).
fn crc_shift(x: u32, n: usize) -> u32 {
    // x^(8n) = product of x^(2^k) over the set bits of 8n.
    let mut bits = (n as u64).wrapping_shl(3);
    let mut k = 0;
    let mut power = 1u32 << 31; // x^0
    while bits != 0 {
        if bits & 1 != 0 {
            power = crc_mul(X_POW_2K[k], power);
        }
        bits >>= 1;
        k += 1;
    }
    crc_mul(power, x)
}

fn set_producer(b: &mut [u8], producer_id: i64, epoch: i16, sequence: i32) {
    let patch = producer_patch(b, producer_id, epoch, sequence);
    b[PATCH_AT..PATCH_END].copy_from_slice(&patch);
}

/// One batch's producer patch: where it goes in the bytes the batches were found in.
pub struct Patch {
    /// Offset of the batch's CRC in those bytes.
    pub at: usize,
    /// The new bytes from the CRC to the end of the base sequence.
    pub bytes: [u8; PATCH_LEN],
}

/// [`stamp_in_place`] without touching `records`: the patches that would stamp them (each
/// `at` counted from `offset`, where `records` start in the bytes they belong to), and the
/// sequence after the last batch.
pub fn stamp_patches(
    records: &[u8],
    offset: usize,
    stamp: BatchStamp,
    out: &mut Vec<Patch>,
) -> i32 {
    let mut sequence = stamp.sequence;
    for (h, range) in batches(records) {
        out.push(Patch {
            at: offset + range.start + PATCH_AT,
            bytes: producer_patch(&records[range], stamp.producer_id, stamp.epoch, sequence),
        });
        sequence = sequence_after(sequence, h.offsets);
    }
    sequence
}

/// [`clear_in_place`] without touching `records`: the patches that would clear them (see
/// [`stamp_patches`]).
pub fn clear_patches(records: &[u8], offset: usize, out: &mut Vec<Patch>) {
    for (h, range) in batches(records) {
        if h.producer_id >= 0 {
            out.push(Patch {
                at: offset + range.start + PATCH_AT,
                bytes: producer_patch(&records[range], -1, -1, -1),
            });
        }
    }
}

/// Gives the batches of `records` `stamp`'s producer id and epoch, with sequences from
/// `stamp.sequence` on (each batch after the records of those before it); returns the
/// sequence after the last batch. A broker that checks sequences refuses every batch after
/// one it did not take, so a write can never land past a gap.
pub fn stamp_in_place(records: &mut [u8], stamp: BatchStamp) -> i32 {
    let mut sequence = stamp.sequence;
    for (h, range) in batches(records) {
        set_producer(
            &mut records[range],
            stamp.producer_id,
            stamp.epoch,
            sequence,
        );
        sequence = sequence_after(sequence, h.offsets);
    }
    sequence
}

/// Clears producer id, epoch and sequence from the batches of `records` that carry them.
pub fn clear_in_place(records: &mut [u8]) {
    for (h, range) in batches(records) {
        if h.producer_id >= 0 {
            set_producer(&mut records[range], -1, -1, -1);
        }
    }
}

/// Makes the batches of `records` plain: no producer fields and not transactional, with
/// their CRCs recomputed. A committed transaction's batches are written this way, so no
/// cluster ever holds a transaction marker or an open transaction of a client's.
pub fn plain_in_place(records: &mut [u8]) {
    for (_, range) in batches(records) {
        let b = &mut records[range];
        let attributes = be_i16(b, ATTRIBUTES_AT) & !TRANSACTIONAL;
        b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
        b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&(-1i16).to_be_bytes());
        b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// A batch of `n` records (key `k{i}`, value `v{i}`) of `producer_id` at `epoch`, sequences
/// from `seq` on (-1 when not idempotent), stamped from `at` on: for unit tests.
#[cfg(test)]
pub(crate) fn encoded(
    producer_id: i64,
    epoch: i16,
    seq: i32,
    n: i64,
    at: i64,
    transactional: bool,
) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // offset - sequence must be constant for one batch (-1 first when not idempotent).
            sequence: seq + i as i32,
            timestamp: at + i,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).expect("encode");
    buf.freeze()
}

#[cfg(test)]
mod shift_tests {
    use super::*;

    #[test]
    fn shifting_changes_only_base_offsets_and_keeps_a_partial_tail() {
        let batch = |base: i64, body: usize| {
            let mut b = base.to_be_bytes().to_vec();
            b.extend((body as i32).to_be_bytes());
            b.extend(vec![7u8; body]);
            b
        };
        let mut records = batch(100, 20);
        records.extend(batch(105, 30));
        records.extend(&batch(110, 40)[..15]); // truncated: header whole, body cut
        let shifted = shift_base_offsets(&records, 100);
        assert_eq!(shifted.len(), records.len());
        assert_eq!(be_i64(&shifted, 0), 0);
        assert_eq!(be_i64(&shifted, 32), 5);
        assert_eq!(be_i64(&shifted, 32 + 42), 10);
        assert_eq!(&shifted[12..32], &records[12..32], "bodies untouched");
        assert_eq!(&shifted[32 + 42 + 8..], &records[32 + 42 + 8..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn batch(producer_id: i64, seq: i32, n: i64) -> Bytes {
        stamped(producer_id, seq, n, 1_700_000_000_000)
    }

    /// A batch whose records are stamped from `at` on.
    fn stamped(producer_id: i64, seq: i32, n: i64, at: i64) -> Bytes {
        let epoch = if producer_id < 0 { -1 } else { 3 };
        encoded(producer_id, epoch, seq, n, at, false)
    }

    #[test]
    fn reads_headers_of_concatenated_batches() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&batch(7, 10, 3));
        all.extend_from_slice(&batch(-1, -1, 2));
        let list = batches(&all);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].0.producer_id, 7);
        assert_eq!(list[0].0.base_sequence, 10);
        assert_eq!(list[0].0.offsets, 3);
        assert_eq!(list[1].0.producer_id, -1);
        assert_eq!(list[1].0.offsets, 2);
        // A truncated tail is not a batch.
        assert_eq!(batches(&all[..all.len() - 1]).len(), 1);
    }

    #[test]
    fn clearing_keeps_records_and_a_valid_crc() {
        let mut cleared = BytesMut::from(&batch(42, 5, 4)[..]);
        clear_in_place(&mut cleared);
        let stripped = cleared.freeze();
        let h = first(&stripped).expect("header");
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (-1, -1, -1)
        );
        // The decoder verifies the CRC.
        let mut buf = stripped.clone();
        let set = RecordBatchDecoder::decode(&mut buf).expect("valid batch");
        let keys: Vec<_> = set.records.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[3].as_deref(), Some(&b"k3"[..]));
        let plain = batch(-1, -1, 2);
        let mut untouched = BytesMut::from(&plain[..]);
        clear_in_place(&mut untouched);
        assert_eq!(
            untouched.freeze(),
            plain,
            "a batch without producer id is left as is"
        );
    }

    #[test]
    fn a_transactional_batch_made_plain_keeps_its_records_with_a_valid_crc() {
        let one = encoded(77, 4, 10, 3, 1_700_000_000_000, true);
        let mut buf = BytesMut::from(&one[..]);
        buf.extend_from_slice(&buf.clone());
        assert!(batches(&buf).iter().all(|(h, _)| h.transactional));
        plain_in_place(&mut buf);
        let list = batches(&buf);
        assert_eq!(list.len(), 2);
        for (h, _) in &list {
            assert!(!h.transactional);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (-1, -1, -1)
            );
        }
        let mut frozen = buf.freeze();
        let set = RecordBatchDecoder::decode(&mut frozen).expect("valid CRC");
        let values: Vec<_> = set.records.iter().map(|r| r.value.clone()).collect();
        assert_eq!(values[2].as_deref(), Some(&b"v2"[..]));
        assert!(set.records.iter().all(|r| !r.transactional));
    }

    /// An idempotent batch of 4 records, then a plain one of 3.
    fn two_batches() -> BytesMut {
        let mut all = BytesMut::new();
        all.extend_from_slice(&batch(42, 5, 4));
        all.extend_from_slice(&batch(-1, -1, 3));
        all
    }

    #[test]
    fn stamping_numbers_each_batch_after_the_records_before_it_with_a_valid_crc() {
        let all = two_batches();
        let s = BatchStamp {
            producer_id: 9,
            epoch: 2,
            sequence: i32::MAX - 1,
        };
        let mut stamped = BytesMut::from(&all[..]);
        let next = stamp_in_place(&mut stamped, s);
        let stamped = stamped.freeze();
        let list = batches(&stamped);
        let ids: Vec<_> = list
            .iter()
            .map(|(h, _)| (h.producer_id, h.producer_epoch, h.base_sequence))
            .collect();
        // Four records from MAX - 1 wrap to 2; three more end at 5.
        assert_eq!(ids, vec![(9, 2, i32::MAX - 1), (9, 2, 2)]);
        assert_eq!(next, 5);
        for (_, range) in list {
            assert_eq!(
                covered_sum(&all[range.clone()], Covering::Stored),
                covered_sum(&stamped[range.clone()], Covering::Stored),
                "the stored checksum leaves the stamp out"
            );
            let mut one = stamped.slice(range);
            RecordBatchDecoder::decode(&mut one).expect("valid CRC");
        }
        assert_eq!(sequence_after(3, 4), 7);
        assert_eq!(sequence_after(i32::MAX, 1), 0);
    }

    #[test]
    fn the_crc_shift_is_the_crates_combine_with_nothing_after() {
        for (x, n) in [
            (0x1234_5678, 0),
            (1, 1),
            (0xdead_beef, 61),
            (7, 1_048_576),
            (9, 123_457),
        ] {
            assert_eq!(
                crc_shift(x, n),
                crc32c::crc32c_combine(x, 0, n),
                "x {x:#x}, n {n}"
            );
        }
    }

    #[test]
    fn a_patched_crc_equals_one_computed_over_the_whole_batch() {
        for (pid, n) in [(42, 1), (-1, 7), (5, 300)] {
            let b = batch(pid, 0, n);
            for (id, epoch, seq) in [(9, 2, 0), (-1, -1, -1), (i64::MAX, i16::MAX, i32::MAX)] {
                let mut full = b.to_vec();
                full[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&id.to_be_bytes());
                full[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2]
                    .copy_from_slice(&epoch.to_be_bytes());
                full[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&seq.to_be_bytes());
                let crc = crc32c::crc32c(&full[ATTRIBUTES_AT..]);
                full[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
                let patch = producer_patch(&b, id, epoch, seq);
                assert_eq!(
                    &patch[..],
                    &full[PATCH_AT..PATCH_END],
                    "pid {pid}, {n} records"
                );
            }
        }
        // A corrupt batch stays corrupt: the patch carries the difference, not a fresh CRC.
        let mut bad = batch(42, 0, 3).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut patched = bad.clone();
        patched[PATCH_AT..PATCH_END].copy_from_slice(&producer_patch(&bad, 1, 0, 0));
        let mut one = Bytes::from(patched);
        assert!(RecordBatchDecoder::decode(&mut one).is_err());
    }

    #[test]
    fn patches_stamp_as_stamping_in_place_does() {
        let all = two_batches();
        let s = BatchStamp {
            producer_id: 9,
            epoch: 2,
            sequence: 7,
        };
        let mut in_place = BytesMut::from(&all[..]);
        let next = stamp_in_place(&mut in_place, s);
        let mut patches = Vec::new();
        // As if the records started 100 bytes into a frame.
        assert_eq!(stamp_patches(&all, 100, s, &mut patches), next);
        let mut patched = all.to_vec();
        for p in &patches {
            patched[p.at - 100..p.at - 100 + PATCH_LEN].copy_from_slice(&p.bytes);
        }
        assert_eq!(&patched[..], &in_place[..]);
        let mut cleared = BytesMut::from(&all[..]);
        clear_in_place(&mut cleared);
        patches.clear();
        clear_patches(&all, 0, &mut patches);
        assert_eq!(
            patches.len(),
            1,
            "only the batch with a producer id changes"
        );
        let mut patched = all.to_vec();
        patched[patches[0].at..patches[0].at + PATCH_LEN].copy_from_slice(&patches[0].bytes);
        assert_eq!(&patched[..], &cleared[..]);
    }

    #[test]
    fn a_batch_restamped_for_a_retry_is_the_same_sent_batch_but_not_the_same_stored_one() {
        let first = batch(7, 0, 5);
        // kafkajs rebuilds a retried batch at a later Date.now(): the batch timestamps move,
        // the records (stamped relative to the first) do not.
        let retry = stamped(7, 0, 5, 1_700_000_000_250);
        assert_ne!(first, retry);
        assert_eq!(
            covered_sum(&first, Covering::Sent),
            covered_sum(&retry, Covering::Sent)
        );
        assert_ne!(
            covered_sum(&first, Covering::Stored),
            covered_sum(&retry, Covering::Stored)
        );
        // Other records are another batch either way.
        let other = batch(7, 0, 6);
        assert_ne!(
            covered_sum(&first, Covering::Sent),
            covered_sum(&other, Covering::Sent)
        );
        // The producer id and sequence are left out: a copy cleared of them is the same.
        let mut cleared = BytesMut::from(&first[..]);
        clear_in_place(&mut cleared);
        assert_eq!(
            covered_sum(&first, Covering::Sent),
            covered_sum(&cleared, Covering::Sent)
        );
    }
}

/// The offset after the last complete record batch in `records`, by walking batch headers
/// (base offset, length, last offset delta) without decoding any record. `None` when there
/// is no complete batch.
pub fn next_offset(records: &[u8]) -> Option<i64> {
    walk(records, usize::MAX, true).1
}

/// How many leading bytes of `records` are complete batches (a fetch may end in a cut one).
pub fn complete_batches_len(records: &[u8]) -> usize {
    walk(records, usize::MAX, true).0
}

/// How many leading bytes of `records` are complete batches within `limit` bytes. With
/// `at_least_one`, the first batch counts even when it is larger (a reader must make
/// progress, as Kafka answers a fetch whose first batch exceeds its limit).
pub fn batches_within(records: &[u8], limit: usize, at_least_one: bool) -> usize {
    walk(records, limit, at_least_one).0
}

fn walk(records: &[u8], limit: usize, at_least_one: bool) -> (usize, Option<i64>) {
    const HEADER: usize = 12; // base offset (8) + batch length (4)
    const LAST_OFFSET_DELTA: usize = 23; // from the batch start
    let mut pos = 0usize;
    let mut next = None;
    let be_i64 = |b: &[u8]| b.try_into().ok().map(i64::from_be_bytes);
    let be_i32 = |b: &[u8]| b.try_into().ok().map(i32::from_be_bytes);
    while records.len() >= pos + HEADER {
        let (Some(base), Some(len)) = (
            be_i64(&records[pos..pos + 8]),
            be_i32(&records[pos + 8..pos + 12]),
        ) else {
            break;
        };
        let Ok(len) = usize::try_from(len) else { break };
        let end = pos + HEADER + len;
        if end > records.len() || end < pos + LAST_OFFSET_DELTA + 4 {
            break; // a truncated trailing batch, as fetch responses may end with
        }
        if end > limit && (pos > 0 || !at_least_one) {
            break;
        }
        let Some(delta) = be_i32(&records[pos + LAST_OFFSET_DELTA..pos + LAST_OFFSET_DELTA + 4])
        else {
            break;
        };
        next = Some(base + i64::from(delta) + 1);
        pos = end;
    }
    (pos, next)
}

#[cfg(test)]
mod walk_tests {
    use super::*;

    fn batch(base: i64, delta: i32, body: usize) -> Vec<u8> {
        let len = (LAST + 4 - 12 + body) as i32;
        let mut b = base.to_be_bytes().to_vec();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0; 11]); // leader epoch, magic, crc, attributes
        b.extend_from_slice(&delta.to_be_bytes());
        b.extend(std::iter::repeat_n(7u8, body));
        b
    }
    const LAST: usize = 23;

    #[test]
    fn cuts_at_batch_boundaries_within_a_limit() {
        let mut b = batch(0, 9, 100);
        let one = b.len();
        b.extend(batch(10, 9, 100));
        assert_eq!(batches_within(&b, 2 * one, false), 2 * one);
        assert_eq!(batches_within(&b, 2 * one - 1, false), one);
        assert_eq!(batches_within(&b, 10, false), 0);
        assert_eq!(batches_within(&b, 10, true), one);
    }

    #[test]
    fn walks_batches_and_ignores_a_truncated_tail() {
        let mut r = batch(0, 9, 30);
        r.extend(batch(10, 4, 5));
        assert_eq!(next_offset(&r), Some(15));
        let mut truncated = r.clone();
        truncated.extend(&batch(15, 3, 40)[..20]);
        assert_eq!(next_offset(&truncated), Some(15));
        assert_eq!(next_offset(&[]), None);
        assert_eq!(next_offset(&batch(0, 1, 3)[..10]), None);
        // A negative length is garbage, not a panic.
        let mut bad = 5i64.to_be_bytes().to_vec();
        bad.extend_from_slice(&(-4i32).to_be_bytes());
        bad.extend_from_slice(&[0; 20]);
        assert_eq!(next_offset(&bad), None);
    }
}
