//! `GET /export/{contacts|interactions|events|attendees|expenses}.csv`: the caller's rows as CSV (RFC 4180, UTF-8, a header row of
//! stable names), with the `contacts` query's filters as query parameters. Streamed: one
//! keyset page after another is written as it is read, so memory stays flat whatever the
//! size and the first rows leave at once. Cells a spreadsheet would evaluate (starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return) get a leading `'` (OWASP CSV injection).
//!
//! Contacts' query parameters: `search`, `contactType`, `status`, `priority` (comma-separated GraphQL
//! enum names), `leadScoreMin`, `leadScoreMax`, `company`, `industry`, `createdBy`,
//! `deleted=true` (the trash). Anything else is refused (400), as are malformed values.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sea_orm::Order;

use super::AppState;
use super::response::{MediaType, refusal};
use crate::auth::Caller;
use crate::db::pagination::{MAX_PAGE, Page, PageArgs};
use crate::domain::enums::DbEnum;
use crate::entities::{contact_interactions, contacts, event_attendees, events, expenses};
use crate::error::AppError;
use crate::services::contacts::{ContactFilter, ContactSort};
use crate::services::events::{EventFilter, EventSort};
use crate::services::expenses::{ExpenseFilter, ExpenseSort};
use crate::services::interactions::InteractionFilter;
use crate::services::registrations::RegistrationFilter;

/// The columns, in order.
pub const CONTACT_COLUMNS: [&str; 20] = [
    "id",
    "firstName",
    "lastName",
    "email",
    "phone",
    "company",
    "jobTitle",
    "linkedinUrl",
    "contactType",
    "status",
    "priority",
    "businessType",
    "networkType",
    "industry",
    "leadScore",
    "notes",
    "lastInteraction",
    "createdBy",
    "createdAt",
    "updatedAt",
];

/// A text cell a spreadsheet will not evaluate.
pub fn neutral(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

fn time(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn row(c: &contacts::Model) -> Vec<String> {
    vec![
        c.id.to_string(),
        neutral(&c.first_name).into_owned(),
        neutral(&c.last_name).into_owned(),
        text(&c.email),
        text(&c.phone),
        text(&c.company),
        text(&c.job_title),
        text(&c.linkedin_url),
        c.contact_type.to_uppercase(),
        c.status.to_uppercase(),
        c.priority.to_uppercase(),
        text(&c.business_type),
        text(&c.network_type),
        text(&c.industry),
        c.lead_score.to_string(),
        text(&c.notes),
        when(&c.last_interaction),
        c.created_by.to_string(),
        time(&c.created_at),
        time(&c.updated_at),
    ]
}

fn bad(message: impl Into<String>, field: &str) -> AppError {
    AppError::bad_input(field, message)
}

fn list<T: DbEnum + FromStr>(raw: &str, field: &str) -> Result<Vec<T>, AppError> {
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            T::from_str(&v.to_lowercase())
                .map_err(|_| bad(format!("{v:?} is not a {field} value"), field))
        })
        .collect()
}

fn id(v: &str, field: &str) -> Result<uuid::Uuid, AppError> {
    v.parse()
        .map_err(|_| bad(format!("{v:?} is not an id"), field))
}

fn int(v: &str, field: &str) -> Result<i32, AppError> {
    v.parse()
        .map_err(|_| bad(format!("{v:?} is not a number"), field))
}

fn date(v: &str, field: &str) -> Result<chrono::NaiveDate, AppError> {
    v.parse()
        .map_err(|_| bad(format!("{v:?} is not a date (YYYY-MM-DD)"), field))
}

fn instant(v: &str, field: &str) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.to_utc())
        .map_err(|_| bad(format!("{v:?} is not an RFC 3339 date-time"), field))
}

fn money(v: &str, field: &str) -> Result<rust_decimal::Decimal, AppError> {
    v.parse()
        .map_err(|_| bad(format!("{v:?} is not an amount"), field))
}

fn boolean(v: &str, field: &str) -> Result<bool, AppError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad("must be true or false", field)),
    }
}

