/* SPDX-License-Identifier: MIT */
/* The isolation forest: the flat trees against Liu et al.'s definitions, the batch path on a
 * whole series, the incremental path over a sliding window, calibration (clean data stays
 * quiet) and the sensitivity order. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/iforest.h"
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

TestSuite(iforest, .fini = fini);

static void params(struct aiops_detector_params *p, enum aiops_sensitivity s, uint32_t window)
{
    aiops_detector_params_init(p);
    p->sensitivity = s;
    p->window = window;
}

static size_t count_anomalies(const struct aiops_verdict *v, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += v[i].is_anomaly;
    return k;
}

static void fill_gauss(struct aiops_point *pts, size_t n, double mean, double sd, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 60000,
                                      .value = mean + sd * aiops_test_gauss(&seed)};
}

static void run_incremental(const struct aiops_detector_params *p, const struct aiops_point *pts,
                            size_t n, struct aiops_verdict *v)
{
    struct aiops_detector *d = NULL;

    cr_assert(eq(int, aiops_detector_create(&d, &aiops_iforest_ops, p), 0));
    for (size_t i = 0; i < n; i++)
        aiops_detector_update(d, &pts[i], &v[i]);
    aiops_detector_destroy(d);
}

/* ---- the forest ------------------------------------------------------------------------ */

Test(iforest, c_is_the_mean_unsuccessful_search_length_of_a_bst)
{
    cr_assert(eq(dbl, aiops_iforest_c(0), 0.0));
    cr_assert(eq(dbl, aiops_iforest_c(1), 0.0));
    cr_assert(eq(dbl, aiops_iforest_c(2), 1.0));
    /* 2 H(255) - 2 * 255 / 256 with H(i) ~ ln(i) + Euler's constant (Liu et al., eq. 1) */
    cr_assert(
        epsilon_eq(dbl, aiops_iforest_c(256), 2 * (log(255.0) + 0.5772156649) - 510.0 / 256, 1e-9));
    cr_assert(aiops_iforest_c(1000) > aiops_iforest_c(256));
}

