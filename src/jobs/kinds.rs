//! The product's job kinds. A new kind implements `Job` and is added to `register`.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError, Registry};

/// The organization a job's payload names (jobs run with no request, so the payload is the
/// only source of the tenant).
fn tenant(organization_id: uuid::Uuid) -> crate::db::scoped::Scoped {
    crate::db::scoped::Scoped::system(organization_id, "a job's payload names its organization")
}

pub fn register(r: Registry) -> Registry {
    r.with::<PurgeExpiredNotifications>()
        .with::<PurgeDeleted>()
        .with::<MakeVariants>()
        .with::<PurgeDeletedMedia>()
        .with::<DeliverWebhook>()
        .with::<SyncIntegration>()
        .with::<ImportContacts>()
        .with::<BuildPersonalDataExport>()
        .with::<PurgeExpiredExports>()
        .with::<PurgeAnalytics>()
        .with::<SendMail>()
        .with::<EmailNotification>()
        .with::<PasswordResetRequest>()
        .with::<SendEventReminders>()
        .with::<PurgeIdempotencyKeys>()
        .with::<PurgeAccountTokens>()
}

/// Deletes mailed links a day past their expiry (hourly).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeAccountTokens {}

impl Job for PurgeAccountTokens {
    const KIND: &'static str = "accounts.purge_links";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let n = crate::services::account_mail::purge_expired(&ctx.db).await?;
            if n > 0 {
                tracing::info!("deleted {n} expired account link(s)");
            }
            Ok(())
        })
    }
}

/// Deletes `Idempotency-Key` rows past their 24 hours (hourly).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeIdempotencyKeys {}

impl Job for PurgeIdempotencyKeys {
    const KIND: &'static str = "idempotency.purge_expired";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let n = crate::db::idempotency::purge_expired(&ctx.db, crate::services::now()).await?;
            if n > 0 {
                tracing::info!("purged {n} expired idempotency key(s)");
            }
            Ok(())
        })
    }
}

impl From<crate::mail::SendError> for JobError {
    fn from(e: crate::mail::SendError) -> Self {
        match e {
            crate::mail::SendError::Retry(m) => JobError::Retry(m),
            crate::mail::SendError::Permanent(m) => JobError::Permanent(m),
        }
    }
}

/// One e-mail, rendered and sealed where it was caused (`mail::Composer::queue`).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendMail {
    pub organization_id: uuid::Uuid,
    pub sealed: String,
}

impl Job for SendMail {
    const KIND: &'static str = "mail.send";
    const MAX_ATTEMPTS: i32 = 12;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let msg = crate::mail::open(&ctx.keyring, &self.sealed).map_err(JobError::Permanent)?;
            ctx.mailer.send(&msg).await?;
            Ok(())
        })
    }
}

/// A notification that also goes by e-mail (`channel: EMAIL`, or the member's preference for
/// its type): rendered when sent, from the row as it is then (a notification deleted or
/// expired meanwhile is not mailed).
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailNotification {
    pub organization_id: uuid::Uuid,
    pub notification_id: uuid::Uuid,
}

impl Job for EmailNotification {
    const KIND: &'static str = "notifications.email";
    const MAX_ATTEMPTS: i32 = 12;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let msg =
                crate::services::notifications::email_for(&ctx.db, scope, self.notification_id)
                    .await?;
            if let Some(msg) = msg {
                ctx.mailer.send(&msg).await?;
            }
            Ok(())
        })
    }
}

/// `requestPasswordReset`: the request only queues this job (the same work whether or not the
/// address exists); the job finds the accounts and mails each a link.
#[derive(Debug, Serialize, Deserialize)]
pub struct PasswordResetRequest {
    /// The address and domain asked for, sealed with the keyring (a job payload outlives the
    /// request; personal data in it stays unreadable).
    pub sealed: String,
}

impl Job for PasswordResetRequest {
    const KIND: &'static str = "accounts.password_reset";
    const MAX_ATTEMPTS: i32 = 5;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let (email, domain) =
                crate::services::account_mail::open_reset_request(&ctx.keyring, &self.sealed)
                    .map_err(JobError::Permanent)?;
            let n = crate::services::account_mail::mail_resets(
                &ctx.db,
                &ctx.composer,
                &email,
                domain.as_deref(),
            )
            .await?;
            if n > 0 {
                super::wake(&ctx.broker);
            }
            Ok(())
        })
    }
}