fn unknown<T>(key: &str) -> Result<T, AppError> {
    Err(bad(format!("{key:?} is not a filter of this export"), key))
}

/// The `contacts` filter from query parameters.
pub fn contact_filter(q: &HashMap<String, String>) -> Result<ContactFilter, AppError> {
    let mut f = ContactFilter::default();
    for (k, v) in q {
        let k = k.as_str();
        match k {
            "search" => f.search = Some(v.clone()),
            "contactType" => f.contact_type = Some(list(v, k)?),
            "status" => f.status = Some(list(v, k)?),
            "priority" => f.priority = Some(list(v, k)?),
            "leadScoreMin" => f.lead_score_min = Some(int(v, k)?),
            "leadScoreMax" => f.lead_score_max = Some(int(v, k)?),
            "company" => f.company = Some(v.clone()),
            "industry" => f.industry = Some(v.clone()),
            "createdBy" => f.created_by = Some(id(v, k)?),
            "deleted" => f.deleted = Some(boolean(v, k)?),
            other => return unknown(other),
        }
    }
    Ok(f)
}

fn csv_bytes(rows: &[Vec<String>]) -> Result<Bytes, AppError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(r)
            .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
}

/// The signed-in caller, or the 401 to answer.
pub(super) async fn actor_of(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<crate::auth::Actor, Response> {
    let (caller, _meta) = super::graphql::request_context(state, headers, peer).await;
    let why = match caller {
        Caller::Authenticated(a) if a.two_factor_setup => {
            return Err(refusal(
                MediaType::Json,
                StatusCode::FORBIDDEN,
                AppError::TwoFactorSetupRequired(
                    "your organization requires two-factor sign-in: set it up first".into(),
                ),
            ));
        }
        Caller::Authenticated(a) => return Ok(a),
        Caller::Refused(why) => why,
        Caller::Anonymous => "an export needs `Authorization: Bearer <token>`".into(),
    };
    Err(refusal(
        MediaType::Json,
        StatusCode::UNAUTHORIZED,
        AppError::Unauthenticated(why),
    ))
}

/// Reads one keyset page of `M`: the first (`None`) or the one after a cursor.
type Fetch<M> = std::sync::Arc<
    dyn Fn(Option<String>) -> futures_util::future::BoxFuture<'static, Result<Page<M>, AppError>>
        + Send
        + Sync,
>;

/// Streams `fetch`'s pages as CSV rows under `columns`. The first page is read before any
/// byte is sent, so a refused filter is still a 400.
async fn stream_csv<M: Send + 'static>(
    file: &'static str,
    columns: &[&str],
    fetch: Fetch<M>,
    row: fn(&M) -> Vec<String>,
) -> Response {
    let first = match fetch(None).await {
        Ok(p) => p,
        Err(e @ AppError::BadUserInput { .. }) => {
            return refusal(MediaType::Json, StatusCode::BAD_REQUEST, e);
        }
        Err(e) => {
            tracing::error!(file, "export: {e:?}");
            let e = AppError::Internal(String::new());
            return refusal(MediaType::Json, StatusCode::INTERNAL_SERVER_ERROR, e);
        }
    };
    let head = csv_bytes(&[columns.iter().map(|c| (*c).to_owned()).collect()]);
    // State: the page in hand, or the cursor to read next, until none is left.
    let pages = futures_util::stream::try_unfold(Some(Ok(first)), move |next| {
        let fetch = fetch.clone();
        async move {
            let page = match next {
                None => return Ok(None),
                Some(Ok(p)) => p,
                Some(Err(after)) => fetch(Some(after)).await?,
            };
            let rows: Vec<Vec<String>> = page.items.iter().map(|(_, m)| row(m)).collect();
            let following = match (page.has_next_page, page.items.last()) {
                (true, Some((cursor, _))) => Some(Err(cursor.encode())),
                _ => None,
            };
            Ok::<_, AppError>(Some((csv_bytes(&rows)?, following)))
        }
    });
    use futures_util::StreamExt;
    let body = futures_util::stream::once(async move { head })
        .chain(pages)
        .map(move |chunk| {
            chunk.map_err(|e| {
                tracing::error!(file, "export stopped: {e:?}");
                std::io::Error::other("the export stopped")
            })
        });
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn page_after(after: Option<String>) -> PageArgs {
    PageArgs::new(Some(MAX_PAGE as i32), after, None, None)
}

/// One page of an export's rows: (database, caller, filter, page) -> the page.
type List<F, M> = fn(
    sea_orm::DatabaseConnection,
    crate::auth::Actor,
    F,
    PageArgs,
) -> futures_util::future::BoxFuture<'static, Result<Page<M>, AppError>>;

/// What every export does: the caller, its filter from the query, then the pages as CSV.
#[allow(clippy::too_many_arguments)]
async fn export<F: Clone + Send + Sync + 'static, M: Send + 'static>(
    state: AppState,
    peer: SocketAddr,
    headers: HeaderMap,
    q: HashMap<String, String>,
    (file, columns): (&'static str, &[&str]),
    parse: fn(&HashMap<String, String>) -> Result<F, AppError>,
    list: List<F, M>,
    row: fn(&M) -> Vec<String>,
) -> Response {
    let actor = match actor_of(&state, &headers, peer).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let filter = match parse(&q) {
        Ok(f) => f,
        Err(e) => return refusal(MediaType::Json, StatusCode::BAD_REQUEST, e),
    };
    let db = state.db.clone();
    let fetch: Fetch<M> = std::sync::Arc::new(move |after| {
        list(db.clone(), actor.clone(), filter.clone(), page_after(after))
    });
    stream_csv(file, columns, fetch, row).await
}

pub async fn contacts_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: List<ContactFilter, contacts::Model> = |db, actor, f, args| {
        Box::pin(async move {
            let sort = (ContactSort::CreatedAt, Order::Desc);
            crate::services::contacts::list(&db, &actor, &f, sort, &args).await
        })
    };
    let what = ("contacts.csv", &CONTACT_COLUMNS[..]);
    export(state, peer, headers, q, what, contact_filter, list, row).await
}

/// The columns of `expenses.csv`, in order. Amounts have two decimals.
pub const EXPENSE_COLUMNS: [&str; 18] = [
    "id",
    "title",
    "amount",
    "currency",
    "expenseType",
    "category",
    "expenseDate",
    "status",
    "eventId",
    "createdBy",
    "approvedBy",
    "approvedAt",
    "rejectionReason",
    "paidAt",
    "paymentReference",
    "receiptUrl",
    "createdAt",
    "updatedAt",
];

fn expense_row(e: &expenses::Model) -> Vec<String> {
    let id = |v: &Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    vec![
        e.id.to_string(),
        neutral(&e.title).into_owned(),
        format!("{:.2}", e.amount.round_dp(2)),
        neutral(&e.currency).into_owned(),
        e.expense_type.to_uppercase(),
        text(&e.category),
        e.expense_date.to_string(),
        e.status.to_uppercase(),
        id(&e.event_id),
        e.created_by.to_string(),
        id(&e.approved_by),
        when(&e.approved_at),
        text(&e.rejection_reason),
        when(&e.paid_at),
        text(&e.payment_reference),
        text(&e.receipt_url),
        time(&e.created_at),
        time(&e.updated_at),
    ]
}

/// The `expenses` filter from query parameters: `eventId`, `status`, `expenseType`,
/// `category`, `createdBy`, `dateFrom`, `dateTo` (YYYY-MM-DD), `amountMin`, `amountMax`,
/// `search`, `deleted`.
pub fn expense_filter(q: &HashMap<String, String>) -> Result<ExpenseFilter, AppError> {
    let mut f = ExpenseFilter::default();
    for (k, v) in q {
        let k = k.as_str();
        match k {
            "eventId" => f.event_id = Some(id(v, k)?),
            "status" => f.status = Some(list(v, k)?),
            "expenseType" => f.expense_type = Some(list(v, k)?),
            "category" => f.category = Some(v.clone()),
            "createdBy" => f.created_by = Some(id(v, k)?),
            "dateFrom" => f.date_from = Some(date(v, k)?),
            "dateTo" => f.date_to = Some(date(v, k)?),
            "amountMin" => f.amount_min = Some(money(v, k)?),
            "amountMax" => f.amount_max = Some(money(v, k)?),
            "search" => f.search = Some(v.clone()),
            "deleted" => f.deleted = Some(boolean(v, k)?),
            other => return unknown(other),
        }
    }
    Ok(f)
}

/// `GET /export/expenses.csv`: the organization's expenses (every member sees them, as in
/// GraphQL), latest expense date first.
pub async fn expenses_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: List<ExpenseFilter, expenses::Model> = |db, actor, f, args| {
        Box::pin(async move {
            let sort = (ExpenseSort::ExpenseDate, Order::Desc);
            crate::services::expenses::list(&db, &actor, &f, sort, &args).await
        })
    };
    let what = ("expenses.csv", &EXPENSE_COLUMNS[..]);
    export(
        state,
        peer,
        headers,
        q,
        what,
        expense_filter,
        list,
        expense_row,
    )
    .await
}

