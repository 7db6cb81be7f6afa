//! Schema extensions. `OperationMetrics` times every request and labels it with its
//! operation type, which is only known once the document is parsed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest,
};

use crate::graphql::context::{WsSession, resolve_caller};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

use crate::http::metrics::Metrics;

pub struct OperationMetrics {
    metrics: Metrics,
}

impl OperationMetrics {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExt {
            metrics: self.metrics.clone(),
            state: Mutex::default(),
        })
    }
}

#[derive(Default)]
struct State {
    /// (operation name, type) of every operation in the parsed document.
    operations: Vec<(Option<String>, &'static str)>,
    /// The operation actually executed.
    executed: Option<&'static str>,
}

struct OperationMetricsExt {
    metrics: Metrics,
    state: Mutex<State>,
}

/// Gives every error an `extensions.code`: parse, validation and variable errors produced by
/// async-graphql itself carry none, and they are the client's mistakes.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExt)
    }
}

struct ErrorCodesExt;

#[async_trait::async_trait]
impl Extension for ErrorCodesExt {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for e in &mut response.errors {
            let ext = e.extensions.get_or_insert_with(Default::default);
            if ext.get("code").is_none() {
                ext.set("code", "BAD_USER_INPUT");
            }
        }
        response
    }
}

/// WebSocket operations: authenticates each one from the connection's `connection_init`
/// token, so a socket never outlives the rights of the session that opened it.
pub struct WsAuth;

impl ExtensionFactory for WsAuth {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WsAuthExt)
    }
}

struct WsAuthExt;

#[async_trait::async_trait]
impl Extension for WsAuthExt {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let mut request = request;
        if let (Some(session), Some(db), Some(auth)) = (
            ctx.data_opt::<WsSession>(),
            ctx.data_opt::<sea_orm::DatabaseConnection>(),
            ctx.data_opt::<crate::auth::Auth>(),
        ) {
            let mut meta = session.meta.clone();
            meta.request_id = uuid::Uuid::new_v4();
            let caller = resolve_caller(db, auth, session.authorization.as_deref(), &meta).await;
            request = request
                .data(caller)
                .data(meta)
                .data(crate::graphql::loaders::Loaders::new(
                    db,
                    ctx.data_opt::<crate::graphql::loaders::LoaderDelay>()
                        .copied()
                        .unwrap_or(crate::graphql::loaders::LoaderDelay(
                            std::time::Duration::from_millis(2),
                        )),
                ));
        }
        next.run(ctx, request).await
    }
}

pub fn operation_type_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

#[async_trait::async_trait]
impl Extension for OperationMetricsExt {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let start = Instant::now();
        let response = next.run(ctx).await;
        let op = self
            .state
            .lock()
            .map(|s| s.executed)
            .ok()
            .flatten()
            .unwrap_or("invalid");
        self.metrics
            .record_operation(op, start.elapsed(), response.is_err());
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Ok(mut state) = self.state.lock() {
            state.operations = doc
                .operations
                .iter()
                .map(|(name, op)| (name.map(|n| n.to_string()), operation_type_name(op.node.ty)))
                .collect();
        }
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Ok(mut state) = self.state.lock() {
            let found = state
                .operations
                .iter()
                .find(|(name, _)| operation_name.is_none() || name.as_deref() == operation_name)
                .map(|(_, ty)| *ty);
            state.executed = found;
        }
        next.run(ctx, operation_name).await
    }
}
