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
