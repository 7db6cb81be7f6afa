//! Reading rows into models. SeaORM's generated `FromQueryResult` finds every column by name
//! (a hashed lookup per column per row) and, for every NULL in an `Option` field, formats an
//! error message before turning it into `None`: on a page of 50 contacts (28 columns, a third
//! of them NULL) that was a quarter of the server's CPU per request (#14). The tables a page
//! or a batching loader reads most often are decoded here by position instead, after checking
//! that the row's columns are the model's, in the model's order; any other shape, any decoding
//! error and every SQLite row take SeaORM's own path, which also words the errors.

use sea_orm::sqlx::Row as _;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryResult, QueryTrait, Select,
    Statement,
};

use crate::entities::*;

/// An entity whose rows this module reads.
pub trait Rows: EntityTrait {
    /// The model's fields in column order, when its rows are decoded by position.
    const POSITIONAL: &'static [&'static str] = &[];

    /// By position on PostgreSQL when the row has the model's columns first and in order.
    fn positional(_row: &PgRow) -> Option<Self::Model> {
        None
    }

    /// The rows of one statement. They share one column list, so it is checked once.
    fn decode_all(rows: &[QueryResult]) -> Result<Vec<Self::Model>, DbErr> {
        let by_position = !Self::POSITIONAL.is_empty()
            && rows
                .first()
                .and_then(QueryResult::try_as_pg_row)
                .is_some_and(|pg| same_columns(pg, Self::POSITIONAL));
        rows.iter()
            .map(|row| {
                let fast = row
                    .try_as_pg_row()
                    .filter(|_| by_position)
                    .and_then(Self::positional);
                match fast {
                    Some(model) => Ok(model),
                    None => <Self::Model as FromQueryResult>::from_query_result(row, ""),
                }
            })
            .collect()
    }
}

/// The row starts with exactly these columns; a page's own extra columns (its row number) may
/// follow, but none named like a field: SeaORM reads the last of two same-named columns.
fn same_columns(row: &PgRow, names: &[&str]) -> bool {
    use sea_orm::sqlx::Column as _;
    let columns = row.columns();
    columns.len() >= names.len()
        && columns.iter().zip(names).all(|(c, n)| c.name() == *n)
        && columns[names.len()..]
            .iter()
            .all(|c| !names.contains(&c.name()))
}

/// Every row of `select`, decoded as above.
pub async fn all<E: Rows>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Vec<E::Model>, DbErr> {
    let statement = db.get_database_backend().build(select.as_query());
    all_of::<E>(db, statement).await
}

/// Every row of a statement that selects `E`'s columns first, decoded as above.
pub async fn all_of<E: Rows>(
    db: &impl ConnectionTrait,
    statement: Statement,
) -> Result<Vec<E::Model>, DbErr> {
    E::decode_all(&db.query_all_raw(statement).await?)
}

/// Decodes by position: each field in turn from the next column; `None` on the first error
/// (a NULL in a required field, a type the field cannot hold).
macro_rules! positional {
    ($($module:ident { $($field:ident),+ $(,)? })+) => {$(
        impl Rows for $module::Entity {
            const POSITIONAL: &'static [&'static str] = &[$(stringify!($field)),+];

            #[allow(unused_assignments, reason = "the index after the last field is not read")]
            fn positional(row: &PgRow) -> Option<$module::Model> {
                let mut i = 0usize;
                Some($module::Model {
                    $($field: {
                        let value = row.try_get(i).ok()?;
                        i += 1;
                        value
                    }),+
                })
            }
        }
    )+};
}

positional! {
    contacts {
        id, organization_id, created_by, first_name, last_name, email, phone, company,
        job_title, linkedin_url, bio, avatar_url, contact_type, status, priority, business_type,
        network_type, industry, notes, metadata, lead_score, last_interaction, created_at,
        updated_at, is_deleted, deleted_at, updated_by,
    }
    contact_interactions {
        id, organization_id, contact_id, user_id, interaction_type, subject, description,
        outcome, interaction_date, status, metadata, created_at, updated_at, is_deleted,
        deleted_at,
    }
    users {
        id, organization_id, email, password_hash, first_name, last_name, phone, bio,
        avatar_url, job_title, company, linkedin_url, is_active, is_verified, is_admin,
        verified_at, last_login, created_at, updated_at, is_deleted, deleted_at, created_by,
        updated_by, settings,
    }
    events {
        id, organization_id, created_by, title, description, event_type, status, start_date,
        end_date, timezone, location, venue, venue_details, budget, currency, max_attendees,
        current_attendees, registration_url, settings, metadata, created_at, updated_at,
        is_deleted, deleted_at, updated_by,
    }
    event_attendees {
        id, organization_id, event_id, user_id, status, registration_date, check_in_time,
        check_out_time, notes, metadata, created_at, updated_at, is_deleted, deleted_at,
        reminded_at,
    }
    event_agenda_items {
        id, organization_id, event_id, created_by, title, description, start_time, end_time,
        agenda_type, location, speaker_id, sort_order, status, metadata, created_at, updated_at,
        is_deleted, deleted_at,
    }
}

/// Entities read by SeaORM's own decoding.
macro_rules! by_name {
    ($($module:ident),+ $(,)?) => {$(impl Rows for $module::Entity {})+};
}

by_name!(
    account_tokens,
    analytics_events,
    audit_logs,
    expense_approvals,
    expenses,
    idempotency_keys,
    import_runs,
    integration_logs,
    integrations,
    jobs,
    media,
    media_collection_items,
    media_collections,
    notifications,
    organizations,
    personal_data_exports,
    recovery_codes,
    refresh_tokens,
    two_factor_credentials,
    webhook_deliveries,
    webhook_endpoints,
);

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait as _, Iterable as _};

    use super::*;

    fn columns<E: EntityTrait>() -> Vec<String> {
        E::Column::iter()
            .map(|c| c.as_column_ref().1.to_string())
            .collect()
    }

    /// A positional decoder whose field list drifted from the table would silently fall back
    /// to the slow path on every row; the lists must be the entities' columns, in order.
    #[test]
    fn positional_fields_are_the_columns_in_order() {
        fn check<E: Rows>() {
            let listed: Vec<String> = E::POSITIONAL.iter().map(|s| s.to_string()).collect();
            assert_eq!(listed, columns::<E>(), "{}", std::any::type_name::<E>());
        }
        check::<contacts::Entity>();
        check::<contact_interactions::Entity>();
        check::<users::Entity>();
        check::<events::Entity>();
        check::<event_attendees::Entity>();
        check::<event_agenda_items::Entity>();
    }
}
