/* SPDX-License-Identifier: MIT */
/* The z-score detector: the batch path over a whole series and the incremental path over a
 * sliding window, checked against naive computations. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/zscore.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(zscore, .fini = fini);

static void params(struct aiops_detector_params *p, enum aiops_sensitivity s)
{
    aiops_detector_params_init(p);
    p->sensitivity = s;
}

static size_t count_anomalies(const struct aiops_verdict *v, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += v[i].is_anomaly;
    return k;
}

Test(zscore, batch_flags_a_single_spike_in_noise_and_nothing_else)
{
    struct aiops_point pts[200];
    struct aiops_verdict v[200];
    struct aiops_detector_params p;
    uint64_t st = 1;

    for (size_t i = 0; i < 200; i++)
        pts[i] =
            (struct aiops_point){.ts_ms = (int64_t)i * 60000, .value = 50 + aiops_test_noise(&st)};
    pts[120].value = 60.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, 200, v), 0));
    cr_assert(eq(sz, count_anomalies(v, 200), 1));
    cr_assert(v[120].is_anomaly);
    cr_assert(v[120].score > 0.99);
    for (size_t i = 0; i < 200; i++) {
        if (i != 120)
            cr_assert(v[i].score < 0.5, "point %zu scored %g", i, v[i].score);
    }
}

Test(zscore, batch_stays_quiet_on_a_flat_noisy_series)
{
    struct aiops_point pts[500];
    struct aiops_verdict v[500];
    struct aiops_detector_params p;
    uint64_t st = 7;

    for (size_t i = 0; i < 500; i++)
        pts[i] =
            (struct aiops_point){.ts_ms = (int64_t)i, .value = 20 + 0.3 * aiops_test_noise(&st)};
    params(&p, AIOPS_SENSITIVITY_HIGH);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, 500, v), 0));
    cr_assert(eq(sz, count_anomalies(v, 500), 0));
}

Test(zscore, batch_fills_the_band_from_the_global_mean_and_population_std)
{
    struct aiops_point pts[64];
    struct aiops_verdict v[64];
    struct aiops_detector_params p;
    double mean = 0.0, var = 0.0, std;
    uint64_t st = 3;

    for (size_t i = 0; i < 64; i++) {
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 5 + 2 * aiops_test_gauss(&st)};
        mean += pts[i].value;
    }
    mean /= 64;
    for (size_t i = 0; i < 64; i++)
        var += (pts[i].value - mean) * (pts[i].value - mean);
    std = sqrt(var / 64);
    params(&p, AIOPS_SENSITIVITY_LOW);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, 64, v), 0));
    for (size_t i = 0; i < 64; i++) {
        double z = fabs(pts[i].value - mean) / std;

        cr_assert(ieee_ulp_eq(dbl, v[i].expected, mean, 8));
        cr_assert(epsilon_eq(dbl, v[i].statistic, z, 1e-9));
        cr_assert(epsilon_eq(dbl, v[i].lower, mean - 4.0 * std, 1e-9));
        cr_assert(epsilon_eq(dbl, v[i].upper, mean + 4.0 * std, 1e-9));
        cr_assert(eq(int, v[i].is_anomaly, z > 4.0));
    }
}

Test(zscore, batch_finds_nothing_in_a_constant_series)
{
    struct aiops_point pts[30];
    struct aiops_verdict v[30];
    struct aiops_detector_params p;

    for (size_t i = 0; i < 30; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 0.1};
    params(&p, AIOPS_SENSITIVITY_HIGH);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, 30, v), 0));
    for (size_t i = 0; i < 30; i++) {
        cr_assert(not(v[i].is_anomaly));
        cr_assert(eq(dbl, v[i].score, 0.0));
        cr_assert(eq(dbl, v[i].expected, 0.1));
    }
}

Test(zscore, higher_sensitivity_flags_a_superset_of_points)
{
    enum { N = 2000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[3][N];
    struct aiops_detector_params p;
    size_t count[3];
    uint64_t st = 11;

    for (size_t i = 0; i < N; i++)
        pts[i] =
            (struct aiops_point){.ts_ms = (int64_t)i, .value = 100 + 5 * aiops_test_gauss(&st)};
    for (size_t i = 0; i < N; i += 97)
        pts[i].value += 5.0 * (double)(i % 5 + 1); /* spikes of 1 to 5 sigma */
    for (int s = 0; s < 3; s++) {
        params(&p, (enum aiops_sensitivity)s);
        cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, N, v[s]), 0));
        count[s] = count_anomalies(v[s], N);
    }
    cr_assert(count[AIOPS_SENSITIVITY_HIGH] > count[AIOPS_SENSITIVITY_LOW], "high %zu low %zu",
              count[AIOPS_SENSITIVITY_HIGH], count[AIOPS_SENSITIVITY_LOW]);
    cr_assert(count[AIOPS_SENSITIVITY_LOW] > 0);
    for (size_t i = 0; i < N; i++) {
        if (v[AIOPS_SENSITIVITY_LOW][i].is_anomaly)
            cr_assert(v[AIOPS_SENSITIVITY_MEDIUM][i].is_anomaly, "point %zu", i);
        if (v[AIOPS_SENSITIVITY_MEDIUM][i].is_anomaly)
            cr_assert(v[AIOPS_SENSITIVITY_HIGH][i].is_anomaly, "point %zu", i);
    }
}

