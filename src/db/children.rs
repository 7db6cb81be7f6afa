//! Child connections: a parent's children as a keyset page (`Contact.interactions`,
//! `Event.attendees`, `User.contacts`, `Organization.events`, ...).
//!
//! A page of parents asks for the first page of each parent's children at once, so the first
//! pages of many parents come from ONE statement: a window function numbers each parent's
//! children in the connection's order and keeps `limit + 1` per parent (the extra row says
//! whether more follow). Counts of many parents come from one grouped statement. Any other
//! page (`after`, `last`, `before`) is an ordinary keyset page of one parent, with the same
//! cursors, so a client pages on from a batched first page without noticing.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, JoinType, NullOrdering, Query, WindowStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use super::pagination::Keyset;
use super::rows::Rows;
use super::scoped::{Scoped, TenantEntity};

/// One kind of child connection: which column points at the parent, the order of the
/// children (the same keyset, and so the same cursors, as a direct page), and the column an
/// optional status filter reads.
pub struct Children<E: TenantEntity> {
    pub parent: E::Column,
    pub keyset: Keyset<E>,
    pub status: Option<E::Column>,
}

impl<E: TenantEntity> Children<E> {
    /// Identifies the relation inside batching keys (a parent column and an ordering).
    pub fn id(&self) -> (&'static str, &'static str) {
        (sea_orm::IdenStatic::as_str(&self.parent), self.keyset.name)
    }

    /// The live children of `parents`, of the given statuses (any when empty).
    pub fn select(&self, scope: Scoped, parents: &[Uuid], statuses: &[String]) -> Select<E> {
        let mut q = scope
            .live::<E>()
            .filter(self.parent.is_in(parents.iter().copied()));
        if let (Some(col), false) = (self.status, statuses.is_empty()) {
            q = q.filter(col.is_in(statuses.iter().cloned()));
        }
        q
    }

    /// The first `limit` children of each parent, and whether more follow, in one statement.
    ///
    /// On PostgreSQL each parent's page is its own `LIMIT` under a `LATERAL` join, so only
    /// `limit + 1` rows per parent are read (in index order where an index serves the
    /// ordering), instead of numbering every child of every parent and sorting them: same rows,
    /// same order, about half the database time of the window form on a page of 100 contacts'
    /// interactions at scale S (#14). SQLite has no `LATERAL` and takes the window form.
    pub async fn first_pages(
        &self,
        db: &impl ConnectionTrait,
        scope: Scoped,
        parents: &[Uuid],
        limit: u16,
        statuses: &[String],
    ) -> Result<HashMap<Uuid, (Vec<E::Model>, bool)>, DbErr>
    where
        E::Model: FromQueryResult,
    {
        if db.get_database_backend() != DbBackend::Postgres || parents.is_empty() {
            let inner = self.select(scope, parents, statuses);
            return first_pages(db, inner, self.parent, &self.keyset, parents, limit).await;
        }
        let k = &self.keyset;
        // A parent listed twice would get its page twice (an `IN` list reads it once).
        let mut unique = parents.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let (values, parent_id) = (Alias::new("plugs_parents"), Alias::new("column1"));
        let mut inner = scope
            .live::<E>()
            .filter(Expr::col((E::default(), self.parent)).equals((values.clone(), parent_id)));
        if let (Some(col), false) = (self.status, statuses.is_empty()) {
            inner = inner.filter(col.is_in(statuses.iter().cloned()));
        }
        let inner = k
            .ordered(inner, false)
            .limit(u64::from(limit) + 1)
            .into_query();
        let page = Alias::new("plugs_page");
        let mut outer = Query::select();
        outer
            .column((page.clone(), Asterisk))
            .from_values(unique, values)
            .join_lateral(JoinType::InnerJoin, inner, page.clone(), Expr::cust("TRUE"))
            .order_by((page.clone(), self.parent), Order::Asc);
        let outer = order_statement(outer, k, page);
        let rows = super::rows::all_of::<E>(db, DbBackend::Postgres.build(&outer)).await?;
        Ok(group::<E>(rows, self.parent, parents, limit))
    }

