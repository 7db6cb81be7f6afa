//! Events: lifecycle, exact capacity under concurrency, check-in and check-out.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_field as field, spawn_app};

const EVENT: &str =
    "id title status currentAttendees maxAttendees spotsLeft budget createdBy { id }";
const ATTENDEE: &str =
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
    lifecycle(&app, &s, "publishEvent", oid).await;
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

/// A page of events with their organizer and first 10 attendees (with each attendee's user)
/// runs a small constant number of statements, whether the page holds 4 events or 20.
#[tokio::test]
async fn the_nested_events_page_does_not_grow_with_its_size() {
    use plugs::entities::{event_attendees, events, users};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let app =
        crate::helpers::spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(30))
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
        attendees(first: 10) { pageInfo { hasNextPage } nodes { user { firstName } } } } } }";
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
async fn the_agenda_stays_inside_the_event_in_the_order_given() {
    let app = spawn_app().await;
    let s = app.register().await;
    let speaker = app.member(&s, false).await;
    let foreign = app.register().await;
    let e = create_event(&app, &s, None).await;
    let id = e["id"].as_str().unwrap();
    let ev = app
        .gql_as(
            &s.access,
            "query($id: ID!) { event(id: $id) { startDate endDate } }",
            json!({ "id": id }),
        )
        .await;
    let start: chrono::DateTime<Utc> = ev["data"]["event"]["startDate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let add = "mutation($i: CreateAgendaItemInput!) { createAgendaItem(input: $i) { id title sortOrder speaker { id } } }";
    let slot = |h: i64, title: &str| {
        json!({ "eventId": id, "title": title, "startTime": (start + Duration::hours(h)).to_rfc3339(),
        "endTime": (start + Duration::hours(h) + Duration::minutes(45)).to_rfc3339() })
    };
    let mut ids = Vec::new();
    for (h, title) in [(0, "Welcome"), (1, "Keynote"), (2, "Drinks")] {
        let mut input = slot(h, title);
        if title == "Keynote" {
            input["speakerId"] = json!(speaker.user_id);
        }
        let body = app.gql_as(&s.access, add, json!({ "i": input })).await;
        assert!(body["errors"].is_null(), "{body}");
        ids.push(
            body["data"]["createAgendaItem"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Outside the event, backwards, or with a speaker from elsewhere: refused.
    let body = app
        .gql_as(&s.access, add, json!({ "i": slot(5, "Too late") }))
        .await;
    assert_eq!(field(&body), Some("startTime"), "{body}");
    let mut backwards = slot(1, "Backwards");
    backwards["endTime"] = json!((start).to_rfc3339());
    assert_eq!(
        field(&app.gql_as(&s.access, add, json!({ "i": backwards })).await),
        Some("endTime")
    );
    let mut outsider = slot(1, "Outsider");
    outsider["speakerId"] = json!(foreign.user_id);
    assert_eq!(
        error_code(&app.gql_as(&s.access, add, json!({ "i": outsider })).await),
        Some("NOT_FOUND")
    );

    let agenda = "query($id: ID!) { event(id: $id) { agenda { title sortOrder speaker { id } } } }";
    let titles = |b: &Value| -> Vec<String> {
        b["data"]["event"]["agenda"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        titles(&app.gql_as(&s.access, agenda, json!({ "id": id })).await),
        ["Welcome", "Keynote", "Drinks"]
    );
    let reorder = "mutation($e: ID!, $ids: [ID!]!) { reorderAgenda(eventId: $e, ids: $ids) { title sortOrder } }";
    let body = app
        .gql_as(
            &s.access,
            reorder,
            json!({ "e": id, "ids": [&ids[2], &ids[0], &ids[1]] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let now = app.gql_as(&s.access, agenda, json!({ "id": id })).await;
    assert_eq!(titles(&now), ["Drinks", "Welcome", "Keynote"]);
    assert_eq!(
        now["data"]["event"]["agenda"][2]["speaker"]["id"],
        speaker.user_id.as_str()
    );
    let body = app
        .gql_as(
            &s.access,
            reorder,
            json!({ "e": id, "ids": [&ids[0], &ids[1]] }),
        )
        .await;
    assert_eq!(field(&body), Some("ids"), "every item exactly once");

    // Shrinking the event so an item falls outside is refused.
    let upd = "mutation($id: ID!, $end: DateTime!) { updateEvent(id: $id, input: { endDate: $end }) { endDate } }";
    let body = app
        .gql_as(
            &s.access,
            upd,
            json!({ "id": id, "end": (start + Duration::hours(1)).to_rfc3339() }),
        )
        .await;
    assert_eq!(field(&body), Some("startDate"), "{body}");
    let del = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteAgendaItem(id: $id) { deletedAt } }",
            json!({ "id": ids[2] }),
        )
        .await;
    assert!(del["data"]["deleteAgendaItem"]["deletedAt"].is_string());
    let body = app
        .gql_as(
            &s.access,
            upd,
            json!({ "id": id, "end": (start + Duration::hours(2)).to_rfc3339() }),
        )
        .await;
    assert!(
        body["errors"].is_null(),
        "once the late item is gone the event may shrink: {body}"
    );
}

#[tokio::test]
async fn an_agenda_item_is_looked_up_deleted_and_restored() {
    let app = spawn_app().await;
    let s = app.register().await;
    let e = create_event(&app, &s, None).await;
    let event = e["id"].as_str().unwrap();
    let ev = app
        .gql_as(
            &s.access,
            "query($id: ID!) { event(id: $id) { startDate } }",
            json!({ "id": event }),
        )
        .await;
    let start: chrono::DateTime<Utc> = ev["data"]["event"]["startDate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let created = app
        .gql_as(
            &s.access,
            "mutation($i: CreateAgendaItemInput!) { createAgendaItem(input: $i) { id event { id } } }",
            json!({ "i": { "eventId": event, "title": "Keynote", "startTime": start.to_rfc3339(),
                           "endTime": (start + Duration::minutes(30)).to_rfc3339() } }),
        )
        .await;
    assert_eq!(
        created["data"]["createAgendaItem"]["event"]["id"], event,
        "{created}"
    );
    let id = created["data"]["createAgendaItem"]["id"].as_str().unwrap();
    let get = "query($id: ID!) { agendaItem(id: $id) { title deletedAt } }";
    let found = app.gql_as(&s.access, get, json!({ "id": id })).await;
    assert_eq!(
        found["data"]["agendaItem"],
        json!({ "title": "Keynote", "deletedAt": null })
    );
    // The event id belongs in the input, like every other create's parent id.
    let old_shape = app
        .gql_as(
            &s.access,
            "mutation($e: ID!) { createAgendaItem(eventId: $e, input: { title: \"x\", startTime: \"2030-01-01T00:00:00Z\", endTime: \"2030-01-01T01:00:00Z\" }) { id } }",
            json!({ "e": event }),
        )
        .await;
    assert_eq!(
        error_code(&old_shape),
        Some("BAD_USER_INPUT"),
        "{old_shape}"
    );

    let del = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteAgendaItem(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        del["data"]["deleteAgendaItem"]["deletedAt"].is_string(),
        "{del}"
    );
    let gone = app.gql_as(&s.access, get, json!({ "id": id })).await;
    assert_eq!(gone, json!({ "data": { "agendaItem": null } }));
    let restore = "mutation($id: ID!) { restoreAgendaItem(id: $id) { title deletedAt } }";
    let back = app.gql_as(&s.access, restore, json!({ "id": id })).await;
    assert_eq!(
        back["data"]["restoreAgendaItem"],
        json!({ "title": "Keynote", "deletedAt": null })
    );
    // Restoring a live item is NOT_FOUND (there is nothing in the trash to restore).
    let again = app.gql_as(&s.access, restore, json!({ "id": id })).await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"), "{again}");

    // An item whose slot no longer fits the event's dates stays in the trash.
    app.gql_as(
        &s.access,
        "mutation($id: ID!) { deleteAgendaItem(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    let moved = app
        .gql_as(
            &s.access,
            "mutation($id: ID!, $s: DateTime!, $e: DateTime!) { updateEvent(id: $id, input: { startDate: $s, endDate: $e }) { id } }",
            json!({ "id": event, "s": (start + Duration::hours(1)).to_rfc3339(),
                    "e": (start + Duration::hours(3)).to_rfc3339() }),
        )
        .await;
    assert!(moved["errors"].is_null(), "{moved}");
    let stale = app.gql_as(&s.access, restore, json!({ "id": id })).await;
    assert_eq!(field(&stale), Some("startTime"), "{stale}");
    assert_eq!(
        app.gql_as(&s.access, get, json!({ "id": id })).await["data"]["agendaItem"],
        Value::Null
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
        register(&app, m, id, None).await;
    }
    let check_in = "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }";
    app.gql_as(&a.access, check_in, json!({ "e": id, "u": a.user_id }))
        .await;
    app.gql_as(
        &c.access,
        "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
        json!({ "e": id }),
    )
    .await;
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
