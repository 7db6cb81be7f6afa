//! Fan-out: nothing delivered for a rolled-back change, a thousand subscribers on one event, a subscriber too slow for its buffer,
//! identical subscriptions of one viewer sharing one execution (and other viewers not), and
//! (PostgreSQL) changes crossing instances over LISTEN/NOTIFY and a lost LISTEN connection.

use std::time::Duration;

use serde_json::json;

use crate::events::{cancel_own, register};
use crate::helpers::{spawn_app, spawn_app_with};
use crate::subscriptions::{
    ATTENDEE_CHANGED, NOTIFICATION_RECEIVED, delivered, live_subscription, open_event, subscribed,
};
use crate::ws::{Socket, assert_silent, connect_as, expect_close, next_json, send_json, subscribe};

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_dropped_with_a_reason() {
    use plugs::realtime::{AttendeeChangeKind, Signal};
    let app = spawn_app_with(|c| c.realtime.buffer = 4).await;
    let admin = app.register().await;
    let event = open_event(&app, &admin, None).await;
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let org = app
        .gql_as(&admin.access, "{ organization { id } }", json!({}))
        .await["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Far more signals than the buffer holds, faster than anyone can load them.
    for _ in 0..1000 {
        app.broker.hub().deliver(Signal::Attendee {
            org,
            event: event.parse().unwrap(),
            attendee: uuid::Uuid::new_v4(),
            kind: AttendeeChangeKind::Updated,
        });
    }
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
}

#[tokio::test]
async fn a_thousand_subscribers_on_one_event_all_receive_one_change() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let event = open_event(&app, &admin, None).await;
    // At most 50 handshakes at a time: the test is about delivery, not the accept queue.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
    let sockets: Vec<Socket> = futures_util::future::join_all((0..1000).map(|_| {
        let (app, token, event, gate) = (&app, admin.access.clone(), event.clone(), gate.clone());
        async move {
            let _permit = gate.acquire().await.unwrap();
            let mut ws = connect_as(app, &token).await;
            subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
            ws
        }
    }))
    .await;
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    let got = futures_util::future::join_all(sockets.into_iter().map(|mut ws| async move {
        let m = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let m = next_json(&mut ws).await;
                if m["id"] == "a" {
                    return m;
                }
            }
        })
        .await
        .expect("every subscriber is served");
        m["payload"]["data"]["eventAttendeeChanged"]["kind"].clone()
    }))
    .await;
    assert_eq!(got.len(), 1000);
    assert!(
        got.iter().all(|k| k == "REGISTERED"),
        "{:?}",
        got.iter().find(|k| *k != "REGISTERED")
    );
}

/// The subscription gauges of `/metrics`: (running executions, subscriptions they serve).
async fn executions(app: &crate::helpers::TestApp) -> (u64, u64) {
    let text = app.metrics().await;
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    (
        gauge("plugs_subscription_executions "),
        gauge("plugs_subscription_members "),
    )
}

