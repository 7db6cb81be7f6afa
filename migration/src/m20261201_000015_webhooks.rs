//! Outgoing webhooks (not in seed 004): an organization's endpoints, each with its signing
//! secret (encrypted at rest, like integration credentials) and the event types it takes, and
//! one delivery row per (change, endpoint), written in the change's transaction and sent by
//! a job (Standard Webhooks: the `message_id` is the `webhook-id`, stable across attempts; the
//! `payload` is the exact body signed and sent).

use crate::schema::{TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("webhook_endpoints", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .string("url", 2048, true)
            .text("description", false)
            .json_default("event_types", "[]")
            .text("secret_encrypted", true)
            .boolean("is_enabled", true)
            .text("disabled_reason", false)
            .timestamptz("failing_since", false)
            .timestamps()
            .soft_delete()
            .create(manager)
            .await?;
        index(
            manager,
            "idx_webhook_endpoints_org",
            "webhook_endpoints",
            &["organization_id"],
            Some("NOT is_deleted"),
        )
        .await?;
        TableDef::new("webhook_deliveries", backend)
            .organization(true, true)
            .fk(
                "endpoint_id",
                "webhook_endpoints",
                true,
                Some(ForeignKeyAction::Cascade),
            )
            .string("event_type", 64, true)
            .string("message_id", 64, true)
            .text("payload", true)
            .enumeration(
                "status",
                20,
                &["pending", "succeeded", "failed"],
                Some("pending"),
            )
            .integer("attempts", Some(0))
            .integer("last_status_code", None)
            .text("last_error", false)
            .text("last_response", false)
            .integer("last_duration_ms", None)
            .timestamptz("next_attempt_at", false)
            .timestamptz("delivered_at", false)
            .timestamps()
            .create(manager)
            .await?;
        index(
            manager,
            "idx_webhook_deliveries_endpoint",
            "webhook_deliveries",
            &["endpoint_id", "created_at DESC"],
            None,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["webhook_deliveries", "webhook_endpoints"]).await
    }
}
