//! The views count each contact/event once, on a hand-made dataset, for one organization
//! (another organization's rows must not leak into its numbers).

use chrono::Duration;
use plugs::db::scoped::Scoped;
use plugs::db::views;
use plugs::graphql::types::{ContactPerformanceSummary, EventAnalytics};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use std::str::FromStr;

use crate::fixtures::*;
use crate::helpers::TestDb;

#[tokio::test]
async fn contact_performance_summary_counts_contacts_not_join_rows() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    let noise = tenant(&db).await;
    let day = |d: i64| now() - Duration::days(d);

    // target/hot_lead: two contacts (scores 80, 40); the first has 3 interactions (one deleted).
    let mut a = contact_model(&t);
    a.status = Set("hot_lead".into());
    a.lead_score = Set(80);
    let a = a.insert(&db).await.unwrap();
    let mut b = contact_model(&t);
    b.status = Set("hot_lead".into());
    b.lead_score = Set(40);
    let b = b.insert(&db).await.unwrap();
    for (d, deleted) in [(10, false), (3, false), (1, true)] {
        let mut i = interaction_model(&t, a.id);
        i.interaction_date = Set(day(d));
        i.is_deleted = Set(deleted);
        i.insert(&db).await.unwrap();
    }
    let _ = b;
    // plug/existing_client: one contact with one interaction.
    let mut c = contact_model(&t);
    c.contact_type = Set("plug".into());
    c.status = Set("existing_client".into());
    c.lead_score = Set(90);
    let c = c.insert(&db).await.unwrap();
    let mut i = interaction_model(&t, c.id);
    i.interaction_date = Set(day(5));
    i.insert(&db).await.unwrap();
    // A deleted contact counts nowhere.
    let mut d = contact_model(&t);
    d.status = Set("hot_lead".into());
    d.lead_score = Set(0);
    d.is_deleted = Set(true);
    d.insert(&db).await.unwrap();
    // Noise in another organization.
    let mut n = contact_model(&noise);
    n.status = Set("hot_lead".into());
    let n = n.insert(&db).await.unwrap();
    interaction_model(&noise, n.id).insert(&db).await.unwrap();

    let rows: Vec<ContactPerformanceSummary> =
        views::contact_performance(&db, Scoped::system(t.org, "the test tenant"))
            .await
            .unwrap()
            .into_iter()
            .map(Into::into)
            .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let plug = &rows[0];
    assert_eq!(plug.contact_type.to_string(), "plug");
    assert_eq!((plug.total_contacts, plug.total_interactions), (1, 1));
    assert_eq!(plug.avg_lead_score, 90.0);
    let hot = &rows[1];
    assert_eq!(hot.contact_type.to_string(), "target");
    assert_eq!(hot.status.to_string(), "hot_lead");
    // The seed's COUNT(*) would say 3 contacts and an average of 66.67.
    assert_eq!(hot.total_contacts, 2);
    assert_eq!(hot.avg_lead_score, 60.0);
    assert_eq!(hot.total_interactions, 2);
    let last = hot.last_interaction_date.expect("a last interaction");
    assert!((last - day(3).to_utc()).num_seconds().abs() < 1, "{last}");
}

#[tokio::test]
async fn event_analytics_counts_events_once_and_sums_their_expenses() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    let noise = tenant(&db).await;
    let money = |s: &str| Decimal::from_str(s).unwrap();

    // Two published conferences: one with 3 expenses (one deleted), one with none.
    let mut e1 = event_model(&t);
    e1.event_type = Set("conference".into());
    e1.status = Set("published".into());
    e1.current_attendees = Set(10);
    let e1 = e1.insert(&db).await.unwrap();
    let mut e2 = event_model(&t);
    e2.event_type = Set("conference".into());
    e2.status = Set("published".into());
    e2.current_attendees = Set(20);
    e2.insert(&db).await.unwrap();
    for (amount, deleted) in [("100.10", false), ("50.06", false), ("999.99", true)] {
        let mut x = expense_model(&t, Some(e1.id), money(amount));
        x.is_deleted = Set(deleted);
        x.insert(&db).await.unwrap();
    }
    // An expense without an event belongs to no row.
    expense_model(&t, None, money("7.00"))
        .insert(&db)
        .await
        .unwrap();
    // A draft workshop with no expenses.
    let mut e3 = event_model(&t);
    e3.event_type = Set("workshop".into());
    e3.insert(&db).await.unwrap();
    // Noise in another organization.
    let mut n = event_model(&noise);
    n.event_type = Set("conference".into());
    n.status = Set("published".into());
    let n = n.insert(&db).await.unwrap();
    expense_model(&noise, Some(n.id), money("1000.00"))
        .insert(&db)
        .await
        .unwrap();

    let rows: Vec<EventAnalytics> =
        views::event_analytics(&db, Scoped::system(t.org, "the test tenant"))
            .await
            .unwrap()
            .into_iter()
            .map(Into::into)
            .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let conf = &rows[0];
    assert_eq!(conf.event_type.to_string(), "conference");
    // The seed's COUNT(*) over the expense join would say 3 events.
    assert_eq!(conf.event_count, 2);
    assert_eq!(conf.avg_attendees, 15.0);
    assert_eq!(conf.total_expenses.to_string(), "150.16");
    assert_eq!(conf.avg_expense_per_event.to_string(), "75.08");
    let ws = &rows[1];
    assert_eq!(
        (
            ws.event_type.to_string().as_str(),
            ws.status.to_string().as_str()
        ),
        ("workshop", "draft")
    );
    assert_eq!(ws.event_count, 1);
    assert_eq!(ws.total_expenses.to_string(), "0.00");
    assert_eq!(ws.avg_expense_per_event.to_string(), "0.00");
}
