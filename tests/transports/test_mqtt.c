/* SPDX-License-Identifier: MIT */
/* The MQTT source and sink against a real Mosquitto on a free 127.0.0.1 port (started by
 * mosquitto.sh for each test, stopped by the test): wildcard subscriptions at QoS 0 and 1,
 * templated alert topics, PUBACK bookkeeping, a broker restart mid-stream, pause/resume,
 * logins, config errors and allocation failures. mosquitto_pub/mosquitto_sub play the other
 * side. */
#include "agent/err.h"
#include "agent/mem.h"
#include "config/config.h"
#include "tests/support.h"
#include "transports/mqtt.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_MSGS 64

static uv_loop_t loop;
static uv_timer_t wake; /* keeps uv_run(UV_RUN_ONCE) returning while run_until waits */
static char dir[64];    /* the broker's config, log and persistence */
static int port;
static pid_t broker_pid;
static char url[64];
static char errbuf[512];

/* The fake pipeline: records what the source delivers. */
static char payloads[MAX_MSGS][128];
static int n_delivered;
static uint64_t seq;
static int n_drained;
static bool stopped;

static uint64_t deliver(void *ctx, struct aiops_source *src, const void *data, size_t len)
{
    (void)ctx;
    (void)src;
    if (n_delivered < MAX_MSGS)
        snprintf(payloads[n_delivered], sizeof(payloads[0]), "%.*s", (int)len, (const char *)data);
    n_delivered++;
    return ++seq;
}

static uint64_t durable_seq(void *ctx)
{
    (void)ctx;
    return seq;
}

static uint64_t flush(void *ctx, uint32_t timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    return seq;
}

