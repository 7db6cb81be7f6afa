//! One-time links mailed to members: invitations (7 days), address verification (7 days) and
//! password resets (1 hour).
//!
//! A token is `<row id>.<secret>`: the id finds its row, and the SHA-256 of the secret is
//! compared with the stored hash in constant time (only the hash is stored). A token is
//! single-use: taking it is a guarded UPDATE (`used_at IS NULL`) in the transaction of the
//! change it allows, so two presentations at once cannot both pass. Issuing a new token of a
//! purpose voids the member's earlier ones. Every way a token can be wrong (unknown, altered,
//! expired, used, voided, for another purpose) gets the same answer.

use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, sea_query::Expr,
};
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::accounts::{self, Session};
use super::audit;
use super::work::{Store, Work};
use super::{Actor, RequestMeta, now};
use crate::auth::{Auth, password, refresh};
use crate::db::scoped::Scoped;
use crate::domain::enums::AuditAction;
use crate::entities::{account_tokens, organizations, users};
use crate::error::AppError;
use crate::mail::{Composer, Template};

/// The stored "hash" of a member who has not chosen a password yet (invited): no PHC string
/// looks like this, so no password ever matches it.
pub const NO_PASSWORD: &str = "!invited";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    Verification,
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Verification => "verification",
            Self::PasswordReset => "password_reset",
        }
    }

    fn ttl(self) -> Duration {
        match self {
            Self::Invitation | Self::Verification => Duration::days(7),
            Self::PasswordReset => Duration::hours(1),
        }
    }

    /// The page of the web app a link opens (`PLUGS_PUBLIC_URL` + this + `?token=`).
    fn path(self) -> &'static str {
        match self {
            Self::Invitation => "/accept-invitation",
            Self::Verification => "/verify-email",
            Self::PasswordReset => "/reset-password",
        }
    }
}

const BAD_LINK: &str = "this link is invalid, has expired or was already used";

fn bad_link() -> AppError {
    AppError::bad_input("token", BAD_LINK)
}

fn scope_of(user: &users::Model) -> Scoped {
    Scoped::system(
        user.organization_id,
        "the organization of the member a link is for",
    )
}

/// Issues a token of `purpose` for `user` in `conn`, voiding the member's earlier unused ones.
pub async fn issue(
    conn: &impl ConnectionTrait,
    user: &users::Model,
    purpose: Purpose,
    created_by: Option<Uuid>,
) -> Result<String, AppError> {
    let t = now();
    void(conn, user, purpose).await?;
    let id = Uuid::new_v4();
    let (secret, hash) = refresh::generate();
    account_tokens::ActiveModel {
        id: Set(id),
        organization_id: Set(user.organization_id),
        user_id: Set(user.id),
        purpose: Set(purpose.as_str().into()),
        token_hash: Set(hash),
        email: Set(Some(user.email.clone())),
        created_by: Set(created_by),
        expires_at: Set(t + purpose.ttl()),
        used_at: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
    }
    .insert(conn)
    .await?;
    Ok(format!("{}.{secret}", id.simple()))
}

/// Voids the member's unused tokens of `purpose`; how many.
pub(crate) async fn void(
    conn: &impl ConnectionTrait,
    user: &users::Model,
    purpose: Purpose,
) -> Result<u64, AppError> {
    let t = now();
    Ok(scope_of(user)
        .update_many::<account_tokens::Entity>()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(t))
        .col_expr(account_tokens::Column::UpdatedAt, Expr::value(t))
        .filter(account_tokens::Column::UserId.eq(user.id))
        .filter(account_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Takes a presented token of `purpose` in `txn`: its row, now used; or the one answer for
/// every kind of bad link.
pub async fn consume(
    txn: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> Result<account_tokens::Model, AppError> {
    let (id, secret) = token.trim().split_once('.').ok_or_else(bad_link)?;
    let id = Uuid::try_parse(id).map_err(|_| bad_link())?;
    #[expect(
        clippy::disallowed_methods,
        reason = "a mailed link is looked up by its id before any tenant is known"
    )]
    let row = account_tokens::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(bad_link)?;
    let presented = refresh::hash(secret);
    let matches: bool = presented.as_bytes().ct_eq(row.token_hash.as_bytes()).into();
    if !matches
        || row.purpose != purpose.as_str()
        || row.used_at.is_some()
        || row.expires_at < now()
    {
        return Err(bad_link());
    }
    let scope = Scoped::system(row.organization_id, "the organization of a presented link");
    let t = now();
    let taken = scope
        .update_many::<account_tokens::Entity>()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(t))
        .col_expr(account_tokens::Column::UpdatedAt, Expr::value(t))
        .filter(account_tokens::Column::Id.eq(row.id))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(txn)
        .await?
        .rows_affected;
    if taken != 1 {
        return Err(bad_link());
    }
    Ok(row)
}

