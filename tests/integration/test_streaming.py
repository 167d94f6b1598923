# SPDX-License-Identifier: MIT
"""The streaming agent with no broker: points ingested over HTTP are scored per series, grouped
into events and incidents, readable through the API and /metrics, stored in SQLite, and
checkpointed so a restarted agent detects at once.
usage: python3 test_streaming.py path/to/aiops-agent"""
import json
import os
import random
import re
import sqlite3
import sys
import unittest

from agent import Agent

BINARY = None
T0 = 1767225600  # 2026-01-01T00:00:00Z

CONFIG = """
detection:
  default: {methods: [z-score], sensitivity: medium, window: 64}
  rules:
    - {match: "lat*", methods: [prophet], window: 512}
events: {grouping_window_seconds: 120}
streaming: {checkpoint_seconds: 1}
"""


def points(resource, metric, start, n, spike_at=(), base=50.0, labels=None):
    out = []
    for i in range(start, start + n):
        v = base + ((i * 7919) % 13) / 13.0
        if i in spike_at:
            v = base * 4
        p = {"resource_id": resource, "metric": metric, "timestamp": T0 + i * 10, "value": v}
        if labels:
            p["labels"] = labels
        out.append(p)
    return out


def metric_value(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    m = re.search(r"^" + pat + r"$", text, re.M)
    return float(m.group(1)) if m else None


class AgentCase(unittest.TestCase):
    """Runs the agent with `config` for each test."""
    config_text = CONFIG

    def setUp(self):
        self.agent = Agent(BINARY)
        self.config = os.path.join(self.agent.dir, "agent.yaml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.agent.flags = ["--config", self.config]
        self.agent.start()

    def tearDown(self):
        self.agent.__exit__(None, None, None)

    def ingest(self, body):
        return self.agent.json("POST", "/api/v1/ingest", body)

    def metrics(self):
        return self.agent.request("GET", "/metrics")[2].decode()


class Streaming(AgentCase):

    def test_a_spike_becomes_one_open_event_visible_everywhere(self):
        status, body = self.ingest(points("web-1", "cpu", 0, 60, spike_at={50}))
        self.assertEqual((status, body), (200, {"accepted": 60}))
        status, body = self.agent.json("GET", "/api/v1/series")
        self.assertEqual(status, 200)
        self.assertEqual(body["total"], 1)
        s = body["series"][0]
        self.assertEqual((s["resource_id"], s["metric"], s["points"], s["anomalies"]),
                         ("web-1", "cpu", 60, 1))
        self.assertEqual(s["methods"], ["z-score"])
        self.assertIsNotNone(s["open_event"])
        status, body = self.agent.json("GET", "/api/v1/series/web-1/cpu")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["data"]), 60)
        flagged = [p for p in body["data"] if p["is_anomaly"]]
        self.assertEqual(len(flagged), 1)
        self.assertEqual(flagged[0]["timestamp"], "2026-01-01T00:08:20Z")
        self.assertEqual(flagged[0]["value"], 200.0)
        status, body = self.agent.json("GET", "/api/v1/events?status=open")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["events"]), 1)
        ev = body["events"][0]
        self.assertEqual((ev["resource_id"], ev["metric"], ev["status"], ev["anomaly_points"]),
                         ("web-1", "cpu", "open", 1))
        self.assertEqual(ev["peak_value"], 200.0)
        self.assertIn(ev["severity"], ("critical", "major", "minor", "warning"))
        self.assertEqual(ev["method"], "z-score")
        self.assertIn("standard deviations", ev["reason"])
        status, body = self.agent.json("GET", "/api/v1/incidents")
        self.assertEqual(body["incidents"][0]["id"], ev["incident_id"])
        m = self.metrics()
        self.assertEqual(metric_value(m, "aiops_points_decoded_total", source="http"), 60)
        self.assertEqual(metric_value(m, "aiops_events_total", transition="opened"), 1)
        self.assertEqual(metric_value(m, "aiops_series"), 1)
        self.assertEqual(self.agent.request("GET", "/ready")[0], 200)

    def test_quiet_points_past_the_window_resolve_the_event_and_sqlite_has_one_row(self):
        self.ingest(points("web-1", "cpu", 0, 60, spike_at={50}))
        self.ingest(points("web-1", "cpu", 60, 20))  # 200 s of quiet > 120 s window
        status, body = self.agent.json("GET", "/api/v1/events")
        self.assertEqual([e["status"] for e in body["events"]], ["resolved"])
        ev_id = body["events"][0]["id"]
        self.assertEqual(self.agent.stop(), 0)
        db = sqlite3.connect(self.agent.db)
        rows = db.execute("SELECT id, status, anomaly_points FROM events").fetchall()
        db.close()
        self.assertEqual(rows, [(ev_id, "resolved", 1)])

    def test_labels_and_resources_group_into_incidents(self):
        self.ingest(points("web-1", "cpu", 0, 60, spike_at={50}) +
                    points("web-1", "mem", 0, 60, spike_at={51}) +
                    points("web-2", "cpu", 0, 60, spike_at={50}))
        status, body = self.agent.json("GET", "/api/v1/events")
        self.assertEqual(len(body["events"]), 3)
        by_key = {(e["resource_id"], e["metric"]): e["incident_id"] for e in body["events"]}
        self.assertEqual(by_key[("web-1", "cpu")], by_key[("web-1", "mem")])
        self.assertNotEqual(by_key[("web-1", "cpu")], by_key[("web-2", "cpu")])
        status, body = self.agent.json("GET", "/api/v1/events?resource=web-2")
        self.assertEqual([e["resource_id"] for e in body["events"]], ["web-2"])

    def test_malformed_bodies_get_a_clear_400_and_lose_nothing_else(self):
        status, body = self.agent.json("POST", "/api/v1/ingest", '{"resource_id": "x", ')
        self.assertEqual(status, 400)
        self.assertEqual(body["reason"], "syntax")
        self.assertTrue(body["detail"])
        status, body = self.ingest([{"resource_id": "a", "metric": "m", "timestamp": T0,
                                     "value": 1}, {"resource_id": "a", "timestamp": T0 + 1,
                                                   "value": 2}])
        self.assertEqual(status, 400)
        self.assertEqual(body["reason"], "schema")
        self.assertIn("metric", body["detail"])
        status, body = self.ingest(points("web-1", "cpu", 0, 5))
        self.assertEqual((status, body), (200, {"accepted": 5}))
        m = self.metrics()
        self.assertEqual(metric_value(m, "aiops_points_rejected_total", source="http",
                                      reason="syntax"), 1)
        self.assertEqual(metric_value(m, "aiops_points_rejected_total", source="http",
                                      reason="schema"), 1)
        self.assertEqual(metric_value(m, "aiops_points_decoded_total", source="http"), 5)

    def test_late_and_repeated_points_are_counted_not_scored(self):
        self.ingest(points("web-1", "cpu", 10, 5))
        # The last point again (repeated), then ten older ones (late).
        status, body = self.ingest(points("web-1", "cpu", 14, 1) + points("web-1", "cpu", 0, 10))
        self.assertEqual((status, body), (200, {"accepted": 0}))
        m = self.metrics()
        self.assertEqual(metric_value(m, "aiops_points_rejected_total", source="http",
                                      reason="out_of_order"), 10)
        self.assertEqual(metric_value(m, "aiops_points_rejected_total", source="http",
                                      reason="duplicate"), 1)

    def test_influx_line_protocol_and_telegraf_json_are_taken_too(self):
        lines = "\n".join(f"disk,host=db-1,path=/ used_percent={40 + i % 3} {(T0 + i) * 10**9}"
                          for i in range(20))
        status, body = self.agent.json("POST", "/api/v1/ingest", lines)
        self.assertEqual((status, body), (200, {"accepted": 20}))
        telegraf = {"metrics": [{"name": "mem", "tags": {"host": "db-1"},
                                 "fields": {"used": 10 + i, "free": 90 - i}, "timestamp": T0 + i}
                                for i in range(10)]}
        status, body = self.ingest(telegraf)
        self.assertEqual((status, body), (200, {"accepted": 20}))
        status, body = self.agent.json("GET", "/api/v1/series?q=db-1")
        self.assertEqual(sorted(s["metric"] for s in body["series"]),
                         ["disk.used_percent", "mem.free", "mem.used"])

    def test_a_restarted_agent_restores_its_series_and_detects_without_warm_up(self):
        self.ingest(points("web-1", "cpu", 0, 60))
        self.assertEqual(self.agent.stop(), 0)
        self.agent.start()
        m = self.metrics()
        self.assertEqual(metric_value(m, "aiops_series_restored_total"), 1)
        # The very next point is a spike: a fresh z-score would need points to warm up first.
        status, body = self.ingest(points("web-1", "cpu", 60, 1, spike_at={60}))
        self.assertEqual((status, body), (200, {"accepted": 1}))
        status, body = self.agent.json("GET", "/api/v1/series/web-1/cpu")
        self.assertEqual(len(body["data"]), 61)
        self.assertTrue(body["data"][-1]["is_anomaly"])

    def test_a_forecasted_series_carries_its_expected_band(self):
        import math
        pts = [{"resource_id": "api-1", "metric": "latency_ms", "timestamp": T0 + i * 900,
                "value": 100 + 20 * math.sin(2 * math.pi * i / 96) + (i * 7919 % 13) / 13}
               for i in range(400)]
        self.assertEqual(self.ingest(pts), (200, {"accepted": 400}))
        status, body = self.agent.json("GET", "/api/v1/series/api-1/latency_ms")
        self.assertEqual(body["methods"], ["prophet"])
        last = body["data"][-1]
        self.assertLess(last["lower"], last["expected"])
        self.assertLess(last["expected"], last["upper"])
        self.assertLess(abs(last["expected"] - last["value"]), 10)
        self.ingest(points("web-1", "cpu", 0, 20))
        status, body = self.agent.json("GET", "/api/v1/series/web-1/cpu")
        self.assertNotIn("lower", body["data"][-1], "z-score series keep no band")

    def test_the_store_answers_event_history_after_a_restart(self):
        self.ingest(points("web-1", "cpu", 0, 60, spike_at={50}))
        self.ingest(points("web-1", "cpu", 60, 20))  # resolves it
        status, body = self.agent.json("GET", "/api/v1/events?status=resolved")
        self.assertEqual(len(body["events"]), 1)
        live = body["events"][0]
        self.assertEqual(self.agent.stop(), 0)
        self.agent.start()
        status, body = self.agent.json("GET", "/api/v1/events?source=store")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["events"]), 1)
        ev = body["events"][0]
        self.assertEqual(set(ev), set(live))  # the same shape as the live answer
        for key in ("id", "resource_id", "metric", "status", "start_time", "end_time",
                    "anomaly_points", "peak_value", "severity", "method", "reason", "labels",
                    "incident_id", "version"):
            self.assertEqual(ev[key], live[key], key)
        self.assertEqual(ev["status"], "resolved")
        self.assertLess(live["priority"], 1)
        for query, want in (("resource=web-1", 1), ("resource=nobody", 0), ("status=open", 0),
                            ("status=resolved", 1), ("min_priority=0", 1), ("min_priority=1", 0),
                            ("since=2026-01-02T00:00:00Z", 0), (f"since={T0}", 1),
                            ("limit=1", 1)):
            status, body = self.agent.json("GET", f"/api/v1/events?source=store&{query}")
            self.assertEqual((status, len(body["events"])), (200, want), query)
        status, body = self.agent.json("GET", "/api/v1/events?source=memory&status=open")
        self.assertEqual((status, body), (200, {"events": []}))
        status, body = self.agent.json("GET", "/api/v1/events?source=disk")
        self.assertEqual(status, 422)
        self.assertEqual(body["detail"][0]["loc"], ["query", "source"])
        status, body = self.agent.json("GET", "/api/v1/events?source=store&status=sleeping")
        self.assertEqual(status, 422)

    def test_series_api_errors_say_what_is_wrong(self):
        status, body = self.agent.json("GET", "/api/v1/series/nobody/cpu")
        self.assertEqual(status, 404)
        status, body = self.agent.json("GET", "/api/v1/events?status=sleeping")
        self.assertEqual(status, 422)
        self.assertEqual(body["detail"][0]["loc"], ["query", "status"])
        status, body = self.agent.json("GET", "/api/v1/series?limit=0")
        self.assertEqual(status, 422)
        status, _, _ = self.agent.request("GET", "/api/v1/ingest")
        self.assertEqual(status, 405)


