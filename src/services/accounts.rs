//! Sign-up, sign-in and sessions: register, login, refresh (rotation with reuse detection),
//! logout, change password, and turning an access token back into an `Actor`.

use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Entry, snapshot};
use super::work::{Store, Work};
use super::{Actor, RequestMeta, now, validate};
use crate::auth::{Auth, password, refresh};
use crate::db::scoped::Scoped;
use crate::domain::enums::AuditAction;
use crate::entities::{organizations, refresh_tokens, users};
use crate::error::AppError;

pub struct RegisterInput {
    pub organization_name: String,
    pub organization_domain: Option<String>,
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// What a successful sign-in returns.
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: users::Model,
    /// The access token may only set up two-factor sign-in.
    pub two_factor_setup: bool,
}

const BAD_CREDENTIALS: &str = "invalid email or password";
/// How long a sign-in waits for other attempts on the same email or address to finish.
const ATTEMPT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
const BAD_REFRESH: &str = "invalid refresh token";

fn unauthenticated(msg: &str) -> AppError {
    AppError::Unauthenticated(msg.to_owned())
}

/// Starts a new session (refresh-token family) for `user` inside `txn`.
/// However often a session refreshes, it ends this long after its sign-in.
pub const SESSION_MAX_AGE_DAYS: i64 = 90;

async fn start_session(
    txn: &impl sea_orm::ConnectionTrait,
    auth: &Auth,
    user: &users::Model,
    family_id: Uuid,
    meta: &RequestMeta,
    not_after: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<(String, refresh_tokens::Model), AppError> {
    let (token, hash) = refresh::generate();
    let t = now();
    let ttl = Duration::from_std(auth.refresh_ttl).unwrap_or(Duration::days(30));
    let expires_at = not_after.map_or(t + ttl, |cap| (t + ttl).min(cap));
    let row = refresh_tokens::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(user.organization_id),
        user_id: Set(user.id),
        family_id: Set(family_id),
        token_hash: Set(hash),
        expires_at: Set(expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
        user_agent: Set(meta
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(500).collect())),
        ip_address: Set(meta.ip.map(|ip| ip.to_string())),
        created_at: Set(t),
    }
    .insert(txn)
    .await?;
    Ok((token, row))
}

fn session(
    auth: &Auth,
    user: users::Model,
    refresh_token: String,
    family: Uuid,
    two_factor_setup: bool,
) -> Result<Session, AppError> {
    let access_token = auth.jwt.issue(
        user.id,
        user.organization_id,
        user.is_admin,
        family,
        two_factor_setup,
    )?;
    Ok(Session {
        access_token,
        refresh_token,
        expires_in: auth.jwt.ttl_secs(),
        user,
        two_factor_setup,
    })
}

/// Signs `user` in: records the sign-in, starts a session and commits `txn`. The access token
/// may only set up two-factor sign-in when the organization requires it and the member has
/// not set it up.
/// `event` adds to the audit row what else the sign-in did (an invitation accepted).
pub(crate) async fn sign_in(
    txn: sea_orm::DatabaseTransaction,
    auth: &Auth,
    user: users::Model,
    meta: &RequestMeta,
    event: serde_json::Value,
) -> Result<Session, AppError> {
    let mut active: users::ActiveModel = user.into();
    active.last_login = Set(Some(now()));
    let user = active.update(&txn).await?;
    let family = Uuid::new_v4();
    let (token, _) = start_session(&txn, auth, &user, family, meta, None).await?;
    let mut new = json!({ "last_login": user.last_login });
    if let (Some(n), serde_json::Value::Object(extra)) = (new.as_object_mut(), event) {
        n.extend(extra);
    }
    audit::by_member(&txn, &user, meta, None, new).await?;
    let setup = super::two_factor::setup_pending(&txn, &user).await?;
    crate::db::idempotency::mark_request(&txn, meta).await?;
    txn.commit().await?;
    session(auth, user, token, family, setup)
}

