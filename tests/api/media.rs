//! Media: uploads over the GraphQL multipart request spec, sniffing, storage, image variants,
//! signed links (Range, ETag, tamper, expiry), access levels, relations and the trash.

use serde_json::{Value, json};

use crate::helpers::{
    Session, TestApp, error_code, error_field as field, spawn_app, spawn_app_with,
};

pub const MEDIA: &str = "id title fileName mediaType mimeType fileSize status accessLevel tags metadata deletedAt
    url thumbnail: url(variant: THUMBNAIL) uploadedBy { id } relatedEvent { id } relatedContact { id }";

/// A PNG of `w` x `h` (RGB: its variants are JPEG).
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// `uploadMedia` as a GraphQL multipart request (operations, map, file) for `token`.
pub async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    content_type: Option<&str>,
    input: Value,
) -> (reqwest::StatusCode, Value) {
    let operations = json!({
        "query": format!("mutation($file: Upload!, $input: MediaInput) {{ uploadMedia(file: $file, input: $input) {{ {MEDIA} }} }}"),
        "variables": { "file": null, "input": input },
    });
    let mut part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    if let Some(ct) = content_type {
        part = part.mime_str(ct).unwrap();
    }
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", part);
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("upload sent");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn uploaded(
    app: &TestApp,
    s: &Session,
    bytes: Vec<u8>,
    name: &str,
    ct: Option<&str>,
    input: Value,
) -> Value {
    let (status, body) = upload(app, &s.access, bytes, name, ct, input).await;
    assert!(body["errors"].is_null(), "{status}: {body}");
    body["data"]["uploadMedia"].clone()
}

async fn item(app: &TestApp, s: &Session, id: &str) -> Value {
    let body = app
        .gql_as(
            &s.access,
            &format!("query($id: ID!) {{ mediaItem(id: $id) {{ {MEDIA} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["mediaItem"].clone()
}

/// Runs the variants job's work for one item, as a worker would.
async fn make_variants(app: &TestApp, org: &str, id: &str) {
    let scope = plugs::db::scoped::Scoped::system(org.parse().unwrap(), "test: run a media job");
    plugs::services::media::make_variants(&app.db, &app.storage, scope, id.parse().unwrap())
        .await
        .expect("the job runs");
}

async fn org_id(app: &TestApp, s: &Session) -> String {
    let body = app
        .gql_as(&s.access, "{ organization { id } }", json!({}))
        .await;
    body["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("download answered")
}

#[tokio::test]
async fn an_image_is_sniffed_stored_and_gets_its_variants_and_links_serve_its_bytes() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    let bytes = png(1600, 900);
    let ev = app
        .gql_as(&admin.access, "mutation { createEvent(input: { title: \"Gala\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\" }) { id } }", json!({}))
        .await["data"]["createEvent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = uploaded(
        &app,
        &admin,
        bytes.clone(),
        "../../etc/stage.png",
        Some("image/png"),
        json!({ "title": "Stage", "tags": ["gala", " gala ", "stage"], "relatedEventId": ev }),
    )
    .await;
    assert_eq!(
        (
            &m["mediaType"],
            &m["mimeType"],
            &m["status"],
            &m["fileName"]
        ),
        (
            &json!("IMAGE"),
            &json!("image/png"),
            &json!("PROCESSING"),
            &json!("stage.png")
        )
    );
    assert_eq!(m["fileSize"], bytes.len());
    assert_eq!(m["tags"], json!(["gala", "stage"]));
    assert_eq!(m["accessLevel"], "ORGANIZATION");
    assert_eq!(m["relatedEvent"]["id"], ev.as_str());
    assert!(m["thumbnail"].is_null(), "no variant before the job: {m}");
    let id = m["id"].as_str().unwrap().to_owned();
    // The job was enqueued with the upload.
    let jobs = app
        .gql_as(
            &admin.access,
            "{ jobs(filter: { kind: \"media.make_variants\" }) { nodes { state } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        jobs["data"]["jobs"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "{jobs}"
    );

    // The original round-trips, with its entity tag and ranges.
    let url = m["url"].as_str().unwrap().to_owned();
    let resp = get(&app, &url, &[]).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes);
    let resp = get(&app, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(resp.status(), 304);
    let resp = get(&app, &url, &[("range", "bytes=0-7")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-7/{}", bytes.len())
    );
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes[..8].to_vec());
    let resp = get(&app, &url, &[("range", "bytes=99999999-")]).await;
    assert_eq!(resp.status(), 416);
    // A tampered link (another variant, another item, a later expiry) is refused.
    for tampered in [
        url.replace("/original?", "/thumbnail?"),
        url.replace(&id, &uuid::Uuid::new_v4().to_string()),
        url.replace("exp=", "exp=9"),
        url.replace("sig=", "sig=A"),
    ] {
        assert_eq!(get(&app, &tampered, &[]).await.status(), 403, "{tampered}");
    }

    make_variants(&app, &org, &id).await;
    let m = item(&app, &admin, &id).await;
    assert_eq!(m["status"], "READY", "{m}");
    assert_eq!(
        (&m["metadata"]["width"], &m["metadata"]["height"]),
        (&json!(1600), &json!(900))
    );
    assert_eq!(m["metadata"]["variants"]["thumbnail"]["width"], 256);
    assert_eq!(m["metadata"]["variants"]["medium"]["height"], 576);
    let thumb = get(&app, m["thumbnail"].as_str().unwrap(), &[]).await;
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let img = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (256, 144));
    // Running the job again changes nothing.
    make_variants(&app, &org, &id).await;
    assert_eq!(item(&app, &admin, &id).await["metadata"], m["metadata"]);

    // The event lists it.
    let body = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { event(id: $id) { media { totalCount nodes { id } } } }",
            json!({ "id": ev }),
        )
        .await;
    assert_eq!(
        body["data"]["event"]["media"]["nodes"][0]["id"],
        id.as_str(),
        "{body}"
    );
}

#[tokio::test]
async fn a_file_whose_bytes_are_not_an_allowed_type_or_disagree_is_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    let cases: Vec<(Vec<u8>, &str, Option<&str>, &str)> = vec![
        (
            png(4, 4),
            "photo.jpg",
            Some("image/jpeg"),
            "declared as image/jpeg",
        ),
        (Vec::new(), "empty.png", Some("image/png"), "empty"),
        (
            b"<html><script>alert(1)</script></html>".to_vec(),
            "x.html",
            Some("text/html"),
            "not accepted",
        ),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
            "x.svg",
            Some("image/svg+xml"),
            "not accepted",
        ),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec(),
            "setup.exe",
            None,
            "not accepted",
        ),
    ];
    for (bytes, name, ct, says) in cases {
        let (_, body) = upload(&app, &admin.access, bytes, name, ct, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{name}: {body}");
        assert_eq!(field(&body), Some("file"), "{name}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
    }
    // A refused related row is refused before any byte is stored.
    let (_, body) = upload(
        &app,
        &admin.access,
        png(4, 4),
        "p.png",
        None,
        json!({ "relatedContactId": uuid::Uuid::new_v4() }),
    )
    .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let body = app
        .gql_as(&admin.access, "{ media { totalCount } }", json!({}))
        .await;
    assert_eq!(body["data"]["media"]["totalCount"], 0);
    assert_eq!(
        app.storage.list(&format!("media/{org}")).await.unwrap(),
        Vec::<String>::new()
    );

    // Text is taken as declared, CSV as an attachment.
    let csv = uploaded(
        &app,
        &admin,
        b"name,email\nAda,ada@x.io\n".to_vec(),
        "people.csv",
        Some("text/csv"),
        json!({}),
    )
    .await;
    assert_eq!(
        (&csv["mediaType"], &csv["mimeType"], &csv["status"]),
        (&json!("DOCUMENT"), &json!("text/csv"), &json!("READY"))
    );
    let resp = get(&app, csv["url"].as_str().unwrap(), &[]).await;
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("people.csv"),
        "{disposition}"
    );
    // PDF by its signature, whatever the name says.
    let pdf = uploaded(
        &app,
        &admin,
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n".to_vec(),
        "notes.bin",
        None,
        json!({}),
    )
    .await;
    assert_eq!(pdf["mimeType"], "application/pdf");
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let limit = 25 * 1024 * 1024;
    let mut big = png(2, 2);
    big.resize(limit + 1, 0);
    let (status, body) = upload(
        &app,
        &admin.access,
        big,
        "big.png",
        Some("image/png"),
        json!({}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // The JSON limit is unchanged: a 2 MiB JSON body is still refused.
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ apiVersion }} #{}", "x".repeat(2 << 20)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Just under the limit is fine, and the server answers as before.
    let mut fits = png(2, 2);
    fits.resize(limit - 64 * 1024, 0);
    let m = uploaded(&app, &admin, fits, "fits.png", None, json!({})).await;
    assert_eq!(m["fileSize"], limit - 64 * 1024);
    let body = app.graphql("{ apiVersion }", json!({})).await;
    assert!(body["data"]["apiVersion"].is_string());
}

