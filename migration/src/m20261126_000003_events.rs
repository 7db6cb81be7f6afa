use crate::schema::{NOT_DELETED, TableDef, drop_tables, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let nd = NOT_DELETED;
        TableDef::new("events", backend)
            .organization(true, true)
            .fk("created_by", "users", true, None)
            .string("title", 255, true)
            .text("description", false)
            .enumeration(
                "event_type",
                20,
                &["conference", "workshop", "networking", "meeting"],
                Some("networking"),
            )
            .enumeration(
                "status",
                20,
                &["draft", "published", "ongoing", "completed", "cancelled"],
                Some("draft"),
            )
            .timestamptz("start_date", true)
            .timestamptz("end_date", true)
            .string_default("timezone", 50, "UTC")
            .string("location", 255, false)
            .string("venue", 255, false)
            .json_default("venue_details", "{}")
            .money("budget", true)
            .string_default("currency", 3, "USD")
            .integer("max_attendees", None)
            .integer("current_attendees", Some(0))
            .string("registration_url", 500, false)
            .json_default("settings", "{}")
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .fk("updated_by", "users", false, None)
            .check("events_date_range", "end_date > start_date")
            .check(
                "events_attendees_check",
                "current_attendees >= 0 AND (max_attendees IS NULL OR current_attendees <= max_attendees)",
            )
            .create(manager)
            .await?;
        index(
            manager,
            "idx_events_organization",
            "events",
            &["organization_id"],
            nd,
        )
        .await?;
        index(
            manager,
            "idx_events_created_by",
            "events",
            &["created_by"],
            nd,
        )
        .await?;
        index(manager, "idx_events_status", "events", &["status"], nd).await?;
        index(
            manager,
            "idx_events_date_range",
            "events",
            &["start_date", "end_date"],
            nd,
        )
        .await?;
        index(manager, "idx_events_type", "events", &["event_type"], nd).await?;

        TableDef::new("event_attendees", backend)
            .organization(true, true)
            .fk("event_id", "events", true, Some(ForeignKeyAction::Cascade))
            .fk("user_id", "users", true, None)
            .enumeration(
                "status",
                20,
                &[
                    "registered",
                    "confirmed",
                    "attended",
                    "no_show",
                    "cancelled",
                ],
                Some("registered"),
            )
            .timestamptz_now("registration_date")
            .timestamptz("check_in_time", false)
            .timestamptz("check_out_time", false)
            .text("notes", false)
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .unique("event_attendees_unique", &["event_id", "user_id"])
            .check(
                "event_attendees_checkin_checkout",
                "check_out_time IS NULL OR check_in_time IS NOT NULL",
            )
            .create(manager)
            .await?;
        let t = "event_attendees";
        index(manager, "idx_event_attendees_event", t, &["event_id"], nd).await?;
        index(manager, "idx_event_attendees_user", t, &["user_id"], nd).await?;
        index(manager, "idx_event_attendees_status", t, &["status"], nd).await?;

        TableDef::new("event_agenda_items", backend)
            .organization(true, true)
            .fk("event_id", "events", true, Some(ForeignKeyAction::Cascade))
            .fk("created_by", "users", true, None)
            .string("title", 255, true)
            .text("description", false)
            .timestamptz("start_time", true)
            .timestamptz("end_time", true)
            .enumeration(
                "agenda_type",
                20,
                &["presentation", "break", "networking", "workshop"],
                Some("presentation"),
            )
            .string("location", 255, false)
            .fk("speaker_id", "users", false, None)
            .integer("sort_order", Some(0))
            .enumeration(
                "status",
                20,
                &["scheduled", "ongoing", "completed", "cancelled"],
                Some("scheduled"),
            )
            .json_default("metadata", "{}")
            .timestamps()
            .soft_delete()
            .check("agenda_time_range", "end_time > start_time")
            .create(manager)
            .await?;
        let t = "event_agenda_items";
        index(
            manager,
            "idx_agenda_items_event",
            t,
            &["event_id", "sort_order"],
            nd,
        )
        .await?;
        index(manager, "idx_agenda_items_speaker", t, &["speaker_id"], nd).await?;
        index(manager, "idx_agenda_items_time", t, &["start_time"], nd).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["event_agenda_items", "event_attendees", "events"],
        )
        .await
    }
}
