//! `GET /media/{id}/{variant}?org=..&exp=..&sig=..`: a signed link's bytes, streamed from
//! storage. The link is the permission (it works in `<img src>`, without headers), so it is
//! short-lived and signed over the organization, item, variant and expiry; a tampered or
//! expired link is 403. `ETag`/`If-None-Match` (304), one `Range` (206, or 416), and nothing a
//! browser could run: `nosniff`, a sandboxing CSP, and anything but images, audio, video, PDF
//! and plain text as an attachment.

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
/// (absent, several, or not bytes), `Err` when it cannot be satisfied.
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
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let (first, last) = if start.is_empty() {
        // The last `n` bytes.
        let n: u64 = end.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
    } else {
        let first: u64 = start.parse().map_err(|_| ())?;
        let last = if end.is_empty() {
            size.checked_sub(1).ok_or(())?
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (first, last)
    };
    if first > last || first >= size {
        return Err(());
    }
    Ok(Some((first, last)))
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
    out.insert(
        header::CONTENT_DISPOSITION,
        disposition(kind, &row.file_name),
    );

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
        Ok(Some((first, last))) => match state.storage.get_range(&key, first..last + 1).await {
            Ok(bytes) => {
                let mut out = out;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{}", info.size))
                {
                    out.insert(header::CONTENT_RANGE, v);
                }
                out.insert(header::CONTENT_LENGTH, bytes.len().into());
                (StatusCode::PARTIAL_CONTENT, out, bytes).into_response()
            }
            Err(e) => {
                tracing::error!(%key, "media range: {e}");
                status(StatusCode::BAD_GATEWAY, "storage is unavailable")
            }
        },
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
        assert_eq!(range(&with_range("bytes=4-2"), 10), Err(()));
        assert_eq!(range(&with_range("bytes=x-"), 10), Err(()));
    }
}
