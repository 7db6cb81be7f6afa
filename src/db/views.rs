//! Reads of the two reporting views, always for one organization.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult)]
pub struct ContactPerformanceRow {
    pub contact_type: String,
    pub status: String,
    pub total_contacts: i64,
    pub avg_lead_score: f64,
    pub total_interactions: i64,
    pub last_interaction_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct EventAnalyticsRow {
    pub event_type: String,
    pub status: String,
    pub event_count: i64,
    pub avg_attendees: f64,
    pub total_expenses: Decimal,
    pub avg_expense_per_event: Decimal,
}

pub async fn contact_performance(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<Vec<ContactPerformanceRow>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT contact_type, status, total_contacts, avg_lead_score, total_interactions, \
         last_interaction_date FROM contact_performance_summary WHERE organization_id = {} \
         ORDER BY contact_type, status",
        placeholder(backend)
    );
    ContactPerformanceRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [organization_id.into()],
    ))
    .all(db)
    .await
}

pub async fn event_analytics(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<Vec<EventAnalyticsRow>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT event_type, status, event_count, avg_attendees, total_expenses, \
         avg_expense_per_event FROM event_analytics WHERE organization_id = {} \
         ORDER BY event_type, status",
        placeholder(backend)
    );
    EventAnalyticsRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [organization_id.into()],
    ))
    .all(db)
    .await
}

fn placeholder(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    }
}
