//! Keyset (cursor) pagination: `ORDER BY sort, id` with `WHERE (sort, id) > cursor`, never OFFSET,
//! so pages stay stable while rows are inserted. Cursors are opaque base64url JSON.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use rust_decimal::Decimal;
use sea_orm::sea_query::NullOrdering;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
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

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

/// The value a row is sorted by (tagged, so a text that looks like a date stays a text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Int(i64),
    Text(String),
    Date(NaiveDate),
    Decimal(Decimal),
    /// A NULL in a nullable sort column (those sort last).
    Null,
}

/// The type of a sort column, to refuse a crafted cursor whose value does not fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKind {
    Time,
    Int,
    Text,
    Date,
    Decimal,
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
            SortValue::Date(d) => (*d).into(),
            SortValue::Decimal(d) => (*d).into(),
            SortValue::Null => sea_orm::Value::String(None),
        }
    }

    fn fits(&self, kind: SortKind, nullable: bool) -> bool {
        matches!(
            (self, kind),
            (SortValue::Time(_), SortKind::Time)
                | (SortValue::Int(_), SortKind::Int)
                | (SortValue::Text(_), SortKind::Text)
                | (SortValue::Date(_), SortKind::Date)
                | (SortValue::Decimal(_), SortKind::Decimal)
        ) || (nullable && *self == SortValue::Null)
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The ordering the cursor was made for.
    k: String,
    v: SortValue,
    id: Uuid,
}

/// A row's place in an ordering, encoded into its opaque cursor only when a client asks for
/// it (a page of 100 contacts with 5 interactions each holds 600 cursors; most clients select
/// `nodes` and none of them).
#[derive(Clone, Debug)]
pub struct RowCursor {
    ordering: &'static str,
    value: SortValue,
    id: Uuid,
}

impl RowCursor {
    pub fn new(ordering: &'static str, value: SortValue, id: Uuid) -> Self {
        Self {
            ordering,
            value,
            id,
        }
    }

    /// The opaque text clients pass back as `after`/`before`.
    pub fn encode(&self) -> String {
        encode_cursor(self.ordering, self.value.clone(), self.id)
    }
}

pub fn encode_cursor(ordering: &str, v: SortValue, id: Uuid) -> String {
    let c = Cursor {
        k: ordering.to_owned(),
        v,
        id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("cursor serializes"))
}

/// A cursor of `ordering` sorted by a time (`encode_cursor(ordering, SortValue::Time(t), id)`),
/// for pages read outside `paginate`.
pub fn decode_time_cursor(
    raw: &str,
    field: &str,
    ordering: &str,
) -> Result<(DateTime<chrono::Utc>, Uuid), AppError> {
    let c: Cursor = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, "malformed cursor"))?;
    match c.v {
        SortValue::Time(t) if c.k == ordering => Ok((t, c.id)),
        _ => Err(AppError::bad_input(
            field,
            "this cursor belongs to another ordering; start again without it",
        )),
    }
}

fn decode_cursor<E: EntityTrait>(
    raw: &str,
    field: &str,
    k: &Keyset<E>,
) -> Result<Cursor, AppError> {
    let c: Cursor = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, "malformed cursor"))?;
    if c.k != k.name || !c.v.fits(k.kind, k.nullable) {
        return Err(AppError::bad_input(
            field,
            "this cursor belongs to another ordering; start again without it",
        ));
    }
    Ok(c)
}

/// How an entity is ordered: one sort column (NULLs last when nullable), then the id.
pub struct Keyset<E: EntityTrait> {
    /// Names the ordering inside cursors.
    pub name: &'static str,
    pub sort: E::Column,
    pub kind: SortKind,
    pub nullable: bool,
    pub id: E::Column,
    pub direction: Order,
    pub value: fn(&E::Model) -> SortValue,
    pub id_of: fn(&E::Model) -> Uuid,
}

/// Counts the full (unpaginated) result when `totalCount` is asked for, and only then.
pub type CountFn = Arc<dyn Fn() -> BoxFuture<'static, Result<u64, AppError>> + Send + Sync>;

