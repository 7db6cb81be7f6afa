//! Analytics ingestion (`trackEvents`, `POST /analytics/events`) records the page an event
//! happened on and where the visitor came from: `page_url` and `referrer`, beside seed 004's
//! columns, each as sent (at most 2,048 characters). And `idx_analytics_events_timestamp`, for
//! the retention job's oldest-first deletes across organizations.

use crate::schema::{iden, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["page_url", "referrer"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for col in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(iden("analytics_events"))
                        .add_column(ColumnDef::new(iden(col)).text().null())
                        .to_owned(),
                )
                .await?;
        }
        index(
            manager,
            "idx_analytics_events_timestamp",
            "analytics_events",
            &["event_timestamp"],
            None,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_analytics_events_timestamp")
                    .table(iden("analytics_events"))
                    .to_owned(),
            )
            .await?;
        for col in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(iden("analytics_events"))
                        .drop_column(iden(col))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