static struct aiops_detector *make(uint32_t window, enum aiops_sensitivity s)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    params(&p, s);
    p.window = window;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_zscore_ops, &p), 0));
    return d;
}

Test(zscore, incremental_flags_a_spike_after_the_warm_up)
{
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_verdict v;
    uint64_t st = 5;

    for (int i = 0; i < 400; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = 50 + aiops_test_noise(&st)};

        if (i == 300)
            pt.value = 58.0;
        aiops_detector_update(d, &pt, &v);
        if (i >= 50) /* small early windows of uniform noise may legitimately flag */
            cr_assert(eq(int, v.is_anomaly, i == 300), "point %d score %g", i, v.score);
        if (i == 300)
            cr_assert(v.score > 0.99 && v.upper < 58.0 && v.expected < 50.2);
    }
    aiops_detector_destroy(d);
}

/* A level shift stays beyond the threshold for many points: the stream raises one alert for it,
 * holds its scores below 0.5 while the window absorbs the shift, and re-arms afterwards. */
Test(zscore, incremental_raises_one_alert_per_excursion_and_re_arms)
{
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_verdict v;
    uint64_t st = 9;
    int flags = 0, over_threshold = 0;

    for (int i = 0; i < 900; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = (i < 400 ? 50 : 60) + aiops_test_noise(&st)};

        if (i == 800)
            pt.value = 75.0;
        aiops_detector_update(d, &pt, &v);
        if (i < 50)
            continue;
        flags += v.is_anomaly;
        over_threshold += v.statistic > 3.0;
        if (i == 400 || i == 800)
            cr_assert(v.is_anomaly, "point %d", i);
        else if (i > 400 && i < 400 + 64)
            cr_assert(lt(dbl, v.score, 0.5), "point %d is held", i);
    }
    cr_assert(eq(int, flags, 2), "the shift and the spike");
    cr_assert(gt(int, over_threshold, 20), "the shift stayed beyond 3 sigma for %d points",
              over_threshold);
    aiops_detector_destroy(d);
}

Test(zscore, incremental_scores_nothing_before_min_window_10_points)
{
    struct aiops_detector *d = make(5, AIOPS_SENSITIVITY_HIGH);
    struct aiops_detector *e = make(256, AIOPS_SENSITIVITY_HIGH);
    struct aiops_verdict v, w;
    const double values[] = {1, 2, 1, 2, 1, 500, 2, 1, 2, 1, 900};

    for (int i = 0; i < 11; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = values[i]};

        aiops_detector_update(d, &pt, &v);
        aiops_detector_update(e, &pt, &w);
        if (i < 5)
            cr_assert(v.score == 0.0 && isnan(v.expected), "window 5, point %d", i);
        if (i < 10)
            cr_assert(w.score == 0.0 && !w.is_anomaly, "window 256, point %d", i);
    }
    cr_assert(v.is_anomaly, "the window-5 detector scores once 5 points are in");
    cr_assert(w.is_anomaly, "the window-256 detector scores from the 11th point");
    aiops_detector_destroy(d);
    aiops_detector_destroy(e);
}

