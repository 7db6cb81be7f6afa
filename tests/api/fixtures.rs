//! Rows made directly through the generated entities, for tests below the GraphQL surface
//! (constraints, views, money). Every fixture belongs to a fresh organization.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use plugs::entities::{contact_interactions, contacts, events, expenses, organizations, users};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr};
use uuid::Uuid;

pub fn now() -> DateTime<FixedOffset> {
    // Whole microseconds: both backends store that precision.
    let t = Utc::now();
    (t - Duration::nanoseconds(t.timestamp_subsec_nanos() as i64 % 1000)).fixed_offset()
}

pub struct Tenant {
    pub org: Uuid,
    pub user: Uuid,
}

pub fn org_model(id: Uuid) -> organizations::ActiveModel {
    organizations::ActiveModel {
        id: Set(id),
        name: Set(format!("Org {id}")),
        domain: Set(Some(format!("{}.test", id.simple()))),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

pub fn user_model(org: Uuid, email: &str) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(org),
        email: Set(email.into()),
        password_hash: Set("not-a-real-hash".into()),
        first_name: Set("Test".into()),
        last_name: Set("User".into()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

pub async fn tenant(db: &DatabaseConnection) -> Tenant {
    let org = Uuid::new_v4();
    org_model(org).insert(db).await.expect("organization");
    let user = user_model(org, "owner@example.com")
        .insert(db)
        .await
        .expect("user");
    Tenant { org, user: user.id }
}

pub fn contact_model(t: &Tenant) -> contacts::ActiveModel {
    contacts::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        created_by: Set(t.user),
        first_name: Set("Grace".into()),
        last_name: Set("Hopper".into()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

pub fn interaction_model(t: &Tenant, contact: Uuid) -> contact_interactions::ActiveModel {
    contact_interactions::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        contact_id: Set(contact),
        user_id: Set(t.user),
        interaction_type: Set("call".into()),
        interaction_date: Set(now()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

pub fn event_model(t: &Tenant) -> events::ActiveModel {
    let start = now() + Duration::days(7);
    events::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        created_by: Set(t.user),
        title: Set("Founders Mixer".into()),
        start_date: Set(start),
        end_date: Set(start + Duration::hours(3)),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

pub fn expense_model(t: &Tenant, event: Option<Uuid>, amount: Decimal) -> expenses::ActiveModel {
    expenses::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(t.org),
        created_by: Set(t.user),
        event_id: Set(event),
        title: Set("Catering".into()),
        amount: Set(amount),
        expense_date: Set(now().date_naive()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
}

/// Inserts and returns the database error the insert must cause.
pub async fn insert_err<A>(db: &DatabaseConnection, model: A) -> DbErr
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as sea_orm::EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    match model.insert(db).await {
        Ok(_) => panic!("the database accepted a row it must refuse"),
        Err(e) => e,
    }
}
