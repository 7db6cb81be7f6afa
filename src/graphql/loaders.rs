//! Per-request DataLoaders. Keys carry a tenant scope, so a loader can only ever return rows of
//! the organization that asked: tenant isolation holds for batched relations too. Loaders only
//! gather keys; the statements are in `db/` and `services/`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{DatabaseConnection, FromQueryResult};
use uuid::Uuid;

use crate::db::children::Children;
use crate::db::scoped::{Scoped, TenantEntity};
use crate::entities::{event_agenda_items, organizations};
use crate::error::AppError;
use crate::services::registrations::Attendance;

/// (scope, id): a loader only ever answers with rows of the scope's organization, so tenant
/// isolation holds for batched relations too.
pub type ScopedKey = (Scoped, Uuid);

/// Answers keys grouped by scope, one `fetch` (one statement) per scope.
async fn by_scope<V, F, Fut>(
    keys: &[ScopedKey],
    fetch: F,
) -> Result<HashMap<ScopedKey, V>, async_graphql::Error>
where
    F: Fn(Scoped, Vec<Uuid>) -> Fut,
    Fut: std::future::Future<Output = Result<HashMap<Uuid, V>, AppError>>,
{
    let mut groups: HashMap<Scoped, Vec<Uuid>> = HashMap::new();
    for (scope, id) in keys {
        groups.entry(*scope).or_default().push(*id);
    }
    let mut out = HashMap::new();
    for (scope, ids) in groups {
        for (id, v) in fetch(scope, ids).await? {
            out.insert((scope, id), v);
        }
    }
    Ok(out)
}

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
    /// Shared: the loader hands every asker (and its cache) the same row, not a copy each.
    type Value = Arc<E::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ScopedKey],
    ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
        by_scope(keys, |scope, ids| async move {
            let rows = scope.by_ids::<E>(&self.db, ids).await?;
            Ok(rows.into_iter().map(|(id, m)| (id, Arc::new(m))).collect())
        })
        .await
    }
}

/// Organizations: a scope only ever reaches its own.
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
        by_scope(keys, |scope, _| async move {
            let org = scope.organization(&self.db).await?;
            Ok(org.map(|o| (o.id, o)).into_iter().collect())
        })
        .await
    }
}

/// A first page of one parent's children (see `db::children`).
pub struct ChildKey<E: TenantEntity + 'static> {
    pub rel: &'static Children<E>,
    pub scope: Scoped,
    pub parent: Uuid,
    pub limit: u16,
    /// Allowed statuses; empty: any.
    pub statuses: Vec<String>,
}

/// How many children one parent has (of some statuses).
pub struct CountKey<E: TenantEntity + 'static> {
    pub rel: &'static Children<E>,
    pub scope: Scoped,
    pub parent: Uuid,
    pub statuses: Vec<String>,
}

/// The fields that identify a key (the relation by its parent column and ordering).
type KeyId<'a> = (
    (&'static str, &'static str),
    Scoped,
    Uuid,
    Option<u16>,
    &'a [String],
);

impl<E: TenantEntity> ChildKey<E> {
    fn key_id(&self) -> KeyId<'_> {
        (
            self.rel.id(),
            self.scope,
            self.parent,
            Some(self.limit),
            &self.statuses,
        )
    }
}

