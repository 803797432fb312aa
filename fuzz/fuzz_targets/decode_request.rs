//! Any bytes a client can send as one frame: decoding must return a request or a reason to
//! close the connection, never panic, hang or allocate beyond the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kafkatwin_core::wire::frame::decode_request(bytes::Bytes::copy_from_slice(data));
});
