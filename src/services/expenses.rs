//! Expenses: members submit their own, admins decide. PENDING -> APPROVED -> PAID, or
//! PENDING -> REJECTED; nobody decides on their own expense. Above the organization's
//! `expenseApproval.secondApprovalAbove`, two different admins approve. Approving past an
//! event's budget needs `overBudget`.
//!
//! Concurrency: every decision locks the expense row (PostgreSQL `FOR UPDATE`; SQLite's write
//! transaction serializes writers) and then moves the status with an update conditional on the
//! status it read, so of two decisions exactly one lands and the other reads a decided expense
//! (CONFLICT). An approval that counts towards an event's spending also locks the event row
//! before it sums what the event has spent, so two approvals on one event cannot both pass the
//! budget guard on the same total.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, Order, PaginatorTrait, QueryFilter, QuerySelect, Select,
};
use serde_json::json;
use uuid::Uuid;

use super::notifications::NewNotification;
use super::validate::{self, Text::Plain, Text::Url, set_text};
use super::work::{Store, Work, missing};
use super::{Actor, Change, now};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::scoped::Scoped;
use crate::domain::enums::{DbEnum, ExpenseStatus, ExpenseType, NotificationType};
use crate::domain::money;
use crate::entities::{events, expense_approvals, expenses, users};
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct ExpenseFilter {
    pub event_id: Option<Uuid>,
    pub status: Option<Vec<ExpenseStatus>>,
    pub expense_type: Option<Vec<ExpenseType>>,
    pub category: Option<String>,
    pub created_by: Option<Uuid>,
    /// Inclusive.
    pub date_from: Option<NaiveDate>,
    /// Inclusive.
    pub date_to: Option<NaiveDate>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub search: Option<String>,
    pub deleted: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpenseSort {
    ExpenseDate,
    Amount,
    CreatedAt,
}

pub fn keyset(sort: ExpenseSort, direction: Order) -> Keyset<expenses::Entity> {
    use expenses::Column as C;
    let desc = direction == Order::Desc;
    type Value = fn(&expenses::Model) -> SortValue;
    let (name, col, kind, value): (&'static str, C, SortKind, Value) = match sort {
        ExpenseSort::ExpenseDate => (
            if desc {
                "expense_date desc"
            } else {
                "expense_date"
            },
            C::ExpenseDate,
            SortKind::Date,
            |m| SortValue::Date(m.expense_date),
        ),
        ExpenseSort::Amount => (
            if desc { "amount desc" } else { "amount" },
            C::Amount,
            SortKind::Decimal,
            |m| SortValue::Decimal(money::normalize(m.amount)),
        ),
        ExpenseSort::CreatedAt => (
            if desc {
                "created_at desc"
            } else {
                "created_at"
            },
            C::CreatedAt,
            SortKind::Time,
            |m| SortValue::Time(m.created_at.to_utc()),
        ),
    };
    Keyset {
        name,
        sort: col,
        kind,
        nullable: false,
        id: C::Id,
        direction,
        value,
        id_of: |m| m.id,
    }
}

/// `Event.expenses`: the most recent expense date first.
pub static EXPENSES_OF_EVENT: LazyLock<Children<expenses::Entity>> = LazyLock::new(|| Children {
    parent: expenses::Column::EventId,
    keyset: keyset(ExpenseSort::ExpenseDate, Order::Desc),
    status: Some(expenses::Column::Status),
});

/// The organization's expenses matching `f` (the trash with `deleted: true`).
fn matching(actor: &Actor, f: &ExpenseFilter) -> Result<Select<expenses::Entity>, AppError> {
    use expenses::Column as C;
    let mut q = actor
        .scope()
        .find::<expenses::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(e) = f.event_id {
        q = q.filter(C::EventId.eq(e));
    }
    if let Some(s) = &f.status {
        q = q.filter(C::Status.is_in(s.iter().map(|v| v.as_str())));
    }
    if let Some(t) = &f.expense_type {
        q = q.filter(C::ExpenseType.is_in(t.iter().map(|v| v.as_str())));
    }
    if let Some(c) = f
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        q = q.filter(crate::db::search::equals_ignoring_case(C::Category, c));
    }
    if let Some(u) = f.created_by {
        q = q.filter(C::CreatedBy.eq(u));
    }
    if let Some(d) = f.date_from {
        q = q.filter(C::ExpenseDate.gte(d));
    }
    if let Some(d) = f.date_to {
        q = q.filter(C::ExpenseDate.lte(d));
    }
    if let Some(a) = f.amount_min {
        q = q.filter(C::Amount.gte(validate::amount("amountMin", a)?));
    }
    if let Some(a) = f.amount_max {
        q = q.filter(C::Amount.lte(validate::amount("amountMax", a)?));
    }
    if let Some(s) = validate::search(f.search.as_deref())? {
        q = q.filter(crate::db::search::any_contains(
            &[C::Title, C::Description, C::Category],
            s,
        ));
    }
    Ok(q)
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &ExpenseFilter,
    sort: (ExpenseSort, Order),
    args: &PageArgs,
) -> Result<Page<expenses::Model>, AppError> {
    paginate(db, matching(actor, f)?, &keyset(sort.0, sort.1), args).await
}

