//! CSV import of contacts (`importContacts`): the uploaded file is staged in storage and an
//! `import_runs` row queued with its job in one transaction; the job (`jobs::kinds::ImportContacts`)
//! reads the file, maps its header, checks every row with `createContact`'s own checks
//! (`contacts::draft` / `contacts::revise`) and writes batches of `BATCH` rows, each batch in
//! one transaction together with the run's counters. A retried job therefore resumes exactly
//! after the last committed batch (`rows_done`), and the report always says what was written.
//!
//! Rows are matched to live contacts by e-mail within the organization (e-mails are stored
//! lower-case); a second row with the same e-mail in one file is a duplicate of the first.
//! `SKIP` leaves the match alone, `UPDATE` changes the columns the row fills (an empty cell
//! leaves a column as it is; `contactType` moves only through `convertContact`). The run writes
//! one audit row (not one per contact) and notifies the member who started it. Imported contacts
//! are not announced to webhooks one by one.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::TryStreamExt;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::contacts::{self, ContactPatch};
use super::notifications::NewNotification;
use super::work::{Store, Work};
use super::{Actor, Change, now};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::scoped::Scoped;
use crate::domain::enums::{
    ContactPriority, ContactStatus, ContactType, DbEnum, DuplicateAction, ImportStatus,
    NotificationType,
};
use crate::entities::{contacts as contact_rows, import_runs, users};
use crate::error::AppError;
use crate::realtime::Broker;
use crate::storage::Storage;

/// Rows per transaction.
pub const BATCH: usize = 500;
/// Row errors kept in a run's report (all are counted in `failed`).
pub const MAX_ERRORS: usize = 1000;

/// The contact fields a column can fill, by their GraphQL names.
const FIELDS: [&str; 17] = [
    "firstName",
    "lastName",
    "fullName",
    "email",
    "phone",
    "company",
    "jobTitle",
    "linkedinUrl",
    "bio",
    "contactType",
    "status",
    "priority",
    "businessType",
    "networkType",
    "industry",
    "leadScore",
    "notes",
];

/// Header names (lower-case, letters and digits only) and the field each means.
const ALIASES: [(&str, &str); 40] = [
    ("firstname", "firstName"),
    ("first", "firstName"),
    ("givenname", "firstName"),
    ("forename", "firstName"),
    ("lastname", "lastName"),
    ("last", "lastName"),
    ("surname", "lastName"),
    ("familyname", "lastName"),
    ("name", "fullName"),
    ("fullname", "fullName"),
    ("email", "email"),
    ("emailaddress", "email"),
    ("mail", "email"),
    ("phone", "phone"),
    ("phonenumber", "phone"),
    ("mobile", "phone"),
    ("telephone", "phone"),
    ("company", "company"),
    ("companyname", "company"),
    ("organization", "company"),
    ("organisation", "company"),
    ("jobtitle", "jobTitle"),
    ("title", "jobTitle"),
    ("position", "jobTitle"),
    ("linkedin", "linkedinUrl"),
    ("linkedinurl", "linkedinUrl"),
    ("bio", "bio"),
    ("contacttype", "contactType"),
    ("type", "contactType"),
    ("status", "status"),
    ("priority", "priority"),
    ("businesstype", "businessType"),
    ("networktype", "networkType"),
    ("industry", "industry"),
    ("leadscore", "leadScore"),
    ("score", "leadScore"),
    ("notes", "notes"),
    ("note", "notes"),
    ("comments", "notes"),
    ("description", "notes"),
];

fn normal(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// One refused row of a run's report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    pub field: Option<String>,
    pub message: String,
}

