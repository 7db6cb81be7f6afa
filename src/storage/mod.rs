//! Object storage: where bytes live (media, exports, data bundles) while the database keeps
//! their metadata. One seam over the `object_store` crate: the local filesystem by default
//! (`PLUGS_STORAGE_URL=file://./media`), S3-compatible storage with the `s3` cargo feature
//! (`s3://bucket/prefix`, credentials from the usual AWS variables).
//!
//! Writes and reads stream: a put takes chunks as they come (multipart, a bounded number of
//! parts in flight), a get hands out a stream, so a 25 MiB upload never sits in memory whole.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

/// Parts uploaded at once by a streamed put (each part is 5 MiB on S3).
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Backend(String),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
            other => StorageError::Backend(other.to_string()),
        }
    }
}

/// What a stored object is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// Changes whenever the bytes change (for HTTP `ETag`).
    pub etag: Option<String>,
}

/// A stored object being read.
pub struct Download {
    pub info: ObjectInfo,
    pub bytes: BoxStream<'static, Result<Bytes, StorageError>>,
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Signs URLs a client uses without credentials (S3 presigned `PUT`), with the key prefix
    /// the store adds; the filesystem has none (the server's own `PUT /uploads/...` instead).
    #[cfg(feature = "s3")]
    signer: Option<(Arc<object_store::aws::AmazonS3>, String)>,
    /// Shown in logs (never with credentials).
    pub description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// A key as the store's path; keys are made by the application (`media/<org>/<id>/original`),
/// never taken from a client, and may not climb out of the store.
fn path(key: &str) -> Result<Path, StorageError> {
    if key.is_empty()
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(StorageError::Invalid(format!(
            "{key:?} is not a storage key"
        )));
    }
    Path::parse(key).map_err(|e| StorageError::Invalid(e.to_string()))
}

impl Storage {
    /// `file:///abs/dir`, `file://./rel/dir` (created when missing), or `s3://bucket/prefix`
    /// (with the `s3` feature).
    pub fn from_url(url: &str) -> Result<Self, String> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(format!("{url:?} names no directory"));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the storage directory {dir}: {e}"))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| format!("cannot use {dir} for storage: {e}"))?;
            return Ok(Self {
                store: Arc::new(fs),
                description: format!("filesystem at {dir}"),
                #[cfg(feature = "s3")]
                signer: None,
            });
        }
        if url.starts_with("s3://") {
            return s3(url);
        }
        Err(format!("{url:?} is not a file:// or s3:// storage URL"))
    }

    /// Stores the chunks under `key` as they arrive; returns how many bytes were stored. A
    /// failing stream leaves nothing behind.
    pub async fn put_stream<S, E>(&self, key: &str, chunks: S) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let p = path(key)?;
        let upload = self.store.put_multipart(&p).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) => {
                    size += bytes.len() as u64;
                    if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        // Parts already sent are discarded, not left to be billed.
                        let _ = writer.abort().await;
                        return Err(e.into());
                    }
                    writer.put(bytes);
                }
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(StorageError::Invalid(format!("the upload failed: {e}")));
                }
            }
        }
        writer.finish().await?;
        Ok(size)
    }

    /// Stores `bytes` under `key` (small objects: bundles, thumbnails).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&path(key)?, bytes.into()).await?;
        Ok(())
    }

    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        let meta = self.store.head(&path(key)?).await?;
        Ok(ObjectInfo {
            size: meta.size,
            etag: meta.e_tag,
        })
    }

    /// The whole object, as a stream.
    pub async fn get(&self, key: &str) -> Result<Download, StorageError> {
        let got = self.store.get(&path(key)?).await?;
        let info = ObjectInfo {
            size: got.meta.size,
            etag: got.meta.e_tag.clone(),
        };
        Ok(Download {
            info,
            bytes: got.into_stream().map_err(StorageError::from).boxed(),
        })
    }

    /// Bytes `range` of the object as a stream (HTTP `Range` on a large object).
    pub async fn get_range_stream(
        &self,
        key: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let opts = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            ..Default::default()
        };
        let got = self.store.get_opts(&path(key)?, opts).await?;
        Ok(got.into_stream().map_err(StorageError::from).boxed())
    }

    /// Bytes `range` of the object (HTTP `Range`).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        Ok(self.store.get_range(&path(key)?, range).await?)
    }

    /// The keys stored under `prefix` (a folder such as `media/<org>`), in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let p = path(prefix)?;
        self.store
            .list(Some(&p))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(StorageError::from)
    }

    /// Copies an object within the store (server-side on S3).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        Ok(self.store.copy(&path(from)?, &path(to)?).await?)
    }

    /// A URL a client may `PUT` the object's bytes to without credentials until `ttl` passes,
    /// when the backend signs such URLs (S3 presigned); `None` on the filesystem.
    pub async fn signed_put_url(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        let p = path(key)?;
        #[cfg(feature = "s3")]
        if let Some((s3, prefix)) = &self.signer {
            use object_store::signer::Signer;
            let full = if prefix.is_empty() {
                p
            } else {
                Path::parse(format!("{prefix}/{p}"))
                    .map_err(|e| StorageError::Invalid(e.to_string()))?
            };
            let url = s3
                .signed_url(object_store::signer::Method::PUT, &full, ttl)
                .await?;
            return Ok(Some(url.to_string()));
        }
        let _ = (p, ttl);
        Ok(None)
    }

    /// Deletes the object; deleting one that is not there is not an error (idempotent jobs).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(feature = "s3")]
fn s3(url: &str) -> Result<Storage, String> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_url(url)
        .build()
        .map_err(|e| format!("cannot use {url} for storage: {e}"))?;
    let store = Arc::new(store);
    let prefix = url
        .trim_start_matches("s3://")
        .split_once('/')
        .map_or("", |(_, p)| p.trim_end_matches('/'));
    let prefixed = object_store::prefix::PrefixStore::new(store.clone(), prefix);
    Ok(Storage {
        store: Arc::new(prefixed),
        description: format!("S3-compatible storage at {url}"),
        signer: Some((store, prefix.to_owned())),
    })
}

#[cfg(not(feature = "s3"))]
fn s3(url: &str) -> Result<Storage, String> {
    Err(format!(
        "{url}: this build has no S3 support; build with `--features s3`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_climb_out_of_the_store() {
        for bad in ["", "/abs", "a//b", "../up", "a/../b", "a/./b", "a/"] {
            assert!(path(bad).is_err(), "{bad}");
        }
        assert!(path("media/org/id/original").is_ok());
    }
}
