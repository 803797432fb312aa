//! The one-buffer-per-batch record encoding between host and WASM plugin (little-endian):
//!
//! ```text
//! batch   := count:u32 record*
//! record  := offset_delta:i32 timestamp:i64 key:bytes value:bytes header_count:u32 header*
//! header  := name:str value:bytes
//! bytes   := len:i32 (-1 = null) data[len]
//! str     := len:u32 data[len] (UTF-8)
//! ```
//!
//! Decoding borrows from the buffer: record views point into it, nothing is copied.

use crate::{HeaderView, OwnedRecord, RecordView};

/// A buffer that is not a valid batch encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte position where decoding stopped.
    pub at: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad record buffer at byte {}: {}", self.at, self.reason)
    }
}

impl std::error::Error for WireError {}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(WireError {
                at: self.at,
                reason: what,
            });
        };
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        self.u32(what).map(|v| v as i32)
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    fn bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        match self.i32(what)? {
            -1 => Ok(None),
            n if n < 0 => Err(WireError {
                at: self.at - 4,
                reason: "negative length",
            }),
            n => self.take(n as usize, what).map(Some),
        }
    }
    fn str(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        let n = self.u32(what)? as usize;
        let at = self.at;
        let b = self.take(n, what)?;
        std::str::from_utf8(b).map_err(|_| WireError {
            at,
            reason: "header name is not UTF-8",
        })
    }
}

/// Decodes a batch buffer into borrowed record views.
pub fn decode(buf: &[u8]) -> Result<Vec<RecordView<'_>>, WireError> {
    let mut r = Reader { buf, at: 0 };
    let count = r.u32("record count")? as usize;
    // Every record takes at least 24 bytes: a hostile count cannot make us allocate more.
    let mut out = Vec::with_capacity(count.min(buf.len() / 24));
    for _ in 0..count {
        let offset_delta = r.i32("offset delta")?;
        let timestamp = r.i64("timestamp")?;
        let key = r.bytes("key")?;
        let value = r.bytes("value")?;
        let n = r.u32("header count")? as usize;
        let mut headers = Vec::with_capacity(n.min(buf.len() / 8));
        for _ in 0..n {
            let name = r.str("header name")?;
            let value = r.bytes("header value")?;
            headers.push(HeaderView { name, value });
        }
        out.push(RecordView {
            offset_delta,
            timestamp,
            key,
            value,
            headers,
        });
    }
    if r.at != buf.len() {
        return Err(WireError {
            at: r.at,
            reason: "trailing bytes after the last record",
        });
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// Encodes record views (the host, before a call).
pub fn encode(records: &[RecordView<'_>]) -> Vec<u8> {
    let size: usize = records
        .iter()
        .map(|r| {
            28 + r.key.map_or(0, <[u8]>::len)
                + r.value.map_or(0, <[u8]>::len)
                + r.headers
                    .iter()
                    .map(|h| 8 + h.name.len() + h.value.map_or(0, <[u8]>::len))
                    .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.offset_delta.to_le_bytes());
        out.extend_from_slice(&r.timestamp.to_le_bytes());
        put_bytes(&mut out, r.key);
        put_bytes(&mut out, r.value);
        out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
        for h in &r.headers {
            out.extend_from_slice(&(h.name.len() as u32).to_le_bytes());
            out.extend_from_slice(h.name.as_bytes());
            put_bytes(&mut out, h.value);
        }
    }
    out
}

/// Encodes records a plugin emits (offset deltas in order; timestamps 0: the host keeps the
/// originals' where the record count is unchanged).
pub fn encode_owned(records: &[OwnedRecord]) -> Vec<u8> {
    let views: Vec<RecordView<'_>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| RecordView {
            offset_delta: i as i32,
            timestamp: 0,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| HeaderView {
                    name: n,
                    value: v.as_deref(),
                })
                .collect(),
        })
        .collect();
    encode(&views)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_nulls_headers_and_order() {
        let records = vec![
            RecordView {
                offset_delta: 0,
                timestamp: 7,
                key: None,
                value: Some(b"{\"a\":1}"),
                headers: vec![HeaderView {
                    name: "h",
                    value: None,
                }],
            },
            RecordView {
                offset_delta: 1,
                timestamp: 8,
                key: Some(b"k"),
                value: None,
                headers: vec![],
            },
        ];
        let buf = encode(&records);
        assert_eq!(decode(&buf).expect("decodes"), records);
    }

    #[test]
    fn hostile_buffers_are_errors_not_panics() {
        assert!(decode(&[]).is_err());
        assert!(
            decode(&u32::MAX.to_le_bytes()).is_err(),
            "huge count, no records"
        );
        let mut buf = encode(&[RecordView {
            offset_delta: 0,
            timestamp: 0,
            key: None,
            value: Some(b"x"),
            headers: vec![],
        }]);
        buf.push(0);
        assert_eq!(
            decode(&buf).map(|_| ()).expect_err("trailing byte").reason,
            "trailing bytes after the last record"
        );
        buf.truncate(buf.len() - 3);
        assert!(decode(&buf).is_err());
    }
}
