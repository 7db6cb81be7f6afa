//! `GET /media/{id}/{variant}?org=..&exp=..&sig=..`: a signed link's bytes, streamed from
//! storage. The link is the permission (it works in `<img src>`, without headers), so it is
//! short-lived and signed over the organization, item, variant and expiry; a tampered or
//! expired link is 403. `ETag`/`If-None-Match` (304), one `Range` (206, or 416), and nothing a
//! browser could run: `nosniff`, a sandboxing CSP, and anything but images, audio, video, PDF
//! and plain text as an attachment.
//!
//! `PUT /uploads/{id}?...`: the bytes of a direct upload (`createUpload`) on the filesystem
//! backend, signed the same way.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use crate::db::scoped::Scoped;
use crate::services::media::{self as svc, Variant};
use crate::storage::StorageError;

fn status(code: StatusCode, message: &'static str) -> Response {
    (code, [(header::CACHE_CONTROL, "no-store")], message).into_response()
}

/// Served inline: what a browser shows but does not run.
fn inline(mime: &str) -> bool {
    mime.starts_with("image/")
        || mime.starts_with("video/")
        || mime.starts_with("audio/")
        || mime == "application/pdf"
        || mime == "text/plain"
}

/// `Content-Disposition` with the file's name, ASCII-safe and with the UTF-8 original.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// One `bytes=` range of an object of `size` bytes: `Ok(None)` when there is none to honour
/// (absent, several, malformed or not bytes: RFC 9110 says ignore those and send it all),
/// `Err` when it starts beyond the end (416).
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        // The last `n` bytes.
        return match end.parse::<u64>() {
            Ok(0) => Err(()),
            Ok(n) if size > 0 => Ok(Some((size.saturating_sub(n), size - 1))),
            Ok(_) => Err(()),
            Err(_) => Ok(None),
        };
    }
    let Ok(first) = start.parse::<u64>() else {
        return Ok(None);
    };
    let last = if end.is_empty() {
        None
    } else {
        match end.parse::<u64>() {
            Ok(l) if l >= first => Some(l),
            _ => return Ok(None),
        }
    };
    if first >= size {
        return Err(());
    }
    Ok(Some((first, last.unwrap_or(size - 1).min(size - 1))))
}

/// The extension a download of this type is saved with: a name ending otherwise (a CSV named
/// `invoice.html`) is given this one, so that opening the saved file cannot run it.
fn extension(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/x-wav" => "wav",
        "audio/ogg" => "ogg",
        "audio/m4a" => "m4a",
        "audio/x-flac" => "flac",
        _ => return None,
    })
}

