//! Expenses: submission, the approval workflow (self-approval refused, two admins above the
//! organization's threshold, budget guard), races between deciders, budget reports, lists,
//! filters, summaries, notifications and the audit trail.

use serde_json::{Value, json};

use crate::helpers::{
    Session, TestApp, error_code, error_field as field, spawn_app, spawn_app_with,
};
use crate::subscriptions::{delivered, subscribed};
use crate::ws::connect_as;

pub const EXPENSE: &str =
    "id title amount currency status expenseType category expenseDate receiptUrl
    rejectionReason paymentReference approvedAt paidAt deletedAt
    event { id } createdBy { id } approvedBy { id } rejectedBy { id } paidBy { id }
    approvals { approvedAt approver { id } }";

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("")
}

pub async fn submit(app: &TestApp, s: &Session, input: Value) -> Value {
    let mut i = json!({ "title": "Taxi", "amount": "42.00", "expenseDate": "2026-11-20" });
    for (k, v) in input.as_object().unwrap() {
        i[k] = v.clone();
    }
    app.gql_as(
        &s.access,
        &format!(
            "mutation($i: CreateExpenseInput!) {{ createExpense(input: $i) {{ {EXPENSE} }} }}"
        ),
        json!({ "i": i }),
    )
    .await
}

async fn submitted(app: &TestApp, s: &Session, input: Value) -> Value {
    let body = submit(app, s, input).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createExpense"].clone()
}

async fn approve(app: &TestApp, s: &Session, id: &str, over_budget: Option<bool>) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!, $o: Boolean) {{ approveExpense(id: $id, overBudget: $o) {{ {EXPENSE} }} }}"),
        json!({ "id": id, "o": over_budget }),
    )
    .await
}

async fn reject(app: &TestApp, s: &Session, id: &str, reason: &str) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!, $r: String!) {{ rejectExpense(id: $id, reason: $r) {{ {EXPENSE} }} }}"),
        json!({ "id": id, "r": reason }),
    )
    .await
}

async fn pay(app: &TestApp, s: &Session, id: &str, reference: Option<&str>) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!, $r: String) {{ markExpensePaid(id: $id, reference: $r) {{ {EXPENSE} }} }}"),
        json!({ "id": id, "r": reference }),
    )
    .await
}

async fn op(app: &TestApp, s: &Session, name: &str, id: &str) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!) {{ {name}(id: $id) {{ {EXPENSE} }} }}"),
        json!({ "id": id }),
    )
    .await
}

async fn update(app: &TestApp, s: &Session, id: &str, input: Value) -> Value {
    app.gql_as(
        &s.access,
        &format!("mutation($id: ID!, $i: UpdateExpenseInput!) {{ updateExpense(id: $id, input: $i) {{ {EXPENSE} }} }}"),
        json!({ "id": id, "i": input }),
    )
    .await
}

