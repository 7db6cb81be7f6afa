//! Per-request DataLoaders. Keys carry the organization, so a loader can only ever return rows
//! of the organization that asked: tenant isolation holds for batched relations too.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::db::scoped::{Scoped, TenantEntity};
use crate::entities::organizations;
use crate::error::AppError;

/// (organization, id).
pub type ScopedKey = (Uuid, Uuid);

/// Loads rows of one tenant table by id, deleted ones included (a relation still points at a
/// deleted creator; the row says `deletedAt`).
pub struct ById<E> {
    db: DatabaseConnection,
    _entity: PhantomData<E>,
}

impl<E> ById<E> {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            _entity: PhantomData,
        }
    }
}

impl<E> Loader<ScopedKey> for ById<E>
where
    E: TenantEntity + Send + Sync,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ScopedKey],
    ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
        let mut by_org: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (org, id) in keys {
            by_org.entry(*org).or_default().push(*id);
        }
        let mut out = HashMap::new();
        for (org, ids) in by_org {
            let rows = Scoped::new(org)
                .find::<E>()
                .filter(E::id_column().is_in(ids))
                .all(&self.db)
                .await
                .map_err(AppError::from)?;
            for row in rows {
                let id = id_of::<E>(&row);
                out.insert((org, id), row);
            }
        }
        Ok(out)
    }
}

/// The id column's value of a model.
fn id_of<E: TenantEntity>(row: &E::Model) -> Uuid {
    use sea_orm::ModelTrait;
    match row.get(E::id_column()) {
        sea_orm::Value::Uuid(Some(id)) => id,
        other => unreachable!("tenant tables have UUID ids, got {other:?}"),
    }
}

/// Organizations: a caller only ever reaches its own.
pub struct Organizations {
    db: DatabaseConnection,
}

impl Loader<ScopedKey> for Organizations {
    type Value = organizations::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ScopedKey],
    ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys
            .iter()
            .filter(|(org, id)| org == id)
            .map(|(_, id)| *id)
            .collect();
        let rows = organizations::Entity::find()
            .filter(organizations::Column::Id.is_in(ids))
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(|o| ((o.id, o.id), o)).collect())
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<ById<crate::entities::users::Entity>>,
    pub organizations: DataLoader<Organizations>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            users: DataLoader::new(ById::new(db.clone()), tokio::spawn),
            organizations: DataLoader::new(Organizations { db: db.clone() }, tokio::spawn),
        }
    }
}
