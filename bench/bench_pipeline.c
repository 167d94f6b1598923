/* SPDX-License-Identifier: MIT */
/* Pipeline throughput and memory per series, in process: msgpack batches of our schema (1,000
 * points each) go through decode -> series table -> detectors -> events, as a source delivers
 * them, with no broker and no store in the way. Prints points/s and bytes per series.
 * Usage: bench_pipeline [method] [series] [points_per_series] [window] */
#include "agent/err.h"
#include "agent/pipeline.h"
#include "bench/clock.h"
#include "config/config.h"

#include <malloc.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000 /* points per message */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Point i of the stream: series i % n_series, step i / n_series; a noisy sine with a spike at
 * step 200 of every 250, so each series opens and resolves events as it would in production. */
static void pack_point(msgpack_packer *pk, long i, long n_series)
{
    long series = i % n_series, step = i / n_series;
    char resource[32];
    double v = 50.0 + 10.0 * __builtin_sin((double)step / 20.0) + (double)((i * 7919) % 100) / 50.0;

    if (step % 250 == 200)
        v += 400.0;
    snprintf(resource, sizeof(resource), "host-%05ld", series);
    msgpack_pack_map(pk, 4);
    pack_str(pk, "resource_id");
    pack_str(pk, resource);
    pack_str(pk, "metric");
    pack_str(pk, "cpu.usage");
    pack_str(pk, "timestamp");
    msgpack_pack_int64(pk, 1767225600000LL + step * 10000LL);
    pack_str(pk, "value");
    msgpack_pack_double(pk, v);
}

int main(int argc, char **argv)
{
    const char *method = argc > 1 ? argv[1] : "z-score";
    long n_series = argc > 2 ? atol(argv[2]) : 10000;
    long per_series = argc > 3 ? atol(argv[3]) : 300;
    const char *window = argc > 4 ? argv[4] : "256";
    long total = n_series * per_series, n_msgs = (total + BATCH - 1) / BATCH, taken = 0;
    msgpack_sbuffer *msgs;
    struct aiops_config cfg;
    struct aiops_pipeline *p;
    struct mallinfo2 m0, m1;
    char errbuf[512];
    uv_loop_t loop;
    double t0, secs;
    int status = 0;

    if (aiops_config_init(&cfg) < 0 ||
        aiops_config_set(&cfg, "detection.default.methods", method, errbuf, sizeof(errbuf)) < 0 ||
        aiops_config_set(&cfg, "detection.default.window", window, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "bench_pipeline: %s\n", errbuf);
        return 2;
    }
    cfg.max_series = (uint32_t)n_series;
    cfg.events_kept = 10; /* so the heap measured is the series', not the event history's */
    msgs = calloc((size_t)n_msgs, sizeof(*msgs));
    for (long m = 0; m < n_msgs; m++) {
        msgpack_packer pk;
        long first = m * BATCH, n = total - first < BATCH ? total - first : BATCH;

        msgpack_sbuffer_init(&msgs[m]);
        msgpack_packer_init(&pk, &msgs[m], msgpack_sbuffer_write);
        msgpack_pack_array(&pk, (size_t)n);
        for (long i = first; i < first + n; i++)
            pack_point(&pk, i, n_series);
    }
    uv_loop_init(&loop);
    m0 = mallinfo2();
    if (aiops_pipeline_create(&p, &loop, &cfg, NULL, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "bench_pipeline: %s\n", errbuf);
        status = 1;
        goto out_free_msgs;
    }
    t0 = bench_wall_seconds();
    for (long m = 0; m < n_msgs; m++) {
        struct aiops_payload_error perr;
        int n = aiops_pipeline_ingest(p, msgs[m].data, msgs[m].size, &perr);

        if (n < 0) {
            fprintf(stderr, "bench_pipeline: message %ld: %s\n", m, perr.detail);
            status = 1;
            break;
        }
        taken += n;
    }
    secs = bench_wall_seconds() - t0;
    m1 = mallinfo2();
    printf("method %s, window %s: %ld series x %ld points = %ld points in %.3f s\n", method, window,
           n_series, per_series, taken, secs);
    printf("throughput: %.0f points/s (%.0f ns/point), decode + series + detect + events\n",
           (double)taken / secs, secs * 1e9 / (double)taken);
    printf("memory: %.0f bytes per series (heap in use after / series)\n",
           (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / (double)n_series);
    {
        struct aiops_buf b;

        aiops_buf_init(&b);
        aiops_pipeline_write_metrics(p, &b);
        for (char *line = strtok(b.data, "\n"); line != NULL; line = strtok(NULL, "\n"))
            if (strncmp(line, "aiops_events_total", 18) == 0 ||
                strncmp(line, "aiops_alerts_published_total", 28) == 0 ||
                strncmp(line, "aiops_anomalous_points_total", 28) == 0)
                printf("  %s\n", line);
        aiops_buf_fini(&b);
    }
    aiops_pipeline_stop(p, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    aiops_pipeline_destroy(p);
    uv_loop_close(&loop);
out_free_msgs:
    for (long m = 0; m < n_msgs; m++)
        msgpack_sbuffer_destroy(&msgs[m]);
    free(msgs);
    aiops_config_fini(&cfg);
    return status;
}
