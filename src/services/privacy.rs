//! GDPR: personal-data exports (a JSON bundle built by a job, stored through the storage seam,
//! announced by notification and downloaded through a short-lived signed link) and erasure
//! (the person anonymized everywhere in one transaction, rows and aggregates kept).
//!
//! What erasure touches, for a member: the profile (names become "Erased User", the e-mail a
//! per-id `.invalid` address, every other personal column empty, the password unusable, the
//! account inactive), their sessions (ended, sockets closed, stored IP and user agent cleared),
//! their notifications (deleted: their inbox), other notifications naming them (the name and
//! e-mail replaced), their registrations' notes, their PRIVATE media (rows deleted, bytes
//! removed), analytics events' IP and user agent, the `users` snapshots in the audit trail and
//! the IP and user agent of the audit rows they caused, webhook payloads that carry them, and
//! their personal-data bundles. For a contact: the contact's personal columns, the free text of
//! interactions with them (subject, description, outcome), PRIVATE media about them, the audit
//! snapshots of the contact and of those interactions, and webhook payloads that carry them.
//! Interactions, registrations, expenses and contacts they created stay, so counts and reports
//! stay right. One audit row records the erasure without the erased values. Erasing twice
//! changes nothing the second time.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, QueryFilter, QuerySelect,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::audit::{self, snapshot};
use super::notifications::NewNotification;
use super::work::{Store, Work};
use super::{Actor, now};
use crate::db::scoped::Scoped;
use crate::domain::enums::{
    AuditAction, DbEnum, ExportStatus, MediaAccessLevel, NotificationType, PersonalDataSubject,
};
use crate::entities::{
    account_tokens, analytics_events, audit_logs, contact_interactions, contacts, event_attendees,
    expenses, media, notifications, personal_data_exports, recovery_codes, refresh_tokens,
    two_factor_credentials, users, webhook_deliveries,
};
use crate::error::AppError;
use crate::realtime::Broker;
use crate::storage::Storage;

/// How long a finished bundle can be downloaded.
pub const BUNDLE_DAYS: i64 = 7;

fn bundle_key(org: Uuid, id: Uuid) -> String {
    format!("personal-data/{org}/{id}.json")
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("no such {what}"))
}

/// Queues a bundle of `subject`'s data: a member's own (anyone) or any member's or contact's
/// (admins). Audited: a bundle of personal data is a sensitive read.
pub async fn request_export(
    store: Store<'_>,
    actor: &Actor,
    subject: PersonalDataSubject,
    subject_id: Uuid,
) -> Result<personal_data_exports::Model, AppError> {
    if !(subject == PersonalDataSubject::User && subject_id == actor.user_id) {
        actor.admin()?;
    }
    let mut w = Work::begin(store, actor).await?;
    let exists = match subject {
        PersonalDataSubject::User => actor
            .scope()
            .by_id::<users::Entity>(subject_id)
            .one(&w.txn)
            .await?
            .is_some(),
        PersonalDataSubject::Contact => actor
            .scope()
            .by_id::<contacts::Entity>(subject_id)
            .one(&w.txn)
            .await?
            .is_some(),
    };
    if !exists {
        return Err(not_found(match subject {
            PersonalDataSubject::User => "user",
            PersonalDataSubject::Contact => "contact",
        }));
    }
    let t = now();
    let row = personal_data_exports::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        requested_by: Set(actor.user_id),
        subject_type: Set(subject.as_str().into()),
        subject_id: Set(subject_id),
        status: Set(ExportStatus::Queued.as_str().into()),
        storage_key: Set(None),
        size_bytes: Set(None),
        message: Set(None),
        completed_at: Set(None),
        expires_at: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
    }
    .insert(&w.txn)
    .await?;
    w.audit::<personal_data_exports::Entity, _>(row.id, None, Some(&row))
        .await?;
    let job = crate::jobs::kinds::BuildPersonalDataExport {
        organization_id: actor.organization_id,
        export_id: row.id,
    };
    crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
    w.commit().await?;
    Ok(row)
}