    /// How many live children (of the given statuses) each parent has, in one statement.
    pub async fn counts(
        &self,
        db: &impl ConnectionTrait,
        scope: Scoped,
        parents: &[Uuid],
        statuses: &[String],
    ) -> Result<HashMap<Uuid, u64>, DbErr> {
        let rows: Vec<(Uuid, i64)> = self
            .select(scope, parents, statuses)
            .select_only()
            .column(self.parent)
            .column_as(E::id_column().count(), "n")
            .group_by(self.parent)
            .into_tuple()
            .all(db)
            .await?;
        let mut out: HashMap<Uuid, u64> = parents.iter().map(|p| (*p, 0)).collect();
        for (parent, n) in rows {
            out.insert(parent, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }
}

/// The first `limit` rows of `inner` for each parent (`parent` names the column pointing at
/// it), in `keyset` order, and whether more follow: ONE statement, whose window function
/// numbers each parent's rows and keeps `limit + 1` of them.
pub async fn first_pages<E: Rows>(
    db: &impl ConnectionTrait,
    mut inner: Select<E>,
    parent: E::Column,
    k: &Keyset<E>,
    parents: &[Uuid],
    limit: u16,
) -> Result<HashMap<Uuid, (Vec<E::Model>, bool)>, DbErr>
where
    E::Model: FromQueryResult,
{
    let mut window = WindowStatement::partition_by(parent);
    if k.nullable {
        window.order_by_with_nulls(k.sort, k.direction.clone(), NullOrdering::Last);
    } else {
        window.order_by(k.sort, k.direction.clone());
    }
    window.order_by(k.id, k.direction.clone());
    let rn = Alias::new("plugs_rn");
    QuerySelect::query(&mut inner).expr_window_as(Expr::cust("ROW_NUMBER()"), window, rn.clone());
    let paged = Alias::new("paged");
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner.into_query(), paged.clone())
        .and_where(Expr::col((paged.clone(), rn.clone())).lte(i64::from(limit) + 1))
        .order_by((paged.clone(), parent), Order::Asc)
        .order_by((paged, rn), Order::Asc)
        .to_owned();
    let backend = db.get_database_backend();
    let rows = super::rows::all_of::<E>(db, backend.build(&outer)).await?;
    Ok(group::<E>(rows, parent, parents, limit))
}

/// Rows ordered by parent and then in page order, as pages of `limit` per parent and whether
/// more follow (the `limit + 1`th row).
fn group<E: EntityTrait>(
    rows: Vec<E::Model>,
    parent: E::Column,
    parents: &[Uuid],
    limit: u16,
) -> HashMap<Uuid, (Vec<E::Model>, bool)> {
    let mut out: HashMap<Uuid, (Vec<E::Model>, bool)> =
        parents.iter().map(|p| (*p, (Vec::new(), false))).collect();
    for row in rows {
        let parent = parent_of::<E>(&row, parent);
        if let Some((page, more)) = out.get_mut(&parent) {
            if page.len() < limit as usize {
                page.push(row);
            } else {
                *more = true;
            }
        }
    }
    out
}

/// The same order on a derived table's columns.
fn order_statement<E: EntityTrait>(
    mut statement: sea_orm::sea_query::SelectStatement,
    k: &Keyset<E>,
    table: Alias,
) -> sea_orm::sea_query::SelectStatement {
    if k.nullable {
        statement.order_by_with_nulls(
            (table.clone(), k.sort),
            k.direction.clone(),
            NullOrdering::Last,
        );
    } else {
        statement.order_by((table.clone(), k.sort), k.direction.clone());
    }
    statement.order_by((table, k.id), k.direction.clone());
    statement
}

/// The parent id a child row points at.
fn parent_of<E: EntityTrait>(row: &E::Model, col: E::Column) -> Uuid {
    use sea_orm::ModelTrait;
    match row.get(col) {
        sea_orm::Value::Uuid(Some(id)) => id,
        other => unreachable!("parent columns are non-null UUIDs, got {other:?}"),
    }
}
