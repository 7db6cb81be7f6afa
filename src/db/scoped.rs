//! Tenant scoping by construction (svix's `secure_find`): every query for tenant data starts
//! from `Scoped::find::<E>()`, which already filters on the caller's organization. There is no
//! other way to reach a tenant table from the services, so forgetting the tenant is impossible.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use crate::entities::*;

/// A table whose rows belong to one organization.
pub trait TenantEntity: EntityTrait {
    fn organization_column() -> Self::Column;
    fn id_column() -> Self::Column;
    /// `is_deleted`, for tables with soft delete.
    fn deleted_column() -> Option<Self::Column>;
}

macro_rules! tenant_entity {
    ($($module:ident: $deleted:expr),+ $(,)?) => {
        $(impl TenantEntity for $module::Entity {
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
    users: Some(users::Column::IsDeleted),
    contacts: Some(contacts::Column::IsDeleted),
    contact_interactions: Some(contact_interactions::Column::IsDeleted),
    events: Some(events::Column::IsDeleted),
    event_attendees: Some(event_attendees::Column::IsDeleted),
    event_agenda_items: Some(event_agenda_items::Column::IsDeleted),
    expenses: Some(expenses::Column::IsDeleted),
    media: Some(media::Column::IsDeleted),
    media_collections: Some(media_collections::Column::IsDeleted),
    notifications: Some(notifications::Column::IsDeleted),
    integrations: Some(integrations::Column::IsDeleted),
    integration_logs: None,
    audit_logs: None,
    refresh_tokens: None,
);

/// The caller's organization, the only door to tenant rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scoped {
    pub organization_id: Uuid,
}

impl Scoped {
    pub fn new(organization_id: Uuid) -> Self {
        Self { organization_id }
    }

    /// All rows of the organization, deleted ones included.
    pub fn find<E: TenantEntity>(&self) -> Select<E> {
        E::find().filter(E::organization_column().eq(self.organization_id))
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
