/* SPDX-License-Identifier: MIT */
/* The matrix-profile detector: the STOMP profile against a brute-force one, known answers on
 * spikes, level shifts, broken periods and plain noise, the incremental left profile against the
 * batch one, bounded memory and allocation failures. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/matrix_profile.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define M 16 /* the default subsequence */

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(matrix_profile, .fini = fini);

static void params(struct aiops_detector_params *p, enum aiops_sensitivity s)
{
    aiops_detector_params_init(p);
    p->sensitivity = s;
}

static size_t count_anomalies(const struct aiops_verdict *v, size_t from, size_t to)
{
    size_t k = 0;

    for (size_t i = from; i < to; i++)
        k += v[i].is_anomaly;
    return k;
}

/* Distance of x[s..s+m) and x[t..t+m), straight from the definition. */
static double naive_dist(const double *x, size_t s, size_t t, uint32_t m,
                         enum aiops_mp_distance kind)
{
    double ma = 0, mb = 0, va = 0, vb = 0, d2 = 0;

    for (uint32_t k = 0; k < m; k++) {
        ma += x[s + k] / m;
        mb += x[t + k] / m;
    }
    for (uint32_t k = 0; k < m; k++) {
        va += (x[s + k] - ma) * (x[s + k] - ma) / m;
        vb += (x[t + k] - mb) * (x[t + k] - mb) / m;
    }
    if (kind == AIOPS_MP_ZNORM) {
        bool fa = sqrt(va) <= 1e-10 * fabs(ma) || va == 0,
             fb = sqrt(vb) <= 1e-10 * fabs(mb) || vb == 0;

        if (fa || fb)
            return fa && fb ? 0.0 : sqrt((double)m);
    }
    for (uint32_t k = 0; k < m; k++) {
        double a = x[s + k], b = x[t + k];

        if (kind == AIOPS_MP_ZNORM) {
            a = (a - ma) / sqrt(va);
            b = (b - mb) / sqrt(vb);
        }
        d2 += (a - b) * (a - b);
    }
    return sqrt(d2);
}

static void check_against_brute_force(const double *x, size_t n, uint32_t m,
                                      enum aiops_mp_distance kind)
{
    size_t ns = n - m + 1;
    uint32_t excl = m / 2 > 0 ? m / 2 : 1;
    static double left[1024], full[1024];

    cr_assert(eq(int, aiops_matrix_profile_compute(x, n, m, excl, kind, left, full), 0));
    for (size_t s = 0; s < ns; s++) {
        double bl = INFINITY, bf = INFINITY;

        for (size_t t = 0; t < ns; t++) {
            double d;

            if ((s > t ? s - t : t - s) < excl)
                continue;
            d = naive_dist(x, s, t, m, kind);
            bf = fmin(bf, d);
            if (t < s)
                bl = fmin(bl, d);
        }
        /* Squared distances: sqrt near 0 magnifies the rounding of the dot-product form. */
        if (isinf(bl))
            cr_assert(isinf(left[s]), "m %u s %zu left %g", m, s, left[s]);
        else
            cr_assert(fabs(left[s] * left[s] - bl * bl) <= 1e-7 * (1 + bl * bl),
                      "m %u kind %d s %zu: %g vs %g", m, kind, s, left[s], bl);
        cr_assert(fabs(full[s] * full[s] - bf * bf) <= 1e-7 * (1 + bf * bf),
                  "m %u kind %d s %zu: %g vs %g", m, kind, s, full[s], bf);
    }
}