class Grouping(AgentCase):
    """The default window (256 points) and grouping (300 s) on a sustained anomaly."""
    config_text = "detection:\n  default: {methods: [z-score]}\n"

    def test_a_sustained_anomaly_is_one_event_that_spans_it(self):
        # Ten minutes of CPU saturation at 10 s resolution (60 points) after 50 min of normal.
        pts = points("web-1", "cpu", 0, 460)
        for p in pts[300:360]:
            p["value"] = 95 + (p["timestamp"] * 31 % 7) / 7
        self.assertEqual(self.ingest(pts), (200, {"accepted": 460}))
        m = self.metrics()
        # z-score alerts once per excursion, then holds while the saturation goes on ...
        self.assertEqual(metric_value(m, "aiops_anomalous_points_total"), 1)
        self.assertEqual(metric_value(m, "aiops_events_total", transition="opened"), 1)
        self.assertLessEqual(metric_value(m, "aiops_alerts_published_total"), 6,
                             "open, a few priority rises, resolved")
        # ... and the held points keep the event open for as long as the window still finds the
        # saturation abnormal (about 25 points, until it has absorbed it), not for one point.
        status, body = self.agent.json("GET", "/api/v1/events?source=memory")
        self.assertEqual(status, 200)
        (event,) = body["events"]
        self.assertTrue(event["start_time"].startswith("2026-01-01T00:50:00"), event)
        self.assertGreaterEqual(event["duration_seconds"], 200)
        self.assertLessEqual(event["duration_seconds"], 600)


