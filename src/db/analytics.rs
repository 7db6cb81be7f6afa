//! `analytics_events` through SQL of its own: the generated entity types `ip_address` as
//! PostgreSQL's `inet`, which SQLite cannot bind or decode, so rows are written with the IP
//! cast to `inet` on PostgreSQL (text on SQLite) and read with it cast to text.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use serde_json::Value;
use uuid::Uuid;

use super::scoped::Scoped;
use crate::entities::analytics_events::{Column as C, Entity};

/// One event to store; the organization comes from the scope.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub event_name: String,
    pub event_category: String,
    pub properties: Value,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub event_timestamp: DateTime<FixedOffset>,
}

/// Rows per INSERT: 13 values each stays well below SQLite's 32,766 parameters.
const CHUNK: usize = 500;

/// Inserts `events` of the scope's organization: one multi-row statement per 500.
pub async fn insert(
    db: &impl ConnectionTrait,
    scope: Scoped,
    events: &[NewEvent],
    now: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    let pg = db.get_database_backend() == DbBackend::Postgres;
    for chunk in events.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(Entity).columns([
            C::Id,
            C::OrganizationId,
            C::UserId,
            C::EventName,
            C::EventCategory,
            C::Properties,
            C::SessionId,
            C::IpAddress,
            C::UserAgent,
            C::PageUrl,
            C::Referrer,
            C::EventTimestamp,
            C::CreatedAt,
        ]);
        for e in chunk {
            let ip = Expr::val(e.ip_address.clone());
            let ip = if pg {
                ip.cast_as(Alias::new("inet"))
            } else {
                ip
            };
            q.values_panic([
                Expr::val(e.id),
                Expr::val(scope.organization_id()),
                Expr::val(e.user_id),
                Expr::val(e.event_name.clone()),
                Expr::val(e.event_category.clone()),
                Expr::val(e.properties.clone()),
                Expr::val(e.session_id.clone()),
                ip,
                Expr::val(e.user_agent.clone()),
                Expr::val(e.page_url.clone()),
                Expr::val(e.referrer.clone()),
                Expr::val(e.event_timestamp),
                Expr::val(now),
            ]);
        }
        db.execute(&q).await?;
    }
    Ok(())
}

/// An event as read back (the IP as text).
#[derive(Clone, Debug, FromQueryResult, serde::Serialize)]
pub struct EventRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub event_name: String,
    pub event_category: String,
    pub properties: Value,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub event_timestamp: DateTime<FixedOffset>,
    pub created_at: DateTime<FixedOffset>,
}

/// What `analyticsEvents` narrows by.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub event_name: Option<String>,
    pub event_category: Option<String>,
    pub user_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn filtered(q: &mut SelectStatement, scope: Scoped, f: &EventFilter) {
    q.from(Entity)
        .and_where(Expr::col(C::OrganizationId).eq(scope.organization_id()));
    if let Some(v) = &f.event_name {
        q.and_where(Expr::col(C::EventName).eq(v.as_str()));
    }
    if let Some(v) = &f.event_category {
        q.and_where(Expr::col(C::EventCategory).eq(v.as_str()));
    }
    if let Some(v) = f.user_id {
        q.and_where(Expr::col(C::UserId).eq(v));
    }
    if let Some(v) = &f.session_id {
        q.and_where(Expr::col(C::SessionId).eq(v.as_str()));
    }
    if let Some(t) = f.from {
        q.and_where(Expr::col(C::EventTimestamp).gte(t.fixed_offset()));
    }
    if let Some(t) = f.to {
        q.and_where(Expr::col(C::EventTimestamp).lt(t.fixed_offset()));
    }
}

