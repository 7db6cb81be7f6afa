//! Members of an organization: the directory (every member reads it), and its management
//! (admins only): create, update, soft delete, restore; plus each member's own profile.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, Order, PaginatorTrait,
    QueryFilter,
};
use uuid::Uuid;

use std::sync::LazyLock;

use super::validate::{self, Text::Plain, Text::Url, set_text};
use super::work::{Store, Work};
use super::{Actor, Change, accounts, now};
use crate::auth::{Auth, password};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::entities::users;
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub search: Option<String>,
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
    /// `Some(true)`: the trash (admins only); otherwise live members.
    pub deleted: Option<bool>,
}

/// Profile columns a member may change on themselves.
#[derive(Clone, Debug, Default)]
pub struct ProfilePatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Change<String>,
    pub bio: Change<String>,
    pub avatar_url: Change<String>,
    pub job_title: Change<String>,
    pub company: Change<String>,
    pub linkedin_url: Change<String>,
}

/// What an admin may change on any member.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub profile: ProfilePatch,
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub email: String,
    /// `None`: an invitation (`inviteUser`): the member chooses it through a mailed link.
    pub password: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_admin: bool,
    pub phone: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub job_title: Option<String>,
    pub company: Option<String>,
    pub linkedin_url: Option<String>,
}

pub fn keyset() -> Keyset<users::Entity> {
    Keyset {
        name: "created_at",
        sort: users::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: users::Column::Id,
        direction: Order::Asc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// `Organization.users`: oldest member first.
pub static OF_ORGANIZATION: LazyLock<Children<users::Entity>> = LazyLock::new(|| Children {
    parent: users::Column::OrganizationId,
    keyset: keyset(),
    status: None,
});

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &UserFilter,
    args: &PageArgs,
) -> Result<Page<users::Model>, AppError> {
    let trash = filter.deleted == Some(true);
    if trash {
        actor.admin()?;
    }
    let mut q = actor
        .scope()
        .find::<users::Entity>()
        .filter(users::Column::IsDeleted.eq(trash));
    if let Some(s) = validate::search(filter.search.as_deref())? {
        q = q.filter(crate::db::search::any_contains(
            &[
                users::Column::FirstName,
                users::Column::LastName,
                users::Column::Email,
            ],
            s,
        ));
    }
    if let Some(active) = filter.is_active {
        q = q.filter(users::Column::IsActive.eq(active));
    }
    if let Some(admin) = filter.is_admin {
        q = q.filter(users::Column::IsAdmin.eq(admin));
    }
    paginate(db, q, &keyset(), args).await
}

fn apply_profile(a: &mut users::ActiveModel, p: ProfilePatch) -> Result<(), AppError> {
    if let Some(v) = p.first_name {
        a.first_name = Set(validate::required("firstName", &v, 50)?);
    }
    if let Some(v) = p.last_name {
        a.last_name = Set(validate::required("lastName", &v, 50)?);
    }
    set_text(&mut a.phone, "phone", p.phone, Plain(20))?;
    set_text(&mut a.bio, "bio", p.bio, Plain(5000))?;
    set_text(&mut a.avatar_url, "avatarUrl", p.avatar_url, Url(500))?;
    set_text(&mut a.job_title, "jobTitle", p.job_title, Plain(100))?;
    set_text(&mut a.company, "company", p.company, Plain(100))?;
    set_text(&mut a.linkedin_url, "linkedinUrl", p.linkedin_url, Url(255))?;
    Ok(())
}

pub async fn create(
    store: Store<'_>,
    auth: &Auth,
    composer: &crate::mail::Composer,
    actor: &Actor,
    input: NewUser,
) -> Result<users::Model, AppError> {
    actor.admin()?;
    let email = validate::email("email", &input.email)?;
    if let Some(p) = &input.password {
        password::validate(p, "password")?;
    }
    let mut a = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        email: Set(email),
        is_admin: Set(input.is_admin),
        created_by: Set(Some(actor.user_id)),
        updated_by: Set(Some(actor.user_id)),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let set = |v: Option<String>| v.map_or(Change::Keep, Change::Set);
    apply_profile(
        &mut a,
        ProfilePatch {
            first_name: Some(input.first_name),
            last_name: Some(input.last_name),
            phone: set(input.phone),
            bio: set(input.bio),
            avatar_url: set(input.avatar_url),
            job_title: set(input.job_title),
            company: set(input.company),
            linkedin_url: set(input.linkedin_url),
        },
    )?;
    a.password_hash = Set(match input.password {
        Some(p) => auth.hasher.hash(p).await?,
        None => super::account_mail::NO_PASSWORD.to_owned(),
    });
    let mut w = Work::begin(store, actor).await?;
    let user = a.insert(&w.txn).await?;
    if super::account_mail::is_invited(&user) {
        let sender = w.live::<users::Entity>(actor.user_id).await?;
        super::account_mail::send_link(
            &w.txn,
            composer,
            &user,
            super::account_mail::Purpose::Invitation,
            Some(&sender),
        )
        .await?;
        w.signal(crate::realtime::Signal::JobsAvailable);
    }
    w.audit::<users::Entity, _>(user.id, None, Some(&user))
        .await?;
    w.commit().await?;
    Ok(user)
}

/// Other live, active admins of the organization.
/// The organization's live, active admins (who runs it, and who is told of what needs an
/// admin).
pub fn active_admins(scope: crate::db::scoped::Scoped) -> sea_orm::Select<users::Entity> {
    scope
        .live::<users::Entity>()
        .filter(users::Column::IsAdmin.eq(true))
        .filter(users::Column::IsActive.eq(true))
}

pub(crate) async fn other_admins(
    txn: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    except: Uuid,
) -> Result<u64, AppError> {
    Ok(active_admins(actor.scope())
        .filter(users::Column::Id.ne(except))
        .count(txn)
        .await?)
}

pub(crate) const LAST_ADMIN: &str = "the organization must keep at least one active admin";

/// Changes a member. Admins change anyone (including themselves); members use `update_me`.
pub async fn update(
    store: Store<'_>,
    composer: &crate::mail::Composer,
    actor: &Actor,
    id: Uuid,
    patch: UserPatch,
) -> Result<users::Model, AppError> {
    actor.admin()?;
    let mut w = Work::begin(store, actor).await?;
    actor.scope().lock_organization(&w.txn).await?;
    let old = w.live::<users::Entity>(id).await?;
    let loses_admin = old.is_admin
        && old.is_active
        && (patch.is_admin == Some(false) || patch.is_active == Some(false));
    if loses_admin && other_admins(&w.txn, actor, id).await? == 0 {
        let field = if patch.is_admin == Some(false) {
            "isAdmin"
        } else {
            "isActive"
        };
        return Err(AppError::bad_input(field, LAST_ADMIN));
    }
    let mut a: users::ActiveModel = old.clone().into();
    apply_profile(&mut a, patch.profile)?;
    let new_email = match patch.email {
        Some(email) => Some(validate::email("email", &email)?).filter(|e| *e != old.email),
        None => None,
    };
    if let Some(email) = &new_email {
        // A new address is unproven until its owner follows the link mailed to it.
        a.email = Set(email.clone());
        a.is_verified = Set(false);
        a.verified_at = Set(None);
    }
    if let Some(v) = patch.is_active {
        a.is_active = Set(v);
    }
    if let Some(v) = patch.is_admin {
        a.is_admin = Set(v);
    }
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&w.txn).await?;
    if new_email.is_some() {
        // Links mailed to the old address stop working.
        for p in [
            super::account_mail::Purpose::PasswordReset,
            super::account_mail::Purpose::Verification,
        ] {
            super::account_mail::void(&w.txn, &user, p).await?;
        }
        let purpose = if super::account_mail::is_invited(&user) {
            // An invitation follows the member to their corrected address.
            super::account_mail::Purpose::Invitation
        } else {
            super::account_mail::Purpose::Verification
        };
        let sender = w.live::<users::Entity>(actor.user_id).await?;
        super::account_mail::send_link(&w.txn, composer, &user, purpose, Some(&sender)).await?;
        w.signal(crate::realtime::Signal::JobsAvailable);
    }
    if old.is_active && !user.is_active {
        accounts::revoke_user_sessions(&mut w, &user).await?;
    } else if old.is_admin != user.is_admin {
        w.signal(crate::realtime::Signal::AccessChanged {
            org: user.organization_id,
            user: user.id,
        });
    }
    w.audit::<users::Entity, _>(user.id, Some(&old), Some(&user))
        .await?;
    w.commit().await?;
    Ok(user)
}

