//! The GraphQL layer: schema, types, scalars. Resolvers stay thin and call `services`.

pub mod accounts;
pub mod connection;
pub mod context;
pub mod events;
pub mod extensions;
pub mod limits;
pub mod loaders;
pub mod networking;
pub mod notifications;
pub mod scalars;
pub mod schema;
pub mod subscriptions;
pub mod types;

pub use schema::{AppSchema, build_schema, sdl};