/// The file name to save as: the uploaded name with the extension of its sniffed type.
fn saved_name(name: &str, mime: &str) -> String {
    let Some(ext) = extension(mime) else {
        return name.to_owned();
    };
    let stem = match name.rsplit_once('.') {
        Some((_, current)) if current.eq_ignore_ascii_case(ext) => return name.to_owned(),
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    format!("{stem}.{ext}")
}

pub async fn download(
    State(state): State<AppState>,
    Path((id, variant)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (Ok(id), Some(variant)) = (id.parse::<Uuid>(), Variant::parse(&variant)) else {
        return status(StatusCode::NOT_FOUND, "no such media");
    };
    let signed = (|| {
        let org: Uuid = q.get("org")?.parse().ok()?;
        let exp: i64 = q.get("exp")?.parse().ok()?;
        let sig = q.get("sig")?;
        state
            .links
            .verify(org, id, variant, exp, sig)
            .then_some(org)
    })();
    let Some(org) = signed else {
        return status(
            StatusCode::FORBIDDEN,
            "this link is invalid or has expired; ask the API for a new one",
        );
    };
    let scope = Scoped::system(org, "a signed download link names its organization");
    let row = match svc::for_link(&state.db, scope, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return status(StatusCode::NOT_FOUND, "no such media"),
        Err(e) => {
            tracing::error!("media download: {e:?}");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let mime = if variant == Variant::Original {
        Some(row.mime_type.clone())
    } else {
        row.metadata["variants"][variant.as_str()]["mimeType"]
            .as_str()
            .map(str::to_owned)
    };
    let Some(mime) = mime else {
        return status(StatusCode::NOT_FOUND, "this variant does not exist (yet)");
    };
    let key = svc::key(&row, variant);
    let info = match state.storage.head(&key).await {
        Ok(info) => info,
        Err(StorageError::NotFound(_)) => {
            return status(StatusCode::NOT_FOUND, "no such media");
        }
        Err(e) => {
            tracing::error!(%key, "media download: {e}");
            return status(StatusCode::BAD_GATEWAY, "storage is unavailable");
        }
    };
    let etag = format!(
        "\"{}\"",
        info.etag
            .as_deref()
            .unwrap_or(&format!("{}-{}", row.id, info.size))
            .trim_matches('"')
    );
    let mut out = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    set(header::ETAG, &etag);
    set(header::CONTENT_TYPE, &mime);
    set(header::ACCEPT_RANGES, "bytes");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    set(
        header::CACHE_CONTROL,
        &format!("private, max-age={}", state.config.media.link_ttl.as_secs()),
    );
    let kind = if inline(&mime) {
        "inline"
    } else {
        "attachment"
    };
    let name = saved_name(&row.file_name, &mime);
    out.insert(header::CONTENT_DISPOSITION, disposition(kind, &name));

    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    match range(&headers, info.size) {
        Err(()) => {
            let mut resp = (StatusCode::RANGE_NOT_SATISFIABLE, out).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", info.size)) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp
        }
        Ok(Some((first, last))) => {
            match state.storage.get_range_stream(&key, first..last + 1).await {
                Ok(bytes) => {
                    let mut out = out;
                    if let Ok(v) =
                        HeaderValue::from_str(&format!("bytes {first}-{last}/{}", info.size))
                    {
                        out.insert(header::CONTENT_RANGE, v);
                    }
                    out.insert(header::CONTENT_LENGTH, (last + 1 - first).into());
                    (StatusCode::PARTIAL_CONTENT, out, Body::from_stream(bytes)).into_response()
                }
                Err(e) => {
                    tracing::error!(%key, "media range: {e}");
                    status(StatusCode::BAD_GATEWAY, "storage is unavailable")
                }
            }
        }
        Ok(None) => match state.storage.get(&key).await {
            Ok(download) => {
                let mut out = out;
                out.insert(header::CONTENT_LENGTH, download.info.size.into());
                (StatusCode::OK, out, Body::from_stream(download.bytes)).into_response()
            }
            Err(e) => {
                tracing::error!(%key, "media download: {e}");
                status(StatusCode::BAD_GATEWAY, "storage is unavailable")
            }
        },
    }
}

/// `PUT /uploads/{id}?org=..&size=..&exp=..&sig=..`: a direct upload's bytes on the filesystem
/// backend (S3 takes them at a presigned URL instead). The signature covers the organization,
/// item, exact size and expiry; the body is streamed to the upload's staging key and must be
/// exactly that size (a longer one is cut off at `size + 1` bytes: 413). Nothing becomes
/// visible here: `completeUpload` checks the bytes and publishes them.
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    use futures_util::StreamExt;
    let Ok(id) = id.parse::<Uuid>() else {
        return status(StatusCode::NOT_FOUND, "no such upload");
    };
    let signed = (|| {
        let org: Uuid = q.get("org")?.parse().ok()?;
        let size: u64 = q.get("size")?.parse().ok()?;
        let exp: i64 = q.get("exp")?.parse().ok()?;
        let sig = q.get("sig")?;
        state
            .links
            .verify_upload(org, id, size, exp, sig)
            .then_some((org, size))
    })();
    let Some((org, size)) = signed else {
        return status(
            StatusCode::FORBIDDEN,
            "this upload URL is invalid or has expired; ask the API for a new ticket",
        );
    };
    let scope = Scoped::system(org, "a signed upload URL names its organization");
    match svc::is_pending_upload(&state.db, scope, id).await {
        Ok(true) => {}
        Ok(false) => {
            return status(
                StatusCode::CONFLICT,
                "this upload is complete or gone; ask the API for a new ticket",
            );
        }
        Err(e) => {
            tracing::error!("upload: {e:?}");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > size => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than the size the upload was created with",
            );
        }
        Some(n) if n < size => {
            return status(
                StatusCode::BAD_REQUEST,
                "the body is smaller than the size the upload was created with",
            );
        }
        _ => {}
    }
    // Counts what arrives and stops one byte past the announced size.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = received.clone();
    let chunks = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let total = counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed)
            + chunk.len() as u64;
        if total > size {
            return Err("too large".to_owned());
        }
        Ok(chunk)
    });
    let key = svc::staging_key(org, id);
    let stored = state.storage.put_stream(&key, chunks).await;
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    match stored {
        Ok(n) if n == size => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            "received",
        )
            .into_response(),
        Ok(_) => {
            let _ = state.storage.delete(&key).await;
            status(
                StatusCode::BAD_REQUEST,
                "the body is smaller than the size the upload was created with",
            )
        }
        Err(_) if got > size => status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than the size the upload was created with",
        ),
        Err(StorageError::Invalid(m)) => {
            tracing::info!(%key, "an upload stopped: {m}");
            status(StatusCode::BAD_REQUEST, "the upload did not arrive whole")
        }
        Err(e) => {
            tracing::error!(%key, "storing an upload: {e}");
            status(StatusCode::BAD_GATEWAY, "storage is unavailable")
        }
    }
}