class Flatline(AgentCase):
    """auto, the streaming default, on a metric that gets stuck at a value it has had before."""
    config_text = "detection:\n  default: {methods: [auto]}\n"

    def test_a_stuck_metric_is_one_event_that_says_so_and_lasts_while_it_is_stuck(self):
        # 400 points of noise, then 100 at its last value. (Noise, not points()' sawtooth: a
        # series that repeats exactly every 13 points makes any change in it a discord, and the
        # matrix profile then sees the run a few points before the flatline check does.)
        rng = random.Random(7)
        pts = points("db-1", "writes", 0, 500)
        for p in pts[:400]:
            p["value"] = round(50 + rng.random(), 3)
        for p in pts[400:]:
            p["value"] = pts[399]["value"]
        self.assertEqual(self.ingest(pts), (200, {"accepted": 500}))
        m = self.metrics()
        self.assertEqual(metric_value(m, "aiops_anomalous_points_total"), 1)
        self.assertEqual(metric_value(m, "aiops_events_total", transition="opened"), 1)
        status, body = self.agent.json("GET", "/api/v1/events?status=open")
        self.assertEqual(status, 200)
        (event,) = body["events"]
        self.assertEqual(event["method"], "auto")
        # The run began at point 399, so its 12th point, medium's minimum, is point 410.
        self.assertTrue(event["start_time"].startswith("2026-01-01T01:08:20"), event)
        self.assertIn("has not changed for 12 points", event["reason"])
        # Held while stuck: the event spans the run (grouping window 300 s).
        self.assertGreaterEqual(event["duration_seconds"], 800)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