Test(zscore, incremental_has_no_look_ahead)
{
    enum { N = 600, CUT = 350 };
    struct aiops_detector *a = make(64, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_detector *b = make(64, AIOPS_SENSITIVITY_MEDIUM);
    uint64_t sa = 9, sb = 9;

    for (int i = 0; i < N; i++) {
        struct aiops_point pa = {.ts_ms = i, .value = 10 + aiops_test_noise(&sa)};
        struct aiops_point pb = {.ts_ms = i, .value = 10 + aiops_test_noise(&sb)};
        struct aiops_verdict va, vb;

        if (i >= CUT)
            pb.value = 1000.0 * i; /* the futures differ wildly */
        aiops_detector_update(a, &pa, &va);
        aiops_detector_update(b, &pb, &vb);
        if (i < CUT)
            cr_assert(eq(dbl, va.score, vb.score), "point %d saw the future", i);
        if (i == CUT)
            cr_assert(vb.is_anomaly);
    }
    aiops_detector_destroy(a);
    aiops_detector_destroy(b);
}

Test(zscore, incremental_scores_each_point_against_the_window_before_it)
{
    enum { W = 16 };
    struct aiops_detector *d = make(W, AIOPS_SENSITIVITY_MEDIUM);
    double hist[100];
    uint64_t st = 21;

    for (int i = 0; i < 100; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = 3 * aiops_test_gauss(&st)};
        struct aiops_verdict v;

        hist[i] = pt.value;
        aiops_detector_update(d, &pt, &v);
        if (i >= 10) {
            int from = i >= W ? i - W : 0;
            double mean = 0, var = 0;

            for (int j = from; j < i; j++)
                mean += hist[j];
            mean /= i - from;
            for (int j = from; j < i; j++)
                var += (hist[j] - mean) * (hist[j] - mean);
            var /= i - from;
            /* The window keeps float offsets: 7 significant digits of each deviation. */
            cr_assert(epsilon_eq(dbl, v.expected, mean, 1e-6), "point %d", i);
            cr_assert(epsilon_eq(dbl, v.statistic, fabs(pt.value - mean) / sqrt(var), 1e-5));
        }
    }
    aiops_detector_destroy(d);
}

/* 1e6 points through a ring of 64 (wrapping ~15,000 times) on a large drifting level: the
 * running sums must stay equal to a naive recomputation of the window. */
Test(zscore, incremental_stays_bounded_and_exact_over_a_long_stream)
{
    enum { W = 64, N = 1000000 };
    struct aiops_detector *d = make(W, AIOPS_SENSITIVITY_MEDIUM);
    static double hist[W];
    uint64_t st = 99;
    long live = aiops_mem_live();
    size_t flagged = 0;

    for (int i = 0; i < N; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = 1e6 + i * 0.5 + aiops_test_gauss(&st)};
        struct aiops_verdict v;

        if (i % 10007 == 5000)
            pt.value += 40.0;
        aiops_detector_update(d, &pt, &v);
        cr_assert(v.score >= 0.0 && v.score <= 1.0 && isfinite(v.score));
        if (i >= W && (i % 97 == 0 || i % 10007 == 5000)) {
            double mean = 0, var = 0, z;

            for (int j = 0; j < W; j++)
                mean += hist[j];
            mean /= W;
            for (int j = 0; j < W; j++)
                var += (hist[j] - mean) * (hist[j] - mean);
            var /= W;
            z = fabs(pt.value - mean) / sqrt(var);
            cr_assert(epsilon_eq(dbl, v.expected, mean, 1e-6), "point %d", i);
            cr_assert(epsilon_eq(dbl, v.statistic, z, 1e-6 * (1 + z)), "point %d", i);
            if (fabs(z - 3.0) > 1e-6)
                cr_assert(eq(int, v.is_anomaly, z > 3.0), "point %d", i);
        }
        flagged += v.is_anomaly;
        hist[i % W] = pt.value;
    }
    cr_assert(flagged >= N / 10007, "every injected spike is flagged (%zu)", flagged);
    cr_assert(eq(long, aiops_mem_live(), live), "update allocated");
    aiops_detector_destroy(d);
}

