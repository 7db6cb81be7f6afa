//! Contacts and their interactions: the lead funnel (target -> contact -> plug), lead scores,
//! `last_interaction` upkeep, and the funnel analytics.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, Order,
    QueryFilter, QuerySelect, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use std::sync::LazyLock;

use super::audit;
use super::users::like_pattern;
use super::{Actor, Change, now, validate};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{
    ContactPriority, ContactStatus, ContactType, DbEnum, InteractionStatus, InteractionType,
};
use crate::entities::{contact_interactions, contacts, users};
use crate::error::AppError;

/// The searched text; identical to the expression of the PostgreSQL trigram index.
pub const SEARCH_EXPR: &str = "lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(company, ''))";

#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    pub search: Option<String>,
    pub contact_type: Option<Vec<ContactType>>,
    pub status: Option<Vec<ContactStatus>>,
    pub priority: Option<Vec<ContactPriority>>,
    pub lead_score_min: Option<i32>,
    pub lead_score_max: Option<i32>,
    pub company: Option<String>,
    pub industry: Option<String>,
    pub created_by: Option<Uuid>,
    pub last_interaction_after: Option<DateTime<Utc>>,
    pub last_interaction_before: Option<DateTime<Utc>>,
    pub deleted: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactSort {
    CreatedAt,
    UpdatedAt,
    LastName,
    Company,
    LeadScore,
    LastInteraction,
}

/// (cursor name, column, type, nullable, value of a row).
type SortSpec = (
    &'static str,
    contacts::Column,
    SortKind,
    bool,
    fn(&contacts::Model) -> SortValue,
);

pub fn keyset(sort: ContactSort, direction: Order) -> Keyset<contacts::Entity> {
    use contacts::Column as C;
    let (name, sort_col, kind, nullable, value): SortSpec = match sort {
        ContactSort::CreatedAt => ("created_at", C::CreatedAt, SortKind::Time, false, |m| {
            SortValue::Time(m.created_at.to_utc())
        }),
        ContactSort::UpdatedAt => ("updated_at", C::UpdatedAt, SortKind::Time, false, |m| {
            SortValue::Time(m.updated_at.to_utc())
        }),
        ContactSort::LastName => ("last_name", C::LastName, SortKind::Text, false, |m| {
            SortValue::Text(m.last_name.clone())
        }),
        ContactSort::Company => ("company", C::Company, SortKind::Text, true, |m| {
            m.company.clone().map_or(SortValue::Null, SortValue::Text)
        }),
        ContactSort::LeadScore => ("lead_score", C::LeadScore, SortKind::Int, false, |m| {
            SortValue::Int(m.lead_score.into())
        }),
        ContactSort::LastInteraction => (
            "last_interaction",
            C::LastInteraction,
            SortKind::Time,
            true,
            |m| {
                m.last_interaction
                    .map_or(SortValue::Null, |t| SortValue::Time(t.to_utc()))
            },
        ),
    };
    let name = match direction {
        Order::Asc => name,
        _ => match sort {
            ContactSort::CreatedAt => "created_at desc",
            ContactSort::UpdatedAt => "updated_at desc",
            ContactSort::LastName => "last_name desc",
            ContactSort::Company => "company desc",
            ContactSort::LeadScore => "lead_score desc",
            ContactSort::LastInteraction => "last_interaction desc",
        },
    };
    Keyset {
        name,
        sort: sort_col,
        kind,
        nullable,
        id: C::Id,
        direction,
        value,
        id_of: |m| m.id,
    }
}

pub fn interaction_keyset() -> Keyset<contact_interactions::Entity> {
    Keyset {
        name: "interaction_date desc",
        sort: contact_interactions::Column::InteractionDate,
        kind: SortKind::Time,
        nullable: false,
        id: contact_interactions::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.interaction_date.to_utc()),
        id_of: |m| m.id,
    }
}

/// `Contact.interactions`: newest first.
pub static INTERACTIONS_OF_CONTACT: LazyLock<Children<contact_interactions::Entity>> =
    LazyLock::new(|| Children {
        parent: contact_interactions::Column::ContactId,
        keyset: interaction_keyset(),
        status: None,
    });

