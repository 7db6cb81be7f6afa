//! Events: lifecycle, exact capacity under concurrency, check-in and check-out.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_field as field, spawn_app};

pub const EVENT: &str =
    "id title status currentAttendees maxAttendees spotsLeft budget createdBy { id }";
pub const ATTENDEE: &str =
    "id status checkInTime checkOutTime user { id } event { id currentAttendees }";

pub async fn create_event(app: &TestApp, s: &Session, max: Option<i32>) -> Value {
    let start = Utc::now() + Duration::days(7);
    let body = app
        .gql_as(
            &s.access,
            &format!("mutation($i: CreateEventInput!) {{ createEvent(input: $i) {{ {EVENT} }} }}"),
            json!({ "i": { "title": "Founders Night", "startDate": start.to_rfc3339(),
                           "endDate": (start + Duration::hours(3)).to_rfc3339(), "maxAttendees": max, "budget": "1250" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createEvent"].clone()
}

pub async fn lifecycle(app: &TestApp, s: &Session, op: &str, id: &str) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!) {{ {op}(id: $id) {{ status }} }}"),
        json!({ "id": id }),
    )
    .await
}

pub async fn register(app: &TestApp, s: &Session, event: &str, user: Option<&str>) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($e: ID!, $u: ID) {{ registerForEvent(eventId: $e, userId: $u) {{ {ATTENDEE} }} }}"),
        json!({ "e": event, "u": user }),
    )
    .await
}

