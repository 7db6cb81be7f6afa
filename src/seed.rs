//! `plugs seed --demo`: one demo organization with known credentials and enough data to
//! explore every screen: ~50 contacts with interactions, events with attendees, agenda and
//! expenses and notifications. Deterministic (a fixed pseudo-random sequence), written in one
//! transaction.

use chrono::{DateTime, Duration, DurationRound, FixedOffset, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::BoxError;
use crate::auth::password;
use crate::domain::enums::NotificationType;
use crate::entities::{
    contact_interactions, contacts, event_agenda_items, event_attendees, events, expenses,
    notifications, organizations, users,
};
use crate::services::notifications::{NewNotification, notify};

pub const DEMO_DOMAIN: &str = "demo.theplugs.example";
pub const ADMIN_EMAIL: &str = "admin@demo.theplugs.example";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
pub const MEMBER_EMAIL: &str = "member@demo.theplugs.example";
pub const MEMBER_PASSWORD: &str = "demo-member-password";

/// (title, type, status, starts in days, length in hours, max attendees, registrations)
type PlannedEvent = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    Option<i32>,
    usize,
);

pub struct SeedReport {
    pub organization_id: Uuid,
    pub contacts: usize,
    pub interactions: usize,
    pub events: usize,
    pub attendees: usize,
    pub notifications: usize,
}

/// A small xorshift generator: the demo data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Radia",
    "Tim",
    "Frances",
    "Vint",
    "Hedy",
    "John",
    "Katherine",
    "Guido",
    "Sophie",
    "Bjarne",
    "Annie",
    "Edsger",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Perlman",
    "Berners-Lee",
    "Allen",
    "Cerf",
    "Lamarr",
    "McCarthy",
    "Johnson",
    "van Rossum",
    "Wilson",
    "Stroustrup",
    "Easley",
    "Dijkstra",
];
const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Traders", "Retail"),
    ("Globex", "Manufacturing"),
    ("Initech", "Software"),
    ("Umbrella Health", "Healthcare"),
    ("Stark Ventures", "Finance"),
    ("Wayne Logistics", "Logistics"),
    ("Hooli", "Software"),
    ("Vandelay Industries", "Import/Export"),
];
const TYPES: &[&str] = &["target", "contact", "plug"];
const STATUSES: &[&str] = &["new_client", "existing_client", "hot_lead", "cold_lead"];
const PRIORITIES: &[&str] = &["high", "medium", "low"];
const INTERACTIONS: &[&str] = &["meeting", "call", "email", "linkedin", "event", "follow_up"];

fn now() -> DateTime<FixedOffset> {
    Utc::now()
        .duration_trunc(Duration::seconds(1))
        .expect("truncating to a second cannot overflow")
        .fixed_offset()
}