Test(matrix_profile, batch_profile_matches_a_brute_force_computation_for_several_lengths)
{
    static double x[400];
    uint32_t ms[] = {2, 4, 7, 16, 33};
    uint64_t st = 7;

    for (size_t i = 0; i < 400; i++)
        x[i] = 1000.0 + 10.0 * sin(i / 9.0) + aiops_test_noise(&st);
    for (size_t i = 200; i < 240; i++)
        x[i] = 1000.0; /* a flat stretch: the z-normalised convention for std 0 */
    for (size_t k = 0; k < sizeof(ms) / sizeof(ms[0]); k++) {
        check_against_brute_force(x, 400, ms[k], AIOPS_MP_RAW);
        check_against_brute_force(x, 400, ms[k], AIOPS_MP_ZNORM);
    }
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(matrix_profile, batch_profile_rejects_bad_arguments)
{
    double x[8] = {0};
    double out[8];

    cr_assert(
        eq(int, aiops_matrix_profile_compute(x, 8, 1, 1, AIOPS_MP_RAW, out, out), AIOPS_EINVAL));
    cr_assert(
        eq(int, aiops_matrix_profile_compute(x, 4, 5, 1, AIOPS_MP_RAW, out, out), AIOPS_EINVAL));
    cr_assert(
        eq(int, aiops_matrix_profile_compute(x, 8, 4, 0, AIOPS_MP_RAW, out, out), AIOPS_EINVAL));
}

Test(matrix_profile, batch_flags_a_single_spike_where_it_happens)
{
    static struct aiops_point pts[600];
    static struct aiops_verdict v[600];
    struct aiops_detector_params p;
    uint64_t st = 3;

    for (size_t i = 0; i < 600; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000,
                                      .value = 50 + 5 * sin(i / 12.0) + aiops_test_noise(&st)};
    pts[400].value += 25.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_matrix_profile_ops.batch(&p, pts, 600, v), 0));
    cr_assert(v[400].is_anomaly, "spike scored %g", v[400].score);
    cr_assert(eq(sz, count_anomalies(v, 0, 600), 1));
}

Test(matrix_profile, incremental_flags_a_spike_and_a_level_shift_near_their_start)
{
    static struct aiops_point pts[2000];
    struct aiops_verdict v;
    struct aiops_detector_params p;
    struct aiops_detector *d;
    uint64_t st = 5;
    size_t first_shift = 0, spike = 0, others = 0;

    for (size_t i = 0; i < 2000; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000,
                                      .value = 20 + 3 * sin(i / 30.0) + aiops_test_noise(&st)};
    pts[900].value += 20.0;
    for (size_t i = 1500; i < 2000; i++)
        pts[i].value += 15.0;
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_matrix_profile_ops, &p), 0));
    for (size_t i = 0; i < 2000; i++) {
        aiops_detector_update(d, &pts[i], &v);
        if (!v.is_anomaly)
            continue;
        if (i >= 900 && i < 900 + M && spike == 0)
            spike = i;
        else if (i >= 1500 && i < 1500 + M && first_shift == 0)
            first_shift = i;
        else
            others++;
    }
    aiops_detector_destroy(d);
    cr_assert(eq(sz, spike, 900));
    cr_assert(first_shift >= 1500 && first_shift < 1504, "shift flagged at %zu", first_shift);
    cr_assert(others <= 2, "%zu other flags", others);
}

Test(matrix_profile, batch_flags_the_one_broken_period_of_a_periodic_series)
{
    static struct aiops_point pts[2400];
    static struct aiops_verdict v[2400];
    struct aiops_detector_params p;
    uint64_t st = 11;
    size_t inside = 0;

    for (size_t i = 0; i < 2400; i++) {
        double phase = (double)(i % 96) / 96.0;

        pts[i].ts_ms = (int64_t)i * 300000;
        pts[i].value = 40 + 30 * sin(2 * M_PI * phase) + 0.5 * aiops_test_noise(&st);
        if (i >= 1248 && i < 1344) /* the 14th period is a flat-topped plateau instead */
            pts[i].value = 40 + 30 * fmin(sin(2 * M_PI * phase), 0.3);
    }
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_matrix_profile_ops.batch(&p, pts, 2400, v), 0));
    inside = count_anomalies(v, 1248, 1344 + M);
    cr_assert(inside >= 1, "nothing flagged in the broken period");
    cr_assert(eq(sz, count_anomalies(v, 0, 2400), inside), "flags outside the broken period");
}

