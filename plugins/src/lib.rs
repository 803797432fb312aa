//! Plugin hosts: the sandboxed wasmtime runtime, schema validation and quotas (filled by the WASM, schema and quota issues).
