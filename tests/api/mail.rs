//! Accounts by e-mail, seen from the member's side: a real SMTP conversation with a local sink
//! (below) captures what the server mails, and the tests follow the links in it.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, error_code, error_field, spawn_app};

/// One message the sink received.
#[derive(Clone, Debug)]
pub struct Captured {
    pub to: Vec<String>,
    /// The DATA section, quoted-printable soft breaks and escapes undone.
    pub data: String,
}

/// A minimal SMTP server (RFC 5321's commands lettre uses) on its own thread and runtime, so it
/// outlives every test's runtime; one per test process.
pub struct Sink {
    addr: std::net::SocketAddr,
    mail: Arc<(Mutex<Vec<Captured>>, Condvar)>,
}

pub fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("the SMTP sink binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mail: Arc<(Mutex<Vec<Captured>>, Condvar)> = Arc::default();
        let store = mail.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(converse(socket, store.clone()));
                }
            });
        });
        Sink { addr, mail }
    })
}

async fn converse(socket: tokio::net::TcpStream, store: Arc<(Mutex<Vec<Captured>>, Condvar)>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 plugs-test-sink ESMTP\r\n").await;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-plugs-test-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") {
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            let addr = line[8..]
                .trim()
                .trim_start_matches(':')
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            to.push(addr);
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let (list, ready) = &*store;
            list.lock().unwrap().push(Captured {
                to: std::mem::take(&mut to),
                data: unquote(&data),
            });
            ready.notify_all();
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Quoted-printable undone: soft line breaks removed, `=XX` decoded.
fn unquote(data: &str) -> String {
    let joined = data.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Sink {
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Captured> {
        let list = self.mail.0.lock().unwrap();
        list.iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .cloned()
            .collect()
    }

    /// Waits (up to 30 s) until `address` has received `n` messages; they all.
    pub fn wait_for(&self, address: &str, n: usize) -> Vec<Captured> {
        let (list, ready) = &*self.mail;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut guard = list.lock().unwrap();
        loop {
            let got: Vec<Captured> = guard
                .iter()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
                .cloned()
                .collect();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no mail #{n} to {address} within 30 s; got {got:?}"
            );
            guard = ready.wait_timeout(guard, left).unwrap().0;
        }
    }
}

/// Waits for mail without blocking the test's runtime.
pub async fn mail_to(address: &str, n: usize) -> Vec<Captured> {
    let address = address.to_owned();
    tokio::task::spawn_blocking(move || sink().wait_for(&address, n))
        .await
        .unwrap()
}

/// The token of the link to `path` in a message.
pub fn token_in(mail: &Captured, path: &str) -> String {
    let marker = format!("{path}?token=");
    let start = mail
        .data
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {}", mail.data))
        + marker.len();
    mail.data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect()
}

/// Mail workers: sending, notification e-mail, reset requests.
pub fn mail_workers(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    use plugs::jobs::kinds::{EmailNotification, PasswordResetRequest, SendMail};
    let registry = plugs::jobs::Registry::default()
        .with::<SendMail>()
        .with::<EmailNotification>()
        .with::<PasswordResetRequest>();
    app.job_workers(app.db.clone(), registry, 1, false)
}

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@mail.test", uuid::Uuid::new_v4().simple())
}

async fn invite(app: &TestApp, admin: &Session, email: &str) -> Value {
    app.gql_as(
        &admin.access,
        "mutation($e: String!) { inviteUser(input: { email: $e, firstName: \"Ivy\", lastName: \"Newcomer\" }) {
            id email isVerified invitationPending } }",
        json!({ "e": email }),
    )
    .await
}

const ACCEPT: &str =
    "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) {
    accessToken refreshToken user { id email isVerified invitationPending } } }";

