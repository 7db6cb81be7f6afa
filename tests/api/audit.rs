//! Every mutation writes exactly one audit row, in its transaction; a refused one writes none.

use serde_json::{Value, json};

use crate::helpers::{AUTH_FIELDS, PASSWORD, Session, TestApp, error_code, spawn_app};

const LOG: &str = "{ auditLogs(first: 100) { totalCount nodes { tableName recordId action oldValues newValues metadata } } }";

async fn log(app: &TestApp, admin: &Session) -> Value {
    let body = app.gql_as(&admin.access, LOG, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["auditLogs"].clone()
}

#[tokio::test]
async fn each_mutation_writes_one_audit_row_without_secrets() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let first = log(&app, &admin).await;
    assert_eq!(first["totalCount"], 1);
    assert_eq!(first["nodes"][0]["tableName"], "organizations");
    assert_eq!(first["nodes"][0]["action"], "CREATE");

    let member_email = format!("m@{}", admin.domain);
    let steps: Vec<(&str, String, Value, &str, &str)> = vec![
        ("createUser", "mutation($e: String!) { createUser(input: { email: $e, password: \"correct horse battery\", firstName: \"M\", lastName: \"N\" }) { id } }".into(),
            json!({ "e": member_email }), "users", "CREATE"),
        ("updateMe", "mutation { updateMe(input: { bio: \"hi\" }) { id } }".into(), json!({}), "users", "UPDATE"),
        ("updateOrganization", "mutation { updateOrganization(input: { name: \"Renamed\", settings: { theme: \"dark\" } }) { id } }".into(),
            json!({}), "organizations", "UPDATE"),
        ("login", format!("mutation($e: String!) {{ login(input: {{ email: $e, password: \"{PASSWORD}\" }}) {{ {AUTH_FIELDS} }} }}"),
            json!({ "e": admin.email }), "users", "UPDATE"),
        ("changePassword", "mutation { changePassword(currentPassword: \"correct horse battery\", newPassword: \"another fine pass\") }".into(),
            json!({}), "users", "UPDATE"),
        ("sendNotification", "mutation { sendNotification(input: { allMembers: true, title: \"Hi\", message: \"all\" }) }".into(),
            json!({}), "notifications", "CREATE"),
        ("markAllNotificationsRead", "mutation { markAllNotificationsRead }".into(), json!({}), "notifications", "UPDATE"),
    ];
    let mut expected = 1;
    for (name, q, vars, table, action) in steps {
        let body = app.gql_as(&admin.access, &q, vars).await;
        assert!(body["errors"].is_null(), "{name}: {body}");
        expected += 1;
        let l = log(&app, &admin).await;
        assert_eq!(
            l["totalCount"], expected,
            "{name} must write exactly one row"
        );
        assert_eq!(l["nodes"][0]["tableName"], table, "{name}");
        assert_eq!(l["nodes"][0]["action"], action, "{name}");
        assert!(l["nodes"][0]["metadata"]["requestId"].is_string(), "{name}");
    }

    let member = app.login(&member_email, PASSWORD, None).await;
    let member_id = member["data"]["login"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = member["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    expected += 1; // the member's login
    let admin_steps: Vec<(&str, Value, &str)> = vec![
        (
            "mutation($id: ID!) { updateUser(id: $id, input: { jobTitle: \"CTO\" }) { id } }",
            json!({ "id": member_id }),
            "UPDATE",
        ),
        (
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            json!({ "id": member_id }),
            "DELETE",
        ),
        (
            "mutation($id: ID!) { restoreUser(id: $id) { id } }",
            json!({ "id": member_id }),
            "RESTORE",
        ),
    ];
    for (q, vars, action) in admin_steps {
        let body = app.gql_as(&admin.access, q, vars).await;
        assert!(body["errors"].is_null(), "{q}: {body}");
        expected += 1;
        let l = log(&app, &admin).await;
        assert_eq!(l["totalCount"], expected, "{q}");
        assert_eq!(l["nodes"][0]["action"], action);
        assert_eq!(l["nodes"][0]["recordId"], member_id.as_str());
        assert!(l["nodes"][0]["oldValues"].is_object() && l["nodes"][0]["newValues"].is_object());
    }
    // The member's session was ended by the delete; a fresh login then logout and refresh.
    let again = app.login(&member_email, PASSWORD, None).await;
    let refresh2 = again["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    expected += 1;
    let r = app
        .graphql(
            &format!(
                "mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}"
            ),
            json!({ "t": refresh2 }),
        )
        .await;
    let refresh3 = r["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .expect("refreshed")
        .to_owned();
    expected += 1;
    assert!(
        app.graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": refresh3 })
        )
        .await["errors"]
            .is_null()
    );
    expected += 1;
    let l = log(&app, &admin).await;
    assert_eq!(l["totalCount"], expected);
    assert_eq!(l["nodes"][0]["tableName"], "refresh_tokens");
    assert_eq!(l["nodes"][0]["action"], "DELETE");

    // Refused mutations write nothing.
    let dup = app
        .gql_as(&admin.access, "mutation($e: String!) { createUser(input: { email: $e, password: \"correct horse battery\", firstName: \"M\", lastName: \"N\" }) { id } }", json!({ "e": member_email }))
        .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"));
    let stale = app
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": "nope" }),
        )
        .await;
    assert_eq!(error_code(&stale), Some("UNAUTHENTICATED"));
    let _ = refresh;
    let l = log(&app, &admin).await;
    assert_eq!(l["totalCount"], expected);

    let text = l.to_string();
    for secret in [
        "password_hash",
        "$argon2",
        "token_hash",
        PASSWORD,
        "another fine pass",
    ] {
        assert!(!text.contains(secret), "the audit log holds {secret}");
    }
}

#[tokio::test]
async fn the_audit_log_filters_by_table_action_record_and_time() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { deleteUser(id: $id) { id } }",
        json!({ "id": member.user_id }),
    )
    .await;
    let q = "query($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount nodes { action tableName } } }";
    let count = |b: &Value| b["data"]["auditLogs"]["totalCount"].as_i64().unwrap();
    let b = app
        .gql_as(&admin.access, q, json!({ "f": { "action": "DELETE" } }))
        .await;
    assert_eq!(count(&b), 1, "{b}");
    let b = app
        .gql_as(
            &admin.access,
            q,
            json!({ "f": { "tableName": "users", "recordId": member.user_id } }),
        )
        .await;
    assert_eq!(count(&b), 3, "create, the member's login, delete: {b}");
    let b = app
        .gql_as(
            &admin.access,
            q,
            json!({ "f": { "userId": member.user_id } }),
        )
        .await;
    assert_eq!(count(&b), 1, "only the member's own login: {b}");
    let b = app
        .gql_as(
            &admin.access,
            q,
            json!({ "f": { "createdAfter": "2999-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(count(&b), 0);
    let b = app
        .gql_as(
            &admin.access,
            q,
            json!({ "f": { "createdBefore": "2999-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(count(&b), 4);
}
