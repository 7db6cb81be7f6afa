//! `ContactInteraction`: a touchpoint with a contact.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Contact, User, related};
use crate::db::scoped::Scoped;
use crate::domain::enums::{InteractionStatus, InteractionType, Stored};
use crate::entities::contact_interactions;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};

/// A touchpoint with a contact: a meeting, call, email, ...
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct ContactInteraction {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub contact_id: Uuid,
    #[graphql(skip)]
    pub user_id: Uuid,
    pub id: ID,
    pub interaction_type: Stored<InteractionType>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub outcome: Option<String>,
    pub interaction_date: DateTime<Utc>,
    pub status: Stored<InteractionStatus>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

crate::graphql::fast::columns!(ContactInteraction {
    id,
    interaction_type,
    subject,
    interaction_date,
    description,
    outcome,
    status,
    metadata,
    created_at,
    updated_at,
    deleted_at,
});

impl From<contact_interactions::Model> for ContactInteraction {
    fn from(m: contact_interactions::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            contact_id: m.contact_id,
            user_id: m.user_id,
            id: m.id.into(),
            interaction_type: Stored::from_db(&m.interaction_type),
            subject: m.subject,
            description: m.description,
            outcome: m.outcome,
            interaction_date: utc(m.interaction_date),
            status: Stored::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl ContactInteraction {
    async fn contact(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<Contact>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.contacts, self.scope, self.contact_id, "contact").await
    }

    /// The member who had the interaction.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.user_id, "user").await
    }
}
