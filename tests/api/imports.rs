//! CSV import of contacts: header aliases and mapping, `createContact`'s checks per row,
//! matching by e-mail (SKIP and UPDATE), dry runs, malformed files, a 10,000-row file, one
//! audit row per run, and who may see a run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, spawn_app};

const RUN: &str = "id status dryRun onDuplicate fileName total created updated skipped failed message errors { row field message } createdBy { id } startedAt finishedAt";

/// `importContacts` as a GraphQL multipart request.
pub async fn import(app: &TestApp, s: &Session, csv: impl Into<Vec<u8>>, args: Value) -> Value {
    let operations = json!({
        "query": format!("mutation($file: Upload!, $dryRun: Boolean, $onDuplicate: DuplicateAction, $mapping: JSON) {{ importContacts(file: $file, dryRun: $dryRun, onDuplicate: $onDuplicate, mapping: $mapping) {{ {RUN} }} }}"),
        "variables": { "file": null, "dryRun": args["dryRun"], "onDuplicate": args.get("onDuplicate").cloned().unwrap_or(json!("SKIP")), "mapping": args["mapping"] },
    });
    let part = reqwest::multipart::Part::bytes(csv.into())
        .file_name("people.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", part);
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(&s.access)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("import sent")
        .json()
        .await
        .unwrap()
}

/// Job workers for imports only.
pub fn workers(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let registry = plugs::jobs::Registry::default().with::<plugs::jobs::kinds::ImportContacts>();
    app.job_workers(app.db.clone(), registry, 1, false)
}

