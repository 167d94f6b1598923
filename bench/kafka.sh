#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Streaming throughput and publish latency through Kafka (librdkafka's mock cluster in its own
# process, on loopback). Points are pre-produced as msgpack batches of 1,000; the agent then
# consumes them (decode -> ring -> detection -> events) and the rate is read from its own
# /metrics counters, from the first point decoded to the last. Then the publish latency: spikes
# produced one at a time, each timed until its alert is read back from the alerts topic.
# usage: bench/kafka.sh BUILD_DIR [METHOD] [SERIES] [POINTS_PER_SERIES]
set -euo pipefail
build=${1:-build}
method=${2:-z-score}
series=${3:-10000}
per_series=${4:-300}
work=$(mktemp -d /tmp/aiops-bench-kafka.XXXXXX)
mock_pid='' agent_pid=''
cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill -TERM "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# 128 partitions keep each under the mock's 5 MiB retention for a few million points.
"$build/mockkafka" 1 metrics:128 aiops.alerts:1 latency:1 >"$work/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 200); do grep -q '^BOOTSTRAP=' "$work/mock.out" && break; sleep 0.05; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
total=$((series * per_series))
"$build/bench_kafka_load" produce "$bs" metrics "$series" "$per_series"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/agent.yaml" <<YAML
detection:
  default: {methods: [$method], window: 256}
  rules: [{match: "probe.*", methods: [z-score]}]
streaming: {max_series: $((series + 1000))}
sources:
  - type: kafka
    brokers: "$bs"
    topics: [metrics, latency]
    group: bench
    # The mock broker answers an empty fetch only after fetch.wait.max.ms, even when data
    # arrives meanwhile (a real broker answers at once): 5 ms instead of 500 here.
    properties: {session.timeout.ms: 6000, heartbeat.interval.ms: 500, fetch.wait.max.ms: 5}
sinks:
  - {type: kafka, brokers: "$bs", topic: aiops.alerts}
YAML
"$build/aiops-agent" run --config "$work/agent.yaml" --listen "127.0.0.1:$port" \
  --database-url "sqlite:///$work/aiops.db" --log-level warning 2>"$work/agent.log" &
agent_pid=$!
python3 - "$port" "$total" "$method" "$series" <<'PY'
import re, sys, time, urllib.request
port, total, method, series = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def decoded():
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return 0, None
    m = re.search(r'^aiops_points_decoded_total\{source="kafka\[0\]"\} (\d+)', text, re.M)
    return (int(m.group(1)) if m else 0), text
first = last = None
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    n, _ = decoded()
    now = time.monotonic()
    if n > 0 and first is None:
        first = (now, n)
    if n >= total:
        last = (now, n)
        break
    time.sleep(0.02)
if last is None:
    sys.exit(f"only {n} of {total} points decoded within 300 s")
secs = last[0] - first[0]
pts = last[1] - first[1]
if secs < 2:
    sys.exit(f"too few points to time ({pts} in {secs:.2f} s): raise SERIES x POINTS")
print(f"kafka -> agent, {method}, {series} series: {pts / secs:,.0f} points/s "
      f"({pts} points in {secs:.2f} s, after the first poll that saw points)")
PY
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
echo "agent RSS after $series series: $((rss_kib / 1024)) MiB"
# Publish latency in steady state (after the backlog): spikes one at a time, timed by the
# client end to end, and by the agent from each message's arrival to the broker's ack of its
# alert (the difference of its histogram across this phase).
curl -fs "http://127.0.0.1:$port/metrics" >"$work/before.txt"
"$build/bench_kafka_load" latency "$bs" latency aiops.alerts 200
curl -fs "http://127.0.0.1:$port/metrics" >"$work/after.txt"
python3 - "$work/before.txt" "$work/after.txt" <<'PY'
import re, sys
def hist(path):
    text = open(path).read()
    b = {float(le): int(n) for le, n in re.findall(
        r'^aiops_publish_latency_seconds_bucket\{le="([0-9.e+-]+)"\} (\d+)', text, re.M)}
    return b, int(re.search(r"^aiops_publish_latency_seconds_count (\d+)", text, re.M).group(1))
(b0, c0), (b1, c1) = hist(sys.argv[1]), hist(sys.argv[2])
total = c1 - c0
cum = sorted((le, b1[le] - b0.get(le, 0)) for le in b1)
q = lambda f: next((le for le, n in cum if n >= f * total), float("inf"))
print(f"publish latency inside the agent over {total} alerts (arrival -> broker ack): "
      f"p50 <= {q(0.5) * 1e3:g} ms, p99 <= {q(0.99) * 1e3:g} ms (histogram bucket bounds)")
PY
