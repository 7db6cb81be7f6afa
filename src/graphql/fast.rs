//! Objects resolved without a heap future per field (#14).
//!
//! async-graphql resolves every selected field of every object as its own boxed future in a
//! `FuturesUnordered` (one `Box` and one `Arc` task per field, plus the set itself). Most fields
//! of a page's rows are plain columns that are ready on their first poll, so on a page of 100
//! contacts with their interactions that machinery was a large share of the server's CPU.
//!
//! [`Fast`] wraps an object type (not an interface or union: their fragments name other types).
//! Its columns ([`FastObject::column`]: the row's own values, such as `firstName` or
//! `createdAt`) are answered in place, with no future at all; the other fields (relations,
//! connections, anything that awaits) are resolved with `join_all`: up to 30 field futures of
//! one object share one allocation and are polled in place (more take `join_all`'s
//! task-per-future path). It is the same object in the
//! schema (its name and type information are the wrapped type's) and resolves the same fields
//! with the same errors; it writes them in the order they were selected, as GraphQL asks
//! (async-graphql writes them as they finish). Fragments on the object's own type are read in
//! place; it falls back to async-graphql's own path for a fragment on an interface or union
//! and for field directives other than `@skip`/`@include` (applied before execution). It skips the
//! per-field hooks of schema extensions, which this schema has none of (`schema::build_schema`:
//! limits, error codes and metrics run around execution).

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::resolve_container;
use async_graphql::{
    ContextSelectionSet, Name, ObjectType, OutputType, Positioned, ServerResult, Value,
};

/// An object type resolved field by field without a heap future per field (see the module).
pub struct Fast<T>(pub T);

impl<T: FastObject> OutputType for Fast<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_fields_boxed(ctx, &self.0).await
    }
}

/// [`resolve_fields`] as a boxed future. Objects lead back to themselves (an event's agenda
/// items point at the event, a connection's rows hold connections): the box gives that
/// recursion a size, as async-graphql's boxed field futures do, at one box per object.
pub fn resolve_fields_boxed<'a, T: FastObject>(
    ctx: &'a ContextSelectionSet<'a>,
    root: &'a T,
) -> futures_util::future::BoxFuture<'a, ServerResult<Value>> {
    Box::pin(resolve_fields(ctx, root))
}

/// `root`'s selected fields, as async-graphql's `resolve_container` would resolve them.
pub async fn resolve_fields<T: FastObject>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    let own = root.introspection_type_name();
    let mut fields = Vec::with_capacity(ctx.item.node.items.len());
    if !plain_fields(ctx, &ctx.item.node, &own, &mut fields) {
        return resolve_container(ctx, root).await;
    }
    // Columns and `__typename` are answered here; only the other fields become futures.
    let mut values: Vec<Option<Value>> = Vec::with_capacity(fields.len());
    let mut pending = 0;
    for field in &fields {
        let name = field.node.name.node.as_str();
        let value = if name == "__typename" {
            Some(Value::String(own.to_string()))
        } else {
            root.column(name)
        };
        pending += usize::from(value.is_none());
        values.push(value);
    }
    let mut resolved = Vec::new();
    if pending > 0 {
        let futures = fields
            .iter()
            .zip(&values)
            .filter(|(_, value)| value.is_none())
            .map(|(&field, _)| {
                let ctx = ctx.clone();
                async move {
                    let ctx_field = ctx.with_field(field);
                    root.resolve_field(&ctx_field).await
                }
            });
        resolved = futures_util::future::join_all(futures).await;
    }
    let mut resolved = resolved.into_iter();
    let mut results = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
    for (field, value) in fields.iter().zip(values) {
        let value = match value {
            Some(value) => value,
            None => match resolved.next() {
                Some(Ok(value)) => value.unwrap_or_default(),
                Some(Err(e)) => {
                    ctx.add_error(e);
                    continue;
                }
                None => continue,
            },
        };
        insert_value(&mut results, field.node.response_key().node.clone(), value);
    }
    Ok(if results.is_empty() {
        Value::Null
    } else {
        Value::Object(results)
    })
}

/// An object type [`Fast`] resolves. Its columns (fields that are the object's own data: no
/// arguments, no guard, no loader, no error) are answered in place, without a future; every
/// other field goes through async-graphql's resolver.
pub trait FastObject: ObjectType {
    /// The value of the field `name` when it is one of this type's columns, exactly as
    /// async-graphql would resolve it; `None` for any other field.
    fn column(&self, _name: &str) -> Option<Value> {
        None
    }

