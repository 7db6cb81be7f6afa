//! Media: files in object storage, metadata in `media`. An upload is sniffed by its bytes
//! (the allow-list below), stored, then recorded with its audit row; if anything after the
//! store fails, the stored bytes are removed, so a refused upload leaves nothing behind.
//! Images get THUMBNAIL and MEDIUM variants from a background job (`MakeVariants`).
//!
//! Who sees what: PUBLIC and ORGANIZATION items every member; PRIVATE items their uploader and
//! admins. Anyone holding a signed link (`Links`) downloads that one variant until it expires.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, Order, QueryFilter, Select,
};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::validate::{self, Text::Plain, set_text};
use super::work::{Store, Work, missing};
use super::{Actor, Change, now};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::scoped::Scoped;
use crate::domain::enums::{DbEnum, MediaAccessLevel, MediaStatus, MediaType};
use crate::entities::{contacts, events, media};
use crate::error::AppError;
use crate::storage::Storage;

/// The stored forms of a media item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The bytes as uploaded.
    Original,
    /// Images: at most 1024 px on the longest side.
    Medium,
    /// Images: at most 256 px on the longest side.
    Thumbnail,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Medium => "medium",
            Variant::Thumbnail => "thumbnail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Variant::Original, Variant::Medium, Variant::Thumbnail]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// The longest side of a derived image variant.
    pub fn longest_side(self) -> Option<u32> {
        match self {
            Variant::Original => None,
            Variant::Medium => Some(1024),
            Variant::Thumbnail => Some(256),
        }
    }
}

/// Where a variant's bytes are: `media/<organization>/<id>/<variant>`.
pub fn key(row: &media::Model, variant: Variant) -> String {
    key_of(row.organization_id, row.id, variant)
}

fn key_of(organization_id: Uuid, id: Uuid, variant: Variant) -> String {
    format!("media/{organization_id}/{id}/{}", variant.as_str())
}

/// Where a direct upload's bytes wait for `completeUpload`: `uploads/<organization>/<id>`.
/// Never read by a download: completion copies them to the original's key after checking
/// them, so a `PUT` replayed later changes nothing anyone sees.
pub fn staging_key(organization_id: Uuid, id: Uuid) -> String {
    format!("uploads/{organization_id}/{id}")
}

/// A new item of the caller's, before its patch: images PROCESSING, anything else READY.
fn new_row(
    actor: &Actor,
    id: Uuid,
    raw_name: &str,
    mime: &str,
    media_type: MediaType,
    size: u64,
) -> media::ActiveModel {
    let file_name = file_name(raw_name);
    let t = now();
    let status = if media_type == MediaType::Image {
        MediaStatus::Processing
    } else {
        MediaStatus::Ready
    };
    media::ActiveModel {
        id: Set(id),
        organization_id: Set(actor.organization_id),
        uploaded_by: Set(actor.user_id),
        title: Set(file_name.clone()),
        file_name: Set(file_name),
        file_path: Set(key_of(actor.organization_id, id, Variant::Original)),
        file_url: Set(None),
        media_type: Set(media_type.as_str().into()),
        mime_type: Set(mime.into()),
        file_size: Set(i64::try_from(size).unwrap_or(i64::MAX)),
        metadata: Set(json!({})),
        status: Set(status.as_str().into()),
        access_level: Set(MediaAccessLevel::Organization.as_str().into()),
        tags: Set(json!([])),
        created_at: Set(t),
        updated_at: Set(t),
        is_deleted: Set(false),
        upload_expires_at: Set(None),
        ..Default::default()
    }
}

/// The types an upload may be, as sniffed from its bytes: (MIME type, media type). Nothing a
/// browser would run (HTML, SVG, XML, scripts) is here.
const ALLOWED: &[(&str, MediaType)] = &[
    ("image/jpeg", MediaType::Image),
    ("image/png", MediaType::Image),
    ("image/gif", MediaType::Image),
    ("image/webp", MediaType::Image),
    ("application/pdf", MediaType::Document),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaType::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaType::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        MediaType::Document,
    ),
    ("text/plain", MediaType::Document),
    ("text/csv", MediaType::Document),
    ("video/mp4", MediaType::Video),
    ("video/webm", MediaType::Video),
    ("video/quicktime", MediaType::Video),
    ("audio/mpeg", MediaType::Audio),
    ("audio/x-wav", MediaType::Audio),
    ("audio/ogg", MediaType::Audio),
    ("audio/m4a", MediaType::Audio),
    ("audio/x-flac", MediaType::Audio),
];

/// Other names clients give the same types.
fn canonical(mime: &str) -> &str {
    match mime {
        "image/jpg" | "image/pjpeg" => "image/jpeg",
        "audio/wav" | "audio/wave" | "audio/vnd.wave" => "audio/x-wav",
        "audio/mp3" => "audio/mpeg",
        "audio/x-m4a" | "audio/mp4" => "audio/m4a",
        "audio/flac" => "audio/x-flac",
        "application/csv" => "text/csv",
        other => other,
    }
}

/// Bytes read to sniff a type (the longest signature `infer` needs, with room for the ZIP
/// directory of Office files).
pub const SNIFF_BYTES: usize = 8192;

