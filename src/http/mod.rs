//! HTTP routes (API.md "Endpoints").

pub mod analytics;
pub mod auth;
pub mod cors;
pub mod export;
pub mod fanout;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod idempotency;
pub mod media;
pub mod multipart;
pub mod response;
mod wake;
pub mod ws;

use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::telemetry::Metrics;

/// What every handler and socket shares. One allocation: axum clones the state for every
/// request, and every open socket keeps a clone (#14).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(std::sync::Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub graphql: crate::graphql::Executor,
    pub auth: crate::auth::Auth,
    pub db: DatabaseConnection,
    /// The same pool without the statement counter (background work, the metrics scrape).
    pub background_db: DatabaseConnection,
    pub metrics: Metrics,
    pub config: Config,
    pub broker: crate::realtime::SharedBroker,
    pub storage: crate::storage::Storage,
    pub links: crate::services::media::Links,
    /// Subscriptions shared by identical operations of one viewer.
    pub fanout: fanout::Groups,
}

pub fn router(state: AppState) -> Router {
    // async-graphql-axum reads the body itself, bypassing axum's DefaultBodyLimit: the limit
    // is a layer of our own, larger for multipart uploads than for everything else.
    let body_limit = axum::middleware::from_fn_with_state(state.clone(), response::body_limit);
    // GraphiQL cannot work without introspection; it would only show an introspection error.
    let home = if state.config.introspection() {
        get(graphiql::page)
    } else {
        get(graphiql::introspection_off)
    };
    use axum::http::Method;
    let origins = &state.config.cors;
    let api = Router::new()
        .route("/", home)
        .route("/assets/graphiql/{file}", get(graphiql::asset))
        .route(
            "/graphql",
            get(graphql::get_handler)
                .post(graphql::post_handler)
                .layer(body_limit)
                .layer(axum::middleware::from_fn(response::json_payload_too_large)),
        )
        .route("/media/{id}/{variant}", get(media::download))
        .route("/downloads/personal-data/{id}", get(media::personal_data))
        .route("/export/contacts.csv", get(export::contacts_csv))
        .route("/export/expenses.csv", get(export::expenses_csv))
        .route("/export/interactions.csv", get(export::interactions_csv))
        .route("/export/events.csv", get(export::events_csv))
        .route("/export/attendees.csv", get(export::attendees_csv))
        .route(
            "/analytics/events",
            // The handler reads the body itself, within its own limit, once the caller is known.
            axum::routing::post(analytics::track),
        )
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .layer(cors::layer(
            origins,
            &[Method::POST, Method::GET, Method::OPTIONS],
        ));
    // A browser sends a direct upload's bytes itself (`createUpload`'s PUT URL).
    let uploads = Router::new()
        .route("/uploads/{id}", axum::routing::put(media::upload))
        .layer(cors::layer(origins, &[Method::PUT, Method::OPTIONS]));
    // Responses over 1 KiB are compressed when the client accepts gzip, br or zstd. Media that
    // is compressed already (images but SVG, video, audio, PDF, archives) is sent as it is; a
    // WebSocket upgrade has no body to compress.
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    let compress = tower_http::compression::CompressionLayer::new().compress_when(
        SizeAbove::new(1024)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE)
            .and(NotForContentType::const_new("video/"))
            .and(NotForContentType::const_new("audio/"))
            .and(NotForContentType::const_new("application/pdf"))
            .and(NotForContentType::const_new("application/zip")),
    );
    api.merge(uploads)
        .layer(compress)
        .route("/graphql/ws", get(graphql::ws_handler))
        .layer(axum::middleware::from_fn(cors::preflight))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
