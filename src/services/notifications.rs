//! Notifications: each user reads, marks and deletes only their own. The system creates them
//! inside the transaction of the change that causes them (`notify`), so a rolled-back change
//! leaves no notification behind and announces nothing. Expired ones are hidden at once and
//! purged by a scheduled job (`jobs::kinds::PurgeExpiredNotifications`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, EntityTrait, Order, PaginatorTrait, QueryFilter, QuerySelect, Select,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit;
use super::work::{Store, Work, missing};
use super::{Actor, now, validate};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{AuditAction, DbEnum, NotificationChannel, NotificationType};
use crate::entities::{notifications, users};
use crate::error::AppError;
use crate::realtime::{Outbox, Signal};

/// One notification the system (or an admin) is about to create.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub title: String,
    pub message: String,
    pub notification_type: NotificationType,
    pub data: Value,
    pub expires_at: Option<DateTime<Utc>>,
    /// Sent with `channel: EMAIL`: also mailed unless the member turned e-mail off. Otherwise
    /// mailed only when the member's preferences list its type.
    pub email: bool,
}

impl NewNotification {
    pub fn new(
        user_id: Uuid,
        notification_type: NotificationType,
        title: impl Into<String>,
        message: impl Into<String>,
        data: Value,
    ) -> Self {
        Self {
            user_id,
            title: title.into(),
            message: message.into(),
            notification_type,
            data,
            expires_at: None,
            email: false,
        }
    }
}

/// Which notifications also go by e-mail (`users.settings.notifications`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preferences {
    /// Off: no notification is mailed, whatever its type or channel.
    pub email_enabled: bool,
    /// The types mailed even when not sent with `channel: EMAIL`.
    pub email_types: Vec<NotificationType>,
}

impl Default for Preferences {
    /// Reminders by e-mail; everything else in the app only.
    fn default() -> Self {
        Self {
            email_enabled: true,
            email_types: vec![NotificationType::Reminder],
        }
    }
}

impl Preferences {
    pub fn of(settings: &Value) -> Self {
        let d = Self::default();
        let Some(p) = settings.get("notifications") else {
            return d;
        };
        Self {
            email_enabled: p
                .get("email")
                .and_then(Value::as_bool)
                .unwrap_or(d.email_enabled),
            email_types: p
                .get("emailTypes")
                .and_then(Value::as_array)
                .map(|types| {
                    types
                        .iter()
                        .filter_map(|t| t.as_str().and_then(|t| t.parse::<NotificationType>().ok()))
                        .collect()
                })
                .unwrap_or(d.email_types),
        }
    }

    fn mails(&self, n: &NewNotification) -> bool {
        self.email_enabled && (n.email || self.email_types.contains(&n.notification_type))
    }

