//! What a resolver knows about its request: the caller (or why there is none), request
//! metadata, and shared services.

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::auth::Auth;
use crate::error::AppError;
use crate::services::{Actor, RequestMeta, accounts};

/// The outcome of reading the `Authorization` header.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    /// A token was sent but refused; resolvers that need a caller answer with this reason.
    Refused(String),
    Authenticated(Actor),
}

pub trait ContextExt {
    fn db(&self) -> &DatabaseConnection;
    fn auth_service(&self) -> &Auth;
    /// Where services announce changes (schema data, always present).
    fn broker(&self) -> &dyn crate::realtime::Broker;
    fn meta(&self) -> RequestMeta;
    /// The authenticated caller, or UNAUTHENTICATED.
    fn actor(&self) -> Result<&Actor, AppError>;
    /// The authenticated caller if an admin, FORBIDDEN for members.
    fn admin(&self) -> Result<&Actor, AppError>;
}

impl ContextExt for Context<'_> {
    fn db(&self) -> &DatabaseConnection {
        self.data_unchecked::<DatabaseConnection>()
    }

    fn auth_service(&self) -> &Auth {
        self.data_unchecked::<Auth>()
    }

    fn broker(&self) -> &dyn crate::realtime::Broker {
        self.data_unchecked::<crate::realtime::SharedBroker>()
            .as_ref()
    }

    fn meta(&self) -> RequestMeta {
        self.data_opt::<RequestMeta>().cloned().unwrap_or_default()
    }

    fn actor(&self) -> Result<&Actor, AppError> {
        match self.data_opt::<Caller>() {
            Some(Caller::Authenticated(actor)) => Ok(actor),
            Some(Caller::Refused(why)) => Err(AppError::Unauthenticated(why.clone())),
            _ => Err(AppError::Unauthenticated(
                "sign in first: send Authorization: Bearer <accessToken>".into(),
            )),
        }
    }

    fn admin(&self) -> Result<&Actor, AppError> {
        let actor = self.actor()?;
        if actor.is_admin {
            Ok(actor)
        } else {
            Err(AppError::Forbidden(
                "only an organization admin may do this".into(),
            ))
        }
    }
}

/// Parses an `ID` argument; a malformed id names the argument.
pub fn parse_id(id: &async_graphql::ID, field: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(field, "is not a valid ID"))
}

/// Close code for a subscriber that fell behind its bounded buffer (1013: try again later).
pub const CLOSE_TOO_SLOW: u16 = 1013;

/// Lets an operation running on a WebSocket ask for the socket to be closed.
#[derive(Clone, Debug)]
pub struct WsControl {
    tx: tokio::sync::mpsc::Sender<(u16, String)>,
}

impl WsControl {
    pub fn new() -> (Self, tokio::sync::mpsc::Receiver<(u16, String)>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        (Self { tx }, rx)
    }

    /// The first request wins; later ones are dropped.
    pub fn close(&self, code: u16, reason: String) {
        let _ = self.tx.try_send((code, reason));
    }
}

/// Parses an optional `ID` argument.
pub fn opt_id(id: Option<&async_graphql::ID>, field: &str) -> Result<Option<uuid::Uuid>, AppError> {
    id.map(|i| parse_id(i, field)).transpose()
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

/// `MaybeUndefined` -> `Change`: omitted keeps, `null` clears, a value sets.
pub fn change<T>(v: async_graphql::MaybeUndefined<T>) -> crate::services::Change<T> {
    use crate::services::Change;
    match v {
        async_graphql::MaybeUndefined::Undefined => Change::Keep,
        async_graphql::MaybeUndefined::Null => Change::Clear,
        async_graphql::MaybeUndefined::Value(v) => Change::Set(v),
    }
}

/// A field that may be omitted but not cleared (`null` names the field in BAD_USER_INPUT).
pub fn non_null<T>(
    v: async_graphql::MaybeUndefined<T>,
    field: &str,
) -> Result<Option<T>, AppError> {
    match v {
        async_graphql::MaybeUndefined::Undefined => Ok(None),
        async_graphql::MaybeUndefined::Null => Err(AppError::bad_input(field, "cannot be null")),
        async_graphql::MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// An optional input field that cannot be cleared: omitted keeps, a value sets.
pub fn set<T>(v: Option<T>) -> crate::services::Change<T> {
    v.map_or(crate::services::Change::Keep, crate::services::Change::Set)
}

/// `orderBy` takes one ordering (ties are broken by id); `default` when none is given.
pub fn one_ordering<O, F>(
    order: Option<Vec<O>>,
    default: (F, sea_orm::Order),
    read: impl Fn(&O) -> (F, crate::graphql::networking::OrderDirection),
) -> Result<(F, sea_orm::Order), AppError> {
    let order = order.unwrap_or_default();
    if order.len() > 1 {
        return Err(AppError::bad_input(
            "orderBy",
            "one ordering at a time (ties are broken by id)",
        ));
    }
    let Some(o) = order.first() else {
        return Ok(default);
    };
    let (field, direction) = read(o);
    Ok((field, direction.into()))
}
