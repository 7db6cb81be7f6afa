use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Contact, Event, User, related, related_opt};
use crate::db::pagination::{CountFn, DEFAULT_PAGE, Page, page_size};
use crate::domain::enums::DbEnum;
use crate::domain::enums::{MediaAccessLevel, MediaCollectionType, MediaStatus, MediaType, Stored};
use crate::entities::{media, media_collections};
use crate::error::AppError;
use crate::graphql::args::page;
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};
use crate::services::media::{Links, Variant, Viewer};

/// The stored forms of a media item.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum MediaVariant {
    /// The bytes as uploaded.
    Original,
    /// Images: at most 1024 px on the longest side.
    Medium,
    /// Images: at most 256 px on the longest side.
    Thumbnail,
}

/// A stored file: image, video, document or audio. Its bytes are reached through `url`.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "Media", complex)]
pub struct Media {
    #[graphql(skip)]
    pub row: std::sync::Arc<media::Model>,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    /// The name the file was uploaded with (never a path).
    pub file_name: String,
    /// IMAGE, VIDEO, DOCUMENT or AUDIO, decided by the server from the bytes.
    pub media_type: Stored<MediaType>,
    /// Sniffed from the bytes, not taken from the client.
    pub mime_type: String,
    /// Bytes; JSON numbers are exact up to 2^53, far above any upload limit.
    pub file_size: i64,
    /// Images, once READY: `width`, `height` and each variant's size; FAILED: `error`.
    pub metadata: Json<serde_json::Value>,
    /// PROCESSING while an image's variants are made, then READY or FAILED.
    pub status: Stored<MediaStatus>,
    pub access_level: Stored<MediaAccessLevel>,
    /// A JSON array of strings.
    pub tags: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<media::Model> for Media {
    fn from(m: media::Model) -> Self {
        Self {
            id: m.id.into(),
            title: m.title.clone(),
            description: m.description.clone(),
            file_name: m.file_name.clone(),
            media_type: Stored::from_db(&m.media_type),
            mime_type: m.mime_type.clone(),
            file_size: m.file_size,
            metadata: Json(m.metadata.clone()),
            status: Stored::from_db(&m.status),
            access_level: Stored::from_db(&m.access_level),
            tags: Json(m.tags.clone()),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
            row: std::sync::Arc::new(m),
        }
    }
}

#[ComplexObject]
impl Media {
    /// A short-lived signed link to the bytes (`GET /media/{id}/{variant}?...`), usable in
    /// `<img src>` without headers. MEDIUM and THUMBNAIL exist for images once READY; `null`
    /// otherwise, and for a deleted item.
    async fn url(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "MediaVariant::Original")] variant: MediaVariant,
    ) -> async_graphql::Result<Option<String>> {
        let variant = match variant {
            MediaVariant::Original => Variant::Original,
            MediaVariant::Medium => Variant::Medium,
            MediaVariant::Thumbnail => Variant::Thumbnail,
        };
        let m = &*self.row;
        let ready_image =
            m.media_type == MediaType::Image.as_str() && m.status == MediaStatus::Ready.as_str();
        if m.is_deleted || (variant != Variant::Original && !ready_image) {
            return Ok(None);
        }
        Ok(Some(ctx.data::<Links>()?.sign(m, variant)))
    }

    async fn uploaded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let scope = super::row_scope(self.row.organization_id);
        related(&loaders.users, scope, self.row.uploaded_by, "user").await
    }

    /// The event the item is about, if any.
    async fn related_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<Event>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let scope = super::row_scope(self.row.organization_id);
        related_opt(&loaders.events, scope, self.row.related_event).await
    }

    /// The contact the item is about, if any.
    async fn related_contact(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Fast<Contact>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let scope = super::row_scope(self.row.organization_id);
        related_opt(&loaders.contacts, scope, self.row.related_contact).await
    }
}

/// An ordered group of media (the `media_collection_items` table holds its members). Every
/// member sees every collection; its creator and admins change it.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct MediaCollection {
    #[graphql(skip)]
    pub row: std::sync::Arc<media_collections::Model>,
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
            name: m.name.clone(),
            description: m.description.clone(),
            collection_type: Stored::from_db(&m.collection_type),
            settings: Json(m.settings.clone()),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
            row: std::sync::Arc::new(m),
        }
    }
}

#[ComplexObject]
impl MediaCollection {
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let scope = super::row_scope(self.row.organization_id);
        related(&loaders.users, scope, self.row.created_by, "user").await
    }

    /// The members the caller may see (live items; PRIVATE ones only to their uploader and
    /// admins), in the collection's order. The first page is batched across a page of
    /// collections.
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Media>> {
        use crate::graphql::loaders::{CollectionItems, CollectionKey};
        use crate::services::collections;
        // The caller's own organization: a collection of any other one would list nothing.
        let viewer = Viewer::of(ctx.actor()?);
        let collection = self.row.id;
        let loaders = ctx.data::<Loaders>()?.get();
        let counter = loaders.collection_items.clone();
        let count: CountFn = std::sync::Arc::new(move || {
            let counter = counter.clone();
            Box::pin(async move {
                let key = CollectionKey {
                    viewer,
                    collection,
                    limit: None,
                };
                match counter.load_one(key).await {
                    Ok(Some(CollectionItems::Count(n))) => Ok(n),
                    Ok(_) => Ok(0),
                    Err(e) => Err(AppError::Internal(e.message)),
                }
            })
        });
        let args = page(first, after, last, before);
        let (rows, more, previous) =
            if args.after.is_some() || args.before.is_some() || args.last.is_some() {
                let p = collections::items_page(ctx.db(), &viewer, collection, &args).await?;
                (p.items, p.has_next_page, p.has_previous_page)
            } else {
                let limit = page_size(args.first, "first")?.unwrap_or(DEFAULT_PAGE) as u16;
                let key = CollectionKey {
                    viewer,
                    collection,
                    limit: Some(limit),
                };
                match loaders.collection_items.load_one(key).await? {
                    Some(CollectionItems::Page(p)) => {
                        let keyset = collections::item_keyset();
                        let rows = p.0.iter().map(|m| (keyset.cursor(m), m.clone())).collect();
                        (rows, p.1, false)
                    }
                    _ => (Vec::new(), false, false),
                }
            };
        let media = loaders
            .media
            .load_many(rows.iter().map(|(_, m)| (viewer.scope, m.media_id)))
            .await?;
        let items = rows
            .into_iter()
            .filter_map(|(cursor, m)| {
                let row = media.get(&(viewer.scope, m.media_id))?;
                (!row.is_deleted).then(|| (cursor, media::Model::clone(row)))
            })
            .collect();
        Ok(Connection::from_page(Page {
            items,
            has_next_page: more,
            has_previous_page: previous,
            count,
        }))
    }
}

impl crate::graphql::fast::FastObject for Media {}

impl crate::graphql::fast::FastObject for MediaCollection {}
