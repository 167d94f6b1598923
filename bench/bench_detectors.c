/* SPDX-License-Identifier: MIT */
/* What each registered detector costs: ns per point of the incremental path at a window of
 * 1,024 on a long CPU-like stream (5-minute samples, daily and weekly cycles, noise, a spike
 * every few days), the fastest of several passes, bytes of state per series, and the median
 * latency of the batch path on 10,000 points. usage: bench_detectors [points] [method ...] */
#include "bench/clock.h"
#include "detectors/detector.h"
#include "detectors/robust.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_MS    300000LL /* 5 minutes */
#define PER_DAY    288
#define WINDOW     1024
#define BATCH_N    10000
#define BATCH_RUNS 11
/* Passes over the stream, each with a fresh detector, for at least STREAM_SECONDS and at least
 * STREAM_RUNS passes; the fastest is reported. On this shared 2-core VM a pass of z-score took 32
 * to 52 ns/point from one second to the next, the same code: the fastest pass is the detector's
 * cost, the others add the neighbours' load. */
#define STREAM_RUNS    3
#define STREAM_SECONDS 2.0

/* Approximately normal noise from a fixed-seed LCG (sum of 12 uniforms). */
static double gauss(uint64_t *st)
{
    double s = 0.0;

    for (int i = 0; i < 12; i++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        s += (double)(*st >> 11) / 9007199254740992.0;
    }
    return s - 6.0;
}

static void fill(struct aiops_point *pts, size_t n)
{
    uint64_t st = 42;

    for (size_t i = 0; i < n; i++) {
        double day = 2 * M_PI * (double)(i % PER_DAY) / PER_DAY;

        pts[i].ts_ms = 1700006400000LL + (int64_t)i * STEP_MS;
        pts[i].value = 40 + 15 * sin(day) + 5 * sin(2 * day) - ((i / PER_DAY) % 7 >= 5 ? 8 : 0) +
                       2 * gauss(&st) + (i % 907 == 500 ? 30 : 0);
    }
}

static void bench(const struct aiops_detector_ops *ops, const struct aiops_point *pts, size_t n,
                  struct aiops_verdict *out)
{
    struct aiops_detector_params p;
    struct aiops_detector *d;
    double t0, ns = INFINITY, spent = 0.0, ms[BATCH_RUNS];
    size_t before, bytes = 0, flags = 0;

    aiops_detector_params_init(&p);
    p.window = WINDOW;
    for (int r = 0; r < STREAM_RUNS || spent < STREAM_SECONDS; r++) {
        before = mallinfo2().uordblks;
        if (aiops_detector_create(&d, ops, &p) < 0) {
            fprintf(stderr, "%s: cannot create\n", ops->name);
            exit(1);
        }
        if (r == 0) /* later passes reuse freed blocks, which malloc still counts as in use */
            bytes = mallinfo2().uordblks - before + ops->size;
        flags = 0;
        t0 = bench_wall_seconds();
        for (size_t i = 0; i < n; i++) {
            aiops_detector_update(d, &pts[i], &out[0]);
            flags += out[0].is_anomaly;
        }
        t0 = bench_wall_seconds() - t0;
        spent += t0;
        ns = fmin(ns, t0 * 1e9 / (double)n);
        aiops_detector_destroy(d);
    }
    for (int r = 0; r < BATCH_RUNS; r++) {
        t0 = bench_wall_seconds();
        if (ops->batch(&p, pts, BATCH_N, out) < 0) {
            fprintf(stderr, "%s: batch failed\n", ops->name);
            exit(1);
        }
        ms[r] = (bench_wall_seconds() - t0) * 1e3;
    }
    printf("%-18s %12.1f %12zu %14.2f %8zu\n", ops->name, ns, bytes, aiops_median(ms, BATCH_RUNS),
           flags);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    struct aiops_point *pts;
    struct aiops_verdict *out;

    if (n < BATCH_N)
        n = BATCH_N;
    pts = malloc(n * sizeof(*pts));
    out = malloc(n * sizeof(*out));
    if (pts == NULL || out == NULL) {
        free(pts);
        free(out);
        return 1;
    }
    fill(pts, n);
    printf("%zu points, window %d, fastest pass of %.0f s; batch on %d points, median of %d runs\n",
           n, WINDOW, STREAM_SECONDS, BATCH_N, BATCH_RUNS);
    printf("%-18s %12s %12s %14s %8s\n", "method", "ns/point", "bytes/series", "batch_ms", "flags");
    for (size_t i = 0; i < aiops_detector_count(); i++) {
        const struct aiops_detector_ops *ops = aiops_detector_at(i);
        bool wanted = argc <= 2;

        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], ops->name) == 0;
        if (wanted)
            bench(ops, pts, n, out);
    }
    free(pts);
    free(out);
    return 0;
}
