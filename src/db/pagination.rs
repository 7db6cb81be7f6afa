//! Keyset (cursor) pagination: `ORDER BY sort, id` with `WHERE (sort, id) > cursor`, never OFFSET,
//! so pages stay stable while rows are inserted. Cursors are opaque base64url JSON.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

/// Relay arguments as the client sent them.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// The value a row is sorted by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Int(i64),
    Text(String),
}

impl SortValue {
    fn to_db(&self) -> sea_orm::Value {
        match self {
            SortValue::Time(t) => {
                let t: DateTime<FixedOffset> = t.fixed_offset();
                t.into()
            }
            SortValue::Int(i) => (*i).into(),
            SortValue::Text(s) => s.clone().into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    v: SortValue,
    id: Uuid,
}

pub fn encode_cursor(v: SortValue, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Cursor { v, id }).expect("cursor serializes"))
}

fn decode_cursor(raw: &str, field: &str) -> Result<Cursor, AppError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, "malformed cursor"))
}

/// How an entity is ordered: one non-null sort column, then the id as tie-breaker.
pub struct Keyset<E: EntityTrait> {
    pub sort: E::Column,
    pub id: E::Column,
    pub direction: Order,
    pub value: fn(&E::Model) -> SortValue,
    pub id_of: fn(&E::Model) -> Uuid,
}

/// Counts the full (unpaginated) result when `totalCount` is asked for, and only then.
pub type CountFn = Arc<dyn Fn() -> BoxFuture<'static, Result<u64, DbErr>> + Send + Sync>;

pub struct Page<M> {
    pub items: Vec<(String, M)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub count: CountFn,
}

fn flip(o: &Order) -> Order {
    match o {
        Order::Asc => Order::Desc,
        _ => Order::Asc,
    }
}

/// `(sort, id)` strictly after the cursor in `direction`.
fn beyond<E: EntityTrait>(k: &Keyset<E>, c: &Cursor, direction: &Order) -> Condition {
    let v = c.v.to_db();
    let (sort_cmp, id_cmp) = match direction {
        Order::Asc => (k.sort.gt(v.clone()), k.id.gt(c.id)),
        _ => (k.sort.lt(v.clone()), k.id.lt(c.id)),
    };
    Condition::any()
        .add(sort_cmp)
        .add(Condition::all().add(k.sort.eq(v)).add(id_cmp))
}

/// Validates the arguments and runs one page (plus one row to learn whether more exist).
pub async fn paginate<E>(
    db: &DatabaseConnection,
    select: Select<E>,
    keyset: &Keyset<E>,
    args: &PageArgs,
) -> Result<Page<E::Model>, AppError>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    if args.first.is_some() && args.last.is_some() {
        return Err(AppError::bad_input("first", "pass first or last, not both"));
    }
    let check = |n: Option<i32>, field: &str| -> Result<Option<usize>, AppError> {
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Err(AppError::bad_input(field, "must not be negative")),
            Some(n) if n as usize > MAX_PAGE => Err(AppError::bad_input(
                field,
                format!("must be at most {MAX_PAGE}"),
            )),
            Some(n) => Ok(Some(n as usize)),
        }
    };
    let first = check(args.first, "first")?;
    let last = check(args.last, "last")?;
    let after = args
        .after
        .as_deref()
        .map(|c| decode_cursor(c, "after"))
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(|c| decode_cursor(c, "before"))
        .transpose()?;

    let count: CountFn = {
        let select = select.clone();
        let db = db.clone();
        Arc::new(move || {
            let select = select.clone();
            let db = db.clone();
            Box::pin(async move { select.count(&db).await })
        })
    };

    let backward = last.is_some();
    let limit = last.or(first).unwrap_or(DEFAULT_PAGE);
    let mut q = select;
    if let Some(c) = &after {
        q = q.filter(beyond(keyset, c, &keyset.direction));
    }
    if let Some(c) = &before {
        q = q.filter(beyond(keyset, c, &flip(&keyset.direction)));
    }
    let order = if backward {
        flip(&keyset.direction)
    } else {
        keyset.direction.clone()
    };
    let mut rows = q
        .order_by(keyset.sort, order.clone())
        .order_by(keyset.id, order)
        .limit(limit as u64 + 1)
        .all(db)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    if backward {
        rows.reverse();
    }
    let items = rows
        .into_iter()
        .map(|m| (encode_cursor((keyset.value)(&m), (keyset.id_of)(&m)), m))
        .collect();
    let (has_next_page, has_previous_page) = if backward {
        (before.is_some(), more)
    } else {
        (more, after.is_some())
    };
    Ok(Page {
        items,
        has_next_page,
        has_previous_page,
        count,
    })
}
