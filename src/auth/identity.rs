//! Who is asking: the request's origin, the authenticated actor, and the one vocabulary of
//! rights every service uses (`admin`, `organizer_or_admin`, `owner_or_admin`), each with one
//! message.

use std::net::IpAddr;

use uuid::Uuid;

use crate::db::scoped::Scoped;
use crate::error::AppError;

/// Where a request came from, for audit metadata and rate limiting.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Uuid,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The request's `Idempotency-Key` row: a mutation's transaction marks it committed.
    pub idempotency: Option<Uuid>,
}

/// The authenticated caller. `is_admin` comes from the database on every request, not from
/// the token, so a demotion takes effect at once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub is_admin: bool,
    /// The refresh-token family the access token belongs to.
    pub session_id: Uuid,
    pub meta: RequestMeta,
    /// The token may only set up two-factor sign-in (the organization requires it).
    pub two_factor_setup: bool,
}

/// The outcome of reading a request's credentials.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    /// A token was sent but refused; operations that need a caller answer with this reason.
    Refused(String),
    Authenticated(Actor),
}

pub const ADMIN_ONLY: &str = "only an organization admin may do this";
pub const ORGANIZER_OR_ADMIN: &str = "only the event's organizer or an admin may do this";
pub const OWNER_OR_ADMIN: &str = "only its owner or an admin may do this";

impl Actor {
    /// The caller's organization: the only door to tenant rows.
    pub fn scope(&self) -> Scoped {
        Scoped::of_actor(self)
    }

    /// Admins only.
    pub fn admin(&self) -> Result<&Self, AppError> {
        if self.is_admin {
            Ok(self)
        } else {
            Err(AppError::Forbidden(ADMIN_ONLY.into()))
        }
    }

    /// The organizer (creator) of an event, or an admin.
    pub fn organizer_or_admin(&self, organizer: Uuid) -> Result<&Self, AppError> {
        if self.is_admin || self.user_id == organizer {
            Ok(self)
        } else {
            Err(AppError::Forbidden(ORGANIZER_OR_ADMIN.into()))
        }
    }

    /// The member a record belongs to (its submitter, registrant, uploader), or an admin.
    pub fn owner_or_admin(&self, owner: Uuid) -> Result<&Self, AppError> {
        if self.is_admin || self.user_id == owner {
            Ok(self)
        } else {
            Err(AppError::Forbidden(OWNER_OR_ADMIN.into()))
        }
    }
}