/// `User.contacts`: the contacts a member added, newest first.
pub static CONTACTS_BY_CREATOR: LazyLock<Children<contacts::Entity>> = LazyLock::new(|| Children {
    parent: contacts::Column::CreatedBy,
    keyset: keyset(ContactSort::CreatedAt, Order::Desc),
    status: None,
});

/// `Organization.contacts`: newest first.
pub static CONTACTS_OF_ORGANIZATION: LazyLock<Children<contacts::Entity>> =
    LazyLock::new(|| Children {
        parent: contacts::Column::OrganizationId,
        keyset: keyset(ContactSort::CreatedAt, Order::Desc),
        status: None,
    });

fn not_found() -> AppError {
    AppError::NotFound("no such contact".into())
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &ContactFilter,
    sort: (ContactSort, Order),
    args: &PageArgs,
) -> Result<Page<contacts::Model>, AppError> {
    use contacts::Column as C;
    let mut q = actor
        .scope()
        .find::<contacts::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(s) = f.search.as_deref().filter(|s| !s.trim().is_empty()) {
        validate::max_len("search", s, 100)?;
        q = q.filter(
            Expr::cust(SEARCH_EXPR)
                .like(sea_orm::sea_query::LikeExpr::new(like_pattern(s)).escape('\\')),
        );
    }
    if let Some(types) = &f.contact_type {
        q = q.filter(C::ContactType.is_in(types.iter().map(|t| t.as_str())));
    }
    if let Some(statuses) = &f.status {
        q = q.filter(C::Status.is_in(statuses.iter().map(|t| t.as_str())));
    }
    if let Some(p) = &f.priority {
        q = q.filter(C::Priority.is_in(p.iter().map(|t| t.as_str())));
    }
    if let (Some(min), Some(max)) = (f.lead_score_min, f.lead_score_max)
        && min > max
    {
        return Err(AppError::bad_input(
            "leadScoreMin",
            "must not exceed leadScoreMax",
        ));
    }
    if let Some(min) = f.lead_score_min {
        q = q.filter(C::LeadScore.gte(min));
    }
    if let Some(max) = f.lead_score_max {
        q = q.filter(C::LeadScore.lte(max));
    }
    if let Some(c) = &f.company {
        q = q.filter(
            Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(C::Company)))
                .eq(c.trim().to_lowercase()),
        );
    }
    if let Some(i) = &f.industry {
        q = q.filter(
            Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(C::Industry)))
                .eq(i.trim().to_lowercase()),
        );
    }
    if let Some(u) = f.created_by {
        q = q.filter(C::CreatedBy.eq(u));
    }
    if let Some(t) = f.last_interaction_after {
        q = q.filter(C::LastInteraction.gte(t.fixed_offset()));
    }
    if let Some(t) = f.last_interaction_before {
        q = q.filter(C::LastInteraction.lt(t.fixed_offset()));
    }
    paginate(db, q, &keyset(sort.0, sort.1), args).await
}

pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<contacts::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<contacts::Entity>(id)
        .one(db)
        .await?)
}

/// Contact columns a client may set. `None` leaves a column as it is.
#[derive(Clone, Debug, Default)]
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Change<String>,
    pub phone: Change<String>,
    pub company: Change<String>,
    pub job_title: Change<String>,
    pub linkedin_url: Change<String>,
    pub bio: Change<String>,
    pub avatar_url: Change<String>,
    pub status: Option<ContactStatus>,
    pub priority: Option<ContactPriority>,
    pub business_type: Change<String>,
    pub network_type: Change<String>,
    pub industry: Change<String>,
    pub notes: Change<String>,
    pub metadata: Option<Value>,
    pub lead_score: Option<i32>,
}

