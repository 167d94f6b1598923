/* SPDX-License-Identifier: MIT */
/* The detector helpers (parameters, thresholds, score mapping, explanations) and the registry
 * of methods. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
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

TestSuite(detector, .fini = fini);
TestSuite(registry, .fini = fini);

Test(detector, defaults_match_the_old_service)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    cr_assert(eq(int, p.sensitivity, AIOPS_SENSITIVITY_MEDIUM));
    cr_assert(eq(u32, p.window, 256));
    cr_assert(eq(u32, p.ma_window, 10));
    cr_assert(eq(dbl, p.z_threshold, 3.0));
    cr_assert(eq(u64, p.seed, 42));
}

Test(detector, sensitivity_moves_the_z_threshold)
{
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    p.z_threshold = 2.5;
    p.sensitivity = AIOPS_SENSITIVITY_LOW;
    cr_assert(eq(dbl, aiops_detector_z_threshold(&p), 3.5));
    p.sensitivity = AIOPS_SENSITIVITY_MEDIUM;
    cr_assert(eq(dbl, aiops_detector_z_threshold(&p), 2.5));
    p.sensitivity = AIOPS_SENSITIVITY_HIGH;
    cr_assert(eq(dbl, aiops_detector_z_threshold(&p), 2.0));
}

Test(detector, score_is_zero_at_the_mean_and_one_half_exactly_at_the_threshold)
{
    const double thresholds[] = {0.5, 2.0, 2.5, 3.0, 4.0, 7.25};

    for (size_t i = 0; i < sizeof(thresholds) / sizeof(thresholds[0]); i++) {
        double t = thresholds[i];

        cr_assert(eq(dbl, aiops_detector_z_score_to_unit(0.0, t), 0.0));
        cr_assert(eq(dbl, aiops_detector_z_score_to_unit(t, t), 0.5), "thr %g", t);
        cr_assert(eq(dbl, aiops_detector_z_score_to_unit(-t, t), 0.5), "thr %g", t);
        cr_assert(eq(dbl, aiops_detector_z_score_to_unit(2 * t, t), 1.0 - 1.0 / 16.0));
    }
}

Test(detector, score_rises_monotonically_and_stays_in_the_unit_interval)
{
    double prev = -1.0;

    for (double z = 0.0; z < 40.0; z += 0.01) {
        double s = aiops_detector_z_score_to_unit(z, 3.0);

        cr_assert(s >= 0.0 && s <= 1.0, "z %g score %g", z, s);
        cr_assert(s >= prev, "not monotone at z %g", z);
        if (z < 3.0)
            cr_assert(s < 0.5, "z %g below the threshold scored %g", z, s);
        if (z > 3.0 + 1e-9)
            cr_assert(s > 0.5, "z %g above the threshold scored %g", z, s);
        prev = s;
    }
    cr_assert(aiops_detector_z_score_to_unit(5.0, 3.0) < 1.0);
    cr_assert(eq(dbl, aiops_detector_z_score_to_unit(INFINITY, 3.0), 1.0));
    cr_assert(eq(dbl, aiops_detector_z_score_to_unit(NAN, 3.0), 0.0));
}

Test(detector, sensitivity_names_round_trip_and_unknown_ones_are_rejected)
{
    const enum aiops_sensitivity all[] = {AIOPS_SENSITIVITY_LOW, AIOPS_SENSITIVITY_MEDIUM,
                                          AIOPS_SENSITIVITY_HIGH};
    enum aiops_sensitivity s = AIOPS_SENSITIVITY_LOW;

    for (size_t i = 0; i < 3; i++) {
        cr_assert(eq(int, aiops_sensitivity_parse(aiops_sensitivity_name(all[i]), &s), 0));
        cr_assert(eq(int, s, all[i]));
    }
    cr_assert(eq(int, aiops_sensitivity_parse("HIGH", &s), 0));
    cr_assert(eq(int, s, AIOPS_SENSITIVITY_HIGH));
    cr_assert(eq(int, aiops_sensitivity_parse("extreme", &s), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_sensitivity_parse("", &s), AIOPS_EINVAL));
    cr_assert(eq(int, s, AIOPS_SENSITIVITY_HIGH), "a failed parse changed *out");
}

Test(detector, explains_a_point_above_the_band_in_standard_deviations)
{
    struct aiops_verdict v = {.score = 0.9,
                              .is_anomaly = true,
                              .expected = 47.1,
                              .lower = 40.2,
                              .upper = 54.0,
                              .statistic = 4.2149};
    char buf[200];

    aiops_detector_explain_band(&v, 98.5, buf, sizeof(buf));
    cr_assert(eq(str, buf,
                 "value 98.5 is 4.21 standard deviations above the expected 47.1 "
                 "(normal range 40.2 to 54)"));
}

Test(detector, explains_a_point_below_the_band_and_a_break_from_a_constant)
{
    struct aiops_verdict v = {.score = 0.7,
                              .is_anomaly = true,
                              .expected = 10.0,
                              .lower = 7.0,
                              .upper = 13.0,
                              .statistic = 3.5};
    char buf[200];

    aiops_detector_explain_band(&v, -0.5, buf, sizeof(buf));
    cr_assert(eq(str, buf,
                 "value -0.5 is 3.50 standard deviations below the expected 10 "
                 "(normal range 7 to 13)"));
    v.statistic = DBL_MAX;
    v.lower = v.upper = 10.0;
    aiops_detector_explain_band(&v, 12.0, buf, sizeof(buf));
    cr_assert(eq(str, buf, "value 12 is above the constant 10 seen in every recent point"));
}

Test(detector, explanation_is_truncated_to_the_buffer)
{
    struct aiops_verdict v = {.expected = 1.0, .lower = 0.0, .upper = 2.0, .statistic = 5.0};
    char buf[12];

    memset(buf, 'x', sizeof(buf));
    aiops_detector_explain_band(&v, 99.0, buf, sizeof(buf));
    cr_assert(eq(str, buf, "value 99 is"));
}

Test(registry, lists_every_method_of_the_contract_in_methods_endpoint_order)
{
    const char *names[] = {
        "z-score", "moving-average", "isolation-forest", "lof", "prophet", "dtai-auto", "auto"};

    cr_assert(eq(sz, aiops_detector_count(), sizeof(names) / sizeof(names[0])));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert(eq(str, (char *)aiops_detector_at(i)->name, (char *)names[i]));
    cr_assert(eq(ptr, (void *)aiops_detector_at(sizeof(names) / sizeof(names[0])), NULL));
}

Test(registry, finds_methods_by_name_and_alias_but_not_unknown_ones)
{
    const char *aliases[][2] = {{"zscore", "z-score"},
                                {"z_score", "z-score"},
                                {"moving_average", "moving-average"},
                                {"iforest", "isolation-forest"},
                                {"isolation_forest", "isolation-forest"},
                                {"matrix-profile", "dtai-auto"}};

    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        cr_assert(eq(str, (char *)aiops_detector_find(aliases[i][0])->name, (char *)aliases[i][1]));
    cr_assert(eq(ptr, (void *)aiops_detector_find("Z-SCORE"), NULL));
    cr_assert(eq(ptr, (void *)aiops_detector_find(""), NULL));
    cr_assert(eq(ptr, (void *)aiops_detector_find(NULL), NULL));
}

Test(registry, create_refuses_an_ops_table_without_init)
{
    static const struct aiops_detector_ops hollow = {.name = "hollow"};
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detector_create(&d, &hollow, &p), AIOPS_EINVAL));
    cr_assert(eq(ptr, d, NULL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}
