//! The GraphQL multipart request spec (`operations`, then `map`, then the files), read with
//! `multer` under our own rules, before any file is spooled: `operations` and `map` come
//! first, the map names at most `MAX_UPLOAD_FILES` files, a file part the map does not name
//! is refused (nothing is written for it), and no file is over the upload limit. Each file is
//! spooled to an anonymous temporary file, never held in memory whole.

use std::collections::HashMap;

use async_graphql::{BatchRequest, UploadValue};
use axum::http::StatusCode;
use futures_util::TryStreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Files one multipart request may carry (several `Upload` arguments of one operation).
pub const MAX_UPLOAD_FILES: usize = 10;
/// The `operations` and `map` parts together.
const MAX_JSON_PART: u64 = 256 * 1024;

/// Why a multipart request was refused, and with which status.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

fn bad(message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

fn from_multer(e: multer::Error) -> Refused {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "a part of the upload is larger than allowed".into(),
            }
        }
        other => {
            let message = other.to_string();
            // The body-limit layer's cut surfaces as a read error.
            let status = if message.contains("length limit") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            Refused {
                status,
                message: format!("malformed multipart request: {message}"),
            }
        }
    }
}

/// Reads a multipart GraphQL request of `boundary` from `body`.
pub async fn read(
    body: axum::body::Body,
    boundary: &str,
    max_file: u64,
) -> Result<BatchRequest, Refused> {
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let limits = multer::SizeLimit::new()
        .per_field(max_file)
        .for_field("operations", MAX_JSON_PART)
        .for_field("map", MAX_JSON_PART);
    let mut parts = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let mut request: Option<BatchRequest> = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    while let Some(mut field) = parts.next_field().await.map_err(from_multer)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "operations" if request.is_none() => {
                let bytes = field.bytes().await.map_err(from_multer)?;
                request = Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| bad(format!("`operations` is not a GraphQL request: {e}")))?,
                );
            }
            "map" if request.is_some() && map.is_none() => {
                let bytes = field.bytes().await.map_err(from_multer)?;
                let m: HashMap<String, Vec<String>> = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("`map` is not a JSON map of file paths: {e}")))?;
                if m.len() > MAX_UPLOAD_FILES {
                    return Err(bad(format!(
                        "an upload request carries at most {MAX_UPLOAD_FILES} files; this map names {}",
                        m.len()
                    )));
                }
                map = Some(m);
            }
            _ => {
                let (Some(request), Some(map)) = (request.as_mut(), map.as_mut()) else {
                    return Err(bad(
                        "the parts must come in order: `operations`, `map`, then the files",
                    ));
                };
                let Some(paths) = map.remove(&name) else {
                    return Err(bad(format!(
                        "the part {name:?} is not a file named in `map` (or comes twice)"
                    )));
                };
                let filename = field.file_name().unwrap_or("upload").to_owned();
                let content_type = field.content_type().map(ToString::to_string);
                let spool = |e: std::io::Error| bad(format!("cannot spool the upload: {e}"));
                let mut file = tokio::fs::File::from_std(tempfile::tempfile().map_err(spool)?);
                while let Some(chunk) = field.chunk().await.map_err(from_multer)? {
                    file.write_all(&chunk).await.map_err(spool)?;
                }
                file.flush().await.map_err(spool)?;
                file.rewind().await.map_err(spool)?;
                let file = file.into_std().await;
                let upload = UploadValue {
                    filename,
                    content_type,
                    content: file,
                };
                for path in paths {
                    let copy = upload
                        .try_clone()
                        .map_err(|e| bad(format!("cannot spool the upload: {e}")))?;
                    match request {
                        BatchRequest::Single(r) => r.set_upload(&path, copy),
                        BatchRequest::Batch(list) => {
                            let (idx, rest) = path.split_once('.').unwrap_or(("", ""));
                            match idx.parse::<usize>().ok().and_then(|i| list.get_mut(i)) {
                                Some(r) => r.set_upload(rest, copy),
                                None => {
                                    return Err(bad(format!(
                                        "`map` names {path:?}, which is not in `operations`"
                                    )));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let request = request.ok_or_else(|| bad("the `operations` part is missing"))?;
    match map {
        None => Err(bad("the `map` part is missing")),
        Some(m) if !m.is_empty() => Err(bad(format!(
            "`map` names files that were not sent: {:?}",
            m.keys().collect::<Vec<_>>()
        ))),
        Some(_) => Ok(request),
    }
}
