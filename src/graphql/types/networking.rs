use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{
    ContactPriority, ContactStatus, ContactType, DbEnum, InteractionStatus, InteractionType,
};
use crate::entities::{contact_interactions, contacts};
use crate::graphql::scalars::{utc, utc_opt};

/// A person in the organization's network: a target, a contact or a plug.
#[derive(Clone, Debug, SimpleObject)]
pub struct Contact {
    pub id: ID,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub linkedin_url: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub contact_type: ContactType,
    pub status: ContactStatus,
    pub priority: ContactPriority,
    pub business_type: Option<String>,
    pub network_type: Option<String>,
    pub industry: Option<String>,
    pub notes: Option<String>,
    pub metadata: Json<serde_json::Value>,
    /// 0..100.
    pub lead_score: i32,
    pub last_interaction: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<contacts::Model> for Contact {
    fn from(m: contacts::Model) -> Self {
        Self {
            id: m.id.into(),
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            company: m.company,
            job_title: m.job_title,
            linkedin_url: m.linkedin_url,
            bio: m.bio,
            avatar_url: m.avatar_url,
            contact_type: DbEnum::from_db(&m.contact_type),
            status: DbEnum::from_db(&m.status),
            priority: DbEnum::from_db(&m.priority),
            business_type: m.business_type,
            network_type: m.network_type,
            industry: m.industry,
            notes: m.notes,
            metadata: Json(m.metadata),
            lead_score: m.lead_score,
            last_interaction: utc_opt(m.last_interaction),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// A touchpoint with a contact: a meeting, call, email, ...
#[derive(Clone, Debug, SimpleObject)]
pub struct ContactInteraction {
    pub id: ID,
    pub interaction_type: InteractionType,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub outcome: Option<String>,
    pub interaction_date: DateTime<Utc>,
    pub status: InteractionStatus,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<contact_interactions::Model> for ContactInteraction {
    fn from(m: contact_interactions::Model) -> Self {
        Self {
            id: m.id.into(),
            interaction_type: DbEnum::from_db(&m.interaction_type),
            subject: m.subject,
            description: m.description,
            outcome: m.outcome,
            interaction_date: utc(m.interaction_date),
            status: DbEnum::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}
