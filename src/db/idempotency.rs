//! The statements of idempotency keys (`http::idempotency`). A key belongs to its caller (the
//! `caller` column names a member or a client network), not to a tenant scope: a signed-in
//! member's caller string holds their user id, so no other caller can ever meet their rows.

use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entities::idempotency_keys as keys;

pub const RUNNING: &str = "running";
pub const COMMITTED: &str = "committed";
pub const COMPLETED: &str = "completed";

/// Inserts a `running` row for (caller, key) unless one exists; `true` when this call made it.
pub async fn insert(
    conn: &impl ConnectionTrait,
    organization_id: Option<Uuid>,
    caller: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<FixedOffset>,
    expires_at: DateTime<FixedOffset>,
) -> Result<Option<Uuid>, DbErr> {
    let id = Uuid::new_v4();
    let row = keys::ActiveModel {
        id: Set(id),
        organization_id: Set(organization_id),
        caller: Set(caller.to_owned()),
        idempotency_key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        state: Set(RUNNING.into()),
        response_status: Set(None),
        response_content_type: Set(None),
        response_body: Set(None),
        expires_at: Set(expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let n = keys::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([keys::Column::Caller, keys::Column::IdempotencyKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok((n == 1).then_some(id))
}

pub async fn find(
    conn: &impl ConnectionTrait,
    caller: &str,
    key: &str,
) -> Result<Option<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::Caller.eq(caller))
        .filter(keys::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Removes one expired row (so its key can start over); whether it did.
pub async fn delete_expired_one(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<FixedOffset>,
) -> Result<bool, DbErr> {
    let n = keys::Entity::delete_many()
        .filter(keys::Column::Id.eq(id))
        .filter(keys::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(n == 1)
}

/// Gives the key back (the request changed nothing: a refusal before any write).
pub async fn release(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    keys::Entity::delete_many()
        .filter(keys::Column::Id.eq(id))
        .filter(keys::Column::State.eq(RUNNING))
        .exec(conn)
        .await?;
    Ok(())
}

/// In a mutation's own transaction: its change and this mark commit together.
pub async fn mark_committed(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    keys::Entity::update_many()
        .col_expr(keys::Column::State, Expr::value(COMMITTED))
        .filter(keys::Column::Id.eq(id))
        .filter(keys::Column::State.eq(RUNNING))
        .exec(conn)
        .await?;
    Ok(())
}

/// `mark_committed` for the request `meta` describes, if it carries a key: for the account
/// mutations that write in a transaction of their own rather than a `Work`.
pub async fn mark_request(
    conn: &impl ConnectionTrait,
    meta: &crate::auth::RequestMeta,
) -> Result<(), DbErr> {
    match meta.idempotency {
        Some(id) => mark_committed(conn, id).await,
        None => Ok(()),
    }
}

/// Whether a mutation's transaction marked the row.
pub async fn state(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<String>, DbErr> {
    Ok(keys::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(|r| r.state))
}

/// Stores the response to replay.
pub async fn complete(
    conn: &impl ConnectionTrait,
    id: Uuid,
    status: u16,
    content_type: &str,
    body: &str,
    now: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    keys::Entity::update_many()
        .col_expr(keys::Column::State, Expr::value(COMPLETED))
        .col_expr(keys::Column::ResponseStatus, Expr::value(i32::from(status)))
        .col_expr(keys::Column::ResponseContentType, Expr::value(content_type))
        .col_expr(keys::Column::ResponseBody, Expr::value(body))
        .col_expr(keys::Column::UpdatedAt, Expr::value(now))
        .filter(keys::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes keys past their 24 hours; how many.
pub async fn purge_expired(
    conn: &impl ConnectionTrait,
    now: DateTime<FixedOffset>,
) -> Result<u64, DbErr> {
    Ok(keys::Entity::delete_many()
        .filter(keys::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?
        .rows_affected)
}
