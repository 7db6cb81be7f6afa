use async_graphql::{MergedObject, Object, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::auth::Auth;
use crate::graphql::accounts::{AccountMutation, AccountQuery};
use crate::graphql::agenda::{AgendaMutation, AgendaQuery};
use crate::graphql::analytics::{AnalyticsMutation, AnalyticsQuery, AnalyticsRetention};
use crate::graphql::audit::AuditQuery;
use crate::graphql::contacts::{ContactsMutation, ContactsQuery};
use crate::graphql::events::{EventsMutation, EventsQuery};
use crate::graphql::expenses::{ExpensesMutation, ExpensesQuery};
use crate::graphql::imports::{ImportsMutation, ImportsQuery};
use crate::graphql::integrations::{IntegrationsMutation, IntegrationsQuery};
use crate::graphql::interactions::{InteractionsMutation, InteractionsQuery};
use crate::graphql::jobs::JobsQuery;
use crate::graphql::media::{
    MediaCollectionMutation, MediaCollectionQuery, MediaMutation, MediaQuery,
};
use crate::graphql::notifications::{NotificationsMutation, NotificationsQuery};
use crate::graphql::organizations::{OrganizationsMutation, OrganizationsQuery};
use crate::graphql::privacy::{PrivacyMutation, PrivacyQuery};
use crate::graphql::registrations::RegistrationsMutation;
use crate::graphql::subscriptions::Subscription;
use crate::graphql::two_factor::{TwoFactorMutation, TwoFactorQuery};
use crate::graphql::users::{UsersMutation, UsersQuery};
use crate::graphql::webhooks::{WebhookSettings, WebhooksMutation, WebhooksQuery};

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

// Every domain's queries; a new domain adds its own `XQuery` here.
#[derive(MergedObject, Default)]
pub struct Query(
    MetaQuery,
    AccountQuery,
    TwoFactorQuery,
    OrganizationsQuery,
    UsersQuery,
    AuditQuery,
    ContactsQuery,
    ImportsQuery,
    PrivacyQuery,
    AnalyticsQuery,
    InteractionsQuery,
    EventsQuery,
    AgendaQuery,
    ExpensesQuery,
    MediaQuery,
    MediaCollectionQuery,
    WebhooksQuery,
    IntegrationsQuery,
    NotificationsQuery,
    JobsQuery,
);

// Every domain's mutations; a new domain adds its own `XMutation` here.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AccountMutation,
    TwoFactorMutation,
    OrganizationsMutation,
    UsersMutation,
    ContactsMutation,
    ImportsMutation,
    PrivacyMutation,
    AnalyticsMutation,
    InteractionsMutation,
    EventsMutation,
    RegistrationsMutation,
    AgendaMutation,
    ExpensesMutation,
    MediaMutation,
    MediaCollectionMutation,
    WebhooksMutation,
    IntegrationsMutation,
    NotificationsMutation,
);

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    crate::graphql::types::register(Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription,
    ))
}

/// The schema the server runs, with its shared services in the context, twice: in
/// async-graphql's full validation mode, and in its `Fast` mode for documents that passed the
/// full validation before (`graphql::execute`, step 4). It has no extensions: limits, error
/// codes and metrics run around it (`graphql::execute`), and the objects of `graphql::fast`
/// rely on that (they run no per-field extension hooks).
pub fn build_schema(
    db: DatabaseConnection,
    auth: Auth,
    broker: crate::realtime::SharedBroker,
    storage: crate::storage::Storage,
    links: crate::services::media::Links,
    rate: crate::graphql::rate::RateLimits,
    config: &crate::config::Config,
) -> (AppSchema, AppSchema) {
    let build = |validation| {
        let mut b = builder()
            .validation_mode(validation)
            .data(rate.clone())
            .data(db.clone())
            .data(auth.clone())
            .data(broker.clone())
            .data(storage.clone())
            .data(links.clone())
            .data(crate::services::media::DirectUploads {
                max_bytes: config.media.direct_upload_bytes,
                ticket_ttl: config.media.upload_ticket_ttl,
            })
            .data(WebhookSettings {
                keyring: config.keyring.clone(),
                allow_private: config.webhook_allow_private,
            })
            .data(AnalyticsRetention(config.jobs.analytics_retention))
            .data(config.composer())
            .data(crate::graphql::loaders::LoaderDelay(config.loader_delay));
        if !config.introspection() {
            b = b.disable_introspection();
        }
        b.finish()
    };
    (
        build(async_graphql::ValidationMode::Strict),
        build(async_graphql::ValidationMode::Fast),
    )
}

/// The SDL committed as `schema.graphql` and printed by `plugs schema`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