    fn to_json(&self) -> Value {
        json!({
            "email": self.email_enabled,
            "emailTypes": self.email_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// The signed-in member's preferences.
pub async fn preferences(db: &DatabaseConnection, actor: &Actor) -> Result<Preferences, AppError> {
    let user = actor
        .scope()
        .live_by_id::<users::Entity>(actor.user_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the account no longer exists".into()))?;
    Ok(Preferences::of(&user.settings))
}

/// Changes the signed-in member's preferences (omitted: unchanged).
pub async fn update_preferences(
    store: Store<'_>,
    actor: &Actor,
    email_enabled: Option<bool>,
    email_types: Option<Vec<NotificationType>>,
) -> Result<Preferences, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = w.live::<users::Entity>(actor.user_id).await?;
    let mut prefs = Preferences::of(&old.settings);
    if let Some(on) = email_enabled {
        prefs.email_enabled = on;
    }
    if let Some(mut types) = email_types {
        types.sort_by_key(|t| t.as_str());
        types.dedup();
        prefs.email_types = types;
    }
    let mut settings = old.settings.clone();
    if !settings.is_object() {
        settings = json!({});
    }
    settings["notifications"] = prefs.to_json();
    let mut a: users::ActiveModel = old.clone().into();
    a.settings = Set(settings);
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&w.txn).await?;
    w.audit::<users::Entity, _>(user.id, Some(&old), Some(&user))
        .await?;
    w.commit().await?;
    Ok(prefs)
}

/// The e-mail of one notification, as it is now: `None` when it was deleted or expired, its
/// member is gone or deactivated, or they turned e-mail off since.
pub async fn email_for(
    db: &DatabaseConnection,
    scope: crate::db::scoped::Scoped,
    id: Uuid,
) -> Result<Option<crate::mail::Message>, AppError> {
    let Some(n) = scope
        .live_by_id::<notifications::Entity>(id)
        .filter(unexpired())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(user) = scope
        .live_by_id::<users::Entity>(n.user_id)
        .filter(users::Column::IsActive.eq(true))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if !Preferences::of(&user.settings).email_enabled {
        return Ok(None);
    }
    let org = scope
        .organization(db)
        .await?
        .map_or_else(String::new, |o| o.name);
    Ok(Some(crate::mail::Template::Notification.render(
        &user.email,
        n.title.clone(),
        &[
            ("first_name", &user.first_name),
            ("title", &n.title),
            ("message", &n.message),
            ("organization", &org),
        ],
    )))
}

/// Rows per INSERT: 13 columns each stays below SQLite's and PostgreSQL's parameter limits.
const INSERT_CHUNK: usize = 500;

/// Creates notifications for users of `organization_id` inside `txn` and queues their
/// signals in `outbox` (delivered only if the transaction commits).
pub async fn notify(
    txn: &impl ConnectionTrait,
    outbox: &mut Outbox,
    organization_id: Uuid,
    items: Vec<NewNotification>,
) -> Result<Vec<Uuid>, AppError> {
    let t = now();
    let mut ids = Vec::with_capacity(items.len());
    let mailed = recipients_mailed(txn, organization_id, &items).await?;
    let mut to_mail = Vec::new();
    for chunk in items.chunks(INSERT_CHUNK) {
        let rows: Vec<notifications::ActiveModel> = chunk
            .iter()
            .map(|n| {
                let id = Uuid::new_v4();
                ids.push(id);
                let email = mailed.get(&n.user_id).is_some_and(|prefs| prefs.mails(n));
                if email {
                    to_mail.push(id);
                }
                outbox.push(Signal::Notification {
                    org: organization_id,
                    user: n.user_id,
                    notification: id,
                });
                notifications::ActiveModel {
                    id: Set(id),
                    organization_id: Set(organization_id),
                    user_id: Set(n.user_id),
                    title: Set(n.title.clone()),
                    message: Set(n.message.clone()),
                    notification_type: Set(n.notification_type.as_str().into()),
                    channel: Set(if email {
                        NotificationChannel::Email
                    } else {
                        NotificationChannel::InApp
                    }
                    .as_str()
                    .into()),
                    data: Set(n.data.clone()),
                    is_read: Set(false),
                    read_at: Set(None),
                    expires_at: Set(n.expires_at.map(|e| e.fixed_offset())),
                    created_at: Set(t),
                    updated_at: Set(t),
                    is_deleted: Set(false),
                }
            })
            .collect();
        if !rows.is_empty() {
            notifications::Entity::insert_many(rows)
                .exec_without_returning(txn)
                .await?;
        }
    }
    for notification_id in &to_mail {
        let job = crate::jobs::kinds::EmailNotification {
            organization_id,
            notification_id: *notification_id,
        };
        crate::jobs::enqueue_for(txn, organization_id, &job, Default::default()).await?;
    }
    if !to_mail.is_empty() {
        outbox.push(Signal::JobsAvailable);
    }
    Ok(ids)
}

/// The e-mail preferences of the recipients (one statement per 500 of them): any type may be
/// mailed if a member chose it.
async fn recipients_mailed(
    txn: &impl ConnectionTrait,
    organization_id: Uuid,
    items: &[NewNotification],
) -> Result<std::collections::HashMap<Uuid, Preferences>, AppError> {
    let mut ids: Vec<Uuid> = items.iter().map(|n| n.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let scope = crate::db::scoped::Scoped::system(organization_id, "the recipients' organization");
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<(Uuid, Value)> = scope
            .find::<users::Entity>()
            .filter(users::Column::Id.is_in(chunk.to_vec()))
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Settings)
            .into_tuple()
            .all(txn)
            .await?;
        out.extend(rows.into_iter().map(|(id, s)| (id, Preferences::of(&s))));
    }
    Ok(out)
}

/// The caller's own notifications that are neither deleted nor expired.
fn own(actor: &Actor) -> Select<notifications::Entity> {
    use notifications::Column as C;
    actor
        .scope()
        .live::<notifications::Entity>()
        .filter(C::UserId.eq(actor.user_id))
        .filter(unexpired())
}

fn unexpired() -> Condition {
    use notifications::Column as C;
    Condition::any()
        .add(C::ExpiresAt.is_null())
        .add(C::ExpiresAt.gt(now()))
}

/// The one a subscriber loads when a signal names it: scoped to its organization and user.
pub async fn visible(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<notifications::Model>, AppError> {
    Ok(own(actor)
        .filter(notifications::Column::Id.eq(id))
        .one(db)
        .await?)
}

pub fn keyset() -> Keyset<notifications::Entity> {
    Keyset {
        name: "created_at desc",
        sort: notifications::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: notifications::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// Newest first; `unread: Some(true)` only unread, `Some(false)` only read.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    unread: Option<bool>,
    args: &PageArgs,
) -> Result<Page<notifications::Model>, AppError> {
    let mut q = own(actor);
    if let Some(u) = unread {
        q = q.filter(notifications::Column::IsRead.eq(!u));
    }
    paginate(db, q, &keyset(), args).await
}

pub async fn unread_count(db: &DatabaseConnection, actor: &Actor) -> Result<u64, AppError> {
    Ok(own(actor)
        .filter(notifications::Column::IsRead.eq(false))
        .count(db)
        .await?)
}

/// Loads one of the caller's own notifications in a write transaction and applies `change`
/// with one audit row; `change` returning `None` leaves it as it is (nothing written).
async fn change_own(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    action: AuditAction,
    change: impl FnOnce(notifications::ActiveModel) -> Option<notifications::ActiveModel>,
) -> Result<notifications::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = own(actor)
        .filter(notifications::Column::Id.eq(id))
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<notifications::Entity>)?;
    let Some(mut a) = change(old.clone().into()) else {
        return Ok(old);
    };
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    let new = (action != AuditAction::Delete).then_some(&row);
    w.audit::<notifications::Entity, _>(id, Some(&old), new)
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Idempotent: marking a read notification again returns it unchanged (and writes nothing).
pub async fn mark_read(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<notifications::Model, AppError> {
    change_own(store, actor, id, AuditAction::Update, |mut a| {
        if a.is_read.as_ref() == &true {
            return None;
        }
        a.is_read = Set(true);
        a.read_at = Set(Some(now()));
        Some(a)
    })
    .await
}

/// Marks every unread notification of the caller read; returns how many changed. One audit
/// row (on the caller's user) records the count.
pub async fn mark_all_read(store: Store<'_>, actor: &Actor) -> Result<u64, AppError> {
    use notifications::Column as C;
    let w = Work::begin(store, actor).await?;
    let t = now();
    let changed = actor
        .scope()
        .update_many::<notifications::Entity>()
        .col_expr(C::IsRead, Expr::value(true))
        .col_expr(C::ReadAt, Expr::value(t))
        .col_expr(C::UpdatedAt, Expr::value(t))
        .filter(C::UserId.eq(actor.user_id))
        .filter(C::IsDeleted.eq(false))
        .filter(C::IsRead.eq(false))
        .filter(unexpired())
        .exec(&w.txn)
        .await?
        .rows_affected;
    if changed > 0 {
        audit::by_actor(
            &w.txn,
            actor,
            "notifications",
            actor.user_id,
            AuditAction::Update,
            None,
            Some(json!({ "markedRead": changed })),
        )
        .await?;
    }
    w.commit().await?;
    Ok(changed)
}

/// Soft delete (the row is hidden from then on).
pub async fn delete(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<notifications::Model, AppError> {
    change_own(store, actor, id, AuditAction::Delete, |mut a| {
        a.is_deleted = Set(true);
        Some(a)
    })
    .await
}

/// Who an admin's notification goes to.
#[derive(Clone, Debug)]
pub enum Recipients {
    Users(Vec<Uuid>),
    AllMembers,
}

#[derive(Clone, Debug)]
pub struct SendInput {
    pub recipients: Recipients,
    pub title: String,
    pub message: String,
    pub notification_type: NotificationType,
    pub data: Option<Value>,
    pub expires_at: Option<DateTime<Utc>>,
    /// IN_APP (always in the app) or EMAIL (also mailed); SMS and PUSH have no provider.
    pub channel: NotificationChannel,
}

pub const MAX_RECIPIENTS: usize = 1000;

/// An admin's notification to some members (active ones of the organization) or to all.
/// Returns how many were created. One audit row records the send.
pub async fn send(store: Store<'_>, actor: &Actor, input: SendInput) -> Result<u64, AppError> {
    actor.admin()?;
    let title = validate::required("title", &input.title, 255)?;
    let message = validate::required("message", &input.message, 10_000)?;
    if matches!(
        input.channel,
        NotificationChannel::Sms | NotificationChannel::Push
    ) {
        return Err(AppError::bad_input(
            "channel",
            "SMS and PUSH are not available (no provider is configured): use IN_APP or EMAIL",
        ));
    }
    let data = input.data.unwrap_or_else(|| json!({}));
    if !data.is_object() {
        return Err(AppError::bad_input("data", "must be a JSON object"));
    }
    if serde_json::to_string(&data).map_or(0, |s| s.len()) > 16_384 {
        return Err(AppError::bad_input(
            "data",
            "must be at most 16 KiB of JSON",
        ));
    }
    if let Some(e) = input.expires_at
        && e <= Utc::now()
    {
        return Err(AppError::bad_input("expiresAt", "must be in the future"));
    }
    let mut w = Work::begin(store, actor).await?;
    let mut members = actor
        .scope()
        .live::<users::Entity>()
        .filter(users::Column::IsActive.eq(true))
        .select_only()
        .column(users::Column::Id);
    match &input.recipients {
        Recipients::AllMembers => {}
        Recipients::Users(ids) => {
            if ids.is_empty() {
                return Err(AppError::bad_input(
                    "userIds",
                    "name at least one user, or set allMembers",
                ));
            }
            if ids.len() > MAX_RECIPIENTS {
                return Err(AppError::bad_input(
                    "userIds",
                    format!("at most {MAX_RECIPIENTS} users per notification; use allMembers"),
                ));
            }
            members = members.filter(users::Column::Id.is_in(ids.clone()));
        }
    }
    let found: Vec<Uuid> = members.into_tuple().all(&w.txn).await?;
    if let Recipients::Users(ids) = &input.recipients {
        let mut wanted = ids.clone();
        wanted.sort();
        wanted.dedup();
        if found.len() != wanted.len() {
            // Another organization's user is as missing as one that does not exist.
            return Err(AppError::NotFound(
                "no such user (every userId must be an active member)".into(),
            ));
        }
    }
    let items: Vec<NewNotification> = found
        .iter()
        .map(|&user_id| NewNotification {
            user_id,
            title: title.clone(),
            message: message.clone(),
            notification_type: input.notification_type,
            data: data.clone(),
            expires_at: input.expires_at,
            email: input.channel == NotificationChannel::Email,
        })
        .collect();
    let ids = w.notify(items).await?;
    audit::by_actor(
        &w.txn,
        actor,
        "notifications",
        ids.first().copied().unwrap_or(actor.organization_id),
        AuditAction::Create,
        None,
        Some(json!({
            "title": title,
            "notificationType": input.notification_type.as_str(),
            "channel": input.channel.as_str(),
            "recipients": found,
        })),
    )
    .await?;
    w.commit().await?;
    Ok(ids.len() as u64)
}

/// Deletes notifications whose `expiresAt` has passed. Returns how many.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, AppError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "housekeeping across every organization: expired notifications are nobody's"
    )]
    let purge = notifications::Entity::delete_many();
    Ok(purge
        .filter(notifications::Column::ExpiresAt.lte(now()))
        .exec(db)
        .await?
        .rows_affected)
}
