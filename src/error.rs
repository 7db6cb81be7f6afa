//! One error type for the whole service, mapped to GraphQL `extensions.code` (API.md "Errors").
//! Database errors are classified here: unique violations become CONFLICT, CHECK violations
//! BAD_USER_INPUT, each naming the GraphQL field; anything else is INTERNAL_SERVER_ERROR with a
//! generic message (details go to the log with the request, never to the client).

use std::ops::Deref;

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// Deliberately not `Display`: async-graphql converts any `Display` error into a plain
/// `Error` without extensions, so `?` would silently drop `extensions.code`. Without it,
/// the `From` below is the only conversion and every error keeps its code.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    Conflict {
        message: String,
        field: Option<String>,
    },
    EventFull,
    /// Approving would take an event's spending past its budget (`overBudget: true` allows it).
    BudgetExceeded(String),
    RateLimited {
        retry_after: u64,
    },
    QueryTooComplex(String),
    /// Sign-in needs the member's second factor (`totpCode`), which was not sent.
    TwoFactorRequired(String),
    /// The second factor sent is wrong (or already used).
    TwoFactorInvalid(String),
    /// The organization requires two-factor sign-in and the member has not set it up: only
    /// setting it up is allowed.
    TwoFactorSetupRequired(String),
    /// An `Idempotency-Key` came back with a different request.
    IdempotencyKeyReused(String),
    /// The detail is logged, never sent: the client sees a generic sentence.
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::EventFull => "EVENT_FULL",
            Self::BudgetExceeded(_) => "BUDGET_EXCEEDED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::TwoFactorRequired(_) => "TWO_FACTOR_REQUIRED",
            Self::TwoFactorInvalid(_) => "TWO_FACTOR_INVALID",
            Self::TwoFactorSetupRequired(_) => "TWO_FACTOR_SETUP_REQUIRED",
            Self::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// What the client may read.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::QueryTooComplex(m)
            | Self::TwoFactorRequired(m)
            | Self::TwoFactorInvalid(m)
            | Self::TwoFactorSetupRequired(m)
            | Self::IdempotencyKeyReused(m)
            | Self::BudgetExceeded(m)
            | Self::BadUserInput { message: m, .. }
            | Self::Conflict { message: m, .. } => m.clone(),
            Self::EventFull => "the event is full".to_owned(),
            Self::RateLimited { retry_after } => {
                format!("too many attempts; retry in {retry_after} seconds")
            }
            Self::Internal(_) => "internal server error".to_owned(),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        async_graphql::Error::new(self.public_message()).extend_with(|_, e| {
            e.set("code", self.code());
            match self {
                Self::BadUserInput {
                    field: Some(field), ..
                }
                | Self::Conflict {
                    field: Some(field), ..
                } => e.set("field", field.as_str()),
                Self::RateLimited { retry_after } => e.set("retryAfter", *retry_after),
                _ => {}
            }
        })
    }
}

impl AppError {
    /// The error of a request that never executed (refused before or while parsing): no
    /// `locations` (there is no position to point at; the spec's lines start at 1) and no path.
    pub fn into_request_error(self) -> async_graphql::ServerError {
        let e = self.extend();
        let mut out = async_graphql::ServerError::new(e.message, None);
        out.extensions = e.extensions;
        out
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        classify_db_err(&err).unwrap_or_else(|| AppError::Internal(crate::db::describe(&err)))
    }
}

/// Which constraint a database error broke, if it was a constraint at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Unique(String),
    Check(String),
    ForeignKey,
    NotNull,
}