pub async fn register(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    auth: &Auth,
    composer: &crate::mail::Composer,
    input: RegisterInput,
    meta: &RequestMeta,
) -> Result<Session, AppError> {
    let org_name = validate::required("organizationName", &input.organization_name, 255)?;
    let domain = validate::domain("organizationDomain", input.organization_domain.as_deref())?;
    let email = validate::email("email", &input.email)?;
    let first = validate::required("firstName", &input.first_name, 50)?;
    let last = validate::required("lastName", &input.last_name, 50)?;
    password::validate(&input.password, "password")?;
    let hash = auth.hasher.hash(input.password).await?;

    let t = now();
    let txn = crate::db::write_txn(db).await?;
    let org = organizations::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(org_name),
        domain: Set(domain),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let user = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(org.id),
        email: Set(email),
        password_hash: Set(hash),
        first_name: Set(first),
        last_name: Set(last),
        is_admin: Set(true),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let family = Uuid::new_v4();
    let (token, _) = start_session(&txn, auth, &user, family, meta, None).await?;
    audit::record(
        &txn,
        Entry {
            organization_id: org.id,
            user_id: Some(user.id),
            meta,
            table: "organizations",
            record_id: org.id,
            action: AuditAction::Create,
            old: None,
            new: Some(json!({ "organization": snapshot(&org), "admin": snapshot(&user) })),
        },
    )
    .await?;
    super::account_mail::send_link(
        &txn,
        composer,
        &user,
        super::account_mail::Purpose::Verification,
        None,
    )
    .await?;
    crate::db::idempotency::mark_request(&txn, meta).await?;
    txn.commit().await?;
    crate::jobs::wake(broker);
    session(auth, user, token, family, false)
}

pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: String,
    pub organization_domain: Option<&'a str>,
    /// A current TOTP code or a recovery code, for members with two-factor sign-in.
    pub totp_code: Option<&'a str>,
}

pub async fn login(
    db: &DatabaseConnection,
    auth: &Auth,
    keyring: &crate::crypto::Keyring,
    creds: Credentials<'_>,
    meta: &RequestMeta,
) -> Result<Session, AppError> {
    let Credentials {
        email,
        password: password_text,
        organization_domain,
        totp_code,
    } = creds;
    let email = email.trim().to_lowercase();
    let email_key = format!("email:{email}");
    let ip_key = meta.ip.map(crate::auth::rate_limit::network_key);
    let keys: Vec<&str> = std::iter::once(email_key.as_str())
        .chain(ip_key.as_deref())
        .collect();
    // Counted now, forgiven only on success: concurrent guesses cannot overtake the check.
    let attempt = auth
        .limiter
        .begin_waiting(&keys, ATTEMPT_PATIENCE)
        .await
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;

    // The one lookup that crosses organizations: before sign-in there is no tenant yet.
    let domain = organization_domain.map(|d| d.trim().to_lowercase());
    #[expect(
        clippy::disallowed_methods,
        reason = "sign-in finds an e-mail across organizations: there is no tenant before it"
    )]
    let mut candidates = users::Entity::find()
        .filter(users::Column::Email.eq(&email))
        .filter(users::Column::IsDeleted.eq(false))
        .find_also_related(organizations::Entity)
        .all(db)
        .await?;
    candidates.retain(|(_, org)| {
        org.as_ref().is_some_and(|o| {
            !o.is_deleted
                && o.is_active
                && domain.as_ref().is_none_or(|d| o.domain.as_ref() == Some(d))
        })
    });
    // At most one password check per attempt, whatever the number of accounts: checking each
    // would tell an attacker who owns one of them whether a guess opens another.
    let user = match candidates.len() {
        1 => candidates.pop().map(|(u, _)| u),
        n => {
            auth.hasher.verify_dummy(password_text.clone()).await?;
            if n > 1 {
                return Err(AppError::bad_input(
                    "organizationDomain",
                    "this email belongs to several organizations: pass organizationDomain",
                ));
            }
            None
        }
    };
    let Some(user) = user else {
        return Err(unauthenticated(BAD_CREDENTIALS));
    };
    if super::account_mail::is_invited(&user) {
        // No password yet: as slow and as wrong as any other.
        auth.hasher.verify_dummy(password_text).await?;
        return Err(unauthenticated(BAD_CREDENTIALS));
    }
    if !auth
        .hasher
        .verify(password_text, user.password_hash.clone())
        .await?
    {
        return Err(unauthenticated(BAD_CREDENTIALS));
    }
    if !user.is_active {
        attempt.succeeded();
        return Err(unauthenticated("this account is deactivated"));
    }
    let txn = crate::db::write_txn(db).await?;
    match super::two_factor::check_sign_in(&txn, keyring, &user, totp_code).await {
        // The password was right: asking for the second factor is not a failed attempt.
        Err(e @ AppError::TwoFactorRequired(_)) => {
            attempt.succeeded();
            return Err(e);
        }
        // A wrong code counts (the attempt is dropped unforgiven).
        Err(e) => return Err(e),
        Ok(()) => attempt.succeeded(),
    }
    sign_in(txn, auth, user, meta, json!({})).await
}

