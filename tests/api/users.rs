//! Members: the directory, admin management, own profile, pagination.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, error_code, error_field as field, spawn_app};

async fn create(app: &TestApp, admin: &Session, input: Value) -> Value {
    app.gql_as(
        &admin.access,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id email firstName isAdmin jobTitle linkedinUrl } }",
        json!({ "i": input }),
    )
    .await
}

#[tokio::test]
async fn a_member_cannot_use_admin_mutations() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let forbidden = [
        (
            "mutation { createUser(input: { email: \"x@y.test\", password: \"password1\", firstName: \"X\", lastName: \"Y\" }) { id } }",
            json!({}),
        ),
        (
            "mutation($id: ID!) { updateUser(id: $id, input: { isAdmin: true }) { id } }",
            json!({ "id": member.user_id }),
        ),
        (
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            json!({ "id": admin.user_id }),
        ),
        (
            "mutation($id: ID!) { restoreUser(id: $id) { id } }",
            json!({ "id": admin.user_id }),
        ),
        (
            "mutation { updateOrganization(input: { name: \"Mine now\" }) { id } }",
            json!({}),
        ),
        ("{ auditLogs { totalCount } }", json!({})),
        (
            "{ users(filter: { deleted: true }) { totalCount } }",
            json!({}),
        ),
    ];
    for (q, vars) in forbidden {
        let body = app.gql_as(&member.access, q, vars).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{q}: {body}");
    }
    // The member is still not an admin and the organization kept its name.
    let me = app
        .gql_as(
            &member.access,
            "{ me { isAdmin } organization { name } }",
            json!({}),
        )
        .await;
    assert!(me["errors"].is_null(), "{me}");
    assert_eq!(me["data"]["me"]["isAdmin"], false);
    let name = me["data"]["organization"]["name"].as_str().expect("a name");
    assert_ne!(name, "Mine now");
    // Members may read the directory.
    let dir = app
        .gql_as(&member.access, "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(dir["data"]["users"]["totalCount"], 2, "{dir}");
}

