/* SPDX-License-Identifier: MIT */
/* Store throughput: appends detection records through storage/store.h into a SQLite file in a
 * temp dir and prints rows/s on the caller's side and end to end (until flush returns).
 * Usage: bench_store [rows] [queue_max] [batch_ms]; a full queue is retried, and counted. */
#include "agent/err.h"
#include "storage/store.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    char dir[] = "/tmp/aiops-bench-store-XXXXXX", url[128], errbuf[512], resource[32];
    struct aiops_store *s;
    struct aiops_store_stats st;
    double t0, t_append, t_flush;
    long retries = 0;
    int err;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "sqlite:///%s/bench.db", dir);
    err = aiops_store_open(&s, url, NULL, (uint32_t)batch_ms, (uint32_t)queue_max, errbuf,
                           sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "bench_store: %s\n", errbuf);
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
        while ((err = aiops_store_append_detection(s, &r)) == AIOPS_EBUSY) {
            retries++;
            sched_yield();
        }
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
    remove_dir(dir);

    printf("rows %ld, queue_max %lu, batch_ms %lu\n", rows, queue_max, batch_ms);
    printf("append (caller side): %.0f rows/s (%.3f s, %ld full-queue retries)\n",
           (double)rows / t_append, t_append, retries);
    printf("end to end (flush returned): %.0f rows/s (%.3f s)\n", (double)rows / t_flush, t_flush);
    printf("written %llu, batches %llu (%.0f rows/batch), dropped %llu, failed %llu%s\n",
           (unsigned long long)st.written, (unsigned long long)st.batches,
           st.batches ? (double)st.written / (double)st.batches : 0.0,
           (unsigned long long)st.dropped, (unsigned long long)st.failed,
           err < 0 ? " (flush failed)" : "");
    return err < 0 || st.written != (uint64_t)rows;
}
