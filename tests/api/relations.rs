//! Relations a frontend walks: `Organization.users/contacts/events`, `User.contacts`,
//! `User.registrations`, `User.notifications` (the caller's own only), `AuditLog.user`.
//! Each is tenant-scoped and batched: a page of 20 parents costs the statements a page of 2
//! does.

use chrono::{Duration, Utc};
use plugs::entities::{
    contact_interactions, contacts, event_agenda_items, event_attendees, events, users,
};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Session, TestApp, error_code, spawn_app, spawn_app_with};

/// An organization of `members` extra members (inserted directly: hashing passwords for 20
/// members would only slow the test): member `i` has `(i + 1) % 4` contacts of 0..3
/// interactions and holds a seat in the first `(i + 1) % 3` of three events, so even a page
/// of two (the admin and member 0) reaches every level.
struct World {
    admin: Session,
    members: Vec<Uuid>,
    events: Vec<Uuid>,
}

async fn world(app: &TestApp, members: usize) -> World {
    let admin = app.register().await;
    let me = app
        .gql_as(&admin.access, "{ organization { id } }", json!({}))
        .await;
    let org: Uuid = me["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let admin_id: Uuid = admin.user_id.parse().unwrap();
    let t0 = Utc::now().fixed_offset();
    let ids: Vec<Uuid> = (0..members).map(|_| Uuid::new_v4()).collect();
    users::Entity::insert_many(ids.iter().enumerate().map(|(i, id)| users::ActiveModel {
        id: Set(*id),
        organization_id: Set(org),
        email: Set(format!("p{i}@{}", admin.domain)),
        password_hash: Set("x".into()),
        first_name: Set(format!("P{i}")),
        last_name: Set("Q".into()),
        created_at: Set(t0 + Duration::seconds(i as i64 + 1)),
        updated_at: Set(t0),
        ..Default::default()
    }))
    .exec(&app.db)
    .await
    .unwrap();
    let event_ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    events::Entity::insert_many(event_ids.iter().enumerate().map(|(i, id)| {
        let start = t0 + Duration::days(i as i64 + 1);
        events::ActiveModel {
            id: Set(*id),
            organization_id: Set(org),
            created_by: Set(admin_id),
            title: Set(format!("E{i}")),
            status: Set("published".into()),
            start_date: Set(start),
            end_date: Set(start + Duration::hours(2)),
            created_at: Set(t0),
            updated_at: Set(t0),
            ..Default::default()
        }
    }))
    .exec(&app.db)
    .await
    .unwrap();
    let (mut cs, mut is, mut regs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, user) in ids.iter().enumerate() {
        for c in 0..((i + 1) % 4) {
            let contact = Uuid::new_v4();
            cs.push(contacts::ActiveModel {
                id: Set(contact),
                organization_id: Set(org),
                created_by: Set(*user),
                first_name: Set(format!("C{i}-{c}")),
                last_name: Set("L".into()),
                created_at: Set(t0 - Duration::seconds((i * 10 + c) as i64)),
                updated_at: Set(t0),
                ..Default::default()
            });
            for j in 0..c {
                is.push(contact_interactions::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    organization_id: Set(org),
                    contact_id: Set(contact),
                    user_id: Set(*user),
                    interaction_type: Set("call".into()),
                    interaction_date: Set(t0 - Duration::hours(j as i64 + 1)),
                    created_at: Set(t0),
                    updated_at: Set(t0),
                    ..Default::default()
                });
            }
        }
        for event in event_ids.iter().take((i + 1) % 3) {
            regs.push(event_attendees::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org),
                event_id: Set(*event),
                user_id: Set(*user),
                registration_date: Set(t0),
                created_at: Set(t0),
                updated_at: Set(t0),
                ..Default::default()
            });
        }
    }
    contacts::Entity::insert_many(cs)
        .exec(&app.db)
        .await
        .unwrap();
    // Two agenda items per event, one with a speaker, so `agenda { speaker }` has work to do.
    let t_start = t0 + Duration::days(1);
    event_agenda_items::Entity::insert_many(event_ids.iter().enumerate().flat_map(|(i, e)| {
        let start = t_start + Duration::days(i as i64);
        [0i64, 1].map(|slot| event_agenda_items::ActiveModel {
            id: Set(Uuid::new_v4()),
            organization_id: Set(org),
            event_id: Set(*e),
            created_by: Set(admin_id),
            title: Set(format!("Slot {slot}")),
            start_time: Set(start + Duration::minutes(30 * slot)),
            end_time: Set(start + Duration::minutes(30 * slot + 30)),
            speaker_id: Set((slot == 0).then(|| ids[i % ids.len().max(1)])),
            sort_order: Set(slot as i32),
            created_at: Set(t0),
            updated_at: Set(t0),
            ..Default::default()
        })
    }))
    .exec(&app.db)
    .await
    .unwrap();
    if !is.is_empty() {
        contact_interactions::Entity::insert_many(is)
            .exec(&app.db)
            .await
            .unwrap();
    }
    event_attendees::Entity::insert_many(regs)
        .exec(&app.db)
        .await
        .unwrap();
    World {
        admin,
        members: ids,
        events: event_ids,
    }
}

