/* SPDX-License-Identifier: MIT */
/* The LOF detector: known answers on constructed series (spike, level shift, broken season,
 * quiet noise) on both paths, batch LOF against a naive O(n^2) computation, reproducibility,
 * bounded memory and init's allocation-failure ladder. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/lof.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(lof, .fini = fini);

static struct aiops_detector *make(uint32_t window, enum aiops_sensitivity s)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    p.sensitivity = s;
    p.window = window;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_lof_ops, &p), 0));
    return d;
}

/* Runs the incremental path over pts (window 256, medium) into v. */
static void replay(const struct aiops_point *pts, size_t n, struct aiops_verdict *v)
{
    struct aiops_detector *d = make(256, AIOPS_SENSITIVITY_MEDIUM);

    for (size_t i = 0; i < n; i++)
        aiops_detector_update(d, &pts[i], &v[i]);
    aiops_detector_destroy(d);
}

static size_t count_flags(const struct aiops_verdict *v, size_t from, size_t to)
{
    size_t k = 0;

    for (size_t i = from; i < to; i++)
        k += v[i].is_anomaly;
    return k;
}

/* Index of the first flag in [from, to), or `to`. */
static size_t first_flag(const struct aiops_verdict *v, size_t from, size_t to)
{
    while (from < to && !v[from].is_anomaly)
        from++;
    return from;
}

static void noisy(struct aiops_point *pts, size_t n, double level, double sd, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000,
                                      .value = level + sd * aiops_test_gauss(&seed)};
}

Test(lof, incremental_flags_a_spike_within_a_few_points_and_nothing_before)
{
    enum { N = 1500, AT = 1000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    size_t f;

    noisy(pts, N, 50.0, 1.0, 3);
    pts[AT].value = 62.0;
    replay(pts, N, v);
    f = first_flag(v, 0, N);
    cr_assert(f >= AT && f <= AT + 3, "first flag at %zu, spike at %d", f, AT);
    cr_assert(v[AT].statistic > 3.0, "spike LOF %g", v[AT].statistic);
    cr_assert(v[AT].expected > 47.0 && v[AT].expected < 53.0);
    cr_assert(v[AT].upper < 62.0);
}

Test(lof, batch_flags_a_spike_within_a_few_points_and_nowhere_else)
{
    enum { N = 1500, AT = 1000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    noisy(pts, N, 50.0, 1.0, 3);
    pts[AT].value = 62.0;
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, v), 0));
    cr_assert(v[AT].statistic > 3.0, "spike LOF %g", v[AT].statistic);
    for (size_t i = 0; i < N; i++) {
        if (i < AT || i > AT + 3) /* the spike is in the next points' shingles */
            cr_assert(v[i].statistic < v[AT].statistic, "point %zu LOF %g", i, v[i].statistic);
    }
    cr_assert(eq(sz, count_flags(v, 0, AT), 0));
    cr_assert(count_flags(v, AT, AT + 4) > 0);
    cr_assert(eq(sz, count_flags(v, AT + 9, N), 0));
}

Test(lof, incremental_flags_a_level_shift_near_its_start)
{
    enum { N = 2000, AT = 1200 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    size_t f;

    noisy(pts, N, 20.0, 1.0, 17);
    for (size_t i = AT; i < N; i++)
        pts[i].value += 8.0;
    replay(pts, N, v);
    cr_assert(eq(sz, count_flags(v, 0, AT), 0));
    f = first_flag(v, AT, N);
    cr_assert(f <= AT + 10, "first flag %zu points after the shift", f - AT);
    cr_assert(eq(sz, count_flags(v, f + 1, f + 60), 0), "held back after the flag");
    /* Unless it reports every point (every_point), as a batch of increments does. */
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detector_batch_incremental(&aiops_lof_ops, &p, pts, N, v), 0));
    cr_assert(gt(sz, count_flags(v, f + 1, f + 60), 0));
}

