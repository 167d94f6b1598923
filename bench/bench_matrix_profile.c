/* SPDX-License-Identifier: MIT */
/* Matrix-profile detector cost: ns per point of the incremental update on a long realistic stream
 * (a daily cycle with noise, spikes and level shifts), bytes of state per series, and the median
 * latency of the batch path. Usage: bench_matrix_profile [points] [window] [batch_points]. */
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/matrix_profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH_RUNS 11

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double noise(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / 4503599627370496.0 - 1.0;
}

/* 5-minute CPU-like metric: daily cycle, noise, a spike every ~3 days, a level shift weekly. */
static void stream(struct aiops_point *pts, size_t n)
{
    uint64_t st = 99;
    double level = 40.0;

    for (size_t i = 0; i < n; i++) {
        if (i % 2016 == 1000)
            level += 10.0 * noise(&st);
        pts[i].ts_ms = 1700000000000 + (int64_t)i * 300000;
        pts[i].value = level + 15.0 * sin(2 * M_PI * (double)(i % 288) / 288.0) + 2.0 * noise(&st);
        if (i % 863 == 500)
            pts[i].value += 40.0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    uint32_t window = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1024;
    size_t nb = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    size_t np = n > nb ? n : nb, flagged = 0;
    struct aiops_detector_params p;
    struct aiops_detector *d;
    struct aiops_point *pts;
    struct aiops_verdict v, *out;
    double t0, t, runs[BATCH_RUNS], sink = 0.0;
    long live0;
    int status = 1;

    pts = malloc(np * sizeof(*pts));
    out = malloc(nb * sizeof(*out));
    if (pts == NULL || out == NULL) {
        fprintf(stderr, "bench_matrix_profile: out of memory\n");
        goto out_free;
    }
    stream(pts, np);
    aiops_detector_params_init(&p);
    p.window = window;

    live0 = aiops_mem_live();
    if (aiops_detector_create(&d, &aiops_matrix_profile_ops, &p) < 0) {
        fprintf(stderr, "bench_matrix_profile: create failed\n");
        goto out_free;
    }
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        aiops_detector_update(d, &pts[i], &v);
        sink += v.score;
        flagged += v.is_anomaly;
    }
    t = now_s() - t0;
    printf("incremental: %zu points, window %u: %.1f ns/point (%zu flagged, checksum %.3f)\n", n,
           window, t / (double)n * 1e9, flagged, sink);
    {
        /* What mp_init allocates: doubled value ring, four doubled subsequence rings, the lag
         * table and the calibration ring (see matrix_profile.c). */
        size_t h = window > AIOPS_MP_MIN_HISTORY ? window : AIOPS_MP_MIN_HISTORY;
        size_t scap = h - AIOPS_MP_M + 2;
        size_t bytes = aiops_matrix_profile_ops.size +
                       sizeof(double) * (2 * (h + 1) + 8 * scap + scap + AIOPS_MP_CALIBRATION);

        printf("state: %zu bytes per series (history %zu points, %ld blocks)\n", bytes, h,
               aiops_mem_live() - live0);
    }
    aiops_detector_destroy(d);

    for (int r = 0; r < BATCH_RUNS; r++) {
        t0 = now_s();
        if (aiops_matrix_profile_ops.batch(&p, pts, nb, out) < 0) {
            fprintf(stderr, "bench_matrix_profile: batch failed\n");
            goto out_free;
        }
        runs[r] = now_s() - t0;
    }
    qsort(runs, BATCH_RUNS, sizeof(runs[0]), cmp_double);
    printf("batch: %zu points: median %.1f ms over %d runs (min %.1f, max %.1f)\n", nb,
           runs[BATCH_RUNS / 2] * 1e3, BATCH_RUNS, runs[0] * 1e3, runs[BATCH_RUNS - 1] * 1e3);
    status = 0;
out_free:
    free(out);
    free(pts);
    return status;
}
