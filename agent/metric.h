/* SPDX-License-Identifier: MIT */
/* A metric point as the streaming pipeline sees it once a payload is decoded: which series it
 * belongs to (resource x metric x labels), when, and its value. Produced by the payload
 * decoders (transports/payload.h), consumed by the series table. */
#ifndef AIOPS_METRIC_H
#define AIOPS_METRIC_H

#include <stddef.h>
#include <stdint.h>

struct aiops_label {
    const char *key; /* NUL-terminated */
    const char *value;
};

/* Every pointer is borrowed for the duration of the call that hands the point over. */
struct aiops_metric_point {
    const char *resource_id; /* NUL-terminated, non-empty */
    const char *metric;      /* NUL-terminated, non-empty ("cpu.usage_idle" for Telegraf) */
    const struct aiops_label *labels; /* n_labels entries, in the payload's order */
    size_t n_labels;
    int64_t ts_ms; /* ms since the Unix epoch, UTC */
    double value;  /* finite */
};

/* Receives one decoded point. Returns 0, or a negative AIOPS_E* that stops decoding and is
 * returned by the decoder. */
typedef int (*aiops_point_fn)(void *ctx, const struct aiops_metric_point *p);

#endif