static void on_drained(void *ctx, struct aiops_sink *s)
{
    (void)ctx;
    (void)s;
    n_drained++;
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void broker_start(int at_port)
{
    char cmd[512], script[256];
    FILE *f;
    int pid = 0;

    snprintf(script, sizeof(script), "%s", __FILE__);
    snprintf(cmd, sizeof(cmd), "sh %s/mosquitto.sh %s %d", dirname(script), dir, at_port);
    if (at_port == 0)
        cmd[strlen(cmd) - 2] = '\0'; /* no port: a free one */
    f = popen(cmd, "r");
    cr_assert(f != NULL);
    cr_assert(eq(int, fscanf(f, "%d %d", &port, &pid), 2), "%s failed", cmd);
    pclose(f);
    broker_pid = pid;
    snprintf(url, sizeof(url), "mqtt://127.0.0.1:%d", port);
}

/* SIGTERM (Mosquitto saves its sessions when persistent), then reaps it: the test process is a
 * subreaper, so the broker the script left behind is its child. */
static void broker_stop(void)
{
    int status;

    if (broker_pid <= 0)
        return;
    kill(broker_pid, SIGTERM);
    for (int i = 0; i < 500 && waitpid(broker_pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(broker_pid, &status, WNOHANG) == 0) {
        kill(broker_pid, SIGKILL);
        waitpid(broker_pid, &status, 0);
    }
    broker_pid = 0;
}

static void init(void)
{
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    snprintf(dir, sizeof(dir), "/tmp/aiops-mqtt-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    cr_assert(eq(int, uv_loop_init(&loop), 0));
    uv_timer_init(&loop, &wake);
    uv_timer_start(&wake, on_wake, 10, 10);
    uv_unref((uv_handle_t *)&wake);
    n_delivered = n_drained = 0;
    seq = 0;
    stopped = false;
    errbuf[0] = '\0';
    port = 0;
    broker_pid = 0;
}

static void fini(void)
{
    char cmd[128];

    aiops_mem_fail_after(-1);
    broker_stop();
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    while (waitpid(-1, NULL, WNOHANG) > 0) /* brokers a failed start left */
        ;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        cr_log_warn("cannot remove %s", dir);
    aiops_test_check_leaks();
}

TestSuite(mqtt, .init = init, .fini = fini);

/* Runs the loop until cond() or timeout_ms; returns cond(). */
static bool run_until(bool (*cond)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t start;

    uv_update_time(&loop);
    start = uv_now(&loop);
    uv_ref((uv_handle_t *)&wake);
    while (!cond(arg) && uv_now(&loop) - start < timeout_ms) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    uv_unref((uv_handle_t *)&wake);
    return cond(arg);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void run_for(uint64_t ms)
{
    run_until(never, NULL, ms);
}

static bool delivered_at_least(void *n)
{
    return n_delivered >= *(int *)n;
}

static bool is_stopped(void *arg)
{
    (void)arg;
    return stopped;
}

/* ---- sources ---- */

static struct aiops_config_entry entry(struct aiops_config_kv *kv, size_t n)
{
    return (struct aiops_config_entry){.type = "mqtt", .kv = kv, .n_kv = n};
}

static int source_try(struct aiops_source **out, struct aiops_config_kv *kv, size_t n)
{
    struct aiops_source *s = aiops_calloc(1, aiops_mqtt_source_ops.size);
    struct aiops_config_entry e = entry(kv, n);
    int err;

    if (s == NULL)
        return AIOPS_ENOMEM;
    s->ops = &aiops_mqtt_source_ops;
    s->loop = &loop;
    s->host =
        (struct aiops_source_host){.deliver = deliver, .durable_seq = durable_seq, .flush = flush};
    snprintf(s->name, sizeof(s->name), "mqtt[0]");
    err = s->ops->start(s, &e, errbuf, sizeof(errbuf));
    if (err < 0) {
        aiops_free(s);
        return err;
    }
    *out = s;
    return 0;
}

static struct aiops_source *source_start(struct aiops_config_kv *kv, size_t n)
{
    struct aiops_source *s = NULL;
    int err = source_try(&s, kv, n);

    cr_assert(eq(int, err, 0), "start: %s", errbuf);
    return s;
}

static void on_source_stopped(struct aiops_source *s)
{
    aiops_free(s);
    stopped = true;
}

static void source_stop(struct aiops_source *s)
{
    stopped = false;
    s->ops->stop(s, on_source_stopped);
    cr_assert(run_until(is_stopped, NULL, 10000), "source did not stop");
}

static bool source_ready(void *s)
{
    struct aiops_source *src = s;

    return src->ops->is_ready(src);
}

static bool source_not_ready(void *s)
{
    return !source_ready(s);
}

static void pub(const char *topic, const char *msg, int qos)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q %d -t '%s' -m '%s'", port, qos,
             topic, msg);
    cr_assert(eq(int, system(cmd), 0), "%s", cmd);
}

static bool delivered(const char *payload)
{
    for (int i = 0; i < n_delivered && i < MAX_MSGS; i++)
        if (strcmp(payloads[i], payload) == 0)
            return true;
    return false;
}

static char *metrics_of_source(struct aiops_source *s)
{
    static char text[2048];
    struct aiops_buf b;

    aiops_buf_init(&b);
    s->ops->write_metrics(s, &b);
    snprintf(text, sizeof(text), "%s", b.data != NULL ? b.data : "");
    aiops_buf_fini(&b);
    return text;
}

Test(mqtt, source_receives_wildcard_topics_at_qos_0_and_1)
{
    struct aiops_source *s;
    int want = 3;

    broker_start(0);
    s = source_start((struct aiops_config_kv[]){{"url", url},
                                                {"topics", "metrics/+/cpu, logs/#"},
                                                {"client_id", "test-source"}},
                     3);
    cr_assert(run_until(source_ready, s, 10000), "never subscribed");
    pub("metrics/web1/cpu", "a", 0);
    pub("metrics/web2/mem", "not-matched", 1);
    pub("logs/web1/syslog", "b", 1);
    pub("other/web1/cpu", "not-matched", 1);
    pub("metrics/web2/cpu", "c", 1);
    cr_assert(run_until(delivered_at_least, &want, 10000), "got %d", n_delivered);
    run_for(300); /* nothing else arrives */
    cr_assert(eq(int, n_delivered, 3));
    cr_assert(delivered("a") && delivered("b") && delivered("c"));
    cr_assert(strstr(metrics_of_source(s), "aiops_source_messages_total{source=\"mqtt[0]\"} 3") !=
              NULL);
    cr_assert(strstr(metrics_of_source(s), "aiops_source_connected{source=\"mqtt[0]\"} 1") != NULL);
    source_stop(s);
}

Test(mqtt, pause_stops_deliveries_and_resume_restarts_them)
{
    struct aiops_source *s;
    int want = 3;

    broker_start(0);
    s = source_start((struct aiops_config_kv[]){{"url", url}, {"topics", "metrics/#"}}, 2);
    cr_assert(run_until(source_ready, s, 10000));
    s->ops->pause(s);
    pub("metrics/a", "1", 1);
    pub("metrics/b", "2", 1);
    pub("metrics/c", "3", 0);
    run_for(500);
    cr_assert(eq(int, n_delivered, 0), "delivered while paused");
    s->ops->resume(s);
    cr_assert(run_until(delivered_at_least, &want, 10000), "got %d", n_delivered);
    cr_assert(delivered("1") && delivered("2") && delivered("3"));
    source_stop(s);
}

Test(mqtt, source_resubscribes_after_the_broker_restarts_without_its_session)
{
    struct aiops_source *s;
    int want = 1;

    broker_start(0);
    s = source_start((struct aiops_config_kv[]){{"url", url},
                                                {"topics", "metrics/#"},
                                                {"clean_session", "true"}},
                     3);
    cr_assert(run_until(source_ready, s, 10000));
    broker_stop();
    cr_assert(run_until(source_not_ready, s, 5000), "still ready without a broker");
    cr_assert(strstr(metrics_of_source(s), "aiops_source_connected{source=\"mqtt[0]\"} 0") != NULL);
    broker_start(port); /* a new broker knows no subscription */
    cr_assert(run_until(source_ready, s, 15000), "did not resubscribe");
    pub("metrics/x", "after-restart", 1);
    cr_assert(run_until(delivered_at_least, &want, 10000));
    cr_assert(delivered("after-restart"));
    cr_assert(strstr(metrics_of_source(s), "aiops_source_reconnects_total{source=\"mqtt[0]\"} 0") ==
              NULL);
    source_stop(s);
}

Test(mqtt, logins_are_checked_by_the_broker)
{
    struct aiops_source *good, *bad;
    int want = 1;

    setenv("MQTT_USER", "agent", 1);
    setenv("MQTT_PASS", "s3cret", 1);
    broker_start(0);
    unsetenv("MQTT_USER");
    unsetenv("MQTT_PASS");
    bad = source_start(
        (struct aiops_config_kv[]){
            {"url", url}, {"topics", "metrics/#"}, {"username", "agent"}, {"password", "wrong"}},
        4);
    good = source_start((struct aiops_config_kv[]){{"url", url},
                                                   {"topics", "metrics/#"},
                                                   {"client_id", "good"},
                                                   {"username", "agent"},
                                                   {"password", "s3cret"}},
                        5);
    cr_assert(run_until(source_ready, good, 10000));
    cr_assert(not(source_ready(bad)));
    {
        char cmd[256];

        snprintf(cmd, sizeof(cmd),
                 "mosquitto_pub -h 127.0.0.1 -p %d -u agent -P s3cret -q 1 -t metrics/x -m in",
                 port);
        cr_assert(eq(int, system(cmd), 0));
    }
    cr_assert(run_until(delivered_at_least, &want, 10000));
    run_for(200);
    cr_assert(eq(int, n_delivered, 1), "only the logged-in source receives");
    source_stop(bad);
    source_stop(good);
}

static struct aiops_sink *sink_start(struct aiops_config_kv *kv, size_t n);
static void sink_stop(struct aiops_sink *s);
static bool sink_ready(void *s);

Test(mqtt, tls_checks_the_broker_against_the_ca_file)
{
    struct aiops_source *s;
    struct aiops_sink *sk;
    char ca[128], tls_url[64], cmd[512];
    int want = 1;

    setenv("MQTT_TLS", "1", 1);
    broker_start(0);
    unsetenv("MQTT_TLS");
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(tls_url, sizeof(tls_url), "mqtts://127.0.0.1:%d", port);
    s = source_start(
        (struct aiops_config_kv[]){{"url", tls_url}, {"topics", "metrics/#"}, {"tls.ca_file", ca}},
        3);
    sk = sink_start((struct aiops_config_kv[]){{"url", tls_url}}, 1); /* the system's CAs */
    cr_assert(run_until(source_ready, s, 10000), "no TLS session");
    snprintf(cmd, sizeof(cmd),
             "mosquitto_pub -h 127.0.0.1 -p %d --cafile %s -q 1 -t metrics/x -m over-tls", port,
             ca);
    cr_assert(eq(int, system(cmd), 0));
    cr_assert(run_until(delivered_at_least, &want, 10000));
    cr_assert(delivered("over-tls"));
    cr_assert(not(sink_ready(sk)), "a broker its CAs do not know was trusted");
    sink_stop(sk);
    source_stop(s);
}

/* ---- sinks ---- */

static struct aiops_sink *sink_start(struct aiops_config_kv *kv, size_t n)
{
    struct aiops_sink *s = aiops_calloc(1, aiops_mqtt_sink_ops.size);
    struct aiops_config_entry e = entry(kv, n);
    int err;

    cr_assert(s != NULL);
    s->ops = &aiops_mqtt_sink_ops;
    s->loop = &loop;
    s->queue_max = 10000;
    s->on_drained = on_drained;
    snprintf(s->name, sizeof(s->name), "mqtt[1]");
    err = s->ops->start(s, &e, errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, 0), "start: %s", errbuf);
    return s;
}

static char *metrics_of_sink(struct aiops_sink *s)
{
    static char text[2048];
    struct aiops_buf b;

    aiops_buf_init(&b);
    s->ops->write_metrics(s, &b);
    snprintf(text, sizeof(text), "%s", b.data != NULL ? b.data : "");
    aiops_buf_fini(&b);
    return text;
}

static void on_sink_stopped(struct aiops_sink *s)
{
    aiops_free(s);
    stopped = true;
}

static void sink_stop(struct aiops_sink *s)
{
    stopped = false;
    s->ops->stop(s, on_sink_stopped);
    cr_assert(run_until(is_stopped, NULL, 10000), "sink did not stop");
}

static bool sink_ready(void *s)
{
    struct aiops_sink *sk = s;

    return sk->ops->is_ready(sk);
}

static bool sink_empty(void *s)
{
    struct aiops_sink *sk = s;

    return sk->ops->queued(sk) == 0;
}

static void publish(struct aiops_sink *s, uint64_t sq, const char *resource, const char *metric)
{
    char json[128];
    struct aiops_alert a;

    snprintf(json, sizeof(json), "{\"seq\":%llu}", (unsigned long long)sq);
    a = (struct aiops_alert){.seq = sq,
                             .resource_id = resource,
                             .metric = metric,
                             .json = json,
                             .json_len = strlen(json),
                             .msgpack = "\x80",
                             .msgpack_len = 1};
    cr_assert(eq(int, s->ops->publish(s, &a), 0));
}

/* Makes a persistent QoS 1 session on the broker that queues alerts until read(). */
static void subscriber_create(const char *filter)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "mosquitto_sub -h 127.0.0.1 -p %d -c -i tsub -q 1 -t '%s' -E", port,
             filter);
    cr_assert(eq(int, system(cmd), 0));
}

