//! Durable background jobs (not in seed 004): enqueued in the transaction of the change that
//! causes them, claimed by workers with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
//! retried with backoff, kept after they end so admins can see them. `unique_key` makes an
//! enqueue idempotent, and makes a scheduled slot (`kind:slot`) run once however many
//! instances schedule it.

use crate::schema::{TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("jobs", backend)
            // NULL: system work that belongs to no organization (purges, schedules).
            .organization(true, false)
            .string("kind", 100, true)
            .json_default("payload", "{}")
            .enumeration(
                "state",
                20,
                &["available", "running", "completed", "discarded"],
                Some("available"),
            )
            .integer("attempt", Some(0))
            .integer("max_attempts", Some(10))
            .timestamptz_now("run_at")
            .string("locked_by", 100, false)
            .timestamptz("locked_until", false)
            .text("last_error", false)
            .string("unique_key", 255, false)
            .timestamptz("completed_at", false)
            .timestamps()
            .unique("jobs_unique_key_key", &["unique_key"])
            .check("jobs_attempts_check", "attempt >= 0 AND max_attempts >= 1")
            .create(manager)
            .await?;
        let t = "jobs";
        index(
            manager,
            "idx_jobs_available",
            t,
            &["run_at"],
            Some("state = 'available'"),
        )
        .await?;
        index(
            manager,
            "idx_jobs_leases",
            t,
            &["locked_until"],
            Some("state = 'running'"),
        )
        .await?;
        index(
            manager,
            "idx_jobs_organization",
            t,
            &["organization_id", "created_at DESC"],
            None,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["jobs"]).await
    }
}
