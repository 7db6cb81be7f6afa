use crate::schema::{TableDef, drop_tables, iden, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // INET on PostgreSQL; SQLite has no such type and keeps the text form.
        let mut ip = ColumnDef::new(iden("ip_address"));
        match backend {
            DbBackend::Postgres => ip.inet(),
            _ => ip.text(),
        };
        ip.null();
        TableDef::new("analytics_events", backend)
            .organization(false, false)
            .fk("user_id", "users", false, None)
            .string("event_name", 100, true)
            .string("event_category", 50, true)
            .json_default("properties", "{}")
            .string("session_id", 100, false)
            .col(ip)
            .text("user_agent", false)
            .timestamptz("event_timestamp", true)
            .timestamptz_now("created_at")
            .create(manager)
            .await?;
        let t = "analytics_events";
        index(
            manager,
            "idx_analytics_events_organization",
            t,
            &["organization_id", "event_timestamp DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_analytics_events_user",
            t,
            &["user_id", "event_timestamp DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_analytics_events_name",
            t,
            &["event_name", "event_timestamp DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_analytics_events_category",
            t,
            &["event_category", "event_timestamp DESC"],
            None,
        )
        .await?;

        TableDef::new("audit_logs", backend)
            .organization(false, true)
            .fk("user_id", "users", false, None)
            .string("table_name", 100, true)
            .col({
                let mut c = ColumnDef::new(iden("record_id"));
                c.uuid().not_null();
                c
            })
            .enumeration(
                "action",
                20,
                &["create", "update", "delete", "restore"],
                None,
            )
            .json("old_values", false)
            .json("new_values", false)
            .json_default("metadata", "{}")
            .timestamptz_now("created_at")
            .create(manager)
            .await?;
        let t = "audit_logs";
        index(
            manager,
            "idx_audit_logs_organization",
            t,
            &["organization_id", "created_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_audit_logs_user",
            t,
            &["user_id", "created_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_audit_logs_table_record",
            t,
            &["table_name", "record_id", "created_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_audit_logs_action",
            t,
            &["action", "created_at DESC"],
            None,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["audit_logs", "analytics_events"]).await
    }
}
