//! Per-request DataLoaders. Keys carry the organization, so a loader can only ever return rows
//! of the organization that asked: tenant isolation holds for batched relations too.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::db::children::Children;
use crate::db::scoped::{Scoped, TenantEntity};
use crate::entities::{contact_interactions, event_agenda_items, event_attendees, organizations};
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

/// A first page of one parent's children (see `db::children`).
pub struct ChildKey<E: TenantEntity + 'static> {
    pub rel: &'static Children<E>,
    pub organization_id: Uuid,
    pub parent: Uuid,
    pub limit: u16,
    /// Allowed statuses; empty: any.
    pub statuses: Vec<String>,
}

/// How many children one parent has (of some statuses).
pub struct CountKey<E: TenantEntity + 'static> {
    pub rel: &'static Children<E>,
    pub organization_id: Uuid,
    pub parent: Uuid,
    pub statuses: Vec<String>,
}

/// The fields that identify a key (relation by its parent column and ordering).
type KeyId<'a> = (
    (&'static str, &'static str),
    Uuid,
    Uuid,
    Option<u16>,
    &'a [String],
);

impl<E: TenantEntity> ChildKey<E> {
    fn key_id(&self) -> KeyId<'_> {
        (
            self.rel.id(),
            self.organization_id,
            self.parent,
            Some(self.limit),
            &self.statuses,
        )
    }
}

impl<E: TenantEntity> CountKey<E> {
    fn key_id(&self) -> KeyId<'_> {
        (
            self.rel.id(),
            self.organization_id,
            self.parent,
            None,
            &self.statuses,
        )
    }
}

macro_rules! key_traits {
    ($key:ident { $($field:ident),+ }) => {
        impl<E: TenantEntity> Clone for $key<E> {
            fn clone(&self) -> Self {
                Self { $($field: self.$field.clone()),+ }
            }
        }
        impl<E: TenantEntity> PartialEq for $key<E> {
            fn eq(&self, other: &Self) -> bool {
                $key::<E>::key_id(self) == $key::<E>::key_id(other)
            }
        }
        impl<E: TenantEntity> Eq for $key<E> {}
        impl<E: TenantEntity> std::hash::Hash for $key<E> {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                std::hash::Hash::hash(&$key::<E>::key_id(self), state)
            }
        }
    };
}
key_traits!(ChildKey {
    rel,
    organization_id,
    parent,
    limit,
    statuses
});
key_traits!(CountKey {
    rel,
    organization_id,
    parent,
    statuses
});

/// First pages and counts of every child connection: keys of one relation, organization,
/// page size and status filter are answered by one statement.
pub struct ChildLoader {
    db: DatabaseConnection,
}

/// Keys that one statement can answer: one relation, organization, page size and filter.
struct Group<'k, E: TenantEntity + 'static> {
    rel: &'static Children<E>,
    organization_id: Uuid,
    limit: Option<u16>,
    statuses: &'k [String],
    parents: Vec<Uuid>,
}

fn groups<'k, K, E: TenantEntity>(
    keys: &'k [K],
    id: impl Fn(&'k K) -> (KeyId<'k>, &'static Children<E>),
) -> Vec<Group<'k, E>> {
    let mut out: Vec<Group<'k, E>> = Vec::new();
    for k in keys {
        let ((rel_id, org, parent, limit, statuses), rel) = id(k);
        match out.iter_mut().find(|g| {
            g.rel.id() == rel_id
                && g.organization_id == org
                && g.limit == limit
                && g.statuses == statuses
        }) {
            Some(g) => g.parents.push(parent),
            None => out.push(Group {
                rel,
                organization_id: org,
                limit,
                statuses,
                parents: vec![parent],
            }),
        }
    }
    out
}

impl<E> Loader<ChildKey<E>> for ChildLoader
where
    E: TenantEntity + Send + Sync + 'static,
    E::Model: FromQueryResult + Clone + Send + Sync + 'static,
{
    /// The page and whether more follow.
    type Value = (Vec<E::Model>, bool);
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildKey<E>],
    ) -> Result<HashMap<ChildKey<E>, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for g in groups(keys, |k| (k.key_id(), k.rel)) {
            let limit = g.limit.unwrap_or_default();
            let scope = Scoped::new(g.organization_id);
            let pages = g
                .rel
                .first_pages(&self.db, scope, &g.parents, limit, g.statuses)
                .await
                .map_err(AppError::from)?;
            for (parent, page) in pages {
                let key = ChildKey {
                    rel: g.rel,
                    organization_id: g.organization_id,
                    parent,
                    limit,
                    statuses: g.statuses.to_vec(),
                };
                out.insert(key, page);
            }
        }
        Ok(out)
    }
}

impl<E> Loader<CountKey<E>> for ChildLoader
where
    E: TenantEntity + Send + Sync + 'static,
    E::Model: Send + Sync,
{
    type Value = u64;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[CountKey<E>]) -> Result<HashMap<CountKey<E>, u64>, Self::Error> {
        let mut out = HashMap::new();
        for g in groups(keys, |k| (k.key_id(), k.rel)) {
            let scope = Scoped::new(g.organization_id);
            let counts = g
                .rel
                .counts(&self.db, scope, &g.parents, g.statuses)
                .await
                .map_err(AppError::from)?;
            for (parent, n) in counts {
                let key = CountKey {
                    rel: g.rel,
                    organization_id: g.organization_id,
                    parent,
                    statuses: g.statuses.to_vec(),
                };
                out.insert(key, n);
            }
        }
        Ok(out)
    }
}