    /// The Rust names of the fields [`FastObject::column`] answers (for the tests).
    fn column_names() -> &'static [&'static str]
    where
        Self: Sized,
    {
        &[]
    }
}

impl<T: FastObject> FastObject for &T {
    fn column(&self, name: &str) -> Option<Value> {
        (**self).column(name)
    }

    fn column_names() -> &'static [&'static str] {
        T::column_names()
    }
}

/// A column's value as async-graphql's `OutputType::resolve` gives it; `None` when that would
/// be an error (an enum value the database should never have held), which the resolver words.
pub trait ColumnValue {
    fn column_value(&self) -> Option<Value>;
}

macro_rules! scalar_columns {
    ($($ty:ty),+) => {$(
        impl ColumnValue for $ty {
            fn column_value(&self) -> Option<Value> {
                Some(async_graphql::ScalarType::to_value(self))
            }
        }
    )+};
}
scalar_columns!(
    String,
    async_graphql::ID,
    i32,
    bool,
    chrono::DateTime<chrono::Utc>,
    rust_decimal::Decimal
);

impl<T: serde::Serialize> ColumnValue for async_graphql::Json<T> {
    fn column_value(&self) -> Option<Value> {
        Some(async_graphql::to_value(&self.0).ok().unwrap_or_default())
    }
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    fn column_value(&self) -> Option<Value> {
        match self {
            Some(v) => v.column_value(),
            None => Some(Value::Null),
        }
    }
}

impl<T> ColumnValue for crate::domain::enums::Stored<T>
where
    T: crate::domain::enums::DbEnum + async_graphql::resolver_utils::EnumType,
{
    fn column_value(&self) -> Option<Value> {
        self.get().map(async_graphql::resolver_utils::enum_value)
    }
}

/// Whether the GraphQL field `name` is the camelCase of the Rust field `rust` (async-graphql's
/// default naming: `first_name` is `firstName`), without building the camelCase string.
pub fn is_field(rust: &str, name: &str) -> bool {
    let mut name = name.bytes();
    let mut upper = false;
    for b in rust.bytes() {
        if b == b'_' {
            upper = true;
            continue;
        }
        let want = if upper { b.to_ascii_uppercase() } else { b };
        upper = false;
        if name.next() != Some(want) {
            return false;
        }
    }
    name.next().is_none()
}

/// [`FastObject`] for a `SimpleObject` whose listed fields are columns (none may carry a guard,
/// a rename or a `#[graphql(...)]` attribute that changes its value).
macro_rules! columns {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::graphql::fast::FastObject for $ty {
            fn column(&self, name: &str) -> Option<async_graphql::Value> {
                $(
                    if $crate::graphql::fast::is_field(stringify!($field), name) {
                        return $crate::graphql::fast::ColumnValue::column_value(&self.$field);
                    }
                )+
                None
            }

            fn column_names() -> &'static [&'static str] {
                &[$(stringify!($field)),+]
            }
        }
    };
}
pub(crate) use columns;

/// The selection's fields in order, with the fields of fragments on the object's own type in
/// their place (`...ContactFields`, `... on Contact { }`, `... { }`); `false` for anything
/// this path leaves to async-graphql: a directive left after `@skip`/`@include` were applied,
/// or a fragment on an interface or union.
fn plain_fields<'a>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    own: &str,
    out: &mut Vec<&'a Positioned<Field>>,
) -> bool {
    for selection in &set.items {
        let (condition, directives, inner) = match &selection.node {
            Selection::Field(field) if field.node.directives.is_empty() => {
                out.push(field);
                continue;
            }
            Selection::Field(_) => return false,
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let Some(fragment) = ctx.query_env.fragments.get(name) else {
                    return false;
                };
                if !spread.node.directives.is_empty() {
                    return false;
                }
                let f = &fragment.node;
                (Some(&f.type_condition), &f.directives, &f.selection_set)
            }
            Selection::InlineFragment(inline) => {
                let f = &inline.node;
                (f.type_condition.as_ref(), &f.directives, &f.selection_set)
            }
        };
        let applies = condition.is_none_or(|c| c.node.on.node.as_str() == own);
        if !applies || !directives.is_empty() || !plain_fields(ctx, &inner.node, own, out) {
            return false;
        }
    }
    true
}

