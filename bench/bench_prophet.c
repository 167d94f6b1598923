/* SPDX-License-Identifier: MIT */
/* Prophet detector cost: ns per point of the incremental path (refits amortised) on a long
 * noisy daily-seasonal 5-minute stream, bytes of state per series, and the median latency of
 * the batch path on 10,000 points. Usage: bench_prophet [points] [window] */
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/prophet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define STEP_MS   300000LL /* 5 minutes */
#define PER_DAY   288
#define BATCH_N   10000
#define BATCH_RUN 15

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double gauss(uint64_t *st)
{
    double s = 0.0;

    for (int i = 0; i < 12; i++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        s += (double)(*st >> 11) / 9007199254740992.0;
    }
    return s - 6.0;
}

/* CPU-like: a daily wave, a weekly dip, noise, and a spike every ~3 days. */
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    uint32_t window = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1024;
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;
    struct aiops_point *pts;
    struct aiops_verdict v, *out;
    double t0, secs, lat[BATCH_RUN];
    long flagged = 0;
    size_t bytes;

    pts = malloc(sizeof(*pts) * (n > BATCH_N ? n : BATCH_N));
    out = malloc(sizeof(*out) * BATCH_N);
    if (pts == NULL || out == NULL)
        goto fail;
    fill(pts, n > BATCH_N ? n : BATCH_N);
    aiops_detector_params_init(&p);
    p.window = window;
    if (aiops_detector_create(&d, &aiops_prophet_ops, &p) < 0)
        goto fail;
    bytes = aiops_prophet_ops.size;
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        aiops_detector_update(d, &pts[i], &v);
        flagged += v.is_anomaly;
    }
    secs = now_s() - t0;
    aiops_detector_destroy(d);
    {
        /* Mirrors prophet_init: the history (ts, value, weight) of max(window, 640) points,
         * capped at 8192, and two arrays of 1024 residuals. */
        uint32_t hist = window > 640 ? (window < 8192 ? window : 8192) : 640;

        bytes += (size_t)hist * (sizeof(int64_t) + 2 * sizeof(double)) + 2 * 1024 * sizeof(double);
    }
    printf("incremental: %zu points, window %u: %.0f ns/point (refits amortised), %ld flagged\n", n,
           window, secs * 1e9 / (double)n, flagged);
    printf("state: %zu bytes per series\n", bytes);
    for (int r = 0; r < BATCH_RUN; r++) {
        t0 = now_s();
        if (aiops_prophet_ops.batch(&p, pts, BATCH_N, out) < 0)
            goto fail;
        lat[r] = now_s() - t0;
    }
    qsort(lat, BATCH_RUN, sizeof(lat[0]), cmp_double);
    printf("batch: %d points, median %.2f ms over %d runs\n", BATCH_N, lat[BATCH_RUN / 2] * 1e3,
           BATCH_RUN);
    free(out);
    free(pts);
    return 0;
fail:
    fprintf(stderr, "bench_prophet: out of memory\n");
    free(out);
    free(pts);
    return 1;
}