/// The upload's type, from its first bytes and what the client declared (its part's
/// `Content-Type`). Text has no signature: it is accepted as declared `text/plain` or
/// `text/csv` when it is UTF-8 without NUL bytes.
pub fn sniff(head: &[u8], declared: Option<&str>) -> Result<(&'static str, MediaType), AppError> {
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|d| !d.is_empty() && d != "application/octet-stream");
    let found = match infer::get(head) {
        Some(t) => Some(t.mime_type()),
        None => {
            let text = match std::str::from_utf8(head) {
                Ok(_) => true,
                // Cut in the middle of a character at the end of the sniffed prefix.
                Err(e) => e.error_len().is_none(),
            };
            let declared_text = declared
                .as_deref()
                .map(canonical)
                .filter(|d| *d == "text/plain" || *d == "text/csv");
            match (text && !head.contains(&0), declared_text) {
                (true, Some(d)) => Some(d),
                (true, None) if declared.is_none() => Some("text/plain"),
                _ => None,
            }
        }
    };
    let Some(found) = found else {
        return Err(AppError::bad_input(
            "file",
            "this type of file is not accepted (images, PDF, Office documents, text, video and audio are)",
        ));
    };
    let Some(&(mime, media_type)) = ALLOWED.iter().find(|(m, _)| *m == canonical(found)) else {
        return Err(AppError::bad_input(
            "file",
            format!("files of type {found} are not accepted"),
        ));
    };
    if let Some(d) = declared
        && canonical(&d) != mime
    {
        return Err(AppError::bad_input(
            "file",
            format!("the file was declared as {d} but its content is {mime}"),
        ));
    }
    Ok((mime, media_type))
}

/// Signs and checks download links: `/media/<id>/<variant>?org=..&exp=..&sig=..`, an
/// HMAC-SHA256 (key derived from the server secret) over all four.
#[derive(Clone)]
pub struct Links {
    key: [u8; 32],
    ttl: std::time::Duration,
    base: String,
}

type HmacSha256 = Hmac<Sha256>;

impl Links {
    pub fn new(secret: &str, ttl: std::time::Duration, public_url: Option<&str>) -> Self {
        let mut mac =
            HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(b"plugs media links v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            ttl,
            base: public_url.unwrap_or("").to_owned(),
        }
    }

    fn mac(&self, org: Uuid, id: Uuid, variant: Variant, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("a 32-byte key");
        mac.update(format!("{org}/{id}/{}/{exp}", variant.as_str()).as_bytes());
        mac
    }

