/* SPDX-License-Identifier: MIT */
/* `auto`: the method a metric gets when none is configured. It runs a few complementary
 * detectors side by side and takes, for each point, the highest of their scores: each component
 * is calibrated so 0.5 is its own medium threshold, so the maximum flags a point as soon as any
 * component would, and each component's own warm-up and refractory period keep it quiet. */
#include "detectors/auto.h"
#include "detectors/matrix_profile.h"
#include "detectors/prophet.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The components, chosen on the NAB backtest for quality per unit of CPU (see README). */
static const struct aiops_detector_ops *const parts[] = {
    &aiops_matrix_profile_ops,
    &aiops_prophet_ops,
};
#define N_PARTS COUNT_OF(parts)

/* After a flag, the next AUTO_REFRACTORY points are not flagged and score below 0.5: the
 * components flag the same anomaly a few points apart, and one alert per anomaly is what counts.
 * 16 points is one matrix-profile subsequence; on NAB (standard profile) 16 scored 58.8 swept /
 * 57.1 own, 0 scored 57.6 / 52.3, and 144 or more lost over ten points by masking the start of
 * the next anomaly. */
#define AUTO_REFRACTORY  16
#define AUTO_QUIET_SCORE 0.49

struct auto_detector {
    struct aiops_detector base;
    struct aiops_detector *parts[N_PARTS]; /* owned, n_parts entries */
    size_t n_parts;
    uint32_t quiet; /* points left in the refractory period after a flag */
};

static void auto_fini(struct aiops_detector *d)
{
    struct auto_detector *a = (struct auto_detector *)d;

    for (size_t i = 0; i < a->n_parts; i++)
        aiops_detector_destroy(a->parts[i]);
    a->n_parts = 0;
}

static int auto_init(struct aiops_detector *d)
{
    struct auto_detector *a = (struct auto_detector *)d;
    int err;

    for (size_t i = 0; i < N_PARTS; i++) {
        err = aiops_detector_create(&a->parts[i], parts[i], &d->params);
        if (err < 0) {
            auto_fini(d);
            return err;
        }
        a->n_parts++;
    }
    return 0;
}

/* Keeps the verdict with the highest score; a flag from any component stands. */
static void combine(struct aiops_verdict *best, const struct aiops_verdict *v, bool first)
{
    bool flagged = (!first && best->is_anomaly) || v->is_anomaly;

    if (first || v->score > best->score)
        *best = *v;
    best->is_anomaly = flagged;
}

static void auto_update(struct aiops_detector *d, const struct aiops_point *p,
                        struct aiops_verdict *out)
{
    struct auto_detector *a = (struct auto_detector *)d;
    struct aiops_verdict v;

    for (size_t i = 0; i < a->n_parts; i++) {
        aiops_detector_update(a->parts[i], p, &v);
        combine(out, &v, i == 0);
    }
    if (a->quiet > 0) {
        a->quiet--;
        out->is_anomaly = false;
        out->score = fmin(out->score, AUTO_QUIET_SCORE);
    } else if (out->is_anomaly) {
        a->quiet = AUTO_REFRACTORY;
    }
}

static int auto_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                      size_t n, struct aiops_verdict *out)
{
    struct aiops_verdict *tmp;
    int err = 0;

    if (n == 0)
        return 0;
    tmp = aiops_malloc(n * sizeof(*tmp));
    if (tmp == NULL)
        return AIOPS_ENOMEM;
    for (size_t c = 0; c < N_PARTS && err == 0; c++) {
        err = parts[c]->batch(params, pts, n, c == 0 ? out : tmp);
        for (size_t i = 0; c > 0 && err == 0 && i < n; i++)
            combine(&out[i], &tmp[i], false);
    }
    aiops_free(tmp);
    return err;
}

/* The reason of the component whose verdict won is not known here, so the explanation names
 * the band when there is one and the score otherwise. */
static void auto_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    aiops_detector_explain_band(v, value, buf, len);
}

static const char *const auto_best_for[] = {
    "metrics with no method configured", "mixed anomaly kinds: spikes, shifts, new shapes", NULL};

const struct aiops_detector_ops aiops_auto_ops = {
    .name = "auto",
    .description = "Runs complementary detectors together and reports the strongest signal.",
    .category = "advanced",
    .best_for = auto_best_for,
    .size = sizeof(struct auto_detector),
    .init = auto_init,
    .fini = auto_fini,
    .update = auto_update,
    .batch = auto_batch,
    .explain = auto_explain,
};
