//! The caller's organization.

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object};

use crate::graphql::args::{change, non_null};
use crate::graphql::context::ContextExt;
use crate::graphql::types::Organization;
use crate::services::organizations;

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    name: MaybeUndefined<String>,
    /// `null` removes the domain.
    domain: MaybeUndefined<String>,
    /// A JSON object; replaces the settings.
    settings: Option<Json<serde_json::Value>>,
    /// Every member must sign in with a second factor. Members without one can then only set
    /// it up (`TWO_FACTOR_SETUP_REQUIRED` elsewhere) from their next sign-in or token refresh.
    /// Turning it on needs two-factor sign-in on the admin's own account.
    require_two_factor: Option<bool>,
}

#[derive(Default)]
pub struct OrganizationsQuery;

#[Object]
impl OrganizationsQuery {
    /// The signed-in member's organization.
    async fn organization(&self, ctx: &Context<'_>) -> Res<Organization> {
        Ok(organizations::get(ctx.db(), ctx.actor()?).await?.into())
    }
}

#[derive(Default)]
pub struct OrganizationsMutation;

#[Object]
impl OrganizationsMutation {
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> Res<Organization> {
        let actor = ctx.admin()?;
        let patch = organizations::OrganizationPatch {
            name: non_null(input.name, "name")?,
            domain: change(input.domain),
            settings: input.settings.map(|j| j.0),
            require_two_factor: input.require_two_factor,
        };
        Ok(organizations::update(ctx.store(), actor, patch)
            .await?
            .into())
    }
}
