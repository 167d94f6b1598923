/* SPDX-License-Identifier: MIT */
/* Shared by the Kafka source and sink: a config entry becomes an rd_kafka_conf_t (every
 * properties.<key> passed verbatim), and a librdkafka queue wakes the loop through a pipe. */
#include "transports/kafka_common.h"

#include "agent/err.h"
#include "agent/log.h"
#include "config/config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROPERTIES "properties."

/* librdkafka logs from its own threads; aiops_log writes each line with one write(2). */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum aiops_log_level l = level <= 3   ? AIOPS_LOG_ERROR
                             : level == 4 ? AIOPS_LOG_WARN
                             : level <= 6 ? AIOPS_LOG_INFO
                                          : AIOPS_LOG_DEBUG;

    /* A producer sharing a source's properties ignores the consumer ones: not worth a warning. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "is a consumer property") != NULL)
        l = AIOPS_LOG_DEBUG;
    aiops_log(l, "kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static bool is_in(const char *key, const char *const *list, size_t step)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i += step)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *key, const char *value,
               char *errbuf, size_t errlen)
{
    char errstr[256];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(errbuf, errlen, "kafka: %s: %s", name, errstr);
    return AIOPS_EINVAL;
}

static int fill(rd_kafka_conf_t *conf, const struct aiops_config_entry *cfg,
                const char *const *keys, const char *const *defaults, const char *const *forced,
                char *errbuf, size_t errlen)
{
    const char *brokers = aiops_config_entry_get(cfg, "brokers", NULL);
    int err;

    for (size_t i = 0; i < cfg->n_kv; i++) {
        const char *k = cfg->kv[i].key;

        if (strcmp(k, "brokers") == 0 || is_in(k, keys, 1))
            continue;
        if (strncmp(k, PROPERTIES, strlen(PROPERTIES)) != 0) {
            snprintf(errbuf, errlen, "kafka: %s: unknown key", k);
            return AIOPS_EINVAL;
        }
        if (is_in(k + strlen(PROPERTIES), forced, 2)) {
            snprintf(errbuf, errlen, "kafka: %s: set by the agent, cannot be changed", k);
            return AIOPS_EINVAL;
        }
    }
    if ((brokers == NULL || brokers[0] == '\0') &&
        aiops_config_entry_get(cfg, PROPERTIES "bootstrap.servers", NULL) == NULL) {
        snprintf(errbuf, errlen, "kafka: brokers: missing");
        return AIOPS_EINVAL;
    }
    if (brokers != NULL &&
        (err = set(conf, "brokers", "bootstrap.servers", brokers, errbuf, errlen)) < 0)
        return err;
    for (size_t i = 0; defaults != NULL && defaults[i] != NULL; i += 2)
        if ((err = set(conf, defaults[i], defaults[i], defaults[i + 1], errbuf, errlen)) < 0)
            return err;
    for (size_t i = 0; i < cfg->n_kv; i++) {
        const char *k = cfg->kv[i].key;

        if (strncmp(k, PROPERTIES, strlen(PROPERTIES)) != 0)
            continue;
        err = set(conf, k, k + strlen(PROPERTIES), cfg->kv[i].value, errbuf, errlen);
        if (err < 0)
            return err;
    }
    for (size_t i = 0; forced != NULL && forced[i] != NULL; i += 2)
        if ((err = set(conf, forced[i], forced[i], forced[i + 1], errbuf, errlen)) < 0)
            return err;
    return 0;
}

int aiops_kafka_conf_new(rd_kafka_conf_t **out, const struct aiops_config_entry *cfg,
                         const char *const *keys, const char *const *defaults,
                         const char *const *forced, char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int err;

    if (conf == NULL)
        return AIOPS_ENOMEM;
    rd_kafka_conf_set_log_cb(conf, on_log);
    err = fill(conf, cfg, keys, defaults, forced, errbuf, errlen);
    if (err < 0) {
        rd_kafka_conf_destroy(conf);
        return err;
    }
    *out = conf;
    return 0;
}

int aiops_kafka_watch_start(struct aiops_kafka_watch *w, uv_loop_t *loop, rd_kafka_queue_t *q,
                            uv_poll_cb cb, void *data)
{
    int err;

    if (pipe2(w->fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    err = uv_poll_init(loop, &w->poll, w->fds[0]);
    if (err < 0)
        goto err_close_pipe;
    w->poll.data = data;
    w->queue = q;
    /* The first event may already be queued: the caller serves the queue once after this. */
    rd_kafka_queue_io_event_enable(q, w->fds[1], "1", 1);
    uv_poll_start(&w->poll, UV_READABLE, cb);
    return 0;
err_close_pipe:
    close(w->fds[0]);
    close(w->fds[1]);
    w->fds[0] = w->fds[1] = -1;
    return err;
}

void aiops_kafka_watch_drain(struct aiops_kafka_watch *w)
{
    char junk[256];

    while (read(w->fds[0], junk, sizeof(junk)) > 0)
        ;
}

void aiops_kafka_watch_disable(struct aiops_kafka_watch *w)
{
    if (w->queue != NULL)
        rd_kafka_queue_io_event_enable(w->queue, -1, NULL, 0);
    w->queue = NULL;
}

void aiops_kafka_watch_close(struct aiops_kafka_watch *w, uv_close_cb close_cb)
{
    uv_close((uv_handle_t *)&w->poll, close_cb);
}

void aiops_kafka_watch_fini(struct aiops_kafka_watch *w)
{
    for (int i = 0; i < 2; i++)
        if (w->fds[i] >= 0)
            close(w->fds[i]);
    w->fds[0] = w->fds[1] = -1;
}

void aiops_kafka_error(rd_kafka_t *rk, int err, const char *reason, const char *name, bool *fatal,
                       bool *brokers_down)
{
    char why[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, why, sizeof(why));
        aiops_error("kafka", "%s: fatal: %s", name, why);
        *fatal = true;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        *brokers_down = true;
    aiops_warn("kafka", "%s: %s: %s", name, rd_kafka_err2name(err), reason);
}

bool aiops_kafka_any_broker_up(const char *stats_json)
{
    return strstr(stats_json, "\"state\":\"UP\"") != NULL;
}
