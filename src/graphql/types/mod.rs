//! GraphQL object types, one per table, built from the generated entity models with `From`.
//! Fields are the camelCase of the columns. Never exposed: `password_hash`, integration
//! `credentials`, `organization_id` (always the caller's), `is_deleted` (`deletedAt` says it).
//! Foreign keys appear as relation fields (`createdBy: User!`, ...) once their DataLoaders exist.

mod analytics;
mod events;
mod finance;
mod media;
mod networking;
mod organizations;
mod system;

pub use analytics::{ContactPerformanceSummary, EventAnalytics};
pub use events::{AgendaItem, Event, EventAttendee};
pub use finance::Expense;
pub use media::{Media, MediaCollection};
pub use networking::{Contact, ContactInteraction};
pub use organizations::{Organization, User};
pub use system::{AnalyticsEvent, AuditLog, Integration, IntegrationLog, Notification};

/// A relation's broken reference (a foreign key whose row is gone): an internal error.
pub(crate) fn dangling(what: &str) -> async_graphql::Error {
    crate::error::AppError::Internal(format!("dangling reference to a {what}")).into()
}

/// The row a required foreign key points at, through the request's batching loader.
pub(crate) async fn related<E, N>(
    loader: &crate::graphql::loaders::Cached<crate::graphql::loaders::ById<E>>,
    organization_id: uuid::Uuid,
    id: uuid::Uuid,
    what: &str,
) -> async_graphql::Result<N>
where
    E: crate::db::scoped::TenantEntity + Send + Sync,
    E::Model: Clone + Send + Sync + 'static,
    N: From<E::Model>,
{
    related_opt(loader, organization_id, Some(id))
        .await?
        .ok_or_else(|| dangling(what))
}

/// As `related`, for an optional foreign key.
pub(crate) async fn related_opt<E, N>(
    loader: &crate::graphql::loaders::Cached<crate::graphql::loaders::ById<E>>,
    organization_id: uuid::Uuid,
    id: Option<uuid::Uuid>,
) -> async_graphql::Result<Option<N>>
where
    E: crate::db::scoped::TenantEntity + Send + Sync,
    E::Model: Clone + Send + Sync + 'static,
    N: From<E::Model>,
{
    let Some(id) = id else { return Ok(None) };
    Ok(loader.load_one((organization_id, id)).await?.map(N::from))
}

/// Registers every table type so the SDL describes the whole model even before a query
/// returns it.
pub fn register<Q, M, S>(
    builder: async_graphql::SchemaBuilder<Q, M, S>,
) -> async_graphql::SchemaBuilder<Q, M, S> {
    builder
        .register_output_type::<Organization>()
        .register_output_type::<User>()
        .register_output_type::<Contact>()
        .register_output_type::<ContactInteraction>()
        .register_output_type::<Event>()
        .register_output_type::<EventAttendee>()
        .register_output_type::<AgendaItem>()
        .register_output_type::<Expense>()
        .register_output_type::<Media>()
        .register_output_type::<MediaCollection>()
        .register_output_type::<Notification>()
        .register_output_type::<Integration>()
        .register_output_type::<IntegrationLog>()
        .register_output_type::<AnalyticsEvent>()
        .register_output_type::<AuditLog>()
        .register_output_type::<ContactPerformanceSummary>()
        .register_output_type::<EventAnalytics>()
}
