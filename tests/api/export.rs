//! CSV export of contacts: columns, RFC 4180 quoting, spreadsheet-formula neutralising,
//! filters, paging through every row once, authentication and tenant isolation.

use serde_json::json;

use crate::helpers::{Session, TestApp, error_code, spawn_app};

/// `GET path` with `token`: (status, content type, body).
async fn fetch(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("export answered");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

async fn export(app: &TestApp, token: Option<&str>, query: &str) -> (u16, String, String) {
    fetch(app, token, &format!("/export/contacts.csv{query}")).await
}

fn rows(body: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV"))
        .collect()
}

async fn contact(app: &TestApp, s: &Session, input: serde_json::Value) -> String {
    let body = app
        .gql_as(
            &s.access,
            "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn contacts_export_as_quoted_csv_with_formulas_neutralised_and_filters_applied() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let stranger = app.register().await;
    contact(
        &app,
        &stranger,
        json!({ "firstName": "Other", "lastName": "Org" }),
    )
    .await;
    let tricky = contact(
        &app,
        &member,
        json!({ "firstName": "=HYPERLINK(\"http://x\")", "lastName": "O'Neil, Jr.", "email": "ada@example.com",
                "company": "Acme \"Labs\", Inc.", "notes": "line one\nline two", "phone": "+1 555 0100",
                "contactType": "PLUG", "leadScore": 70 }),
    )
    .await;
    let plain = contact(
        &app,
        &admin,
        json!({ "firstName": "Plain", "lastName": "Target" }),
    )
    .await;

    let (status, ct, body) = export(&app, Some(&member.access), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "text/csv; charset=utf-8");
    let header = header_of(&body);
    assert_eq!(header, plugs::http::export::CONTACT_COLUMNS);
    let all = rows(&body);
    assert_eq!(all.len(), 2, "{body}");
    assert!(
        !body.contains("Other"),
        "another organization's contact: {body}"
    );
    let t = all.iter().find(|r| &r[0] == tricky.as_str()).unwrap();
    assert_eq!(
        &t[1], "'=HYPERLINK(\"http://x\")",
        "a formula is neutralised"
    );
    assert_eq!(&t[2], "O'Neil, Jr.");
    assert_eq!(
        &t[5], "Acme \"Labs\", Inc.",
        "quotes and commas survive RFC 4180 quoting"
    );
    assert_eq!(&t[4], "'+1 555 0100");
    assert_eq!(&t[15], "line one\nline two");
    assert_eq!(&t[8], "PLUG");
    assert_eq!(&t[14], "70");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&t[18]).is_ok(),
        "{}",
        &t[18]
    );

    // Filters are the contacts query's.
    let (_, _, plugs_only) = export(
        &app,
        Some(&member.access),
        "?contactType=PLUG&leadScoreMin=50",
    )
    .await;
    assert_eq!(rows(&plugs_only).len(), 1);
    let (_, _, searched) = export(&app, Some(&member.access), "?search=plain").await;
    let found = rows(&searched);
    assert_eq!(found.len(), 1);
    assert_eq!(&found[0][0], plain.as_str());
    let gone = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            json!({ "id": plain }),
        )
        .await;
    assert!(gone["errors"].is_null(), "{gone}");
    let (_, _, trash) = export(&app, Some(&admin.access), "?deleted=true").await;
    assert_eq!(rows(&trash).len(), 1);
    let (_, _, live) = export(&app, Some(&admin.access), "").await;
    assert_eq!(rows(&live).len(), 1);

    // Refusals: no token, a bad token, an unknown parameter, a bad value.
    let (status, _, body) = export(&app, None, "").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        error_code(&serde_json::from_str(&body).unwrap()),
        Some("UNAUTHENTICATED")
    );
    let (status, _, _) = export(&app, Some("not-a-token"), "").await;
    assert_eq!(status, 401);
    for q in [
        "?color=red",
        "?contactType=VIP",
        "?leadScoreMin=x",
        "?deleted=maybe",
        "?createdBy=1",
    ] {
        let (status, _, body) = export(&app, Some(&admin.access), q).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(
            error_code(&serde_json::from_str(&body).unwrap()),
            Some("BAD_USER_INPUT"),
            "{q}"
        );
    }
    // Another organization's token sees only its own.
    let (_, _, theirs) = export(&app, Some(&stranger.access), "").await;
    let theirs = rows(&theirs);
    assert_eq!(theirs.len(), 1);
    assert_eq!(&theirs[0][1], "Other");
}

