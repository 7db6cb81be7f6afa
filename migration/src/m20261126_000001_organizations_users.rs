use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("organizations", backend)
            .string("name", 255, true)
            .string("domain", 255, false)
            .string_default("subscription_plan", 50, "free")
            .json_default("settings", "{}")
            .boolean("is_active", true)
            .timestamps()
            .soft_delete()
            .unique("organizations_domain_key", &["domain"])
            .create(manager)
            .await?;
        index(
            manager,
            "idx_organizations_domain",
            "organizations",
            &["domain"],
            NOT_DELETED,
        )
        .await?;
        index(
            manager,
            "idx_organizations_active",
            "organizations",
            &["is_active"],
            NOT_DELETED,
        )
        .await?;

        TableDef::new("users", backend)
            .organization(true, true)
            .string("email", 255, true)
            .string("password_hash", 255, true)
            .string("first_name", 50, true)
            .string("last_name", 50, true)
            .string("phone", 20, false)
            .text("bio", false)
            .string("avatar_url", 500, false)
            .string("job_title", 100, false)
            .string("company", 100, false)
            .string("linkedin_url", 255, false)
            .boolean("is_active", true)
            .boolean("is_verified", false)
            .boolean("is_admin", false)
            .timestamptz("verified_at", false)
            .timestamptz("last_login", false)
            .timestamps()
            .soft_delete()
            .fk("created_by", "users", false, None)
            .fk("updated_by", "users", false, None)
            .unique("users_unique_email_per_org", &["organization_id", "email"])
            .create(manager)
            .await?;
        index(
            manager,
            "idx_users_organization",
            "users",
            &["organization_id"],
            NOT_DELETED,
        )
        .await?;
        index(manager, "idx_users_email", "users", &["email"], NOT_DELETED).await?;
        index(
            manager,
            "idx_users_active",
            "users",
            &["is_active", "is_verified"],
            NOT_DELETED,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["users", "organizations"]).await
    }
}
