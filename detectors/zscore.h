/* SPDX-License-Identifier: MIT */
/* Rolling-window statistics and the two detectors built on them: the z-score (whole series in
 * batch, a long sliding window incrementally) and the moving average (the ma_window points
 * just before each point). registry.c lists their ops tables. */
#ifndef AIOPS_ZSCORE_H
#define AIOPS_ZSCORE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "detectors/detector.h"

extern const struct aiops_detector_ops aiops_zscore_ops;         /* "z-score" */
extern const struct aiops_detector_ops aiops_moving_average_ops; /* "moving-average" */

/* The last `cap` values of a stream with O(1) mean and population standard deviation. Sums are
 * kept around `shift` (a recent value) and recomputed from the ring every `cap` pushes, so
 * float drift and cancellation stay bounded. Embedded: init/fini; push never allocates. */
struct aiops_rolling {
    float *ring;    /* owned, cap entries: each value's offset from shift. A float offset keeps
                     * 7 digits of the deviation (not of the value), and halves a series' memory. */
    uint32_t cap;   /* window length in points, >= 2 */
    uint32_t count; /* values held, <= cap */
    uint32_t head;  /* slot the next value goes to */
    uint32_t since_rebase; /* pushes since the sums were recomputed, < cap */
    uint32_t run;          /* how many of the latest pushes equal `last` (capped at cap) */
    double last;           /* the latest value pushed */
    double shift;          /* reference the sums are taken around */
    double sum;            /* sum of (x - shift) over the ring */
    double sumsq;          /* sum of (x - shift)^2 over the ring */
};

/* Allocates the ring. Returns 0, AIOPS_EINVAL (cap < 2) or AIOPS_ENOMEM. */
int aiops_rolling_init(struct aiops_rolling *r, uint32_t cap);
void aiops_rolling_fini(struct aiops_rolling *r);
/* Adds x (finite), evicting the oldest value when full. O(1) amortised, no allocation. */
void aiops_rolling_push(struct aiops_rolling *r, double x);

/* True when every value held is bit-for-bit equal (then the mean is exactly r->last). */
static inline bool aiops_rolling_is_constant(const struct aiops_rolling *r)
{
    return r->count > 0 && r->run >= r->count;
}

static inline double aiops_rolling_mean(const struct aiops_rolling *r)
{
    if (aiops_rolling_is_constant(r))
        return r->last;
    return r->shift + r->sum / r->count;
}

/* Population standard deviation; 0 for a constant window and for a variance lost in rounding
 * (below 64 ulps of the mean square around shift). Needs count > 0. */
static inline double aiops_rolling_std(const struct aiops_rolling *r)
{
    double n = r->count, msq, var;

    if (aiops_rolling_is_constant(r))
        return 0.0;
    msq = r->sumsq / n;
    var = msq - (r->sum / n) * (r->sum / n);
    if (var <= 64.0 * 2.220446049250313e-16 * msq)
        return 0.0;
    return sqrt(var);
}

/* Fills out for value x against a window's mean and std at threshold thr (standard
 * deviations). std == 0: not anomalous with statistic 0 when x == mean or !flag_constant;
 * otherwise (flag_constant) statistic DBL_MAX, score 1, anomalous. */
void aiops_rolling_verdict(double x, double mean, double std, double thr, bool flag_constant,
                           struct aiops_verdict *out);
/* A verdict with score 0, not anomalous and every other field NAN (warm-up, non-finite x). */
void aiops_rolling_unscored(struct aiops_verdict *out);

/* The incremental paths (replay, streaming) of z-score and moving-average hold back after a flag
 * (aiops_hold_off): at threshold 3 a long excursion, or a heavy-tailed stretch, crosses the
 * threshold on point after point; each would be an alert. They hold for window/4 points and until
 * window/16 points in a row have stayed within the threshold (64 and 16 at the default window of
 * 256): tied to the window so that a checkpoint, which replays the last window of points,
 * restores the hold-off too. On NAB (standard profile, swept / own) z-score went from 33.7 /
 * -33.4 to 41.0 / 37.3; hold-offs of 48 to 96 points scored 35 to 42, re-arms of 8 to 24 points
 * 37 to 42. */
void aiops_hold_off_init_window(struct aiops_hold_off *h, uint32_t window);

#endif
