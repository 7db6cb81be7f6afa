//! Relay connections for every list: `XConnection { edges { cursor node } nodes pageInfo totalCount }`.
//! One generic type; its GraphQL name comes from the node (`UserConnection`, `UserEdge`).

use std::borrow::Cow;

use std::sync::Arc;

use async_graphql::{Context, Object, OutputType, TypeName};
use uuid::Uuid;

use crate::db::children::Children;
use crate::db::pagination::{
    CountFn, DEFAULT_PAGE, Page, PageArgs, RowCursor, page_size, paginate,
};
use crate::db::scoped::{Scoped, TenantEntity};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::fast::{Fast, FastObject};
use crate::graphql::loaders::{ChildKey, CountKey, Loaders};

/// Where a page sits in the list. Its cursors are encoded only when asked for.
#[derive(Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<RowCursor>,
    pub end_cursor: Option<RowCursor>,
}

#[Object]
impl PageInfo {
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }

    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }

    async fn start_cursor(&self) -> Option<String> {
        self.start_cursor.as_ref().map(RowCursor::encode)
    }

    async fn end_cursor(&self) -> Option<String> {
        self.end_cursor.as_ref().map(RowCursor::encode)
    }
}

pub struct Edge<N> {
    cursor: RowCursor,
    node: N,
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", <N as OutputType>::type_name()).into()
    }
}

#[Object(name_type)]
impl<N: FastObject + Clone> Edge<N> {
    /// Opaque; pass it as `after`/`before` to continue from this row.
    async fn cursor(&self) -> String {
        self.cursor.encode()
    }

    async fn node(&self) -> Fast<&N> {
        Fast(&self.node)
    }
}

/// A page of `N`s. Resolved as a [`Fast`] object: the connection of every parent on a page
/// (`Contact.interactions`, ...) is one more object per row.
pub struct Connection<N>(Fields<N>);

/// The connection's GraphQL fields (`XConnection` in the schema).
pub struct Fields<N> {
    edges: Vec<Edge<N>>,
    page_info: PageInfo,
    count: CountFn,
}

impl<N: OutputType> TypeName for Fields<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", <N as OutputType>::type_name()).into()
    }
}

impl<N: FastObject + Clone> OutputType for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        <Fields<N> as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Fields<N> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        crate::graphql::fast::resolve_fields_boxed(ctx, &self.0).await
    }
}

impl<N> Connection<N> {
    /// Counts with `count` instead (a batched count for nested connections).
    pub fn set_count(&mut self, count: CountFn) {
        self.0.count = count;
    }

    /// A connection from already-built edges (batched nested pages).
    pub fn from_parts(edges: Vec<(RowCursor, N)>, has_next_page: bool, count: CountFn) -> Self {
        let edges: Vec<Edge<N>> = edges
            .into_iter()
            .map(|(cursor, node)| Edge { cursor, node })
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: false,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Self(Fields {
            edges,
            page_info,
            count,
        })
    }

    /// Builds the connection from a page of models, converting each to its GraphQL type.
    pub fn from_page<M>(page: Page<M>) -> Self
    where
        N: From<M>,
    {
        let edges: Vec<Edge<N>> = page
            .items
            .into_iter()
            .map(|(cursor, m)| Edge {
                cursor,
                node: N::from(m),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Self(Fields {
            edges,
            page_info,
            count: page.count,
        })
    }
}

#[Object(name_type)]
impl<N: FastObject + Clone> Fields<N> {
    async fn edges(&self) -> Vec<Fast<&Edge<N>>> {
        self.edges.iter().map(Fast).collect()
    }

    /// The nodes of `edges`, for clients that need no cursors.
    async fn nodes(&self) -> Vec<Fast<&N>> {
        self.edges.iter().map(|e| Fast(&e.node)).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// Rows matching the filter across all pages; counted only when asked for.
    async fn total_count(&self, _ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let n = (self.count)().await?;
        Ok(n as i64)
    }
}

/// A parent's child connection (`Contact.interactions`, `Event.attendees`, ...): the first
/// page through the request's batching loader, so a page of parents costs one statement;
/// any other page (`after`, `last`, `before`) is an ordinary keyset page of this parent with
/// the same cursors. `totalCount` is batched the same way, and counted only when asked for.
///
/// Boxed: async-graphql boxes every field of an object into a future as large as the object's
/// largest field resolver, so an unboxed page walk (3 KiB of state) made every scalar field of
/// `Contact`, `User` or `Event` allocate and copy 4 KiB (#14).
pub fn children<'a, E, N>(
    ctx: &'a Context<'_>,
    rel: &'static Children<E>,
    scope: Scoped,
    parent: Uuid,
    statuses: Vec<String>,
    args: PageArgs,
) -> futures_util::future::BoxFuture<'a, async_graphql::Result<Connection<N>>>
where
    E: TenantEntity + Send + Sync + 'static,
    E::Model: sea_orm::FromQueryResult + Clone + Send + Sync + 'static,
    N: From<E::Model> + Send + 'a,
{
    Box::pin(children_page(ctx, rel, scope, parent, statuses, args))
}

async fn children_page<E, N>(
    ctx: &Context<'_>,
    rel: &'static Children<E>,
    scope: Scoped,
    parent: Uuid,
    statuses: Vec<String>,
    args: PageArgs,
) -> async_graphql::Result<Connection<N>>
where
    E: TenantEntity + Send + Sync + 'static,
    E::Model: sea_orm::FromQueryResult + Clone + Send + Sync + 'static,
    N: From<E::Model>,
{
    // Reached from `me` too: a token that may only set up two-factor sign-in reads no lists.
    crate::graphql::context::setup_only_refused(ctx)?;
    let loaders = ctx.data::<Loaders>()?.get();
    let counter = loaders.children.clone();
    let count_key = CountKey {
        rel,
        scope,
        parent,
        statuses: statuses.clone(),
    };
    let count: CountFn = Arc::new(move || {
        let (counter, key) = (counter.clone(), count_key.clone());
        Box::pin(async move {
            counter
                .load_one(key)
                .await
                .map(Option::unwrap_or_default)
                .map_err(|e| AppError::Internal(e.message))
        })
    });
    if args.after.is_some() || args.before.is_some() || args.last.is_some() {
        let select = rel.select(scope, &[parent], &statuses);
        let page = paginate(ctx.db(), select, &rel.keyset, &args).await?;
        let mut conn = Connection::from_page(page);
        conn.set_count(count);
        return Ok(conn);
    }
    let limit = page_size(args.first, "first")?.unwrap_or(DEFAULT_PAGE) as u16;
    let key = ChildKey {
        rel,
        scope,
        parent,
        limit,
        statuses,
    };
    let Some(page) = loaders.children.load_one(key).await? else {
        return Ok(Connection::from_parts(Vec::new(), false, count));
    };
    let (rows, more) = &*page;
    let edges = rows
        .iter()
        .map(|m| (rel.keyset.cursor(m), N::from(m.clone())))
        .collect();
    Ok(Connection::from_parts(edges, *more, count))
}

impl<N: FastObject + Clone> FastObject for Edge<N> {}

impl<N: FastObject + Clone> FastObject for Fields<N> {}
