//! Product-usage analytics: ingestion (`trackEvents`, `POST /analytics/events`), admin reads
//! (`analyticsEvents`, `analyticsSeries`) and retention.
//!
//! The server fills the organization, the member, the IP and the user agent from the request: a
//! client names none of them. A call's events are checked first (all or nothing), then written
//! in one transaction (one multi-row INSERT per 500) and answered after commit.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, now};
use crate::db::analytics::{self as q, Bucket, EventFilter, EventRow, Interval, NewEvent};
use crate::db::pagination::{
    CountFn, DEFAULT_PAGE, Page, PageArgs, RowCursor, SortValue, decode_time_cursor, page_size,
};
use crate::error::AppError;

/// Events one call may carry.
pub const MAX_EVENTS: usize = 500;
/// A event's `properties`, as JSON.
pub const MAX_PROPERTIES_BYTES: usize = 8 * 1024;
/// How far ahead of the server's clock a timestamp may be.
pub const MAX_SKEW_MINUTES: i64 = 5;
/// Buckets one series may have.
pub const MAX_BUCKETS: i64 = 5_000;

/// One event as a client sends it (GraphQL input and the HTTP body's items alike). Unknown
/// fields are refused: a client cannot name an organization, a member, an IP.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventInput {
    pub event_name: String,
    #[serde(default)]
    pub event_category: Option<String>,
    #[serde(default)]
    pub properties: Option<Value>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub page_url: Option<String>,
    #[serde(default)]
    pub referrer: Option<String>,
}

fn text(field: String, v: &str, max: usize) -> Result<String, AppError> {
    let v = v.trim();
    if v.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    if v.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn optional(field: String, v: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| text(field, &s, max))
        .transpose()
}

/// Checks one event (`i` names it in errors: `events[3].timestamp`).
fn check(
    i: usize,
    e: EventInput,
    actor: &Actor,
    t: DateTime<Utc>,
    retention: Duration,
) -> Result<NewEvent, AppError> {
    let f = |name: &str| format!("events[{i}].{name}");
    let properties = e
        .properties
        .unwrap_or_else(|| Value::Object(Default::default()));
    if !properties.is_object() {
        return Err(AppError::bad_input(
            f("properties"),
            "must be a JSON object",
        ));
    }
    let json = properties.to_string();
    // PostgreSQL's jsonb cannot hold U+0000.
    if json.contains("\\u0000") {
        return Err(AppError::bad_input(
            f("properties"),
            "must not contain NUL characters",
        ));
    }
    if json.len() > MAX_PROPERTIES_BYTES {
        return Err(AppError::bad_input(
            f("properties"),
            format!("must be at most {MAX_PROPERTIES_BYTES} bytes of JSON"),
        ));
    }
    let at = e.timestamp.unwrap_or(t);
    if at > t + Duration::minutes(MAX_SKEW_MINUTES) {
        return Err(AppError::bad_input(
            f("timestamp"),
            format!("is more than {MAX_SKEW_MINUTES} minutes in the future"),
        ));
    }
    if at < t - retention {
        return Err(AppError::bad_input(
            f("timestamp"),
            format!(
                "is older than the {} days events are kept",
                retention.num_days()
            ),
        ));
    }
    let category = e.event_category.unwrap_or_else(|| "general".into());
    Ok(NewEvent {
        id: Uuid::new_v4(),
        user_id: Some(actor.user_id),
        event_name: text(f("eventName"), &e.event_name, 100)?,
        event_category: text(f("eventCategory"), &category, 50)?,
        properties,
        session_id: optional(f("sessionId"), e.session_id, 100)?,
        ip_address: actor.meta.ip.map(|ip| ip.to_string()),
        user_agent: actor
            .meta
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(1024).collect()),
        page_url: optional(f("pageUrl"), e.page_url, 2048)?,
        referrer: optional(f("referrer"), e.referrer, 2048)?,
        event_timestamp: at.fixed_offset(),
    })
}

/// Records the caller's events; returns how many were stored.
pub async fn track(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    events: Vec<EventInput>,
    retention: Duration,
) -> Result<usize, AppError> {
    if events.len() > MAX_EVENTS {
        return Err(AppError::bad_input(
            "events",
            format!(
                "at most {MAX_EVENTS} events per call ({} sent); nothing was stored",
                events.len()
            ),
        ));
    }
    let t = Utc::now();
    let rows = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| check(i, e, actor, t, retention))
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(0);
    }
    let txn = crate::db::write_txn(db).await?;
    q::insert(&txn, actor.scope(), &rows, now()).await?;
    txn.commit().await?;
    Ok(rows.len())
}

const ORDERING: &str = "event_timestamp desc";

/// Admins: the organization's events, newest first (forward pages: `first`/`after`).
pub async fn list(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    f: EventFilter,
    args: &PageArgs,
) -> Result<Page<EventRow>, AppError> {
    actor.admin()?;
    if args.last.is_some() || args.before.is_some() {
        return Err(AppError::bad_input(
            "last",
            "analytics events page forward only: use first and after",
        ));
    }
    let limit = page_size(args.first, "first")?.unwrap_or(DEFAULT_PAGE);
    let after = args
        .after
        .as_deref()
        .map(|c| decode_time_cursor(c, "after", ORDERING))
        .transpose()?;
    let scope = actor.scope();
    let mut rows = q::page(db, scope, &f, after, limit as u64 + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let count: CountFn = {
        let (db, f) = (db.clone(), f.clone());
        Arc::new(move || {
            let (db, f) = (db.clone(), f.clone());
            Box::pin(async move { Ok(q::count(&db, scope, &f).await?) })
        })
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| {
                let c = RowCursor::new(ORDERING, SortValue::Time(r.event_timestamp.to_utc()), r.id);
                (c, r)
            })
            .collect(),
        has_next_page: more,
        has_previous_page: after.is_some(),
        count,
    })
}

/// Admins: events per bucket over `[from, to)`.
pub async fn series(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    f: EventFilter,
    interval: Interval,
) -> Result<Vec<Bucket>, AppError> {
    actor.admin()?;
    let (Some(from), Some(to)) = (f.from, f.to) else {
        return Err(AppError::bad_input("from", "from and to are required"));
    };
    if from >= to {
        return Err(AppError::bad_input("to", "must be after from"));
    }
    let width = match interval {
        Interval::Hour => Duration::hours(1),
        Interval::Day => Duration::days(1),
        Interval::Week => Duration::weeks(1),
    };
    if (to - from).num_seconds() / width.num_seconds() > MAX_BUCKETS {
        return Err(AppError::bad_input(
            "to",
            format!("a series has at most {MAX_BUCKETS} buckets: widen the interval"),
        ));
    }
    Ok(q::series(db, actor.scope(), &f, interval).await?)
}

/// Deletes events older than `retention`, 5,000 at a time; returns how many went.
pub async fn purge(db: &sea_orm::DatabaseConnection, retention: Duration) -> Result<u64, AppError> {
    let before = now() - retention;
    let mut total = 0;
    loop {
        let n = q::delete_before(db, before, 5_000).await?;
        total += n;
        if n < 5_000 {
            return Ok(total);
        }
    }
}
