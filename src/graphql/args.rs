//! GraphQL argument plumbing shared by every domain: ids, page arguments, orderings, and the
//! patch semantics of update inputs (omitted keeps, `null` clears, a value sets).

use async_graphql::{Enum, ID, MaybeUndefined};
use sea_orm::Order;
use uuid::Uuid;

pub use crate::db::pagination::PageArgs;
use crate::error::AppError;
use crate::services::Change;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

impl From<OrderDirection> for Order {
    fn from(d: OrderDirection) -> Self {
        match d {
            OrderDirection::Asc => Order::Asc,
            OrderDirection::Desc => Order::Desc,
        }
    }
}

/// Relay arguments as the client sent them.
pub fn page(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageArgs {
    PageArgs::new(first, after, last, before)
}

/// Parses an `ID` argument; a malformed id names the argument.
pub fn parse_id(id: &ID, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(field, "is not a valid ID"))
}

/// Parses an optional `ID` argument.
pub fn opt_id(id: Option<&ID>, field: &str) -> Result<Option<Uuid>, AppError> {
    id.map(|i| parse_id(i, field)).transpose()
}

/// Parses a list of `ID`s; the first malformed one names the argument.
pub fn parse_ids(ids: &[ID], field: &str) -> Result<Vec<Uuid>, AppError> {
    ids.iter().map(|i| parse_id(i, field)).collect()
}

/// `MaybeUndefined` -> `Change`: omitted keeps, `null` clears, a value sets.
pub fn change<T>(v: MaybeUndefined<T>) -> Change<T> {
    match v {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(v) => Change::Set(v),
    }
}

/// An optional `ID` field of an update: omitted keeps, `null` clears, an id sets.
pub fn id_change(v: MaybeUndefined<ID>, field: &str) -> Result<Change<Uuid>, AppError> {
    Ok(match v {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(id) => Change::Set(parse_id(&id, field)?),
    })
}

/// A field that may be omitted but not cleared (`null` names the field in BAD_USER_INPUT).
pub fn non_null<T>(v: MaybeUndefined<T>, field: &str) -> Result<Option<T>, AppError> {
    match v {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(field, "cannot be null")),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// An optional input field of a create: omitted keeps the default, a value sets.
pub fn set<T>(v: Option<T>) -> Change<T> {
    v.map_or(Change::Keep, Change::Set)
}

/// `orderBy` takes one ordering (ties are broken by id); `default` when none is given.
pub fn one_ordering<O, F>(
    order: Option<Vec<O>>,
    default: (F, Order),
    read: impl Fn(&O) -> (F, OrderDirection),
) -> Result<(F, Order), AppError> {
    let order = order.unwrap_or_default();
    if order.len() > 1 {
        return Err(AppError::bad_input(
            "orderBy",
            "one ordering at a time (ties are broken by id)",
        ));
    }
    let Some(o) = order.first() else {
        return Ok(default);
    };
    let (field, direction) = read(o);
    Ok((field, direction.into()))
}