/// An event with `budget` in `currency`.
async fn event(app: &TestApp, s: &Session, budget: &str, currency: &str) -> String {
    let body = app
        .gql_as(
            &s.access,
            "mutation($b: Decimal!, $c: String!) { createEvent(input: { title: \"Summit\", startDate: \"2030-01-01T18:00:00Z\",
               endDate: \"2030-01-01T21:00:00Z\", budget: $b, currency: $c }) { id } }",
            json!({ "b": budget, "c": currency }),
        )
        .await;
    body["data"]["createEvent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn audit_actions(app: &TestApp, admin: &Session, id: &str) -> Vec<String> {
    let body = app
        .gql_as(
            &admin.access,
            "query($r: ID) { auditLogs(filter: { recordId: $r }) { nodes { action } } }",
            json!({ "r": id }),
        )
        .await;
    let mut out: Vec<String> = body["data"]["auditLogs"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|n| n["action"].as_str().unwrap().to_owned())
        .collect();
    out.reverse();
    out
}

async fn notification_titles(app: &TestApp, s: &Session) -> Vec<String> {
    let body = app
        .gql_as(
            &s.access,
            "{ notifications { nodes { title } } }",
            json!({}),
        )
        .await;
    body["data"]["notifications"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_member_submits_an_admin_approves_and_pays_and_the_submitter_hears_of_each_step() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let mut ws = connect_as(&app, &member.access).await;
    subscribed(
        &mut ws,
        "n",
        "subscription { notificationReceived { title data } }",
        json!({}),
    )
    .await;

    let e = submitted(
        &app,
        &member,
        json!({ "title": "Flight to Lisbon", "amount": "120.5", "currency": "eur", "expenseType": "TRAVEL",
                "category": "Flights", "receiptUrl": "https://receipts.example/1" }),
    )
    .await;
    let id = e["id"].as_str().unwrap();
    assert_eq!(
        (
            &e["amount"],
            &e["currency"],
            &e["status"],
            &e["expenseType"]
        ),
        (
            &json!("120.50"),
            &json!("EUR"),
            &json!("PENDING"),
            &json!("TRAVEL")
        )
    );
    assert_eq!(e["createdBy"]["id"], member.user_id.as_str());
    assert_eq!(e["approvals"], json!([]));
    assert_eq!(
        notification_titles(&app, &admin).await,
        vec!["New expense to review"]
    );

    // Members do not decide.
    for body in [
        approve(&app, &member, id, None).await,
        reject(&app, &member, id, "no").await,
        pay(&app, &member, id, None).await,
    ] {
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    }
    // Paying comes after approval.
    let early = pay(&app, &admin, id, None).await;
    assert_eq!(error_code(&early), Some("BAD_USER_INPUT"), "{early}");
    assert!(
        message(&early).contains("the expense is pending"),
        "{early}"
    );

    let approved = approve(&app, &admin, id, None).await;
    let a = &approved["data"]["approveExpense"];
    assert_eq!(a["status"], "APPROVED", "{approved}");
    assert_eq!(a["approvedBy"]["id"], admin.user_id.as_str());
    assert!(a["approvedAt"].is_string());
    assert_eq!(a["approvals"][0]["approver"]["id"], admin.user_id.as_str());
    let m = delivered(&mut ws, "n").await;
    let n = &m["payload"]["data"]["notificationReceived"];
    assert_eq!(n["title"], "Expense approved", "{m}");
    assert_eq!(n["data"]["expenseId"], id);

    let paid = pay(&app, &admin, id, Some("SEPA-2026-11-42")).await;
    let p = &paid["data"]["markExpensePaid"];
    assert_eq!(p["status"], "PAID", "{paid}");
    assert_eq!(p["paymentReference"], "SEPA-2026-11-42");
    assert_eq!(p["paidBy"]["id"], admin.user_id.as_str());
    let m = delivered(&mut ws, "n").await;
    assert_eq!(
        m["payload"]["data"]["notificationReceived"]["title"],
        "Expense paid"
    );

    // A paid expense is on the books: no edit, no delete, no second payment.
    let edit = update(&app, &member, id, json!({ "amount": "1.00" })).await;
    assert_eq!(error_code(&edit), Some("BAD_USER_INPUT"), "{edit}");
    assert!(message(&edit).contains("the expense is paid"), "{edit}");
    let gone = op(&app, &admin, "deleteExpense", id).await;
    assert_eq!(error_code(&gone), Some("BAD_USER_INPUT"), "{gone}");
    let twice = pay(&app, &admin, id, None).await;
    assert_eq!(error_code(&twice), Some("CONFLICT"), "{twice}");

    assert_eq!(
        audit_actions(&app, &admin, id).await,
        vec!["CREATE", "UPDATE", "UPDATE"]
    );
    let one = app
        .gql_as(
            &member.access,
            "query($id: ID!) { expense(id: $id) { status paidAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(one["data"]["expense"]["status"], "PAID", "{one}");
}

#[tokio::test]
async fn nobody_decides_on_their_own_expense() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let other = app.member(&admin, true).await;
    let e = submitted(&app, &admin, json!({})).await;
    let id = e["id"].as_str().unwrap();
    for body in [
        approve(&app, &admin, id, None).await,
        reject(&app, &admin, id, "mine").await,
    ] {
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
        assert!(message(&body).contains("own expense"), "{body}");
    }
    let ok = approve(&app, &other, id, None).await;
    assert_eq!(ok["data"]["approveExpense"]["status"], "APPROVED", "{ok}");
    let own_pay = pay(&app, &admin, id, None).await;
    assert_eq!(error_code(&own_pay), Some("FORBIDDEN"), "{own_pay}");
    let paid = pay(&app, &other, id, None).await;
    assert_eq!(paid["data"]["markExpensePaid"]["status"], "PAID", "{paid}");
}

#[tokio::test]
async fn only_the_allowed_moves_happen_and_a_decided_expense_stays_decided() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let id = submitted(&app, &member, json!({}))
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();

    for (reason, why) in [("   ", "empty"), (&*"x".repeat(1001), "too long")] {
        let body = reject(&app, &admin, &id, reason).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{why}: {body}");
        assert_eq!(field(&body), Some("reason"), "{why}");
    }
    let rejected = reject(&app, &admin, &id, "  No receipt attached ").await;
    let r = &rejected["data"]["rejectExpense"];
    assert_eq!(r["status"], "REJECTED", "{rejected}");
    assert_eq!(r["rejectionReason"], "No receipt attached");
    assert_eq!(r["rejectedBy"]["id"], admin.user_id.as_str());
    let titles = notification_titles(&app, &member).await;
    assert_eq!(titles, vec!["Expense rejected"]);

    // Deciding again is a conflict with the decision already taken; paying a rejected
    // expense is not a move at all.
    for body in [
        approve(&app, &admin, &id, None).await,
        reject(&app, &admin, &id, "again").await,
    ] {
        assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
        assert!(message(&body).contains("already rejected"), "{body}");
    }
    let body = pay(&app, &admin, &id, None).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(message(&body).contains("the expense is rejected"), "{body}");
    let edit = update(&app, &member, &id, json!({ "title": "Retry" })).await;
    assert_eq!(error_code(&edit), Some("BAD_USER_INPUT"), "{edit}");
    assert!(message(&edit).contains("the expense is rejected"), "{edit}");
    // A rejected expense may go to the trash and come back, still rejected.
    let trashed = op(&app, &member, "deleteExpense", &id).await;
    assert!(
        trashed["data"]["deleteExpense"]["deletedAt"].is_string(),
        "{trashed}"
    );
    let back = op(&app, &member, "restoreExpense", &id).await;
    assert_eq!(
        back["data"]["restoreExpense"]["status"], "REJECTED",
        "{back}"
    );
}

#[tokio::test]
async fn submitters_edit_and_trash_their_own_pending_expenses_and_admins_anyones() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let alice = app.member(&admin, false).await;
    let bob = app.member(&admin, false).await;
    let id = submitted(&app, &alice, json!({ "category": "Food" }))
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();

    let edited = update(
        &app,
        &alice,
        &id,
        json!({ "title": "Dinner with client", "amount": "80", "category": null, "expenseType": "CATERING" }),
    )
    .await;
    let e = &edited["data"]["updateExpense"];
    assert_eq!(
        (&e["title"], &e["amount"], &e["category"], &e["expenseType"]),
        (
            &json!("Dinner with client"),
            &json!("80.00"),
            &Value::Null,
            &json!("CATERING")
        ),
        "{edited}"
    );
    for body in [
        update(&app, &bob, &id, json!({ "title": "Mine now" })).await,
        op(&app, &bob, "deleteExpense", &id).await,
    ] {
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    }
    let null_title = update(&app, &alice, &id, json!({ "title": null })).await;
    assert_eq!(field(&null_title), Some("title"), "{null_title}");
    let by_admin = update(&app, &admin, &id, json!({ "notes": "checked" })).await;
    assert!(by_admin["errors"].is_null(), "{by_admin}");

    let trashed = op(&app, &alice, "deleteExpense", &id).await;
    assert!(trashed["data"]["deleteExpense"]["deletedAt"].is_string());
    let hidden = app
        .gql_as(
            &alice.access,
            "query($id: ID!) { expense(id: $id) { id } expenses { totalCount } trash: expenses(filter: { deleted: true }) { nodes { id } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(hidden["data"]["expense"].is_null(), "{hidden}");
    assert_eq!(hidden["data"]["expenses"]["totalCount"], 0);
    assert_eq!(hidden["data"]["trash"]["nodes"][0]["id"], id.as_str());
    // A deleted expense is not decided.
    let body = approve(&app, &admin, &id, None).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let back = op(&app, &admin, "restoreExpense", &id).await;
    assert!(
        back["data"]["restoreExpense"]["deletedAt"].is_null(),
        "{back}"
    );

    // Approved: no more edits, but it can still be trashed.
    approve(&app, &admin, &id, None).await;
    let late = update(&app, &alice, &id, json!({ "amount": "81" })).await;
    assert!(message(&late).contains("the expense is approved"), "{late}");
    let trashed = op(&app, &alice, "deleteExpense", &id).await;
    assert!(trashed["errors"].is_null(), "{trashed}");
}

#[tokio::test]
async fn above_the_threshold_two_different_admins_approve() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let second = app.member(&admin, true).await;
    let member = app.member(&admin, false).await;
    let set = |v: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.gql_as(
                &admin.access,
                "mutation($s: JSON!) { updateOrganization(input: { settings: $s }) { settings } }",
                json!({ "s": v }),
            )
            .await
        }
    };
    for bad in [json!("lots"), json!(-5), json!(true)] {
        let body = set(json!({ "expenseApproval": { "secondApprovalAbove": bad } })).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{bad}: {body}");
        assert_eq!(field(&body), Some("settings"));
    }
    // A misspelt or misplaced setting would silently turn the second approval off.
    for bad in [
        json!({ "expenseApproval": 1000 }),
        json!({ "expenseApproval": { "secondApprovalAbov": "1000" } }),
    ] {
        let body = set(bad.clone()).await;
        assert_eq!(field(&body), Some("settings"), "{bad}: {body}");
    }
    let body = set(json!({ "expenseApproval": { "secondApprovalAbove": "1000.00" } })).await;
    assert!(body["errors"].is_null(), "{body}");

    let big = submitted(&app, &member, json!({ "amount": "1500.00" })).await;
    let id = big["id"].as_str().unwrap();
    let first = approve(&app, &admin, id, None).await;
    let f = &first["data"]["approveExpense"];
    assert_eq!(f["status"], "PENDING", "{first}");
    assert!(f["approvedBy"].is_null());
    assert_eq!(f["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(
        notification_titles(&app, &second).await[0],
        "Expense needs a second approval"
    );
    let again = approve(&app, &admin, id, None).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    assert!(message(&again).contains("second admin"), "{again}");
    let done = approve(&app, &second, id, None).await;
    let d = &done["data"]["approveExpense"];
    assert_eq!(d["status"], "APPROVED", "{done}");
    assert_eq!(d["approvedBy"]["id"], second.user_id.as_str());
    let approvers: Vec<&Value> = d["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["approver"]["id"])
        .collect();
    assert_eq!(
        approvers,
        vec![&json!(admin.user_id), &json!(second.user_id)]
    );
    assert_eq!(
        audit_actions(&app, &admin, id).await,
        vec!["CREATE", "UPDATE", "UPDATE"]
    );

    // At the threshold itself, one approval is enough.
    let at = submitted(&app, &member, json!({ "amount": "1000.00" })).await;
    let one = approve(&app, &admin, at["id"].as_str().unwrap(), None).await;
    assert_eq!(one["data"]["approveExpense"]["status"], "APPROVED", "{one}");

    // An edit after the first approval starts over.
    let edited = submitted(&app, &member, json!({ "amount": "2000.00" })).await;
    let eid = edited["id"].as_str().unwrap();
    approve(&app, &admin, eid, None).await;
    let body = update(&app, &member, eid, json!({ "amount": "1900.00" })).await;
    assert_eq!(
        body["data"]["updateExpense"]["approvals"],
        json!([]),
        "{body}"
    );
    let body = approve(&app, &second, eid, None).await;
    assert_eq!(
        body["data"]["approveExpense"]["status"], "PENDING",
        "{body}"
    );
}

/// The event's spending as a member sees it.
async fn report(app: &TestApp, s: &Session, ev: &str) -> Value {
    let body = app
        .gql_as(
            &s.access,
            "query($id: ID!) { event(id: $id) { totalExpenses budgetReport { budget currency spent pending remaining overBudget
               byType { expenseType amount } } expenses { totalCount nodes { id status } } } }",
            json!({ "id": ev }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["event"].clone()
}

