//! Sign-up, sign-in and sessions, from the client's side.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{
    AUTH_FIELDS, PASSWORD, TestDb, error_code, error_field as field, spawn_app, spawn_app_on,
    spawn_app_with,
};

const ME: &str = "{ me { id email isAdmin organization { domain } } }";
const SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[tokio::test]
async fn register_signs_in_an_admin_of_a_new_organization() {
    let app = spawn_app().await;
    let s = app.register().await;
    let me = app.gql_as(&s.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["id"], s.user_id.as_str());
    assert_eq!(me["data"]["me"]["isAdmin"], true);
    assert_eq!(
        me["data"]["me"]["organization"]["domain"],
        s.domain.as_str()
    );
    let org = app
        .gql_as(
            &s.access,
            "{ organization { domain subscriptionPlan } }",
            json!({}),
        )
        .await;
    assert_eq!(org["data"]["organization"]["subscriptionPlan"], "free");
}

#[tokio::test]
async fn register_validates_its_input_and_refuses_a_taken_domain() {
    let app = spawn_app().await;
    let taken = app.register().await;
    let q = format!("mutation($i: RegisterInput!) {{ register(input: $i) {{ {AUTH_FIELDS} }} }}");
    let base = json!({ "organizationName": "Acme", "email": "a@acme-x.test", "password": PASSWORD,
                       "firstName": "A", "lastName": "B" });
    let cases = [
        ("email", json!("not-an-email"), "BAD_USER_INPUT", "email"),
        ("password", json!("short"), "BAD_USER_INPUT", "password"),
        (
            "password",
            json!("x".repeat(129)),
            "BAD_USER_INPUT",
            "password",
        ),
        (
            "firstName",
            json!("x".repeat(51)),
            "BAD_USER_INPUT",
            "firstName",
        ),
        (
            "organizationName",
            json!("  "),
            "BAD_USER_INPUT",
            "organizationName",
        ),
        (
            "organizationDomain",
            json!("not a domain"),
            "BAD_USER_INPUT",
            "organizationDomain",
        ),
        (
            "organizationDomain",
            json!(taken.domain.to_uppercase()),
            "CONFLICT",
            "organizationDomain",
        ),
    ];
    for (key, value, code, expected_field) in cases {
        let mut input = base.clone();
        input[key] = value;
        let body = app.graphql(&q, json!({ "i": input })).await;
        assert_eq!(error_code(&body), Some(code), "{key}: {body}");
        assert_eq!(field(&body), Some(expected_field), "{key}: {body}");
    }
    // Nothing was half-written: the refused email can still register.
    let body = app.graphql(&q, json!({ "i": base })).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    let s = app.register().await;
    let wrong = app.login(&s.email, "wrong password!", None).await;
    let unknown = app
        .login("nobody@nowhere.test", "wrong password!", None)
        .await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    assert_eq!(
        wrong["errors"][0]["extensions"],
        unknown["errors"][0]["extensions"]
    );
    assert_eq!(wrong["data"], unknown["data"]);

    let ok = app.login(&s.email.to_uppercase(), PASSWORD, None).await;
    assert_eq!(
        ok["data"]["login"]["user"]["id"],
        s.user_id.as_str(),
        "{ok}"
    );
    assert_eq!(ok["data"]["login"]["expiresIn"], 900);
}

