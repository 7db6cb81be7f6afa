//! Per-request DataLoaders. Keys carry the organization, so a loader can only ever return rows
//! of the organization that asked: tenant isolation holds for batched relations too.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    Statement,
};
use uuid::Uuid;

use crate::db::scoped::{Scoped, TenantEntity};
use crate::entities::{contact_interactions, organizations};
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

/// (organization, contact, page size).
pub type PageKey = (Uuid, Uuid, u16);

/// The first page of interactions of many contacts in ONE statement: a window function
/// numbers each contact's interactions (newest first) and keeps `limit + 1` per contact.
pub struct InteractionPages {
    db: DatabaseConnection,
}

impl Loader<PageKey> for InteractionPages {
    /// The page and whether more follow.
    type Value = (Vec<contact_interactions::Model>, bool);
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(Uuid, u16), Vec<Uuid>> = HashMap::new();
        for (org, contact, limit) in keys {
            groups.entry((*org, *limit)).or_default().push(*contact);
        }
        let backend = self.db.get_database_backend();
        let mut out = HashMap::new();
        for ((org, limit), contacts) in groups {
            let mut values: Vec<sea_orm::Value> = vec![org.into()];
            let mut marks = Vec::with_capacity(contacts.len());
            for c in &contacts {
                values.push((*c).into());
                marks.push(placeholder(backend, values.len()));
            }
            values.push((limit as i64 + 1).into());
            let sql = format!(
                "SELECT * FROM (SELECT ci.*, ROW_NUMBER() OVER (PARTITION BY ci.contact_id \
                 ORDER BY ci.interaction_date DESC, ci.id DESC) AS plugs_rn \
                 FROM contact_interactions ci WHERE ci.organization_id = {} AND NOT ci.is_deleted \
                 AND ci.contact_id IN ({})) paged WHERE paged.plugs_rn <= {} \
                 ORDER BY paged.contact_id, paged.plugs_rn",
                placeholder(backend, 1),
                marks.join(", "),
                placeholder(backend, values.len()),
            );
            let rows = contact_interactions::Model::find_by_statement(
                Statement::from_sql_and_values(backend, sql, values),
            )
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
            let mut by_contact: HashMap<Uuid, Vec<contact_interactions::Model>> = HashMap::new();
            for r in rows {
                by_contact.entry(r.contact_id).or_default().push(r);
            }
            for c in contacts {
                let mut page = by_contact.remove(&c).unwrap_or_default();
                let more = page.len() > limit as usize;
                page.truncate(limit as usize);
                out.insert((org, c, limit), (page, more));
            }
        }
        Ok(out)
    }
}

fn placeholder(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// Live interactions per contact, in one grouped statement.
pub struct InteractionCounts {
    db: DatabaseConnection,
}

impl Loader<ScopedKey> for InteractionCounts {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ScopedKey]) -> Result<HashMap<ScopedKey, i64>, Self::Error> {
        use contact_interactions::Column as C;
        let mut by_org: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (org, id) in keys {
            by_org.entry(*org).or_default().push(*id);
        }
        let mut out = HashMap::new();
        for (org, ids) in by_org {
            let rows: Vec<(Uuid, i64)> = Scoped::new(org)
                .live::<contact_interactions::Entity>()
                .filter(C::ContactId.is_in(ids.clone()))
                .select_only()
                .column(C::ContactId)
                .column_as(C::Id.count(), "n")
                .group_by(C::ContactId)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(AppError::from)?;
            for id in ids {
                out.insert((org, id), 0);
            }
            for (id, n) in rows {
                out.insert((org, id), n);
            }
        }
        Ok(out)
    }
}

/// The loaders of one request. Cheap to clone (a count of a nested connection holds one).
#[derive(Clone)]
pub struct Loaders {
    pub users: Arc<Cached<ById<crate::entities::users::Entity>>>,
    pub organizations: Arc<Cached<Organizations>>,
    pub contacts: Arc<Cached<ById<crate::entities::contacts::Entity>>>,
    pub interaction_pages: Arc<Cached<InteractionPages>>,
    pub interaction_counts: Arc<Cached<InteractionCounts>>,
    pub events: Arc<Cached<ById<crate::entities::events::Entity>>>,
}

pub type Cached<T> = DataLoader<T, async_graphql::dataloader::HashMapCache>;

/// The batching window of every loader (schema data; `PLUGS_LOADER_DELAY_MS`).
#[derive(Clone, Copy, Debug)]
pub struct LoaderDelay(pub std::time::Duration);

/// Loaders live for one request (or one WebSocket operation), so caching within them is safe:
/// a key asked for twice (a count read by `interactionCount` and by `totalCount`, the same
/// creator on many contacts) is loaded once.
fn loader<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    inner: T,
    delay: LoaderDelay,
) -> Arc<DataLoader<T, async_graphql::dataloader::HashMapCache>> {
    Arc::new(
        DataLoader::with_cache(
            inner,
            tokio::spawn,
            async_graphql::dataloader::HashMapCache::default(),
        )
        .delay(delay.0),
    )
}

impl Loaders {
    pub fn new(db: &DatabaseConnection, delay: LoaderDelay) -> Self {
        Self {
            users: loader(ById::new(db.clone()), delay),
            organizations: loader(Organizations { db: db.clone() }, delay),
            contacts: loader(ById::new(db.clone()), delay),
            interaction_pages: loader(InteractionPages { db: db.clone() }, delay),
            interaction_counts: loader(InteractionCounts { db: db.clone() }, delay),
            events: loader(ById::new(db.clone()), delay),
        }
    }
}