/// An export its requester or an admin may see.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<personal_data_exports::Model, AppError> {
    let mut q = actor.scope().by_id::<personal_data_exports::Entity>(id);
    if !actor.is_admin {
        q = q.filter(personal_data_exports::Column::RequestedBy.eq(actor.user_id));
    }
    q.one(db)
        .await?
        .ok_or_else(|| not_found("personal data export"))
}

/// The ids of the rows of `E` in the scope matching `filter`.
async fn ids_of<E: crate::db::scoped::TenantEntity>(
    db: &impl ConnectionTrait,
    scope: Scoped,
    filter: impl sea_orm::sea_query::IntoCondition,
) -> Result<Vec<Uuid>, AppError> {
    Ok(scope
        .find::<E>()
        .filter(filter)
        .select_only()
        .column(E::id_column())
        .into_tuple()
        .all(db)
        .await?)
}

/// Every row of `E` in the scope matching `filter`, as audit-style snapshots (secrets removed).
async fn rows<E>(
    db: &impl ConnectionTrait,
    scope: Scoped,
    filter: Condition,
) -> Result<Vec<Value>, AppError>
where
    E: crate::db::scoped::TenantEntity,
    E::Model: Serialize,
{
    Ok(scope
        .find::<E>()
        .filter(filter)
        .all(db)
        .await?
        .iter()
        .map(snapshot)
        .collect())
}

/// A member's analytics events (the IP as text: the entity's `inet` has no SQLite form).
async fn analytics_of(
    db: &DatabaseConnection,
    scope: Scoped,
    user: Uuid,
) -> Result<Vec<Value>, AppError> {
    let mine = crate::db::analytics::EventFilter {
        user_id: Some(user),
        ..Default::default()
    };
    let rows = crate::db::analytics::page(db, scope, &mine, None, u64::MAX >> 1).await?;
    Ok(rows.iter().map(snapshot).collect())
}

/// The audit rows a member caused or that are about them; rows others caused keep no request
/// metadata (their IP and user agent are not this member's data).
async fn audit_of_user(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
) -> Result<Vec<Value>, AppError> {
    let about = Condition::all()
        .add(audit_logs::Column::TableName.eq("users"))
        .add(audit_logs::Column::RecordId.eq(id));
    let mut out = rows::<audit_logs::Entity>(
        db,
        scope,
        Condition::any()
            .add(audit_logs::Column::UserId.eq(id))
            .add(about),
    )
    .await?;
    let me = Value::String(id.to_string());
    for entry in &mut out {
        if let Value::Object(m) = entry
            && m.get("user_id") != Some(&me)
        {
            m.remove("metadata");
        }
    }
    Ok(out)
}

/// The bundle of a member's data.
async fn user_bundle(db: &DatabaseConnection, scope: Scoped, id: Uuid) -> Result<Value, AppError> {
    let profile = scope
        .by_id::<users::Entity>(id)
        .one(db)
        .await?
        .ok_or_else(|| not_found("user"))?;
    let sessions = rows::<refresh_tokens::Entity>(
        db,
        scope,
        Condition::all().add(refresh_tokens::Column::UserId.eq(id)),
    )
    .await?;
    Ok(json!({
        "profile": snapshot(&profile),
        "sessions": sessions,
        // Secrets (token hashes, the TOTP secret) are left out by `snapshot`.
        "accountLinks": rows::<account_tokens::Entity>(db, scope, Condition::all().add(account_tokens::Column::UserId.eq(id))).await?,
        "twoFactor": rows::<two_factor_credentials::Entity>(db, scope, Condition::all().add(two_factor_credentials::Column::UserId.eq(id))).await?,
        "contactsCreated": rows::<contacts::Entity>(db, scope, Condition::all().add(contacts::Column::CreatedBy.eq(id))).await?,
        "interactions": rows::<contact_interactions::Entity>(db, scope, Condition::all().add(contact_interactions::Column::UserId.eq(id))).await?,
        "registrations": rows::<event_attendees::Entity>(db, scope, Condition::all().add(event_attendees::Column::UserId.eq(id))).await?,
        "expenses": rows::<expenses::Entity>(db, scope, Condition::all().add(expenses::Column::CreatedBy.eq(id))).await?,
        "media": rows::<media::Entity>(db, scope, Condition::all().add(media::Column::UploadedBy.eq(id))).await?,
        "notifications": rows::<notifications::Entity>(db, scope, Condition::all().add(notifications::Column::UserId.eq(id))).await?,
        "analyticsEvents": analytics_of(db, scope, id).await?,
        "auditEntries": audit_of_user(db, scope, id).await?,
    }))
}

