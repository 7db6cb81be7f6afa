//! Test harness: each test gets its own app on port 0 over real HTTP.
//! SQLite (default): a fresh database file per test. PostgreSQL (`PLUGS_TEST_DATABASE_URL`):
//! one shared, migrated database; tests isolate by creating their own organization, and tests
//! that need an empty schema get a scratch database of their own.

use std::sync::Arc;

use migration::{Migrator, MigratorTrait};
use plugs::config::Config;
use plugs::startup::Application;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub fn postgres_url() -> Option<String> {
    std::env::var("PLUGS_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// For a test that only means something on PostgreSQL (marked `#[ignore]`, so SQLite runs
/// list it as ignored): asked to run without PostgreSQL, it fails instead of passing empty.
pub fn require_postgres() {
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set PLUGS_TEST_DATABASE_URL"
    );
}

pub fn backend() -> DbBackend {
    if postgres_url().is_some() {
        DbBackend::Postgres
    } else {
        DbBackend::Sqlite
    }
}

/// A database for one test. Dropping it removes a SQLite file; PostgreSQL scratch databases are
/// removed by `cleanup` (the shared database is left as it is).
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    scratch_name: Option<String>,
}

impl TestDb {
    /// The database this test runs on, migrated.
    pub async fn shared() -> TestDb {
        match postgres_url() {
            Some(url) => {
                static MIGRATED: OnceCell<()> = OnceCell::const_new();
                MIGRATED
                    .get_or_init(|| async {
                        let db = connect(&url).await;
                        Migrator::up(&db, None)
                            .await
                            .expect("migrating the PostgreSQL test database");
                        db.close().await.ok();
                    })
                    .await;
                TestDb {
                    url,
                    _dir: None,
                    scratch_name: None,
                }
            }
            None => {
                let db = Self::empty().await;
                let conn = connect(&db.url).await;
                Migrator::up(&conn, None).await.expect("migrating SQLite");
                conn.close().await.ok();
                db
            }
        }
    }

    /// An empty database with no tables, for migration and CLI tests.
    pub async fn empty() -> TestDb {
        match postgres_url() {
            Some(url) => {
                let name = format!("plugs_scratch_{}", uuid::Uuid::new_v4().simple());
                let admin = connect(&url).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("creating a scratch PostgreSQL database");
                admin.close().await.ok();
                let (base, _) = url.rsplit_once('/').expect("a database URL has a path");
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    scratch_name: Some(name),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("plugs.db").display()
                );
                TestDb {
                    url,
                    _dir: Some(dir),
                    scratch_name: None,
                }
            }
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        connect(&self.url).await
    }

    /// Drops a PostgreSQL scratch database (call at the end of the test).
    pub async fn cleanup(self) {
        if let (Some(name), Some(url)) = (&self.scratch_name, postgres_url()) {
            let admin = connect(&url).await;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .expect("dropping the scratch database");
            admin.close().await.ok();
        }
    }
}

/// Connects or fails loudly: a test asked to run on PostgreSQL never silently skips.
pub async fn connect(url: &str) -> DatabaseConnection {
    plugs::db::connect_url(url, 5)
        .await
        .unwrap_or_else(|e| panic!("test database unavailable ({url}): {e}"))
}

/// The key of secrets at rest of every app in the suite: the apps share one PostgreSQL
/// database, and a job worker of one test may run another test's jobs, as instances of one
/// deployment do. Keys `k1` and `k2` (rotation tests) also decrypt.
pub fn test_keyring() -> plugs::crypto::Keyring {
    use base64::Engine;
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    plugs::crypto::Keyring::parse(&format!("test:{},k2:{},k1:{}", b64(3), b64(9), b64(7)))
        .expect("the test keys")
}

