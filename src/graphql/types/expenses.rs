use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::enums::{ExpenseStatus, ExpenseType, Stored};
use crate::domain::money;
use crate::entities::expenses;
use crate::graphql::scalars::{Date, utc, utc_opt};

/// Money spent for an event or an activity, with an approval workflow.
#[derive(Clone, Debug, SimpleObject)]
pub struct Expense {
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    /// Always two decimals, e.g. `"1250.00"`.
    pub amount: Decimal,
    pub currency: String,
    pub category: Option<String>,
    pub expense_type: Stored<ExpenseType>,
    pub expense_date: Date,
    pub status: Stored<ExpenseStatus>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<expenses::Model> for Expense {
    fn from(m: expenses::Model) -> Self {
        Self {
            id: m.id.into(),
            title: m.title,
            description: m.description,
            amount: money::normalize(m.amount),
            currency: m.currency,
            category: m.category,
            expense_type: Stored::from_db(&m.expense_type),
            expense_date: Date(m.expense_date),
            status: Stored::from_db(&m.status),
            receipt_url: m.receipt_url,
            notes: m.notes,
            approved_at: utc_opt(m.approved_at),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}