Test(zscore, incremental_skips_non_finite_values)
{
    struct aiops_detector *d = make(16, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_verdict v;
    uint64_t st = 4;

    for (int i = 0; i < 40; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = 1 + aiops_test_noise(&st)};
        aiops_detector_update(d, &pt, &v);
    }
    aiops_detector_update(d, &(struct aiops_point){.value = NAN}, &v);
    cr_assert(v.score == 0.0 && !v.is_anomaly);
    aiops_detector_update(d, &(struct aiops_point){.value = INFINITY}, &v);
    aiops_detector_update(d, &(struct aiops_point){.value = 1.0}, &v);
    cr_assert(isfinite(v.expected) && v.score < 0.5, "the window was poisoned");
    aiops_detector_destroy(d);
}

Test(zscore, create_rejects_a_window_below_two)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    p.window = 1;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_zscore_ops, &p), AIOPS_EINVAL));
    cr_assert(eq(ptr, d, NULL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(zscore, incremental_keeps_the_precision_of_counters_near_1e12)
{
    struct aiops_detector_params p;
    struct aiops_detector *d;
    struct aiops_verdict v;
    uint64_t noise = 11;
    double sum = 0;

    aiops_detector_params_init(&p);
    p.window = 64;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_zscore_ops, &p), 0));
    /* A byte counter around 1e12 moving by a few units: a float of the value itself would
     * round to 65,536-byte steps and see no variance at all. */
    for (int i = 0; i < 64; i++) {
        struct aiops_point pt = {.ts_ms = i * 1000, .value = 1e12 + aiops_test_gauss(&noise)};

        sum += pt.value - 1e12;
        aiops_detector_update(d, &pt, &v);
        cr_assert(not(v.is_anomaly), "point %d", i);
    }
    aiops_detector_update(d, &(struct aiops_point){.ts_ms = 64000, .value = 1e12 + 20}, &v);
    cr_assert(v.is_anomaly);
    cr_assert(epsilon_eq(dbl, v.expected - 1e12, sum / 64, 1e-3));
    aiops_detector_destroy(d);
}

/* A daily cycle of amplitude 10 over unit noise, 8 days. A day whose peak overshoots to 2.5
 * times the amplitude leaves the series' range, and batch flags it there (the incremental
 * window, 21 hours, stretches with the rise and does not). A day whose trough never comes stays
 * inside the range: no z-score sees that, on either path (prophet and auto do). */
Test(zscore, a_broken_daily_period_is_flagged_only_where_it_leaves_the_range)
{
    enum { N = 8 * AIOPS_TEST_DAY, PEAK = 6 * AIOPS_TEST_DAY, TROUGH = 7 * AIOPS_TEST_DAY };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    size_t flagged = 0;

    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    aiops_test_daily(pts, N, 10, 99);
    for (size_t i = PEAK; i < PEAK + AIOPS_TEST_DAY / 2; i++)
        pts[i].value += 15 * sin(2 * M_PI * (double)(i - PEAK) / AIOPS_TEST_DAY);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, N, v), 0));
    for (size_t i = 0; i < N; i++) {
        cr_assert(not(v[i].is_anomaly && (i < PEAK || i >= PEAK + AIOPS_TEST_DAY / 2)), "at %zu",
                  i);
        flagged += v[i].is_anomaly;
    }
    cr_assert(gt(sz, flagged, 0), "the overshooting peak");

    aiops_test_daily(pts, N, 10, 99);
    for (size_t i = TROUGH + AIOPS_TEST_DAY / 2; i < N; i++)
        pts[i].value -= 10 * sin(2 * M_PI * (double)(i - TROUGH) / AIOPS_TEST_DAY);
    cr_assert(eq(int, aiops_zscore_ops.batch(&p, pts, N, v), 0));
    cr_assert(eq(sz, count_anomalies(v, N), 0));
    aiops_test_stream(&aiops_zscore_ops, &p, pts, N, v);
    for (size_t i = TROUGH + AIOPS_TEST_DAY / 2; i < N; i++)
        cr_assert(not(v[i].is_anomaly), "at %zu", i);
}
