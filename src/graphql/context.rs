//! What a resolver knows about its request: the caller (or why there is none), request
//! metadata, and shared services.

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::auth::{Actor, Auth, Caller, RequestMeta};
use crate::error::AppError;
use crate::services::Store;

pub trait ContextExt {
    fn db(&self) -> &DatabaseConnection;
    fn auth_service(&self) -> &Auth;
    /// Where services announce changes (schema data, always present).
    fn broker(&self) -> &dyn crate::realtime::Broker;
    /// The database and the broker, for writing services.
    fn store(&self) -> Store<'_>;
    /// Queues mail and seals secrets at rest (the keyring).
    fn composer(&self) -> &crate::mail::Composer;
    fn meta(&self) -> RequestMeta;
    /// The authenticated caller, or UNAUTHENTICATED.
    fn actor(&self) -> Result<&Actor, AppError>;
    /// The authenticated caller, even one whose token may only set up two-factor sign-in
    /// (for `me`, `twoFactor`, `enableTwoFactor`, `confirmTwoFactor`).
    fn actor_for_setup(&self) -> Result<&Actor, AppError>;
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

    fn composer(&self) -> &crate::mail::Composer {
        self.data_unchecked::<crate::mail::Composer>()
    }

    fn store(&self) -> Store<'_> {
        Store {
            db: self.db(),
            broker: self.broker(),
        }
    }

    fn meta(&self) -> RequestMeta {
        self.data_opt::<RequestMeta>().cloned().unwrap_or_default()
    }

    fn actor(&self) -> Result<&Actor, AppError> {
        let actor = self.actor_for_setup()?;
        if actor.two_factor_setup {
            return Err(setup_required());
        }
        Ok(actor)
    }

    fn actor_for_setup(&self) -> Result<&Actor, AppError> {
        match self.data_opt::<Caller>() {
            Some(Caller::Authenticated(actor)) => Ok(actor),
            Some(Caller::Refused(why)) => Err(AppError::Unauthenticated(why.clone())),
            _ => Err(AppError::Unauthenticated(
                "sign in first: send Authorization: Bearer <accessToken>".into(),
            )),
        }
    }

    fn admin(&self) -> Result<&Actor, AppError> {
        self.actor()?.admin()
    }
}

/// Refuses a caller whose token may only set up two-factor sign-in (what `me` and the other
/// setup fields return must not lead on to the organization's data); anyone else passes.
pub fn setup_only_refused(ctx: &Context<'_>) -> Result<(), AppError> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(a)) if a.two_factor_setup => Err(setup_required()),
        _ => Ok(()),
    }
}

pub fn setup_required() -> AppError {
    AppError::TwoFactorSetupRequired(
        "your organization requires two-factor sign-in: set it up with enableTwoFactor and \
         confirmTwoFactor, then refresh your token"
            .into(),
    )
}

/// Close code for a subscriber that fell behind its bounded buffer (1013: try again later).
pub const CLOSE_TOO_SLOW: u16 = 1013;

/// Lets an operation running on a WebSocket ask for the socket to be closed. (A slot and a
/// `Notify` rather than a channel: every open socket holds one.)
#[derive(Clone, Debug, Default)]
pub struct WsControl(std::sync::Arc<ControlInner>);

#[derive(Debug, Default)]
struct ControlInner {
    request: std::sync::Mutex<Option<(u16, String)>>,
    notify: tokio::sync::Notify,
}

impl WsControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first request wins; later ones are dropped.
    pub fn close(&self, code: u16, reason: String) {
        let mut request = self.0.request.lock().unwrap_or_else(|p| p.into_inner());
        if request.is_none() {
            *request = Some((code, reason));
            self.0.notify.notify_one();
        }
    }

    /// Asks for the socket to close with 1013: a subscriber missed `missed` items.
    pub fn too_slow(&self, missed: u64) {
        self.close(
            CLOSE_TOO_SLOW,
            format!("subscriber too slow: {missed} events missed; reconnect and re-query"),
        );
    }

    /// The close request made so far, if any.
    pub fn pending(&self) -> Option<(u16, String)> {
        self.0
            .request
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves with the first close request.
    pub async fn requested(&self) -> (u16, String) {
        loop {
            if let Some(r) = self.pending() {
                return r;
            }
            self.0.notify.notified().await;
        }
    }
}
