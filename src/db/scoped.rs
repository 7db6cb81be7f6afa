//! Tenant scoping by construction (svix's `secure_find`): every query for tenant data starts
//! from a `Scoped` (`find`, `live`, `by_id`, `update_many`, `delete_many`, ...), which already
//! filters on one organization. A `Scoped` is made only from an authenticated actor
//! (`Actor::scope`) or by an explicit `Scoped::system(org, reason)`. Outside `db/`, clippy
//! refuses SeaORM's unscoped entry points (`clippy.toml`), so a service cannot forget the
//! tenant without an `#[expect]` that says why.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany,
};
use uuid::Uuid;

use crate::entities::*;

/// A table whose rows belong to one organization.
pub trait TenantEntity: super::rows::Rows {
    /// What one row is called in messages ("no such contact").
    const NOUN: &'static str;
    fn organization_column() -> Self::Column;
    fn id_column() -> Self::Column;
    /// `is_deleted`, for tables with soft delete.
    fn deleted_column() -> Option<Self::Column>;
}

macro_rules! tenant_entity {
    ($($module:ident ($noun:literal): $deleted:expr),+ $(,)?) => {
        $(impl TenantEntity for $module::Entity {
            const NOUN: &'static str = $noun;
            fn organization_column() -> Self::Column {
                $module::Column::OrganizationId
            }
            fn id_column() -> Self::Column {
                $module::Column::Id
            }
            fn deleted_column() -> Option<Self::Column> {
                $deleted
            }
        })+
    };
}

tenant_entity!(
    users("user"): Some(users::Column::IsDeleted),
    contacts("contact"): Some(contacts::Column::IsDeleted),
    contact_interactions("interaction"): Some(contact_interactions::Column::IsDeleted),
    events("event"): Some(events::Column::IsDeleted),
    event_attendees("registration"): Some(event_attendees::Column::IsDeleted),
    event_agenda_items("agenda item"): Some(event_agenda_items::Column::IsDeleted),
    expenses("expense"): Some(expenses::Column::IsDeleted),
    expense_approvals("approval"): None,
    media("media item"): Some(media::Column::IsDeleted),
    media_collections("collection"): Some(media_collections::Column::IsDeleted),
    notifications("notification"): Some(notifications::Column::IsDeleted),
    integrations("integration"): Some(integrations::Column::IsDeleted),
    integration_logs("integration log"): None,
    webhook_endpoints("webhook endpoint"): Some(webhook_endpoints::Column::IsDeleted),
    webhook_deliveries("webhook delivery"): None,
    audit_logs("audit log"): None,
    account_tokens("link"): None,
    two_factor_credentials("two-factor credential"): None,
    recovery_codes("recovery code"): None,
    analytics_events("analytics event"): None,
    import_runs("import run"): None,
    personal_data_exports("personal data export"): None,
    refresh_tokens("session"): None,
);

/// The caller's organization, the only door to tenant rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scoped {
    /// Private: a scope is made by `of_actor` or `system`, never from a bare id elsewhere.
    organization_id: Uuid,
}

impl Scoped {
    /// The authenticated caller's organization (`Actor::scope`).
    pub fn of_actor(actor: &crate::auth::Actor) -> Self {
        Self {
            organization_id: actor.organization_id,
        }
    }

    /// A scope that no caller chose: background work, sign-in before there is an actor, or the
    /// relations of a row already loaded in its organization. `reason` says which; grep
    /// `Scoped::system` to review every one.
    pub fn system(organization_id: Uuid, reason: &'static str) -> Self {
        let _ = reason;
        Self { organization_id }
    }

    /// The organization this scope opens.
    pub fn organization_id(&self) -> Uuid {
        self.organization_id
    }

    /// All rows of the organization, deleted ones included.
    pub fn find<E: TenantEntity>(&self) -> Select<E> {
        E::find().filter(E::organization_column().eq(self.organization_id))
    }

    /// `UPDATE` of the organization's rows; add the caller's own filters.
    pub fn update_many<E: TenantEntity>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::organization_column().eq(self.organization_id))
    }

    /// `DELETE` of the organization's rows; add the caller's own filters.
    pub fn delete_many<E: TenantEntity>(&self) -> DeleteMany<E> {
        E::delete_many().filter(E::organization_column().eq(self.organization_id))
    }

    /// The organization's rows with these ids (deleted ones included), by id: one statement
    /// for a batching loader.
    pub async fn by_ids<E: TenantEntity>(
        &self,
        db: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, E::Model>, DbErr> {
        let rows = super::rows::all(db, self.find::<E>().filter(E::id_column().is_in(ids))).await?;
        Ok(rows.into_iter().map(|r| (id_of::<E>(&r), r)).collect())
    }

    /// Serializes writers on the organization for the rest of the transaction: PostgreSQL
    /// takes a row lock, SQLite takes its write lock now rather than at the first real write.
    /// For rules that read before they write ("at least one admin must remain").
    pub async fn lock_organization(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        let id = organizations::Column::Id;
        let stmt = Query::update()
            .table(organizations::Entity)
            .value(id, Expr::col(id))
            .and_where(Expr::col(id).eq(self.organization_id))
            .to_owned();
        txn.execute(&stmt).await?;
        Ok(())
    }

    /// The organization itself.
    pub async fn organization(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<Option<organizations::Model>, DbErr> {
        organizations::Entity::find_by_id(self.organization_id)
            .one(db)
            .await
    }

    /// Rows that are not soft-deleted.
    pub fn live<E: TenantEntity>(&self) -> Select<E> {
        let q = self.find::<E>();
        match E::deleted_column() {
            Some(col) => q.filter(col.eq(false)),
            None => q,
        }
    }

    /// One row by id, deleted or not; another organization's id finds nothing.
    pub fn by_id<E: TenantEntity>(&self, id: Uuid) -> Select<E> {
        self.find::<E>().filter(E::id_column().eq(id))
    }

    /// One live row by id.
    pub fn live_by_id<E: TenantEntity>(&self, id: Uuid) -> Select<E> {
        self.live::<E>().filter(E::id_column().eq(id))
    }
}

/// The id column's value of a row.
pub fn id_of<E: TenantEntity>(row: &E::Model) -> Uuid {
    use sea_orm::ModelTrait;
    match row.get(E::id_column()) {
        sea_orm::Value::Uuid(Some(id)) => id,
        other => unreachable!("tenant tables have UUID ids, got {other:?}"),
    }
}