/* Reads n messages of the session as "topic payload" lines into lines. */
static int subscriber_read(const char *filter, int n, char lines[][128])
{
    char cmd[256];
    FILE *f;
    int got = 0;

    snprintf(cmd, sizeof(cmd),
             "mosquitto_sub -h 127.0.0.1 -p %d -c -i tsub -q 1 -t '%s' -C %d -W 10 -v", port,
             filter, n);
    f = popen(cmd, "r");
    cr_assert(f != NULL);
    while (got < n && fgets(lines[got], 128, f) != NULL) {
        lines[got][strcspn(lines[got], "\n")] = '\0';
        got++;
    }
    pclose(f);
    return got;
}

Test(mqtt, sink_publishes_on_templated_topics_and_forgets_alerts_on_puback)
{
    struct aiops_sink *s;
    char lines[8][128], want[128];

    broker_start(0);
    subscriber_create("aiops/alerts/#");
    s = sink_start((struct aiops_config_kv[]){{"url", url}}, 1);
    cr_assert(run_until(sink_ready, s, 10000));
    publish(s, 11, "web/1", "cpu");
    publish(s, 12, "db+#", "disk/io");
    publish(s, 13, "web/1", "cpu");
    publish(s, 14, "app", "latency");
    publish(s, 15, "app", "latency");
    cr_assert(eq(sz, s->ops->queued(s), 5), "nothing is acknowledged before the loop runs");
    cr_assert(eq(u64, s->ops->pending_seq(s), 11));
    cr_assert(run_until(sink_empty, s, 10000), "queued %zu", s->ops->queued(s));
    cr_assert(eq(u64, s->ops->pending_seq(s), UINT64_MAX));
    cr_assert(gt(int, n_drained, 0));
    cr_assert(eq(int, subscriber_read("aiops/alerts/#", 5, lines), 5));
    cr_assert(eq(str, lines[0], "aiops/alerts/web_1/cpu {\"seq\":11}"));
    cr_assert(eq(str, lines[1], "aiops/alerts/db__/disk_io {\"seq\":12}"));
    for (int i = 2; i < 5; i++) {
        snprintf(want, sizeof(want), "aiops/alerts/%s {\"seq\":%d}",
                 i == 2 ? "web_1/cpu" : "app/latency", 11 + i);
        cr_assert(eq(str, lines[i], want));
    }
    sink_stop(s);
}

