/* SPDX-License-Identifier: MIT */
/* The Prophet-style detector: known answers on synthetic 5-minute metrics (spikes, level shifts,
 * a broken daily period, quiet noise), its forecast band, batch against incremental, bounded
 * memory and the constructor's allocation-failure ladder. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/prophet.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STEP_MS 300000LL        /* 5 minutes */
#define T0_MS   1700006400000LL /* 2023-11-15 00:00 UTC */
#define PER_DAY 288

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(prophet, .fini = fini);

/* 50 + 10 sin(daily phase) + uniform noise of amplitude 1, every 5 minutes. */
static void seasonal(struct aiops_point *pts, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        pts[i].ts_ms = T0_MS + (int64_t)i * STEP_MS;
        pts[i].value =
            50 + 10 * sin(2 * M_PI * (double)(i % PER_DAY) / PER_DAY) + aiops_test_noise(&seed);
    }
}

static struct aiops_detector *make(uint32_t window, enum aiops_sensitivity s)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    p.sensitivity = s;
    p.window = window;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_prophet_ops, &p), 0));
    return d;
}

static void run(struct aiops_detector *d, const struct aiops_point *pts, size_t n,
                struct aiops_verdict *v)
{
    for (size_t i = 0; i < n; i++)
        aiops_detector_update(d, &pts[i], &v[i]);
}

Test(prophet, flags_a_spike_in_a_daily_seasonal_series_and_nothing_else)
{
    enum { N = 5 * PER_DAY, SPIKE = 4 * PER_DAY + 17 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);

    seasonal(pts, N, 1);
    pts[SPIKE].value += 12.0;
    run(d, pts, N, v);
    for (size_t i = 700; i < N; i++)
        cr_assert(eq(int, v[i].is_anomaly, i == SPIKE), "point %zu score %g", i, v[i].score);
    cr_assert(v[SPIKE].score > 0.9 && v[SPIKE].upper < pts[SPIKE].value);
    aiops_detector_destroy(d);
}

/* A nightly job: a spike at 02:00 every day, which the Fourier terms cannot forecast. From the
 * day after it first shows, the seasonal check finds it normal (against the days the history
 * holds, up to three); the same spike at another time of day is still an anomaly. */