fn nodes(v: &Value) -> &Vec<Value> {
    v["nodes"].as_array().expect("a connection's nodes")
}

#[tokio::test]
async fn the_organization_lists_its_own_members_contacts_and_events() {
    let app = spawn_app().await;
    let w = world(&app, 6).await;
    let other = world(&app, 2).await;
    let q = "{ organization { users(first: 3) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
        contacts { totalCount nodes { firstName } } events(first: 10) { totalCount nodes { id title } } } }";
    let body = app.gql_as(&w.admin.access, q, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let org = &body["data"]["organization"];
    // The admin first (oldest), then the members in the order they joined.
    assert_eq!(org["users"]["totalCount"], 7);
    let first: Vec<&str> = nodes(&org["users"])
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [
            w.admin.user_id.as_str(),
            &w.members[0].to_string(),
            &w.members[1].to_string()
        ]
    );
    assert_eq!(org["users"]["pageInfo"]["hasNextPage"], true);
    // 1 + 2 + 3 + 0 + 1 + 2 contacts, none of the other organization's.
    assert_eq!(org["contacts"]["totalCount"], 9);
    assert!(
        nodes(&org["contacts"])
            .iter()
            .all(|c| !c["firstName"].as_str().unwrap().is_empty())
    );
    let events: Vec<&str> = nodes(&org["events"])
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        w.events.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "soonest first, only our own"
    );
    assert!(!body.to_string().contains(&other.admin.user_id));

    // The next page continues from the batched first page's cursor.
    let after = org["users"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = app
        .gql_as(
            &w.admin.access,
            "query($a: String) { organization { users(first: 10, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage } nodes { id } } } }",
            json!({ "a": after }),
        )
        .await;
    let page = &next["data"]["organization"]["users"];
    assert_eq!(nodes(page).len(), 4, "{next}");
    assert_eq!(page["totalCount"], 7);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    // A crafted or foreign cursor is refused, not trusted.
    let bad = app
        .gql_as(
            &w.admin.access,
            "{ organization { users(after: \"bm9wZQ\") { totalCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
}

#[tokio::test]
async fn a_member_reads_only_their_own_notifications() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let sent = app
        .gql_as(
            &admin.access,
            "mutation { sendNotification(input: { allMembers: true, title: \"Hi\", message: \"All hands\" }) }",
            json!({}),
        )
        .await;
    assert_eq!(sent["data"]["sendNotification"], 2, "{sent}");
    let mine = app
        .gql_as(
            &member.access,
            "{ me { notifications(filter: { unread: true }) { totalCount nodes { title } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["data"]["me"]["notifications"],
        json!({ "totalCount": 1, "nodes": [{ "title": "Hi" }] })
    );
    // Someone else's: null with FORBIDDEN, never their notifications; the rest still answers.
    let body = app
        .gql_as(
            &member.access,
            "{ users { nodes { id notifications { totalCount nodes { id } } } } }",
            json!({}),
        )
        .await;
    for node in nodes(&body["data"]["users"]) {
        if node["id"] == member.user_id.as_str() {
            assert_eq!(node["notifications"]["totalCount"], 1, "{body}");
        } else {
            assert!(node["notifications"].is_null(), "{body}");
        }
    }
    let errors = body["errors"].as_array().expect("one error per other user");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(errors[0]["path"][3], "notifications");
}

