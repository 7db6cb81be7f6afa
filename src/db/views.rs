//! Reads of the two reporting views, always for one organization.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::scoped::Scoped;

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

/// `SELECT <columns> FROM <view> WHERE organization_id = <scope> ORDER BY <first two>`.
fn of_view(view: &str, columns: &[&str], scope: Scoped) -> SelectStatement {
    let mut q = Query::select();
    q.columns(columns.iter().map(|c| Alias::new(*c)))
        .from(Alias::new(view))
        .and_where(Expr::col(Alias::new("organization_id")).eq(scope.organization_id()));
    for c in &columns[..2] {
        q.order_by(Alias::new(*c), Order::Asc);
    }
    q
}

pub async fn contact_performance(
    db: &impl ConnectionTrait,
    scope: Scoped,
) -> Result<Vec<ContactPerformanceRow>, DbErr> {
    let q = of_view(
        "contact_performance_summary",
        &[
            "contact_type",
            "status",
            "total_contacts",
            "avg_lead_score",
            "total_interactions",
            "last_interaction_date",
        ],
        scope,
    );
    ContactPerformanceRow::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await
}

pub async fn event_analytics(
    db: &impl ConnectionTrait,
    scope: Scoped,
) -> Result<Vec<EventAnalyticsRow>, DbErr> {
    let q = of_view(
        "event_analytics",
        &[
            "event_type",
            "status",
            "event_count",
            "avg_attendees",
            "total_expenses",
            "avg_expense_per_event",
        ],
        scope,
    );
    EventAnalyticsRow::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await
}
