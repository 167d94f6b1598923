/* SPDX-License-Identifier: MIT */
/* LOF detector cost: ns per point of the incremental update at window 1,024 over a long noisy
 * seasonal stream, bytes of state per series, and the batch path's median latency on 10,000
 * points. Usage: bench_lof [points] [window]. */
#include "agent/mem.h"
#include "detectors/detector.h"
#include "detectors/lof.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH_N    10000
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

/* Daily-seasonal 5-minute data (period 288) with noise and a spike every ~1,000 points. */
static void fill(struct aiops_point *pts, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double x = 50 + 20 * sin(2 * M_PI * (double)i / 288) + 3 * noise(&seed);

        if (i % 997 == 500)
            x += 40;
        pts[i] = (struct aiops_point){.ts_ms = (int64_t)i * 300000, .value = x};
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
    struct aiops_detector *d;
    struct aiops_point *pts;
    struct aiops_verdict v, *out;
    double t0, secs, lat[BATCH_RUNS];
    size_t flagged = 0;
    long blocks;

    pts = malloc((n > BATCH_N ? n : BATCH_N) * sizeof(*pts));
    out = malloc(BATCH_N * sizeof(*out));
    if (pts == NULL || out == NULL) {
        fprintf(stderr, "bench_lof: out of memory\n");
        return 1;
    }
    fill(pts, n, 1);
    aiops_detector_params_init(&p);
    p.window = window;
    if (aiops_detector_create(&d, &aiops_lof_ops, &p) < 0) {
        fprintf(stderr, "bench_lof: create failed\n");
        return 1;
    }
    blocks = aiops_mem_live();
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        aiops_detector_update(d, &pts[i], &v);
        flagged += v.is_anomaly;
    }
    secs = now_s() - t0;
    printf("incremental: %zu points, window %u: %.0f ns/point (%zu flagged)\n", n, window,
           secs * 1e9 / (double)n, flagged);
    /* init's blocks: raw + feat (window x 5 doubles each), kdist/lrd/scratch (3 x window
     * doubles), the 2,048-double calibration ring; plus the struct itself. */
    printf("state: %zu bytes per series (%ld blocks)\n",
           aiops_lof_ops.size + (size_t)window * (5 + 5 + 3) * sizeof(double) +
               2048 * sizeof(double),
           blocks);
    aiops_detector_destroy(d);

    fill(pts, BATCH_N, 2);
    for (int r = 0; r < BATCH_RUNS; r++) {
        t0 = now_s();
        if (aiops_lof_ops.batch(&p, pts, BATCH_N, out) < 0) {
            fprintf(stderr, "bench_lof: batch failed\n");
            return 1;
        }
        lat[r] = now_s() - t0;
    }
    qsort(lat, BATCH_RUNS, sizeof(*lat), cmp_double);
    printf("batch: %d points: median %.1f ms (min %.1f, max %.1f)\n", BATCH_N,
           lat[BATCH_RUNS / 2] * 1e3, lat[0] * 1e3, lat[BATCH_RUNS - 1] * 1e3);
    free(out);
    free(pts);
    return 0;
}