/// Reads the constraint name (PostgreSQL) or the columns/name from the message (SQLite).
pub fn violation(err: &DbErr) -> Option<Violation> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = e.deref() else {
        return None;
    };
    use sea_orm::sqlx::error::ErrorKind;
    let message = db.message();
    let name = || {
        db.constraint().map(str::to_owned).unwrap_or_else(|| {
            // SQLite: "UNIQUE constraint failed: users.organization_id, users.email"
            //         "CHECK constraint failed: contacts_lead_score_check"
            message
                .split_once("failed: ")
                .map(|(_, rest)| rest.trim().to_owned())
                .unwrap_or_default()
        })
    };
    match db.kind() {
        ErrorKind::UniqueViolation => Some(Violation::Unique(name())),
        ErrorKind::CheckViolation => Some(Violation::Check(name())),
        ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey),
        ErrorKind::NotNullViolation => Some(Violation::NotNull),
        _ if message.starts_with("CHECK constraint failed") => Some(Violation::Check(name())),
        _ => None,
    }
}

fn classify_db_err(err: &DbErr) -> Option<AppError> {
    Some(match violation(err)? {
        Violation::Unique(name) => {
            let field = unique_field(&name);
            AppError::Conflict {
                message: format!("{field} is already taken"),
                field: Some(field),
            }
        }
        Violation::Check(name) => {
            let field = check_field(&name);
            AppError::BadUserInput {
                message: format!("{field} is not allowed"),
                field: Some(field),
            }
        }
        Violation::ForeignKey => AppError::BadUserInput {
            message: "a referenced record does not exist".into(),
            field: None,
        },
        Violation::NotNull => AppError::BadUserInput {
            message: "a required value is missing".into(),
            field: None,
        },
    })
}

/// The GraphQL field a unique constraint protects.
fn unique_field(constraint: &str) -> String {
    let field = match constraint {
        "organizations_domain_key" | "organizations.domain" => "organizationDomain",
        "users_unique_email_per_org" | "users.organization_id, users.email" => "email",
        "event_attendees_unique" | "event_attendees.event_id, event_attendees.user_id" => "userId",
        "integrations_unique_provider" | "integrations.organization_id, integrations.provider" => {
            "provider"
        }
        "media_collection_items_unique"
        | "media_collection_items.collection_id, media_collection_items.media_id" => "mediaId",
        other => {
            // Unknown: use the last column named ("table.col" on SQLite).
            let col = other.rsplit(['.', ' ']).next().unwrap_or(other);
            return camel_case(col);
        }
    };
    field.to_owned()
}

/// The GraphQL field a CHECK constraint is about.
fn check_field(constraint: &str) -> String {
    let field = match constraint {
        "events_date_range" => "endDate",
        "events_attendees_check" => "maxAttendees",
        "agenda_time_range" => "endTime",
        "event_attendees_checkin_checkout" => "checkOutTime",
        "contacts_lead_score_check" => "leadScore",
        "expenses_amount_check" => "amount",
        "media_file_size_check" => "fileSize",
        other => {
            // `<table>_<column>_check`: tables are known, so strip the longest matching prefix.
            let stem = other.strip_suffix("_check").unwrap_or(other);
            let col = TABLES
                .iter()
                .filter_map(|t| stem.strip_prefix(t).and_then(|r| r.strip_prefix('_')))
                .min_by_key(|c| c.len())
                .unwrap_or(stem);
            return camel_case(col);
        }
    };
    field.to_owned()
}

const TABLES: &[&str] = &[
    "organizations",
    "users",
    "contacts",
    "contact_interactions",
    "events",
    "event_attendees",
    "event_agenda_items",
    "expenses",
    "media",
    "media_collections",
    "media_collection_items",
    "notifications",
    "integrations",
    "integration_logs",
    "analytics_events",
    "audit_logs",
];

pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// An error and its sources, as one line ("error sending request: connection refused").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_map_to_graphql_fields() {
        assert_eq!(
            check_field("contact_interactions_interaction_type_check"),
            "interactionType"
        );
        assert_eq!(check_field("event_attendees_status_check"), "status");
        assert_eq!(check_field("events_date_range"), "endDate");
        assert_eq!(unique_field("users.organization_id, users.email"), "email");
        assert_eq!(unique_field("users_unique_email_per_org"), "email");
    }
}
