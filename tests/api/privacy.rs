//! GDPR: personal-data bundles (contents, who may ask, signed links and their expiry) and
//! erasure (no trace of the person in any query, audit snapshot, notification or export, while
//! counts stay; idempotent; refused to members and for oneself).

use std::time::Duration;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, spawn_app};

const EXPORT: &str =
    "id status subjectType subjectId sizeBytes message downloadUrl expiresAt requestedBy { id }";

fn workers(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let registry =
        plugs::jobs::Registry::default().with::<plugs::jobs::kinds::BuildPersonalDataExport>();
    app.job_workers(app.db.clone(), registry, 1, false)
}

async fn ok(app: &TestApp, s: &Session, doc: &str, vars: Value) -> Value {
    let body = app.gql_as(&s.access, doc, vars).await;
    assert!(body["errors"].is_null(), "{doc}: {body}");
    body["data"].clone()
}

/// Waits for an export to end and returns it.
async fn finished(app: &TestApp, s: &Session, id: &str) -> Value {
    for _ in 0..400 {
        let got = ok(
            app,
            s,
            &format!("query($id: ID!) {{ personalDataExport(id: $id) {{ {EXPORT} }} }}"),
            json!({ "id": id }),
        )
        .await;
        let e = got["personalDataExport"].clone();
        if e["status"] == "COMPLETED" || e["status"] == "FAILED" {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("export {id} did not end");
}

async fn bundle(app: &TestApp, url: &str) -> (u16, String) {
    let url = if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_owned()
    };
    let resp = app.client.get(url).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A member with a unique name doing a bit of everything.
async fn busy_member(app: &TestApp, admin: &Session) -> (Session, String, String, String) {
    let member = app.member(admin, false).await;
    let first = format!("Zelda{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    ok(
        app,
        admin,
        "mutation($id: ID!, $f: String!) { updateUser(id: $id, input: { firstName: $f, lastName: \"Quux\", phone: \"+1 555 0199\" }) { id } }",
        json!({ "id": member.user_id, "f": first }),
    )
    .await;
    let contact = ok(
        app,
        &member,
        "mutation { createContact(input: { firstName: \"Paul\", lastName: \"Plain\", email: \"paul@example.com\" }) { id } }",
        json!({}),
    )
    .await["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app,
        &member,
        "mutation($c: ID!) { createContactInteraction(input: { contactId: $c, interactionType: CALL, subject: \"Intro call\", interactionDate: \"2026-01-01T10:00:00Z\" }) { id } }",
        json!({ "c": contact }),
    )
    .await;
    let event = crate::events::create_event(app, admin, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::events::lifecycle(app, admin, "publishEvent", &event).await;
    let reg = crate::events::register(app, &member, &event, None).await;
    assert!(reg["errors"].is_null(), "{reg}");
    ok(
        app,
        &member,
        "mutation { createExpense(input: { title: \"Taxi\", amount: \"12.00\", expenseDate: \"2026-11-01\" }) { id } }",
        json!({}),
    )
    .await;
    (member, first, contact, event)
}

#[tokio::test]
async fn a_member_exports_their_own_data_and_admins_export_anyones_through_signed_links() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let (member, first, contact, _event) = busy_member(&app, &admin).await;

    let org = ok(&app, &admin, "{ organization { id } }", json!({})).await["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    track(&app, org, &member, uuid::Uuid::new_v4()).await;
    let queued = ok(
        &app,
        &member,
        &format!("mutation {{ exportPersonalData {{ {EXPORT} }} }}"),
        json!({}),
    )
    .await["exportPersonalData"]
        .clone();
    assert_eq!(queued["status"], "QUEUED");
    assert!(queued["downloadUrl"].is_null());
    assert_eq!(queued["subjectId"], member.user_id.as_str());
    let done = finished(&app, &member, queued["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let url = done["downloadUrl"].as_str().unwrap().to_owned();
    let (status, body) = bundle(&app, &url).await;
    assert_eq!(status, 200, "{body}");
    let b: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(b["format"], "plugs.personal-data.v1");
    let d = &b["data"];
    assert_eq!(d["profile"]["email"], member.email.as_str());
    assert_eq!(d["profile"]["first_name"], first.as_str());
    assert_eq!(d["contactsCreated"].as_array().unwrap().len(), 1);
    assert_eq!(d["contactsCreated"][0]["id"], contact.as_str());
    assert_eq!(d["interactions"].as_array().unwrap().len(), 1);
    assert_eq!(d["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(d["expenses"].as_array().unwrap().len(), 1);
    assert!(!d["sessions"].as_array().unwrap().is_empty());
    assert_eq!(d["analyticsEvents"][0]["user_agent"], "ZeldaBrowser/1.0");
    assert!(!d["auditEntries"].as_array().unwrap().is_empty());
    for secret in ["password_hash", "token_hash", "$argon2"] {
        assert!(!body.contains(secret), "the bundle holds {secret}");
    }
    let told = ok(
        &app,
        &member,
        "{ notifications { nodes { title data } } }",
        json!({}),
    )
    .await;
    assert!(
        told["notifications"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["title"] == "Personal data export ready"),
        "{told}"
    );

    // A tampered link is refused; members ask only for themselves and see only their own.
    let (status, _) = bundle(&app, &url.replace("sig=", "sig=x")).await;
    assert_eq!(status, 403);
    let theirs = app
        .gql_as(
            &member.access,
            "mutation($u: ID!) { exportPersonalData(userId: $u) { id } }",
            json!({ "u": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&theirs), Some("FORBIDDEN"), "{theirs}");
    let refused = app
        .gql_as(
            &member.access,
            "mutation($c: ID!) { exportContactData(contactId: $c) { id } }",
            json!({ "c": contact }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let by_admin = ok(
        &app,
        &admin,
        "mutation($c: ID!) { exportContactData(contactId: $c) { id } }",
        json!({ "c": contact }),
    )
    .await;
    let cid = by_admin["exportContactData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let peek = app
        .gql_as(
            &member.access,
            "query($id: ID!) { personalDataExport(id: $id) { id } }",
            json!({ "id": cid }),
        )
        .await;
    assert_eq!(error_code(&peek), Some("NOT_FOUND"), "{peek}");
    let cdone = finished(&app, &admin, &cid).await;
    let (_, cbody) = bundle(&app, cdone["downloadUrl"].as_str().unwrap()).await;
    let cb: Value = serde_json::from_str(&cbody).unwrap();
    assert_eq!(cb["data"]["contact"]["email"], "paul@example.com");
    assert_eq!(cb["data"]["interactions"][0]["subject"], "Intro call");

    // Another organization: neither the export nor its subject.
    let stranger = app.register().await;
    for (doc, vars) in [
        (
            "query($id: ID!) { personalDataExport(id: $id) { id } }",
            json!({ "id": cid }),
        ),
        (
            "mutation($u: ID!) { exportPersonalData(userId: $u) { id } }",
            json!({ "u": member.user_id }),
        ),
        (
            "mutation($c: ID!) { exportContactData(contactId: $c) { id } }",
            json!({ "c": contact }),
        ),
    ] {
        let got = app.gql_as(&stranger.access, doc, vars).await;
        assert_eq!(error_code(&got), Some("NOT_FOUND"), "{doc}: {got}");
    }

    // Past its expiry the bundle has no link, and an earlier link answers 410.
    let id: uuid::Uuid = done["id"].as_str().unwrap().parse().unwrap();
    let row = plugs::entities::personal_data_exports::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut a = row.into_active_model();
    a.expires_at = Set(Some(
        (chrono::Utc::now() - chrono::Duration::minutes(1)).fixed_offset(),
    ));
    a.update(&app.db).await.unwrap();
    let again = finished(&app, &member, &id.to_string()).await;
    assert!(again["downloadUrl"].is_null(), "{again}");
    let (status, _) = bundle(&app, &url).await;
    assert_eq!(status, 410);
    let purged = plugs::services::privacy::purge_expired(&app.db, &app.storage)
        .await
        .unwrap();
    assert!(purged >= 1);
}

/// An analytics event of `member`'s with a user agent (nothing writes these through the API
/// yet). Inserted without reading back: SQLite has no `inet` for the entity's IP type.
async fn track(app: &TestApp, org: uuid::Uuid, member: &Session, id: uuid::Uuid) {
    let am = plugs::entities::analytics_events::ActiveModel {
        id: Set(id),
        organization_id: Set(Some(org)),
        user_id: Set(Some(member.user_id.parse().unwrap())),
        event_name: Set("page_view".into()),
        event_category: Set("navigation".into()),
        properties: Set(json!({})),
        session_id: Set(None),
        user_agent: Set(Some("ZeldaBrowser/1.0".into())),
        event_timestamp: Set(chrono::Utc::now().fixed_offset()),
        created_at: Set(chrono::Utc::now().fixed_offset()),
        ..Default::default()
    };
    plugs::entities::analytics_events::Entity::insert(am)
        .exec_without_returning(&app.db)
        .await
        .unwrap();
}

/// Everything the admin can read about the organization, as one string.
async fn everything(app: &TestApp, admin: &Session) -> String {
    let data = ok(
        app,
        admin,
        "{ users { nodes { id firstName lastName email phone } }
           auditLogs(first: 100) { nodes { tableName oldValues newValues metadata } }
           notifications(first: 100) { nodes { title message } }
           contacts { nodes { firstName lastName email company notes metadata } }
           contactInteractions { nodes { subject description outcome } } }",
        json!({}),
    )
    .await;
    let mut all = data.to_string();
    for file in ["contacts", "interactions", "attendees"] {
        let csv = app
            .client
            .get(app.url(&format!("/export/{file}.csv")))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        all.push_str(&csv);
    }
    all
}

async fn summary(app: &TestApp, s: &Session) -> Value {
    ok(
        app,
        s,
        "{ contactPerformanceSummary { contactType status totalContacts totalInteractions } }",
        json!({}),
    )
    .await
}

#[tokio::test]
async fn an_erased_member_leaves_no_trace_while_counts_stay() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let (member, first, _contact, _event) = busy_member(&app, &admin).await;
    // Analytics with their IP and user agent (nothing writes these through the API yet).
    let org: uuid::Uuid =
        ok(&app, &admin, "{ organization { id } }", json!({})).await["organization"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let event_id = uuid::Uuid::new_v4();
    track(&app, org, &member, event_id).await;
    // Two-factor sign-in and a mailed link, which erasure removes with the rest.
    crate::two_factor::turn_on(&app, &member).await;
    let member_row =
        plugs::entities::users::Entity::find_by_id(member.user_id.parse::<uuid::Uuid>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
    plugs::services::account_mail::issue(
        &app.db,
        &member_row,
        plugs::services::account_mail::Purpose::PasswordReset,
        None,
    )
    .await
    .unwrap();
    let before = summary(&app, &admin).await;
    let seen = everything(&app, &admin).await;
    assert!(
        seen.contains(&first) && seen.contains(&member.email),
        "the trace exists before"
    );

    let refused = app
        .gql_as(
            &member.access,
            "mutation($u: ID!) { erasePersonalData(userId: $u) { id } }",
            json!({ "u": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let own = app
        .gql_as(
            &admin.access,
            "mutation($u: ID!) { erasePersonalData(userId: $u) { id } }",
            json!({ "u": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&own), Some("BAD_USER_INPUT"), "{own}");

    let erased = ok(
        &app,
        &admin,
        "mutation($u: ID!) { erasePersonalData(userId: $u) { id firstName lastName email phone isActive } }",
        json!({ "u": member.user_id }),
    )
    .await["erasePersonalData"]
        .clone();
    assert_eq!(erased["firstName"], "Erased");
    assert_eq!(erased["lastName"], "User");
    assert!(
        erased["email"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid")
    );
    assert!(erased["phone"].is_null());
    assert_eq!(erased["isActive"], false);

    let after = everything(&app, &admin).await;
    for trace in [first.as_str(), member.email.as_str(), "+1 555 0199", "Quux"] {
        assert!(!after.contains(trace), "{trace} is still readable");
    }
    assert_eq!(summary(&app, &admin).await, before, "counts stay");
    {
        use plugs::entities::analytics_events::{Column, Entity};
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        let cleared = Entity::find()
            .filter(Column::Id.eq(event_id))
            .filter(Column::UserAgent.is_null())
            .filter(Column::IpAddress.is_null())
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(cleared, 1, "the event stays, without IP and user agent");
    }
    {
        use plugs::entities::{account_tokens, recovery_codes, two_factor_credentials};
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        let id: uuid::Uuid = member.user_id.parse().unwrap();
        let left = account_tokens::Entity::find()
            .filter(account_tokens::Column::UserId.eq(id))
            .count(&app.db)
            .await
            .unwrap()
            + two_factor_credentials::Entity::find()
                .filter(two_factor_credentials::Column::UserId.eq(id))
                .count(&app.db)
                .await
                .unwrap()
            + recovery_codes::Entity::find()
                .filter(recovery_codes::Column::UserId.eq(id))
                .count(&app.db)
                .await
                .unwrap();
        assert_eq!(left, 0, "links, second factor and recovery codes are gone");
    }
    // Their sessions ended.
    let gone = app.gql_as(&member.access, "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&gone), Some("UNAUTHENTICATED"), "{gone}");
    let refreshed = app
        .graphql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": member.refresh }),
        )
        .await;
    assert!(refreshed["errors"].is_array(), "{refreshed}");

    // One audit row records it, without values; a second erasure changes nothing.
    let audit = || {
        let (app, token, id) = (&app, admin.access.clone(), member.user_id.clone());
        async move {
            app.gql_as(
                &token,
                "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount nodes { action newValues user { id } } } }",
                json!({ "id": id }),
            )
            .await["data"]["auditLogs"]
                .clone()
        }
    };
    let trail = audit().await;
    assert_eq!(
        trail["nodes"][0]["newValues"],
        json!({ "erased": true }),
        "{trail}"
    );
    assert_eq!(trail["nodes"][0]["user"]["id"], admin.user_id.as_str());
    let again = ok(
        &app,
        &admin,
        "mutation($u: ID!) { erasePersonalData(userId: $u) { firstName } }",
        json!({ "u": member.user_id }),
    )
    .await;
    assert_eq!(again["erasePersonalData"]["firstName"], "Erased");
    assert_eq!(audit().await["totalCount"], trail["totalCount"]);

    // Another organization cannot erase them.
    let stranger = app.register().await;
    let other = app
        .gql_as(
            &stranger.access,
            "mutation($u: ID!) { erasePersonalData(userId: $u) { id } }",
            json!({ "u": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&other), Some("NOT_FOUND"), "{other}");
}

#[tokio::test]
async fn an_erased_contact_leaves_no_trace_while_counts_stay() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let marker = format!("Yvette{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let id = ok(
        &app,
        &member,
        "mutation($f: String!) { createContact(input: { firstName: $f, lastName: \"Vex\", email: \"yvette@example.com\", company: \"Vexcorp\", notes: \"likes sailing\", leadScore: 40, metadata: { erasedAt: \"2020-01-01\", boat: \"Sea Vex\" } }) { id } }",
        json!({ "f": marker }),
    )
    .await["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &app,
        &member,
        "mutation($id: ID!) { updateContact(id: $id, input: { phone: \"+44 20 7946 0000\" }) { id } }",
        json!({ "id": id }),
    )
    .await;
    ok(
        &app,
        &member,
        "mutation($c: ID!, $s: String!) { createContactInteraction(input: { contactId: $c, interactionType: MEETING, subject: $s, description: \"Met Yvette at the harbour\", interactionDate: \"2026-01-02T10:00:00Z\" }) { id } }",
        json!({ "c": id, "s": format!("Lunch with {marker}") }),
    )
    .await;
    let before = summary(&app, &admin).await;
    let seen = everything(&app, &admin).await;
    assert!(seen.contains(&marker) && seen.contains("Sea Vex"));

    let refused = app
        .gql_as(
            &member.access,
            "mutation($id: ID!) { eraseContact(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let stranger = app.register().await;
    let other = app
        .gql_as(
            &stranger.access,
            "mutation($id: ID!) { eraseContact(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&other), Some("NOT_FOUND"), "{other}");

    let erased = ok(
        &app,
        &admin,
        "mutation($id: ID!) { eraseContact(id: $id) { firstName lastName email company leadScore interactions { totalCount nodes { subject description } } } }",
        json!({ "id": id }),
    )
    .await["eraseContact"]
        .clone();
    assert_eq!(erased["firstName"], "Erased");
    assert_eq!(erased["lastName"], "Contact");
    assert!(erased["email"].is_null() && erased["company"].is_null());
    assert_eq!(erased["leadScore"], 40, "what reports count stays");
    assert_eq!(erased["interactions"]["totalCount"], 1);
    assert!(erased["interactions"]["nodes"][0]["subject"].is_null());

    let after = everything(&app, &admin).await;
    for trace in [
        marker.as_str(),
        "yvette@example.com",
        "Vexcorp",
        "likes sailing",
        "+44 20 7946 0000",
        "harbour",
        "Sea Vex",
    ] {
        assert!(!after.contains(trace), "{trace} is still readable");
    }
    assert_eq!(summary(&app, &admin).await, before, "counts stay");
    let trail = ok(
        &app,
        &admin,
        "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount nodes { newValues } } }",
        json!({ "id": id }),
    )
    .await["auditLogs"]
        .clone();
    assert_eq!(trail["nodes"][0]["newValues"], json!({ "erased": true }));
    let again = ok(
        &app,
        &admin,
        "mutation($id: ID!) { eraseContact(id: $id) { firstName } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(again["eraseContact"]["firstName"], "Erased");
    let trail_again = ok(
        &app,
        &admin,
        "query($id: ID!) { auditLogs(filter: { recordId: $id }) { totalCount } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        trail_again["auditLogs"]["totalCount"], trail["totalCount"],
        "idempotent"
    );
}
