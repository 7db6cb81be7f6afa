//! Members of an organization: the directory (every member reads it), and its management
//! (admins only): create, update, soft delete, restore; plus each member's own profile.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, Order,
    PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use std::sync::LazyLock;

use super::audit::{self, snapshot};
use super::{Actor, Change, accounts, lock_organization, now, validate};
use crate::auth::{Auth, password};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::AuditAction;
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
    pub password: String,
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
pub static USERS_OF_ORGANIZATION: LazyLock<Children<users::Entity>> = LazyLock::new(|| Children {
    parent: users::Column::OrganizationId,
    keyset: keyset(),
    status: None,
});

fn require_admin(actor: &Actor) -> Result<(), AppError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only an organization admin may do this".into(),
        ))
    }
}

/// Escapes LIKE wildcards so a search for `50%` means the characters.
pub fn like_pattern(search: &str) -> String {
    let escaped = search
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Case-insensitive substring match on any of `cols` (LOWER(col) LIKE pattern ESCAPE '\').
pub fn search_condition<C: ColumnTrait>(cols: &[C], search: &str) -> Condition {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let pattern = like_pattern(search);
    cols.iter().fold(Condition::any(), |cond, col| {
        cond.add(
            Expr::expr(Func::lower(Expr::col(*col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        )
    })
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &UserFilter,
    args: &PageArgs,
) -> Result<Page<users::Model>, AppError> {
    let trash = filter.deleted == Some(true);
    if trash {
        require_admin(actor)?;
    }
    let mut q = actor
        .scope()
        .find::<users::Entity>()
        .filter(users::Column::IsDeleted.eq(trash));
    if let Some(s) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
        validate::max_len("search", s, 100)?;
        q = q.filter(search_condition(
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

/// A live member, or `None` (missing, deleted, or another organization's).
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<users::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<users::Entity>(id)
        .one(db)
        .await?)
}

fn not_found() -> AppError {
    AppError::NotFound("no such user".into())
}

fn apply_profile(a: &mut users::ActiveModel, p: ProfilePatch) -> Result<(), AppError> {
    if let Some(v) = p.first_name {
        a.first_name = Set(validate::required("firstName", &v, 50)?);
    }
    if let Some(v) = p.last_name {
        a.last_name = Set(validate::required("lastName", &v, 50)?);
    }
    let text = |field: &str,
                c: Change<String>,
                max: usize,
                url: bool|
     -> Result<Option<Option<String>>, AppError> {
        Ok(match c {
            Change::Keep => None,
            Change::Clear => Some(None),
            Change::Set(v) if url => Some(validate::url(field, Some(&v), max)?),
            Change::Set(v) => Some(validate::optional(field, Some(&v), max)?),
        })
    };
    if let Some(v) = text("phone", p.phone, 20, false)? {
        a.phone = Set(v);
    }
    if let Some(v) = text("bio", p.bio, 5000, false)? {
        a.bio = Set(v);
    }
    if let Some(v) = text("avatarUrl", p.avatar_url, 500, true)? {
        a.avatar_url = Set(v);
    }
    if let Some(v) = text("jobTitle", p.job_title, 100, false)? {
        a.job_title = Set(v);
    }
    if let Some(v) = text("company", p.company, 100, false)? {
        a.company = Set(v);
    }
    if let Some(v) = text("linkedinUrl", p.linkedin_url, 255, true)? {
        a.linkedin_url = Set(v);
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    auth: &Auth,
    actor: &Actor,
    input: NewUser,
) -> Result<users::Model, AppError> {
    require_admin(actor)?;
    let email = validate::email("email", &input.email)?;
    password::validate(&input.password, "password")?;
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
    a.password_hash = Set(auth.hasher.hash(input.password).await?);
    let txn = crate::db::write_txn(db).await?;
    let user = a.insert(&txn).await?;
    audit::change(&txn, actor, "users", user.id, None, Some(&user)).await?;
    txn.commit().await?;
    Ok(user)
}

/// Other live, active admins of the organization.
async fn other_admins(
    txn: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    except: Uuid,
) -> Result<u64, AppError> {
    Ok(actor
        .scope()
        .live::<users::Entity>()
        .filter(users::Column::IsAdmin.eq(true))
        .filter(users::Column::IsActive.eq(true))
        .filter(users::Column::Id.ne(except))
        .count(txn)
        .await?)
}

const LAST_ADMIN: &str = "the organization must keep at least one active admin";

/// Changes a member. Admins change anyone (including themselves); members use `update_me`.
pub async fn update(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    actor: &Actor,
    id: Uuid,
    patch: UserPatch,
) -> Result<users::Model, AppError> {
    require_admin(actor)?;
    let txn = crate::db::write_txn(db).await?;
    let mut outbox = crate::realtime::Outbox::new();
    lock_organization(&txn, actor.organization_id).await?;
    let old = actor
        .scope()
        .live_by_id::<users::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let loses_admin = old.is_admin
        && old.is_active
        && (patch.is_admin == Some(false) || patch.is_active == Some(false));
    if loses_admin && other_admins(&txn, actor, id).await? == 0 {
        let field = if patch.is_admin == Some(false) {
            "isAdmin"
        } else {
            "isActive"
        };
        return Err(AppError::bad_input(field, LAST_ADMIN));
    }
    let mut a: users::ActiveModel = old.clone().into();
    apply_profile(&mut a, patch.profile)?;
    if let Some(email) = patch.email {
        a.email = Set(validate::email("email", &email)?);
    }
    if let Some(v) = patch.is_active {
        a.is_active = Set(v);
    }
    if let Some(v) = patch.is_admin {
        a.is_admin = Set(v);
    }
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&txn).await?;
    if old.is_active && !user.is_active {
        accounts::revoke_user_sessions(&txn, &mut outbox, &user).await?;
    }
    audit::change(&txn, actor, "users", user.id, Some(&old), Some(&user)).await?;
    outbox.commit(txn, broker).await?;
    Ok(user)
}

pub async fn update_me(
    db: &DatabaseConnection,
    actor: &Actor,
    patch: ProfilePatch,
) -> Result<users::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<users::Entity>(actor.user_id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let mut a: users::ActiveModel = old.clone().into();
    apply_profile(&mut a, patch)?;
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&txn).await?;
    audit::change(&txn, actor, "users", user.id, Some(&old), Some(&user)).await?;
    txn.commit().await?;
    Ok(user)
}

/// Soft delete: the member can no longer sign in and every session of theirs ends.
pub async fn delete(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    actor: &Actor,
    id: Uuid,
) -> Result<users::Model, AppError> {
    require_admin(actor)?;
    if id == actor.user_id {
        return Err(AppError::bad_input(
            "id",
            "you cannot delete your own account",
        ));
    }
    let txn = crate::db::write_txn(db).await?;
    let mut outbox = crate::realtime::Outbox::new();
    lock_organization(&txn, actor.organization_id).await?;
    let old = actor
        .scope()
        .live_by_id::<users::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    if old.is_admin && old.is_active && other_admins(&txn, actor, id).await? == 0 {
        return Err(AppError::bad_input("id", LAST_ADMIN));
    }
    let mut a: users::ActiveModel = old.clone().into();
    let t = now();
    a.is_deleted = Set(true);
    a.deleted_at = Set(Some(t));
    a.updated_at = Set(t);
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&txn).await?;
    accounts::revoke_user_sessions(&txn, &mut outbox, &user).await?;
    audit::by_actor(
        &txn,
        actor,
        "users",
        user.id,
        AuditAction::Delete,
        Some(snapshot(&old)),
        Some(snapshot(&user)),
    )
    .await?;
    outbox.commit(txn, broker).await?;
    Ok(user)
}

pub async fn restore(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<users::Model, AppError> {
    require_admin(actor)?;
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .by_id::<users::Entity>(id)
        .filter(users::Column::IsDeleted.eq(true))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such deleted user".into()))?;
    let mut a: users::ActiveModel = old.clone().into();
    a.is_deleted = Set(false);
    a.deleted_at = Set(None);
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let user = a.update(&txn).await?;
    audit::by_actor(
        &txn,
        actor,
        "users",
        user.id,
        AuditAction::Restore,
        Some(snapshot(&old)),
        Some(snapshot(&user)),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}
