//! Media collections: CRUD and the trash, members in order and at most once, what each viewer
//! sees of them, who may change them, concurrent changes, and batched loading.

use serde_json::{Value, json};

use crate::helpers::{
    Session, TestApp, error_code, error_field as field, spawn_app, spawn_app_with,
};
use crate::media::{png, upload};

async fn media(app: &TestApp, s: &Session, level: &str) -> String {
    let (status, body) = upload(
        app,
        &s.access,
        png(4, 4),
        "p.png",
        None,
        json!({ "accessLevel": level }),
    )
    .await;
    body["data"]["uploadMedia"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: {body}"))
        .to_owned()
}

async fn collection(app: &TestApp, s: &Session, name: &str) -> Value {
    let body = app
        .gql_as(
            &s.access,
            "mutation($n: String!) { createMediaCollection(input: { name: $n, description: \"d\", collectionType: EVENT_PHOTOS, settings: { cover: 1 } })
               { id name description collectionType settings createdBy { id } deletedAt } }",
            json!({ "n": name }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createMediaCollection"].clone()
}

/// Runs `addToCollection` / `removeFromCollection` / `reorderCollection`.
async fn change(app: &TestApp, s: &Session, op: &str, c: &str, ids: &[&str]) -> Value {
    app.gql_as(
        &s.access,
        &format!(
            "mutation($c: ID!, $m: [ID!]!) {{ {op}(collectionId: $c, mediaIds: $m) {{ id }} }}"
        ),
        json!({ "c": c, "m": ids }),
    )
    .await
}

async fn changed(app: &TestApp, s: &Session, op: &str, c: &str, ids: &[&str]) {
    let body = change(app, s, op, c, ids).await;
    assert!(body["errors"].is_null(), "{op}: {body}");
}

/// The member ids `s` sees, in order, and the count.
async fn members(app: &TestApp, s: &Session, c: &str) -> (Vec<String>, i64) {
    let body = app
        .gql_as(
            &s.access,
            "query($c: ID!) { mediaCollection(id: $c) { items(first: 50) { totalCount nodes { id } } } }",
            json!({ "c": c }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let items = &body["data"]["mediaCollection"]["items"];
    let ids = items["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, items["totalCount"].as_i64().unwrap())
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_collection_keeps_its_items_in_order_once_each_and_shows_each_viewer_what_they_may_see() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let alice = app.member(&admin, false).await;
    let bob = app.member(&admin, false).await;
    let a = media(&app, &alice, "ORGANIZATION").await;
    let b = media(&app, &alice, "PUBLIC").await;
    let c = media(&app, &alice, "ORGANIZATION").await;
    let p = media(&app, &alice, "PRIVATE").await;
    let coll = collection(&app, &alice, "Trip").await;
    assert_eq!(coll["collectionType"], "EVENT_PHOTOS");
    assert_eq!(coll["settings"], json!({ "cover": 1 }));
    assert_eq!(coll["createdBy"]["id"], alice.user_id.as_str());
    let id = coll["id"].as_str().unwrap();

    changed(&app, &alice, "addToCollection", id, &[&a, &b]).await;
    // b is already there: it stays where it is, once.
    changed(&app, &alice, "addToCollection", id, &[&b, &c, &p]).await;
    assert_eq!(
        members(&app, &alice, id).await,
        (strs(&[&a, &b, &c, &p]), 4)
    );
    // Bob sees the collection but not Alice's PRIVATE item, in the list or the count.
    assert_eq!(members(&app, &bob, id).await, (strs(&[&a, &b, &c]), 3));
    assert_eq!(
        members(&app, &admin, id).await,
        (strs(&[&a, &b, &c, &p]), 4)
    );

    // Bad input names its argument.
    let twice = change(&app, &alice, "addToCollection", id, &[&a, &a]).await;
    assert_eq!(error_code(&twice), Some("BAD_USER_INPUT"), "{twice}");
    assert_eq!(field(&twice), Some("mediaIds"));
    let none = change(&app, &alice, "addToCollection", id, &[]).await;
    assert_eq!(error_code(&none), Some("BAD_USER_INPUT"), "{none}");
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let too_many = change(&app, &alice, "addToCollection", id, &many).await;
    assert_eq!(error_code(&too_many), Some("BAD_USER_INPUT"), "{too_many}");
    let stranger = change(
        &app,
        &alice,
        "reorderCollection",
        id,
        &[&uuid::Uuid::new_v4().to_string()],
    )
    .await;
    assert_eq!(error_code(&stranger), Some("BAD_USER_INPUT"), "{stranger}");
    let malformed = change(&app, &alice, "addToCollection", id, &["nope"]).await;
    assert_eq!(
        error_code(&malformed),
        Some("BAD_USER_INPUT"),
        "{malformed}"
    );

    // Only the creator and admins change it; Bob cannot even add Alice's PRIVATE item to his own.
    for op in [
        "addToCollection",
        "removeFromCollection",
        "reorderCollection",
    ] {
        let denied = change(&app, &bob, op, id, &[&a]).await;
        assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{op}: {denied}");
    }
    let renamed = app
        .gql_as(
            &bob.access,
            "mutation($id: ID!) { updateMediaCollection(id: $id, input: { name: \"Mine\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&renamed), Some("FORBIDDEN"), "{renamed}");
    let bobs = collection(&app, &bob, "Bob's").await;
    let hidden = change(
        &app,
        &bob,
        "addToCollection",
        bobs["id"].as_str().unwrap(),
        &[&p],
    )
    .await;
    assert_eq!(error_code(&hidden), Some("NOT_FOUND"), "{hidden}");

    // Reorder: the named go first, the rest keep their order; pages follow the order.
    changed(&app, &alice, "reorderCollection", id, &[&c, &a]).await;
    assert_eq!(members(&app, &alice, id).await.0, strs(&[&c, &a, &b, &p]));
    changed(&app, &admin, "reorderCollection", id, &[&p]).await;
    assert_eq!(members(&app, &alice, id).await.0, strs(&[&p, &c, &a, &b]));
    let q = "query($c: ID!, $after: String) { mediaCollection(id: $c) { items(first: 3, after: $after) {
        pageInfo { hasNextPage endCursor } nodes { id } } } }";
    let first = app.gql_as(&alice.access, q, json!({ "c": id })).await;
    let page = &first["data"]["mediaCollection"]["items"];
    assert_eq!(
        page["nodes"],
        json!([{ "id": p }, { "id": c }, { "id": a }])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let next = app
        .gql_as(
            &alice.access,
            q,
            json!({ "c": id, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let page = &next["data"]["mediaCollection"]["items"];
    assert_eq!(page["nodes"], json!([{ "id": b }]), "{next}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let last = app
        .gql_as(
            &alice.access,
            "query($c: ID!) { mediaCollection(id: $c) { items(last: 2) { nodes { id } } } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(
        last["data"]["mediaCollection"]["items"]["nodes"],
        json!([{ "id": a }, { "id": b }])
    );

    // Remove takes items out (the media stay); a soft-deleted item is hidden, back on restore.
    changed(&app, &alice, "removeFromCollection", id, &[&a]).await;
    assert_eq!(members(&app, &alice, id).await, (strs(&[&p, &c, &b]), 3));
    let again = change(&app, &alice, "removeFromCollection", id, &[&a]).await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");
    let still = app
        .gql_as(
            &alice.access,
            "query($id: ID!) { mediaItem(id: $id) { id } }",
            json!({ "id": a }),
        )
        .await;
    assert_eq!(still["data"]["mediaItem"]["id"], a.as_str());
    let del = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { deleteMedia(id: $id) { id } }",
            json!({ "id": c }),
        )
        .await;
    assert!(del["errors"].is_null(), "{del}");
    assert_eq!(members(&app, &alice, id).await, (strs(&[&p, &b]), 2));
    app.gql_as(
        &alice.access,
        "mutation($id: ID!) { restoreMedia(id: $id) { id } }",
        json!({ "id": c }),
    )
    .await;
    assert_eq!(members(&app, &alice, id).await.0, strs(&[&p, &c, &b]));

    // Update, filter, the trash and restore (members intact).
    let updated = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { updateMediaCollection(id: $id, input: { name: \"Trip 2026\", description: null, collectionType: GENERAL }) { name description collectionType } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        updated["data"]["updateMediaCollection"],
        json!({ "name": "Trip 2026", "description": null, "collectionType": "GENERAL" })
    );
    let blank = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { updateMediaCollection(id: $id, input: { name: \"  \" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(field(&blank), Some("name"), "{blank}");
    let not_object = app
        .gql_as(
            &alice.access,
            "mutation { createMediaCollection(input: { name: \"x\", settings: [1] }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(field(&not_object), Some("settings"), "{not_object}");
    let list = "query($f: MediaCollectionFilter) { mediaCollections(filter: $f) { totalCount nodes { id } } }";
    let found = app
        .gql_as(
            &bob.access,
            list,
            json!({ "f": { "search": "trip 20", "collectionType": ["GENERAL"] } }),
        )
        .await;
    assert_eq!(
        found["data"]["mediaCollections"]["nodes"],
        json!([{ "id": id }]),
        "{found}"
    );
    let del = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { deleteMediaCollection(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        !del["data"]["deleteMediaCollection"]["deletedAt"].is_null(),
        "{del}"
    );
    let gone = app
        .gql_as(
            &alice.access,
            "query($id: ID!) { mediaCollection(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["data"]["mediaCollection"], Value::Null);
    let trash = app
        .gql_as(&admin.access, list, json!({ "f": { "deleted": true } }))
        .await;
    assert_eq!(
        trash["data"]["mediaCollections"]["nodes"],
        json!([{ "id": id }])
    );
    let locked = change(&app, &alice, "addToCollection", id, &[&a]).await;
    assert_eq!(
        error_code(&locked),
        Some("NOT_FOUND"),
        "a deleted collection: {locked}"
    );
    let back = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { restoreMediaCollection(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(back["errors"].is_null(), "{back}");
    assert_eq!(members(&app, &alice, id).await.0, strs(&[&p, &c, &b]));

    // Every change is in the audit trail, with the members before and after.
    let audit = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    // create, 2 adds, 2 reorders, remove, update, delete, restore.
    assert_eq!(audit["data"]["auditLogs"]["totalCount"], 9, "{audit}");
}

#[tokio::test]
async fn concurrent_adds_of_the_same_items_keep_each_once() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let x = media(&app, &admin, "ORGANIZATION").await;
    let y = media(&app, &admin, "ORGANIZATION").await;
    let coll = collection(&app, &admin, "Race").await;
    let id = coll["id"].as_str().unwrap();
    let mut tasks = Vec::new();
    for round in 0..6 {
        let ids = if round % 2 == 0 {
            [x.clone(), y.clone()]
        } else {
            [y.clone(), x.clone()]
        };
        let (client, url, token, id) = (
            app.client.clone(),
            app.url("/graphql"),
            admin.access.clone(),
            id.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({
                    "query": "mutation($c: ID!, $m: [ID!]!) { addToCollection(collectionId: $c, mediaIds: $m) { id } }",
                    "variables": { "c": id, "m": ids },
                }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        let body = t.await.unwrap();
        assert!(body["errors"].is_null(), "{body}");
    }
    let (ids, n) = members(&app, &admin, id).await;
    assert_eq!(n, 2);
    assert!(ids == strs(&[&x, &y]) || ids == strs(&[&y, &x]), "{ids:?}");
}

/// `MediaCollection.items` (first page and count) and the media's relations on a page of
/// collections: the statements do not grow with the page.
#[tokio::test]
async fn a_page_of_collections_loads_its_items_in_a_fixed_number_of_statements() {
    let app = spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(100)).await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    for i in 0..8 {
        let coll = collection(&app, &admin, &format!("C{i}")).await;
        let mut ids = Vec::new();
        for _ in 0..(i % 3 + 1) {
            ids.push(media(&app, &member, "ORGANIZATION").await);
        }
        ids.push(media(&app, &admin, "PRIVATE").await);
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        changed(
            &app,
            &admin,
            "addToCollection",
            coll["id"].as_str().unwrap(),
            &ids,
        )
        .await;
    }
    let q = "query($n: Int) { mediaCollections(first: $n) { nodes { id createdBy { id }
        items(first: 2) { totalCount pageInfo { hasNextPage } nodes { id title uploadedBy { id } } } } } }";
    let mut deltas = Vec::new();
    for n in [2, 8] {
        let (body, statements) = app.counted(&member.access, q, json!({ "n": n })).await;
        assert!(body["errors"].is_null(), "{body}");
        let colls = body["data"]["mediaCollections"]["nodes"]
            .as_array()
            .unwrap();
        assert_eq!(colls.len(), n as usize);
        for c in colls {
            let items = &c["items"];
            let total = items["totalCount"].as_i64().unwrap();
            // The member never counts the admin's PRIVATE item.
            assert!((1..=3).contains(&total), "{c}");
            assert_eq!(items["pageInfo"]["hasNextPage"], total > 2, "{c}");
        }
        deltas.push(statements);
    }
    // Levels: collections (+ session), then users, item pages and counts, then media, then
    // their uploaders.
    assert!(deltas.iter().all(|d| *d <= 9), "{deltas:?}");
    assert!(deltas[1] <= deltas[0] + 1, "flat in page size: {deltas:?}");
}
