/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion suites. */
#ifndef AIOPS_TESTS_SUPPORT_H
#define AIOPS_TESTS_SUPPORT_H

/* Fails the calling test process (abort) when LeakSanitizer finds a leak; a no-op in builds
 * without sanitizers. Call it from a suite's .fini: Criterion does not fail a test on an LSan
 * report by itself. */
void aiops_test_check_leaks(void);

#endif
