/* SPDX-License-Identifier: MIT */
/* The MQTT source (see mqtt.h): subscribes to its filters on every (re)connect and hands each
 * message to the pipeline from libmosquitto's message callback. */
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

struct mqtt_source {
    struct aiops_source base;
    struct aiops_mqtt_client client;
    struct aiops_mqtt_options opt;
    char **filters; /* owned, n_filters copies split from opt.topics */
    int n_filters;
    int sub_mid;     /* of the SUBSCRIBE on the current connection */
    bool subscribed; /* its SUBACK granted every filter */
    bool paused;
    bool stopping;
    uint64_t messages, rejected;
    void (*on_stopped)(struct aiops_source *s);
};

static const char *const source_keys[] = {"topics", NULL};

static struct mqtt_source *source_of(struct aiops_mqtt_client *c)
{
    return (struct mqtt_source *)((char *)c - offsetof(struct mqtt_source, client));
}

static void free_filters(struct mqtt_source *ms)
{
    for (int i = 0; i < ms->n_filters; i++)
        aiops_free(ms->filters[i]);
    aiops_free(ms->filters);
    ms->filters = NULL;
    ms->n_filters = 0;
}

/* Splits "a/#, b/+" into checked filters. */
static int split_filters(struct mqtt_source *ms, char *errbuf, size_t errlen)
{
    const char *p = ms->opt.topics;
    int n = 1;

    for (const char *q = p; *q != '\0'; q++)
        n += *q == ',';
    ms->filters = aiops_calloc((size_t)n, sizeof(*ms->filters));
    if (ms->filters == NULL)
        return AIOPS_ENOMEM;
    while (*p != '\0') {
        size_t len;
        char *f;

        p += strspn(p, " ");
        len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        f = aiops_strndup(p, len);
        if (f == NULL)
            return AIOPS_ENOMEM;
        ms->filters[ms->n_filters++] = f;
        if (len == 0 || mosquitto_sub_topic_check(f) != MOSQ_ERR_SUCCESS ||
            mosquitto_validate_utf8(f, (int)len) != MOSQ_ERR_SUCCESS) {
            snprintf(errbuf, errlen, "topics: \"%s\" is not a valid topic filter", f);
            return AIOPS_EINVAL;
        }
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    if (ms->n_filters == 0) {
        snprintf(errbuf, errlen, "topics: empty");
        return AIOPS_EINVAL;
    }
    return 0;
}

static void ev_connected(struct aiops_mqtt_client *c)
{
    struct mqtt_source *ms = source_of(c);
    int rc;

    ms->subscribed = false;
    rc = mosquitto_subscribe_multiple(c->mosq, &ms->sub_mid, ms->n_filters, ms->filters,
                                      ms->opt.qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        aiops_mqtt_client_drop(c, mosquitto_strerror(rc));
}

static void ev_subscribed(struct aiops_mqtt_client *c, int mid, int n, const int *granted)
{
    struct mqtt_source *ms = source_of(c);

    if (mid != ms->sub_mid)
        return;
    for (int i = 0; i < n && i < ms->n_filters; i++) {
        if (granted[i] >= 0x80) { /* SUBACK's failure code */
            aiops_error("mqtt", "%s: the broker refused the subscription to \"%s\"", ms->base.name,
                        ms->filters[i]);
            return;
        }
    }
    ms->subscribed = true;
    aiops_info("mqtt", "%s: subscribed to %s", ms->base.name, ms->opt.topics);
}

static void ev_message(struct aiops_mqtt_client *c, const struct mosquitto_message *m)
{
    struct mqtt_source *ms = source_of(c);
    const void *data = m->payload != NULL ? m->payload : "";

    ms->messages++;
    if (ms->base.host.deliver(ms->base.host.ctx, &ms->base, data, (size_t)m->payloadlen) == 0)
        ms->rejected++; /* counted and logged by the pipeline; MQTT just moves on */
}

static void ev_lost(struct aiops_mqtt_client *c)
{
    source_of(c)->subscribed = false;
}

static void ev_closed(struct aiops_mqtt_client *c)
{
    struct mqtt_source *ms = source_of(c);
    void (*on_stopped)(struct aiops_source * s) = ms->on_stopped;

    free_filters(ms);
    aiops_mqtt_options_fini(&ms->opt);
    if (on_stopped != NULL)
        on_stopped(&ms->base); /* may free ms */
}

static const struct aiops_mqtt_client_events source_events = {
    .connected = ev_connected,
    .lost = ev_lost,
    .message = ev_message,
    .subscribed = ev_subscribed,
    .closed = ev_closed,
};

static int source_start(struct aiops_source *s, const struct aiops_config_entry *cfg, char *errbuf,
                        size_t errlen)
{
    struct mqtt_source *ms = (struct mqtt_source *)s;
    static unsigned n_clients;
    int err;

    ms->filters = NULL;
    ms->n_filters = 0;
    ms->subscribed = ms->paused = ms->stopping = false;
    ms->messages = ms->rejected = 0;
    ms->on_stopped = NULL;
    err = aiops_mqtt_options_parse(&ms->opt, cfg, source_keys, "topics", NULL, false, NULL, errbuf,
                                   errlen);
    if (err < 0)
        return err;
    if (ms->opt.client_id == NULL) {
        char id[320], host[128] = "localhost";

        gethostname(host, sizeof(host) - 1);
        if (ms->opt.clean_session)
            snprintf(id, sizeof(id), "aiops-agent-%ld-%u", (long)getpid(), n_clients++);
        else
            snprintf(id, sizeof(id), "aiops-agent-%s-%s", host,
                     s->name[0] != '\0' ? s->name : "mqtt");
        ms->opt.client_id = aiops_strdup(id);
        if (ms->opt.client_id == NULL) {
            err = AIOPS_ENOMEM;
            goto err_fini_opt;
        }
    }
    err = split_filters(ms, errbuf, errlen);
    if (err < 0)
        goto err_free_filters;
    ms->client.max_inflight = 0;
    err = aiops_mqtt_client_start(&ms->client, s->loop, s->name, &ms->opt, &source_events, errbuf,
                                  errlen);
    if (err < 0)
        goto err_free_filters;
    return 0;
err_free_filters:
    free_filters(ms);
err_fini_opt:
    if (err == AIOPS_ENOMEM)
        snprintf(errbuf, errlen, "out of memory");
    aiops_mqtt_options_fini(&ms->opt);
    return err;
}

/* Nothing to commit: QoS 1 messages were acknowledged as they were delivered (see mqtt.h). */
static void source_stop(struct aiops_source *s, void (*on_stopped)(struct aiops_source *s))
{
    struct mqtt_source *ms = (struct mqtt_source *)s;

    if (ms->stopping)
        return;
    ms->stopping = true;
    ms->on_stopped = on_stopped;
    aiops_mqtt_client_close(&ms->client);
}

static void source_pause(struct aiops_source *s)
{
    struct mqtt_source *ms = (struct mqtt_source *)s;

    ms->paused = true;
    aiops_mqtt_client_set_reading(&ms->client, false);
}

static void source_resume(struct aiops_source *s)
{
    struct mqtt_source *ms = (struct mqtt_source *)s;

    ms->paused = false;
    aiops_mqtt_client_set_reading(&ms->client, true);
}

static bool source_is_ready(struct aiops_source *s)
{
    struct mqtt_source *ms = (struct mqtt_source *)s;

    return ms->client.connected && ms->subscribed;
}

static void source_write_metrics(struct aiops_source *s, struct aiops_buf *out)
{
    struct mqtt_source *ms = (struct mqtt_source *)s;
    uint64_t attempts = ms->client.attempts;

    aiops_buf_printf(out,
                     "aiops_source_messages_total{source=\"%s\"} %llu\n"
                     "aiops_source_rejected_total{source=\"%s\"} %llu\n"
                     "aiops_source_connected{source=\"%s\"} %d\n"
                     "aiops_source_subscribed{source=\"%s\"} %d\n"
                     "aiops_source_paused{source=\"%s\"} %d\n"
                     "aiops_source_reconnects_total{source=\"%s\"} %llu\n",
                     s->name, (unsigned long long)ms->messages, s->name,
                     (unsigned long long)ms->rejected, s->name, ms->client.connected, s->name,
                     ms->subscribed, s->name, ms->paused, s->name,
                     (unsigned long long)(attempts > 0 ? attempts - 1 : 0));
}

const struct aiops_source_ops aiops_mqtt_source_ops = {
    .type = "mqtt",
    .size = sizeof(struct mqtt_source),
    .start = source_start,
    .stop = source_stop,
    .pause = source_pause,
    .resume = source_resume,
    .is_ready = source_is_ready,
    .write_metrics = source_write_metrics,
};