#[tokio::test]
async fn an_email_in_two_organizations_needs_the_domain() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let shared = format!(
        "both-{}@example.test",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    for admin in [&a, &b] {
        let r = app
            .gql_as(
                &admin.access,
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": shared, "password": PASSWORD, "firstName": "S", "lastName": "H" } }),
            )
            .await;
        assert!(r["errors"].is_null(), "{r}");
    }
    let body = app.login(&shared, PASSWORD, None).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert_eq!(field(&body), Some("organizationDomain"));
    // No password is checked until the organization is known: a wrong one gets the same answer,
    // so this is no oracle for the other account's password.
    let wrong = app.login(&shared, "not the password", None).await;
    assert_eq!(wrong, body);
    let body = app.login(&shared, PASSWORD, Some(&b.domain)).await;
    let token = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("signed in");
    let me = app.gql_as(token, ME, json!({})).await;
    assert_eq!(
        me["data"]["me"]["organization"]["domain"],
        b.domain.as_str()
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let app = spawn_app().await;
    let s = app.register().await;
    let q =
        format!("mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}");
    let first = app.graphql(&q, json!({ "t": s.refresh })).await;
    let r2 = first["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .expect("rotated")
        .to_owned();
    let a2 = first["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(r2, s.refresh);
    assert_eq!(
        app.gql_as(&a2, ME, json!({})).await["data"]["me"]["id"],
        s.user_id.as_str()
    );

    // The old token comes back: theft. Both tokens and the session's access tokens die.
    let reuse = app.graphql(&q, json!({ "t": s.refresh })).await;
    assert_eq!(error_code(&reuse), Some("UNAUTHENTICATED"), "{reuse}");
    let after = app.graphql(&q, json!({ "t": r2 })).await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"), "{after}");
    assert_eq!(
        error_code(&app.gql_as(&a2, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&app.gql_as(&s.access, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );

    // Another session of the same user is untouched.
    let other = app.login(&s.email, PASSWORD, None).await;
    let token = other["data"]["login"]["accessToken"].as_str().unwrap();
    assert!(app.gql_as(token, ME, json!({})).await["errors"].is_null());

    let garbage = app.graphql(&q, json!({ "t": "not-a-token" })).await;
    assert_eq!(error_code(&garbage), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn logout_ends_the_session() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = spawn_app().await;
    let s = app.register().await;
    let org: uuid::Uuid = app
        .gql_as(&s.access, "{ organization { id } }", json!({}))
        .await["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let audit_rows = || {
        plugs::entities::audit_logs::Entity::find()
            .filter(plugs::entities::audit_logs::Column::OrganizationId.eq(org))
            .count(&app.db)
    };
    let before = audit_rows().await.unwrap();
    let out = app
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": s.refresh }),
        )
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    let q =
        format!("mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}");
    assert_eq!(
        error_code(&app.graphql(&q, json!({ "t": s.refresh })).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&app.gql_as(&s.access, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(audit_rows().await.unwrap(), before + 1, "one audit row");
    // Logging out again is idempotent: true, and nothing more is written.
    let again = app
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": s.refresh }),
        )
        .await;
    assert_eq!(again["data"]["logout"], true, "{again}");
    assert_eq!(
        audit_rows().await.unwrap(),
        before + 1,
        "no second audit row"
    );
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let s = app.register().await;
    let other = app.login(&s.email, PASSWORD, None).await;
    let other_access = other["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_refresh = other["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

    let wrong = app
        .gql_as(
            &s.access,
            change,
            json!({ "c": "not it at all", "n": "brand new pass" }),
        )
        .await;
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"));
    assert_eq!(field(&wrong), Some("currentPassword"));
    let short = app
        .gql_as(&s.access, change, json!({ "c": PASSWORD, "n": "short" }))
        .await;
    assert_eq!(field(&short), Some("newPassword"));
    let anon = app
        .graphql(change, json!({ "c": PASSWORD, "n": "brand new pass" }))
        .await;
    assert_eq!(error_code(&anon), Some("UNAUTHENTICATED"));

    let ok = app
        .gql_as(
            &s.access,
            change,
            json!({ "c": PASSWORD, "n": "brand new pass" }),
        )
        .await;
    assert_eq!(ok["data"]["changePassword"], true, "{ok}");
    assert!(
        app.gql_as(&s.access, ME, json!({})).await["errors"].is_null(),
        "this session stays"
    );
    assert_eq!(
        error_code(&app.gql_as(&other_access, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    let q =
        format!("mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}");
    assert_eq!(
        error_code(&app.graphql(&q, json!({ "t": other_refresh })).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&app.login(&s.email, PASSWORD, None).await),
        Some("UNAUTHENTICATED")
    );
    assert!(app.login(&s.email, "brand new pass", None).await["errors"].is_null());
}

fn sign(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = spawn_app_with(|c| c.auth.jwt_secret = SECRET.into()).await;
    let s = app.register().await;
    assert!(app.gql_as(&s.access, ME, json!({})).await["errors"].is_null());
    let parts: Vec<&str> = s.access.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();

    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 60);
    let mut promoted = claims.clone();
    promoted["adm"] = json!(true);
    promoted["sub"] = json!(uuid::Uuid::new_v4());
    let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&promoted).unwrap());
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-api");
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("someone-else");

    let attempts = [
        ("expired", sign(&expired, SECRET)),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], tampered_payload, parts[2]),
        ),
        ("alg none", format!("{none_header}.{}.", parts[1])),
        (
            "other secret",
            sign(&claims, "another-secret-another-secret-0123456789"),
        ),
        ("wrong audience", sign(&wrong_aud, SECRET)),
        ("wrong issuer", sign(&wrong_iss, SECRET)),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (what, token) in attempts {
        let resp = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({ "query": ME }))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
    }
    // A well-signed token for a user that does not exist is refused too.
    let mut ghost = claims.clone();
    ghost["sub"] = json!(uuid::Uuid::new_v4());
    assert_eq!(
        error_code(&app.gql_as(&sign(&ghost, SECRET), ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    // A public operation still works with a refused token attached.
    let body = app.gql_as("garbage", "{ apiVersion }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_deleted_or_deactivated_member_is_locked_out_at_once() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let gone = app.member(&admin, false).await;
    let paused = app.member(&admin, false).await;
    assert!(app.gql_as(&gone.access, ME, json!({})).await["errors"].is_null());

    let del = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { deleteUser(id: $id) { id deletedAt } }",
            json!({ "id": gone.user_id }),
        )
        .await;
    assert!(del["data"]["deleteUser"]["deletedAt"].is_string(), "{del}");
    let upd = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateUser(id: $id, input: { isActive: false }) { isActive } }",
            json!({ "id": paused.user_id }),
        )
        .await;
    assert_eq!(upd["data"]["updateUser"]["isActive"], false, "{upd}");

    let q =
        format!("mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}");
    for s in [&gone, &paused] {
        assert_eq!(
            error_code(&app.gql_as(&s.access, ME, json!({})).await),
            Some("UNAUTHENTICATED")
        );
        assert_eq!(
            error_code(&app.graphql(&q, json!({ "t": s.refresh })).await),
            Some("UNAUTHENTICATED")
        );
    }
    assert_eq!(
        error_code(&app.login(&gone.email, PASSWORD, None).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&app.login(&paused.email, PASSWORD, None).await),
        Some("UNAUTHENTICATED")
    );

    // Restored and reactivated, both sign in again.
    let r = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { restoreUser(id: $id) { deletedAt } }",
            json!({ "id": gone.user_id }),
        )
        .await;
    assert!(r["data"]["restoreUser"]["deletedAt"].is_null(), "{r}");
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { updateUser(id: $id, input: { isActive: true }) { isActive } }",
        json!({ "id": paused.user_id }),
    )
    .await;
    assert!(app.login(&gone.email, PASSWORD, None).await["errors"].is_null());
    assert!(app.login(&paused.email, PASSWORD, None).await["errors"].is_null());
}

/// Without PLUGS_JWT_SECRET (development), the server reads its configuration as on a first
/// start in `dir`, with the SQLite database named there.
fn development_config(dir: &std::path::Path) -> plugs::config::Config {
    let url = format!("sqlite://{}/plugs.db?mode=rwc", dir.display());
    plugs::config::Config::from_lookup(|k| (k == "PLUGS_DATABASE_URL").then(|| url.clone()))
        .expect("development config")
}

#[tokio::test]
async fn a_development_token_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = development_config(dir.path());
    let second = development_config(dir.path());
    assert_eq!(first.auth.jwt_secret, second.auth.jwt_secret);
    let file = dir.path().join(".plugs-dev-secret");
    assert_eq!(first.auth.jwt_secret_file.as_deref(), Some(file.as_path()));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        first.auth.jwt_secret
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // The same database across the restart; the secret is whatever each start read.
    let test_db = std::sync::Arc::new(TestDb::shared().await);
    let on_test_db = |mut config: plugs::config::Config| {
        config.database_url = test_db.url.clone();
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.db_max_connections = 5;
        config
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = spawn_app_on(test_db.clone(), on_test_db(first), async {
        let _ = stopped.await;
    })
    .await;
    let s = app.register().await;
    stop.send(()).unwrap();
    running.await.unwrap();

    let (app, _) = spawn_app_on(test_db.clone(), on_test_db(second), std::future::pending()).await;
    let me = app.gql_as(&s.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["id"], s.user_id.as_str(), "{me}");
}

#[test]
fn simultaneous_first_starts_agree_on_one_development_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secrets: Vec<String> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| development_config(dir.path()).auth.jwt_secret))
            .collect();
        starts.into_iter().map(|s| s.join().unwrap()).collect()
    });
    assert!(secrets.iter().all(|s| s == &secrets[0]), "{secrets:?}");
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [".plugs-dev-secret"]);
}

