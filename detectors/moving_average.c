/* SPDX-License-Identifier: MIT */
/* The moving-average detector: each point against the mean of the ma_window points just before
 * it. The old service included the point itself in its window, which damps every spike below the
 * threshold; this one does not. The spread is the larger of those points' standard deviation and
 * the series' long-run one (an exponentially weighted variance over about MA_LONG_RUN points):
 * ten quiet points in a row do not make the next ordinary wiggle an anomaly. (On a steady trend
 * the long-run spread also holds the trend's lag, so the detector is less sensitive there.) Batch
 * runs the same scoring over the series; the incremental path adds the one-alert-per-excursion
 * hold-off. */
#include "detectors/zscore.h"

#include "agent/err.h"

#include <math.h>

/* Points the long-run variance mostly remembers (its weight is 1/MA_LONG_RUN, or 1/n before
 * that many points, so early on it is the plain variance of the points seen). On NAB (standard
 * profile, swept / own, with the hold-off) 256 scored 36.8 / 33.6, 512 41.2 / 36.8, 768
 * 40.2 / 37.3, 1024 38.3 / 36.8; without the floor 0 / -290: after a flat stretch every change
 * scored 1, beyond any threshold. */
#define MA_LONG_RUN 768.0

struct moving_average {
    struct aiops_detector base;
    struct aiops_rolling roll;
    struct aiops_hold_off hold;
    uint64_t seen;    /* finite points folded into the long-run variance */
    double long_mean; /* exponentially weighted mean and variance of the series */
    double long_var;
    double thr; /* standard deviations at params.sensitivity */
};

static int ma_init(struct aiops_detector *d)
{
    struct moving_average *m = (struct moving_average *)d;
    int err;

    err = aiops_rolling_init(&m->roll, d->params.ma_window);
    if (err < 0)
        return err;
    m->thr = aiops_detector_z_threshold(&d->params);
    aiops_hold_off_init_window(&m->hold, d->params.window);
    return 0;
}

static void ma_fini(struct aiops_detector *d)
{
    aiops_rolling_fini(&((struct moving_average *)d)->roll);
}

/* West's weighted update with weight max(1/MA_LONG_RUN, 1/seen). */
static void long_run_push(struct moving_average *m, double x)
{
    double w, dx;

    m->seen++;
    w = fmax(1.0 / MA_LONG_RUN, 1.0 / (double)m->seen);
    dx = x - m->long_mean;
    m->long_mean += w * dx;
    m->long_var = (1.0 - w) * (m->long_var + w * dx * dx);
}

/* Warm-up: the first ma_window points are unscored. When both the window and the long run are
 * constant (spread 0), any other value is anomalous with score 1 and statistic DBL_MAX; the
 * same value scores 0. */
static void ma_update(struct aiops_detector *d, const struct aiops_point *p,
                      struct aiops_verdict *out)
{
    struct moving_average *m = (struct moving_average *)d;
    double x = p->value;

    if (!isfinite(x)) {
        aiops_rolling_unscored(out);
        return;
    }
    if (m->roll.count == m->roll.cap) {
        double spread = fmax(aiops_rolling_std(&m->roll), sqrt(m->long_var));

        aiops_rolling_verdict(x, aiops_rolling_mean(&m->roll), spread, m->thr,
                              aiops_rolling_is_constant(&m->roll), out);
    } else {
        aiops_rolling_unscored(out);
    }
    if (!d->every_point)
        aiops_hold_off_apply(&m->hold, out);
    aiops_rolling_push(&m->roll, x);
    long_run_push(m, x);
}

static int ma_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                    size_t n, struct aiops_verdict *out)
{
    return aiops_detector_batch_incremental(&aiops_moving_average_ops, params, pts, n, out);
}

static const char *const ma_best_for[] = {"level shifts", "spikes against recent behaviour",
                                          "slowly drifting baselines", NULL};

const struct aiops_detector_ops aiops_moving_average_ops = {
    .name = "moving-average",
    .description = "Flags points far from the rolling mean of the points just before them.",
    .category = "statistical",
    .best_for = ma_best_for,
    .size = sizeof(struct moving_average),
    .init = ma_init,
    .fini = ma_fini,
    .update = ma_update,
    .batch = ma_batch,
    .explain = aiops_detector_explain_band,
};
