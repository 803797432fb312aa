//! Kafka framing: a 4-byte big-endian length, then the message. Reading enforces a size limit
//! before allocating; the request header is peeked without decoding the body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed after {got} of {want} bytes of a frame")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes the length prefix announced.
        want: usize,
    },
    /// The length prefix is negative or above the limit.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Announced size.
        size: i64,
        /// The configured limit.
        limit: u32,
    },
    /// A socket error.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame body (without its length prefix), refusing frames over `limit` bytes.
/// Reads nothing past the frame: for exchanges before a stream is handed on (a login).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, limit: u32) -> Result<Bytes, FrameError> {
    let want = read_len(r, limit).await?;
    read_body(r, want).await
}

/// Reads a frame's length prefix, refusing frames over `limit` bytes.
async fn read_len<R: AsyncRead + Unpin>(r: &mut R, limit: u32) -> Result<usize, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    frame_size(i32::from_be_bytes(len), limit)
}

/// Reads a frame body of `want` bytes.
async fn read_body<R: AsyncRead + Unpin>(r: &mut R, want: usize) -> Result<Bytes, FrameError> {
    // Grow with the data actually received, so a peer announcing a huge frame and sending
    // nothing holds no more than one step of memory.
    const STEP: usize = 1 << 20;
    let mut buf = BytesMut::with_capacity(want.min(STEP));
    while buf.len() < want {
        if buf.capacity() == buf.len() {
            buf.reserve((want - buf.len()).min(STEP));
        }
        let spare = buf.capacity() - buf.len();
        let n = (&mut *r)
            .take(spare.min(want - buf.len()) as u64)
            .read_buf(&mut buf)
            .await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: buf.len(),
                want,
            });
        }
    }
    Ok(buf.freeze())
}

/// Reads frames from a stream through one buffer. Each socket read takes whatever has
/// arrived, several frames at once on a busy connection, and each frame is a slice of that
/// buffer: one read call per burst instead of two per frame, and no copy. Cancel-safe: bytes
/// read by a dropped [`FrameReader::next`] stay buffered for the next call.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    limit: u32,
}

/// Room asked for when no frame is partly read: enough for a burst of small frames.
const READ_AHEAD: usize = 16 * 1024;

/// At most this much room is added per read for a large frame, so a peer announcing a huge
/// frame and sending nothing holds no more than this of memory.
const STEP: usize = 1 << 20;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `inner`, refusing any over `limit` bytes.
    pub fn new(inner: R, limit: u32) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            limit,
        }
    }

    /// The next frame body (without its length prefix).
    pub async fn next(&mut self) -> Result<Bytes, FrameError> {
        loop {
            let want = match self.buf.get(..4) {
                Some(&[a, b, c, d]) => {
                    Some(frame_size(i32::from_be_bytes([a, b, c, d]), self.limit)?)
                }
                _ => None,
            };
            let room = match want {
                Some(want) if self.buf.len() >= 4 + want => {
                    self.buf.advance(4);
                    return Ok(self.buf.split_to(want).freeze());
                }
                Some(want) => (4 + want - self.buf.len()).clamp(READ_AHEAD, STEP),
                None => READ_AHEAD,
            };
            if self.buf.capacity() - self.buf.len() < room {
                self.buf.reserve(room);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Err(match want {
                    None if self.buf.is_empty() => FrameError::Closed,
                    None => FrameError::Truncated {
                        got: self.buf.len(),
                        want: 4,
                    },
                    Some(want) => FrameError::Truncated {
                        got: self.buf.len() - 4,
                        want,
                    },
                });
            }
        }
    }
}

/// A length prefix's frame size, refused when negative or over `limit`.
fn frame_size(size: i32, limit: u32) -> Result<usize, FrameError> {
    match usize::try_from(size) {
        Ok(n) if size as u32 <= limit => Ok(n),
        _ => Err(FrameError::TooLarge {
            size: size as i64,
            limit,
        }),
    }
}

/// The fixed start of every request header, read without decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPeek {
    /// Raw API key (may be one this proxy does not know).
    pub api_key: i16,
    /// Requested API version.
    pub api_version: i16,
    /// Correlation id to echo in the response.
    pub correlation_id: i32,
}

/// Peeks api key, version and correlation id; `None` when the frame is shorter than that.
pub fn peek_header(frame: &[u8]) -> Option<HeaderPeek> {
    if frame.len() < 8 {
        return None;
    }
    let mut b = &frame[..8];
    Some(HeaderPeek {
        api_key: b.get_i16(),
        api_version: b.get_i16(),
        correlation_id: b.get_i32(),
    })
}

/// Decodes the request header of a frame whose API key is known; returns it and the body,
/// not yet decoded.
fn split_request(api_key: ApiKey, mut frame: Bytes) -> anyhow::Result<(RequestHeader, Bytes)> {
    let version = peek_header(&frame)
        .ok_or_else(|| anyhow::anyhow!("frame shorter than a request header"))?
        .api_version;
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))?;
    Ok((header, frame))
}

