//! `Job`: one unit of background work of the organization.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{JobState, Stored};
use crate::entities::jobs;
use crate::graphql::scalars::{utc, utc_opt};

/// Background work (an import, a sync, a delivery), retried with backoff until it completes or
/// its attempts are spent. The payload stays internal.
#[derive(Clone, Debug, SimpleObject)]
pub struct Job {
    pub id: ID,
    pub kind: String,
    pub state: Stored<JobState>,
    /// Runs so far (a retry is a run).
    pub attempt: i32,
    pub max_attempts: i32,
    /// Not before this (the next retry's time while AVAILABLE after a failure).
    pub run_at: DateTime<Utc>,
    /// The error of the last failed run.
    pub last_error: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<jobs::Model> for Job {
    fn from(m: jobs::Model) -> Self {
        Self {
            id: m.id.into(),
            kind: m.kind,
            state: Stored::from_db(&m.state),
            attempt: m.attempt,
            max_attempts: m.max_attempts,
            run_at: utc(m.run_at),
            last_error: m.last_error,
            completed_at: utc_opt(m.completed_at),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

impl crate::graphql::fast::FastObject for Job {}
