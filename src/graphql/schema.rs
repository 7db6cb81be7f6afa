use async_graphql::{MergedObject, Object, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::auth::Auth;
use crate::config::Limits;
use crate::graphql::accounts::{AccountMutation, AccountQuery};
use crate::graphql::events::{EventsMutation, EventsQuery};
use crate::graphql::extensions::{ErrorCodes, OperationMetrics};
use crate::graphql::limits::QueryLimits;
use crate::graphql::networking::{NetworkingMutation, NetworkingQuery};
use crate::graphql::notifications::{NotificationsMutation, NotificationsQuery};
use crate::graphql::subscriptions::Subscription;
use crate::http::metrics::Metrics;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

#[derive(Default)]
pub struct MetaQuery;

#[Object]
impl MetaQuery {
    /// The server's version (semver of the `plugs` crate).
    async fn api_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[derive(MergedObject, Default)]
pub struct Query(
    MetaQuery,
    AccountQuery,
    NetworkingQuery,
    EventsQuery,
    NotificationsQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    AccountMutation,
    NetworkingMutation,
    EventsMutation,
    NotificationsMutation,
);

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    crate::graphql::types::register(Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription,
    ))
}

/// The schema the server runs, with its shared services in the context.
pub fn build_schema(
    db: DatabaseConnection,
    auth: Auth,
    metrics: Metrics,
    broker: crate::realtime::SharedBroker,
    config: &crate::config::Config,
) -> AppSchema {
    let limits: &Limits = &config.limits;
    let mut b = builder()
        .data(db)
        .data(auth)
        .data(broker)
        .data(crate::graphql::loaders::LoaderDelay(config.loader_delay))
        .extension(OperationMetrics::new(metrics))
        .extension(QueryLimits::new(limits))
        .extension(ErrorCodes);
    if !config.introspection() {
        b = b.disable_introspection();
    }
    b.finish()
}

/// The SDL committed as `schema.graphql` and printed by `plugs schema`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