/// The bundle of a contact's data.
async fn contact_bundle(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
) -> Result<Value, AppError> {
    let contact = scope
        .by_id::<contacts::Entity>(id)
        .one(db)
        .await?
        .ok_or_else(|| not_found("contact"))?;
    let interactions = ids_of::<contact_interactions::Entity>(
        db,
        scope,
        contact_interactions::Column::ContactId.eq(id),
    )
    .await?;
    Ok(json!({
        "contact": snapshot(&contact),
        "interactions": rows::<contact_interactions::Entity>(db, scope, Condition::all().add(contact_interactions::Column::ContactId.eq(id))).await?,
        "media": rows::<media::Entity>(db, scope, Condition::all().add(media::Column::RelatedContact.eq(id))).await?,
        "auditEntries": rows::<audit_logs::Entity>(db, scope, Condition::any()
            .add(Condition::all().add(audit_logs::Column::TableName.eq("contacts")).add(audit_logs::Column::RecordId.eq(id)))
            .add(Condition::all().add(audit_logs::Column::TableName.eq("contact_interactions")).add(audit_logs::Column::RecordId.is_in(interactions)))).await?,
    }))
}

fn ended(row: &personal_data_exports::Model) -> bool {
    row.status == ExportStatus::Completed.as_str() || row.status == ExportStatus::Failed.as_str()
}

/// The requester, as whom the job writes its row and notification.
fn requester(scope: Scoped, user_id: Uuid) -> Actor {
    Actor {
        user_id,
        organization_id: scope.organization_id(),
        is_admin: false,
        session_id: Uuid::nil(),
        meta: Default::default(),
        two_factor_setup: false,
    }
}

/// The export job: builds the bundle, stores it, and tells the requester.
pub async fn build(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    storage: &Storage,
    scope: Scoped,
    id: Uuid,
) -> Result<(), AppError> {
    let Some(row) = scope
        .by_id::<personal_data_exports::Entity>(id)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    if ended(&row) {
        return Ok(());
    }
    let subject: PersonalDataSubject = row
        .subject_type
        .parse()
        .map_err(|_| AppError::Internal(format!("export {id}: {:?}", row.subject_type)))?;
    let mut a: personal_data_exports::ActiveModel = row.clone().into();
    a.status = Set(ExportStatus::Running.as_str().into());
    a.updated_at = Set(now());
    a.update(db).await?;
    let data = match subject {
        PersonalDataSubject::User => user_bundle(db, scope, row.subject_id).await?,
        PersonalDataSubject::Contact => contact_bundle(db, scope, row.subject_id).await?,
    };
    let bundle = json!({
        "format": "plugs.personal-data.v1",
        "generatedAt": Utc::now().to_rfc3339(),
        "organizationId": scope.organization_id(),
        "subject": { "type": subject.as_str(), "id": row.subject_id },
        "data": data,
    });
    let bytes = serde_json::to_vec_pretty(&bundle)
        .map_err(|e| AppError::Internal(format!("writing a bundle: {e}")))?;
    let size = bytes.len() as i32;
    let key = bundle_key(scope.organization_id(), id);
    storage
        .put(&key, bytes.into())
        .await
        .map_err(|e| AppError::Internal(format!("storing a bundle: {e}")))?;
    let actor = requester(scope, row.requested_by);
    let mut w = Work::begin(Store { db, broker }, &actor).await?;
    let t = now();
    let mut a: personal_data_exports::ActiveModel = row.clone().into();
    a.status = Set(ExportStatus::Completed.as_str().into());
    a.storage_key = Set(Some(key));
    a.size_bytes = Set(Some(size));
    a.completed_at = Set(Some(t));
    a.expires_at = Set(Some(t + chrono::Duration::days(BUNDLE_DAYS)));
    a.updated_at = Set(t);
    a.update(&w.txn).await?;
    w.notify(vec![NewNotification::new(
        row.requested_by,
        NotificationType::Success,
        "Personal data export ready",
        format!(
            "The export you asked for is ready to download for {BUNDLE_DAYS} days (query personalDataExport for a link)."
        ),
        json!({ "personalDataExportId": id }),
    )])
    .await?;
    w.commit().await
}

