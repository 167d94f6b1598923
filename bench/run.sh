#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP throughput of the detect API, measured with wrk (2 threads, 16 connections) against the
# real agent with its SQLite history on, for the old service's README example (10 points) and
# a 1,000-point z-score request. Prints requests/s and latency percentiles.
# usage: bench/run.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:-build}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/aiops-bench.XXXXXX)
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/aiops-agent" run --listen "127.0.0.1:$port" --database-url "sqlite:///$work/aiops.db" \
  --log-level warning 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

# With PAUSE_MS, each connection waits that long after an answer before its next request: the
# load then stays near a given rate instead of saturating the two cores, which is how a latency
# target at a throughput target is measured (the printed rate is what the agent served).
run_case() {  # name points method [decimals] [pause_ms]
  python3 "$here/make_request.py" "$2" "$3" ${4:+"$4"} >"$work/body.json"
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
  [ -n "${5:-}" ] && echo "function delay() return $5 end" >>"$work/post.lua"
  curl -fs -o /dev/null -X POST --data-binary "@$work/body.json" "http://127.0.0.1:$port/api/v1/detect"
  wrk -t2 -c16 -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/api/v1/detect" \
    >"$work/wrk.out"
  python3 - "$1" "$work/wrk.out" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{name:<34} {rps:>10.0f} req/s   p50 {lat.get('50')}   p99 {lat.get('99')}"
      f"   non-2xx {errs.group(1) if errs else 0}")
PY
}

echo "detect API, wrk -t2 -c16 -d${secs}s, SQLite history on ($(nproc) cores)"
run_case "README example, 10 points, z-score" 10 z-score
run_case "README example, 10 points, iforest" 10 isolation-forest
run_case "1,000 points, z-score, 2 decimals" 1000 z-score 2
run_case "1,000 points, z-score, 17 digits" 1000 z-score
run_case "1,000 points, moving-average, 2 dec" 1000 moving-average 2
echo "the same with a 3 ms pause between a connection's requests (about 3,500 req/s offered)"
run_case "1,000 points, z-score, 2 dec, paced" 1000 z-score 2 3
run_case "1,000 points, z-score, 17 dig, paced" 1000 z-score "" 3
rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from detection_history').fetchone()[0])" "$work/aiops.db" 2>/dev/null || echo "?")
echo "detection_history rows written during the run: $rows"
