//! The one integration test binary: real HTTP against a server on port 0.
//! `cargo test` runs it on SQLite; `PLUGS_TEST_DATABASE_URL=postgres://... cargo test` on PostgreSQL.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read and write the database directly to check what the API did"
)]

mod agenda;
mod analytics;
mod audit;
mod auth;
mod browser;
mod cli;
mod collections;
mod constraints;
mod contacts;
mod events;
mod expenses;
mod export;
mod fanout;
mod fixtures;
mod helpers;
mod http;
mod imports;
mod integrations;
mod interactions;
mod isolation;
mod jobs;
mod limits;
mod login_limits;
mod mail;
mod media;
mod migrations;
mod money;
mod notifications;
mod privacy;
mod rate_limits;
mod registrations;
mod relations;
mod storage;
mod subscriptions;
mod two_factor;
mod users;
mod views;
mod webhooks;
mod ws;
