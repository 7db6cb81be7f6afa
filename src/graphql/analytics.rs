//! Product-usage analytics: `trackEvents` (any member, for themselves) and the admins' reads.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::analytics::{EventFilter, EventRow, Interval};
use crate::graphql::args::{opt_id, page};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::utc;
use crate::graphql::types::AnalyticsEvent;
use crate::services::analytics::{self as svc, EventInput};

type Res<T> = async_graphql::Result<T>;

/// How long events are kept (`PLUGS_ANALYTICS_RETENTION_DAYS`): older timestamps are refused.
#[derive(Clone, Copy)]
pub struct AnalyticsRetention(pub chrono::Duration);

/// One product-usage event. The server adds the organization, the member, the IP and the user
/// agent from the request.
#[derive(InputObject)]
pub struct AnalyticsEventInput {
    /// 1 to 100 characters, e.g. `contact_viewed`.
    event_name: String,
    /// 1 to 50 characters; default `general`.
    event_category: Option<String>,
    /// A JSON object of at most 8 KiB.
    properties: Option<Json<serde_json::Value>>,
    /// When it happened; default now. At most 5 minutes ahead, not older than the retention.
    timestamp: Option<DateTime<Utc>>,
    session_id: Option<String>,
    page_url: Option<String>,
    referrer: Option<String>,
}

impl From<AnalyticsEventInput> for EventInput {
    fn from(i: AnalyticsEventInput) -> Self {
        Self {
            event_name: i.event_name,
            event_category: i.event_category,
            properties: i.properties.map(|j| j.0),
            timestamp: i.timestamp,
            session_id: i.session_id,
            page_url: i.page_url,
            referrer: i.referrer,
        }
    }
}

impl From<EventRow> for AnalyticsEvent {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id.into(),
            user_id: r.user_id.map(Into::into),
            event_name: r.event_name,
            event_category: r.event_category,
            properties: Json(r.properties),
            session_id: r.session_id,
            ip_address: r
                .ip_address
                .map(|ip| ip.split('/').next().unwrap_or_default().to_owned()),
            user_agent: r.user_agent,
            page_url: r.page_url,
            referrer: r.referrer,
            event_timestamp: utc(r.event_timestamp),
            created_at: utc(r.created_at),
        }
    }
}

#[derive(InputObject, Default)]
pub struct AnalyticsEventFilter {
    event_name: Option<String>,
    event_category: Option<String>,
    user_id: Option<ID>,
    session_id: Option<String>,
    /// Events at or after.
    from: Option<DateTime<Utc>>,
    /// Events before.
    to: Option<DateTime<Utc>>,
}

/// A series bucket's width (UTC; weeks start on Monday).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticsInterval {
    Hour,
    Day,
    Week,
}

/// Events in one bucket.
#[derive(SimpleObject)]
pub struct AnalyticsBucket {
    /// The bucket's start (UTC).
    bucket: DateTime<Utc>,
    count: i64,
    /// Distinct members among the bucket's events.
    unique_users: i64,
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Admins: the organization's product-usage events, newest first (`first`/`after`).
    async fn analytics_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AnalyticsEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Res<Connection<AnalyticsEvent>> {
        let f = filter.unwrap_or_default();
        let filter = EventFilter {
            event_name: f.event_name,
            event_category: f.event_category,
            user_id: opt_id(f.user_id.as_ref(), "userId")?,
            session_id: f.session_id,
            from: f.from,
            to: f.to,
        };
        let p = svc::list(
            ctx.db(),
            ctx.actor()?,
            filter,
            &page(first, after, None, None),
        )
        .await?;
        Ok(Connection::from_page(p))
    }

    /// Admins: events per HOUR, DAY or WEEK over `[from, to)` (at most 5,000 buckets; empty
    /// buckets are left out).
    async fn analytics_series(
        &self,
        ctx: &Context<'_>,
        event_name: Option<String>,
        event_category: Option<String>,
        interval: AnalyticsInterval,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Res<Vec<AnalyticsBucket>> {
        let filter = EventFilter {
            event_name,
            event_category,
            from: Some(from),
            to: Some(to),
            ..Default::default()
        };
        let interval = match interval {
            AnalyticsInterval::Hour => Interval::Hour,
            AnalyticsInterval::Day => Interval::Day,
            AnalyticsInterval::Week => Interval::Week,
        };
        let rows = svc::series(ctx.db(), ctx.actor()?, filter, interval).await?;
        rows.into_iter()
            .map(|b| {
                let t = chrono::NaiveDateTime::parse_from_str(&b.bucket, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| {
                        crate::error::AppError::Internal(format!("bucket {:?}: {e}", b.bucket))
                    })?;
                Ok(AnalyticsBucket {
                    bucket: t.and_utc(),
                    count: b.count,
                    unique_users: b.unique_users,
                })
            })
            .collect()
    }
}

#[derive(Default)]
pub struct AnalyticsMutation;

#[Object]
impl AnalyticsMutation {
    /// Records up to 500 product-usage events of the caller; all or nothing, answered once
    /// committed. Returns how many were stored.
    async fn track_events(&self, ctx: &Context<'_>, events: Vec<AnalyticsEventInput>) -> Res<i32> {
        let retention = ctx.data::<AnalyticsRetention>()?.0;
        let actor = ctx.actor()?;
        // Besides the operation's complexity, one point per event (as `POST /analytics/events`).
        let payer = crate::graphql::rate::Payer::Member {
            user: actor.user_id,
            organization: actor.organization_id,
        };
        let rate = ctx.data::<crate::graphql::rate::RateLimits>()?;
        if events.len() <= svc::MAX_EVENTS {
            rate.charge(payer, events.len() as u32)
                .map_err(|r| r.error)?;
        }
        let events = events.into_iter().map(Into::into).collect();
        let n = svc::track(ctx.db(), actor, events, retention).await?;
        Ok(n as i32)
    }
}
