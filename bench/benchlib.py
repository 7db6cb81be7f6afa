"""Shared by bench/portability.py and bench/analytics.py: build and start a release server on a
fresh database, call GraphQL, register an organization. Standard library only."""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_server(port, extra_env=None):
    """Builds target/release/plugs and serves it on a fresh database: BENCH_DATABASE_URL
    (dropped and created again) or a SQLite file in a temp dir. Returns (process, db_url)."""
    say("cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "plugs"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="plugs-bench-")
    db_url = os.environ.get("BENCH_DATABASE_URL")
    if db_url:
        parsed = urllib.parse.urlparse(db_url)
        name = parsed.path.lstrip("/")
        admin = parsed._replace(path="/postgres").geturl()
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                        "-c", f"CREATE DATABASE {name}"], check=True)
    else:
        db_url = f"sqlite://{work}/plugs.db?mode=rwc"
    env = dict(os.environ)
    env.update({
        "PLUGS_DATABASE_URL": db_url,
        "PLUGS_BIND": f"127.0.0.1:{port}",
        "PLUGS_STORAGE_URL": f"file://{work}/store",
        "PLUGS_JWT_SECRET": secrets.token_hex(32),
        "RUST_LOG": "warn",
    })
    env.update(extra_env or {})
    log = open(os.path.join(work, "plugs.log"), "w")
    server = subprocess.Popen([os.path.join(ROOT, "target/release/plugs"), "serve"], env=env,
                              stdout=log, stderr=log)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server, db_url
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit(f"the server did not start: see {work}/plugs.log")


def gql(port, token, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=120) as resp:
        out = json.loads(resp.read())
    if out.get("errors"):
        raise SystemExit(f"GraphQL error: {out['errors']}")
    return out["data"]


def register(port):
    """A fresh organization; its admin's access token."""
    domain = f"bench-{secrets.token_hex(4)}.test"
    reg = gql(port, None, "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }", {
        "i": {"organizationName": "Bench", "organizationDomain": domain, "email": f"admin@{domain}",
              "password": "a fine bench password", "firstName": "Bench", "lastName": "Admin"}})
    return reg["register"]["accessToken"]
