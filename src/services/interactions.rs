//! Interactions: touchpoints with a contact (meetings, calls, e-mails, ...). Every change
//! recomputes the contact's `last_interaction` in the same transaction.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SubQueryStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, Order,
    QueryFilter, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::validate::{self, Text::Plain, set_text};
use super::work::{Store, Work};
use super::{Actor, Change, now};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::scoped::Scoped;
use crate::domain::enums::{DbEnum, InteractionStatus, InteractionType};
use crate::entities::{contact_interactions, contacts, users};
use crate::error::AppError;

/// Newest first.
pub fn keyset() -> Keyset<contact_interactions::Entity> {
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
pub static OF_CONTACT: LazyLock<Children<contact_interactions::Entity>> =
    LazyLock::new(|| Children {
        parent: contact_interactions::Column::ContactId,
        keyset: keyset(),
        status: None,
    });

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

pub async fn list(
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
    paginate(db, q, &keyset(), args).await
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

async fn apply(
    w: &Work<'_>,
    a: &mut contact_interactions::ActiveModel,
    p: InteractionPatch,
) -> Result<(), AppError> {
    if let Some(u) = p.user_id {
        // The interaction's member must belong to the organization (else: as if missing).
        w.live::<users::Entity>(u).await?;
        a.user_id = Set(u);
    }
    if let Some(t) = p.interaction_type {
        a.interaction_type = Set(t.as_str().into());
    }
    set_text(&mut a.subject, "subject", p.subject, Plain(255))?;
    set_text(
        &mut a.description,
        "description",
        p.description,
        Plain(20_000),
    )?;
    set_text(&mut a.outcome, "outcome", p.outcome, Plain(20_000))?;
    if let Some(d) = p.interaction_date {
        a.interaction_date = Set(d.fixed_offset());
    }
    if let Some(s) = p.status {
        a.status = Set(s.as_str().into());
    }
    if let Some(m) = p.metadata {
        a.metadata = Set(validate::object("metadata", m)?);
    }
    let date = match &a.interaction_date {
        sea_orm::ActiveValue::Set(d) | sea_orm::ActiveValue::Unchanged(d) => *d,
        _ => return Err(AppError::bad_input("interactionDate", "is required")),
    };
    let status = match &a.status {
        sea_orm::ActiveValue::Set(s) | sea_orm::ActiveValue::Unchanged(s) => {
            InteractionStatus::from_db(s)?
        }
        _ => InteractionStatus::Completed,
    };
    check_date(date, status)
}

/// `contacts.last_interaction` = the latest completed, non-deleted interaction, recomputed in
/// the writing transaction (so deleting the latest one moves it back).
async fn refresh_last_interaction(w: &Work<'_>, contact_id: Uuid) -> Result<(), AppError> {
    use contact_interactions::Column as I;
    let latest = Query::select()
        .expr(Expr::col((contact_interactions::Entity, I::InteractionDate)).max())
        .from(contact_interactions::Entity)
        .and_where(
            Expr::col((contact_interactions::Entity, I::ContactId))
                .equals((contacts::Entity, contacts::Column::Id)),
        )
        .and_where(
            Expr::col((contact_interactions::Entity, I::Status))
                .eq(InteractionStatus::Completed.as_str()),
        )
        .and_where(Expr::col((contact_interactions::Entity, I::IsDeleted)).eq(false))
        .to_owned();
    w.actor
        .scope()
        .update_many::<contacts::Entity>()
        .col_expr(
            contacts::Column::LastInteraction,
            Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(latest))),
        )
        .filter(contacts::Column::Id.eq(contact_id))
        .exec(&w.txn)
        .await?;
    Ok(())
}

/// (date, has an outcome) of a contact's completed, live interactions (for the lead score).
pub async fn completed(
    db: &impl ConnectionTrait,
    scope: Scoped,
    contact_id: Uuid,
) -> Result<Vec<(DateTime<Utc>, bool)>, AppError> {
    use contact_interactions::Column as C;
    let rows: Vec<(DateTime<FixedOffset>, Option<String>)> = scope
        .live::<contact_interactions::Entity>()
        .filter(C::ContactId.eq(contact_id))
        .filter(C::Status.eq(InteractionStatus::Completed.as_str()))
        .select_only()
        .column(C::InteractionDate)
        .column(C::Outcome)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(d, outcome)| (d.to_utc(), outcome.is_some_and(|o| !o.trim().is_empty())))
        .collect())
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    contact_id: Uuid,
    patch: InteractionPatch,
) -> Result<contact_interactions::Model, AppError> {
    if patch.interaction_type.is_none() {
        return Err(AppError::bad_input("interactionType", "is required"));
    }
    let w = Work::begin(store, actor).await?;
    w.live::<contacts::Entity>(contact_id).await?;
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
    apply(&w, &mut a, patch).await?;
    let row = a.insert(&w.txn).await?;
    refresh_last_interaction(&w, contact_id).await?;
    w.audit::<contact_interactions::Entity, _>(row.id, None, Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: InteractionPatch,
) -> Result<contact_interactions::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = w.live::<contact_interactions::Entity>(id).await?;
    let mut a: contact_interactions::ActiveModel = old.clone().into();
    apply(&w, &mut a, patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    refresh_last_interaction(&w, row.contact_id).await?;
    w.audit::<contact_interactions::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete (`deleted: true`) or restore; the contact's `lastInteraction` follows.
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<contact_interactions::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let row = w
        .set_deleted::<contact_interactions::Entity>(id, deleted)
        .await?;
    refresh_last_interaction(&w, row.contact_id).await?;
    w.commit().await?;
    Ok(row)
}
