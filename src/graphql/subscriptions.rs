//! Subscriptions. Each one listens to one hub topic (the caller's own user, or one event of
//! the caller's organization), so another tenant's or user's signal never reaches it; the
//! row a signal names is then loaded scoped to the caller's organization (and user).

use std::sync::Arc;

use crate::realtime::channel::RecvError;
use async_graphql::{Context, ID, SimpleObject, Subscription};
use futures_util::Stream;
use sea_orm::DatabaseConnection;

use crate::entities::event_attendees;
use crate::error::AppError;
use crate::graphql::args::parse_id;
use crate::graphql::context::{ContextExt, WsControl};
use crate::graphql::loaders::Loaders;
use crate::graphql::types::{EventAttendee, Notification};
use crate::realtime::{AttendeeChangeKind, Delivery, SharedBroker, Signal, Topic};
use crate::services::Actor;

type Res<T> = async_graphql::Result<T>;

/// One change to an event's registrations.
#[derive(SimpleObject, Clone)]
pub struct EventAttendeeChange {
    pub kind: AttendeeChangeKind,
    pub attendee: EventAttendee,
    /// The event's seat count as committed when the change is delivered (the latest).
    pub current_attendees: i32,
}

#[derive(Default)]
pub struct Subscription;

/// What a subscription needs after its resolver returned (the context does not live on).
struct Listener {
    rx: crate::realtime::channel::Receiver<Arc<Delivery>>,
    db: DatabaseConnection,
    actor: Actor,
    loaders: Option<Loaders>,
    control: Option<WsControl>,
}

impl Listener {
    fn new(ctx: &Context<'_>, topic: Topic) -> Res<Self> {
        let broker = ctx.data::<SharedBroker>()?;
        Ok(Self {
            rx: broker.hub().subscribe(topic),
            db: ctx.db().clone(),
            actor: ctx.actor()?.clone(),
            loaders: ctx.data_opt::<Loaders>().cloned(),
            control: ctx.data_opt::<WsControl>().cloned(),
        })
    }

    /// The next delivery, or `None` when the subscription must end. A subscriber that fell
    /// behind the topic's bounded buffer has its socket closed (it must re-query).
    async fn next(&mut self) -> Option<Arc<Delivery>> {
        match self.rx.recv().await {
            Ok(d) => {
                if let Some(l) = &self.loaders {
                    l.clear();
                }
                Some(d)
            }
            Err(RecvError::Lagged(n)) => {
                if let Some(c) = &self.control {
                    c.too_slow(n);
                }
                None
            }
            Err(RecvError::Closed) => None,
        }
    }
}

/// The attendee and seat count a signal names, loaded once per delivery for every
/// subscriber of the topic (all of them in the topic's organization).
async fn attendee_change(
    db: &DatabaseConnection,
    actor: &Actor,
    d: &Delivery,
) -> Result<Option<EventAttendeeChange>, AppError> {
    let Signal::Attendee {
        event,
        attendee,
        kind,
        ..
    } = d.signal
    else {
        return Ok(None);
    };
    let (db, scope) = (db.clone(), actor.scope());
    let loaded = d
        .load(|| async move {
            let found = crate::services::registrations::with_seats(&db, scope, attendee, event)
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(found.map(|pair| Arc::new(pair) as Arc<dyn std::any::Any + Send + Sync>))
        })
        .await
        .map_err(|e| AppError::Internal(format!("loading a delivery: {e}")))?;
    Ok(loaded
        .as_ref()
        .and_then(|a| a.downcast_ref::<(event_attendees::Model, i32)>())
        .map(|(row, seats)| EventAttendeeChange {
            kind,
            attendee: row.clone().into(),
            current_attendees: *seats,
        }))
}

#[Subscription]
impl Subscription {
    /// The caller's own notifications as they are created.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Res<Notification>> + use<>> {
        let actor = ctx.actor()?;
        let topic = Topic::User {
            org: actor.organization_id,
            user: actor.user_id,
        };
        let listener = Listener::new(ctx, topic)?;
        Ok(futures_util::stream::unfold(listener, |mut l| async move {
            loop {
                let d = l.next().await?;
                let Signal::Notification { notification, .. } = d.signal else {
                    continue;
                };
                // Boxed, so the idle stream stays small (it waits in `next` nearly all its life).
                match Box::pin(crate::services::notifications::visible(
                    &l.db,
                    &l.actor,
                    notification,
                ))
                .await
                {
                    Ok(Some(n)) => return Some((Ok(n.into()), l)),
                    Ok(None) => continue, // deleted or expired before it was read
                    Err(e) => return Some((Err(e.into()), l)),
                }
            }
        }))
    }

    /// Registrations, cancellations, check-ins and -outs and updates of one event of the
    /// caller's organization. Another organization's event is NOT_FOUND.
    async fn event_attendee_changed(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Res<EventAttendeeChange>> + use<>> {
        let actor = ctx.actor()?;
        let event = parse_id(&event_id, "eventId")?;
        // Boxed: async-graphql keeps this resolver's future inside the subscription's stream
        // for the subscription's whole life, sized for its largest state (the query: 3 KiB
        // per idle subscription unboxed, #14).
        Box::pin(crate::services::live::<crate::entities::events::Entity>(
            ctx.db(),
            actor,
            event,
        ))
        .await?
        .ok_or_else(|| AppError::NotFound("no such event".into()))?;
        let topic = Topic::Event {
            org: actor.organization_id,
            event,
        };
        let listener = Listener::new(ctx, topic)?;
        Ok(futures_util::stream::unfold(listener, |mut l| async move {
            loop {
                let d = l.next().await?;
                match Box::pin(attendee_change(&l.db, &l.actor, &d)).await {
                    Ok(Some(c)) => return Some((Ok(c), l)),
                    Ok(None) => continue,
                    Err(e) => return Some((Err(e.into()), l)),
                }
            }
        }))
    }
}
