//! Periodic work as jobs. Every instance runs the same scheduler; a run is a job whose unique
//! key names its slot (`kind@<slot number>`), so however many instances enqueue a slot, its
//! job exists once and runs once.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use super::kinds::{
    PurgeAccountTokens, PurgeAnalytics, PurgeDeleted, PurgeDeletedMedia, PurgeExpiredExports,
    PurgeExpiredNotifications, PurgeIdempotencyKeys, SendEventReminders,
};
use super::{Enqueue, Job, JobContext, enqueue_system, wake};

/// The slot `now` falls in, for a period of `every`, and when that slot started.
pub fn slot(now: DateTime<Utc>, every: Duration) -> (i64, DateTime<Utc>) {
    let every = every.as_secs().max(1) as i64;
    let n = now.timestamp().div_euclid(every);
    let start = Utc.timestamp_opt(n * every, 0).single().unwrap_or(now);
    (n, start)
}

/// Enqueues `job` for the current slot of `every` (nothing if that slot's job exists).
pub async fn enqueue_slot<J: Job>(
    ctx: &JobContext,
    job: &J,
    every: Duration,
    now: DateTime<Utc>,
) -> Result<bool, crate::error::AppError> {
    let (n, start) = slot(now, every);
    let opts = Enqueue {
        run_at: Some(start),
        unique_key: Some(format!("{}@{n}", J::KIND)),
    };
    enqueue_system(&ctx.db, job, opts).await
}

/// How often registrations are scanned for a due 24-hour reminder: a reminder goes out at
/// most this late.
pub const REMINDER_SCAN_SECS: u64 = 300;

/// Enqueues every due slot of the product's schedules once.
pub async fn tick(ctx: &JobContext, now: DateTime<Utc>) -> Result<usize, crate::error::AppError> {
    let mut added = 0;
    let c = &ctx.config;
    added += usize::from(
        enqueue_slot(
            ctx,
            &PurgeExpiredNotifications {},
            c.notification_purge,
            now,
        )
        .await?,
    );
    if let Some(after) = c.purge_deleted_after {
        let job = PurgeDeleted {
            days: after.num_days(),
        };
        added += usize::from(enqueue_slot(ctx, &job, Duration::from_secs(24 * 3600), now).await?);
    }
    let job = PurgeDeletedMedia {
        days: c.media_retention.num_days(),
    };
    added += usize::from(enqueue_slot(ctx, &job, Duration::from_secs(24 * 3600), now).await?);
    let hourly = Duration::from_secs(3600);
    let job = PurgeAnalytics {
        days: c.analytics_retention.num_days(),
    };
    added += usize::from(enqueue_slot(ctx, &job, hourly, now).await?);
    added += usize::from(enqueue_slot(ctx, &PurgeExpiredExports {}, hourly, now).await?);
    added += usize::from(enqueue_slot(ctx, &PurgeIdempotencyKeys {}, hourly, now).await?);
    added += usize::from(enqueue_slot(ctx, &PurgeAccountTokens {}, hourly, now).await?);
    let reminders = Duration::from_secs(REMINDER_SCAN_SECS);
    added += usize::from(enqueue_slot(ctx, &SendEventReminders {}, reminders, now).await?);
    added += crate::services::integrations::schedule_due(&ctx.db, now).await?;
    if added > 0 {
        wake(&ctx.broker);
    }
    Ok(added)
}

/// Ticks every `every` until `shutdown` turns true.
pub fn spawn(ctx: JobContext, every: Duration, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                r = shutdown.changed() => if r.is_err() { return },
            }
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = tick(&ctx, Utc::now()).await {
                tracing::warn!("scheduling jobs: {e:?}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_the_same_for_every_instant_inside_it() {
        let hour = Duration::from_secs(3600);
        let a = Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2026, 11, 30, 14, 59, 59).unwrap();
        let c = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
        assert_eq!(slot(a, hour), slot(b, hour));
        assert_eq!(slot(a, hour).1, a);
        assert_eq!(slot(c, hour).0, slot(a, hour).0 + 1);
    }
}
