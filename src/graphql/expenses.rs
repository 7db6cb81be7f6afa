//! Expenses: submission by members, decisions by admins, lists and reports.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object};
use rust_decimal::Decimal;
use sea_orm::Order;

use crate::domain::enums::{ExpenseStatus, ExpenseType};
use crate::entities::expenses;
use crate::error::AppError;
use crate::graphql::args::{
    OrderDirection, change, id_change, non_null, one_ordering, opt_id, page, parse_id, set,
};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::Date;
use crate::graphql::types::{Expense, ExpenseSummary};
use crate::services;
use crate::services::expenses::{self as svc, ExpenseSort};

type Res<T> = async_graphql::Result<T>;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ExpenseOrderField {
    ExpenseDate,
    Amount,
    CreatedAt,
}

/// Ties are broken by id.
#[derive(InputObject, Clone, Copy)]
pub struct ExpenseOrder {
    field: ExpenseOrderField,
    direction: OrderDirection,
}

#[derive(InputObject, Default)]
pub struct ExpenseFilter {
    event_id: Option<ID>,
    status: Option<Vec<ExpenseStatus>>,
    expense_type: Option<Vec<ExpenseType>>,
    /// Exact category, ignoring case.
    category: Option<String>,
    /// The submitter.
    created_by: Option<ID>,
    /// Expense date on or after.
    date_from: Option<Date>,
    /// Expense date on or before.
    date_to: Option<Date>,
    amount_min: Option<Decimal>,
    amount_max: Option<Decimal>,
    /// Case-insensitive substring of title, description or category.
    search: Option<String>,
    /// `true` lists deleted expenses (the trash).
    deleted: Option<bool>,
}

impl ExpenseFilter {
    fn into_service(self) -> Result<svc::ExpenseFilter, AppError> {
        Ok(svc::ExpenseFilter {
            event_id: opt_id(self.event_id.as_ref(), "eventId")?,
            status: self.status,
            expense_type: self.expense_type,
            category: self.category,
            created_by: opt_id(self.created_by.as_ref(), "createdBy")?,
            date_from: self.date_from.map(|d| d.0),
            date_to: self.date_to.map(|d| d.0),
            amount_min: self.amount_min,
            amount_max: self.amount_max,
            search: self.search,
            deleted: self.deleted,
        })
    }
}

/// A new expense is PENDING and submitted by the caller.
#[derive(InputObject)]
pub struct CreateExpenseInput {
    /// The event it was spent for; its expenses are in its currency.
    event_id: Option<ID>,
    title: String,
    description: Option<String>,
    /// 0 to 9999999999.99, at most two decimals.
    amount: Decimal,
    /// ISO 4217; default: the event's currency, else USD.
    currency: Option<String>,
    category: Option<String>,
    /// Default OTHER.
    expense_type: Option<ExpenseType>,
    expense_date: Date,
    /// An http(s) link to the receipt.
    receipt_url: Option<String>,
    /// The receipt as an uploaded media item of the organization.
    receipt_media_id: Option<ID>,
    notes: Option<String>,
    metadata: Option<Json<serde_json::Value>>,
}

