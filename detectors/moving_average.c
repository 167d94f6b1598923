/* SPDX-License-Identifier: MIT */
/* The moving-average detector: each point against the mean and standard deviation of the
 * ma_window points just before it. The old service included the point itself in its window,
 * which damps every spike below the threshold; this one does not. Batch is the incremental
 * path run over the series, so both agree exactly. */
#include "detectors/zscore.h"

#include "agent/err.h"

#include <math.h>

struct moving_average {
    struct aiops_detector base;
    struct aiops_rolling roll;
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
    return 0;
}

static void ma_fini(struct aiops_detector *d)
{
    aiops_rolling_fini(&((struct moving_average *)d)->roll);
}

/* Warm-up: the first ma_window points are unscored. After a constant window (std 0) any other
 * value is anomalous with score 1 and statistic DBL_MAX; the same value scores 0. */
static void ma_update(struct aiops_detector *d, const struct aiops_point *p,
                      struct aiops_verdict *out)
{
    struct moving_average *m = (struct moving_average *)d;
    double x = p->value;

    if (!isfinite(x)) {
        aiops_rolling_unscored(out);
        return;
    }
    if (m->roll.count == m->roll.cap)
        aiops_rolling_verdict(x, aiops_rolling_mean(&m->roll), aiops_rolling_std(&m->roll), m->thr,
                              aiops_rolling_is_constant(&m->roll), out);
    else
        aiops_rolling_unscored(out);
    aiops_rolling_push(&m->roll, x);
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