/* Quiet: at most one flag per thousand points (a z of 3 on the distances' own distribution). */
Test(matrix_profile, stays_quiet_on_a_flat_noisy_series_at_medium)
{
    static struct aiops_point pts[3000];
    static struct aiops_verdict v[3000];
    struct aiops_detector_params p;
    uint64_t st = 13;

    for (size_t i = 0; i < 3000; i++) {
        double g = 0;

        for (int k = 0; k < 12; k++)
            g += (aiops_test_noise(&st) + 1) / 2;
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = 70 + (g - 6)};
    }
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_matrix_profile_ops.batch(&p, pts, 3000, v), 0));
    cr_assert(le(sz, count_anomalies(v, 0, 3000), 3), "batch");
    cr_assert(
        eq(int, aiops_detector_batch_incremental(&aiops_matrix_profile_ops, &p, pts, 3000, v), 0));
    cr_assert(le(sz, count_anomalies(v, 0, 3000), 3), "incremental");
}

Test(matrix_profile, high_sensitivity_flags_at_least_as_much_as_low)
{
    static struct aiops_point pts[3000];
    static struct aiops_verdict v[3000];
    struct aiops_detector_params p;
    size_t counts[3];
    uint64_t st = 17;

    for (size_t i = 0; i < 3000; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000,
                                      .value = 10 + sin(i / 40.0) + 0.3 * aiops_test_noise(&st) +
                                               (i % 211 == 0 ? 2.0 * aiops_test_noise(&st) : 0.0)};
    for (int s = 0; s < 3; s++) {
        params(&p, (enum aiops_sensitivity)s);
        cr_assert(eq(
            int, aiops_detector_batch_incremental(&aiops_matrix_profile_ops, &p, pts, 3000, v), 0));
        counts[s] = count_anomalies(v, 0, 3000);
    }
    cr_assert(counts[AIOPS_SENSITIVITY_LOW] <= counts[AIOPS_SENSITIVITY_MEDIUM]);
    cr_assert(counts[AIOPS_SENSITIVITY_MEDIUM] <= counts[AIOPS_SENSITIVITY_HIGH]);
}

/* The incremental statistic is the left profile (raw distance) over its history: equal to the
 * batch left profile of the series when the series fits in the history, and to the batch left
 * profile of the last history points later on. m is the subsequence length. */
static void check_incremental_against_batch(uint32_t m)
{
    enum { N = 5000, H = AIOPS_MP_MIN_HISTORY };
    static double x[N], left[N];
    struct aiops_detector_params p;
    struct aiops_detector *d;
    struct aiops_verdict v;
    uint64_t st = 19;
    uint32_t excl = m / 2;

    for (size_t i = 0; i < N; i++)
        x[i] = 1e4 + 100 * sin(i / 17.0) + 5 * aiops_test_noise(&st) + (i % 500 == 250 ? 60 : 0);
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    p.window = 64; /* below the minimum: the history is AIOPS_MP_MIN_HISTORY */
    p.subsequence = m;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_matrix_profile_ops, &p), 0));
    cr_assert(eq(int, aiops_matrix_profile_compute(x, H, m, excl, AIOPS_MP_RAW, left, NULL), 0));
    for (size_t t = 0; t < N; t++) {
        aiops_detector_update(d, &(struct aiops_point){.value = x[t]}, &v);
        if (t + 1 < m + excl) {
            cr_assert(isnan(v.statistic), "point %zu", t);
            continue;
        }
        if (t >= H && t % 97 == 0) { /* the same window, batch */
            cr_assert(eq(
                int,
                aiops_matrix_profile_compute(x + t + 1 - H, H, m, excl, AIOPS_MP_RAW, left, NULL),
                0));
            cr_assert(fabs(v.statistic - left[H - m]) <= 1e-6 * (1 + left[H - m]),
                      "m %u, point %zu: %.12g vs %.12g", m, t, v.statistic, left[H - m]);
        } else if (t < H) {
            cr_assert(fabs(v.statistic - left[t + 1 - m]) <= 1e-6 * (1 + left[t + 1 - m]),
                      "m %u, point %zu: %.12g vs %.12g", m, t, v.statistic, left[t + 1 - m]);
        }
    }
    aiops_detector_destroy(d);
}

