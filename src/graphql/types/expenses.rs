//! `Expense`, its approvals, an event's budget report and the expense summary.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Event, User, related, related_opt};
use crate::db::scoped::Scoped;
use crate::domain::enums::{ExpenseStatus, ExpenseType, Stored};
use crate::domain::money;
use crate::entities::{expense_approvals, expenses};
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{Date, utc, utc_opt};
use crate::services::expenses::{Amount, EventSpending, Summary};

/// Money spent for an event or an activity, with an approval workflow: PENDING -> APPROVED
/// -> PAID, or PENDING -> REJECTED.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Expense {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub ids: Refs,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    /// Always two decimals, e.g. `"1250.00"`.
    pub amount: Decimal,
    /// ISO 4217; an event's expenses are in the event's currency.
    pub currency: String,
    pub category: Option<String>,
    pub expense_type: Stored<ExpenseType>,
    pub expense_date: Date,
    pub status: Stored<ExpenseStatus>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    /// When the final approval made it APPROVED.
    pub approved_at: Option<DateTime<Utc>>,
    /// The reason the rejecting admin gave.
    pub rejection_reason: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The payment's reference (a transfer id, a cheque number), if the admin gave one.
    pub payment_reference: Option<String>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The rows an expense points at.
#[derive(Clone, Copy, Debug)]
pub struct Refs {
    event: Option<Uuid>,
    created_by: Uuid,
    approved_by: Option<Uuid>,
    rejected_by: Option<Uuid>,
    paid_by: Option<Uuid>,
    receipt: Option<Uuid>,
}

impl From<expenses::Model> for Expense {
    fn from(m: expenses::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            ids: Refs {
                event: m.event_id,
                created_by: m.created_by,
                approved_by: m.approved_by,
                rejected_by: m.rejected_by,
                paid_by: m.paid_by,
                receipt: m.receipt_media_id,
            },
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
            rejection_reason: m.rejection_reason,
            rejected_at: utc_opt(m.rejected_at),
            paid_at: utc_opt(m.paid_at),
            payment_reference: m.payment_reference,
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl Expense {
    /// The event it was spent for, if any (a deleted event still shows, with `deletedAt`).
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<Event>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.events, self.scope, self.ids.event).await
    }

    /// The member who submitted it.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.ids.created_by, "user").await
    }

    /// The admin whose approval made it APPROVED (the second one when two were needed).
    async fn approved_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<User>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.users, self.scope, self.ids.approved_by).await
    }

    async fn rejected_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<User>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.users, self.scope, self.ids.rejected_by).await
    }

    async fn paid_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<User>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.users, self.scope, self.ids.paid_by).await
    }

    /// The receipt as a media item; `null` without one, or when it is PRIVATE and not the
    /// caller's (admins see it).
    async fn receipt(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<super::Media>> {
        use crate::graphql::context::ContextExt;
        let loaders = ctx.data::<Loaders>()?.get();
        let Some(id) = self.ids.receipt else {
            return Ok(None);
        };
        let row = loaders.media.load_one((self.scope, id)).await?;
        let actor = ctx.actor()?;
        Ok(row
            .filter(|m| !m.is_deleted && crate::services::media::can_see(actor, m))
            .map(super::Media::from))
    }

    /// Who approved it and when, oldest first. Above the organization's
    /// `expenseApproval.secondApprovalAbove` an expense needs two; until then it stays PENDING
    /// with one. Editing a pending expense clears them.
    async fn approvals(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<Fast<ExpenseApproval>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let id: Uuid = self.id.parse().map_err(|_| super::dangling("expense"))?;
        let rows = loaders.approvals.load_one((self.scope, id)).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|row| Fast(ExpenseApproval::from(row)))
            .collect())
    }
}

/// One admin's approval of an expense.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct ExpenseApproval {
    #[graphql(skip)]
    scope: Scoped,
    #[graphql(skip)]
    approver_id: Uuid,
    pub approved_at: DateTime<Utc>,
}

impl From<expense_approvals::Model> for ExpenseApproval {
    fn from(m: expense_approvals::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            approver_id: m.approver_id,
            approved_at: utc(m.created_at),
        }
    }
}

