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

/// (organization, parent, page size, allowed statuses — empty: any).
pub type PageKey = (Uuid, Uuid, u16, Vec<String>);

/// First pages of a child table for many parents in ONE statement: a window function numbers
/// each parent's live children in the page order and keeps `limit + 1` per parent.
pub struct ChildPages<E> {
    db: DatabaseConnection,
    table: &'static str,
    parent_column: &'static str,
    /// `ORDER BY` inside the window, e.g. `interaction_date DESC, id DESC`.
    order: &'static str,
    parent_of: fn(&E) -> Uuid,
}

/// First pages of interactions per contact, newest first.
pub fn interaction_pages(db: &DatabaseConnection) -> ChildPages<contact_interactions::Model> {
    ChildPages {
        db: db.clone(),
        table: "contact_interactions",
        parent_column: "contact_id",
        order: "interaction_date DESC, id DESC",
        parent_of: |m| m.contact_id,
    }
}

/// First pages of attendees per event, first registered first.
pub fn attendee_pages(db: &DatabaseConnection) -> ChildPages<event_attendees::Model> {
    ChildPages {
        db: db.clone(),
        table: "event_attendees",
        parent_column: "event_id",
        order: "registration_date ASC, id ASC",
        parent_of: |m| m.event_id,
    }
}

impl<M> Loader<PageKey> for ChildPages<M>
where
    M: FromQueryResult + Clone + Send + Sync + 'static,
{
    /// The page and whether more follow.
    type Value = (Vec<M>, bool);
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Self::Error> {
        type Group = (Uuid, u16, Vec<String>);
        let mut groups: HashMap<Group, Vec<Uuid>> = HashMap::new();
        for (org, parent, limit, statuses) in keys {
            groups
                .entry((*org, *limit, statuses.clone()))
                .or_default()
                .push(*parent);
        }
        let backend = self.db.get_database_backend();
        let mut out = HashMap::new();
        for ((org, limit, statuses), parents) in groups {
            let mut values: Vec<sea_orm::Value> = vec![org.into()];
            let mark = |values: &mut Vec<sea_orm::Value>, v: sea_orm::Value| {
                values.push(v);
                placeholder(backend, values.len())
            };
            let parent_marks: Vec<String> = parents
                .iter()
                .map(|p| mark(&mut values, (*p).into()))
                .collect();
            let status_filter = if statuses.is_empty() {
                String::new()
            } else {
                let marks: Vec<String> = statuses
                    .iter()
                    .map(|s| mark(&mut values, s.clone().into()))
                    .collect();
                format!(" AND c.status IN ({})", marks.join(", "))
            };
            let limit_mark = mark(&mut values, (limit as i64 + 1).into());
            let sql = format!(
                "SELECT * FROM (SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.{parent} ORDER BY {order}) AS plugs_rn \
                 FROM {table} c WHERE c.organization_id = {org_mark} AND NOT c.is_deleted \
                 AND c.{parent} IN ({parents}){status_filter}) paged WHERE paged.plugs_rn <= {limit_mark} \
                 ORDER BY paged.{parent}, paged.plugs_rn",
                parent = self.parent_column,
                order = self.order,
                table = self.table,
                org_mark = placeholder(backend, 1),
                parents = parent_marks.join(", "),
            );
            let rows = M::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
                .all(&self.db)
                .await
                .map_err(AppError::from)?;
            let mut by_parent: HashMap<Uuid, Vec<M>> = HashMap::new();
            for r in rows {
                by_parent.entry((self.parent_of)(&r)).or_default().push(r);
            }
            for p in parents {
                let mut page = by_parent.remove(&p).unwrap_or_default();
                let more = page.len() > limit as usize;
                page.truncate(limit as usize);
                out.insert((org, p, limit, statuses.clone()), (page, more));
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
    pub interaction_pages: Arc<Cached<ChildPages<contact_interactions::Model>>>,
    pub attendee_pages: Arc<Cached<ChildPages<event_attendees::Model>>>,
    pub interaction_counts: Arc<Cached<InteractionCounts>>,
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
            interaction_pages: loader(interaction_pages(db), delay),
            attendee_pages: loader(attendee_pages(db), delay),
            interaction_counts: loader(InteractionCounts { db: db.clone() }, delay),
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
        self.interaction_pages.clear::<PageKey>();
        self.attendee_pages.clear::<PageKey>();
        self.interaction_counts.clear::<ScopedKey>();
        self.events.clear::<ScopedKey>();
        self.agenda.clear::<ScopedKey>();
        self.attendee_stats.clear::<ScopedKey>();
    }
}
