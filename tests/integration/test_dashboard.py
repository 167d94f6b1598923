# SPDX-License-Identifier: MIT
"""The dashboard, its live stream and the API's OpenAPI document, against the real binary:
- every JSON route's real responses match the schemas /openapi.json gives them;
- /api/v1/stream is a Server-Sent Events stream (headers, stats, every event version) and a
  SIGTERM ends it at once;
- Debian's Chromium, driven by playwright-core (dashboard.mjs), uses the dashboard: a detection
  from the form, and ingested points plus an open event shown live without a reload.
Screenshots go to <build>/test-artifacts/dashboard/.
usage: python3 test_dashboard.py path/to/aiops-agent"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

from agent import Agent, series

BINARY = None
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = """
detection:
  default: {methods: [z-score], sensitivity: medium, window: 64}
events: {grouping_window_seconds: 120}
"""


# ---- A validator for the part of JSON Schema (2020-12) the document uses.

def resolve(doc, schema):
    while "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def type_ok(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "array": list, "object": dict}[t])


def validate(doc, schema, value, path="$"):
    """Returns a list of 'path: problem' strings (empty when value matches)."""
    schema = resolve(doc, schema)
    errs = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, t) for t in types):
            return [f"{path}: {value!r:.60} is not {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errs += validate(doc, props[k], v, f"{path}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(doc, schema["additionalProperties"], v, f"{path}.{k}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, v in enumerate(value):
                errs += validate(doc, schema["items"], v, f"{path}[{i}]")
    for sub in schema.get("allOf", []):
        errs += validate(doc, sub, value, path)
    if "oneOf" in schema:
        if sum(not validate(doc, s, value, path) for s in schema["oneOf"]) != 1:
            errs.append(f"{path}: matches not exactly one of oneOf")
    return errs


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def npm_prefix():
    """playwright-core, installed with npm ci from this folder's lock into the build dir."""
    prefix = os.path.join(os.path.dirname(os.path.abspath(BINARY)), "test-npm")
    lock = os.path.join(HERE, "package-lock.json")
    installed = os.path.join(prefix, "package-lock.json")
    marker = os.path.join(prefix, "node_modules", ".package-lock.json")
    if not (os.path.exists(marker) and os.path.exists(installed)
            and same_file(installed, lock)):
        os.makedirs(prefix, exist_ok=True)
        shutil.copy(os.path.join(HERE, "package.json"), prefix)
        shutil.copy(lock, prefix)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                        "--loglevel=error", "--prefix", prefix], check=True, timeout=180)
    return prefix


