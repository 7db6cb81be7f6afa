//! Tenant isolation and the audit trail, driven by the schema itself.
//!
//! The schema is introspected for every query, mutation and subscription field and every `ID`
//! argument or input field at any depth. Each must be fed by a case below, so a new domain
//! joins by existing and a renamed field fails loudly. For every case:
//! 1. a valid call on the attacker organization's own rows succeeds (the document is right);
//!    a mutation writes exactly one audit row (or is on the commented exemption list);
//! 2. for every `ID` position, the victim organization's real ids (live and deleted, of the
//!    kind the position takes) answer exactly as a random id does, leak nothing, and change
//!    nothing of the victim's (compared before and after).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, Session, TestApp, spawn_app};
use crate::ws::{connect_as, next_json, subscribe};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    User,
    Contact,
    Interaction,
    Event,
    AgendaItem,
    Registration,
    Notification,
    /// Any record (`auditLogs(filter: { recordId })`).
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Query,
    Mutation,
    Subscription,
}

/// Whether a valid call writes exactly one audit row in the caller's organization.
#[derive(Clone, Copy)]
enum Audit {
    /// Queries and subscriptions write none.
    Read,
    Once,
    /// Not counted here, with the reason.
    Exempt(&'static str),
}

type Setup = fn(Arc<Org>) -> BoxFuture<'static, Value>;

struct Case {
    field: &'static str,
    op: Op,
    doc: &'static str,
    /// Every `ID` position the document feeds: (schema position, variable, what it names).
    ids: &'static [(&'static str, &'static str, Kind)],
    /// Variables of a valid call on the caller's own, freshly made rows. A `__as` entry names
    /// another caller's access token (the admin's otherwise).
    setup: Setup,
    audit: Audit,
}

/// One organization, with helpers that make fresh rows through the API.
struct Org {
    app: Arc<TestApp>,
    admin: Session,
    org_id: Uuid,
}

impl Org {
    async fn new(app: Arc<TestApp>) -> Arc<Org> {
        let admin = app.register().await;
        let org = app
            .gql_as(&admin.access, "{ organization { id } }", json!({}))
            .await;
        let org_id = org["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        Arc::new(Org { app, admin, org_id })
    }

    /// Runs an operation as the admin; it must succeed.
    async fn ok(&self, doc: &str, vars: Value) -> Value {
        let body = self.app.gql_as(&self.admin.access, doc, vars).await;
        assert!(body["errors"].is_null(), "setup failed: {doc}: {body}");
        body["data"].clone()
    }

    async fn id(&self, doc: &str, vars: Value, field: &str) -> String {
        let data = self.ok(doc, vars).await;
        data[field]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} returned no id: {data}"))
            .to_owned()
    }

    async fn member(&self) -> Session {
        self.app.member(&self.admin, false).await
    }

    async fn contact(&self) -> String {
        self.id(
            "mutation { createContact(input: { firstName: \"Own\", lastName: \"Contact\" }) { id } }",
            json!({}),
            "createContact",
        )
        .await
    }

    async fn interaction(&self, contact: &str) -> String {
        self.id("mutation($c: ID!) { createContactInteraction(input: { contactId: $c, interactionType: CALL, interactionDate: \"2026-01-01T00:00:00Z\" }) { id } }",
            json!({ "c": contact }), "createContactInteraction").await
    }

    async fn draft_event(&self) -> String {
        self.id("mutation { createEvent(input: { title: \"Own\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\", maxAttendees: 50 }) { id } }",
            json!({}), "createEvent").await
    }

    async fn step(&self, op: &str, event: &str) {
        self.ok(
            &format!("mutation($id: ID!) {{ {op}(id: $id) {{ id }} }}"),
            json!({ "id": event }),
        )
        .await;
    }

    async fn event(&self) -> String {
        let e = self.draft_event().await;
        self.step("publishEvent", &e).await;
        e
    }

    async fn agenda_item(&self, event: &str) -> String {
        self.id("mutation($e: ID!) { createAgendaItem(input: { eventId: $e, title: \"Talk\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }",
            json!({ "e": event }), "createAgendaItem").await
    }