#[tokio::test]
async fn the_budget_report_counts_approved_and_paid_as_spent_and_guards_the_budget() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let ev = event(&app, &admin, "1000", "EUR").await;
    let mut ids = Vec::new();
    for (amount, ty) in [
        ("300.00", "CATERING"),
        ("200.00", "VENUE"),
        ("150.00", "CATERING"),
        ("400.00", "MARKETING"),
        ("75.25", "TRAVEL"),
    ] {
        let e = submitted(
            &app,
            &member,
            json!({ "eventId": ev, "amount": amount, "expenseType": ty }),
        )
        .await;
        assert_eq!(
            e["currency"], "EUR",
            "an event's expense takes its currency"
        );
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    approve(&app, &admin, &ids[0], None).await;
    approve(&app, &admin, &ids[1], None).await;
    pay(&app, &admin, &ids[1], None).await;
    reject(&app, &admin, &ids[3], "not this year").await;
    // An approved expense in the trash does not count.
    approve(&app, &admin, &ids[4], None).await;
    op(&app, &admin, "deleteExpense", &ids[4]).await;

    let r = report(&app, &member, &ev).await;
    assert_eq!(r["totalExpenses"], "500.00");
    assert_eq!(
        r["budgetReport"],
        json!({ "budget": "1000.00", "currency": "EUR", "spent": "500.00", "pending": "150.00",
                "remaining": "500.00", "overBudget": false,
                "byType": [{ "expenseType": "CATERING", "amount": "300.00" }, { "expenseType": "VENUE", "amount": "200.00" }] })
    );
    assert_eq!(r["expenses"]["totalCount"], 4);

    // 500 spent + 600 > 1000: refused without overBudget, nothing changes.
    let big = submitted(&app, &member, json!({ "eventId": ev, "amount": "600.00" })).await;
    let big = big["id"].as_str().unwrap();
    let refused = approve(&app, &admin, big, None).await;
    assert_eq!(error_code(&refused), Some("BUDGET_EXCEEDED"), "{refused}");
    assert!(message(&refused).contains("overBudget"), "{refused}");
    assert_eq!(report(&app, &member, &ev).await["totalExpenses"], "500.00");
    let body = approve(&app, &admin, big, Some(false)).await;
    assert_eq!(error_code(&body), Some("BUDGET_EXCEEDED"));
    // Exactly up to the budget is fine.
    let fits = submitted(&app, &member, json!({ "eventId": ev, "amount": "500.00" })).await;
    let fits_id = fits["id"].as_str().unwrap().to_owned();
    let body = approve(&app, &admin, &fits_id, None).await;
    assert_eq!(
        body["data"]["approveExpense"]["status"], "APPROVED",
        "{body}"
    );
    let body = approve(&app, &admin, big, Some(true)).await;
    assert_eq!(
        body["data"]["approveExpense"]["status"], "APPROVED",
        "{body}"
    );
    let r = report(&app, &member, &ev).await;
    assert_eq!(r["budgetReport"]["spent"], "1600.00");
    assert_eq!(r["budgetReport"]["remaining"], "-600.00");
    assert_eq!(r["budgetReport"]["overBudget"], true);
    // Restoring the trashed approved expense would add to an exceeded budget: only an
    // admin, saying so, may.
    let body = op(&app, &admin, "restoreExpense", &ids[4]).await;
    assert_eq!(error_code(&body), Some("BUDGET_EXCEEDED"), "{body}");
    let restore = "mutation($id: ID!) { restoreExpense(id: $id, overBudget: true) { deletedAt } }";
    let body = app
        .gql_as(&member.access, restore, json!({ "id": ids[4] }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let body = app
        .gql_as(&admin.access, restore, json!({ "id": ids[4] }))
        .await;
    assert!(
        body["data"]["restoreExpense"]["deletedAt"].is_null(),
        "{body}"
    );
    assert_eq!(report(&app, &member, &ev).await["totalExpenses"], "1675.25");

    // Currency: an event's expenses are in its currency, and it cannot change under them.
    let usd = submit(&app, &member, json!({ "eventId": ev, "currency": "USD" })).await;
    assert_eq!(field(&usd), Some("currency"), "{usd}");
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateEvent(id: $id, input: { currency: \"USD\" }) { currency } }",
            json!({ "id": ev }),
        )
        .await;
    assert_eq!(field(&body), Some("currency"), "{body}");
    // An amount keeps its currency: moving a USD expense to this EUR event is refused unless
    // the client restates the currency.
    let loose_usd = submitted(&app, &member, json!({ "currency": "USD" })).await;
    let lid = loose_usd["id"].as_str().unwrap();
    let body = update(&app, &member, lid, json!({ "eventId": ev })).await;
    assert_eq!(field(&body), Some("currency"), "{body}");
    let body = update(
        &app,
        &member,
        lid,
        json!({ "eventId": ev, "currency": "EUR" }),
    )
    .await;
    assert_eq!(body["data"]["updateExpense"]["currency"], "EUR", "{body}");
    // Moving an expense to no event keeps its currency.
    let loose = submitted(&app, &member, json!({ "eventId": ev })).await;
    let body = update(
        &app,
        &member,
        loose["id"].as_str().unwrap(),
        json!({ "eventId": null }),
    )
    .await;
    let moved = &body["data"]["updateExpense"];
    assert!(moved["event"].is_null(), "{body}");
    assert_eq!(moved["currency"], "EUR");
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_nothing_is_kept() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let stranger = app.register().await;
    let foreign_event = event(&app, &stranger, "10", "USD").await;
    for (input, f) in [
        (json!({ "amount": "-0.01" }), "amount"),
        (json!({ "amount": "10000000000.00" }), "amount"),
        (json!({ "amount": "1.005" }), "amount"),
        (json!({ "currency": "US" }), "currency"),
        (json!({ "currency": "U$D" }), "currency"),
        (json!({ "receiptUrl": "javascript:alert(1)" }), "receiptUrl"),
        (json!({ "title": "  " }), "title"),
        (json!({ "category": "c".repeat(51) }), "category"),
        (json!({ "metadata": [1] }), "metadata"),
    ] {
        let body = submit(&app, &admin, input.clone()).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{input}: {body}");
        assert_eq!(field(&body), Some(f), "{input}: {body}");
    }
    let body = submit(&app, &admin, json!({ "eventId": foreign_event })).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let body = submit(&app, &admin, json!({ "expenseDate": "2026-02-30" })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = app
        .gql_as(&admin.access, "{ expenses { totalCount } }", json!({}))
        .await;
    assert_eq!(body["data"]["expenses"]["totalCount"], 0, "nothing kept");
    // Money round-trips at both ends of its range.
    for amount in ["0.10", "9999999999.99", "0"] {
        let e = submitted(&app, &admin, json!({ "amount": amount })).await;
        let expected = if amount == "0" { "0.00" } else { amount };
        assert_eq!(e["amount"], expected);
    }
}

/// Two admins deciding the same expense at once: exactly one decision lands, the other is a
/// CONFLICT, and the audit trail holds one decision.
#[tokio::test]
async fn racing_decisions_on_one_expense_leave_exactly_one_winner() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let a = app.member(&admin, true).await;
    let b = app.member(&admin, true).await;
    let member = app.member(&admin, false).await;
    for round in 0..6 {
        let id = submitted(&app, &member, json!({}))
            .await
            .get("id")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        let (x, y) = if round % 2 == 0 {
            tokio::join!(
                approve(&app, &a, &id, None),
                reject(&app, &b, &id, "duplicate")
            )
        } else {
            tokio::join!(approve(&app, &a, &id, None), approve(&app, &b, &id, None))
        };
        let ok = [&x, &y].iter().filter(|r| r["errors"].is_null()).count();
        assert_eq!(ok, 1, "round {round}: {x} / {y}");
        let loser = if x["errors"].is_null() { &y } else { &x };
        assert_eq!(
            error_code(loser),
            Some("CONFLICT"),
            "round {round}: {loser}"
        );
        assert_eq!(
            audit_actions(&app, &admin, &id).await,
            vec!["CREATE", "UPDATE"],
            "round {round}"
        );
    }
    // Two payments of one approved expense: one lands.
    let id = submitted(&app, &member, json!({}))
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    approve(&app, &a, &id, None).await;
    let (x, y) = tokio::join!(pay(&app, &a, &id, None), pay(&app, &b, &id, None));
    let codes = [error_code(&x), error_code(&y)];
    assert!(
        codes.contains(&None) && codes.contains(&Some("CONFLICT")),
        "{x} / {y}"
    );
}

/// Approvals racing on one event never take its spending over budget together.
#[tokio::test]
async fn racing_approvals_on_one_event_stay_within_its_budget() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let a = app.member(&admin, true).await;
    let member = app.member(&admin, false).await;
    let ev = event(&app, &admin, "1000", "USD").await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let e = submitted(&app, &member, json!({ "eventId": ev, "amount": "300.00" })).await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    let calls = ids.iter().enumerate().map(|(i, id)| {
        let (app, s) = (&app, if i % 2 == 0 { &admin } else { &a });
        async move { approve(app, s, id, None).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let approved = results.iter().filter(|r| r["errors"].is_null()).count();
    assert_eq!(approved, 3, "300 x 3 fits 1000, a fourth does not");
    for r in results.iter().filter(|r| !r["errors"].is_null()) {
        assert_eq!(error_code(r), Some("BUDGET_EXCEEDED"), "{r}");
    }
    let body = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { event(id: $id) { totalExpenses budgetReport { pending overBudget } } }",
            json!({ "id": ev }),
        )
        .await;
    assert_eq!(body["data"]["event"]["totalExpenses"], "900.00", "{body}");
    assert_eq!(body["data"]["event"]["budgetReport"]["pending"], "900.00");
    assert_eq!(body["data"]["event"]["budgetReport"]["overBudget"], false);
}

#[tokio::test]
async fn lists_filter_order_and_page_and_the_summary_never_adds_currencies() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let ev = event(&app, &admin, "5000", "EUR").await;
    let rows = [
        (
            "Hotel Porto",
            "250.00",
            "ACCOMMODATION",
            "2026-09-03",
            Some(&ev),
            "Lodging",
        ),
        ("Taxi", "18.40", "TRAVEL", "2026-09-04", Some(&ev), "Ground"),
        (
            "Banner print",
            "99.99",
            "MARKETING",
            "2026-10-01",
            None,
            "Print",
        ),
        (
            "Team lunch",
            "64.00",
            "CATERING",
            "2026-10-15",
            None,
            "Food",
        ),
        (
            "Conference booth",
            "1200.00",
            "VENUE",
            "2026-10-20",
            None,
            "Booths",
        ),
    ];
    let mut ids = Vec::new();
    for (title, amount, ty, date, event, category) in rows {
        let e = submitted(
            &app,
            &member,
            json!({ "title": title, "amount": amount, "expenseType": ty, "expenseDate": date,
                    "eventId": event, "category": category }),
        )
        .await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    approve(&app, &admin, &ids[0], None).await;
    reject(&app, &admin, &ids[2], "no").await;

    let titles = |body: &Value| -> Vec<String> {
        body["data"]["expenses"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |filter: Value, order: Value| {
        let (app, token) = (&app, admin.access.clone());
        async move {
            app.gql_as(
                &token,
                "query($f: ExpenseFilter, $o: [ExpenseOrder!]) { expenses(filter: $f, orderBy: $o) { totalCount nodes { title } } }",
                json!({ "f": filter, "o": order }),
            )
            .await
        }
    };
    // Default: latest expense date first.
    let all = list(json!({}), Value::Null).await;
    assert_eq!(
        titles(&all),
        vec![
            "Conference booth",
            "Team lunch",
            "Banner print",
            "Taxi",
            "Hotel Porto"
        ]
    );
    for (filter, expected) in [
        (json!({ "eventId": ev }), vec!["Taxi", "Hotel Porto"]),
        (
            json!({ "status": ["APPROVED", "REJECTED"] }),
            vec!["Banner print", "Hotel Porto"],
        ),
        (json!({ "expenseType": ["CATERING"] }), vec!["Team lunch"]),
        (
            json!({ "dateFrom": "2026-09-04", "dateTo": "2026-10-15" }),
            vec!["Team lunch", "Banner print", "Taxi"],
        ),
        (
            json!({ "amountMin": "64", "amountMax": "250" }),
            vec!["Team lunch", "Banner print", "Hotel Porto"],
        ),
        (json!({ "search": "PORTO" }), vec!["Hotel Porto"]),
        (json!({ "category": "food" }), vec!["Team lunch"]),
        (json!({ "createdBy": admin.user_id }), vec![]),
    ] {
        let body = list(filter.clone(), Value::Null).await;
        assert_eq!(titles(&body), expected, "{filter}");
        assert_eq!(
            body["data"]["expenses"]["totalCount"],
            expected.len(),
            "{filter}"
        );
    }
    let bad = list(json!({ "amountMin": "-1" }), Value::Null).await;
    assert_eq!(field(&bad), Some("amountMin"), "{bad}");

    // Amount order, paged two at a time with cursors, both ways.
    let page = |after: Option<String>| {
        let (app, token) = (&app, admin.access.clone());
        async move {
            app.gql_as(
                &token,
                "query($a: String) { expenses(first: 2, after: $a, orderBy: [{ field: AMOUNT, direction: ASC }]) {
                   pageInfo { hasNextPage endCursor } nodes { amount } } }",
                json!({ "a": after }),
            )
            .await
        }
    };
    let mut amounts = Vec::new();
    let mut after = None;
    loop {
        let body = page(after).await;
        let conn = &body["data"]["expenses"];
        for n in conn["nodes"].as_array().unwrap_or_else(|| panic!("{body}")) {
            amounts.push(n["amount"].as_str().unwrap().to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(amounts, ["18.40", "64.00", "99.99", "250.00", "1200.00"]);
    let by_created = list(
        json!({}),
        json!([{ "field": "CREATED_AT", "direction": "ASC" }]),
    )
    .await;
    assert_eq!(titles(&by_created)[0], "Hotel Porto");

    // The summary: per currency, never mixed; REJECTED only under byStatus.
    let body = app
        .gql_as(
            &admin.access,
            "{ expenseSummary { total { currency amount count } byStatus { status currency amount count }
               byType { expenseType currency amount } byCategory { category currency amount } byMonth { month currency amount count } } }",
            json!({}),
        )
        .await;
    let s = &body["data"]["expenseSummary"];
    assert_eq!(
        s["total"],
        json!([{ "currency": "EUR", "amount": "268.40", "count": 2 }, { "currency": "USD", "amount": "1264.00", "count": 2 }]),
        "{body}"
    );
    assert!(
        s["byStatus"].as_array().unwrap().contains(
            &json!({ "status": "REJECTED", "currency": "USD", "amount": "99.99", "count": 1 })
        ),
        "{body}"
    );
    assert_eq!(
        s["byMonth"],
        json!([{ "month": "2026-09", "currency": "EUR", "amount": "268.40", "count": 2 },
               { "month": "2026-10", "currency": "USD", "amount": "1264.00", "count": 2 }])
    );
    let filtered = app
        .gql_as(
            &admin.access,
            "query($e: ID) { expenseSummary(filter: { eventId: $e }) { byType { expenseType amount } } }",
            json!({ "e": ev }),
        )
        .await;
    assert_eq!(
        filtered["data"]["expenseSummary"]["byType"],
        json!([{ "expenseType": "ACCOMMODATION", "amount": "250.00" }, { "expenseType": "TRAVEL", "amount": "18.40" }])
    );
}

/// `Event.expenses`, `totalExpenses`, `budgetReport` and the expenses' relations on a page of
/// events: the statements do not grow with the page.
#[tokio::test]
async fn event_expenses_and_budgets_are_batched_across_a_page_of_events() {
    let app = spawn_app_with(|c| c.loader_delay = std::time::Duration::from_millis(100)).await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    for i in 0..8 {
        let ev = event(&app, &admin, "100", "USD").await;
        for j in 0..(i % 3 + 1) {
            let e = submitted(
                &app,
                &member,
                json!({ "eventId": ev, "amount": format!("{}.00", j + 1) }),
            )
            .await;
            if j == 0 {
                approve(&app, &admin, e["id"].as_str().unwrap(), None).await;
            }
        }
    }
    let q = "query($n: Int) { events(first: $n) { nodes { id totalExpenses budgetReport { spent pending byType { amount } }
        expenses(first: 2) { totalCount nodes { amount event { id } createdBy { id } approvedBy { id } approvals { approver { id } } } } } } }";
    let mut deltas = Vec::new();
    for n in [2, 8] {
        let (body, statements) = app.counted(&admin.access, q, json!({ "n": n })).await;
        assert!(body["errors"].is_null(), "{body}");
        let events = body["data"]["events"]["nodes"].as_array().unwrap();
        assert_eq!(events.len(), n as usize);
        for e in events {
            assert_eq!(e["budgetReport"]["spent"], e["totalExpenses"]);
            assert_eq!(e["totalExpenses"], "1.00", "{e}");
        }
        deltas.push(statements);
    }
    // Levels: events (+ session), then spending, expense pages and counts, then users,
    // events and approvals of the expenses.
    assert!(deltas.iter().all(|d| *d <= 10), "{deltas:?}");
    assert!(deltas[1] <= deltas[0] + 2, "flat in page size: {deltas:?}");
}