pub async fn update_me(
    store: Store<'_>,
    actor: &Actor,
    patch: ProfilePatch,
) -> Result<users::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let old = w.live::<users::Entity>(actor.user_id).await?;
    let mut a: users::ActiveModel = old.clone().into();
    apply_profile(&mut a, patch)?;
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&w.txn).await?;
    w.audit::<users::Entity, _>(user.id, Some(&old), Some(&user))
        .await?;
    w.commit().await?;
    Ok(user)
}

/// Soft delete: the member can no longer sign in and every session of theirs ends.
pub async fn delete(store: Store<'_>, actor: &Actor, id: Uuid) -> Result<users::Model, AppError> {
    actor.admin()?;
    if id == actor.user_id {
        return Err(AppError::bad_input(
            "id",
            "you cannot delete your own account",
        ));
    }
    let mut w = Work::begin(store, actor).await?;
    actor.scope().lock_organization(&w.txn).await?;
    let old = w.live::<users::Entity>(id).await?;
    if old.is_admin && old.is_active && other_admins(&w.txn, actor, id).await? == 0 {
        return Err(AppError::bad_input("id", LAST_ADMIN));
    }
    let user = w.set_deleted::<users::Entity>(id, true).await?;
    accounts::revoke_user_sessions(&mut w, &user).await?;
    w.commit().await?;
    Ok(user)
}

pub async fn restore(store: Store<'_>, actor: &Actor, id: Uuid) -> Result<users::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let user = w.set_deleted::<users::Entity>(id, false).await?;
    w.commit().await?;
    Ok(user)
}