/// A sum of money in one currency and how many expenses make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Amount {
    pub currency: String,
    pub amount: Decimal,
    pub count: i64,
}

/// `expenseSummary`: totals of the matching expenses, per currency (amounts in different
/// currencies are never added together). REJECTED expenses (never spent, never owed) appear
/// only in `by_status`.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub total: Vec<Amount>,
    pub by_status: Vec<(ExpenseStatus, Amount)>,
    pub by_type: Vec<(ExpenseType, Amount)>,
    pub by_category: Vec<(Option<String>, Amount)>,
    /// `YYYY-MM` of the expense date.
    pub by_month: Vec<(String, Amount)>,
}

/// Adds one group's sum into `map[key]`.
fn add<K: Ord>(
    map: &mut BTreeMap<(K, String), (Decimal, i64)>,
    key: K,
    currency: &str,
    amount: Decimal,
    n: i64,
) {
    let e = map
        .entry((key, currency.to_owned()))
        .or_insert((Decimal::ZERO, 0));
    e.0 += amount;
    e.1 += n;
}

/// Enum keys were folded by their database string (ordered); back to the enum.
fn parse_back<T: DbEnum>(v: Vec<(&'static str, Amount)>) -> Vec<(T, Amount)> {
    v.into_iter()
        .filter_map(|(k, a)| k.parse().ok().map(|t| (t, a)))
        .collect()
}

fn amounts<K: Ord>(map: BTreeMap<(K, String), (Decimal, i64)>) -> Vec<(K, Amount)> {
    map.into_iter()
        .map(|((k, currency), (amount, count))| {
            let amount = money::normalize(amount);
            (
                k,
                Amount {
                    currency,
                    amount,
                    count,
                },
            )
        })
        .collect()
}

/// status, expense type, category, month, currency, sum, count.
type SummaryGroup = (String, String, Option<String>, String, String, Decimal, i64);

pub async fn summary(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &ExpenseFilter,
) -> Result<Summary, AppError> {
    use expenses::Column as C;
    let month = match db.get_database_backend() {
        DbBackend::Postgres => "to_char(expense_date, 'YYYY-MM')",
        _ => "strftime('%Y-%m', expense_date)",
    };
    // One grouped statement; the five breakdowns are folded from its groups.
    let groups: Vec<SummaryGroup> = matching(actor, f)?
        .select_only()
        .column(C::Status)
        .column(C::ExpenseType)
        .column(C::Category)
        .column_as(Expr::cust(month), "month")
        .column(C::Currency)
        .column_as(C::Amount.sum(), "amount")
        .column_as(C::Id.count(), "n")
        .group_by(C::Status)
        .group_by(C::ExpenseType)
        .group_by(C::Category)
        .group_by(Expr::cust(month))
        .group_by(C::Currency)
        .into_tuple()
        .all(db)
        .await?;
    let (mut total, mut status, mut ty, mut category, mut by_month) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    for (s, t, cat, m, currency, amount, n) in groups {
        let s = ExpenseStatus::from_db(&s)?;
        add(&mut status, s.as_str(), &currency, amount, n);
        if s == ExpenseStatus::Rejected {
            continue;
        }
        add(&mut total, (), &currency, amount, n);
        add(
            &mut ty,
            ExpenseType::from_db(&t)?.as_str(),
            &currency,
            amount,
            n,
        );
        add(&mut category, cat, &currency, amount, n);
        add(&mut by_month, m, &currency, amount, n);
    }
    Ok(Summary {
        total: amounts(total).into_iter().map(|(_, a)| a).collect(),
        by_status: parse_back(amounts(status)),
        by_type: parse_back(amounts(ty)),
        by_category: amounts(category),
        by_month: amounts(by_month),
    })
}

/// What one event has spent and has pending (amounts in the event's currency: an expense of
/// an event is always in its currency).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventSpending {
    /// APPROVED + PAID.
    pub spent: Decimal,
    /// PENDING.
    pub pending: Decimal,
    /// `spent` by expense type.
    pub spent_by_type: BTreeMap<&'static str, Decimal>,
}

