//! TOTP two-factor sign-in (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock
//! drift either way), with ten single-use recovery codes.
//!
//! `enableTwoFactor` stores a new secret (encrypted with the keyring) as pending and returns it
//! (base32, an `otpauth://` URI and its QR code as an SVG data URL); `confirmTwoFactor(code)`
//! proves the authenticator has it, turns it on and returns the recovery codes, shown once
//! (only their hashes are stored). From then `login` needs `totpCode`: a current code (each
//! time step is accepted once: a code seen on the wire cannot be replayed) or an unused
//! recovery code. An organization may require two-factor sign-in
//! (`updateOrganization(input: { requireTwoFactor: true })`): a member without it then signs in
//! to a token that may only set it up.

use base64::Engine;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, sea_query::Expr,
};
use serde_json::json;
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

use super::audit;
use super::work::{Store, Work};
use super::{Actor, now};
use crate::auth::{Auth, refresh};
use crate::crypto::Keyring;
use crate::db::scoped::Scoped;
use crate::entities::{organizations, recovery_codes, two_factor_credentials, users};
use crate::error::AppError;

const ISSUER: &str = "The Plugs";
const RECOVERY_CODES: usize = 10;
/// Recovery codes are ten characters of this alphabet (no 0/O, 1/I/L), shown as `xxxxx-xxxxx`.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// What `enableTwoFactor` returns.
pub struct Setup {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_code_svg: String,
}

pub struct Status {
    pub enabled: bool,
    pub confirmed_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub recovery_codes_left: u64,
}

fn aad(user_id: Uuid) -> String {
    format!("plugs totp v1 {user_id}")
}

fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, AppError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|e| AppError::Internal(format!("building a TOTP: {e:?}")))
}

fn unix_now() -> u64 {
    now().timestamp().max(0) as u64
}

async fn credential(
    conn: &impl ConnectionTrait,
    scope: Scoped,
    user_id: Uuid,
) -> Result<Option<two_factor_credentials::Model>, AppError> {
    Ok(scope
        .find::<two_factor_credentials::Entity>()
        .filter(two_factor_credentials::Column::UserId.eq(user_id))
        .one(conn)
        .await?)
}

/// Whether the member has two-factor sign-in on.
pub async fn is_enabled(
    conn: &impl ConnectionTrait,
    scope: Scoped,
    user_id: Uuid,
) -> Result<bool, AppError> {
    Ok(credential(conn, scope, user_id)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some()))
}

/// Which of these members have two-factor sign-in on (one statement).
pub async fn enabled_among(
    conn: &impl ConnectionTrait,
    scope: Scoped,
    user_ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, AppError> {
    use sea_orm::QuerySelect;
    Ok(scope
        .find::<two_factor_credentials::Entity>()
        .filter(two_factor_credentials::Column::UserId.is_in(user_ids))
        .filter(two_factor_credentials::Column::ConfirmedAt.is_not_null())
        .select_only()
        .column(two_factor_credentials::Column::UserId)
        .into_tuple()
        .all(conn)
        .await?)
}

/// The organization requires two-factor sign-in (`settings.requireTwoFactor`).
pub fn required_by(org: &organizations::Model) -> bool {
    org.settings.get("requireTwoFactor") == Some(&serde_json::Value::Bool(true))
}

/// A member whose organization requires two-factor sign-in but who has not set it up.
pub async fn setup_pending(
    conn: &impl ConnectionTrait,
    user: &users::Model,
) -> Result<bool, AppError> {
    let scope = Scoped::system(user.organization_id, "the member's own organization");
    let Some(org) = scope.organization(conn).await? else {
        return Ok(false);
    };
    Ok(required_by(&org) && !is_enabled(conn, scope, user.id).await?)
}

/// The second factor at sign-in: `Ok` when the member has none or `code` is a current TOTP
/// code (not used before) or an unused recovery code (now used).
pub async fn check_sign_in(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    user: &users::Model,
    code: Option<&str>,
) -> Result<(), AppError> {
    let scope = Scoped::system(
        user.organization_id,
        "the organization of a signing-in member",
    );
    let Some(cred) = credential(conn, scope, user.id)
        .await?
        .filter(|c| c.confirmed_at.is_some())
    else {
        return Ok(());
    };
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(AppError::TwoFactorRequired(
            "this account uses two-factor sign-in: send totpCode (a code from your \
             authenticator app, or a recovery code)"
                .into(),
        ));
    };
    if accept_code(conn, keyring, scope, user, &cred, code).await? {
        Ok(())
    } else {
        Err(AppError::TwoFactorInvalid(
            "the two-factor code is wrong, expired or already used".into(),
        ))
    }
}

