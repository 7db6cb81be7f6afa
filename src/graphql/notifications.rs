//! Notifications: the caller's own (read, mark, delete) and an admin's broadcast.

use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};

use crate::domain::enums::{NotificationChannel, NotificationType};
use crate::error::AppError;
use crate::graphql::args::{PageArgs, page, parse_id, parse_ids};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::Notification;
use crate::services::notifications::{self as svc, Recipients, SendInput};

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject, Default)]
pub struct NotificationFilter {
    /// `true`: only unread; `false`: only read; omitted: both.
    unread: Option<bool>,
}

/// Exactly one of `userIds` and `allMembers: true`.
#[derive(InputObject)]
pub struct SendNotificationInput {
    /// Active members of the caller's organization (at most 1,000).
    user_ids: Option<Vec<ID>>,
    /// Every active member of the organization, the sender included.
    all_members: Option<bool>,
    title: String,
    message: String,
    /// Defaults to INFO.
    notification_type: Option<NotificationType>,
    /// A JSON object the client may use (links, ids); at most 16 KiB.
    data: Option<Json<serde_json::Value>>,
    /// Hidden (and later purged) from this instant; must be in the future.
    expires_at: Option<DateTime<Utc>>,
    /// IN_APP (the default) or EMAIL: also mailed to each recipient who has not turned
    /// notification e-mail off. SMS and PUSH have no provider and are refused.
    #[graphql(default_with = "NotificationChannel::InApp")]
    channel: NotificationChannel,
}

/// Which notifications also reach the member by e-mail.
#[derive(async_graphql::SimpleObject)]
pub struct NotificationPreferences {
    /// Off: nothing is mailed, whatever the type or channel.
    email_enabled: bool,
    /// Types mailed even when not sent with `channel: EMAIL` (default: REMINDER).
    email_types: Vec<NotificationType>,
}

impl From<svc::Preferences> for NotificationPreferences {
    fn from(p: svc::Preferences) -> Self {
        Self {
            email_enabled: p.email_enabled,
            email_types: p.email_types,
        }
    }
}

/// Omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateNotificationPreferencesInput {
    email_enabled: Option<bool>,
    email_types: Option<Vec<NotificationType>>,
}

pub async fn own_notifications(
    ctx: &Context<'_>,
    filter: Option<NotificationFilter>,
    args: PageArgs,
) -> Res<Connection<Notification>> {
    let actor = ctx.actor()?;
    let page = svc::list(ctx.db(), actor, filter.unwrap_or_default().unread, &args).await?;
    Ok(Connection::from_page(page))
}

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The signed-in member's notification e-mail preferences.
    async fn notification_preferences(&self, ctx: &Context<'_>) -> Res<NotificationPreferences> {
        Ok(svc::preferences(ctx.db(), ctx.actor()?).await?.into())
    }

    /// The caller's own notifications, newest first; expired and deleted ones are hidden.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        filter: Option<NotificationFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Notification>> {
        own_notifications(ctx, filter, page(first, after, last, before)).await
    }

    /// How many of the caller's notifications are unread (and not expired).
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Res<i32> {
        let n = svc::unread_count(ctx.db(), ctx.actor()?).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Changes which notifications the signed-in member also receives by e-mail.
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: UpdateNotificationPreferencesInput,
    ) -> Res<NotificationPreferences> {
        let actor = ctx.actor()?;
        Ok(
            svc::update_preferences(ctx.store(), actor, input.email_enabled, input.email_types)
                .await?
                .into(),
        )
    }

    /// Idempotent; another user's notification is NOT_FOUND.
    async fn mark_notification_read(&self, ctx: &Context<'_>, id: ID) -> Res<Notification> {
        Ok(
            svc::mark_read(ctx.store(), ctx.actor()?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    /// Marks all of the caller's unread notifications read; returns how many changed.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Res<i32> {
        let n = svc::mark_all_read(ctx.store(), ctx.actor()?).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Removes one of the caller's notifications (it is hidden from then on).
    async fn delete_notification(&self, ctx: &Context<'_>, id: ID) -> Res<Notification> {
        Ok(svc::delete(ctx.store(), ctx.actor()?, parse_id(&id, "id")?)
            .await?
            .into())
    }

    /// Admins: a notification to some members or all; returns how many were created.
    /// Each recipient's `notificationReceived` subscription gets it.
    async fn send_notification(&self, ctx: &Context<'_>, input: SendNotificationInput) -> Res<i32> {
        let actor = ctx.admin()?;
        let recipients = match (input.user_ids, input.all_members) {
            (Some(ids), None | Some(false)) => Recipients::Users(parse_ids(&ids, "userIds")?),
            (None, Some(true)) => Recipients::AllMembers,
            (Some(_), Some(true)) => {
                return Err(AppError::bad_input(
                    "allMembers",
                    "pass userIds or allMembers, not both",
                )
                .into());
            }
            (None, _) => {
                return Err(
                    AppError::bad_input("userIds", "pass userIds or allMembers: true").into(),
                );
            }
        };
        let n = svc::send(
            ctx.store(),
            actor,
            SendInput {
                recipients,
                title: input.title,
                message: input.message,
                notification_type: input.notification_type.unwrap_or(NotificationType::Info),
                data: input.data.map(|j| j.0),
                expires_at: input.expires_at,
                channel: input.channel,
            },
        )
        .await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
