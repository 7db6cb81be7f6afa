//! Subscriptions over real WebSocket clients: delivery, both protocols, the protocol's edge
//! cases, tenant and user isolation, rollback, fan-out to many subscribers and across
//! instances (PostgreSQL).

use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{cancel_own, create_event, lifecycle, register};
use crate::helpers::{Session, TestApp, spawn_app, spawn_app_with};
use crate::notifications::send;
use crate::ws::{
    Socket, assert_silent, connect_as, expect_close, next_frame, next_json, open, send_json,
    subscribe,
};

pub(crate) const ATTENDEE_CHANGED: &str = "subscription($e: ID!) { eventAttendeeChanged(eventId: $e) { kind currentAttendees attendee { id status user { id } event { id } } } }";
pub(crate) const NOTIFICATION_RECEIVED: &str =
    "subscription { notificationReceived { id title message notificationType isRead data } }";

/// The next message for `id`. Deliveries take milliseconds; the 30 s ceiling only keeps a
/// broken delivery from hanging the suite (a loaded 2-core machine running the 1,000-socket
/// fan-out beside it must not fail it).
pub(crate) async fn delivered(ws: &mut Socket, id: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let m = next_json(ws).await;
            if m["id"] == id {
                return m;
            }
        }
    })
    .await
    .expect("delivered within 30 s")
}

/// A published event with room for `max`.
pub(crate) async fn open_event(app: &TestApp, admin: &Session, max: Option<i32>) -> String {
    let e = create_event(app, admin, max).await;
    let id = e["id"].as_str().unwrap().to_owned();
    let body = lifecycle(app, admin, "publishEvent", &id).await;
    assert!(body["errors"].is_null(), "{body}");
    id
}

/// Subscribes and proves the subscription is live: the server has run its resolver once a
/// later operation on the same socket answered.
pub(crate) async fn subscribed(ws: &mut Socket, id: &str, query: &str, variables: Value) {
    subscribe(ws, id, query, variables).await;
    let probe = format!("{id}-probe");
    subscribe(ws, &probe, "{ apiVersion }", json!({})).await;
    loop {
        let m = next_json(ws).await;
        if m["id"] == probe && m["type"] == "complete" {
            break;
        }
        assert_ne!(m["id"], id, "the subscription answered early: {m}");
    }
}

