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
