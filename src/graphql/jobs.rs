//! Background jobs of the organization (admins).

use async_graphql::{Context, InputObject, Object};

use crate::domain::enums::JobState;
use crate::graphql::args::page;
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::Job;
use crate::services::jobs as svc;

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject, Default)]
pub struct JobFilter {
    state: Option<Vec<JobState>>,
    kind: Option<String>,
}

#[derive(Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// The organization's background jobs, newest first (admins only).
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Job>> {
        let f = filter.unwrap_or_default();
        let filter = svc::JobFilter {
            state: f.state,
            kind: f.kind,
        };
        let page = svc::list(
            ctx.db(),
            ctx.actor()?,
            &filter,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }
}