/// Revokes every session of `user` (a password reset); how many. The caller announces
/// `SessionsEnded` after its commit.
pub(crate) async fn end_all_sessions(
    txn: &impl sea_orm::ConnectionTrait,
    user: &users::Model,
) -> Result<u64, AppError> {
    let scope = Scoped::system(user.organization_id, "the member whose sessions end");
    revoke(txn, scope, all_of_user(user.id)).await
}

/// Revokes every live token of a family (or of a user, except one family); how many.
async fn revoke(
    db: &impl sea_orm::ConnectionTrait,
    scope: Scoped,
    filter: sea_orm::Condition,
) -> Result<u64, AppError> {
    let res = scope
        .update_many::<refresh_tokens::Entity>()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now()))
        .filter(filter)
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

pub fn family(family_id: Uuid) -> sea_orm::Condition {
    sea_orm::Condition::all().add(refresh_tokens::Column::FamilyId.eq(family_id))
}

pub fn all_of_user(user_id: Uuid) -> sea_orm::Condition {
    sea_orm::Condition::all().add(refresh_tokens::Column::UserId.eq(user_id))
}

/// Open sockets of the ended session(s) close (see `Signal::SessionsEnded`).
fn session_ended(
    row: &refresh_tokens::Model,
    family: Option<Uuid>,
    except: Option<Uuid>,
) -> crate::realtime::Outbox {
    let mut outbox = crate::realtime::Outbox::new();
    outbox.push(crate::realtime::Signal::SessionsEnded {
        org: row.organization_id,
        user: row.user_id,
        family,
        except,
    });
    outbox
}

/// Revokes all sessions of a member of the actor's organization (deactivation, deletion).
pub async fn revoke_user_sessions(w: &mut Work<'_>, user: &users::Model) -> Result<u64, AppError> {
    w.signal(crate::realtime::Signal::SessionsEnded {
        org: user.organization_id,
        user: user.id,
        family: None,
        except: None,
    });
    revoke(&w.txn, w.actor.scope(), all_of_user(user.id)).await
}

/// A refresh token, whoever presents it: before it is verified there is no tenant.
async fn by_token(
    db: &impl sea_orm::ConnectionTrait,
    token: &str,
) -> Result<Option<refresh_tokens::Model>, AppError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "a refresh token is looked up by its hash before any tenant is known"
    )]
    let found = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(refresh::hash(token)))
        .one(db)
        .await?;
    Ok(found)
}

/// The organization a session (refresh-token row) belongs to.
fn session_scope(row: &refresh_tokens::Model) -> Scoped {
    Scoped::system(
        row.organization_id,
        "the organization of a presented session",
    )
}