/// One page, newest first: at most `limit` rows strictly after `after` (timestamp, id).
pub async fn page(
    db: &impl ConnectionTrait,
    scope: Scoped,
    f: &EventFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    let mut q = Query::select();
    q.columns([
        C::Id,
        C::UserId,
        C::EventName,
        C::EventCategory,
        C::Properties,
        C::SessionId,
        C::UserAgent,
        C::PageUrl,
        C::Referrer,
        C::EventTimestamp,
        C::CreatedAt,
    ])
    .expr_as(
        Expr::col(C::IpAddress).cast_as(Alias::new("text")),
        Alias::new("ip_address"),
    );
    filtered(&mut q, scope, f);
    if let Some((t, id)) = after {
        let t = t.fixed_offset();
        q.and_where(
            Expr::col(C::EventTimestamp)
                .lt(t)
                .or(Expr::col(C::EventTimestamp)
                    .eq(t)
                    .and(Expr::col(C::Id).lt(id))),
        );
    }
    q.order_by(C::EventTimestamp, Order::Desc)
        .order_by(C::Id, Order::Desc)
        .limit(limit);
    EventRow::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await
}

/// How many events match.
pub async fn count(
    db: &impl ConnectionTrait,
    scope: Scoped,
    f: &EventFilter,
) -> Result<u64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    let mut q = Query::select();
    q.expr_as(Func::count(Expr::col(C::Id)), Alias::new("n"));
    filtered(&mut q, scope, f);
    let n = N::find_by_statement(db.get_database_backend().build(&q))
        .one(db)
        .await?
        .map_or(0, |r| r.n);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A series bucket's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct Bucket {
    /// The bucket's start, as text in UTC (`YYYY-MM-DD HH:MM:SS`).
    pub bucket: String,
    pub count: i64,
    pub unique_users: i64,
}

/// Events per bucket (UTC; weeks start on Monday) and the distinct members among them.
pub async fn series(
    db: &impl ConnectionTrait,
    scope: Scoped,
    f: &EventFilter,
    interval: Interval,
) -> Result<Vec<Bucket>, DbErr> {
    let bucket = match (db.get_database_backend(), interval) {
        (DbBackend::Postgres, i) => {
            let unit = match i {
                Interval::Hour => "hour",
                Interval::Day => "day",
                Interval::Week => "week",
            };
            format!(
                "to_char(date_trunc('{unit}', event_timestamp AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')"
            )
        }
        (_, Interval::Hour) => "strftime('%Y-%m-%d %H:00:00', event_timestamp)".to_owned(),
        (_, Interval::Day) => "strftime('%Y-%m-%d 00:00:00', event_timestamp)".to_owned(),
        // The Monday of the week: back by (weekday + 6) % 7 days.
        (_, Interval::Week) => "strftime('%Y-%m-%d 00:00:00', event_timestamp, '-' || ((CAST(strftime('%w', event_timestamp) AS INTEGER) + 6) % 7) || ' days')".to_owned(),
    };
    let mut q = Query::select();
    q.expr_as(Expr::cust(bucket), Alias::new("bucket"))
        .expr_as(Func::count(Expr::col(C::Id)), Alias::new("count"))
        .expr_as(
            Func::count_distinct(Expr::col(C::UserId)),
            Alias::new("unique_users"),
        );
    filtered(&mut q, scope, f);
    q.group_by_col(Alias::new("bucket"))
        .order_by(Alias::new("bucket"), Order::Asc);
    Bucket::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await
}

/// Deletes up to `limit` events older than `before`, across organizations (the retention job);
/// returns how many went.
pub async fn delete_before(
    db: &impl ConnectionTrait,
    before: DateTime<FixedOffset>,
    limit: u64,
) -> Result<u64, DbErr> {
    let oldest = Query::select()
        .column(C::Id)
        .from(Entity)
        .and_where(Expr::col(C::EventTimestamp).lt(before))
        .limit(limit)
        .to_owned();
    let q = Query::delete()
        .from_table(Entity)
        .and_where(Expr::col(C::Id).in_subquery(oldest))
        .to_owned();
    Ok(db.execute(&q).await?.rows_affected())
}
