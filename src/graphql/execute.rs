//! How every operation runs, whatever its transport (POST, GET, WebSocket):
//! 0. a persisted query's text from its hash (`persisted`), so that every later step sees the
//!    document exactly as if it had been sent;
//! 1. the raw text's guard (`limits::check_text`), before anything parses it;
//! 2. one parse per distinct document, kept by its text (a client sends the same few documents
//!    over and over);
//! 3. depth, complexity, aliases and required variables, with this request's variables;
//! 4. async-graphql's validation and execution. A one-operation document that passed
//!    validation once is not walked by every rule again: only its variables change between
//!    requests, and when they are plainly valid (`plain_variables`) it runs on a twin schema in
//!    async-graphql's `Fast` mode. Any other request takes the full validation, with its errors
//!    unchanged;
//! 5. every error gets an `extensions.code` (async-graphql's own parse and validation errors
//!    carry none, and they are the client's mistakes), and the operation is counted.
//!
//! None of this is a schema extension, on purpose: with any extension registered, async-graphql
//! sends every resolved field through the extension chain, which cost a third of a large page's
//! CPU (#14). These are all request-level steps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::parser::types::{BaseType, ExecutableDocument, OperationType};
use async_graphql::{
    BatchRequest, BatchResponse, ID, Request, Response, ScalarType, Value, Variables,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::auth::{Caller, RequestMeta};
use crate::config::Limits;
use crate::graphql::AppSchema;
use crate::graphql::limits;
use crate::graphql::rate::{Payer, RateLimits};
use crate::telemetry::Metrics;

/// The schema with the steps around it. Cheap to clone.
#[derive(Clone)]
pub struct Executor(Arc<Inner>);

struct Inner {
    schema: AppSchema,
    /// The same schema in async-graphql's `Fast` validation mode, for documents that passed the
    /// full validation before (step 4).
    validated: AppSchema,
    limits: Limits,
    metrics: Metrics,
    documents: Documents,
    rate: RateLimits,
    persisted: crate::graphql::persisted::Persisted,
}

/// A request that passed the checks before validation, with its parsed document attached.
pub struct Prepared {
    request: Request,
    /// The cached document, when it parsed.
    document: Option<Arc<Document>>,
    operation: Option<OperationType>,
    start: Instant,
    /// The rate-limit headers of the charge.
    headers: axum::http::HeaderMap,
}

impl Prepared {
    /// The type of the operation the request selects, when its document parsed and names it.
    pub fn operation_type(&self) -> Option<OperationType> {
        self.operation
    }

    /// The request as it will run (a persisted query's text resolved).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Adds data for the resolvers.
    pub fn with_data<D: std::any::Any + Send + Sync>(mut self, data: D) -> Self {
        self.request.data.insert(data);
        self
    }
}

impl Executor {
    /// `validated` is the same schema built with `ValidationMode::Fast` (step 4).
    pub fn new(
        schema: AppSchema,
        validated: AppSchema,
        limits: &Limits,
        metrics: Metrics,
        rate: RateLimits,
        persisted: crate::graphql::persisted::PersistedConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            schema,
            validated,
            limits: limits.clone(),
            metrics,
            documents: Documents::default(),
            rate,
            persisted: crate::graphql::persisted::Persisted::new(persisted),
        }))
    }

    /// The document a persisted-query hash stands for, if this instance knows it.
    pub fn persisted_text(&self, hash: &str) -> Option<String> {
        self.0.persisted.peek(hash)
    }

    /// Step 0 alone (GET runs its pre-parse guard on the text before `prepare`). A refusal
    /// comes back as the response to send (already counted).
    pub fn resolve_persisted(&self, request: &mut Request) -> Result<(), Box<Response>> {
        match self.0.persisted.resolve(request) {
            Err(e) => Err(Box::new(self.finish(
                Response::from_errors(vec![e]),
                None,
                Instant::now(),
            ))),
            // A text to register: `prepare` sees the hash again and registers it after the
            // limits.
            Ok(Some(hash)) => {
                let ext = async_graphql::Value::from_json(serde_json::json!({
                    "version": 1,
                    "sha256Hash": hash,
                }))
                .unwrap_or_default();
                request.extensions.0.insert("persistedQuery".into(), ext);
                Ok(())
            }
            Ok(None) => Ok(()),
        }
    }

    /// The instance's rate-limit buckets.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.0.rate
    }

    /// Steps 1-3. A refusal comes back as the response to send (already counted).
    pub fn prepare(&self, mut request: Request) -> Result<Prepared, Box<Response>> {
        let start = Instant::now();
        let refuse = |e| {
            Err(Box::new(self.finish(
                Response::from_errors(vec![e]),
                None,
                start,
            )))
        };
        let register = match self.0.persisted.resolve(&mut request) {
            Ok(r) => r,
            Err(e) => return refuse(e),
        };
        if let Err(e) = limits::check_text(&request.query, &self.0.limits) {
            return refuse(e);
        }
        // A document that does not parse is left to async-graphql, which reports where.
        let mut operation = None;
        let mut cost = 1;
        let document = self.0.documents.get(&request.query);
        if let Some(cached) = &document {
            let doc = &cached.doc;
            let name = request.operation_name.as_deref();
            match limits::check(doc, name, &request.variables, &self.0.limits) {
                Ok(c) => cost = c,
                Err(e) => return refuse(e),
            }
            if let Some(hash) = register {
                self.0.persisted.register(hash, &request.query);
            }
            operation = selected(doc, name);
            request.set_parsed_query(ExecutableDocument::clone(doc));
        }
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        let headers = match self.0.rate.charge(payer(&request), cost) {
            Ok(charged) => charged.headers(),
            Err(r) => {
                let mut refused = Response::from_errors(vec![r.error.into_request_error()]);
                refused.http_headers = r.headers;
                return Err(Box::new(self.finish(refused, operation, start)));
            }
        };
        Ok(Prepared {
            request,
            document,
            operation,
            start,
            headers,
        })
    }

    /// Steps 4-5 of a prepared request.
    pub async fn run(&self, prepared: Prepared) -> Response {
        let request = prepared.request;
        let document = prepared.document;
        let (schema, learn) = match &document {
            Some(d) if d.validated.load(Ordering::Relaxed) => {
                let name = request.operation_name.as_deref();
                if plain_variables(&d.doc, name, &request.variables) {
                    (&self.0.validated, None)
                } else {
                    (&self.0.schema, None)
                }
            }
            // Validation depends on the variables only where they are substituted into
            // arguments, and it checks only those given: a run with all of them tells.
            Some(d) if single(&d.doc) && all_variables_given(&d.doc, &request.variables) => {
                (&self.0.schema, Some(d))
            }
            _ => (&self.0.schema, None),
        };
        let mut response = schema.execute(request).await;
        if let Some(d) = learn
            && !is_request_error(&response)
        {
            d.validated.store(true, Ordering::Relaxed);
        }
        response.http_headers.extend(prepared.headers);
        self.finish(response, prepared.operation, prepared.start)
    }

    pub async fn execute(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(prepared) => self.run(prepared).await,
            Err(refused) => *refused,
        }
    }

    /// A batch's operations run concurrently (they share the request's loaders), answered in order.
    pub async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(r) => BatchResponse::Single(self.execute(r).await),
            BatchRequest::Batch(list) => BatchResponse::Batch(
                futures_util::future::join_all(list.into_iter().map(|r| self.execute(r))).await,
            ),
        }
    }

    /// Steps 4-5 of a prepared request as a stream of responses (operations over a socket:
    /// a subscription's results, or a query's or mutation's one answer).
    pub fn stream(&self, prepared: Prepared) -> BoxStream<'static, Response> {
        self.0
            .schema
            .execute_stream(prepared.request)
            .map(|mut r| {
                with_codes(&mut r);
                r
            })
            .boxed()
    }

    fn finish(
        &self,
        mut response: Response,
        operation: Option<OperationType>,
        start: Instant,
    ) -> Response {
        with_codes(&mut response);
        let label = match operation {
            Some(ty) if !is_request_error(&response) => operation_type_name(ty),
            _ => "invalid",
        };
        self.0
            .metrics
            .record_operation(label, start.elapsed(), response.is_err());
        response
    }
}