#[tokio::test]
async fn admins_create_and_update_members_with_validation() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let email = format!("new@{}", admin.domain);
    let ok = create(
        &app,
        &admin,
        json!({ "email": email.to_uppercase(), "password": PASSWORD, "firstName": " Lin ",
        "lastName": "Us", "jobTitle": "CTO", "linkedinUrl": "https://linkedin.com/in/lin" }),
    )
    .await;
    let user = &ok["data"]["createUser"];
    assert_eq!(
        user["email"],
        email.as_str(),
        "emails are stored lowercase: {ok}"
    );
    assert_eq!(user["firstName"], "Lin");
    assert_eq!(user["isAdmin"], false);

    let dup = create(
        &app,
        &admin,
        json!({ "email": email, "password": PASSWORD, "firstName": "L", "lastName": "U" }),
    )
    .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"), "{dup}");
    assert_eq!(field(&dup), Some("email"));
    for (key, value, f) in [
        ("email", json!("nope"), "email"),
        ("password", json!("1234567"), "password"),
        ("lastName", json!(""), "lastName"),
        ("phone", json!("1".repeat(21)), "phone"),
        ("linkedinUrl", json!("ftp://x"), "linkedinUrl"),
        ("avatarUrl", json!("javascript:alert(1)"), "avatarUrl"),
    ] {
        let mut input = json!({ "email": format!("v@{}", admin.domain), "password": PASSWORD, "firstName": "V", "lastName": "W" });
        input[key] = value;
        let body = create(&app, &admin, input).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{key}: {body}");
        assert_eq!(field(&body), Some(f), "{key}");
    }

    let id = user["id"].as_str().unwrap();
    let upd = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { jobTitle linkedinUrl firstName isAdmin } }";
    // Omitted stays, null clears.
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": id, "i": { "jobTitle": null, "isAdmin": true } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateUser"],
        json!({ "jobTitle": null, "linkedinUrl": "https://linkedin.com/in/lin",
        "firstName": "Lin", "isAdmin": true }),
        "{body}"
    );
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": id, "i": { "firstName": null } }),
        )
        .await;
    assert_eq!(
        field(&body),
        Some("firstName"),
        "a required field cannot be cleared: {body}"
    );
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": uuid::Uuid::new_v4(), "i": { "jobTitle": "x" } }),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"));
    let body = app
        .gql_as(&admin.access, upd, json!({ "id": "not-a-uuid", "i": {} }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn members_update_their_own_profile_only() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let q = "mutation($i: UpdateMeInput!) { updateMe(input: $i) { id bio company isAdmin } }";
    let body = app
        .gql_as(
            &member.access,
            q,
            json!({ "i": { "bio": "Hello", "company": "Acme" } }),
        )
        .await;
    assert_eq!(body["data"]["updateMe"]["id"], member.user_id.as_str());
    assert_eq!(body["data"]["updateMe"]["bio"], "Hello");
    // UpdateMeInput has no isAdmin: promoting oneself is not even expressible.
    let body = app
        .gql_as(
            &member.access,
            "mutation { updateMe(input: { isAdmin: true }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        crate::helpers::error_code(&body),
        Some("BAD_USER_INPUT"),
        "{body}"
    );
    let body = app
        .gql_as(&member.access, q, json!({ "i": { "company": null } }))
        .await;
    assert_eq!(body["data"]["updateMe"]["company"], Value::Null);
    assert_eq!(body["data"]["updateMe"]["bio"], "Hello");
}

#[tokio::test]
async fn the_last_active_admin_cannot_step_down_or_be_removed() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let upd = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { isAdmin isActive } }";
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": admin.user_id, "i": { "isAdmin": false } }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(field(&body), Some("isAdmin"));
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": admin.user_id, "i": { "isActive": false } }),
        )
        .await;
    assert_eq!(field(&body), Some("isActive"));
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            json!({ "id": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    // With a second admin, the first may step down; then the second is the last one.
    let second = app.member(&admin, true).await;
    let body = app
        .gql_as(
            &admin.access,
            upd,
            json!({ "id": admin.user_id, "i": { "isAdmin": false } }),
        )
        .await;
    assert_eq!(body["data"]["updateUser"]["isAdmin"], false, "{body}");
    let body = app
        .gql_as(
            &admin.access,
            "{ users(filter: { deleted: true }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        Some("FORBIDDEN"),
        "the demotion took effect at once"
    );
    let body = app
        .gql_as(
            &second.access,
            upd,
            json!({ "id": second.user_id, "i": { "isAdmin": false } }),
        )
        .await;
    assert_eq!(field(&body), Some("isAdmin"));
}

#[tokio::test]
async fn concurrent_demotions_never_leave_the_organization_without_an_admin() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.member(&a, true).await;
    let upd = "mutation($id: ID!) { updateUser(id: $id, input: { isAdmin: false }) { isAdmin } }";
    let (ra, rb) = tokio::join!(
        app.gql_as(&a.access, upd, json!({ "id": b.user_id })),
        app.gql_as(&b.access, upd, json!({ "id": a.user_id })),
    );
    let ok = [&ra, &rb].iter().filter(|r| r["errors"].is_null()).count();
    assert_eq!(ok, 1, "exactly one demotion wins: {ra} {rb}");
    // The other is refused by a rule, not by a database hiccup: the last-admin rule, or (when
    // it was demoted before its own request signed in) it is no admin any more.
    let lost = if ra["errors"].is_null() { &rb } else { &ra };
    let code = crate::helpers::error_code(lost);
    assert!(
        (code == Some("BAD_USER_INPUT") && crate::helpers::error_field(lost) == Some("isAdmin"))
            || code == Some("FORBIDDEN"),
        "{lost}"
    );
    let admins = app
        .gql_as(
            &a.access,
            "{ users(filter: { isAdmin: true }) { totalCount } }",
            json!({}),
        )
        .await;
    let admins2 = app
        .gql_as(
            &b.access,
            "{ users(filter: { isAdmin: true }) { totalCount } }",
            json!({}),
        )
        .await;
    let n = admins["data"]["users"]["totalCount"]
        .as_i64()
        .or(admins2["data"]["users"]["totalCount"].as_i64());
    assert_eq!(n, Some(1));
}

