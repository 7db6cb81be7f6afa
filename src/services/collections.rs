//! Media collections: ordered groups of an organization's media (`media_collections`, with
//! members in `media_collection_items`).
//!
//! `media_collection_items` has no organization column, and none was added: an item is only
//! ever reached through a collection of the caller's organization (loaded through its scope,
//! and locked while its members change), and its media through `Viewer::media`, which is
//! scoped to the same organization and hides PRIVATE items from those who may not see them.
//! A media item joins only collections of its own organization, so the two always agree.
//!
//! Every member sees every collection; its creator and admins change it. A collection lists
//! the live media its viewer may see, in its order (`sort_order`, then when added).

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::media::Viewer;
use super::validate::{self, Text::Plain, set_text};
use super::work::{Store, Work, missing};
use super::{Actor, Change, now};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{DbEnum, MediaCollectionType};
use crate::entities::{media, media_collection_items as items, media_collections};
use crate::error::AppError;

/// Media items named by one change (`addToCollection`, `removeFromCollection`,
/// `reorderCollection`).
pub const MAX_IDS_PER_CHANGE: usize = 100;
/// Members of one collection.
pub const MAX_ITEMS: usize = 1_000;

#[derive(Clone, Debug, Default)]
pub struct CollectionPatch {
    pub name: Option<String>,
    pub description: Change<String>,
    pub collection_type: Option<MediaCollectionType>,
    pub settings: Option<Value>,
}

fn apply(a: &mut media_collections::ActiveModel, p: CollectionPatch) -> Result<(), AppError> {
    if let Some(n) = p.name {
        a.name = Set(validate::required("name", &n, 255)?);
    }
    set_text(
        &mut a.description,
        "description",
        p.description,
        Plain(10_000),
    )?;
    if let Some(t) = p.collection_type {
        a.collection_type = Set(t.as_str().into());
    }
    if let Some(s) = p.settings {
        let s = validate::object("settings", s)?;
        if s.to_string().len() > 16 * 1024 {
            return Err(AppError::bad_input("settings", "at most 16 KiB of JSON"));
        }
        a.settings = Set(s);
    }
    Ok(())
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    patch: CollectionPatch,
) -> Result<media_collections::Model, AppError> {
    if patch.name.is_none() {
        return Err(AppError::bad_input("name", "is required"));
    }
    let t = now();
    let mut a = media_collections::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        created_by: Set(actor.user_id),
        collection_type: Set(MediaCollectionType::General.as_str().into()),
        settings: Set(json!({})),
        created_at: Set(t),
        updated_at: Set(t),
        is_deleted: Set(false),
        ..Default::default()
    };
    apply(&mut a, patch)?;
    let w = Work::begin(store, actor).await?;
    let row = a.insert(&w.txn).await?;
    w.audit::<media_collections::Entity, _>(row.id, None, Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// The creator or an admin.
fn may_change(actor: &Actor, row: &media_collections::Model) -> Result<(), AppError> {
    actor.owner_or_admin(row.created_by).map(|_| ())
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: CollectionPatch,
) -> Result<media_collections::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = w.live::<media_collections::Entity>(id).await?;
    may_change(actor, &old)?;
    let mut a: media_collections::ActiveModel = old.clone().into();
    apply(&mut a, patch)?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<media_collections::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete or restore, by the creator or an admin. Members stay: a restored collection
/// comes back whole.
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<media_collections::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let current = actor
        .scope()
        .by_id::<media_collections::Entity>(id)
        .filter(media_collections::Column::IsDeleted.eq(!deleted))
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<media_collections::Entity>)?;
    may_change(actor, &current)?;
    let row = w
        .set_deleted::<media_collections::Entity>(id, deleted)
        .await?;
    w.commit().await?;
    Ok(row)
}

/// One live collection of the caller's organization.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<media_collections::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<media_collections::Entity>(id)
        .one(db)
        .await?)
}