Test(prophet, learns_a_spike_that_recurs_daily_and_still_flags_a_new_one)
{
    enum { N = 6 * PER_DAY, NIGHTLY = 24, ODD = 5 * PER_DAY + 150 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    int flagged_late = 0;

    seasonal(pts, N, 3);
    for (size_t day = 0; day < 6; day++)
        pts[day * PER_DAY + NIGHTLY].value += 30.0;
    pts[ODD].value += 30.0;
    run(d, pts, N, v);
    for (size_t day = 1; day < 6; day++) {
        size_t i = day * PER_DAY + NIGHTLY;

        cr_assert(not(v[i].is_anomaly), "the nightly spike of day %zu: score %g", day, v[i].score);
        cr_assert(lt(dbl, v[i].statistic, 3.0));
    }
    cr_assert(v[ODD].is_anomaly, "the same spike at another hour: score %g", v[ODD].score);
    for (size_t i = PER_DAY; i < N; i++)
        flagged_late += v[i].is_anomaly;
    cr_assert(eq(int, flagged_late, 1), "only the odd spike from the second day on");
    aiops_detector_destroy(d);
}

/* After a flag the threshold doubles for 12 hours, so a smaller anomaly soon after is not a
 * second alert; with every_point set (as auto runs it) it is reported. */
Test(prophet, holds_back_after_a_flag_unless_it_reports_every_point)
{
    enum { N = 5 * PER_DAY, SPIKE = 4 * PER_DAY + 17, NEXT = SPIKE + 60 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    aiops_detector_params_init(&p); /* medium, window 256 */
    seasonal(pts, N, 1);
    pts[SPIKE].value += 12.0;
    pts[NEXT].value += 4.0;
    aiops_test_stream(&aiops_prophet_ops, &p, pts, N, v);
    cr_assert(v[SPIKE].is_anomaly);
    cr_assert(gt(dbl, v[NEXT].statistic, 3.0), "beyond the usual threshold");
    cr_assert(not(v[NEXT].is_anomaly), "within twice the threshold: held back");
    cr_assert(eq(int, aiops_detector_batch_incremental(&aiops_prophet_ops, &p, pts, N, v), 0));
    cr_assert(v[SPIKE].is_anomaly && v[NEXT].is_anomaly, "score %g", v[NEXT].score);
}

/* A stretch of bursts (a busy job, a noisy neighbour): the interval widens to it from the
 * latest 384 residuals, so after the first bursts the rest are not alerts; the long-run spread
 * alone needs 1% of 1,024 residuals to be bursts first. */
Test(prophet, widens_its_interval_soon_after_bursts_become_common)
{
    enum { N = 6 * PER_DAY, START = 4 * PER_DAY, EVERY = 30 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    int flagged = 0;

    seasonal(pts, N, 5);
    for (size_t i = START; i < N; i += EVERY)
        pts[i].value += 6.0 + (double)(i % 7) / 7.0;
    run(d, pts, N, v);
    for (size_t i = START; i < N; i++)
        flagged += v[i].is_anomaly;
    cr_assert(v[START].is_anomaly, "the first burst is news");
    /* 4 of 19 here; 7 with the long-run spread alone. */
    cr_assert(le(int, flagged, 5), "flagged %d of %d bursts", flagged, (N - START) / EVERY);
    aiops_detector_destroy(d);
}

Test(prophet, flags_a_level_shift_near_its_start)
{
    enum { N = 1500, SHIFT = 900 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    uint64_t st = 2;
    size_t first = N;

    for (size_t i = 0; i < N; i++) {
        pts[i].ts_ms = T0_MS + (int64_t)i * STEP_MS;
        pts[i].value = 20 + aiops_test_noise(&st) + (i >= SHIFT ? 6.0 : 0.0);
    }
    run(d, pts, N, v);
    for (size_t i = 100; i < N && first == N; i++) {
        if (v[i].is_anomaly)
            first = i;
    }
    cr_assert(first >= SHIFT && first <= SHIFT + 3, "first flag at %zu", first);
    aiops_detector_destroy(d);
}

Test(prophet, flags_a_broken_daily_period_there_and_nowhere_else)
{
    enum { N = 6 * PER_DAY, FROM = 5 * PER_DAY + 40, TO = FROM + 60 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    size_t inside = 0;

    seasonal(pts, N, 3);
    for (size_t i = FROM; i < TO; i++)
        pts[i].value = 50.0; /* the daily wave stops for five hours, around its peak */
    run(d, pts, N, v);
    for (size_t i = 700; i < N; i++) {
        if (i >= FROM && i < TO)
            inside += v[i].is_anomaly;
        else
            cr_assert(not(v[i].is_anomaly), "point %zu score %g", i, v[i].score);
    }
    cr_assert(inside >= 1, "the broken period was not flagged");
    cr_assert(v[FROM + 10].statistic > 3.0, "z %g", v[FROM + 10].statistic);
    aiops_detector_destroy(d);
}

Test(prophet, stays_quiet_on_a_flat_noisy_series_even_at_high_sensitivity)
{
    enum { N = 3000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_HIGH);
    uint64_t st = 7;

    for (size_t i = 0; i < N; i++)
        pts[i] = (struct aiops_point){.ts_ms = T0_MS + (int64_t)i * STEP_MS,
                                      .value = 20 + 0.3 * aiops_test_noise(&st)};
    run(d, pts, N, v);
    for (size_t i = 100; i < N; i++)
        cr_assert(not(v[i].is_anomaly), "point %zu score %g", i, v[i].score);
    aiops_detector_destroy(d);
}

Test(prophet, brackets_normal_points_with_its_forecast_band)
{
    enum { N = 4 * PER_DAY };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);

    seasonal(pts, N, 4);
    run(d, pts, N, v);
    for (size_t i = 0; i < 31; i++)
        cr_assert(isnan(v[i].expected) && v[i].score == 0.0, "scored during the warm-up");
    for (size_t i = 700; i < N; i++) {
        cr_assert(v[i].lower < pts[i].value && pts[i].value < v[i].upper, "point %zu", i);
        cr_assert(v[i].lower < v[i].expected && v[i].expected < v[i].upper);
        cr_assert(fabs(v[i].expected - (pts[i].value)) < 2.0, "point %zu forecast %g", i,
                  v[i].expected);
        cr_assert(v[i].upper - v[i].lower < 12.0, "a band of %g", v[i].upper - v[i].lower);
    }
    aiops_detector_destroy(d);
}

/* Where they agree: both flag the spike, and once the incremental fit has two days of history
 * its forecast is within half a band of the batch fit's. They differ by design before that
 * (the incremental path has no daily term yet) and after a flag (only the incremental path has
 * a refractory period). */
Test(prophet, batch_and_incremental_agree_on_a_seasonal_series)
{
    enum { N = 5 * PER_DAY, SPIKE = 4 * PER_DAY + 100 };
    static struct aiops_point pts[N];
    static struct aiops_verdict inc[N], bat[N];
    struct aiops_detector_params p;
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);

    seasonal(pts, N, 5);
    pts[SPIKE].value -= 12.0;
    run(d, pts, N, inc);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, N, bat), 0));
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(int, bat[i].is_anomaly, i == SPIKE), "batch point %zu z %g", i,
                  bat[i].statistic);
    cr_assert(inc[SPIKE].is_anomaly);
    for (size_t i = 700; i < N; i++) {
        double half = (inc[i].upper - inc[i].lower) / 2;

        cr_assert(fabs(inc[i].expected - bat[i].expected) < half / 2, "point %zu: %g vs %g", i,
                  inc[i].expected, bat[i].expected);
    }
    aiops_detector_destroy(d);
}