/// Encodes `length ‖ response header ‖ body` into one buffer, ready to write.
pub fn encode_response<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> anyhow::Result<Bytes> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let hv = api_key.response_header_version(version);
    let size = header.compute_size(hv)? + body.compute_size(version)?;
    let mut out = BytesMut::with_capacity(4 + size);
    out.put_i32(size as i32);
    header.encode(&mut out, hv)?;
    body.encode(&mut out, version)?;
    Ok(out.freeze())
}

/// A request decoded from a client frame.
#[derive(Debug)]
pub struct DecodedRequest {
    /// The API.
    pub api_key: ApiKey,
    /// Its version.
    pub version: i16,
    /// The client id from the header.
    pub client_id: Option<StrBytes>,
    /// The decoded body (record batches inside stay undecoded `Bytes`).
    pub body: RequestKind,
    /// The frame as received (without its length prefix), for forwarding it unchanged.
    pub frame: Bytes,
}

/// Why a frame was not decoded into a request.
#[derive(Debug)]
pub enum Rejected {
    /// ApiVersions is answered from the header alone, whatever its version.
    ApiVersions(HeaderPeek),
    /// The connection should close; the reason is logged.
    Close(String),
}

/// Decodes a client request frame: header peek, API key, version range, header, body.
/// Never panics and never allocates more than the frame can hold (see the vendored
/// kafka-protocol patch), whatever the bytes.
pub fn decode_request(frame: Bytes) -> Result<(HeaderPeek, DecodedRequest), Rejected> {
    let Some(peek) = peek_header(&frame) else {
        return Err(Rejected::Close(format!(
            "frame of {} bytes is shorter than a request header",
            frame.len()
        )));
    };
    let Ok(api_key) = ApiKey::try_from(peek.api_key) else {
        return Err(Rejected::Close(format!(
            "unknown API key {} (version {})",
            peek.api_key, peek.api_version
        )));
    };
    if api_key == ApiKey::ApiVersions {
        return Err(Rejected::ApiVersions(peek));
    }
    let version = peek.api_version;
    let lib = api_key.valid_versions();
    if version < lib.min || version > lib.max {
        return Err(Rejected::Close(format!(
            "{api_key:?} v{version} is not a version this proxy can decode ({}..={})",
            lib.min, lib.max
        )));
    }
    let whole = frame.clone();
    let (header, mut body) = split_request(api_key, frame).map_err(|e| {
        Rejected::Close(format!(
            "malformed {api_key:?} v{version} request header: {e}"
        ))
    })?;
    let req = RequestKind::decode(api_key, &mut body, version)
        .map_err(|e| Rejected::Close(format!("malformed {api_key:?} v{version} request: {e}")))?;
    Ok((
        peek,
        DecodedRequest {
            api_key,
            version,
            client_id: header.client_id,
            body: req,
            frame: whole,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_enforces_the_limit() {
        let mut data: &[u8] = &[0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 9, 1];
        assert_eq!(
            read_frame(&mut data, 100).await.expect("frame").as_ref(),
            &[1, 2, 3]
        );
        assert!(matches!(
            read_frame(&mut data, 100).await,
            Err(FrameError::Truncated { got: 1, want: 9 })
        ));
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut big, 100).await,
            Err(FrameError::TooLarge { .. })
        ));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut neg, 100).await,
            Err(FrameError::TooLarge { .. })
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut empty, 100).await,
            Err(FrameError::Closed)
        ));
    }

    /// Frames `bodies` read back through a [`FrameReader`] from a pipe that passes at most
    /// `chunk` bytes per read, then the error that ends the stream.
    async fn through_reader(bytes: Vec<u8>, chunk: usize, limit: u32) -> (Vec<Bytes>, FrameError) {
        use tokio::io::AsyncWriteExt;
        let (mut tx, rx) = tokio::io::duplex(chunk);
        let writer = tokio::spawn(async move {
            let _ = tx.write_all(&bytes).await;
        });
        let mut reader = FrameReader::new(rx, limit);
        let mut frames = Vec::new();
        let end = loop {
            match reader.next().await {
                Ok(f) => frames.push(f),
                Err(e) => break e,
            }
        };
        // The writer may still be blocked on what the reader refused to read.
        drop(reader);
        let _ = writer.await;
        (frames, end)
    }

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    #[tokio::test]
    async fn the_buffered_reader_splits_frames_whatever_the_reads_and_names_the_end() {
        let big = vec![7u8; 100_000];
        let bodies: [&[u8]; 4] = [b"abc", b"", &big, b"z"];
        for chunk in [1, 3, 64, 1 << 20] {
            let (frames, end) = through_reader(framed(&bodies), chunk, 1 << 20).await;
            let got: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
            assert_eq!(got, bodies, "reads of {chunk} bytes");
            assert!(matches!(end, FrameError::Closed), "{end:?}");
        }
        let mut cut = framed(&[b"abc", b"defgh"]);
        cut.truncate(cut.len() - 2);
        let (frames, end) = through_reader(cut, 2, 100).await;
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(end, FrameError::Truncated { got: 3, want: 5 }),
            "{end:?}"
        );
        let (_, end) = through_reader(vec![0, 0], 8, 100).await;
        assert!(
            matches!(end, FrameError::Truncated { got: 2, want: 4 }),
            "{end:?}"
        );
        let (frames, end) = through_reader(framed(&[b"ok", &[0; 101]]), 8, 100).await;
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(
                end,
                FrameError::TooLarge {
                    size: 101,
                    limit: 100
                }
            ),
            "{end:?}"
        );
    }

    #[tokio::test]
    async fn a_dropped_read_keeps_what_it_read() {
        use tokio::io::AsyncWriteExt;
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(rx, 100);
        let bytes = framed(&[b"hello"]);
        tx.write_all(&bytes[..6]).await.expect("write");
        // The first read takes 6 bytes and waits for the rest; it is dropped meanwhile.
        let waited = tokio::time::timeout(crate::base::timing::from_ms(20), reader.next()).await;
        assert!(waited.is_err());
        tx.write_all(&bytes[6..]).await.expect("write");
        assert_eq!(reader.next().await.expect("frame").as_ref(), b"hello");
    }

    #[test]
    fn peeks_headers() {
        assert_eq!(
            peek_header(&[0, 1, 0, 2, 0, 0, 0, 7]).map(|h| h.correlation_id),
            Some(7)
        );
        assert_eq!(peek_header(&[0, 1, 0]), None);
    }

    mod props {
        use super::super::*;
        use kafka_protocol::messages::{
            MetadataRequest, TopicName, metadata_request::MetadataRequestTopic,
        };
        use proptest::prelude::*;

        fn encode_metadata(version: i16, topics: &[String]) -> Bytes {
            let header = RequestHeader::default()
                .with_request_api_key(ApiKey::Metadata as i16)
                .with_request_api_version(version)
                .with_correlation_id(7)
                .with_client_id(Some(StrBytes::from_static_str("prop")));
            let body = MetadataRequest::default().with_topics(Some(
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ));
            let mut frame = encode_request(ApiKey::Metadata, &header, &body)
                .expect("encodes")
                .freeze();
            let _ = frame.split_to(4);
            frame
        }

        /// Encodes `length ‖ request header ‖ body`, as a client would.
        fn encode_request<M: Encodable>(
            api_key: ApiKey,
            header: &RequestHeader,
            body: &M,
        ) -> anyhow::Result<BytesMut> {
            let version = header.request_api_version;
            let hv = api_key.request_header_version(version);
            let size = header.compute_size(hv)? + body.compute_size(version)?;
            let mut out = BytesMut::with_capacity(4 + size);
            out.put_i32(size as i32);
            header.encode(&mut out, hv)?;
            body.encode(&mut out, version)?;
            Ok(out)
        }

        proptest! {
            #[test]
            fn frames_round_trip(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let mut framed = (body.len() as i32).to_be_bytes().to_vec();
                framed.extend_from_slice(&body);
                let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
                let got = rt.block_on(async { read_frame(&mut framed.as_slice(), 1 << 20).await });
                let got = got.expect("frame");
                prop_assert_eq!(got.as_ref(), body.as_slice());
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode_request(Bytes::from(bytes));
            }

            #[test]
            fn plausible_headers_with_noise_never_panic(
                key in prop::sample::select(vec![0i16, 1, 2, 3, 8, 9, 10, 11, 12, 19, 20, 21, 22, 23, 32, 37, 42, 44, 60]),
                version in 0i16..14,
                noise in proptest::collection::vec(any::<u8>(), 0..256),
            ) {
                let mut frame = key.to_be_bytes().to_vec();
                frame.extend_from_slice(&version.to_be_bytes());
                frame.extend_from_slice(&1i32.to_be_bytes());
                frame.extend_from_slice(&noise);
                let _ = decode_request(Bytes::from(frame));
            }

            #[test]
            fn metadata_requests_round_trip(
                version in 1i16..=12,
                topics in proptest::collection::vec("[a-zA-Z0-9._-]{1,40}", 0..20),
            ) {
                let frame = encode_metadata(version, &topics);
                let (peek, req) = decode_request(frame).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                prop_assert_eq!(peek.correlation_id, 7);
                prop_assert_eq!(req.version, version);
                let RequestKind::Metadata(m) = req.body else {
                    return Err(TestCaseError::fail("not metadata"));
                };
                let names: Vec<String> = m.topics.unwrap_or_default().iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_owned())).collect();
                prop_assert_eq!(names, topics);
            }
        }
    }
}
