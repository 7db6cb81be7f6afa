//! The one integration test binary: real HTTP against a server on port 0.
//! `cargo test` runs it on SQLite; `PLUGS_TEST_DATABASE_URL=postgres://... cargo test` on PostgreSQL.

mod cli;
mod constraints;
mod fixtures;
mod helpers;
mod http;
mod migrations;
mod money;
mod views;
