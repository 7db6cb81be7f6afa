//! Browsers on other origins (`PLUGS_CORS_ORIGINS`), and the WebSocket `Origin` check.
//!
//! tower-http's `CorsLayer` answers preflights and adds the headers; around it, a preflight
//! from an allowed origin is answered `204 No Content`, and one from any other origin gets no
//! CORS header at all (`403`). API tokens travel in `Authorization`, never in cookies, so
//! credentials are not allowed.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{CorsOrigins, normalize_origin};

/// How long a browser may reuse a preflight's answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

const ALLOWED_HEADERS: [&str; 5] = [
    "content-type",
    "authorization",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "idempotency-key",
];

const EXPOSED_HEADERS: [&str; 6] = [
    "x-request-id",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "idempotent-replayed",
    "content-disposition",
];

/// The CORS layer of the API routes (`methods`: what they answer to).
pub fn layer(origins: &CorsOrigins, methods: &[Method]) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::SameOrigin => AllowOrigin::list([]),
        CorsOrigins::List(list) => {
            let list = list.clone();
            AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin
                    .to_str()
                    .ok()
                    .and_then(normalize_origin)
                    .is_some_and(|o| list.contains(&o))
            })
        }
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods(methods.to_vec())
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(MAX_AGE)
}

/// Preflights: `204` when the origin is allowed; otherwise `403` with no CORS header.
pub async fn preflight(request: Request, next: Next) -> Response {
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = next.run(request).await;
    if !is_preflight {
        return response;
    }
    if response
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
    } else {
        let cors: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for k in cors {
            response.headers_mut().remove(k);
        }
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// Cross-site WebSocket hijacking: a browser sends its page's `Origin` with an upgrade and
/// cookies are not the only ambient credential, so an upgrade whose `Origin` is present and
/// neither this server's own nor an allowed one is refused. Clients that are not browsers send
/// no `Origin`.
pub fn websocket_origin_allowed(
    origins: &CorsOrigins,
    public_url: Option<&str>,
    headers: &HeaderMap,
) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origins.allows(origin) {
        return true;
    }
    // The server's public address (behind a proxy that rewrites `Host`).
    if let (Some(o), Some(public)) = (
        normalize_origin(origin),
        public_url.and_then(normalize_origin),
    ) && o == public
    {
        return true;
    }
    // Same origin: the page was served by this host (as the browser addressed it).
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match (normalize_origin(origin), host) {
        (Some(o), Some(host)) => {
            let authority = o.split_once("://").map_or("", |(_, a)| a);
            let host = host
                .strip_suffix(":80")
                .filter(|_| o.starts_with("http://"))
                .or_else(|| {
                    host.strip_suffix(":443")
                        .filter(|_| o.starts_with("https://"))
                })
                .unwrap_or(&host);
            authority == host
        }
        _ => false,
    }
}
