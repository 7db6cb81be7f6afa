//! The organization's background jobs, for its admins. System jobs (housekeeping that belongs
//! to no organization) never show.

use sea_orm::{ColumnTrait, DatabaseConnection, Order, QueryFilter};

use super::Actor;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{DbEnum, JobState};
use crate::entities::jobs;
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Option<Vec<JobState>>,
    pub kind: Option<String>,
}

/// Newest first.
pub fn keyset() -> Keyset<jobs::Entity> {
    Keyset {
        name: "created_at desc",
        sort: jobs::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: jobs::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &JobFilter,
    args: &PageArgs,
) -> Result<Page<jobs::Model>, AppError> {
    actor.admin()?;
    let mut q = crate::db::jobs::of(actor.scope());
    if let Some(states) = &f.state {
        q = q.filter(jobs::Column::State.is_in(states.iter().map(|s| s.as_str())));
    }
    if let Some(kind) = &f.kind {
        q = q.filter(jobs::Column::Kind.eq(kind.as_str()));
    }
    paginate(db, q, &keyset(), args).await
}
