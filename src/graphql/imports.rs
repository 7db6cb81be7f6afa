//! CSV import of contacts: `importContacts` queues a run; `importRun`/`importRuns` poll it.

use async_graphql::{ComplexObject, Context, ID, Json, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use crate::db::scoped::Scoped;
use crate::domain::enums::{DuplicateAction, ImportStatus, Stored};
use crate::entities::import_runs;
use crate::error::AppError;
use crate::graphql::args::{page, parse_id};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};
use crate::graphql::types::{User, related};
use crate::services::imports::{self as svc, Options, RowError};
use crate::storage::Storage;

type Res<T> = async_graphql::Result<T>;

/// One refused row of an import.
#[derive(Clone, Debug, SimpleObject)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    /// The contact field at fault (GraphQL name), when one is.
    pub field: Option<String>,
    pub message: String,
}

impl From<RowError> for ImportRowError {
    fn from(e: RowError) -> Self {
        Self {
            row: e.row,
            field: e.field,
            message: e.message,
        }
    }
}

/// A CSV import of contacts and its report. The counters grow batch by batch while it runs;
/// `created + updated + skipped + failed` is the rows read so far.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct ImportRun {
    #[graphql(skip)]
    scope: Scoped,
    #[graphql(skip)]
    created_by_id: uuid::Uuid,
    pub id: ID,
    pub status: Stored<ImportStatus>,
    /// A dry run checks every row and counts what it would do, and writes nothing.
    pub dry_run: bool,
    pub on_duplicate: Stored<DuplicateAction>,
    pub file_name: Option<String>,
    /// Data rows in the file (known once the run has started).
    pub total: i32,
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
    /// The first 1,000 refused rows (`failed` counts them all).
    pub errors: Vec<ImportRowError>,
    /// Why the run FAILED (a malformed file, the file gone...); the counters still say what
    /// was written before it stopped.
    pub message: Option<String>,
    /// The header mapping given (`{"Header": "fieldName" | null}`).
    pub mapping: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<import_runs::Model> for ImportRun {
    fn from(m: import_runs::Model) -> Self {
        let errors = svc::errors_of(&m).into_iter().map(Into::into).collect();
        Self {
            scope: Scoped::system(m.organization_id, "a run read through its organization"),
            created_by_id: m.created_by,
            id: m.id.into(),
            status: Stored::from_db(&m.status),
            dry_run: m.dry_run,
            on_duplicate: Stored::from_db(&m.on_duplicate),
            file_name: m.file_name,
            total: m.total,
            created: m.created,
            updated: m.updated,
            skipped: m.skipped,
            failed: m.failed,
            errors,
            message: m.message,
            mapping: Json(m.mapping),
            created_at: utc(m.created_at),
            started_at: utc_opt(m.started_at),
            finished_at: utc_opt(m.finished_at),
        }
    }
}

#[ComplexObject]
impl ImportRun {
    /// The member who started it (contacts it creates are theirs).
    async fn created_by(&self, ctx: &Context<'_>) -> Res<crate::graphql::fast::Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.created_by_id, "user").await
    }
}

#[derive(Default)]
pub struct ImportsQuery;

#[Object]
impl ImportsQuery {
    /// One import run: the caller's own, or any of the organization's for an admin.
    async fn import_run(&self, ctx: &Context<'_>, id: ID) -> Res<ImportRun> {
        let id = parse_id(&id, "id")?;
        Ok(svc::get(ctx.db(), ctx.actor()?, id).await?.into())
    }

    /// Import runs, newest first: the caller's own, or all of the organization's for an admin.
    async fn import_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<ImportRun>> {
        let args = page(first, after, last, before);
        let p = svc::list(ctx.db(), ctx.actor()?, &args).await?;
        Ok(Connection::from_page(p))
    }
}

#[derive(Default)]
pub struct ImportsMutation;

#[Object]
impl ImportsMutation {
    /// Imports contacts from a CSV file (GraphQL multipart request; UTF-8, with or without a
    /// BOM, comma-separated, a header row). Runs as a job: poll the returned run. Columns are
    /// found by header name, case-insensitively, with aliases (`First Name`, `surname`,
    /// `E-mail`, `Company`, `Title`, `Lead Score`, `Name` split into first and last...);
    /// `mapping` (`{"Header": "fieldName" | null}`) names or ignores columns explicitly. Every
    /// row is checked as `createContact` checks it and matched by e-mail within the
    /// organization: `onDuplicate` SKIP (default) leaves a match alone, UPDATE changes the
    /// columns the row fills.
    async fn import_contacts(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        #[graphql(default_with = "Some(false)")] dry_run: Option<bool>,
        #[graphql(default_with = "Some(DuplicateAction::Skip)")] on_duplicate: Option<
            DuplicateAction,
        >,
        mapping: Option<Json<serde_json::Value>>,
    ) -> Res<ImportRun> {
        let actor = ctx.actor()?;
        let value = file
            .value(ctx)
            .map_err(|e| AppError::bad_input("file", format!("the upload is unreadable: {e}")))?;
        let options = Options {
            dry_run: dry_run.unwrap_or(false),
            on_duplicate: on_duplicate.unwrap_or(DuplicateAction::Skip),
            mapping: mapping.map(|m| m.0),
        };
        let storage = ctx.data::<Storage>()?;
        let run = svc::start(
            ctx.store(),
            storage,
            actor,
            value.filename,
            value.content,
            options,
        )
        .await?;
        Ok(run.into())
    }
}

impl crate::graphql::fast::FastObject for ImportRun {}