/// A socket with a live subscription `a`, or `None` when the server closed the socket first
/// (with 1012: its realtime feed was interrupted).
pub(crate) async fn live_subscription(
    app: &TestApp,
    token: &str,
    query: &str,
    vars: Value,
) -> Option<Socket> {
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = open(app, "graphql-transport-ws").await;
    send_json(&mut ws, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    subscribe(&mut ws, "a", query, vars).await;
    subscribe(&mut ws, "a-probe", "{ apiVersion }", json!({})).await;
    loop {
        match next_frame(&mut ws).await {
            Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(1012), "only an interrupted feed may close it");
                return None;
            }
            Message::Text(t) => {
                let m: Value = serde_json::from_str(&t).unwrap();
                if m["id"] == "a-probe" && m["type"] == "complete" {
                    return Some(ws);
                }
                assert_ne!(m["id"], "a", "the subscription answered early: {m}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn organizers_watch_attendees_arrive_live() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let event = open_event(&app, &admin, Some(10)).await;
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;

    assert!(register(&app, &member, &event, None).await["errors"].is_null());
    let m = delivered(&mut ws, "a").await;
    assert_eq!(m["type"], "next", "{m}");
    let change = &m["payload"]["data"]["eventAttendeeChanged"];
    assert_eq!(change["kind"], "REGISTERED");
    assert_eq!(change["currentAttendees"], 1);
    assert_eq!(change["attendee"]["user"]["id"], member.user_id.as_str());
    assert_eq!(change["attendee"]["event"]["id"], event.as_str());

    for (op, kind, seats) in [
        ("checkInAttendee", "CHECKED_IN", 1),
        ("checkOutAttendee", "CHECKED_OUT", 1),
    ] {
        let body = app
            .gql_as(
                &admin.access,
                &format!("mutation($e: ID!, $u: ID!) {{ {op}(eventId: $e, userId: $u) {{ id }} }}"),
                json!({ "e": event, "u": member.user_id }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let m = delivered(&mut ws, "a").await;
        let change = &m["payload"]["data"]["eventAttendeeChanged"];
        assert_eq!(
            (change["kind"].clone(), change["currentAttendees"].clone()),
            (json!(kind), json!(seats))
        );
    }
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    let m = delivered(&mut ws, "a").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["currentAttendees"],
        2
    );
    cancel_own(&app, &admin, &event).await;
    let m = delivered(&mut ws, "a").await;
    let change = &m["payload"]["data"]["eventAttendeeChanged"];
    assert_eq!(
        (change["kind"].clone(), change["currentAttendees"].clone()),
        (json!("CANCELLED"), json!(1))
    );

    // Completing the operation stops delivery on it; the socket stays usable.
    send_json(&mut ws, json!({ "type": "complete", "id": "a" })).await;
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    assert_silent(&mut ws, 300).await;
}

#[tokio::test]
async fn notifications_reach_their_own_user_live_and_nobody_else() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let alice = app.member(&admin, false).await;
    let bob = app.member(&admin, false).await;
    let stranger = app.register().await;
    let mut a = connect_as(&app, &alice.access).await;
    let mut b = connect_as(&app, &bob.access).await;
    let mut s = connect_as(&app, &stranger.access).await;
    for ws in [&mut a, &mut b, &mut s] {
        subscribed(ws, "n", NOTIFICATION_RECEIVED, json!({})).await;
    }
    let body = send(
        &app,
        &admin,
        json!({ "userIds": [alice.user_id], "title": "For Alice", "message": "only" }),
    )
    .await;
    assert_eq!(body["data"]["sendNotification"], 1, "{body}");
    let m = delivered(&mut a, "n").await;
    let n = &m["payload"]["data"]["notificationReceived"];
    assert_eq!(
        (n["title"].clone(), n["isRead"].clone()),
        (json!("For Alice"), json!(false))
    );
    // Bob's first delivery is his own later one: Alice's never reached him.
    send(
        &app,
        &admin,
        json!({ "userIds": [bob.user_id], "title": "For Bob", "message": "only" }),
    )
    .await;
    let m = delivered(&mut b, "n").await;
    assert_eq!(
        m["payload"]["data"]["notificationReceived"]["title"],
        "For Bob"
    );
    // Another organization's broadcast reaches none of us, and ours none of them.
    send(
        &app,
        &stranger,
        json!({ "allMembers": true, "title": "Stranger news", "message": "x" }),
    )
    .await;
    let m = delivered(&mut s, "n").await;
    assert_eq!(
        m["payload"]["data"]["notificationReceived"]["title"],
        "Stranger news"
    );
    assert_silent(&mut a, 300).await;
    assert_silent(&mut b, 100).await;
    assert_silent(&mut s, 100).await;

    // System notifications arrive too: a registration confirmation.
    let event = open_event(&app, &admin, None).await;
    assert!(register(&app, &alice, &event, None).await["errors"].is_null());
    let m = delivered(&mut a, "n").await;
    let n = &m["payload"]["data"]["notificationReceived"];
    assert_eq!(
        (n["title"].clone(), n["data"]["eventId"].clone()),
        (json!("Registration confirmed"), json!(event))
    );
}

#[tokio::test]
async fn another_organization_cannot_watch_our_events_even_with_the_id() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let attacker = app.register().await;
    let event = open_event(&app, &admin, None).await;
    let their_event = open_event(&app, &attacker, None).await;
    let mut ws = connect_as(&app, &attacker.access).await;
    subscribe(&mut ws, "x", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let m = delivered(&mut ws, "x").await;
    assert_eq!(m["type"], "next", "{m}");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{m}"
    );
    assert_eq!(delivered(&mut ws, "x").await["type"], "complete");
    // Watching their own event, they hear nothing of ours.
    subscribed(
        &mut ws,
        "own",
        ATTENDEE_CHANGED,
        json!({ "e": their_event }),
    )
    .await;
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    assert_silent(&mut ws, 300).await;
    // Malformed ids are refused the same way as on HTTP.
    subscribe(&mut ws, "bad", ATTENDEE_CHANGED, json!({ "e": "nope" })).await;
    let m = delivered(&mut ws, "bad").await;
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["field"], "eventId",
        "{m}"
    );
}

#[tokio::test]
async fn a_refused_change_announces_nothing() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let event = open_event(&app, &admin, Some(1)).await;
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let mut mine = connect_as(&app, &member.access).await;
    subscribed(&mut mine, "n", NOTIFICATION_RECEIVED, json!({})).await;
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    assert_eq!(
        delivered(&mut ws, "a").await["payload"]["data"]["eventAttendeeChanged"]["kind"],
        "REGISTERED"
    );
    let full = register(&app, &member, &event, None).await;
    assert_eq!(full["errors"][0]["extensions"]["code"], "EVENT_FULL");
    assert_silent(&mut ws, 300).await;
    assert_silent(&mut mine, 100).await;
}