impl<E: TenantEntity> CountKey<E> {
    fn key_id(&self) -> KeyId<'_> {
        (self.rel.id(), self.scope, self.parent, None, &self.statuses)
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
    scope,
    parent,
    limit,
    statuses
});
key_traits!(CountKey {
    rel,
    scope,
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
    scope: Scoped,
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
            g.rel.id() == rel_id && g.scope == org && g.limit == limit && g.statuses == statuses
        }) {
            Some(g) => g.parents.push(parent),
            None => out.push(Group {
                rel,
                scope: org,
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
    /// The page and whether more follow (shared with the cache, not copied).
    type Value = Arc<(Vec<E::Model>, bool)>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildKey<E>],
    ) -> Result<HashMap<ChildKey<E>, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for g in groups(keys, |k| (k.key_id(), k.rel)) {
            let limit = g.limit.unwrap_or_default();
            let pages = g
                .rel
                .first_pages(&self.db, g.scope, &g.parents, limit, g.statuses)
                .await
                .map_err(AppError::from)?;
            for (parent, page) in pages {
                let key = ChildKey {
                    rel: g.rel,
                    scope: g.scope,
                    parent,
                    limit,
                    statuses: g.statuses.to_vec(),
                };
                out.insert(key, Arc::new(page));
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
            let counts = g
                .rel
                .counts(&self.db, g.scope, &g.parents, g.statuses)
                .await
                .map_err(AppError::from)?;
            for (parent, n) in counts {
                let key = CountKey {
                    rel: g.rel,
                    scope: g.scope,
                    parent,
                    statuses: g.statuses.to_vec(),
                };
                out.insert(key, n);
            }
        }
        Ok(out)
    }
}

/// A loader of one value per (scope, id), answered by `$fetch(db, scope, ids)` once per
/// organization in a batch.
macro_rules! scoped_loader {
    ($(#[$meta:meta])* $name:ident => $value:ty, $fetch:path) => {
        $(#[$meta])*
        pub struct $name {
            db: DatabaseConnection,
        }

        impl Loader<ScopedKey> for $name {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[ScopedKey],
            ) -> Result<HashMap<ScopedKey, Self::Value>, Self::Error> {
                by_scope(keys, |scope, ids| $fetch(&self.db, scope, ids)).await
            }
        }
    };
}

scoped_loader!(
    /// Each event's live agenda (by sort order, then start time), in one statement.
    AgendaByEvent => Vec<event_agenda_items::Model>, crate::services::agenda::of_events
);
scoped_loader!(
    /// Each event's attendance (registrations by outcome), one grouped statement.
    AttendeeStats => Attendance, crate::services::registrations::attendance
);
scoped_loader!(
    /// Each event's spending (approved, paid, pending, by type), one grouped statement.
    SpendingByEvent => crate::services::expenses::EventSpending, crate::services::expenses::spending
);
scoped_loader!(
    /// Each expense's approvals, oldest first, in one statement.
    ApprovalsByExpense => Vec<crate::entities::expense_approvals::Model>,
    crate::services::expenses::approvals_of
);

/// A viewer's first page of one collection's members (`limit: Some`), or their count
/// (`limit: None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CollectionKey {
    pub viewer: crate::services::media::Viewer,
    pub collection: Uuid,
    pub limit: Option<u16>,
}

/// A first page of members and whether more follow, or a count.
#[derive(Clone)]
pub enum CollectionItems {
    Page(Arc<(Vec<crate::entities::media_collection_items::Model>, bool)>),
    Count(u64),
}

/// `MediaCollection.items` across a page of collections: first pages in one statement per
/// (viewer, size), counts in one grouped statement per viewer.
pub struct CollectionItemsLoader {
    db: DatabaseConnection,
}