/// A field selected twice under one key merges into the first (async-graphql's rule).
fn insert_value(
    target: &mut async_graphql::indexmap::IndexMap<Name, Value>,
    name: Name,
    value: Value,
) {
    // One hash per field: the entry, not a lookup and then an insert.
    let prev = match target.entry(name) {
        async_graphql::indexmap::map::Entry::Vacant(slot) => {
            slot.insert(value);
            return;
        }
        async_graphql::indexmap::map::Entry::Occupied(slot) => slot.into_mut(),
    };
    match (prev, value) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                insert_value(into, k, v);
            }
        }
        (Value::List(into), Value::List(from)) => {
            for (slot, v) in into.iter_mut().zip(from) {
                if let (Value::Object(into), Value::Object(from)) = (slot, v) {
                    for (k, v) in from {
                        insert_value(into, k, v);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! Every column answered in place equals what async-graphql's own resolver gives for it,
    //! for rows with every optional column set and with none set; an enum value the database
    //! should never hold is that one field's error. A column given a guard or a resolver that
    //! needs request data would fail here: the resolver path runs without any.

    use super::*;
    use crate::entities::{
        contact_interactions, contacts, event_agenda_items, event_attendees, events, users,
    };
    use crate::error::camel_case as camel;
    use crate::graphql::types::{
        AgendaItem, Contact, ContactInteraction, Event, EventAttendee, User,
    };
    use async_graphql::{EmptyMutation, EmptySubscription, Schema};
    use chrono::{DateTime, FixedOffset};
    use serde_json::json;
    use uuid::Uuid;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn text(full: bool, s: &str) -> Option<String> {
        full.then(|| s.to_owned())
    }

    fn time(full: bool) -> Option<DateTime<FixedOffset>> {
        full.then(|| at("2026-03-04T05:06:07.123456+02:00"))
    }

    /// Runs `{ fast { columns } slow { columns } }` and compares the two answers; with
    /// `bogus`, the row holds an enum value the database should never hold, and the fast path
    /// must answer that one field with an error and render the rest of the row.
    macro_rules! same_answers {
        ($ty:ty, $value:expr, $bogus:expr) => {{
            struct Query($ty);
            #[async_graphql::Object]
            impl Query {
                async fn fast(&self) -> Fast<&$ty> {
                    Fast(&self.0)
                }
                async fn slow(&self) -> &$ty {
                    &self.0
                }
            }
            let ty = stringify!($ty);
            let names = <$ty as FastObject>::column_names();
            assert!(!names.is_empty(), "{ty} lists no columns");
            let value: $ty = $value;
            let fields: Vec<String> = names.iter().map(|n| camel(n)).collect();
            let answered = fields.iter().filter(|f| value.column(f).is_some()).count();
            let bogus: Option<&str> = $bogus;
            assert_eq!(
                answered + usize::from(bogus.is_some()),
                fields.len(),
                "{ty}"
            );
            let selection = fields.join(" ");
            // A field answered in place but not listed would escape this comparison.
            let others: Vec<String> = {
                let probe = Schema::new(Query(value.clone()), EmptyMutation, EmptySubscription);
                let query = format!("{{ __type(name: \"{ty}\") {{ fields {{ name }} }} }}");
                let data = probe.execute(query).await.data.into_json().unwrap();
                let all = data["__type"]["fields"].as_array().unwrap().clone();
                all.iter()
                    .map(|f| f["name"].as_str().unwrap().to_owned())
                    .filter(|f| !fields.contains(f))
                    .collect()
            };
            assert!(!others.is_empty(), "{ty}: every field is a column?");
            for other in &others {
                assert!(
                    value.column(other).is_none(),
                    "{ty}.{other} is answered but not listed"
                );
            }
            let schema = Schema::new(Query(value), EmptyMutation, EmptySubscription);
            if let Some(bogus) = bogus {
                let query = format!("{{ fast {{ {selection} }} }}");
                let response = schema.execute(query.as_str()).await;
                assert_eq!(response.errors.len(), 1, "{ty}: {:?}", response.errors);
                let error = &response.errors[0];
                let code = error.extensions.as_ref().and_then(|x| x.get("code"));
                let code = code.map(|c| c.clone().into_json().unwrap());
                assert_eq!(code, Some(json!("INTERNAL_SERVER_ERROR")), "{ty}");
                // The error points at the field (as async-graphql's own path does).
                let column = query.find(&format!(" {bogus} ")).unwrap() + 2;
                let at: Vec<_> = error.locations.iter().map(|p| (p.line, p.column)).collect();
                assert_eq!(at, [(1, column)], "{ty}");
                let data = response.data.into_json().unwrap();
                assert_eq!(data["fast"].as_object().unwrap().len(), fields.len() - 1);
            } else {
                let query = format!("{{ fast {{ {selection} }} slow {{ {selection} }} }}");
                let response = schema.execute(query).await;
                assert!(response.errors.is_empty(), "{ty}: {:?}", response.errors);
                let data = response.data.into_json().unwrap();
                assert_eq!(data["fast"], data["slow"], "{ty}");
                assert_eq!(
                    data["fast"].as_object().unwrap().len(),
                    fields.len(),
                    "{ty}"
                );
            }
        }};
    }

    fn contact(full: bool, kind: &str) -> Contact {
        Contact::from(contacts::Model {
            id: Uuid::from_u128(1),
            organization_id: Uuid::from_u128(2),
            created_by: Uuid::from_u128(3),
            first_name: "Ada \"A\" \u{e9}".into(),
            last_name: "Lovelace".into(),
            email: text(full, "ada@example.com"),
            phone: text(full, "+44 20"),
            company: text(full, "Engines"),
            job_title: text(full, "Analyst"),
            linkedin_url: text(full, "https://linkedin.example/ada"),
            bio: text(full, "line\nbreak"),
            avatar_url: text(full, "https://cdn.example/a.png"),
            contact_type: kind.into(),
            status: "hot_lead".into(),
            priority: "high".into(),
            business_type: text(full, "b2b"),
            network_type: text(full, "alumni"),
            industry: text(full, "computing"),
            notes: text(full, "notes"),
            metadata: json!({"a": [1, 2.5, null, "x"], "b": {"c": true}}),
            lead_score: 87,
            last_interaction: time(full),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05.5-07:00"),
            is_deleted: full,
            deleted_at: time(full),
            updated_by: None,
        })
    }

    fn interaction(full: bool, kind: &str) -> ContactInteraction {
        ContactInteraction::from(contact_interactions::Model {
            id: Uuid::from_u128(4),
            organization_id: Uuid::from_u128(2),
            contact_id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(3),
            interaction_type: kind.into(),
            subject: text(full, "Intro"),
            description: text(full, "desc"),
            outcome: text(full, "good"),
            interaction_date: at("2026-01-01T00:00:00Z"),
            status: "completed".into(),
            metadata: json!({}),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05Z"),
            is_deleted: false,
            deleted_at: time(full),
        })
    }

    fn event(full: bool, kind: &str) -> Event {
        Event::from(events::Model {
            id: Uuid::from_u128(5),
            organization_id: Uuid::from_u128(2),
            created_by: Uuid::from_u128(3),
            title: "Summit".into(),
            description: text(full, "desc"),
            event_type: kind.into(),
            status: "published".into(),
            start_date: at("2026-05-01T09:00:00+02:00"),
            end_date: at("2026-05-01T18:00:00+02:00"),
            timezone: "Europe/Paris".into(),
            location: text(full, "Paris"),
            venue: text(full, "Hall"),
            venue_details: json!({"floor": 2}),
            budget: "12345.60".parse().unwrap(),
            currency: "EUR".into(),
            max_attendees: full.then_some(120),
            current_attendees: 7,
            registration_url: text(full, "https://example.com/r"),
            settings: json!([]),
            metadata: json!(null),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05Z"),
            is_deleted: false,
            deleted_at: time(full),
            updated_by: None,
        })
    }

    fn attendee(full: bool, kind: &str) -> EventAttendee {
        EventAttendee::from(event_attendees::Model {
            id: Uuid::from_u128(6),
            organization_id: Uuid::from_u128(2),
            event_id: Uuid::from_u128(5),
            user_id: Uuid::from_u128(3),
            status: kind.into(),
            registration_date: at("2026-02-01T10:00:00Z"),
            check_in_time: time(full),
            check_out_time: time(full),
            notes: text(full, "vip"),
            metadata: json!({"k": "v"}),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05Z"),
            is_deleted: false,
            deleted_at: time(full),
            reminded_at: time(full),
        })
    }

    fn agenda(full: bool, kind: &str) -> AgendaItem {
        AgendaItem::from(event_agenda_items::Model {
            id: Uuid::from_u128(7),
            organization_id: Uuid::from_u128(2),
            event_id: Uuid::from_u128(5),
            created_by: Uuid::from_u128(3),
            title: "Keynote".into(),
            description: text(full, "desc"),
            start_time: at("2026-05-01T09:00:00Z"),
            end_time: at("2026-05-01T10:00:00Z"),
            agenda_type: kind.into(),
            location: text(full, "Room 1"),
            speaker_id: None,
            sort_order: -3,
            status: "scheduled".into(),
            metadata: json!({}),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05Z"),
            is_deleted: false,
            deleted_at: time(full),
        })
    }

    fn user(full: bool, hash: &str) -> User {
        User::from(users::Model {
            id: Uuid::from_u128(3),
            organization_id: Uuid::from_u128(2),
            email: "u@example.com".into(),
            password_hash: hash.into(),
            first_name: "Grace".into(),
            last_name: "Hopper".into(),
            phone: text(full, "1"),
            bio: text(full, "b"),
            avatar_url: text(full, "a"),
            job_title: text(full, "j"),
            company: text(full, "c"),
            linkedin_url: text(full, "l"),
            is_active: full,
            is_verified: !full,
            is_admin: full,
            verified_at: time(full),
            last_login: time(full),
            created_at: at("2025-01-02T03:04:05Z"),
            updated_at: at("2025-01-02T03:04:05Z"),
            is_deleted: false,
            deleted_at: time(full),
            created_by: None,
            updated_by: None,
            settings: json!({}),
        })
    }

    #[tokio::test]
    async fn columns_answer_what_the_resolvers_answer() {
        for full in [true, false] {
            same_answers!(Contact, contact(full, "plug"), None);
            same_answers!(ContactInteraction, interaction(full, "call"), None);
            same_answers!(Event, event(full, "conference"), None);
            same_answers!(EventAttendee, attendee(full, "no_show"), None);
            same_answers!(AgendaItem, agenda(full, "break"), None);
            same_answers!(User, user(full, "x"), None);
            same_answers!(
                User,
                user(full, crate::services::account_mail::NO_PASSWORD),
                None
            );
        }
        // A value the database should never hold: that field's error, the rest of the row.
        same_answers!(Contact, contact(true, "bogus"), Some("contactType"));
        same_answers!(
            ContactInteraction,
            interaction(true, "bogus"),
            Some("interactionType")
        );
        same_answers!(Event, event(true, "bogus"), Some("eventType"));
        same_answers!(EventAttendee, attendee(true, "bogus"), Some("status"));
        same_answers!(AgendaItem, agenda(true, "bogus"), Some("agendaType"));
    }

    /// Columns mixed with a resolved field (`spotsLeft`), `__typename`, aliases, a field
    /// selected twice and fragments: the same answer as async-graphql's, keys in selection order.
    #[tokio::test]
    async fn mixed_selections_answer_in_selection_order() {
        struct Query(Event);
        #[async_graphql::Object]
        impl Query {
            async fn fast(&self) -> Fast<&Event> {
                Fast(&self.0)
            }
            async fn slow(&self) -> &Event {
                &self.0
            }
        }
        for full in [true, false] {
            let schema = Schema::new(
                Query(event(full, "workshop")),
                EmptyMutation,
                EmptySubscription,
            );
            let selection = "spotsLeft a: title __typename ...F ... on Event { left: spotsLeft id } \
                             title b: spotsLeft ... { status } maxAttendees";
            let query = format!(
                "{{ fast {{ {selection} }} slow {{ {selection} }} }} \
                 fragment F on Event {{ currentAttendees t: __typename }}"
            );
            let response = schema.execute(query).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            // In the response's own map (serde_json's sorts its keys).
            let Value::Object(root) = &response.data else {
                panic!("{:?}", response.data)
            };
            let Some(Value::Object(fast)) = root.get("fast") else {
                panic!("{root:?}")
            };
            let keys: Vec<&str> = fast.keys().map(|k| k.as_str()).collect();
            let data = response.data.clone().into_json().unwrap();
            assert_eq!(data["fast"], data["slow"]);
            let order = [
                "spotsLeft",
                "a",
                "__typename",
                "currentAttendees",
                "t",
                "left",
                "id",
                "title",
                "b",
                "status",
                "maxAttendees",
            ];
            assert_eq!(keys, order);
            let left = if full { json!(113) } else { json!(null) };
            assert_eq!(data["fast"]["spotsLeft"], left);
            assert_eq!(data["fast"]["b"], left);
            assert_eq!(data["fast"]["__typename"], json!("Event"));
        }
    }
}