/// Step 5's default code: an error nobody coded is the client's.
/// Who a request is charged to: the signed-in member (and their organization), else the
/// client's IP (anonymous operations: register, login, refresh).
fn payer(request: &Request) -> Payer {
    use std::any::TypeId;
    let caller = request
        .data
        .get(&TypeId::of::<Caller>())
        .and_then(|d| d.downcast_ref::<Caller>());
    if let Some(Caller::Authenticated(a)) = caller {
        return Payer::Member {
            user: a.user_id,
            organization: a.organization_id,
        };
    }
    let ip = request
        .data
        .get(&TypeId::of::<RequestMeta>())
        .and_then(|d| d.downcast_ref::<RequestMeta>())
        .and_then(|m| m.ip);
    Payer::Anonymous(ip)
}

fn with_codes(response: &mut Response) {
    for e in &mut response.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
}

/// A request error: nothing executed, so there is no data and no error has a path
/// (a resolver's error always has one, even when it nulls the whole `data`).
pub fn is_request_error(r: &Response) -> bool {
    r.data == async_graphql::Value::Null
        && !r.errors.is_empty()
        && r.errors.iter().all(|e| e.path.is_empty())
}

fn selected(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    doc.operations
        .iter()
        .find(|(n, _)| name.is_none() || n.map(|n| n.as_str()) == name)
        .map(|(_, op)| op.node.ty)
}

