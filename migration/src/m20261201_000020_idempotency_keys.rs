//! Idempotency keys (the IETF `Idempotency-Key` draft, Stripe's semantics; not in seed 004):
//! one row per caller and key for 24 hours. `running` while the first request executes,
//! `committed` once a mutation's transaction committed (written in that transaction, so a
//! crash before the response is stored can never lead to a second run), `completed` with the
//! response to replay. `caller` is `user:<id>` for a signed-in member, `ip:<network>` else.

use crate::schema::{TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("idempotency_keys", backend)
            .organization(true, false)
            .string("caller", 100, true)
            .string("idempotency_key", 255, true)
            .string("request_hash", 64, true)
            .enumeration(
                "state",
                20,
                &["running", "committed", "completed"],
                Some("running"),
            )
            .integer("response_status", None)
            .string("response_content_type", 100, false)
            .text("response_body", false)
            .timestamptz("expires_at", true)
            .timestamps()
            .unique(
                "idempotency_keys_caller_key",
                &["caller", "idempotency_key"],
            )
            .create(manager)
            .await?;
        index(
            manager,
            "idx_idempotency_keys_expires",
            "idempotency_keys",
            &["expires_at"],
            None,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["idempotency_keys"]).await
    }
}
