use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::helpers::{TestDb, backend};

const TABLES: [&str; 27] = [
    "account_tokens",
    "analytics_events",
    "audit_logs",
    "contact_interactions",
    "contacts",
    "event_agenda_items",
    "event_attendees",
    "events",
    "expense_approvals",
    "expenses",
    "idempotency_keys",
    "import_runs",
    "integration_logs",
    "integrations",
    "jobs",
    "media",
    "media_collection_items",
    "media_collections",
    "notifications",
    "organizations",
    "personal_data_exports",
    "recovery_codes",
    "refresh_tokens",
    "two_factor_credentials",
    "users",
    "webhook_deliveries",
    "webhook_endpoints",
];

/// Every index of seed 004 with its partial-index condition.
const SEED_INDEXES: [(&str, &str, Option<&str>); 59] = [
    (
        "idx_organizations_domain",
        "organizations",
        Some("NOT is_deleted"),
    ),
    (
        "idx_organizations_active",
        "organizations",
        Some("NOT is_deleted"),
    ),
    ("idx_users_organization", "users", Some("NOT is_deleted")),
    ("idx_users_email", "users", Some("NOT is_deleted")),
    ("idx_users_active", "users", Some("NOT is_deleted")),
    (
        "idx_contacts_organization",
        "contacts",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contacts_created_by",
        "contacts",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contacts_type_status",
        "contacts",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contacts_email",
        "contacts",
        Some("NOT is_deleted AND email IS NOT NULL"),
    ),
    (
        "idx_contacts_company",
        "contacts",
        Some("NOT is_deleted AND company IS NOT NULL"),
    ),
    (
        "idx_contacts_lead_score",
        "contacts",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contact_interactions_contact",
        "contact_interactions",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contact_interactions_user",
        "contact_interactions",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contact_interactions_date",
        "contact_interactions",
        Some("NOT is_deleted"),
    ),
    (
        "idx_contact_interactions_type",
        "contact_interactions",
        Some("NOT is_deleted"),
    ),
    ("idx_events_organization", "events", Some("NOT is_deleted")),
    ("idx_events_created_by", "events", Some("NOT is_deleted")),
    ("idx_events_status", "events", Some("NOT is_deleted")),
    ("idx_events_date_range", "events", Some("NOT is_deleted")),
    ("idx_events_type", "events", Some("NOT is_deleted")),
    (
        "idx_event_attendees_event",
        "event_attendees",
        Some("NOT is_deleted"),
    ),
    (
        "idx_event_attendees_user",
        "event_attendees",
        Some("NOT is_deleted"),
    ),
    (
        "idx_event_attendees_status",
        "event_attendees",
        Some("NOT is_deleted"),
    ),
    (
        "idx_agenda_items_event",
        "event_agenda_items",
        Some("NOT is_deleted"),
    ),
    (
        "idx_agenda_items_speaker",
        "event_agenda_items",
        Some("NOT is_deleted"),
    ),
    (
        "idx_agenda_items_time",
        "event_agenda_items",
        Some("NOT is_deleted"),
    ),
    (
        "idx_expenses_organization",
        "expenses",
        Some("NOT is_deleted"),
    ),
    ("idx_expenses_event", "expenses", Some("NOT is_deleted")),
    (
        "idx_expenses_created_by",
        "expenses",
        Some("NOT is_deleted"),
    ),
    ("idx_expenses_status", "expenses", Some("NOT is_deleted")),
    ("idx_expenses_date", "expenses", Some("NOT is_deleted")),
    ("idx_expenses_amount", "expenses", Some("NOT is_deleted")),
    ("idx_media_organization", "media", Some("NOT is_deleted")),
    ("idx_media_uploaded_by", "media", Some("NOT is_deleted")),
    ("idx_media_type", "media", Some("NOT is_deleted")),
    ("idx_media_related_event", "media", Some("NOT is_deleted")),
    ("idx_media_related_contact", "media", Some("NOT is_deleted")),
    ("idx_media_access_level", "media", Some("NOT is_deleted")),
    (
        "idx_media_collections_organization",
        "media_collections",
        Some("NOT is_deleted"),
    ),
    (
        "idx_media_collections_created_by",
        "media_collections",
        Some("NOT is_deleted"),
    ),
    (
        "idx_media_collection_items_collection",
        "media_collection_items",
        None,
    ),
    (
        "idx_media_collection_items_media",
        "media_collection_items",
        None,
    ),
    (
        "idx_notifications_user",
        "notifications",
        Some("NOT is_deleted"),
    ),
    (
        "idx_notifications_created_at",
        "notifications",
        Some("NOT is_deleted"),
    ),
    (
        "idx_notifications_expires_at",
        "notifications",
        Some("NOT is_deleted AND expires_at IS NOT NULL"),
    ),
    (
        "idx_integrations_organization",
        "integrations",
        Some("NOT is_deleted"),
    ),
    (
        "idx_integrations_provider",
        "integrations",
        Some("NOT is_deleted"),
    ),
    (
        "idx_integrations_status",
        "integrations",
        Some("NOT is_deleted"),
    ),
    ("idx_integration_logs_integration", "integration_logs", None),
    ("idx_integration_logs_status", "integration_logs", None),
    ("idx_integration_logs_operation", "integration_logs", None),
    (
        "idx_analytics_events_organization",
        "analytics_events",
        None,
    ),
    ("idx_analytics_events_user", "analytics_events", None),
    ("idx_analytics_events_name", "analytics_events", None),
    ("idx_analytics_events_category", "analytics_events", None),
    ("idx_audit_logs_organization", "audit_logs", None),
    ("idx_audit_logs_user", "audit_logs", None),
    ("idx_audit_logs_table_record", "audit_logs", None),
    ("idx_audit_logs_action", "audit_logs", None),
];