/// Seeds the demo organization with `n_contacts` contacts and, when given, `n_interactions`
/// interactions spread over them (else 0 to 5 each).
pub async fn seed_demo(
    db: &DatabaseConnection,
    n_contacts: usize,
    n_interactions: Option<usize>,
) -> Result<SeedReport, BoxError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the seed looks for its demo organization among all of them"
    )]
    let existing = organizations::Entity::find().all(db).await?;
    if existing
        .iter()
        .any(|o| o.domain.as_deref() == Some(DEMO_DOMAIN))
    {
        return Err(format!(
            "the demo organization ({DEMO_DOMAIN}) already exists; run `plugs migrate fresh` first to start over"
        )
        .into());
    }
    let admin_hash = password::hash(ADMIN_PASSWORD.into())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let member_hash = password::hash(MEMBER_PASSWORD.into())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let t0 = now();
    let mut rng = Rng(0x5eed_0f7e_9109);

    let txn = crate::db::write_txn(db).await?;
    let org_id = Uuid::new_v4();
    organizations::Entity::insert(organizations::ActiveModel {
        id: Set(org_id),
        name: Set("The Plugs Demo".into()),
        domain: Set(Some(DEMO_DOMAIN.into())),
        created_at: Set(t0),
        updated_at: Set(t0),
        ..Default::default()
    })
    .exec(&txn)
    .await?;

    let admin_id = Uuid::new_v4();
    let member_id = Uuid::new_v4();
    let user =
        |id, email: &str, hash: String, first: &str, last: &str, admin: bool| users::ActiveModel {
            id: Set(id),
            organization_id: Set(org_id),
            email: Set(email.into()),
            password_hash: Set(hash),
            first_name: Set(first.into()),
            last_name: Set(last.into()),
            job_title: Set(Some(
                if admin {
                    "Head of Partnerships"
                } else {
                    "Community Manager"
                }
                .into(),
            )),
            is_active: Set(true),
            is_verified: Set(true),
            is_admin: Set(admin),
            verified_at: Set(Some(t0)),
            created_at: Set(t0),
            updated_at: Set(t0),
            ..Default::default()
        };
    users::Entity::insert_many([
        user(admin_id, ADMIN_EMAIL, admin_hash, "Dana", "Admin", true),
        user(member_id, MEMBER_EMAIL, member_hash, "Max", "Member", false),
    ])
    .exec(&txn)
    .await?;
    let members = [admin_id, member_id];

    let mut contact_rows = Vec::new();
    let mut interaction_rows = Vec::new();
    let per_contact = n_interactions.map(|n| n.div_ceil(n_contacts.max(1)) as u64);
    let mut interactions_left = n_interactions.unwrap_or(usize::MAX);
    for i in 0..n_contacts {
        let contact_id = Uuid::new_v4();
        let first = *rng.pick(FIRST);
        let last = *rng.pick(LAST);
        let (company, industry) = *rng.pick(COMPANIES);
        let creator = members[i % 2];
        let mut last_completed: Option<DateTime<FixedOffset>> = None;
        let count = match per_contact {
            // Between half and one and a half times the average, until the total is reached.
            Some(avg) => (avg / 2 + rng.below(avg + 1)).min(interactions_left as u64),
            None => rng.below(6),
        };
        interactions_left = interactions_left.saturating_sub(count as usize);
        for _ in 0..count {
            let when = t0 - Duration::hours(1 + rng.below(24 * 90) as i64);
            let status = if when > t0 - Duration::days(3) && rng.below(3) == 0 {
                "scheduled"
            } else {
                "completed"
            };
            let when = if status == "scheduled" {
                t0 + Duration::days(2)
            } else {
                when
            };
            if status == "completed" && last_completed.is_none_or(|l| when > l) {
                last_completed = Some(when);
            }
            interaction_rows.push(contact_interactions::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org_id),
                contact_id: Set(contact_id),
                user_id: Set(*rng.pick(&members)),
                interaction_type: Set((*rng.pick(INTERACTIONS)).into()),
                subject: Set(Some(format!("Catch-up with {first}"))),
                description: Set(None),
                outcome: Set(Some("Follow up next quarter".into())),
                interaction_date: Set(when),
                status: Set(status.into()),
                created_at: Set(t0),
                updated_at: Set(t0),
                ..Default::default()
            });
        }
        let slug = format!("{}.{}{}", first, last, i)
            .to_lowercase()
            .replace(' ', "");
        contact_rows.push(contacts::ActiveModel {
            id: Set(contact_id),
            organization_id: Set(org_id),
            created_by: Set(creator),
            first_name: Set(first.into()),
            last_name: Set(last.into()),
            email: Set(Some(format!(
                "{slug}@{}.example",
                company.to_lowercase().replace([' ', '/'], "")
            ))),
            phone: Set(Some(format!("+1-555-01{:02}", i))),
            company: Set(Some(company.into())),
            job_title: Set(Some(
                (*rng.pick(&["CTO", "VP Sales", "Founder", "Engineer", "Buyer"])).into(),
            )),
            contact_type: Set((*rng.pick(TYPES)).into()),
            status: Set((*rng.pick(STATUSES)).into()),
            priority: Set((*rng.pick(PRIORITIES)).into()),
            industry: Set(Some(industry.into())),
            lead_score: Set(rng.below(101) as i32),
            last_interaction: Set(last_completed),
            created_at: Set(t0 - Duration::days(rng.below(120) as i64)),
            updated_at: Set(t0),
            ..Default::default()
        });
    }
    let n_contacts = contact_rows.len();
    let n_interactions = interaction_rows.len();
    // In chunks: PostgreSQL binds at most 65535 parameters per statement, SQLite 32766.
    for chunk in contact_rows.chunks(500) {
        contacts::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for chunk in interaction_rows.chunks(1000) {
        contact_interactions::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }

    let plan: [PlannedEvent; 4] = [
        (
            "Spring Founders Mixer",
            "networking",
            "completed",
            -30,
            3,
            Some(80),
            2,
        ),
        (
            "Partner Summit 2027",
            "conference",
            "published",
            21,
            8,
            Some(200),
            2,
        ),
        (
            "API Design Workshop",
            "workshop",
            "draft",
            45,
            4,
            Some(25),
            0,
        ),
        (
            "Quarterly Board Meeting",
            "meeting",
            "published",
            10,
            2,
            None,
            1,
        ),
    ];
    let mut n_attendees = 0;
    // (notification, already read): what the demo users find in their inbox.
    let mut inbox: Vec<(NewNotification, bool)> = members
        .iter()
        .map(|user_id| {
            let welcome = NewNotification::new(
                *user_id,
                NotificationType::Info,
                "Welcome to The Plugs Demo",
                "Explore the demo organization: contacts, events, agenda and expenses.",
                serde_json::json!({}),
            );
            (welcome, false)
        })
        .collect();
    for (title, event_type, status, starts, hours, max, registrations) in plan {
        let event_id = Uuid::new_v4();
        let start = t0 + Duration::days(starts);
        let end = start + Duration::hours(hours);
        events::Entity::insert(events::ActiveModel {
            id: Set(event_id),
            organization_id: Set(org_id),
            created_by: Set(admin_id),
            title: Set(title.into()),
            description: Set(Some(format!("{title}: hosted by The Plugs Demo."))),
            event_type: Set(event_type.into()),
            status: Set(status.into()),
            start_date: Set(start),
            end_date: Set(end),
            location: Set(Some("Lisbon".into())),
            venue: Set(Some("LX Factory".into())),
            budget: Set(Decimal::new(500_000, 2)),
            max_attendees: Set(max),
            current_attendees: Set(registrations as i32),
            created_at: Set(t0),
            updated_at: Set(t0),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let attendees: Vec<_> = members
            .iter()
            .take(registrations)
            .map(|user_id| event_attendees::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org_id),
                event_id: Set(event_id),
                user_id: Set(*user_id),
                status: Set(if status == "completed" {
                    "attended"
                } else {
                    "registered"
                }
                .into()),
                registration_date: Set(t0),
                check_in_time: Set((status == "completed").then_some(start)),
                created_at: Set(t0),
                updated_at: Set(t0),
                ..Default::default()
            })
            .collect();
        n_attendees += attendees.len();
        let attendees = event_attendees::Entity::insert_many(attendees)
            .exec_with_returning(&txn)
            .await?;
        // The confirmations of past events have been read long ago.
        inbox.extend(attendees.iter().map(|a| {
            (
                crate::services::registrations::confirmed(title, a),
                status == "completed",
            )
        }));
        let agenda: Vec<_> = (0..hours.min(3))
            .map(|slot| event_agenda_items::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org_id),
                event_id: Set(event_id),
                created_by: Set(admin_id),
                title: Set(["Welcome", "Keynote", "Open networking"][slot as usize].into()),
                start_time: Set(start + Duration::hours(slot)),
                end_time: Set(start + Duration::hours(slot + 1)),
                agenda_type: Set(
                    ["presentation", "presentation", "networking"][slot as usize].into(),
                ),
                speaker_id: Set(members.get(slot as usize).copied()),
                sort_order: Set(slot as i32),
                created_at: Set(t0),
                updated_at: Set(t0),
                ..Default::default()
            })
            .collect();
        event_agenda_items::Entity::insert_many(agenda)
            .exec(&txn)
            .await?;
        if status != "draft" {
            expenses::Entity::insert(expenses::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org_id),
                created_by: Set(member_id),
                event_id: Set(Some(event_id)),
                title: Set(format!("Catering for {title}")),
                amount: Set(Decimal::new(125_000, 2)),
                expense_type: Set("catering".into()),
                expense_date: Set(start.date_naive()),
                status: Set("pending".into()),
                created_at: Set(t0),
                updated_at: Set(t0),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
        }
    }
    let read: Vec<bool> = inbox.iter().map(|(_, read)| *read).collect();
    // As the product writes them. The seed runs without a server, so the outbox's signals have
    // no subscriber to reach and are dropped.
    let mut outbox = crate::realtime::Outbox::new();
    let ids = notify(
        &txn,
        &mut outbox,
        org_id,
        inbox.into_iter().map(|(n, _)| n).collect(),
    )
    .await
    .map_err(|e| format!("{e:?}"))?;
    let read_ids: Vec<Uuid> = ids
        .iter()
        .zip(&read)
        .filter_map(|(id, read)| read.then_some(*id))
        .collect();
    crate::db::scoped::Scoped::system(org_id, "the demo organization the seed just made")
        .update_many::<notifications::Entity>()
        .col_expr(notifications::Column::IsRead, Expr::value(true))
        .col_expr(notifications::Column::ReadAt, Expr::value(t0))
        .filter(notifications::Column::Id.is_in(read_ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(SeedReport {
        organization_id: org_id,
        contacts: n_contacts,
        interactions: n_interactions,
        events: plan.len(),
        attendees: n_attendees,
        notifications: ids.len(),
    })
}
