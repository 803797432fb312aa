//! Any buffer a WASM plugin can hand back as its batch: decoding must return records or an
//! error naming the byte, never panic or allocate beyond the buffer; a buffer that decodes
//! encodes back to the same bytes.
#![no_main]

use kafkatwin_plugin_sdk::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = wire::decode(data) {
        assert_eq!(wire::encode(&records), data, "decode then encode changed the buffer");
    }
});
