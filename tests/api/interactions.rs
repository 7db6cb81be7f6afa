//! Interactions: logging touchpoints keeps the contact's `lastInteraction` right.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::contacts::{contact, create, interact};
use crate::helpers::{error_field as field, spawn_app};

#[tokio::test]
async fn last_interaction_follows_completed_interactions() {
    let app = spawn_app().await;
    let s = app.register().await;
    let id = create(&app, &s, json!({ "firstName": "A", "lastName": "B" })).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(contact(&app, &s, &id).await["lastInteraction"].is_null());
    let old = interact(&app, &s, &id, 10, "COMPLETED", None).await;
    let newer = interact(&app, &s, &id, 2, "COMPLETED", None).await;
    interact(&app, &s, &id, -3, "SCHEDULED", None).await;
    let last = |v: &Value| v["lastInteraction"].as_str().map(|s| s.to_owned());
    assert_eq!(
        last(&contact(&app, &s, &id).await),
        newer["interactionDate"].as_str().map(|s| s.to_owned())
    );
    // Deleting the latest moves it back; restoring moves it forward again.
    app.gql_as(
        &s.access,
        "mutation($id: ID!) { deleteContactInteraction(id: $id) { id } }",
        json!({ "id": newer["id"] }),
    )
    .await;
    assert_eq!(
        last(&contact(&app, &s, &id).await),
        old["interactionDate"].as_str().map(|s| s.to_owned())
    );
    app.gql_as(
        &s.access,
        "mutation($id: ID!) { restoreContactInteraction(id: $id) { id } }",
        json!({ "id": newer["id"] }),
    )
    .await;
    assert_eq!(
        last(&contact(&app, &s, &id).await),
        newer["interactionDate"].as_str().map(|s| s.to_owned())
    );
    // Turning the latest into a cancelled one moves it back too.
    let upd = "mutation($id: ID!) { updateContactInteraction(id: $id, input: { status: CANCELLED }) { status } }";
    app.gql_as(&s.access, upd, json!({ "id": newer["id"] }))
        .await;
    assert_eq!(
        last(&contact(&app, &s, &id).await),
        old["interactionDate"].as_str().map(|s| s.to_owned())
    );

    // A completed interaction cannot be in the future; nothing is written.
    let future = (Utc::now() + Duration::days(2)).to_rfc3339();
    let body = app
        .gql_as(&s.access, "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id } }",
            json!({ "i": { "contactId": id, "interactionType": "MEETING", "interactionDate": future } }))
        .await;
    assert_eq!(field(&body), Some("interactionDate"), "{body}");
    let n = app
        .gql_as(
            &s.access,
            "query($id: ID!) { contact(id: $id) { interactionCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(n["data"]["contact"]["interactionCount"], 3);
}
