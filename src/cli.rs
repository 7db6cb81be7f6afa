//! Command line: `plugs [serve]`, `plugs worker`, `plugs migrate up|down|status|fresh`,
//! `plugs seed --demo`, `plugs schema`.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "plugs",
    version,
    about = "The Plugs: GraphQL API for professional networking and events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve the API (the default).
    Serve,
    /// Run background jobs only (no HTTP): `PLUGS_WORKERS` workers (at least one) and the
    /// scheduler, until SIGTERM or Ctrl-C; running jobs finish or are released.
    Worker,
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load sample data.
    Seed {
        /// One demo organization with an admin, a member, contacts, interactions and events.
        #[arg(long)]
        demo: bool,
        /// How many contacts (for load tests: 10000).
        #[arg(long, default_value_t = 50)]
        contacts: usize,
        /// How many interactions in all (default: 0 to 5 per contact).
        #[arg(long)]
        interactions: Option<usize>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage the keys of secrets at rest (`PLUGS_ENCRYPTION_KEYS`).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Re-encrypt every secret with the current (first) key; then older keys may be removed
    /// from `PLUGS_ENCRYPTION_KEYS`.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Revert migrations (the last one unless --steps says more).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop everything and apply all migrations again.
    Fresh,
}
