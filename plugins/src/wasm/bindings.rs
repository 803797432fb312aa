//! Host bindings generated from `plugin-sdk/wit/world.wit`.
#![allow(unsafe_code, missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "plugin",
});