#[derive(Clone, Debug, Default)]
pub struct CollectionFilter {
    pub collection_type: Option<Vec<MediaCollectionType>>,
    pub created_by: Option<Uuid>,
    /// Case-insensitive substring of the name or description.
    pub search: Option<String>,
    pub deleted: Option<bool>,
}

pub fn keyset() -> Keyset<media_collections::Entity> {
    Keyset {
        name: "created_at desc",
        sort: media_collections::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: media_collections::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// The organization's collections matching `f`, newest first.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &CollectionFilter,
    args: &PageArgs,
) -> Result<Page<media_collections::Model>, AppError> {
    use media_collections::Column as C;
    let mut q = actor
        .scope()
        .find::<media_collections::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(t) = &f.collection_type {
        q = q.filter(C::CollectionType.is_in(t.iter().map(|v| v.as_str())));
    }
    if let Some(u) = f.created_by {
        q = q.filter(C::CreatedBy.eq(u));
    }
    if let Some(s) = validate::search(f.search.as_deref())? {
        q = q.filter(crate::db::search::any_contains(
            &[C::Name, C::Description],
            s,
        ));
    }
    paginate(db, q, &keyset(), args).await
}

/// The order of a collection's members: position, then the member row's id (a stable tie
/// break; positions are renumbered on every reorder).
pub fn item_keyset() -> Keyset<items::Entity> {
    Keyset {
        name: "position",
        sort: items::Column::SortOrder,
        kind: SortKind::Int,
        nullable: false,
        id: items::Column::Id,
        direction: Order::Asc,
        value: |m| SortValue::Int(i64::from(m.sort_order)),
        id_of: |m| m.id,
    }
}

/// The members of `collections` whose media the viewer may see and is live. Callers pass only
/// collections they loaded through the viewer's organization.
#[expect(
    clippy::disallowed_methods,
    reason = "media_collection_items has no organization column: its media are those of the viewer's organization (Viewer::media)"
)]
pub fn items_select(viewer: &Viewer, collections: &[Uuid]) -> Select<items::Entity> {
    use sea_orm::QueryTrait;
    let seen = viewer
        .media()
        .filter(media::Column::IsDeleted.eq(false))
        .select_only()
        .column(media::Column::Id)
        .into_query();
    items::Entity::find()
        .filter(items::Column::CollectionId.is_in(collections.iter().copied()))
        .filter(items::Column::MediaId.in_subquery(seen))
}

/// The first `limit` visible members of each collection, and whether more follow: one
/// statement.
pub async fn first_pages(
    db: &DatabaseConnection,
    viewer: &Viewer,
    collections: &[Uuid],
    limit: u16,
) -> Result<HashMap<Uuid, (Vec<items::Model>, bool)>, AppError> {
    Ok(crate::db::children::first_pages(
        db,
        items_select(viewer, collections),
        items::Column::CollectionId,
        &item_keyset(),
        collections,
        limit,
    )
    .await?)
}

