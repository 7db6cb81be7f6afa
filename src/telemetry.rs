//! Telemetry shared by `http/` and `graphql/`: the log subscriber, and the Prometheus text for
//! `/metrics` (GraphQL operations by type with latency, the database pool, statements, open
//! WebSocket connections). Hand-rolled on atomics: a handful of series does not justify a
//! metrics framework.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// GraphQL operation kinds, plus requests that never reached execution.
pub const OPERATION_TYPES: [&str; 4] = ["query", "mutation", "subscription", "invalid"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Its Prometheus lines: buckets, `+Inf`, sum and count, with `labels` (may be empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let braces = |extra: &str| -> String {
            match (labels.is_empty(), extra.is_empty()) {
                (true, true) => String::new(),
                _ => format!(
                    "{{{labels}{}{extra}}}",
                    if extra.is_empty() { "" } else { sep }
                ),
            }
        };
        for (b, bound) in BUCKETS.iter().enumerate() {
            let n = self.buckets[b].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{} {n}",
                braces(&format!("le=\"{bound}\""))
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{} {count}", braces("le=\"+Inf\""));
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(""));
        let _ = writeln!(out, "{name}_count{} {count}", braces(""));
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// How a job run ended, for `plugs_job_runs_total`.
pub const JOB_OUTCOMES: [&str; 4] = ["completed", "retried", "discarded", "released"];

#[derive(Default)]
struct Inner {
    operations: [Histogram; OPERATION_TYPES.len()],
    errors: [AtomicU64; OPERATION_TYPES.len()],
    ws_connections: AtomicI64,
    statements: AtomicU64,
    /// From a job's `run_at` to its claim.
    job_claim_latency: Histogram,
    job_runs: [AtomicU64; JOB_OUTCOMES.len()],
}

/// Cheap to clone; shared by the schema extension and the HTTP handlers.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

fn op_index(op: &str) -> usize {
    OPERATION_TYPES
        .iter()
        .position(|o| *o == op)
        .unwrap_or(OPERATION_TYPES.len() - 1)
}

impl Metrics {
    pub fn record_operation(&self, op: &str, elapsed: Duration, had_errors: bool) {
        let i = op_index(op);
        self.0.operations[i].observe(elapsed);
        if had_errors {
            self.0.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A worker claimed a job `latency` after it was due.
    pub fn job_claimed(&self, latency: Duration) {
        self.0.job_claim_latency.observe(latency);
    }

    pub fn job_finished(&self, outcome: &str) {
        if let Some(i) = JOB_OUTCOMES.iter().position(|o| *o == outcome) {
            self.0.job_runs[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The job lines of `/metrics`: runs of this instance by outcome, claim latency, and the
    /// queue by state and kind (`counts`, read from the database by the caller).
    pub fn render_jobs(&self, counts: &[(String, String, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP plugs_jobs Jobs in the queue, by state and kind.\n");
        out.push_str("# TYPE plugs_jobs gauge\n");
        for (state, kind, n) in counts {
            let _ = writeln!(out, "plugs_jobs{{state=\"{state}\",kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP plugs_job_runs_total Job runs of this instance, by outcome.\n");
        out.push_str("# TYPE plugs_job_runs_total counter\n");
        for (i, o) in JOB_OUTCOMES.iter().enumerate() {
            let n = self.0.job_runs[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "plugs_job_runs_total{{outcome=\"{o}\"}} {n}");
        }
        out.push_str("# HELP plugs_job_claim_latency_seconds From a job's run_at to its claim.\n");
        out.push_str("# TYPE plugs_job_claim_latency_seconds histogram\n");
        self.0
            .job_claim_latency
            .render(&mut out, "plugs_job_claim_latency_seconds", "");
        out
    }

    /// Called by the database layer for every SQL statement.
    pub fn statement_executed(&self) {
        self.0.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_opened(&self) {
        self.0.ws_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_closed(&self) {
        self.0.ws_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn render(&self, db: &DatabaseConnection) -> String {
        let mut out = String::new();
        out.push_str("# HELP plugs_graphql_operations_total GraphQL operations handled, by operation type.\n");
        out.push_str("# TYPE plugs_graphql_operations_total counter\n");
        for (i, op) in OPERATION_TYPES.iter().enumerate() {
            let n = self.0.operations[i].count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "plugs_graphql_operations_total{{operation=\"{op}\"}} {n}"
            );
        }
        out.push_str("# HELP plugs_graphql_operation_errors_total GraphQL operations whose response carried errors.\n");
        out.push_str("# TYPE plugs_graphql_operation_errors_total counter\n");
        for (i, op) in OPERATION_TYPES.iter().enumerate() {
            let n = self.0.errors[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "plugs_graphql_operation_errors_total{{operation=\"{op}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP plugs_graphql_operation_duration_seconds Time to answer a GraphQL operation.\n",
        );
        out.push_str("# TYPE plugs_graphql_operation_duration_seconds histogram\n");
        for (i, op) in OPERATION_TYPES.iter().enumerate() {
            let labels = format!("operation=\"{op}\"");
            self.0.operations[i].render(
                &mut out,
                "plugs_graphql_operation_duration_seconds",
                &labels,
            );
        }
        let (size, idle) = pool_stats(db);
        out.push_str("# HELP plugs_db_pool_connections Database pool connections, by state.\n");
        out.push_str("# TYPE plugs_db_pool_connections gauge\n");
        let _ = writeln!(out, "plugs_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "plugs_db_pool_connections{{state=\"in_use\"}} {}",
            size.saturating_sub(idle)
        );
        out.push_str("# HELP plugs_db_statements_total SQL statements executed.\n");
        out.push_str("# TYPE plugs_db_statements_total counter\n");
        let _ = writeln!(
            out,
            "plugs_db_statements_total {}",
            self.0.statements.load(Ordering::Relaxed)
        );
        out.push_str("# HELP plugs_websocket_connections Open GraphQL WebSocket connections.\n");
        out.push_str("# TYPE plugs_websocket_connections gauge\n");
        let _ = writeln!(
            out,
            "plugs_websocket_connections {}",
            self.0.ws_connections.load(Ordering::Relaxed)
        );
        out
    }
}

fn pool_stats(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
        sea_orm::DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Logs to stderr; `RUST_LOG` overrides. sqlx logs every statement at INFO, so it is held at warn.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    // Colours only for a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
