//! Bytes on the wire: Kafka frames and record batches, read without decoding records.

pub mod frame;
pub mod patched;
pub mod produce_spans;
pub mod records;