/// The columns of `interactions.csv`, in order.
pub const INTERACTION_COLUMNS: [&str; 11] = [
    "id",
    "contactId",
    "userId",
    "interactionType",
    "subject",
    "description",
    "outcome",
    "interactionDate",
    "status",
    "createdAt",
    "updatedAt",
];

fn text(v: &Option<String>) -> String {
    v.as_deref()
        .map(|s| neutral(s).into_owned())
        .unwrap_or_default()
}

fn when(v: &Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    v.as_ref().map(time).unwrap_or_default()
}

fn interaction_row(i: &contact_interactions::Model) -> Vec<String> {
    vec![
        i.id.to_string(),
        i.contact_id.to_string(),
        i.user_id.to_string(),
        i.interaction_type.to_uppercase(),
        text(&i.subject),
        text(&i.description),
        text(&i.outcome),
        time(&i.interaction_date),
        i.status.to_uppercase(),
        time(&i.created_at),
        time(&i.updated_at),
    ]
}

/// The `interactions` filter: `contactId`, `userId`, `interactionType`, `status`,
/// `dateFrom`, `dateTo` (RFC 3339), `deleted`.
pub fn interaction_filter(q: &HashMap<String, String>) -> Result<InteractionFilter, AppError> {
    let mut f = InteractionFilter::default();
    for (k, v) in q {
        let k = k.as_str();
        match k {
            "contactId" => f.contact_id = Some(id(v, k)?),
            "userId" => f.user_id = Some(id(v, k)?),
            "interactionType" => f.interaction_type = Some(list(v, k)?),
            "status" => f.status = Some(list(v, k)?),
            "dateFrom" => f.date_from = Some(instant(v, k)?),
            "dateTo" => f.date_to = Some(instant(v, k)?),
            "deleted" => f.deleted = Some(boolean(v, k)?),
            other => return unknown(other),
        }
    }
    Ok(f)
}