fn apply(a: &mut contacts::ActiveModel, p: ContactPatch) -> Result<(), AppError> {
    if let Some(v) = p.first_name {
        a.first_name = Set(validate::required("firstName", &v, 50)?);
    }
    if let Some(v) = p.last_name {
        a.last_name = Set(validate::required("lastName", &v, 50)?);
    }
    // (field, change, max length, kind): kind 0 text, 1 url, 2 email
    let text = |field: &str,
                c: Change<String>,
                max: usize,
                kind: u8|
     -> Result<Option<Option<String>>, AppError> {
        Ok(match c {
            Change::Keep => None,
            Change::Clear => Some(None),
            Change::Set(v) => Some(match kind {
                1 => validate::url(field, Some(&v), max)?,
                2 if v.trim().is_empty() => None,
                2 => Some(validate::email(field, &v)?),
                _ => validate::optional(field, Some(&v), max)?,
            }),
        })
    };
    if let Some(v) = text("email", p.email, 255, 2)? {
        a.email = Set(v);
    }
    if let Some(v) = text("phone", p.phone, 20, 0)? {
        a.phone = Set(v);
    }
    if let Some(v) = text("company", p.company, 100, 0)? {
        a.company = Set(v);
    }
    if let Some(v) = text("jobTitle", p.job_title, 100, 0)? {
        a.job_title = Set(v);
    }
    if let Some(v) = text("linkedinUrl", p.linkedin_url, 255, 1)? {
        a.linkedin_url = Set(v);
    }
    if let Some(v) = text("bio", p.bio, 10_000, 0)? {
        a.bio = Set(v);
    }
    if let Some(v) = text("avatarUrl", p.avatar_url, 500, 1)? {
        a.avatar_url = Set(v);
    }
    if let Some(v) = text("businessType", p.business_type, 50, 0)? {
        a.business_type = Set(v);
    }
    if let Some(v) = text("networkType", p.network_type, 50, 0)? {
        a.network_type = Set(v);
    }
    if let Some(v) = text("industry", p.industry, 100, 0)? {
        a.industry = Set(v);
    }
    if let Some(v) = text("notes", p.notes, 20_000, 0)? {
        a.notes = Set(v);
    }
    if let Some(s) = p.status {
        a.status = Set(s.as_str().into());
    }
    if let Some(s) = p.priority {
        a.priority = Set(s.as_str().into());
    }
    if let Some(m) = p.metadata {
        if !m.is_object() {
            return Err(AppError::bad_input("metadata", "must be a JSON object"));
        }
        a.metadata = Set(m);
    }
    if let Some(score) = p.lead_score {
        if !(0..=100).contains(&score) {
            return Err(AppError::bad_input(
                "leadScore",
                "must be between 0 and 100",
            ));
        }
        a.lead_score = Set(score);
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    contact_type: Option<ContactType>,
    patch: ContactPatch,
) -> Result<contacts::Model, AppError> {
    if patch.first_name.is_none() || patch.last_name.is_none() {
        return Err(AppError::bad_input(
            "firstName",
            "firstName and lastName are required",
        ));
    }
    let t = now();
    let mut a = contacts::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        created_by: Set(actor.user_id),
        updated_by: Set(Some(actor.user_id)),
        contact_type: Set(contact_type.unwrap_or(ContactType::Target).as_str().into()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    };
    apply(&mut a, patch)?;
    let txn = crate::db::write_txn(db).await?;
    let row = a.insert(&txn).await?;
    audit::change(&txn, actor, "contacts", row.id, None, Some(&row)).await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    patch: ContactPatch,
) -> Result<contacts::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<contacts::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let mut a: contacts::ActiveModel = old.clone().into();
    apply(&mut a, patch)?;
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "contacts", id, Some(&old), Some(&row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Soft delete (`deleted: true`) or restore.
pub async fn set_deleted(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<contacts::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let row =
        super::set_deleted::<contacts::Entity>(&txn, actor, "contacts", id, deleted, not_found)
            .await?;
    txn.commit().await?;
    Ok(row)
}

fn funnel_rank(t: ContactType) -> u8 {
    match t {
        ContactType::Target => 0,
        ContactType::Contact => 1,
        ContactType::Plug => 2,
    }
}

/// Moves a contact along the funnel. Forward moves (skipping a stage included) are anyone's;
/// a backward move needs `force` and an admin.
pub async fn convert(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    to: ContactType,
    force: bool,
) -> Result<contacts::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<contacts::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let from = ContactType::from_db(&old.contact_type);
    if from == to {
        return Err(AppError::bad_input(
            "to",
            format!("the contact is already a {}", from.as_str()),
        ));
    }
    if funnel_rank(to) < funnel_rank(from) {
        if !force {
            return Err(AppError::bad_input(
                "to",
                format!(
                    "moving a {} back to {} needs force: true (admins only)",
                    from.as_str(),
                    to.as_str()
                ),
            ));
        }
        if !actor.is_admin {
            return Err(AppError::Forbidden(
                "only an admin may move a contact backwards".into(),
            ));
        }
    }
    let mut a: contacts::ActiveModel = old.clone().into();
    a.contact_type = Set(to.as_str().into());
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "contacts", id, Some(&old), Some(&row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Lead score from the contact's completed, non-deleted interactions:
/// recency (last one within 7 days: 40, 30 days: 30, 90 days: 15, older or none: 0)
/// + frequency (3 per interaction in the last 90 days, at most 30)
/// + outcomes (20 x the share of interactions with a recorded outcome)
/// + stage (plug 10, contact 5, target 0); at most 100.
pub fn lead_score(
    now: DateTime<Utc>,
    contact_type: ContactType,
    completed: &[(DateTime<Utc>, bool)],
) -> i32 {
    let recency = completed.iter().map(|(d, _)| *d).max().map_or(0, |last| {
        let age = now - last;
        if age <= Duration::days(7) {
            40
        } else if age <= Duration::days(30) {
            30
        } else if age <= Duration::days(90) {
            15
        } else {
            0
        }
    });
    let recent = completed
        .iter()
        .filter(|(d, _)| now - *d <= Duration::days(90))
        .count() as i32;
    let frequency = std::cmp::min(recent * 3, 30);
    let outcomes = if completed.is_empty() {
        0
    } else {
        let with = completed.iter().filter(|(_, has)| *has).count() as i32;
        (20 * with + completed.len() as i32 / 2) / completed.len() as i32
    };
    let stage = match contact_type {
        ContactType::Plug => 10,
        ContactType::Contact => 5,
        ContactType::Target => 0,
    };
    std::cmp::min(recency + frequency + outcomes + stage, 100)
}

pub async fn recalculate_lead_score(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<contacts::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<contacts::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let rows = actor
        .scope()
        .live::<contact_interactions::Entity>()
        .filter(contact_interactions::Column::ContactId.eq(id))
        .filter(contact_interactions::Column::Status.eq(InteractionStatus::Completed.as_str()))
        .all(&txn)
        .await?;
    let completed: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.interaction_date.to_utc(),
                r.outcome.as_deref().is_some_and(|o| !o.trim().is_empty()),
            )
        })
        .collect();
    let score = lead_score(
        Utc::now(),
        ContactType::from_db(&old.contact_type),
        &completed,
    );
    let mut a: contacts::ActiveModel = old.clone().into();
    a.lead_score = Set(score);
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "contacts", id, Some(&old), Some(&row)).await?;
    txn.commit().await?;
    Ok(row)
}

