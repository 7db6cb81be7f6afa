//! Notifications over HTTP: own only, created by the system in the writing transaction,
//! marked read, deleted, sent by admins, hidden when expired and purged.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::events::{create_event, lifecycle, register};
use crate::helpers::{Session, TestApp, error_code, error_field, spawn_app};

pub const NOTIFICATION: &str =
    "id title message notificationType channel data isRead readAt expiresAt createdAt";

pub async fn notifications(app: &TestApp, s: &Session, filter: Value) -> Vec<Value> {
    let body = app
        .gql_as(
            &s.access,
            &format!(
                "query($f: NotificationFilter) {{ notifications(filter: $f, first: 100) {{ totalCount nodes {{ {NOTIFICATION} }} }} }}"
            ),
            json!({ "f": filter }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let nodes = body["data"]["notifications"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(body["data"]["notifications"]["totalCount"], nodes.len());
    nodes
}

async fn unread(app: &TestApp, s: &Session) -> i64 {
    let body = app
        .gql_as(&s.access, "{ unreadNotificationCount }", json!({}))
        .await;
    body["data"]["unreadNotificationCount"]
        .as_i64()
        .expect("a count")
}

pub async fn send(app: &TestApp, admin: &Session, input: Value) -> Value {
    app.gql_as(
        &admin.access,
        "mutation($i: SendNotificationInput!) { sendNotification(input: $i) }",
        json!({ "i": input }),
    )
    .await
}

#[tokio::test]
async fn registering_confirms_by_notification_and_each_user_manages_only_their_own() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let e = create_event(&app, &admin, None).await;
    let id = e["id"].as_str().unwrap();
    lifecycle(&app, &admin, "publishEvent", id).await;
    let r = register(&app, &member, id, None).await;
    assert!(r["errors"].is_null(), "{r}");

    let mine = notifications(&app, &member, json!(null)).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let n = &mine[0];
    assert_eq!(n["title"], "Registration confirmed");
    assert_eq!(n["notificationType"], "SUCCESS");
    assert_eq!(n["channel"], "IN_APP");
    assert_eq!(n["data"]["eventId"], id);
    assert_eq!(n["isRead"], false);
    assert_eq!(unread(&app, &member).await, 1);
    // Nobody else sees it, the admin included.
    assert!(notifications(&app, &admin, json!(null)).await.is_empty());
    let nid = n["id"].as_str().unwrap();
    for op in ["markNotificationRead", "deleteNotification"] {
        let body = app
            .gql_as(
                &admin.access,
                &format!("mutation($id: ID!) {{ {op}(id: $id) {{ id }} }}"),
                json!({ "id": nid }),
            )
            .await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{op}: {body}");
    }
    let body = app
        .gql_as(
            &member.access,
            "mutation($id: ID!) { markNotificationRead(id: $id) { isRead readAt } }",
            json!({ "id": nid }),
        )
        .await;
    assert_eq!(
        body["data"]["markNotificationRead"]["isRead"], true,
        "{body}"
    );
    let read_at = body["data"]["markNotificationRead"]["readAt"].clone();
    assert!(read_at.is_string());
    // Idempotent: the first read time stays.
    let again = app
        .gql_as(
            &member.access,
            "mutation($id: ID!) { markNotificationRead(id: $id) { readAt } }",
            json!({ "id": nid }),
        )
        .await;
    assert_eq!(again["data"]["markNotificationRead"]["readAt"], read_at);
    assert_eq!(unread(&app, &member).await, 0);
    assert_eq!(
        notifications(&app, &member, json!({ "unread": true }))
            .await
            .len(),
        0
    );
    assert_eq!(
        notifications(&app, &member, json!({ "unread": false }))
            .await
            .len(),
        1
    );

    let body = app
        .gql_as(
            &member.access,
            "mutation($id: ID!) { deleteNotification(id: $id) { id } }",
            json!({ "id": nid }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(notifications(&app, &member, json!(null)).await.is_empty());
    let body = app
        .gql_as(
            &member.access,
            "mutation($id: ID!) { markNotificationRead(id: $id) { id } }",
            json!({ "id": nid }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        Some("NOT_FOUND"),
        "a deleted one is gone: {body}"
    );
    let body = app
        .gql_as(
            &member.access,
            "mutation { markNotificationRead(id: \"not-a-uuid\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_field(&body), Some("id"), "{body}");
}

#[tokio::test]
async fn cancelling_or_moving_an_event_tells_every_registrant_and_speakers_hear_of_their_slot() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let a = app.member(&admin, false).await;
    let b = app.member(&admin, false).await;
    let c = app.member(&admin, false).await;
    let e = create_event(&app, &admin, None).await;
    let id = e["id"].as_str().unwrap();
    lifecycle(&app, &admin, "publishEvent", id).await;
    for s in [&a, &b, &c] {
        assert!(register(&app, s, id, None).await["errors"].is_null());
    }
    // c cancels: no longer a registrant.
    app.gql_as(
        &c.access,
        "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
        json!({ "e": id }),
    )
    .await;
    // A change that is not about time or place tells nobody.
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Founders Night II\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateEvent(id: $id, input: { location: \"Pier 9\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = lifecycle(&app, &admin, "cancelEvent", id).await;
    assert!(body["errors"].is_null(), "{body}");
    for s in [&a, &b] {
        let titles: Vec<String> = notifications(&app, s, json!(null))
            .await
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            titles,
            vec![
                "Founders Night II is cancelled".to_owned(),
                "Founders Night II has changed".to_owned(),
                "Registration confirmed".to_owned(),
            ],
            "newest first"
        );
    }
    let titles: Vec<Value> = notifications(&app, &c, json!(null))
        .await
        .iter()
        .map(|n| n["title"].clone())
        .collect();
    assert_eq!(
        titles,
        vec![json!("Registration confirmed")],
        "c had cancelled"
    );

    // Speakers.
    let e2 = create_event(&app, &admin, None).await;
    let start = chrono::DateTime::parse_from_rfc3339(
        app.gql_as(
            &admin.access,
            "query($id: ID!) { event(id: $id) { startDate } }",
            json!({ "id": e2["id"] }),
        )
        .await["data"]["event"]["startDate"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let item = app
        .gql_as(
            &admin.access,
            "mutation($i: CreateAgendaItemInput!) { createAgendaItem(input: $i) { id } }",
            json!({ "i": { "eventId": e2["id"], "title": "Keynote", "startTime": start.to_rfc3339(),
                    "endTime": (start + Duration::minutes(30)).to_rfc3339(), "speakerId": a.user_id } }),
        )
        .await;
    assert!(item["errors"].is_null(), "{item}");
    let item_id = item["data"]["createAgendaItem"]["id"].as_str().unwrap();
    // Editing the item again does not re-notify; changing the speaker tells the new one.
    for input in [
        json!({ "title": "Opening keynote" }),
        json!({ "speakerId": b.user_id }),
    ] {
        let body = app
            .gql_as(
                &admin.access,
                "mutation($id: ID!, $i: UpdateAgendaItemInput!) { updateAgendaItem(id: $id, input: $i) { id } }",
                json!({ "id": item_id, "i": input }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let speaking = |ns: Vec<Value>| {
        ns.iter()
            .filter(|n| n["title"] == "You are speaking")
            .count()
    };
    assert_eq!(speaking(notifications(&app, &a, json!(null)).await), 1);
    assert_eq!(speaking(notifications(&app, &b, json!(null)).await), 1);
    let n = notifications(&app, &b, json!(null)).await;
    assert_eq!(n[0]["data"]["agendaItemId"], item_id);
}

#[tokio::test]
async fn admins_send_notifications_to_members_of_their_own_organization_only() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let m1 = app.member(&admin, false).await;
    let m2 = app.member(&admin, false).await;
    let other = app.register().await;

    let body = send(
        &app,
        &admin,
        json!({ "userIds": [m1.user_id], "title": "Welcome", "message": "Hi",
        "notificationType": "REMINDER", "data": { "link": "/welcome" } }),
    )
    .await;
    assert_eq!(body["data"]["sendNotification"], 1, "{body}");
    let n = notifications(&app, &m1, json!(null)).await;
    assert_eq!(
        (n[0]["title"].clone(), n[0]["notificationType"].clone()),
        (json!("Welcome"), json!("REMINDER"))
    );
    assert_eq!(n[0]["data"]["link"], "/welcome");
    assert!(notifications(&app, &m2, json!(null)).await.is_empty());

    let body = send(
        &app,
        &admin,
        json!({ "allMembers": true, "title": "All hands", "message": "Friday" }),
    )
    .await;
    assert_eq!(body["data"]["sendNotification"], 3, "{body}");
    assert_eq!(unread(&app, &m2).await, 1);
    assert_eq!(unread(&app, &admin).await, 1);
    assert_eq!(
        unread(&app, &other).await,
        0,
        "another organization hears nothing"
    );

    // Refusals, and nothing half-written.
    let cases = [
        (
            &m1,
            json!({ "allMembers": true, "title": "x", "message": "y" }),
            "FORBIDDEN",
            None,
        ),
        (
            &other,
            json!({ "userIds": [m1.user_id], "title": "x", "message": "y" }),
            "NOT_FOUND",
            None,
        ),
        (
            &admin,
            json!({ "userIds": [m1.user_id, other.user_id], "title": "x", "message": "y" }),
            "NOT_FOUND",
            None,
        ),
        (
            &admin,
            json!({ "title": "x", "message": "y" }),
            "BAD_USER_INPUT",
            Some("userIds"),
        ),
        (
            &admin,
            json!({ "userIds": [m1.user_id], "allMembers": true, "title": "x", "message": "y" }),
            "BAD_USER_INPUT",
            Some("allMembers"),
        ),
        (
            &admin,
            json!({ "userIds": [m1.user_id], "title": " ", "message": "y" }),
            "BAD_USER_INPUT",
            Some("title"),
        ),
        (
            &admin,
            json!({ "userIds": [m1.user_id], "title": "x", "message": "y", "data": [1] }),
            "BAD_USER_INPUT",
            Some("data"),
        ),
        (
            &admin,
            json!({ "userIds": [m1.user_id], "title": "x", "message": "y",
            "expiresAt": (Utc::now() - Duration::minutes(1)).to_rfc3339() }),
            "BAD_USER_INPUT",
            Some("expiresAt"),
        ),
    ];
    for (who, input, code, field) in cases {
        let body = send(&app, who, input.clone()).await;
        assert_eq!(error_code(&body), Some(code), "{input}: {body}");
        if field.is_some() {
            assert_eq!(error_field(&body), field, "{input}: {body}");
        }
    }
    assert_eq!(
        notifications(&app, &m1, json!(null)).await.len(),
        2,
        "refusals created nothing"
    );

    let body = app
        .gql_as(
            &m2.access,
            "mutation { markAllNotificationsRead }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["markAllNotificationsRead"], 1, "{body}");
    let body = app
        .gql_as(
            &m2.access,
            "mutation { markAllNotificationsRead }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["markAllNotificationsRead"], 0);
    assert_eq!(
        unread(&app, &m1).await,
        2,
        "only the caller's own are marked"
    );
}

#[tokio::test]
async fn expired_notifications_are_hidden_at_once_and_purged_later() {
    use plugs::entities::notifications as n;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = spawn_app().await;
    let admin = app.register().await;
    let m = app.member(&admin, false).await;
    // An expiry in the past is refused, so it is sent an hour ahead and then moved into the
    // past in the database: the clock "passes" without the test waiting for it.
    let soon = Utc::now() + Duration::hours(1);
    let body = send(
        &app,
        &admin,
        json!({ "userIds": [m.user_id], "title": "Flash sale",
        "message": "Ends soon", "expiresAt": soon.to_rfc3339() }),
    )
    .await;
    assert_eq!(body["data"]["sendNotification"], 1, "{body}");
    send(
        &app,
        &admin,
        json!({ "userIds": [m.user_id], "title": "Stays", "message": "..." }),
    )
    .await;
    let before = notifications(&app, &m, json!(null)).await;
    assert_eq!(before.len(), 2);
    assert!(before.iter().any(|x| x["expiresAt"].is_string()));
    let expired = n::Entity::update_many()
        .col_expr(
            n::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value((Utc::now() - Duration::seconds(1)).fixed_offset()),
        )
        .filter(n::Column::UserId.eq(m.user_id.parse::<uuid::Uuid>().unwrap()))
        .filter(n::Column::ExpiresAt.is_not_null())
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(expired.rows_affected, 1);
    // Hidden from the instant it expires.
    let after = notifications(&app, &m, json!(null)).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["title"], "Stays");
    assert_eq!(unread(&app, &m).await, 1);

    // The row is still stored until the purge (every instance also runs one periodically,
    // so on a shared database another test's server may have purged it already).
    let rows = || async {
        n::Entity::find()
            .filter(n::Column::UserId.eq(m.user_id.parse::<uuid::Uuid>().unwrap()))
            .count(&app.db)
            .await
            .unwrap()
    };
    let stored = rows().await;
    assert!(
        stored == 2 || stored == 1,
        "both stored, unless a server's periodic purge came first: {stored}"
    );
    plugs::services::notifications::purge_expired(&app.db)
        .await
        .unwrap();
    assert_eq!(rows().await, 1, "the expired row is gone, the other stays");
    assert_eq!(notifications(&app, &m, json!(null)).await.len(), 1);
}

#[tokio::test]
async fn notifications_page_newest_first_with_cursors() {
    let app = spawn_app().await;
    let admin = app.register().await;
    for i in 0..5 {
        send(
            &app,
            &admin,
            json!({ "userIds": [admin.user_id], "title": format!("n{i}"), "message": "m" }),
        )
        .await;
    }
    let mut titles = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .gql_as(
                &admin.access,
                "query($a: String) { notifications(first: 2, after: $a) { nodes { title } pageInfo { hasNextPage endCursor } } }",
                json!({ "a": after }),
            )
            .await;
        let c = &body["data"]["notifications"];
        titles.extend(
            c["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_owned()),
        );
        if c["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(titles, ["n4", "n3", "n2", "n1", "n0"]);
}