Test(mqtt, sink_formats_msgpack_and_custom_templates)
{
    struct aiops_sink *s;
    char lines[3][128];

    broker_start(0);
    subscriber_create("alerts/#");
    s = sink_start((struct aiops_config_kv[]){{"url", url},
                                              {"topic", "alerts/{metric}/on/{resource_id}"},
                                              {"format", "msgpack"},
                                              {"qos", "0"}},
                   4);
    cr_assert(run_until(sink_ready, s, 10000));
    publish(s, 1, "web1", "cpu");
    publish(s, 2, "caf\xc3\xa9", "cpu");     /* UTF-8 stays */
    publish(s, 3, "caf\xc3\xa9\xff", "cpu"); /* not UTF-8: non-ASCII bytes become '_' */
    cr_assert(run_until(sink_empty, s, 10000));
    cr_assert(eq(int, subscriber_read("alerts/#", 3, lines), 3));
    cr_assert(eq(str, lines[0], "alerts/cpu/on/web1 \x80"));
    cr_assert(eq(str, lines[1], "alerts/cpu/on/caf\xc3\xa9 \x80"));
    cr_assert(eq(str, lines[2], "alerts/cpu/on/caf___ \x80"));
    sink_stop(s);
}

Test(mqtt, sink_keeps_at_most_100_alerts_in_flight_and_sends_all_in_order)
{
    enum { N = 300 };
    static char lines[N][128];
    struct aiops_sink *s;
    char want[128];

    broker_start(0);
    subscriber_create("aiops/alerts/#");
    s = sink_start((struct aiops_config_kv[]){{"url", url}}, 1);
    cr_assert(run_until(sink_ready, s, 10000));
    for (uint64_t i = 1; i <= N; i++)
        publish(s, i, "r", "m");
    cr_assert(eq(sz, s->ops->queued(s), N));
    cr_assert(strstr(metrics_of_sink(s), "aiops_sink_inflight{sink=\"mqtt[1]\"} 100") != NULL, "%s",
              metrics_of_sink(s));
    cr_assert(run_until(sink_empty, s, 10000), "queued %zu", s->ops->queued(s));
    cr_assert(strstr(metrics_of_sink(s), "aiops_sink_published_total{sink=\"mqtt[1]\"} 300") !=
              NULL);
    cr_assert(eq(int, subscriber_read("aiops/alerts/#", N, lines), N));
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "aiops/alerts/r/m {\"seq\":%d}", i + 1);
        cr_assert(eq(str, lines[i], want));
    }
    sink_stop(s);
}