/// Starts an import and waits for its run to end.
pub async fn imported(app: &TestApp, s: &Session, csv: impl Into<Vec<u8>>, args: Value) -> Value {
    let body = import(app, s, csv, args).await;
    assert!(body["errors"].is_null(), "{body}");
    let run = &body["data"]["importContacts"];
    assert_eq!(run["status"], "QUEUED", "{body}");
    let id = run["id"].as_str().unwrap().to_owned();
    for _ in 0..1200 {
        let got = app
            .gql_as(
                &s.access,
                &format!("query($id: ID!) {{ importRun(id: $id) {{ {RUN} }} }}"),
                json!({ "id": id }),
            )
            .await;
        let run = got["data"]["importRun"].clone();
        if run["status"] == "COMPLETED" || run["status"] == "FAILED" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import {id} did not end");
}

async fn contacts(app: &TestApp, s: &Session) -> Vec<Value> {
    let body = app
        .gql_as(
            &s.access,
            "{ contacts(first: 100) { totalCount nodes { id firstName lastName email company contactType leadScore createdBy { id } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["contacts"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn by_email<'a>(all: &'a [Value], email: &str) -> &'a Value {
    all.iter()
        .find(|c| c["email"] == email)
        .unwrap_or_else(|| panic!("no contact {email}"))
}

const PEOPLE: &str = "\u{feff}First Name,Last Name,E-mail,Company,Lead Score,Type,Favourite Colour\r\n\
Grace,Hopper,grace@example.com,Navy,90,plug,blue\r\n\
Ada,Lovelace,ADA@example.com,,,,\r\n\
Bad,Email,not-an-email,,,,\r\n\
NoLast,,nolast@example.com,,,,\r\n\
Score,Too,score@example.com,,150,,\r\n\
\"Quoted, Name\",Multi,quoted@example.com,\"Acme, \"\"Inc\"\"\",,CONTACT,\r\n\
Grace,Again,grace@example.com,,,,\r\n\
Type,Bad,typebad@example.com,,,vip,\r\n";

#[tokio::test]
async fn an_import_checks_every_row_as_create_contact_does_and_reports_each_refusal() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let ada = app
        .gql_as(
            &admin.access,
            "mutation { createContact(input: { firstName: \"Ada\", lastName: \"King\", email: \"ada@example.com\" }) { id } }",
            json!({}),
        )
        .await;
    assert!(ada["errors"].is_null(), "{ada}");

    // A dry run counts and checks, and writes nothing.
    let dry = imported(&app, &member, PEOPLE, json!({ "dryRun": true })).await;
    assert_eq!(dry["status"], "COMPLETED", "{dry}");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (
            &dry["total"],
            &dry["created"],
            &dry["updated"],
            &dry["skipped"],
            &dry["failed"]
        ),
        (&json!(8), &json!(2), &json!(0), &json!(2), &json!(4)),
        "{dry}"
    );
    assert_eq!(
        contacts(&app, &member).await.len(),
        1,
        "a dry run writes nothing"
    );

    let run = imported(&app, &member, PEOPLE, json!({})).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["fileName"], "people.csv");
    assert_eq!(run["createdBy"]["id"], member.user_id.as_str());
    assert_eq!(
        (&run["created"], &run["skipped"], &run["failed"]),
        (&json!(2), &json!(2), &json!(4)),
        "{run}"
    );
    assert!(run["message"].is_null());
    let errors: Vec<(u64, &str)> = run["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (4, "email"),
            (5, "firstName"),
            (6, "leadScore"),
            (9, "contactType")
        ],
        "{run}"
    );
    assert!(
        run["errors"][3]["message"]
            .as_str()
            .unwrap()
            .contains("TARGET, CONTACT, PLUG"),
        "{run}"
    );

    let all = contacts(&app, &member).await;
    assert_eq!(all.len(), 3);
    let grace = by_email(&all, "grace@example.com");
    assert_eq!(grace["firstName"], "Grace");
    assert_eq!(grace["lastName"], "Hopper", "the file's first Grace wins");
    assert_eq!(grace["company"], "Navy");
    assert_eq!(grace["leadScore"], 90);
    assert_eq!(grace["contactType"], "PLUG");
    assert_eq!(grace["createdBy"]["id"], member.user_id.as_str());
    let quoted = by_email(&all, "quoted@example.com");
    assert_eq!(quoted["firstName"], "Quoted, Name");
    assert_eq!(quoted["company"], "Acme, \"Inc\"");
    assert_eq!(quoted["contactType"], "CONTACT");
    assert_eq!(
        by_email(&all, "ada@example.com")["lastName"],
        "King",
        "SKIP leaves a match alone"
    );

    // One audit row for the run, none per contact.
    let audit = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { runs: auditLogs(filter: { tableName: \"import_runs\" }) { nodes { recordId user { id } newValues } } contact: auditLogs(filter: { recordId: $id }) { totalCount } }",
            json!({ "id": grace["id"] }),
        )
        .await;
    assert!(audit["errors"].is_null(), "{audit}");
    let runs = audit["data"]["runs"]["nodes"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "a dry run is not audited: {audit}");
    assert_eq!(runs[0]["recordId"], run["id"]);
    assert_eq!(runs[0]["newValues"]["created"], 2);
    assert_eq!(runs[0]["user"]["id"], member.user_id.as_str());
    assert_eq!(audit["data"]["contact"]["totalCount"], 0);

    // The member who started it is told.
    let told = app
        .gql_as(
            &member.access,
            "{ notifications(first: 10) { nodes { title message data } } }",
            json!({}),
        )
        .await;
    let titles: Vec<&str> = told["data"]["notifications"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Import finished with errors"), "{told}");
    assert!(titles.contains(&"Import checked (dry run)"), "{told}");
}

#[tokio::test]
async fn update_changes_only_the_cells_a_row_fills_and_mapping_names_columns() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let made = app
        .gql_as(
            &admin.access,
            "mutation { createContact(input: { firstName: \"Ada\", lastName: \"King\", email: \"ada@example.com\", company: \"Old\", leadScore: 10 }) { id } }",
            json!({}),
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let csv = "Given,Family,Mail Address,Employer,Colour\n\
               ,,ada@example.com,Analytical Engines,red\n\
               Linus,Torvalds,linus@example.com,,green\n\
               ,,linus@example.com,Linux Foundation,\n";
    let mapping = json!({ "Given": "firstName", "family": "lastName", "Mail Address": "email", "Employer": "company", "Colour": null });
    let run = imported(
        &app,
        &admin,
        csv,
        json!({ "onDuplicate": "UPDATE", "mapping": mapping }),
    )
    .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["onDuplicate"], "UPDATE");
    assert_eq!(
        (&run["created"], &run["updated"], &run["failed"]),
        (&json!(1), &json!(2), &json!(0)),
        "{run}"
    );
    let all = contacts(&app, &admin).await;
    assert_eq!(all.len(), 2);
    let ada = by_email(&all, "ada@example.com");
    assert_eq!(ada["company"], "Analytical Engines");
    assert_eq!(
        ada["lastName"], "King",
        "an empty cell leaves a column as it is"
    );
    assert_eq!(ada["leadScore"], 10);
    let linus = by_email(&all, "linus@example.com");
    assert_eq!(
        linus["company"], "Linux Foundation",
        "a row created by this run is updated by a later row"
    );

    // A mapping naming an unknown field is refused before anything is queued.
    let bad = import(
        &app,
        &admin,
        csv,
        json!({ "mapping": { "Given": "nickname" } }),
    )
    .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "mapping");
    let empty = import(&app, &admin, "", json!({})).await;
    assert_eq!(error_code(&empty), Some("BAD_USER_INPUT"), "{empty}");
}