/// Omitted fields stay as they are; `null` clears an optional field. Only a PENDING expense
/// can be edited, and an edit clears its approvals.
#[derive(InputObject)]
pub struct UpdateExpenseInput {
    event_id: MaybeUndefined<ID>,
    title: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    amount: MaybeUndefined<Decimal>,
    currency: MaybeUndefined<String>,
    category: MaybeUndefined<String>,
    expense_type: MaybeUndefined<ExpenseType>,
    expense_date: MaybeUndefined<Date>,
    receipt_url: MaybeUndefined<String>,
    receipt_media_id: MaybeUndefined<ID>,
    notes: MaybeUndefined<String>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

fn sort_of(order: Option<Vec<ExpenseOrder>>) -> Result<(ExpenseSort, Order), AppError> {
    one_ordering(order, (ExpenseSort::ExpenseDate, Order::Desc), |o| {
        let field = match o.field {
            ExpenseOrderField::ExpenseDate => ExpenseSort::ExpenseDate,
            ExpenseOrderField::Amount => ExpenseSort::Amount,
            ExpenseOrderField::CreatedAt => ExpenseSort::CreatedAt,
        };
        (field, o.direction)
    })
}

#[derive(Default)]
pub struct ExpensesQuery;

#[Object]
impl ExpensesQuery {
    /// The organization's expenses; latest expense date first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn expenses(
        &self,
        ctx: &Context<'_>,
        filter: Option<ExpenseFilter>,
        order_by: Option<Vec<ExpenseOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Expense>> {
        let filter = filter.unwrap_or_default().into_service()?;
        let page = svc::list(
            ctx.db(),
            ctx.actor()?,
            &filter,
            sort_of(order_by)?,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// One live expense; `null` when missing, deleted or in another organization.
    async fn expense(&self, ctx: &Context<'_>, id: ID) -> Res<Option<Expense>> {
        let id = parse_id(&id, "id")?;
        Ok(
            services::live::<expenses::Entity>(ctx.db(), ctx.actor()?, id)
                .await?
                .map(Into::into),
        )
    }

    /// Totals of the matching expenses by status, type, category and month, per currency.
    async fn expense_summary(
        &self,
        ctx: &Context<'_>,
        filter: Option<ExpenseFilter>,
    ) -> Res<ExpenseSummary> {
        let filter = filter.unwrap_or_default().into_service()?;
        Ok(svc::summary(ctx.db(), ctx.actor()?, &filter).await?.into())
    }
}

#[derive(Default)]
pub struct ExpensesMutation;

#[Object]
impl ExpensesMutation {
    /// Submits an expense of the caller's (PENDING); the organization's admins are notified.
    async fn create_expense(&self, ctx: &Context<'_>, input: CreateExpenseInput) -> Res<Expense> {
        let i = input;
        let patch = svc::ExpensePatch {
            event_id: set(opt_id(i.event_id.as_ref(), "eventId")?),
            title: Some(i.title),
            description: set(i.description),
            amount: Some(i.amount),
            currency: i.currency,
            category: set(i.category),
            expense_type: i.expense_type,
            expense_date: Some(i.expense_date.0),
            receipt_url: set(i.receipt_url),
            receipt_media: set(opt_id(i.receipt_media_id.as_ref(), "receiptMediaId")?),
            notes: set(i.notes),
            metadata: i.metadata.map(|j| j.0),
        };
        Ok(svc::create(ctx.store(), ctx.actor()?, patch).await?.into())
    }

    /// The submitter (or an admin) edits a PENDING expense.
    async fn update_expense(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateExpenseInput,
    ) -> Res<Expense> {
        let i = input;
        let patch = svc::ExpensePatch {
            event_id: id_change(i.event_id, "eventId")?,
            title: non_null(i.title, "title")?,
            description: change(i.description),
            amount: non_null(i.amount, "amount")?,
            currency: non_null(i.currency, "currency")?,
            category: change(i.category),
            expense_type: non_null(i.expense_type, "expenseType")?,
            expense_date: non_null(i.expense_date, "expenseDate")?.map(|d| d.0),
            receipt_url: change(i.receipt_url),
            receipt_media: id_change(i.receipt_media_id, "receiptMediaId")?,
            notes: change(i.notes),
            metadata: non_null(i.metadata, "metadata")?.map(|j| j.0),
        };
        let id = parse_id(&id, "id")?;
        Ok(svc::update(ctx.store(), ctx.actor()?, id, patch)
            .await?
            .into())
    }

    /// Soft delete by the submitter or an admin; a PAID expense stays.
    async fn delete_expense(&self, ctx: &Context<'_>, id: ID) -> Res<Expense> {
        let id = parse_id(&id, "id")?;
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, true, false)
            .await?
            .into())
    }

    /// Back from the trash; an APPROVED expense must still fit its event's budget, or an
    /// admin passes `overBudget: true` (else BUDGET_EXCEEDED).
    async fn restore_expense(
        &self,
        ctx: &Context<'_>,
        id: ID,
        over_budget: Option<bool>,
    ) -> Res<Expense> {
        let id = parse_id(&id, "id")?;
        let over = over_budget.unwrap_or(false);
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, false, over)
            .await?
            .into())
    }

    /// Admins, never on their own expense. PENDING -> APPROVED, or a first approval recorded
    /// when the amount needs two admins. Past the event's budget only with `overBudget: true`
    /// (else BUDGET_EXCEEDED); an expense already decided is a CONFLICT.
    async fn approve_expense(
        &self,
        ctx: &Context<'_>,
        id: ID,
        over_budget: Option<bool>,
    ) -> Res<Expense> {
        let id = parse_id(&id, "id")?;
        let over = over_budget.unwrap_or(false);
        Ok(svc::approve(ctx.store(), ctx.actor()?, id, over)
            .await?
            .into())
    }

    /// Admins, never on their own expense: PENDING -> REJECTED, with a reason (1 to 1,000
    /// characters) kept on the expense and sent to the submitter.
    async fn reject_expense(&self, ctx: &Context<'_>, id: ID, reason: String) -> Res<Expense> {
        let id = parse_id(&id, "id")?;
        Ok(svc::reject(ctx.store(), ctx.actor()?, id, &reason)
            .await?
            .into())
    }

    /// Admins: APPROVED -> PAID, with an optional payment reference (up to 255 characters).
    async fn mark_expense_paid(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reference: Option<String>,
    ) -> Res<Expense> {
        let id = parse_id(&id, "id")?;
        Ok(
            svc::mark_paid(ctx.store(), ctx.actor()?, id, reference.as_deref())
                .await?
                .into(),
        )
    }
}