/// Checks `mapping` (`{"Header in the file": "fieldName" | null}`): known fields only.
pub fn check_mapping(mapping: &Value) -> Result<(), AppError> {
    let Value::Object(m) = mapping else {
        return Err(AppError::bad_input(
            "mapping",
            "must be an object of header -> field name (or null to ignore the column)",
        ));
    };
    for (header, field) in m {
        match field {
            Value::Null => {}
            Value::String(f) if FIELDS.contains(&f.as_str()) => {}
            other => {
                return Err(AppError::bad_input(
                    "mapping",
                    format!(
                        "{header:?} maps to {other}, which is not one of {}",
                        FIELDS.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Which field each column fills (`None`: ignored), from the aliases and `mapping`.
fn columns(
    header: &csv::StringRecord,
    mapping: &Value,
) -> Result<Vec<Option<&'static str>>, String> {
    let given: HashMap<String, Option<&str>> = mapping
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.trim().to_lowercase(), v.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(header.len());
    for h in header {
        let field = match given.get(&h.trim().to_lowercase()) {
            Some(Some(f)) => FIELDS.iter().copied().find(|x| x == f),
            Some(None) => None,
            None => {
                let n = normal(h);
                ALIASES.iter().find(|(a, _)| *a == n).map(|(_, f)| *f)
            }
        };
        if let Some(f) = field
            && out.contains(&Some(f))
        {
            return Err(format!(
                "two columns fill {f} (the second is {h:?}): map one of them to null in `mapping`"
            ));
        }
        out.push(field);
    }
    if !out.contains(&Some("email")) {
        if header.len() == 1 && [';', '\t', '|'].iter().any(|d| header[0].contains(*d)) {
            return Err(
                "the header is a single column: the file must be comma-separated (save it as \"CSV UTF-8 (comma delimited)\")".into(),
            );
        }
        return Err(
            "no e-mail column: rows are matched by e-mail, so the header needs `email` (or `e-mail`, `email address`), or `mapping` naming one".into(),
        );
    }
    Ok(out)
}

/// A cell quoted in a message, cut to 60 characters (a report keeps up to 1,000 of them).
fn quoted(v: &str) -> String {
    let cut: String = v.chars().take(60).collect();
    if cut.len() < v.len() {
        format!("{:?}...", cut)
    } else {
        format!("{v:?}")
    }
}

fn enumeration<T: DbEnum + std::str::FromStr>(field: &str, v: &str) -> Result<T, AppError> {
    let key = v.trim().to_lowercase().replace([' ', '-'], "_");
    key.parse().map_err(|_| {
        let allowed: Vec<String> = T::ALL.iter().map(|t| t.as_str().to_uppercase()).collect();
        AppError::bad_input(field, format!("{v:?} is not one of {}", allowed.join(", ")))
    })
}

/// A row's cells as a contact patch (empty cells fill nothing), its type, and its e-mail.
fn patch_of(
    cols: &[Option<&'static str>],
    record: &csv::StringRecord,
) -> Result<(ContactPatch, Option<ContactType>, String), AppError> {
    let mut p = ContactPatch::default();
    let mut kind = None;
    let mut email = None;
    for (cell, field) in record.iter().zip(cols) {
        let (Some(field), v) = (field, cell.trim()) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let text = || Change::Set(v.to_owned());
        match *field {
            "firstName" => p.first_name = Some(v.to_owned()),
            "lastName" => p.last_name = Some(v.to_owned()),
            "fullName" => match v.split_once(char::is_whitespace) {
                Some((first, last)) => {
                    p.first_name.get_or_insert_with(|| first.trim().to_owned());
                    p.last_name.get_or_insert_with(|| last.trim().to_owned());
                }
                None => {
                    return Err(AppError::bad_input(
                        "fullName",
                        "needs a first and a last name",
                    ));
                }
            },
            "email" => email = Some(super::validate::email("email", v)?),
            "phone" => p.phone = text(),
            "company" => p.company = text(),
            "jobTitle" => p.job_title = text(),
            "linkedinUrl" => p.linkedin_url = text(),
            "bio" => p.bio = text(),
            "contactType" => kind = Some(enumeration::<ContactType>(field, v)?),
            "status" => p.status = Some(enumeration::<ContactStatus>(field, v)?),
            "priority" => p.priority = Some(enumeration::<ContactPriority>(field, v)?),
            "businessType" => p.business_type = text(),
            "networkType" => p.network_type = text(),
            "industry" => p.industry = text(),
            "leadScore" => {
                p.lead_score = Some(v.parse().map_err(|_| {
                    AppError::bad_input("leadScore", format!("{} is not a whole number", quoted(v)))
                })?)
            }
            "notes" => p.notes = text(),
            _ => {}
        }
    }
    let Some(email) = email else {
        return Err(AppError::bad_input(
            "email",
            "is required: rows are matched by e-mail",
        ));
    };
    p.email = Change::Set(email.clone());
    Ok((p, kind, email))
}

fn row_error(row: u64, e: AppError) -> RowError {
    match e {
        AppError::BadUserInput { message, field } => RowError {
            row,
            field,
            message,
        },
        other => RowError {
            row,
            field: None,
            message: other.public_message(),
        },
    }
}

/// Where a run's file is staged.
pub fn staged_key(org: Uuid, run: Uuid) -> String {
    format!("imports/{org}/{run}.csv")
}

/// The options of `importContacts`.
#[derive(Clone, Debug)]
pub struct Options {
    pub dry_run: bool,
    pub on_duplicate: DuplicateAction,
    pub mapping: Option<Value>,
}

/// Stages the file and queues its run (QUEUED); the job does the rest.
pub async fn start(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    file_name: String,
    file: std::fs::File,
    options: Options,
) -> Result<import_runs::Model, AppError> {
    let mapping = options.mapping.unwrap_or_else(|| json!({}));
    check_mapping(&mapping)?;
    let size = file
        .metadata()
        .map_err(|e| AppError::Internal(format!("the spooled upload: {e}")))?
        .len();
    if size == 0 {
        return Err(AppError::bad_input("file", "the file is empty"));
    }
    let id = Uuid::new_v4();
    let key = staged_key(actor.organization_id, id);
    let chunks = super::media::file_chunks(tokio::fs::File::from_std(file));
    storage
        .put_stream(&key, chunks)
        .await
        .map_err(|e| AppError::Internal(format!("staging an import: {e}")))?;
    let t = now();
    let name: String = file_name.chars().take(255).collect();
    let queued = async {
        let mut w = Work::begin(store, actor).await?;
        let row = import_runs::ActiveModel {
            id: Set(id),
            organization_id: Set(actor.organization_id),
            created_by: Set(actor.user_id),
            kind: Set("contacts".into()),
            status: Set(ImportStatus::Queued.as_str().into()),
            dry_run: Set(options.dry_run),
            on_duplicate: Set(options.on_duplicate.as_str().into()),
            mapping: Set(mapping),
            file_name: Set(Some(name)),
            storage_key: Set(Some(key.clone())),
            total: Set(0),
            rows_done: Set(0),
            created: Set(0),
            updated: Set(0),
            skipped: Set(0),
            failed: Set(0),
            errors: Set(json!([])),
            message: Set(None),
            started_at: Set(None),
            finished_at: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(&w.txn)
        .await?;
        let job = crate::jobs::kinds::ImportContacts {
            organization_id: actor.organization_id,
            run_id: id,
        };
        crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
        w.commit().await?;
        Ok::<_, AppError>(row)
    }
    .await;
    if queued.is_err() {
        let _ = storage.delete(&key).await;
    }
    queued
}

/// Newest first.
fn keyset() -> Keyset<import_runs::Entity> {
    Keyset {
        name: "created_at desc",
        sort: import_runs::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: import_runs::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// The runs the actor may see: their own, or all of the organization's for an admin.
fn visible(actor: &Actor) -> sea_orm::Select<import_runs::Entity> {
    let q = actor.scope().find::<import_runs::Entity>();
    if actor.is_admin {
        q
    } else {
        q.filter(import_runs::Column::CreatedBy.eq(actor.user_id))
    }
}

pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<import_runs::Model, AppError> {
    visible(actor)
        .filter(import_runs::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such import run".into()))
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    args: &PageArgs,
) -> Result<Page<import_runs::Model>, AppError> {
    paginate(db, visible(actor), &keyset(), args).await
}

/// A run's report as stored.
pub fn errors_of(row: &import_runs::Model) -> Vec<RowError> {
    serde_json::from_value(row.errors.clone()).unwrap_or_default()
}

/// Ends a run as FAILED with `message` (the counters stay: they say what was written), removes
/// its file and tells the member who started it. Nothing happens to a run already ended.
pub async fn fail(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    storage: &Storage,
    scope: Scoped,
    run_id: Uuid,
    message: &str,
) -> Result<(), AppError> {
    let Some(run) = open_run(db, scope, run_id).await? else {
        return Ok(());
    };
    let actor = writer(scope, run.created_by);
    let mut w = Work::begin(Store { db, broker }, &actor).await?;
    let t = now();
    let written = run.created + run.updated;
    let mut a: import_runs::ActiveModel = run.clone().into();
    a.status = Set(ImportStatus::Failed.as_str().into());
    a.storage_key = Set(None);
    a.message = Set(Some(message.to_owned()));
    a.finished_at = Set(Some(t));
    a.updated_at = Set(t);
    a.update(&w.txn).await?;
    let mut text = format!("{}: {message}.", file_label(&run));
    if written > 0 && !run.dry_run {
        text.push_str(&format!(
            " {written} row(s) were written before it stopped (see the run)."
        ));
    }
    w.notify(vec![NewNotification::new(
        run.created_by,
        NotificationType::Error,
        "Import failed",
        text,
        json!({ "importRunId": run.id }),
    )])
    .await?;
    w.commit().await?;
    if let Some(key) = &run.storage_key {
        let _ = storage.delete(key).await;
    }
    Ok(())
}

/// The run, unless it is gone or has already ended (a job may run twice).
async fn open_run(
    db: &DatabaseConnection,
    scope: Scoped,
    run_id: Uuid,
) -> Result<Option<import_runs::Model>, AppError> {
    let run = scope.by_id::<import_runs::Entity>(run_id).one(db).await?;
    Ok(run.filter(|r| !ended(r)))
}

fn ended(run: &import_runs::Model) -> bool {
    run.status == ImportStatus::Completed.as_str() || run.status == ImportStatus::Failed.as_str()
}

fn file_label(run: &import_runs::Model) -> String {
    format!("Import of {}", run.file_name.as_deref().unwrap_or("a file"))
}

/// The run's writer: the member who started it (their id on every contact and audit row).
fn writer(scope: Scoped, user_id: Uuid) -> Actor {
    Actor {
        user_id,
        organization_id: scope.organization_id(),
        is_admin: false,
        session_id: Uuid::nil(),
        meta: Default::default(),
        two_factor_setup: false,
    }
}

/// Reads the whole staged file (at most the upload limit) as text without a BOM.
async fn text_of(storage: &Storage, key: &str) -> Result<Result<String, String>, AppError> {
    let download = match storage.get(key).await {
        Ok(d) => d,
        Err(crate::storage::StorageError::NotFound(_)) => {
            return Ok(Err("the uploaded file is no longer there".into()));
        }
        Err(e) => return Err(AppError::Internal(format!("reading an import: {e}"))),
    };
    let chunks: Vec<Bytes> = download
        .bytes
        .try_collect()
        .await
        .map_err(|e| AppError::Internal(format!("reading an import: {e}")))?;
    let bytes = chunks.concat();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.contains(&0) {
        return Ok(Err(
            "the file is not CSV text (it holds binary data): save it as \"CSV UTF-8\"".into(),
        ));
    }
    Ok(String::from_utf8(bytes.to_vec()).map_err(|e| {
        format!(
            "the file is not UTF-8 text (a byte at offset {} is not): save it as \"CSV UTF-8\"",
            e.utf8_error().valid_up_to()
        )
    }))
}

/// One import job run: reads, checks and writes the run's rows from `rows_done` on.
pub async fn run(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    storage: &Storage,
    scope: Scoped,
    run_id: Uuid,
) -> Result<(), AppError> {
    let Some(run) = open_run(db, scope, run_id).await? else {
        return Ok(());
    };
    let stop = async |why: &str| fail(db, broker, storage, scope, run_id, why).await;
    let active = scope
        .live::<users::Entity>()
        .filter(users::Column::Id.eq(run.created_by))
        .filter(users::Column::IsActive.eq(true))
        .one(db)
        .await?
        .is_some();
    if !active {
        return stop("the member who started it is no longer active").await;
    }
    let Some(key) = run.storage_key.clone() else {
        return stop("the run has no file").await;
    };
    let text = match text_of(storage, &key).await? {
        Ok(t) => t,
        Err(why) => return stop(&why).await,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return stop(&format!("the header cannot be read: {e}")).await,
    };
    let cols = match columns(&header, &run.mapping) {
        Ok(c) => c,
        Err(why) => return stop(&why).await,
    };
    let total = csv::ReaderBuilder::new()
        .from_reader(text.as_bytes())
        .records()
        .count();
    let total = i32::try_from(total).unwrap_or(i32::MAX);
    // A dry run writes nothing but its report, so a retried one starts over.
    let resume = if run.dry_run {
        0
    } else {
        run.rows_done.max(0) as usize
    };
    let mut progress = Progress::of(&run, resume == 0);
    {
        let t = now();
        let mut a: import_runs::ActiveModel = run.clone().into();
        a.status = Set(ImportStatus::Running.as_str().into());
        a.total = Set(total);
        a.started_at = Set(Some(run.started_at.unwrap_or(t)));
        a.updated_at = Set(t);
        if resume == 0 {
            progress.write(&mut a);
        }
        a.update(db).await?;
    }
    let actor = writer(scope, run.created_by);
    let policy: DuplicateAction = run.on_duplicate.parse().map_err(|_| {
        AppError::Internal(format!("run {run_id}: on_duplicate {:?}", run.on_duplicate))
    })?;
    let mut seen: HashMap<String, Uuid> = HashMap::new();
    let mut batch: Vec<(u64, csv::StringRecord)> = Vec::with_capacity(BATCH);
    // A row is numbered as a spreadsheet numbers it: the header is row 1.
    let mut records = reader
        .into_records()
        .enumerate()
        .skip(resume)
        .map(|(i, r)| (i as u64 + 2, r));
    let mut done = resume;
    // What the run's row says was done (a batch continues only from there).
    let mut committed = resume;
    loop {
        batch.clear();
        for (row, r) in records.by_ref() {
            match r {
                Ok(rec) => batch.push((row, rec)),
                Err(e) => {
                    progress.refuse(RowError {
                        row,
                        field: None,
                        message: format!("unreadable row: {e}"),
                    });
                    done += 1;
                    continue;
                }
            }
            if batch.len() == BATCH {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        done += batch.len();
        let store = Store { db, broker };
        write_batch(
            store,
            &actor,
            &run,
            policy,
            &cols,
            header.len(),
            &batch,
            &mut seen,
            &mut progress,
            (committed, done),
        )
        .await?;
        committed = done;
    }
    finish(Store { db, broker }, storage, &actor, &run, progress, done).await
}

/// The counters and report of a run, carried from batch to batch.
struct Progress {
    created: i32,
    updated: i32,
    skipped: i32,
    failed: i32,
    errors: Vec<RowError>,
}

impl Progress {
    fn of(run: &import_runs::Model, fresh: bool) -> Self {
        if fresh {
            return Self {
                created: 0,
                updated: 0,
                skipped: 0,
                failed: 0,
                errors: Vec::new(),
            };
        }
        Self {
            created: run.created,
            updated: run.updated,
            skipped: run.skipped,
            failed: run.failed,
            errors: errors_of(run),
        }
    }

    /// Counts a refused row; its error is kept while the report has room (`keep_first`).
    fn refuse(&mut self, e: RowError) {
        self.failed += 1;
        self.errors.push(e);
    }

    /// The report's first `MAX_ERRORS` errors by row, whatever order they were found in.
    fn keep_first(&mut self) {
        self.errors.sort_by_key(|e| e.row);
        self.errors.truncate(MAX_ERRORS);
    }

    fn write(&mut self, a: &mut import_runs::ActiveModel) {
        self.keep_first();
        a.created = Set(self.created);
        a.updated = Set(self.updated);
        a.skipped = Set(self.skipped);
        a.failed = Set(self.failed);
        a.errors = Set(serde_json::to_value(&self.errors).unwrap_or_else(|_| json!([])));
    }
}

/// Checks and writes one batch, with the run's counters, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn write_batch(
    store: Store<'_>,
    actor: &Actor,
    run: &import_runs::Model,
    policy: DuplicateAction,
    cols: &[Option<&'static str>],
    width: usize,
    batch: &[(u64, csv::StringRecord)],
    seen: &mut HashMap<String, Uuid>,
    progress: &mut Progress,
    (from, done): (usize, usize),
) -> Result<(), AppError> {
    let mut rows = Vec::with_capacity(batch.len());
    for (line, rec) in batch {
        if rec.len() != width {
            progress.refuse(RowError {
                row: *line,
                field: None,
                message: format!("has {} fields, the header has {width}", rec.len()),
            });
            continue;
        }
        match patch_of(cols, rec) {
            Ok(p) => rows.push((*line, p)),
            Err(e) => progress.refuse(row_error(*line, e)),
        }
    }
    let w = Work::begin(store, actor).await?;
    // The organization's live contacts with these e-mails, oldest first (the first one wins).
    let emails: Vec<&str> = rows
        .iter()
        .map(|(_, (_, _, e))| e.as_str())
        .filter(|e| !seen.contains_key(*e))
        .collect();
    let mut existing: HashMap<String, contact_rows::Model> = HashMap::new();
    for chunk in emails.chunks(BATCH) {
        // Locked until this batch commits: an erasure or an edit in between is not overwritten.
        let matches = actor
            .scope()
            .live::<contact_rows::Entity>()
            .filter(contact_rows::Column::Email.is_in(chunk.iter().copied()))
            .order_by_asc(contact_rows::Column::CreatedAt);
        let found = w
            .lock(matches, sea_orm::sea_query::LockType::Update)
            .all(&w.txn)
            .await?;
        for c in found {
            if let Some(e) = c.email.clone() {
                existing.entry(e).or_insert(c);
            }
        }
    }
    let mut inserts = Vec::new();
    for (line, (patch, kind, email)) in rows {
        let matched = seen
            .get(&email)
            .copied()
            .or_else(|| existing.get(&email).map(|c| c.id));
        match (matched, policy) {
            (None, _) => match contacts::draft(actor.organization_id, actor.user_id, kind, patch) {
                Ok(a) => {
                    seen.insert(email, a.id.clone().unwrap());
                    progress.created += 1;
                    if !run.dry_run {
                        inserts.push(a);
                    }
                }
                Err(e) => progress.refuse(row_error(line, e)),
            },
            (Some(_), DuplicateAction::Skip) => progress.skipped += 1,
            (Some(id), DuplicateAction::Update) => {
                // Only the cells the row fills are written, so an older copy of the row is
                // as good as a fresh one.
                let old = match existing.get(&email) {
                    Some(c) => Some(c.clone()),
                    // Created earlier by this run: in the database once pending rows are in
                    // (a dry run wrote nothing, so its cells were checked when it was created).
                    None if !run.dry_run => {
                        flush(&w.txn, &mut inserts).await?;
                        actor
                            .scope()
                            .live_by_id::<contact_rows::Entity>(id)
                            .one(&w.txn)
                            .await?
                    }
                    None => None,
                };
                let checked = match old {
                    Some(old) => contacts::revise(old, actor.user_id, patch).map(Some),
                    None => Ok(None),
                };
                match checked {
                    Ok(a) => {
                        progress.updated += 1;
                        if let Some(a) = a
                            && !run.dry_run
                        {
                            a.update(&w.txn).await?;
                        }
                    }
                    Err(e) => progress.refuse(row_error(line, e)),
                }
            }
        }
    }
    flush(&w.txn, &mut inserts).await?;
    let t = now();
    let mut a: import_runs::ActiveModel = run.clone().into();
    progress.write(&mut a);
    a.rows_done = Set(i32::try_from(done).unwrap_or(i32::MAX));
    a.updated_at = Set(t);
    // Only from where this worker started the batch: a second worker running the same run (a
    // lost lease) that got here first makes this batch roll back instead of writing twice.
    let moved = actor
        .scope()
        .update_many::<import_runs::Entity>()
        .set(a)
        .filter(import_runs::Column::Id.eq(run.id))
        .filter(import_runs::Column::RowsDone.eq(i32::try_from(from).unwrap_or(i32::MAX)))
        .exec(&w.txn)
        .await?;
    if moved.rows_affected != 1 {
        return Err(AppError::Conflict {
            message: format!("import run {}: another worker wrote this batch", run.id),
            field: None,
        });
    }
    w.commit().await
}

/// Inserts the pending new contacts, 100 per statement (20 columns each stays below SQLite's
/// parameter limit).
async fn flush(
    txn: &sea_orm::DatabaseTransaction,
    pending: &mut Vec<contact_rows::ActiveModel>,
) -> Result<(), AppError> {
    for chunk in pending.chunks(100) {
        contact_rows::Entity::insert_many(chunk.to_vec())
            .exec(txn)
            .await?;
    }
    pending.clear();
    Ok(())
}

/// Ends a run: COMPLETED, one audit row for the run (unless a dry run), a notification, the
/// file removed.
async fn finish(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    run: &import_runs::Model,
    mut progress: Progress,
    done: usize,
) -> Result<(), AppError> {
    let mut w = Work::begin(store, actor).await?;
    let t = now();
    let mut a: import_runs::ActiveModel = run.clone().into();
    progress.write(&mut a);
    a.rows_done = Set(i32::try_from(done).unwrap_or(i32::MAX));
    a.status = Set(ImportStatus::Completed.as_str().into());
    a.storage_key = Set(None);
    a.finished_at = Set(Some(t));
    a.updated_at = Set(t);
    let row = a.update(&w.txn).await?;
    let summary = format!(
        "{} created, {} updated, {} skipped, {} failed",
        row.created, row.updated, row.skipped, row.failed
    );
    if !run.dry_run {
        let new = json!({
            "kind": "contacts", "file_name": row.file_name, "total": row.total,
            "created": row.created, "updated": row.updated, "skipped": row.skipped, "failed": row.failed,
        });
        super::audit::change(&w.txn, actor, "import_runs", run.id, None, Some(&new)).await?;
    }
    let (kind, title) = match (row.failed > 0, run.dry_run) {
        (_, true) => (NotificationType::Info, "Import checked (dry run)"),
        (true, false) => (NotificationType::Warning, "Import finished with errors"),
        (false, false) => (NotificationType::Success, "Import finished"),
    };
    w.notify(vec![NewNotification::new(
        run.created_by,
        kind,
        title,
        format!("{}: {summary}.", file_label(run)),
        json!({ "importRunId": run.id }),
    )])
    .await?;
    w.commit().await?;
    if let Some(key) = &run.storage_key {
        let _ = storage.delete(key).await;
    }
    Ok(())
}