/// How many visible members each collection has: one grouped statement.
pub async fn counts(
    db: &DatabaseConnection,
    viewer: &Viewer,
    collections: &[Uuid],
) -> Result<HashMap<Uuid, u64>, AppError> {
    let rows: Vec<(Uuid, i64)> = items_select(viewer, collections)
        .select_only()
        .column(items::Column::CollectionId)
        .column_as(items::Column::Id.count(), "n")
        .group_by(items::Column::CollectionId)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, u64> = collections.iter().map(|c| (*c, 0)).collect();
    for (c, n) in rows {
        out.insert(c, u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

/// Any page of one collection's visible members (the same cursors as a batched first page).
pub async fn items_page(
    db: &DatabaseConnection,
    viewer: &Viewer,
    collection: Uuid,
    args: &PageArgs,
) -> Result<Page<items::Model>, AppError> {
    paginate(
        db,
        items_select(viewer, &[collection]),
        &item_keyset(),
        args,
    )
    .await
}

/// A list of media ids for one change: 1..=100 of them, none twice.
fn id_list(ids: &[Uuid]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Err(AppError::bad_input(
            "mediaIds",
            "name at least one media item",
        ));
    }
    if ids.len() > MAX_IDS_PER_CHANGE {
        return Err(AppError::bad_input(
            "mediaIds",
            format!("at most {MAX_IDS_PER_CHANGE} media items per change"),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(AppError::bad_input(
            "mediaIds",
            format!("{dup} is named twice"),
        ));
    }
    Ok(())
}

/// A collection about to change its members: live, the caller's to change, and locked until
/// commit so concurrent changes of its members take turns. Its members, in order.
#[expect(
    clippy::disallowed_methods,
    reason = "media_collection_items has no organization column: scoped through the collection, loaded and locked through the caller's scope"
)]
async fn open(
    w: &Work<'_>,
    id: Uuid,
) -> Result<(media_collections::Model, Vec<items::Model>), AppError> {
    let collection = w.locked::<media_collections::Entity>(id).await?;
    may_change(w.actor, &collection)?;
    let members = items::Entity::find()
        .filter(items::Column::CollectionId.eq(id))
        .order_by_asc(items::Column::SortOrder)
        .order_by_asc(items::Column::Id)
        .all(&w.txn)
        .await?;
    Ok((collection, members))
}

/// Records a change of members: the collection's `updated_at` and an audit row whose old and
/// new values are the member lists.
async fn changed(
    w: &Work<'_>,
    collection: media_collections::Model,
    before: &[Uuid],
    after: &[Uuid],
) -> Result<media_collections::Model, AppError> {
    let mut a: media_collections::ActiveModel = collection.into();
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<media_collections::Entity, _>(
        row.id,
        Some(&json!({ "mediaIds": before })),
        Some(&json!({ "mediaIds": after })),
    )
    .await?;
    Ok(row)
}

fn ids_of(members: &[items::Model]) -> Vec<Uuid> {
    members.iter().map(|m| m.media_id).collect()
}

/// A change of a collection's members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Members {
    /// Appends media, in the order given. Each must be a live item the caller may see; one
    /// already in the collection stays where it is (a media item is in a collection at most
    /// once).
    Add,
    /// Takes media out (the media items themselves stay). Every id must be a member.
    Remove,
    /// Moves the named members to the front, in the order given; the others follow in their
    /// previous order. Every id must be a member.
    Reorder,
}

/// Changes a collection's members (1-100 ids, none twice) in one unit of work: the
/// collection locked, the change, then its `updated_at` and one audit row with the member
/// lists before and after (none when nothing changed).
pub async fn change_members(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    media_ids: Vec<Uuid>,
    op: Members,
) -> Result<media_collections::Model, AppError> {
    id_list(&media_ids)?;
    let w = Work::begin(store, actor).await?;
    let (collection, members) = open(&w, id).await?;
    let after = match op {
        Members::Add => add(&w, id, &members, media_ids).await?,
        Members::Remove => remove(&w, id, &members, media_ids).await?,
        Members::Reorder => reorder(&w, id, &members, media_ids).await?,
    };
    let row = match after {
        Some(after) => changed(&w, collection, &ids_of(&members), &after).await?,
        None => collection,
    };
    w.commit().await?;
    Ok(row)
}

/// `Members::Add`; the members after, or `None` when all were there already.
async fn add(
    w: &Work<'_>,
    id: Uuid,
    members: &[items::Model],
    media_ids: Vec<Uuid>,
) -> Result<Option<Vec<Uuid>>, AppError> {
    let found: HashSet<Uuid> = Viewer::of(w.actor)
        .media()
        .filter(media::Column::IsDeleted.eq(false))
        .filter(media::Column::Id.is_in(media_ids.iter().copied()))
        .select_only()
        .column(media::Column::Id)
        .into_tuple()
        .all(&w.txn)
        .await?
        .into_iter()
        .collect();
    if let Some(absent) = media_ids.iter().find(|m| !found.contains(m)) {
        return Err(AppError::NotFound(format!("no such media item: {absent}")));
    }
    let before = ids_of(members);
    let present: HashSet<Uuid> = before.iter().copied().collect();
    let new: Vec<Uuid> = media_ids
        .into_iter()
        .filter(|m| !present.contains(m))
        .collect();
    if new.is_empty() {
        return Ok(None);
    }
    if before.len() + new.len() > MAX_ITEMS {
        return Err(AppError::bad_input(
            "mediaIds",
            format!("a collection holds at most {MAX_ITEMS} items"),
        ));
    }
    let next = members.last().map_or(0, |m| m.sort_order + 1);
    let t = now();
    let rows = new.iter().enumerate().map(|(i, m)| items::ActiveModel {
        id: Set(Uuid::new_v4()),
        collection_id: Set(id),
        media_id: Set(*m),
        sort_order: Set(next + i32::try_from(i).unwrap_or(i32::MAX)),
        created_at: Set(t),
    });
    items::Entity::insert_many(rows).exec(&w.txn).await?;
    Ok(Some(before.into_iter().chain(new).collect()))
}

/// `Members::Remove`.
#[expect(
    clippy::disallowed_methods,
    reason = "media_collection_items has no organization column: scoped through the collection `open` loaded through the caller's scope"
)]
async fn remove(
    w: &Work<'_>,
    id: Uuid,
    members: &[items::Model],
    media_ids: Vec<Uuid>,
) -> Result<Option<Vec<Uuid>>, AppError> {
    let before = ids_of(members);
    not_members(&before, &media_ids)?;
    let gone: HashSet<Uuid> = media_ids.into_iter().collect();
    items::Entity::delete_many()
        .filter(items::Column::CollectionId.eq(id))
        .filter(items::Column::MediaId.is_in(gone.iter().copied()))
        .exec(&w.txn)
        .await?;
    Ok(Some(
        before.into_iter().filter(|m| !gone.contains(m)).collect(),
    ))
}

