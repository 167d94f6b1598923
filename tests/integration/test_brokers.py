# SPDX-License-Identifier: MIT
"""End to end with real parts: points published to Mosquitto (mosquitto_pub) and to Kafka (kcat,
librdkafka's mock cluster in its own process) come out as events on the MQTT alert topics
(mosquitto_sub), the Kafka alerts topic (kcat) and in a real PostgreSQL server (psql). Faults:
Mosquitto restarted mid-stream, PostgreSQL stopped for 10 s, the agent killed with SIGKILL, and
malformed messages among good ones.
usage: python3 test_brokers.py path/to/aiops-agent   (mockkafka sits next to it)"""
import json
import os
import signal
import sys
import time
import unittest

from agent import Agent
from services import MockKafka, Mosquitto, Postgres, wait_until

BINARY = None
MOCKKAFKA = None
T0 = 1767225600  # 2026-01-01T00:00:00Z

KAFKA_PROPS = """    properties:
      session.timeout.ms: 6000
      heartbeat.interval.ms: 500"""


def points(resource, metric, start, n, spike_at=(), base=50.0):
    out = []
    for i in range(start, start + n):
        v = base + ((i * 7919) % 13) / 13.0
        if i in spike_at:
            v = base * 4
        out.append({"resource_id": resource, "metric": metric, "timestamp": T0 + i * 10,
                    "value": v})
    return out


def agent_with(config, database_url=None):
    a = Agent(BINARY)
    path = os.path.join(a.dir, "agent.yaml")
    with open(path, "w") as f:
        f.write(config)
    a.flags = ["--config", path]
    if database_url:
        a.flags += ["--database-url", database_url]
        # Agent passes its own sqlite URL first; a later flag wins.
    return a


def events_of(agent):
    status, body = agent.json("GET", "/api/v1/events?limit=10000")
    assert status == 200, body
    return body["events"]


class Mqtt(unittest.TestCase):
    def setUp(self):
        self.broker = Mosquitto().start()
        url = f"mqtt://127.0.0.1:{self.broker.port}"
        self.agent = agent_with(f"""
detection:
  default: {{methods: [z-score], window: 64}}
events: {{grouping_window_seconds: 120}}
sources:
  - {{type: mqtt, url: "{url}", topics: ["metrics/#"], qos: 1}}
sinks:
  - {{type: mqtt, url: "{url}", topic: "aiops/alerts/{{resource_id}}/{{metric}}"}}
""").start()
        wait_until(lambda: self.agent.request("GET", "/ready")[0] == 200, what="agent ready")

    def tearDown(self):
        self.agent.__exit__(None, None, None)
        self.broker.close()

    def test_points_published_to_mqtt_come_out_as_alerts_on_mqtt(self):
        sub = self.broker.subscribe("aiops/alerts/#", 2)
        time.sleep(0.3)
        for p in points("web-1", "cpu", 0, 60, spike_at={50}) + points("web-1", "cpu", 60, 20):
            self.broker.publish("metrics/web-1/cpu", json.dumps(p).encode())
        out, _ = sub.communicate(timeout=30)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        topics = [line.split(" ", 1)[0] for line in lines]
        alerts = [json.loads(line.split(" ", 1)[1]) for line in lines]
        self.assertEqual(topics, ["aiops/alerts/web-1/cpu"] * 2)
        self.assertEqual([a["status"] for a in alerts], ["open", "resolved"])
        self.assertEqual(alerts[0]["id"], alerts[1]["id"])
        self.assertEqual(alerts[1]["peak_value"], 200.0)

    def test_malformed_messages_are_counted_and_the_rest_still_flows(self):
        for i, p in enumerate(points("web-1", "cpu", 0, 40)):
            self.broker.publish("metrics/x", json.dumps(p).encode())
            if i % 10 == 0:
                self.broker.publish("metrics/x", b'{"resource_id": ')
                self.broker.publish("metrics/x", b"\x00\x01garbage")
        wait_until(lambda: any(s["points"] == 40 for s in
                               self.agent.json("GET", "/api/v1/series")[1]["series"]),
                   what="40 points")
        metrics = self.agent.request("GET", "/metrics")[2].decode()
        self.assertIn('aiops_points_rejected_total{source="mqtt[0]",reason="syntax"} 4', metrics)
        self.assertIn('reason="unknown_format"} 4', metrics)

    def test_a_broker_restart_mid_stream_loses_no_alert(self):
        # A durable subscriber: the alert the agent sends the moment it reconnects is queued
        # for it, however the agent's reconnect and the subscriber's start are ordered.
        self.broker.subscribe_durably("aiops/alerts/#", "alerts-reader")
        for p in points("web-1", "cpu", 0, 50):
            self.broker.publish("metrics/web-1/cpu", json.dumps(p).encode())
        # The agent's session is clean: what the broker has not delivered when it stops is gone.
        wait_until(lambda: any(s["points"] == 50 for s in
                               self.agent.json("GET", "/api/v1/series")[1]["series"]),
                   what="50 points before the restart")
        self.broker.stop()
        wait_until(lambda: self.agent.request("GET", "/ready")[0] == 503, what="not ready")
        # While the broker is down, a spike arrives over HTTP: its alert waits in the sink.
        self.agent.json("POST", "/api/v1/ingest", points("web-1", "cpu", 50, 1, spike_at={50}))
        self.broker.start()  # same port, same persisted sessions
        sub = self.broker.subscribe("aiops/alerts/#", 1, client_id="alerts-reader")
        wait_until(lambda: self.agent.request("GET", "/ready")[0] == 200, timeout=20,
                   what="ready again")
        out, _ = sub.communicate(timeout=30)
        alert = json.loads(out.split(" ", 1)[1])
        self.assertEqual((alert["status"], alert["peak_value"]), ("open", 200.0))
        # And the source resubscribed: points flow in again.
        for p in points("web-1", "cpu", 51, 5):
            self.broker.publish("metrics/web-1/cpu", json.dumps(p).encode())
        wait_until(lambda: self.agent.json("GET", "/api/v1/series")[1]["series"][0]["points"]
                   == 56, what="points after the restart")


