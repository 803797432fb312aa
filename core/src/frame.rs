//! Kafka framing: a 4-byte big-endian length, then the message. Reading enforces a size limit
//! before allocating; the request header is peeked without decoding the body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
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
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, limit: u32) -> Result<Bytes, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(len);
    if size < 0 || size as u32 > limit {
        return Err(FrameError::TooLarge {
            size: size as i64,
            limit,
        });
    }
    let want = size as usize;
    let mut buf = BytesMut::with_capacity(want);
    while buf.len() < want {
        // read_buf appends at most the spare capacity, which is exactly what is left.
        let n = r.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: buf.len(),
                want,
            });
        }
    }
    Ok(buf.freeze())
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

/// A request decoded past its header: the header and the undecoded body.
pub struct RawRequest {
    /// The API.
    pub api_key: ApiKey,
    /// The decoded header.
    pub header: RequestHeader,
    /// The body, not yet decoded.
    pub body: Bytes,
}

/// Decodes the request header of a frame whose API key is known.
pub fn split_request(api_key: ApiKey, mut frame: Bytes) -> anyhow::Result<RawRequest> {
    let version = peek_header(&frame)
        .ok_or_else(|| anyhow::anyhow!("frame shorter than a request header"))?
        .api_version;
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))?;
    Ok(RawRequest {
        api_key,
        header,
        body: frame,
    })
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

/// Encodes `length ‖ request header ‖ body` for a backend broker.
pub fn encode_request<M: Encodable>(
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

    #[test]
    fn peeks_headers() {
        assert_eq!(
            peek_header(&[0, 1, 0, 2, 0, 0, 0, 7]).map(|h| h.correlation_id),
            Some(7)
        );
        assert_eq!(peek_header(&[0, 1, 0]), None);
    }
}