#[tokio::test]
async fn an_invitation_link_works_once_signs_the_member_in_and_can_be_resent_or_revoked() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let email = unique_email("ivy");
    let body = invite(&app, &admin, &email).await;
    let user = &body["data"]["inviteUser"];
    assert_eq!(user["invitationPending"], true, "{body}");
    assert_eq!(user["isVerified"], false);
    // No password works before the invitation is accepted.
    let refused = app.login(&email, PASSWORD, None).await;
    assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");

    let mail = &mail_to(&email, 1).await[0];
    assert!(mail.data.contains("invited you to"), "{}", mail.data);
    assert!(
        mail.data.contains("text/html"),
        "both bodies: {}",
        mail.data
    );
    let token = token_in(mail, "/accept-invitation");

    let short = app
        .graphql(ACCEPT, json!({ "t": token, "p": "short" }))
        .await;
    assert_eq!(error_field(&short), Some("password"), "{short}");
    let accepted = app
        .graphql(ACCEPT, json!({ "t": token, "p": PASSWORD }))
        .await;
    let payload = &accepted["data"]["acceptInvitation"];
    assert_eq!(payload["user"]["email"], email.as_str(), "{accepted}");
    assert_eq!(payload["user"]["invitationPending"], false);
    assert_eq!(
        payload["user"]["isVerified"], true,
        "the link reached the address"
    );
    let me = app
        .gql_as(
            payload["accessToken"].as_str().unwrap(),
            "{ me { id } }",
            json!({}),
        )
        .await;
    assert_eq!(me["data"]["me"]["id"], user["id"], "{me}");
    assert!(app.login(&email, PASSWORD, None).await["data"]["login"]["accessToken"].is_string());

    // Used once: the same link is refused, as are altered and made-up ones, all alike.
    let again = app
        .graphql(ACCEPT, json!({ "t": token, "p": PASSWORD }))
        .await;
    assert_eq!(error_field(&again), Some("token"), "{again}");
    let mut altered = token.clone();
    altered.pop();
    altered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [altered.as_str(), "nonsense", "0123.4567"] {
        let r = app
            .graphql(ACCEPT, json!({ "t": bad, "p": PASSWORD }))
            .await;
        assert_eq!(error_field(&r), Some("token"), "{r}");
        assert_eq!(r["errors"][0]["message"], again["errors"][0]["message"]);
    }
    // An accepted invitation cannot be resent.
    let resend = "mutation($u: ID!) { resendInvitation(userId: $u) { id } }";
    let r = app
        .gql_as(&admin.access, resend, json!({ "u": user["id"] }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");

    // Resent: the new link works, the first one no longer does.
    let other = unique_email("oz");
    let invited = invite(&app, &admin, &other).await;
    let other_id = invited["data"]["inviteUser"]["id"].clone();
    let first = token_in(&mail_to(&other, 1).await[0], "/accept-invitation");
    let r = app
        .gql_as(&admin.access, resend, json!({ "u": other_id }))
        .await;
    assert_eq!(r["data"]["resendInvitation"]["id"], other_id, "{r}");
    let second = token_in(&mail_to(&other, 2).await[1], "/accept-invitation");
    assert_ne!(first, second);
    let stale = app
        .graphql(ACCEPT, json!({ "t": first, "p": PASSWORD }))
        .await;
    assert_eq!(error_field(&stale), Some("token"), "{stale}");

    // Revoked: the member is deleted and the link is dead.
    let r = app
        .gql_as(
            &admin.access,
            "mutation($u: ID!) { revokeInvitation(userId: $u) { id deletedAt } }",
            json!({ "u": other_id }),
        )
        .await;
    assert!(
        r["data"]["revokeInvitation"]["deletedAt"].is_string(),
        "{r}"
    );
    let dead = app
        .graphql(ACCEPT, json!({ "t": second, "p": PASSWORD }))
        .await;
    assert_eq!(error_field(&dead), Some("token"), "{dead}");

    // Members do not invite.
    let member = app.member(&admin, false).await;
    let r = invite(&app, &member, &unique_email("no")).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let email = unique_email("late");
    invite(&app, &admin, &email).await;
    let token = token_in(&mail_to(&email, 1).await[0], "/accept-invitation");
    let id: uuid::Uuid = token.split('.').next().unwrap().parse().unwrap();
    let row = plugs::entities::account_tokens::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut a: plugs::entities::account_tokens::ActiveModel = row.into();
    a.expires_at = Set((chrono::Utc::now() - chrono::Duration::days(2)).fixed_offset());
    a.update(&app.db).await.unwrap();
    let r = app
        .graphql(ACCEPT, json!({ "t": token, "p": PASSWORD }))
        .await;
    assert_eq!(error_field(&r), Some("token"), "{r}");
    // A day past its expiry, the hourly job deletes it.
    use plugs::jobs::Job as _;
    plugs::jobs::kinds::PurgeAccountTokens {}
        .run(app.job_context())
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let gone = plugs::entities::account_tokens::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap();
    assert!(gone.is_none());
}

const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) }";

