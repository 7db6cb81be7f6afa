//! Every CHECK and UNIQUE constraint of seed 004 refuses a bad row on both backends, and the
//! error classifier turns each refusal into the right GraphQL code and field.

use chrono::Duration;
use plugs::domain::enums::{self, DbEnum};
use plugs::entities::{
    audit_logs, event_agenda_items, event_attendees, integration_logs, integrations, media,
    media_collection_items, media_collections, notifications,
};
use plugs::error::{AppError, Violation, violation};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use uuid::Uuid;

use crate::fixtures::*;
use crate::helpers::TestDb;

/// Inserts `model`, expects the named CHECK to refuse it, and the classifier to blame `field`.
async fn refused_by_check<A>(db: &DatabaseConnection, model: A, constraint: &str, field: &str)
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as sea_orm::EntityTrait>::Model: IntoActiveModel<A>,
{
    let err = insert_err(db, model).await;
    assert_eq!(
        violation(&err),
        Some(Violation::Check(constraint.into())),
        "{err}"
    );
    match AppError::from(err) {
        AppError::BadUserInput { field: Some(f), .. } => assert_eq!(f, field, "{constraint}"),
        other => panic!("{constraint} gave {other:?}"),
    }
}

async fn refused_as_duplicate<A>(db: &DatabaseConnection, model: A, field: &str)
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as sea_orm::EntityTrait>::Model: IntoActiveModel<A>,
{
    let err = insert_err(db, model).await;
    assert!(
        matches!(violation(&err), Some(Violation::Unique(_))),
        "{err}"
    );
    let app_err = AppError::from(err);
    assert_eq!(app_err.code(), "CONFLICT");
    match app_err {
        AppError::Conflict { field: Some(f), .. } => assert_eq!(f, field),
        other => panic!("expected CONFLICT on {field}, got {other:?}"),
    }
}

#[tokio::test]
async fn contact_and_interaction_checks_refuse_bad_rows() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    let mut m = contact_model(&t);
    m.contact_type = Set("lead".into());
    refused_by_check(&db, m, "contacts_contact_type_check", "contactType").await;
    let mut m = contact_model(&t);
    m.status = Set("warm_lead".into());
    refused_by_check(&db, m, "contacts_status_check", "status").await;
    let mut m = contact_model(&t);
    m.priority = Set("urgent".into());
    refused_by_check(&db, m, "contacts_priority_check", "priority").await;
    for score in [-1, 101] {
        let mut m = contact_model(&t);
        m.lead_score = Set(score);
        refused_by_check(&db, m, "contacts_lead_score_check", "leadScore").await;
    }
    // Every value the API can send is accepted, bounds included.
    for (i, ty) in enums::ContactType::ALL.iter().enumerate() {
        for status in enums::ContactStatus::ALL {
            let mut m = contact_model(&t);
            m.contact_type = Set(ty.as_str().into());
            m.status = Set(status.as_str().into());
            m.priority = Set(enums::ContactPriority::ALL[i].as_str().into());
            m.lead_score = Set(if i == 0 { 0 } else { 100 });
            m.insert(&db).await.unwrap();
        }
    }

    let contact = contact_model(&t).insert(&db).await.unwrap();
    let mut m = interaction_model(&t, contact.id);
    m.interaction_type = Set("fax".into());
    refused_by_check(
        &db,
        m,
        "contact_interactions_interaction_type_check",
        "interactionType",
    )
    .await;
    let mut m = interaction_model(&t, contact.id);
    m.status = Set("done".into());
    refused_by_check(&db, m, "contact_interactions_status_check", "status").await;
    for ty in enums::InteractionType::ALL {
        for status in enums::InteractionStatus::ALL {
            let mut m = interaction_model(&t, contact.id);
            m.interaction_type = Set(ty.as_str().into());
            m.status = Set(status.as_str().into());
            m.insert(&db).await.unwrap();
        }
    }
    // A foreign key to a missing row is refused too.
    let err = insert_err(&db, interaction_model(&t, Uuid::new_v4())).await;
    assert_eq!(violation(&err), Some(Violation::ForeignKey), "{err}");
}