#[tokio::test]
async fn legacy_graphql_ws_clients_are_served_too() {
    let app = spawn_app_with(|c| c.realtime.keepalive = Duration::from_millis(200)).await;
    let admin = app.register().await;
    let event = open_event(&app, &admin, None).await;
    let mut ws = open(&app, "graphql-ws").await;
    send_json(&mut ws, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", admin.access) } })).await;
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    // The legacy keep-alive.
    let ka = loop {
        let m = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::StreamExt::next(&mut ws),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            break serde_json::from_str::<Value>(&t).unwrap();
        }
    };
    assert_eq!(ka["type"], "ka");
    send_json(&mut ws, json!({ "type": "start", "id": "1", "payload": { "query": ATTENDEE_CHANGED, "variables": { "e": event } } })).await;
    send_json(
        &mut ws,
        json!({ "type": "start", "id": "probe", "payload": { "query": "{ apiVersion }" } }),
    )
    .await;
    loop {
        let m = next_json(&mut ws).await;
        if m["id"] == "probe" {
            assert_eq!(m["type"], "data", "{m}");
            break;
        }
    }
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    let m = delivered(&mut ws, "1").await;
    assert_eq!(m["type"], "data", "{m}");
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["kind"],
        "REGISTERED"
    );
    send_json(&mut ws, json!({ "type": "stop", "id": "1" })).await;
    send_json(&mut ws, json!({ "type": "connection_terminate" })).await;
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1000);

    // A refused token: connection_error, then the socket closes.
    let mut ws = open(&app, "graphql-ws").await;
    send_json(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer nope" } }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "connection_error");
    assert_eq!(expect_close(&mut ws).await.0, 4403);
}