#[tokio::test]
async fn sign_up_and_a_changed_address_are_verified_by_a_mailed_link_once() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let me = "{ me { isVerified verifiedAt } }";
    let before = app.gql_as(&admin.access, me, json!({})).await;
    assert_eq!(before["data"]["me"]["isVerified"], false, "{before}");
    let mail = &mail_to(&admin.email, 1).await[0];
    assert!(
        mail.data.contains("Confirm your e-mail address"),
        "{}",
        mail.data
    );
    let token = token_in(mail, "/verify-email");
    let ok = app.graphql(VERIFY, json!({ "t": token })).await;
    assert_eq!(ok["data"]["verifyEmail"], true, "{ok}");
    let after = app.gql_as(&admin.access, me, json!({})).await;
    assert_eq!(after["data"]["me"]["isVerified"], true, "{after}");
    assert!(after["data"]["me"]["verifiedAt"].is_string());
    let again = app.graphql(VERIFY, json!({ "t": token })).await;
    assert_eq!(error_field(&again), Some("token"), "{again}");

    // An admin changes a member's address: unverified again, a link goes to the new address.
    let member = app.member(&admin, false).await;
    let new_address = unique_email("moved");
    let r = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: { email: $e }) { isVerified } }",
            json!({ "id": member.user_id, "e": new_address }),
        )
        .await;
    assert_eq!(r["data"]["updateUser"]["isVerified"], false, "{r}");
    let token = token_in(&mail_to(&new_address, 1).await[0], "/verify-email");
    let ok = app.graphql(VERIFY, json!({ "t": token })).await;
    assert_eq!(ok["data"]["verifyEmail"], true, "{ok}");
    let r = app
        .gql_as(&member.access, "{ me { email isVerified } }", json!({}))
        .await;
    assert_eq!(r["data"]["me"]["isVerified"], true, "{r}");

    // Already verified: nothing to resend.
    let r = app
        .gql_as(&member.access, "mutation { resendVerification }", json!({}))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
}

const REQUEST: &str =
    "mutation($e: String!, $d: String) { requestPasswordReset(email: $e, organizationDomain: $d) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_unknown_addresses_look_the_same() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let second_session = app.login(&member.email, PASSWORD, None).await;
    let second_refresh = second_session["data"]["login"]["refreshToken"].clone();
    let mut socket = crate::ws::connect_as(&app, &member.access).await;
    crate::ws::subscribe(
        &mut socket,
        "n",
        "subscription { notificationReceived { id } }",
        json!({}),
    )
    .await;

    let known = app
        .graphql(REQUEST, json!({ "e": member.email, "d": member.domain }))
        .await;
    let nobody = unique_email("nobody");
    let unknown = app.graphql(REQUEST, json!({ "e": nobody })).await;
    assert_eq!(
        known, unknown,
        "the same answer whether or not the address exists"
    );
    assert_eq!(known["data"]["requestPasswordReset"], true, "{known}");

    let mail = &mail_to(&member.email, 1).await[0];
    assert!(mail.data.contains("Reset your password"), "{}", mail.data);
    let token = token_in(mail, "/reset-password");
    let new_password = "a brand new password";
    let ok = app
        .graphql(RESET, json!({ "t": token, "p": new_password }))
        .await;
    assert_eq!(ok["data"]["resetPassword"], true, "{ok}");

    // Every session ended: sockets, access tokens and refresh tokens alike.
    let (code, reason) = crate::ws::expect_close(&mut socket).await;
    assert_eq!(code, 4403, "{reason}");
    let r = app.gql_as(&member.access, "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let r = app
        .graphql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": second_refresh }),
        )
        .await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let old = app.login(&member.email, PASSWORD, None).await;
    assert_eq!(error_code(&old), Some("UNAUTHENTICATED"), "{old}");
    let new = app.login(&member.email, new_password, None).await;
    assert!(new["data"]["login"]["accessToken"].is_string(), "{new}");

    let again = app
        .graphql(RESET, json!({ "t": token, "p": "yet another one" }))
        .await;
    assert_eq!(error_field(&again), Some("token"), "{again}");

    // The request for the unknown address ran and mailed nobody.
    wait_jobs_done(&app, "accounts.password_reset").await;
    assert!(sink().to(&nobody).is_empty());
}

