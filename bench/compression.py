#!/usr/bin/env python3
"""What response compression saves and costs (#21): the nested benchmark pages answered with
no encoding, gzip, br and zstd, side by side in one run of one release server.

For each page and encoding: the bytes on the wire, and the server's CPU time per request
(user + system time of the process from /proc, over N sequential requests on one keep-alive
connection, so the client's own work is not counted).

    python3 bench/compression.py            # SQLite in a temp dir
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_bench python3 bench/compression.py

Standard library only."""

import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import gql, register, say, start_server  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "18093"))
N = int(os.environ.get("BENCH_REQUESTS", "200"))
QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")
PAGES = ["3_contacts_creator_interactions", "4_events_attendees_agenda", "5_organization_deep"]
ENCODINGS = ["identity", "gzip", "br", "zstd"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def seed(token):
    say("seeding 100 contacts with 5 interactions each, 20 events with 10 registrants")
    members = []
    for i in range(10):
        u = gql(PORT, token, "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }", {
            "i": {"email": f"m{i}@bench.test", "password": "a fine bench password",
                  "firstName": f"Member{i}", "lastName": "Bench"}})
        members.append(u["createUser"]["id"])
    for c in range(100):
        cid = gql(PORT, token, "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }", {
            "i": {"firstName": f"Contact{c}", "lastName": "Bench", "email": f"c{c}@example.com",
                  "company": f"Company {c % 17}", "jobTitle": "Buyer", "leadScore": c % 100}})["createContact"]["id"]
        for k in range(5):
            gql(PORT, token, "mutation($i: CreateContactInteractionInput!) { createContactInteraction(input: $i) { id } }", {
                "i": {"contactId": cid, "interactionType": "MEETING", "subject": f"Meeting {k} about the offer",
                      "interactionDate": f"2026-0{1 + k}-1{k}T10:00:00Z"}})
    for e in range(20):
        eid = gql(PORT, token, "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }", {
            "i": {"title": f"Event {e}", "eventType": "CONFERENCE", "startDate": f"2027-03-{e + 1:02d}T09:00:00Z",
                  "endDate": f"2027-03-{e + 1:02d}T17:00:00Z", "location": "Lisbon"}})["createEvent"]["id"]
        gql(PORT, token, "mutation($id: ID!) { publishEvent(id: $id) { id } }", {"id": eid})
        for m in members:
            gql(PORT, token, "mutation($e: ID!, $u: ID) { registerForEvent(eventId: $e, userId: $u) { id } }",
                {"e": eid, "u": m})
        for a in range(3):
            gql(PORT, token, "mutation($i: CreateAgendaItemInput!) { createAgendaItem(input: $i) { id } }", {
                "i": {"eventId": eid, "title": f"Talk {a}", "startTime": f"2027-03-{e + 1:02d}T1{a}:00:00Z",
                      "endTime": f"2027-03-{e + 1:02d}T1{a}:45:00Z", "speakerId": members[a]}})


def measure(pid, token, query):
    body = json.dumps({"query": query}).encode()
    out = {}
    for enc in ENCODINGS:
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}",
                   "accept-encoding": enc}
        size = 0
        # Warm-up, then the measured run.
        for _ in range(5):
            conn.request("POST", "/graphql", body, headers)
            conn.getresponse().read()
        before = cpu_seconds(pid)
        for _ in range(N):
            conn.request("POST", "/graphql", body, headers)
            resp = conn.getresponse()
            data = resp.read()
            got = resp.getheader("content-encoding") or "identity"
            if got != enc:
                raise SystemExit(f"asked {enc}, got {got} ({len(data)} bytes: {data[:300]!r})")
            size = len(data)
            if enc == "identity" and b'"errors"' in data:
                raise SystemExit(f"the page failed: {data[:300]!r}")
        cpu = cpu_seconds(pid) - before
        conn.close()
        out[enc] = (size, cpu / N * 1000)
    return out


def main():
    server, _ = start_server(PORT, {"PLUGS_RATE_USER_COST_PER_MINUTE": "0",
                                    "PLUGS_RATE_ORG_COST_PER_MINUTE": "0",
                                    "PLUGS_RATE_IP_COST_PER_MINUTE": "0",
                                    # As bench/run: page 3 costs 5,701 points.
                                    "PLUGS_MAX_COMPLEXITY": "20000"})
    try:
        token = register(PORT)
        seed(token)
        print(f"{N} requests per page and encoding; server CPU per request (user+system)")
        print(f"{'page':36} {'encoding':9} {'bytes':>8} {'saved':>7} {'cpu ms':>7} {'extra cpu':>9}")
        for page in PAGES:
            with open(os.path.join(QUERIES, f"{page}.plugs.graphql")) as f:
                query = f.read()
            res = measure(server.pid, token, query)
            plain_bytes, plain_cpu = res["identity"]
            for enc in ENCODINGS:
                size, cpu = res[enc]
                saved = 100 * (1 - size / plain_bytes)
                print(f"{page:36} {enc:9} {size:8d} {saved:6.1f}% {cpu:7.2f} {cpu - plain_cpu:+9.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
