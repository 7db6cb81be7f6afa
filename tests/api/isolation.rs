//! Tenant isolation from the attacker's side: a second organization's admin tries every query,
//! mutation and id argument against the first organization's rows. Each attack must answer
//! exactly as it does for an id that does not exist, and must change nothing.
//!
//! The table grows with every feature: add a row per new query, mutation and id argument.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, spawn_app};

/// One attempt: a document and its variables built around the id (or text) aimed at.
struct Attack {
    name: &'static str,
    query: &'static str,
    vars: Box<dyn Fn(&str) -> Value>,
    /// What is aimed at: the victim's users, contacts, interactions, or a search text.
    target: Target,
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    User,
    Contact,
    Interaction,
    Event,
    AgendaItem,
    Attendee,
    Notification,
    Email,
}

/// The victim organization's rows the attacker aims at.
struct Victim {
    admin: Session,
    member: Session,
    contact: String,
    interaction: String,
    event: String,
    agenda_item: String,
    attendee: String,
    /// The member's "Registration confirmed".
    notification: String,
}

fn by_id(name: &'static str, query: &'static str, target: Target) -> Attack {
    Attack {
        name,
        query,
        vars: Box::new(|id| json!({ "id": id })),
        target,
    }
}

/// `own_contact`: a contact of the attacker's own organization, for attacks that smuggle a
/// foreign id into an otherwise legitimate write.
fn attacks(own_contact: String, own_event: String) -> Vec<Attack> {
    let own = own_contact.clone();
    let own2 = own_event;
    let mut list = vec![
        by_id(
            "contact(id)",
            "query($id: ID!) { contact(id: $id) { id firstName } }",
            Target::Contact,
        ),
        by_id(
            "updateContact",
            "mutation($id: ID!) { updateContact(id: $id, input: { firstName: \"Pwned\" }) { id } }",
            Target::Contact,
        ),
        by_id(
            "deleteContact",
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            Target::Contact,
        ),
        by_id(
            "restoreContact",
            "mutation($id: ID!) { restoreContact(id: $id) { id } }",
            Target::Contact,
        ),
        by_id(
            "convertContact",
            "mutation($id: ID!) { convertContact(id: $id, to: PLUG) { id } }",
            Target::Contact,
        ),
        by_id(
            "recalculateLeadScore",
            "mutation($id: ID!) { recalculateLeadScore(id: $id) { id } }",
            Target::Contact,
        ),
        by_id(
            "contacts(createdBy)",
            "query($id: ID!) { contacts(filter: { createdBy: $id }) { totalCount nodes { id } } }",
            Target::User,
        ),
        by_id(
            "contactInteractions(contactId)",
            "query($id: ID!) { contactInteractions(filter: { contactId: $id }) { totalCount nodes { id } } }",
            Target::Contact,
        ),
        by_id(
            "contactInteractions(userId)",
            "query($id: ID!) { contactInteractions(filter: { userId: $id }) { totalCount nodes { id } } }",
            Target::User,
        ),
        by_id(
            "contactInteraction(id)",
            "query($id: ID!) { contactInteraction(id: $id) { id } }",
            Target::Interaction,
        ),
        by_id(
            "updateContactInteraction",
            "mutation($id: ID!) { updateContactInteraction(id: $id, input: { subject: \"x\" }) { id } }",
            Target::Interaction,
        ),
        by_id(
            "deleteContactInteraction",
            "mutation($id: ID!) { deleteContactInteraction(id: $id) { id } }",
            Target::Interaction,
        ),
        by_id(
            "restoreContactInteraction",
            "mutation($id: ID!) { restoreContactInteraction(id: $id) { id } }",
            Target::Interaction,
        ),
        Attack {
            name: "createContactInteraction on a foreign contact",
            query: "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id } }",
            vars: Box::new(
                |id| json!({ "i": { "contactId": id, "interactionType": "CALL", "interactionDate": "2026-01-01T00:00:00Z" } }),
            ),
            target: Target::Contact,
        },
        Attack {
            name: "createContactInteraction with a foreign userId",
            query: "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id } }",
            vars: Box::new(
                move |id| json!({ "i": { "contactId": own, "userId": id, "interactionType": "CALL", "interactionDate": "2026-01-01T00:00:00Z" } }),
            ),
            target: Target::User,
        },
        Attack {
            name: "contacts(search) by a foreign email",
            query: "query($s: String!) { contacts(filter: { search: $s }) { totalCount nodes { id } } }",
            vars: Box::new(|s| json!({ "s": s })),
            target: Target::Email,
        },
    ];
    let own_event = own2;
    let own_event_for_agenda = own_event.clone();
    list.extend(vec![
        by_id("event(id)", "query($id: ID!) { event(id: $id) { id title } }", Target::Event),
        by_id("updateEvent", "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Pwned\" }) { id } }", Target::Event),
        by_id("deleteEvent", "mutation($id: ID!) { deleteEvent(id: $id) { id } }", Target::Event),
        by_id("restoreEvent", "mutation($id: ID!) { restoreEvent(id: $id) { id } }", Target::Event),
        by_id("publishEvent", "mutation($id: ID!) { publishEvent(id: $id) { id } }", Target::Event),
        by_id("startEvent", "mutation($id: ID!) { startEvent(id: $id) { id } }", Target::Event),
        by_id("completeEvent", "mutation($id: ID!) { completeEvent(id: $id) { id } }", Target::Event),
        by_id("cancelEvent", "mutation($id: ID!) { cancelEvent(id: $id) { id } }", Target::Event),
        by_id("registerForEvent(eventId)", "mutation($id: ID!) { registerForEvent(eventId: $id) { id } }", Target::Event),
        by_id("cancelRegistration(eventId)", "mutation($id: ID!) { cancelRegistration(eventId: $id) { id } }", Target::Event),
        by_id("updateAgendaItem", "mutation($id: ID!) { updateAgendaItem(id: $id, input: { title: \"Pwned\" }) { id } }", Target::AgendaItem),
        by_id("deleteAgendaItem", "mutation($id: ID!) { deleteAgendaItem(id: $id) { id } }", Target::AgendaItem),
        by_id("restoreAgendaItem", "mutation($id: ID!) { restoreAgendaItem(id: $id) { id } }", Target::AgendaItem),
        by_id("agendaItem(id)", "query($id: ID!) { agendaItem(id: $id) { id title } }", Target::AgendaItem),
        by_id("reorderAgenda(eventId)", "mutation($id: ID!) { reorderAgenda(eventId: $id, ids: []) { id } }", Target::Event),
        Attack {
            name: "createAgendaItem on a foreign event",
            query: "mutation($e: ID!) { createAgendaItem(input: { eventId: $e, title: \"x\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }",
            vars: Box::new(|id| json!({ "e": id })),
            target: Target::Event,
        },
        by_id("updateAttendee", "mutation($id: ID!) { updateAttendee(id: $id, input: { notes: \"x\" }) { id } }", Target::Attendee),
        by_id("markNoShows(eventId)", "mutation($id: ID!) { markNoShows(eventId: $id) }", Target::Event),
        by_id("events(createdBy)", "query($id: ID!) { events(filter: { createdBy: $id }) { totalCount nodes { id } } }", Target::User),
        Attack {
            name: "registerForEvent with a foreign userId",
            query: "mutation($e: ID!, $u: ID!) { registerForEvent(eventId: $e, userId: $u) { id } }",
            vars: Box::new(move |id| json!({ "e": own_event, "u": id })),
            target: Target::User,
        },
        Attack {
            name: "createAgendaItem with a foreign speaker",
            query: "mutation($e: ID!, $u: ID!) { createAgendaItem(input: { eventId: $e, title: \"x\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\", speakerId: $u }) { id } }",
            vars: Box::new({
                let e = own_event_for_agenda.clone();
                move |id| json!({ "e": e, "u": id })
            }),
            target: Target::User,
        },
        Attack {
            name: "checkInAttendee on a foreign event",
            query: "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }",
            vars: Box::new(|id| json!({ "e": id, "u": id })),
            target: Target::Event,
        },
        Attack {
            name: "checkOutAttendee on a foreign event",
            query: "mutation($e: ID!, $u: ID!) { checkOutAttendee(eventId: $e, userId: $u) { id } }",
            vars: Box::new(|id| json!({ "e": id, "u": id })),
            target: Target::Event,
        },
    ]);
    list.extend(vec![
        by_id("markNotificationRead", "mutation($id: ID!) { markNotificationRead(id: $id) { id } }", Target::Notification),
        by_id("deleteNotification", "mutation($id: ID!) { deleteNotification(id: $id) { id } }", Target::Notification),
        Attack {
            name: "sendNotification to a foreign user",
            query: "mutation($id: ID!) { sendNotification(input: { userIds: [$id], title: \"x\", message: \"y\" }) }",
            vars: Box::new(|id| json!({ "id": id })),
            target: Target::User,
        },
        by_id("user(id)", "query($id: ID!) { user(id: $id) { id email } }", Target::User),
        by_id("updateUser", "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Pwned\", isAdmin: true }) { id } }", Target::User),
        by_id("deleteUser", "mutation($id: ID!) { deleteUser(id: $id) { id } }", Target::User),
        by_id("restoreUser", "mutation($id: ID!) { restoreUser(id: $id) { id } }", Target::User),
        by_id("auditLogs(recordId)", "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount nodes { id } } }", Target::User),
        by_id("auditLogs(recordId: contact)", "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount nodes { id } } }", Target::Contact),
        by_id("auditLogs(userId)", "query($id: ID!) { auditLogs(filter: { userId: $id }) { totalCount nodes { id } } }", Target::User),
        Attack {
            name: "users(search: victim email)",
            query: "query($s: String!) { users(filter: { search: $s }) { totalCount nodes { id } } }",
            vars: Box::new(|s| json!({ "s": s })),
            target: Target::Email,
        },
    ]);
    list
}

