//! Data portability (not in seed 004): CSV imports and personal-data exports are jobs whose
//! progress and outcome a client polls, so each has its own history row.
//!
//! - `import_runs`: one CSV import of contacts. The staged file's key, the options, the
//!   counters (written in the same transaction as each batch of contacts, so a retried job
//!   resumes exactly after `rows_done`), and the first 1,000 row errors.
//! - `personal_data_exports`: one GDPR bundle of a member (`subject_type` user) or a contact,
//!   built by a job into storage and downloadable until `expires_at`.
//! - `idx_contacts_org_created`: the contacts list's default order (newest first) within one
//!   organization, which a CSV export walks page by page; without it every page sorted the
//!   organization's contacts again.

use crate::schema::{TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("import_runs", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .enumeration("kind", 20, &["contacts"], Some("contacts"))
            .enumeration(
                "status",
                20,
                &["queued", "running", "completed", "failed"],
                Some("queued"),
            )
            .boolean("dry_run", false)
            .enumeration("on_duplicate", 10, &["skip", "update"], Some("skip"))
            .json_default("mapping", "{}")
            .string("file_name", 255, false)
            .text("storage_key", false)
            .integer("total", Some(0))
            .integer("rows_done", Some(0))
            .integer("created", Some(0))
            .integer("updated", Some(0))
            .integer("skipped", Some(0))
            .integer("failed", Some(0))
            .json_default("errors", "[]")
            .text("message", false)
            .timestamptz("started_at", false)
            .timestamptz("finished_at", false)
            .timestamps()
            .create(manager)
            .await?;
        index(
            manager,
            "idx_import_runs_org",
            "import_runs",
            &["organization_id", "created_at DESC"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_contacts_org_created",
            "contacts",
            &[
                "organization_id",
                "is_deleted",
                "created_at DESC",
                "id DESC",
            ],
            None,
        )
        .await?;
        TableDef::new("personal_data_exports", backend)
            .organization(true, true)
            .fk("requested_by", "users", true, None)
            .enumeration("subject_type", 10, &["user", "contact"], None)
            .col(
                ColumnDef::new(Alias::new("subject_id"))
                    .uuid()
                    .not_null()
                    .to_owned(),
            )
            .enumeration(
                "status",
                20,
                &["queued", "running", "completed", "failed"],
                Some("queued"),
            )
            .text("storage_key", false)
            .integer("size_bytes", None)
            .text("message", false)
            .timestamptz("completed_at", false)
            .timestamptz("expires_at", false)
            .timestamps()
            .create(manager)
            .await?;
        index(
            manager,
            "idx_personal_data_exports_org",
            "personal_data_exports",
            &["organization_id", "created_at DESC"],
            None,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_contacts_org_created")
                    .table(Alias::new("contacts"))
                    .to_owned(),
            )
            .await?;
        drop_tables(manager, &["personal_data_exports", "import_runs"]).await
    }
}
