//! Contacts and interactions, from the client's side.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_field as field, spawn_app};

const FIELDS: &str = "id firstName lastName email company contactType status priority leadScore lastInteraction deletedAt";

pub async fn create(app: &TestApp, s: &Session, input: Value) -> Value {
    let body = app
        .gql_as(
            &s.access,
            &format!(
                "mutation($i: CreateContactInput!) {{ createContact(input: $i) {{ {FIELDS} }} }}"
            ),
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createContact"].clone()
}

pub async fn interact(
    app: &TestApp,
    s: &Session,
    contact: &str,
    days_ago: i64,
    status: &str,
    outcome: Option<&str>,
) -> Value {
    let date = (Utc::now() - Duration::days(days_ago)).to_rfc3339();
    let body = app
        .gql_as(
            &s.access,
            "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id interactionDate status } }",
            json!({ "i": { "contactId": contact, "interactionType": "CALL", "interactionDate": date, "status": status, "outcome": outcome } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createContactInteraction"].clone()
}

/// The contact as its owner sees it (`null` when hidden); the lookup itself must not fail.
pub async fn contact(app: &TestApp, s: &Session, id: &str) -> Value {
    let body = app
        .gql_as(
            &s.access,
            &format!("query($id: ID!) {{ contact(id: $id) {{ {FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["contact"].clone()
}

#[tokio::test]
async fn contacts_are_created_updated_trashed_and_restored() {
    let app = spawn_app().await;
    let s = app.register().await;
    let c = create(&app, &s, json!({ "firstName": "Grace", "lastName": "Hopper", "email": "Grace@Navy.MIL",
        "company": "US Navy", "status": "HOT_LEAD", "leadScore": 70, "metadata": { "source": "conference" } })).await;
    assert_eq!(c["contactType"], "TARGET");
    assert_eq!(c["email"], "grace@navy.mil");
    assert_eq!(c["priority"], "MEDIUM");
    let id = c["id"].as_str().unwrap();

    let upd = "mutation($id: ID!, $i: UpdateContactInput!) { updateContact(id: $id, input: $i) { company leadScore status email } }";
    let body = app
        .gql_as(
            &s.access,
            upd,
            json!({ "id": id, "i": { "company": null, "leadScore": 80 } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateContact"],
        json!({ "company": null, "leadScore": 80, "status": "HOT_LEAD", "email": "grace@navy.mil" })
    );
    for (input, f) in [
        (json!({ "leadScore": 101 }), "leadScore"),
        (json!({ "leadScore": -1 }), "leadScore"),
        (json!({ "email": "nope" }), "email"),
        (json!({ "firstName": "x".repeat(51) }), "firstName"),
        (json!({ "firstName": null }), "firstName"),
        (json!({ "phone": "1".repeat(21) }), "phone"),
        (json!({ "linkedinUrl": "linkedin.com/in/x" }), "linkedinUrl"),
        (json!({ "metadata": [1, 2] }), "metadata"),
    ] {
        let body = app
            .gql_as(&s.access, upd, json!({ "id": id, "i": input }))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{input}: {body}");
        assert_eq!(field(&body), Some(f), "{input}");
    }
    assert_eq!(
        contact(&app, &s, id).await["leadScore"],
        80,
        "refused updates changed nothing"
    );

    let del = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteContact(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(del["data"]["deleteContact"]["deletedAt"].is_string());
    assert!(
        contact(&app, &s, id).await.is_null(),
        "deleted contacts are hidden"
    );
    let list =
        "query($d: Boolean) { contacts(filter: { deleted: $d }) { totalCount nodes { id } } }";
    assert_eq!(
        app.gql_as(&s.access, list, json!({})).await["data"]["contacts"]["totalCount"],
        0
    );
    assert_eq!(
        app.gql_as(&s.access, list, json!({ "d": true })).await["data"]["contacts"]["totalCount"],
        1
    );
    let again = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"));
    let res = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { restoreContact(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        res["data"]["restoreContact"]["deletedAt"].is_null(),
        "{res}"
    );
    assert_eq!(contact(&app, &s, id).await["id"], id);
}

#[tokio::test]
async fn the_funnel_moves_forward_and_only_admins_force_it_back() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let id = create(&app, &member, json!({ "firstName": "A", "lastName": "B" })).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conv = "mutation($id: ID!, $to: ContactType!, $f: Boolean) { convertContact(id: $id, to: $to, force: $f) { contactType } }";
    let ok = app
        .gql_as(&member.access, conv, json!({ "id": id, "to": "CONTACT" }))
        .await;
    assert_eq!(ok["data"]["convertContact"]["contactType"], "CONTACT");
    let same = app
        .gql_as(&member.access, conv, json!({ "id": id, "to": "CONTACT" }))
        .await;
    assert_eq!(field(&same), Some("to"));
    let ok = app
        .gql_as(&member.access, conv, json!({ "id": id, "to": "PLUG" }))
        .await;
    assert_eq!(ok["data"]["convertContact"]["contactType"], "PLUG");
    let back = app
        .gql_as(&member.access, conv, json!({ "id": id, "to": "TARGET" }))
        .await;
    assert_eq!(error_code(&back), Some("BAD_USER_INPUT"));
    let forced = app
        .gql_as(
            &member.access,
            conv,
            json!({ "id": id, "to": "TARGET", "f": true }),
        )
        .await;
    assert_eq!(error_code(&forced), Some("FORBIDDEN"));
    let forced = app
        .gql_as(
            &admin.access,
            conv,
            json!({ "id": id, "to": "TARGET", "f": true }),
        )
        .await;
    assert_eq!(
        forced["data"]["convertContact"]["contactType"], "TARGET",
        "{forced}"
    );
    // Skipping a stage forward is allowed.
    let skip = app
        .gql_as(&member.access, conv, json!({ "id": id, "to": "PLUG" }))
        .await;
    assert_eq!(skip["data"]["convertContact"]["contactType"], "PLUG");
}

#[tokio::test]
async fn the_lead_score_is_recalculated_from_interactions() {
    let app = spawn_app().await;
    let s = app.register().await;
    let id = create(
        &app,
        &s,
        json!({ "firstName": "A", "lastName": "B", "contactType": "CONTACT" }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    interact(&app, &s, &id, 2, "COMPLETED", Some("Agreed to a pilot")).await;
    interact(&app, &s, &id, 20, "COMPLETED", None).await;
    interact(&app, &s, &id, 200, "COMPLETED", Some("Intro")).await;
    interact(&app, &s, &id, -5, "SCHEDULED", Some("ignored")).await;
    let body = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { recalculateLeadScore(id: $id) { leadScore } }",
            json!({ "id": id }),
        )
        .await;
    // recency 40 (2 days) + frequency 2 x 3 (two within 90 days) + outcomes round(20 x 2/3) = 13 + stage 5.
    assert_eq!(
        body["data"]["recalculateLeadScore"]["leadScore"],
        40 + 6 + 13 + 5,
        "{body}"
    );
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = spawn_app().await;
    let s = app.register().await;
    let other = app.member(&s, false).await;
    let a = create(&app, &s, json!({ "firstName": "Ada", "lastName": "Lovelace", "email": "ada@engines.test", "company": "Analytical Engines",
        "industry": "Computing", "status": "HOT_LEAD", "priority": "HIGH", "leadScore": 90, "contactType": "PLUG" })).await;
    let b = create(&app, &other, json!({ "firstName": "Alan", "lastName": "Turing", "company": "Bletchley", "industry": "Cryptography",
        "status": "COLD_LEAD", "priority": "LOW", "leadScore": 40 })).await;
    let c = create(&app, &s, json!({ "firstName": "Grace", "lastName": "Hopper", "email": "grace@navy.test", "status": "NEW_CLIENT",
        "leadScore": 60, "contactType": "CONTACT" })).await;
    // LIKE's wildcards are characters to the search: `%` and `_` find this one only.
    let wild = create(&app, &s, json!({ "firstName": "Percy", "lastName": "Wildcard", "company": "50%_Off", "priority": "HIGH",
        "contactType": "PLUG" })).await;
    interact(&app, &s, c["id"].as_str().unwrap(), 40, "COMPLETED", None).await;
    interact(&app, &s, a["id"].as_str().unwrap(), 1, "COMPLETED", None).await;
    let q = "query($f: ContactFilter) { contacts(filter: $f, orderBy: [{ field: LAST_NAME, direction: ASC }]) { totalCount nodes { lastName } } }";
    let names = |b: &Value| -> Vec<String> {
        assert!(b["errors"].is_null(), "a filter must not fail: {b}");
        b["data"]["contacts"]["nodes"]
            .as_array()
            .expect("a page of contacts")
            .iter()
            .map(|n| n["lastName"].as_str().unwrap().to_owned())
            .collect()
    };
    let since = (Utc::now() - Duration::days(7)).to_rfc3339();
    let cases = [
        (json!({ "search": "LOVE" }), vec!["Lovelace"]),
        (json!({ "search": "navy.test" }), vec!["Hopper"]),
        (json!({ "search": "bletch" }), vec!["Turing"]),
        (json!({ "search": "%" }), vec!["Wildcard"]),
        (json!({ "search": "0%_o" }), vec!["Wildcard"]),
        (json!({ "search": "_" }), vec!["Wildcard"]),
        (
            json!({ "contactType": ["PLUG", "CONTACT"] }),
            vec!["Hopper", "Lovelace", "Wildcard"],
        ),
        (json!({ "contactType": "TARGET" }), vec!["Turing"]),
        (json!({ "status": ["HOT_LEAD"] }), vec!["Lovelace"]),
        (
            json!({ "priority": ["LOW", "MEDIUM"] }),
            vec!["Hopper", "Turing"],
        ),
        (
            json!({ "leadScoreMin": 50, "leadScoreMax": 90 }),
            vec!["Hopper", "Lovelace"],
        ),
        (json!({ "company": "analytical engines" }), vec!["Lovelace"]),
        (json!({ "industry": "CRYPTOGRAPHY" }), vec!["Turing"]),
        (json!({ "createdBy": other.user_id }), vec!["Turing"]),
        (json!({ "lastInteractionAfter": since }), vec!["Lovelace"]),
        (json!({ "lastInteractionBefore": since }), vec!["Hopper"]),
    ];
    assert!(wild["id"].is_string());
    for (f, expected) in cases {
        let body = app.gql_as(&s.access, q, json!({ "f": f })).await;
        assert_eq!(names(&body), expected, "{f}: {body}");
    }
    let _ = b;
    let bad = app
        .gql_as(
            &s.access,
            q,
            json!({ "f": { "leadScoreMin": 60, "leadScoreMax": 10 } }),
        )
        .await;
    assert_eq!(field(&bad), Some("leadScoreMin"));
}

/// Every ordering, paged forward two at a time and backward two at a time, gives the same
/// sequence as one big page, with ties (equal companies, scores) and NULLs (no company) placed
/// deterministically: NULLs last in both directions, ties by id.
#[tokio::test]
async fn every_ordering_pages_forward_and_backward_with_ties_and_nulls() {
    let app = spawn_app().await;
    let s = app.register().await;
    for (i, (company, score)) in [
        (Some("Acme"), 50),
        (None, 50),
        (Some("Beta"), 10),
        (Some("Acme"), 90),
        (None, 10),
        (Some("Corp"), 50),
        (Some("Acme"), 50),
    ]
    .iter()
    .enumerate()
    {
        let last_name = ["Zed", "Ann", "Moe"][i % 3];
        let c = create(
            &app,
            &s,
            json!({ "firstName": format!("F{i}"), "lastName": last_name,
            "company": company, "leadScore": score }),
        )
        .await;
        if i % 2 == 0 {
            interact(
                &app,
                &s,
                c["id"].as_str().unwrap(),
                i as i64 + 1,
                "COMPLETED",
                None,
            )
            .await;
        }
    }
    let q = "query($o: [ContactOrder!], $first: Int, $after: String, $last: Int, $before: String) {
        contacts(orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
          nodes { id company leadScore lastName lastInteraction } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    for field_name in [
        "CREATED_AT",
        "UPDATED_AT",
        "LAST_NAME",
        "COMPANY",
        "LEAD_SCORE",
        "LAST_INTERACTION",
    ] {
        for dir in ["ASC", "DESC"] {
            let o = json!([{ "field": field_name, "direction": dir }]);
            let all = app
                .gql_as(&s.access, q, json!({ "o": o, "first": 100 }))
                .await;
            let all: Vec<Value> = all["data"]["contacts"]["nodes"]
                .as_array()
                .expect("a page")
                .clone();
            assert_eq!(all.len(), 7);
            // NULLs last, whatever the direction.
            let key = match field_name {
                "COMPANY" => "company",
                "LAST_INTERACTION" => "lastInteraction",
                _ => "",
            };
            if !key.is_empty() {
                let first_null = all.iter().position(|n| n[key].is_null()).unwrap();
                assert!(
                    all[first_null..].iter().all(|n| n[key].is_null()),
                    "{field_name} {dir}: NULLs last"
                );
            }
            let ids: Vec<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();

            let mut fwd = Vec::new();
            let mut after = Value::Null;
            loop {
                let page = app
                    .gql_as(&s.access, q, json!({ "o": o, "first": 2, "after": after }))
                    .await;
                let c = &page["data"]["contacts"];
                fwd.extend(
                    c["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["id"].as_str().unwrap().to_owned()),
                );
                if c["pageInfo"]["hasNextPage"] == false {
                    break;
                }
                after = c["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(fwd, ids, "{field_name} {dir} forward");

            let mut back: Vec<String> = Vec::new();
            let mut before = Value::Null;
            loop {
                let page = app
                    .gql_as(&s.access, q, json!({ "o": o, "last": 2, "before": before }))
                    .await;
                let c = &page["data"]["contacts"];
                let mut chunk: Vec<String> = c["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["id"].as_str().unwrap().to_owned())
                    .collect();
                chunk.extend(back);
                back = chunk;
                if c["pageInfo"]["hasPreviousPage"] == false {
                    break;
                }
                before = c["pageInfo"]["startCursor"].clone();
            }
            assert_eq!(back, ids, "{field_name} {dir} backward");
        }
    }
    // A cursor from one ordering is refused by another.
    let page = app
        .gql_as(
            &s.access,
            q,
            json!({ "o": [{ "field": "COMPANY", "direction": "ASC" }], "first": 1 }),
        )
        .await;
    let cursor = page["data"]["contacts"]["pageInfo"]["endCursor"].clone();
    let body = app
        .gql_as(
            &s.access,
            q,
            json!({ "o": [{ "field": "LEAD_SCORE", "direction": "ASC" }], "after": cursor }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = app.gql_as(&s.access, q, json!({ "first": 101 })).await;
    assert_eq!(field(&body), Some("first"));
}

#[tokio::test]
async fn funnel_and_summary_count_a_hand_made_dataset() {
    let app = spawn_app().await;
    let s = app.register().await;
    for (ty, status, score) in [
        ("TARGET", "COLD_LEAD", 10),
        ("TARGET", "COLD_LEAD", 30),
        ("TARGET", "HOT_LEAD", 50),
        ("CONTACT", "HOT_LEAD", 70),
        ("PLUG", "EXISTING_CLIENT", 90),
    ] {
        let c = create(&app, &s, json!({ "firstName": "x", "lastName": "y", "contactType": ty, "status": status, "leadScore": score })).await;
        if ty == "TARGET" && score == 10 {
            for d in [3, 5, 8] {
                interact(&app, &s, c["id"].as_str().unwrap(), d, "COMPLETED", None).await;
            }
        }
    }
    let body = app
        .gql_as(&s.access, "{ contactFunnel { targets contacts plugs total targetToContactRate contactToPlugRate overallConversionRate }
            contactPerformanceSummary { contactType status totalContacts avgLeadScore totalInteractions } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["contactFunnel"],
        json!({ "targets": 3, "contacts": 1, "plugs": 1, "total": 5,
        "targetToContactRate": 0.4, "contactToPlugRate": 0.5, "overallConversionRate": 0.2 }),
        "{body}"
    );
    let rows = body["data"]["contactPerformanceSummary"]
        .as_array()
        .unwrap();
    let cold = rows
        .iter()
        .find(|r| r["contactType"] == "TARGET" && r["status"] == "COLD_LEAD")
        .unwrap();
    assert_eq!(
        cold["totalContacts"], 2,
        "each contact once, not once per interaction"
    );
    assert_eq!(cold["avgLeadScore"], 20.0);
    assert_eq!(cold["totalInteractions"], 3);
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    let body = app
        .gql_as(
            &s.access,
            "query($t: DateTime) { contactFunnel(createdAfter: $t) { total targetToContactRate } }",
            json!({ "t": future }),
        )
        .await;
    assert_eq!(
        body["data"]["contactFunnel"],
        json!({ "total": 0, "targetToContactRate": 0.0 })
    );
}

/// The nested page (createdBy, interactionCount, the first 5 interactions with their user) runs
/// the same number of statements for 10 contacts as for 100: no N+1.
#[tokio::test]
async fn the_nested_contacts_page_runs_a_constant_number_of_statements() {
    use plugs::entities::{contact_interactions, contacts};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    // A batching window wide enough that a slow debug build still gathers each level's keys in
    // one batch; what is tested is that each level is one statement, whatever the page size.
    let app =
        crate::helpers::spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(100))
            .await;
    let s = app.register().await;
    let member = app.member(&s, false).await;
    let me = app
        .gql_as(&s.access, "{ me { id organization { id } } }", json!({}))
        .await;
    let org: uuid::Uuid = me["data"]["me"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let users: Vec<uuid::Uuid> = [&s.user_id, &member.user_id]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    let t0 = Utc::now().fixed_offset();
    let mut cs = Vec::new();
    let mut is = Vec::new();
    for i in 0..120 {
        let id = uuid::Uuid::new_v4();
        cs.push(contacts::ActiveModel {
            id: Set(id),
            organization_id: Set(org),
            created_by: Set(users[i % 2]),
            updated_by: Set(Some(users[(i + 1) % 2])),
            first_name: Set(format!("C{i}")),
            last_name: Set("L".into()),
            created_at: Set(t0 - Duration::seconds(i as i64)),
            updated_at: Set(t0),
            ..Default::default()
        });
        for j in 0..(i % 8) {
            is.push(contact_interactions::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                organization_id: Set(org),
                contact_id: Set(id),
                user_id: Set(users[j % 2]),
                interaction_type: Set("email".into()),
                interaction_date: Set(t0 - Duration::hours(j as i64 + 1)),
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
    contact_interactions::Entity::insert_many(is)
        .exec(&app.db)
        .await
        .unwrap();

    let q = "query($n: Int) { contacts(first: $n) { totalCount nodes { id createdBy { id } updatedBy { email } interactionCount
        interactions(first: 5) { totalCount pageInfo { hasNextPage } nodes { id interactionDate user { id } } } } } }";
    let mut deltas = Vec::new();
    for n in [10, 100] {
        let before = app.statements().await;
        let body = app.gql_as(&s.access, q, json!({ "n": n })).await;
        let after = app.statements().await;
        assert!(body["errors"].is_null(), "{body}");
        let nodes = body["data"]["contacts"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n);
        for node in nodes {
            let count = node["interactionCount"].as_i64().unwrap();
            let page = node["interactions"]["nodes"].as_array().unwrap();
            assert_eq!(page.len() as i64, count.min(5));
            assert_eq!(node["interactions"]["totalCount"], count);
            assert_eq!(node["interactions"]["pageInfo"]["hasNextPage"], count > 5);
            // Each parent's page holds its newest interactions, newest first.
            let dates: Vec<&str> = page
                .iter()
                .map(|i| i["interactionDate"].as_str().unwrap())
                .collect();
            let expected: Vec<String> = (0..count.min(5))
                .map(|j| {
                    (t0 - Duration::hours(j + 1))
                        .with_timezone(&Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
                .collect();
            let ours: Vec<String> = dates
                .iter()
                .map(|d| {
                    chrono::DateTime::parse_from_rfc3339(d)
                        .unwrap()
                        .with_timezone(&Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
                .collect();
            assert_eq!(ours, expected, "{node}");
        }
        deltas.push(after - before);
    }
    // Each level is one batched statement; which requests for the same level fall into one
    // batching window is timing, so a level may split in two now and then. What must never
    // happen is growth with the page: an N+1 would add ~90 statements to the 100 page.
    assert!(
        deltas.iter().all(|d| *d <= 12),
        "a small constant number of statements: {deltas:?}"
    );
    assert!(
        deltas[1] <= deltas[0] + 2,
        "statements must not grow with the page size: {deltas:?}"
    );
}
