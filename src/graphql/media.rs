//! Media: uploads (GraphQL multipart request spec), the organization's library, access levels.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Upload};

use crate::domain::enums::{MediaAccessLevel, MediaStatus, MediaType};
use crate::error::AppError;
use crate::graphql::args::{change, id_change, non_null, opt_id, page, parse_id, set};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::Media;
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