Test(lof, both_paths_flag_a_broken_period_of_a_seasonal_series)
{
    enum { N = 2400, PERIOD = 48, BROKEN = 40 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N], b[N];
    struct aiops_detector_params p;
    uint64_t st = 23;
    size_t from = BROKEN * PERIOD, to = from + PERIOD;

    for (size_t i = 0; i < N; i++) {
        double x = 100.0 + 30.0 * sin(2.0 * M_PI * (double)i / PERIOD) + aiops_test_noise(&st);

        if (i >= from && i < to) /* one period runs at twice the frequency */
            x = 100.0 + 30.0 * sin(4.0 * M_PI * (double)i / PERIOD) + aiops_test_noise(&st);
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = x};
    }
    replay(pts, N, v);
    cr_assert(eq(sz, count_flags(v, 0, from), 0), "flagged before the broken period");
    cr_assert(first_flag(v, from, to) < to, "missed the broken period");
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, b), 0));
    cr_assert(count_flags(b, from, to + 3) > 0, "batch missed the broken period");
    cr_assert(count_flags(b, 0, N) < N / 50, "batch flagged %zu", count_flags(b, 0, N));
}

/* Quiet over 5,000 points (a NAB file is ~4,000); over 20,000 the corners of the 5-D noise box
 * are sparse enough now and then (4 flags, LOF 1.6 to 2.2): rare, not never. */
Test(lof, a_flat_noisy_series_stays_quiet_at_medium_on_both_paths)
{
    enum { N = 20000, QUIET = 5000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;

    noisy(pts, N, 40.0, 0.5, 5);
    replay(pts, N, v);
    cr_assert(eq(sz, count_flags(v, 0, QUIET), 0));
    cr_assert(count_flags(v, 0, N) < N / 2000, "flagged %zu", count_flags(v, 0, N));
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, QUIET, v), 0));
    cr_assert(eq(sz, count_flags(v, 0, QUIET), 0));
}

/* Gaussian noise has 4-sigma values now and then, which LOF rightly finds sparse: rare flags
 * (the z-score detector at 3 sigma flags 0.27% of such points) but no more. */
Test(lof, gaussian_noise_is_flagged_rarely_at_medium)
{
    enum { N = 20000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    uint64_t st = 5;

    for (size_t i = 0; i < N; i++)
        pts[i] =
            (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = 40 + aiops_test_gauss(&st)};
    replay(pts, N, v);
    cr_assert(count_flags(v, 0, N) < N / 500, "flagged %zu", count_flags(v, 0, N));
}

Test(lof, a_constant_series_scores_zero_and_a_change_in_it_is_flagged)
{
    enum { N = 600, AT = 500 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];

    for (size_t i = 0; i < N; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = i < AT ? 7.0 : 7.5};
    replay(pts, N, v);
    for (size_t i = 0; i < AT; i++)
        cr_assert(eq(dbl, v[i].score, 0.0), "point %zu", i);
    cr_assert(v[AT].is_anomaly);
}

Test(lof, batch_and_incremental_agree_on_where_isolated_spikes_are)
{
    enum { N = 3000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N], b[N];
    struct aiops_detector_params p;
    const size_t spikes[] = {900, 1500, 2200, 2800};

    noisy(pts, N, 10.0, 1.0, 41);
    for (size_t s = 0; s < 4; s++)
        pts[spikes[s]].value += s % 2 ? -9.0 : 9.0;
    replay(pts, N, v);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, b), 0));
    for (size_t s = 0; s < 4; s++) {
        cr_assert(count_flags(v, spikes[s], spikes[s] + 4) == 1, "incremental, spike %zu", s);
        cr_assert(count_flags(b, spikes[s], spikes[s] + 4) > 0, "batch, spike %zu", s);
    }
    /* Batch flags every outlying point, incremental one per incident: both only near spikes
     * (a spike lifts the LOF of the 3 points whose shingle holds it, and the trailing mean of 6
     * log-LOFs after those). */
    for (size_t i = 0; i < N; i++) {
        bool near = false;

        for (size_t s = 0; s < 4; s++)
            near = near || (i >= spikes[s] && i <= spikes[s] + 8);
        if (!near) {
            cr_assert(not(v[i].is_anomaly), "incremental flagged %zu", i);
            cr_assert(not(b[i].is_anomaly), "batch flagged %zu", i);
        }
    }
}

