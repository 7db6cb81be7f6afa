use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::db::views;
use crate::domain::enums::{ContactStatus, ContactType, EventStatus, EventType, Stored};
use crate::domain::money;

/// One row of `contact_performance_summary`: contacts of one type and status. Every contact
/// counts once, however many interactions it has.
#[derive(Clone, Debug, SimpleObject)]
pub struct ContactPerformanceSummary {
    pub contact_type: Stored<ContactType>,
    pub status: Stored<ContactStatus>,
    pub total_contacts: i64,
    pub avg_lead_score: f64,
    /// Non-deleted interactions of these contacts.
    pub total_interactions: i64,
    pub last_interaction_date: Option<DateTime<Utc>>,
}

impl From<views::ContactPerformanceRow> for ContactPerformanceSummary {
    fn from(r: views::ContactPerformanceRow) -> Self {
        Self {
            contact_type: Stored::from_db(&r.contact_type),
            status: Stored::from_db(&r.status),
            total_contacts: r.total_contacts,
            avg_lead_score: r.avg_lead_score,
            total_interactions: r.total_interactions,
            last_interaction_date: r.last_interaction_date,
        }
    }
}

/// One row of `event_analytics`: events of one type and status, each counted once.
#[derive(Clone, Debug, SimpleObject)]
pub struct EventAnalytics {
    pub event_type: Stored<EventType>,
    pub status: Stored<EventStatus>,
    pub event_count: i64,
    pub avg_attendees: f64,
    /// Sum of the non-deleted expenses of these events.
    pub total_expenses: Decimal,
    /// Average over these events of each event's expense total (an event without expenses counts 0).
    pub avg_expense_per_event: Decimal,
}

impl From<views::EventAnalyticsRow> for EventAnalytics {
    fn from(r: views::EventAnalyticsRow) -> Self {
        Self {
            event_type: Stored::from_db(&r.event_type),
            status: Stored::from_db(&r.status),
            event_count: r.event_count,
            avg_attendees: r.avg_attendees,
            total_expenses: money::normalize(r.total_expenses),
            avg_expense_per_event: money::normalize(r.avg_expense_per_event),
        }
    }
}

/// A product-usage event.
#[derive(Clone, Debug, SimpleObject)]
pub struct AnalyticsEvent {
    pub id: ID,
    /// The member it was recorded for.
    pub user_id: Option<ID>,
    pub event_name: String,
    pub event_category: String,
    pub properties: Json<serde_json::Value>,
    pub session_id: Option<String>,
    /// The client's IP address as the server saw it.
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub event_timestamp: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl crate::graphql::fast::FastObject for AnalyticsEvent {}
