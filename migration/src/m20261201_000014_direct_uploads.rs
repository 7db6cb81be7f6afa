//! Direct uploads (`createUpload` -> the client's `PUT` -> `completeUpload`): a media row whose
//! bytes have not arrived yet carries the time its upload ticket expires. Such a row is
//! nobody's media yet (lists, links and relations skip it); `completeUpload` clears the column,
//! and the media purge job removes rows still waiting long after their ticket expired.

use crate::schema::{exec, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ty = match manager.get_database_backend() {
            DbBackend::Sqlite => "timestamp_with_timezone_text",
            _ => "TIMESTAMP WITH TIME ZONE",
        };
        exec(
            manager,
            &format!("ALTER TABLE media ADD COLUMN upload_expires_at {ty}"),
        )
        .await?;
        index(
            manager,
            "idx_media_pending_uploads",
            "media",
            &["upload_expires_at"],
            Some("upload_expires_at IS NOT NULL"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP INDEX IF EXISTS idx_media_pending_uploads").await?;
        exec(manager, "ALTER TABLE media DROP COLUMN upload_expires_at").await
    }
}
