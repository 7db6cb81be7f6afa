//! GraphQL object types, one file per domain (the same word as in `services/`), one type per table, built from the generated entity models with `From`.
//! Fields are the camelCase of the columns. Never exposed: `password_hash`, integration
//! `credentials`, `organization_id` (always the caller's), `is_deleted` (`deletedAt` says it).
//! Foreign keys appear as relation fields (`createdBy: User!`, ...) once their DataLoaders exist.

use crate::db::scoped::Scoped;

mod agenda;
mod analytics;
mod audit;
mod contacts;
mod events;
mod expenses;
mod integrations;
mod interactions;
mod jobs;
mod media;
mod notifications;
mod organizations;
mod registrations;
mod users;

pub use agenda::AgendaItem;
pub use analytics::{AnalyticsEvent, ContactPerformanceSummary, EventAnalytics};
pub use audit::AuditLog;
pub use contacts::Contact;
pub use events::Event;
pub use expenses::{
    BudgetReport, Expense, ExpenseApproval, ExpenseCategoryTotal, ExpenseMonthTotal,
    ExpenseStatusTotal, ExpenseSummary, ExpenseTypeAmount, ExpenseTypeTotal, MoneyTotal,
};
pub use integrations::{Integration, IntegrationLog};
pub use interactions::ContactInteraction;
pub use jobs::Job;
pub use media::{Media, MediaCollection};
pub use notifications::Notification;
pub use organizations::Organization;
pub use registrations::EventAttendee;
pub use users::User;

/// The scope of a row's relations: the organization the row was loaded in. Only rows a
/// caller was allowed to load become GraphQL objects, so their relations stay in that tenant.
pub(crate) fn row_scope(organization_id: uuid::Uuid) -> Scoped {
    Scoped::system(
        organization_id,
        "the relations of a row loaded in its organization",
    )
}

/// A relation's broken reference (a foreign key whose row is gone): an internal error.
pub(crate) fn dangling(what: &str) -> async_graphql::Error {
    crate::error::AppError::Internal(format!("dangling reference to a {what}")).into()
}

use crate::graphql::fast::Fast;

/// The row a required foreign key points at, through the request's batching loader.
pub(crate) async fn related<E, N>(
    loader: &crate::graphql::loaders::Cached<crate::graphql::loaders::ById<E>>,
    scope: Scoped,
    id: uuid::Uuid,
    what: &str,
) -> async_graphql::Result<Fast<N>>
where
    E: crate::db::scoped::TenantEntity + Send + Sync,
    E::Model: Clone + Send + Sync + 'static,
    N: From<std::sync::Arc<E::Model>> + Send,
{
    related_opt(loader, scope, Some(id))
        .await?
        .ok_or_else(|| dangling(what))
}

/// As `related`, for an optional foreign key. Boxed, as `connection::children` is: the
/// loader's state would otherwise be copied into every field future of the parent object.
pub(crate) fn related_opt<'a, E, N>(
    loader: &'a crate::graphql::loaders::Cached<crate::graphql::loaders::ById<E>>,
    scope: Scoped,
    id: Option<uuid::Uuid>,
) -> futures_util::future::BoxFuture<'a, async_graphql::Result<Option<Fast<N>>>>
where
    E: crate::db::scoped::TenantEntity + Send + Sync,
    E::Model: Clone + Send + Sync + 'static,
    N: From<std::sync::Arc<E::Model>> + Send + 'a,
{
    Box::pin(async move {
        let Some(id) = id else { return Ok(None) };
        Ok(loader
            .load_one((scope, id))
            .await?
            .map(|row| Fast(N::from(row))))
    })
}

/// A GraphQL type built from a row the loaders share: types that copy their fields take a copy
/// of the row (`User` keeps the shared row itself).
macro_rules! from_shared_row {
    ($($ty:ty => $model:ty),+ $(,)?) => {$(
        impl From<std::sync::Arc<$model>> for $ty {
            fn from(row: std::sync::Arc<$model>) -> Self {
                Self::from(<$model>::clone(&row))
            }
        }
    )+};
}

from_shared_row!(
    Contact => crate::entities::contacts::Model,
    Event => crate::entities::events::Model,
    Media => crate::entities::media::Model,
);

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