pub async fn refresh(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    auth: &Auth,
    token: &str,
    meta: &RequestMeta,
) -> Result<Session, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let Some(row) = by_token(&txn, token).await? else {
        return Err(unauthenticated(BAD_REFRESH));
    };
    let scope = session_scope(&row);
    if row.revoked_at.is_some() {
        return Err(unauthenticated("this session has been revoked"));
    }
    let t = now();
    // Rotate: only the first presenter of this token wins; any other presentation is a reuse.
    let rotated = scope
        .update_many::<refresh_tokens::Entity>()
        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(t))
        .filter(refresh_tokens::Column::Id.eq(row.id))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if rotated == 0 {
        // A rotated token came back: someone holds a stolen copy. End the whole session.
        revoke(&txn, scope, family(row.family_id)).await?;
        audit::record(
            &txn,
            Entry {
                organization_id: row.organization_id,
                user_id: Some(row.user_id),
                meta,
                table: "refresh_tokens",
                record_id: row.id,
                action: AuditAction::Delete,
                old: None,
                new: Some(json!({ "revoked": "reuse_detected", "family_id": row.family_id })),
            },
        )
        .await?;
        crate::db::idempotency::mark_request(&txn, meta).await?;
        session_ended(&row, Some(row.family_id), None)
            .commit(txn, broker)
            .await?;
        return Err(unauthenticated(
            "this refresh token was already used; the session has been revoked",
        ));
    }
    if row.expires_at < t {
        return Err(unauthenticated("the refresh token has expired"));
    }
    let user = scope
        .by_id::<users::Entity>(row.user_id)
        .find_also_related(organizations::Entity)
        .one(&txn)
        .await?
        .filter(|(u, o)| {
            u.is_active && !u.is_deleted && o.as_ref().is_some_and(|o| o.is_active && !o.is_deleted)
        })
        .map(|(u, _)| u)
        .ok_or_else(|| unauthenticated(BAD_REFRESH))?;
    let signed_in = scope
        .find::<refresh_tokens::Entity>()
        .filter(refresh_tokens::Column::FamilyId.eq(row.family_id))
        .order_by_asc(refresh_tokens::Column::CreatedAt)
        .one(&txn)
        .await?
        .map_or(row.created_at, |first| first.created_at);
    let not_after = signed_in + Duration::days(SESSION_MAX_AGE_DAYS);
    let (token, new_row) =
        start_session(&txn, auth, &user, row.family_id, meta, Some(not_after)).await?;
    let setup = super::two_factor::setup_pending(&txn, &user).await?;
    audit::record(
        &txn,
        Entry {
            organization_id: user.organization_id,
            user_id: Some(user.id),
            meta,
            table: "refresh_tokens",
            record_id: new_row.id,
            action: AuditAction::Create,
            old: None,
            new: Some(json!({ "family_id": row.family_id, "replaces": row.id })),
        },
    )
    .await?;
    crate::db::idempotency::mark_request(&txn, meta).await?;
    txn.commit().await?;
    session(auth, user, token, row.family_id, setup)
}

pub async fn logout(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    token: &str,
    meta: &RequestMeta,
) -> Result<bool, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let Some(row) = by_token(&txn, token).await? else {
        return Err(unauthenticated(BAD_REFRESH));
    };
    if revoke(&txn, session_scope(&row), family(row.family_id)).await? == 0 {
        // Already ended (an earlier logout, reuse detection): logging out is idempotent and
        // changes nothing, so nothing is audited or announced.
        return Ok(true);
    }
    audit::record(
        &txn,
        Entry {
            organization_id: row.organization_id,
            user_id: Some(row.user_id),
            meta,
            table: "refresh_tokens",
            record_id: row.id,
            action: AuditAction::Delete,
            old: None,
            new: Some(json!({ "revoked": "logout", "family_id": row.family_id })),
        },
    )
    .await?;
    crate::db::idempotency::mark_request(&txn, meta).await?;
    session_ended(&row, Some(row.family_id), None)
        .commit(txn, broker)
        .await?;
    Ok(true)
}

