use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{MediaAccessLevel, MediaCollectionType, MediaStatus, MediaType, Stored};
use crate::entities::{media, media_collections};
use crate::graphql::scalars::{utc, utc_opt};

/// A stored file: image, video, document or audio.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "Media")]
pub struct Media {
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    pub file_name: String,
    pub file_path: String,
    pub file_url: Option<String>,
    pub media_type: Stored<MediaType>,
    pub mime_type: String,
    /// Bytes; JSON numbers are exact up to 2^53, far above any upload limit.
    pub file_size: i64,
    pub metadata: Json<serde_json::Value>,
    pub status: Stored<MediaStatus>,
    pub access_level: Stored<MediaAccessLevel>,
    pub tags: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<media::Model> for Media {
    fn from(m: media::Model) -> Self {
        Self {
            id: m.id.into(),
            title: m.title,
            description: m.description,
            file_name: m.file_name,
            file_path: m.file_path,
            file_url: m.file_url,
            media_type: Stored::from_db(&m.media_type),
            mime_type: m.mime_type,
            file_size: m.file_size,
            metadata: Json(m.metadata),
            status: Stored::from_db(&m.status),
            access_level: Stored::from_db(&m.access_level),
            tags: Json(m.tags),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// An ordered group of media (the `media_collection_items` table holds its members).
#[derive(Clone, Debug, SimpleObject)]
pub struct MediaCollection {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub collection_type: Stored<MediaCollectionType>,
    pub settings: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<media_collections::Model> for MediaCollection {
    fn from(m: media_collections::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            description: m.description,
            collection_type: Stored::from_db(&m.collection_type),
            settings: Json(m.settings),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}