class SSE:
    """A raw client of /api/v1/stream: reads events with a deadline."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()

    def next_event(self, name, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                fields = dict(l.split(": ", 1) for l in block.decode().split("\n")
                              if ": " in l and not l.startswith(":"))
                if fields.get("event") == name:
                    return json.loads(fields["data"])
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no '{name}' event within {timeout} s")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the stream closed")
            self.buf += data

    def close(self):
        self.sock.close()


class Dashboard(unittest.TestCase):
    def setUp(self):
        self.agent = Agent(BINARY)
        config = os.path.join(self.agent.dir, "agent.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        self.agent.flags = ["--config", config]
        self.agent.start()
        status, self.doc = self.agent.json("GET", "/openapi.json")
        self.assertEqual(status, 200)

    def tearDown(self):
        status = self.agent.stop()
        self.agent.__exit__(None, None, None)
        self.assertEqual(status, 0, "the agent exits cleanly (and leak-free under ASan)")

    def ingest_spike(self, resource="web-1", t0=1767225600):
        pts = [{"resource_id": resource, "metric": "cpu", "timestamp": t0 + i * 10,
                "value": 200.0 if i == 50 else 50 + ((i * 7919) % 13) / 13} for i in range(60)]
        return self.agent.json("POST", "/api/v1/ingest", pts)

    def assert_matches(self, path, method, status, body, ctype="application/json"):
        op = self.doc["paths"][path][method]
        self.assertIn(str(status), op["responses"], f"{method} {path}: status {status} undocumented")
        schema = op["responses"][str(status)]["content"][ctype]["schema"]
        errs = validate(self.doc, schema, body)
        self.assertEqual(errs, [], f"{method.upper()} {path} -> {status}")

    def test_real_responses_match_the_openapi_document(self):
        self.assertEqual(self.doc["openapi"], "3.1.0")
        for p in ["/api/v1/detect", "/health", "/ready", "/", "/methods", "/metrics",
                  "/api/v1/ingest", "/api/v1/series", "/api/v1/series/{resource_id}/{metric}",
                  "/api/v1/events", "/api/v1/incidents", "/api/v1/stream", "/dashboard",
                  "/docs", "/openapi.json"]:
            self.assertIn(p, self.doc["paths"])
        a = self.agent
        cases = [  # (doc path, method, real path, body)
            ("/api/v1/detect", "post", "/api/v1/detect",
             {"series": [series(30, spike_at=20)], "method": "z-score", "sensitivity": "high"}),
            ("/api/v1/detect", "post", "/api/v1/detect", {"series": [series(20)]}),
            ("/api/v1/detect", "post", "/api/v1/detect", {"series": [series(3)]}),
            ("/api/v1/ingest", "post", "/api/v1/ingest", [{"resource_id": "x"}]),
            ("/health", "get", "/health", None), ("/ready", "get", "/ready", None),
            ("/", "get", "/", None), ("/methods", "get", "/methods", None),
            ("/api/v1/series", "get", "/api/v1/series?limit=0", None),
            ("/api/v1/series/{resource_id}/{metric}", "get", "/api/v1/series/no/such", None),
            ("/api/v1/events", "get", "/api/v1/events?status=maybe", None),
        ]
        status, body = self.ingest_spike()
        self.assert_matches("/api/v1/ingest", "post", status, body)
        self.assertEqual(status, 200, body)
        cases += [
            ("/api/v1/series", "get", "/api/v1/series?q=web", None),
            ("/api/v1/series/{resource_id}/{metric}", "get", "/api/v1/series/web-1/cpu", None),
            ("/api/v1/events", "get", "/api/v1/events?status=open&min_priority=0.1", None),
            ("/api/v1/incidents", "get", "/api/v1/incidents", None),
        ]
        seen = set()
        for doc_path, method, path, body in cases:
            status, got = a.json(method.upper(), path, body)
            self.assert_matches(doc_path, method, status, got)
            seen.add((doc_path, status))
        # The populated answers were really checked, not just errors.
        for want in [("/api/v1/detect", 200), ("/api/v1/detect", 422), ("/api/v1/series", 200),
                     ("/api/v1/events", 200), ("/api/v1/incidents", 200)]:
            self.assertIn(want, seen)
        status, body = a.json("GET", "/api/v1/events")
        self.assertEqual(len(body["events"]), 1)
        status, hdrs, text = a.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('aiops_http_requests_total{route="/openapi.json",code="2xx"} 1', text.decode())

    def test_the_stream_sends_stats_and_every_event_and_ends_on_sigterm(self):
        sse = SSE(self.agent.port)
        try:
            self.assertIn("HTTP/1.1 200", sse.head)
            self.assertIn("Content-Type: text/event-stream", sse.head)
            self.assertIn("Cache-Control: no-cache", sse.head)
            self.assertNotIn("Content-Length", sse.head)
            stats = sse.next_event("stats")
            self.assertEqual(validate(self.doc, {"$ref": "#/components/schemas/Stats"}, stats), [])
            self.assertEqual(stats["series"], 0)
            self.assertEqual(self.ingest_spike()[0], 200)
            ev = sse.next_event("event")
            self.assertEqual(validate(self.doc, {"$ref": "#/components/schemas/Event"}, ev), [])
            self.assertEqual((ev["resource_id"], ev["status"], ev["version"]), ("web-1", "open", 1))
            stats = sse.next_event("stats", timeout=5)  # every 2 s
            self.assertEqual((stats["series"], stats["open_events"], stats["points_total"]),
                             (1, 1, 60))
            started = time.monotonic()
            self.assertEqual(self.agent.stop(), 0)
            self.assertLess(time.monotonic() - started, 3, "an open stream held up the shutdown")
        finally:
            sse.close()

    def test_the_dashboard_works_in_a_real_browser(self):
        shots = os.path.join(os.path.dirname(os.path.abspath(BINARY)), "test-artifacts",
                             "dashboard")
        prefix = npm_prefix()
        status, hdrs, page = self.agent.request("GET", "/dashboard")
        self.assertEqual((status, hdrs["content-type"]), (200, "text/html; charset=utf-8"))
        self.assertIn("etag", hdrs)
        r = subprocess.run(["node", os.path.join(HERE, "dashboard.mjs"),
                            f"http://127.0.0.1:{self.agent.port}", shots, prefix],
                           capture_output=True, text=True, timeout=150)
        sys.stderr.write(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, "the browser test failed (see above)")
        for name in ["playground.png", "live.png", "phone.png", "docs.png"]:
            self.assertGreater(os.path.getsize(os.path.join(shots, name)), 10000)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
