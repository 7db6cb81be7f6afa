//! The object-storage seam: streamed round trips, ranges, entity tags, deletes, and nothing
//! left behind by a failed upload. On the filesystem always; on an S3-compatible server when
//! built with `--features s3` and given `PLUGS_TEST_S3_URL` (CI runs moto's server for it).

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use plugs::storage::{Storage, StorageError};

fn store() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("objects").display());
    let storage = Storage::from_url(&url).expect("a filesystem store");
    (dir, storage)
}

/// 5 MiB of varied bytes, in 64 KiB chunks.
fn payload() -> Vec<Bytes> {
    (0..80u32)
        .map(|i| {
            Bytes::from(
                (0..65_536u32)
                    .map(|j| (i.wrapping_mul(31) ^ j) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_object_comes_back_whole_and_in_ranges() {
    let (_dir, s) = store();
    round_trip(&s).await;
}

async fn round_trip(s: &Storage) {
    let chunks = payload();
    let whole: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let size = s
        .put_stream(
            "media/org/1/original",
            stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)),
        )
        .await
        .unwrap();
    assert_eq!(size, whole.len() as u64);
    let info = s.head("media/org/1/original").await.unwrap();
    assert_eq!(info.size, whole.len() as u64);
    assert!(info.etag.is_some());

    let got = s.get("media/org/1/original").await.unwrap();
    assert_eq!(got.info, info);
    let mut read = Vec::with_capacity(whole.len());
    let mut parts = got.bytes;
    while let Some(part) = parts.next().await {
        read.extend_from_slice(&part.unwrap());
    }
    assert!(read == whole, "the bytes differ");
    let range = s
        .get_range("media/org/1/original", 1_000_000..1_000_100)
        .await
        .unwrap();
    assert_eq!(&range[..], &whole[1_000_000..1_000_100]);

    // Overwritten bytes get a new tag.
    s.put("media/org/1/original", Bytes::from_static(b"new"))
        .await
        .unwrap();
    let again = s.head("media/org/1/original").await.unwrap();
    assert_eq!(again.size, 3);
    assert_ne!(again.etag, info.etag);
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_and_deletes_are_idempotent() {
    let (dir, s) = store();
    failures(&s).await;
    // No partial file anywhere under the store.
    let files: Vec<_> = walk(dir.path());
    assert_eq!(files.len(), 0, "left behind: {files:?}");
    assert!(Storage::from_url("ftp://nope").is_err());
}

/// The same on an S3-compatible server: ignored unless asked for (the runner lists it).
#[cfg(feature = "s3")]
#[tokio::test]
#[ignore = "needs an S3-compatible server: PLUGS_TEST_S3_URL, with --features s3 (CI runs moto)"]
async fn the_same_on_an_s3_compatible_server() {
    let url = std::env::var("PLUGS_TEST_S3_URL")
        .expect("this test needs PLUGS_TEST_S3_URL (s3://bucket/prefix) and the AWS_* variables");
    let s = Storage::from_url(&format!("{url}/{}", uuid::Uuid::new_v4().simple()))
        .expect("an S3 store");
    round_trip(&s).await;
    failures(&s).await;
}

async fn failures(s: &Storage) {
    let chunks = vec![
        Ok(Bytes::from(vec![1u8; 100_000])),
        Err(std::io::Error::other("the client went away")),
    ];
    let err = s
        .put_stream("media/org/2/original", stream::iter(chunks))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Invalid(_)), "{err:?}");
    assert!(matches!(
        s.head("media/org/2/original").await,
        Err(StorageError::NotFound(_))
    ));

    s.put("media/org/3/original", Bytes::from_static(b"x"))
        .await
        .unwrap();
    s.delete("media/org/3/original").await.unwrap();
    s.delete("media/org/3/original").await.unwrap();
    assert!(matches!(
        s.get("media/org/3/original").await.err(),
        Some(StorageError::NotFound(_))
    ));
    // Keys are the application's: none may climb out of the store.
    assert!(matches!(
        s.put("../escape", Bytes::from_static(b"x")).await,
        Err(StorageError::Invalid(_))
    ));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
