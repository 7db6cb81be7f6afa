//! Contact search (name, email, company; case-insensitive substring). PostgreSQL gets a
//! trigram GIN index on the exact expression the search uses; SQLite scans with LIKE.

use crate::schema::exec;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Must match `services::contacts::SEARCH_EXPR` character for character, or PostgreSQL will
/// not use the index.
const INDEX: &str = "CREATE INDEX idx_contacts_search_trgm ON contacts USING gin \
    ((lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(company, ''))) gin_trgm_ops) \
    WHERE NOT is_deleted";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            exec(manager, "CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
            exec(manager, INDEX).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            exec(manager, "DROP INDEX IF EXISTS idx_contacts_search_trgm").await?;
        }
        Ok(())
    }
}
