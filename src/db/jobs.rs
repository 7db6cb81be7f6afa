//! The job queue's statements. A claim is one conditional UPDATE of the jobs it picks: on
//! PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`, so concurrent workers (in any instance)
//! never take the same job; SQLite serializes writers, so its single UPDATE is just as
//! exclusive. A worker holds a job by a lease (`locked_until`); a job whose lease ran out
//! (its worker crashed or hung) is taken again by the next claim.

use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Select,
};
use uuid::Uuid;

use crate::entities::jobs;

pub const AVAILABLE: &str = "available";
pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
pub const DISCARDED: &str = "discarded";

/// A job to add to the queue.
pub struct NewJob {
    pub organization_id: Option<Uuid>,
    pub kind: &'static str,
    pub payload: serde_json::Value,
    pub run_at: DateTime<FixedOffset>,
    pub max_attempts: i32,
    /// Enqueueing a key that exists already does nothing (idempotent enqueue, one run per
    /// scheduled slot).
    pub unique_key: Option<String>,
}

/// Inserts the job in `conn`'s transaction; `false` when its `unique_key` is taken.
pub async fn insert(
    conn: &impl ConnectionTrait,
    job: NewJob,
    now: DateTime<FixedOffset>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let row = jobs::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(job.organization_id),
        kind: Set(job.kind.to_owned()),
        payload: Set(job.payload),
        state: Set(AVAILABLE.into()),
        attempt: Set(0),
        max_attempts: Set(job.max_attempts),
        run_at: Set(job.run_at),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        unique_key: Set(job.unique_key),
        completed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = jobs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(jobs::Column::UniqueKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted > 0)
}

/// Takes up to `limit` due jobs of `kinds` (and such jobs whose lease ran out) for `worker`
/// until `until`. A worker takes only the kinds it can run, so an instance of an older version
/// leaves a newer kind to the instances that know it.
pub async fn claim(
    conn: &impl ConnectionTrait,
    worker: &str,
    kinds: &[&str],
    limit: u64,
    now: DateTime<FixedOffset>,
    until: DateTime<FixedOffset>,
) -> Result<Vec<jobs::Model>, DbErr> {
    use jobs::Column as C;
    let due = Condition::any()
        .add(
            Condition::all()
                .add(C::State.eq(AVAILABLE))
                .add(C::RunAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(C::State.eq(RUNNING))
                .add(C::LockedUntil.lt(now)),
        );
    let mut pick = Query::select();
    pick.column(C::Id)
        .from(jobs::Entity)
        .cond_where(due)
        .and_where(Expr::col(C::Kind).is_in(kinds.iter().copied()))
        .order_by(C::RunAt, sea_orm::Order::Asc)
        .limit(limit);
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    jobs::Entity::update_many()
        .col_expr(C::State, Expr::value(RUNNING))
        .col_expr(C::Attempt, Expr::col(C::Attempt).add(1))
        .col_expr(C::LockedBy, Expr::value(worker))
        .col_expr(C::LockedUntil, Expr::value(until))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.in_subquery(pick))
        .exec_with_returning(conn)
        .await
}

/// A running job of `worker`'s (the update is void when the lease was lost to another).
fn held(id: Uuid, worker: &str) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(id))
        .add(jobs::Column::State.eq(RUNNING))
        .add(jobs::Column::LockedBy.eq(worker))
}

/// Extends the lease of a long job; `false` when the worker no longer holds it.
pub async fn heartbeat(
    conn: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    until: DateTime<FixedOffset>,
) -> Result<bool, DbErr> {
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::LockedUntil, Expr::value(until))
        .filter(held(id, worker))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How a run ended.
pub enum Outcome {
    Completed,
    /// Run again from `run_at` (the error is kept).
    Retry {
        run_at: DateTime<FixedOffset>,
        error: String,
    },
    /// Never again (attempts exhausted, or the payload can no longer be read).
    Discarded {
        error: String,
    },
    /// Not run to the end (shutdown): available again, the attempt given back.
    Released,
}

/// Records how `worker`'s run of job `id` ended; `false` when the lease had been lost.
pub async fn finish(
    conn: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    outcome: Outcome,
    now: DateTime<FixedOffset>,
) -> Result<bool, DbErr> {
    use jobs::Column as C;
    let mut q = jobs::Entity::update_many()
        .col_expr(C::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            C::LockedUntil,
            Expr::value(Option::<DateTime<FixedOffset>>::None),
        )
        .col_expr(C::UpdatedAt, Expr::value(now));
    q = match outcome {
        Outcome::Completed => q
            .col_expr(C::State, Expr::value(COMPLETED))
            .col_expr(C::CompletedAt, Expr::value(now)),
        Outcome::Retry { run_at, error } => q
            .col_expr(C::State, Expr::value(AVAILABLE))
            .col_expr(C::RunAt, Expr::value(run_at))
            .col_expr(C::LastError, Expr::value(error)),
        Outcome::Discarded { error } => q
            .col_expr(C::State, Expr::value(DISCARDED))
            .col_expr(C::CompletedAt, Expr::value(now))
            .col_expr(C::LastError, Expr::value(error)),
        Outcome::Released => q
            .col_expr(C::State, Expr::value(AVAILABLE))
            .col_expr(C::Attempt, Expr::col(C::Attempt).sub(1))
            .col_expr(C::RunAt, Expr::value(now)),
    };
    let res = q.filter(held(id, worker)).exec(conn).await?;
    Ok(res.rows_affected == 1)
}

/// Jobs by (state, kind), for `/metrics`.
pub async fn counts(conn: &impl ConnectionTrait) -> Result<Vec<(String, String, i64)>, DbErr> {
    use sea_orm::QuerySelect;
    jobs::Entity::find()
        .select_only()
        .column(jobs::Column::State)
        .column(jobs::Column::Kind)
        .column_as(jobs::Column::Id.count(), "n")
        .group_by(jobs::Column::State)
        .group_by(jobs::Column::Kind)
        .order_by_asc(jobs::Column::Kind)
        .into_tuple()
        .all(conn)
        .await
}

/// A job by id, whatever its organization (workers and tests).
pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<jobs::Model>, DbErr> {
    jobs::Entity::find_by_id(id).one(conn).await
}

/// The organization's own jobs (system jobs, which belong to no organization, never show).
pub fn of(scope: super::scoped::Scoped) -> Select<jobs::Entity> {
    jobs::Entity::find().filter(jobs::Column::OrganizationId.eq(scope.organization_id()))
}