// ---- interactions ----

#[derive(Clone, Debug, Default)]
pub struct InteractionFilter {
    pub contact_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub interaction_type: Option<Vec<InteractionType>>,
    pub status: Option<Vec<InteractionStatus>>,
    pub date_from: Option<DateTime<Utc>>,
    pub date_to: Option<DateTime<Utc>>,
    pub deleted: Option<bool>,
}

pub async fn list_interactions(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &InteractionFilter,
    args: &PageArgs,
) -> Result<Page<contact_interactions::Model>, AppError> {
    use contact_interactions::Column as C;
    let mut q = actor
        .scope()
        .find::<contact_interactions::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(c) = f.contact_id {
        q = q.filter(C::ContactId.eq(c));
    }
    if let Some(u) = f.user_id {
        q = q.filter(C::UserId.eq(u));
    }
    if let Some(t) = &f.interaction_type {
        q = q.filter(C::InteractionType.is_in(t.iter().map(|t| t.as_str())));
    }
    if let Some(s) = &f.status {
        q = q.filter(C::Status.is_in(s.iter().map(|t| t.as_str())));
    }
    if let Some(t) = f.date_from {
        q = q.filter(C::InteractionDate.gte(t.fixed_offset()));
    }
    if let Some(t) = f.date_to {
        q = q.filter(C::InteractionDate.lt(t.fixed_offset()));
    }
    paginate(db, q, &interaction_keyset(), args).await
}

