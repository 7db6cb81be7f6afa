//! The agenda: items inside the event's dates, speakers from the organization, an explicit
//! order, lookup, trash and restore.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::events::create_event;
use crate::helpers::{error_code, error_field as field, spawn_app};

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
