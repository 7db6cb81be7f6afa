//! TOTP two-factor sign-in, with codes computed here as an authenticator app would (RFC 6238).

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, error_code, error_field, spawn_app};

/// The code of `secret` (base32) at `offset` seconds from now.
pub fn code(secret: &str, offset: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let t = (chrono::Utc::now().timestamp() + offset) as u64;
    totp.generate(t).to_string()
}

const ENABLE: &str = "mutation { enableTwoFactor { secret otpauthUri qrCodeSvg } }";
const CONFIRM: &str = "mutation($c: String!) { confirmTwoFactor(code: $c) { codes } }";
const LOGIN: &str = "mutation($e: String!, $p: String!, $c: String) {
    login(input: { email: $e, password: $p, totpCode: $c }) { accessToken refreshToken } }";

/// Turns two-factor sign-in on for `s`; its secret and recovery codes.
pub async fn turn_on(app: &TestApp, s: &Session) -> (String, Vec<String>) {
    let setup = app.gql_as(&s.access, ENABLE, json!({})).await;
    let secret = setup["data"]["enableTwoFactor"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{setup}"))
        .to_owned();
    let r = app
        .gql_as(&s.access, CONFIRM, json!({ "c": code(&secret, 0) }))
        .await;
    let codes = r["data"]["confirmTwoFactor"]["codes"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn login(app: &TestApp, s: &Session, password: &str, code: Option<&str>) -> Value {
    app.graphql(LOGIN, json!({ "e": s.email, "p": password, "c": code }))
        .await
}

#[tokio::test]
async fn a_member_turns_two_factor_on_and_then_signs_in_with_a_code_or_a_recovery_code_once() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let s = app.member(&admin, false).await;
    let setup = app.gql_as(&s.access, ENABLE, json!({})).await;
    let setup = &setup["data"]["enableTwoFactor"];
    let secret = setup["secret"].as_str().unwrap();
    assert!(
        setup["otpauthUri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/The%20Plugs:"),
        "{setup}"
    );
    assert!(
        setup["qrCodeSvg"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    // Not on until confirmed: signing in needs no code yet.
    assert!(login(&app, &s, PASSWORD, None).await["data"]["login"].is_object());
    let wrong = app
        .gql_as(&s.access, CONFIRM, json!({ "c": "000000" }))
        .await;
    assert_eq!(error_field(&wrong), Some("code"), "{wrong}");
    let r = app
        .gql_as(&s.access, CONFIRM, json!({ "c": code(secret, 0) }))
        .await;
    let codes: Vec<String> = r["data"]["confirmTwoFactor"]["codes"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let again = app.gql_as(&s.access, ENABLE, json!({})).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    // Admins (and the member) see who signs in with a second factor; other members do not.
    let list = "{ users { nodes { id twoFactorEnabled } } }";
    let seen = app.gql_as(&admin.access, list, json!({})).await;
    let state = |body: &Value, id: &str| {
        body["data"]["users"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| u["twoFactorEnabled"].clone())
            .unwrap()
    };
    assert_eq!(state(&seen, &s.user_id), json!(true), "{seen}");
    assert_eq!(state(&seen, &admin.user_id), json!(false), "{seen}");
    let other = app.member(&admin, false).await;
    let hidden = app.gql_as(&other.access, list, json!({})).await;
    assert_eq!(state(&hidden, &s.user_id), Value::Null, "{hidden}");
    assert_eq!(state(&hidden, &other.user_id), json!(false), "{hidden}");

    let missing = login(&app, &s, PASSWORD, None).await;
    assert_eq!(
        error_code(&missing),
        Some("TWO_FACTOR_REQUIRED"),
        "{missing}"
    );
    let wrong = login(&app, &s, PASSWORD, Some("123456")).await;
    assert_eq!(error_code(&wrong), Some("TWO_FACTOR_INVALID"), "{wrong}");
    // The wrong password says nothing of the second factor.
    let bad = login(&app, &s, "not the password", None).await;
    assert_eq!(error_code(&bad), Some("UNAUTHENTICATED"), "{bad}");

    // The next step's code (within the one step of drift allowed) signs in once.
    let next = code(secret, 30);
    let ok = login(&app, &s, PASSWORD, Some(&next)).await;
    assert!(ok["data"]["login"]["accessToken"].is_string(), "{ok}");
    let replay = login(&app, &s, PASSWORD, Some(&next)).await;
    assert_eq!(error_code(&replay), Some("TWO_FACTOR_INVALID"), "{replay}");

    // A recovery code works once, dash or not, any case.
    let recovery = codes[3].to_uppercase().replace('-', "");
    let ok = login(&app, &s, PASSWORD, Some(&recovery)).await;
    assert!(ok["data"]["login"]["accessToken"].is_string(), "{ok}");
    let reused = login(&app, &s, PASSWORD, Some(&codes[3])).await;
    assert_eq!(error_code(&reused), Some("TWO_FACTOR_INVALID"), "{reused}");
    let status = app
        .gql_as(
            &s.access,
            "{ twoFactor { enabled confirmedAt recoveryCodesRemaining requiredByOrganization } }",
            json!({}),
        )
        .await;
    let st = &status["data"]["twoFactor"];
    assert_eq!(st["enabled"], true, "{status}");
    assert_eq!(st["recoveryCodesRemaining"], 9);
    assert_eq!(st["requiredByOrganization"], false);

    // New recovery codes replace the old ones; turning it off needs the password and a code.
    let regen = "mutation($p: String!, $c: String!) { regenerateRecoveryCodes(password: $p, code: $c) { codes } }";
    let r = app
        .gql_as(&s.access, regen, json!({ "p": PASSWORD, "c": codes[0] }))
        .await;
    let fresh = r["data"]["regenerateRecoveryCodes"]["codes"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    let old = login(&app, &s, PASSWORD, Some(&codes[1])).await;
    assert_eq!(error_code(&old), Some("TWO_FACTOR_INVALID"), "{old}");
    let disable = "mutation($p: String!, $c: String!) { disableTwoFactor(password: $p, code: $c) }";
    let r = app
        .gql_as(
            &s.access,
            disable,
            json!({ "p": "wrong password", "c": fresh }),
        )
        .await;
    assert_eq!(error_field(&r), Some("password"), "{r}");
    let r = app
        .gql_as(&s.access, disable, json!({ "p": PASSWORD, "c": fresh }))
        .await;
    assert_eq!(r["data"]["disableTwoFactor"], true, "{r}");
    assert!(login(&app, &s, PASSWORD, None).await["data"]["login"].is_object());
}

#[tokio::test]
async fn wrong_codes_count_against_the_failed_sign_in_limit() {
    let app = spawn_app().await;
    let s = app.register().await;
    turn_on(&app, &s).await;
    for i in 0..10 {
        let r = login(&app, &s, PASSWORD, Some("000000")).await;
        assert_eq!(
            error_code(&r),
            Some("TWO_FACTOR_INVALID"),
            "attempt {i}: {r}"
        );
    }
    let r = login(&app, &s, PASSWORD, Some("000000")).await;
    assert_eq!(error_code(&r), Some("RATE_LIMITED"), "{r}");
}

#[tokio::test]
async fn an_organization_that_requires_two_factor_lets_members_without_it_only_set_it_up() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let require =
        "mutation { updateOrganization(input: { requireTwoFactor: true }) { requireTwoFactor } }";
    let r = app.gql_as(&admin.access, require, json!({})).await;
    assert_eq!(
        error_field(&r),
        Some("requireTwoFactor"),
        "admins first: {r}"
    );
    turn_on(&app, &admin).await;
    let r = app.gql_as(&admin.access, require, json!({})).await;
    assert_eq!(
        r["data"]["updateOrganization"]["requireTwoFactor"], true,
        "{r}"
    );

    // The member's next sign-in gives a token that can only set two-factor up.
    let signed_in = login(&app, &member, PASSWORD, None).await;
    let token = signed_in["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{signed_in}"))
        .to_owned();
    let refresh = signed_in["data"]["login"]["refreshToken"].clone();
    let r = app
        .gql_as(&token, "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&r), Some("TWO_FACTOR_SETUP_REQUIRED"), "{r}");
    let r = app
        .gql_as(
            &token,
            "{ me { id } twoFactor { requiredByOrganization } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r["data"]["twoFactor"]["requiredByOrganization"], true,
        "{r}"
    );
    // `me` leads nowhere else: no organization, no lists.
    for q in [
        "{ me { organization { users { nodes { email } } } } }",
        "{ me { contacts { totalCount } } }",
        "{ me { registrations { totalCount } } }",
    ] {
        let r = app.gql_as(&token, q, json!({})).await;
        assert_eq!(
            error_code(&r),
            Some("TWO_FACTOR_SETUP_REQUIRED"),
            "{q}: {r}"
        );
    }
    // Nor does the sign-in's own payload.
    let r = app
        .graphql(
            "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { user { organization { users { nodes { email } } } } } }",
            json!({ "e": member.email, "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&r), Some("TWO_FACTOR_SETUP_REQUIRED"), "{r}");
    let export = app
        .client
        .get(app.url("/export/contacts.csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 403);
    let restricted = Session {
        access: token,
        ..member.clone()
    };
    let (secret, _) = turn_on(&app, &restricted).await;
    // Set up: a refreshed token works everywhere.
    let r = app
        .graphql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": refresh }),
        )
        .await;
    let fresh = r["data"]["refreshToken"]["accessToken"].as_str().unwrap();
    let ok = app
        .gql_as(fresh, "{ contacts { totalCount } }", json!({}))
        .await;
    assert!(ok["data"]["contacts"]["totalCount"].is_number(), "{ok}");
    // And cannot be turned off while required.
    let r = app
        .gql_as(
            fresh,
            "mutation($p: String!, $c: String!) { disableTwoFactor(password: $p, code: $c) }",
            json!({ "p": PASSWORD, "c": code(&secret, 30) }),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
}