/// `GET /export/interactions.csv`: latest first, as the `interactions` query.
pub async fn interactions_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: List<InteractionFilter, contact_interactions::Model> = |db, actor, f, args| {
        Box::pin(async move { crate::services::interactions::list(&db, &actor, &f, &args).await })
    };
    let what = ("interactions.csv", &INTERACTION_COLUMNS[..]);
    let parse = interaction_filter;
    export(state, peer, headers, q, what, parse, list, interaction_row).await
}

/// The columns of `events.csv`, in order. Budgets have two decimals.
pub const EVENT_COLUMNS: [&str; 18] = [
    "id",
    "title",
    "description",
    "eventType",
    "status",
    "startDate",
    "endDate",
    "timezone",
    "location",
    "venue",
    "budget",
    "currency",
    "maxAttendees",
    "currentAttendees",
    "registrationUrl",
    "createdBy",
    "createdAt",
    "updatedAt",
];

fn event_row(e: &events::Model) -> Vec<String> {
    vec![
        e.id.to_string(),
        neutral(&e.title).into_owned(),
        text(&e.description),
        e.event_type.to_uppercase(),
        e.status.to_uppercase(),
        time(&e.start_date),
        time(&e.end_date),
        neutral(&e.timezone).into_owned(),
        text(&e.location),
        text(&e.venue),
        format!("{:.2}", e.budget.round_dp(2)),
        neutral(&e.currency).into_owned(),
        e.max_attendees.map(|m| m.to_string()).unwrap_or_default(),
        e.current_attendees.to_string(),
        text(&e.registration_url),
        e.created_by.to_string(),
        time(&e.created_at),
        time(&e.updated_at),
    ]
}