#[tokio::test]
async fn a_large_export_pages_through_every_row_once() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let mut ids = std::collections::HashSet::new();
    for n in 0..250 {
        ids.insert(
            contact(
                &app,
                &admin,
                json!({ "firstName": format!("P{n}"), "lastName": "Paged" }),
            )
            .await,
        );
    }
    let (status, _, body) = export(&app, Some(&admin.access), "").await;
    assert_eq!(status, 200);
    let got = rows(&body);
    assert_eq!(got.len(), 250, "three pages of 100");
    let seen: std::collections::HashSet<String> = got.iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(seen, ids, "each contact once");
    let created: Vec<String> = got.iter().map(|r| r[18].to_owned()).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first, like the contacts query");
}

#[tokio::test]
async fn expenses_export_with_two_decimal_amounts_and_the_expenses_filters() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let stranger = app.register().await;
    let create = |s: &Session, title: &str, amount: &str| {
        let (app, token) = (&app, s.access.clone());
        let (title, amount) = (title.to_owned(), amount.to_owned());
        async move {
            let body = app
                .gql_as(&token, "mutation($t: String!, $a: Decimal!) { createExpense(input: { title: $t, amount: $a, expenseDate: \"2026-11-01\" }) { id } }", json!({ "t": title, "a": amount }))
                .await;
            assert!(body["errors"].is_null(), "{body}");
            body["data"]["createExpense"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let taxi = create(&member, "@taxi", "12.5").await;
    let hotel = create(&member, "Hotel", "300").await;
    create(&stranger, "Theirs", "1").await;
    let ok = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { approveExpense(id: $id) { id } }",
            json!({ "id": hotel }),
        )
        .await;
    assert!(ok["errors"].is_null(), "{ok}");
    let get = |q: &str| csv_of(&app, &member, format!("/export/expenses.csv{q}"));
    let (status, body) = get("").await;
    assert_eq!(status, 200, "{body}");
    let header = header_of(&body);
    assert_eq!(header, plugs::http::export::EXPENSE_COLUMNS);
    let all = rows(&body);
    assert_eq!(all.len(), 2, "{body}");
    let t = all.iter().find(|r| &r[0] == taxi.as_str()).unwrap();
    assert_eq!(&t[1], "'@taxi");
    assert_eq!(&t[2], "12.50");
    assert_eq!(&t[6], "2026-11-01");
    assert_eq!(&t[7], "PENDING");
    let (_, approved) = get("?status=APPROVED").await;
    let approved = rows(&approved);
    assert_eq!(approved.len(), 1);
    assert_eq!(&approved[0][2], "300.00");
    let (_, big) = get("?amountMin=100&dateFrom=2026-10-01").await;
    assert_eq!(rows(&big).len(), 1);
    let (status, _) = get("?amountMin=lots").await;
    assert_eq!(status, 400);
}

async fn csv_of(app: &TestApp, s: &Session, path: impl AsRef<str>) -> (u16, String) {
    let (status, _, body) = fetch(app, Some(&s.access), path.as_ref()).await;
    (status, body)
}

fn header_of(body: &str) -> Vec<String> {
    csv::Reader::from_reader(body.as_bytes())
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn interactions_events_and_attendees_export_with_their_filters_and_only_the_callers_rows() {
    use crate::events::{create_event, lifecycle, register};
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let stranger = app.register().await;

    // Interactions.
    let ada = contact(&app, &admin, json!({ "firstName": "Ada", "lastName": "L" })).await;
    let log = |s: &Session, contact: &str, kind: &str, subject: &str, date: &str| {
        let (app, token) = (&app, s.access.clone());
        let vars = json!({ "i": { "contactId": contact, "interactionType": kind, "subject": subject, "interactionDate": date } });
        async move {
            let body = app
                .gql_as(&token, "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id } }", vars)
                .await;
            assert!(body["errors"].is_null(), "{body}");
            body["data"]["createContactInteraction"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let call = log(&admin, &ada, "CALL", "-1 discount?", "2026-01-10T09:00:00Z").await;
    log(&member, &ada, "EMAIL", "Follow-up", "2026-02-10T09:00:00Z").await;
    let theirs = contact(
        &app,
        &stranger,
        json!({ "firstName": "Zed", "lastName": "Z" }),
    )
    .await;
    log(
        &stranger,
        &theirs,
        "CALL",
        "Their secret call",
        "2026-01-11T09:00:00Z",
    )
    .await;

    let (status, body) = csv_of(&app, &member, "/export/interactions.csv").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header_of(&body), plugs::http::export::INTERACTION_COLUMNS);
    let all = rows(&body);
    assert_eq!(all.len(), 2, "{body}");
    assert!(
        !body.contains("secret"),
        "another organization's row: {body}"
    );
    let c = all.iter().find(|r| &r[0] == call.as_str()).unwrap();
    assert_eq!(&c[1], ada.as_str());
    assert_eq!(&c[2], admin.user_id.as_str());
    assert_eq!(&c[3], "CALL");
    assert_eq!(&c[4], "'-1 discount?");
    assert_eq!(&c[7], "2026-01-10T09:00:00.000Z");
    let (_, calls) = csv_of(
        &app,
        &member,
        "/export/interactions.csv?interactionType=CALL",
    )
    .await;
    assert_eq!(rows(&calls).len(), 1);
    let (_, feb) = csv_of(
        &app,
        &member,
        "/export/interactions.csv?dateFrom=2026-02-01T00:00:00Z&dateTo=2026-03-01T00:00:00Z",
    )
    .await;
    let feb = rows(&feb);
    assert_eq!(feb.len(), 1);
    assert_eq!(&feb[0][3], "EMAIL");
    // Another organization naming our contact gets nothing of it.
    let (status, spied) = csv_of(
        &app,
        &stranger,
        &format!("/export/interactions.csv?contactId={ada}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(rows(&spied).is_empty(), "{spied}");
    let (status, _) = csv_of(&app, &member, "/export/interactions.csv?dateFrom=yesterday").await;
    assert_eq!(status, 400);

    // Events and attendees.
    let gala = create_event(&app, &admin, Some(10)).await;
    let gala = gala["id"].as_str().unwrap().to_owned();
    let ok = lifecycle(&app, &admin, "publishEvent", &gala).await;
    assert!(ok["errors"].is_null(), "{ok}");
    create_event(&app, &admin, None).await;
    let other = create_event(&app, &stranger, None).await;
    let other = other["id"].as_str().unwrap().to_owned();
    let (status, body) = csv_of(&app, &member, "/export/events.csv").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header_of(&body), plugs::http::export::EVENT_COLUMNS);
    let events = rows(&body);
    assert_eq!(events.len(), 2, "{body}");
    assert!(events.iter().all(|r| r[0] != other), "{body}");
    let g = events.iter().find(|r| r[0] == gala).unwrap();
    assert_eq!(&g[4], "PUBLISHED");
    assert_eq!(&g[10], "1250.00");
    assert_eq!(&g[12], "10");
    let (_, published) = csv_of(&app, &member, "/export/events.csv?status=PUBLISHED").await;
    assert_eq!(rows(&published).len(), 1);

    let mine = register(&app, &member, &gala, None).await;
    assert!(mine["errors"].is_null(), "{mine}");
    let theirs_too = register(&app, &admin, &gala, None).await;
    assert!(theirs_too["errors"].is_null(), "{theirs_too}");
    let ok = lifecycle(&app, &stranger, "publishEvent", &other).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let ok = register(&app, &stranger, &other, None).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let (status, body) = csv_of(
        &app,
        &member,
        &format!("/export/attendees.csv?eventId={gala}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header_of(&body), plugs::http::export::ATTENDEE_COLUMNS);
    let attendees = rows(&body);
    assert_eq!(attendees.len(), 2, "{body}");
    assert_eq!(
        &attendees[0][2],
        member.user_id.as_str(),
        "first registered first"
    );
    assert_eq!(&attendees[0][3], "REGISTERED");
    let (_, one) = csv_of(
        &app,
        &member,
        &format!("/export/attendees.csv?userId={}", admin.user_id),
    )
    .await;
    assert_eq!(rows(&one).len(), 1);
    let (status, spied) = csv_of(
        &app,
        &stranger,
        &format!("/export/attendees.csv?eventId={gala}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        rows(&spied).is_empty(),
        "another organization's attendees: {spied}"
    );
    let (_, own) = csv_of(&app, &stranger, "/export/attendees.csv").await;
    assert_eq!(rows(&own).len(), 1);
    let (status, _) = csv_of(&app, &member, "/export/attendees.csv?status=MAYBE").await;
    assert_eq!(status, 400);
}