/// Ends an export that could not be built as FAILED.
pub async fn fail(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
    message: &str,
) -> Result<(), AppError> {
    scope
        .update_many::<personal_data_exports::Entity>()
        .col_expr(
            personal_data_exports::Column::Status,
            Expr::value(ExportStatus::Failed.as_str()),
        )
        .col_expr(personal_data_exports::Column::Message, Expr::value(message))
        .col_expr(personal_data_exports::Column::UpdatedAt, Expr::value(now()))
        .filter(personal_data_exports::Column::Id.eq(id))
        .filter(personal_data_exports::Column::Status.ne(ExportStatus::Completed.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the bytes of bundles past `expires_at` (all organizations); returns how many.
pub async fn purge_expired(db: &DatabaseConnection, storage: &Storage) -> Result<u64, AppError> {
    let gone = crate::db::purge::expired_bundles(db, now()).await?;
    for (org, id, key) in &gone {
        storage
            .delete(key)
            .await
            .map_err(|e| AppError::Internal(format!("removing a bundle: {e}")))?;
        Scoped::system(*org, "a bundle past its expiry names its organization")
            .update_many::<personal_data_exports::Entity>()
            .col_expr(
                personal_data_exports::Column::StorageKey,
                Expr::value(Option::<String>::None),
            )
            .filter(personal_data_exports::Column::Id.eq(*id))
            .exec(db)
            .await?;
    }
    Ok(gone.len() as u64)
}

// ---- erasure

const USER_NAMES: (&str, &str) = ("Erased", "User");
const CONTACT_NAMES: (&str, &str) = ("Erased", "Contact");
/// Personal columns emptied besides the names and e-mail.
const USER_CLEARED: [&str; 6] = [
    "phone",
    "bio",
    "avatar_url",
    "job_title",
    "company",
    "linkedin_url",
];
const CONTACT_CLEARED: [&str; 10] = [
    "metadata",
    "phone",
    "company",
    "job_title",
    "linkedin_url",
    "bio",
    "avatar_url",
    "notes",
    "business_type",
    "network_type",
];
/// Free text of an interaction with an erased contact.
const INTERACTION_TEXT: [&str; 4] = ["subject", "description", "outcome", "metadata"];
/// What an erased private media item said about its content.
const MEDIA_TEXT: [&str; 6] = [
    "title",
    "description",
    "file_name",
    "file_url",
    "tags",
    "metadata",
];

/// What replaces a person in stored JSON (audit snapshots are snake_case, webhook payloads
/// camelCase: both spellings are handled).
struct Scrub<'a> {
    id: String,
    names: Option<(&'a str, &'a str)>,
    email: Option<Value>,
    cleared: &'a [&'a str],
}

impl Scrub<'_> {
    fn set(&self, map: &mut Map<String, Value>, key: &str, v: Value) {
        for k in [key.to_owned(), crate::error::camel_case(key)] {
            if let Some(slot) = map.get_mut(&k) {
                *slot = v.clone();
            }
        }
    }

    /// Scrubs every object in `v` whose `id` is the person's.
    fn apply(&self, v: &mut Value) -> bool {
        let mut changed = false;
        match v {
            Value::Object(map) => {
                if map.get("id").and_then(Value::as_str) == Some(self.id.as_str()) {
                    if let Some((first, last)) = self.names {
                        self.set(map, "first_name", first.into());
                        self.set(map, "last_name", last.into());
                    }
                    if let Some(email) = &self.email {
                        self.set(map, "email", email.clone());
                    }
                    for k in self.cleared {
                        self.set(map, k, Value::Null);
                    }
                    changed = true;
                }
                for child in map.values_mut() {
                    changed |= self.apply(child);
                }
            }
            Value::Array(items) => {
                for child in items {
                    changed |= self.apply(child);
                }
            }
            _ => {}
        }
        changed
    }
}