/* The 20 nearest rows to row i of f (stride 5), nearest first, by a full scan. */
static void naive_knn(const double *f, size_t n, size_t i, size_t *idx, double *d)
{
    size_t found = 0;

    for (size_t j = 0; j < n; j++) {
        double s = 0.0;
        size_t at;

        if (j == i)
            continue;
        for (int c = 0; c < 5; c++)
            s += (f[i * 5 + c] - f[j * 5 + c]) * (f[i * 5 + c] - f[j * 5 + c]);
        s = sqrt(s);
        if (found == 20 && s >= d[19])
            continue;
        at = found < 20 ? found++ : 19;
        while (at > 0 && d[at - 1] > s) {
            d[at] = d[at - 1];
            idx[at] = idx[at - 1];
            at--;
        }
        d[at] = s;
        idx[at] = j;
    }
}

/* Local reachability density of row i, k = 20, reachability floored at 0.05 as lof.c does. */
static double naive_lrd(const double *f, size_t n, size_t i)
{
    size_t idx[20], oidx[20];
    double d[20], od[20], sum = 0.0;

    naive_knn(f, n, i, idx, d);
    for (int j = 0; j < 20; j++) {
        naive_knn(f, n, idx[j], oidx, od);
        sum += fmax(fmax(od[19], d[j]), 0.05);
    }
    return 20.0 / sum;
}

static double naive_lof(const double *f, size_t n, size_t i)
{
    size_t idx[20];
    double d[20], sum = 0.0;

    naive_knn(f, n, i, idx, d);
    for (int j = 0; j < 20; j++)
        sum += naive_lrd(f, n, idx[j]);
    return sum / 20.0 / naive_lrd(f, n, i);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *a, size_t n)
{
    qsort(a, n, sizeof(*a), cmp_double);
    return a[n / 2];
}

Test(lof, batch_lof_equals_a_naive_computation_on_the_documented_features)
{
    enum { N = 300 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    static double f[N * 5], col[N];
    struct aiops_detector_params p;
    uint64_t st = 8;

    for (size_t i = 0; i < N; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i,
                                      .value = 5 * sin(i / 9.0) + aiops_test_gauss(&st) +
                                               (i == 200) * 9};
    for (size_t i = 0; i < N; i++) {
        double p1 = pts[i >= 1 ? i - 1 : 0].value, p2 = pts[i >= 2 ? i - 2 : 0].value;
        double p3 = pts[i >= 3 ? i - 3 : 0].value;

        if (i == 0)
            p1 = p2 = p3 = pts[0].value;
        else if (i == 1)
            p2 = p3 = pts[0].value;
        else if (i == 2)
            p3 = pts[0].value;
        f[i * 5 + 0] = pts[i].value;
        f[i * 5 + 1] = pts[i].value - p1;
        f[i * 5 + 2] = p1;
        f[i * 5 + 3] = p2;
        f[i * 5 + 4] = p3;
    }
    for (int c = 0; c < 5; c++) {
        double med, mad;

        for (size_t i = 0; i < N; i++)
            col[i] = f[i * 5 + c];
        med = median(col, N);
        for (size_t i = 0; i < N; i++)
            col[i] = fabs(f[i * 5 + c] - med);
        mad = median(col, N) * 1.4826;
        for (size_t i = 0; i < N; i++)
            f[i * 5 + c] /= mad;
    }
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, v), 0));
    for (size_t i = 0; i < N; i += 7) {
        double want = naive_lof(f, N, i);

        cr_assert(epsilon_eq(dbl, v[i].statistic, want, 1e-9 * want), "point %zu: %g vs %g", i,
                  v[i].statistic, want);
    }
    cr_assert(v[200].statistic > 2.0);
}

