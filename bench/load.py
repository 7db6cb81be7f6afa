"""bench/load.py, run by bench/run: checks every query's answer on both servers, then
loads each server in turn with wrk and prints the ratio table (markdown)."""
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

BENCH = Path(os.environ["BENCH"])
WORK = Path(os.environ["WORK"])
PLUGS_URL = os.environ["PLUGS_URL"]
PGL_URL = os.environ["PGL_URL"]
DB_URL = os.environ["DB_URL"]
DURATION = os.environ["DURATION"]
CONNECTIONS = os.environ["CONNECTIONS"]
THREADS = os.environ["THREADS"]

SCENARIOS = [
    ("1_contact_by_id", "one contact by id (10 fields)"),
    ("2_contacts_by_lead_score", "50 contacts by lead score"),
    ("3_contacts_creator_interactions", "100 contacts + creator + 5 interactions each + their user"),
    ("4_events_attendees_agenda", "20 events + creator + 10 attendees + user + agenda + speaker"),
    ("5_organization_deep", "organization -> 10 events -> 10 attendees -> user -> 5 contacts -> 3 interactions"),
]


def post(url, body, auth=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def sql(query):
    return subprocess.run(["psql", DB_URL, "-Atc", query], check=True, capture_output=True, text=True).stdout.strip()


def leaves(value):
    """How many scalar values an answer holds: both servers must return the same amount."""
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 1


def statements_per_request(url, body, auth, n=20):
    """This server's SQL statements per request, over n requests in a row, from its own counter
    (`plugs_db_statements_total` on /metrics; the background work does not count there)."""
    metrics = url.replace("/graphql", "/metrics")

    def count():
        with urllib.request.urlopen(metrics, timeout=30) as response:
            text = response.read().decode()
        return int(re.search(r"^plugs_db_statements_total (\d+)$", text, re.M).group(1))

    before = count()
    for _ in range(n):
        post(url, body, auth)
    return (count() - before) / n


def wrk(url, body_file, auth):
    env = dict(os.environ, BODY=str(body_file), AUTH=auth or "")
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency", "-s", str(BENCH / "post.lua"), url],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk saw failures against {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    return rps, p99


def main():
    email = "u1@org1.bench.example"
    login = post(PLUGS_URL, {
        "query": "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }",
        "variables": {"e": email, "p": "demo-admin-password"},
    })
    token = login["data"]["login"]["accessToken"]
    auth = f"Bearer {token}"
    org = sql("select id from organizations where domain = 'org1.bench.example'")
    contact = sql(f"select id from contacts where organization_id = '{org}' order by created_at desc limit 1")

    rows = []
    for name, label in SCENARIOS:
        bodies = {}
        for server, url, variables, key in (
            ("plugs", PLUGS_URL, {"id": contact}, auth),
            ("postgraphile", PGL_URL, {"id": contact, "org": org}, None),
        ):
            query = (BENCH / "queries" / f"{name}.{server}.graphql").read_text()
            used = {k: v for k, v in variables.items() if f"${k}" in query}
            body = {"query": query, "variables": used}
            answer = post(url, body, key)
            if answer.get("errors") or not answer.get("data"):
                sys.exit(f"{server} answered {name} with {json.dumps(answer)[:500]}")
            path = WORK / f"{name}.{server}.json"
            path.write_text(json.dumps(body))
            statements = statements_per_request(url, body, key) if server == "plugs" else None
            bodies[server] = (url, path, key, leaves(answer["data"]), statements)
        if bodies["plugs"][3] != bodies["postgraphile"][3]:
            sys.exit(f"{name}: plugs returned {bodies['plugs'][3]} values, PostGraphile {bodies['postgraphile'][3]}")
        result = {}
        for server in ("postgraphile", "plugs"):
            url, path, key = bodies[server][:3]
            wrk(url, path, key)  # warm-up, discarded
            result[server] = wrk(url, path, key)
            print(f"{name} {server}: {result[server][0]:.0f} req/s, p99 {result[server][1]}", file=sys.stderr)
        rows.append((label, result["postgraphile"], result["plugs"], bodies["plugs"][3],
                     bodies["plugs"][4]))

    print(f"\n{CONNECTIONS} connections, {DURATION} s per server and scenario after a warm-up of the same length\n")
    print("statements: this server's SQL statements per request (PostGraphile compiles an operation into one)\n")
    print("| scenario | values | PostGraphile v5 req/s | plugs req/s | ratio | PostGraphile p99 | plugs p99 "
          "| plugs statements |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, pgl, plugs, values, plugs_st in rows:
        print(f"| {label} | {values} | {pgl[0]:,.0f} | {plugs[0]:,.0f} | {plugs[0] / pgl[0]:.2f}x | {pgl[1]} | {plugs[1]} "
              f"| {plugs_st:g} |")


main()
