//! One unit of work per writing service call: a write transaction, the actor it acts for, the
//! audit rows it writes and the signals it announces, committed together. Nothing is announced
//! for a change that rolls back (see `realtime`), and every row is reached through the actor's
//! tenant scope.

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Actor, audit};
use crate::db::scoped::TenantEntity;
use crate::domain::enums::AuditAction;
use crate::error::AppError;
use crate::realtime::{Broker, Outbox, Signal};

/// What every writing service needs besides its arguments: the database and where changes
/// are announced.
#[derive(Clone, Copy)]
pub struct Store<'a> {
    pub db: &'a DatabaseConnection,
    pub broker: &'a dyn Broker,
}

pub struct Work<'a> {
    pub txn: DatabaseTransaction,
    pub actor: &'a Actor,
    broker: &'a dyn Broker,
    outbox: Outbox,
}

/// NOT_FOUND for a row of `E` ("no such contact").
pub fn missing<E: TenantEntity>() -> AppError {
    AppError::NotFound(format!("no such {}", E::NOUN))
}

impl<'a> Work<'a> {
    /// Opens the write transaction (`BEGIN IMMEDIATE` on SQLite, see `db::write_txn`).
    pub async fn begin(store: Store<'a>, actor: &'a Actor) -> Result<Self, AppError> {
        Ok(Self {
            txn: crate::db::write_txn(store.db).await?,
            actor,
            broker: store.broker,
            outbox: Outbox::new(),
        })
    }

    /// A live row of the caller's organization, or NOT_FOUND: another organization's row is as
    /// missing as one that never existed.
    pub async fn live<E: TenantEntity>(&self, id: Uuid) -> Result<E::Model, AppError> {
        self.actor
            .scope()
            .live_by_id::<E>(id)
            .one(&self.txn)
            .await?
            .ok_or_else(missing::<E>)
    }

    /// As `live`, and locked until commit (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's
    /// write transaction already serializes writers): for a row whose state decides what this
    /// unit of work may do (a status, a seat count), so two concurrent changes cannot both
    /// decide on the same state.
    pub async fn locked<E: TenantEntity>(&self, id: Uuid) -> Result<E::Model, AppError> {
        let q = self.actor.scope().live_by_id::<E>(id);
        self.lock(q, sea_orm::sea_query::LockType::Update)
            .one(&self.txn)
            .await?
            .ok_or_else(missing::<E>)
    }

    /// `select` with a row lock of `kind` until commit on PostgreSQL (`FOR UPDATE`,
    /// `FOR NO KEY UPDATE`, `FOR SHARE`); SQLite's write transaction already serializes writers.
    pub fn lock<E: sea_orm::EntityTrait>(
        &self,
        select: sea_orm::Select<E>,
        kind: sea_orm::sea_query::LockType,
    ) -> sea_orm::Select<E> {
        if self.txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            select.lock(kind)
        } else {
            select
        }
    }

    /// Soft delete (`deleted: true`) or restore of one row, with its audit row. The row must
    /// currently be in the other state, else NOT_FOUND. Sets `is_deleted`, `deleted_at`,
    /// `updated_at`, and `updated_by` where the table has it.
    pub async fn set_deleted<E>(&self, id: Uuid, deleted: bool) -> Result<E::Model, AppError>
    where
        E: TenantEntity,
        E::Model: IntoActiveModel<E::ActiveModel> + Serialize + Clone + Send + Sync,
        E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    {
        let col = |name: &str| {
            <E::Column as std::str::FromStr>::from_str(name)
                .map_err(|_| AppError::Internal(format!("{} has no column {name}", table::<E>())))
        };
        let is_deleted = E::deleted_column()
            .ok_or_else(|| AppError::Internal(format!("{} has no soft delete", table::<E>())))?;
        let old = self
            .actor
            .scope()
            .by_id::<E>(id)
            .filter(is_deleted.eq(!deleted))
            .one(&self.txn)
            .await?
            .ok_or_else(missing::<E>)?;
        let t = super::now();
        let mut a = old.clone().into_active_model();
        a.set(is_deleted, deleted.into());
        a.set(col("deleted_at")?, deleted.then_some(t).into());
        a.set(col("updated_at")?, t.into());
        if let Ok(updated_by) = col("updated_by") {
            a.set(updated_by, Some(self.actor.user_id).into());
        }
        let row = a.update(&self.txn).await?;
        let action = if deleted {
            AuditAction::Delete
        } else {
            AuditAction::Restore
        };
        audit::by_actor(
            &self.txn,
            self.actor,
            table::<E>(),
            id,
            action,
            Some(audit::snapshot(&old)),
            Some(audit::snapshot(&row)),
        )
        .await?;
        Ok(row)
    }

    /// The audit row of the actor changing one row of `E`: created (no `old`), updated, or
    /// deleted (no `new`).
    pub async fn audit<E: TenantEntity, T: Serialize>(
        &self,
        id: Uuid,
        old: Option<&T>,
        new: Option<&T>,
    ) -> Result<(), AppError> {
        audit::change(&self.txn, self.actor, table::<E>(), id, old, new).await
    }

    /// Announced after commit (never for a rolled-back change).
    pub fn signal(&mut self, signal: Signal) {
        self.outbox.push(signal);
    }

    pub fn signals(&mut self, signals: impl IntoIterator<Item = Signal>) {
        self.outbox.extend(signals);
    }

    /// Notifications to members of the actor's organization, created in this transaction and
    /// announced after commit.
    pub async fn notify(
        &mut self,
        items: Vec<super::notifications::NewNotification>,
    ) -> Result<Vec<Uuid>, AppError> {
        let org = self.actor.organization_id;
        super::notifications::notify(&self.txn, &mut self.outbox, org, items).await
    }

    pub async fn commit(self) -> Result<(), AppError> {
        // A request with an Idempotency-Key: its change and the key's mark commit together, so
        // a crash before the response is stored can never lead to a second run.
        if let Some(key) = self.actor.meta.idempotency {
            crate::db::idempotency::mark_committed(&self.txn, key).await?;
        }
        self.outbox.commit(self.txn, self.broker).await
    }
}

/// The table an entity lives in (the audit log's `table_name`).
pub fn table<E: EntityTrait>() -> &'static str {
    sea_orm::EntityName::table_name(&E::default())
}