/// Waits until the gauges read `want` (a socket's end is noticed by the server a moment later).
async fn executions_become(app: &crate::helpers::TestApp, want: (u64, u64)) {
    let mut seen = (0, 0);
    for _ in 0..100 {
        seen = executions(app).await;
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("executions and members: wanted {want:?}, saw {seen:?}");
}

/// A subscription whose payload depends on who watches: `twoFactorEnabled` is answered for
/// admins and the member themselves, `null` for anyone else.
const WITH_TWO_FACTOR: &str = "subscription($e: ID!) { eventAttendeeChanged(eventId: $e) { kind attendee { user { id twoFactorEnabled } } } }";

#[tokio::test]
async fn identical_subscriptions_of_one_viewer_share_one_execution_and_other_viewers_do_not() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let newcomer = app.member(&admin, false).await;
    let event = open_event(&app, &admin, None).await;
    let vars = json!({ "e": event });
    let mut admin_1 = connect_as(&app, &admin.access).await;
    subscribed(&mut admin_1, "a", WITH_TWO_FACTOR, vars.clone()).await;
    let mut admin_2 = connect_as(&app, &admin.access).await;
    subscribed(&mut admin_2, "a", WITH_TWO_FACTOR, vars.clone()).await;
    let mut watcher = connect_as(&app, &member.access).await;
    subscribed(&mut watcher, "a", WITH_TWO_FACTOR, vars.clone()).await;
    let mut other_query = connect_as(&app, &admin.access).await;
    subscribed(&mut other_query, "b", ATTENDEE_CHANGED, vars.clone()).await;
    // The two admin sockets asking the same thing share one; the member and the other
    // document have their own.
    executions_become(&app, (3, 4)).await;

    assert!(register(&app, &newcomer, &event, None).await["errors"].is_null());
    for ws in [&mut admin_1, &mut admin_2] {
        let m = delivered(ws, "a").await;
        let change = &m["payload"]["data"]["eventAttendeeChanged"];
        assert_eq!(
            change["attendee"]["user"]["id"],
            newcomer.user_id.as_str(),
            "{m}"
        );
        assert_eq!(change["attendee"]["user"]["twoFactorEnabled"], false, "{m}");
    }
    let m = delivered(&mut watcher, "a").await;
    let change = &m["payload"]["data"]["eventAttendeeChanged"];
    assert_eq!(
        change["attendee"]["user"]["id"],
        newcomer.user_id.as_str(),
        "{m}"
    );
    // Another member's sign-in settings are not the watcher's to see, however many admins
    // watch the same operation.
    assert!(
        change["attendee"]["user"]["twoFactorEnabled"].is_null(),
        "{m}"
    );
    let m = delivered(&mut other_query, "b").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["kind"], "REGISTERED",
        "{m}"
    );

    // One member leaving does not end the execution for the other.
    send_json(&mut admin_1, json!({ "type": "complete", "id": "a" })).await;
    executions_become(&app, (3, 3)).await;
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    let m = delivered(&mut admin_2, "a").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["attendee"]["user"]["id"],
        admin.user_id.as_str(),
        "{m}"
    );
    assert_silent(&mut admin_1, 300).await;

    // The last member leaving ends it; the same operation subscribed again starts afresh.
    drop(admin_2);
    executions_become(&app, (2, 2)).await;
    subscribed(&mut admin_1, "again", WITH_TWO_FACTOR, vars.clone()).await;
    executions_become(&app, (3, 3)).await;
    cancel_own(&app, &admin, &event).await;
    let m = delivered(&mut admin_1, "again").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["kind"], "CANCELLED",
        "{m}"
    );
    drop((admin_1, watcher, other_query));
    executions_become(&app, (0, 0)).await;
}

#[tokio::test]
async fn an_operation_that_ended_is_not_joined_later() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let attacker = app.register().await;
    let event = open_event(&app, &admin, None).await;
    // The same refused operation, one socket after the other: each is answered (a second
    // subscriber must not wait on an execution that is over).
    for _ in 0..2 {
        let mut ws = connect_as(&app, &attacker.access).await;
        subscribe(&mut ws, "x", ATTENDEE_CHANGED, json!({ "e": event })).await;
        let m = delivered(&mut ws, "x").await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{m}"
        );
        assert_eq!(delivered(&mut ws, "x").await["type"], "complete");
    }
    // An invalid document is refused to each subscriber with an `error` message.
    for _ in 0..2 {
        let mut ws = connect_as(&app, &attacker.access).await;
        subscribe(&mut ws, "y", "subscription { noSuchField }", json!({})).await;
        let m = delivered(&mut ws, "y").await;
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(
            m["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{m}"
        );
    }
    executions_become(&app, (0, 0)).await;
}