#[tokio::test]
async fn an_audit_row_names_who_acted() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    app.gql_as(
        &member.access,
        "mutation { createContact(input: { firstName: \"A\", lastName: \"B\" }) { id } }",
        json!({}),
    )
    .await;
    let body = app
        .gql_as(
            &admin.access,
            "{ auditLogs(first: 50) { nodes { tableName action user { id email } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let rows = nodes(&body["data"]["auditLogs"]);
    let contact = rows
        .iter()
        .find(|r| r["tableName"] == "contacts")
        .expect("the contact's audit row");
    assert_eq!(contact["user"]["id"], member.user_id.as_str());
    let created_user = rows
        .iter()
        .find(|r| r["tableName"] == "users" && r["action"] == "CREATE")
        .expect("createUser's audit row");
    assert_eq!(created_user["user"]["email"], admin.email.as_str());
}

/// Every child connection, with `totalCount`, on pages of 2 and 20 parents: the statements
/// a request runs do not grow with the page (an N+1 would add one or two per parent).
#[tokio::test]
async fn child_connections_and_their_counts_are_batched() {
    // A batching window wide enough that a slow debug build gathers each level in one batch.
    let app = spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(100)).await;
    let w = world(&app, 24).await;
    // (name, the child connections it walks, document); every connection field of the schema
    // must be walked by one of them (checked below, by introspection).
    let shapes = [
        (
            "members with their contacts (and interactions) and registrations",
            &["User.contacts", "Contact.interactions", "User.registrations"][..],
            "query($n: Int) { users(first: $n) { nodes { id
                contacts(first: 2) { totalCount pageInfo { hasNextPage } nodes { id interactionCount interactions(first: 1) { totalCount nodes { id } } } }
                registrations(first: 1) { totalCount nodes { event { title } } } } } }",
        ),
        (
            "each member's organization and its connections",
            &["Organization.users", "Organization.contacts", "Organization.events", "Event.attendees"][..],
            "query($n: Int) { users(first: $n) { nodes { organization {
                users(first: 2) { totalCount nodes { id } } contacts(first: 2) { totalCount }
                events(first: 2) { totalCount nodes { attendees(first: 2) { totalCount } } } } } } }",
        ),
        (
            "members' notifications (the caller's own; FORBIDDEN, without a statement, for the rest)",
            &["User.notifications"][..],
            "query($n: Int) { users(first: $n) { nodes { id notifications(first: 5) { totalCount nodes { id } } } } }",
        ),
        (
            "contacts and events with their media (and uploaders)",
            &["Contact.media", "Event.media"][..],
            "query($n: Int) { contacts(first: $n) { nodes { media(first: 2) { totalCount nodes { uploadedBy { id } } } } }
                events(first: $n) { nodes { media(first: 2) { totalCount nodes { relatedEvent { id } } } } } }",
        ),
        (
            "collections with their items (and uploaders); collections.rs fills them",
            &["MediaCollection.items"][..],
            "query($n: Int) { mediaCollections(first: $n) { nodes { createdBy { id } items(first: 2) { totalCount nodes { uploadedBy { id } } } } } }",
        ),
        (
            "integrations (one per provider, four at most) with their runs",
            &["Integration.logs"][..],
            "query($n: Int) { integrations { name logs(first: $n) { totalCount nodes { id } } } }",
        ),
        (
            "events with their expenses (and approvals), spending and budget",
            &["Event.expenses"][..],
            "query($n: Int) { events(first: $n) { nodes { totalExpenses budgetReport { spent }
                expenses(first: 2) { totalCount nodes { createdBy { id } approvals { approver { id } } } } } } }",
        ),
        (
            "organization -> events (agenda, speaker) -> attendees -> user -> contacts -> interactions",
            &["Organization.events", "Event.attendees", "User.contacts", "Contact.interactions"][..],
            "query($n: Int) { organization { events(first: 10) { nodes { agenda { title speaker { id } } attendees(first: $n) { totalCount nodes {
                user { contacts(first: 2) { nodes { interactions(first: 2) { nodes { id } } } } } } } } } } }",
        ),
    ];
    let walked: std::collections::BTreeSet<&str> = shapes
        .iter()
        .flat_map(|(_, w, _)| w.iter().copied())
        .collect();
    let connections = connection_fields(&app).await;
    let missing: Vec<_> = connections
        .iter()
        .filter(|c| !walked.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "child connections no statement-count shape walks: {missing:?}"
    );
    for (name, _, q) in shapes {
        let mut deltas = Vec::new();
        for n in [2, 20] {
            let (body, statements) = app.counted(&w.admin.access, q, json!({ "n": n })).await;
            let refused_others = body["errors"].as_array().into_iter().flatten();
            for e in refused_others {
                assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{name}: {body}");
            }
            assert!(!body["data"].is_null(), "{name}: {body}");
            deltas.push(statements);
        }
        // The session was read while building the world and is remembered (no statement);
        // then one per level (a level may now and then split across two batching windows,
        // which is timing, not growth). The deepest shape has 8 levels.
        assert!(
            deltas.iter().all(|d| *d <= 10),
            "{name}: a small constant number of statements: {deltas:?}"
        );
        assert!(
            deltas[1] <= deltas[0] + 2,
            "{name}: statements must not grow with the page size: {deltas:?}"
        );
    }

    // And the batched answers are right: member i has (i + 1) % 4 contacts and (i + 1) % 3 seats.
    let body = app
        .gql_as(
            &w.admin.access,
            "{ users(first: 30) { nodes { id contacts(first: 2) { totalCount pageInfo { hasNextPage } nodes { interactionCount } }
               registrations { totalCount } } } }",
            json!({}),
        )
        .await;
    for node in nodes(&body["data"]["users"]) {
        let id: Uuid = node["id"].as_str().unwrap().parse().unwrap();
        let Some(i) = w.members.iter().position(|m| *m == id) else {
            continue;
        };
        let (n_contacts, n_seats) = ((i + 1) % 4, (i + 1) % 3);
        let contacts = &node["contacts"];
        assert_eq!(contacts["totalCount"], n_contacts, "{node}");
        assert_eq!(nodes(contacts).len(), n_contacts.min(2));
        assert_eq!(contacts["pageInfo"]["hasNextPage"], n_contacts > 2);
        // Newest first: the contact created last (c = 0) has no interactions.
        if let Some(first) = nodes(contacts).first() {
            assert_eq!(first["interactionCount"], 0, "{node}");
        }
        assert_eq!(node["registrations"]["totalCount"], n_seats, "{node}");
    }
}

