#![recursion_limit = "256"]
//! The Plugs: a multi-tenant GraphQL API for professional networking and event management.

pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod entities;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod realtime;
pub mod seed;
pub mod services;
pub mod startup;
pub mod storage;
pub mod telemetry;

use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;

use crate::cli::{Cli, Command, MigrateAction};
use crate::config::{Config, redact_url};
use crate::startup::{Application, shutdown_signal};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Entry point of the binary: one subcommand, one runtime.
pub fn run_cli(cli: Cli) -> Result<(), BoxError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    telemetry::init_tracing();
    let config = Config::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        match command {
            Command::Serve => serve(config).await,
            Command::Worker => worker(config).await,
            Command::Migrate { action } => {
                // One connection: SQLite's `PRAGMA foreign_keys` (toggled by `fresh`) is per connection.
                let db = db::connect_url(&config.database_url, 1).await?;
                migrate(&db, action).await
            }
            Command::Seed {
                demo,
                contacts,
                interactions,
            } => {
                if !demo {
                    return Err("nothing to seed: pass --demo".into());
                }
                let db = db::connect(&config).await?;
                Migrator::up(&db, None).await?;
                let r = seed::seed_demo(&db, contacts, interactions).await?;
                println!(
                    "Seeded organization {} ({}): {} contacts, {} interactions, {} events, {} registrations, {} notifications.",
                    r.organization_id, seed::DEMO_DOMAIN, r.contacts, r.interactions, r.events, r.attendees, r.notifications
                );
                println!("  admin:  {} / {}", seed::ADMIN_EMAIL, seed::ADMIN_PASSWORD);
                println!("  member: {} / {}", seed::MEMBER_EMAIL, seed::MEMBER_PASSWORD);
                Ok(())
            }
            Command::Keys {
                action: cli::KeysAction::Rotate,
            } => {
                let db = db::connect(&config).await?;
                Migrator::up(&db, None).await?;
                let report = services::webhooks::reencrypt(&db, &config.keyring)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                println!(
                    "Re-encrypted {} secret(s) with key {:?}.",
                    report.rotated,
                    config.keyring.current()
                );
                if report.failed.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} secret(s) decrypt with none of the configured keys (webhook endpoints {:?}); they were left as they are",
                        report.failed.len(),
                        report.failed
                    )
                    .into())
                }
            }
            Command::Schema => unreachable!("handled before the runtime starts"),
        }
    });
    // A request stuck on the CPU must not keep the process alive after shutdown.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    // `?` on a database error keeps sqlx's wording, which ends in the server's source line.
    result.map_err(|e| match e.downcast_ref::<sea_orm::DbErr>() {
        Some(db_err) => db::describe(db_err).into(),
        None => e,
    })
}

async fn serve(config: Config) -> Result<(), BoxError> {
    let url = redact_url(&config.database_url);
    if let Some(path) = &config.auth.jwt_secret_file {
        tracing::warn!(
            "PLUGS_JWT_SECRET is not set: signing development tokens with the secret in {}; set PLUGS_JWT_SECRET in production",
            path.display()
        );
    }
    let graphiql = config.introspection();
    let app = Application::build(config).await?;
    let addr = app.addr();
    if graphiql {
        tracing::info!(address = %addr, database = %url, "The Plugs is listening; GraphiQL at http://{addr}/");
    } else {
        tracing::info!(address = %addr, database = %url, "The Plugs is listening; GraphQL at http://{addr}/graphql (GraphiQL is off: no introspection in production)");
    }
    app.run_until(shutdown_signal()).await
}

/// `plugs worker`: the scheduler and job workers, with the realtime broker so that new work
/// wakes them at once (LISTEN/NOTIFY on PostgreSQL).
async fn worker(config: Config) -> Result<(), BoxError> {
    let db = db::connect(&config).await?;
    let broker: realtime::SharedBroker = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => std::sync::Arc::new(
            realtime::postgres::PgBroker::start(
                &db,
                &config.database_url,
                config.realtime.buffer,
                std::time::Duration::from_secs(10),
            )
            .await?,
        ),
        _ => std::sync::Arc::new(realtime::InProcessBroker::new(config.realtime.buffer)),
    };
    let mut jobs = config.jobs.clone();
    jobs.workers = jobs.workers.max(1);
    let storage = storage::Storage::from_url(&config.storage_url)
        .map_err(|e| format!("PLUGS_STORAGE_URL: {e}"))?;
    let metrics = telemetry::Metrics::default();
    let (stop, workers) = startup::start_jobs(&db, &broker, &storage, &metrics, &jobs, &config);
    tracing::info!(workers = jobs.workers, "The Plugs worker is running");
    shutdown_signal().await;
    startup::stop_jobs(stop, workers).await;
    Ok(())
}

pub async fn migrate(db: &DatabaseConnection, action: MigrateAction) -> Result<(), BoxError> {
    match action {
        MigrateAction::Up => Migrator::up(db, None).await?,
        MigrateAction::Down { steps } => Migrator::down(db, Some(steps)).await?,
        MigrateAction::Fresh => Migrator::fresh(db).await?,
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(db).await? {
                println!("{:<8} {}", format!("{:?}", m.status()), m.name());
            }
        }
    }
    Ok(())
}
