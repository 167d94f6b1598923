/* SPDX-License-Identifier: MIT */
/* What the Kafka source and sink share (kafka_common.c): building a librdkafka configuration
 * from a config entry, and waking the loop when a librdkafka queue gets events. Not for other
 * modules. */
#ifndef AIOPS_KAFKA_COMMON_H
#define AIOPS_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct aiops_config_entry;

/* Creates a configuration from cfg: "brokers" becomes bootstrap.servers, then the defaults
 * (pairs of key, value, NULL-terminated) are set, then every "properties.<key>" verbatim, then
 * the forced pairs, which properties may not name. Keys of cfg that are neither in keys
 * (NULL-terminated) nor properties.* are errors. On error returns AIOPS_EINVAL (or
 * AIOPS_ENOMEM) with errbuf naming the key, and *out is untouched. */
int aiops_kafka_conf_new(rd_kafka_conf_t **out, const struct aiops_config_entry *cfg,
                         const char *const *keys, const char *const *defaults,
                         const char *const *forced, char *errbuf, size_t errlen);

/* Wakes the loop when a librdkafka queue goes from empty to non-empty: librdkafka writes a
 * byte into a pipe whose read end a uv_poll_t watches. The handle's data is the caller's. */
struct aiops_kafka_watch {
    uv_poll_t poll;
    int fds[2]; /* pipe: [0] watched by poll, [1] written by librdkafka; -1 when closed */
    rd_kafka_queue_t *queue; /* borrowed */
};

/* Creates the pipe, starts polling it with cb and enables the queue's IO events. On error
 * nothing is left open (and the poll handle was never initialised). */
int aiops_kafka_watch_start(struct aiops_kafka_watch *w, uv_loop_t *loop, rd_kafka_queue_t *q,
                            uv_poll_cb cb, void *data);
/* Empties the pipe; call before serving the queue, which must then be served until empty. */
void aiops_kafka_watch_drain(struct aiops_kafka_watch *w);
/* Disables the queue's IO events (call before destroying the queue). */
void aiops_kafka_watch_disable(struct aiops_kafka_watch *w);
/* Closes the poll handle; close_cb runs from the loop, then call aiops_kafka_watch_fini. */
void aiops_kafka_watch_close(struct aiops_kafka_watch *w, uv_close_cb close_cb);
/* Closes the pipe. */
void aiops_kafka_watch_fini(struct aiops_kafka_watch *w);

/* The error callback's work, shared by source and sink: a fatal error sets *fatal, "all
 * brokers down" sets *brokers_down, and each is logged once with the client's name. */
void aiops_kafka_error(rd_kafka_t *rk, int err, const char *reason, const char *name, bool *fatal,
                       bool *brokers_down);
/* True when a statistics JSON shows a broker "UP": how a client learns a broker is back after
 * an outage, even with nothing to send (broker states are upper case, the group's lower). */
bool aiops_kafka_any_broker_up(const char *stats_json);

#endif