/// Whether `code` is a current TOTP code or an unused recovery code of `cred`; taking it.
async fn accept_code(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    scope: Scoped,
    user: &users::Model,
    cred: &two_factor_credentials::Model,
    code: &str,
) -> Result<bool, AppError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let secret = keyring
            .decrypt(&cred.secret, &aad(user.id))
            .map_err(|e| AppError::Internal(format!("decrypting a TOTP secret: {e:?}")))?;
        let Some(step) = totp(secret, &user.email)?.check(&digits, unix_now()) else {
            return Ok(false);
        };
        let step = i32::try_from(step).unwrap_or(i32::MAX);
        // Each step once: a code seen on the wire cannot be replayed, even within its window.
        let taken = scope
            .update_many::<two_factor_credentials::Entity>()
            .col_expr(
                two_factor_credentials::Column::LastUsedStep,
                Expr::value(step),
            )
            .filter(two_factor_credentials::Column::Id.eq(cred.id))
            .filter(
                sea_orm::Condition::any()
                    .add(two_factor_credentials::Column::LastUsedStep.is_null())
                    .add(two_factor_credentials::Column::LastUsedStep.lt(step)),
            )
            .exec(conn)
            .await?
            .rows_affected;
        return Ok(taken == 1);
    }
    let hash = recovery_hash(code);
    let taken = scope
        .update_many::<recovery_codes::Entity>()
        .col_expr(recovery_codes::Column::UsedAt, Expr::value(now()))
        .filter(recovery_codes::Column::UserId.eq(user.id))
        .filter(recovery_codes::Column::CodeHash.eq(hash))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(taken == 1)
}

/// Recovery codes are compared by the hash of their canonical form (lower case, no dash).
fn recovery_hash(code: &str) -> String {
    let canonical: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    refresh::hash(&canonical)
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; RECOVERY_CODES];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// One audit row on the member for a change of their second factor.
async fn record(txn: &impl ConnectionTrait, actor: &Actor, what: &str) -> Result<(), AppError> {
    audit::by_actor(
        txn,
        actor,
        "users",
        actor.user_id,
        crate::domain::enums::AuditAction::Update,
        None,
        Some(json!({ "two_factor": what })),
    )
    .await
}

/// `enableTwoFactor`: a new pending secret (replacing an earlier pending one).
pub async fn enable(store: Store<'_>, keyring: &Keyring, actor: &Actor) -> Result<Setup, AppError> {
    let w = Work::begin(store, actor).await?;
    let user = w.live::<users::Entity>(actor.user_id).await?;
    let existing = credential(&w.txn, actor.scope(), user.id).await?;
    if existing.as_ref().is_some_and(|c| c.confirmed_at.is_some()) {
        return Err(AppError::Conflict {
            message: "two-factor sign-in is already on; disable it first to start over".into(),
            field: None,
        });
    }
    let mut secret = vec![0u8; 20];
    getrandom::fill(&mut secret).expect("the OS random generator is available");
    let sealed = keyring.encrypt(&secret, &aad(user.id));
    let t = now();
    match existing {
        Some(c) => {
            let mut a: two_factor_credentials::ActiveModel = c.into();
            a.secret = Set(sealed);
            a.last_used_step = Set(None);
            a.updated_at = Set(t);
            a.update(&w.txn).await?;
        }
        None => {
            two_factor_credentials::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(actor.organization_id),
                user_id: Set(user.id),
                secret: Set(sealed),
                confirmed_at: Set(None),
                last_used_step: Set(None),
                created_at: Set(t),
                updated_at: Set(t),
            }
            .insert(&w.txn)
            .await?;
        }
    }
    record(&w.txn, actor, "setup_started").await?;
    w.commit().await?;
    let totp = totp(secret, &user.email)?;
    let uri = totp
        .to_url()
        .map_err(|e| AppError::Internal(format!("an otpauth URI: {e:?}")))?;
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AppError::Internal(format!("a QR code: {e}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Setup {
        secret: totp.secret().to_base32(),
        otpauth_uri: uri,
        qr_code_svg: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
    })
}

