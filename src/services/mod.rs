//! Business rules, one module per domain: validation, authorization, transactions, audit rows,
//! notifications and realtime signals. No GraphQL here. A writing call opens one `Work` (the
//! unit of work: transaction, actor, audit, signals) and commits it once.

pub mod accounts;
pub mod agenda;
pub mod audit;
pub mod contacts;
pub mod events;
pub mod interactions;
pub mod notifications;
pub mod organizations;
pub mod registrations;
pub mod users;
pub mod validate;
pub mod work;

use chrono::{DateTime, FixedOffset, Timelike, Utc};

pub use crate::auth::identity::{Actor, RequestMeta};
pub use work::{Store, Work};

/// An optional field of an update: omitted, explicitly null, or a new value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

/// Now, to the microsecond (both backends store that precision, so values read back equal).
pub fn now() -> DateTime<FixedOffset> {
    let t = Utc::now();
    let micros = t.timestamp_subsec_micros();
    let t = t
        .with_nanosecond(micros * 1000)
        .expect("microseconds are a valid nanosecond value");
    t.fixed_offset()
}