/* Paused past its keepalive, the source loses its connection (no PINGRESP is read); resume
 * connects again and the broker's session hands over what was published meanwhile. */
Test(mqtt, a_long_pause_reconnects_on_resume_without_losing_qos1_messages)
{
    struct aiops_source *s;
    int want = 3;

    broker_start(0);
    s = source_start(
        (struct aiops_config_kv[]){
            {"url", url}, {"topics", "metrics/#"}, {"client_id", "long-pause"}, {"keepalive", "5"}},
        4);
    cr_assert(run_until(source_ready, s, 10000));
    s->ops->pause(s);
    pub("metrics/a", "1", 1);
    cr_assert(run_until(source_not_ready, s, 20000), "a paused connection never timed out");
    pub("metrics/b", "2", 1);
    run_for(1000);
    cr_assert(eq(int, n_delivered, 0), "delivered while paused");
    cr_assert(not(source_ready(s)), "reconnected while paused");
    s->ops->resume(s);
    pub("metrics/c", "3", 1);
    cr_assert(run_until(delivered_at_least, &want, 10000), "got %d", n_delivered);
    cr_assert(delivered("1") && delivered("2") && delivered("3"));
    cr_assert(run_until(source_ready, s, 5000));
    source_stop(s);
}

/* Every alert 1..8 arrived (QoS 1 is at least once: a count could include a duplicate). */
static bool all_back(void *arg)
{
    struct aiops_sink *s = arg;

    for (int i = 1; i <= 8; i++) {
        char p[32];

        snprintf(p, sizeof(p), "{\"seq\":%d}", i);
        if (!delivered(p))
            return false;
    }
    return s->ops->queued(s) == 0;
}

