/* SPDX-License-Identifier: MIT */
/* Payload decoding cost (transports/payload.h): messages of 1,000 points in each format, decoded
 * over and over through aiops_payload_decode (AUTO, as the sources call it), printing ns/point
 * and points/s of CPU time on one core. The streaming target is 1,000,000 points/s through the
 * whole pipeline, so msgpack decoding should stay well under 300 ns/point.
 * Usage: bench_payload [seconds per case] [only the cases whose name contains this] */
#include "agent/buf.h"
#include "agent/err.h"
#include "bench/clock.h"
#include "transports/payload.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POINTS 1000

static int on_point(void *ctx, const struct aiops_metric_point *p)
{
    double *sum = ctx;

    *sum += p->value + (double)p->n_labels + (double)(unsigned char)p->resource_id[0];
    return 0;
}

static const char *only;

static void run(const char *name, const void *data, size_t len, double secs)
{
    struct aiops_payload_options o;
    struct aiops_payload_error err;
    double sum = 0, t0, t;
    long iters = 0, points = 0;
    int rc;

    if (only != NULL && strstr(name, only) == NULL)
        return;
    aiops_payload_options_init(&o);
    t0 = bench_cpu_seconds();
    do {
        for (int k = 0; k < 20; k++, iters++) {
            rc = aiops_payload_decode(data, len, &o, on_point, &sum, &err);
            if (rc < 0) {
                fprintf(stderr, "bench_payload: %s: %s: %s\n", name, aiops_strerror(rc),
                        rc == AIOPS_EINVAL ? err.detail : "");
                exit(1);
            }
            points += rc;
        }
        t = bench_cpu_seconds() - t0;
    } while (t < secs);
    printf("%-40s %7zu B/msg %8.1f ns/point %11.0f points/s\n", name, len, t * 1e9 / (double)points,
           (double)points / t);
    (void)iters;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    const int64_t t0 = 1766959200000LL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct aiops_buf b;
    char res[32];

    only = argc > 2 ? argv[2] : NULL;
    /* Our schema, msgpack: one array of 1,000 point maps with two labels each. */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, POINTS);
    for (int i = 0; i < POINTS; i++) {
        snprintf(res, sizeof(res), "server-%04d", i % 100);
        msgpack_pack_map(&pk, 5);
        pk_str(&pk, "resource_id");
        pk_str(&pk, res);
        pk_str(&pk, "metric");
        pk_str(&pk, "cpu_usage");
        pk_str(&pk, "timestamp");
        msgpack_pack_int64(&pk, t0 + i * 1000);
        pk_str(&pk, "value");
        msgpack_pack_double(&pk, 40.0 + (i % 17) * 0.25);
        pk_str(&pk, "labels");
        msgpack_pack_map(&pk, 2);
        pk_str(&pk, "region");
        pk_str(&pk, "eu-west-1");
        pk_str(&pk, "az");
        pk_str(&pk, "b");
    }
    printf("payload decoding, %d points per message, one core\n", POINTS);
    run("msgpack, our schema (array of maps)", sb.data, sb.size, secs);

    /* Telegraf msgpack: 100 concatenated metrics of 10 fields, time as ext -1. */
    msgpack_sbuffer_clear(&sb);
    for (int m = 0; m < POINTS / 10; m++) {
        uint32_t sec = 1766959200u + (uint32_t)m;
        char ts[4] = {(char)(sec >> 24), (char)(sec >> 16), (char)(sec >> 8), (char)sec};

        snprintf(res, sizeof(res), "server-%04d", m);
        msgpack_pack_map(&pk, 4);
        pk_str(&pk, "name");
        pk_str(&pk, "cpu");
        pk_str(&pk, "time");
        msgpack_pack_ext(&pk, 4, -1);
        msgpack_pack_ext_body(&pk, ts, 4);
        pk_str(&pk, "tags");
        msgpack_pack_map(&pk, 2);
        pk_str(&pk, "cpu");
        pk_str(&pk, "cpu-total");
        pk_str(&pk, "host");
        pk_str(&pk, res);
        pk_str(&pk, "fields");
        msgpack_pack_map(&pk, 10);
        for (int f = 0; f < 10; f++) {
            char field[16];
            snprintf(field, sizeof(field), "usage_%d", f);
            pk_str(&pk, field);
            msgpack_pack_double(&pk, f * 1.5);
        }
    }
    run("msgpack, Telegraf (100 metrics x 10)", sb.data, sb.size, secs);
    msgpack_sbuffer_destroy(&sb);

    /* Our schema, JSON. */
    aiops_buf_init(&b);
    aiops_buf_puts(&b, "[");
    for (int i = 0; i < POINTS; i++)
        aiops_buf_printf(&b,
                         "%s{\"resource_id\":\"server-%04d\",\"metric\":\"cpu_usage\","
                         "\"timestamp\":%lld,\"value\":%.2f,"
                         "\"labels\":{\"region\":\"eu-west-1\",\"az\":\"b\"}}",
                         i ? "," : "", i % 100, (long long)t0 + (long long)i * 1000,
                         40.0 + (i % 17) * 0.25);
    aiops_buf_puts(&b, "]");
    run("JSON, our schema (array of objects)", b.data, b.len, secs);

    /* Telegraf json batch. */
    b.len = 0;
    aiops_buf_puts(&b, "{\"metrics\":[");
    for (int m = 0; m < POINTS / 10; m++) {
        aiops_buf_printf(&b, "%s{\"fields\":{", m ? "," : "");
        for (int f = 0; f < 10; f++)
            aiops_buf_printf(&b, "%s\"usage_%d\":%.1f", f ? "," : "", f, f * 1.5);
        aiops_buf_printf(&b,
                         "},\"name\":\"cpu\",\"tags\":{\"cpu\":\"cpu-total\","
                         "\"host\":\"server-%04d\"},\"timestamp\":%d}",
                         m, 1766959200 + m);
    }
    aiops_buf_puts(&b, "]}");
    run("JSON, Telegraf batch (100 metrics x 10)", b.data, b.len, secs);

    /* Influx line protocol, 100 lines of 10 fields. */
    b.len = 0;
    for (int m = 0; m < POINTS / 10; m++) {
        aiops_buf_printf(&b, "cpu,cpu=cpu-total,host=server-%04d ", m);
        for (int f = 0; f < 10; f++)
            aiops_buf_printf(&b, "%susage_%d=%.1f", f ? "," : "", f, f * 1.5);
        aiops_buf_printf(&b, " %lld000000\n", (long long)t0 + (long long)m * 1000);
    }
    run("Influx (100 lines x 10 fields)", b.data, b.len, secs);
    if (b.err < 0) {
        fprintf(stderr, "bench_payload: out of memory\n");
        return 1;
    }
    aiops_buf_fini(&b);
    return 0;
}