#[tokio::test]
async fn malformed_files_fail_their_run_with_a_clear_message_and_write_nothing() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    for (file, says) in [
        (png, "binary"),
        (
            b"name,email\n\xff\xfe,x@example.com\n".to_vec(),
            "not UTF-8",
        ),
        (
            b"first name;last name;email\nAda;King;ada@example.com\n".to_vec(),
            "comma-separated",
        ),
        (
            b"first name,last name,phone\nAda,King,123\n".to_vec(),
            "no e-mail column",
        ),
        (
            b"email,e-mail\na@example.com,b@example.com\n".to_vec(),
            "two columns fill email",
        ),
    ] {
        let run = imported(&app, &admin, file, json!({})).await;
        assert_eq!(run["status"], "FAILED", "{says}: {run}");
        assert!(
            run["message"].as_str().unwrap().contains(says),
            "{says}: {run}"
        );
        assert_eq!(run["created"], 0);
    }
    assert!(contacts(&app, &admin).await.is_empty());
    let told = app
        .gql_as(
            &admin.access,
            "{ notifications(first: 10) { totalCount nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        told["data"]["notifications"]["nodes"][0]["title"],
        "Import failed"
    );
}

#[tokio::test]
async fn ten_thousand_rows_import_in_batches() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let mut csv = String::from("firstName,lastName,email,company,leadScore\n");
    for n in 0..10_000 {
        csv.push_str(&format!(
            "First{n},Last{n},person{n}@example.com,Company {},{}\n",
            n % 97,
            n % 101
        ));
    }
    let started = Instant::now();
    let run = imported(&app, &admin, csv, json!({})).await;
    let took = started.elapsed();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["total"], 10_000);
    assert_eq!(run["created"], 10_000, "{run}");
    assert_eq!(run["failed"], 0);
    eprintln!(
        "10,000-row import: {took:?} ({:.0} rows/s, this build and database)",
        10_000.0 / took.as_secs_f64()
    );
    let count = app
        .gql_as(
            &admin.access,
            "{ contacts(filter: { search: \"person9999@example.com\" }) { totalCount } all: contacts { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(count["data"]["all"]["totalCount"], 10_000, "{count}");
    assert_eq!(count["data"]["contacts"]["totalCount"], 1, "{count}");
    // Importing the same file again with SKIP changes nothing.
    let again = imported(
        &app,
        &admin,
        "email,first name,last name\nperson5@example.com,X,Y\n",
        json!({}),
    )
    .await;
    assert_eq!(again["skipped"], 1, "{again}");
}

#[tokio::test]
async fn a_run_is_seen_by_its_member_and_admins_and_never_by_another_organization() {
    let app = spawn_app().await;
    let _w = workers(&app);
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let other_member = app.member(&admin, false).await;
    let stranger = app.register().await;
    let run = imported(
        &app,
        &member,
        "email,first name,last name\nsecret@example.com,Secret,Person\n",
        json!({}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let read = |s: &Session| {
        let (app, token) = (&app, s.access.clone());
        async move {
            app.gql_as(
                &token,
                "query($id: ID!) { importRun(id: $id) { id } importRuns { totalCount } }",
                json!({ "id": id }),
            )
            .await
        }
    };
    let own = read(&member).await;
    assert_eq!(own["data"]["importRun"]["id"], id, "{own}");
    let by_admin = read(&admin).await;
    assert_eq!(by_admin["data"]["importRun"]["id"], id, "{by_admin}");
    assert_eq!(by_admin["data"]["importRuns"]["totalCount"], 1);
    for s in [&other_member, &stranger] {
        let refused = read(s).await;
        assert_eq!(error_code(&refused), Some("NOT_FOUND"), "{refused}");
        let list = app
            .gql_as(&s.access, "{ importRuns { totalCount } }", json!({}))
            .await;
        assert_eq!(list["data"]["importRuns"]["totalCount"], 0, "{list}");
    }
    let theirs = contacts(&app, &stranger).await;
    assert!(theirs.is_empty(), "an import writes only its organization");
}