/// Each event's spending, in one grouped statement (live expenses only; REJECTED never counts).
pub async fn spending(
    db: &impl ConnectionTrait,
    scope: Scoped,
    event_ids: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, EventSpending>, AppError> {
    use expenses::Column as C;
    let rows: Vec<(Uuid, String, String, Decimal)> = scope
        .live::<expenses::Entity>()
        .filter(C::EventId.is_in(event_ids.iter().copied()))
        .filter(C::Status.ne(ExpenseStatus::Rejected.as_str()))
        .select_only()
        .column(C::EventId)
        .column(C::Status)
        .column(C::ExpenseType)
        .column_as(C::Amount.sum(), "amount")
        .group_by(C::EventId)
        .group_by(C::Status)
        .group_by(C::ExpenseType)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, EventSpending> = event_ids
        .into_iter()
        .map(|e| (e, EventSpending::default()))
        .collect();
    for (event, status, ty, amount) in rows {
        let s = out.entry(event).or_default();
        match ExpenseStatus::from_db(&status)? {
            ExpenseStatus::Pending => s.pending += amount,
            ExpenseStatus::Approved | ExpenseStatus::Paid => {
                s.spent += amount;
                *s.spent_by_type
                    .entry(ExpenseType::from_db(&ty)?.as_str())
                    .or_default() += amount;
            }
            ExpenseStatus::Rejected => {}
        }
    }
    for s in out.values_mut() {
        s.spent = money::normalize(s.spent);
        s.pending = money::normalize(s.pending);
        for v in s.spent_by_type.values_mut() {
            *v = money::normalize(*v);
        }
    }
    Ok(out)
}

/// The approvals recorded on each expense, oldest first, in one statement.
pub async fn approvals_of(
    db: &impl ConnectionTrait,
    scope: Scoped,
    expense_ids: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, Vec<expense_approvals::Model>>, AppError> {
    use expense_approvals::Column as C;
    use sea_orm::QueryOrder;
    let rows = scope
        .find::<expense_approvals::Entity>()
        .filter(C::ExpenseId.is_in(expense_ids.iter().copied()))
        .order_by_asc(C::CreatedAt)
        .order_by_asc(C::Id)
        .all(db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<_>> =
        expense_ids.into_iter().map(|e| (e, Vec::new())).collect();
    for r in rows {
        out.entry(r.expense_id).or_default().push(r);
    }
    Ok(out)
}

#[derive(Clone, Debug, Default)]
pub struct ExpensePatch {
    pub event_id: Change<Uuid>,
    pub title: Option<String>,
    pub description: Change<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub category: Change<String>,
    pub expense_type: Option<ExpenseType>,
    pub expense_date: Option<NaiveDate>,
    pub receipt_url: Change<String>,
    /// A media item of the organization the caller may see.
    pub receipt_media: Change<Uuid>,
    pub notes: Change<String>,
    pub metadata: Option<serde_json::Value>,
}

impl ExpensePatch {
    /// Whether the patch changes what an approval agreed to.
    fn changes_anything(&self) -> bool {
        !(self.event_id.is_keep()
            && self.title.is_none()
            && self.description.is_keep()
            && self.amount.is_none()
            && self.currency.is_none()
            && self.category.is_keep()
            && self.expense_type.is_none()
            && self.expense_date.is_none()
            && self.receipt_url.is_keep()
            && self.receipt_media.is_keep()
            && self.notes.is_keep()
            && self.metadata.is_none())
    }
}

/// Applies the patch's own fields (the event and currency are settled by `settle_event`).
fn apply(a: &mut expenses::ActiveModel, p: &ExpensePatch) -> Result<(), AppError> {
    if let Some(t) = &p.title {
        a.title = Set(validate::required("title", t, 255)?);
    }
    set_text(
        &mut a.description,
        "description",
        p.description.clone(),
        Plain(20_000),
    )?;
    if let Some(amount) = p.amount {
        a.amount = Set(validate::amount("amount", amount)?);
    }
    set_text(&mut a.category, "category", p.category.clone(), Plain(50))?;
    if let Some(t) = p.expense_type {
        a.expense_type = Set(t.as_str().into());
    }
    if let Some(d) = p.expense_date {
        a.expense_date = Set(d);
    }
    set_text(
        &mut a.receipt_url,
        "receiptUrl",
        p.receipt_url.clone(),
        Url(500),
    )?;
    set_text(&mut a.notes, "notes", p.notes.clone(), Plain(20_000))?;
    if let Some(v) = &p.metadata {
        a.metadata = Set(validate::object("metadata", v.clone())?);
    }
    Ok(())
}

/// Settles the event and the currency: an expense of an event is in the event's currency
/// (its budget is, and amounts in different currencies are never added up), which is also
/// the default; an expense of no event defaults to USD. An event of another organization is
/// as missing as one that never existed (NOT_FOUND).
async fn settle_event(
    w: &Work<'_>,
    a: &mut expenses::ActiveModel,
    p: &ExpensePatch,
    current: Option<&expenses::Model>,
) -> Result<(), AppError> {
    let asked = p
        .currency
        .as_deref()
        .map(|c| validate::currency("currency", c))
        .transpose()?;
    let current_event = current.and_then(|c| c.event_id);
    let event_id = match &p.event_id {
        Change::Keep => current_event,
        Change::Clear => None,
        Change::Set(e) => Some(*e),
    };
    a.event_id = Set(event_id);
    match event_id {
        // Nothing about the event changes: the currency already is the event's.
        Some(_) if p.event_id.is_keep() && asked.is_none() => {}
        Some(e) => {
            // FOR SHARE: the event's currency cannot change until this expense is written
            // (`events::update` counts expenses under its own lock).
            let q = w.actor.scope().live_by_id::<events::Entity>(e);
            let event = w
                .lock(q, LockType::Share)
                .one(&w.txn)
                .await?
                .ok_or_else(missing::<events::Entity>)?;
            // An amount keeps its currency unless the client restates it: moving 100.00 EUR
            // to a USD event is refused, not relabelled as 100.00 USD.
            let kept = asked
                .clone()
                .or_else(|| current.map(|c| c.currency.clone()));
            if let Some(c) = kept
                && c != event.currency
            {
                return Err(AppError::bad_input(
                    "currency",
                    format!(
                        "an expense of this event is in the event's currency, {} (this one is in {c})",
                        event.currency
                    ),
                ));
            }
            a.currency = Set(event.currency);
        }
        None => {
            if let Some(c) = asked {
                a.currency = Set(c);
            } else if current.is_none() {
                a.currency = Set("USD".to_owned());
            }
        }
    }
    Ok(())
}

/// The receipt as a media item: a live item of the organization that the caller may see
/// (else NOT_FOUND, as for an item that does not exist).
async fn settle_receipt(
    w: &Work<'_>,
    a: &mut expenses::ActiveModel,
    p: &ExpensePatch,
) -> Result<(), AppError> {
    match p.receipt_media {
        Change::Keep => {}
        Change::Clear => a.receipt_media_id = Set(None),
        Change::Set(id) => {
            let item = super::media::visible(w.actor)
                .filter(crate::entities::media::Column::Id.eq(id))
                .filter(crate::entities::media::Column::IsDeleted.eq(false))
                .one(&w.txn)
                .await?
                .ok_or_else(missing::<crate::entities::media::Entity>)?;
            a.receipt_media_id = Set(Some(item.id));
        }
    }
    Ok(())
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    patch: ExpensePatch,
) -> Result<expenses::Model, AppError> {
    if patch.title.is_none() {
        return Err(AppError::bad_input("title", "is required"));
    }
    if patch.amount.is_none() {
        return Err(AppError::bad_input("amount", "is required"));
    }
    if patch.expense_date.is_none() {
        return Err(AppError::bad_input("expenseDate", "is required"));
    }
    let t = now();
    let mut a = expenses::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        created_by: Set(actor.user_id),
        status: Set(ExpenseStatus::Pending.as_str().into()),
        expense_type: Set(ExpenseType::Other.as_str().into()),
        metadata: Set(json!({})),
        created_at: Set(t),
        updated_at: Set(t),
        is_deleted: Set(false),
        ..Default::default()
    };
    apply(&mut a, &patch)?;
    let mut w = Work::begin(store, actor).await?;
    settle_event(&w, &mut a, &patch, None).await?;
    settle_receipt(&w, &mut a, &patch).await?;
    let row = a.insert(&w.txn).await?;
    w.audit::<expenses::Entity, _>(row.id, None, Some(&row))
        .await?;
    let submitter = submitter_name(&w, actor.user_id).await?;
    let text = format!(
        "{submitter} submitted \"{}\" ({}).",
        row.title,
        money_text(&row)
    );
    tell_admins(
        &mut w,
        &[actor.user_id],
        "New expense to review",
        text,
        &row,
    )
    .await?;
    super::webhooks::emit(&mut w, "expense.submitted", super::webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: ExpensePatch,
) -> Result<expenses::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = w.locked::<expenses::Entity>(id).await?;
    actor.owner_or_admin(old.created_by)?;
    let status = ExpenseStatus::from_db(&old.status)?;
    if status != ExpenseStatus::Pending {
        return Err(AppError::bad_input(
            "id",
            format!(
                "the expense is {}; only a pending expense can be edited",
                status.as_str()
            ),
        ));
    }
    let mut a: expenses::ActiveModel = old.clone().into();
    apply(&mut a, &patch)?;
    settle_event(&w, &mut a, &patch, Some(&old)).await?;
    settle_receipt(&w, &mut a, &patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    // An approval agreed to what the expense said: a changed expense starts over.
    if patch.changes_anything() {
        actor
            .scope()
            .delete_many::<expense_approvals::Entity>()
            .filter(expense_approvals::Column::ExpenseId.eq(id))
            .exec(&w.txn)
            .await?;
    }
    w.audit::<expenses::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete (`deleted`) or restore: the submitter or an admin, never a PAID expense. A
/// restored APPROVED expense counts towards its event's budget again, so it passes the
/// budget guard like an approval (`over_budget`: admins only).
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
    over_budget: bool,
) -> Result<expenses::Model, AppError> {
    if over_budget {
        // Going over an event's budget is an admin's decision, as in `approve`.
        actor.admin()?;
    }
    let w = Work::begin(store, actor).await?;
    let current = lock(&w, id, Some(!deleted)).await?;
    actor.owner_or_admin(current.created_by)?;
    let status = ExpenseStatus::from_db(&current.status)?;
    if status == ExpenseStatus::Paid {
        return Err(AppError::bad_input(
            "id",
            "the expense is paid; a paid expense stays on the books",
        ));
    }
    if !deleted
        && status == ExpenseStatus::Approved
        && let Some(event) = current.event_id
    {
        budget_guard(&w, event, current.amount, over_budget).await?;
    }
    let row = w.set_deleted::<expenses::Entity>(id, deleted).await?;
    w.commit().await?;
    Ok(row)
}

/// The expense row, locked until commit (see the module comment). `deleted`: which state it
/// must be in (`None`: live).
async fn lock(w: &Work<'_>, id: Uuid, deleted: Option<bool>) -> Result<expenses::Model, AppError> {
    let q = w
        .actor
        .scope()
        .by_id::<expenses::Entity>(id)
        .filter(expenses::Column::IsDeleted.eq(deleted.unwrap_or(false)));
    w.lock(q, LockType::Update)
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<expenses::Entity>)
}

/// FORBIDDEN for an admin deciding on their own expense.
fn not_own(actor: &Actor, row: &expenses::Model) -> Result<(), AppError> {
    if row.created_by == actor.user_id {
        return Err(AppError::Forbidden(
            "nobody decides on their own expense; another admin must".into(),
        ));
    }
    Ok(())
}

/// CONFLICT: another decision got there first.
fn already(status: ExpenseStatus) -> AppError {
    AppError::Conflict {
        message: format!(
            "the expense is already {}; it can no longer be decided",
            status.as_str()
        ),
        field: Some("id".into()),
    }
}

/// The organization's threshold above which an expense needs two admins (`None`: never).
/// `expenseApproval` is an object whose only key is `secondApprovalAbove`, a non-negative
/// amount (a string like `"1000.00"` or a number) or null.
pub fn second_approval_above(settings: &serde_json::Value) -> Result<Option<Decimal>, String> {
    const SHAPE: &str = "expenseApproval must be an object like {\"secondApprovalAbove\": \"1000.00\"} (a non-negative amount, or null for one approval)";
    let section = match &settings["expenseApproval"] {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(map) => map,
        _ => return Err(SHAPE.into()),
    };
    if section.keys().any(|k| k != "secondApprovalAbove") {
        return Err(SHAPE.into());
    }
    let parsed = match section.get("secondApprovalAbove") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => s.trim().parse::<Decimal>().ok(),
        Some(serde_json::Value::Number(n)) => n.to_string().parse::<Decimal>().ok(),
        Some(_) => None,
    };
    match parsed {
        Some(d) if !d.is_sign_negative() => Ok(Some(d)),
        _ => Err(SHAPE.into()),
    }
}

async fn approvals_needed(w: &Work<'_>, amount: Decimal) -> Result<usize, AppError> {
    let org = w
        .actor
        .scope()
        .organization(&w.txn)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the organization no longer exists".into()))?;
    Ok(match second_approval_above(&org.settings) {
        Ok(Some(limit)) if amount > limit => 2,
        Ok(_) => 1,
        // Settings saved before they were checked: the stricter rule until an admin fixes them.
        Err(why) => {
            tracing::warn!(organization = %org.id, "unreadable expense settings: {why}");
            2
        }
    })
}

/// Refuses (BUDGET_EXCEEDED) to add `amount` to the event's spending past its budget unless
/// `over_budget`. Locks the event row first: two approvals on one event take turns here.
async fn budget_guard(
    w: &Work<'_>,
    event_id: Uuid,
    amount: Decimal,
    over_budget: bool,
) -> Result<(), AppError> {
    // NO KEY UPDATE: serializes approvals (and currency changes) on the event without holding
    // up the foreign-key checks of expenses being written for it.
    let q = w.actor.scope().by_id::<events::Entity>(event_id);
    let event = w
        .lock(q, LockType::NoKeyUpdate)
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<events::Entity>)?;
    let spent = spending(&w.txn, w.actor.scope(), vec![event_id])
        .await?
        .remove(&event_id)
        .unwrap_or_default()
        .spent;
    let budget = money::normalize(event.budget);
    let after = money::normalize(spent + amount);
    if after > budget && !over_budget {
        return Err(AppError::BudgetExceeded(format!(
            "approving this expense takes \"{}\" to {after} {cur} spent of its {budget} {cur} budget; approve with overBudget: true to go over",
            event.title,
            cur = event.currency
        )));
    }
    Ok(())
}

