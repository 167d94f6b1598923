/* SPDX-License-Identifier: MIT */
/* The clocks the benchmarks read, in seconds. */
#ifndef AIOPS_BENCH_CLOCK_H
#define AIOPS_BENCH_CLOCK_H

#include <time.h>

static inline double bench_seconds(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: what a single-threaded benchmark costs on a shared machine. */
static inline double bench_cpu_seconds(void)
{
    return bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

/* Elapsed time, for benchmarks whose threads or waits count. */
static inline double bench_wall_seconds(void)
{
    return bench_seconds(CLOCK_MONOTONIC);
}

#endif
