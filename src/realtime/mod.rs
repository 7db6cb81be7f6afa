//! The realtime seam: services publish domain events *after* their transaction commits, and
//! subscribers (the WebSocket subscriptions of the notifications issue) receive them.
//!
//! `InProcessBroker` (a tokio broadcast channel) serves one process, SQLite's case. The
//! PostgreSQL LISTEN/NOTIFY broker for several instances plugs in behind the same trait.

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, async_graphql::Enum)]
pub enum AttendeeChangeKind {
    Registered,
    Cancelled,
    CheckedIn,
    CheckedOut,
    Updated,
}

/// Only ids and small facts: a subscriber reloads what it shows, scoped to its own tenant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DomainEvent {
    AttendeeChanged {
        organization_id: Uuid,
        event_id: Uuid,
        attendee_id: Uuid,
        user_id: Uuid,
        kind: AttendeeChangeKind,
        current_attendees: i32,
    },
}

pub trait Broker: Send + Sync {
    /// Fire and forget: a publish never fails the request that caused it.
    fn publish(&self, event: DomainEvent);
    fn subscribe(&self) -> broadcast::Receiver<DomainEvent>;
}

/// In-process fan-out. A receiver that falls more than `capacity` events behind loses the
/// oldest ones (tokio reports `Lagged`), so a slow subscriber never blocks publishers.
pub struct InProcessBroker {
    tx: broadcast::Sender<DomainEvent>,
}

impl InProcessBroker {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
        }
    }
}

impl Broker for InProcessBroker {
    fn publish(&self, event: DomainEvent) {
        // No receiver is not an error: nobody is listening right now.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.tx.subscribe()
    }
}

/// The broker shared by the schema and the services.
pub type SharedBroker = std::sync::Arc<dyn Broker>;
