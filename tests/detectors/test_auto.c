/* SPDX-License-Identifier: MIT */
/* The auto method: the strongest of its components' scores, one flag per anomaly, quiet on
 * clean data. (tests/detectors/test_contract.c covers its ops table and allocation failures.) */
#include "agent/mem.h"
#include "detectors/auto.h"
#include "detectors/matrix_profile.h"
#include "detectors/prophet.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

#define N       3000
#define STEP_MS 300000 /* 5-minute samples, as the cloud metrics auto is tuned for */

static struct aiops_point pts[N];
static struct aiops_verdict got[N], part[N];

static void fini(void)
{
    aiops_test_check_leaks();
}

TestSuite(auto_method, .fini = fini);

/* A daily-seasonal series with deterministic noise; spike > 0 adds one at that index. */
static void series(int spike)
{
    uint64_t s = 7;

    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        pts[i].ts_ms = 1767225600000 + (int64_t)i * STEP_MS;
        pts[i].value = 50 + 10 * sin(2 * M_PI * i / 288.0) + (double)(s >> 11) / 9.007e15;
    }
    if (spike > 0)
        pts[spike].value += 60;
}

static int run(struct aiops_detector_params *p)
{
    return aiops_test_stream(&aiops_auto_ops, p, pts, N, got);
}

Test(auto_method, flags_a_spike_and_little_else)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    series(2000);
    /* The one other flag allowed: just after the warm-up, before a day of history lets the
     * forecaster model the daily cycle. */
    cr_assert(le(int, run(&p), 2));
    cr_assert(got[2000].is_anomaly);
    for (int i = 1000; i < N; i++)
        cr_assert(eq(int, got[i].is_anomaly, i == 2000), "at %d", i);
}

Test(auto_method, stays_quiet_on_clean_seasonal_data_at_medium)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    series(0);
    cr_assert(le(int, run(&p), 2), "at most a flag or two in 3,000 clean points");
}

Test(auto_method, scores_0_65_of_the_strongest_component_plus_0_35_of_their_mean)
{
    const struct aiops_detector_ops *parts[] = {&aiops_matrix_profile_ops, &aiops_prophet_ops};
    static struct aiops_verdict second[N];
    struct aiops_detector_params p;
    int held = 0;

    aiops_detector_params_init(&p);
    series(2000);
    run(&p);
    /* The components as auto runs them: reporting every anomalous point (every_point). */
    cr_assert(eq(int, aiops_detector_batch_incremental(parts[0], &p, pts, N, part), 0));
    cr_assert(eq(int, aiops_detector_batch_incremental(parts[1], &p, pts, N, second), 0));
    for (int i = 0; i < N; i++) {
        double a = part[i].score, b = second[i].score;
        double want = 0.65 * fmax(a, b) + 0.175 * (a + b);

        if (want >= 0.5 && got[i].score == AIOPS_SCORE_HELD) {
            held++; /* auto holds back after a flag */
            continue;
        }
        cr_assert(ieee_ulp_eq(dbl, got[i].score, want, 4), "at %d: %g vs %g", i, got[i].score,
                  want);
    }
    cr_assert(gt(int, held, 0), "the spike's echoes in the matrix profile are held");
}

/* A component's verdicts reach auto unfiltered: prophet alone sees this second, smaller spike,
 * five hours after the first, and it is flagged. (When prophet held back after its own flags,
 * its threshold doubled for 12 hours, and auto missed it.) */
Test(auto_method, flags_an_anomaly_that_soon_follows_another)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    series(2000);
    pts[2060].value += 2.5;
    run(&p);
    cr_assert(got[2000].is_anomaly);
    cr_assert(got[2060].is_anomaly, "score %g", got[2060].score);
}

/* One alert per excursion: after a flag auto holds back until 16 points in a row score below
 * 0.5, however long the excursion lasts; then it flags again. */
Test(auto_method, holds_back_until_sixteen_points_in_a_row_are_normal)
{
    struct aiops_detector_params p;
    int flags = 0;

    aiops_detector_params_init(&p);
    series(0);
    for (int i = 2000; i < 2030; i++)
        pts[i].value += 8; /* two and a half hours above the daily cycle */
    pts[2200].value += 60;
    run(&p);
    cr_assert(got[2000].is_anomaly);
    for (int i = 2001; i < 2200; i++)
        flags += got[i].is_anomaly;
    cr_assert(eq(int, flags, 0), "the excursion and its end are one alert");
    for (int i = 2000; i < 2030; i++)
        cr_assert(ge(dbl, got[i].score, AIOPS_SCORE_HELD), "held open at %d", i);
    cr_assert(got[2200].is_anomaly, "re-armed for the next anomaly");
}