class Kafka(unittest.TestCase):
    def setUp(self):
        self.kafka = MockKafka(MOCKKAFKA)
        self.config = f"""
detection:
  default: {{methods: [z-score], window: 64}}
events: {{grouping_window_seconds: 120}}
streaming: {{checkpoint_seconds: 1}}
sources:
  - type: kafka
    brokers: "{self.kafka.bootstrap}"
    topics: [metrics]
    group: aiops-agent
    dead_letter_topic: metrics.dead
{KAFKA_PROPS}
sinks:
  - {{type: kafka, brokers: "{self.kafka.bootstrap}", topic: aiops.alerts}}
"""
        self.agent = agent_with(self.config).start()

    def tearDown(self):
        self.agent.__exit__(None, None, None)
        self.kafka.close()

    def produce(self, pts, bad=()):
        msgs = [f"{p['resource_id']}|{json.dumps(p)}".encode() for p in pts]
        for i in bad:
            msgs.insert(i, b"web-1|{not json")
        self.kafka.produce("metrics", msgs, key_sep="|")

    def test_points_from_kafka_come_out_as_keyed_alerts_on_kafka(self):
        self.produce(points("web-1", "cpu", 0, 60, spike_at={50}) + points("web-1", "cpu", 60, 20),
                     bad=(5, 30))
        alerts = self.kafka.consume("aiops.alerts", 2)
        self.assertEqual(len(alerts), 2, alerts)
        self.assertEqual([k for k, _ in alerts], ["web-1", "web-1"])
        bodies = [json.loads(v) for _, v in alerts]
        self.assertEqual([b["status"] for b in bodies], ["open", "resolved"])
        dead = self.kafka.consume("metrics.dead", 2)
        self.assertEqual([v for _, v in dead], ["{not json"] * 2)

    def test_a_killed_agent_loses_no_event_after_restart(self):
        self.produce(points("web-1", "cpu", 0, 40))
        wait_until(lambda: self.agent.json("GET", "/api/v1/series")[1]["total"] == 1,
                   timeout=30, what="first points")
        time.sleep(1.5)  # a checkpoint and a commit
        self.agent.proc.send_signal(signal.SIGKILL)
        self.agent.proc.wait()
        # Produced while the agent is dead: a spike, then quiet that resolves it.
        self.produce(points("web-1", "cpu", 40, 10, spike_at={45}) + points("web-1", "cpu", 50, 20))
        self.agent.start()
        alerts = [json.loads(v) for _, v in self.kafka.consume("aiops.alerts", 2, timeout=60)]
        self.assertEqual([a["status"] for a in alerts], ["open", "resolved"])
        self.assertEqual(alerts[0]["end_time"], "2026-01-01T00:07:30Z")


class Storage(unittest.TestCase):
    def setUp(self):
        self.pg = Postgres().start()
        self.pg.createdb()
        self.agent = agent_with("""
detection:
  default: {methods: [z-score], window: 64}
events: {grouping_window_seconds: 30}
""", database_url=self.pg.url())
        self.agent.start()

    def tearDown(self):
        self.agent.__exit__(None, None, None)
        self.pg.close()

    def test_events_land_in_postgresql_once_each_even_across_an_outage(self):
        # Ten series, each with one spike: ten events, each opened then resolved.
        for r in range(5):
            self.agent.json("POST", "/api/v1/ingest",
                            points(f"web-{r}", "cpu", 0, 60, spike_at={50}))
        self.pg.stop()
        t_down = time.monotonic()
        for r in range(5, 10):
            self.agent.json("POST", "/api/v1/ingest",
                            points(f"web-{r}", "cpu", 0, 60, spike_at={50}))
        for r in range(10):
            self.agent.json("POST", "/api/v1/ingest", points(f"web-{r}", "cpu", 60, 10))
        time.sleep(max(0.0, 10 - (time.monotonic() - t_down)))
        self.pg.start()
        expected = {e["id"]: e for e in events_of(self.agent)}
        self.assertEqual(len(expected), 10)
        rows = wait_until(lambda: (lambda r: r if len(r) == 10 and all(x[1] == "resolved" for x in r)
                                   else None)(self.pg.query("SELECT id, status FROM events")),
                          timeout=30, what="ten resolved events in PostgreSQL")
        self.assertEqual(sorted(r[0] for r in rows), sorted(expected))
        self.assertEqual(self.agent.stop(), 0)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    MOCKKAFKA = os.path.join(os.path.dirname(BINARY), "mockkafka")
    unittest.main(verbosity=2)