/// Rewrites the snapshots of the audit rows of `table` about `records`.
async fn scrub_audit(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    table: &str,
    records: Vec<Uuid>,
    scrub_of: impl Fn(Uuid) -> Scrub<'static>,
) -> Result<(), AppError> {
    for chunk in records.chunks(500) {
        let found = scope
            .find::<audit_logs::Entity>()
            .filter(audit_logs::Column::TableName.eq(table))
            .filter(audit_logs::Column::RecordId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        for row in found {
            let s = scrub_of(row.record_id);
            let (mut old, mut new) = (row.old_values.clone(), row.new_values.clone());
            let mut changed = false;
            for v in [&mut old, &mut new].into_iter().flatten() {
                changed |= s.apply(v);
            }
            if changed {
                let mut a: audit_logs::ActiveModel = row.into();
                a.old_values = Set(old);
                a.new_values = Set(new);
                a.update(txn).await?;
            }
        }
    }
    Ok(())
}

/// Rewrites the stored payloads of webhook deliveries that carry the person.
async fn scrub_deliveries(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    s: &Scrub<'_>,
) -> Result<(), AppError> {
    let found = scope
        .find::<webhook_deliveries::Entity>()
        .filter(webhook_deliveries::Column::Payload.contains(s.id.as_str()))
        .all(txn)
        .await?;
    for row in found {
        let Ok(mut v) = serde_json::from_str::<Value>(&row.payload) else {
            continue;
        };
        if s.apply(&mut v) {
            let mut a: webhook_deliveries::ActiveModel = row.into();
            a.payload = Set(v.to_string());
            a.update(txn).await?;
        }
    }
    Ok(())
}

/// Empties `cleared` in the audit snapshots of `ids` (rows of `table`) and in the webhook
/// payloads that carry them.
async fn scrub_records(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    table: &str,
    ids: Vec<Uuid>,
    cleared: &'static [&'static str],
) -> Result<(), AppError> {
    let of = move |record: Uuid| Scrub {
        id: record.to_string(),
        names: None,
        email: None,
        cleared,
    };
    for id in &ids {
        scrub_deliveries(txn, scope, &of(*id)).await?;
    }
    scrub_audit(txn, scope, table, ids, of).await
}

/// The one audit row of an erasure: who and when, never what.
async fn record_erasure(w: &Work<'_>, table: &'static str, id: Uuid) -> Result<(), AppError> {
    audit::record(
        &w.txn,
        audit::Entry {
            organization_id: w.actor.organization_id,
            user_id: Some(w.actor.user_id),
            meta: &w.actor.meta,
            table,
            record_id: id,
            action: AuditAction::Update,
            old: None,
            new: Some(json!({ "erased": true })),
        },
    )
    .await?;
    Ok(())
}