/// Waits until no job of `kind` is waiting or running (the shared database included).
async fn wait_jobs_done(app: &TestApp, kind: &str) {
    use plugs::entities::jobs;
    for _ in 0..300 {
        let open = jobs::Entity::find()
            .filter(jobs::Column::Kind.eq(kind))
            .filter(jobs::Column::State.is_in(["available", "running"]))
            .all(&app.db)
            .await
            .unwrap();
        if open.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{kind} jobs still open after 30 s");
}

#[tokio::test]
async fn reset_requests_are_limited_per_address() {
    let app = spawn_app().await;
    let email = unique_email("hammer");
    for i in 0..10 {
        let r = app.graphql(REQUEST, json!({ "e": email })).await;
        assert_eq!(r["data"]["requestPasswordReset"], true, "request {i}: {r}");
    }
    let r = app.graphql(REQUEST, json!({ "e": email })).await;
    assert_eq!(error_code(&r), Some("RATE_LIMITED"), "{r}");
    assert!(r["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn email_notifications_follow_the_channel_and_the_members_preferences() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let send = "mutation($u: [ID!], $c: NotificationChannel, $t: String!) {
        sendNotification(input: { userIds: $u, title: $t, message: \"Body <b>text</b>\", channel: $c }) }";
    let r = app
        .gql_as(
            &admin.access,
            send,
            json!({ "u": [member.user_id], "c": "EMAIL", "t": "Mailed one" }),
        )
        .await;
    assert_eq!(r["data"]["sendNotification"], 1, "{r}");
    let mail = &mail_to(&member.email, 1).await[0];
    assert!(mail.data.contains("Subject: Mailed one"), "{}", mail.data);
    assert!(
        mail.data.contains("Body &lt;b&gt;text&lt;/b&gt;"),
        "escaped in HTML"
    );
    let list = app
        .gql_as(
            &member.access,
            "{ notifications { nodes { title channel } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["data"]["notifications"]["nodes"][0]["channel"], "EMAIL",
        "{list}"
    );

    // IN_APP INFO is not mailed by default; SMS has no provider.
    app.gql_as(
        &admin.access,
        send,
        json!({ "u": [member.user_id], "c": "IN_APP", "t": "In the app only" }),
    )
    .await;
    let r = app
        .gql_as(
            &admin.access,
            send,
            json!({ "u": [member.user_id], "c": "SMS", "t": "x" }),
        )
        .await;
    assert_eq!(error_field(&r), Some("channel"), "{r}");

    // The member turns e-mail off: an EMAIL notification stays in the app.
    let prefs = app
        .gql_as(
            &member.access,
            "mutation { updateNotificationPreferences(input: { emailEnabled: false }) { emailEnabled emailTypes } }",
            json!({}),
        )
        .await;
    assert_eq!(
        prefs["data"]["updateNotificationPreferences"],
        json!({ "emailEnabled": false, "emailTypes": ["REMINDER"] }),
        "{prefs}"
    );
    app.gql_as(
        &admin.access,
        send,
        json!({ "u": [member.user_id], "c": "EMAIL", "t": "Not mailed" }),
    )
    .await;
    // Info by e-mail for the admin, who keeps e-mail on: that one is mailed.
    app.gql_as(
        &admin.access,
        "mutation { updateNotificationPreferences(input: { emailTypes: [INFO, REMINDER] }) { emailEnabled } }",
        json!({}),
    )
    .await;
    app.gql_as(
        &admin.access,
        send,
        json!({ "u": [admin.user_id], "c": "IN_APP", "t": "Info by preference" }),
    )
    .await;
    let admin_mail = mail_to(&admin.email, 2).await;
    assert!(
        admin_mail
            .iter()
            .any(|m| m.data.contains("Info by preference")),
        "{admin_mail:?}"
    );
    wait_jobs_done(&app, "notifications.email").await;
    let got = sink().to(&member.email);
    assert_eq!(got.len(), 1, "only the first was mailed: {got:?}");
}

#[tokio::test]
async fn registrants_are_reminded_once_24_hours_before_an_event_and_cancelled_ones_never() {
    let app = spawn_app().await;
    let _workers = mail_workers(&app);
    let admin = app.register().await;
    let going = app.member(&admin, false).await;
    let cancelled = app.member(&admin, false).await;
    // Far in the future, so that no other test's event shares the reminder window.
    let start = chrono::Utc::now() + chrono::Duration::days(36_000 + rand_days());
    let event = |title: &str, start: chrono::DateTime<chrono::Utc>| {
        json!({ "i": { "title": title, "eventType": "MEETING", "startDate": start.to_rfc3339(),
                 "endDate": (start + chrono::Duration::hours(2)).to_rfc3339(), "timezone": "UTC" } })
    };
    let create = "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }";
    let mut ids = Vec::new();
    for (title, at) in [
        ("Soon", start),
        ("Later", start + chrono::Duration::hours(30)),
        ("Called off", start),
    ] {
        let r = app.gql_as(&admin.access, create, event(title, at)).await;
        let id = r["data"]["createEvent"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_owned();
        let p = app
            .gql_as(
                &admin.access,
                "mutation($id: ID!) { publishEvent(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(p["data"]["publishEvent"]["status"], "PUBLISHED", "{p}");
        ids.push(id);
    }
    let register = "mutation($e: ID!) { registerForEvent(eventId: $e) { id } }";
    for id in &ids {
        for s in [&going, &cancelled] {
            let r = app.gql_as(&s.access, register, json!({ "e": id })).await;
            assert!(r["data"]["registerForEvent"]["id"].is_string(), "{r}");
        }
    }
    let r = app
        .gql_as(
            &cancelled.access,
            "mutation($e: ID!) { cancelRegistration(eventId: $e) { status } }",
            json!({ "e": ids[0] }),
        )
        .await;
    assert_eq!(
        r["data"]["cancelRegistration"]["status"], "CANCELLED",
        "{r}"
    );
    let r = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { cancelEvent(id: $id) { status } }",
            json!({ "id": ids[2] }),
        )
        .await;
    assert_eq!(r["data"]["cancelEvent"]["status"], "CANCELLED", "{r}");

    let reminders = |s: &Session| {
        let token = s.access.clone();
        let app = &app;
        async move {
            let r = app
                .gql_as(
                    &token,
                    "{ notifications(first: 50) { nodes { title notificationType channel data } } }",
                    json!({}),
                )
                .await;
            r["data"]["notifications"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["notificationType"] == "REMINDER")
                .cloned()
                .collect::<Vec<Value>>()
        }
    };
    let broker = app.broker.clone();
    let at = start - chrono::Duration::hours(23);
    plugs::services::reminders::send_due(&app.db, &*broker, at)
        .await
        .unwrap();
    plugs::services::reminders::send_due(&app.db, &*broker, at)
        .await
        .unwrap();
    let got = reminders(&going).await;
    assert_eq!(got.len(), 1, "once, for the event within 24 hours: {got:?}");
    assert_eq!(got[0]["title"], "Reminder: Soon");
    assert_eq!(
        got[0]["channel"], "EMAIL",
        "reminders go by e-mail by default"
    );
    assert_eq!(got[0]["data"]["eventId"], ids[0].as_str());
    assert!(
        reminders(&cancelled).await.is_empty(),
        "cancelled registration, cancelled event"
    );
    let mail = mail_to(&going.email, 1).await;
    assert!(mail[0].data.contains("Reminder: Soon"), "{mail:?}");

    // A day and six hours on, the second event enters the window; the first is not reminded
    // again (it has started).
    let later = at + chrono::Duration::hours(30);
    plugs::services::reminders::send_due(&app.db, &*broker, later)
        .await
        .unwrap();
    let got = reminders(&going).await;
    let titles: Vec<&str> = got.iter().map(|n| n["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Reminder: Later"));
    let cancelled_got = reminders(&cancelled).await;
    assert_eq!(
        cancelled_got.len(),
        1,
        "still registered for Later: {cancelled_got:?}"
    );

    // Moved two days later, an event is reminded of again before its new start.
    let moved_to = start + chrono::Duration::days(2);
    let r = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!, $s: DateTime!, $e: DateTime!) { updateEvent(id: $id, input: { startDate: $s, endDate: $e }) { id } }",
            json!({ "id": ids[0], "s": moved_to.to_rfc3339(), "e": (moved_to + chrono::Duration::hours(2)).to_rfc3339() }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let before_new_start = moved_to - chrono::Duration::hours(23);
    plugs::services::reminders::send_due(&app.db, &*broker, before_new_start)
        .await
        .unwrap();
    let soon: Vec<Value> = reminders(&going)
        .await
        .into_iter()
        .filter(|n| n["title"] == "Reminder: Soon")
        .collect();
    assert_eq!(soon.len(), 2, "{soon:?}");
}

fn rand_days() -> i64 {
    (uuid::Uuid::new_v4().as_u128() % 10_000) as i64
}
