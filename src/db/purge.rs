//! The retention purge: rows soft-deleted before a cutoff are deleted for good, across every
//! organization (a system job). Children go before their parents; a contact or an event that
//! an expense or a media item still points at is kept. Members are never purged (every
//! record names its creator) and audit rows are kept.

use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::{
    contact_interactions, contacts, event_agenda_items, event_attendees, events, expenses, media,
};

/// How many rows were deleted.
pub async fn deleted_before(
    db: &impl ConnectionTrait,
    before: DateTime<FixedOffset>,
) -> Result<u64, DbErr> {
    let mut n = 0;
    n += contact_interactions::Entity::delete_many()
        .filter(contact_interactions::Column::IsDeleted.eq(true))
        .filter(contact_interactions::Column::DeletedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected;
    n += event_agenda_items::Entity::delete_many()
        .filter(event_agenda_items::Column::IsDeleted.eq(true))
        .filter(event_agenda_items::Column::DeletedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected;
    n += event_attendees::Entity::delete_many()
        .filter(event_attendees::Column::IsDeleted.eq(true))
        .filter(event_attendees::Column::DeletedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected;
    let media_of_contact = Query::select()
        .expr(Expr::val(1))
        .from(media::Entity)
        .and_where(
            Expr::col((media::Entity, media::Column::RelatedContact))
                .equals((contacts::Entity, contacts::Column::Id)),
        )
        .to_owned();
    n += contacts::Entity::delete_many()
        .filter(contacts::Column::IsDeleted.eq(true))
        .filter(contacts::Column::DeletedAt.lt(before))
        .filter(Expr::exists(media_of_contact).not())
        .exec(db)
        .await?
        .rows_affected;
    let expense_of_event = Query::select()
        .expr(Expr::val(1))
        .from(expenses::Entity)
        .and_where(
            Expr::col((expenses::Entity, expenses::Column::EventId))
                .equals((events::Entity, events::Column::Id)),
        )
        .to_owned();
    let media_of_event = Query::select()
        .expr(Expr::val(1))
        .from(media::Entity)
        .and_where(
            Expr::col((media::Entity, media::Column::RelatedEvent))
                .equals((events::Entity, events::Column::Id)),
        )
        .to_owned();
    n += events::Entity::delete_many()
        .filter(events::Column::IsDeleted.eq(true))
        .filter(events::Column::DeletedAt.lt(before))
        .filter(Expr::exists(expense_of_event).not())
        .filter(Expr::exists(media_of_event).not())
        .exec(db)
        .await?
        .rows_affected;
    Ok(n)
}

/// Deletes, for good, up to `limit` media rows soft-deleted before `before` (across
/// organizations) that no expense keeps as its receipt, in one transaction, and returns them
/// (their bytes are the caller's to remove). Collection memberships go with them.
pub async fn delete_media_before(
    db: &sea_orm::DatabaseConnection,
    before: DateTime<FixedOffset>,
    limit: u64,
) -> Result<Vec<media::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect, TransactionTrait};
    let receipt_of = Query::select()
        .expr(Expr::val(1))
        .from(expenses::Entity)
        .and_where(
            Expr::col((expenses::Entity, expenses::Column::ReceiptMediaId))
                .equals((media::Entity, media::Column::Id)),
        )
        .to_owned();
    let txn = db.begin().await?;
    let due = media::Entity::find()
        .filter(media::Column::IsDeleted.eq(true))
        .filter(media::Column::DeletedAt.lt(before))
        .filter(Expr::exists(receipt_of).not())
        .order_by_asc(media::Column::DeletedAt)
        .limit(limit)
        .all(&txn)
        .await?;
    // Only rows still deleted: one restored since it was read stays, and is not returned.
    let mut gone = Vec::new();
    for row in due {
        let n = media::Entity::delete_many()
            .filter(media::Column::Id.eq(row.id))
            .filter(media::Column::IsDeleted.eq(true))
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 1 {
            gone.push(row);
        }
    }
    txn.commit().await?;
    Ok(gone)
}

/// Deletes, for good, direct uploads never completed whose ticket expired before `before`
/// (across organizations), at most 500 per call, and returns them (whatever bytes arrived
/// are the caller's to remove). One completed meanwhile has no expiry any more and stays.
pub async fn delete_abandoned_uploads(
    db: &sea_orm::DatabaseConnection,
    before: DateTime<FixedOffset>,
) -> Result<Vec<media::Model>, DbErr> {
    use sea_orm::{QuerySelect, TransactionTrait};
    let txn = db.begin().await?;
    let due = media::Entity::find()
        .filter(media::Column::UploadExpiresAt.lt(before))
        .limit(500)
        .all(&txn)
        .await?;
    let mut gone = Vec::new();
    for row in due {
        let n = media::Entity::delete_many()
            .filter(media::Column::Id.eq(row.id))
            .filter(media::Column::UploadExpiresAt.is_not_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 1 {
            gone.push(row);
        }
    }
    txn.commit().await?;
    Ok(gone)
}

/// Personal-data bundles past their expiry whose bytes are still stored, across every
/// organization: (organization, export, storage key).
pub async fn expired_bundles(
    db: &impl ConnectionTrait,
    now: DateTime<FixedOffset>,
) -> Result<Vec<(uuid::Uuid, uuid::Uuid, String)>, DbErr> {
    use crate::entities::personal_data_exports as p;
    use sea_orm::QuerySelect;
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Option<String>)> = p::Entity::find()
        .filter(p::Column::ExpiresAt.lt(now))
        .filter(p::Column::StorageKey.is_not_null())
        .select_only()
        .column(p::Column::OrganizationId)
        .column(p::Column::Id)
        .column(p::Column::StorageKey)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(o, i, k)| k.map(|k| (o, i, k)))
        .collect())
}
