//! Media: uploads (GraphQL multipart request spec), the organization's library, access levels.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject, Upload};

use crate::domain::enums::{MediaAccessLevel, MediaCollectionType, MediaStatus, MediaType};
use crate::error::AppError;
use crate::graphql::args::{change, id_change, non_null, opt_id, page, parse_id, parse_ids, set};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::{Media, MediaCollection};
use crate::services::collections::{self, CollectionPatch, Members};
use crate::services::media::{self as svc, Incoming, MediaPatch};
use crate::storage::Storage;

type Res<T> = async_graphql::Result<T>;

/// What the uploader says about a file; the server decides `mediaType` and `mimeType` from
/// the bytes.
#[derive(InputObject, Default)]
pub struct MediaInput {
    /// Default: the file's name.
    title: Option<String>,
    description: Option<String>,
    /// At most 20, each at most 50 characters.
    tags: Option<Vec<String>>,
    /// Default ORGANIZATION (every member); PRIVATE: the uploader and admins; PUBLIC: anyone
    /// holding a link.
    access_level: Option<MediaAccessLevel>,
    related_event_id: Option<ID>,
    related_contact_id: Option<ID>,
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateMediaInput {
    title: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    tags: MaybeUndefined<Vec<String>>,
    access_level: MaybeUndefined<MediaAccessLevel>,
    related_event_id: MaybeUndefined<ID>,
    related_contact_id: MaybeUndefined<ID>,
}

#[derive(InputObject, Default)]
pub struct MediaFilter {
    media_type: Option<Vec<MediaType>>,
    status: Option<Vec<MediaStatus>>,
    access_level: Option<Vec<MediaAccessLevel>>,
    /// Items carrying every one of these tags.
    tags: Option<Vec<String>>,
    uploaded_by: Option<ID>,
    related_event_id: Option<ID>,
    related_contact_id: Option<ID>,
    /// Case-insensitive substring of title, description or file name.
    search: Option<String>,
    /// `true` lists deleted items (the trash).
    deleted: Option<bool>,
}

/// A file the client sends itself with one `PUT` (larger than `uploadMedia` takes).
#[derive(InputObject)]
pub struct CreateUploadInput {
    file_name: String,
    /// The MIME type of the file; its bytes must turn out to be this type.
    content_type: String,
    /// Exactly the bytes that will be sent (at most `PLUGS_DIRECT_UPLOAD_MAX_BYTES`).
    size: i64,
    title: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    access_level: Option<MediaAccessLevel>,
    related_event_id: Option<ID>,
    related_contact_id: Option<ID>,
}

/// A request header the upload must carry.
#[derive(SimpleObject)]
pub struct HttpHeader {
    name: String,
    value: String,
}

/// Where and how to send a direct upload's bytes, then call `completeUpload(mediaId)`.
#[derive(SimpleObject)]
pub struct UploadTicket {
    /// The item, PROCESSING and invisible to others until `completeUpload`.
    media: Media,
    /// Signed: works without an Authorization header, until `expiresAt`.
    upload_url: String,
    /// Always `PUT`.
    method: String,
    headers: Vec<HttpHeader>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(InputObject)]
pub struct CreateMediaCollectionInput {
    /// 1–255 characters.
    name: String,
    description: Option<String>,
    /// Default GENERAL.
    collection_type: Option<MediaCollectionType>,
    /// A JSON object (at most 16 KiB) for the client's own use (cover, layout, ...).
    settings: Option<async_graphql::Json<serde_json::Value>>,
}

/// Omitted fields stay as they are; `null` clears `description`.
#[derive(InputObject)]
pub struct UpdateMediaCollectionInput {
    name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    collection_type: MaybeUndefined<MediaCollectionType>,
    settings: MaybeUndefined<async_graphql::Json<serde_json::Value>>,
}

#[derive(InputObject, Default)]
pub struct MediaCollectionFilter {
    collection_type: Option<Vec<MediaCollectionType>>,
    created_by: Option<ID>,
    /// Case-insensitive substring of the name or description.
    search: Option<String>,
    /// `true` lists deleted collections (the trash).
    deleted: Option<bool>,
}

fn patch_of(i: MediaInput) -> Result<MediaPatch, AppError> {
    Ok(MediaPatch {
        title: i.title,
        description: set(i.description),
        tags: i.tags,
        access_level: i.access_level,
        related_event: set(opt_id(i.related_event_id.as_ref(), "relatedEventId")?),
        related_contact: set(opt_id(i.related_contact_id.as_ref(), "relatedContactId")?),
    })
}

#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// The organization's media the caller may see, newest first (PRIVATE items only to their
    /// uploader and admins).
    #[allow(clippy::too_many_arguments)]
    async fn media(
        &self,
        ctx: &Context<'_>,
        filter: Option<MediaFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Media>> {
        let f = filter.unwrap_or_default();
        let filter = svc::MediaFilter {
            media_type: f.media_type,
            status: f.status,
            access_level: f.access_level,
            tags: f.tags,
            uploaded_by: opt_id(f.uploaded_by.as_ref(), "uploadedBy")?,
            related_event: opt_id(f.related_event_id.as_ref(), "relatedEventId")?,
            related_contact: opt_id(f.related_contact_id.as_ref(), "relatedContactId")?,
            search: f.search,
            deleted: f.deleted,
        };
        let page = svc::list(
            ctx.db(),
            ctx.actor()?,
            &filter,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// One live item; `null` when missing, deleted, another organization's, or PRIVATE and
    /// not the caller's (admins see every item).
    async fn media_item(&self, ctx: &Context<'_>, id: ID) -> Res<Option<Media>> {
        let id = parse_id(&id, "id")?;
        Ok(svc::get(ctx.db(), ctx.actor()?, id).await?.map(Into::into))
    }
}

#[derive(Default)]
pub struct MediaCollectionQuery;

#[Object]
impl MediaCollectionQuery {
    /// The organization's collections, newest first.
    async fn media_collections(
        &self,
        ctx: &Context<'_>,
        filter: Option<MediaCollectionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<MediaCollection>> {
        let f = filter.unwrap_or_default();
        let filter = collections::CollectionFilter {
            collection_type: f.collection_type,
            created_by: opt_id(f.created_by.as_ref(), "createdBy")?,
            search: f.search,
            deleted: f.deleted,
        };
        let page = collections::list(
            ctx.db(),
            ctx.actor()?,
            &filter,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// One live collection; `null` when missing, deleted or another organization's.
    async fn media_collection(&self, ctx: &Context<'_>, id: ID) -> Res<Option<MediaCollection>> {
        let id = parse_id(&id, "id")?;
        Ok(collections::get(ctx.db(), ctx.actor()?, id)
            .await?
            .map(Into::into))
    }
}

#[derive(Default)]
pub struct MediaCollectionMutation;

async fn members(
    ctx: &Context<'_>,
    collection_id: &ID,
    media_ids: &[ID],
    op: Members,
) -> Res<MediaCollection> {
    let id = parse_id(collection_id, "collectionId")?;
    let ids = parse_ids(media_ids, "mediaIds")?;
    let row = collections::change_members(ctx.store(), ctx.actor()?, id, ids, op).await?;
    Ok(row.into())
}

#[Object]
impl MediaCollectionMutation {
    async fn create_media_collection(
        &self,
        ctx: &Context<'_>,
        input: CreateMediaCollectionInput,
    ) -> Res<MediaCollection> {
        let patch = CollectionPatch {
            name: Some(input.name),
            description: set(input.description),
            collection_type: input.collection_type,
            settings: input.settings.map(|j| j.0),
        };
        Ok(collections::create(ctx.store(), ctx.actor()?, patch)
            .await?
            .into())
    }

    /// The creator or an admin.
    async fn update_media_collection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateMediaCollectionInput,
    ) -> Res<MediaCollection> {
        let i = input;
        let patch = CollectionPatch {
            name: non_null(i.name, "name")?,
            description: change(i.description),
            collection_type: non_null(i.collection_type, "collectionType")?,
            settings: non_null(i.settings, "settings")?.map(|j| j.0),
        };
        let id = parse_id(&id, "id")?;
        Ok(collections::update(ctx.store(), ctx.actor()?, id, patch)
            .await?
            .into())
    }

    /// Soft delete by the creator or an admin; the media items stay.
    async fn delete_media_collection(&self, ctx: &Context<'_>, id: ID) -> Res<MediaCollection> {
        let id = parse_id(&id, "id")?;
        Ok(
            collections::set_deleted(ctx.store(), ctx.actor()?, id, true)
                .await?
                .into(),
        )
    }

    async fn restore_media_collection(&self, ctx: &Context<'_>, id: ID) -> Res<MediaCollection> {
        let id = parse_id(&id, "id")?;
        Ok(
            collections::set_deleted(ctx.store(), ctx.actor()?, id, false)
                .await?
                .into(),
        )
    }

    /// Appends live media the caller may see (1–100 ids, none twice), in the order given; an
    /// item already in the collection stays where it is. At most 1,000 items per collection.
    async fn add_to_collection(
        &self,
        ctx: &Context<'_>,
        collection_id: ID,
        media_ids: Vec<ID>,
    ) -> Res<MediaCollection> {
        members(ctx, &collection_id, &media_ids, Members::Add).await
    }

    /// Takes items out of the collection (the media stay); each id must be in it.
    async fn remove_from_collection(
        &self,
        ctx: &Context<'_>,
        collection_id: ID,
        media_ids: Vec<ID>,
    ) -> Res<MediaCollection> {
        members(ctx, &collection_id, &media_ids, Members::Remove).await
    }

    /// Moves the named members (1–100, each in the collection) to the front in the order
    /// given; the rest follow in their previous order.
    async fn reorder_collection(
        &self,
        ctx: &Context<'_>,
        collection_id: ID,
        media_ids: Vec<ID>,
    ) -> Res<MediaCollection> {
        members(ctx, &collection_id, &media_ids, Members::Reorder).await
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Uploads a file (GraphQL multipart request: `operations`, `map`, then the file; at most
    /// 25 MiB for the whole request). Images are PROCESSING until their variants are made.
    async fn upload_media(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        #[graphql(default)] input: MediaInput,
    ) -> Res<Media> {
        let actor = ctx.actor()?;
        let value = file
            .value(ctx)
            .map_err(|e| AppError::bad_input("file", format!("the upload is unreadable: {e}")))?;
        let incoming = Incoming {
            file_name: value.filename,
            declared: value.content_type,
            file: value.content,
        };
        let storage = ctx.data::<Storage>()?;
        let row = svc::upload(ctx.store(), storage, actor, incoming, patch_of(input)?).await?;
        Ok(row.into())
    }

    /// Starts a direct upload for a file of any size up to `PLUGS_DIRECT_UPLOAD_MAX_BYTES`:
    /// `PUT` exactly `size` bytes to `uploadUrl` with `headers`, then `completeUpload`.
    async fn create_upload(
        &self,
        ctx: &Context<'_>,
        input: CreateUploadInput,
    ) -> Res<UploadTicket> {
        let i = input;
        let announced = svc::Announced {
            file_name: i.file_name,
            declared: i.content_type,
            size: i.size,
        };
        let patch = patch_of(MediaInput {
            title: i.title,
            description: i.description,
            tags: i.tags,
            access_level: i.access_level,
            related_event_id: i.related_event_id,
            related_contact_id: i.related_contact_id,
        })?;
        let ticket = svc::create_upload(
            ctx.store(),
            ctx.data::<Storage>()?,
            ctx.data::<svc::Links>()?,
            *ctx.data::<svc::DirectUploads>()?,
            ctx.actor()?,
            announced,
            patch,
        )
        .await?;
        Ok(UploadTicket {
            media: ticket.media.into(),
            upload_url: ticket.url,
            method: "PUT".into(),
            headers: ticket
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            expires_at: ticket.expires_at,
        })
    }

    /// Checks the bytes `PUT` for a direct upload (size, and type by content) and makes the
    /// item visible; images then get their variants. A wrong type removes the item and its
    /// bytes (BAD_USER_INPUT).
    async fn complete_upload(&self, ctx: &Context<'_>, media_id: ID) -> Res<Media> {
        let id = parse_id(&media_id, "mediaId")?;
        let storage = ctx.data::<Storage>()?;
        Ok(svc::complete_upload(ctx.store(), storage, ctx.actor()?, id)
            .await?
            .into())
    }

    /// The uploader or an admin.
    async fn update_media(&self, ctx: &Context<'_>, id: ID, input: UpdateMediaInput) -> Res<Media> {
        let i = input;
        let patch = MediaPatch {
            title: non_null(i.title, "title")?,
            description: change(i.description),
            tags: non_null(i.tags, "tags")?,
            access_level: non_null(i.access_level, "accessLevel")?,
            related_event: id_change(i.related_event_id, "relatedEventId")?,
            related_contact: id_change(i.related_contact_id, "relatedContactId")?,
        };
        let id = parse_id(&id, "id")?;
        Ok(svc::update(ctx.store(), ctx.actor()?, id, patch)
            .await?
            .into())
    }

    /// Soft delete by the uploader or an admin: hidden at once, links stop working.
    async fn delete_media(&self, ctx: &Context<'_>, id: ID) -> Res<Media> {
        let id = parse_id(&id, "id")?;
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, true)
            .await?
            .into())
    }

    async fn restore_media(&self, ctx: &Context<'_>, id: ID) -> Res<Media> {
        let id = parse_id(&id, "id")?;
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, false)
            .await?
            .into())
    }
}