/// Each event's live agenda (by sort order, then start time), in one statement.
pub struct AgendaByEvent {
    db: DatabaseConnection,
}

impl Loader<ScopedKey> for AgendaByEvent {
    type Value = Vec<event_agenda_items::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ScopedKey],
    ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
        use event_agenda_items::Column as C;
        use sea_orm::QueryOrder;
        let mut by_org: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (org, id) in keys {
            by_org.entry(*org).or_default().push(*id);
        }
        let mut out = HashMap::new();
        for (org, ids) in by_org {
            let rows = Scoped::new(org)
                .live::<event_agenda_items::Entity>()
                .filter(C::EventId.is_in(ids.clone()))
                .order_by_asc(C::SortOrder)
                .order_by_asc(C::StartTime)
                .order_by_asc(C::Id)
                .all(&self.db)
                .await
                .map_err(AppError::from)?;
            for id in ids {
                out.insert((org, id), Vec::new());
            }
            for r in rows {
                out.entry((org, r.event_id))
                    .or_insert_with(Vec::new)
                    .push(r);
            }
        }
        Ok(out)
    }
}

/// Per event: (live non-cancelled registrations, attended, checked in), one grouped statement.
pub struct AttendeeStats {
    db: DatabaseConnection,
}

impl Loader<ScopedKey> for AttendeeStats {
    type Value = (i64, i64, i64);
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ScopedKey],
    ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
        use event_attendees::Column as C;
        let mut by_org: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (org, id) in keys {
            by_org.entry(*org).or_default().push(*id);
        }
        let mut out = HashMap::new();
        for (org, ids) in by_org {
            let rows: Vec<(Uuid, String, i64, i64)> = Scoped::new(org)
                .live::<event_attendees::Entity>()
                .filter(C::EventId.is_in(ids.clone()))
                .select_only()
                .column(C::EventId)
                .column(C::Status)
                .column_as(C::Id.count(), "n")
                .column_as(C::CheckInTime.count(), "checked_in")
                .group_by(C::EventId)
                .group_by(C::Status)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(AppError::from)?;
            for id in &ids {
                out.insert((org, *id), (0, 0, 0));
            }
            for (event, status, n, checked_in) in rows {
                let e = out.entry((org, event)).or_insert((0, 0, 0));
                if status != "cancelled" {
                    e.0 += n;
                    e.2 += checked_in;
                }
                if status == "attended" {
                    e.1 += n;
                }
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
    pub children: Arc<Cached<ChildLoader>>,
    pub events: Arc<Cached<ById<crate::entities::events::Entity>>>,
    pub agenda: Arc<Cached<AgendaByEvent>>,
    pub attendee_stats: Arc<Cached<AttendeeStats>>,
}

pub type Cached<T> = DataLoader<T, async_graphql::dataloader::HashMapCache>;

/// The batching window of every loader (schema data; `PLUGS_LOADER_DELAY_MS`).
#[derive(Clone, Copy, Debug)]
pub struct LoaderDelay(pub std::time::Duration);

/// Loaders live for one request (or one WebSocket operation), so caching within them is safe:
/// a key asked for twice (a count read by `interactionCount` and by `totalCount`, the same
/// creator on many contacts) is loaded once.
fn loader<T>(
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
    fn clear_children<E>(&self)
    where
        E: TenantEntity + Send + Sync + 'static,
        E::Model: FromQueryResult + Clone + Send + Sync + 'static,
    {
        self.children.clear::<ChildKey<E>>();
        self.children.clear::<CountKey<E>>();
    }

    pub fn new(db: &DatabaseConnection, delay: LoaderDelay) -> Self {
        Self {
            users: loader(ById::new(db.clone()), delay),
            organizations: loader(Organizations { db: db.clone() }, delay),
            contacts: loader(ById::new(db.clone()), delay),
            children: loader(ChildLoader { db: db.clone() }, delay),
            events: loader(ById::new(db.clone()), delay),
            agenda: loader(AgendaByEvent { db: db.clone() }, delay),
            attendee_stats: loader(AttendeeStats { db: db.clone() }, delay),
        }
    }

    /// Forgets everything loaded so far: a subscription resolves each delivery afresh.
    pub fn clear(&self) {
        self.users.clear::<ScopedKey>();
        self.organizations.clear::<ScopedKey>();
        self.contacts.clear::<ScopedKey>();
        self.clear_children::<crate::entities::users::Entity>();
        self.clear_children::<crate::entities::contacts::Entity>();
        self.clear_children::<contact_interactions::Entity>();
        self.clear_children::<crate::entities::events::Entity>();
        self.clear_children::<event_attendees::Entity>();
        self.events.clear::<ScopedKey>();
        self.agenda.clear::<ScopedKey>();
        self.attendee_stats.clear::<ScopedKey>();
    }
}