Test(lof, both_paths_are_reproducible)
{
    enum { N = 3000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict a[N], b[N];
    struct aiops_detector_params p;

    noisy(pts, N, 0.0, 3.0, 77);
    for (size_t i = 0; i < N; i += 211)
        pts[i].value += 20.0;
    replay(pts, N, a);
    replay(pts, N, b);
    cr_assert(eq(int, memcmp(a, b, sizeof(a)), 0));
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, a), 0));
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, b), 0));
    cr_assert(eq(int, memcmp(a, b, sizeof(a)), 0));
}

Test(lof, memory_stays_bounded_over_a_long_stream)
{
    struct aiops_detector *d = make(1024, AIOPS_SENSITIVITY_HIGH);
    long live = aiops_mem_live();
    uint64_t st = 31;
    size_t flagged = 0;

    for (int i = 0; i < 100000; i++) {
        struct aiops_point pt = {
            .ts_ms = i, .value = 1e4 + 50 * sin(i / 40.0) + 3 * aiops_test_gauss(&st) + i * 0.01};
        struct aiops_verdict v;

        if (i % 5003 == 4000)
            pt.value += 60.0;
        if (i == 70000)
            pt.value = NAN;
        aiops_detector_update(d, &pt, &v);
        cr_assert(v.score >= 0.0 && v.score <= 1.0, "point %d score %g", i, v.score);
        flagged += v.is_anomaly;
    }
    cr_assert(eq(long, aiops_mem_live(), live));
    cr_assert(flagged >= 10 && flagged < 1000, "flagged %zu", flagged);
    aiops_detector_destroy(d);
}

Test(lof, non_finite_values_are_unscored_and_skipped)
{
    struct aiops_detector *d = make(64, AIOPS_SENSITIVITY_MEDIUM);
    struct aiops_point pts[5] = {{0, 1.0}, {1, NAN}, {2, INFINITY}, {3, 2.0}, {4, -INFINITY}};
    struct aiops_verdict v[5];
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    for (int i = 0; i < 5; i++)
        aiops_detector_update(d, &pts[i], &v[i]);
    cr_assert(v[1].score == 0.0 && !v[1].is_anomaly && isnan(v[1].statistic));
    aiops_detector_destroy(d);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, 5, v), 0));
    for (int i = 0; i < 5; i++)
        cr_assert(eq(dbl, v[i].score, 0.0), "too few points to score");
}

Test(lof, init_rejects_a_window_below_two)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    p.window = 1;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_lof_ops, &p), AIOPS_EINVAL));
    cr_assert(eq(ptr, d, NULL));
}

Test(lof, a_tiny_window_still_works)
{
    struct aiops_detector *d = make(2, AIOPS_SENSITIVITY_HIGH);
    uint64_t st = 2;

    for (int i = 0; i < 500; i++) {
        struct aiops_point pt = {.ts_ms = i, .value = aiops_test_noise(&st)};
        struct aiops_verdict v;

        aiops_detector_update(d, &pt, &v);
        cr_assert(v.score >= 0.0 && v.score <= 1.0);
    }
    aiops_detector_destroy(d);
}

Test(lof, init_leaks_nothing_when_an_allocation_fails)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    p.window = 1024;
    aiops_test_create_with_failing_allocations(&aiops_lof_ops, &p);
}

Test(lof, explains_a_flag_with_the_value_its_lof_and_its_neighbours)
{
    enum { N = 1500, AT = 1000 };
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    char buf[256];

    noisy(pts, N, 50.0, 1.0, 3);
    pts[AT].value = 62.0;
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_lof_ops.batch(&p, pts, N, v), 0));
    aiops_lof_ops.explain(&v[AT], 62.0, buf, sizeof(buf));
    cr_assert(eq(int, strncmp(buf, "value 62 has local outlier factor ", 34), 0), "%s", buf);
    cr_assert(strstr(buf, "sparser") != NULL, "%s", buf);
}
