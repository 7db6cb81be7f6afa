use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let nd = NOT_DELETED;
        // The seed gives notifications no deleted_at column: kept as it is.
        TableDef::new("notifications", backend)
            .organization(true, true)
            .fk("user_id", "users", true, Some(ForeignKeyAction::Cascade))
            .string("title", 255, true)
            .text("message", true)
            .enumeration(
                "notification_type",
                20,
                &["info", "success", "warning", "error", "reminder"],
                Some("info"),
            )
            .enumeration(
                "channel",
                20,
                &["in_app", "email", "sms", "push"],
                Some("in_app"),
            )
            .json_default("data", "{}")
            .boolean("is_read", false)
            .timestamptz("read_at", false)
            .timestamptz("expires_at", false)
            .timestamps()
            .boolean("is_deleted", false)
            .create(manager)
            .await?;
        let t = "notifications";
        index(
            manager,
            "idx_notifications_user",
            t,
            &["user_id", "is_read"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_notifications_created_at",
            t,
            &["created_at DESC"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_notifications_expires_at",
            t,
            &["expires_at"],
            Some("NOT is_deleted AND expires_at IS NOT NULL"),
        )
        .await?;

        TableDef::new("integrations", backend)
            .organization(true, true)
            .enumeration(
                "provider",
                50,
                &["hubspot", "mailchimp", "zoom", "teams"],
                None,
            )
            .enumeration(
                "integration_type",
                20,
                &["crm", "email", "video", "calendar"],
                None,
            )
            .json("credentials", true)
            .json_default("settings", "{}")
            .boolean("is_active", true)
            .timestamptz("last_sync", false)
            .enumeration(
                "status",
                20,
                &["connected", "disconnected", "error"],
                Some("disconnected"),
            )
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .unique(
                "integrations_unique_provider",
                &["organization_id", "provider"],
            )
            .create(manager)
            .await?;
        let t = "integrations";
        index(
            manager,
            "idx_integrations_organization",
            t,
            &["organization_id"],
            nd,
        )
        .await?;
        index(manager, "idx_integrations_provider", t, &["provider"], nd).await?;
        index(manager, "idx_integrations_status", t, &["status"], nd).await?;

        TableDef::new("integration_logs", backend)
            .organization(true, true)
            .fk(
                "integration_id",
                "integrations",
                true,
                Some(ForeignKeyAction::Cascade),
            )
            .enumeration(
                "operation",
                20,
                &["sync", "export", "import", "webhook"],
                None,
            )
            .enumeration("status", 20, &["success", "failed", "partial"], None)
            .text("message", false)
            .json("request_data", false)
            .json("response_data", false)
            .timestamptz("started_at", true)
            .timestamptz("completed_at", false)
            .integer("records_processed", Some(0))
            .integer("records_failed", Some(0))
            .json("error_details", false)
            .timestamptz_now("created_at")
            .create(manager)
            .await?;
        let t = "integration_logs";
        index(
            manager,
            "idx_integration_logs_integration",
            t,
            &["integration_id", "started_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_integration_logs_status",
            t,
            &["status", "started_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_integration_logs_operation",
            t,
            &["operation", "started_at DESC"],
            None,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["integration_logs", "integrations", "notifications"],
        )
        .await
    }
}