impl Loader<CollectionKey> for CollectionItemsLoader {
    type Value = CollectionItems;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CollectionKey],
    ) -> Result<HashMap<CollectionKey, CollectionItems>, Self::Error> {
        use crate::services::collections;
        let mut groups: HashMap<_, Vec<Uuid>> = HashMap::new();
        for k in keys {
            groups
                .entry((k.viewer, k.limit))
                .or_default()
                .push(k.collection);
        }
        let mut out = HashMap::new();
        for ((viewer, limit), ids) in groups {
            let key = |collection| CollectionKey {
                viewer,
                collection,
                limit,
            };
            match limit {
                Some(n) => {
                    for (c, page) in collections::first_pages(&self.db, &viewer, &ids, n).await? {
                        out.insert(key(c), CollectionItems::Page(Arc::new(page)));
                    }
                }
                None => {
                    for (c, n) in collections::counts(&self.db, &viewer, &ids).await? {
                        out.insert(key(c), CollectionItems::Count(n));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// `User.twoFactorEnabled` across a page of members: one statement per organization. Only
/// members with two-factor sign-in on are in the answer.
pub struct TwoFactorByUser {
    db: DatabaseConnection,
}

impl Loader<ScopedKey> for TwoFactorByUser {
    type Value = bool;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ScopedKey]) -> Result<HashMap<ScopedKey, bool>, Self::Error> {
        by_scope(keys, |scope, ids| async move {
            let on = crate::services::two_factor::enabled_among(&self.db, scope, ids).await?;
            Ok(on.into_iter().map(|id| (id, true)).collect())
        })
        .await
    }
}

/// The loaders of one request (or one WebSocket operation), created on first use: an idle
/// subscription holds none, and each delivery starts from an empty set. Cheap to clone.
#[derive(Clone)]
pub struct Loaders(Arc<Lazy>);

struct Lazy {
    db: DatabaseConnection,
    delay: LoaderDelay,
    set: std::sync::Mutex<Option<Arc<LoaderSet>>>,
}

/// The loaders themselves. A count of a nested connection keeps its loader.
pub struct LoaderSet {
    pub users: Arc<Cached<ById<crate::entities::users::Entity>>>,
    pub organizations: Arc<Cached<Organizations>>,
    pub contacts: Arc<Cached<ById<crate::entities::contacts::Entity>>>,
    pub children: Arc<Cached<ChildLoader>>,
    pub events: Arc<Cached<ById<crate::entities::events::Entity>>>,
    pub media: Arc<Cached<ById<crate::entities::media::Entity>>>,
    pub agenda: Arc<Cached<AgendaByEvent>>,
    pub attendee_stats: Arc<Cached<AttendeeStats>>,
    pub spending: Arc<Cached<SpendingByEvent>>,
    pub approvals: Arc<Cached<ApprovalsByExpense>>,
    pub collection_items: Arc<Cached<CollectionItemsLoader>>,
    pub two_factor: Arc<Cached<TwoFactorByUser>>,
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
    pub fn new(db: &DatabaseConnection, delay: LoaderDelay) -> Self {
        Self(Arc::new(Lazy {
            db: db.clone(),
            delay,
            set: std::sync::Mutex::new(None),
        }))
    }

    /// The current set, created if there is none.
    pub fn get(&self) -> Arc<LoaderSet> {
        let mut set = self.0.set.lock().unwrap_or_else(|p| p.into_inner());
        set.get_or_insert_with(|| Arc::new(LoaderSet::new(&self.0.db, self.0.delay)))
            .clone()
    }

    /// Forgets everything loaded so far: a subscription resolves each delivery afresh (loads
    /// still running keep the set they started with).
    pub fn clear(&self) {
        self.0.set.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl LoaderSet {
    fn new(db: &DatabaseConnection, delay: LoaderDelay) -> Self {
        Self {
            users: loader(ById::new(db.clone()), delay),
            organizations: loader(Organizations { db: db.clone() }, delay),
            contacts: loader(ById::new(db.clone()), delay),
            children: loader(ChildLoader { db: db.clone() }, delay),
            events: loader(ById::new(db.clone()), delay),
            media: loader(ById::new(db.clone()), delay),
            agenda: loader(AgendaByEvent { db: db.clone() }, delay),
            attendee_stats: loader(AttendeeStats { db: db.clone() }, delay),
            spending: loader(SpendingByEvent { db: db.clone() }, delay),
            approvals: loader(ApprovalsByExpense { db: db.clone() }, delay),
            collection_items: loader(CollectionItemsLoader { db: db.clone() }, delay),
            two_factor: loader(TwoFactorByUser { db: db.clone() }, delay),
        }
    }
}