/// Sessions are remembered per instance (`auth::sessions`); every change made through the API
/// reaches every instance's memory through the realtime feed. PostgreSQL only (two instances
/// share a database there); CI runs it with `--include-ignored`.
#[tokio::test]
#[ignore = "PostgreSQL only: run with PLUGS_TEST_DATABASE_URL and --include-ignored"]
async fn remembered_sessions_end_at_once_on_every_instance() {
    let (a, b) = crate::helpers::two_instances().await;
    let admin = a.register().await;
    let member = a.member(&admin, false).await;
    const JOBS: &str = "{ jobs(first: 1) { totalCount } }";

    // Remembered: the second request on an instance reads no session (the first reads the
    // user with its organization, and the session).
    let (_, first) = b.counted(&member.access, ME, json!({})).await;
    let (body, again) = b.counted(&member.access, ME, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(first, again + 2, "{first} then {again} statements");
    assert_eq!(
        error_code(&b.gql_as(&member.access, JOBS, json!({})).await),
        Some("FORBIDDEN")
    );

    // Each change is made on `a`; `b` remembers the session as it was.
    let on_b = |token: String, query: &'static str| {
        let b = &b;
        async move { b.gql_as(&token, query, json!({})).await }
    };
    // NOTIFY reaches the other instance within milliseconds of the commit; the cache would
    // keep a stale entry for its 30 s lifetime, so a bounded wait tells the two apart.
    async fn within<F, Fut>(what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !check().await {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: not seen by the other instance"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let set_admin = |flag: bool| {
        let (a, admin, id) = (&a, admin.access.clone(), member.user_id.clone());
        async move {
            let body = a
                .gql_as(
                    &admin,
                    "mutation($id: ID!, $f: Boolean!) { updateUser(id: $id, input: { isAdmin: $f }) { isAdmin } }",
                    json!({ "id": id, "f": flag }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
    };

    // Promotion and demotion.
    set_admin(true).await;
    within("promotion", || async {
        on_b(member.access.clone(), JOBS).await["errors"].is_null()
    })
    .await;
    // On the instance that made the change there is nothing to wait for.
    assert!(a.gql_as(&member.access, JOBS, json!({})).await["errors"].is_null());
    set_admin(false).await;
    assert_eq!(
        error_code(&a.gql_as(&member.access, JOBS, json!({})).await),
        Some("FORBIDDEN")
    );
    within("demotion", || async {
        error_code(&on_b(member.access.clone(), JOBS).await) == Some("FORBIDDEN")
    })
    .await;

    // Password change: the other sessions end, this one stays.
    let second = a.login(&member.email, PASSWORD, None).await["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&member.access, &second] {
        assert!(on_b(token.clone(), ME).await["errors"].is_null());
        assert!(a.gql_as(token, ME, json!({})).await["errors"].is_null());
    }
    let changed = a
        .gql_as(
            &member.access,
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({ "c": PASSWORD, "n": "brand new pass" }),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(
        error_code(&a.gql_as(&second, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    within("password change", || async {
        error_code(&on_b(second.clone(), ME).await) == Some("UNAUTHENTICATED")
    })
    .await;
    assert!(on_b(member.access.clone(), ME).await["errors"].is_null());

    // Logout.
    let out = a
        .gql_as(
            &member.access,
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": member.refresh }),
        )
        .await;
    assert!(out["errors"].is_null(), "{out}");
    assert_eq!(
        error_code(&a.gql_as(&member.access, ME, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    within("logout", || async {
        error_code(&on_b(member.access.clone(), ME).await) == Some("UNAUTHENTICATED")
    })
    .await;

    // Deactivation.
    let other = a.member(&admin, false).await;
    assert!(on_b(other.access.clone(), ME).await["errors"].is_null());
    let body = a
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateUser(id: $id, input: { isActive: false }) { isActive } }",
            json!({ "id": other.user_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    within("deactivation", || async {
        error_code(&on_b(other.access.clone(), ME).await) == Some("UNAUTHENTICATED")
    })
    .await;
}
