#!/usr/bin/env python3
"""bench/portability.py: CSV import and export at scale, on a release build (issue #18).

    bench/portability.py                       # 100,000 rows, SQLite file in a temp dir
    bench/portability.py --rows 20000
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_portability bench/portability.py

Starts `target/release/plugs serve` (built first) with one job worker, registers an
organization, imports a generated CSV of --rows contacts through `importContacts` (rows/s from
the request to the run's COMPLETED), then streams `GET /export/contacts.csv` and reports the
time to the first byte, the total time and the server's resident memory (VmRSS sampled every
10 ms) before and at its peak during the export. A PostgreSQL database named by
BENCH_DATABASE_URL is dropped and created again. Only python3's standard library is used.
"""

import argparse
import http.client
import json
import secrets
import threading
import time
import urllib.request

from benchlib import gql, register, rss_kib, say, start_server


def multipart_import(port, token, csv_bytes):
    boundary = "plugs" + secrets.token_hex(8)
    ops = json.dumps({
        "query": "mutation($file: Upload!) { importContacts(file: $file) { id status } }",
        "variables": {"file": None},
    })
    parts = [
        f"--{boundary}\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{ops}\r\n".encode(),
        f"--{boundary}\r\ncontent-disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.file\"]}}\r\n".encode(),
        f"--{boundary}\r\ncontent-disposition: form-data; name=\"0\"; filename=\"people.csv\"\r\ncontent-type: text/csv\r\n\r\n".encode(),
        csv_bytes,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=b"".join(parts),
        headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "authorization": f"Bearer {token}",
            "apollo-require-preflight": "true",
        },
    )
    with urllib.request.urlopen(req, timeout=300) as resp:
        out = json.loads(resp.read())
    if out.get("errors"):
        raise SystemExit(f"importContacts: {out['errors']}")
    return out["data"]["importContacts"]["id"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--port", type=int, default=8191)
    args = ap.parse_args()

    server, db_url = start_server(args.port, {
        "PLUGS_WORKERS": "1",
        "PLUGS_UPLOAD_MAX_BYTES": str(512 * 1024 * 1024),
    })
    try:
        token = register(args.port)

        lines = ["firstName,lastName,email,company,jobTitle,leadScore,notes"]
        for n in range(args.rows):
            lines.append(f"First{n},Last{n},person{n}@example.com,Company {n % 997},Title {n % 13},{n % 101},\"note {n}, with a comma\"")
        csv_bytes = ("\r\n".join(lines) + "\r\n").encode()
        say(f"importing {args.rows:,} rows ({len(csv_bytes) / 1e6:.1f} MB)")
        started = time.monotonic()
        run_id = multipart_import(args.port, token, csv_bytes)
        while True:
            run = gql(args.port, token, "query($id: ID!) { importRun(id: $id) { status total created failed message } }", {"id": run_id})["importRun"]
            if run["status"] in ("COMPLETED", "FAILED"):
                break
            time.sleep(0.2)
        took = time.monotonic() - started
        if run["status"] != "COMPLETED" or run["created"] != args.rows:
            raise SystemExit(f"import: {run}")
        import_rss = rss_kib(server.pid)

        say("exporting contacts.csv")
        time.sleep(1)
        before = rss_kib(server.pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
        t0 = time.monotonic()
        conn.request("GET", "/export/contacts.csv", headers={"authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        first = resp.read(1)
        ttfb = time.monotonic() - t0
        total = len(first)
        newlines = first.count(b"\n")
        while True:
            chunk = resp.read(65536)
            if not chunk:
                break
            total += len(chunk)
            newlines += chunk.count(b"\n")
        export_s = time.monotonic() - t0
        stop.set()
        sampler.join()
        if resp.status != 200 or newlines < args.rows + 1:
            raise SystemExit(f"export: status {resp.status}, {newlines} lines")

        backend = "PostgreSQL" if db_url.startswith("postgres") else "SQLite"
        print(f"\nCSV import and export, {args.rows:,} contacts, release build, {backend}\n")
        print("| measure | value |")
        print("|---|---:|")
        print(f"| import: request to COMPLETED | {took:.1f} s |")
        print(f"| import: rows per second | {args.rows / took:,.0f} |")
        print(f"| server RSS after the import | {import_rss / 1024:.1f} MiB |")
        print(f"| export: time to first byte | {ttfb * 1000:.0f} ms |")
        print(f"| export: total ({total / 1e6:.1f} MB) | {export_s:.1f} s |")
        print(f"| export: rows per second | {args.rows / export_s:,.0f} |")
        print(f"| server RSS before the export | {before / 1024:.1f} MiB |")
        print(f"| server RSS peak during the export | {peak[0] / 1024:.1f} MiB |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
