//! Objects resolved without a heap future per field (#14).
//!
//! async-graphql resolves every selected field of every object as its own boxed future in a
//! `FuturesUnordered` (one `Box` and one `Arc` task per field, plus the set itself). Most fields
//! of a page's rows are plain columns that are ready on their first poll, so on a page of 100
//! contacts with their interactions that machinery was a large share of the server's CPU.
//!
//! [`Fast`] wraps an object type (not an interface or union: their fragments name other types)
//! and resolves its selection with `join_all`: up to 30 field futures of one object share one
//! allocation and are polled in place (more take `join_all`'s task-per-future path). It is the same object in the
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

impl<T: ObjectType> OutputType for Fast<T> {
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
pub fn resolve_fields_boxed<'a, T: ObjectType>(
    ctx: &'a ContextSelectionSet<'a>,
    root: &'a T,
) -> futures_util::future::BoxFuture<'a, ServerResult<Value>> {
    Box::pin(resolve_fields(ctx, root))
}

/// `root`'s selected fields, as async-graphql's `resolve_container` would resolve them.
pub async fn resolve_fields<T: ObjectType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    let own = root.introspection_type_name();
    let mut fields = Vec::with_capacity(ctx.item.node.items.len());
    if !plain_fields(ctx, &ctx.item.node, &own, &mut fields) {
        return resolve_container(ctx, root).await;
    }
    let futures = fields.iter().map(|&field| {
        let ctx = ctx.clone();
        async move {
            let ctx_field = ctx.with_field(field);
            let key = field.node.response_key().node.clone();
            if field.node.name.node == "__typename" {
                let name = root.introspection_type_name().into_owned();
                return Ok((key, Value::String(name)));
            }
            let value = root.resolve_field(&ctx_field).await?;
            Ok::<_, async_graphql::ServerError>((key, value.unwrap_or_default()))
        }
    });
    let mut results = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
    for result in futures_util::future::join_all(futures).await {
        match result {
            Ok((key, value)) => insert_value(&mut results, key, value),
            Err(e) => ctx.add_error(e),
        }
    }
    Ok(if results.is_empty() {
        Value::Null
    } else {
        Value::Object(results)
    })
}

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