#[tokio::test]
async fn the_protocol_rules_close_misbehaving_sockets_with_their_codes() {
    // Short enough to test 4408 quickly, long enough that no other socket here trips it.
    let app = spawn_app_with(|c| c.realtime.init_timeout = Duration::from_secs(2)).await;
    let admin = app.register().await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", admin.access) } });

    // No connection_init in time: 4408.
    let mut ws = open(&app, "graphql-transport-ws").await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (4408, "Connection initialisation timeout")
    );

    // Subscribe before the ack: 4401.
    let mut ws = open(&app, "graphql-transport-ws").await;
    subscribe(&mut ws, "1", "{ apiVersion }", json!({})).await;
    assert_eq!(expect_close(&mut ws).await.0, 4401);

    // A second connection_init: 4429.
    let mut ws = open(&app, "graphql-transport-ws").await;
    send_json(&mut ws, init.clone()).await;
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    send_json(&mut ws, init.clone()).await;
    assert_eq!(expect_close(&mut ws).await.0, 4429);

    // Garbage: 4400.
    let mut ws = connect_as(&app, &admin.access).await;
    send_json(&mut ws, json!({ "type": "subscribe" })).await;
    assert_eq!(expect_close(&mut ws).await.0, 4400);

    // ping -> pong, with the payload echoed.
    let mut ws = connect_as(&app, &admin.access).await;
    send_json(&mut ws, json!({ "type": "ping", "payload": { "n": 1 } })).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(
        (pong["type"].clone(), pong["payload"]["n"].clone()),
        (json!("pong"), json!(1))
    );

    // A duplicate id while the first is active: 4409.
    subscribed(&mut ws, "dup", NOTIFICATION_RECEIVED, json!({})).await;
    subscribe(&mut ws, "dup", NOTIFICATION_RECEIVED, json!({})).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for dup already exists")
    );
    // However long the id, the close frame stays valid (a reason holds at most 123 bytes).
    let mut ws = connect_as(&app, &admin.access).await;
    let long = "é".repeat(300);
    subscribed(&mut ws, &long, NOTIFICATION_RECEIVED, json!({})).await;
    subscribe(&mut ws, &long, NOTIFICATION_RECEIVED, json!({})).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4409);
    assert!(
        reason.len() <= 123 && reason.starts_with("Subscriber for é"),
        "{reason}"
    );

    // The other subprotocol's messages are refused: 4400.
    let mut ws = connect_as(&app, &admin.access).await;
    send_json(
        &mut ws,
        json!({ "type": "start", "id": "1", "payload": { "query": "{ apiVersion }" } }),
    )
    .await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4400, "{reason}");

    // At most 100 active subscriptions: the 101st is refused, the socket stays.
    let mut ws = connect_as(&app, &admin.access).await;
    for i in 0..100 {
        subscribe(&mut ws, &format!("s{i}"), NOTIFICATION_RECEIVED, json!({})).await;
    }
    subscribe(&mut ws, "s100", NOTIFICATION_RECEIVED, json!({})).await;
    let m = delivered(&mut ws, "s100").await;
    assert_eq!(m["type"], "error", "{m}");
    assert!(
        m["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{m}"
    );
    // Completing makes room; a notification then reaches every active one (99 + the new).
    for id in ["s0", "s1"] {
        send_json(&mut ws, json!({ "type": "complete", "id": id })).await;
    }
    subscribed(&mut ws, "s100", NOTIFICATION_RECEIVED, json!({})).await;
    send(
        &app,
        &admin,
        json!({ "userIds": [admin.user_id], "title": "hundred", "message": "m" }),
    )
    .await;
    let mut ids = std::collections::HashSet::new();
    while ids.len() < 99 {
        let m = next_json(&mut ws).await;
        assert_eq!(
            m["payload"]["data"]["notificationReceived"]["title"], "hundred",
            "{m}"
        );
        ids.insert(m["id"].as_str().unwrap().to_owned());
    }
    assert!(!ids.contains("s0") && !ids.contains("s1") && ids.contains("s100"));
    assert_silent(&mut ws, 200).await;
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_token_expiring_mid_subscription_ends_delivery() {
    // Four seconds leave a loaded machine time to sign in and subscribe before the expiry.
    let ttl = Duration::from_secs(4);
    let app = spawn_app_with(|c| {
        c.auth.access_ttl = ttl;
        c.auth.jwt_leeway = Duration::from_secs(1);
    })
    .await;
    let issued = std::time::Instant::now();
    let admin = app.register().await;
    let body = app.gql_as(&admin.access, "{ me { id } }", json!({})).await;
    assert_eq!(body["data"]["me"]["id"], admin.user_id, "{body}");
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "n", NOTIFICATION_RECEIVED, json!({})).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    // Not before the token expired (measured from before it was issued: a lower bound).
    assert!(issued.elapsed() >= ttl, "closed early");
    // The same token is refused outright now: the first frame is the close, no ack before it.
    let mut ws = open(&app, "graphql-transport-ws").await;
    send_json(&mut ws, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", admin.access) } })).await;
    let first = loop {
        match next_frame(&mut ws).await {
            tokio_tungstenite::tungstenite::Message::Text(t)
                if t.contains("\"ping\"") || t.contains("\"ka\"") => {}
            other => break other,
        }
    };
    let tokio_tungstenite::tungstenite::Message::Close(Some(frame)) = first else {
        panic!("an expired token must not be acknowledged: {first:?}");
    };
    assert_eq!(u16::from(frame.code), 4403);
    assert!(frame.reason.contains("expired"), "{}", frame.reason);
    // And over HTTP, where it was accepted before it expired (verified tokens are remembered).
    let body = app.gql_as(&admin.access, "{ me { id } }", json!({})).await;
    assert_eq!(
        crate::helpers::error_code(&body),
        Some("UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.to_string().contains("expired"), "{body}");
}

#[tokio::test]
async fn ending_a_session_closes_its_sockets_and_only_its_own() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let a = app.member(&admin, false).await;
    let sign_in = || async {
        let body = app.login(&a.email, crate::helpers::PASSWORD, None).await;
        Session::from_payload(&body["data"]["login"], &a.domain)
    };
    let (b, c) = (sign_in().await, sign_in().await);
    let mut sockets = Vec::new();
    for s in [&a, &b, &c, &admin] {
        let mut ws = connect_as(&app, &s.access).await;
        subscribed(&mut ws, "n", NOTIFICATION_RECEIVED, json!({})).await;
        sockets.push(ws);
    }
    let [ws_a, ws_b, ws_c, ws_admin] = &mut sockets[..] else {
        unreachable!()
    };
    // Signing out of one session closes its socket only.
    let body = app
        .gql_as(
            &a.access,
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({ "r": a.refresh }),
        )
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let (code, reason) = expect_close(ws_a).await;
    assert_eq!(code, 4403, "{reason}");
    assert_silent(ws_b, 200).await;
    // Changing the password ends the other sessions, not the one that asked.
    let body = app
        .gql_as(&b.access, "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"a brand new passphrase\") }",
            json!({ "c": crate::helpers::PASSWORD }))
        .await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    assert_eq!(expect_close(ws_c).await.0, 4403);
    assert_silent(ws_b, 200).await;
    // Deactivation ends every session of the member; the admin's socket stays.
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateUser(id: $id, input: { isActive: false }) { id } }",
            json!({ "id": a.user_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(expect_close(ws_b).await.0, 4403);
    assert_silent(ws_admin, 200).await;
}

#[tokio::test]
async fn an_oversized_message_closes_the_socket_with_1009() {
    let app = spawn_app_with(|c| c.limits.body_bytes = 4096).await;
    let admin = app.register().await;
    let mut ws = connect_as(&app, &admin.access).await;
    let big = format!("{{ apiVersion # {} }}", "x".repeat(8192));
    subscribe(&mut ws, "big", &big, json!({})).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1009, "{reason}");
}

#[tokio::test]
async fn marking_no_shows_is_announced_for_each_registration() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let event = open_event(&app, &admin, None).await;
    assert!(register(&app, &member, &event, None).await["errors"].is_null());
    for op in ["startEvent", "completeEvent"] {
        assert!(lifecycle(&app, &admin, op, &event).await["errors"].is_null());
    }
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let body = app
        .gql_as(
            &admin.access,
            "mutation($e: ID!) { markNoShows(eventId: $e) }",
            json!({ "e": event }),
        )
        .await;
    assert_eq!(body["data"]["markNoShows"], 1, "{body}");
    let m = delivered(&mut ws, "a").await;
    let change = &m["payload"]["data"]["eventAttendeeChanged"];
    assert_eq!(
        (change["kind"].clone(), change["attendee"]["status"].clone()),
        (json!("UPDATED"), json!("NO_SHOW")),
        "{m}"
    );
    assert_eq!(change["attendee"]["user"]["id"], member.user_id.as_str());
}