/// The CRC-32 of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small PNG that claims to be `side` x `side` pixels.
fn bomb(side: u32) -> Vec<u8> {
    let mut bytes = png(1, 1);
    // IHDR's data starts after the signature (8), its length (4) and type (4).
    bytes[16..20].copy_from_slice(&side.to_be_bytes());
    bytes[20..24].copy_from_slice(&side.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[tokio::test]
async fn a_decompression_bomb_fails_its_job_and_the_server_stays_up() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    for side in [100_000u32, 11_000] {
        let m = uploaded(
            &app,
            &admin,
            bomb(side),
            "bomb.png",
            Some("image/png"),
            json!({}),
        )
        .await;
        let id = m["id"].as_str().unwrap();
        make_variants(&app, &org, id).await;
        let m = item(&app, &admin, id).await;
        assert_eq!(m["status"], "FAILED", "{side}: {m}");
        assert!(m["metadata"]["error"].is_string(), "{m}");
        assert!(m["thumbnail"].is_null());
    }
    let body = app.graphql("{ apiVersion }", json!({})).await;
    assert!(body["data"]["apiVersion"].is_string());
}

#[tokio::test]
async fn access_levels_decide_who_sees_an_item_and_gets_its_links() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let alice = app.member(&admin, false).await;
    let bob = app.member(&admin, false).await;
    let stranger = app.register().await;
    let private = uploaded(
        &app,
        &alice,
        png(8, 8),
        "mine.png",
        None,
        json!({ "accessLevel": "PRIVATE" }),
    )
    .await;
    let public = uploaded(
        &app,
        &alice,
        png(8, 8),
        "ours.png",
        None,
        json!({ "accessLevel": "PUBLIC" }),
    )
    .await;
    let pid = private["id"].as_str().unwrap();
    let query =
        "query($id: ID!) { mediaItem(id: $id) { id url } media { totalCount nodes { id } } }";
    for (who, sees_private, total) in [
        (&alice, true, 2),
        (&admin, true, 2),
        (&bob, false, 1),
        (&stranger, false, 0),
    ] {
        let body = app.gql_as(&who.access, query, json!({ "id": pid })).await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(
            body["data"]["mediaItem"].is_object(),
            sees_private,
            "{body}"
        );
        assert_eq!(body["data"]["media"]["totalCount"], total, "{body}");
    }
    // Bob may see the organization's item but not change it; Alice and admins may.
    let pub_id = public["id"].as_str().unwrap();
    let rename =
        "mutation($id: ID!, $t: String) { updateMedia(id: $id, input: { title: $t }) { title } }";
    let body = app
        .gql_as(&bob.access, rename, json!({ "id": pub_id, "t": "Bob's" }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let body = app
        .gql_as(&bob.access, rename, json!({ "id": pid, "t": "Bob's" }))
        .await;
    assert_eq!(
        error_code(&body),
        Some("NOT_FOUND"),
        "a private item Bob cannot see: {body}"
    );
    let body = app
        .gql_as(&admin.access, rename, json!({ "id": pid, "t": "Checked" }))
        .await;
    assert_eq!(body["data"]["updateMedia"]["title"], "Checked", "{body}");
    // A link works without any header, for anyone holding it, until the item is deleted.
    let url = public["url"].as_str().unwrap();
    assert_eq!(reqwest::get(app.url(url)).await.unwrap().status(), 200);
    let body = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { deleteMedia(id: $id) { deletedAt url } }",
            json!({ "id": pub_id }),
        )
        .await;
    assert!(body["data"]["deleteMedia"]["url"].is_null(), "{body}");
    assert_eq!(reqwest::get(app.url(url)).await.unwrap().status(), 404);
    let body = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { restoreMedia(id: $id) { deletedAt } }",
            json!({ "id": pub_id }),
        )
        .await;
    assert!(
        body["data"]["restoreMedia"]["deletedAt"].is_null(),
        "{body}"
    );
    // Filters.
    let body = app
        .gql_as(&admin.access, "{ media(filter: { accessLevel: [PRIVATE], tags: [] }) { nodes { fileName } } byTag: media(filter: { search: \"OURS\" }) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["media"]["nodes"],
        json!([{ "fileName": "mine.png" }]),
        "{body}"
    );
    assert_eq!(body["data"]["byTag"]["totalCount"], 1);
}