Test(iforest, init_refuses_impossible_shapes)
{
    struct aiops_iforest f;

    cr_assert(eq(int, aiops_iforest_init(&f, 0, 256, 3), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_iforest_init(&f, 10, 1, 3), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_iforest_init(&f, 10, 256, 0), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_iforest_init(&f, 10, 256, 256), AIOPS_EINVAL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(iforest, init_leaks_nothing_when_an_allocation_fails)
{
    struct aiops_iforest f;
    int err;

    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = aiops_iforest_init(&f, 16, 256, 4);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(long, aiops_mem_live(), 0), "leak at allocation %ld", n);
    }
    aiops_iforest_fini(&f);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

/* An outlier is isolated in fewer cuts than any member of a tight cluster, and the height
 * limit bounds every path. */
Test(iforest, isolates_an_outlier_before_the_cluster)
{
    enum { N = 256, D = 2 };
    static double rows[N * D];
    uint32_t idx[N];
    struct aiops_iforest f;
    uint64_t st = 3, rng = 42;
    double out[D] = {25.0, -25.0}, h_out, h_in = 0.0;

    for (uint32_t i = 0; i < N; i++) {
        rows[i * D] = aiops_test_gauss(&st);
        rows[i * D + 1] = aiops_test_gauss(&st);
    }
    rows[(N - 1) * D] = out[0];
    rows[(N - 1) * D + 1] = out[1];
    cr_assert(eq(int, aiops_iforest_init(&f, 64, N, D), 0));
    cr_assert(eq(u32, f.height, 8));
    for (uint32_t t = 0; t < f.n_trees; t++) {
        for (uint32_t i = 0; i < N; i++)
            idx[i] = i;
        aiops_iforest_build(&f, t, rows, idx, N, &rng);
    }
    static double all[N];

    aiops_iforest_path_lengths(&f, rows, N, all);
    for (uint32_t i = 0; i < N; i++) /* the blocked walk adds the same numbers */
        cr_assert(
            ieee_ulp_eq(dbl, all[i], aiops_iforest_path_length(&f, f.n_trees, &rows[i * D]), 64),
            "row %u", i);
    h_out = aiops_iforest_path_length(&f, f.n_trees, out);
    for (uint32_t i = 0; i < N - 1; i++) {
        double h = aiops_iforest_path_length(&f, f.n_trees, &rows[i * D]);

        cr_assert(h > 0.0 && h <= 8.0 + aiops_iforest_c(N), "row %u: h %g", i, h);
        h_in += h / (N - 1);
    }
    cr_assert(h_out < 3.0, "outlier path %g", h_out);
    cr_assert(h_in > 7.0, "cluster path %g", h_in);
    cr_assert(aiops_iforest_score(&f, h_out) > 0.75);
    cr_assert(aiops_iforest_score(&f, h_in) < 0.55);
    aiops_iforest_fini(&f);
}

/* Identical points cannot be cut: the root is a leaf worth c(n), so every point scores 0.5. */
Test(iforest, a_sample_of_identical_points_is_one_leaf)
{
    enum { N = 40, D = 3 };
    double rows[N * D], other[D] = {9.0, 9.0, 9.0};
    uint32_t idx[N];
    struct aiops_iforest f;
    uint64_t rng = 1;

    for (uint32_t i = 0; i < N * D; i++)
        rows[i] = 1.5;
    for (uint32_t i = 0; i < N; i++)
        idx[i] = i;
    cr_assert(eq(int, aiops_iforest_init(&f, 1, N, D), 0));
    aiops_iforest_build(&f, 0, rows, idx, N, &rng);
    cr_assert(epsilon_eq(dbl, aiops_iforest_path_length(&f, 1, rows), aiops_iforest_c(N), 1e-5));
    cr_assert(epsilon_eq(dbl, aiops_iforest_path_length(&f, 1, other), aiops_iforest_c(N), 1e-5));
    cr_assert(epsilon_eq(dbl, aiops_iforest_score(&f, aiops_iforest_c(N)), 0.5, 1e-5));
    aiops_iforest_fini(&f);
}

/* ---- batch ----------------------------------------------------------------------------- */

Test(iforest, batch_flags_a_single_spike_in_noise_and_nothing_else)
{
    enum { N = 500 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    fill_gauss(pts, N, 50.0, 1.0, 1);
    pts[321].value = 60.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
    cr_assert(v[321].is_anomaly);
    cr_assert(v[321].score > 0.75, "spike scored %g", v[321].score);
    for (size_t i = 0; i < N; i++) {
        cr_assert(v[i].score >= 0.0 && v[i].score <= 1.0);
        cr_assert(eq(int, v[i].is_anomaly, v[i].score > 0.5));
        /* the fall back from the spike is as sudden as the rise */
        if (i != 321 && i != 322)
            cr_assert(not(v[i].is_anomaly), "point %zu scored %g", i, v[i].score);
    }
    cr_assert(isnan(v[0].expected) && v[0].statistic > 0.0 && v[0].statistic < 1.0);
}

/* The old service's README example. */
Test(iforest, batch_flags_the_spike_of_the_readme_example)
{
    static const double values[] = {45.2, 48.1, 46.8, 47.5, 98.5, 46.2, 47.9, 45.8, 46.5, 47.1};
    struct aiops_point pts[10];
    struct aiops_verdict v[10];
    struct aiops_detector_params p;

    for (size_t i = 0; i < 10; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 60000, .value = values[i]};
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, 10, v), 0));
    cr_assert(v[4].is_anomaly, "98.5 scored %g", v[4].score);
    for (size_t i = 0; i < 10; i++)
        cr_assert(i == 4 || i == 5 || !v[i].is_anomaly, "point %zu scored %g", i, v[i].score);
}

Test(iforest, batch_stays_quiet_on_clean_noise)
{
    enum { N = 2000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    fill_gauss(pts, N, 20.0, 0.3, 7);
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
    cr_assert(count_anomalies(v, N) <= N / 500, "%zu flagged", count_anomalies(v, N));
}

Test(iforest, batch_finds_nothing_in_a_constant_series_and_skips_non_finite_values)
{
    enum { N = 300 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    for (size_t i = 0; i < N; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = 0.1};
    pts[10].value = NAN;
    pts[20].value = INFINITY;
    params(&p, AIOPS_SENSITIVITY_HIGH, 256);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
    cr_assert(eq(sz, count_anomalies(v, N), 0));
    cr_assert(eq(dbl, v[10].score, 0.0));
    cr_assert(isnan(v[20].statistic));
    /* fewer than two finite values: nothing to build a tree from */
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts + 10, 1, v), 0));
    cr_assert(eq(dbl, v[0].score, 0.0));
}

