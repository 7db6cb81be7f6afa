//! Business rules, one module per domain: validation, authorization, transactions, audit rows,
//! notifications and realtime signals. No GraphQL here. A writing call opens one `Work` (the
//! unit of work: transaction, actor, audit, signals) and commits it once.

pub mod account_mail;
pub mod accounts;
pub mod agenda;
pub mod analytics;
pub mod audit;
pub mod collections;
pub mod contacts;
pub mod events;
pub mod expenses;
pub mod hubspot;
pub mod imports;
pub mod integrations;
pub mod interactions;
pub mod jobs;
pub mod media;
pub mod notifications;
pub mod organizations;
pub mod privacy;
pub mod registrations;
pub mod reminders;
pub mod two_factor;
pub mod users;
pub mod validate;
pub mod webhooks;
pub mod work;

use chrono::{DateTime, FixedOffset, Timelike, Utc};

pub use crate::auth::identity::{Actor, RequestMeta};
pub use work::{Store, Work};

/// An optional field of an update: omitted, explicitly null, or a new value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

/// Now, to the microsecond (both backends store that precision, so values read back equal).
pub fn now() -> DateTime<FixedOffset> {
    let t = Utc::now();
    let micros = t.timestamp_subsec_micros();
    let t = t
        .with_nanosecond(micros * 1000)
        .expect("microseconds are a valid nanosecond value");
    t.fixed_offset()
}

/// One live row of the caller's organization; `None` when missing, deleted or another
/// organization's (single lookups answer `null` for all three alike).
pub async fn live<E: crate::db::scoped::TenantEntity>(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<Option<E::Model>, crate::error::AppError> {
    Ok(actor.scope().live_by_id::<E>(id).one(db).await?)
}

/// Soft delete (`deleted: true`) or restore of one row with nothing else to check or change,
/// in its own unit of work.
pub async fn soft_delete<E>(
    store: Store<'_>,
    actor: &Actor,
    id: uuid::Uuid,
    deleted: bool,
) -> Result<E::Model, crate::error::AppError>
where
    E: crate::db::scoped::TenantEntity,
    E::Model: sea_orm::IntoActiveModel<E::ActiveModel> + serde::Serialize + Clone + Send + Sync,
    E::ActiveModel: sea_orm::ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
{
    let w = Work::begin(store, actor).await?;
    let row = w.set_deleted::<E>(id, deleted).await?;
    w.commit().await?;
    Ok(row)
}
