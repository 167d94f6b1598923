/* SPDX-License-Identifier: MIT */
/* The flatline check: a series that stops changing for longer than it ever has is flagged once,
 * when it breaks the record; the usual repeats of a series are not. */
#include "agent/mem.h"
#include "detectors/flatline.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

#define N 20000

static struct aiops_point pts[N];
static struct aiops_verdict got[N];

static void fini(void)
{
    aiops_test_check_leaks();
}

TestSuite(flatline, .fini = fini);

/* Noise that never repeats a value, from index `from` to `to` (exclusive). */
static void noise(size_t from, size_t to)
{
    uint64_t s = 11;

    for (size_t i = from; i < to; i++) {
        pts[i].ts_ms = 1767225600000 + (int64_t)i * 300000;
        pts[i].value = 50 + aiops_test_gauss(&s);
    }
}

/* The value 0 over [from, from + len). */
static void stuck(size_t from, size_t len)
{
    for (size_t i = from; i < from + len; i++)
        pts[i].value = 0.0;
}

/* Runs the incremental path over pts[0..n-1] at sensitivity s; returns the flags. */
static int run(size_t n, enum aiops_sensitivity s)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    p.sensitivity = s;
    return aiops_test_stream(&aiops_flatline_ops, &p, pts, n, got);
}

Test(flatline, flags_the_run_that_outlasts_every_earlier_one_once)
{
    noise(0, 3000);
    stuck(100, 40); /* the record, set in the warm-up: 40 points at 0 */
    stuck(1200, 30);
    stuck(2000, 100);
    cr_assert(eq(int, run(3000, AIOPS_SENSITIVITY_MEDIUM), 1));
    cr_assert(got[2040].is_anomaly, "the 41st point of the run breaks the record of 40");
    cr_assert(eq(dbl, got[2040].statistic, 41.0));
    cr_assert(eq(dbl, got[2040].expected, 0.0));
    for (size_t i = 2041; i < 2100; i++)
        cr_assert(eq(dbl, got[i].score, AIOPS_SCORE_HELD), "the rest of the run is held at %zu", i);
    cr_assert(eq(dbl, got[2100].score, 0.0), "the value moved on");
}

Test(flatline, a_run_as_long_as_the_record_is_not_flagged)
{
    noise(0, 3000);
    stuck(100, 40);
    stuck(2000, 40);
    cr_assert(eq(int, run(3000, AIOPS_SENSITIVITY_MEDIUM), 0));
}

Test(flatline, stays_quiet_on_a_series_constant_from_its_first_point)
{
    for (size_t i = 0; i < 5000; i++)
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = 7.0};
    cr_assert(eq(int, run(5000, AIOPS_SENSITIVITY_HIGH), 0));
}

Test(flatline, stays_quiet_on_a_square_wave_whose_plateaus_are_all_alike)
{
    for (size_t i = 0; i < 5000; i++)
        pts[i] =
            (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = (i / 144) % 2 ? 10.0 : 0.0};
    cr_assert(eq(int, run(5000, AIOPS_SENSITIVITY_HIGH), 0));
}

Test(flatline, needs_a_run_of_the_sensitivitys_minimum_length)
{
    /* Medium: 12 points; high: 6; low: 24. Noise has no repeats, so the record is 1. */
    noise(0, 1000);
    stuck(400, 11);
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_MEDIUM), 0));
    stuck(400, 12);
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_MEDIUM), 1));
    cr_assert(got[411].is_anomaly);
    noise(0, 1000);
    stuck(400, 6);
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_HIGH), 1));
    cr_assert(got[405].is_anomaly);
    noise(0, 1000);
    stuck(400, 23);
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_LOW), 0));
}

Test(flatline, judges_no_run_that_starts_in_the_warm_up)
{
    noise(0, 1000);
    stuck(200, 100); /* starts at point 200, before 256 points were seen */
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_MEDIUM), 0));
    noise(0, 1000);
    stuck(256, 20); /* starts at the first point judged */
    cr_assert(eq(int, run(1000, AIOPS_SENSITIVITY_MEDIUM), 1));
    cr_assert(got[267].is_anomaly);
}

Test(flatline, forgets_a_record_set_over_two_horizons_ago)
{
    /* A 100-point run at 100, then only noise: by 2 * 8,192 points it is forgotten, and a
     * 30-point run at 17,000 is the longest remembered. */
    noise(0, N);
    stuck(100, 100);
    stuck(17000, 30);
    cr_assert(eq(int, run(N, AIOPS_SENSITIVITY_MEDIUM), 1));
    cr_assert(got[17011].is_anomaly, "12 points, the medium minimum, make it a flag");
    /* Within one horizon the record holds. */
    noise(0, N);
    stuck(100, 100);
    stuck(8000, 30);
    cr_assert(eq(int, run(N, AIOPS_SENSITIVITY_MEDIUM), 0));
}

Test(flatline, never_judges_a_series_that_moves_in_steps)
{
    /* A replica count: a new value every 50 to 550 points, 20,000 points. Its runs break the
     * record now and then, yet a long stretch without change is what it normally does. */
    uint64_t s = 5;
    size_t i = 0;

    while (i < N) {
        size_t len = 50 + (size_t)(aiops_test_noise(&s) * 250 + 250);
        double v = 3 + (double)(i % 7);

        for (size_t j = 0; j < len && i < N; j++, i++)
            pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 15000, .value = v};
    }
    cr_assert(eq(int, run(N, AIOPS_SENSITIVITY_HIGH), 0));
}

Test(flatline, skips_missing_values_without_ending_the_run)
{
    noise(0, 3000);
    stuck(100, 40);
    stuck(2000, 100);
    pts[2010].value = NAN;
    cr_assert(eq(int, run(3000, AIOPS_SENSITIVITY_MEDIUM), 1));
    cr_assert(eq(dbl, got[2010].score, 0.0));
    cr_assert(got[2041].is_anomaly, "the NAN is not counted: the 41st value is one point later");
}

Test(flatline, batch_reports_every_point_past_the_record)
{
    struct aiops_detector_params p;

    noise(0, 3000);
    stuck(100, 40);
    stuck(2000, 100);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_flatline_ops.batch(&p, pts, 3000, got), 0));
    for (size_t i = 0; i < 3000; i++)
        cr_assert(eq(int, got[i].is_anomaly, i >= 2040 && i < 2100), "at %zu", i);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(flatline, explains_how_long_the_value_has_not_changed)
{
    char buf[160];

    noise(0, 3000);
    stuck(100, 40);
    stuck(2000, 100);
    run(3000, AIOPS_SENSITIVITY_MEDIUM);
    aiops_flatline_ops.explain(&got[2040], 0.0, buf, sizeof(buf));
    cr_assert(
        eq(str, buf, "value 0 has not changed for 41 points, longer than any stretch before it"));
}
