# SPDX-License-Identifier: MIT
"""The real agent over HTTP: the detect contract of the service it replaces, the error answers,
keep-alive, pipelining, chunked bodies, concurrent clients, the SQLite history and SIGTERM.
usage: python3 test_http_api.py path/to/aiops-agent"""
import concurrent.futures
import json
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest

from agent import Agent, series

BINARY = None

RESULT_KEYS = {"resource_id", "metric_name", "method_used", "anomalies", "total_points",
               "anomaly_count", "anomaly_percentage", "detection_time_ms"}
ANOMALY_KEYS = {"timestamp", "value", "score", "is_anomaly", "reason"}
EVENT_KEYS = {"resource_id", "metric", "start_time", "end_time", "duration_seconds", "priority",
              "max_score", "anomaly_points", "peak_value"}


class DetectContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(BINARY).start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def detect(self, body):
        return self.agent.json("POST", "/api/v1/detect", body)

    def test_finds_the_spike_and_answers_field_for_field(self):
        status, body = self.detect({"series": [series(50, spike_at=30)], "method": "z-score",
                                    "sensitivity": "medium"})
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"results", "grouped_events", "total_series",
                                     "total_anomalies"})
        self.assertEqual(body["total_series"], 1)
        r = body["results"][0]
        self.assertEqual(set(r), RESULT_KEYS)
        self.assertEqual((r["resource_id"], r["metric_name"], r["method_used"]),
                         ("pod-web-001", "cpu_usage", "z-score"))
        self.assertEqual(r["total_points"], 50)
        self.assertEqual(r["anomaly_count"], 1)
        self.assertEqual(r["anomaly_percentage"], 2.0)
        a = r["anomalies"][0]
        self.assertEqual(set(a), ANOMALY_KEYS)
        self.assertEqual(a["timestamp"], "2026-01-01T00:30:00Z")
        self.assertEqual(a["value"], 150.0)
        self.assertTrue(a["is_anomaly"])
        self.assertTrue(0.5 <= a["score"] <= 1.0)
        self.assertIn("standard deviations above", a["reason"])
        self.assertEqual(body["total_anomalies"], 1)
        ev = body["grouped_events"][0]
        self.assertEqual(set(ev), EVENT_KEYS)
        self.assertEqual((ev["resource_id"], ev["metric"]), ("pod-web-001", "cpu_usage"))
        self.assertEqual(ev["anomaly_points"], 1)
        self.assertEqual(ev["peak_value"], 150.0)
        # priority = round(0.5*max_score + 0.3*min(1/10,1) + 0.2*min(0/600,1), 3)
        self.assertAlmostEqual(ev["priority"], round(0.5 * ev["max_score"] + 0.03, 3), places=3)

    def test_sorts_grouped_events_by_priority(self):
        quiet = series(200, spike_at=10, resource="a")
        loud = series(200, resource="b")
        for i in range(120, 123):
            loud["data"][i]["value"] = 500.0
        status, body = self.detect({"series": [quiet, loud], "method": "z-score"})
        self.assertEqual(status, 200, body)
        prio = [e["priority"] for e in body["grouped_events"]]
        self.assertEqual(prio, sorted(prio, reverse=True))
        self.assertEqual(body["grouped_events"][0]["resource_id"], "b")

    def test_accepts_any_metric_name_and_naive_timestamps(self):
        s = series(12, spike_at=11, metric="my.custom/metric")
        for p in s["data"]:
            p["timestamp"] = p["timestamp"].rstrip("Z")
        status, body = self.detect({"series": [s], "method": "z-score"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["results"][0]["metric_name"], "my.custom/metric")
        for a in body["results"][0]["anomalies"]:
            self.assertFalse(a["timestamp"].endswith("Z"))

    def test_answers_null_grouped_events_on_a_clean_series(self):
        status, body = self.detect({"series": [series(40)], "method": "z-score"})
        self.assertEqual(status, 200, body)
        self.assertIsNone(body["grouped_events"])
        self.assertEqual(body["results"][0]["anomalies"], [])

    def test_every_method_of_the_contract_detects_the_spike(self):
        names = ["z-score", "moving-average", "isolation-forest", "lof", "prophet", "dtai-auto",
                 "matrix-profile", "auto"]
        for name in names:
            with self.subTest(method=name):
                status, body = self.detect({"series": [series(300, spike_at=250)],
                                            "method": name})
                self.assertEqual(status, 200, body)
                r = body["results"][0]
                self.assertIn("2026-01-01T04:10:00Z",
                              [a["timestamp"] for a in r["anomalies"]], r)
                # lof's batch score averages 6 points, so the points after a spike count too
                self.assertLessEqual(r["anomaly_count"], 20)

    def test_names_no_method_and_gets_isolation_forest(self):
        status, body = self.detect({"series": [series(300, spike_at=250)]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["results"][0]["method_used"], "isolation-forest")

    def test_validation_errors_are_422_with_fastapis_loc(self):
        cases = [
            ({"series": [series(3)]}, ["body", "series", 0, "data"], "too_short"),
            ({"series": [{"resource_id": "a", "metric_name": "m"}]},
             ["body", "series", 0, "data"], "missing"),
            ({"series": [series(20)], "sensitivity": "extreme"}, ["body", "sensitivity"],
             "enum"),
            ({"series": [series(20)] * 11}, ["body", "series"], "too_long"),
            ({"series": []}, ["body", "series"], "too_short"),
        ]
        for body, loc, typ in cases:
            with self.subTest(typ=typ, loc=loc):
                status, answer = self.detect(body)
                self.assertEqual(status, 422, answer)
                found = [(d["loc"], d["type"]) for d in answer["detail"]]
                self.assertIn((loc, typ), found)
                for d in answer["detail"]:
                    self.assertIn("msg", d)
        bad_value = series(20)
        bad_value["data"][4]["value"] = "high"
        status, answer = self.detect({"series": [bad_value], "method": "z-score"})
        self.assertEqual(status, 422)
        self.assertEqual(answer["detail"][0]["loc"], ["body", "series", 0, "data", 4, "value"])

    def test_malformed_json_is_a_4xx_that_says_where(self):
        status, hdrs, data = self.agent.request(
            "POST", "/api/v1/detect", b'{"series": [ {"resource_id": ',
            {"Content-Type": "application/json"})
        self.assertIn(status, (400, 422))
        detail = json.loads(data)["detail"][0]
        self.assertEqual(detail["type"], "json_invalid")
        self.assertEqual(detail["loc"][0], "body")

    def test_unknown_paths_are_404_json(self):
        status, body = self.agent.json("GET", "/api/v2/nothing")
        self.assertEqual((status, body), (404, {"detail": "Not Found"}))

    def test_serves_health_root_and_methods(self):
        status, h = self.agent.json("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(h["status"], "healthy")
        self.assertTrue(h["database_connected"])
        self.assertGreaterEqual(h["uptime_seconds"], 0)
        status, root = self.agent.json("GET", "/")
        self.assertEqual(root["service"], "aiops-agent")
        self.assertEqual(root["version"], h["version"])
        status, m = self.agent.json("GET", "/methods")
        names = {x["name"] for x in m["methods"]}
        self.assertTrue({"z-score", "moving-average", "isolation-forest", "lof", "prophet",
                         "dtai-auto"} <= names)
        for x in m["methods"]:
            self.assertIn(x["category"], ("statistical", "ml", "advanced"))
            self.assertTrue(x["best_for"])

    def test_keeps_a_connection_alive_across_requests(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.agent.port, timeout=10)
        for _ in range(5):
            conn.request("POST", "/api/v1/detect",
                         json.dumps({"series": [series(10)], "method": "z-score"}))
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        sock = conn.sock
        conn.request("GET", "/health")
        self.assertEqual(conn.getresponse().status, 200)
        self.assertIs(conn.sock, sock, "the same TCP connection served every request")
        conn.close()

    def test_answers_pipelined_requests_in_order(self):
        body = json.dumps({"series": [series(10, resource="p")], "method": "z-score"}).encode()
        big = json.dumps({"series": [series(5000, resource="big")],
                          "method": "z-score"}).encode()
        reqs = (b"POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                % (len(big), big) +
                b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
                b"POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body) +
                b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as s:
            s.sendall(reqs)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
        self.assertEqual(statuses, [b"200", b"200", b"200", b"404"])
        self.assertLess(data.index(b'"big"'), data.index(b'"status"'))
        self.assertLess(data.index(b'"status"'), data.index(b'"resource_id":"p"'))

    def test_reads_a_chunked_body(self):
        import http.client
        payload = json.dumps({"series": [series(15, spike_at=14)],
                              "method": "z-score"}).encode()
        chunks = (payload[i:i + 100] for i in range(0, len(payload), 100))
        conn = http.client.HTTPConnection("127.0.0.1", self.agent.port, timeout=10)
        conn.request("POST", "/api/v1/detect", body=chunks, encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["total_anomalies"], 1)
        conn.close()

    def test_garbage_gets_400_and_the_agent_carries_on(self):
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as s:
            s.sendall(b"\x00\x01 NOT HTTP AT ALL\r\n\r\n")
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        self.assertIn(b'{"detail":"malformed HTTP request', data)
        self.assertEqual(self.agent.request("GET", "/health")[0], 200)

    def test_serves_many_clients_at_once_while_a_large_request_runs(self):
        huge = {"series": [series(200000, spike_at=100000)], "method": "moving-average"}
        big_done = {}

        def big():
            big_done["status"] = self.agent.request("POST", "/api/v1/detect", huge)[0]

        t = threading.Thread(target=big)
        t.start()
        body = {"series": [series(10)], "method": "z-score"}

        def small(_):
            t0 = time.monotonic()
            status = self.agent.request("POST", "/api/v1/detect", body)[0]
            return status, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(small, range(200)))
        t.join(60)
        self.assertEqual({s for s, _ in results}, {200})
        self.assertEqual(big_done.get("status"), 200)

    def test_sends_no_cors_headers_by_default(self):
        _, hdrs, _ = self.agent.request("GET", "/health", headers={"Origin": "http://x.test"})
        self.assertNotIn("access-control-allow-origin", hdrs)

    def test_reports_prometheus_metrics(self):
        self.detect({"series": [series(10)], "method": "z-score"})
        status, hdrs, data = self.agent.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        text = data.decode()
        self.assertRegex(text, r'aiops_http_requests_total\{route="/api/v1/detect",code="2xx"\} '
                               r'[1-9]')
        self.assertIn("# TYPE aiops_detect_request_seconds histogram", text)
        self.assertIn("aiops_store_connected 1", text)


class Limits(unittest.TestCase):
    def test_a_body_over_the_limit_gets_413_json(self):
        with Agent(BINARY, "--set", "http.max_body_bytes=2000") as a:
            status, hdrs, data = a.request("POST", "/api/v1/detect",
                                           {"series": [series(100)], "method": "z-score"})
            self.assertEqual(status, 413)
            self.assertIn("larger than the configured limit", json.loads(data)["detail"])
            self.assertEqual(a.request("GET", "/health")[0], 200)

    def test_a_request_trickling_in_gets_408_and_an_idle_connection_is_closed(self):
        with Agent(BINARY, "--set", "http.request_timeout_ms=800",
                   "--set", "http.idle_timeout_ms=600") as a:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", a.port), timeout=10) as slow, \
                    socket.create_connection(("127.0.0.1", a.port), timeout=10) as idle:
                slow.sendall(b"POST /api/v1/detect HTTP/1.1\r\nHost: x\r\n")
                data = b""
                for _ in range(20):  # a header line every 100 ms: active, never complete
                    slow.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.1)
                    try:
                        slow.settimeout(0.01)
                        data += slow.recv(65536)
                    except socket.timeout:
                        continue
                    except ConnectionError:
                        break
                    if data:
                        break
                slow.settimeout(5)
                while not data.endswith(b"}"):
                    more = slow.recv(65536)
                    if not more:
                        break
                    data += more
                self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
                self.assertIn(b'"detail":"the request did not arrive in time"', data)
                self.assertLess(time.monotonic() - started, 1.9, "answered soon after 0.8 s")
                idle.settimeout(5)
                self.assertEqual(idle.recv(1), b"", "the idle connection was closed")
            self.assertEqual(a.request("GET", "/health")[0], 200)

    def test_configured_origins_get_cors_headers(self):
        with Agent(BINARY, "--set", "http.cors_origins=http://dash.test") as a:
            _, hdrs, _ = a.request("GET", "/health", headers={"Origin": "http://dash.test"})
            self.assertEqual(hdrs.get("access-control-allow-origin"), "http://dash.test")
            status, hdrs, _ = a.request("OPTIONS", "/api/v1/detect",
                                        headers={"Origin": "http://dash.test",
                                                 "Access-Control-Request-Method": "POST"})
            self.assertEqual(status, 204)
            self.assertIn("POST", hdrs["access-control-allow-methods"])


class HistoryAndShutdown(unittest.TestCase):
    def test_history_is_in_sqlite_after_sigterm_and_exit_is_0(self):
        a = Agent(BINARY).start()
        try:
            n_ok = 0
            for i in range(25):
                status, _ = a.json("POST", "/api/v1/detect",
                                   {"series": [series(40, spike_at=20, resource=f"r{i}"),
                                               series(40, resource=f"q{i}")],
                                    "method": "z-score", "sensitivity": "high"})
                n_ok += status == 200
            self.assertEqual(n_ok, 25)
            self.assertEqual(a.stop(signal.SIGTERM), 0, a.logs())
            db = sqlite3.connect(a.db)
            rows = db.execute("select count(*), sum(total_points), min(method), "
                              "min(sensitivity) from detection_history").fetchone()
            self.assertEqual(rows, (50, 2000, "z-score", "high"))
            ev = db.execute("select resource_id, metric_name, anomaly_points, peak_value, "
                            "priority from anomaly_events order by resource_id").fetchall()
            self.assertEqual(len(ev), 25)
            self.assertEqual(ev[0][:4], ("r0", "cpu_usage", 1, 150.0))
            db.close()
            self.assertIn("stopped cleanly", a.logs())
        finally:
            a.__exit__(None, None, None)

    def test_sigterm_lets_a_request_in_flight_finish(self):
        a = Agent(BINARY).start()
        try:
            body = json.dumps({"series": [series(50000, spike_at=40000)],
                               "method": "moving-average"}).encode()
            with socket.create_connection(("127.0.0.1", a.port), timeout=20) as s:
                s.sendall(b"POST /api/v1/detect HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
                time.sleep(0.2)
                a.proc.send_signal(signal.SIGTERM)  # half the body is still to come
                time.sleep(0.3)
                self.assertIsNone(a.proc.poll(), "the agent waits for the request")
                s.sendall(body[len(body) // 2:])
                data = b""
                while True:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:200])
            self.assertIn(b"Connection: close", data.split(b"\r\n\r\n")[0])
            answer = json.loads(data.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(answer["results"][0]["total_points"], 50000)
            self.assertEqual(a.proc.wait(15), 0, a.logs())
        finally:
            a.__exit__(None, None, None)

    def test_sigint_stops_an_idle_agent_with_0(self):
        a = Agent(BINARY).start()
        try:
            self.assertEqual(a.stop(signal.SIGINT), 0)
        finally:
            a.__exit__(None, None, None)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