/// The live, active member a token was issued for (in an active organization).
async fn holder(
    txn: &impl ConnectionTrait,
    row: &account_tokens::Model,
) -> Result<(users::Model, organizations::Model), AppError> {
    let scope = Scoped::system(row.organization_id, "the organization of a presented link");
    scope
        .live_by_id::<users::Entity>(row.user_id)
        .find_also_related(organizations::Entity)
        .one(txn)
        .await?
        .and_then(|(u, o)| o.map(|o| (u, o)))
        .filter(|(u, o)| u.is_active && o.is_active && !o.is_deleted)
        .ok_or_else(bad_link)
}

async fn organization(
    conn: &impl ConnectionTrait,
    user: &users::Model,
) -> Result<organizations::Model, AppError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the member's own organization, by the member's row"
    )]
    let org = organizations::Entity::find_by_id(user.organization_id)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::Internal("a member without an organization".into()))?;
    Ok(org)
}

/// Issues a token of `purpose` for `user` and queues the mail carrying it, in `conn`.
pub async fn send_link(
    conn: &impl ConnectionTrait,
    composer: &Composer,
    user: &users::Model,
    purpose: Purpose,
    sender: Option<&users::Model>,
) -> Result<(), AppError> {
    let org = organization(conn, user).await?;
    let token = issue(conn, user, purpose, sender.map(|s| s.id)).await?;
    let link = composer.link(purpose.path(), &token);
    let inviter = sender.map_or_else(
        || org.name.clone(),
        |s| format!("{} {}", s.first_name, s.last_name),
    );
    let (template, subject) = match purpose {
        Purpose::Invitation => (
            Template::Invitation,
            format!("{inviter} invited you to {} on The Plugs", org.name),
        ),
        Purpose::Verification => (
            Template::Verification,
            "Confirm your e-mail address".to_owned(),
        ),
        Purpose::PasswordReset => (Template::PasswordReset, "Reset your password".to_owned()),
    };
    let msg = template.render(
        &user.email,
        subject,
        &[
            ("first_name", &user.first_name),
            ("email", &user.email),
            ("organization", &org.name),
            ("inviter", &inviter),
            ("link", &link),
        ],
    );
    composer.queue(conn, user.organization_id, &msg).await
}

/// A member still invited: never signed in, no password of their own.
pub fn is_invited(user: &users::Model) -> bool {
    user.password_hash == NO_PASSWORD
}

/// `resendInvitation`: a new link (the earlier one stops working).
pub async fn resend_invitation(
    store: Store<'_>,
    composer: &Composer,
    actor: &Actor,
    user_id: Uuid,
) -> Result<users::Model, AppError> {
    actor.admin()?;
    let mut w = Work::begin(store, actor).await?;
    let user = invited(&w, user_id).await?;
    let sender = w.live::<users::Entity>(actor.user_id).await?;
    send_link(&w.txn, composer, &user, Purpose::Invitation, Some(&sender)).await?;
    w.signal(crate::realtime::Signal::JobsAvailable);
    audit::by_actor(
        &w.txn,
        actor,
        "users",
        user.id,
        AuditAction::Update,
        None,
        Some(json!({ "invitation": "resent" })),
    )
    .await?;
    w.commit().await?;
    Ok(user)
}

async fn invited(w: &Work<'_>, user_id: Uuid) -> Result<users::Model, AppError> {
    let user = w.live::<users::Entity>(user_id).await?;
    if !is_invited(&user) {
        return Err(AppError::Conflict {
            message: "this member has already accepted their invitation".into(),
            field: Some("userId".into()),
        });
    }
    Ok(user)
}

/// `revokeInvitation`: the link stops working and the invited member is deleted (restorable,
/// like any member; a restored invitee needs a new invitation).
pub async fn revoke_invitation(
    store: Store<'_>,
    actor: &Actor,
    user_id: Uuid,
) -> Result<users::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let user = invited(&w, user_id).await?;
    void(&w.txn, &user, Purpose::Invitation).await?;
    let user = w.set_deleted::<users::Entity>(user.id, true).await?;
    w.commit().await?;
    Ok(user)
}