Test(iforest, batch_is_deterministic_under_a_seed)
{
    enum { N = 600 };
    static struct aiops_point pts[N];
    static struct aiops_verdict a[N], b[N], c[N];
    struct aiops_detector_params p;
    bool differs = false;

    fill_gauss(pts, N, 5.0, 2.0, 9);
    pts[100].value = 30.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, a), 0));
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, b), 0));
    p.seed = 7;
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, c), 0));
    for (size_t i = 0; i < N; i++) {
        cr_assert(eq(dbl, a[i].score, b[i].score), "point %zu", i);
        differs |= a[i].score != c[i].score;
    }
    cr_assert(differs, "the seed changes nothing");
    cr_assert(a[100].is_anomaly && c[100].is_anomaly);
}

/* ---- incremental ----------------------------------------------------------------------- */

Test(iforest, incremental_flags_a_spike_and_a_level_shift_once_each)
{
    enum { N = 3000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    size_t shift_flags = 0;

    fill_gauss(pts, N, 100.0, 2.0, 11);
    pts[1500].value += 25.0;
    for (size_t i = 2200; i < N; i++)
        pts[i].value += 30.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    run_incremental(&p, pts, N, v);
    cr_assert(v[1500].is_anomaly, "spike scored %g", v[1500].score);
    for (size_t i = 2200; i < 2210; i++)
        shift_flags += v[i].is_anomaly;
    cr_assert(shift_flags >= 1, "the level shift went unseen");
    /* One report per episode: the points after the shift are not reported again and again. */
    cr_assert(count_anomalies(v + 2200, N - 2200) <= 3, "%zu flags after the shift",
              count_anomalies(v + 2200, N - 2200));
    /* Unless it reports every point (every_point), as a batch of increments does. */
    cr_assert(eq(int, aiops_detector_batch_incremental(&aiops_iforest_ops, &p, pts, N, v), 0));
    cr_assert(gt(sz, count_anomalies(v + 2200, N - 2200), 3));
}

Test(iforest, incremental_stays_quiet_on_clean_noise_and_a_clean_wave)
{
    enum { N = 10000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    uint64_t st = 5;

    fill_gauss(pts, N, 50.0, 1.0, 13);
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    run_incremental(&p, pts, N, v);
    cr_assert(count_anomalies(v, N) <= N / 500, "noise: %zu flagged", count_anomalies(v, N));
    for (size_t i = 0; i < N; i++)
        pts[i].value = 10 + 3 * sin((double)i / 30.0) + 0.3 * aiops_test_gauss(&st);
    run_incremental(&p, pts, N, v);
    cr_assert(count_anomalies(v, N) <= N / 500, "wave: %zu flagged", count_anomalies(v, N));
}

Test(iforest, incremental_is_quiet_while_warming_up_and_skips_non_finite_values)
{
    enum { N = 400 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    fill_gauss(pts, N, 1.0, 0.1, 17);
    pts[5].value = 1e9; /* before any forest: never scored */
    pts[300].value = NAN;
    params(&p, AIOPS_SENSITIVITY_HIGH, 64);
    run_incremental(&p, pts, N, v);
    for (size_t i = 0; i < 64; i++) {
        cr_assert(eq(dbl, v[i].score, 0.0));
        cr_assert(not(v[i].is_anomaly));
    }
    cr_assert(eq(dbl, v[300].score, 0.0));
    cr_assert(isnan(v[300].statistic));
}

Test(iforest, incremental_works_with_the_smallest_window)
{
    enum { N = 300 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    fill_gauss(pts, N, 1.0, 0.1, 19);
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 2);
    run_incremental(&p, pts, N, v);
    for (size_t i = 0; i < N; i++)
        cr_assert(v[i].score >= 0.0 && v[i].score <= 1.0);
    p.window = 1;
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
}

Test(iforest, incremental_is_deterministic_and_the_seed_matters)
{
    enum { N = 1500 };
    static struct aiops_point pts[N];
    static struct aiops_verdict a[N], b[N], c[N];
    struct aiops_detector_params p;
    bool differs = false;

    fill_gauss(pts, N, 3.0, 1.0, 23);
    params(&p, AIOPS_SENSITIVITY_MEDIUM, 128);
    run_incremental(&p, pts, N, a);
    run_incremental(&p, pts, N, b);
    p.seed = 99;
    run_incremental(&p, pts, N, c);
    for (size_t i = 0; i < N; i++) {
        cr_assert(eq(dbl, a[i].score, b[i].score), "point %zu", i);
        differs |= a[i].score != c[i].score;
    }
    cr_assert(differs);
}

/* Higher sensitivity flags at least as many points, on noise with spikes of every size. */
Test(iforest, higher_sensitivity_flags_more)
{
    enum { N = 4000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    size_t inc[3], bat[3];

    fill_gauss(pts, N, 100.0, 5.0, 29);
    for (size_t i = 300; i < N; i += 157)
        pts[i].value += 5.0 * (double)(i % 6 + 1); /* 1 to 6 sigma */
    for (int s = 0; s < 3; s++) {
        params(&p, (enum aiops_sensitivity)s, 256);
        run_incremental(&p, pts, N, v);
        inc[s] = count_anomalies(v, N);
        cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
        bat[s] = count_anomalies(v, N);
    }
    cr_assert(inc[0] <= inc[1] && inc[1] <= inc[2], "incremental %zu %zu %zu", inc[0], inc[1],
              inc[2]);
    cr_assert(bat[0] <= bat[1] && bat[1] <= bat[2], "batch %zu %zu %zu", bat[0], bat[1], bat[2]);
    cr_assert(inc[2] > inc[0] && bat[2] > bat[0]);
}

Test(iforest, is_registered_under_its_name_and_aliases)
{
    cr_assert(eq(ptr, (void *)aiops_detector_find("isolation-forest"), (void *)&aiops_iforest_ops));
    cr_assert(eq(ptr, (void *)aiops_detector_find("iforest"), (void *)&aiops_iforest_ops));
    cr_assert(eq(ptr, (void *)aiops_detector_find("isolation_forest"), (void *)&aiops_iforest_ops));
    cr_assert(eq(str, (char *)aiops_iforest_ops.category, "ml"));
}

Test(iforest, explains_with_the_value_and_the_isolation_score)
{
    struct aiops_verdict v = {.score = 0.9, .is_anomaly = true, .statistic = 0.81};
    char buf[200];

    aiops_iforest_ops.explain(&v, 42.0, buf, sizeof(buf));
    cr_assert(eq(str, buf,
                 "value 42 is isolated in unusually few random cuts (isolation score 0.810, "
                 "anomaly score 0.900)"));
    v.statistic = NAN;
    aiops_iforest_ops.explain(&v, 42.0, buf, sizeof(buf));
    cr_assert(eq(str, buf, "value 42 has anomaly score 0.900"));
}

/* A daily cycle of amplitude 10 over unit noise, 8 days, whose last trough never comes: every
 * value, change and recent shape of the broken half-day also occurs on normal days, so neither
 * path isolates it (a known limit of these features; prophet and auto flag it). */
Test(iforest, a_broken_daily_period_within_the_range_is_not_isolated)
{
    enum { N = 8 * AIOPS_TEST_DAY, TROUGH = 7 * AIOPS_TEST_DAY + AIOPS_TEST_DAY / 2 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    params(&p, AIOPS_SENSITIVITY_MEDIUM, 256);
    aiops_test_daily(pts, N, 10, 99);
    for (size_t i = TROUGH; i < N; i++)
        pts[i].value -= 10 * sin(2 * M_PI * (double)i / AIOPS_TEST_DAY);
    cr_assert(eq(int, aiops_iforest_ops.batch(&p, pts, N, v), 0));
    for (size_t i = TROUGH; i < N; i++)
        cr_assert(not(v[i].is_anomaly), "batch, at %zu", i);
    run_incremental(&p, pts, N, v);
    for (size_t i = TROUGH; i < N; i++)
        cr_assert(not(v[i].is_anomaly), "incremental, at %zu", i);
}