/// `confirmTwoFactor(code)`: turns two-factor sign-in on; the recovery codes, shown once.
pub async fn confirm(
    store: Store<'_>,
    keyring: &Keyring,
    actor: &Actor,
    code: &str,
) -> Result<Vec<String>, AppError> {
    let w = Work::begin(store, actor).await?;
    let user = w.live::<users::Entity>(actor.user_id).await?;
    let cred = credential(&w.txn, actor.scope(), user.id)
        .await?
        .filter(|c| c.confirmed_at.is_none())
        .ok_or_else(|| AppError::Conflict {
            message: "nothing to confirm: call enableTwoFactor first".into(),
            field: None,
        })?;
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 6
        || !accept_code(&w.txn, keyring, actor.scope(), &user, &cred, &digits).await?
    {
        return Err(AppError::bad_input(
            "code",
            "the code is wrong or expired: enter the current code of your authenticator app",
        ));
    }
    let t = now();
    let confirmed = actor
        .scope()
        .update_many::<two_factor_credentials::Entity>()
        .col_expr(two_factor_credentials::Column::ConfirmedAt, Expr::value(t))
        .col_expr(two_factor_credentials::Column::UpdatedAt, Expr::value(t))
        .filter(two_factor_credentials::Column::Id.eq(cred.id))
        .filter(two_factor_credentials::Column::ConfirmedAt.is_null())
        .exec(&w.txn)
        .await?
        .rows_affected;
    if confirmed != 1 {
        // Another confirmation won the race: its recovery codes stand.
        return Err(AppError::Conflict {
            message: "two-factor sign-in was just turned on by another request".into(),
            field: None,
        });
    }
    let codes = replace_recovery_codes(&w.txn, actor).await?;
    record(&w.txn, actor, "enabled").await?;
    w.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes(
    txn: &impl ConnectionTrait,
    actor: &Actor,
) -> Result<Vec<String>, AppError> {
    actor
        .scope()
        .delete_many::<recovery_codes::Entity>()
        .filter(recovery_codes::Column::UserId.eq(actor.user_id))
        .exec(txn)
        .await?;
    let t = now();
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let rows = codes.iter().map(|c| recovery_codes::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        user_id: Set(actor.user_id),
        code_hash: Set(recovery_hash(c)),
        used_at: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
    });
    recovery_codes::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(codes)
}

/// Checks the member's password (limited like `changePassword`) and a second factor.
async fn reauthenticate(
    w: &Work<'_>,
    auth: &Auth,
    keyring: &Keyring,
    actor: &Actor,
    password: String,
    code: &str,
) -> Result<(users::Model, two_factor_credentials::Model), AppError> {
    let user = w.live::<users::Entity>(actor.user_id).await?;
    let cred = credential(&w.txn, actor.scope(), user.id)
        .await?
        .filter(|c| c.confirmed_at.is_some())
        .ok_or_else(|| AppError::Conflict {
            message: "two-factor sign-in is not on".into(),
            field: None,
        })?;
    let key = format!("user:{}", actor.user_id);
    let attempt = auth
        .limiter
        .begin_waiting(&[&key], std::time::Duration::from_secs(10))
        .await
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    if !auth
        .hasher
        .verify(password, user.password_hash.clone())
        .await?
    {
        return Err(AppError::bad_input("password", "the password is wrong"));
    }
    if !accept_code(&w.txn, keyring, actor.scope(), &user, &cred, code).await? {
        return Err(AppError::TwoFactorInvalid(
            "the two-factor code is wrong, expired or already used".into(),
        ));
    }
    attempt.succeeded();
    Ok((user, cred))
}

/// `disableTwoFactor(password, code)`: turns it off (refused while the organization
/// requires it).
pub async fn disable(
    store: Store<'_>,
    auth: &Auth,
    keyring: &Keyring,
    actor: &Actor,
    password: String,
    code: &str,
) -> Result<bool, AppError> {
    let w = Work::begin(store, actor).await?;
    let org = actor
        .scope()
        .organization(&w.txn)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the organization no longer exists".into()))?;
    if required_by(&org) {
        return Err(AppError::Forbidden(
            "your organization requires two-factor sign-in".into(),
        ));
    }
    let (_, cred) = reauthenticate(&w, auth, keyring, actor, password, code).await?;
    actor
        .scope()
        .delete_many::<two_factor_credentials::Entity>()
        .filter(two_factor_credentials::Column::Id.eq(cred.id))
        .exec(&w.txn)
        .await?;
    actor
        .scope()
        .delete_many::<recovery_codes::Entity>()
        .filter(recovery_codes::Column::UserId.eq(actor.user_id))
        .exec(&w.txn)
        .await?;
    record(&w.txn, actor, "disabled").await?;
    w.commit().await?;
    Ok(true)
}

/// `regenerateRecoveryCodes(password, code)`: ten new codes; the old ones stop working.
pub async fn regenerate_recovery_codes(
    store: Store<'_>,
    auth: &Auth,
    keyring: &Keyring,
    actor: &Actor,
    password: String,
    code: &str,
) -> Result<Vec<String>, AppError> {
    let w = Work::begin(store, actor).await?;
    reauthenticate(&w, auth, keyring, actor, password, code).await?;
    let codes = replace_recovery_codes(&w.txn, actor).await?;
    record(&w.txn, actor, "recovery_codes_regenerated").await?;
    w.commit().await?;
    Ok(codes)
}

/// `twoFactor`: the signed-in member's state.
pub async fn status(db: &impl ConnectionTrait, actor: &Actor) -> Result<Status, AppError> {
    let cred = credential(db, actor.scope(), actor.user_id).await?;
    let left = actor
        .scope()
        .find::<recovery_codes::Entity>()
        .filter(recovery_codes::Column::UserId.eq(actor.user_id))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .count(db)
        .await?;
    let confirmed_at = cred.and_then(|c| c.confirmed_at);
    Ok(Status {
        enabled: confirmed_at.is_some(),
        confirmed_at,
        recovery_codes_left: if confirmed_at.is_some() { left } else { 0 },
    })
}
