use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let nd = NOT_DELETED;
        TableDef::new("media", backend)
            .organization(true, true)
            .fk("uploaded_by", "users", true, None)
            .string("title", 255, true)
            .text("description", false)
            .string("file_name", 255, true)
            .string("file_path", 500, true)
            .string("file_url", 500, false)
            .enumeration(
                "media_type",
                20,
                &["image", "video", "document", "audio"],
                None,
            )
            .string("mime_type", 100, true)
            .col({
                let mut c = ColumnDef::new(Alias::new("file_size"));
                c.big_integer().not_null();
                c
            })
            .json_default("metadata", "{}")
            .enumeration(
                "status",
                20,
                &["processing", "ready", "failed"],
                Some("processing"),
            )
            .fk("related_event", "events", false, None)
            .fk("related_contact", "contacts", false, None)
            .enumeration(
                "access_level",
                20,
                &["public", "private", "organization"],
                Some("organization"),
            )
            .json_default("tags", "[]")
            .timestamps()
            .soft_delete()
            .check("media_file_size_check", "file_size > 0")
            .create(manager)
            .await?;
        let t = "media";
        index(
            manager,
            "idx_media_organization",
            t,
            &["organization_id"],
            nd,
        )
        .await?;
        index(manager, "idx_media_uploaded_by", t, &["uploaded_by"], nd).await?;
        index(manager, "idx_media_type", t, &["media_type"], nd).await?;
        index(
            manager,
            "idx_media_related_event",
            t,
            &["related_event"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_media_related_contact",
            t,
            &["related_contact"],
            nd,
        )
        .await?;
        index(manager, "idx_media_access_level", t, &["access_level"], nd).await?;

        TableDef::new("media_collections", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .string("name", 255, true)
            .text("description", false)
            .enumeration(
                "collection_type",
                20,
                &["event_photos", "contact_media", "general"],
                Some("general"),
            )
            .json_default("settings", "{}")
            .timestamps()
            .soft_delete()
            .create(manager)
            .await?;
        let t = "media_collections";
        index(
            manager,
            "idx_media_collections_organization",
            t,
            &["organization_id"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_media_collections_created_by",
            t,
            &["created_by"],
            nd,
        )
        .await?;

        TableDef::new("media_collection_items", backend)
            .fk(
                "collection_id",
                "media_collections",
                true,
                Some(ForeignKeyAction::Cascade),
            )
            .fk("media_id", "media", true, Some(ForeignKeyAction::Cascade))
            .integer("sort_order", Some(0))
            .timestamptz_now("created_at")
            .unique(
                "media_collection_items_unique",
                &["collection_id", "media_id"],
            )
            .create(manager)
            .await?;
        let t = "media_collection_items";
        index(
            manager,
            "idx_media_collection_items_collection",
            t,
            &["collection_id", "sort_order"],
            None,
        )
        .await?;
        index(
            manager,
            "idx_media_collection_items_media",
            t,
            &["media_id"],
            None,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["media_collection_items", "media_collections", "media"],
        )
        .await
    }
}
