//! Database migrations for The Plugs, one per concern, each serving PostgreSQL and SQLite.
//! The data model follows `shared/seeds/004_ef02df5c1bdf8e37.txt` column for column, with the
//! deviations listed in DESIGN.md (defaulted columns are NOT NULL; views count distinct rows).

#![allow(
    clippy::disallowed_methods,
    reason = "migrations write the schema itself: there is no tenant to scope (clippy.toml)"
)]

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_organizations_users;
mod m20261126_000002_networking;
mod m20261126_000003_events;
mod m20261126_000004_expenses;
mod m20261126_000005_media;
mod m20261126_000006_notifications_integrations;
mod m20261126_000007_analytics_audit;
mod m20261126_000008_views;
mod m20261126_000009_refresh_tokens;
mod m20261126_000010_contact_search;
mod m20261130_000011_jobs;
mod m20261130_000012_expense_workflow;
mod m20261130_000013_expense_receipts;
mod m20261201_000014_direct_uploads;
mod m20261201_000015_webhooks;
mod m20261201_000016_integration_log_states;
mod m20261201_000017_data_portability;
mod m20261201_000018_analytics_page;
mod m20261201_000019_accounts_by_email;
mod m20261201_000020_idempotency_keys;
mod m20261202_000021_contacts_by_lead_score;
pub mod schema;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_organizations_users::Migration),
            Box::new(m20261126_000002_networking::Migration),
            Box::new(m20261126_000003_events::Migration),
            Box::new(m20261126_000004_expenses::Migration),
            Box::new(m20261126_000005_media::Migration),
            Box::new(m20261126_000006_notifications_integrations::Migration),
            Box::new(m20261126_000007_analytics_audit::Migration),
            Box::new(m20261126_000008_views::Migration),
            Box::new(m20261126_000009_refresh_tokens::Migration),
            Box::new(m20261126_000010_contact_search::Migration),
            Box::new(m20261130_000011_jobs::Migration),
            Box::new(m20261130_000012_expense_workflow::Migration),
            Box::new(m20261130_000013_expense_receipts::Migration),
            Box::new(m20261201_000014_direct_uploads::Migration),
            Box::new(m20261201_000015_webhooks::Migration),
            Box::new(m20261201_000016_integration_log_states::Migration),
            Box::new(m20261201_000017_data_portability::Migration),
            Box::new(m20261201_000018_analytics_page::Migration),
            Box::new(m20261201_000019_accounts_by_email::Migration),
            Box::new(m20261201_000020_idempotency_keys::Migration),
            Box::new(m20261202_000021_contacts_by_lead_score::Migration),
        ]
    }
}
