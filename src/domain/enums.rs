//! One Rust enum per enumerated column. The database keeps lowercase VARCHAR values under a
//! CHECK constraint (portable to SQLite); GraphQL shows the SCREAMING_SNAKE_CASE names.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Every column enum: the GraphQL enum, `as_str` for the database, `FromStr` back.
pub trait DbEnum: Copy + FromStr<Err = UnknownValue> + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    /// Reads a value the database's CHECK constraint vouched for. Should that ever be bypassed
    /// (a hand edit, a newer version's value), the read fails as an internal error instead of
    /// passing for another value.
    fn from_db(value: &str) -> Result<Self, crate::error::AppError> {
        value.parse().map_err(|e: UnknownValue| {
            crate::error::AppError::Internal(format!(
                "the database holds {e}, which its CHECK constraint should refuse"
            ))
        })
    }
}

/// The database strings of a list filter (`status: [..]`); empty when absent.
pub fn db_values<T: DbEnum>(values: Option<Vec<T>>) -> Vec<String> {
    values
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.as_str().to_owned())
        .collect()
}

/// An enum column as a GraphQL field: the value, or the error of a value the database should
/// never have held (that field answers INTERNAL_SERVER_ERROR, the rest of the row still renders).
#[derive(Clone, Debug)]
pub struct Stored<T>(Result<T, String>);

impl<T: DbEnum> Stored<T> {
    pub fn from_db(value: &str) -> Self {
        Self(T::from_db(value).map_err(|_| value.to_owned()))
    }

    pub fn get(&self) -> Option<T> {
        self.0.as_ref().ok().copied()
    }
}

/// The database string (the unknown one as it was read).
impl<T: DbEnum> fmt::Display for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(v) => f.write_str(v.as_str()),
            Err(raw) => f.write_str(raw),
        }
    }
}

impl<T: DbEnum + async_graphql::OutputType> async_graphql::OutputType for Stored<T> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        match &self.0 {
            Ok(v) => v.resolve(ctx, field).await,
            Err(raw) => {
                use async_graphql::ErrorExtensions as _;
                let err = crate::error::AppError::Internal(format!(
                    "unknown {} value {raw:?} in the database",
                    T::type_name()
                ));
                Err(err.extend().into_server_error(field.pos))
            }
        }
    }
}

macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl DbEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($value => Ok(Self::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

db_enum!(
    /// Where a person stands in the funnel: target -> contact -> plug.
    ContactType { Target = "target", Contact = "contact", Plug = "plug" }
);
db_enum!(
    /// Commercial status of a contact.
    ContactStatus {
        NewClient = "new_client",
        ExistingClient = "existing_client",
        HotLead = "hot_lead",
        ColdLead = "cold_lead",
    }
);
db_enum!(ContactPriority { High = "high", Medium = "medium", Low = "low" });
db_enum!(InteractionType {
    Meeting = "meeting",
    Call = "call",
    Email = "email",
    Linkedin = "linkedin",
    Event = "event",
    FollowUp = "follow_up",
});
db_enum!(InteractionStatus {
    Completed = "completed",
    Scheduled = "scheduled",
    Cancelled = "cancelled",
});
db_enum!(EventType {
    Conference = "conference",
    Workshop = "workshop",
    Networking = "networking",
    Meeting = "meeting",
});
db_enum!(
    /// Lifecycle: DRAFT -> PUBLISHED -> ONGOING -> COMPLETED; DRAFT or PUBLISHED -> CANCELLED.
    EventStatus {
        Draft = "draft",
        Published = "published",
        Ongoing = "ongoing",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);
db_enum!(AttendeeStatus {
    Registered = "registered",
    Confirmed = "confirmed",
    Attended = "attended",
    NoShow = "no_show",
    Cancelled = "cancelled",
});
db_enum!(AgendaItemType {
    Presentation = "presentation",
    Break = "break",
    Networking = "networking",
    Workshop = "workshop",
});
db_enum!(AgendaItemStatus {
    Scheduled = "scheduled",
    Ongoing = "ongoing",
    Completed = "completed",
    Cancelled = "cancelled",
});
db_enum!(ExpenseType {
    Travel = "travel",
    Accommodation = "accommodation",
    Catering = "catering",
    Venue = "venue",
    Marketing = "marketing",
    Other = "other",
});
db_enum!(ExpenseStatus {
    Pending = "pending",
    Approved = "approved",
    Rejected = "rejected",
    Paid = "paid",
});
db_enum!(MediaType { Image = "image", Video = "video", Document = "document", Audio = "audio" });
db_enum!(MediaStatus { Processing = "processing", Ready = "ready", Failed = "failed" });
db_enum!(MediaAccessLevel {
    Public = "public",
    Private = "private",
    Organization = "organization",
});
db_enum!(MediaCollectionType {
    EventPhotos = "event_photos",
    ContactMedia = "contact_media",
    General = "general",
});
db_enum!(NotificationType {
    Info = "info",
    Success = "success",
    Warning = "warning",
    Error = "error",
    Reminder = "reminder",
});
db_enum!(NotificationChannel { InApp = "in_app", Email = "email", Sms = "sms", Push = "push" });
db_enum!(IntegrationProvider {
    Hubspot = "hubspot",
    Mailchimp = "mailchimp",
    Zoom = "zoom",
    Teams = "teams",
});
db_enum!(IntegrationType { Crm = "crm", Email = "email", Video = "video", Calendar = "calendar" });
db_enum!(IntegrationStatus {
    Connected = "connected",
    Disconnected = "disconnected",
    Error = "error",
});
db_enum!(IntegrationOperation {
    Sync = "sync",
    Export = "export",
    Import = "import",
    Webhook = "webhook",
});
db_enum!(IntegrationLogStatus {
    Queued = "queued",
    Running = "running",
    Success = "success",
    Failed = "failed",
    Partial = "partial",
});
db_enum!(
    /// A background job: AVAILABLE (waiting, or waiting to retry) -> RUNNING -> COMPLETED, or
    /// DISCARDED once its attempts are spent or its payload is unreadable.
    JobState {
        Available = "available",
        Running = "running",
        Completed = "completed",
        Discarded = "discarded",
    }
);
db_enum!(
    /// A CSV import or a personal-data export: QUEUED -> RUNNING -> COMPLETED or FAILED.
    ImportStatus {
        Queued = "queued",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
    }
);
db_enum!(
    /// A personal-data export: QUEUED -> RUNNING -> COMPLETED (downloadable until `expiresAt`)
    /// or FAILED.
    ExportStatus {
        Queued = "queued",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
    }
);
db_enum!(
    /// Whose data a personal-data export or erasure is about.
    PersonalDataSubject { User = "user", Contact = "contact" }
);
db_enum!(
    /// What an import does with a row whose e-mail matches a contact: leave it, or change the
    /// columns the row fills.
    DuplicateAction { Skip = "skip", Update = "update" }
);
db_enum!(AuditAction {
    Create = "create",
    Update = "update",
    Delete = "delete",
    Restore = "restore",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_database_string() {
        fn check<E: DbEnum + PartialEq + fmt::Debug>() {
            for v in E::ALL {
                assert_eq!(v.as_str().parse::<E>().unwrap(), *v);
            }
        }
        check::<ContactType>();
        check::<InteractionType>();
        check::<AttendeeStatus>();
        check::<NotificationChannel>();
        assert!("HOT_LEAD".parse::<ContactStatus>().is_err());
    }

    #[test]
    fn an_unknown_database_value_is_an_error_not_another_value() {
        let err = ContactStatus::from_db("vip").unwrap_err();
        assert_eq!(err.code(), "INTERNAL_SERVER_ERROR");
        assert!(Stored::<ContactStatus>::from_db("vip").get().is_none());
        assert_eq!(
            Stored::<ContactStatus>::from_db("hot_lead").get(),
            Some(ContactStatus::HotLead)
        );
    }
}
