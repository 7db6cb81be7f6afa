#!/usr/bin/env python3
"""bench/analytics.py: analytics ingestion under load, on a release build (issue #19).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_analytics bench/analytics.py
    bench/analytics.py --clients 20 --seconds 15 --batch 500

First measures an unrelated GraphQL read (a 20-contact page) alone, then while --clients
threads POST --batch-event arrays to /analytics/events for --seconds; prints events/s stored
(checked against `analyticsEvents { totalCount }`) and the read's p50/p99 in both phases.
Rate limits are set out of the way. The load generator shares the machine's two cores with the
server and the database: only same-run numbers compare. Standard library only.
"""

import argparse
import json
import threading
import time
import urllib.request

from benchlib import gql, register, say, start_server

READ = "{ contacts(first: 20) { nodes { id firstName lastName email company } } }"


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def reads(port, token, seconds, out):
    """Runs READ back to back for `seconds`, appending each latency (ms) to `out`."""
    body = json.dumps({"query": READ}).encode()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={
            "content-type": "application/json", "authorization": f"Bearer {token}"})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
        out.append((time.monotonic() - t0) * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--port", type=int, default=8192)
    args = ap.parse_args()
    off = "0"
    server, db_url = start_server(args.port, {
        "PLUGS_RATE_USER_COST_PER_MINUTE": off,
        "PLUGS_RATE_ORG_COST_PER_MINUTE": off,
        "PLUGS_RATE_IP_COST_PER_MINUTE": off,
        "PLUGS_DB_MAX_CONNECTIONS": "20",
    })
    try:
        token = register(args.port)
        for n in range(50):
            gql(args.port, token, "mutation($f: String!) { createContact(input: { firstName: $f, lastName: \"Read\", email: \"r@example.com\", company: \"Acme\" }) { id } }", {"f": f"R{n}"})
        say("the read alone")
        alone = []
        reads(args.port, token, 5, alone)

        batch = json.dumps([{"eventName": "page_view", "eventCategory": "navigation",
                             "properties": {"path": f"/contacts/{i}", "n": i}, "sessionId": f"s-{i % 50}",
                             "pageUrl": f"https://app.example/contacts/{i}"} for i in range(args.batch)]).encode()
        stored = [0] * args.clients
        errors = []
        stop_at = time.monotonic() + args.seconds

        def client(k):
            while time.monotonic() < stop_at:
                req = urllib.request.Request(f"http://127.0.0.1:{args.port}/analytics/events", data=batch, headers={
                    "content-type": "application/json", "authorization": f"Bearer {token}"})
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        stored[k] += json.loads(resp.read())["stored"]
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(str(e))
                    return

        say(f"{args.clients} clients sending {args.batch}-event batches for {args.seconds:.0f} s, the read alongside")
        loaded = []
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        reader = threading.Thread(target=reads, args=(args.port, token, args.seconds, loaded))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        reader.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        reader.join()
        if errors:
            raise SystemExit(f"ingestion errors: {errors[:3]}")
        total = sum(stored)
        counted = gql(args.port, token, "{ analyticsEvents { totalCount } }")["analyticsEvents"]["totalCount"]
        if counted != total:
            raise SystemExit(f"acknowledged {total} events but {counted} are stored")
        backend = "PostgreSQL" if db_url.startswith("postgres") else "SQLite"
        print(f"\nAnalytics ingestion, release build, {backend}, {args.clients} clients x {args.batch}-event batches, {elapsed:.1f} s\n")
        print("| measure | value |")
        print("|---|---:|")
        print(f"| events stored (= acknowledged) | {total:,} |")
        print(f"| events per second | {total / elapsed:,.0f} |")
        print(f"| read p50 / p99 alone | {percentile(alone, 0.5):.1f} / {percentile(alone, 0.99):.1f} ms ({len(alone)} reads) |")
        print(f"| read p50 / p99 during ingestion | {percentile(loaded, 0.5):.1f} / {percentile(loaded, 0.99):.1f} ms ({len(loaded)} reads) |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