/// Moves the status from `from` with an update conditional on it; CONFLICT if it moved meanwhile.
async fn decide(
    w: &Work<'_>,
    old: &expenses::Model,
    from: ExpenseStatus,
    to: ExpenseStatus,
    set: impl FnOnce(sea_orm::UpdateMany<expenses::Entity>) -> sea_orm::UpdateMany<expenses::Entity>,
) -> Result<expenses::Model, AppError> {
    use expenses::Column as C;
    let update = w
        .actor
        .scope()
        .update_many::<expenses::Entity>()
        .col_expr(C::Status, Expr::value(to.as_str()))
        .col_expr(C::UpdatedAt, Expr::value(now()))
        .filter(C::Id.eq(old.id))
        .filter(C::Status.eq(from.as_str()));
    let done = set(update).exec(&w.txn).await?;
    if done.rows_affected != 1 {
        let now_status = lock(w, old.id, None).await?;
        return Err(already(ExpenseStatus::from_db(&now_status.status)?));
    }
    lock(w, old.id, None).await
}

/// The audit snapshot of an expense with its approvals (who, when).
fn snapshot(row: &expenses::Model, approvals: &[expense_approvals::Model]) -> serde_json::Value {
    let mut v = super::audit::snapshot(row);
    v["approvals"] = approvals
        .iter()
        .map(|a| json!({ "approverId": a.approver_id, "at": a.created_at.to_utc() }))
        .collect();
    v
}