/// Reminds registrants of events that start within 24 hours (once per registration).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendEventReminders {}

impl Job for SendEventReminders {
    const KIND: &'static str = "events.reminders";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let broker = &*ctx.broker;
            let n =
                crate::services::reminders::send_due(&ctx.db, broker, chrono::Utc::now()).await?;
            if n > 0 {
                tracing::info!("sent {n} event reminder(s)");
            }
            Ok(())
        })
    }
}

/// Builds one personal-data bundle (`services::privacy::build`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BuildPersonalDataExport {
    pub organization_id: uuid::Uuid,
    pub export_id: uuid::Uuid,
}

impl Job for BuildPersonalDataExport {
    const KIND: &'static str = "privacy.export";
    const MAX_ATTEMPTS: i32 = 3;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let broker = &*ctx.broker;
            crate::services::privacy::build(&ctx.db, broker, &ctx.storage, scope, self.export_id)
                .await?;
            Ok(())
        })
    }

    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let why = format!("the export could not be built: {error}");
            if let Err(e) =
                crate::services::privacy::fail(&ctx.db, scope, self.export_id, &why).await
            {
                tracing::error!(export = %self.export_id, "marking an export failed: {e:?}");
            }
        })
    }
}

/// Deletes analytics events older than `days` (`PLUGS_ANALYTICS_RETENTION_DAYS`), in batches.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeAnalytics {
    pub days: i64,
}

impl Job for PurgeAnalytics {
    const KIND: &'static str = "analytics.purge";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let keep = chrono::Duration::days(self.days);
            let n = crate::services::analytics::purge(&ctx.db, keep).await?;
            if n > 0 {
                tracing::info!("deleted {n} analytics event(s) past retention");
            }
            Ok(())
        })
    }
}

/// Removes the bytes of personal-data bundles past their expiry (hourly).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeExpiredExports {}

impl Job for PurgeExpiredExports {
    const KIND: &'static str = "privacy.purge_expired";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let n = crate::services::privacy::purge_expired(&ctx.db, &ctx.storage).await?;
            if n > 0 {
                tracing::info!("removed {n} expired personal-data bundle(s)");
            }
            Ok(())
        })
    }
}

/// One CSV import of contacts (`services::imports::run`), resumed after its last committed batch.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportContacts {
    pub organization_id: uuid::Uuid,
    pub run_id: uuid::Uuid,
}

impl Job for ImportContacts {
    const KIND: &'static str = "imports.contacts";
    const MAX_ATTEMPTS: i32 = 3;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let broker = &*ctx.broker;
            crate::services::imports::run(&ctx.db, broker, &ctx.storage, scope, self.run_id)
                .await?;
            Ok(())
        })
    }

    /// Given up: the run is FAILED with what was written so far, not RUNNING for ever.
    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let why = format!("the import stopped: {error}");
            let broker = &*ctx.broker;
            if let Err(e) = crate::services::imports::fail(
                &ctx.db,
                broker,
                &ctx.storage,
                scope,
                self.run_id,
                &why,
            )
            .await
            {
                tracing::error!(run = %self.run_id, "marking an import failed: {e:?}");
            }
        })
    }
}

/// One sync run of an integration (`services::hubspot::run`), recorded in its log row.
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncIntegration {
    pub organization_id: uuid::Uuid,
    pub integration_id: uuid::Uuid,
    pub log_id: uuid::Uuid,
    /// The admin who asked (the run writes as them); `None` for a scheduled run.
    pub requested_by: Option<uuid::Uuid>,
}

impl Job for SyncIntegration {
    const KIND: &'static str = "integrations.sync";
    const MAX_ATTEMPTS: i32 = 3;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            crate::services::hubspot::run(
                &ctx.db,
                &ctx.broker,
                &ctx.keyring,
                ctx.webhook_allow_private,
                scope,
                self.integration_id,
                self.log_id,
                self.requested_by,
            )
            .await?;
            Ok(())
        })
    }

    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let reason = format!("the sync could not run: {error}");
            if let Err(e) =
                crate::services::integrations::give_up_sync(&ctx.db, scope, self.log_id, &reason)
                    .await
            {
                tracing::error!(log = %self.log_id, "marking a sync failed: {e:?}");
            }
        })
    }
}

