use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        TableDef::new("contacts", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .string("first_name", 50, true)
            .string("last_name", 50, true)
            .string("email", 255, false)
            .string("phone", 20, false)
            .string("company", 100, false)
            .string("job_title", 100, false)
            .string("linkedin_url", 255, false)
            .text("bio", false)
            .string("avatar_url", 500, false)
            .enumeration(
                "contact_type",
                20,
                &["target", "contact", "plug"],
                Some("target"),
            )
            .enumeration(
                "status",
                30,
                &["new_client", "existing_client", "hot_lead", "cold_lead"],
                Some("cold_lead"),
            )
            .enumeration("priority", 10, &["high", "medium", "low"], Some("medium"))
            .string("business_type", 50, false)
            .string("network_type", 50, false)
            .string("industry", 100, false)
            .text("notes", false)
            .json_default("metadata", "{}")
            .integer("lead_score", Some(0))
            .timestamptz("last_interaction", false)
            .timestamps()
            .soft_delete()
            .fk("updated_by", "users", false, None)
            .check(
                "contacts_lead_score_check",
                "lead_score >= 0 AND lead_score <= 100",
            )
            .create(manager)
            .await?;
        let nd = NOT_DELETED;
        index(
            manager,
            "idx_contacts_organization",
            "contacts",
            &["organization_id"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contacts_created_by",
            "contacts",
            &["created_by"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contacts_type_status",
            "contacts",
            &["contact_type", "status"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contacts_email",
            "contacts",
            &["email"],
            Some("NOT is_deleted AND email IS NOT NULL"),
        )
        .await?;
        index(
            manager,
            "idx_contacts_company",
            "contacts",
            &["company"],
            Some("NOT is_deleted AND company IS NOT NULL"),
        )
        .await?;
        index(
            manager,
            "idx_contacts_lead_score",
            "contacts",
            &["lead_score DESC"],
            nd,
        )
        .await?;

        TableDef::new("contact_interactions", backend)
            .organization(true, true)
            .fk(
                "contact_id",
                "contacts",
                true,
                Some(ForeignKeyAction::Cascade),
            )
            .fk("user_id", "users", true, None)
            .enumeration(
                "interaction_type",
                20,
                &["meeting", "call", "email", "linkedin", "event", "follow_up"],
                None,
            )
            .string("subject", 255, false)
            .text("description", false)
            .text("outcome", false)
            .timestamptz("interaction_date", true)
            .enumeration(
                "status",
                20,
                &["completed", "scheduled", "cancelled"],
                Some("completed"),
            )
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .create(manager)
            .await?;
        let t = "contact_interactions";
        index(
            manager,
            "idx_contact_interactions_contact",
            t,
            &["contact_id"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contact_interactions_user",
            t,
            &["user_id"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contact_interactions_date",
            t,
            &["interaction_date DESC"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_contact_interactions_type",
            t,
            &["interaction_type"],
            nd,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["contact_interactions", "contacts"]).await
    }
}