/// Deletes the PRIVATE media matching `cond` (rows marked deleted now; their bytes are
/// returned to be removed after commit).
async fn drop_private_media(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    cond: Condition,
) -> Result<Vec<media::Model>, AppError> {
    let found = scope
        .find::<media::Entity>()
        .filter(cond)
        .filter(media::Column::AccessLevel.eq(MediaAccessLevel::Private.as_str()))
        .all(txn)
        .await?;
    let t = now();
    let mut out = Vec::with_capacity(found.len());
    for row in found {
        let mut a: media::ActiveModel = row.clone().into();
        a.title = Set("Erased".into());
        a.description = Set(None);
        a.file_name = Set("erased".into());
        a.file_url = Set(None);
        a.tags = Set(json!([]));
        a.metadata = Set(json!({}));
        a.is_deleted = Set(true);
        a.deleted_at = Set(Some(row.deleted_at.unwrap_or(t)));
        a.updated_at = Set(t);
        out.push(a.update(txn).await?);
    }
    Ok(out)
}

/// Removes bytes after the erasure committed (a failure is logged: the rows are already
/// deleted, and the media purge removes their bytes in any case).
async fn remove_bytes(storage: &Storage, items: &[media::Model], bundles: &[String]) {
    for m in items {
        if let Err(e) = super::media::delete_bytes(storage, m).await {
            tracing::error!(media = %m.id, "erasure: {e:?}");
        }
    }
    for key in bundles {
        if let Err(e) = storage.delete(key).await {
            tracing::error!(key, "erasure: {e}");
        }
    }
}

/// The person's bundles: rows deleted, keys returned to be removed after commit.
async fn drop_bundles(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    subject: Uuid,
) -> Result<Vec<String>, AppError> {
    let keys: Vec<Option<String>> = scope
        .find::<personal_data_exports::Entity>()
        .filter(personal_data_exports::Column::SubjectId.eq(subject))
        .select_only()
        .column(personal_data_exports::Column::StorageKey)
        .into_tuple()
        .all(txn)
        .await?;
    scope
        .delete_many::<personal_data_exports::Entity>()
        .filter(personal_data_exports::Column::SubjectId.eq(subject))
        .exec(txn)
        .await?;
    Ok(keys.into_iter().flatten().collect())
}

pub fn erased_email(id: Uuid) -> String {
    format!("erased-{}@erased.invalid", id.simple())
}

