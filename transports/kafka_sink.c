/* SPDX-License-Identifier: MIT */
/* The Kafka sink: an idempotent producer publishing each alert to one topic, keyed by
 * resource_id, as JSON or msgpack. An alert stays pending until its delivery report says the
 * broker has it; failed deliveries are produced again, so nothing is dropped while the agent
 * lives, and pending_seq() holds back the source's commits until then. */
#include "transports/kafka.h"

#include "agent/buf.h"
#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "config/config.h"
#include "transports/kafka_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TICK_MS  100  /* retry of alerts librdkafka had no room for; safety poll */
#define FLUSH_MS 5000 /* longest stop() waits for delivery reports */
#define RETRY_MS 1000 /* pause before alerts that failed delivery are produced again */

/* An alert handed to librdkafka; its id (the opaque of its message) indexes the ring. */
struct inflight {
    uint64_t seq;
    bool done; /* delivered */
};

/* An alert librdkafka had no room for (QUEUE_FULL), waiting in order for the next try. */
struct waiting {
    struct waiting *next;
    uint64_t id;
    char *key; /* owned, NULL for none */
    size_t key_len;
    char *value; /* owned */
    size_t value_len;
};

struct kafka_sink {
    struct aiops_sink base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *main; /* delivery reports and errors */
    char *topic;            /* owned */
    bool msgpack;
    struct inflight *ring; /* owned, cap slots (a power of two), ids head..tail-1 */
    size_t cap;
    uint64_t head, tail;
    size_t queued; /* alerts not yet delivered */
    struct waiting *first, *last;
    size_t n_waiting;
    struct aiops_kafka_watch watch;
    uv_timer_t tick;
    int open_handles;
    void (*on_stopped)(struct aiops_sink *s);
    uint64_t retry_at; /* uv_now() before which waiting alerts are not retried */
    bool stopping, fatal, brokers_down;
    uint64_t delivered, errors;
};

/* librdkafka's per-message opaque carries the alert's id itself, not a pointer. */
static void *id_opaque(uint64_t id)
{
    return (void *)(uintptr_t)id; /* NOLINT(performance-no-int-to-ptr) */
}

static int wait_push(struct kafka_sink *ks, uint64_t id, const void *key, size_t key_len,
                     const void *value, size_t value_len)
{
    struct waiting *w = aiops_calloc(1, sizeof(*w));

    if (w == NULL)
        return AIOPS_ENOMEM;
    w->id = id;
    w->key_len = key_len;
    w->value_len = value_len;
    w->value = aiops_malloc(value_len + 1);
    w->key = key != NULL ? aiops_malloc(key_len + 1) : NULL;
    if (w->value == NULL || (key != NULL && w->key == NULL)) {
        aiops_free(w->value);
        aiops_free(w->key);
        aiops_free(w);
        return AIOPS_ENOMEM;
    }
    memcpy(w->value, value, value_len);
    if (key != NULL)
        memcpy(w->key, key, key_len);
    if (ks->last != NULL)
        ks->last->next = w;
    else
        ks->first = w;
    ks->last = w;
    ks->n_waiting++;
    return 0;
}

static void wait_pop(struct kafka_sink *ks)
{
    struct waiting *w = ks->first;

    ks->first = w->next;
    if (ks->first == NULL)
        ks->last = NULL;
    ks->n_waiting--;
    aiops_free(w->key);
    aiops_free(w->value);
    aiops_free(w);
}

static rd_kafka_resp_err_t produce(struct kafka_sink *ks, uint64_t id, const void *key,
                                   size_t key_len, const void *value, size_t value_len)
{
    return rd_kafka_producev(ks->rk, RD_KAFKA_V_TOPIC(ks->topic),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_OPAQUE(id_opaque(id)), RD_KAFKA_V_END);
}

static void mark_done(struct kafka_sink *ks, uint64_t id)
{
    ks->ring[id & (ks->cap - 1)].done = true;
    ks->queued--;
    while (ks->head < ks->tail && ks->ring[ks->head & (ks->cap - 1)].done)
        ks->head++;
}

/* An alert the broker can never take: logged and given up rather than retried forever. */
static bool never_deliverable(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE || err == RD_KAFKA_RESP_ERR__INVALID_ARG;
}

/* Produces an alert, or keeps it for later behind the ones already waiting (in order). */
static int send_or_wait(struct kafka_sink *ks, uint64_t id, const void *key, size_t key_len,
                        const void *value, size_t value_len)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;

    if (ks->first == NULL)
        err = produce(ks, id, key, key_len, value, value_len);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (never_deliverable(err)) {
        ks->errors++;
        aiops_error("kafka", "%s: alert refused, dropped: %s", ks->base.name,
                    rd_kafka_err2str(err));
        mark_done(ks, id);
        return 0;
    }
    return wait_push(ks, id, key, key_len, value, value_len);
}

