use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::graphql::extensions::OperationMetrics;
use crate::http::metrics::Metrics;

pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub struct Query;

#[Object]
impl Query {
    /// The server's version (semver of the `plugs` crate).
    async fn api_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    crate::graphql::types::register(Schema::build(Query, EmptyMutation, EmptySubscription))
}

/// The schema the server runs, with its database and metrics in the context.
pub fn build_schema(db: DatabaseConnection, metrics: Metrics, introspection: bool) -> AppSchema {
    let mut b = builder().data(db).extension(OperationMetrics::new(metrics));
    if !introspection {
        b = b.disable_introspection();
    }
    b.finish()
}

/// The SDL committed as `schema.graphql` and printed by `plugs schema`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