pub struct Page<M> {
    pub items: Vec<(RowCursor, M)>,
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

/// Rows strictly after (`after = true`) or before the cursor in the canonical order:
/// `sort` in `direction` with NULLs last, then `id` in `direction`.
fn beyond<E: EntityTrait>(k: &Keyset<E>, c: &Cursor, after: bool) -> Condition {
    let forward = after == (k.direction == Order::Asc);
    let sort_beyond = |v: sea_orm::Value| if forward { k.sort.gt(v) } else { k.sort.lt(v) };
    let id_beyond = if forward {
        k.id.gt(c.id)
    } else {
        k.id.lt(c.id)
    };
    match (&c.v, after) {
        // Among the NULLs (which come last): only the id orders them.
        (SortValue::Null, true) => Condition::all().add(k.sort.is_null()).add(id_beyond),
        (SortValue::Null, false) => Condition::any()
            .add(k.sort.is_not_null())
            .add(Condition::all().add(k.sort.is_null()).add(id_beyond)),
        (v, after) => {
            let v = v.to_db();
            let mut cond = Condition::any()
                .add(sort_beyond(v.clone()))
                .add(Condition::all().add(k.sort.eq(v)).add(id_beyond));
            if after && k.nullable {
                cond = cond.add(k.sort.is_null());
            }
            cond
        }
    }
}

/// A `first`/`last` argument: 0 to `MAX_PAGE`.
pub fn page_size(n: Option<i32>, field: &str) -> Result<Option<usize>, AppError> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Err(AppError::bad_input(field, "must not be negative")),
        Some(n) if n as usize > MAX_PAGE => Err(AppError::bad_input(
            field,
            format!("must be at most {MAX_PAGE}"),
        )),
        Some(n) => Ok(Some(n as usize)),
    }
}

impl<E: EntityTrait> Keyset<E> {
    /// The cursor of a row in this ordering.
    pub fn cursor(&self, m: &E::Model) -> RowCursor {
        RowCursor::new(self.name, (self.value)(m), (self.id_of)(m))
    }

    /// `select` in this order, then by id the same way; `backward` reads it in reverse (NULLs
    /// then first). NULLS FIRST/LAST only where NULLs exist: on a NOT NULL column the clause
    /// would stop PostgreSQL from walking a plain `col DESC` index in order.
    pub fn ordered(&self, select: Select<E>, backward: bool) -> Select<E> {
        let (order, nulls) = if backward {
            (flip(&self.direction), NullOrdering::First)
        } else {
            (self.direction.clone(), NullOrdering::Last)
        };
        let select = if self.nullable {
            select.order_by_with_nulls(self.sort, order.clone(), nulls)
        } else {
            select.order_by(self.sort, order.clone())
        };
        select.order_by(self.id, order)
    }
}

/// Validates the arguments and runs one page (plus one row to learn whether more exist).
pub async fn paginate<E>(
    db: &DatabaseConnection,
    select: Select<E>,
    keyset: &Keyset<E>,
    args: &PageArgs,
) -> Result<Page<E::Model>, AppError>
where
    E: super::rows::Rows,
    E::Model: Send + Sync,
{
    if args.first.is_some() && args.last.is_some() {
        return Err(AppError::bad_input("first", "pass first or last, not both"));
    }
    let first = page_size(args.first, "first")?;
    let last = page_size(args.last, "last")?;
    let after = args
        .after
        .as_deref()
        .map(|c| decode_cursor(c, "after", keyset))
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(|c| decode_cursor(c, "before", keyset))
        .transpose()?;

    let count: CountFn = {
        let select = select.clone();
        let db = db.clone();
        Arc::new(move || {
            let select = select.clone();
            let db = db.clone();
            Box::pin(async move { Ok(select.count(&db).await?) })
        })
    };

    let backward = last.is_some();
    let limit = last.or(first).unwrap_or(DEFAULT_PAGE);
    let mut q = select;
    if let Some(c) = &after {
        q = q.filter(beyond(keyset, c, true));
    }
    if let Some(c) = &before {
        q = q.filter(beyond(keyset, c, false));
    }
    // Backward pages read the canonical order in reverse, then flip back.
    let mut rows =
        super::rows::all(db, keyset.ordered(q, backward).limit(limit as u64 + 1)).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    if backward {
        rows.reverse();
    }
    let items = rows.into_iter().map(|m| (keyset.cursor(&m), m)).collect();
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
