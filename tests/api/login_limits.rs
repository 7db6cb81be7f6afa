//! The failed-login limiter: per e-mail and per client address (behind trusted proxies only),
//! in-flight attempts holding the budget, successes never counted.

use serde_json::{Value, json};

use crate::helpers::{AUTH_FIELDS, PASSWORD, error_code, error_field as field, spawn_app_with};

/// Fails a login from the client address that `x-forwarded-for` names (a fresh e-mail each
/// time, so only the per-address budget is spent).
async fn fail_login_via(app: &crate::helpers::TestApp, forwarded_for: &str) -> Value {
    let email = format!("nobody-{}@example.test", uuid::Uuid::new_v4().simple());
    app.client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({
            "query": format!("mutation($i: LoginInput!) {{ login(input: $i) {{ {AUTH_FIELDS} }} }}"),
            "variables": { "i": { "email": email, "password": "wrong-password" } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_email_and_per_ip_and_reset() {
    let app = spawn_app_with(|c| {
        c.auth.login_max_failures = 3;
        // Long enough that four sign-ins fit in it on a loaded machine.
        c.auth.login_window = std::time::Duration::from_secs(4);
    })
    .await;
    let s = app.register().await;
    for _ in 0..3 {
        let body = app.login(&s.email, "wrong password!", None).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    }
    // The fourth try is refused before the password is even checked, the right one included.
    let body = app.login(&s.email, PASSWORD, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    let retry = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    assert!((1..=4).contains(&retry), "{retry}");
    // The client's address is over budget too, whatever email it tries next.
    let body = app
        .login("someone-else@example.test", "whatever1", None)
        .await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"));

    // Past the window the server named (it counts whole seconds, so add one).
    tokio::time::sleep(std::time::Duration::from_secs(retry + 1)).await;
    let body = app.login(&s.email, PASSWORD, None).await;
    assert!(
        body["data"]["login"]["accessToken"].is_string(),
        "the window passed: {body}"
    );
}

#[tokio::test]
async fn a_successful_login_does_not_count_as_a_failure() {
    let app = spawn_app_with(|c| c.auth.login_max_failures = 2).await;
    let s = app.register().await;
    for _ in 0..5 {
        let body = app.login(&s.email, PASSWORD, None).await;
        assert!(body["errors"].is_null(), "{body}");
    }
}

#[tokio::test]
async fn concurrent_guesses_cannot_overtake_the_rate_limit() {
    let app = spawn_app_with(|c| c.auth.login_max_failures = 3).await;
    let s = app.register().await;
    let tries = (0..20).map(|_| app.login(&s.email, "wrong password!", None));
    let answers = futures_util::future::join_all(tries).await;
    let checked = answers
        .iter()
        .filter(|b| error_code(b) == Some("UNAUTHENTICATED"))
        .count();
    let limited = answers
        .iter()
        .filter(|b| error_code(b) == Some("RATE_LIMITED"))
        .count();
    assert_eq!(
        (checked, limited),
        (3, 17),
        "only the budget's worth of passwords is checked"
    );
}

#[tokio::test]
async fn an_attackers_own_account_with_the_victims_email_resets_nothing() {
    let app = spawn_app_with(|c| c.auth.login_max_failures = 3).await;
    let victim = app.register().await;
    // The attacker registers an organization with the victim's email and a known password.
    let evil = format!(
        "evil-{}.test",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let evil = evil.as_str();
    let q = format!("mutation($i: RegisterInput!) {{ register(input: $i) {{ {AUTH_FIELDS} }} }}");
    let r = app
        .graphql(&q, json!({ "i": { "organizationName": "Evil", "organizationDomain": evil, "email": victim.email,
            "password": "attacker password", "firstName": "E", "lastName": "V" } }))
        .await;
    assert!(r["errors"].is_null(), "{r}");
    // Without a domain, no password is tried against either account: the answer is the same
    // whether or not the guess is the victim's password.
    let right = app.login(&victim.email, PASSWORD, None).await;
    let wrong = app.login(&victim.email, "a wrong guess", None).await;
    assert_eq!(field(&right), Some("organizationDomain"));
    assert_eq!(right, wrong);
    // Both counted as failures of the email. Signing into the attacker's own copy does not
    // clear them: one more guess fills the budget of 3, and the next is refused.
    let own = app
        .login(&victim.email, "attacker password", Some(evil))
        .await;
    assert!(own["errors"].is_null(), "{own}");
    let body = app
        .login(&victim.email, "a third guess", Some(&victim.domain))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let body = app
        .login(&victim.email, PASSWORD, Some(&victim.domain))
        .await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn guesses_of_the_current_password_are_limited_too() {
    let app = spawn_app_with(|c| c.auth.login_max_failures = 2).await;
    let s = app.register().await;
    let change = "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"brand new pass\") }";
    for _ in 0..2 {
        let body = app
            .gql_as(&s.access, change, json!({ "c": "a wrong guess" }))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    }
    let body = app
        .gql_as(&s.access, change, json!({ "c": PASSWORD }))
        .await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn a_burst_of_correct_logins_from_one_address_all_get_in() {
    // Fifty colleagues behind one NAT at nine o'clock: attempts in flight wait for each other
    // rather than being refused, and successes never count against the budget.
    let app = spawn_app_with(|c| c.auth.login_max_failures = 3).await;
    let s = app.register().await;
    let logins = (0..30).map(|_| app.login(&s.email, PASSWORD, None));
    let answers = futures_util::future::join_all(logins).await;
    for a in &answers {
        assert!(a["errors"].is_null(), "{a}");
    }
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // The tests connect from 127.0.0.1: trusted here, so each forwarded client has its own budget.
    let trusted = spawn_app_with(|c| {
        c.auth.login_max_failures = 2;
        c.auth.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        let body = fail_login_via(&trusted, "203.0.113.7").await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    let body = fail_login_via(&trusted, "203.0.113.7").await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Another client behind the same proxy is not held to the first one's budget...
    let body = fail_login_via(&trusted, "198.51.100.9").await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    // ...and a client cannot escape its budget by prepending a made-up address: the
    // right-most address that is not a trusted proxy is the client.
    let body = fail_login_via(&trusted, "192.0.2.1, 203.0.113.7").await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");

    // From an untrusted peer the header is ignored: every "client" is the peer itself.
    let untrusted = spawn_app_with(|c| {
        c.auth.login_max_failures = 2;
        c.auth.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
    })
    .await;
    for ip in ["203.0.113.7", "198.51.100.9"] {
        let body = fail_login_via(&untrusted, ip).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    let body = fail_login_via(&untrusted, "192.0.2.44").await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}