/// `s` cancels their own registration to `event`; the cancellation must succeed.
pub async fn cancel_own(app: &TestApp, s: &Session, event: &str) {
    let body = app
        .gql_as(
            &s.access,
            "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
            json!({ "e": event }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn events_move_through_their_lifecycle_only_by_allowed_steps() {
    let app = spawn_app().await;
    let s = app.register().await;
    let e = create_event(&app, &s, None).await;
    assert_eq!(e["status"], "DRAFT");
    assert_eq!(e["budget"], "1250.00");
    assert!(e["spotsLeft"].is_null());
    let id = e["id"].as_str().unwrap();
    let refused = lifecycle(&app, &s, "startEvent", id).await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"));
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the event is draft"),
        "{refused}"
    );
    for (op, status) in [
        ("publishEvent", "PUBLISHED"),
        ("startEvent", "ONGOING"),
        ("completeEvent", "COMPLETED"),
    ] {
        let body = lifecycle(&app, &s, op, id).await;
        assert_eq!(body["data"][op]["status"], status, "{op}: {body}");
    }
    for op in ["publishEvent", "startEvent", "completeEvent", "cancelEvent"] {
        let body = lifecycle(&app, &s, op, id).await;
        assert_eq!(
            error_code(&body),
            Some("BAD_USER_INPUT"),
            "{op} from completed: {body}"
        );
    }
    let other = create_event(&app, &s, None).await;
    let oid = other["id"].as_str().unwrap();
    assert_eq!(
        lifecycle(&app, &s, "publishEvent", oid).await["data"]["publishEvent"]["status"],
        "PUBLISHED",
        "a published event is what gets cancelled here"
    );
    assert_eq!(
        lifecycle(&app, &s, "cancelEvent", oid).await["data"]["cancelEvent"]["status"],
        "CANCELLED"
    );

    // Dates and capacity are validated; nothing is half-written.
    let upd =
        "mutation($id: ID!, $i: UpdateEventInput!) { updateEvent(id: $id, input: $i) { title } }";
    let past = (Utc::now() - Duration::days(30)).to_rfc3339();
    for (input, f) in [
        (json!({ "endDate": past }), "endDate"),
        (json!({ "maxAttendees": 0 }), "maxAttendees"),
        (json!({ "currency": "euro" }), "currency"),
        (json!({ "budget": "-1" }), "budget"),
        (json!({ "title": null }), "title"),
    ] {
        let body = app
            .gql_as(&s.access, upd, json!({ "id": oid, "i": input }))
            .await;
        assert_eq!(field(&body), Some(f), "{input}: {body}");
    }
}

/// A page of events with their organizer and first 10 attendees (with each attendee's user)
/// runs a small constant number of statements, whether the page holds 4 events or 20.
#[tokio::test]
async fn the_nested_events_page_does_not_grow_with_its_size() {
    use plugs::entities::{event_attendees, events, users};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let app =
        crate::helpers::spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(100))
            .await;
    let s = app.register().await;
    let me = app
        .gql_as(&s.access, "{ me { id } organization { id } }", json!({}))
        .await;
    let org: uuid::Uuid = me["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let admin: uuid::Uuid = me["data"]["me"]["id"].as_str().unwrap().parse().unwrap();
    let now = Utc::now().fixed_offset();
    let people: Vec<uuid::Uuid> = (0..15).map(|_| uuid::Uuid::new_v4()).collect();
    users::Entity::insert_many(people.iter().enumerate().map(|(i, id)| users::ActiveModel {
        id: Set(*id),
        organization_id: Set(org),
        email: Set(format!("p{i}@{}", s.domain)),
        password_hash: Set("x".into()),
        first_name: Set(format!("P{i}")),
        last_name: Set("Q".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }))
    .exec(&app.db)
    .await
    .unwrap();
    let mut evs = Vec::new();
    let mut regs = Vec::new();
    for i in 0..25 {
        let id = uuid::Uuid::new_v4();
        let start = now + Duration::days(i + 1);
        evs.push(events::ActiveModel {
            id: Set(id),
            organization_id: Set(org),
            created_by: Set(admin),
            title: Set(format!("E{i}")),
            status: Set("published".into()),
            start_date: Set(start),
            end_date: Set(start + Duration::hours(2)),
            current_attendees: Set((i % 15) as i32),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        for p in people.iter().take((i % 15) as usize) {
            regs.push(event_attendees::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                organization_id: Set(org),
                event_id: Set(id),
                user_id: Set(*p),
                registration_date: Set(now),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        }
    }
    events::Entity::insert_many(evs)
        .exec(&app.db)
        .await
        .unwrap();
    event_attendees::Entity::insert_many(regs)
        .exec(&app.db)
        .await
        .unwrap();

    let q =
        "query($n: Int) { events(first: $n) { nodes { id createdBy { id } spotsLeft attendanceRate
        agenda { title speaker { id } }
        attendees(first: 10) { totalCount pageInfo { hasNextPage } nodes { user { firstName } } } } } }";
    let mut deltas = Vec::new();
    for n in [4, 20] {
        let before = app.statements().await;
        let body = app.gql_as(&s.access, q, json!({ "n": n })).await;
        let after = app.statements().await;
        assert!(body["errors"].is_null(), "{body}");
        let nodes = body["data"]["events"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n);
        for (i, node) in nodes.iter().enumerate() {
            let registered = i % 15;
            assert_eq!(
                node["attendees"]["nodes"].as_array().unwrap().len(),
                registered.min(10)
            );
            assert_eq!(
                node["attendees"]["pageInfo"]["hasNextPage"],
                registered > 10
            );
        }
        deltas.push(after - before);
    }
    assert!(
        deltas.iter().all(|d| *d <= 10),
        "a small constant number of statements: {deltas:?}"
    );
    assert!(
        deltas[1] <= deltas[0] + 2,
        "statements must not grow with the page size: {deltas:?}"
    );
}

#[tokio::test]
async fn events_go_to_the_trash_and_come_back() {
    let app = spawn_app().await;
    let s = app.register().await;
    let id = create_event(&app, &s, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteEvent(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(del["data"]["deleteEvent"]["deletedAt"].is_string(), "{del}");
    let gone = app
        .gql_as(
            &s.access,
            "query($id: ID!) { event(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(gone["data"]["event"].is_null());
    let trash = app
        .gql_as(
            &s.access,
            "{ events(filter: { deleted: true }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(trash["data"]["events"]["nodes"][0]["id"], id.as_str());
    let again = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteEvent(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"));
    let back = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { restoreEvent(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        back["data"]["restoreEvent"]["deletedAt"].is_null(),
        "{back}"
    );
    let log = app
        .gql_as(
            &s.access,
            "query($id: ID!) { auditLogs(filter: { recordId: $id }) { nodes { action } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        log["data"]["auditLogs"]["nodes"],
        json!([{ "action": "RESTORE" }, { "action": "DELETE" }, { "action": "CREATE" }])
    );
}
