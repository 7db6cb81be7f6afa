//! Contacts: the lead funnel (target -> contact -> plug), lead scores, and the funnel
//! analytics. Their interactions are in `interactions`.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, IntoActiveModel, Order,
    QueryFilter, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::validate::{self, Text::Email, Text::Plain, Text::Url, set_text};
use super::webhooks;
use super::work::{Store, Work};
use super::{Actor, Change, now};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::search;
use crate::domain::enums::{ContactPriority, ContactStatus, ContactType, DbEnum};
use crate::entities::contacts;
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

/// `User.contacts`: the contacts a member added, newest first.
pub static BY_CREATOR: LazyLock<Children<contacts::Entity>> = LazyLock::new(|| Children {
    parent: contacts::Column::CreatedBy,
    keyset: keyset(ContactSort::CreatedAt, Order::Desc),
    status: None,
});

/// `Organization.contacts`: newest first.
pub static OF_ORGANIZATION: LazyLock<Children<contacts::Entity>> = LazyLock::new(|| Children {
    parent: contacts::Column::OrganizationId,
    keyset: keyset(ContactSort::CreatedAt, Order::Desc),
    status: None,
});

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
    if let Some(s) = validate::search(f.search.as_deref())? {
        q = q.filter(search::expr_contains(SEARCH_EXPR, s));
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
        q = q.filter(search::equals_ignoring_case(C::Company, c));
    }
    if let Some(i) = &f.industry {
        q = q.filter(search::equals_ignoring_case(C::Industry, i));
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
    set_text(&mut a.email, "email", p.email, Email)?;
    set_text(&mut a.phone, "phone", p.phone, Plain(20))?;
    set_text(&mut a.company, "company", p.company, Plain(100))?;
    set_text(&mut a.job_title, "jobTitle", p.job_title, Plain(100))?;
    set_text(&mut a.linkedin_url, "linkedinUrl", p.linkedin_url, Url(255))?;
    set_text(&mut a.bio, "bio", p.bio, Plain(10_000))?;
    set_text(&mut a.avatar_url, "avatarUrl", p.avatar_url, Url(500))?;
    set_text(
        &mut a.business_type,
        "businessType",
        p.business_type,
        Plain(50),
    )?;
    set_text(
        &mut a.network_type,
        "networkType",
        p.network_type,
        Plain(50),
    )?;
    set_text(&mut a.industry, "industry", p.industry, Plain(100))?;
    set_text(&mut a.notes, "notes", p.notes, Plain(20_000))?;
    if let Some(s) = p.status {
        a.status = Set(s.as_str().into());
    }
    if let Some(s) = p.priority {
        a.priority = Set(s.as_str().into());
    }
    if let Some(m) = p.metadata {
        a.metadata = Set(validate::object("metadata", m)?);
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

/// A new contact of `organization_id` by `user_id`, checked as `createContact` checks it (the
/// one path for single creation and imports).
pub fn draft(
    organization_id: Uuid,
    user_id: Uuid,
    contact_type: Option<ContactType>,
    patch: ContactPatch,
) -> Result<contacts::ActiveModel, AppError> {
    if patch.first_name.is_none() || patch.last_name.is_none() {
        return Err(AppError::bad_input(
            "firstName",
            "firstName and lastName are required",
        ));
    }
    let t = now();
    // Every column set (the schema's defaults where the patch is silent), so rows drafted
    // from different patches insert together in one statement.
    let mut a = contacts::Model {
        id: Uuid::new_v4(),
        organization_id,
        created_by: user_id,
        first_name: String::new(),
        last_name: String::new(),
        email: None,
        phone: None,
        company: None,
        job_title: None,
        linkedin_url: None,
        bio: None,
        avatar_url: None,
        contact_type: contact_type.unwrap_or(ContactType::Target).as_str().into(),
        status: ContactStatus::ColdLead.as_str().into(),
        priority: ContactPriority::Medium.as_str().into(),
        business_type: None,
        network_type: None,
        industry: None,
        notes: None,
        metadata: serde_json::json!({}),
        lead_score: 0,
        last_interaction: None,
        created_at: t,
        updated_at: t,
        is_deleted: false,
        deleted_at: None,
        updated_by: Some(user_id),
    }
    .into_active_model()
    .reset_all();
    apply(&mut a, patch)?;
    Ok(a)
}

/// Changes a loaded contact as `updateContact` does (checked, stamped); the caller saves it.
pub fn revise(
    old: contacts::Model,
    user_id: Uuid,
    patch: ContactPatch,
) -> Result<contacts::ActiveModel, AppError> {
    let mut a: contacts::ActiveModel = old.into();
    apply(&mut a, patch)?;
    a.updated_at = Set(now());
    a.updated_by = Set(Some(user_id));
    Ok(a)
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    contact_type: Option<ContactType>,
    patch: ContactPatch,
) -> Result<contacts::Model, AppError> {
    let a = draft(actor.organization_id, actor.user_id, contact_type, patch)?;
    let mut w = Work::begin(store, actor).await?;
    let row = a.insert(&w.txn).await?;
    w.audit::<contacts::Entity, _>(row.id, None, Some(&row))
        .await?;
    webhooks::emit(&mut w, "contact.created", webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete (`contact.deleted`) or restore (`contact.updated`).
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<contacts::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let row = w.set_deleted::<contacts::Entity>(id, deleted).await?;
    let kind = if deleted {
        "contact.deleted"
    } else {
        "contact.updated"
    };
    webhooks::emit(&mut w, kind, webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

/// Changes a live contact: `edit` changes the loaded row (or refuses), then the row is
/// stamped, saved and audited in one unit of work.
async fn change(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    edit: impl AsyncFnOnce(
        &Work<'_>,
        &contacts::Model,
        &mut contacts::ActiveModel,
    ) -> Result<(), AppError>,
) -> Result<contacts::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    // Locked: an erasure or another change in between must not be written over.
    let old = w.locked::<contacts::Entity>(id).await?;
    let mut a: contacts::ActiveModel = old.clone().into();
    edit(&w, &old, &mut a).await?;
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&w.txn).await?;
    w.audit::<contacts::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    webhooks::emit(&mut w, "contact.updated", webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: ContactPatch,
) -> Result<contacts::Model, AppError> {
    change(store, actor, id, async |_, _, a| apply(a, patch)).await
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
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    to: ContactType,
    force: bool,
) -> Result<contacts::Model, AppError> {
    change(store, actor, id, async |_, old, a| {
        let from = ContactType::from_db(&old.contact_type)?;
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
            actor.admin()?;
        }
        a.contact_type = Set(to.as_str().into());
        Ok(())
    })
    .await
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
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<contacts::Model, AppError> {
    change(store, actor, id, async |w, old, a| {
        let completed = super::interactions::completed(&w.txn, actor.scope(), id).await?;
        a.lead_score = Set(lead_score(
            Utc::now(),
            ContactType::from_db(&old.contact_type)?,
            &completed,
        ));
        Ok(())
    })
    .await
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
        match ContactType::from_db(&t)? {
            ContactType::Target => f.targets = n,
            ContactType::Contact => f.contacts = n,
            ContactType::Plug => f.plugs = n,
        }
    }
    Ok(f)
}

/// Per contact type and status: contacts, average lead score, interactions, latest one
/// (the `contact_performance_summary` view).
pub async fn performance(
    db: &DatabaseConnection,
    actor: &Actor,
) -> Result<Vec<crate::db::views::ContactPerformanceRow>, AppError> {
    Ok(crate::db::views::contact_performance(db, actor.scope()).await?)
}