/// BAD_USER_INPUT naming the first of `ids` that is not among `members`.
fn not_members(members: &[Uuid], ids: &[Uuid]) -> Result<(), AppError> {
    let members: HashSet<&Uuid> = members.iter().collect();
    match ids.iter().find(|m| !members.contains(m)) {
        Some(stranger) => Err(AppError::bad_input(
            "mediaIds",
            format!("{stranger} is not in this collection"),
        )),
        None => Ok(()),
    }
}

/// `Members::Reorder`: positions renumbered 0, 1, 2, ... in one statement; `None` when the
/// order stays.
#[expect(
    clippy::disallowed_methods,
    reason = "media_collection_items has no organization column: scoped through the collection `open` loaded through the caller's scope"
)]
async fn reorder(
    w: &Work<'_>,
    id: Uuid,
    members: &[items::Model],
    media_ids: Vec<Uuid>,
) -> Result<Option<Vec<Uuid>>, AppError> {
    not_members(&ids_of(members), &media_ids)?;
    let by_media: HashMap<Uuid, &items::Model> = members.iter().map(|m| (m.media_id, m)).collect();
    let named: HashSet<Uuid> = media_ids.iter().copied().collect();
    let order: Vec<&items::Model> = media_ids
        .iter()
        .map(|m| by_media[m])
        .chain(members.iter().filter(|m| !named.contains(&m.media_id)))
        .collect();
    let moves: Vec<(Uuid, i32)> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id, i32::try_from(i).unwrap_or(i32::MAX)))
        .zip(order.iter())
        .filter(|((_, pos), m)| m.sort_order != *pos)
        .map(|(mv, _)| mv)
        .collect();
    if moves.is_empty() {
        return Ok(None);
    }
    let mut case = CaseStatement::new();
    for (item, pos) in &moves {
        case = case.case(items::Column::Id.eq(*item), Expr::val(*pos));
    }
    let case = case.finally(Expr::col(items::Column::SortOrder));
    items::Entity::update_many()
        .col_expr(items::Column::SortOrder, case.into())
        .filter(items::Column::CollectionId.eq(id))
        .filter(items::Column::Id.is_in(moves.iter().map(|(item, _)| *item)))
        .exec(&w.txn)
        .await?;
    Ok(Some(order.iter().map(|m| m.media_id).collect()))
}
