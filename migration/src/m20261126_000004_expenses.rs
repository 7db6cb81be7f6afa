use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let nd = NOT_DELETED;
        TableDef::new("expenses", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .fk("event_id", "events", false, None)
            .string("title", 255, true)
            .text("description", false)
            .money("amount", false)
            .string_default("currency", 3, "USD")
            .string("category", 50, false)
            .enumeration(
                "expense_type",
                20,
                &[
                    "travel",
                    "accommodation",
                    "catering",
                    "venue",
                    "marketing",
                    "other",
                ],
                Some("other"),
            )
            .col({
                let mut c = ColumnDef::new(Alias::new("expense_date"));
                c.date().not_null();
                c
            })
            .enumeration(
                "status",
                20,
                &["pending", "approved", "rejected", "paid"],
                Some("pending"),
            )
            .string("receipt_url", 500, false)
            .text("notes", false)
            .fk("approved_by", "users", false, None)
            .timestamptz("approved_at", false)
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .check("expenses_amount_check", "amount >= 0")
            .create(manager)
            .await?;
        let t = "expenses";
        index(
            manager,
            "idx_expenses_organization",
            t,
            &["organization_id"],
            nd,
        )
        .await?;
        index(manager, "idx_expenses_event", t, &["event_id"], nd).await?;
        index(manager, "idx_expenses_created_by", t, &["created_by"], nd).await?;
        index(manager, "idx_expenses_status", t, &["status"], nd).await?;
        index(manager, "idx_expenses_date", t, &["expense_date DESC"], nd).await?;
        index(manager, "idx_expenses_amount", t, &["amount DESC"], nd).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["expenses"]).await
    }
}
