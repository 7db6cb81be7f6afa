//! Registrations: exact capacity under concurrency, who may register whom, idempotent
//! check-in and check-out, attendance and no-shows.

use chrono::Utc;
use serde_json::json;

use crate::events::{ATTENDEE, EVENT, create_event, lifecycle, register};
use crate::helpers::{error_code, error_field as field, spawn_app};

/// 200 members, a published event with 50 seats, every member registers at once over HTTP:
/// exactly 50 get a seat and 150 are told EVENT_FULL.
#[tokio::test]
async fn capacity_is_exact_under_concurrent_registration() {
    use plugs::entities::users;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let app = spawn_app().await;
    let s = app.register().await;
    let me = app
        .gql_as(&s.access, "{ organization { id } }", json!({}))
        .await;
    let org: uuid::Uuid = me["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = Utc::now().fixed_offset();
    let members: Vec<uuid::Uuid> = (0..200).map(|_| uuid::Uuid::new_v4()).collect();
    users::Entity::insert_many(
        members
            .iter()
            .enumerate()
            .map(|(i, id)| users::ActiveModel {
                id: Set(*id),
                organization_id: Set(org),
                email: Set(format!("m{i}@{}", s.domain)),
                password_hash: Set("x".into()),
                first_name: Set("M".into()),
                last_name: Set(format!("{i}")),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }),
    )
    .exec(&app.db)
    .await
    .unwrap();
    let e = create_event(&app, &s, Some(50)).await;
    let id = e["id"].as_str().unwrap().to_owned();
    lifecycle(&app, &s, "publishEvent", &id).await;

    let tries = members.iter().map(|m| {
        let m = m.to_string();
        let id = id.clone();
        let s = &s;
        let app = &app;
        async move { register(app, s, &id, Some(&m)).await }
    });
    let answers = futures_util::future::join_all(tries).await;
    let ok = answers.iter().filter(|a| a["errors"].is_null()).count();
    let full = answers
        .iter()
        .filter(|a| error_code(a) == Some("EVENT_FULL"))
        .count();
    assert_eq!(
        (ok, full),
        (50, 150),
        "{:?}",
        answers
            .iter()
            .find(|a| !a["errors"].is_null() && error_code(a) != Some("EVENT_FULL"))
    );
    let ev = app
        .gql_as(
            &s.access,
            &format!("query($id: ID!) {{ event(id: $id) {{ {EVENT} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(ev["data"]["event"]["currentAttendees"], 50);
    assert_eq!(ev["data"]["event"]["spotsLeft"], 0);
    let analytics = app
        .gql_as(
            &s.access,
            "{ eventAnalytics { eventType status eventCount avgAttendees totalExpenses } }",
            json!({}),
        )
        .await;
    assert_eq!(
        analytics["data"]["eventAnalytics"],
        json!([{ "eventType": "NETWORKING", "status": "PUBLISHED", "eventCount": 1, "avgAttendees": 50.0, "totalExpenses": "0.00" }]),
        "{analytics}"
    );

    // A cancellation frees a seat that someone else then takes; re-registering reuses the row.
    let winner =
        answers.iter().find(|a| a["errors"].is_null()).unwrap()["data"]["registerForEvent"].clone();
    let loser = members
        .iter()
        .map(|m| m.to_string())
        .find(|m| {
            !answers
                .iter()
                .any(|a| a["data"]["registerForEvent"]["user"]["id"] == m.as_str())
        })
        .unwrap();
    let winner_user = winner["user"]["id"].as_str().unwrap();
    let c = app
        .gql_as(&s.access, &format!("mutation($e: ID!, $u: ID) {{ cancelRegistration(eventId: $e, userId: $u) {{ {ATTENDEE} }} }}"),
            json!({ "e": id, "u": winner_user }))
        .await;
    assert_eq!(
        c["data"]["cancelRegistration"]["status"], "CANCELLED",
        "{c}"
    );
    assert_eq!(
        c["data"]["cancelRegistration"]["event"]["currentAttendees"],
        49
    );
    let taken = register(&app, &s, &id, Some(&loser)).await;
    assert_eq!(
        taken["data"]["registerForEvent"]["status"], "REGISTERED",
        "{taken}"
    );
    assert_eq!(
        error_code(&register(&app, &s, &id, Some(winner_user)).await),
        Some("EVENT_FULL")
    );
    assert_eq!(
        error_code(&register(&app, &s, &id, Some(&loser)).await),
        Some("CONFLICT"),
        "already registered"
    );
    app.gql_as(
        &s.access,
        "mutation($e: ID!, $u: ID) { cancelRegistration(eventId: $e, userId: $u) { id } }",
        json!({ "e": id, "u": loser }),
    )
    .await;
    let again = register(&app, &s, &id, Some(winner_user)).await;
    assert_eq!(
        again["data"]["registerForEvent"]["id"], winner["id"],
        "the cancelled row is reused: {again}"
    );
}

#[tokio::test]
async fn registration_rules_and_idempotent_check_in() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let other = app.member(&admin, false).await;
    let e = create_event(&app, &admin, Some(10)).await;
    let id = e["id"].as_str().unwrap();
    let body = register(&app, &member, id, None).await;
    assert_eq!(
        error_code(&body),
        Some("BAD_USER_INPUT"),
        "a draft is not open: {body}"
    );
    lifecycle(&app, &admin, "publishEvent", id).await;
    let body = register(&app, &member, id, Some(&other.user_id)).await;
    assert_eq!(
        error_code(&body),
        Some("FORBIDDEN"),
        "a member registers only themself: {body}"
    );
    let mine = register(&app, &member, id, None).await;
    assert_eq!(
        mine["data"]["registerForEvent"]["user"]["id"],
        member.user_id.as_str(),
        "{mine}"
    );
    let by_admin = register(&app, &admin, id, Some(&other.user_id)).await;
    assert!(by_admin["errors"].is_null(), "{by_admin}");

    let out =
        "mutation($e: ID!, $u: ID!) { checkOutAttendee(eventId: $e, userId: $u) { checkOutTime } }";
    let body = app
        .gql_as(&member.access, out, json!({ "e": id, "u": member.user_id }))
        .await;
    assert_eq!(
        error_code(&body),
        Some("BAD_USER_INPUT"),
        "check-out before check-in: {body}"
    );
    let check_in = format!(
        "mutation($e: ID!, $u: ID!) {{ checkInAttendee(eventId: $e, userId: $u) {{ {ATTENDEE} }} }}"
    );
    let first = app
        .gql_as(
            &member.access,
            &check_in,
            json!({ "e": id, "u": member.user_id }),
        )
        .await;
    let second = app
        .gql_as(
            &member.access,
            &check_in,
            json!({ "e": id, "u": member.user_id }),
        )
        .await;
    assert_eq!(
        first["data"]["checkInAttendee"]["status"], "ATTENDED",
        "{first}"
    );
    assert_eq!(
        first, second,
        "a second check-in returns the same row and time"
    );
    let o1 = app
        .gql_as(&member.access, out, json!({ "e": id, "u": member.user_id }))
        .await;
    let o2 = app
        .gql_as(&member.access, out, json!({ "e": id, "u": member.user_id }))
        .await;
    assert!(
        o1["data"]["checkOutAttendee"]["checkOutTime"].is_string(),
        "{o1}"
    );
    assert_eq!(o1, o2);
    // An attended registration cannot be cancelled; lowering the limit below the count is refused.
    let c = app
        .gql_as(
            &member.access,
            "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
            json!({ "e": id }),
        )
        .await;
    assert_eq!(error_code(&c), Some("BAD_USER_INPUT"));
    let upd = app
        .gql_as(&admin.access, "mutation($id: ID!) { updateEvent(id: $id, input: { maxAttendees: 1 }) { maxAttendees } }", json!({ "id": id }))
        .await;
    assert_eq!(field(&upd), Some("maxAttendees"), "{upd}");
    let upd = app
        .gql_as(&admin.access, "mutation($id: ID!) { updateEvent(id: $id, input: { maxAttendees: 2 }) { maxAttendees spotsLeft } }", json!({ "id": id }))
        .await;
    assert_eq!(
        upd["data"]["updateEvent"],
        json!({ "maxAttendees": 2, "spotsLeft": 0 })
    );
}

#[tokio::test]
async fn attendance_and_no_shows_after_the_event() {
    let app = spawn_app().await;
    let s = app.register().await;
    let a = app.member(&s, false).await;
    let b = app.member(&s, false).await;
    let c = app.member(&s, false).await;
    let e = create_event(&app, &s, None).await;
    let id = e["id"].as_str().unwrap();
    lifecycle(&app, &s, "publishEvent", id).await;
    for m in [&a, &b, &c] {
        let body = register(&app, m, id, None).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let check_in = "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }";
    let body = app
        .gql_as(&a.access, check_in, json!({ "e": id, "u": a.user_id }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql_as(
            &c.access,
            "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
            json!({ "e": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let rates = "query($id: ID!) { event(id: $id) { attendanceRate checkInRate attendees(status: [REGISTERED]) { totalCount nodes { user { id } } } } }";
    let body = app.gql_as(&s.access, rates, json!({ "id": id })).await;
    assert_eq!(body["data"]["event"]["attendanceRate"], 0.5, "{body}");
    assert_eq!(body["data"]["event"]["checkInRate"], 0.5);
    assert_eq!(body["data"]["event"]["attendees"]["totalCount"], 1);
    assert_eq!(
        body["data"]["event"]["attendees"]["nodes"][0]["user"]["id"],
        b.user_id.as_str()
    );

    let no_shows = "mutation($e: ID!) { markNoShows(eventId: $e) }";
    let early = app.gql_as(&s.access, no_shows, json!({ "e": id })).await;
    assert_eq!(
        error_code(&early),
        Some("BAD_USER_INPUT"),
        "only after completion: {early}"
    );
    assert_eq!(
        error_code(&app.gql_as(&a.access, no_shows, json!({ "e": id })).await),
        Some("FORBIDDEN")
    );
    lifecycle(&app, &s, "startEvent", id).await;
    lifecycle(&app, &s, "completeEvent", id).await;
    let body = app.gql_as(&s.access, no_shows, json!({ "e": id })).await;
    assert_eq!(body["data"]["markNoShows"], 1, "only b never came: {body}");
    let mine = app
        .gql_as(
            &b.access,
            "{ me { registrations { nodes { status event { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["data"]["me"]["registrations"]["nodes"],
        json!([{ "status": "NO_SHOW", "event": { "id": id } }])
    );

    let upd = "mutation($id: ID!, $i: UpdateAttendeeInput!) { updateAttendee(id: $id, input: $i) { status notes } }";
    let reg = app
        .gql_as(
            &a.access,
            "{ me { registrations { nodes { id } } } }",
            json!({}),
        )
        .await;
    let reg_id = reg["data"]["me"]["registrations"]["nodes"][0]["id"].clone();
    let body = app
        .gql_as(
            &s.access,
            upd,
            json!({ "id": reg_id, "i": { "notes": "front row" } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateAttendee"],
        json!({ "status": "ATTENDED", "notes": "front row" }),
        "{body}"
    );
    let body = app
        .gql_as(
            &s.access,
            upd,
            json!({ "id": reg_id, "i": { "status": "CANCELLED" } }),
        )
        .await;
    assert_eq!(field(&body), Some("status"));
    let body = app
        .gql_as(
            &a.access,
            upd,
            json!({ "id": reg_id, "i": { "notes": "me" } }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
}

#[tokio::test]
async fn concurrent_changes_to_one_registration_or_event_decide_once() {
    let app = spawn_app().await;
    let s = crate::helpers::TestApp::register(&app).await;
    let m = app.member(&s, false).await;
    let e = create_event(&app, &s, Some(10)).await;
    let id = e["id"].as_str().unwrap().to_owned();
    lifecycle(&app, &s, "publishEvent", &id).await;
    let body = register(&app, &m, &id, None).await;
    assert!(body["errors"].is_null(), "{body}");
    // Ten cancellations of the one registration at once: one frees the seat, the others see
    // it cancelled already. The seat count moves by exactly one.
    let cancel = "mutation($e: ID!) { cancelRegistration(eventId: $e) { status } }";
    let answers = futures_util::future::join_all(
        (0..10).map(|_| app.gql_as(&m.access, cancel, json!({ "e": id }))),
    )
    .await;
    let won = answers.iter().filter(|b| b["errors"].is_null()).count();
    assert_eq!(won, 1, "{answers:?}");
    for lost in answers.iter().filter(|b| !b["errors"].is_null()) {
        assert_eq!(error_code(lost), Some("BAD_USER_INPUT"), "{lost}");
    }
    let seats = app
        .gql_as(
            &s.access,
            "query($id: ID!) { event(id: $id) { currentAttendees } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(seats["data"]["event"]["currentAttendees"], 0, "{seats}");
    // Starting and cancelling the event at once: exactly one of the two moves happens.
    let (started, cancelled) = tokio::join!(
        lifecycle(&app, &s, "startEvent", &id),
        lifecycle(&app, &s, "cancelEvent", &id),
    );
    let moves = [&started, &cancelled]
        .iter()
        .filter(|b| b["errors"].is_null())
        .count();
    assert_eq!(moves, 1, "{started} {cancelled}");
}
