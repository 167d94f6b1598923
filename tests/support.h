/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion suites. */
#ifndef AIOPS_TESTS_SUPPORT_H
#define AIOPS_TESTS_SUPPORT_H

/* Fails the calling test process (abort) when LeakSanitizer finds a leak; a no-op in builds
 * without sanitizers. Call it from a suite's .fini: Criterion does not fail a test on an LSan
 * report by itself. */
void aiops_test_check_leaks(void);

#include <stdint.h>

#include "detectors/detector.h"

/* Deterministic uniform noise in [-1, 1) from a 64-bit LCG state (same state, same sequence). */
double aiops_test_noise(uint64_t *state);
/* Roughly normal noise with unit variance: the sum of 12 uniforms, centred. */
double aiops_test_gauss(uint64_t *state);

/* Streams pts[0..n-1] through a fresh detector of ops with p (asserting it is created), each
 * verdict into out; returns how many were anomalous. */
int aiops_test_stream(const struct aiops_detector_ops *ops, const struct aiops_detector_params *p,
                      const struct aiops_point *pts, size_t n, struct aiops_verdict *out);

/* Points per day of the series below: 5-minute samples. */
#define AIOPS_TEST_DAY 288
/* A daily cycle: n 5-minute samples from 2026-01-01, 50 + amp * sin(the time of day) + unit
 * normal noise (aiops_test_gauss from `seed`). Its peaks are at 06:00, its troughs at 18:00. */
void aiops_test_daily(struct aiops_point *pts, size_t n, double amp, uint64_t seed);

/* Creates a detector of ops with p, failing the 1st, 2nd, ... allocation until creation
 * succeeds; asserts each failure is AIOPS_ENOMEM, leaves *out NULL and leaks nothing, then
 * destroys it and asserts nothing is left. Returns how many allocations were failed. */
long aiops_test_create_with_failing_allocations(const struct aiops_detector_ops *ops,
                                                const struct aiops_detector_params *p);

#endif