pub fn operation_type_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

/// Parsed documents by their text. Bounded in entries and in the size of what it keeps; when
/// full it starts over (a flood of distinct documents costs a parse each, as with no cache).
#[derive(Default)]
struct Documents(Mutex<HashMap<String, Arc<Document>>>);

/// A parsed document, and whether it passed async-graphql's full validation (with all of its
/// variables given, so that every rule looked at everything).
struct Document {
    doc: ExecutableDocument,
    validated: AtomicBool,
}

const DOCUMENTS: usize = 512;
const DOCUMENT_BYTES: usize = 16 * 1024;

impl Documents {
    fn get(&self, query: &str) -> Option<Arc<Document>> {
        if let Some(doc) = self.0.lock().ok()?.get(query) {
            return Some(doc.clone());
        }
        let doc = Arc::new(Document {
            doc: async_graphql::parser::parse_query(query).ok()?,
            validated: AtomicBool::new(false),
        });
        if query.len() <= DOCUMENT_BYTES
            && let Ok(mut map) = self.0.lock()
        {
            if map.len() >= DOCUMENTS {
                map.clear();
            }
            map.insert(query.to_owned(), doc.clone());
        }
        Some(doc)
    }
}

/// Whether the document holds one operation. Validation checks the operations a request does
/// not select only in part (an argument holding a variable is skipped there, literals and
/// all), so what one request's validation proves covers its own operation only; the lighter
/// path is for documents with one.
fn single(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().count() == 1
}

/// Whether every variable of every operation in the document is given a value.
fn all_variables_given(doc: &ExecutableDocument, variables: &Variables) -> bool {
    doc.operations.iter().all(|(_, op)| {
        op.node
            .variable_definitions
            .iter()
            .all(|v| variables.contains_key(&v.node.name.node))
    })
}

/// Whether the selected operation's variables are such that async-graphql's full validation
/// of an already validated document would pass: every variable is of a built-in scalar type
/// (lists, enums, input objects and custom scalars take the full validation) and every value
/// given is non-null and valid for that scalar, by the scalar's own check. Validation checks
/// a variable's value against the argument it fills, whose type the document's validation
/// found compatible with the declared one; a null given to a nullable variable in a non-null
/// position (allowed there when it has a default) is the one case that differs, and nulls
/// take the full validation. Erring towards `false` only costs the full walk.
fn plain_variables(doc: &ExecutableDocument, name: Option<&str>, variables: &Variables) -> bool {
    if !single(doc) {
        return false;
    }
    let Some((_, op)) = doc
        .operations
        .iter()
        .find(|(n, _)| name.is_none_or(|name| n.is_some_and(|n| n.as_str() == name)))
    else {
        return false;
    };
    op.node.variable_definitions.iter().all(|v| {
        let BaseType::Named(ty) = &v.node.var_type.node.base else {
            return false;
        };
        let Some(value) = variables.get(&v.node.name.node) else {
            return true;
        };
        match ty.as_str() {
            "ID" => <ID as ScalarType>::is_valid(value),
            "String" => <String as ScalarType>::is_valid(value),
            "Boolean" => <bool as ScalarType>::is_valid(value),
            // `Int` is registered by whichever integer type comes first, signed or not.
            "Int" => matches!(value, Value::Number(n) if n.is_i64() && n.is_u64()),
            "Float" => <f32 as ScalarType>::is_valid(value) && <f64 as ScalarType>::is_valid(value),
            _ => false,
        }
    })
}
