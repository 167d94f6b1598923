/* SPDX-License-Identifier: MIT */
/* The MQTT sink (see mqtt.h): alerts wait in a FIFO that the pipeline bounds (queue_max); the
 * first 100 are in flight, and each leaves on its PUBACK. A lost connection marks them all
 * unsent, and the next connection sends them again in order: at-least-once. */
#include "transports/mqtt.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "config/config.h"
#include "transports/mqtt_client.h"

#include <mosquitto.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_INFLIGHT  100  /* alerts sent and not yet acknowledged */
#define STOP_DRAIN_MS 5000 /* stop() waits this long for the queue to be acknowledged */
#define DEFAULT_TOPIC "aiops/alerts/{resource_id}/{metric}"

/* One queued alert: topic and payload live in the same block, after the struct. */
struct item {
    struct item *next;
    uint64_t seq;
    int mid;   /* libmosquitto's message id while sent */
    bool sent; /* on the current connection */
    char *topic;
    void *payload;
    size_t len;
};

struct mqtt_sink {
    struct aiops_sink base;
    struct aiops_mqtt_client client;
    struct aiops_mqtt_options opt;
    bool msgpack;             /* payload: the event's msgpack, else its JSON */
    struct item *head, *tail; /* the FIFO, oldest first */
    struct item *next_unsent; /* sent items are always a prefix of the FIFO */
    size_t queued, inflight;
    bool sorted;            /* seqs were queued in order, so head has the smallest */
    bool drained;           /* the queue shrank since on_drained was last called */
    uv_timer_t drain_timer; /* stop()'s deadline */
    int open_parts;         /* drain_timer and the client, until each is closed */
    bool stopping;
    bool closing;
    uint64_t acked, resent;
    void (*on_stopped)(struct aiops_sink *s);
};

static const char *const sink_keys[] = {"topic", "format", "buffer", NULL};

static struct mqtt_sink *sink_of(struct aiops_mqtt_client *c)
{
    return (struct mqtt_sink *)((char *)c - offsetof(struct mqtt_sink, client));
}

/* ---- topics ---- */

static const char *placeholder(const char *p, const struct aiops_alert *a, size_t *skip)
{
    if (strncmp(p, "{resource_id}", 13) == 0) {
        *skip = 13;
        return a != NULL ? a->resource_id : "x";
    }
    if (strncmp(p, "{metric}", 8) == 0) {
        *skip = 8;
        return a != NULL ? a->metric : "x";
    }
    return NULL;
}

static char clean(unsigned char ch, bool ascii_only)
{
    if (ch == '/' || ch == '+' || ch == '#' || ch < 0x20 || ch == 0x7f ||
        (ascii_only && ch >= 0x80))
        return '_';
    return (char)ch;
}

/* Writes tmpl with a's values into out (when not NULL); returns the length. */
static size_t expand(const char *tmpl, const struct aiops_alert *a, bool ascii_only, char *out)
{
    size_t n = 0, skip;

    for (const char *p = tmpl; *p != '\0';) {
        const char *v = placeholder(p, a, &skip);

        if (v == NULL) {
            if (out != NULL)
                out[n] = *p;
            n++;
            p++;
            continue;
        }
        for (; *v != '\0'; v++, n++)
            if (out != NULL)
                out[n] = clean((unsigned char)*v, ascii_only);
        p += skip;
    }
    return n;
}

static int check_template(const char *tmpl, char *errbuf, size_t errlen)
{
    char buf[1024];
    size_t skip, n;

    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '{' && placeholder(p, NULL, &skip) == NULL) {
            snprintf(errbuf, errlen,
                     "topic: \"%s\": only {resource_id} and {metric} can be substituted", tmpl);
            return AIOPS_EINVAL;
        }
    }
    n = expand(tmpl, NULL, false, NULL);
    if (n >= sizeof(buf)) {
        snprintf(errbuf, errlen, "topic: longer than %zu bytes", sizeof(buf) - 1);
        return AIOPS_EINVAL;
    }
    expand(tmpl, NULL, false, buf);
    buf[n] = '\0';
    if (mosquitto_pub_topic_check(buf) != MOSQ_ERR_SUCCESS ||
        mosquitto_validate_utf8(buf, (int)n) != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "topic: \"%s\" is not a valid topic (no + or # in a publish)",
                 tmpl);
        return AIOPS_EINVAL;
    }
    return 0;
}

/* ---- the queue ---- */

static void item_remove(struct mqtt_sink *sk, struct item *prev, struct item *it)
{
    if (prev != NULL)
        prev->next = it->next;
    else
        sk->head = it->next;
    if (sk->tail == it)
        sk->tail = prev;
    if (sk->next_unsent == it)
        sk->next_unsent = it->next;
    if (it->sent)
        sk->inflight--;
    sk->queued--;
    if (sk->head == NULL)
        sk->sorted = true;
    sk->drained = true;
    aiops_free(it);
}

