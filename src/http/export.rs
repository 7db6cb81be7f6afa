//! `GET /export/contacts.csv` and `GET /export/expenses.csv`: the caller's rows as CSV (RFC 4180, UTF-8, a header row of
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
use crate::entities::{contacts, expenses};
use crate::error::AppError;
use crate::services::contacts::{ContactFilter, ContactSort};
use crate::services::expenses::{ExpenseFilter, ExpenseSort};

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
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(|s| neutral(s).into_owned())
            .unwrap_or_default()
    };
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
        c.last_interaction.as_ref().map(time).unwrap_or_default(),
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

/// The `contacts` filter from query parameters.
pub fn contact_filter(q: &HashMap<String, String>) -> Result<ContactFilter, AppError> {
    let mut f = ContactFilter::default();
    for (k, v) in q {
        let int = |field: &str| {
            v.parse::<i32>()
                .map_err(|_| bad(format!("{v:?} is not a number"), field))
        };
        match k.as_str() {
            "search" => f.search = Some(v.clone()),
            "contactType" => f.contact_type = Some(list(v, "contactType")?),
            "status" => f.status = Some(list(v, "status")?),
            "priority" => f.priority = Some(list(v, "priority")?),
            "leadScoreMin" => f.lead_score_min = Some(int("leadScoreMin")?),
            "leadScoreMax" => f.lead_score_max = Some(int("leadScoreMax")?),
            "company" => f.company = Some(v.clone()),
            "industry" => f.industry = Some(v.clone()),
            "createdBy" => {
                f.created_by = Some(
                    v.parse()
                        .map_err(|_| bad(format!("{v:?} is not an id"), "createdBy"))?,
                )
            }
            "deleted" => f.deleted = Some(boolean(v)?),
            other => {
                return Err(bad(
                    format!("{other:?} is not a filter of this export"),
                    other,
                ));
            }
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
async fn actor_of(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<crate::auth::Actor, Response> {
    let (caller, _meta) = super::graphql::request_context(state, headers, peer).await;
    let why = match caller {
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
                (true, Some((cursor, _))) => Some(Err(cursor.clone())),
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
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(|s| neutral(s).into_owned())
            .unwrap_or_default()
    };
    let id = |v: &Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    vec![
        e.id.to_string(),
        neutral(&e.title).into_owned(),
        format!("{:.2}", e.amount.round_dp(2)),
        e.currency.clone(),
        e.expense_type.to_uppercase(),
        text(&e.category),
        e.expense_date.to_string(),
        e.status.to_uppercase(),
        id(&e.event_id),
        e.created_by.to_string(),
        id(&e.approved_by),
        e.approved_at.as_ref().map(time).unwrap_or_default(),
        text(&e.rejection_reason),
        e.paid_at.as_ref().map(time).unwrap_or_default(),
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
        let uuid = |field: &str| {
            v.parse::<uuid::Uuid>()
                .map_err(|_| bad(format!("{v:?} is not an id"), field))
        };
        let date = |field: &str| {
            v.parse::<chrono::NaiveDate>()
                .map_err(|_| bad(format!("{v:?} is not a date (YYYY-MM-DD)"), field))
        };
        let money = |field: &str| {
            v.parse::<rust_decimal::Decimal>()
                .map_err(|_| bad(format!("{v:?} is not an amount"), field))
        };
        match k.as_str() {
            "eventId" => f.event_id = Some(uuid("eventId")?),
            "status" => f.status = Some(list(v, "status")?),
            "expenseType" => f.expense_type = Some(list(v, "expenseType")?),
            "category" => f.category = Some(v.clone()),
            "createdBy" => f.created_by = Some(uuid("createdBy")?),
            "dateFrom" => f.date_from = Some(date("dateFrom")?),
            "dateTo" => f.date_to = Some(date("dateTo")?),
            "amountMin" => f.amount_min = Some(money("amountMin")?),
            "amountMax" => f.amount_max = Some(money("amountMax")?),
            "search" => f.search = Some(v.clone()),
            "deleted" => f.deleted = Some(boolean(v)?),
            other => {
                return Err(bad(
                    format!("{other:?} is not a filter of this export"),
                    other,
                ));
            }
        }
    }
    Ok(f)
}

fn boolean(v: &str) -> Result<bool, AppError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad("must be true or false", "deleted")),
    }
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