static bool sink_acknowledged(void *arg)
{
    struct aiops_sink *s = arg;

    return s->ops->queued(s) == 0;
}

Test(mqtt, a_broker_restart_mid_stream_loses_nothing)
{
    struct aiops_source *src;
    struct aiops_sink *s;
    int want = 3;

    setenv("MQTT_PERSIST", "1", 1);
    broker_start(0);
    unsetenv("MQTT_PERSIST");
    src = source_start((struct aiops_config_kv[]){{"url", url},
                                                  {"topics", "aiops/alerts/#"},
                                                  {"client_id", "restart-src"}},
                       3);
    s = sink_start((struct aiops_config_kv[]){{"url", url}}, 1);
    cr_assert(run_until(source_ready, src, 10000));
    cr_assert(run_until(sink_ready, s, 10000));
    for (uint64_t i = 1; i <= 3; i++)
        publish(s, i, "r", "m");
    cr_assert(run_until(delivered_at_least, &want, 10000));
    /* The subscriber may get an alert before its PUBACK reaches the sink. */
    cr_assert(run_until(sink_acknowledged, s, 10000));

    broker_stop();
    for (uint64_t i = 4; i <= 7; i++)
        publish(s, i, "r", "m");
    run_for(500);
    cr_assert(not(sink_ready(s)));
    cr_assert(not(source_ready(src)));
    cr_assert(eq(sz, s->ops->queued(s), 4), "alerts stay queued while the broker is away");
    cr_assert(eq(u64, s->ops->pending_seq(s), 4));
    cr_assert(strstr(metrics_of_sink(s), "aiops_sink_queued{sink=\"mqtt[1]\"} 4") != NULL);
    cr_assert(strstr(metrics_of_sink(s), "aiops_sink_connected{sink=\"mqtt[1]\"} 0") != NULL);

    /* With the sessions it saved: the sink may flush before the source has resubscribed, and
     * only the source's persistent session keeps those alerts for it. */
    setenv("MQTT_PERSIST", "1", 1);
    broker_start(port);
    unsetenv("MQTT_PERSIST");
    publish(s, 8, "r", "m"); /* and one while it reconnects */
    cr_assert(run_until(all_back, s, 20000), "queued %zu, delivered %d, the last %s",
              s->ops->queued(s), n_delivered,
              n_delivered > 0 ? payloads[(n_delivered - 1) % MAX_MSGS] : "-");
    for (int i = 4; i <= 8; i++) {
        char p[32];

        snprintf(p, sizeof(p), "{\"seq\":%d}", i);
        cr_assert(delivered(p), "alert %d lost", i);
    }
    cr_assert(eq(u64, s->ops->pending_seq(s), UINT64_MAX));
    cr_assert(run_until(source_ready, src, 10000));
    pub("aiops/alerts/x/y", "fresh", 1);
    want = n_delivered + 1;
    cr_assert(run_until(delivered_at_least, &want, 10000));
    cr_assert(delivered("fresh"));
    sink_stop(s);
    source_stop(src);
}

Test(mqtt, stop_gives_up_on_an_absent_broker_after_five_seconds)
{
    struct aiops_sink *s;
    uint64_t t0;

    broker_start(0);
    broker_stop(); /* its port, now closed */
    s = sink_start((struct aiops_config_kv[]){{"url", url}}, 1);
    publish(s, 1, "r", "m");
    run_for(300);
    cr_assert(eq(sz, s->ops->queued(s), 1));
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    stopped = false;
    s->ops->stop(s, on_sink_stopped);
    cr_assert(run_until(is_stopped, NULL, 10000));
    cr_assert(ge(u64, uv_now(&loop) - t0, 4900));
}

/* ---- configuration ---- */

