/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion suites (see support.h). */
#include "tests/support.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdlib.h>

#if defined(AIOPS_SANITIZE)
#include <sanitizer/lsan_interface.h>
#endif

void aiops_test_check_leaks(void)
{
#if defined(AIOPS_SANITIZE)
    if (__lsan_do_recoverable_leak_check() != 0)
        abort();
#endif
}

double aiops_test_noise(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / 4503599627370496.0 - 1.0;
}

double aiops_test_gauss(uint64_t *state)
{
    double s = 0.0;

    for (int i = 0; i < 12; i++)
        s += (aiops_test_noise(state) + 1.0) / 2.0;
    return s - 6.0;
}

int aiops_test_stream(const struct aiops_detector_ops *ops, const struct aiops_detector_params *p,
                      const struct aiops_point *pts, size_t n, struct aiops_verdict *out)
{
    struct aiops_detector *d = NULL;
    int flags = 0;

    cr_assert(eq(int, aiops_detector_create(&d, ops, p), 0));
    for (size_t i = 0; i < n; i++) {
        aiops_detector_update(d, &pts[i], &out[i]);
        flags += out[i].is_anomaly;
    }
    aiops_detector_destroy(d);
    return flags;
}

void aiops_test_daily(struct aiops_point *pts, size_t n, double amp, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double phase = 2 * M_PI * (double)(i % AIOPS_TEST_DAY) / AIOPS_TEST_DAY;

        pts[i].ts_ms = 1767225600000 + (int64_t)i * 300000;
        pts[i].value = 50 + amp * sin(phase) + aiops_test_gauss(&seed);
    }
}

long aiops_test_create_with_failing_allocations(const struct aiops_detector_ops *ops,
                                                const struct aiops_detector_params *p)
{
    struct aiops_detector *d = NULL;
    long live_before = aiops_mem_live(), n;
    int err;

    for (n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = aiops_detector_create(&d, ops, p);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(ptr, d, NULL));
        cr_assert(eq(long, aiops_mem_live(), live_before), "leak at allocation %ld", n);
    }
    aiops_detector_destroy(d);
    cr_assert(eq(long, aiops_mem_live(), live_before));
    return n;
}