    /// A link to one variant, valid for the configured time.
    pub fn sign(&self, row: &media::Model, variant: Variant) -> String {
        let exp = (chrono::Utc::now() + self.ttl).timestamp();
        let sig = self
            .mac(row.organization_id, row.id, variant, exp)
            .finalize()
            .into_bytes();
        format!(
            "{}/media/{}/{}?org={}&exp={exp}&sig={}",
            self.base,
            row.id,
            variant.as_str(),
            row.organization_id,
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn upload_mac(&self, org: Uuid, id: Uuid, size: u64, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("a 32-byte key");
        mac.update(format!("put:{org}/{id}/{size}/{exp}").as_bytes());
        mac
    }

    /// The server's own `PUT` URL for a direct upload of exactly `size` bytes, valid until
    /// `exp` (the filesystem backend; S3 presigns its own).
    pub fn sign_upload(&self, org: Uuid, id: Uuid, size: u64, exp: i64) -> String {
        let sig = self.upload_mac(org, id, size, exp).finalize().into_bytes();
        format!(
            "{}/uploads/{id}?org={org}&size={size}&exp={exp}&sig={}",
            self.base,
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Whether an upload URL's signature holds and it has not expired.
    pub fn verify_upload(&self, org: Uuid, id: Uuid, size: u64, exp: i64, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        exp >= chrono::Utc::now().timestamp()
            && self
                .upload_mac(org, id, size, exp)
                .verify_slice(&sig)
                .is_ok()
    }

    fn export_mac(&self, org: Uuid, id: Uuid, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("a 32-byte key");
        mac.update(format!("personal-data:{org}/{id}/{exp}").as_bytes());
        mac
    }

    /// A download link to a personal-data bundle, valid for the configured time and never
    /// past `until` (when the bundle goes).
    pub fn sign_export(&self, org: Uuid, id: Uuid, until: chrono::DateTime<chrono::Utc>) -> String {
        let exp = (chrono::Utc::now() + self.ttl).min(until).timestamp();
        let sig = self.export_mac(org, id, exp).finalize().into_bytes();
        format!(
            "{}/downloads/personal-data/{id}?org={org}&exp={exp}&sig={}",
            self.base,
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Whether a bundle link's signature holds and it has not expired.
    pub fn verify_export(&self, org: Uuid, id: Uuid, exp: i64, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        exp >= chrono::Utc::now().timestamp()
            && self.export_mac(org, id, exp).verify_slice(&sig).is_ok()
    }

    /// Whether a link's signature holds and it has not expired (compared in constant time).
    pub fn verify(&self, org: Uuid, id: Uuid, variant: Variant, exp: i64, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        exp >= chrono::Utc::now().timestamp()
            && self.mac(org, id, variant, exp).verify_slice(&sig).is_ok()
    }
}

/// What the client says about a media item (upload or update).
#[derive(Clone, Debug, Default)]
pub struct MediaPatch {
    pub title: Option<String>,
    pub description: Change<String>,
    pub tags: Option<Vec<String>>,
    pub access_level: Option<MediaAccessLevel>,
    pub related_event: Change<Uuid>,
    pub related_contact: Change<Uuid>,
}

/// At most 20 tags of at most 50 characters; trimmed, blank ones dropped, duplicates once.
fn tags(list: Vec<String>) -> Result<Value, AppError> {
    let mut out: Vec<String> = Vec::new();
    for t in list {
        let t = t.trim();
        if t.is_empty() || out.iter().any(|o| o == t) {
            continue;
        }
        validate::max_len("tags", t, 50)?;
        out.push(t.to_owned());
    }
    if out.len() > 20 {
        return Err(AppError::bad_input("tags", "at most 20 tags"));
    }
    Ok(json!(out))
}

/// Applies the patch; related rows must be live rows of the caller's organization.
async fn apply(w: &Work<'_>, a: &mut media::ActiveModel, p: MediaPatch) -> Result<(), AppError> {
    if let Some(t) = p.title {
        a.title = Set(validate::required("title", &t, 255)?);
    }
    set_text(
        &mut a.description,
        "description",
        p.description,
        Plain(20_000),
    )?;
    if let Some(t) = p.tags {
        a.tags = Set(tags(t)?);
    }
    if let Some(l) = p.access_level {
        a.access_level = Set(l.as_str().into());
    }
    let scope = w.actor.scope();
    match p.related_event {
        Change::Keep => {}
        Change::Clear => a.related_event = Set(None),
        Change::Set(e) => {
            scope
                .live_by_id::<events::Entity>(e)
                .one(&w.txn)
                .await?
                .ok_or_else(missing::<events::Entity>)?;
            a.related_event = Set(Some(e));
        }
    }
    match p.related_contact {
        Change::Keep => {}
        Change::Clear => a.related_contact = Set(None),
        Change::Set(c) => {
            scope
                .live_by_id::<contacts::Entity>(c)
                .one(&w.txn)
                .await?
                .ok_or_else(missing::<contacts::Entity>)?;
            a.related_contact = Set(Some(c));
        }
    }
    Ok(())
}

/// A file name as shown (never a path): its last component, control characters removed,
/// at most 255 characters; `upload` when nothing is left.
fn file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim().to_owned();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".to_owned()
    } else {
        clean
    }
}

/// An uploaded file as the multipart request delivered it (spooled to a temporary file).
pub struct Incoming {
    pub file_name: String,
    pub declared: Option<String>,
    pub file: std::fs::File,
}

/// Stores an upload and records it. Images start PROCESSING (their variants are a job's work),
/// anything else READY.
pub async fn upload(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    incoming: Incoming,
    patch: MediaPatch,
) -> Result<media::Model, AppError> {
    let Incoming {
        file_name: raw_name,
        declared,
        mut file,
    } = incoming;
    let size = file
        .metadata()
        .map_err(|e| AppError::Internal(format!("the spooled upload: {e}")))?
        .len();
    if size == 0 {
        return Err(AppError::bad_input("file", "the file is empty"));
    }
    let (head, file) = tokio::task::spawn_blocking(move || {
        // From the start, whatever read the spooled file before.
        std::io::Seek::rewind(&mut file)?;
        let mut head = vec![0u8; SNIFF_BYTES];
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        head.truncate(n);
        std::io::Seek::rewind(&mut file)?;
        Ok::<_, std::io::Error>((head, file))
    })
    .await
    .map_err(|e| AppError::Internal(format!("sniffing an upload: {e}")))?
    .map_err(|e| AppError::Internal(format!("reading an upload: {e}")))?;
    let (mime, media_type) = sniff(&head, declared.as_deref())?;
    let id = Uuid::new_v4();
    let mut a = new_row(actor, id, &raw_name, mime, media_type, size);
    let image = media_type == MediaType::Image;
    let stored_key = key_of(actor.organization_id, id, Variant::Original);
    // Checked before any byte is stored: a refused input stores nothing.
    {
        let w = Work::begin(store, actor).await?;
        apply(&w, &mut a, patch.clone()).await?;
    }
    storage
        .put_stream(&stored_key, file_chunks(tokio::fs::File::from_std(file)))
        .await
        .map_err(|e| AppError::Internal(format!("storing an upload: {e}")))?;
    let recorded = async {
        let mut w = Work::begin(store, actor).await?;
        apply(&w, &mut a, patch).await?;
        let row = a.insert(&w.txn).await?;
        w.audit::<media::Entity, _>(row.id, None, Some(&row))
            .await?;
        if image {
            let job = crate::jobs::kinds::MakeVariants {
                organization_id: row.organization_id,
                media_id: row.id,
            };
            crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
        } else {
            let data = super::webhooks::api_json(&row);
            super::webhooks::emit(&mut w, "media.ready", data).await?;
        }
        w.commit().await?;
        Ok::<_, AppError>(row)
    }
    .await;
    if recorded.is_err()
        && let Err(e) = storage.delete(&stored_key).await
    {
        tracing::warn!(key = %stored_key, "an upload refused after it was stored stays: {e}");
    }
    recorded
}

/// What a client announces before sending a large file itself (`createUpload`).
pub struct Announced {
    pub file_name: String,
    /// The MIME type the client will send; the bytes must turn out to be it.
    pub declared: String,
    pub size: i64,
}

/// Where and how the client sends the bytes.
pub struct Ticket {
    pub media: media::Model,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Limits of direct uploads (configuration).
#[derive(Clone, Copy, Debug)]
pub struct DirectUploads {
    pub max_bytes: u64,
    pub ticket_ttl: std::time::Duration,
}

/// Starts a direct upload: records the item as pending (no one sees it until `complete`;
/// it is kept out of every live view by `is_deleted` without a `deleted_at`, and marked by
/// `upload_expires_at`) and signs where the client `PUT`s exactly `size` bytes: a presigned
/// S3 URL, or this server's `/uploads/{id}` on the filesystem.
pub async fn create_upload(
    store: Store<'_>,
    storage: &Storage,
    links: &Links,
    limits: DirectUploads,
    actor: &Actor,
    announced: Announced,
    patch: MediaPatch,
) -> Result<Ticket, AppError> {
    let size = u64::try_from(announced.size)
        .ok()
        .filter(|n| (1..=limits.max_bytes).contains(n))
        .ok_or_else(|| {
            AppError::bad_input(
                "size",
                format!("must be between 1 and {} bytes", limits.max_bytes),
            )
        })?;
    let declared = canonical(announced.declared.trim()).to_ascii_lowercase();
    let Some(&(mime, media_type)) = ALLOWED.iter().find(|(m, _)| *m == declared) else {
        return Err(AppError::bad_input(
            "contentType",
            format!("files of type {declared} are not accepted"),
        ));
    };
    if media_type == MediaType::Image && size > MAX_IMAGE_BYTES {
        return Err(AppError::bad_input(
            "size",
            format!(
                "images are at most {} MiB (their variants are made from the whole file)",
                MAX_IMAGE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let id = Uuid::new_v4();
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(limits.ticket_ttl)
            .map_err(|e| AppError::Internal(format!("the ticket lifetime: {e}")))?;
    let mut a = new_row(actor, id, &announced.file_name, mime, media_type, size);
    a.is_deleted = Set(true);
    a.upload_expires_at = Set(Some(expires_at.fixed_offset()));
    let staging = staging_key(actor.organization_id, id);
    let url = match storage
        .signed_put_url(&staging, limits.ticket_ttl)
        .await
        .map_err(|e| AppError::Internal(format!("signing an upload URL: {e}")))?
    {
        Some(url) => url,
        None => links.sign_upload(actor.organization_id, id, size, expires_at.timestamp()),
    };
    let w = Work::begin(store, actor).await?;
    apply(&w, &mut a, patch).await?;
    let row = a.insert(&w.txn).await?;
    w.commit().await?;
    Ok(Ticket {
        media: row,
        url,
        headers: vec![("Content-Type".into(), mime.into())],
        expires_at,
    })
}

/// Finishes a direct upload by its uploader (or an admin): the bytes must be there, exactly
/// the announced size, and of the announced type by their content. A wrong type removes the
/// bytes and the pending item (BAD_USER_INPUT); missing or wrongly sized bytes keep the item
/// so the client can `PUT` again while its ticket lasts. Completing twice returns the item.
pub async fn complete_upload(
    store: Store<'_>,
    storage: &Storage,
    actor: &Actor,
    id: Uuid,
) -> Result<media::Model, AppError> {
    let row = actor
        .scope()
        .by_id::<media::Entity>(id)
        .one(store.db)
        .await?
        .filter(|r| r.upload_expires_at.is_some() || !r.is_deleted)
        .filter(|r| can_see(actor, r))
        .ok_or_else(missing::<media::Entity>)?;
    may_change(actor, &row)?;
    if row.upload_expires_at.is_none() {
        return Ok(row);
    }
    let staging = staging_key(row.organization_id, id);
    // Checked on a copy of its own: a PUT replayed meanwhile cannot swap the bytes between
    // the checks and the publication.
    let checking = format!("{staging}.checking-{}", Uuid::new_v4().simple());
    match storage.copy(&staging, &checking).await {
        Ok(()) => {}
        Err(crate::storage::StorageError::NotFound(_)) => {
            return Err(AppError::bad_input(
                "mediaId",
                "no bytes have arrived for this upload yet: PUT them to its uploadUrl first",
            ));
        }
        Err(e) => return Err(AppError::Internal(format!("checking an upload: {e}"))),
    }
    let published = async {
        let stored = storage
            .head(&checking)
            .await
            .map_err(|e| AppError::Internal(format!("checking an upload: {e}")))?;
        let size = u64::try_from(row.file_size).unwrap_or(0);
        if stored.size != size {
            let _ = storage.delete(&staging).await;
            return Err(AppError::bad_input(
                "mediaId",
                format!(
                    "{} bytes arrived but {size} were announced; PUT the file again",
                    stored.size
                ),
            ));
        }
        let head = storage
            .get_range(&checking, 0..size.min(SNIFF_BYTES as u64))
            .await
            .map_err(|e| AppError::Internal(format!("reading an upload: {e}")))?;
        let sniffed = match sniff(&head, Some(&row.mime_type)) {
            Ok(found) => found,
            Err(refused) => {
                let _ = storage.delete(&staging).await;
                let w = Work::begin(store, actor).await?;
                actor
                    .scope()
                    .delete_many::<media::Entity>()
                    .filter(media::Column::Id.eq(id))
                    .filter(media::Column::UploadExpiresAt.is_not_null())
                    .exec(&w.txn)
                    .await?;
                w.commit().await?;
                return Err(refused);
            }
        };
        // The row stays locked while the checked bytes become the original: of two
        // completions, only the first to lock it publishes.
        let mut w = Work::begin(store, actor).await?;
        let pending = w
            .lock(
                actor.scope().by_id::<media::Entity>(id),
                sea_orm::sea_query::LockType::Update,
            )
            .one(&w.txn)
            .await?
            .ok_or_else(missing::<media::Entity>)?;
        if pending.upload_expires_at.is_none() {
            w.commit().await?;
            return Ok(pending);
        }
        storage
            .copy(&checking, &key(&row, Variant::Original))
            .await
            .map_err(|e| AppError::Internal(format!("storing an upload: {e}")))?;
        let mut a: media::ActiveModel = pending.into();
        a.upload_expires_at = Set(None);
        a.is_deleted = Set(false);
        a.mime_type = Set(sniffed.0.into());
        a.media_type = Set(sniffed.1.as_str().into());
        a.updated_at = Set(now());
        let done = a.update(&w.txn).await?;
        w.audit::<media::Entity, _>(id, None, Some(&done)).await?;
        if sniffed.1 == MediaType::Image {
            let job = crate::jobs::kinds::MakeVariants {
                organization_id: done.organization_id,
                media_id: id,
            };
            crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
        } else {
            let data = super::webhooks::api_json(&done);
            super::webhooks::emit(&mut w, "media.ready", data).await?;
        }
        w.commit().await?;
        Ok(done)
    }
    .await;
    let _ = storage.delete(&checking).await;
    if published.is_ok()
        && let Err(e) = storage.delete(&staging).await
    {
        tracing::warn!(key = %staging, "a completed upload's staging copy stays: {e}");
    }
    published
}

/// Whether a direct upload still waits for its bytes (its `PUT` URL names its organization).
pub async fn is_pending_upload(
    db: &impl ConnectionTrait,
    scope: Scoped,
    id: Uuid,
) -> Result<bool, AppError> {
    Ok(scope
        .by_id::<media::Entity>(id)
        .filter(media::Column::UploadExpiresAt.is_not_null())
        .one(db)
        .await?
        .is_some())
}

/// Removes direct uploads never completed whose ticket expired before `before`: their rows,
/// then whatever bytes arrived. Returns how many went.
pub async fn purge_abandoned_uploads(
    db: &DatabaseConnection,
    storage: &Storage,
    before: chrono::DateTime<chrono::FixedOffset>,
) -> Result<u64, AppError> {
    let gone = crate::db::purge::delete_abandoned_uploads(db, before).await?;
    for row in &gone {
        storage
            .delete(&staging_key(row.organization_id, row.id))
            .await
            .map_err(|e| AppError::Internal(format!("removing an abandoned upload: {e}")))?;
    }
    Ok(gone.len() as u64)
}

/// A file as a stream of 64 KiB chunks.
pub(crate) fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = bytes::BytesMut::with_capacity(64 * 1024);
        let n = file.read_buf(&mut buf).await?;
        Ok((n > 0).then(|| (buf.freeze(), file)))
    })
}

/// Who is looking at media: what decides which PRIVATE items they see. Small and hashable, so
/// batching loaders can key on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub scope: Scoped,
    pub user_id: Uuid,
    pub is_admin: bool,
}

impl Viewer {
    pub fn of(actor: &Actor) -> Self {
        Self {
            scope: actor.scope(),
            user_id: actor.user_id,
            is_admin: actor.is_admin,
        }
    }

    /// The organization's media this viewer may see: PRIVATE items only for their uploader and
    /// admins (deleted ones included: filter `is_deleted` as needed).
    pub fn media(&self) -> Select<media::Entity> {
        let q = self
            .scope
            .find::<media::Entity>()
            .filter(media::Column::UploadExpiresAt.is_null());
        if self.is_admin {
            return q;
        }
        q.filter(
            Condition::any()
                .add(media::Column::AccessLevel.ne(MediaAccessLevel::Private.as_str()))
                .add(media::Column::UploadedBy.eq(self.user_id)),
        )
    }
}

/// The caller's view of the organization's media: PRIVATE items only for their uploader and
/// admins.
pub fn visible(actor: &Actor) -> Select<media::Entity> {
    Viewer::of(actor).media()
}

/// May the caller see this item (one it loaded through its organization)?
pub fn can_see(actor: &Actor, row: &media::Model) -> bool {
    actor.is_admin
        || row.uploaded_by == actor.user_id
        || row.access_level != MediaAccessLevel::Private.as_str()
}

/// One live item the caller may see; `None` otherwise (as if it did not exist).
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<media::Model>, AppError> {
    Ok(visible(actor)
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::IsDeleted.eq(false))
        .one(db)
        .await?)
}

#[derive(Clone, Debug, Default)]
pub struct MediaFilter {
    pub media_type: Option<Vec<MediaType>>,
    pub status: Option<Vec<MediaStatus>>,
    pub access_level: Option<Vec<MediaAccessLevel>>,
    /// Items carrying every one of these tags.
    pub tags: Option<Vec<String>>,
    pub uploaded_by: Option<Uuid>,
    pub related_event: Option<Uuid>,
    pub related_contact: Option<Uuid>,
    pub search: Option<String>,
    pub deleted: Option<bool>,
}

/// `Contact.media` and `Event.media`: newest first; the status filter reads the access level.
fn related(parent: media::Column) -> crate::db::children::Children<media::Entity> {
    crate::db::children::Children {
        parent,
        keyset: keyset(),
        status: Some(media::Column::AccessLevel),
    }
}

pub static OF_CONTACT: std::sync::LazyLock<crate::db::children::Children<media::Entity>> =
    std::sync::LazyLock::new(|| related(media::Column::RelatedContact));
pub static OF_EVENT: std::sync::LazyLock<crate::db::children::Children<media::Entity>> =
    std::sync::LazyLock::new(|| related(media::Column::RelatedEvent));

/// The access levels a batched relation (`Contact.media`, `Event.media`) shows the caller:
/// all to admins (empty: any), PUBLIC and ORGANIZATION to members. A member finds their own
/// PRIVATE items with `media(filter: { uploadedBy })`.
pub fn related_levels(actor: &Actor) -> Vec<String> {
    if actor.is_admin {
        Vec::new()
    } else {
        [MediaAccessLevel::Public, MediaAccessLevel::Organization]
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect()
    }
}

pub fn keyset() -> Keyset<media::Entity> {
    Keyset {
        name: "created_at desc",
        sort: media::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: media::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// The caller's visible media matching `f`, newest first.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &MediaFilter,
    args: &PageArgs,
) -> Result<Page<media::Model>, AppError> {
    use media::Column as C;
    let mut q = visible(actor).filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(t) = &f.media_type {
        q = q.filter(C::MediaType.is_in(t.iter().map(|v| v.as_str())));
    }
    if let Some(s) = &f.status {
        q = q.filter(C::Status.is_in(s.iter().map(|v| v.as_str())));
    }
    if let Some(l) = &f.access_level {
        q = q.filter(C::AccessLevel.is_in(l.iter().map(|v| v.as_str())));
    }
    if let Some(tags) = &f.tags {
        for t in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            validate::max_len("tags", t, 50)?;
            let backend = db.get_database_backend();
            q = q.filter(crate::db::search::json_array_contains(backend, "tags", t));
        }
    }
    if let Some(u) = f.uploaded_by {
        q = q.filter(C::UploadedBy.eq(u));
    }
    if let Some(e) = f.related_event {
        q = q.filter(C::RelatedEvent.eq(e));
    }
    if let Some(c) = f.related_contact {
        q = q.filter(C::RelatedContact.eq(c));
    }
    if let Some(s) = validate::search(f.search.as_deref())? {
        q = q.filter(crate::db::search::any_contains(
            &[C::Title, C::Description, C::FileName],
            s,
        ));
    }
    paginate(db, q, &keyset(), args).await
}

/// The uploader or an admin; others may see but not change an item.
fn may_change(actor: &Actor, row: &media::Model) -> Result<(), AppError> {
    actor.owner_or_admin(row.uploaded_by).map(|_| ())
}

/// A visible item (live or trashed as asked), NOT_FOUND otherwise.
async fn visible_row(w: &Work<'_>, id: Uuid, deleted: bool) -> Result<media::Model, AppError> {
    w.actor
        .scope()
        .by_id::<media::Entity>(id)
        .filter(media::Column::IsDeleted.eq(deleted))
        .filter(media::Column::UploadExpiresAt.is_null())
        .one(&w.txn)
        .await?
        .filter(|row| can_see(w.actor, row))
        .ok_or_else(missing::<media::Entity>)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: MediaPatch,
) -> Result<media::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = visible_row(&w, id, false).await?;
    may_change(actor, &old)?;
    let mut a: media::ActiveModel = old.clone().into();
    apply(&w, &mut a, patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<media::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete or restore by the uploader or an admin. The bytes stay until the row is
/// purged.
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<media::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let current = visible_row(&w, id, !deleted).await?;
    may_change(actor, &current)?;
    let row = w.set_deleted::<media::Entity>(id, deleted).await?;
    w.commit().await?;
    Ok(row)
}

/// The row a signed link names (its organization is part of what was signed).
pub async fn for_link(
    db: &impl ConnectionTrait,
    scope: Scoped,
    id: Uuid,
) -> Result<Option<media::Model>, AppError> {
    Ok(scope.live_by_id::<media::Entity>(id).one(db).await?)
}

/// The largest image file whose variants are made (an image is read whole to decode it).
pub const MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;

/// Image variants: how large the work may get. A decompression bomb (a small file that
/// claims huge dimensions) is refused by these limits before its pixels are allocated.
pub const MAX_IMAGE_SIDE: u32 = 12_000;
pub const MAX_DECODE_BYTES: u64 = 160 * 1024 * 1024;

/// Decodes run one at a time in a process (see `make_variants`).
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// One derived variant, encoded.
pub struct Rendered {
    pub variant: Variant,
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decodes an image within the limits, applies its EXIF orientation, and renders each derived
/// variant (longest side at most its size, never enlarged; re-encoded, so no metadata is
/// kept). CPU-bound: call from a blocking thread. Returns the oriented size and the variants.
pub fn render(original: &[u8]) -> Result<((u32, u32), Vec<Rendered>), String> {
    use image::{ImageDecoder, ImageReader};
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::new(std::io::Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| format!("unreadable image: {e}"))?;
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("unreadable image: {e}"))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    // Reserve before decoding: the decoder's own buffer, checked against the limit.
    let needed = decoder.total_bytes();
    if needed > MAX_DECODE_BYTES {
        return Err(format!(
            "the image is too large to process ({w}x{h} pixels)"
        ));
    }
    let mut img =
        image::DynamicImage::from_decoder(decoder).map_err(|e| format!("unreadable image: {e}"))?;
    img.apply_orientation(orientation);
    let size = (img.width(), img.height());
    let alpha = img.color().has_alpha();
    let mut out = Vec::new();
    for variant in [Variant::Thumbnail, Variant::Medium] {
        let side = variant.longest_side().unwrap_or(u32::MAX);
        let scaled = if img.width().max(img.height()) > side {
            img.resize(side, side, image::imageops::FilterType::Triangle)
        } else {
            img.clone()
        };
        let mut bytes = Vec::new();
        let mime = if alpha {
            scaled
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .map_err(|e| format!("encoding the {} variant: {e}", variant.as_str()))?;
            "image/png"
        } else {
            let rgb = scaled.to_rgb8();
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85);
            enc.encode_image(&rgb)
                .map_err(|e| format!("encoding the {} variant: {e}", variant.as_str()))?;
            "image/jpeg"
        };
        out.push(Rendered {
            variant,
            bytes,
            mime,
            width: scaled.width(),
            height: scaled.height(),
        });
    }
    Ok((size, out))
}

/// The job's work for one item: render and store its variants, then mark it READY with its
/// dimensions, or FAILED with the reason. Idempotent: an item no longer PROCESSING is left
/// alone. Returns how many webhook deliveries it enqueued (the caller wakes the workers).
pub async fn make_variants(
    db: &DatabaseConnection,
    storage: &Storage,
    scope: Scoped,
    id: Uuid,
) -> Result<usize, AppError> {
    let Some(row) = scope.by_id::<media::Entity>(id).one(db).await? else {
        return Ok(0);
    };
    if MediaStatus::from_db(&row.status)? != MediaStatus::Processing {
        return Ok(0);
    }
    let original_key = key(&row, Variant::Original);
    let stored = storage
        .head(&original_key)
        .await
        .map_err(|e| AppError::Internal(format!("reading {original_key}: {e}")))?;
    if stored.size > MAX_IMAGE_BYTES {
        give_up(db, scope, id, "the image file is too large to process").await?;
        return Ok(0);
    }
    let original = read_all(storage, &original_key).await?;
    // One decode at a time per process: each may take up to MAX_DECODE_BYTES and more.
    let permit = DECODING
        .acquire()
        .await
        .map_err(|e| AppError::Internal(format!("the decode gate: {e}")))?;
    // A decoder that panics on these bytes would panic again: that is a failed image too.
    let rendered = tokio::task::spawn_blocking(move || render(&original))
        .await
        .unwrap_or_else(|e| Err(format!("the image could not be decoded ({e})")));
    drop(permit);
    let mut metadata = row.metadata.clone();
    let status = match rendered {
        Ok(((width, height), variants)) => {
            let mut described = serde_json::Map::new();
            for v in &variants {
                storage
                    .put(&key(&row, v.variant), bytes::Bytes::from(v.bytes.clone()))
                    .await
                    .map_err(|e| AppError::Internal(format!("storing a variant: {e}")))?;
                described.insert(
                    v.variant.as_str().to_owned(),
                    json!({ "width": v.width, "height": v.height, "mimeType": v.mime, "size": v.bytes.len() }),
                );
            }
            metadata["width"] = json!(width);
            metadata["height"] = json!(height);
            metadata["variants"] = Value::Object(described);
            MediaStatus::Ready
        }
        Err(reason) => {
            metadata["error"] = json!(reason);
            MediaStatus::Failed
        }
    };
    // Only if still PROCESSING: a second run of the job changes nothing. READY is announced
    // (`media.ready`) in the same transaction.
    use sea_orm::TransactionTrait;
    use sea_orm::sea_query::Expr;
    let txn = db.begin().await?;
    let changed = scope
        .update_many::<media::Entity>()
        .col_expr(media::Column::Status, Expr::value(status.as_str()))
        .col_expr(media::Column::Metadata, Expr::value(metadata))
        .col_expr(media::Column::UpdatedAt, Expr::value(now()))
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::Status.eq(MediaStatus::Processing.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    let mut announced = 0;
    if changed == 1
        && status == MediaStatus::Ready
        && let Some(row) = scope.by_id::<media::Entity>(id).one(&txn).await?
    {
        let data = super::webhooks::api_json(&row);
        announced = super::webhooks::emit_system(&txn, scope, "media.ready", data).await?;
    }
    txn.commit().await?;
    Ok(announced)
}

/// An image whose variants job was given up: FAILED with the reason, if still PROCESSING.
pub async fn give_up(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    use sea_orm::sea_query::Expr;
    let Some(row) = scope.by_id::<media::Entity>(id).one(db).await? else {
        return Ok(());
    };
    let mut metadata = row.metadata.clone();
    metadata["error"] = json!(format!("its variants could not be made: {reason}"));
    scope
        .update_many::<media::Entity>()
        .col_expr(
            media::Column::Status,
            Expr::value(MediaStatus::Failed.as_str()),
        )
        .col_expr(media::Column::Metadata, Expr::value(metadata))
        .col_expr(media::Column::UpdatedAt, Expr::value(now()))
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::Status.eq(MediaStatus::Processing.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes media deleted before `before`: first their rows (only rows still deleted, and
/// never one an expense keeps as its receipt), then the bytes of every variant of exactly the
/// rows that went, in batches; returns how many items went. A restore racing with it either
/// keeps its row (the delete skips it) or finds it gone; bytes are never removed from a row
/// that stays. A crash between the two steps leaves bytes without a row (logged, not reused).
pub async fn purge_deleted(
    db: &DatabaseConnection,
    storage: &Storage,
    before: chrono::DateTime<chrono::FixedOffset>,
) -> Result<u64, AppError> {
    let mut total = 0;
    loop {
        let gone = crate::db::purge::delete_media_before(db, before, 200).await?;
        if gone.is_empty() {
            return Ok(total);
        }
        for row in &gone {
            delete_bytes(storage, row).await?;
        }
        total += gone.len() as u64;
    }
}

/// Removes every variant's bytes of `row` (idempotent).
pub async fn delete_bytes(storage: &Storage, row: &media::Model) -> Result<(), AppError> {
    for v in [Variant::Original, Variant::Medium, Variant::Thumbnail] {
        storage
            .delete(&key(row, v))
            .await
            .map_err(|e| AppError::Internal(format!("removing media bytes: {e}")))?;
    }
    Ok(())
}

/// A stored object read whole (image originals are at most `MAX_IMAGE_BYTES`: checked first).
async fn read_all(storage: &Storage, key: &str) -> Result<Vec<u8>, AppError> {
    use futures_util::TryStreamExt;
    let got = storage
        .get(key)
        .await
        .map_err(|e| AppError::Internal(format!("reading {key}: {e}")))?;
    let mut out = Vec::with_capacity(usize::try_from(got.info.size).unwrap_or(0));
    let mut stream = got.bytes;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| AppError::Internal(format!("reading {key}: {e}")))?
    {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn uploads_are_typed_by_their_bytes() {
        assert_eq!(sniff(PNG, None).unwrap(), ("image/png", MediaType::Image));
        assert_eq!(
            sniff(PNG, Some("image/png; charset=binary")).unwrap().0,
            "image/png"
        );
        assert!(
            sniff(PNG, Some("image/jpeg")).is_err(),
            "declared otherwise"
        );
        assert_eq!(
            sniff(PNG, Some("application/octet-stream")).unwrap().0,
            "image/png"
        );
        assert_eq!(
            sniff(b"name,email\nada,a@x.io\n", Some("text/csv")).unwrap(),
            ("text/csv", MediaType::Document)
        );
        assert_eq!(sniff(b"hello", None).unwrap().0, "text/plain");
        assert!(sniff(b"<html><script>", Some("text/html")).is_err());
        assert!(sniff(b"<svg onload=alert(1)>", Some("image/svg+xml")).is_err());
        assert!(sniff(b"\0\x01\x02binary", None).is_err());
        assert!(
            sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff", None).is_err(),
            "a Windows program"
        );
    }

    #[test]
    fn links_verify_only_as_signed_and_until_they_expire() {
        let links = Links::new("secret", std::time::Duration::from_secs(60), None);
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let exp = chrono::Utc::now().timestamp() + 60;
        let sig = URL_SAFE_NO_PAD.encode(
            links
                .mac(org, id, Variant::Original, exp)
                .finalize()
                .into_bytes(),
        );
        assert!(links.verify(org, id, Variant::Original, exp, &sig));
        assert!(!links.verify(org, id, Variant::Thumbnail, exp, &sig));
        assert!(!links.verify(org, id, Variant::Original, exp + 1, &sig));
        assert!(!links.verify(Uuid::new_v4(), id, Variant::Original, exp, &sig));
        let past = chrono::Utc::now().timestamp() - 1;
        let old = URL_SAFE_NO_PAD.encode(
            links
                .mac(org, id, Variant::Original, past)
                .finalize()
                .into_bytes(),
        );
        assert!(!links.verify(org, id, Variant::Original, past, &old));
        let other = Links::new("other", std::time::Duration::from_secs(60), None);
        assert!(!other.verify(org, id, Variant::Original, exp, &sig));
    }
}
