#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Noise reduction on real data: streams every NAB series (../shared/datasets/nab) through a
running agent's POST /api/v1/ingest, one series per file, in order, then reads from /metrics how
many points were anomalous and how many alerts (event versions) were published for them.
usage: bench/noise.py AGENT_BINARY DATASETS_DIR [METHOD] [GROUPING_WINDOW_SECONDS]"""
import csv
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

binary, datasets = sys.argv[1], sys.argv[2]
method = sys.argv[3] if len(sys.argv) > 3 else "auto"
window = sys.argv[4] if len(sys.argv) > 4 else "300"  # events.grouping_window_seconds
work = tempfile.mkdtemp(prefix="aiops-noise.")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
with open(os.path.join(work, "agent.yaml"), "w") as f:
    f.write(f"detection:\n  default: {{methods: [{method}], window: 256}}\n"
            f"events: {{grouping_window_seconds: {window}}}\n")
agent = subprocess.Popen([binary, "run", "--config", os.path.join(work, "agent.yaml"),
                          "--listen", f"127.0.0.1:{port}", "--database-url",
                          f"sqlite:///{work}/aiops.db", "--log-level", "warning"])
base = f"http://127.0.0.1:{port}"


def call(path, body=None):
    req = urllib.request.Request(base + path, data=body,
                                 headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=60).read().decode()


for _ in range(100):
    try:
        call("/health")
        break
    except OSError:
        time.sleep(0.1)
files = sorted(glob.glob(os.path.join(datasets, "**", "*.csv"), recursive=True))
points = 0
for path in files:
    name = os.path.splitext(os.path.basename(path))[0]
    rows = list(csv.DictReader(open(path)))
    for i in range(0, len(rows), 1000):
        batch = [{"resource_id": name, "metric": "value", "timestamp":
                  r["timestamp"].replace(" ", "T") + "Z", "value": float(r["value"])}
                 for r in rows[i:i + 1000]]
        call("/api/v1/ingest", json.dumps(batch).encode())
    points += len(rows)
time.sleep(1.5)  # the sweep resolves the last events by the clock
text = call("/metrics")
agent.send_signal(signal.SIGTERM)
agent.wait(30)


def metric(name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


anomalous = metric("aiops_anomalous_points_total")
published = metric("aiops_alerts_published_total")
opened = metric('aiops_events_total{transition="opened"}')
incidents = metric("aiops_incidents_total")
print(f"{method}, grouping window {window} s: {len(files)} NAB series, {points} points -> {anomalous:.0f} anomalous points -> "
      f"{opened:.0f} events in {incidents:.0f} incidents -> {published:.0f} published alerts "
      f"({anomalous / max(published, 1):.1f} anomalous points per alert)")
