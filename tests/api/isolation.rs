//! Tenant isolation from the attacker's side: a second organization's admin tries every query,
//! mutation and id argument against the first organization's rows. Each attack must answer
//! exactly as it does for an id that does not exist, and must change nothing.
//!
//! The table grows with every feature: add a row per new query, mutation and id argument.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, spawn_app};

/// One attempt: a document, its variables with `$TARGET` where the victim's id goes, and the
/// JSON path whose value must not reveal anything.
struct Attack {
    name: &'static str,
    query: &'static str,
    vars: fn(&str) -> Value,
    /// The argument is an id (else a search text: the victim's email).
    takes_id: bool,
}

/// The victim organization's ids the attacker aims at.
struct Victim {
    admin: Session,
    member: Session,
}

fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            name: "user(id)",
            query: "query($id: ID!) { user(id: $id) { id email } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "updateUser",
            query: "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Pwned\", isAdmin: true }) { id } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "deleteUser",
            query: "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "restoreUser",
            query: "mutation($id: ID!) { restoreUser(id: $id) { id } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "auditLogs(recordId)",
            query: "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount nodes { id } } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "auditLogs(userId)",
            query: "query($id: ID!) { auditLogs(filter: { userId: $id }) { totalCount nodes { id } } }",
            vars: |id| json!({ "id": id }),
            takes_id: true,
        },
        Attack {
            name: "users(search: victim email)",
            query: "query($s: String!) { users(filter: { search: $s }) { totalCount nodes { id } } }",
            vars: |s| json!({ "s": s }),
            takes_id: false,
        },
    ]
}

/// Strips what legitimately differs between two answers (the ids we sent).
fn normalize(v: &Value, ids: &[&str]) -> String {
    let mut s = v.to_string();
    for id in ids {
        s = s.replace(id, "<ID>");
    }
    s
}

async fn victim(app: &TestApp) -> Victim {
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    Victim { admin, member }
}

#[tokio::test]
async fn another_organization_sees_and_touches_nothing_of_the_first() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let attacker = app.register().await;
    let before = app
        .gql_as(&v.admin.access, "{ users { totalCount nodes { id firstName isAdmin deletedAt } } auditLogs { totalCount } }", json!({}))
        .await;

    for attack in attacks() {
        let targets = if attack.takes_id {
            vec![v.admin.user_id.as_str(), v.member.user_id.as_str()]
        } else {
            vec![v.admin.email.as_str(), v.member.email.as_str()]
        };
        for target in targets {
            let missing = if attack.takes_id {
                uuid::Uuid::new_v4().to_string()
            } else {
                format!("{}@nowhere.test", uuid::Uuid::new_v4().simple())
            };
            let hit = app
                .gql_as(&attacker.access, attack.query, (attack.vars)(target))
                .await;
            let miss = app
                .gql_as(&attacker.access, attack.query, (attack.vars)(&missing))
                .await;
            assert_eq!(
                normalize(&hit, &[target]),
                normalize(&miss, &[&missing]),
                "{}: a foreign id must answer exactly like a missing one",
                attack.name
            );
            assert!(
                !hit.to_string().contains(&v.admin.email),
                "{}: leaked {hit}",
                attack.name
            );
        }
    }

    // The attacker's own lists hold only the attacker's organization.
    let mine = app
        .gql_as(
            &attacker.access,
            "{ users { totalCount nodes { id } } organization { domain } }",
            json!({}),
        )
        .await;
    assert_eq!(mine["data"]["users"]["totalCount"], 1);
    assert_eq!(
        mine["data"]["users"]["nodes"][0]["id"],
        attacker.user_id.as_str()
    );
    assert_eq!(
        mine["data"]["organization"]["domain"],
        attacker.domain.as_str()
    );

    // Nothing of the victim changed, and no audit row was written in its name.
    let after = app
        .gql_as(&v.admin.access, "{ users { totalCount nodes { id firstName isAdmin deletedAt } } auditLogs { totalCount } }", json!({}))
        .await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_token_of_one_organization_cannot_be_replayed_against_another_users_id() {
    // The access token names the organization; swapping the user id in a request can only ever
    // reach rows of the token's organization. Here: a member of B asks for A's admin by id.
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let b_member = app.member(&b, false).await;
    let body = app
        .gql_as(
            &b_member.access,
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": a.user_id }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "user": null } }));
}
