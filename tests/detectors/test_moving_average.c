/* SPDX-License-Identifier: MIT */
/* The moving-average detector: each point against the ma_window points before it, which is
 * what lets it flag the spikes and level shifts the old service's version could not. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/zscore.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(moving_average, .fini = fini);

static void params(struct aiops_detector_params *p, uint32_t ma_window)
{
    aiops_detector_params_init(p);
    p->ma_window = ma_window;
}

/* Bit-for-bit equality of two verdicts (NANs included), field by field: padding is not data. */
static bool same(const struct aiops_verdict *a, const struct aiops_verdict *b)
{
    return a->is_anomaly == b->is_anomaly && memcmp(&a->score, &b->score, 8) == 0 &&
           memcmp(&a->expected, &b->expected, 8) == 0 && memcmp(&a->lower, &b->lower, 8) == 0 &&
           memcmp(&a->upper, &b->upper, 8) == 0 && memcmp(&a->statistic, &b->statistic, 8) == 0;
}

/* The old service's statistic: the window ended at (and included) the current point. */
static double old_z(const double *v, size_t i, size_t w)
{
    double mean = 0, var = 0;

    for (size_t j = i + 1 - w; j <= i; j++)
        mean += v[j];
    mean /= w;
    for (size_t j = i + 1 - w; j <= i; j++)
        var += (v[j] - mean) * (v[j] - mean);
    return fabs(v[i] - mean) / sqrt(var / w);
}

Test(moving_average, flags_a_spike_after_ten_quiet_points_that_the_old_window_hid)
{
    double vals[11];
    struct aiops_point pts[11];
    struct aiops_verdict v[11];
    struct aiops_detector_params p;
    uint64_t st = 2;

    for (size_t i = 0; i < 10; i++)
        vals[i] = 40 + aiops_test_noise(&st);
    vals[10] = 41.5 + 50;
    for (size_t i = 0; i < 11; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 1000, .value = vals[i]};
    params(&p, 10);
    cr_assert(old_z(vals, 10, 10) < 3.0, "the old window could never reach 3 sigma");
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, 11, v), 0));
    cr_assert(v[10].is_anomaly);
    cr_assert(v[10].score > 0.99);
    cr_assert(v[10].statistic > 30);
    for (size_t i = 0; i < 10; i++)
        cr_assert(v[i].score == 0.0 && !v[i].is_anomaly && isnan(v[i].expected), "warm-up %zu", i);
}

Test(moving_average, a_break_from_a_constant_window_scores_one_and_a_repeat_scores_zero)
{
    struct aiops_point pts[12];
    struct aiops_verdict v[12];
    struct aiops_detector_params p;

    for (size_t i = 0; i < 12; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 0.1};
    pts[11].value = 0.1000001;
    params(&p, 10);
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, 12, v), 0));
    cr_assert(not(v[10].is_anomaly));
    cr_assert(eq(dbl, v[10].score, 0.0));
    cr_assert(eq(dbl, v[10].expected, 0.1));
    cr_assert(v[11].is_anomaly);
    cr_assert(eq(dbl, v[11].score, 1.0));
    cr_assert(eq(dbl, v[11].statistic, DBL_MAX));
}

Test(moving_average, flags_the_first_point_of_a_level_shift)
{
    struct aiops_point pts[80];
    struct aiops_verdict v[80];
    struct aiops_detector_params p;
    uint64_t st = 8;

    for (size_t i = 0; i < 80; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i,
                                      .value = (i < 50 ? 10 : 20) + aiops_test_noise(&st)};
    params(&p, 10);
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, 80, v), 0));
    cr_assert(v[50].is_anomaly);
    cr_assert(v[50].expected < 11.0 && v[50].expected > 9.0);
}

Test(moving_average, expected_is_the_mean_of_the_points_just_before)
{
    enum { W = 7 };
    struct aiops_point pts[60];
    struct aiops_verdict v[60];
    struct aiops_detector_params p;
    uint64_t st = 13;

    for (size_t i = 0; i < 60; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 100 * aiops_test_noise(&st)};
    params(&p, W);
    p.sensitivity = AIOPS_SENSITIVITY_HIGH;
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, 60, v), 0));
    for (size_t i = W; i < 60; i++) {
        double mean = 0, var = 0, std, spread;

        for (size_t j = i - W; j < i; j++)
            mean += pts[j].value;
        mean /= W;
        for (size_t j = i - W; j < i; j++)
            var += (pts[j].value - mean) * (pts[j].value - mean);
        std = sqrt(var / W);
        spread = (v[i].upper - v[i].expected) / 2.5;
        /* The window keeps float offsets: 7 significant digits of each deviation. */
        cr_assert(epsilon_eq(dbl, v[i].expected, mean, 1e-5), "point %zu", i);
        cr_assert(ge(dbl, spread, std * (1 - 1e-6)), "the spread is at least the window's std");
        cr_assert(eq(int, v[i].is_anomaly, fabs(pts[i].value - mean) / spread > 2.5));
    }
}