/// A link that sets a password: the password checked (as `field`) and hashed first, then the
/// link taken in a new write transaction, with the member it is for.
async fn redeem(
    db: &DatabaseConnection,
    auth: &Auth,
    purpose: Purpose,
    token: &str,
    password_text: String,
    field: &str,
) -> Result<
    (
        sea_orm::DatabaseTransaction,
        account_tokens::Model,
        users::Model,
        String,
    ),
    AppError,
> {
    password::validate(&password_text, field)?;
    let hash = auth.hasher.hash(password_text).await?;
    let txn = crate::db::write_txn(db).await?;
    let row = consume(&txn, purpose, token).await?;
    let (user, _) = holder(&txn, &row).await?;
    Ok((txn, row, user, hash))
}

/// `acceptInvitation`: the invited member chooses a password and is signed in; their address
/// is verified (the link reached it).
pub async fn accept_invitation(
    db: &DatabaseConnection,
    auth: &Auth,
    token: &str,
    password_text: String,
    meta: &RequestMeta,
) -> Result<Session, AppError> {
    let (txn, row, user, hash) = redeem(
        db,
        auth,
        Purpose::Invitation,
        token,
        password_text,
        "password",
    )
    .await?;
    if !is_invited(&user) {
        return Err(bad_link());
    }
    let user = set_password(&txn, &user, hash, row.email.as_deref()).await?;
    let event = json!({ "invitation": "accepted", "is_verified": user.is_verified });
    accounts::sign_in(txn, auth, user, meta, event).await
}

/// Sets the member's password; the address the link went to is verified if it is still theirs.
async fn set_password(
    txn: &impl ConnectionTrait,
    user: &users::Model,
    hash: String,
    mailed_to: Option<&str>,
) -> Result<users::Model, AppError> {
    let t = now();
    let mut a: users::ActiveModel = user.clone().into();
    a.password_hash = Set(hash);
    if mailed_to == Some(user.email.as_str()) && !user.is_verified {
        a.is_verified = Set(true);
        a.verified_at = Set(Some(t));
    }
    a.updated_at = Set(t);
    Ok(a.update(txn).await?)
}

/// `verifyEmail`: the link proves the member reads this address (if it is still theirs).
pub async fn verify_email(
    db: &DatabaseConnection,
    token: &str,
    meta: &RequestMeta,
) -> Result<bool, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let row = consume(&txn, Purpose::Verification, token).await?;
    let (user, _) = holder(&txn, &row).await?;
    if row.email.as_deref() != Some(user.email.as_str()) {
        // The address changed since: this link proves an address the member no longer has.
        return Err(bad_link());
    }
    if !user.is_verified {
        let t = now();
        let mut a: users::ActiveModel = user.clone().into();
        a.is_verified = Set(true);
        a.verified_at = Set(Some(t));
        a.updated_at = Set(t);
        a.update(&txn).await?;
        let new = json!({ "is_verified": true, "email": user.email });
        audit::by_member(
            &txn,
            &user,
            meta,
            Some(json!({ "is_verified": false })),
            new,
        )
        .await?;
    }
    crate::db::idempotency::mark_request(&txn, meta).await?;
    txn.commit().await?;
    Ok(true)
}

/// `resendVerification`: a new link to the signed-in member's address (if not yet verified).
pub async fn resend_verification(
    store: Store<'_>,
    composer: &Composer,
    actor: &Actor,
) -> Result<bool, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let user = w.live::<users::Entity>(actor.user_id).await?;
    if user.is_verified {
        return Err(AppError::Conflict {
            message: "your address is already verified".into(),
            field: None,
        });
    }
    send_link(&w.txn, composer, &user, Purpose::Verification, None).await?;
    w.signal(crate::realtime::Signal::JobsAvailable);
    audit::by_actor(
        &w.txn,
        actor,
        "users",
        user.id,
        AuditAction::Update,
        None,
        Some(json!({ "verification": "resent", "email": user.email })),
    )
    .await?;
    w.commit().await?;
    Ok(true)
}

