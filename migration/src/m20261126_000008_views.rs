//! The seed's views count join rows (`COUNT(*)` over a LEFT JOIN), so a contact with three
//! interactions counted three times and skewed the averages. These aggregate the child table
//! per parent first, then group, so every contact/event counts once.
//!
//! `avg_expense_per_event` is the average, over the group's events, of each event's total
//! (non-deleted) expenses, events without expenses counting as 0.

use crate::schema::exec;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CONTACT_PERFORMANCE_SUMMARY: &str = r#"
CREATE VIEW contact_performance_summary AS
SELECT
    c.organization_id,
    c.contact_type,
    c.status,
    COUNT(*) AS total_contacts,
    CAST(AVG(c.lead_score) AS DOUBLE PRECISION) AS avg_lead_score,
    CAST(COALESCE(SUM(ci.interaction_count), 0) AS BIGINT) AS total_interactions,
    MAX(ci.last_interaction_date) AS last_interaction_date
FROM contacts c
LEFT JOIN (
    SELECT contact_id, COUNT(*) AS interaction_count, MAX(interaction_date) AS last_interaction_date
    FROM contact_interactions
    WHERE NOT is_deleted
    GROUP BY contact_id
) ci ON ci.contact_id = c.id
WHERE NOT c.is_deleted
GROUP BY c.organization_id, c.contact_type, c.status
"#;

const EVENT_ANALYTICS: &str = r#"
CREATE VIEW event_analytics AS
SELECT
    e.organization_id,
    e.event_type,
    e.status,
    COUNT(*) AS event_count,
    CAST(AVG(e.current_attendees) AS DOUBLE PRECISION) AS avg_attendees,
    CAST(COALESCE(SUM(x.total_amount), 0) AS {money}) AS total_expenses,
    CAST(AVG(COALESCE(x.total_amount, 0)) AS {money}) AS avg_expense_per_event
FROM events e
LEFT JOIN (
    SELECT event_id, SUM(amount) AS total_amount
    FROM expenses
    WHERE NOT is_deleted AND event_id IS NOT NULL
    GROUP BY event_id
) x ON x.event_id = e.id
WHERE NOT e.is_deleted
GROUP BY e.organization_id, e.event_type, e.status
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `migrate fresh` on SQLite drops tables but not views: clear stale ones first.
        exec(manager, "DROP VIEW IF EXISTS contact_performance_summary").await?;
        exec(manager, "DROP VIEW IF EXISTS event_analytics").await?;
        exec(manager, CONTACT_PERFORMANCE_SUMMARY).await?;
        // Money sums stay exact NUMERIC on PostgreSQL; SQLite's NUMERIC affinity would turn
        // a zero sum into an INTEGER, so it is cast to REAL there (the app rounds to 2 places).
        let money = match manager.get_database_backend() {
            DbBackend::Sqlite => "REAL",
            _ => "NUMERIC(14, 2)",
        };
        exec(manager, &EVENT_ANALYTICS.replace("{money}", money)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP VIEW IF EXISTS event_analytics").await?;
        exec(manager, "DROP VIEW IF EXISTS contact_performance_summary").await
    }
}