/* A stretch of identical readings (a gauge that did not move for ten samples) used to make the
 * next ordinary reading "infinitely" anomalous; the series' long-run spread is the floor. */
Test(moving_average, a_quiet_stretch_in_a_noisy_series_does_not_flag_the_next_ordinary_point)
{
    struct aiops_point pts[300];
    struct aiops_verdict v[300];
    struct aiops_detector_params p;
    uint64_t st = 21;

    for (size_t i = 0; i < 300; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 50 + aiops_test_gauss(&st)};
    for (size_t i = 200; i < 210; i++)
        pts[i].value = 50.0;
    pts[210].value = 51.0; /* one standard deviation of the series away */
    pts[260].value = 58.0; /* eight */
    params(&p, 10);
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, 300, v), 0));
    cr_assert(not(v[210].is_anomaly), "statistic %g", v[210].statistic);
    cr_assert(lt(dbl, v[210].statistic, 2.0));
    cr_assert(v[260].is_anomaly);
}

/* Batch reports every anomalous point (the detect API); the incremental path (streaming) raises
 * one alert per excursion. They agree on every score that is not held. */
Test(moving_average, batch_reports_every_point_and_the_stream_one_per_excursion)
{
    enum { N = 3000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict bv[N], iv[N];
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;
    uint64_t st = 17;
    size_t batch_flags = 0, stream_flags = 0;

    for (size_t i = 0; i < N; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 20 + aiops_test_noise(&st)};
    for (size_t i = 0; i < N; i += 211) /* a burst of three high points every 211 */
        for (size_t k = 0; k < 3 && i + k < N; k++)
            pts[i + k].value += 9;
    params(&p, 12);
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, N, bv), 0));
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_moving_average_ops, &p), 0));
    for (size_t i = 0; i < N; i++)
        aiops_detector_update(d, &pts[i], &iv[i]);
    aiops_detector_destroy(d);
    for (size_t i = 0; i < N; i++) {
        batch_flags += bv[i].is_anomaly;
        stream_flags += iv[i].is_anomaly;
        if (iv[i].is_anomaly)
            cr_assert(same(&bv[i], &iv[i]), "point %zu differs", i);
        else
            cr_assert(memcmp(&iv[i].statistic, &bv[i].statistic, 8) == 0, "point %zu", i);
    }
    for (size_t i = 211; i < N; i += 211)
        cr_assert(iv[i].is_anomaly, "the burst at %zu raises its alert on its first point", i);
    cr_assert(eq(sz, stream_flags, (N - 1) / 211), "one alert per burst after the warm-up");
    cr_assert(gt(sz, batch_flags, stream_flags + 5), "batch also reports the bursts' later points");
}

Test(moving_average, create_rejects_a_window_below_two)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    params(&p, 1);
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_moving_average_ops, &p), AIOPS_EINVAL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

/* A daily cycle of amplitude 10 over unit noise, 8 days. An hour of zeros in day 7 (a broken
 * collector) is flagged at its first point on both paths, and batch also flags the return; a
 * day whose trough never comes changes too slowly for a window of 10 points to see. */
Test(moving_average, a_broken_daily_period_is_flagged_where_it_breaks_abruptly)
{
    enum { N = 8 * AIOPS_TEST_DAY, DROP = 6 * AIOPS_TEST_DAY + 60, TROUGH = 7 * AIOPS_TEST_DAY };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    params(&p, 10);
    aiops_test_daily(pts, N, 10, 99);
    for (size_t i = DROP; i < DROP + 12; i++)
        pts[i].value = 0.0;
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, N, v), 0));
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(int, v[i].is_anomaly, i == DROP || i == DROP + 12), "batch, at %zu", i);
    aiops_test_stream(&aiops_moving_average_ops, &p, pts, N, v);
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(int, v[i].is_anomaly, i == DROP), "incremental, at %zu", i);

    aiops_test_daily(pts, N, 10, 99);
    for (size_t i = TROUGH + AIOPS_TEST_DAY / 2; i < N; i++)
        pts[i].value -= 10 * sin(2 * M_PI * (double)(i - TROUGH) / AIOPS_TEST_DAY);
    cr_assert(eq(int, aiops_moving_average_ops.batch(&p, pts, N, v), 0));
    for (size_t i = 0; i < N; i++)
        cr_assert(not(v[i].is_anomaly), "at %zu", i);
}
