/* SPDX-License-Identifier: MIT */
/* The z-score detector. Batch scores each point against the mean and population standard
 * deviation of the whole series, as the old service did; incremental scores each point against
 * the params.window points before it. Also the rolling statistics both paths share. */
#include "detectors/zscore.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <assert.h>
#include <float.h>
#include <math.h>

/* Points the incremental path needs before it scores anything (or the window, if shorter). */
#define ZSCORE_MIN_POINTS 10u

struct zscore {
    struct aiops_detector base;
    struct aiops_rolling roll;
    struct aiops_hold_off hold;
    uint32_t warm_up; /* min(window, ZSCORE_MIN_POINTS) */
    double thr;       /* standard deviations at params.sensitivity */
};

int aiops_rolling_init(struct aiops_rolling *r, uint32_t cap)
{
    if (cap < 2)
        return AIOPS_EINVAL;
    *r = (struct aiops_rolling){0};
    r->ring = aiops_malloc((size_t)cap * sizeof(*r->ring));
    if (r->ring == NULL)
        return AIOPS_ENOMEM;
    r->cap = cap;
    return 0;
}

void aiops_rolling_fini(struct aiops_rolling *r)
{
    aiops_free(r->ring);
    r->ring = NULL;
}

/* Recomputes the sums exactly from the ring, around the latest value: entries are re-expressed
 * as offsets from the new shift. */
static void rebase(struct aiops_rolling *r)
{
    double sum = 0.0, sumsq = 0.0, shift = r->last, move = r->shift - shift;

    for (uint32_t i = 0; i < r->count; i++) {
        double d = (double)(float)((double)r->ring[i] + move);

        r->ring[i] = (float)d;
        sum += d;
        sumsq += d * d;
    }
    r->shift = shift;
    r->sum = sum;
    r->sumsq = sumsq;
    r->since_rebase = 0;
}

void aiops_rolling_push(struct aiops_rolling *r, double x)
{
    double d;

    assert(r->cap >= 2 && isfinite(x));
    if (r->count == 0)
        r->shift = x;
    if (r->count == r->cap) {
        d = (double)r->ring[r->head];
        r->sum -= d;
        r->sumsq -= d * d;
    } else {
        r->count++;
    }
    /* Sums take the stored (float) offset, so what leaves is exactly what came in. */
    r->ring[r->head] = (float)(x - r->shift);
    d = (double)r->ring[r->head];
    r->sum += d;
    r->sumsq += d * d;
    if (++r->head == r->cap)
        r->head = 0;
    if (r->count > 1 && x == r->last) {
        if (r->run < r->cap)
            r->run++;
    } else {
        r->run = 1;
    }
    r->last = x;
    if (++r->since_rebase == r->cap)
        rebase(r);
}

void aiops_rolling_unscored(struct aiops_verdict *out)
{
    out->score = 0.0;
    out->is_anomaly = false;
    out->expected = NAN;
    out->lower = NAN;
    out->upper = NAN;
    out->statistic = NAN;
}

void aiops_rolling_verdict(double x, double mean, double std, double thr, bool flag_constant,
                           struct aiops_verdict *out)
{
    double z;

    out->expected = mean;
    out->lower = mean - thr * std;
    out->upper = mean + thr * std;
    if (std == 0.0) {
        if (flag_constant && x != mean) {
            out->statistic = DBL_MAX; /* "infinitely" many standard deviations away */
            out->score = 1.0;
            out->is_anomaly = true;
        } else {
            out->statistic = 0.0;
            out->score = 0.0;
            out->is_anomaly = false;
        }
        return;
    }
    z = fabs(x - mean) / std;
    out->statistic = z;
    out->score = aiops_detector_z_score_to_unit(z, thr);
    out->is_anomaly = z > thr;
}

void aiops_hold_off_init_window(struct aiops_hold_off *h, uint32_t window)
{
    aiops_hold_off_init(h, window / 4, window / 16);
}

static int zscore_init(struct aiops_detector *d)
{
    struct zscore *z = (struct zscore *)d;
    int err;

    err = aiops_rolling_init(&z->roll, d->params.window);
    if (err < 0)
        return err;
    z->warm_up = d->params.window < ZSCORE_MIN_POINTS ? d->params.window : ZSCORE_MIN_POINTS;
    z->thr = aiops_detector_z_threshold(&d->params);
    aiops_hold_off_init_window(&z->hold, d->params.window);
    return 0;
}

static void zscore_fini(struct aiops_detector *d)
{
    aiops_rolling_fini(&((struct zscore *)d)->roll);
}

/* Scores p against the window before it, then adds it: no look-ahead, no self-influence. */
static void zscore_update(struct aiops_detector *d, const struct aiops_point *p,
                          struct aiops_verdict *out)
{
    struct zscore *z = (struct zscore *)d;
    double x = p->value;

    if (!isfinite(x)) {
        aiops_rolling_unscored(out);
        return;
    }
    if (z->roll.count >= z->warm_up)
        aiops_rolling_verdict(x, aiops_rolling_mean(&z->roll), aiops_rolling_std(&z->roll), z->thr,
                              false, out);
    else
        aiops_rolling_unscored(out);
    if (!d->every_point)
        aiops_hold_off_apply(&z->hold, out);
    aiops_rolling_push(&z->roll, x);
}

/* The old service's z-score: global mean and population std of the series (non-finite values
 * left out and left unscored); a constant series has nothing anomalous. */
static int zscore_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                        size_t n, struct aiops_verdict *out)
{
    double thr = aiops_detector_z_threshold(params);
    double mean = 0.0, var = 0.0, std, first = NAN;
    bool constant = true;
    size_t used = 0;

    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pts[i].value))
            continue;
        if (used++ == 0)
            first = pts[i].value;
        else if (pts[i].value != first)
            constant = false;
        mean += pts[i].value;
    }
    if (used > 0)
        mean /= (double)used;
    if (constant) {
        mean = first;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (isfinite(pts[i].value))
                var += (pts[i].value - mean) * (pts[i].value - mean);
        }
        var /= (double)used;
    }
    std = sqrt(var);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(pts[i].value))
            aiops_rolling_verdict(pts[i].value, mean, std, thr, false, &out[i]);
        else
            aiops_rolling_unscored(&out[i]);
    }
    return 0;
}

static const char *const zscore_best_for[] = {"normally distributed metrics",
                                              "sudden spikes and drops", "stable baselines", NULL};

const struct aiops_detector_ops aiops_zscore_ops = {
    .name = "z-score",
    .description = "Flags points more than a threshold of standard deviations from the mean.",
    .category = "statistical",
    .best_for = zscore_best_for,
    .size = sizeof(struct zscore),
    .init = zscore_init,
    .fini = zscore_fini,
    .update = zscore_update,
    .batch = zscore_batch,
    .explain = aiops_detector_explain_band,
};