pub fn test_config(url: &str) -> Config {
    // A secret of its own, so that no development secret file is written into the repository.
    let secret = uuid::Uuid::new_v4().simple().to_string().repeat(2);
    let mut config = Config::from_lookup(|k| (k == "PLUGS_JWT_SECRET").then(|| secret.clone()))
        .expect("default config");
    config.database_url = url.to_owned();
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.db_max_connections = 5;
    config.keyring = test_keyring();
    config.keyring_is_development = false;
    // Every app mails to the suite's one SMTP sink (tests/api/mail.rs): on the shared
    // PostgreSQL one test's mail worker may send another test's mail, as instances do.
    config.mail.smtp_url = Some(crate::mail::sink().url());
    // Job workers run only where a test starts them (tests/api/jobs.rs): the suite's other
    // servers must not claim the test job kinds they do not know.
    config.jobs.workers = 0;
    // Budgets no other test comes near; tests/api/rate_limits.rs sets its own.
    config.rate = plugs::graphql::rate::RateConfig {
        user_per_minute: 10_000_000,
        org_per_minute: 10_000_000,
        ip_per_minute: 10_000_000,
    };
    // The suite's apps share one store (a directory outside the repository or, when CI names
    // an S3-compatible server with `PLUGS_TEST_S3_URL` and builds `--features s3`, a prefix
    // there), as a deployment's instances do: on the shared PostgreSQL one app's job workers
    // may run another app's jobs, and those read the other app's files. Keys carry
    // organization ids, so apps never meet.
    static SUITE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
    if let Ok(s3) = std::env::var("PLUGS_TEST_S3_URL") {
        config.storage_url = format!("{}/suite-{}", s3.trim_end_matches('/'), *SUITE);
        return config;
    }
    config.storage_url = format!(
        "file://{}",
        std::env::temp_dir()
            .join(format!("plugs-test-media-{}", *SUITE))
            .display()
    );
    config
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub broker: plugs::realtime::SharedBroker,
    pub storage: plugs::storage::Storage,
    /// The app's key for secrets at rest.
    pub keyring: plugs::crypto::Keyring,
    pub mailer: plugs::mail::Mailer,
    pub composer: plugs::mail::Composer,
    /// Keeps a SQLite file alive for as long as the app runs.
    _test_db: Arc<TestDb>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Two instances of one deployment on one PostgreSQL database (they share the token secret).
pub async fn two_instances() -> (TestApp, TestApp) {
    require_postgres();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    // One deployment: one token secret (and the suite's one key for secrets at rest).
    let a = spawn_app_with(|c| {
        c.auth.jwt_secret = secret.clone();
        c.webhook_allow_private = true;
    })
    .await;
    let b = spawn_app_with(|c| {
        c.auth.jwt_secret = secret.clone();
        c.webhook_allow_private = true;
    })
    .await;
    (a, b)
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let test_db = TestDb::shared().await;
    let mut config = test_config(&test_db.url);
    customize(&mut config);
    spawn_app_on(Arc::new(test_db), config, std::future::pending())
        .await
        .0
}

/// An app on `test_db` with exactly `config`, serving until `shutdown` resolves; the handle
/// ends when it has stopped (a restart is two of these on one database).
pub async fn spawn_app_on(
    test_db: Arc<TestDb>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestApp, tokio::task::JoinHandle<()>) {
    let storage = plugs::storage::Storage::from_url(&config.storage_url).expect("test storage");
    let keyring = config.keyring.clone();
    let mailer = plugs::mail::Mailer::new(&config.mail).expect("test mail settings");
    let composer = config.composer();
    plugs::crypto::install_tls_provider();
    let app = Application::build(config).await.expect("app builds");
    let addr = format!("http://{}", app.addr());
    let db = app.db().clone();
    let broker = app.broker();
    let running = tokio::spawn(async move {
        app.run_until(shutdown).await.expect("the app serves");
    });
    let app = TestApp {
        addr,
        client: reqwest::Client::new(),
        db,
        broker,
        storage,
        keyring,
        mailer,
        composer,
        _test_db: test_db,
    };
    (app, running)
}

impl TestApp {
    /// What a job of this app runs with (its pool, storage, broker and keyring; a 3 s lease).
    pub fn job_context(&self) -> plugs::jobs::JobContext {
        plugs::jobs::JobContext {
            db: self.db.clone(),
            storage: self.storage.clone(),
            broker: self.broker.clone(),
            config: Arc::new(plugs::jobs::JobsConfig {
                poll: std::time::Duration::from_millis(100),
                lease: std::time::Duration::from_secs(3),
                ..Default::default()
            }),
            keyring: self.keyring.clone(),
            webhook_allow_private: false,
            mailer: self.mailer.clone(),
            composer: self.composer.clone(),
        }
    }

    /// `count` job workers of `registry`'s kinds on `db` (this app's pool, or another
    /// instance's), with the app's keyring; stopped when the sender says so. The lease is
    /// short: on the suite's shared database a worker may take another test's job, and a
    /// job held by a test that ended comes back within seconds.
    pub fn job_workers(
        &self,
        db: DatabaseConnection,
        registry: plugs::jobs::Registry,
        count: usize,
        webhook_allow_private: bool,
    ) -> tokio::sync::watch::Sender<bool> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut ctx = self.job_context();
        ctx.db = db;
        ctx.webhook_allow_private = webhook_allow_private;
        let metrics = plugs::telemetry::Metrics::default();
        plugs::jobs::spawn_workers(ctx, Arc::new(registry), metrics, count, stopped);
        stop
    }

    /// A pool of its own on this app's database, as another instance (or a `plugs worker`
    /// process) would have.
    pub async fn second_pool(&self) -> DatabaseConnection {
        connect(&self._test_db.url).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// POSTs one GraphQL operation and returns the parsed body (whatever the status).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON body")
    }
}