/// Strips what legitimately differs between two answers (the ids we sent).
fn normalize(v: &Value, ids: &[&str]) -> String {
    let mut s = v.to_string();
    for id in ids {
        s = s.replace(id, "<ID>");
    }
    s
}

async fn own_contact(app: &TestApp, s: &Session, email: &str) -> String {
    let c = app
        .gql_as(&s.access, "mutation($e: String!) { createContact(input: { firstName: \"V\", lastName: \"C\", email: $e }) { id } }", json!({ "e": email }))
        .await;
    c["data"]["createContact"]["id"]
        .as_str()
        .expect("contact")
        .to_owned()
}

/// A published event of `s`'s organization.
async fn own_event(app: &TestApp, s: &Session) -> String {
    let e = app
        .gql_as(&s.access, "mutation { createEvent(input: { title: \"Mixer\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\", maxAttendees: 10 }) { id } }", json!({}))
        .await;
    let id = e["data"]["createEvent"]["id"]
        .as_str()
        .expect("event")
        .to_owned();
    app.gql_as(
        &s.access,
        "mutation($id: ID!) { publishEvent(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    id
}

async fn victim(app: &TestApp) -> Victim {
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let contact = own_contact(app, &member, &format!("lead@{}", admin.domain)).await;
    let i = app
        .gql_as(&member.access, "mutation($c: ID!) { createContactInteraction(input: { contactId: $c, interactionType: CALL, interactionDate: \"2026-01-01T00:00:00Z\" }) { id } }", json!({ "c": contact }))
        .await;
    let interaction = i["data"]["createContactInteraction"]["id"]
        .as_str()
        .expect("interaction")
        .to_owned();
    let event = own_event(app, &admin).await;
    // The member holds a seat, so cancel/check-in attacks have a registration to aim at.
    let reg = app
        .gql_as(
            &member.access,
            "mutation($e: ID!) { registerForEvent(eventId: $e) { id } }",
            json!({ "e": event }),
        )
        .await;
    let attendee = reg["data"]["registerForEvent"]["id"]
        .as_str()
        .expect("registration")
        .to_owned();
    let item = app
        .gql_as(&admin.access, "mutation($e: ID!) { createAgendaItem(input: { eventId: $e, title: \"Talk\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }", json!({ "e": event }))
        .await;
    let agenda_item = item["data"]["createAgendaItem"]["id"]
        .as_str()
        .expect("agenda item")
        .to_owned();
    let n = app
        .gql_as(
            &member.access,
            "{ notifications { nodes { id } } }",
            json!({}),
        )
        .await;
    let notification = n["data"]["notifications"]["nodes"][0]["id"]
        .as_str()
        .expect("the registration's notification")
        .to_owned();
    Victim {
        admin,
        member,
        contact,
        interaction,
        event,
        agenda_item,
        attendee,
        notification,
    }
}

#[tokio::test]
async fn another_organization_sees_and_touches_nothing_of_the_first() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let attacker = app.register().await;
    let own = own_contact(&app, &attacker, "mine@attacker.test").await;
    let own_ev = own_event(&app, &attacker).await;
    const STATE: &str = "{ users { totalCount nodes { id firstName isAdmin deletedAt } } auditLogs { totalCount }
        contacts { totalCount nodes { id firstName contactType leadScore deletedAt lastInteraction } }
        contactInteractions { totalCount nodes { id subject deletedAt } }
        events { totalCount nodes { id title status currentAttendees deletedAt agenda { id title sortOrder deletedAt }
          attendees { nodes { id status notes } } } } }";
    let before = app.gql_as(&v.admin.access, STATE, json!({})).await;
    let member_before = app
        .gql_as(
            &v.member.access,
            "{ unreadNotificationCount notifications { totalCount nodes { id title isRead } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        member_before["data"]["unreadNotificationCount"], 1,
        "{member_before}"
    );
    let victim_lead = format!("lead@{}", v.admin.domain);

    for attack in attacks(own.clone(), own_ev.clone()) {
        let targets = match attack.target {
            Target::User => vec![v.admin.user_id.as_str(), v.member.user_id.as_str()],
            Target::Contact => vec![v.contact.as_str()],
            Target::Interaction => vec![v.interaction.as_str()],
            Target::Event => vec![v.event.as_str()],
            Target::AgendaItem => vec![v.agenda_item.as_str()],
            Target::Attendee => vec![v.attendee.as_str()],
            Target::Notification => vec![v.notification.as_str()],
            Target::Email => vec![
                v.admin.email.as_str(),
                v.member.email.as_str(),
                victim_lead.as_str(),
            ],
        };
        for target in targets {
            let missing = if attack.target != Target::Email {
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
    let after = app.gql_as(&v.admin.access, STATE, json!({})).await;
    assert_eq!(before, after);
    const MINE: &str =
        "{ unreadNotificationCount notifications { totalCount nodes { id title isRead } } }";
    let member_after = app.gql_as(&v.member.access, MINE, json!({})).await;
    assert_eq!(
        member_before, member_after,
        "the member's notifications are untouched"
    );
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