Test(prophet, has_no_look_ahead)
{
    enum { N = 900, CUT = 700 };
    static struct aiops_point a[N], b[N];
    struct aiops_detector *da = make(256, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_detector *db = make(256, AIOPS_SENSITIVITY_MEDIUM);

    seasonal(a, N, 6);
    memcpy(b, a, sizeof(a));
    for (size_t i = CUT; i < N; i++)
        b[i].value = 1e4 * (double)i; /* the futures differ wildly */
    for (size_t i = 0; i < N; i++) {
        struct aiops_verdict va, vb;

        aiops_detector_update(da, &a[i], &va);
        aiops_detector_update(db, &b[i], &vb);
        if (i <= CUT)
            cr_assert(va.expected == vb.expected || (isnan(va.expected) && isnan(vb.expected)),
                      "point %zu saw the future", i);
        if (i == CUT)
            cr_assert(vb.is_anomaly);
    }
    aiops_detector_destroy(da);
    aiops_detector_destroy(db);
}

Test(prophet, skips_non_finite_values)
{
    enum { N = 400 };
    static struct aiops_point pts[N];
    struct aiops_detector *d = make(64, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_verdict v;

    seasonal(pts, N, 8);
    for (size_t i = 0; i < N; i++)
        aiops_detector_update(d, &pts[i], &v);
    aiops_detector_update(d, &(struct aiops_point){.ts_ms = pts[N - 1].ts_ms, .value = NAN}, &v);
    cr_assert(v.score == 0.0 && !v.is_anomaly && isnan(v.expected));
    aiops_detector_update(d, &(struct aiops_point){.ts_ms = pts[N - 1].ts_ms, .value = INFINITY},
                          &v);
    aiops_detector_update(d, &pts[N - 1], &v);
    cr_assert(isfinite(v.expected) && v.score < 0.5, "the history was poisoned");
    aiops_detector_destroy(d);
}

Test(prophet, keeps_its_memory_bounded_over_a_long_stream)
{
    enum { N = 100000 };
    struct aiops_detector *d = make(1024, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_verdict v;
    uint64_t st = 9;
    long live = aiops_mem_live();
    size_t flagged = 0;

    for (size_t i = 0; i < N; i++) {
        struct aiops_point pt = {.ts_ms = T0_MS + (int64_t)i * STEP_MS,
                                 .value = 1e3 + 0.01 * (double)i +
                                          100 * sin(2 * M_PI * (double)(i % PER_DAY) / PER_DAY) +
                                          5 * aiops_test_noise(&st)};

        if (i % 5000 == 4000)
            pt.value += 200.0;
        aiops_detector_update(d, &pt, &v);
        cr_assert(v.score >= 0.0 && v.score <= 1.0 && isfinite(v.score), "point %zu", i);
        if (i % 5000 == 4000)
            cr_assert(v.is_anomaly, "spike at %zu missed (z %g)", i, v.statistic);
        if (i >= 2 * PER_DAY + 32) /* before two days, the fit has no daily term */
            flagged += v.is_anomaly;
    }
    cr_assert(eq(sz, flagged, N / 5000), "only the spikes are flagged");
    cr_assert(eq(long, aiops_mem_live(), live), "update allocated");
    aiops_detector_destroy(d);
}

Test(prophet, create_leaks_nothing_when_an_allocation_fails)
{
    struct aiops_detector_params p;
    long n;

    aiops_detector_params_init(&p);
    n = aiops_test_create_with_failing_allocations(&aiops_prophet_ops, &p);
    cr_assert(n >= 5, "init allocates its five arrays (%ld)", n);
}

Test(prophet, create_rejects_a_window_below_two)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    p.window = 1;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_prophet_ops, &p), AIOPS_EINVAL));
    cr_assert(eq(ptr, d, NULL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(prophet, explains_an_anomaly_with_its_forecast_and_range)
{
    struct aiops_verdict v = {.score = 0.99,
                              .is_anomaly = true,
                              .expected = 47.7,
                              .lower = 44.1,
                              .upper = 51.3,
                              .statistic = 25};
    char buf[160];

    aiops_prophet_ops.explain(&v, 98.5, buf, sizeof(buf));
    cr_assert(
        eq(str, buf, "value 98.5 is outside the expected range 44.1 to 51.3 (forecast 47.7)"));
    v.expected = NAN;
    aiops_prophet_ops.explain(&v, 98.5, buf, sizeof(buf));
    cr_assert(eq(int, strncmp(buf, "value 98.5 was not scored", 25), 0), "%s", buf);
}

Test(prophet, batch_handles_empty_short_and_constant_series)
{
    struct aiops_point pts[40];
    struct aiops_verdict v[40];
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, 0, v), 0));
    for (size_t i = 0; i < 40; i++)
        pts[i] = (struct aiops_point){.ts_ms = T0_MS + (int64_t)i * STEP_MS, .value = 0.1};
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, 1, v), 0));
    cr_assert(not(v[0].is_anomaly));
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, 40, v), 0));
    for (size_t i = 0; i < 40; i++)
        cr_assert(v[i].is_anomaly == false && fabs(v[i].expected - 0.1) < 1e-6, "point %zu", i);
    pts[20].value = NAN;
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, 40, v), 0));
    cr_assert(isnan(v[20].expected) && v[20].score == 0.0);
}

/* A day's request with half an hour at three times the cycle's amplitude above it: 2% of the
 * points, more than the 1% of the residuals' tail quantile, yet every one of them is flagged and
 * nothing else (before the longest run was left out of the tail, none was). */
Test(prophet, batch_flags_a_half_hour_excursion_in_a_days_request)
{
    enum { N = AIOPS_TEST_DAY, FROM = 150, LEN = 6 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    aiops_test_daily(pts, N, 10, 5);
    for (size_t i = FROM; i < FROM + LEN; i++)
        pts[i].value += 30;
    cr_assert(eq(int, aiops_prophet_ops.batch(&p, pts, N, v), 0));
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(int, v[i].is_anomaly, i >= FROM && i < FROM + LEN), "at %zu: z %g", i,
                  v[i].statistic);
}
