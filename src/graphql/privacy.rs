//! GDPR: personal-data exports and erasure.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::scoped::Scoped;
use crate::domain::enums::{ExportStatus, PersonalDataSubject, Stored};
use crate::entities::personal_data_exports;
use crate::graphql::args::{opt_id, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};
use crate::graphql::types::{Contact, User, related};
use crate::services::media::Links;
use crate::services::privacy as svc;
use crate::storage::Storage;

type Res<T> = async_graphql::Result<T>;

/// A JSON bundle of one person's data (a member's or a contact's), built by a job. The
/// requester is notified when it is ready; `downloadUrl` is a short-lived signed link, fresh
/// each time it is read, until `expiresAt`.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct PersonalDataExport {
    #[graphql(skip)]
    scope: Scoped,
    #[graphql(skip)]
    requested_by_id: uuid::Uuid,
    #[graphql(skip)]
    stored: bool,
    pub id: ID,
    pub subject_type: Stored<PersonalDataSubject>,
    pub subject_id: ID,
    pub status: Stored<ExportStatus>,
    /// The bundle's size once built.
    pub size_bytes: Option<i32>,
    /// Why it FAILED.
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When the bundle is deleted (7 days after it was built).
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<personal_data_exports::Model> for PersonalDataExport {
    fn from(m: personal_data_exports::Model) -> Self {
        Self {
            scope: Scoped::system(m.organization_id, "an export read through its organization"),
            requested_by_id: m.requested_by,
            stored: m.storage_key.is_some(),
            id: m.id.into(),
            subject_type: Stored::from_db(&m.subject_type),
            subject_id: m.subject_id.into(),
            status: Stored::from_db(&m.status),
            size_bytes: m.size_bytes,
            message: m.message,
            created_at: utc(m.created_at),
            completed_at: utc_opt(m.completed_at),
            expires_at: utc_opt(m.expires_at),
        }
    }
}

#[ComplexObject]
impl PersonalDataExport {
    /// The member who asked for it.
    async fn requested_by(&self, ctx: &Context<'_>) -> Res<crate::graphql::fast::Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.requested_by_id, "user").await
    }

    /// A signed link to the bundle (valid for minutes, never past `expiresAt`); `null` until
    /// it is built and after it expires.
    async fn download_url(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        let Some(until) = self.expires_at.filter(|t| *t > Utc::now()) else {
            return Ok(None);
        };
        if !self.stored {
            return Ok(None);
        }
        let id: uuid::Uuid = self.id.parse()?;
        let org = self.scope.organization_id();
        Ok(Some(ctx.data::<Links>()?.sign_export(org, id, until)))
    }
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// A personal-data export: the requester's own, or any of the organization's for an admin.
    async fn personal_data_export(&self, ctx: &Context<'_>, id: ID) -> Res<PersonalDataExport> {
        let id = parse_id(&id, "id")?;
        Ok(svc::get(ctx.db(), ctx.actor()?, id).await?.into())
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Queues a bundle of a member's data: your own (no `userId`), or any member's (admins).
    /// Poll `personalDataExport`; a notification says when it is ready.
    async fn export_personal_data(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> Res<PersonalDataExport> {
        let actor = ctx.actor()?;
        let user = opt_id(user_id.as_ref(), "userId")?.unwrap_or(actor.user_id);
        let row = svc::request_export(ctx.store(), actor, PersonalDataSubject::User, user).await?;
        Ok(row.into())
    }

    /// Admins: queues a bundle of a contact's data (a contact is a person too).
    async fn export_contact_data(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
    ) -> Res<PersonalDataExport> {
        let id = parse_id(&contact_id, "contactId")?;
        let row = svc::request_export(ctx.store(), ctx.actor()?, PersonalDataSubject::Contact, id)
            .await?;
        Ok(row.into())
    }

    /// Admins: anonymizes a member everywhere (profile, sessions ended, notifications,
    /// private media, audit snapshots, analytics IP and user agent), keeping their records so
    /// counts stay right. Not yourself, not the last active admin. Idempotent.
    async fn erase_personal_data(&self, ctx: &Context<'_>, user_id: ID) -> Res<User> {
        let id = parse_id(&user_id, "userId")?;
        let storage = ctx.data::<Storage>()?;
        Ok(svc::erase_user(ctx.store(), storage, ctx.actor()?, id)
            .await?
            .into())
    }

    /// Admins: anonymizes a contact (personal columns, the free text of interactions with
    /// them, private media about them, audit snapshots), keeping the contact and its
    /// interactions so counts and reports stay right. Idempotent.
    async fn erase_contact(&self, ctx: &Context<'_>, id: ID) -> Res<Contact> {
        let id = parse_id(&id, "id")?;
        let storage = ctx.data::<Storage>()?;
        Ok(svc::erase_contact(ctx.store(), storage, ctx.actor()?, id)
            .await?
            .into())
    }
}