#[tokio::test]
async fn event_attendee_and_agenda_checks_refuse_bad_rows() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    let mut m = event_model(&t);
    m.event_type = Set("party".into());
    refused_by_check(&db, m, "events_event_type_check", "eventType").await;
    let mut m = event_model(&t);
    m.status = Set("archived".into());
    refused_by_check(&db, m, "events_status_check", "status").await;
    let mut m = event_model(&t);
    m.end_date = m.start_date.clone();
    refused_by_check(&db, m, "events_date_range", "endDate").await;
    let mut m = event_model(&t);
    m.max_attendees = Set(Some(10));
    m.current_attendees = Set(11);
    refused_by_check(&db, m, "events_attendees_check", "maxAttendees").await;
    let mut m = event_model(&t);
    m.current_attendees = Set(-1);
    refused_by_check(&db, m, "events_attendees_check", "maxAttendees").await;
    for ty in enums::EventType::ALL {
        for status in enums::EventStatus::ALL {
            let mut m = event_model(&t);
            m.event_type = Set(ty.as_str().into());
            m.status = Set(status.as_str().into());
            m.max_attendees = Set(Some(10));
            m.current_attendees = Set(10);
            m.insert(&db).await.unwrap();
        }
    }

    let event = event_model(&t).insert(&db).await.unwrap();
    let attendee = |user: Uuid| event_attendees::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        event_id: Set(event.id),
        user_id: Set(user),
        registration_date: Set(now()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let mut m = attendee(t.user);
    m.status = Set("maybe".into());
    refused_by_check(&db, m, "event_attendees_status_check", "status").await;
    let mut m = attendee(t.user);
    m.check_out_time = Set(Some(now()));
    refused_by_check(&db, m, "event_attendees_checkin_checkout", "checkOutTime").await;
    let mut ok = attendee(t.user);
    ok.check_in_time = Set(Some(now()));
    ok.check_out_time = Set(Some(now()));
    ok.insert(&db).await.unwrap();
    refused_as_duplicate(&db, attendee(t.user), "userId").await;
    for status in enums::AttendeeStatus::ALL {
        let user = user_model(t.org, &format!("{status}@example.com"))
            .insert(&db)
            .await
            .unwrap();
        let mut m = attendee(user.id);
        m.status = Set(status.as_str().into());
        m.insert(&db).await.unwrap();
    }

    let item = || event_agenda_items::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        event_id: Set(event.id),
        created_by: Set(t.user),
        title: Set("Keynote".into()),
        start_time: Set(event.start_date),
        end_time: Set(event.start_date + Duration::hours(1)),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let mut m = item();
    m.agenda_type = Set("lunch".into());
    refused_by_check(&db, m, "event_agenda_items_agenda_type_check", "agendaType").await;
    let mut m = item();
    m.status = Set("late".into());
    refused_by_check(&db, m, "event_agenda_items_status_check", "status").await;
    let mut m = item();
    m.end_time = Set(event.start_date - Duration::minutes(1));
    refused_by_check(&db, m, "agenda_time_range", "endTime").await;
    for ty in enums::AgendaItemType::ALL {
        for status in enums::AgendaItemStatus::ALL {
            let mut m = item();
            m.agenda_type = Set(ty.as_str().into());
            m.status = Set(status.as_str().into());
            m.insert(&db).await.unwrap();
        }
    }
}

#[tokio::test]
async fn expense_and_media_checks_refuse_bad_rows() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    refused_by_check(
        &db,
        expense_model(&t, None, Decimal::new(-1, 2)),
        "expenses_amount_check",
        "amount",
    )
    .await;
    let mut m = expense_model(&t, None, Decimal::ONE);
    m.expense_type = Set("bribes".into());
    refused_by_check(&db, m, "expenses_expense_type_check", "expenseType").await;
    let mut m = expense_model(&t, None, Decimal::ONE);
    m.status = Set("lost".into());
    refused_by_check(&db, m, "expenses_status_check", "status").await;
    for ty in enums::ExpenseType::ALL {
        for status in enums::ExpenseStatus::ALL {
            let mut m = expense_model(&t, None, Decimal::ZERO);
            m.expense_type = Set(ty.as_str().into());
            m.status = Set(status.as_str().into());
            m.insert(&db).await.unwrap();
        }
    }

    let item = || media::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        uploaded_by: Set(t.user),
        title: Set("Stage photo".into()),
        file_name: Set("stage.jpg".into()),
        file_path: Set("org/stage.jpg".into()),
        media_type: Set("image".into()),
        mime_type: Set("image/jpeg".into()),
        file_size: Set(1),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let mut m = item();
    m.file_size = Set(0);
    refused_by_check(&db, m, "media_file_size_check", "fileSize").await;
    let mut m = item();
    m.media_type = Set("hologram".into());
    refused_by_check(&db, m, "media_media_type_check", "mediaType").await;
    let mut m = item();
    m.status = Set("lost".into());
    refused_by_check(&db, m, "media_status_check", "status").await;
    let mut m = item();
    m.access_level = Set("secret".into());
    refused_by_check(&db, m, "media_access_level_check", "accessLevel").await;
    for (i, ty) in enums::MediaType::ALL.iter().enumerate() {
        let mut m = item();
        m.media_type = Set(ty.as_str().into());
        m.status = Set(enums::MediaStatus::ALL[i % 3].as_str().into());
        m.access_level = Set(enums::MediaAccessLevel::ALL[i % 3].as_str().into());
        m.file_size = Set(5_000_000_000); // BIGINT: beyond i32
        m.insert(&db).await.unwrap();
    }

    let collection = || media_collections::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        created_by: Set(t.user),
        name: Set("Highlights".into()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let mut m = collection();
    m.collection_type = Set("misc".into());
    refused_by_check(
        &db,
        m,
        "media_collections_collection_type_check",
        "collectionType",
    )
    .await;
    let c = collection().insert(&db).await.unwrap();
    let photo = item().insert(&db).await.unwrap();
    let link = || media_collection_items::ActiveModel {
        id: Set(Uuid::new_v4()),
        collection_id: Set(c.id),
        media_id: Set(photo.id),
        created_at: Set(now()),
        ..Default::default()
    };
    link().insert(&db).await.unwrap();
    refused_as_duplicate(&db, link(), "mediaId").await;
}

