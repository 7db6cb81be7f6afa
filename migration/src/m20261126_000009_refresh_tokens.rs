//! Refresh tokens (not in seed 004): opaque 256-bit strings stored only as SHA-256 hashes,
//! grouped in families. A family is one login; every refresh rotates to a new row of the same
//! family, and presenting an already-rotated token revokes the whole family (theft detection).

use crate::schema::{TableDef, drop_tables, iden, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("refresh_tokens", backend)
            .organization(true, true)
            .fk("user_id", "users", true, Some(ForeignKeyAction::Cascade))
            .col({
                let mut c = ColumnDef::new(iden("family_id"));
                c.uuid().not_null();
                c
            })
            .string("token_hash", 64, true)
            .timestamptz("expires_at", true)
            .timestamptz("rotated_at", false)
            .timestamptz("revoked_at", false)
            .string("user_agent", 500, false)
            .string("ip_address", 45, false)
            .timestamptz_now("created_at")
            .unique("refresh_tokens_token_hash_key", &["token_hash"])
            .create(manager)
            .await?;
        let t = "refresh_tokens";
        index(
            manager,
            "idx_refresh_tokens_family",
            t,
            &["family_id"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_refresh_tokens_user",
            t,
            &["user_id"],
            Some("revoked_at IS NULL"),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["refresh_tokens"]).await
    }
}