pub async fn change_password(
    store: Store<'_>,
    auth: &Auth,
    actor: &Actor,
    current: String,
    new: String,
) -> Result<bool, AppError> {
    password::validate(&new, "newPassword")?;
    let user = actor
        .scope()
        .live_by_id::<users::Entity>(actor.user_id)
        .one(store.db)
        .await?
        .ok_or_else(|| unauthenticated("the account no longer exists"))?;
    // Guesses of the current password (say, with a stolen access token) are limited per member.
    let user_key = format!("user:{}", actor.user_id);
    let attempt = auth
        .limiter
        .begin_waiting(&[&user_key], ATTEMPT_PATIENCE)
        .await
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    if !auth
        .hasher
        .verify(current, user.password_hash.clone())
        .await?
    {
        return Err(AppError::bad_input(
            "currentPassword",
            "the current password is wrong",
        ));
    }
    attempt.succeeded();
    let hash = auth.hasher.hash(new).await?;
    let mut w = Work::begin(store, actor).await?;
    let user_row = user.clone();
    let mut active: users::ActiveModel = user.into();
    active.password_hash = Set(hash);
    active.updated_at = Set(now());
    active.updated_by = Set(Some(actor.user_id));
    active.update(&w.txn).await?;
    // Every other session ends; the one that asked stays signed in.
    let others =
        all_of_user(actor.user_id).add(refresh_tokens::Column::FamilyId.ne(actor.session_id));
    let revoked = revoke(&w.txn, actor.scope(), others).await?;
    // A reset link mailed before would undo this change: it stops working.
    super::account_mail::void(
        &w.txn,
        &user_row,
        super::account_mail::Purpose::PasswordReset,
    )
    .await?;
    audit::record(
        &w.txn,
        Entry {
            organization_id: actor.organization_id,
            user_id: Some(actor.user_id),
            meta: &actor.meta,
            table: "users",
            record_id: actor.user_id,
            action: AuditAction::Update,
            old: None,
            new: Some(json!({ "password_changed": true, "sessions_revoked": revoked })),
        },
    )
    .await?;
    w.signal(crate::realtime::Signal::SessionsEnded {
        org: actor.organization_id,
        user: actor.user_id,
        family: None,
        except: Some(actor.session_id),
    });
    w.commit().await?;
    Ok(true)
}

/// Turns a bearer token into the caller: signature and claims first, then the database must
/// still know an active user and a live session for it.
pub async fn authenticate(
    db: &DatabaseConnection,
    auth: &Auth,
    token: &str,
    meta: RequestMeta,
) -> Result<Actor, AppError> {
    let claims = auth.jwt.verify(token)?;
    if let Some(live) = auth.sessions.get(claims.sid)
        && live.user == claims.sub
        && live.org == claims.org
    {
        return Ok(Actor {
            user_id: live.user,
            organization_id: live.org,
            is_admin: live.is_admin,
            session_id: claims.sid,
            meta,
            two_factor_setup: claims.tfs,
        });
    }
    let ticket = auth.sessions.ticket();
    let scope = Scoped::system(claims.org, "the organization a verified access token names");
    let user = scope
        .by_id::<users::Entity>(claims.sub)
        .find_also_related(organizations::Entity)
        .one(db)
        .await?
        .filter(|(u, o)| {
            u.is_active && !u.is_deleted && o.as_ref().is_some_and(|o| o.is_active && !o.is_deleted)
        })
        .map(|(u, _)| u)
        .ok_or_else(|| unauthenticated("the account behind this token is no longer active"))?;
    let live_session = scope
        .find::<refresh_tokens::Entity>()
        .filter(refresh_tokens::Column::FamilyId.eq(claims.sid))
        .filter(refresh_tokens::Column::UserId.eq(user.id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some();
    if !live_session {
        return Err(unauthenticated("this session has ended; sign in again"));
    }
    auth.sessions.put(
        ticket,
        claims.sid,
        crate::auth::sessions::LiveSession {
            user: user.id,
            org: user.organization_id,
            is_admin: user.is_admin,
        },
    );
    Ok(Actor {
        user_id: user.id,
        organization_id: user.organization_id,
        is_admin: user.is_admin,
        session_id: claims.sid,
        meta,
        two_factor_setup: claims.tfs,
    })
}
