/* SPDX-License-Identifier: MIT */
/* The series table of the streaming agent: one entry per series (resource x metric x labels),
 * holding a compact ring of its recent points with their scores and the incremental state of
 * the detectors its rule chose. Bounded: past max_series the series idle longest is evicted.
 * Owned by the loop thread. */
#ifndef AIOPS_SERIES_H
#define AIOPS_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "agent/metric.h"
#include "detectors/detector.h"

struct aiops_config;
struct aiops_tracked_event;

#define AIOPS_SERIES_MAX_DETECTORS 4
#define AIOPS_SERIES_MAX_LABELS    16
#define AIOPS_SERIES_KEY_MAX       1024 /* bytes of resource + metric + labels */

/* One point as the ring keeps it (9 bytes in three arrays): ms offset from the ring's base,
 * the value as a float (7 significant digits: enough for charts; detectors saw the double)
 * and the score in 1/127 steps with the anomaly flag in the top bit. */
struct aiops_series_sample {
    int64_t ts_ms;
    double value;
    double score;
    bool is_anomaly;
    double expected, lower, upper; /* the forecaster's band; NAN when the series keeps none */
};

struct aiops_series {
    UT_hash_handle hh;                          /* keyed by key */
    struct aiops_series *idle_prev, *idle_next; /* least recently updated first */
    const char *key;         /* resource \x1f metric [\x1f label \x1e value]... */
    const char *resource_id; /* NUL-terminated parts of the key's copy */
    const char *metric;
    const char *labels_json;    /* {"k":"v"} */
    struct aiops_label *labels; /* n_labels, in the series' own block; sorted by key */
    size_t n_labels;
    struct aiops_detector *detectors[AIOPS_SERIES_MAX_DETECTORS];
    size_t n_detectors;
    /* The ring. */
    int64_t base_ms;
    uint32_t *ts_off;
    float *values;
    uint8_t *scores;
    float *expected, *lower, *upper; /* cap each, only for series a forecaster (prophet, auto)
                                      * scores: the band the dashboard draws; NULL otherwise */
    uint32_t cap, head, count;
    int64_t last_ts_ms;    /* newest point accepted; older or equal ones are refused */
    uint64_t last_seen_ms; /* monotonic ms (uv_now) of the last point */
    uint64_t points, anomalies;
    bool dirty;                        /* changed since its last checkpoint */
    struct aiops_tracked_event *event; /* its open event, or NULL (agent/events.c) */
};

struct aiops_series_stats {
    uint64_t created, evicted_idle, evicted_full, restored;
    uint64_t out_of_order, duplicates; /* points refused by the timestamp policy */
};

struct aiops_series_table {
    struct aiops_series *by_key; /* uthash head */
    struct aiops_series *idle_head, *idle_tail;
    size_t count;
    const struct aiops_config *cfg; /* borrowed */
    struct aiops_series_stats stats;
};

void aiops_series_table_init(struct aiops_series_table *t, const struct aiops_config *cfg);
/* Frees every series. Open events must have been released by their tracker first. */
void aiops_series_table_fini(struct aiops_series_table *t);

/* Writes the series key of p into buf. Returns its length, or AIOPS_E2BIG when it does not fit
 * or p has more than AIOPS_SERIES_MAX_LABELS labels. */
int aiops_series_key(const struct aiops_metric_point *p, char *buf, size_t len);
/* The series of key, or NULL. */
struct aiops_series *aiops_series_find(struct aiops_series_table *t, const char *key, size_t len);
/* Creates the series of p (key already computed) with the detectors of the first rule whose
 * glob matches its metric (or the defaults). When the table is full the series idle longest is
 * evicted first, through on_evict. Returns 0 or AIOPS_ENOMEM/AIOPS_EINVAL. */
int aiops_series_create(struct aiops_series_table *t, const struct aiops_metric_point *p,
                        const char *key, size_t key_len, struct aiops_series **out,
                        void (*on_evict)(void *ctx, struct aiops_series *s), void *ctx);
/* Removes and frees s. */
void aiops_series_remove(struct aiops_series_table *t, struct aiops_series *s);
/* Marks s as the most recently updated. */
void aiops_series_touch(struct aiops_series_table *t, struct aiops_series *s, uint64_t now_ms);

/* Runs every detector of s on the point, records it in the ring and returns the combined
 * verdict (the highest score; anomalous when any detector says so) and which detector gave it.
 * The caller has checked ts_ms > s->last_ts_ms. */
void aiops_series_update(struct aiops_series *s, int64_t ts_ms, double value,
                         struct aiops_verdict *out, size_t *which);
/* The i-th sample of the ring, oldest first (i < s->count). */
void aiops_series_sample(const struct aiops_series *s, uint32_t i, struct aiops_series_sample *out);

/* Checkpoints: the ring's points (what detectors were fed) and nothing else; a restore feeds
 * them through fresh detectors, so restored state equals the state a stream of those points
 * builds, without a new warm-up. blob is allocated with aiops_malloc, freed by the caller. */
int aiops_series_checkpoint(const struct aiops_series *s, void **blob, size_t *len);
/* Creates (or replaces) the series of key from a checkpoint. Returns 0, AIOPS_EINVAL for a
 * blob or key it cannot read, AIOPS_ENOMEM. */
int aiops_series_restore(struct aiops_series_table *t, const char *key, const void *blob,
                         size_t len, void (*on_evict)(void *ctx, struct aiops_series *s),
                         void *ctx);

#endif
