#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a detect request body: the old service's README example (10 points) or N points
(full float precision, or rounded to DECIMALS). usage: make_request.py N [METHOD] [DECIMALS]"""
import json
import math
import sys


def body(points, method, decimals=None):
    if points == 10:
        values = [45.2, 48.1, 46.8, 47.5, 98.5, 46.2, 47.9, 45.8, 46.5, 47.1]
    else:
        values = [50 + 5 * math.sin(i / 10) + (i * 7919 % 13) / 13 for i in range(points)]
        values[points // 2] = 250.0
        if decimals is not None:  # as exporters and scripts that round their readings send them
            values = [round(v, decimals) for v in values]
    data = [{"timestamp": "2025-12-28T%02d:%02d:00" % (i // 60 % 24, i % 60), "value": v}
            for i, v in enumerate(values)]
    return {"series": [{"resource_id": "pod-web-001", "metric_name": "cpu", "data": data}],
            "method": method, "sensitivity": "medium"}


if __name__ == "__main__":
    n = int(sys.argv[1])
    method = sys.argv[2] if len(sys.argv) > 2 else "z-score"
    decimals = int(sys.argv[3]) if len(sys.argv) > 3 else None
    json.dump(body(n, method, decimals), sys.stdout, separators=(",", ":"))