/* Sends unsent alerts while the window has room. Safe when libmosquitto reports a QoS 0
 * message published from inside mosquitto_publish (the item is gone by then). */
static void send_more(struct mqtt_sink *sk)
{
    struct aiops_mqtt_client *c = &sk->client;

    while (c->connected && c->mosq != NULL && sk->inflight < MAX_INFLIGHT &&
           sk->next_unsent != NULL) {
        struct item *it = sk->next_unsent;
        int rc;

        sk->next_unsent = it->next;
        it->sent = true;
        sk->inflight++;
        rc = mosquitto_publish(c->mosq, &it->mid, it->topic, (int)it->len, it->payload, sk->opt.qos,
                               false);
        if (rc != MOSQ_ERR_SUCCESS) {
            /* Whatever failed, a new connection re-sends everything unacknowledged. */
            aiops_mqtt_client_drop(c, mosquitto_strerror(rc));
            return;
        }
    }
}

static void close_parts(struct mqtt_sink *sk);

static void ev_connected(struct aiops_mqtt_client *c)
{
    send_more(sink_of(c));
}

static void ev_lost(struct aiops_mqtt_client *c)
{
    struct mqtt_sink *sk = sink_of(c);

    for (struct item *it = sk->head; it != NULL && it->sent; it = it->next) {
        it->sent = false;
        sk->resent++;
    }
    sk->inflight = 0;
    sk->next_unsent = sk->head;
}

static void ev_published(struct aiops_mqtt_client *c, int mid)
{
    struct mqtt_sink *sk = sink_of(c);
    struct item *prev = NULL;

    for (struct item *it = sk->head; it != NULL && it->sent; prev = it, it = it->next) {
        if (it->mid == mid) {
            item_remove(sk, prev, it);
            sk->acked++;
            return;
        }
    }
}

/* After each loop callback: refill the window, tell the pipeline the queue shrank, end a stop
 * once the queue is empty. */
static void ev_idle(struct aiops_mqtt_client *c)
{
    struct mqtt_sink *sk = sink_of(c);

    send_more(sk);
    aiops_mqtt_client_sync(c);
    if (sk->drained) {
        sk->drained = false;
        if (sk->base.on_drained != NULL)
            sk->base.on_drained(sk->base.ctx, &sk->base);
    }
    if (sk->stopping && sk->queued == 0)
        close_parts(sk);
}

static void part_closed(struct mqtt_sink *sk)
{
    void (*on_stopped)(struct aiops_sink * s) = sk->on_stopped;

    if (--sk->open_parts > 0)
        return;
    while (sk->head != NULL)
        item_remove(sk, NULL, sk->head);
    aiops_mqtt_options_fini(&sk->opt);
    if (on_stopped != NULL)
        on_stopped(&sk->base); /* may free sk */
}

static void ev_closed(struct aiops_mqtt_client *c)
{
    part_closed(sink_of(c));
}

static void on_drain_timer_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

static void close_parts(struct mqtt_sink *sk)
{
    if (sk->closing)
        return;
    sk->closing = true;
    if (sk->queued > 0)
        aiops_warn("mqtt", "%s: stopping with %zu alerts not acknowledged by the broker",
                   sk->base.name, sk->queued);
    uv_close((uv_handle_t *)&sk->drain_timer, on_drain_timer_closed);
    aiops_mqtt_client_close(&sk->client);
}

static void on_drain_timeout(uv_timer_t *t)
{
    close_parts(t->data);
}

static const struct aiops_mqtt_client_events sink_events = {
    .connected = ev_connected,
    .lost = ev_lost,
    .published = ev_published,
    .idle = ev_idle,
    .closed = ev_closed,
};

/* ---- the ops ---- */

static int sink_start(struct aiops_sink *s, const struct aiops_config_entry *cfg, char *errbuf,
                      size_t errlen)
{
    struct mqtt_sink *sk = (struct mqtt_sink *)s;
    static unsigned n_clients;
    const char *format;
    char id[64];
    int err;

    sk->head = sk->tail = sk->next_unsent = NULL;
    sk->queued = sk->inflight = 0;
    sk->sorted = true;
    sk->drained = sk->stopping = sk->closing = false;
    sk->acked = sk->resent = 0;
    sk->on_stopped = NULL;
    snprintf(id, sizeof(id), "aiops-agent-%ld-%u", (long)getpid(), n_clients++);
    err = aiops_mqtt_options_parse(&sk->opt, cfg, sink_keys, "topic", DEFAULT_TOPIC, true, id,
                                   errbuf, errlen);
    if (err < 0)
        return err;
    err = check_template(sk->opt.topics, errbuf, errlen);
    if (err < 0)
        goto err_fini_opt;
    format = aiops_config_entry_get(cfg, "format", "json");
    if (strcmp(format, "json") != 0 && strcmp(format, "msgpack") != 0) {
        snprintf(errbuf, errlen, "format: \"%s\" is not json or msgpack", format);
        err = AIOPS_EINVAL;
        goto err_fini_opt;
    }
    sk->msgpack = strcmp(format, "msgpack") == 0;
    sk->client.max_inflight = MAX_INFLIGHT;
    err = aiops_mqtt_client_start(&sk->client, s->loop, s->name, &sk->opt, &sink_events, errbuf,
                                  errlen);
    if (err < 0)
        goto err_fini_opt;
    uv_timer_init(s->loop, &sk->drain_timer);
    sk->drain_timer.data = sk;
    sk->open_parts = 2;
    return 0;
err_fini_opt:
    aiops_mqtt_options_fini(&sk->opt);
    return err;
}