/// `GET /downloads/personal-data/{id}?org=..&exp=..&sig=..`: a personal-data bundle through
/// its signed link (`PersonalDataExport.downloadUrl`), as a JSON attachment; 403 for a bad or
/// expired link, 410 once the bundle is gone (erased, expired).
pub async fn personal_data(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return status(StatusCode::NOT_FOUND, "no such export");
    };
    let signed = (|| {
        let org: Uuid = q.get("org")?.parse().ok()?;
        let exp: i64 = q.get("exp")?.parse().ok()?;
        let sig = q.get("sig")?;
        state.links.verify_export(org, id, exp, sig).then_some(org)
    })();
    let Some(org) = signed else {
        return status(
            StatusCode::FORBIDDEN,
            "this link is invalid or has expired; ask the API for a new one",
        );
    };
    let scope = Scoped::system(org, "a signed bundle link names its organization");
    let row = match crate::services::privacy::for_link(&state.db, scope, id).await {
        Ok(row) => row,
        Err(e) => {
            tracing::error!("bundle download: {e:?}");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let Some(key) = row.and_then(|r| r.storage_key) else {
        return status(StatusCode::GONE, "this export is no longer available");
    };
    let got = match state.storage.get(&key).await {
        Ok(got) => got,
        Err(StorageError::NotFound(_)) => {
            return status(StatusCode::GONE, "this export is no longer available");
        }
        Err(e) => {
            tracing::error!(%key, "bundle download: {e}");
            return status(StatusCode::BAD_GATEWAY, "storage is unavailable");
        }
    };
    let mut resp = Body::from_stream(got.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        disposition("attachment", &format!("personal-data-{id}.json")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn ranges() {
        assert_eq!(range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range(&with_range("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(range(&with_range("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(range(&with_range("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(range(&with_range("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(range(&with_range("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(range(&with_range("bytes=10-"), 10), Err(()));
        assert_eq!(range(&with_range("bytes=-0"), 10), Err(()));
        // Malformed: ignored, the whole object is sent.
        assert_eq!(range(&with_range("bytes=4-2"), 10), Ok(None));
        assert_eq!(range(&with_range("bytes=x-"), 10), Ok(None));
        assert_eq!(range(&with_range("lines=1-2"), 10), Ok(None));
    }

    #[test]
    fn saved_names_carry_the_sniffed_type() {
        assert_eq!(saved_name("invoice.html", "text/csv"), "invoice.csv");
        assert_eq!(saved_name("x.hta", "text/plain"), "x.txt");
        assert_eq!(saved_name("report.PDF", "application/pdf"), "report.PDF");
        assert_eq!(saved_name("noext", "image/png"), "noext.png");
        assert_eq!(saved_name(".bashrc", "text/plain"), ".bashrc.txt");
    }
}