pub async fn approve(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    over_budget: bool,
) -> Result<expenses::Model, AppError> {
    use expenses::Column as C;
    actor.admin()?;
    let mut w = Work::begin(store, actor).await?;
    let old = lock(&w, id, None).await?;
    not_own(actor, &old)?;
    let status = ExpenseStatus::from_db(&old.status)?;
    if status != ExpenseStatus::Pending {
        return Err(already(status));
    }
    let before = approvals_of(&w.txn, actor.scope(), vec![id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    if before.iter().any(|a| a.approver_id == actor.user_id) {
        return Err(AppError::Conflict {
            message: "you have already approved this expense; a second admin must approve it"
                .into(),
            field: Some("id".into()),
        });
    }
    let needed = approvals_needed(&w, old.amount).await?;
    let final_approval = before.len() + 1 >= needed;
    if final_approval && let Some(event) = old.event_id {
        budget_guard(&w, event, old.amount, over_budget).await?;
    }
    let t = now();
    let approval = expense_approvals::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        expense_id: Set(id),
        approver_id: Set(actor.user_id),
        created_at: Set(t),
    }
    .insert(&w.txn)
    .await?;
    let mut after = before.clone();
    after.push(approval);
    let row = if final_approval {
        decide(
            &w,
            &old,
            ExpenseStatus::Pending,
            ExpenseStatus::Approved,
            |u| {
                u.col_expr(C::ApprovedBy, Expr::value(actor.user_id))
                    .col_expr(C::ApprovedAt, Expr::value(t))
            },
        )
        .await?
    } else {
        let mut a: expenses::ActiveModel = old.clone().into();
        a.updated_at = Set(t);
        a.update(&w.txn).await?
    };
    super::audit::by_actor(
        &w.txn,
        actor,
        "expenses",
        id,
        crate::domain::enums::AuditAction::Update,
        Some(snapshot(&old, &before)),
        Some(snapshot(&row, &after)),
    )
    .await?;
    if final_approval {
        let text = format!("\"{}\" ({}) was approved.", row.title, money_text(&row));
        tell_submitter(
            &mut w,
            &row,
            NotificationType::Success,
            "Expense approved",
            text,
        )
        .await?;
        super::webhooks::emit(&mut w, "expense.approved", super::webhooks::api_json(&row)).await?;
    } else {
        let approver = submitter_name(&w, actor.user_id).await?;
        let text = format!(
            "{approver} approved \"{}\" ({}); a second admin must approve it.",
            row.title,
            money_text(&row)
        );
        let except = [actor.user_id, row.created_by];
        let title = "Expense needs a second approval";
        tell_admins(&mut w, &except, title, text, &row).await?;
    }
    w.commit().await?;
    Ok(row)
}

pub async fn reject(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<expenses::Model, AppError> {
    use expenses::Column as C;
    actor.admin()?;
    let reason = validate::required("reason", reason, 1000)?;
    let mut w = Work::begin(store, actor).await?;
    let old = lock(&w, id, None).await?;
    not_own(actor, &old)?;
    let status = ExpenseStatus::from_db(&old.status)?;
    if status != ExpenseStatus::Pending {
        return Err(already(status));
    }
    let t = now();
    let row = decide(
        &w,
        &old,
        ExpenseStatus::Pending,
        ExpenseStatus::Rejected,
        |u| {
            u.col_expr(C::RejectedBy, Expr::value(actor.user_id))
                .col_expr(C::RejectedAt, Expr::value(t))
                .col_expr(C::RejectionReason, Expr::value(reason.clone()))
        },
    )
    .await?;
    w.audit::<expenses::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    let text = format!(
        "\"{}\" ({}) was rejected: {reason}",
        row.title,
        money_text(&row)
    );
    tell_submitter(
        &mut w,
        &row,
        NotificationType::Warning,
        "Expense rejected",
        text,
    )
    .await?;
    super::webhooks::emit(&mut w, "expense.rejected", super::webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

pub async fn mark_paid(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    reference: Option<&str>,
) -> Result<expenses::Model, AppError> {
    use expenses::Column as C;
    actor.admin()?;
    let reference = validate::optional("reference", reference, 255)?;
    let mut w = Work::begin(store, actor).await?;
    let old = lock(&w, id, None).await?;
    not_own(actor, &old)?;
    match ExpenseStatus::from_db(&old.status)? {
        ExpenseStatus::Approved => {}
        ExpenseStatus::Paid => return Err(already(ExpenseStatus::Paid)),
        s => {
            return Err(AppError::bad_input(
                "id",
                format!(
                    "the expense is {}; only an approved expense can be paid",
                    s.as_str()
                ),
            ));
        }
    }
    let t = now();
    let row = decide(
        &w,
        &old,
        ExpenseStatus::Approved,
        ExpenseStatus::Paid,
        |u| {
            u.col_expr(C::PaidBy, Expr::value(actor.user_id))
                .col_expr(C::PaidAt, Expr::value(t))
                .col_expr(C::PaymentReference, Expr::value(reference))
        },
    )
    .await?;
    w.audit::<expenses::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    let text = format!("\"{}\" ({}) was paid.", row.title, money_text(&row));
    tell_submitter(
        &mut w,
        &row,
        NotificationType::Success,
        "Expense paid",
        text,
    )
    .await?;
    super::webhooks::emit(&mut w, "expense.paid", super::webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

/// How many expenses an event has (any status, deleted ones included: they can come back):
/// its currency cannot change under them.
pub async fn count_of_event(
    db: &impl ConnectionTrait,
    scope: Scoped,
    event_id: Uuid,
) -> Result<u64, AppError> {
    Ok(scope
        .find::<expenses::Entity>()
        .filter(expenses::Column::EventId.eq(event_id))
        .count(db)
        .await?)
}

fn money_text(row: &expenses::Model) -> String {
    format!("{} {}", money::normalize(row.amount), row.currency)
}

fn data(row: &expenses::Model) -> serde_json::Value {
    json!({
        "expenseId": row.id,
        "status": row.status,
        "amount": money::normalize(row.amount).to_string(),
        "currency": row.currency,
        "eventId": row.event_id,
    })
}

async fn tell_submitter(
    w: &mut Work<'_>,
    row: &expenses::Model,
    kind: NotificationType,
    title: &str,
    message: String,
) -> Result<(), AppError> {
    let n = NewNotification::new(row.created_by, kind, title, message, data(row));
    w.notify(vec![n]).await?;
    Ok(())
}

/// Tells the organization's active admins, but `except`, about an expense.
async fn tell_admins(
    w: &mut Work<'_>,
    except: &[Uuid],
    title: &str,
    message: String,
    row: &expenses::Model,
) -> Result<(), AppError> {
    let items = admins_except(w, except)
        .await?
        .into_iter()
        .map(|u| NewNotification::new(u, NotificationType::Info, title, message.clone(), data(row)))
        .collect();
    w.notify(items).await?;
    Ok(())
}

async fn submitter_name(w: &Work<'_>, user: Uuid) -> Result<String, AppError> {
    let u = w
        .actor
        .scope()
        .by_id::<users::Entity>(user)
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<users::Entity>)?;
    Ok(format!("{} {}", u.first_name, u.last_name))
}

/// The organization's active admins, but `except`.
async fn admins_except(w: &Work<'_>, except: &[Uuid]) -> Result<Vec<Uuid>, AppError> {
    use users::Column as C;
    let ids: Vec<Uuid> = super::users::active_admins(w.actor.scope())
        .filter(C::Id.is_not_in(except.iter().copied()))
        .select_only()
        .column(C::Id)
        .into_tuple()
        .all(&w.txn)
        .await?;
    Ok(ids)
}

/// Refuses organization settings whose expense threshold is not an amount.
pub fn check_settings(settings: &serde_json::Value) -> Result<(), AppError> {
    if settings
        .get("requireTwoFactor")
        .is_some_and(|v| !v.is_boolean())
    {
        return Err(AppError::bad_input(
            "settings",
            "requireTwoFactor must be true or false",
        ));
    }
    second_approval_above(settings)
        .map(|_| ())
        .map_err(|m| AppError::bad_input("settings", m))
}
