//! The attack table's vocabulary and the organization whose fresh rows each case uses.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Session, TestApp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    User,
    Contact,
    Interaction,
    Event,
    AgendaItem,
    Registration,
    Notification,
    Expense,
    Media,
    Collection,
    WebhookEndpoint,
    WebhookDelivery,
    Integration,
    ImportRun,
    PersonalDataExport,
    /// Any record (`auditLogs(filter: { recordId })`).
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Query,
    Mutation,
    Subscription,
}

/// Whether a valid call writes exactly one audit row in the caller's organization.
#[derive(Clone, Copy)]
pub(crate) enum Audit {
    /// Queries and subscriptions write none.
    Read,
    Once,
    /// Not counted here, with the reason.
    Exempt(&'static str),
}

pub(crate) type Setup = fn(Arc<Org>) -> BoxFuture<'static, Value>;

pub(crate) struct Case {
    pub(crate) field: &'static str,
    pub(crate) op: Op,
    pub(crate) doc: &'static str,
    /// Every `ID` position the document feeds: (schema position, variable, what it names).
    pub(crate) ids: &'static [(&'static str, &'static str, Kind)],
    /// Variables of a valid call on the caller's own, freshly made rows. A `__as` entry names
    /// another caller's access token (the admin's otherwise).
    pub(crate) setup: Setup,
    pub(crate) audit: Audit,
}

/// One organization, with helpers that make fresh rows through the API.
pub(crate) struct Org {
    pub(crate) app: Arc<TestApp>,
    pub(crate) admin: Session,
    pub(crate) org_id: Uuid,
}

impl Org {
    pub(crate) async fn new(app: Arc<TestApp>) -> Arc<Org> {
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
    pub(crate) async fn ok(&self, doc: &str, vars: Value) -> Value {
        let body = self.app.gql_as(&self.admin.access, doc, vars).await;
        assert!(body["errors"].is_null(), "setup failed: {doc}: {body}");
        body["data"].clone()
    }

    pub(crate) async fn id(&self, doc: &str, vars: Value, field: &str) -> String {
        let data = self.ok(doc, vars).await;
        data[field]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} returned no id: {data}"))
            .to_owned()
    }

    pub(crate) async fn member(&self) -> Session {
        self.app.member(&self.admin, false).await
    }

    /// A member invited and not yet signed in: their id.
    pub(crate) async fn invited(&self) -> String {
        let e = format!("inv-{}@iso.test", Uuid::new_v4().simple());
        self.id(
            "mutation($e: String!) { inviteUser(input: { email: $e, firstName: \"I\", lastName: \"N\" }) { id } }",
            json!({ "e": e }),
            "inviteUser",
        )
        .await
    }

    /// A fresh one-time link token of `purpose` for member `user` (as mailed).
    pub(crate) async fn link(
        &self,
        user: &str,
        purpose: plugs::services::account_mail::Purpose,
    ) -> String {
        let user = plugs::entities::users::Entity::find_by_id(user.parse::<Uuid>().unwrap())
            .one(&self.app.db)
            .await
            .unwrap()
            .unwrap();
        plugs::services::account_mail::issue(&self.app.db, &user, purpose, None)
            .await
            .unwrap()
    }

    pub(crate) async fn contact(&self) -> String {
        self.id(
            "mutation { createContact(input: { firstName: \"Own\", lastName: \"Contact\" }) { id } }",
            json!({}),
            "createContact",
        )
        .await
    }

    pub(crate) async fn interaction(&self, contact: &str) -> String {
        self.id("mutation($c: ID!) { createContactInteraction(input: { contactId: $c, interactionType: CALL, interactionDate: \"2026-01-01T00:00:00Z\" }) { id } }",
            json!({ "c": contact }), "createContactInteraction").await
    }

    pub(crate) async fn draft_event(&self) -> String {
        self.id("mutation { createEvent(input: { title: \"Own\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\", maxAttendees: 50 }) { id } }",
            json!({}), "createEvent").await
    }

    pub(crate) async fn step(&self, op: &str, event: &str) {
        self.ok(
            &format!("mutation($id: ID!) {{ {op}(id: $id) {{ id }} }}"),
            json!({ "id": event }),
        )
        .await;
    }

    pub(crate) async fn event(&self) -> String {
        let e = self.draft_event().await;
        self.step("publishEvent", &e).await;
        e
    }

    pub(crate) async fn agenda_item(&self, event: &str) -> String {
        self.id("mutation($e: ID!) { createAgendaItem(input: { eventId: $e, title: \"Talk\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }",
            json!({ "e": event }), "createAgendaItem").await
    }

    /// `user` registered (by the admin) for `event`: the registration's id.
    pub(crate) async fn registration(&self, event: &str, user: &str) -> String {
        self.id(
            "mutation($e: ID!, $u: ID!) { registerForEvent(eventId: $e, userId: $u) { id } }",
            json!({ "e": event, "u": user }),
            "registerForEvent",
        )
        .await
    }