/// Erases a member (admins; not oneself, not the last active admin).
pub async fn erase_user(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    id: Uuid,
) -> Result<users::Model, AppError> {
    actor.admin()?;
    if id == actor.user_id {
        return Err(AppError::bad_input(
            "userId",
            "you cannot erase your own account: ask another admin",
        ));
    }
    let scope = actor.scope();
    let mut w = Work::begin(store, actor).await?;
    scope.lock_organization(&w.txn).await?;
    let old = w
        .lock(
            scope.by_id::<users::Entity>(id),
            sea_orm::sea_query::LockType::Update,
        )
        .one(&w.txn)
        .await?
        .ok_or_else(|| not_found("user"))?;
    let email = erased_email(id);
    if old.email == email {
        return Ok(old);
    }
    if old.is_admin && old.is_active && super::users::other_admins(&w.txn, actor, id).await? == 0 {
        return Err(AppError::bad_input("userId", super::users::LAST_ADMIN));
    }
    let t = now();
    let mut a: users::ActiveModel = old.clone().into();
    a.first_name = Set(USER_NAMES.0.into());
    a.last_name = Set(USER_NAMES.1.into());
    a.email = Set(email.clone());
    a.password_hash = Set("!erased".into());
    a.phone = Set(None);
    a.bio = Set(None);
    a.avatar_url = Set(None);
    a.job_title = Set(None);
    a.company = Set(None);
    a.linkedin_url = Set(None);
    a.is_active = Set(false);
    a.settings = Set(json!({}));
    a.updated_at = Set(t);
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&w.txn).await?;
    super::accounts::revoke_user_sessions(&mut w, &user).await?;
    // Mailed links (they hold the old address), the second factor and its recovery codes.
    scope
        .delete_many::<account_tokens::Entity>()
        .filter(account_tokens::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    scope
        .delete_many::<two_factor_credentials::Entity>()
        .filter(two_factor_credentials::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    scope
        .delete_many::<recovery_codes::Entity>()
        .filter(recovery_codes::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    scope
        .update_many::<refresh_tokens::Entity>()
        .col_expr(refresh_tokens::Column::IpAddress, Expr::cust("NULL"))
        .col_expr(refresh_tokens::Column::UserAgent, Expr::cust("NULL"))
        .filter(refresh_tokens::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    scope
        .delete_many::<notifications::Entity>()
        .filter(notifications::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    // Others' notifications that name them (registrations, approvals...).
    let full = format!("{} {}", old.first_name, old.last_name);
    let naming = scope
        .find::<notifications::Entity>()
        .filter(
            Condition::any()
                .add(notifications::Column::Message.contains(full.as_str()))
                .add(notifications::Column::Title.contains(full.as_str()))
                .add(notifications::Column::Message.contains(old.email.as_str())),
        )
        .all(&w.txn)
        .await?;
    for n in naming {
        let replace = |s: &str| {
            s.replace(&full, "Erased User")
                .replace(&old.email, "an erased address")
        };
        let mut a: notifications::ActiveModel = n.clone().into();
        a.title = Set(replace(&n.title));
        a.message = Set(replace(&n.message));
        a.update(&w.txn).await?;
    }
    let registrations =
        ids_of::<event_attendees::Entity>(&w.txn, scope, event_attendees::Column::UserId.eq(id))
            .await?;
    scope
        .update_many::<event_attendees::Entity>()
        .col_expr(
            event_attendees::Column::Notes,
            Expr::value(Option::<String>::None),
        )
        .filter(event_attendees::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    let media = drop_private_media(
        &w.txn,
        scope,
        Condition::all().add(media::Column::UploadedBy.eq(id)),
    )
    .await?;
    scope
        .update_many::<analytics_events::Entity>()
        .col_expr(analytics_events::Column::IpAddress, Expr::cust("NULL"))
        .col_expr(analytics_events::Column::UserAgent, Expr::cust("NULL"))
        .col_expr(analytics_events::Column::PageUrl, Expr::cust("NULL"))
        .col_expr(analytics_events::Column::Referrer, Expr::cust("NULL"))
        .filter(analytics_events::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    scope
        .update_many::<audit_logs::Entity>()
        .col_expr(
            audit_logs::Column::Metadata,
            Expr::value(json!({ "ip": null, "userAgent": null })),
        )
        .filter(audit_logs::Column::UserId.eq(id))
        .exec(&w.txn)
        .await?;
    let person = move |record: Uuid| Scrub {
        id: record.to_string(),
        names: Some(USER_NAMES),
        email: Some(Value::String(erased_email(record))),
        cleared: &USER_CLEARED,
    };
    scrub_audit(&w.txn, scope, "users", vec![id], person).await?;
    scrub_records(&w.txn, scope, "event_attendees", registrations, &["notes"]).await?;
    let media_ids = media.iter().map(|m| m.id).collect();
    scrub_records(&w.txn, scope, "media", media_ids, &MEDIA_TEXT).await?;
    scrub_deliveries(&w.txn, scope, &person(id)).await?;
    let bundles = drop_bundles(&w.txn, scope, id).await?;
    record_erasure(&w, "users", id).await?;
    w.commit().await?;
    remove_bytes(storage, &media, &bundles).await;
    Ok(user)
}

/// Erases a contact (admins).
pub async fn erase_contact(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    id: Uuid,
) -> Result<contacts::Model, AppError> {
    actor.admin()?;
    let scope = actor.scope();
    let w = Work::begin(store, actor).await?;
    // Locked, so a concurrent update or import batch cannot write the person back.
    let old = w
        .lock(
            scope.by_id::<contacts::Entity>(id),
            sea_orm::sea_query::LockType::Update,
        )
        .one(&w.txn)
        .await?
        .ok_or_else(|| not_found("contact"))?;
    // Every step below is idempotent, so a second erasure runs them all again (the contact's
    // columns are the client's to set: nothing in them can prove an erasure); only the audit
    // row is written once, while the contact still held something to erase.
    let already = old.first_name == CONTACT_NAMES.0
        && old.last_name == CONTACT_NAMES.1
        && old.email.is_none()
        && old.phone.is_none()
        && old.company.is_none()
        && old.job_title.is_none()
        && old.linkedin_url.is_none()
        && old.bio.is_none()
        && old.avatar_url.is_none()
        && old.notes.is_none()
        && old.business_type.is_none()
        && old.network_type.is_none()
        && old.metadata.get("erasedAt").is_some();
    let t = now();
    let mut a: contacts::ActiveModel = old.clone().into();
    a.first_name = Set(CONTACT_NAMES.0.into());
    a.last_name = Set(CONTACT_NAMES.1.into());
    a.email = Set(None);
    a.phone = Set(None);
    a.company = Set(None);
    a.job_title = Set(None);
    a.linkedin_url = Set(None);
    a.bio = Set(None);
    a.avatar_url = Set(None);
    a.notes = Set(None);
    a.business_type = Set(None);
    a.network_type = Set(None);
    let at = old.metadata.get("erasedAt").cloned();
    a.metadata = Set(json!({ "erasedAt": at.unwrap_or_else(|| Utc::now().to_rfc3339().into()) }));
    a.updated_at = Set(t);
    a.updated_by = Set(Some(actor.user_id));
    let contact = a.update(&w.txn).await?;
    let interactions = ids_of::<contact_interactions::Entity>(
        &w.txn,
        scope,
        contact_interactions::Column::ContactId.eq(id),
    )
    .await?;
    scope
        .update_many::<contact_interactions::Entity>()
        .col_expr(
            contact_interactions::Column::Subject,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            contact_interactions::Column::Description,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            contact_interactions::Column::Outcome,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            contact_interactions::Column::Metadata,
            Expr::value(json!({})),
        )
        .filter(contact_interactions::Column::ContactId.eq(id))
        .exec(&w.txn)
        .await?;
    let media = drop_private_media(
        &w.txn,
        scope,
        Condition::all().add(media::Column::RelatedContact.eq(id)),
    )
    .await?;
    let person = move |record: Uuid| Scrub {
        id: record.to_string(),
        names: Some(CONTACT_NAMES),
        email: Some(Value::Null),
        cleared: &CONTACT_CLEARED,
    };
    scrub_audit(&w.txn, scope, "contacts", vec![id], person).await?;
    scrub_records(
        &w.txn,
        scope,
        "contact_interactions",
        interactions,
        &INTERACTION_TEXT,
    )
    .await?;
    let media_ids = media.iter().map(|m| m.id).collect();
    scrub_records(&w.txn, scope, "media", media_ids, &MEDIA_TEXT).await?;
    scrub_deliveries(&w.txn, scope, &person(id)).await?;
    let bundles = drop_bundles(&w.txn, scope, id).await?;
    if !already {
        record_erasure(&w, "contacts", id).await?;
    }
    w.commit().await?;
    remove_bytes(storage, &media, &bundles).await;
    Ok(contact)
}

/// A completed bundle still downloadable (not past `expires_at`), for its signed link.
pub async fn for_link(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
) -> Result<Option<personal_data_exports::Model>, AppError> {
    Ok(scope
        .by_id::<personal_data_exports::Entity>(id)
        .filter(personal_data_exports::Column::Status.eq(ExportStatus::Completed.as_str()))
        .filter(personal_data_exports::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?)
}
