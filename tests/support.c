/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion suites (see support.h). */
#include "tests/support.h"

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
