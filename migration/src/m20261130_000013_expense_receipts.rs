//! An expense's receipt as a media item of its organization (not in seed 004, which keeps
//! only `receipt_url`): `Expense.receipt`.

use crate::schema::exec;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ty = match manager.get_database_backend() {
            DbBackend::Sqlite => "uuid_text",
            _ => "UUID",
        };
        exec(
            manager,
            &format!("ALTER TABLE expenses ADD COLUMN receipt_media_id {ty} REFERENCES media(id)"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "ALTER TABLE expenses DROP COLUMN receipt_media_id").await
    }
}