/// One attempt of one webhook delivery (`services::webhooks::deliver`); a failed attempt
/// schedules the next one itself (the Standard Webhooks schedule), so this job's own retries
/// are only for trouble on our side (the database).
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub organization_id: uuid::Uuid,
    pub delivery_id: uuid::Uuid,
    /// Which attempt this job makes (0: the first); a job for an attempt the delivery is no
    /// longer at does nothing.
    #[serde(default)]
    pub attempt: i32,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "webhooks.deliver";
    const MAX_ATTEMPTS: i32 = 5;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let sender = crate::services::webhooks::Sender::shared(ctx.webhook_allow_private);
            crate::services::webhooks::deliver(
                &ctx.db,
                &ctx.broker,
                sender,
                &ctx.keyring,
                scope,
                self.delivery_id,
                self.attempt,
            )
            .await?;
            Ok(())
        })
    }

    /// Given up (our side failed every time): the delivery is FAILED, not pending for ever.
    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let reason = format!("the delivery could not be attempted: {error}");
            if let Err(e) =
                crate::services::webhooks::give_up(&ctx.db, scope, self.delivery_id, &reason).await
            {
                tracing::error!(delivery = %self.delivery_id, "marking a delivery failed: {e:?}");
            }
        })
    }
}

/// Deletes notifications whose `expiresAt` has passed (they are hidden from that instant).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeExpiredNotifications {}

impl Job for PurgeExpiredNotifications {
    const KIND: &'static str = "notifications.purge_expired";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let n = crate::services::notifications::purge_expired(&ctx.db).await?;
            if n > 0 {
                tracing::info!("purged {n} expired notification(s)");
            }
            Ok(())
        })
    }
}

/// Hard-deletes rows soft-deleted more than `days` ago (`PLUGS_PURGE_DELETED_AFTER_DAYS`).
/// Audit rows are kept; members are kept (every record names its creator).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeDeleted {
    pub days: i64,
}

impl Job for PurgeDeleted {
    const KIND: &'static str = "data.purge_deleted";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let before = crate::services::now() - chrono::Duration::days(self.days);
            let n = crate::db::purge::deleted_before(&ctx.db, before).await?;
            if n > 0 {
                tracing::info!("purged {n} row(s) deleted more than {} days ago", self.days);
            }
            Ok(())
        })
    }
}

/// Renders an image's THUMBNAIL and MEDIUM variants (`services::media::make_variants`).
#[derive(Debug, Serialize, Deserialize)]
pub struct MakeVariants {
    pub organization_id: uuid::Uuid,
    pub media_id: uuid::Uuid,
}

impl Job for MakeVariants {
    const KIND: &'static str = "media.make_variants";
    const MAX_ATTEMPTS: i32 = 5;

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            let announced =
                crate::services::media::make_variants(&ctx.db, &ctx.storage, scope, self.media_id)
                    .await?;
            if announced > 0 {
                super::wake(&ctx.broker);
            }
            Ok(())
        })
    }

    /// Given up (storage down for every attempt, say): the image is FAILED, not PROCESSING
    /// for ever.
    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let scope = tenant(self.organization_id);
            if let Err(e) =
                crate::services::media::give_up(&ctx.db, scope, self.media_id, &error).await
            {
                tracing::error!(media = %self.media_id, "marking an image FAILED: {e:?}");
            }
        })
    }
}

/// Removes the stored bytes (and then the rows) of media deleted more than `days` ago
/// (`PLUGS_MEDIA_RETENTION_DAYS`), and direct uploads never completed a day after their
/// ticket expired.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeDeletedMedia {
    pub days: i64,
}

impl Job for PurgeDeletedMedia {
    const KIND: &'static str = "media.purge_deleted";

    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let before = crate::services::now() - chrono::Duration::days(self.days);
            let n = crate::services::media::purge_deleted(&ctx.db, &ctx.storage, before).await?;
            if n > 0 {
                tracing::info!(
                    "removed {n} media item(s) deleted more than {} days ago",
                    self.days
                );
            }
            // A day's grace after a ticket expires: a client may still complete an upload
            // whose bytes arrived in time.
            let expired = crate::services::now() - chrono::Duration::days(1);
            let n = crate::services::media::purge_abandoned_uploads(&ctx.db, &ctx.storage, expired)
                .await?;
            if n > 0 {
                tracing::info!("removed {n} direct upload(s) never completed");
            }
            Ok(())
        })
    }
}
