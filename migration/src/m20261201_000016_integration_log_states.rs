//! An integration's run is recorded when it is queued (`syncIntegration` returns its log row)
//! and followed to its end: `integration_logs.status` also takes `queued` and `running`
//! besides seed 004's `success`, `failed` and `partial`. SQLite cannot alter a CHECK, so there
//! the table is rebuilt from its own definition with the wider list.

use crate::schema::exec;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const NARROW: &str = "('success', 'failed', 'partial')";
const WIDE: &str = "('queued', 'running', 'success', 'failed', 'partial')";
const INDEXES: [&str; 3] = [
    "CREATE INDEX \"idx_integration_logs_integration\" ON \"integration_logs\" (\"integration_id\", \"started_at\" DESC)",
    "CREATE INDEX \"idx_integration_logs_status\" ON \"integration_logs\" (\"status\", \"started_at\" DESC)",
    "CREATE INDEX \"idx_integration_logs_operation\" ON \"integration_logs\" (\"operation\", \"started_at\" DESC)",
];

async fn set_states(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        exec(
            manager,
            "ALTER TABLE integration_logs DROP CONSTRAINT integration_logs_status_check",
        )
        .await?;
        return exec(
            manager,
            &format!(
                "ALTER TABLE integration_logs ADD CONSTRAINT integration_logs_status_check CHECK (status IN {to})"
            ),
        )
        .await;
    }
    let db = manager.get_connection();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'integration_logs'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("integration_logs is missing".into()))?;
    let ddl: String = row.try_get("", "sql")?;
    let check = format!("CHECK (\"status\" IN {from})");
    if !ddl.contains(&check) {
        return Err(DbErr::Migration(format!(
            "integration_logs does not have the expected status check: {ddl}"
        )));
    }
    let ddl = ddl
        .replace(&check, &format!("CHECK (\"status\" IN {to})"))
        .replacen("\"integration_logs\"", "\"integration_logs_new\"", 1);
    // One script, so that it runs on one connection from start to end.
    let mut script = vec![
        ddl,
        "INSERT INTO integration_logs_new SELECT * FROM integration_logs".to_owned(),
        "DROP TABLE integration_logs".to_owned(),
        "ALTER TABLE integration_logs_new RENAME TO integration_logs".to_owned(),
    ];
    script.extend(INDEXES.iter().map(|i| (*i).to_owned()));
    exec(manager, &script.join(";\n")).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_states(manager, NARROW, WIDE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(
            manager,
            "DELETE FROM integration_logs WHERE status IN ('queued', 'running')",
        )
        .await?;
        set_states(manager, WIDE, NARROW).await
    }
}
