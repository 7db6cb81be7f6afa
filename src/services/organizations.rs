//! The caller's organization: read by every member, changed by admins.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};

use super::audit;
use super::work::{Store, Work};
use super::{Actor, Change, now, validate};
use crate::entities::organizations;
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub domain: Change<String>,
    pub settings: Option<serde_json::Value>,
    pub require_two_factor: Option<bool>,
}

fn gone() -> AppError {
    AppError::Unauthenticated("the organization no longer exists".into())
}

pub async fn get(db: &DatabaseConnection, actor: &Actor) -> Result<organizations::Model, AppError> {
    actor.scope().organization(db).await?.ok_or_else(gone)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    patch: OrganizationPatch,
) -> Result<organizations::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let old = actor.scope().organization(&w.txn).await?.ok_or_else(gone)?;
    let mut a: organizations::ActiveModel = old.clone().into();
    if let Some(name) = patch.name {
        a.name = Set(validate::required("name", &name, 255)?);
    }
    match patch.domain {
        Change::Keep => {}
        Change::Clear => a.domain = Set(None),
        Change::Set(d) => a.domain = Set(validate::domain("domain", Some(&d))?),
    }
    if let Some(settings) = patch.settings {
        let settings = validate::object("settings", settings)?;
        super::expenses::check_settings(&settings)?;
        a.settings = Set(settings);
    }
    let mut settings = match &a.settings {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v.clone(),
        sea_orm::ActiveValue::NotSet => old.settings.clone(),
    };
    // Replacing the settings keeps the two-factor requirement unless they name it.
    if settings.get("requireTwoFactor").is_none()
        && let Some(old_value) = old.settings.get("requireTwoFactor")
    {
        settings["requireTwoFactor"] = old_value.clone();
    }
    if let Some(require) = patch.require_two_factor {
        settings["requireTwoFactor"] = serde_json::Value::Bool(require);
    }
    if settings.get("requireTwoFactor") == Some(&serde_json::Value::Bool(true))
        && !super::two_factor::required_by(&old)
        && !super::two_factor::is_enabled(&w.txn, actor.scope(), actor.user_id).await?
    {
        return Err(AppError::bad_input(
            "requireTwoFactor",
            "turn on two-factor sign-in for your own account first",
        ));
    }
    a.settings = Set(settings);
    a.updated_at = Set(now());
    let org = a
        .update(&w.txn)
        .await
        .map_err(|e| match AppError::from(e) {
            // The unique constraint is named for registration's argument; here the field is `domain`.
            AppError::Conflict { message, .. } => AppError::Conflict {
                message,
                field: Some("domain".into()),
            },
            other => other,
        })?;
    audit::change(
        &w.txn,
        actor,
        "organizations",
        org.id,
        Some(&old),
        Some(&org),
    )
    .await?;
    w.commit().await?;
    Ok(org)
}