static void sink_stop(struct aiops_sink *s, void (*on_stopped)(struct aiops_sink *s))
{
    struct mqtt_sink *sk = (struct mqtt_sink *)s;

    if (sk->stopping)
        return;
    sk->stopping = true;
    sk->on_stopped = on_stopped;
    if (sk->queued == 0)
        close_parts(sk);
    else
        uv_timer_start(&sk->drain_timer, on_drain_timeout, STOP_DRAIN_MS, 0);
}

static int sink_publish(struct aiops_sink *s, const struct aiops_alert *a)
{
    struct mqtt_sink *sk = (struct mqtt_sink *)s;
    const void *payload = sk->msgpack ? a->msgpack : a->json;
    size_t len = sk->msgpack ? a->msgpack_len : a->json_len;
    size_t tlen = expand(sk->opt.topics, a, false, NULL);
    struct item *it;

    it = aiops_malloc(sizeof(*it) + tlen + 1 + len);
    if (it == NULL)
        return AIOPS_ENOMEM;
    it->next = NULL;
    it->seq = a->seq;
    it->mid = 0;
    it->sent = false;
    it->topic = (char *)(it + 1);
    expand(sk->opt.topics, a, false, it->topic);
    it->topic[tlen] = '\0';
    if (mosquitto_validate_utf8(it->topic, (int)tlen) != MOSQ_ERR_SUCCESS) {
        expand(sk->opt.topics, a, true, it->topic); /* same length: bytes are replaced */
    }
    it->payload = it->topic + tlen + 1;
    if (len > 0)
        memcpy(it->payload, payload, len);
    it->len = len;
    if (sk->tail != NULL) {
        sk->sorted = sk->sorted && sk->tail->seq <= it->seq;
        sk->tail->next = it;
    } else {
        sk->head = it;
    }
    sk->tail = it;
    if (sk->next_unsent == NULL)
        sk->next_unsent = it;
    sk->queued++;
    if (!sk->closing && sk->client.connected) {
        send_more(sk);
        aiops_mqtt_client_sync(&sk->client);
    }
    return 0;
}

static size_t sink_queued(struct aiops_sink *s)
{
    return ((struct mqtt_sink *)s)->queued;
}

static uint64_t sink_pending_seq(struct aiops_sink *s)
{
    struct mqtt_sink *sk = (struct mqtt_sink *)s;
    uint64_t min = UINT64_MAX;

    if (sk->sorted)
        return sk->head != NULL ? sk->head->seq : UINT64_MAX;
    for (struct item *it = sk->head; it != NULL; it = it->next)
        if (it->seq < min)
            min = it->seq;
    return min;
}

static bool sink_is_ready(struct aiops_sink *s)
{
    return ((struct mqtt_sink *)s)->client.connected;
}

static void sink_write_metrics(struct aiops_sink *s, struct aiops_buf *out)
{
    struct mqtt_sink *sk = (struct mqtt_sink *)s;
    uint64_t attempts = sk->client.attempts;

    aiops_buf_printf(out,
                     "aiops_sink_queued{sink=\"%s\"} %zu\n"
                     "aiops_sink_queue_max{sink=\"%s\"} %zu\n"
                     "aiops_sink_inflight{sink=\"%s\"} %zu\n"
                     "aiops_sink_published_total{sink=\"%s\"} %llu\n"
                     "aiops_sink_resent_total{sink=\"%s\"} %llu\n"
                     "aiops_sink_connected{sink=\"%s\"} %d\n"
                     "aiops_sink_reconnects_total{sink=\"%s\"} %llu\n",
                     s->name, sk->queued, s->name, s->queue_max, s->name, sk->inflight, s->name,
                     (unsigned long long)sk->acked, s->name, (unsigned long long)sk->resent,
                     s->name, sk->client.connected, s->name,
                     (unsigned long long)(attempts > 0 ? attempts - 1 : 0));
}

const struct aiops_sink_ops aiops_mqtt_sink_ops = {
    .type = "mqtt",
    .size = sizeof(struct mqtt_sink),
    .start = sink_start,
    .stop = sink_stop,
    .publish = sink_publish,
    .queued = sink_queued,
    .pending_seq = sink_pending_seq,
    .is_ready = sink_is_ready,
    .write_metrics = sink_write_metrics,
};