    /// A fresh PENDING expense a member submitted (so the admin may decide on it).
    pub(crate) async fn expense(&self) -> String {
        let member = self.member().await;
        let body = self
            .app
            .gql_as(
                &member.access,
                "mutation { createExpense(input: { title: \"Own\", amount: \"10.00\", expenseDate: \"2026-11-01\" }) { id } }",
                json!({}),
            )
            .await;
        body["data"]["createExpense"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createExpense: {body}"))
            .to_owned()
    }

    /// A fresh APPROVED expense of a member's.
    pub(crate) async fn approved_expense(&self) -> String {
        let e = self.expense().await;
        self.step("approveExpense", &e).await;
        e
    }

    /// A fresh media item of the admin's (a small text file).
    pub(crate) async fn media(&self) -> String {
        let doc = "mutation($file: Upload!) { uploadMedia(file: $file) { id } }";
        let body = super::upload(&self.app, &self.admin.access, doc, json!({ "file": null })).await;
        body["data"]["uploadMedia"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("uploadMedia: {body}"))
            .to_owned()
    }

    /// Removes the organization's queued jobs of `kind`: on the suite's shared PostgreSQL
    /// another test's workers would run them and change the state this test compares.
    async fn unqueue(&self, kind: &str) {
        use plugs::entities::jobs;
        jobs::Entity::delete_many()
            .filter(jobs::Column::OrganizationId.eq(self.org_id))
            .filter(jobs::Column::Kind.eq(kind))
            .exec(&self.app.db)
            .await
            .expect("jobs removed");
    }

    /// A fresh CSV import run of the admin's, left QUEUED.
    pub(crate) async fn import_run(&self) -> String {
        let doc = "mutation($file: Upload!) { importContacts(file: $file) { id } }";
        let body = super::upload(&self.app, &self.admin.access, doc, json!({ "file": null })).await;
        self.unqueue("imports.contacts").await;
        body["data"]["importContacts"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("importContacts: {body}"))
            .to_owned()
    }

    /// A fresh personal-data export of the admin's own data, left QUEUED.
    pub(crate) async fn personal_data_export(&self) -> String {
        let id = self
            .id(
                "mutation { exportPersonalData { id } }",
                json!({}),
                "exportPersonalData",
            )
            .await;
        self.unqueue("privacy.export").await;
        id
    }

    /// A media collection of the admin's holding one fresh media item.
    pub(crate) async fn collection(&self) -> String {
        let id = self
            .id(
                "mutation { createMediaCollection(input: { name: \"Own\" }) { id } }",
                json!({}),
                "createMediaCollection",
            )
            .await;
        let media = self.media().await;
        self.ok(
            "mutation($c: ID!, $m: [ID!]!) { addToCollection(collectionId: $c, mediaIds: $m) { id } }",
            json!({ "c": id, "m": [media] }),
        )
        .await;
        id
    }

    /// A webhook endpoint of the organization (a public address; nothing is sent: no workers
    /// run in these tests).
    pub(crate) async fn webhook_endpoint(&self) -> String {
        let data = self
            .ok(
                "mutation { createWebhookEndpoint(input: { url: \"http://93.184.215.14/hook\", eventTypes: [\"contact.created\"] }) { endpoint { id } } }",
                json!({}),
            )
            .await;
        data["createWebhookEndpoint"]["endpoint"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The organization's HubSpot integration, connected (one row per provider: made once,
    /// reconnected when a case left it disconnected or deleted).
    pub(crate) async fn integration(&self) -> String {
        let connect = "mutation { connectIntegration(input: { provider: HUBSPOT, credentials: { accessToken: \"own-token\" }, settings: { baseUrl: \"http://93.184.215.14\" } }) { id } }";
        let data = self.ok("{ integrations { id status } }", json!({})).await;
        match data["integrations"].as_array().and_then(|a| a.first()) {
            Some(i) if i["status"] == "CONNECTED" || i["status"] == "ERROR" => {
                i["id"].as_str().unwrap().to_owned()
            }
            _ => self.id(connect, json!({}), "connectIntegration").await,
        }
    }

    /// The organization's HubSpot integration made and left DISCONNECTED (for a valid
    /// `connectIntegration`).
    pub(crate) async fn integration_off(&self) {
        let id = self.integration().await;
        self.step("disconnectIntegration", &id).await;
    }

    /// A delivery of a fresh endpoint (a contact created for it).
    pub(crate) async fn webhook_delivery(&self) -> String {
        let endpoint = self.webhook_endpoint().await;
        self.contact().await;
        let data = self
            .ok(
                "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id } } }",
                json!({ "e": endpoint }),
            )
            .await;
        data["webhookDeliveries"]["nodes"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no delivery: {data}"))
            .to_owned()
    }

    /// A direct upload of the admin's whose bytes have arrived (not yet completed).
    pub(crate) async fn pending_upload(&self) -> String {
        let data = self
            .ok(
                "mutation { createUpload(input: { fileName: \"notes.txt\", contentType: \"text/plain\", size: 9 }) { media { id } uploadUrl } }",
                json!({}),
            )
            .await;
        let url = data["createUpload"]["uploadUrl"].as_str().unwrap();
        let put = self
            .app
            .client
            .put(self.app.url(url))
            .body("own notes")
            .send()
            .await
            .expect("PUT answered");
        assert_eq!(put.status(), 200, "the PUT of a direct upload");
        data["createUpload"]["media"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn trashed(&self, op: &str, id: &str) -> String {
        self.step(op, id).await;
        id.to_owned()
    }

    /// A fresh notification of the admin's own.
    pub(crate) async fn notification(&self) -> String {
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

    pub(crate) async fn audit_rows(&self) -> u64 {
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

pub(crate) const NONE: &[(&str, &str, Kind)] = &[];