pub async fn get_interaction(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<contact_interactions::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<contact_interactions::Entity>(id)
        .one(db)
        .await?)
}

#[derive(Clone, Debug, Default)]
pub struct InteractionPatch {
    pub user_id: Option<Uuid>,
    pub interaction_type: Option<InteractionType>,
    pub subject: Change<String>,
    pub description: Change<String>,
    pub outcome: Change<String>,
    pub interaction_date: Option<DateTime<Utc>>,
    pub status: Option<InteractionStatus>,
    pub metadata: Option<Value>,
}

/// Dates a human could mean: not before 1970, not more than ten years ahead, and a completed
/// interaction not in the future (a minute of clock skew allowed).
fn check_date(date: DateTime<FixedOffset>, status: InteractionStatus) -> Result<(), AppError> {
    let t = Utc::now();
    if date.to_utc() < DateTime::UNIX_EPOCH || date.to_utc() > t + Duration::days(3650) {
        return Err(AppError::bad_input(
            "interactionDate",
            "is out of the plausible range",
        ));
    }
    if status == InteractionStatus::Completed && date.to_utc() > t + Duration::minutes(1) {
        return Err(AppError::bad_input(
            "interactionDate",
            "a completed interaction cannot be in the future (schedule it instead)",
        ));
    }
    Ok(())
}

async fn apply_interaction(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    a: &mut contact_interactions::ActiveModel,
    p: InteractionPatch,
) -> Result<(), AppError> {
    if let Some(u) = p.user_id {
        // The interaction's member must belong to the organization (else: as if missing).
        actor
            .scope()
            .live_by_id::<users::Entity>(u)
            .select_only()
            .column(users::Column::Id)
            .into_tuple::<Uuid>()
            .one(txn)
            .await?
            .ok_or_else(|| AppError::NotFound("no such user".into()))?;
        a.user_id = Set(u);
    }
    if let Some(t) = p.interaction_type {
        a.interaction_type = Set(t.as_str().into());
    }
    let text =
        |field: &str, c: Change<String>, max: usize| -> Result<Option<Option<String>>, AppError> {
            Ok(match c {
                Change::Keep => None,
                Change::Clear => Some(None),
                Change::Set(v) => Some(validate::optional(field, Some(&v), max)?),
            })
        };
    if let Some(v) = text("subject", p.subject, 255)? {
        a.subject = Set(v);
    }
    if let Some(v) = text("description", p.description, 20_000)? {
        a.description = Set(v);
    }
    if let Some(v) = text("outcome", p.outcome, 20_000)? {
        a.outcome = Set(v);
    }
    if let Some(d) = p.interaction_date {
        a.interaction_date = Set(d.fixed_offset());
    }
    if let Some(s) = p.status {
        a.status = Set(s.as_str().into());
    }
    if let Some(m) = p.metadata {
        if !m.is_object() {
            return Err(AppError::bad_input("metadata", "must be a JSON object"));
        }
        a.metadata = Set(m);
    }
    let date = match &a.interaction_date {
        sea_orm::ActiveValue::Set(d) | sea_orm::ActiveValue::Unchanged(d) => *d,
        _ => return Err(AppError::bad_input("interactionDate", "is required")),
    };
    let status = match &a.status {
        sea_orm::ActiveValue::Set(s) | sea_orm::ActiveValue::Unchanged(s) => {
            InteractionStatus::from_db(s)
        }
        _ => InteractionStatus::Completed,
    };
    check_date(date, status)
}

