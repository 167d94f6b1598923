#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The NAB backtest: every method's incremental path (aiops-agent replay, one point at a time, no
# look-ahead) over the shared NAB files, scored by ../shared/tools/nab_score.py two ways: the
# threshold swept over the corpus, and the detector's own is_anomaly at medium sensitivity.
# Prints one row per method and profile, plus the replay seconds per method.
# usage: bench/nab.sh BUILD_DIR [METHOD...]   (NAB_DATA / NAB_SCORE override the shared paths)
# NAB_SKIP=N replays every file without its first N rows (labels unchanged): the same anomalies
# met with a different history, to tell a robust change from one that flips a window by luck.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
data=${NAB_DATA:-$here/../shared/datasets/nab}
score=${NAB_SCORE:-$here/../shared/tools/nab_score.py}
skip=${NAB_SKIP:-0}
methods=("$@")
if [ ${#methods[@]} -eq 0 ]; then
  mapfile -t methods < <("$build/aiops-agent" replay --list-methods)
fi
out=$(mktemp -d /tmp/aiops-nab.XXXXXX)
trap 'rm -rf "$out"' EXIT
if [ "$skip" -gt 0 ]; then
  mkdir -p "$out/data"
  cp -r "$data/labels" "$data/config" "$out/data/"
  (cd "$data/data" && find . -name '*.csv') | while read -r f; do
    mkdir -p "$out/data/data/$(dirname "$f")"
    sed "2,$((skip + 1))d" "$data/data/$f" > "$out/data/data/$f"
  done
  data=$out/data
fi

printf '%-18s %-20s %8s %8s %9s\n' method profile swept own replay_s
for m in "${methods[@]}"; do
  start=$(date +%s.%N)
  (cd "$data/data" && find . -name '*.csv' | sort) | while read -r f; do
    mkdir -p "$out/$m/$(dirname "$f")"
    echo "$f"
  done | xargs -P "$(nproc)" -I{} sh -c \
    '"$0" replay --method "$1" --sensitivity medium "$2/data/{}" > "$3/{}"' \
    "$build/aiops-agent" "$m" "$data" "$out/$m"
  secs=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
  swept=$(python3 "$score" --data "$data" --results "$out/$m" --profile all --json)
  own=$(python3 "$score" --data "$data" --results "$out/$m" --profile all --json \
        --score-column is_anomaly --threshold 0.5)
  python3 - "$m" "$secs" "$swept" "$own" <<'PY'
import json, sys
m, secs, swept, own = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
def scores(j):
    prof = j.get("profiles", j)
    return {p: (v["score"] if isinstance(v, dict) else v) for p, v in prof.items()}
s, o = scores(swept), scores(own)
for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
    print(f"{m:<18} {p:<20} {s.get(p, float('nan')):8.1f} {o.get(p, float('nan')):8.1f} {secs:9.2f}")
PY
done
