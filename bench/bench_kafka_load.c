/* SPDX-License-Identifier: MIT */
/* The Kafka side of bench/kafka.sh, a plain librdkafka client in its own process:
 *   produce BOOTSTRAP TOPIC SERIES POINTS   pre-produces SERIES x POINTS points of our schema as
 *                                           msgpack batches of 1,000 (10 series x 100 steps)
 *   latency BOOTSTRAP IN_TOPIC ALERT_TOPIC N for N fresh series: 40 normal points, then a spike;
 *                                           times each spike from produce() until its alert is
 *                                           read from ALERT_TOPIC; prints p50/p99/max in ms */
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1000

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_point(msgpack_packer *pk, const char *resource, long step, double v)
{
    msgpack_pack_map(pk, 4);
    pack_str(pk, "resource_id");
    pack_str(pk, resource);
    pack_str(pk, "metric");
    /* The latency probes have their own metric, so a rule can score them with z-score (40
     * points of warm-up) whatever method the throughput run uses. */
    pack_str(pk, strncmp(resource, "latency-", 8) == 0 ? "probe.cpu" : "cpu.usage");
    pack_str(pk, "timestamp");
    msgpack_pack_int64(pk, 1767225600000LL + step * 10000LL);
    pack_str(pk, "value");
    msgpack_pack_double(pk, v);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "linger.ms", "0", NULL, 0);
    } else { /* assign()ed, never subscribed: the group only names it */
        rd_kafka_conf_set(conf, "group.id", "bench-latency", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "1", NULL, 0);
        rd_kafka_conf_set(conf, "fetch.error.backoff.ms", "1", NULL, 0);
    }
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", NULL, 0);
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "bench_kafka_load: %s\n", errstr);
        exit(1);
    }
    return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, const void *data, size_t len,
                    const char *key)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)data, len),
                             RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
}

/* Each message holds GROUP series x (BATCH / GROUP) steps, keyed by the group: a series always
 * lands in one partition (so its points stay in time order) and the groups spread over every
 * partition (the mock keeps only 5 MiB per partition). */
#define GROUP 10

static int cmd_produce(const char *bootstrap, const char *topic, long n_series, long per_series)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, bootstrap);
    long steps = BATCH / GROUP;
    double t0 = now_ms();

    for (long s0 = 0; s0 < per_series; s0 += steps) {
        for (long g = 0; g < n_series / GROUP; g++) {
            msgpack_sbuffer sb;
            msgpack_packer pk;
            char resource[32], key[32];

            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_array(&pk, (size_t)(steps * GROUP));
            for (long step = s0; step < s0 + steps; step++) {
                for (long series = g * GROUP; series < (g + 1) * GROUP; series++) {
                    long i = step * n_series + series;
                    double v =
                        50.0 + 10.0 * sin((double)step / 20.0) + (double)((i * 7919) % 100) / 50.0;

                    snprintf(resource, sizeof(resource), "host-%05ld", series);
                    pack_point(&pk, resource, step, step % 250 == 200 ? v + 400.0 : v);
                }
            }
            snprintf(key, sizeof(key), "group-%ld", g);
            produce(rk, topic, sb.data, sb.size, key);
            msgpack_sbuffer_destroy(&sb);
            rd_kafka_poll(rk, 0);
        }
    }
    rd_kafka_flush(rk, 60000);
    printf("produced %ld points in %.0f ms\n", n_series * per_series, now_ms() - t0);
    rd_kafka_destroy(rk);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int cmd_latency(const char *bootstrap, const char *in_topic, const char *alert_topic, long n)
{
    rd_kafka_t *prod = client(RD_KAFKA_PRODUCER, bootstrap),
               *cons = client(RD_KAFKA_CONSUMER, bootstrap);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    double *lat = calloc((size_t)n, sizeof(double));
    long got = 0;

    rd_kafka_topic_partition_list_add(parts, alert_topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(cons, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    for (int i = 0; i < 50; i++) { /* let the assignment reach the end offset */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 20);

        if (m != NULL)
            rd_kafka_message_destroy(m);
    }
    for (long k = 0; k < n; k++) {
        char resource[48];
        msgpack_sbuffer sb;
        msgpack_packer pk;
        double t0;

        snprintf(resource, sizeof(resource), "latency-%ld-%ld", (long)time(NULL), k);
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 40);
        for (long i = 0; i < 40; i++)
            pack_point(&pk, resource, i, 50.0 + (double)((i * 7919) % 13) / 13.0);
        produce(prod, in_topic, sb.data, sb.size, resource);
        rd_kafka_flush(prod, 5000);
        msgpack_sbuffer_clear(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_point(&pk, resource, 40, 500.0);
        t0 = now_ms();
        produce(prod, in_topic, sb.data, sb.size, resource);
        rd_kafka_poll(prod, 0);
        msgpack_sbuffer_destroy(&sb);
        for (;;) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 1000);

            if (m == NULL) {
                if (now_ms() - t0 > 10000) {
                    fprintf(stderr, "bench_kafka_load: no alert for %s within 10 s\n", resource);
                    return 1;
                }
                continue;
            }
            if (m->err != 0 && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "bench_kafka_load: consume: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return 1;
            }
            if (m->err == 0 && m->key_len == strlen(resource) &&
                memcmp(m->key, resource, m->key_len) == 0) {
                lat[got++] = now_ms() - t0;
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
        }
    }
    qsort(lat, (size_t)got, sizeof(double), cmp_double);
    printf(
        "publish latency over %ld spikes (produce -> alert read back): p50 %.2f ms, p99 %.2f ms, "
        "max %.2f ms\n",
        got, lat[got / 2],
        lat[(long)((double)got * 0.99) < got ? (long)((double)got * 0.99) : got - 1], lat[got - 1]);
    free(lat);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "produce") == 0 &&
        (atol(argv[4]) % GROUP != 0 || atol(argv[5]) % (BATCH / GROUP) != 0)) {
        fprintf(stderr, "bench_kafka_load: SERIES must be a multiple of %d, POINTS of %d\n", GROUP,
                BATCH / GROUP);
        return 2;
    }
    if (argc == 6 && strcmp(argv[1], "produce") == 0)
        return cmd_produce(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    if (argc == 6 && strcmp(argv[1], "latency") == 0)
        return cmd_latency(argv[2], argv[3], argv[4], atol(argv[5]));
    fprintf(stderr, "usage: bench_kafka_load produce BOOTSTRAP TOPIC SERIES POINTS\n"
                    "       bench_kafka_load latency BOOTSTRAP IN_TOPIC ALERT_TOPIC N\n");
    return 2;
}