/// Every field of a non-root object type that returns a connection (`User.contacts`, ...).
async fn connection_fields(app: &TestApp) -> Vec<String> {
    let body = app
        .graphql(
            "{ __schema { queryType { name } mutationType { name } types { kind name
               fields { name type { kind name ofType { kind name } } } } } }",
            json!({}),
        )
        .await;
    let schema = &body["data"]["__schema"];
    let roots = [
        schema["queryType"]["name"].as_str().unwrap(),
        schema["mutationType"]["name"].as_str().unwrap(),
    ];
    let mut out = Vec::new();
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if t["kind"] != "OBJECT" || roots.contains(&name) || name.ends_with("Connection") {
            continue;
        }
        for f in t["fields"].as_array().into_iter().flatten() {
            let ty = if f["type"]["ofType"].is_null() {
                &f["type"]
            } else {
                &f["type"]["ofType"]
            };
            if ty["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("Connection"))
            {
                out.push(format!("{name}.{}", f["name"].as_str().unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A response's keys in the order the server wrote them, object by object (`serde_json`'s
/// own map sorts them).
#[derive(Debug)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    List(Vec<Ordered>),
    Leaf,
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Ordered>()? {
                    out.push((k, v));
                }
                Ok(Ordered::Object(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<Ordered>()? {
                    out.push(v);
                }
                Ok(Ordered::List(out))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
        }
        d.deserialize_any(V)
    }
}

impl Ordered {
    fn get(&self, key: &str) -> &Ordered {
        match self {
            Ordered::Object(fields) => &fields.iter().find(|(k, _)| k == key).unwrap().1,
            other => panic!("no {key} in {other:?}"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Object(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn items(&self) -> &[Ordered] {
        match self {
            Ordered::List(items) => items,
            other => panic!("not a list: {other:?}"),
        }
    }
}

/// GraphQL's rule: an object's keys come in the order its fields were selected, whichever
/// resolved first (here the batched relations resolve after the columns beside them). Pages'
/// rows are resolved by `graphql::fast` (#14), which keeps it.
#[tokio::test]
async fn response_keys_follow_the_selection_order() {
    let app = spawn_app().await;
    let w = world(&app, 4).await;
    // Fragments on the row's own type count where they stand.
    let q = "{ organization { users(first: 5) {
        nodes { contacts(first: 3) { nodes { interactions(first: 2) { totalCount } ...Author id ... on Contact { firstName }
                                               kind: __typename first: firstName } totalCount }
                id email } pageInfo { hasNextPage } totalCount
        edges { node { contacts(first: 1) { totalCount } id } cursor } } } }
        fragment Author on Contact { createdBy { contacts(first: 1) { totalCount } lastName } createdBy { id } }";
    let text = app.gql_text_as(&w.admin.access, q, json!({})).await;
    let body: Ordered = serde_json::from_str(&text).unwrap();
    assert_eq!(body.keys(), ["data"], "{text}");
    // Rows, their relations and connections keep the order (the top-level objects and mutation
    // payloads are async-graphql's own, in the order their fields finish).
    let users = body.get("data").get("organization").get("users");
    assert_eq!(users.keys(), ["nodes", "pageInfo", "totalCount", "edges"]);
    for edge in users.get("edges").items() {
        assert_eq!(edge.keys(), ["node", "cursor"]);
        assert_eq!(edge.get("node").keys(), ["contacts", "id"]);
    }
    let mut contacts = 0;
    for user in users.get("nodes").items() {
        assert_eq!(user.keys(), ["contacts", "id", "email"], "{text}");
        assert_eq!(user.get("contacts").keys(), ["nodes", "totalCount"]);
        for contact in user.get("contacts").get("nodes").items() {
            let keys = [
                "interactions",
                "createdBy",
                "id",
                "firstName",
                "kind",
                "first",
            ];
            assert_eq!(contact.keys(), keys);
            // `createdBy` selected twice merges into one object, in first-selected order.
            assert_eq!(
                contact.get("createdBy").keys(),
                ["contacts", "lastName", "id"]
            );
            contacts += 1;
        }
    }
    assert!(
        contacts >= 3,
        "the world gives the first members contacts: {text}"
    );
    // The same answer as any JSON reader sees it: values, aliases and `__typename` as selected.
    let value: Value = serde_json::from_str(&text).unwrap();
    assert!(value["errors"].is_null(), "{text}");
    let admin = &value["data"]["organization"]["users"]["nodes"][0];
    assert_eq!(admin["id"], w.admin.user_id.as_str());
    let contact = &value["data"]["organization"]["users"]["nodes"][1]["contacts"]["nodes"][0];
    assert_eq!(contact["kind"], "Contact");
    assert_eq!(contact["first"], contact["firstName"]);
    assert_eq!(contact["createdBy"]["id"], w.members[0].to_string());
    assert!(contact["createdBy"]["lastName"].is_string());
    assert!(contact["interactions"]["totalCount"].is_i64());
}
