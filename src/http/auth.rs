//! Credentials and origin of an HTTP or WebSocket request: the client's address (behind
//! trusted proxies), and the bearer token turned into a `Caller`.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};
use sea_orm::DatabaseConnection;

use crate::auth::{Auth, Caller, RequestMeta};
use crate::config::Config;
use crate::error::AppError;
use crate::services::accounts;

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Request metadata from the headers and the connection.
pub fn request_meta(config: &Config, headers: &HeaderMap, peer: SocketAddr) -> RequestMeta {
    RequestMeta {
        request_id: uuid::Uuid::new_v4(),
        ip: Some(client_ip(headers, peer.ip(), &config.auth.trusted_proxies)),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(500).collect()),
        idempotency: None,
    }
}

/// Reads `Bearer <token>` and resolves it to a caller. A refused token does not fail the
/// request: public operations (login, refreshToken) still work; the rest answer UNAUTHENTICATED.
pub async fn resolve_caller(
    db: &DatabaseConnection,
    auth: &Auth,
    authorization: Option<&str>,
    meta: &RequestMeta,
) -> Caller {
    let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
        return Caller::Anonymous;
    };
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Caller::Refused("use Authorization: Bearer <accessToken>".into()),
    };
    match accounts::authenticate(db, auth, token, meta.clone()).await {
        Ok(actor) => Caller::Authenticated(actor),
        Err(e @ AppError::Internal(_)) => {
            use async_graphql::ErrorExtensions as _;
            let _ = e.extend(); // logs the cause
            Caller::Refused("authentication is unavailable right now".into())
        }
        Err(e) => Caller::Refused(e.public_message()),
    }
}
