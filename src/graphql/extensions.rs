//! Schema extensions. `OperationMetrics` times every request and labels it with its
//! operation type, which is only known once the document is parsed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

use crate::telemetry::Metrics;

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
