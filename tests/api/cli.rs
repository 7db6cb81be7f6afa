//! The `plugs` binary as an operator uses it.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{TestDb, connect, postgres_url, spawn_app_on, test_config};

fn plugs(args: &[&str], env: &[(&str, &str)]) -> Output {
    // Whatever the binary writes beside itself (the development secret) stays out of the repository.
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plugs"));
    cmd.current_dir(cwd.path())
        .args(args)
        .env_remove("PLUGS_DATABASE_URL")
        .env_remove("PLUGS_BIND")
        .env_remove("PLUGS_ENV")
        .env_remove("PLUGS_JWT_SECRET")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("plugs runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refusal is one readable line on stderr, a non-zero exit and no panic.
fn assert_one_line_failure(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = plugs(&["schema"], &[]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn bad_configuration_is_one_readable_line() {
    let out = plugs(
        &["migrate", "status"],
        &[("PLUGS_DATABASE_URL", "mysql://localhost/x")],
    );
    assert_one_line_failure(&out, "PLUGS_DATABASE_URL");
    let out = plugs(&["serve"], &[("PLUGS_BIND", "not-an-address")]);
    assert_one_line_failure(&out, "PLUGS_BIND");
    let out = plugs(&["serve"], &[("PLUGS_ENV", "staging")]);
    assert_one_line_failure(&out, "PLUGS_ENV");
    let out = plugs(&["serve"], &[("PLUGS_ENV", "production")]);
    assert_one_line_failure(&out, "PLUGS_JWT_SECRET");
    // An interval or buffer of zero cannot work: refused before anything starts.
    for var in [
        "PLUGS_WS_KEEPALIVE_SECS",
        "PLUGS_NOTIFICATION_PURGE_SECS",
        "PLUGS_REALTIME_BUFFER",
        "PLUGS_JOB_LEASE_SECS",
        "PLUGS_JOB_POLL_MS",
        "PLUGS_PURGE_DELETED_AFTER_DAYS",
    ] {
        let out = plugs(&["serve"], &[(var, "0")]);
        assert_one_line_failure(&out, var);
    }
    let out = plugs(&["serve"], &[("PLUGS_STORAGE_URL", "ftp://files")]);
    assert_one_line_failure(&out, "PLUGS_STORAGE_URL");
    let out = plugs(&["serve"], &[("PLUGS_SMTP_URL", "http://not-smtp")]);
    assert_one_line_failure(&out, "PLUGS_SMTP_URL");
    let out = plugs(
        &["serve"],
        &[("PLUGS_CORS_ORIGINS", "https://app.example.com/path")],
    );
    assert_one_line_failure(&out, "PLUGS_CORS_ORIGINS");
    let out = plugs(
        &["serve"],
        &[
            ("PLUGS_ENV", "production"),
            ("PLUGS_JWT_SECRET", &"s".repeat(40)),
            ("PLUGS_CORS_ORIGINS", "*"),
        ],
    );
    assert_one_line_failure(&out, "PLUGS_CORS_ORIGINS");
    // Trusted documents: a missing or bad manifest stops the server before it serves.
    let out = plugs(&["serve"], &[("PLUGS_PERSISTED_QUERIES", "trusted")]);
    assert_one_line_failure(&out, "PLUGS_TRUSTED_DOCUMENTS");
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("documents.json");
    std::fs::write(
        &manifest,
        r#"{"0000000000000000000000000000000000000000000000000000000000000000": "{ __typename }"}"#,
    )
    .unwrap();
    let out = plugs(
        &["serve"],
        &[
            ("PLUGS_PERSISTED_QUERIES", "trusted"),
            ("PLUGS_TRUSTED_DOCUMENTS", manifest.to_str().unwrap()),
        ],
    );
    assert_one_line_failure(&out, "is not the SHA-256 of its document");
}

#[tokio::test]
async fn a_port_in_use_is_one_readable_line() {
    let test_db = TestDb::shared().await;
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = plugs(
        &["serve"],
        &[("PLUGS_BIND", &addr), ("PLUGS_DATABASE_URL", &test_db.url)],
    );
    assert_one_line_failure(&out, &format!("cannot listen on {addr}"));
}

#[tokio::test]
async fn migrate_commands_and_the_demo_seed_work_on_an_empty_database() {
    let test_db = Arc::new(TestDb::empty().await);
    let env = [("PLUGS_DATABASE_URL", test_db.url.as_str())];
    let out = plugs(&["migrate", "status"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = String::from_utf8(out.stdout).unwrap();
    assert_eq!(status.lines().count(), 21, "{status}");
    assert!(status.lines().all(|l| l.starts_with("Pending")), "{status}");

    let out = plugs(&["migrate", "up"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = String::from_utf8(plugs(&["migrate", "status"], &env).stdout).unwrap();
    assert!(status.lines().all(|l| l.starts_with("Applied")), "{status}");

    let out = plugs(&["migrate", "down", "--steps", "2"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = String::from_utf8(plugs(&["migrate", "status"], &env).stdout).unwrap();
    assert_eq!(
        status.lines().filter(|l| l.starts_with("Pending")).count(),
        2,
        "{status}"
    );

    // seed applies what is pending, then refuses to run twice.
    let out = plugs(&["seed", "--demo"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("50 contacts"), "{printed}");
    assert!(
        printed.contains(plugs::seed::ADMIN_EMAIL) && printed.contains(plugs::seed::ADMIN_PASSWORD)
    );
    assert!(
        printed.contains(plugs::seed::MEMBER_EMAIL)
            && printed.contains(plugs::seed::MEMBER_PASSWORD)
    );
    assert!(printed.contains("notifications"), "{printed}");
    demo_member_has_unread_notifications(&test_db).await;
    let again = plugs(&["seed", "--demo"], &env);
    assert_one_line_failure(&again, "already exists");

    let out = plugs(&["migrate", "fresh"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = plugs(&["seed", "--demo"], &env);
    assert!(
        out.status.success(),
        "after fresh the seed runs again: {}",
        stderr(&out)
    );
    let test_db = Arc::into_inner(test_db).expect("no app holds the database any more");
    test_db.cleanup().await;
}

/// The demo member signs in to an inbox with something in it: a welcome, a registration
/// confirmation, and one confirmation read long ago.
async fn demo_member_has_unread_notifications(test_db: &Arc<TestDb>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = spawn_app_on(test_db.clone(), test_config(&test_db.url), async {
        let _ = stopped.await;
    })
    .await;
    let login = app
        .login(
            plugs::seed::MEMBER_EMAIL,
            plugs::seed::MEMBER_PASSWORD,
            None,
        )
        .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));
    let body = app
        .gql_as(
            token,
            "{ notifications(first: 10) { totalCount nodes { title notificationType isRead } } unreadNotificationCount }",
            serde_json::json!({}),
        )
        .await;
    let data = &body["data"];
    assert_eq!(data["notifications"]["totalCount"], 3, "{body}");
    assert_eq!(data["unreadNotificationCount"], 2, "{body}");
    let nodes = data["notifications"]["nodes"].as_array().unwrap();
    let has = |title: &str, kind: &str, read: bool| {
        nodes
            .iter()
            .any(|n| n["title"] == title && n["notificationType"] == kind && n["isRead"] == read)
    };
    assert!(has("Welcome to The Plugs Demo", "INFO", false), "{body}");
    assert!(has("Registration confirmed", "SUCCESS", false), "{body}");
    assert!(has("Registration confirmed", "SUCCESS", true), "{body}");
    stop.send(()).unwrap();
    running.await.unwrap();
}

/// The README's first PostgreSQL step names a database nobody has created yet.
#[tokio::test]
async fn a_missing_postgres_database_is_created_and_a_missing_sqlite_directory_is_named() {
    let Some(admin_url) = postgres_url() else {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let url = format!("sqlite://{}/plugs.db?mode=rwc", missing.display());
        let out = plugs(
            &["migrate", "status"],
            &[
                ("PLUGS_DATABASE_URL", &url),
                ("PLUGS_JWT_SECRET", &"s".repeat(32)),
            ],
        );
        assert_one_line_failure(
            &out,
            &format!("the directory {} does not exist", missing.display()),
        );
        return;
    };
    // Case, spaces and quotes must survive as one identifier (and inject nothing).
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let name = format!("Plugs \"Odd\"; name-{tag}");
    let encoded = name
        .replace(' ', "%20")
        .replace('"', "%22")
        .replace(';', "%3B");
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{server}/{encoded}");
    let admin = connect(&admin_url).await;
    let exists = || async {
        admin
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.clone().into()],
            ))
            .await
            .unwrap()
            .is_some()
    };
    assert!(!exists().await);

    let out = plugs(
        &["migrate", "up"],
        &[("PLUGS_DATABASE_URL", &url), ("RUST_LOG", "info")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("created database {name}")),
        "{}",
        stderr(&out)
    );
    assert!(exists().await);
    let out = plugs(&["migrate", "status"], &[("PLUGS_DATABASE_URL", &url)]);
    let status = String::from_utf8(out.stdout).unwrap();
    assert!(status.lines().all(|l| l.starts_with("Applied")), "{status}");
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE {} WITH (FORCE)",
            plugs::db::quote_ident(&name)
        ))
        .await
        .unwrap();

    // A role that may not create databases is told how to get one.
    let role = format!("plugs_nocreate_{tag}");
    admin
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'nocreate-{tag}'"
        ))
        .await
        .unwrap();
    let host = server.split_once('@').map_or(server, |(_, h)| h);
    let url = format!("postgres://{role}:nocreate-{tag}@{host}/plugs_never_{tag}");
    let out = plugs(&["migrate", "status"], &[("PLUGS_DATABASE_URL", &url)]);
    admin
        .execute_unprepared(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
    assert_one_line_failure(&out, &format!("createdb plugs_never_{tag}"));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(!exists().await);
}

/// An operator with a wrong URL learns what happened in seconds, in the server's words but
/// without its source position (sqlx appends PostgreSQL's " at line 768").
#[test]
fn an_unreachable_database_is_one_line_within_seconds() {
    let started = std::time::Instant::now();
    let out = plugs(
        &["migrate", "status"],
        &[("PLUGS_DATABASE_URL", "postgres://nobody@127.0.0.1:1/x")],
    );
    let elapsed = started.elapsed();
    assert_one_line_failure(&out, "refused");
    // A refusal is immediate; anything under the pool's 10 s acquire timeout says so.
    assert!(
        elapsed < std::time::Duration::from_secs(9),
        "took {elapsed:?}"
    );
    assert!(!stderr(&out).contains(" at line "), "{}", stderr(&out));

    // A server that accepts the connection and never answers (the kernel completes the
    // handshake for a listener nobody accepts on).
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://nobody@{}/x", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let out = plugs(&["migrate", "status"], &[("PLUGS_DATABASE_URL", &url)]);
    let elapsed = started.elapsed();
    assert_one_line_failure(&out, "timed out");
    // The probe gives up after 3 s; anything under the pool's 10 s says it was the probe.
    assert!(
        elapsed < std::time::Duration::from_secs(9),
        "took {elapsed:?}"
    );

    if let Some(url) = postgres_url() {
        // A role the server does not know: refused by authentication, in one line.
        let (server, _) = url.rsplit_once('/').unwrap();
        let host = server.split_once('@').map_or(server, |(_, h)| h);
        let role = format!("nobody_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let out = plugs(
            &["migrate", "status"],
            &[("PLUGS_DATABASE_URL", &format!("postgres://{role}@{host}/x"))],
        );
        assert_one_line_failure(&out, "(SQLSTATE 28");
        assert!(!stderr(&out).contains(" at line "), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn a_worker_process_runs_due_jobs_and_stops_on_sigterm() {
    use plugs::jobs::kinds::PurgeExpiredNotifications;
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    // A slot of its own, far from any other test's: this job is recognisable.
    let key = format!("cli-worker-{}", uuid::Uuid::new_v4().simple());
    plugs::jobs::enqueue_system(
        &db,
        &PurgeExpiredNotifications {},
        plugs::jobs::Enqueue {
            run_at: None,
            unique_key: Some(key.clone()),
        },
    )
    .await
    .unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_plugs"))
        .arg("worker")
        .env("PLUGS_DATABASE_URL", &test_db.url)
        .env("PLUGS_WORKERS", "1")
        .env("PLUGS_JOB_POLL_MS", "100")
        // Its scheduler must not purge other tests' media (media.rs backdates its own).
        .env("PLUGS_MEDIA_RETENTION_DAYS", "36500")
        .env("PLUGS_JWT_SECRET", "worker-test-secret-0123456789abcdef")
        .env("RUST_LOG", "error")
        .current_dir(std::env::temp_dir())
        .spawn()
        .expect("plugs worker starts");
    use plugs::entities::jobs;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let job = jobs::Entity::find()
            .filter(jobs::Column::UniqueKey.eq(key.as_str()))
            .one(&db)
            .await
            .unwrap()
            .expect("the job");
        if job.state == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not run: {job:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = worker.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}
