//! The process around the proxy: listeners, the HTTP endpoints' wiring, background samplers,
//! and the server that assembles them.

pub mod http;
pub mod http_serve;
pub mod limits;
pub mod listen;
pub mod rates;
pub mod samplers;
pub mod server;
pub mod topics;