/// How long a reset request waits for other requests of the same address or network.
const RESET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// `requestPasswordReset`: the same answer, after the same work (one queued job), whether or
/// not the address belongs to anyone; limited per address and per client network like
/// failed sign-ins (every request counts).
pub async fn request_password_reset(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    auth: &Auth,
    composer: &Composer,
    email: &str,
    organization_domain: Option<&str>,
    meta: &RequestMeta,
) -> Result<bool, AppError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 255 {
        return Err(AppError::bad_input("email", "must be an e-mail address"));
    }
    // Per address from one network, and per network: a stranger elsewhere cannot use up an
    // address's budget and so block its owner's resets.
    let network = meta
        .ip
        .map_or_else(|| "unknown".into(), crate::auth::rate_limit::network_key);
    let email_key = format!("reset:email:{email}|{network}");
    let ip_key = format!("reset:{network}");
    let keys = [email_key.as_str(), ip_key.as_str()];
    // Never `succeeded`: every request spends the budget, found or not.
    let _attempt = auth
        .limiter
        .begin_waiting(&keys, RESET_PATIENCE)
        .await
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let domain = organization_domain
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty());
    let plain = serde_json::to_vec(&json!({ "email": email, "domain": domain }))
        .map_err(|e| AppError::Internal(format!("a reset request: {e}")))?;
    let job = crate::jobs::kinds::PasswordResetRequest {
        sealed: composer.keyring.encrypt(&plain, RESET_AAD),
    };
    crate::jobs::enqueue_system(db, &job, Default::default()).await?;
    crate::jobs::wake(broker);
    Ok(true)
}

const RESET_AAD: &str = "plugs reset request v1";

/// The address and domain of a queued reset request.
pub fn open_reset_request(
    keyring: &crate::crypto::Keyring,
    sealed: &str,
) -> Result<(String, Option<String>), String> {
    let bytes = keyring
        .decrypt(sealed, RESET_AAD)
        .map_err(|e| format!("unsealing a reset request: {e:?}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("a reset request: {e}"))?;
    let email = v["email"].as_str().unwrap_or_default().to_owned();
    Ok((email, v["domain"].as_str().map(str::to_owned)))
}

/// The job behind `requestPasswordReset`: a link to every active account of the address (in
/// the named organization, when one is named). How many were mailed.
pub async fn mail_resets(
    db: &DatabaseConnection,
    composer: &Composer,
    email: &str,
    organization_domain: Option<&str>,
) -> Result<usize, AppError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "a reset request names an address, not a tenant: it finds its accounts"
    )]
    let mut found = users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .filter(users::Column::IsDeleted.eq(false))
        .filter(users::Column::IsActive.eq(true))
        .find_also_related(organizations::Entity)
        .all(db)
        .await?;
    found.retain(|(_, o)| {
        o.as_ref().is_some_and(|o| {
            o.is_active
                && !o.is_deleted
                && organization_domain.is_none_or(|d| o.domain.as_deref() == Some(d))
        })
    });
    let txn = crate::db::write_txn(db).await?;
    for (user, _) in &found {
        send_link(&txn, composer, user, Purpose::PasswordReset, None).await?;
    }
    txn.commit().await?;
    Ok(found.len())
}

/// `resetPassword`: sets the password and ends every session of the member (sockets too).
pub async fn reset_password(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    auth: &Auth,
    token: &str,
    new_password: String,
    meta: &RequestMeta,
) -> Result<bool, AppError> {
    let (txn, row, user, hash) = redeem(
        db,
        auth,
        Purpose::PasswordReset,
        token,
        new_password,
        "newPassword",
    )
    .await?;
    if row.email.as_deref() != Some(user.email.as_str()) {
        // Mailed to an address the member no longer has.
        return Err(bad_link());
    }
    let user = set_password(&txn, &user, hash, row.email.as_deref()).await?;
    // An invitation still pending is answered by the reset: its link must not work after it.
    void(&txn, &user, Purpose::Invitation).await?;
    let revoked = accounts::end_all_sessions(&txn, &user).await?;
    let new = json!({ "password_reset": true, "sessions_revoked": revoked });
    audit::by_member(&txn, &user, meta, None, new).await?;
    crate::db::idempotency::mark_request(&txn, meta).await?;
    let mut outbox = crate::realtime::Outbox::new();
    outbox.push(crate::realtime::Signal::SessionsEnded {
        org: user.organization_id,
        user: user.id,
        family: None,
        except: None,
    });
    outbox.commit(txn, broker).await?;
    Ok(true)
}

/// Deletes links that expired more than a day ago (used or not); how many. Hourly job.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, AppError> {
    let before = now() - Duration::days(1);
    #[expect(
        clippy::disallowed_methods,
        reason = "housekeeping across organizations: only expired links go"
    )]
    let n = account_tokens::Entity::delete_many()
        .filter(account_tokens::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected;
    Ok(n)
}