/// The `events` filter: `search`, `status`, `eventType`, `startsAfter`, `startsBefore`
/// (RFC 3339), `createdBy`, `deleted`.
pub fn event_filter(q: &HashMap<String, String>) -> Result<EventFilter, AppError> {
    let mut f = EventFilter::default();
    for (k, v) in q {
        let k = k.as_str();
        match k {
            "search" => f.search = Some(v.clone()),
            "status" => f.status = Some(list(v, k)?),
            "eventType" => f.event_type = Some(list(v, k)?),
            "startsAfter" => f.starts_after = Some(instant(v, k)?),
            "startsBefore" => f.starts_before = Some(instant(v, k)?),
            "createdBy" => f.created_by = Some(id(v, k)?),
            "deleted" => f.deleted = Some(boolean(v, k)?),
            other => return unknown(other),
        }
    }
    Ok(f)
}

/// `GET /export/events.csv`: by start date, earliest first.
pub async fn events_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: List<EventFilter, events::Model> = |db, actor, f, args| {
        Box::pin(async move {
            let sort = (EventSort::StartDate, Order::Asc);
            crate::services::events::list(&db, &actor, &f, sort, &args).await
        })
    };
    let what = ("events.csv", &EVENT_COLUMNS[..]);
    export(state, peer, headers, q, what, event_filter, list, event_row).await
}

/// The columns of `attendees.csv`, in order.
pub const ATTENDEE_COLUMNS: [&str; 10] = [
    "id",
    "eventId",
    "userId",
    "status",
    "registrationDate",
    "checkInTime",
    "checkOutTime",
    "notes",
    "createdAt",
    "updatedAt",
];

fn attendee_row(a: &event_attendees::Model) -> Vec<String> {
    vec![
        a.id.to_string(),
        a.event_id.to_string(),
        a.user_id.to_string(),
        a.status.to_uppercase(),
        time(&a.registration_date),
        when(&a.check_in_time),
        when(&a.check_out_time),
        text(&a.notes),
        time(&a.created_at),
        time(&a.updated_at),
    ]
}

/// The registrations filter (`Event.attendees`' and `User.registrations`' arguments as
/// parameters): `eventId`, `userId`, `status`, `deleted`.
pub fn attendee_filter(q: &HashMap<String, String>) -> Result<RegistrationFilter, AppError> {
    let mut f = RegistrationFilter::default();
    for (k, v) in q {
        let k = k.as_str();
        match k {
            "eventId" => f.event_id = Some(id(v, k)?),
            "userId" => f.user_id = Some(id(v, k)?),
            "status" => f.status = Some(list(v, k)?),
            "deleted" => f.deleted = Some(boolean(v, k)?),
            other => return unknown(other),
        }
    }
    Ok(f)
}

/// `GET /export/attendees.csv`: registrations, first registered first.
pub async fn attendees_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: List<RegistrationFilter, event_attendees::Model> = |db, actor, f, args| {
        Box::pin(async move { crate::services::registrations::list(&db, &actor, &f, &args).await })
    };
    let what = ("attendees.csv", &ATTENDEE_COLUMNS[..]);
    let parse = attendee_filter;
    export(state, peer, headers, q, what, parse, list, attendee_row).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_neutralised() {
        for bad in ["=1+1", "+1 555", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutral(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutral("Ada"), "Ada");
        assert_eq!(neutral(""), "");
    }
}