#[tokio::test]
async fn links_expire() {
    let app = spawn_app_with(|c| c.media.link_ttl = std::time::Duration::from_secs(1)).await;
    let admin = app.register().await;
    let m = uploaded(
        &app,
        &admin,
        b"hello".to_vec(),
        "hello.txt",
        Some("text/plain"),
        json!({}),
    )
    .await;
    let url = m["url"].as_str().unwrap();
    assert_eq!(get(&app, url, &[]).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(get(&app, url, &[]).await.status(), 403);
}

#[tokio::test]
async fn tags_filter_items_carrying_every_tag_on_both_databases() {
    let app = spawn_app().await;
    let admin = app.register().await;
    for (name, tags) in [
        ("a.txt", json!(["red", "blue"])),
        ("b.txt", json!(["red"])),
        ("c.txt", json!([])),
    ] {
        uploaded(
            &app,
            &admin,
            b"x".to_vec(),
            name,
            None,
            json!({ "tags": tags }),
        )
        .await;
    }
    let names = |body: &Value| -> Vec<String> {
        let mut v: Vec<String> = body["data"]["media"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|n| n["fileName"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    for (tags, expected) in [
        (json!(["red"]), vec!["a.txt", "b.txt"]),
        (json!(["red", "blue"]), vec!["a.txt"]),
        (json!(["green"]), vec![]),
    ] {
        let body = app
            .gql_as(
                &admin.access,
                "query($t: [String!]) { media(filter: { tags: $t }) { nodes { fileName } } }",
                json!({ "t": tags }),
            )
            .await;
        assert_eq!(names(&body), expected, "{tags}");
    }
    let body = app
        .gql_as(
            &admin.access,
            "mutation { uploadMedia(file: null) { id } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_array(), "a file is required: {body}");
}

#[tokio::test]
async fn the_bytes_of_media_deleted_long_ago_are_removed_and_recent_ones_kept() {
    use plugs::entities::media as m;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
    let app = spawn_app().await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    let old = uploaded(&app, &admin, png(300, 200), "old.png", None, json!({})).await;
    let recent = uploaded(
        &app,
        &admin,
        b"recent".to_vec(),
        "recent.txt",
        None,
        json!({}),
    )
    .await;
    let (old_id, recent_id) = (old["id"].as_str().unwrap(), recent["id"].as_str().unwrap());
    make_variants(&app, &org, old_id).await;
    for id in [old_id, recent_id] {
        let body = app
            .gql_as(
                &admin.access,
                "mutation($id: ID!) { deleteMedia(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    // A deleted item an expense keeps as its receipt is kept past the retention too.
    let receipt = uploaded(
        &app,
        &admin,
        b"receipt".to_vec(),
        "receipt.txt",
        None,
        json!({}),
    )
    .await;
    let receipt_id = receipt["id"].as_str().unwrap();
    let body = app
        .gql_as(&admin.access, "mutation($r: ID) { createExpense(input: { title: \"T\", amount: \"1.00\", expenseDate: \"2026-11-01\", receiptMediaId: $r }) { id } }", json!({ "r": receipt_id }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { deleteMedia(id: $id) { id } }",
        json!({ "id": receipt_id }),
    )
    .await;
    let row = m::Entity::find_by_id(receipt_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut a: m::ActiveModel = row.into();
    a.deleted_at = Set(Some(
        (chrono::Utc::now() - chrono::Duration::days(40)).fixed_offset(),
    ));
    a.update(&app.db).await.unwrap();
    let row = m::Entity::find_by_id(old_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut a: m::ActiveModel = row.into();
    a.deleted_at = Set(Some(
        (chrono::Utc::now() - chrono::Duration::days(40)).fixed_offset(),
    ));
    a.update(&app.db).await.unwrap();
    assert_eq!(
        app.storage
            .list(&format!("media/{org}/{old_id}"))
            .await
            .unwrap()
            .len(),
        3
    );

    let ctx = plugs::jobs::JobContext {
        db: app.db.clone(),
        storage: app.storage.clone(),
        broker: app.broker.clone(),
        config: std::sync::Arc::new(plugs::jobs::JobsConfig::default()),
        keyring: app.keyring.clone(),
        mailer: app.mailer.clone(),
        composer: app.composer.clone(),
        webhook_allow_private: true,
    };
    use plugs::jobs::Job as _;
    plugs::jobs::kinds::PurgeDeletedMedia { days: 30 }
        .run(ctx.clone())
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert!(
        app.storage
            .list(&format!("media/{org}/{old_id}"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.storage
            .list(&format!("media/{org}/{recent_id}"))
            .await
            .unwrap()
            .len(),
        1
    );
    let trash = app
        .gql_as(
            &admin.access,
            "{ media(filter: { deleted: true }) { nodes { id } } }",
            json!({}),
        )
        .await;
    let mut kept: Vec<&str> = trash["data"]["media"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    kept.sort();
    let mut expected = vec![recent_id, receipt_id];
    expected.sort();
    assert_eq!(kept, expected, "{trash}");
    let receipt_keys = app
        .storage
        .list(&format!("media/{org}/{receipt_id}"))
        .await
        .unwrap();
    assert_eq!(receipt_keys.len(), 1);
    // A second run finds nothing more to do.
    plugs::jobs::kinds::PurgeDeletedMedia { days: 30 }
        .run(ctx)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(
        app.storage
            .list(&format!("media/{org}/{recent_id}"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_expense_points_its_receipt_at_a_media_item_the_submitter_may_see() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let alice = app.member(&admin, false).await;
    let bob = app.member(&admin, false).await;
    let receipt = uploaded(
        &app,
        &alice,
        b"%PDF-1.4\n%receipt\n".to_vec(),
        "taxi.pdf",
        None,
        json!({ "accessLevel": "PRIVATE" }),
    )
    .await;
    let rid = receipt["id"].as_str().unwrap();
    let create = "mutation($r: ID) { createExpense(input: { title: \"Taxi\", amount: \"12.00\", expenseDate: \"2026-11-20\", receiptMediaId: $r }) { id receipt { id mimeType url } } }";
    let body = app.gql_as(&alice.access, create, json!({ "r": rid })).await;
    let e = &body["data"]["createExpense"];
    assert_eq!(e["receipt"]["id"], rid, "{body}");
    assert!(e["receipt"]["url"].is_string());
    // Bob cannot attach Alice's private file, nor read it through her expense; admins can.
    let body = app.gql_as(&bob.access, create, json!({ "r": rid })).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let read = "query($id: ID!) { expense(id: $id) { receipt { id } } }";
    let eid = e["id"].as_str().unwrap();
    let body = app.gql_as(&bob.access, read, json!({ "id": eid })).await;
    assert!(body["data"]["expense"]["receipt"].is_null(), "{body}");
    let body = app.gql_as(&admin.access, read, json!({ "id": eid })).await;
    assert_eq!(body["data"]["expense"]["receipt"]["id"], rid, "{body}");
    // Detached with null.
    let body = app
        .gql_as(&alice.access, "mutation($id: ID!) { updateExpense(id: $id, input: { receiptMediaId: null }) { receipt { id } } }", json!({ "id": eid }))
        .await;
    assert!(body["data"]["updateExpense"]["receipt"].is_null(), "{body}");
}

#[tokio::test]
async fn uploads_need_a_member_one_operation_and_saved_names_carry_the_sniffed_type() {
    let app = spawn_app().await;
    let admin = app.register().await;
    // No token: refused before the body is read.
    let (status, body) = upload(&app, "not-a-token", png(2, 2), "p.png", None, json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    // A batch of operations sharing one file: refused.
    let ops = json!([
        { "query": "mutation($file: Upload!) { uploadMedia(file: $file) { id } }", "variables": { "file": null } },
        { "query": "mutation($file: Upload!) { uploadMedia(file: $file) { id } }", "variables": { "file": null } },
    ]);
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text(
            "map",
            json!({ "0": ["0.variables.file", "1.variables.file"] }).to_string(),
        )
        .part(
            "0",
            reqwest::multipart::Part::bytes(png(2, 2)).file_name("p.png"),
        );
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin.access)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // One file used twice in one operation: both items hold all of its bytes.
    let bytes = png(40, 30);
    let operations = json!({
        "query": "mutation($f: Upload!) { a: uploadMedia(file: $f) { id fileSize url } b: uploadMedia(file: $f) { id fileSize url } }",
        "variables": { "f": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("twice.png"),
        );
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin.access)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for alias in ["a", "b"] {
        let m = &body["data"][alias];
        assert_eq!(m["fileSize"], bytes.len(), "{body}");
        let got = get(&app, m["url"].as_str().unwrap(), &[])
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.to_vec(), bytes, "{alias}");
    }
    // A CSV named like a web page is saved as a CSV; a malformed range gets the whole file.
    let csv = uploaded(
        &app,
        &admin,
        b"a,b\n1,2\n".to_vec(),
        "invoice.html",
        Some("text/csv"),
        json!({}),
    )
    .await;
    let resp = get(
        &app,
        csv["url"].as_str().unwrap(),
        &[("range", "bytes=5-2")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename=\"invoice.csv\""),
        "{disposition}"
    );
}

#[tokio::test]
async fn an_image_whose_job_is_given_up_is_failed_not_processing_for_ever() {
    use plugs::jobs::Job as _;
    let app = spawn_app().await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    let ctx = plugs::jobs::JobContext {
        db: app.db.clone(),
        storage: app.storage.clone(),
        broker: app.broker.clone(),
        config: std::sync::Arc::new(plugs::jobs::JobsConfig::default()),
        keyring: app.keyring.clone(),
        mailer: app.mailer.clone(),
        composer: app.composer.clone(),
        webhook_allow_private: true,
    };
    let waiting = uploaded(&app, &admin, png(20, 20), "w.png", None, json!({})).await;
    let done = uploaded(&app, &admin, png(20, 20), "d.png", None, json!({})).await;
    let (wid, did) = (
        waiting["id"].as_str().unwrap(),
        done["id"].as_str().unwrap(),
    );
    make_variants(&app, &org, did).await;
    for id in [wid, did] {
        let job = plugs::jobs::kinds::MakeVariants {
            organization_id: org.parse().unwrap(),
            media_id: id.parse().unwrap(),
        };
        job.on_discard(ctx.clone(), "storage unavailable".into())
            .await;
    }
    let m = item(&app, &admin, wid).await;
    assert_eq!(m["status"], "FAILED", "{m}");
    assert!(
        m["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("storage unavailable")
    );
    assert_eq!(
        item(&app, &admin, did).await["status"],
        "READY",
        "a finished image stays READY"
    );
}

#[tokio::test]
async fn a_chunked_upload_over_the_limit_is_413_like_a_declared_one() {
    let app = spawn_app_with(|c| c.media.upload_bytes = 64 * 1024).await;
    let admin = app.register().await;
    let boundary = "plugs-test-boundary";
    let operations = json!({ "query": "mutation($f: Upload!) { uploadMedia(file: $f) { id } }", "variables": { "f": null } });
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", json!({ "0": ["variables.f"] }).to_string()),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\ncontent-disposition: form-data; name=\"0\"; filename=\"big.txt\"\r\ncontent-type: text/plain\r\n\r\n").as_bytes());
    body.extend(std::iter::repeat_n(b'x', 100 * 1024));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    // Sent in chunks, without a Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin.access)
        .header("apollo-require-preflight", "true")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let after = app
        .gql_as(&admin.access, "{ media { totalCount } }", json!({}))
        .await;
    assert_eq!(after["data"]["media"]["totalCount"], 0);
}

const TICKET: &str = "mutation($i: CreateUploadInput!) { createUpload(input: $i) {
    uploadUrl method headers { name value } expiresAt media { id status mimeType fileSize accessLevel url } } }";

async fn ticket(app: &TestApp, s: &Session, input: Value) -> Value {
    let body = app.gql_as(&s.access, TICKET, json!({ "i": input })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createUpload"].clone()
}

/// An upload URL as a client uses it: this server's path on the filesystem backend, an
/// absolute presigned URL on S3.
fn absolute(app: &TestApp, url: &str) -> String {
    if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_owned()
    }
}

async fn put(app: &TestApp, url: &str, bytes: Vec<u8>) -> reqwest::StatusCode {
    app.client
        .put(absolute(app, url))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("PUT answered")
        .status()
}

async fn complete(app: &TestApp, s: &Session, id: &str) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!) {{ completeUpload(mediaId: $id) {{ {MEDIA} }} }}"),
        json!({ "id": id }),
    )
    .await
}

#[tokio::test]
async fn a_direct_upload_is_put_then_completed_and_checked_like_a_multipart_one() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let stranger = app.register().await;
    let org = org_id(&app, &admin).await;
    let bytes = png(300, 200);
    let t = ticket(
        &app,
        &admin,
        json!({ "fileName": "big.png", "contentType": "image/png", "size": bytes.len(), "accessLevel": "PRIVATE", "tags": ["trip"] }),
    )
    .await;
    let huge_image = app
        .gql_as(
            &admin.access,
            TICKET,
            json!({ "i": { "fileName": "huge.png", "contentType": "image/png", "size": 60 * 1024 * 1024 } }),
        )
        .await;
    assert_eq!(
        field(&huge_image),
        Some("size"),
        "images are read whole: {huge_image}"
    );
    assert_eq!(t["method"], "PUT");
    assert_eq!(
        t["headers"],
        json!([{ "name": "Content-Type", "value": "image/png" }])
    );
    assert_eq!(t["media"]["status"], "PROCESSING");
    assert_eq!(t["media"]["url"], Value::Null, "no bytes yet: no link");
    let id = t["media"]["id"].as_str().unwrap();
    let url = t["uploadUrl"].as_str().unwrap();
    // The filesystem backend takes the bytes on this server; S3 at a presigned URL.
    let own_route = url.starts_with("/uploads/");
    assert!(own_route || url.starts_with("http"), "{url}");

    // Until completed the item is nobody's: not listed, not found, not completable without bytes.
    let listed = app
        .gql_as(
            &admin.access,
            "{ media { totalCount } trash: media(filter: { deleted: true }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"],
        json!({ "media": { "totalCount": 0 }, "trash": { "totalCount": 0 } })
    );
    assert_eq!(item(&app, &admin, id).await, Value::Null);
    let early = complete(&app, &admin, id).await;
    assert_eq!(error_code(&early), Some("BAD_USER_INPUT"), "{early}");

    let mut longer = bytes.clone();
    longer.push(0);
    if own_route {
        // This server's URL is signed over the size: tampering, more or fewer bytes are refused.
        let tampered = url.replace("size=", "size=1");
        assert_eq!(put(&app, &tampered, bytes.clone()).await, 403);
        assert_eq!(put(&app, url, longer.clone()).await, 413);
        let chunked = app
            .client
            .put(app.url(url))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                longer
                    .chunks(1000)
                    .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                    .collect::<Vec<_>>(),
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(chunked.status(), 413, "chunked, without a Content-Length");
        assert_eq!(put(&app, url, bytes[..100].to_vec()).await, 400);
    } else {
        // S3 checks its own signature and takes any size: completion checks it.
        assert_eq!(put(&app, url, longer.clone()).await, 200);
        let wrong = complete(&app, &admin, id).await;
        assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    }
    assert_eq!(put(&app, url, bytes.clone()).await, 200);

    // Only the uploader (or an admin) completes it; another organization finds nothing.
    let foreign = complete(&app, &stranger, id).await;
    assert_eq!(error_code(&foreign), Some("NOT_FOUND"), "{foreign}");
    let hidden = complete(&app, &member, id).await;
    assert_eq!(
        error_code(&hidden),
        Some("NOT_FOUND"),
        "a PRIVATE upload: {hidden}"
    );
    let done = complete(&app, &admin, id).await;
    assert!(done["errors"].is_null(), "{done}");
    let m = &done["data"]["completeUpload"];
    assert_eq!(m["status"], "PROCESSING");
    assert_eq!(m["mimeType"], "image/png");
    assert_eq!(m["fileSize"], bytes.len());
    assert_eq!(m["tags"], json!(["trip"]));
    let again = complete(&app, &admin, id).await;
    assert_eq!(
        again["data"]["completeUpload"]["id"], id,
        "completing twice: {again}"
    );
    make_variants(&app, &org, id).await;
    let ready = item(&app, &admin, id).await;
    assert_eq!(ready["status"], "READY");
    assert_eq!(ready["metadata"]["width"], 300);
    let original = get(&app, ready["url"].as_str().unwrap(), &[]).await;
    assert_eq!(original.status(), 200);
    assert_eq!(original.bytes().await.unwrap().to_vec(), bytes);

    // A replayed PUT within the ticket's life changes nothing anyone downloads (this server
    // refuses it; S3 takes it into the staging key, which nothing reads any more).
    let replayed = put(&app, url, png(300, 200).iter().map(|b| b ^ 1).collect()).await;
    assert_eq!(replayed, if own_route { 409 } else { 200 });
    let again = complete(&app, &admin, id).await;
    assert_eq!(
        again["data"]["completeUpload"]["status"], "READY",
        "{again}"
    );
    let after = get(&app, ready["url"].as_str().unwrap(), &[]).await;
    assert_eq!(after.bytes().await.unwrap().to_vec(), bytes);
    let audit = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { auditLogs(filter: { recordId: $id }) { nodes { action } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        audit["data"]["auditLogs"]["nodes"],
        json!([{ "action": "CREATE" }]),
        "{audit}"
    );
}

#[tokio::test]
async fn a_direct_upload_of_the_wrong_type_or_size_is_refused_and_nothing_is_kept() {
    let app = spawn_app_with(|c| c.media.direct_upload_bytes = 10_000).await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    for (input, field_name) in [
        (
            json!({ "fileName": "a", "contentType": "text/plain", "size": 0 }),
            "size",
        ),
        (
            json!({ "fileName": "a", "contentType": "text/plain", "size": 10_001 }),
            "size",
        ),
        (
            json!({ "fileName": "a", "contentType": "text/html", "size": 5 }),
            "contentType",
        ),
        (
            json!({ "fileName": "a", "contentType": "image/svg+xml", "size": 5 }),
            "contentType",
        ),
        (
            json!({ "fileName": "a", "contentType": "text/plain", "size": 5, "relatedEventId": uuid::Uuid::new_v4() }),
            "relatedEventId",
        ),
    ] {
        let body = app
            .gql_as(&admin.access, TICKET, json!({ "i": input }))
            .await;
        assert_eq!(
            error_code(&body),
            Some(if field_name == "relatedEventId" {
                "NOT_FOUND"
            } else {
                "BAD_USER_INPUT"
            }),
            "{input}: {body}"
        );
        if field_name != "relatedEventId" {
            assert_eq!(field(&body), Some(field_name), "{body}");
        }
    }
    // Declared a PDF, sent a PNG: refused at completion, and the item and its bytes are gone.
    let bytes = png(10, 10);
    let t = ticket(
        &app,
        &admin,
        json!({ "fileName": "doc.pdf", "contentType": "application/pdf", "size": bytes.len() }),
    )
    .await;
    let id = t["media"]["id"].as_str().unwrap();
    assert_eq!(
        put(&app, t["uploadUrl"].as_str().unwrap(), bytes).await,
        200
    );
    let refused = complete(&app, &admin, id).await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    let gone = complete(&app, &admin, id).await;
    assert_eq!(error_code(&gone), Some("NOT_FOUND"), "{gone}");
    assert_eq!(
        app.storage.list(&format!("uploads/{org}")).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        app.storage.list(&format!("media/{org}")).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_expired_upload_url_is_refused_and_abandoned_uploads_are_removed() {
    let app =
        spawn_app_with(|c| c.media.upload_ticket_ttl = std::time::Duration::from_secs(1)).await;
    let admin = app.register().await;
    let org = org_id(&app, &admin).await;
    let arrived = ticket(
        &app,
        &admin,
        json!({ "fileName": "a.txt", "contentType": "text/plain", "size": 5 }),
    )
    .await;
    assert_eq!(
        put(
            &app,
            arrived["uploadUrl"].as_str().unwrap(),
            b"hello".to_vec()
        )
        .await,
        200
    );
    let never = ticket(
        &app,
        &admin,
        json!({ "fileName": "b.txt", "contentType": "text/plain", "size": 5 }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let late = never["uploadUrl"].as_str().unwrap();
    if late.starts_with('/') {
        // This server's own URL; on S3 the expiry is S3's to enforce (moto does not).
        assert_eq!(put(&app, late, b"hello".to_vec()).await, 403);
    }
    assert_eq!(
        app.storage
            .list(&format!("uploads/{org}"))
            .await
            .unwrap()
            .len(),
        1
    );
    let n = plugs::services::media::purge_abandoned_uploads(
        &app.db,
        &app.storage,
        plugs::services::now(),
    )
    .await
    .unwrap();
    assert!(n >= 2, "both of this organization's expired uploads: {n}");
    for t in [&arrived, &never] {
        let gone = complete(&app, &admin, t["media"]["id"].as_str().unwrap()).await;
        assert_eq!(error_code(&gone), Some("NOT_FOUND"), "{gone}");
    }
    assert_eq!(
        app.storage.list(&format!("uploads/{org}")).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_multipart_request_carries_at_most_ten_files() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let send = |n: usize| {
        let mut map = serde_json::Map::new();
        let mut doc = String::from("mutation(");
        let mut body = String::new();
        let mut vars = serde_json::Map::new();
        for i in 0..n {
            doc.push_str(&format!("$f{i}: Upload! "));
            body.push_str(&format!("u{i}: uploadMedia(file: $f{i}) {{ id }} "));
            vars.insert(format!("f{i}"), Value::Null);
            map.insert(i.to_string(), json!([format!("variables.f{i}")]));
        }
        let operations = json!({ "query": format!("{doc}) {{ {body} }}"), "variables": vars });
        let mut form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", Value::Object(map).to_string());
        for i in 0..n {
            let part = reqwest::multipart::Part::bytes(b"note".to_vec())
                .file_name(format!("n{i}.txt"))
                .mime_str("text/plain")
                .unwrap();
            form = form.part(i.to_string(), part);
        }
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(&admin.access)
            .header("apollo-require-preflight", "true")
            .multipart(form)
            .send()
    };
    let ten = send(10).await.unwrap();
    assert_eq!(ten.status(), 200);
    let body: Value = ten.json().await.unwrap();
    assert!(body["errors"].is_null(), "{body}");
    let eleven = send(11).await.unwrap();
    assert_eq!(eleven.status(), 400);
    let body: Value = eleven.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let count = app
        .gql_as(&admin.access, "{ media { totalCount } }", json!({}))
        .await;
    assert_eq!(
        count["data"]["media"]["totalCount"], 10,
        "nothing of the refused request"
    );
}