    /// `user` registered (by the admin) for `event`: the registration's id.
    async fn registration(&self, event: &str, user: &str) -> String {
        self.id(
            "mutation($e: ID!, $u: ID!) { registerForEvent(eventId: $e, userId: $u) { id } }",
            json!({ "e": event, "u": user }),
            "registerForEvent",
        )
        .await
    }

    async fn trashed(&self, op: &str, id: &str) -> String {
        self.step(op, id).await;
        id.to_owned()
    }

    /// A fresh notification of the admin's own.
    async fn notification(&self) -> String {
        self.ok("mutation($u: ID!) { sendNotification(input: { userIds: [$u], title: \"Own\", message: \"m\" }) }",
            json!({ "u": self.admin.user_id })).await;
        let data = self
            .ok(
                "{ notifications(first: 1, filter: { unread: true }) { nodes { id } } }",
                json!({}),
            )
            .await;
        data["notifications"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn audit_rows(&self) -> u64 {
        use plugs::entities::audit_logs as a;
        a::Entity::find()
            .filter(a::Column::OrganizationId.eq(self.org_id))
            .count(&self.app.db)
            .await
            .unwrap()
    }
}

macro_rules! setup {
    (|$o:ident| $body:expr) => {{
        let f: Setup = |$o: Arc<Org>| Box::pin(async move { $body });
        f
    }};
}

const NONE: &[(&str, &str, Kind)] = &[];

fn cases() -> Vec<Case> {
    use Kind::*;
    use Op::*;
    let q = |field, doc, ids, setup| Case {
        field,
        op: Query,
        doc,
        ids,
        setup,
        audit: Audit::Read,
    };
    let m = |field, doc, ids, setup| Case {
        field,
        op: Mutation,
        doc,
        ids,
        setup,
        audit: Audit::Once,
    };
    vec![
        // ---- accounts, organization, members, audit trail
        Case {
            audit: Audit::Exempt(
                "writes its one row in the organization it creates: audit.rs checks it",
            ),
            ..m(
                "register",
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                NONE,
                setup!(|_o| {
                    let d = format!("x{}.test", &Uuid::new_v4().simple().to_string()[..10]);
                    json!({ "i": { "organizationName": "X", "organizationDomain": d, "email": format!("a@{d}"),
                    "password": PASSWORD, "firstName": "A", "lastName": "B" } })
                }),
            )
        },
        m(
            "login",
            "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "e": s.email, "p": PASSWORD })
            }),
        ),
        m(
            "refreshToken",
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": s.refresh })
            }),
        ),
        m(
            "logout",
            "mutation($t: String!) { logout(refreshToken: $t) }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": s.refresh })
            }),
        ),
        m(
            "changePassword",
            "mutation($p: String!) { changePassword(currentPassword: $p, newPassword: \"another fine pass\") }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "p": PASSWORD, "__as": s.access })
            }),
        ),
        m(
            "updateMe",
            "mutation { updateMe(input: { bio: \"mine\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateOrganization",
            "mutation { updateOrganization(input: { name: \"Renamed\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "createUser",
            "mutation($e: String!) { createUser(input: { email: $e, password: \"correct horse battery\", firstName: \"N\", lastName: \"M\" }) { id } }",
            NONE,
            setup!(|o| json!({ "e": format!("n-{}@{}", Uuid::new_v4().simple(), o.admin.domain) })),
        ),
        m(
            "updateUser",
            "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Renamed\" }) { id } }",
            &[("updateUser.id", "id", User)],
            setup!(|o| json!({ "id": o.member().await.user_id })),
        ),
        m(
            "deleteUser",
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            &[("deleteUser.id", "id", User)],
            setup!(|o| json!({ "id": o.member().await.user_id })),
        ),
        m(
            "restoreUser",
            "mutation($id: ID!) { restoreUser(id: $id) { id } }",
            &[("restoreUser.id", "id", User)],
            setup!(|o| {
                let u = o.member().await.user_id;
                o.step("deleteUser", &u).await;
                json!({ "id": u })
            }),
        ),
        q(
            "user",
            "query($id: ID!) { user(id: $id) { id email } }",
            &[("user.id", "id", User)],
            setup!(|o| json!({ "id": o.admin.user_id })),
        ),
        q(
            "auditLogs",
            "query($r: ID, $u: ID) { auditLogs(filter: { recordId: $r, userId: $u }) { totalCount nodes { id } } }",
            &[
                ("auditLogs.filter.recordId", "r", Any),
                ("auditLogs.filter.userId", "u", User),
            ],
            setup!(|o| json!({ "r": o.admin.user_id, "u": o.admin.user_id })),
        ),
        // ---- contacts and interactions
        q(
            "contact",
            "query($id: ID!) { contact(id: $id) { id firstName } }",
            &[("contact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        q(
            "contacts",
            "query($u: ID) { contacts(filter: { createdBy: $u }) { totalCount nodes { id } } }",
            &[("contacts.filter.createdBy", "u", User)],
            setup!(|o| json!({ "u": o.admin.user_id })),
        ),
        m(
            "createContact",
            "mutation { createContact(input: { firstName: \"A\", lastName: \"B\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateContact",
            "mutation($id: ID!) { updateContact(id: $id, input: { firstName: \"Pwned\" }) { id } }",
            &[("updateContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "deleteContact",
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            &[("deleteContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "restoreContact",
            "mutation($id: ID!) { restoreContact(id: $id) { id } }",
            &[("restoreContact.id", "id", Contact)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.trashed("deleteContact", &c).await })
            }),
        ),
        m(
            "convertContact",
            "mutation($id: ID!) { convertContact(id: $id, to: PLUG) { id } }",
            &[("convertContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "recalculateLeadScore",
            "mutation($id: ID!) { recalculateLeadScore(id: $id) { id } }",
            &[("recalculateLeadScore.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        q(
            "contactInteraction",
            "query($id: ID!) { contactInteraction(id: $id) { id } }",
            &[("contactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await })
            }),
        ),
        q(
            "contactInteractions",
            "query($c: ID, $u: ID) { contactInteractions(filter: { contactId: $c, userId: $u }) { totalCount nodes { id } } }",
            &[
                ("contactInteractions.filter.contactId", "c", Contact),
                ("contactInteractions.filter.userId", "u", User),
            ],
            setup!(|o| json!({ "c": o.contact().await, "u": o.admin.user_id })),
        ),
        m(
            "createContactInteraction",
            "mutation($c: ID!, $u: ID) { createContactInteraction(input: { contactId: $c, userId: $u, interactionType: CALL, interactionDate: \"2026-01-01T00:00:00Z\" }) { id } }",
            &[
                ("createContactInteraction.input.contactId", "c", Contact),
                ("createContactInteraction.input.userId", "u", User),
            ],
            setup!(|o| json!({ "c": o.contact().await, "u": o.admin.user_id })),
        ),
        m(
            "updateContactInteraction",
            "mutation($id: ID!, $u: ID) { updateContactInteraction(id: $id, input: { userId: $u, subject: \"x\" }) { id } }",
            &[
                ("updateContactInteraction.id", "id", Interaction),
                ("updateContactInteraction.input.userId", "u", User),
            ],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await, "u": o.admin.user_id })
            }),
        ),
        m(
            "deleteContactInteraction",
            "mutation($id: ID!) { deleteContactInteraction(id: $id) { id } }",
            &[("deleteContactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await })
            }),
        ),
        m(
            "restoreContactInteraction",
            "mutation($id: ID!) { restoreContactInteraction(id: $id) { id } }",
            &[("restoreContactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                let i = o.interaction(&c).await;
                json!({ "id": o.trashed("deleteContactInteraction", &i).await })
            }),
        ),
        // ---- events, registrations, agenda
        q(
            "event",
            "query($id: ID!) { event(id: $id) { id title } }",
            &[("event.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        q(
            "events",
            "query($u: ID) { events(filter: { createdBy: $u }) { totalCount nodes { id } } }",
            &[("events.filter.createdBy", "u", User)],
            setup!(|o| json!({ "u": o.admin.user_id })),
        ),
        m(
            "createEvent",
            "mutation { createEvent(input: { title: \"E\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateEvent",
            "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Pwned\" }) { id } }",
            &[("updateEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "deleteEvent",
            "mutation($id: ID!) { deleteEvent(id: $id) { id } }",
            &[("deleteEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "restoreEvent",
            "mutation($id: ID!) { restoreEvent(id: $id) { id } }",
            &[("restoreEvent.id", "id", Event)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.trashed("deleteEvent", &e).await })
            }),
        ),
        m(
            "publishEvent",
            "mutation($id: ID!) { publishEvent(id: $id) { id } }",
            &[("publishEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.draft_event().await })),
        ),
        m(
            "startEvent",
            "mutation($id: ID!) { startEvent(id: $id) { id } }",
            &[("startEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "completeEvent",
            "mutation($id: ID!) { completeEvent(id: $id) { id } }",
            &[("completeEvent.id", "id", Event)],
            setup!(|o| {
                let e = o.event().await;
                o.step("startEvent", &e).await;
                json!({ "id": e })
            }),
        ),
        m(
            "cancelEvent",
            "mutation($id: ID!) { cancelEvent(id: $id) { id } }",
            &[("cancelEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "registerForEvent",
            "mutation($e: ID!, $u: ID) { registerForEvent(eventId: $e, userId: $u) { id } }",
            &[
                ("registerForEvent.eventId", "e", Event),
                ("registerForEvent.userId", "u", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "u": o.member().await.user_id })),
        ),
        m(
            "cancelRegistration",
            "mutation($e: ID!, $u: ID) { cancelRegistration(eventId: $e, userId: $u) { id } }",
            &[
                ("cancelRegistration.eventId", "e", Event),
                ("cancelRegistration.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "checkInAttendee",
            "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }",
            &[
                ("checkInAttendee.eventId", "e", Event),
                ("checkInAttendee.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "checkOutAttendee",
            "mutation($e: ID!, $u: ID!) { checkOutAttendee(eventId: $e, userId: $u) { id } }",
            &[
                ("checkOutAttendee.eventId", "e", Event),
                ("checkOutAttendee.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                o.ok("mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }", json!({ "e": e, "u": u })).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "updateAttendee",
            "mutation($id: ID!) { updateAttendee(id: $id, input: { notes: \"x\" }) { id } }",
            &[("updateAttendee.id", "id", Registration)],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                json!({ "id": o.registration(&e, &u).await })
            }),
        ),
        m(
            "markNoShows",
            "mutation($e: ID!) { markNoShows(eventId: $e) }",
            &[("markNoShows.eventId", "e", Event)],
            setup!(|o| {
                let e = o.event().await;
                o.step("startEvent", &e).await;
                o.step("completeEvent", &e).await;
                json!({ "e": e })
            }),
        ),
        q(
            "agendaItem",
            "query($id: ID!) { agendaItem(id: $id) { id title } }",
            &[("agendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await })
            }),
        ),
        m(
            "createAgendaItem",
            "mutation($e: ID!, $s: ID) { createAgendaItem(input: { eventId: $e, speakerId: $s, title: \"x\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }",
            &[
                ("createAgendaItem.input.eventId", "e", Event),
                ("createAgendaItem.input.speakerId", "s", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "s": o.admin.user_id })),
        ),
        m(
            "updateAgendaItem",
            "mutation($id: ID!, $s: ID) { updateAgendaItem(id: $id, input: { speakerId: $s, title: \"Pwned\" }) { id } }",
            &[
                ("updateAgendaItem.id", "id", AgendaItem),
                ("updateAgendaItem.input.speakerId", "s", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await, "s": o.admin.user_id })
            }),
        ),
        m(
            "deleteAgendaItem",
            "mutation($id: ID!) { deleteAgendaItem(id: $id) { id } }",
            &[("deleteAgendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await })
            }),
        ),
        m(
            "restoreAgendaItem",
            "mutation($id: ID!) { restoreAgendaItem(id: $id) { id } }",
            &[("restoreAgendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                let i = o.agenda_item(&e).await;
                json!({ "id": o.trashed("deleteAgendaItem", &i).await })
            }),
        ),
        m(
            "reorderAgenda",
            "mutation($e: ID!, $ids: [ID!]!) { reorderAgenda(eventId: $e, ids: $ids) { id } }",
            &[
                ("reorderAgenda.eventId", "e", Event),
                ("reorderAgenda.ids", "ids", AgendaItem),
            ],
            setup!(|o| {
                let e = o.event().await;
                let i = o.agenda_item(&e).await;
                json!({ "e": e, "ids": [i] })
            }),
        ),
        Case {
            field: "eventAttendeeChanged",
            op: Subscription,
            audit: Audit::Read,
            doc: "subscription($e: ID!) { eventAttendeeChanged(eventId: $e) { kind } }",
            ids: &[("eventAttendeeChanged.eventId", "e", Event)],
            setup: setup!(|o| json!({ "e": o.event().await })),
        },
        // ---- notifications
        m(
            "markNotificationRead",
            "mutation($id: ID!) { markNotificationRead(id: $id) { id } }",
            &[("markNotificationRead.id", "id", Notification)],
            setup!(|o| json!({ "id": o.notification().await })),
        ),
        m(
            "deleteNotification",
            "mutation($id: ID!) { deleteNotification(id: $id) { id } }",
            &[("deleteNotification.id", "id", Notification)],
            setup!(|o| json!({ "id": o.notification().await })),
        ),
        m(
            "markAllNotificationsRead",
            "mutation { markAllNotificationsRead }",
            NONE,
            setup!(|o| {
                o.notification().await;
                json!({})
            }),
        ),
        m(
            "sendNotification",
            "mutation($ids: [ID!]) { sendNotification(input: { userIds: $ids, title: \"x\", message: \"y\" }) }",
            &[("sendNotification.input.userIds", "ids", User)],
            setup!(|o| json!({ "ids": [o.admin.user_id] })),
        ),
    ]
}

/// Root fields and their `ID` positions (`field.arg`, `field.arg.inputField`, ...), read from
/// the schema by introspection.
async fn schema_positions(app: &TestApp) -> (HashMap<String, Op>, BTreeSet<String>) {
    const TYPE: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";
    let q = format!(
        "{{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
           types {{ kind name fields {{ name args {{ name type {{ {TYPE} }} }} }} inputFields {{ name type {{ {TYPE} }} }} }} }} }}"
    );
    let body = app.graphql(&q, json!({})).await;
    let schema = &body["data"]["__schema"];
    let types: HashMap<String, &Value> = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t))
        .collect();
    fn named(t: &Value) -> &str {
        if t["ofType"].is_null() {
            t["name"].as_str().unwrap()
        } else {
            named(&t["ofType"])
        }
    }
    fn walk(
        types: &HashMap<String, &Value>,
        path: String,
        ty: &Value,
        depth: usize,
        out: &mut BTreeSet<String>,
    ) {
        let name = named(ty);
        if name == "ID" {
            out.insert(path);
        } else if let Some(t) = types.get(name).filter(|t| t["kind"] == "INPUT_OBJECT")
            && depth < 4
        {
            for f in t["inputFields"].as_array().unwrap() {
                let p = format!("{path}.{}", f["name"].as_str().unwrap());
                walk(types, p, &f["type"], depth + 1, out);
            }
        }
    }
    let mut roots = HashMap::new();
    let mut positions = BTreeSet::new();
    for (key, op) in [
        ("queryType", Op::Query),
        ("mutationType", Op::Mutation),
        ("subscriptionType", Op::Subscription),
    ] {
        let root = types[schema[key]["name"].as_str().unwrap()];
        for f in root["fields"].as_array().unwrap() {
            let field = f["name"].as_str().unwrap();
            roots.insert(field.to_owned(), op);
            for a in f["args"].as_array().unwrap() {
                let p = format!("{field}.{}", a["name"].as_str().unwrap());
                walk(&types, p, &a["type"], 0, &mut positions);
            }
        }
    }
    // No other object type takes an `ID` argument today; if one does, it needs a case here.
    let root_names: Vec<&str> = ["queryType", "mutationType", "subscriptionType"]
        .iter()
        .map(|k| schema[*k]["name"].as_str().unwrap())
        .collect();
    for t in types
        .values()
        .filter(|t| t["kind"] == "OBJECT" && !root_names.contains(&t["name"].as_str().unwrap()))
    {
        for f in t["fields"].as_array().into_iter().flatten() {
            for a in f["args"].as_array().unwrap() {
                assert_ne!(
                    named(&a["type"]),
                    "ID",
                    "{}.{} takes an ID: add it to the attack table",
                    t["name"],
                    f["name"]
                );
            }
        }
    }
    (roots, positions)
}

/// Runs one case's document as `token`: over HTTP, or as a subscription whose messages up to a
/// probe's completion are its answer (none: it is live; an error: refused).
async fn run(app: &TestApp, op: Op, token: &str, doc: &str, mut vars: Value) -> Value {
    if let Some(obj) = vars.as_object_mut() {
        obj.remove("__as");
    }
    if op != Op::Subscription {
        return app.gql_as(token, doc, vars).await;
    }
    let mut ws = connect_as(app, token).await;
    subscribe(&mut ws, "s", doc, vars).await;
    subscribe(&mut ws, "probe", "{ apiVersion }", json!({})).await;
    let mut answer = Vec::new();
    loop {
        let m = next_json(&mut ws).await;
        if m["id"] == "probe" {
            if m["type"] == "complete" {
                break;
            }
            continue;
        }
        answer.push(m);
    }
    Value::Array(answer)
}

fn as_token<'a>(vars: &'a Value, org: &'a Org) -> &'a str {
    vars["__as"].as_str().unwrap_or(&org.admin.access)
}

fn is_success(op: Op, body: &Value) -> bool {
    match op {
        Op::Subscription => body.as_array().is_some_and(|a| a.is_empty()),
        _ => body["errors"].is_null() && !body["data"].is_null(),
    }
}

/// Strips what legitimately differs between two answers (the ids we sent).
fn normalize(v: &Value, ids: &[&str]) -> String {
    let mut s = v.to_string();
    for id in ids {
        s = s.replace(id, "<ID>");
    }
    s
}

/// The victim organization's ids of each kind, live and in the trash.
async fn victim_ids(v: &Org) -> HashMap<Kind, Vec<String>> {
    let member = v.member().await;
    let contact = v.contact().await;
    let gone_contact = v.contact().await;
    v.step("deleteContact", &gone_contact).await;
    let interaction = v.interaction(&contact).await;
    let gone_interaction = v.interaction(&contact).await;
    v.step("deleteContactInteraction", &gone_interaction).await;
    let event = v.event().await;
    let gone_event = v.event().await;
    v.step("deleteEvent", &gone_event).await;
    let item = v.agenda_item(&event).await;
    let gone_item = v.agenda_item(&event).await;
    v.step("deleteAgendaItem", &gone_item).await;
    let registration = v.registration(&event, &member.user_id).await;
    let data = v
        .app
        .gql_as(
            &member.access,
            "{ notifications { nodes { id } } }",
            json!({}),
        )
        .await;
    let notification = data["data"]["notifications"]["nodes"][0]["id"]
        .as_str()
        .expect("the member's registration notification")
        .to_owned();
    let mut ids = HashMap::from([
        (Kind::User, vec![v.admin.user_id.clone(), member.user_id]),
        (Kind::Contact, vec![contact, gone_contact]),
        (Kind::Interaction, vec![interaction, gone_interaction]),
        (Kind::Event, vec![event, gone_event]),
        (Kind::AgendaItem, vec![item, gone_item]),
        (Kind::Registration, vec![registration]),
        (Kind::Notification, vec![notification]),
    ]);
    let all = ids.values().flatten().cloned().collect();
    ids.insert(Kind::Any, all);
    ids
}

/// What the victim's admin sees of their organization (compared before and after the attack).
const STATE: &str = "{ users { totalCount nodes { id firstName isAdmin deletedAt } } auditLogs { totalCount }
    contacts { totalCount nodes { id firstName contactType leadScore deletedAt lastInteraction } }
    trash: contacts(filter: { deleted: true }) { totalCount nodes { id deletedAt } }
    contactInteractions { totalCount nodes { id subject deletedAt } }
    events { totalCount nodes { id title status currentAttendees deletedAt agenda { id title sortOrder speaker { id } }
      attendees { totalCount nodes { id status notes checkInTime } } } }
    eventTrash: events(filter: { deleted: true }) { totalCount }
    notifications { totalCount nodes { id isRead } } }";

#[tokio::test]
async fn every_id_position_of_the_schema_is_closed_to_other_organizations_and_every_mutation_is_audited()
 {
    let app = Arc::new(spawn_app().await);
    let (roots, positions) = schema_positions(&app).await;
    let cases = cases();

    // The table covers the schema: every field named exists, every ID position is fed, every
    // mutation is exercised (and so audited).
    let mut covered = BTreeSet::new();
    for c in &cases {
        assert_eq!(
            roots.get(c.field).copied().map(|o| o == c.op),
            Some(true),
            "{}: no such {} field in the schema (renamed?)",
            c.field,
            match c.op {
                Op::Query => "query",
                Op::Mutation => "mutation",
                Op::Subscription => "subscription",
            }
        );
        for (pos, var, _) in c.ids {
            assert!(
                c.doc.contains(&format!("${var}")),
                "{}: ${var} unused",
                c.field
            );
            covered.insert(pos.to_string());
        }
    }
    let uncovered: Vec<_> = positions.difference(&covered).collect();
    assert!(
        uncovered.is_empty(),
        "ID positions with no attack case: {uncovered:?}"
    );
    let stale: Vec<_> = covered.difference(&positions).collect();
    assert!(
        stale.is_empty(),
        "cases name positions the schema lacks: {stale:?}"
    );
    let exercised: BTreeSet<&str> = cases.iter().map(|c| c.field).collect();
    let unexercised: Vec<_> = roots
        .iter()
        .filter(|(f, op)| **op == Op::Mutation && !exercised.contains(f.as_str()))
        .map(|(f, _)| f)
        .collect();
    assert!(
        unexercised.is_empty(),
        "mutations without a case: {unexercised:?}"
    );

    let victim = Org::new(app.clone()).await;
    let targets = victim_ids(&victim).await;
    let attacker = Org::new(app.clone()).await;
    let before = app.gql_as(&victim.admin.access, STATE, json!({})).await;
    assert!(before["errors"].is_null(), "{before}");

    let mut attempts = 0;
    for c in &cases {
        // 1. A valid call on the caller's own rows succeeds, and writes its one audit row.
        let vars = (c.setup)(attacker.clone()).await;
        let rows = attacker.audit_rows().await;
        let own = run(&app, c.op, as_token(&vars, &attacker), c.doc, vars.clone()).await;
        assert!(
            is_success(c.op, &own),
            "{}: the valid call failed: {own}",
            c.field
        );
        let written = attacker.audit_rows().await - rows;
        match c.audit {
            Audit::Read => assert_eq!(written, 0, "{}: a read wrote audit rows", c.field),
            Audit::Once => assert_eq!(written, 1, "{}: one audit row per mutation", c.field),
            Audit::Exempt(why) => assert!(!why.is_empty(), "{}: say why it is exempt", c.field),
        }
        // 2. Each ID position, aimed at the victim, answers as a random id does.
        for (pos, var, kind) in c.ids {
            for target in &targets[kind] {
                let vars = (c.setup)(attacker.clone()).await;
                let token = as_token(&vars, &attacker).to_owned();
                let aim = |id: &str| {
                    let mut v = vars.clone();
                    v[*var] = if v[*var].is_array() {
                        json!([id])
                    } else {
                        json!(id)
                    };
                    v
                };
                let missing = Uuid::new_v4().to_string();
                let hit = run(&app, c.op, &token, c.doc, aim(target)).await;
                let miss = run(&app, c.op, &token, c.doc, aim(&missing)).await;
                assert_eq!(
                    normalize(&hit, &[target]),
                    normalize(&miss, &[&missing]),
                    "{pos} = a victim's {kind:?}: a foreign id must answer exactly like a missing one"
                );
                assert!(
                    !is_success(c.op, &hit) || c.op == Op::Query,
                    "{pos}: an operation on a foreign {kind:?} succeeded: {hit}"
                );
                assert!(
                    !hit.to_string().contains(&victim.admin.email),
                    "{pos}: leaked {hit}"
                );
                attempts += 1;
            }
        }
    }
    assert!(attempts > 100, "{attempts} attempts");

    // Nothing of the victim changed, and nothing was written in its name.
    let after = app.gql_as(&victim.admin.access, STATE, json!({})).await;
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
