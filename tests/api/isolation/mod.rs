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

// `org` first: its `setup!` macro is used by `cases`.
#[macro_use]
mod org;
mod cases;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};
use crate::ws::{connect_as, next_json, subscribe};
use cases::cases;
use org::{Audit, Kind, Op, Org};

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
        if doc.contains("Upload!") {
            return upload(app, token, doc, vars).await;
        }
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

/// Runs `doc` as a GraphQL multipart request whose `$file` is a small text file.
pub(crate) async fn upload(app: &TestApp, token: &str, doc: &str, vars: Value) -> Value {
    let operations = json!({ "query": doc, "variables": vars });
    let part = reqwest::multipart::Part::bytes(b"own notes".to_vec())
        .file_name("notes.txt")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", part);
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("upload sent")
        .json()
        .await
        .expect("JSON body")
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
    let media = v.media().await;
    let gone_media = v.media().await;
    v.step("deleteMedia", &gone_media).await;
    let collection = v.collection().await;
    let gone_collection = v.collection().await;
    v.step("deleteMediaCollection", &gone_collection).await;
    let hook = v.webhook_endpoint().await;
    let gone_hook = v.webhook_endpoint().await;
    v.step("deleteWebhookEndpoint", &gone_hook).await;
    let delivery = v.webhook_delivery().await;
    let integration = v.integration().await;
    let import_run = v.import_run().await;
    let bundle = v.personal_data_export().await;
    v.ok(
        "mutation { trackEvents(events: [{ eventName: \"victim\" }]) }",
        json!({}),
    )
    .await;
    let expense = v.approved_expense().await;
    let gone_expense = v.expense().await;
    v.step("deleteExpense", &gone_expense).await;
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
        (Kind::Expense, vec![expense, gone_expense]),
        (Kind::Media, vec![media, gone_media]),
        (Kind::Collection, vec![collection, gone_collection]),
        (Kind::WebhookEndpoint, vec![hook, gone_hook]),
        (Kind::WebhookDelivery, vec![delivery]),
        (Kind::Integration, vec![integration]),
        (Kind::ImportRun, vec![import_run]),
        (Kind::PersonalDataExport, vec![bundle]),
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
    notifications { totalCount nodes { id isRead } }
    expenses { totalCount nodes { id title status amount eventId: event { id } rejectionReason paymentReference approvals { approver { id } } } }
    expenseTrash: expenses(filter: { deleted: true }) { totalCount }
    expenseSummary { total { currency amount count } }
    media { totalCount nodes { id title accessLevel tags relatedEvent { id } relatedContact { id } } }
    mediaTrash: media(filter: { deleted: true }) { totalCount }
    mediaCollections(first: 5) { totalCount nodes { id name updatedAt items(first: 5) { totalCount nodes { id } } } }
    collectionTrash: mediaCollections(filter: { deleted: true }) { totalCount }
    webhookEndpoints { id url eventTypes isEnabled description }
    integrations { id name status isActive settings metadata updatedAt deletedAt logs { totalCount } }
    importRuns { totalCount nodes { id } }
    analyticsEvents { totalCount } }";

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