/// `contacts.last_interaction` = the latest completed, non-deleted interaction, recomputed in
/// the writing transaction (so deleting the latest one moves it back).
async fn refresh_last_interaction(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    contact_id: Uuid,
) -> Result<(), AppError> {
    let backend = txn.get_database_backend();
    let (p1, p2, p3) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?", "?", "?"),
    };
    let sql = format!(
        "UPDATE contacts SET last_interaction = (SELECT MAX(ci.interaction_date) FROM contact_interactions ci \
         WHERE ci.contact_id = contacts.id AND ci.status = {p1} AND NOT ci.is_deleted) \
         WHERE id = {p2} AND organization_id = {p3}"
    );
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            InteractionStatus::Completed.as_str().into(),
            contact_id.into(),
            actor.organization_id.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn create_interaction(
    db: &DatabaseConnection,
    actor: &Actor,
    contact_id: Uuid,
    patch: InteractionPatch,
) -> Result<contact_interactions::Model, AppError> {
    if patch.interaction_type.is_none() {
        return Err(AppError::bad_input("interactionType", "is required"));
    }
    let txn = crate::db::write_txn(db).await?;
    actor
        .scope()
        .live_by_id::<contacts::Entity>(contact_id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let t = now();
    let mut a = contact_interactions::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        contact_id: Set(contact_id),
        user_id: Set(actor.user_id),
        status: Set(InteractionStatus::Completed.as_str().into()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    };
    apply_interaction(&txn, actor, &mut a, patch).await?;
    let row = a.insert(&txn).await?;
    refresh_last_interaction(&txn, actor, contact_id).await?;
    audit::change(
        &txn,
        actor,
        "contact_interactions",
        row.id,
        None,
        Some(&row),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn update_interaction(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    patch: InteractionPatch,
) -> Result<contact_interactions::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<contact_interactions::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such interaction".into()))?;
    let mut a: contact_interactions::ActiveModel = old.clone().into();
    apply_interaction(&txn, actor, &mut a, patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&txn).await?;
    refresh_last_interaction(&txn, actor, row.contact_id).await?;
    audit::change(
        &txn,
        actor,
        "contact_interactions",
        id,
        Some(&old),
        Some(&row),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn set_interaction_deleted(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<contact_interactions::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let row = super::set_deleted::<contact_interactions::Entity>(
        &txn,
        actor,
        "contact_interactions",
        id,
        deleted,
        || AppError::NotFound("no such interaction".into()),
    )
    .await?;
    refresh_last_interaction(&txn, actor, row.contact_id).await?;
    txn.commit().await?;
    Ok(row)
}

// ---- analytics ----

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Funnel {
    pub targets: i64,
    pub contacts: i64,
    pub plugs: i64,
}

/// Live contacts per funnel stage, optionally created within `[after, before)`.
pub async fn funnel(
    db: &DatabaseConnection,
    actor: &Actor,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
) -> Result<Funnel, AppError> {
    use contacts::Column as C;
    let mut q = actor
        .scope()
        .live::<contacts::Entity>()
        .select_only()
        .column(C::ContactType)
        .column_as(C::Id.count(), "n")
        .group_by(C::ContactType);
    if let Some(t) = created_after {
        q = q.filter(C::CreatedAt.gte(t.fixed_offset()));
    }
    if let Some(t) = created_before {
        q = q.filter(C::CreatedAt.lt(t.fixed_offset()));
    }
    let rows: Vec<(String, i64)> = q.into_tuple().all(db).await?;
    let mut f = Funnel::default();
    for (t, n) in rows {
        match ContactType::from_db(&t) {
            ContactType::Target => f.targets = n,
            ContactType::Contact => f.contacts = n,
            ContactType::Plug => f.plugs = n,
        }
    }
    Ok(f)
}