#[ComplexObject]
impl ExpenseApproval {
    async fn approver(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.approver_id, "user").await
    }
}

/// An event's budget against what it has spent, in the event's currency.
#[derive(Clone, Debug, SimpleObject)]
pub struct BudgetReport {
    pub budget: Decimal,
    pub currency: String,
    /// APPROVED + PAID expenses.
    pub spent: Decimal,
    /// PENDING expenses (REJECTED ones never count).
    pub pending: Decimal,
    /// `budget - spent`; negative when over budget.
    pub remaining: Decimal,
    pub over_budget: bool,
    /// `spent` by expense type (types with nothing spent are left out).
    pub by_type: Vec<ExpenseTypeAmount>,
}

#[derive(Clone, Debug, SimpleObject)]
pub struct ExpenseTypeAmount {
    pub expense_type: ExpenseType,
    pub amount: Decimal,
}

impl BudgetReport {
    pub fn new(budget: Decimal, currency: String, s: EventSpending) -> Self {
        let budget = money::normalize(budget);
        Self {
            budget,
            currency,
            spent: s.spent,
            pending: s.pending,
            remaining: money::normalize(budget - s.spent),
            over_budget: s.spent > budget,
            by_type: s
                .spent_by_type
                .into_iter()
                .filter_map(|(t, amount)| {
                    let expense_type = t.parse().ok()?;
                    Some(ExpenseTypeAmount {
                        expense_type,
                        amount,
                    })
                })
                .collect(),
        }
    }
}

/// A sum in one currency.
#[derive(Clone, Debug, SimpleObject)]
pub struct MoneyTotal {
    pub currency: String,
    pub amount: Decimal,
    /// How many expenses make it.
    pub count: i64,
}

impl From<Amount> for MoneyTotal {
    fn from(a: Amount) -> Self {
        Self {
            currency: a.currency,
            amount: a.amount,
            count: a.count,
        }
    }
}

macro_rules! grouped_total {
    ($(#[$meta:meta])* $name:ident { $key:ident: $ty:ty }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, SimpleObject)]
        pub struct $name {
            pub $key: $ty,
            pub currency: String,
            pub amount: Decimal,
            pub count: i64,
        }

        impl From<($ty, Amount)> for $name {
            fn from((k, a): ($ty, Amount)) -> Self {
                Self {
                    $key: k,
                    currency: a.currency,
                    amount: a.amount,
                    count: a.count,
                }
            }
        }
    };
}

grouped_total!(ExpenseStatusTotal {
    status: ExpenseStatus
});
grouped_total!(ExpenseTypeTotal {
    expense_type: ExpenseType
});
grouped_total!(
    /// `category` null: expenses without one.
    ExpenseCategoryTotal { category: Option<String> }
);
grouped_total!(
    /// `month`: `YYYY-MM` of the expense date.
    ExpenseMonthTotal { month: String }
);

/// Totals of the expenses a filter matches, per currency (amounts in different currencies are
/// never added together). REJECTED expenses, never spent nor owed, appear only in `byStatus`.
#[derive(Clone, Debug, SimpleObject)]
pub struct ExpenseSummary {
    pub total: Vec<MoneyTotal>,
    /// Every status, REJECTED included.
    pub by_status: Vec<ExpenseStatusTotal>,
    pub by_type: Vec<ExpenseTypeTotal>,
    pub by_category: Vec<ExpenseCategoryTotal>,
    /// Oldest month first.
    pub by_month: Vec<ExpenseMonthTotal>,
}

impl From<Summary> for ExpenseSummary {
    fn from(s: Summary) -> Self {
        fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
            v.into_iter().map(B::from).collect()
        }
        Self {
            total: all(s.total),
            by_status: all(s.by_status),
            by_type: all(s.by_type),
            by_category: all(s.by_category),
            by_month: all(s.by_month),
        }
    }
}

impl crate::graphql::fast::FastObject for ExpenseApproval {}

impl crate::graphql::fast::FastObject for Expense {}
