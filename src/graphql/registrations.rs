//! Registrations: capacity-exact sign-up, cancellation, check-in and check-out, no-shows.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use crate::domain::enums::AttendeeStatus;
use crate::graphql::args::{change, non_null, opt_id, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::types::EventAttendee;
use crate::services::registrations as svc;

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject)]
pub struct UpdateAttendeeInput {
    status: MaybeUndefined<AttendeeStatus>,
    notes: MaybeUndefined<String>,
}

/// Check-in (`true`) or check-out of `user_id` at `event_id`.
async fn check(
    ctx: &Context<'_>,
    event_id: &ID,
    user_id: &ID,
    check_in: bool,
) -> Res<EventAttendee> {
    let (e, u) = (parse_id(event_id, "eventId")?, parse_id(user_id, "userId")?);
    Ok(svc::check(ctx.store(), ctx.actor()?, e, u, check_in)
        .await?
        .into())
}

#[derive(Default)]
pub struct RegistrationsMutation;

#[Object]
impl RegistrationsMutation {
    /// Takes a seat (never more than `maxAttendees`: EVENT_FULL). `userId` defaults to the
    /// caller; registering someone else needs an admin or the event's creator.
    async fn register_for_event(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        user_id: Option<ID>,
    ) -> Res<EventAttendee> {
        let user = opt_id(user_id.as_ref(), "userId")?;
        Ok(svc::register(
            ctx.store(),
            ctx.actor()?,
            parse_id(&event_id, "eventId")?,
            user,
        )
        .await?
        .into())
    }

    /// Frees the seat.
    async fn cancel_registration(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        user_id: Option<ID>,
    ) -> Res<EventAttendee> {
        let user = opt_id(user_id.as_ref(), "userId")?;
        Ok(svc::cancel(
            ctx.store(),
            ctx.actor()?,
            parse_id(&event_id, "eventId")?,
            user,
        )
        .await?
        .into())
    }

    /// Idempotent: checking in twice returns the same row and time. Status becomes ATTENDED.
    async fn check_in_attendee(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        user_id: ID,
    ) -> Res<EventAttendee> {
        check(ctx, &event_id, &user_id, true).await
    }

    /// Only after check-in; idempotent.
    async fn check_out_attendee(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        user_id: ID,
    ) -> Res<EventAttendee> {
        check(ctx, &event_id, &user_id, false).await
    }

    /// Status (REGISTERED, CONFIRMED, or NO_SHOW after the event) and notes of a registration
    /// (admins and the event's organizer).
    async fn update_attendee(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAttendeeInput,
    ) -> Res<EventAttendee> {
        let status = non_null(input.status, "status")?;
        let row = svc::update(
            ctx.store(),
            ctx.actor()?,
            parse_id(&id, "id")?,
            status,
            change(input.notes),
        )
        .await?;
        Ok(row.into())
    }

    /// After the event completes: every registration that never checked in becomes NO_SHOW.
    /// Returns how many changed.
    async fn mark_no_shows(&self, ctx: &Context<'_>, event_id: ID) -> Res<i32> {
        let n =
            svc::mark_no_shows(ctx.store(), ctx.actor()?, parse_id(&event_id, "eventId")?).await?;
        Ok(n as i32)
    }
}
