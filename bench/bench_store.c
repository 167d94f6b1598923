/* SPDX-License-Identifier: MIT */
/* Store throughput: appends detection records (or upserts streaming events) through
 * storage/store.h into a SQLite file in a temp dir, or into the database a URL names, and
 * prints rows/s on the caller's side and end to end (until flush returns).
 * Usage: bench_store [rows] [queue_max] [batch_ms] [url|-] [detections|upserts]; a full queue
 * is retried after letting the loop run, and counted. Upserts use 1000 ids, so most update. */
#include "agent/err.h"
#include "storage/store.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? atol(argv[1]) : 1000000;
    unsigned long queue_max = argc > 2 ? strtoul(argv[2], NULL, 10) : 1u << 20;
    unsigned long batch_ms = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
    const char *given = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    bool upserts = argc > 5 && strcmp(argv[5], "upserts") == 0;
    char dir[] = "/tmp/aiops-bench-store-XXXXXX", url[512], errbuf[512], resource[32];
    struct aiops_store *s;
    struct aiops_store_stats st;
    double t0, t_append, t_flush;
    long retries = 0;
    uv_loop_t loop;
    uv_timer_t tick; /* keeps uv_run() turning: stores do not hold the loop open */
    int err;

    if (given == NULL && mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (given != NULL)
        snprintf(url, sizeof(url), "%s", given);
    else
        snprintf(url, sizeof(url), "sqlite:///%s/bench.db", dir);
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    err = aiops_store_open(&s, url, &loop,
                           &(struct aiops_store_options){.batch_ms = (uint32_t)batch_ms,
                                                         .queue_max = (uint32_t)queue_max},
                           errbuf, sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "bench_store: %s\n", errbuf);
        if (given == NULL)
            remove_dir(dir);
        return 1;
    }

    t0 = now_s();
    for (long i = 0; i < rows; i++) {
        struct aiops_detection_record r = {
            .resource_id = resource,
            .metric_name = "cpu_usage",
            .method = "zscore",
            .sensitivity = "medium",
            .total_points = 100,
            .anomaly_count = i % 7,
            .anomaly_percentage = (double)(i % 7),
            .detection_time_ms = 0.25,
            .created_at_ms = 1767225600000 + i,
        };

        snprintf(resource, sizeof(resource), "server-%04ld", i % 1000);
        if (upserts) {
            struct aiops_event e = {
                .resource_id = resource,
                .metric = "cpu_usage",
                .labels_json = "{}",
                .start_ms = 1767225600000,
                .end_ms = 1767225600000 + i,
                .severity = "major",
                .method = "zscore",
                .reason = "bench",
                .updated_ms = 1767225600000 + i,
                .version = (uint32_t)(i / 1000 + 1),
            };
            struct aiops_store_stats q;

            snprintf(e.id, sizeof(e.id), "%032ld", i % 1000);
            /* The pipeline's backpressure: upserts are never refused, so wait for room. */
            for (aiops_store_stats(s, &q); q.queued >= queue_max; aiops_store_stats(s, &q)) {
                retries++;
                uv_run(&loop, UV_RUN_ONCE);
                sched_yield();
            }
            err = aiops_store_upsert_event(s, &e, (uint64_t)i);
        } else {
            while ((err = aiops_store_append_detection(s, &r)) == AIOPS_EBUSY) {
                retries++;
                uv_run(&loop, UV_RUN_ONCE);
                sched_yield();
            }
        }
        if (i % 1024 == 0)
            uv_run(&loop, UV_RUN_NOWAIT);
        if (err < 0) {
            fprintf(stderr, "bench_store: append: %s\n", aiops_strerror(err));
            break;
        }
    }
    t_append = now_s() - t0;
    err = aiops_store_flush(s);
    t_flush = now_s() - t0;
    aiops_store_stats(s, &st);
    aiops_store_close(s);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* frees the store's handles */
    uv_loop_close(&loop);
    if (given == NULL)
        remove_dir(dir);

    printf("%s, %s, rows %ld, queue_max %lu, batch_ms %lu\n", given != NULL ? "url" : "sqlite",
           upserts ? "upserts" : "detections", rows, queue_max, batch_ms);
    printf("append (caller side): %.0f rows/s (%.3f s, %ld full-queue retries)\n",
           (double)rows / t_append, t_append, retries);
    printf("end to end (flush returned): %.0f rows/s (%.3f s)\n", (double)rows / t_flush, t_flush);
    printf("written %llu, batches %llu (%.0f rows/batch), dropped %llu, failed %llu, "
           "retries %llu%s\n",
           (unsigned long long)st.written, (unsigned long long)st.batches,
           st.batches ? (double)st.written / (double)st.batches : 0.0,
           (unsigned long long)st.dropped, (unsigned long long)st.failed,
           (unsigned long long)st.retries, err < 0 ? " (flush failed)" : "");
    return err < 0 || st.written != (uint64_t)rows;
}