/// PostgreSQL only: several instances share a database there. Ignored on SQLite (the runner
/// says so); CI runs it on PostgreSQL with `--include-ignored`.
#[tokio::test]
#[ignore = "PostgreSQL only: run with PLUGS_TEST_DATABASE_URL and --include-ignored"]
async fn a_change_on_one_instance_reaches_a_subscriber_on_another() {
    let (a, b) = crate::helpers::two_instances().await;
    let admin = a.register().await;
    let member = a.member(&admin, false).await;
    let event = open_event(&a, &admin, None).await;
    let mut on_b = connect_as(&b, &admin.access).await;
    subscribed(&mut on_b, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let mut member_on_b = connect_as(&b, &member.access).await;
    subscribed(&mut member_on_b, "n", NOTIFICATION_RECEIVED, json!({})).await;
    assert!(register(&a, &member, &event, None).await["errors"].is_null());
    let m = delivered(&mut on_b, "a").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["kind"], "REGISTERED",
        "{m}"
    );
    let m = delivered(&mut member_on_b, "n").await;
    assert_eq!(
        m["payload"]["data"]["notificationReceived"]["title"],
        "Registration confirmed"
    );
    // And the other way round, on the instance that made the change as well.
    let mut on_a = connect_as(&a, &admin.access).await;
    subscribed(&mut on_a, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let body = b
        .gql_as(
            &admin.access,
            "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }",
            json!({ "e": event, "u": member.user_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    for ws in [&mut on_a, &mut on_b] {
        let m = delivered(ws, "a").await;
        assert_eq!(
            m["payload"]["data"]["eventAttendeeChanged"]["kind"],
            "CHECKED_IN"
        );
    }
}

/// PostgreSQL only (the LISTEN connection); see above.
#[tokio::test]
#[ignore = "PostgreSQL only: run with PLUGS_TEST_DATABASE_URL and --include-ignored"]
async fn a_lost_listen_connection_closes_sockets_then_comes_back() {
    use sea_orm::{ConnectionTrait, Statement};
    crate::helpers::require_postgres();
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let event = open_event(&app, &admin, None).await;
    let mut ws = connect_as(&app, &admin.access).await;
    subscribed(&mut ws, "a", ATTENDEE_CHANGED, json!({ "e": event })).await;
    let name = plugs::realtime::postgres::listener_name(app.broker.hub());
    let listeners = |sql: &'static str| {
        let (db, name) = (app.db.clone(), name.clone());
        async move {
            db.query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql,
                [name.into()],
            ))
            .await
            .unwrap()
            .len()
        }
    };
    const TERMINATE: &str =
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1";
    const LISTENING: &str =
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'";
    assert_eq!(
        listeners(LISTENING).await,
        1,
        "one dedicated LISTEN connection"
    );
    assert_eq!(listeners(TERMINATE).await, 1);
    // The socket is told to reconnect and re-query.
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1012, "{reason}");
    // A change committed while the listener is away is not lost for a client that re-queries.
    assert!(register(&app, &member, &event, None).await["errors"].is_null());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listeners(LISTENING).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the listener came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once back, the instance closes the sockets opened while it was away (they may have
    // missed signals too); a socket opened after that is served. Which side of that moment a
    // new socket falls on is timing, so open until one is live (closed ones say 1012).
    // "Served" means a change reaches it: each try makes one (a note on the member's
    // registration) and waits for it, briefly; a socket that misses it or is closed is replaced.
    let registration = app
        .gql_as(
            &admin.access,
            "query($e: ID!) { event(id: $e) { attendees { nodes { id } } } }",
            json!({ "e": event }),
        )
        .await["data"]["event"]["attendees"]["nodes"][0]["id"]
        .as_str()
        .expect("the member's registration")
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    let mut ws = loop {
        assert!(std::time::Instant::now() < deadline, "no socket was served");
        tries += 1;
        let Some(mut ws) =
            live_subscription(&app, &admin.access, ATTENDEE_CHANGED, json!({ "e": event })).await
        else {
            continue;
        };
        let note = app
            .gql_as(
                &admin.access,
                "mutation($id: ID!, $n: String!) { updateAttendee(id: $id, input: { notes: $n }) { id } }",
                json!({ "id": registration, "n": format!("try {tries}") }),
            )
            .await;
        assert!(note["errors"].is_null(), "{note}");
        let got = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match futures_util::StreamExt::next(&mut ws).await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                        let m: serde_json::Value = serde_json::from_str(&t).unwrap();
                        if m["id"] == "a" {
                            return true;
                        }
                    }
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => {
                        return false;
                    }
                    _ => {}
                }
            }
        })
        .await;
        if got == Ok(true) {
            break ws;
        }
    };
    let seen = app
        .gql_as(&admin.access, "query($e: ID!) { event(id: $e) { currentAttendees attendees { nodes { user { id } } } } }", json!({ "e": event }))
        .await;
    assert_eq!(
        seen["data"]["event"]["attendees"]["nodes"][0]["user"]["id"],
        member.user_id.as_str(),
        "{seen}"
    );
    assert!(register(&app, &admin, &event, None).await["errors"].is_null());
    let m = delivered(&mut ws, "a").await;
    assert_eq!(
        m["payload"]["data"]["eventAttendeeChanged"]["currentAttendees"], 2,
        "{m}"
    );
}

#[tokio::test]
async fn a_signal_staged_in_a_rolled_back_transaction_is_never_delivered() {
    use plugs::realtime::{Signal, Topic};
    use sea_orm::TransactionTrait;
    let app = spawn_app().await;
    let (org, event) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut rx = app.broker.hub().subscribe(Topic::Event { org, event });
    let signal = |kind| Signal::Attendee {
        org,
        event,
        attendee: uuid::Uuid::new_v4(),
        kind,
    };
    let rolled_back = signal(plugs::realtime::AttendeeChangeKind::Registered);
    let txn = app.db.begin().await.unwrap();
    app.broker
        .stage(&txn, std::slice::from_ref(&rolled_back))
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    let committed = signal(plugs::realtime::AttendeeChangeKind::Updated);
    let mut outbox = plugs::realtime::Outbox::new();
    outbox.push(committed.clone());
    let txn = app.db.begin().await.unwrap();
    outbox.commit(txn, app.broker.as_ref()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the committed signal arrives")
        .unwrap();
    assert_eq!(first.signal, committed, "the rolled-back one came first");
    assert!(rx.try_recv().is_err());
}