Test(matrix_profile, incremental_left_profile_equals_the_batch_left_profile_over_its_window)
{
    check_incremental_against_batch(M);
}

Test(matrix_profile, a_configured_subsequence_length_is_the_one_compared)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;
    struct aiops_point pt = {.value = 1};
    struct aiops_verdict v;

    check_incremental_against_batch(40);
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    p.subsequence = 3;
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_matrix_profile_ops, &p), AIOPS_EINVAL));
    cr_assert(eq(ptr, d, NULL));
    cr_assert(eq(int, aiops_matrix_profile_ops.batch(&p, &pt, 1, &v), AIOPS_EINVAL));
}

Test(matrix_profile, memory_stays_bounded_over_a_hundred_thousand_updates)
{
    struct aiops_detector_params p;
    struct aiops_detector *d;
    struct aiops_verdict v;
    uint64_t st = 23;
    long live;

    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    cr_assert(eq(int, aiops_detector_create(&d, &aiops_matrix_profile_ops, &p), 0));
    live = aiops_mem_live();
    for (size_t i = 0; i < 100000; i++) {
        double x = 500 + 50 * sin(i / 50.0) + aiops_test_noise(&st) + (i % 7919 == 0 ? 300 : 0);

        if (i % 10007 == 5)
            x = NAN; /* gaps are skipped */
        aiops_detector_update(d, &(struct aiops_point){.value = x}, &v);
        cr_assert(v.score >= 0.0 && v.score <= 1.0);
        cr_assert(eq(long, aiops_mem_live(), live), "update %zu allocated", i);
    }
    aiops_detector_destroy(d);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(matrix_profile, handles_a_constant_series_without_nan)
{
    static struct aiops_point pts[1500];
    static struct aiops_verdict v[1500];
    struct aiops_detector_params p;

    for (size_t i = 0; i < 1500; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i, .value = i < 1200 ? 3.0 : 9.0};
    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    aiops_test_stream(&aiops_matrix_profile_ops, &p, pts, 1500, v); /* as streaming runs it */
    for (size_t i = M + M / 2; i < 1500; i++)
        cr_assert(not(isnan(v[i].score) || isnan(v[i].statistic)), "point %zu", i);
    cr_assert(v[1200].is_anomaly);
    cr_assert(eq(sz, count_anomalies(v, 0, 1200), 0));
    cr_assert(le(sz, count_anomalies(v, 1200, 1500), 2), "the change and at most one echo");
    /* Reporting every point (as auto runs it), every subsequence across the change is one. */
    cr_assert(
        eq(int, aiops_detector_batch_incremental(&aiops_matrix_profile_ops, &p, pts, 1500, v), 0));
    cr_assert(ge(sz, count_anomalies(v, 1200, 1200 + M), M - 1));
}

Test(matrix_profile, init_leaks_nothing_when_an_allocation_fails)
{
    struct aiops_detector_params p;

    params(&p, AIOPS_SENSITIVITY_MEDIUM);
    p.window = 4096;
    aiops_test_create_with_failing_allocations(&aiops_matrix_profile_ops, &p);
}

Test(matrix_profile, explains_an_anomaly_with_its_distance)
{
    struct aiops_verdict v = {.score = 0.9,
                              .is_anomaly = true,
                              .expected = NAN,
                              .lower = 0,
                              .upper = 4.5,
                              .statistic = 12.25};
    char buf[256];

    aiops_matrix_profile_ops.explain(&v, 80.0, buf, sizeof(buf));
    cr_assert(eq(str, buf,
                 "value 80 ends a stretch unlike anything before it in the searched history "
                 "(distance 12.25, normal up to 4.5)"));
}