static void retry_waiting(struct kafka_sink *ks)
{
    if (uv_now(ks->base.loop) < ks->retry_at)
        return;
    while (ks->first != NULL) {
        struct waiting *w = ks->first;
        rd_kafka_resp_err_t err = produce(ks, w->id, w->key, w->key_len, w->value, w->value_len);

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && !never_deliverable(err))
            return; /* QUEUE_FULL, or unknown topic, fatal ...: next tick */
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            ks->errors++;
            aiops_error("kafka", "%s: alert refused, dropped: %s", ks->base.name,
                        rd_kafka_err2str(err));
            mark_done(ks, w->id);
        }
        wait_pop(ks);
    }
}

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_sink *ks = opaque;
    uint64_t id = (uint64_t)(uintptr_t)m->_private;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ks->delivered++;
        ks->brokers_down = false;
        mark_done(ks, id);
        return;
    }
    /* librdkafka retries transient errors itself (messages never time out by default), so this
     * is lasting (authorization, a timeout the user set, ...): try again after a pause. */
    if (ks->errors++ % 1000 == 0)
        aiops_warn("kafka", "%s: delivery failed, retrying in %d ms: %s", ks->base.name, RETRY_MS,
                   rd_kafka_err2str(m->err));
    if (ks->stopping)
        return;
    if (never_deliverable(m->err)) {
        aiops_error("kafka", "%s: alert refused, dropped: %s", ks->base.name,
                    rd_kafka_err2str(m->err));
        mark_done(ks, id);
        return;
    }
    ks->retry_at = uv_now(ks->base.loop) + RETRY_MS;
    if (wait_push(ks, id, m->key, m->key_len, m->payload, m->len) < 0) {
        aiops_error("kafka", "%s: out of memory: alert lost", ks->base.name);
        mark_done(ks, id);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_sink *ks = opaque;

    aiops_kafka_error(rk, err, reason, ks->base.name, &ks->fatal, &ks->brokers_down);
}

/* Statistics arrive every statistics.interval.ms: see aiops_kafka_any_broker_up. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct kafka_sink *ks = opaque;

    (void)rk;
    (void)len;
    ks->brokers_down = !aiops_kafka_any_broker_up(json);
    return 0; /* librdkafka frees json */
}

/* Serves delivery reports; tells the pipeline when some were acknowledged. */
static void serve(struct kafka_sink *ks)
{
    size_t before = ks->queued;

    aiops_kafka_watch_drain(&ks->watch);
    rd_kafka_poll(ks->rk, 0);
    retry_waiting(ks);
    if (ks->queued < before && ks->base.on_drained != NULL && !ks->stopping)
        ks->base.on_drained(ks->base.ctx, &ks->base);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    serve(h->data);
}

static void on_tick(uv_timer_t *t)
{
    serve(t->data);
}

static int sink_publish(struct aiops_sink *s, const struct aiops_alert *a)
{
    struct kafka_sink *ks = (struct kafka_sink *)s;
    const char *key = a->resource_id;
    const void *value = ks->msgpack ? a->msgpack : a->json;
    size_t len = ks->msgpack ? a->msgpack_len : a->json_len;
    uint64_t id;
    int err;

    if (ks->tail - ks->head == ks->cap) {
        size_t cap = ks->cap * 2;
        struct inflight *ring = aiops_malloc(cap * sizeof(*ring));

        if (ring == NULL)
            return AIOPS_ENOMEM;
        for (uint64_t i = ks->head; i < ks->tail; i++)
            ring[i & (cap - 1)] = ks->ring[i & (ks->cap - 1)];
        aiops_free(ks->ring);
        ks->ring = ring;
        ks->cap = cap;
    }
    id = ks->tail++;
    ks->ring[id & (ks->cap - 1)] = (struct inflight){.seq = a->seq};
    ks->queued++;
    err = send_or_wait(ks, id, key, key != NULL ? strlen(key) : 0, value, len);
    if (err < 0) {
        ks->tail--;
        ks->queued--;
    }
    return err;
}

static size_t sink_queued(struct aiops_sink *s)
{
    return ((struct kafka_sink *)s)->queued;
}

/* Alerts are published in seq order, so the oldest undelivered one has the smallest seq. */
static uint64_t sink_pending_seq(struct aiops_sink *s)
{
    struct kafka_sink *ks = (struct kafka_sink *)s;

    return ks->head == ks->tail ? UINT64_MAX : ks->ring[ks->head & (ks->cap - 1)].seq;
}

static bool sink_is_ready(struct aiops_sink *s)
{
    struct kafka_sink *ks = (struct kafka_sink *)s;

    return !ks->fatal && !ks->brokers_down && !ks->stopping;
}

static void sink_write_metrics(struct aiops_sink *s, struct aiops_buf *out)
{
    struct kafka_sink *ks = (struct kafka_sink *)s;
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"aiops_kafka_sink_up", sink_is_ready(s)},
        {"aiops_kafka_sink_queued", ks->queued},
        {"aiops_kafka_sink_queue_max", s->queue_max},
        {"aiops_kafka_sink_waiting", ks->n_waiting},
        {"aiops_kafka_sink_delivered_total", ks->delivered},
        {"aiops_kafka_sink_errors_total", ks->errors},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        aiops_buf_printf(out, "%s{sink=\"%s\"} %" PRIu64 "\n", rows[i].name, s->name,
                         rows[i].value);
}