async fn names(db: &DatabaseConnection, kind: &str) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = '{}' ORDER BY 1",
            if kind == "table" {
                "BASE TABLE"
            } else {
                "VIEW"
            }
        ),
        _ => format!(
            "SELECT name FROM sqlite_master WHERE type = '{kind}' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        ),
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .filter(|n| n != "seaql_migrations")
        .collect()
}

/// (index name, its definition) for every index the database has.
async fn indexes(db: &DatabaseConnection) -> Vec<(String, String)> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = current_schema()"
        }
        _ => "SELECT name, COALESCE(sql, '') AS def FROM sqlite_master WHERE type = 'index'",
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "name").unwrap(),
                r.try_get("", "def").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let test_db = TestDb::empty().await;
    // One connection, as `plugs migrate` uses: SQLite's foreign_keys pragma is per connection.
    let db = plugs::db::connect_url(&test_db.url, 1).await.unwrap();
    assert!(names(&db, "table").await.is_empty());

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(names(&db, "table").await, TABLES);
    assert_eq!(
        names(&db, "view").await,
        ["contact_performance_summary", "event_analytics"]
    );
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    Migrator::down(&db, None).await.unwrap();
    assert!(
        names(&db, "table").await.is_empty(),
        "down leaves tables behind"
    );
    assert!(
        names(&db, "view").await.is_empty(),
        "down leaves views behind"
    );

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(names(&db, "table").await, TABLES);
    assert_eq!(names(&db, "view").await.len(), 2);

    // `fresh` drops everything (SQLite keeps views through a table drop: they must not linger).
    Migrator::fresh(&db).await.unwrap();
    assert_eq!(names(&db, "table").await, TABLES);
    assert_eq!(names(&db, "view").await.len(), 2);
    db.close().await.unwrap();
    test_db.cleanup().await;
}

#[tokio::test]
async fn every_seed_index_exists_with_its_partial_condition() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let have = indexes(&db).await;
    for (name, table, filter) in SEED_INDEXES {
        let (_, def) = have
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("index {name} on {table} is missing"));
        assert!(def.contains(table), "{name} is not on {table}: {def}");
        // PostgreSQL prints `WHERE (NOT is_deleted)`, SQLite keeps the text as written.
        let where_clause = def
            .split_once("WHERE")
            .map(|(_, w)| w.replace(['(', ')'], ""));
        match filter {
            Some(cond) => assert_eq!(
                where_clause.as_deref().map(str::trim),
                Some(cond),
                "{name} must be partial: {def}"
            ),
            None => assert!(where_clause.is_none(), "{name} must not be partial: {def}"),
        }
    }
    if backend() == DbBackend::Postgres {
        let lead = have
            .iter()
            .find(|(n, _)| n == "idx_contacts_lead_score")
            .unwrap();
        assert!(lead.1.contains("lead_score DESC"), "{}", lead.1);
    }
}
