//! `GET /export/contacts.csv`: the caller's contacts as CSV (RFC 4180, UTF-8, a header row of
//! stable names), with the `contacts` query's filters as query parameters. Streamed: one
//! keyset page after another is written as it is read, so memory stays flat whatever the
//! size and the first rows leave at once. Cells a spreadsheet would evaluate (starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return) get a leading `'` (OWASP CSV injection).
//!
//! Query parameters: `search`, `contactType`, `status`, `priority` (comma-separated GraphQL
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
use crate::db::pagination::{MAX_PAGE, PageArgs};
use crate::domain::enums::DbEnum;
use crate::entities::contacts;
use crate::error::AppError;
use crate::services::contacts::{ContactFilter, ContactSort};

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
            "deleted" => {
                f.deleted = Some(match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("must be true or false", "deleted")),
                })
            }
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

pub async fn contacts_csv(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (caller, _meta) = super::graphql::request_context(&state, &headers, peer).await;
    let actor = match caller {
        Caller::Authenticated(a) => a,
        Caller::Refused(why) => {
            return refusal(
                MediaType::Json,
                StatusCode::UNAUTHORIZED,
                AppError::Unauthenticated(why),
            );
        }
        Caller::Anonymous => {
            return refusal(
                MediaType::Json,
                StatusCode::UNAUTHORIZED,
                AppError::Unauthenticated("an export needs `Authorization: Bearer <token>`".into()),
            );
        }
    };
    let filter = match contact_filter(&q) {
        Ok(f) => f,
        Err(e) => return refusal(MediaType::Json, StatusCode::BAD_REQUEST, e),
    };
    // The first page before any byte is sent: a filter the query refuses is still a 400.
    let sort = || (ContactSort::CreatedAt, Order::Desc);
    let first = PageArgs::new(Some(MAX_PAGE as i32), None, None, None);
    let page =
        match crate::services::contacts::list(&state.db, &actor, &filter, sort(), &first).await {
            Ok(p) => p,
            Err(e @ AppError::BadUserInput { .. }) => {
                return refusal(MediaType::Json, StatusCode::BAD_REQUEST, e);
            }
            Err(e) => {
                tracing::error!("contacts export: {e:?}");
                return refusal(
                    MediaType::Json,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    AppError::Internal(String::new()),
                );
            }
        };
    let header_row = vec![CONTACT_COLUMNS.iter().map(|c| (*c).to_owned()).collect()];
    let head = csv_bytes(&header_row);
    let db = state.db.clone();
    // State: the page in hand (or the cursor to read next), until none is left.
    let pages = futures_util::stream::try_unfold(Some(Ok(page)), move |next| {
        let (db, actor, filter) = (db.clone(), actor.clone(), filter.clone());
        async move {
            let page = match next {
                None => return Ok(None),
                Some(Ok(p)) => p,
                Some(Err(after)) => {
                    let args = PageArgs::new(Some(MAX_PAGE as i32), Some(after), None, None);
                    crate::services::contacts::list(&db, &actor, &filter, sort(), &args).await?
                }
            };
            let rows: Vec<Vec<String>> = page.items.iter().map(|(_, c)| row(c)).collect();
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
        .map(|chunk| {
            chunk.map_err(|e| {
                tracing::error!("contacts export stopped: {e:?}");
                std::io::Error::other("the export stopped")
            })
        });
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"contacts.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
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