#[tokio::test]
async fn the_directory_filters_searches_and_pages_with_cursors() {
    let app = spawn_app().await;
    let admin = app.register().await;
    for (first, last, is_admin) in [
        ("Grace", "Hopper", false),
        ("Alan", "Turing", true),
        ("Ada", "Lovelace", false),
        ("Linus", "Torvalds", false),
        ("Barbara", "Liskov", false),
    ] {
        let body = create(
            &app,
            &admin,
            json!({ "email": format!("{}@{}", first.to_lowercase(), admin.domain),
            "password": PASSWORD, "firstName": first, "lastName": last, "isAdmin": is_admin }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let list = "query($f: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {
        users(filter: $f, first: $first, after: $after, last: $last, before: $before) {
          totalCount nodes { firstName } edges { cursor }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let names = |b: &Value| -> Vec<String> {
        b["data"]["users"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["firstName"].as_str().unwrap().to_owned())
            .collect()
    };
    let body = app
        .gql_as(&admin.access, list, json!({ "f": { "search": "LOV" } }))
        .await;
    assert_eq!(names(&body), ["Ada"]);
    let body = app
        .gql_as(&admin.access, list, json!({ "f": { "search": "ing" } }))
        .await;
    assert_eq!(names(&body), ["Alan"]);
    let body = app
        .gql_as(&admin.access, list, json!({ "f": { "search": "GRACE@" } }))
        .await;
    assert_eq!(names(&body), ["Grace"], "search covers emails");
    let body = app
        .gql_as(&admin.access, list, json!({ "f": { "isAdmin": true } }))
        .await;
    assert_eq!(names(&body), ["Ada", "Alan"]);
    let body = app
        .gql_as(&admin.access, list, json!({ "f": { "search": "%" } }))
        .await;
    assert_eq!(
        body["data"]["users"]["totalCount"], 0,
        "% is a character, not a wildcard"
    );

    // Forward through all six, two at a time, then back.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .gql_as(&admin.access, list, json!({ "first": 2, "after": after }))
            .await;
        seen.extend(names(&body));
        let info = &body["data"]["users"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], !after.is_null());
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(seen, ["Ada", "Grace", "Alan", "Ada", "Linus", "Barbara"]);
    let body = app.gql_as(&admin.access, list, json!({ "last": 2 })).await;
    assert_eq!(names(&body), ["Linus", "Barbara"]);
    assert_eq!(body["data"]["users"]["pageInfo"]["hasPreviousPage"], true);
    let before = body["data"]["users"]["pageInfo"]["startCursor"].clone();
    let body = app
        .gql_as(&admin.access, list, json!({ "last": 3, "before": before }))
        .await;
    assert_eq!(names(&body), ["Grace", "Alan", "Ada"]);
    assert_eq!(body["data"]["users"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(body["data"]["users"]["pageInfo"]["hasNextPage"], true);

    for (vars, f) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "after": "garbage" }), "after"),
        (json!({ "first": 1, "last": 1 }), "first"),
    ] {
        let body = app.gql_as(&admin.access, list, vars.clone()).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{vars}: {body}");
        assert_eq!(field(&body), Some(f));
    }
}

#[tokio::test]
async fn concurrent_writes_all_succeed() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let q = "mutation($b: String!) { updateMe(input: { bio: $b }) { bio } }";
    let writes = (0..20).map(|i| app.gql_as(&admin.access, q, json!({ "b": format!("bio {i}") })));
    let answers = futures_util::future::join_all(writes).await;
    for a in &answers {
        assert!(a["errors"].is_null(), "{a}");
    }
}
