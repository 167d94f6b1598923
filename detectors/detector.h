/* SPDX-License-Identifier: MIT */
/* The detector interface. A detector has two paths over one series:
 *  - batch: a whole series at once (the detect API), may look at every point;
 *  - incremental: one point at a time over a sliding window (replay and streaming), bounded
 *    memory, no look-ahead, no allocation after init.
 * Each implementation embeds struct aiops_detector first and fills one const ops table;
 * registry.c lists them. Scores are in [0,1]; sensitivity picks the threshold. */
#ifndef AIOPS_DETECTOR_H
#define AIOPS_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum aiops_sensitivity { AIOPS_SENSITIVITY_LOW, AIOPS_SENSITIVITY_MEDIUM, AIOPS_SENSITIVITY_HIGH };

struct aiops_point {
    int64_t ts_ms; /* ms since the Unix epoch, UTC */
    double value;
};

/* What a detector is configured with; every field has a default (aiops_detector_params_init). */
struct aiops_detector_params {
    enum aiops_sensitivity sensitivity;
    uint32_t window;      /* points of history kept by the incremental path (>= 2) */
    uint32_t ma_window;   /* moving-average window, points before the current one (>= 2) */
    uint32_t subsequence; /* matrix-profile subsequence length, points (>= 4) */
    double z_threshold;   /* the medium threshold in standard deviations (Z_SCORE_THRESHOLD) */
    uint64_t seed;        /* for randomised detectors; same seed, same scores */
};

/* The score of a point a detector holds back after an alert (a refractory period) although it is
 * still at or beyond the threshold: just below 0.5, so it is not a new alert, yet high enough for
 * the event tracker to see that the anomaly already alerted on goes on. */
#define AIOPS_SCORE_HELD 0.49

/* One point's outcome. Fields a detector cannot fill are NAN. */
struct aiops_verdict {
    double score;    /* [0,1], higher is more anomalous */
    bool is_anomaly; /* score crossed the sensitivity's threshold */
    double expected; /* the value the detector expected here */
    double lower;    /* the normal band around `expected` */
    double upper;
    double statistic; /* the raw statistic behind the score (e.g. |z|) */
    /* Set by auto only, which hands on its winning component's verdict: the detector whose
     * explain() describes it. Other detectors leave it unset. */
    const struct aiops_detector_ops *explained_by;
};

struct aiops_detector;

struct aiops_detector_ops {
    const char *name;            /* method name in the API and the config ("z-score") */
    const char *description;     /* one sentence, for GET /methods */
    const char *category;        /* "statistical", "ml" or "advanced" */
    const char *const *best_for; /* NULL-terminated list, for GET /methods */
    size_t size;                 /* sizeof the implementation's struct */
    /* Prepares the incremental state in d (zeroed, d->ops and d->params set). May allocate
     * (through aiops_malloc); returns 0 or AIOPS_ENOMEM/AIOPS_EINVAL. */
    int (*init)(struct aiops_detector *d);
    /* Releases what init allocated. */
    void (*fini)(struct aiops_detector *d);
    /* Scores the next point of the stream. Bounded time, no allocation. */
    void (*update)(struct aiops_detector *d, const struct aiops_point *p,
                   struct aiops_verdict *out);
    /* Scores a whole series: out[i] for pts[i]. Returns 0 or a negative AIOPS_E*. */
    int (*batch)(const struct aiops_detector_params *params, const struct aiops_point *pts,
                 size_t n, struct aiops_verdict *out);
    /* Writes the human-readable reason for an anomalous point into buf (NUL-terminated). */
    void (*explain)(const struct aiops_verdict *v, double value, char *buf, size_t len);
};

struct aiops_detector {
    const struct aiops_detector_ops *ops;
    struct aiops_detector_params params;
    /* Report every anomalous point instead of holding back after an alert (the refractory
     * period that makes one alert per anomaly when streaming): set for a whole series fed
     * through aiops_detector_batch_incremental, and by auto on its components, whose verdicts
     * it holds back itself. Warm-ups still apply. */
    bool every_point;
};

/* Defaults: medium, window 256, ma_window 10, subsequence 16, z_threshold 3, seed 42. */
void aiops_detector_params_init(struct aiops_detector_params *p);
/* The threshold, in standard deviations, that a z-type detector uses at p->sensitivity:
 * low = z_threshold + 1, medium = z_threshold, high = z_threshold - 0.5. */
double aiops_detector_z_threshold(const struct aiops_detector_params *p);
/* Maps |z| to a score in [0,1] that crosses 0.5 exactly at the threshold z_thr. */
double aiops_detector_z_score_to_unit(double z, double z_thr);
/* "low"/"medium"/"high" <-> enum. Parse returns 0 or AIOPS_EINVAL. */
int aiops_sensitivity_parse(const char *s, enum aiops_sensitivity *out);
const char *aiops_sensitivity_name(enum aiops_sensitivity s);

/* Allocates and inits a detector's incremental state. *out untouched on failure. */
int aiops_detector_create(struct aiops_detector **out, const struct aiops_detector_ops *ops,
                          const struct aiops_detector_params *params);
void aiops_detector_destroy(struct aiops_detector *d);

static inline void aiops_detector_update(struct aiops_detector *d, const struct aiops_point *p,
                                         struct aiops_verdict *out)
{
    d->ops->update(d, p, out);
}

/* Shared pieces for ops tables. */
/* batch by feeding every point through a fresh incremental state, with d->every_point set. */
int aiops_detector_batch_incremental(const struct aiops_detector_ops *ops,
                                     const struct aiops_detector_params *params,
                                     const struct aiops_point *pts, size_t n,
                                     struct aiops_verdict *out);
/* "value V is N.NN standard deviations above/below the expected E (normal range [L, U])". */
void aiops_detector_explain_band(const struct aiops_verdict *v, double value, char *buf,
                                 size_t len);
void aiops_detector_fini_noop(struct aiops_detector *d);

/* One alert per excursion, for an incremental path. After a flagged point nothing is flagged for
 * `hold` points, nor until `rearm` points in a row have stayed within the threshold (not
 * anomalous). Held points keep their statistic and band; their score is capped at
 * AIOPS_SCORE_HELD, so a streaming event still spans the excursion. */
struct aiops_hold_off {
    uint32_t hold;  /* points held after a flag */
    uint32_t rearm; /* points in a row within the threshold that re-arm */
    uint32_t left;  /* points still held after the last flag */
    uint32_t calm;  /* points in a row within the threshold */
    bool holding;   /* a flag was raised and the detector has not re-armed yet */
};

/* rearm 0 counts as 1. */
void aiops_hold_off_init(struct aiops_hold_off *h, uint32_t hold, uint32_t rearm);
/* Passes verdict v (already scored) through the hold-off h. */
void aiops_hold_off_apply(struct aiops_hold_off *h, struct aiops_verdict *v);

/* Registry (registry.c). Implemented methods, in the order GET /methods lists them. */
size_t aiops_detector_count(void);
const struct aiops_detector_ops *aiops_detector_at(size_t i);
/* Finds a method by name (also accepts aliases). NULL when unknown or not yet built. */
const struct aiops_detector_ops *aiops_detector_find(const char *name);

#endif
