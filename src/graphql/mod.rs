//! The GraphQL layer: schema, types, scalars, DataLoaders. Resolvers only translate: they read
//! arguments, call `services`, and convert models to GraphQL types. One module per domain,
//! the same word as in `services/` and `types/`.

pub mod accounts;
pub mod agenda;
pub mod analytics;
pub mod args;
pub mod audit;
pub mod connection;
pub mod contacts;
pub mod context;
pub mod events;
pub mod execute;
pub mod expenses;
pub mod fast;
pub mod imports;
pub mod integrations;
pub mod interactions;
pub mod jobs;
pub mod limits;
pub mod loaders;
pub mod media;
pub mod notifications;
pub mod organizations;
pub mod persisted;
pub mod privacy;
pub mod rate;
pub mod registrations;
pub mod scalars;
pub mod schema;
pub mod subscriptions;
pub mod two_factor;
pub mod types;
pub mod users;
pub mod webhooks;

pub use execute::Executor;
pub use schema::{AppSchema, build_schema, sdl};