#[tokio::test]
async fn notification_integration_and_audit_checks_refuse_bad_rows() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    let note = || notifications::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        user_id: Set(t.user),
        title: Set("Hello".into()),
        message: Set("World".into()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let mut m = note();
    m.notification_type = Set("spam".into());
    refused_by_check(
        &db,
        m,
        "notifications_notification_type_check",
        "notificationType",
    )
    .await;
    let mut m = note();
    m.channel = Set("pigeon".into());
    refused_by_check(&db, m, "notifications_channel_check", "channel").await;
    for (i, ty) in enums::NotificationType::ALL.iter().enumerate() {
        let mut m = note();
        m.notification_type = Set(ty.as_str().into());
        m.channel = Set(enums::NotificationChannel::ALL[i % 4].as_str().into());
        m.insert(&db).await.unwrap();
    }

    let integration = |provider: &str| integrations::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        provider: Set(provider.into()),
        integration_type: Set("crm".into()),
        credentials: Set(serde_json::json!({ "token": "secret" })),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    };
    refused_by_check(
        &db,
        integration("salesforce"),
        "integrations_provider_check",
        "provider",
    )
    .await;
    let mut m = integration("hubspot");
    m.integration_type = Set("fax".into());
    refused_by_check(
        &db,
        m,
        "integrations_integration_type_check",
        "integrationType",
    )
    .await;
    let mut m = integration("hubspot");
    m.status = Set("flaky".into());
    refused_by_check(&db, m, "integrations_status_check", "status").await;
    let hubspot = integration("hubspot").insert(&db).await.unwrap();
    refused_as_duplicate(&db, integration("hubspot"), "provider").await;
    for (i, p) in enums::IntegrationProvider::ALL.iter().skip(1).enumerate() {
        let mut m = integration(p.as_str());
        m.integration_type = Set(enums::IntegrationType::ALL[i].as_str().into());
        m.status = Set(enums::IntegrationStatus::ALL[i].as_str().into());
        m.insert(&db).await.unwrap();
    }
    // Another organization may connect the same provider.
    let other = tenant(&db).await;
    let mut m = integration("hubspot");
    m.organization_id = Set(other.org);
    m.insert(&db).await.unwrap();

    let log = || integration_logs::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        integration_id: Set(hubspot.id),
        operation: Set("sync".into()),
        status: Set("success".into()),
        started_at: Set(now()),
        created_at: Set(now()),
        ..Default::default()
    };
    let mut m = log();
    m.operation = Set("delete".into());
    refused_by_check(&db, m, "integration_logs_operation_check", "operation").await;
    let mut m = log();
    m.status = Set("pending".into());
    refused_by_check(&db, m, "integration_logs_status_check", "status").await;
    for (i, op) in enums::IntegrationOperation::ALL.iter().enumerate() {
        let mut m = log();
        m.operation = Set(op.as_str().into());
        m.status = Set(enums::IntegrationLogStatus::ALL[i % 3].as_str().into());
        m.insert(&db).await.unwrap();
    }

    let audit = |action: &str| audit_logs::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        user_id: Set(Some(t.user)),
        table_name: Set("contacts".into()),
        record_id: Set(Uuid::new_v4()),
        action: Set(action.into()),
        created_at: Set(now()),
        ..Default::default()
    };
    refused_by_check(&db, audit("purge"), "audit_logs_action_check", "action").await;
    for a in enums::AuditAction::ALL {
        audit(a.as_str()).insert(&db).await.unwrap();
    }
}

#[tokio::test]
async fn unique_domains_and_per_organization_emails() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    // Same domain as the tenant's organization.
    let org = plugs::entities::organizations::Entity::find_by_id(t.org)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut dup = org_model(Uuid::new_v4());
    dup.domain = Set(org.domain.clone());
    refused_as_duplicate(&db, dup, "organizationDomain").await;
    // Organizations without a domain do not collide.
    for _ in 0..2 {
        let mut m = org_model(Uuid::new_v4());
        m.domain = Set(None);
        m.insert(&db).await.unwrap();
    }

    refused_as_duplicate(&db, user_model(t.org, "owner@example.com"), "email").await;
    // The same address is fine in another organization (tenant() creates owner@example.com).
    let other = tenant(&db).await;
    refused_as_duplicate(&db, user_model(other.org, "owner@example.com"), "email").await;
}
