//! The expense workflow (not in seed 004, which keeps only `approved_by`/`approved_at`): who
//! rejected an expense and why, who paid it and with which reference, and the approvals of an
//! expense that needs two admins (organization setting `expenseApproval.secondApprovalAbove`).
//! One approval per admin and expense, enforced by a unique constraint.

use crate::schema::{TableDef, drop_tables, exec, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns added to `expenses`: (name, PostgreSQL type, SQLite type).
const COLUMNS: [(&str, &str, &str); 6] = [
    ("rejection_reason", "TEXT", "text"),
    (
        "rejected_by",
        "UUID REFERENCES users(id)",
        "uuid_text REFERENCES users(id)",
    ),
    (
        "rejected_at",
        "TIMESTAMP WITH TIME ZONE",
        "timestamp_with_timezone_text",
    ),
    (
        "paid_by",
        "UUID REFERENCES users(id)",
        "uuid_text REFERENCES users(id)",
    ),
    (
        "paid_at",
        "TIMESTAMP WITH TIME ZONE",
        "timestamp_with_timezone_text",
    ),
    ("payment_reference", "VARCHAR(255)", "varchar(255)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for (name, pg, sqlite) in COLUMNS {
            let ty = if backend == DbBackend::Sqlite {
                sqlite
            } else {
                pg
            };
            exec(
                manager,
                &format!("ALTER TABLE expenses ADD COLUMN {name} {ty}"),
            )
            .await?;
        }
        TableDef::new("expense_approvals", backend)
            .organization(true, true)
            .fk(
                "expense_id",
                "expenses",
                true,
                Some(ForeignKeyAction::Cascade),
            )
            .fk("approver_id", "users", true, None)
            .timestamptz_now("created_at")
            .unique(
                "expense_approvals_expense_id_approver_id_key",
                &["expense_id", "approver_id"],
            )
            .create(manager)
            .await?;
        index(
            manager,
            "idx_expenses_event_status",
            "expenses",
            &["event_id", "status"],
            Some("NOT is_deleted"),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["expense_approvals"]).await?;
        exec(manager, "DROP INDEX idx_expenses_event_status").await?;
        for (name, _, _) in COLUMNS.iter().rev() {
            exec(manager, &format!("ALTER TABLE expenses DROP COLUMN {name}")).await?;
        }
        Ok(())
    }
}