Test(auto_method, explains_a_flag_with_the_words_of_the_component_behind_it)
{
    struct aiops_detector_params p;
    char buf[200];

    aiops_detector_params_init(&p);
    series(2000);
    run(&p);
    cr_assert(got[2000].is_anomaly);
    aiops_auto_ops.explain(&got[2000], pts[2000].value, buf, sizeof(buf));
    cr_assert(eq(int, strncmp(buf, "value ", 6), 0), "%s", buf);
    cr_assert(strstr(buf, "expected range") != NULL || strstr(buf, "stretch unlike") != NULL,
              "prophet's or the matrix profile's reason, not a bare score: %s", buf);
}

Test(auto_method, flags_a_series_that_stops_changing_and_says_so)
{
    struct aiops_detector_params p;
    char buf[200];
    int flags;

    aiops_detector_params_init(&p);
    series(0);
    for (int i = 2000; i < 2100; i++)
        pts[i].value = 50.0; /* stuck: the seasonal noise never repeats a value */
    flags = run(&p);
    cr_assert(got[2011].is_anomaly, "12 unchanged points, medium's minimum");
    for (int i = 1000; i < 2011; i++)
        cr_assert(not(got[i].is_anomaly), "at %d", i);
    /* As the daily cycle moves on, the forecaster also sees the stuck value drift off it. */
    cr_assert(le(int, flags, 4));
    aiops_auto_ops.explain(&got[2011], 50.0, buf, sizeof(buf));
    cr_assert(
        eq(str, buf, "value 50 has not changed for 12 points, longer than any stretch before it"));
}

Test(auto_method, flags_a_level_shift_near_its_start)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    series(0);
    for (int i = 2000; i < N; i++)
        pts[i].value += 30;
    run(&p);
    for (int i = 1000; i < 2000; i++)
        cr_assert(not(got[i].is_anomaly), "at %d, before the shift", i);
    cr_assert(got[2000].is_anomaly || got[2001].is_anomaly || got[2002].is_anomaly,
              "within three points of the shift");
}

Test(auto_method, flags_a_broken_daily_period_there_and_nowhere_else)
{
    struct aiops_detector_params p;
    int first = -1;

    aiops_detector_params_init(&p);
    series(0);
    /* Day 8's trough never comes: the value stays at the daily mean for that half-day. */
    for (int i = 7 * 288 + 144; i < 8 * 288; i++)
        pts[i].value = 50 + (pts[i].value - 50 - 10 * sin(2 * M_PI * i / 288.0));
    run(&p);
    for (int i = 1000; i < N; i++) {
        if (got[i].is_anomaly && first < 0)
            first = i;
        cr_assert(not(got[i].is_anomaly && (i < 7 * 288 + 144 || i >= 8 * 288)), "at %d", i);
    }
    cr_assert(ge(int, first, 7 * 288 + 144), "the break is found");
    cr_assert(lt(int, first, 7 * 288 + 144 + 36), "within three hours of its start: %d", first);
}

/* The same break at ten times the noise, where prophet's first flag is marginal: it used to be
 * held back by prophet's own refractory period as the gap grew, and auto missed it. */
Test(auto_method, flags_a_missing_trough_at_ten_times_the_noise)
{
    enum { DAYS = 8, FROM = 7 * AIOPS_TEST_DAY + AIOPS_TEST_DAY / 2 };
    static struct aiops_point day[DAYS * AIOPS_TEST_DAY];
    static struct aiops_verdict v[DAYS * AIOPS_TEST_DAY];
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        int first = -1;

        aiops_test_daily(day, DAYS * AIOPS_TEST_DAY, 10, seed);
        for (int i = FROM; i < DAYS * AIOPS_TEST_DAY; i++) /* the trough is at 18:00 */
            day[i].value -= 10 * sin(2 * M_PI * (i % AIOPS_TEST_DAY) / AIOPS_TEST_DAY);
        aiops_test_stream(&aiops_auto_ops, &p, day, DAYS * AIOPS_TEST_DAY, v);
        for (int i = 1000; i < DAYS * AIOPS_TEST_DAY; i++) {
            cr_assert(not(v[i].is_anomaly && i < FROM), "seed %d: at %d", (int)seed, i);
            if (v[i].is_anomaly && first < 0)
                first = i;
        }
        cr_assert(ge(int, first, FROM), "seed %d: the break is found", (int)seed);
        cr_assert(lt(int, first, FROM + 36), "seed %d: within three hours: %d", (int)seed, first);
    }
}

Test(auto_method, batch_flags_the_spike)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    series(2000);
    cr_assert(eq(int, aiops_auto_ops.batch(&p, pts, N, got), 0));
    cr_assert(got[2000].is_anomaly);
    cr_assert(eq(long, aiops_mem_live(), 0));
}