struct bad_case {
    const char *role; /* "source" or "sink" */
    struct aiops_config_kv kv[3];
    const char *key; /* named in errbuf */
};

static void expect_error(const struct bad_case *c)
{
    size_t n = 0;
    long live = aiops_mem_live();
    int err;

    while (n < 3 && c->kv[n].key != NULL)
        n++;
    errbuf[0] = '\0';
    if (strcmp(c->role, "source") == 0) {
        struct aiops_source *s = NULL;

        err = source_try(&s, (struct aiops_config_kv *)c->kv, n);
    } else {
        struct aiops_sink *s = aiops_calloc(1, aiops_mqtt_sink_ops.size);
        struct aiops_config_entry e = entry((struct aiops_config_kv *)c->kv, n);

        s->ops = &aiops_mqtt_sink_ops;
        s->loop = &loop;
        err = s->ops->start(s, &e, errbuf, sizeof(errbuf));
        aiops_free(s);
    }
    cr_assert(eq(int, err, AIOPS_EINVAL), "%s %s accepted", c->role, c->key);
    cr_assert(strstr(errbuf, c->key) != NULL, "\"%s\" does not name %s", errbuf, c->key);
    cr_assert(eq(long, aiops_mem_live(), live));
    cr_assert(eq(int, uv_loop_alive(&loop), 0), "a failed start left a handle");
}

Test(mqtt, bad_settings_are_refused_with_the_key_named)
{
    static const struct bad_case cases[] = {
        {"source", {{"url", "mqtt://127.0.0.1:1883"}, {"topics", "a"}, {"topic", "b"}}, "topic"},
        {"source", {{"url", "http://127.0.0.1:1883"}, {"topics", "a"}}, "url"},
        {"source", {{"url", "mqtt://127.0.0.1:70000"}, {"topics", "a"}}, "url"},
        {"source", {{"url", "mqtt://:1883"}, {"topics", "a"}}, "url"},
        {"source", {{"url", "mqtt://u:p@host"}, {"topics", "a"}}, "url"},
        {"source", {{"topics", "a"}}, "url"},
        {"source", {{"url", "mqtt://h"}}, "topics"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a/#/b"}}, "topics"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a,,b"}}, "topics"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a"}, {"qos", "2"}}, "qos"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a"}, {"keepalive", "x"}}, "keepalive"},
        {"source",
         {{"url", "mqtt://h"}, {"topics", "a"}, {"clean_session", "maybe"}},
         "clean_session"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a"}, {"tls.ca_file", "/etc/hosts"}}, "url"},
        {"source",
         {{"url", "mqtts://h"}, {"topics", "a"}, {"tls.ca_file", "/nonexistent"}},
         "tls.ca_file"},
        {"source",
         {{"url", "mqtts://h"}, {"topics", "a"}, {"tls.cert_file", "/etc/hosts"}},
         "tls.key_file"},
        {"source", {{"url", "mqtt://h"}, {"topics", "a"}, {"password", "p"}}, "password"},
        {"sink", {{"url", "mqtt://h"}, {"topic", "a/{host}"}}, "topic"},
        {"sink", {{"url", "mqtt://h"}, {"topic", "a/#"}}, "topic"},
        {"sink", {{"url", "mqtt://h"}, {"format", "xml"}}, "format"},
        {"sink", {{"url", "mqtt://h"}, {"topics", "a"}}, "topics"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(&cases[i]);
}

Test(mqtt, start_survives_every_allocation_failure)
{
    long live = aiops_mem_live();
    struct aiops_config_kv kv[] = {{"url", "mqtt://127.0.0.1:1"}, {"topics", "a/#, b"}};
    struct aiops_source *s = NULL;
    struct aiops_sink *sk;
    int err;
    long n;

    for (n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = source_try(&s, kv, 2);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", n);
    }
    cr_assert(gt(long, n, 0));
    source_stop(s);
    for (n = 0;; n++) {
        struct aiops_config_entry e = entry(kv, 1);

        sk = aiops_calloc(1, aiops_mqtt_sink_ops.size);
        sk->ops = &aiops_mqtt_sink_ops;
        sk->loop = &loop;
        aiops_mem_fail_after(n);
        err = sk->ops->start(sk, &e, errbuf, sizeof(errbuf));
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        aiops_free(sk);
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", n);
    }
    sink_stop(sk);
    cr_assert(eq(long, aiops_mem_live(), live));
}