static const char *const sink_keys[] = {"topic", "format", "buffer", NULL};
/* Idempotence keeps retries from duplicating or reordering alerts; messages never expire
 * locally, so an outage is waited out (the pipeline's backpressure bounds the queue). Alerts
 * are few and urgent: 1 ms of batching instead of librdkafka's 5 keeps publish latency low. */
static const char *const sink_defaults[] = {
    "enable.idempotence", "true", "message.timeout.ms", "0", "linger.ms", "1", NULL};

static int sink_start(struct aiops_sink *s, const struct aiops_config_entry *cfg, char *errbuf,
                      size_t errlen)
{
    struct kafka_sink *ks = (struct kafka_sink *)s;
    const char *format = aiops_config_entry_get(cfg, "format", "json");
    rd_kafka_conf_t *conf;
    char errstr[256];
    int err;

    ks->watch.fds[0] = ks->watch.fds[1] = -1;
    if (strcmp(format, "json") != 0 && strcmp(format, "msgpack") != 0) {
        snprintf(errbuf, errlen, "kafka: format: '%s' is not json or msgpack", format);
        return AIOPS_EINVAL;
    }
    ks->msgpack = strcmp(format, "msgpack") == 0;
    err = aiops_kafka_conf_new(&conf, cfg, sink_keys, sink_defaults, NULL, errbuf, errlen);
    if (err < 0)
        return err;
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, on_report);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    ks->topic = aiops_strdup(aiops_config_entry_get(cfg, "topic", "aiops.alerts"));
    ks->cap = 1024;
    ks->ring = aiops_malloc(ks->cap * sizeof(*ks->ring));
    if (ks->topic == NULL || ks->ring == NULL) {
        err = AIOPS_ENOMEM;
        goto err_free;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (ks->rk == NULL) {
        snprintf(errbuf, errlen, "kafka: %s", errstr);
        err = AIOPS_EINVAL;
        goto err_free;
    }
    conf = NULL; /* owned by rk now */
    ks->main = rd_kafka_queue_get_main(ks->rk);
    err = aiops_kafka_watch_start(&ks->watch, s->loop, ks->main, on_readable, ks);
    if (err < 0) {
        snprintf(errbuf, errlen, "kafka: pipe: %s", aiops_strerror(err));
        goto err_destroy_rk;
    }
    uv_timer_init(s->loop, &ks->tick);
    ks->tick.data = ks;
    ks->open_handles = 2;
    uv_timer_start(&ks->tick, on_tick, TICK_MS, TICK_MS);
    aiops_info("kafka", "%s: producing to %s as %s", s->name, ks->topic, format);
    return 0;
err_destroy_rk:
    rd_kafka_queue_destroy(ks->main);
    rd_kafka_destroy(ks->rk);
    ks->rk = NULL;
    ks->main = NULL;
err_free:
    aiops_free(ks->ring);
    aiops_free(ks->topic);
    ks->ring = NULL;
    ks->topic = NULL;
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    return err;
}

static void on_closed(uv_handle_t *h)
{
    struct kafka_sink *ks = h->data;

    if (--ks->open_handles > 0)
        return;
    aiops_kafka_watch_fini(&ks->watch);
    ks->on_stopped(&ks->base);
}

static void sink_stop(struct aiops_sink *s, void (*on_stopped)(struct aiops_sink *s))
{
    struct kafka_sink *ks = (struct kafka_sink *)s;

    ks->on_stopped = on_stopped;
    ks->retry_at = 0;
    retry_waiting(ks);
    ks->stopping = true; /* failed reports are not produced again from here */
    /* Blocks the loop up to FLUSH_MS; serves the delivery reports itself. */
    rd_kafka_flush(ks->rk, FLUSH_MS);
    if (ks->queued > 0)
        aiops_warn("kafka",
                   "%s: %zu alert(s) not delivered; their source offsets stay "
                   "uncommitted and replay after a restart",
                   s->name, ks->queued);
    aiops_kafka_watch_disable(&ks->watch);
    rd_kafka_queue_destroy(ks->main);
    rd_kafka_destroy(ks->rk);
    while (ks->first != NULL)
        wait_pop(ks);
    aiops_free(ks->ring);
    aiops_free(ks->topic);
    uv_close((uv_handle_t *)&ks->tick, on_closed);
    aiops_kafka_watch_close(&ks->watch, on_closed);
}

const struct aiops_sink_ops aiops_kafka_sink_ops = {
    .type = "kafka",
    .size = sizeof(struct kafka_sink),
    .start = sink_start,
    .stop = sink_stop,
    .publish = sink_publish,
    .queued = sink_queued,
    .pending_seq = sink_pending_seq,
    .is_ready = sink_is_ready,
    .write_metrics = sink_write_metrics,
};
