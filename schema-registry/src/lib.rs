//! KafkaTwin's schema registry: Avro, JSON Schema and Protobuf schemas under subjects, with
//! Confluent's ids, versions and compatibility levels, and the checks of records against
//! them that the proxy runs on produce.
//!
//! The registry is a model over a [`registry::Store`]: the proxy stores its state in the
//! control log on every cluster, so every instance serves the same ids.

pub mod error;
pub mod formats;
pub mod registry;
pub mod schema;
pub mod validate;

pub use error::RegistryError;
pub use registry::{Keeping, Registered, Registry, Store, StoreFuture, VersionSpec};
pub use schema::{Compatibility, Reference, SchemaBody, SchemaType};
pub use validate::{Violation, WireFormat};