/// The `extensions.field` of the first error, if any.
pub fn error_field(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["field"].as_str()
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

pub const PASSWORD: &str = "correct horse battery";

/// A signed-in member, as the API returned them.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub email: String,
    pub domain: String,
}

pub const AUTH_FIELDS: &str = "accessToken refreshToken expiresIn user { id email isAdmin }";

impl Session {
    pub fn from_payload(payload: &Value, domain: &str) -> Session {
        assert!(payload.is_object(), "no auth payload: {payload}");
        Session {
            access: payload["accessToken"].as_str().unwrap().to_owned(),
            refresh: payload["refreshToken"].as_str().unwrap().to_owned(),
            user_id: payload["user"]["id"].as_str().unwrap().to_owned(),
            email: payload["user"]["email"].as_str().unwrap().to_owned(),
            domain: domain.to_owned(),
        }
    }
}

impl TestApp {
    /// POSTs one operation with `Authorization: Bearer <token>`.
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let text = self.gql_text_as(token, query, variables).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
    }

    /// The same, the response body as sent (for what `Value` does not keep, such as key order).
    pub async fn gql_text_as(&self, token: &str, query: &str, variables: Value) -> String {
        self.client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("a body")
    }

    /// A new organization with a unique domain, and its admin signed in.
    pub async fn register(&self) -> Session {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let domain = format!("org-{}.test", &tag[..12]);
        let body = self
            .graphql(
                &format!("mutation($input: RegisterInput!) {{ register(input: $input) {{ {AUTH_FIELDS} }} }}"),
                json!({ "input": {
                    "organizationName": format!("Org {}", &tag[..6]),
                    "organizationDomain": domain,
                    "email": format!("admin@{domain}"),
                    "password": PASSWORD,
                    "firstName": "Ada",
                    "lastName": "Admin",
                }}),
            )
            .await;
        Session::from_payload(&body["data"]["register"], &domain)
    }

    pub async fn login(&self, email: &str, password: &str, domain: Option<&str>) -> Value {
        self.graphql(
            &format!("mutation($input: LoginInput!) {{ login(input: $input) {{ {AUTH_FIELDS} }} }}"),
            json!({ "input": { "email": email, "password": password, "organizationDomain": domain } }),
        )
        .await
    }

    /// A second member of `admin`'s organization (optionally an admin), signed in.
    pub async fn member(&self, admin: &Session, is_admin: bool) -> Session {
        let email = format!(
            "m-{}@{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10],
            admin.domain
        );
        let created = self
            .gql_as(
                &admin.access,
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": email, "password": PASSWORD, "firstName": "Max",
                               "lastName": "Member", "isAdmin": is_admin } }),
            )
            .await;
        assert!(created["errors"].is_null(), "createUser failed: {created}");
        let body = self.login(&email, PASSWORD, None).await;
        Session::from_payload(&body["data"]["login"], &admin.domain)
    }
}

impl TestApp {
    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    /// SQL statements the server has run so far (`plugs_db_statements_total`).
    pub async fn statements(&self) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix("plugs_db_statements_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("the statement counter")
    }

    /// Runs one operation and counts the statements it took (authentication included).
    pub async fn counted(&self, token: &str, query: &str, variables: Value) -> (Value, u64) {
        let before = self.statements().await;
        let body = self.gql_as(token, query, variables).await;
        let after = self.statements().await;
        (body, after - before)
    }
}
