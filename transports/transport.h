/* SPDX-License-Identifier: MIT */
/* The two transport roles. A source brings raw messages from a broker into the pipeline; a sink
 * takes alerts from the pipeline to a broker. Each implementation embeds its base struct first
 * and fills one const ops table; transports/registry.c maps config types to tables. Everything
 * here runs on the loop thread. */
#ifndef AIOPS_TRANSPORT_H
#define AIOPS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/buf.h"

struct aiops_config_entry;
struct aiops_source;
struct aiops_sink;

/* ---- sources ---- */

/* What a source calls back into; filled by the pipeline. */
struct aiops_source_host {
    /* Hands one raw message to the pipeline (decoded, detected, its events published before
     * this returns). Returns the message's sequence number (>= 1); its effects are durable once
     * durable_seq() >= it. Returns 0 when the message was rejected as malformed (the pipeline
     * has counted and logged it; the source may send it to a dead-letter topic, and must still
     * move past it). */
    uint64_t (*deliver)(void *ctx, struct aiops_source *src, const void *data, size_t len);
    /* Every message with a sequence number <= this has its effects durably handed to the sinks
     * and the store: offsets up to there may be committed. */
    uint64_t (*durable_seq)(void *ctx);
    /* Asks the pipeline to make everything delivered so far durable now (a Kafka revoke or a
     * shutdown is about to commit); returns when done or after timeout_ms, with durable_seq. */
    uint64_t (*flush)(void *ctx, uint32_t timeout_ms);
    /* The source was given new partitions: the pipeline loads the checkpoints other agents
     * saved for series it does not track yet, so they resume without a warm-up. */
    void (*on_assign)(void *ctx);
    void *ctx;
};

struct aiops_source_ops {
    const char *type; /* "kafka", "mqtt": the config's type */
    size_t size;      /* sizeof the implementation's struct */
    /* Reads its settings from cfg and starts consuming on s->loop. Returns 0 or a negative
     * AIOPS_E* with errbuf saying which key is wrong. Connection failures after start are not
     * errors: the source retries and reports them through is_ready. */
    int (*start)(struct aiops_source *s, const struct aiops_config_entry *cfg, char *errbuf,
                 size_t errlen);
    /* Stops consuming, commits what is durable (calling host->flush first), closes its
     * handles, then calls on_stopped(s) from the loop. s is freed by the caller after that. */
    void (*stop)(struct aiops_source *s, void (*on_stopped)(struct aiops_source *s));
    /* Backpressure: stop handing messages to deliver until resume (messages already in hand
     * may still be delivered). */
    void (*pause)(struct aiops_source *s);
    void (*resume)(struct aiops_source *s);
    /* Connected and consuming (for /ready). */
    bool (*is_ready)(struct aiops_source *s);
    /* Appends its Prometheus samples (lag, connection state, ...); name labels them. */
    void (*write_metrics)(struct aiops_source *s, struct aiops_buf *out);
};

struct aiops_source {
    const struct aiops_source_ops *ops;
    uv_loop_t *loop;
    struct aiops_source_host host;
    char name[64]; /* "kafka[0]": the metrics label */
};

/* ---- sinks ---- */

/* One alert to send. Pointers are borrowed for the call; the sink copies what it keeps. */
struct aiops_alert {
    uint64_t seq;            /* the pipeline's sequence number of the message behind it */
    const char *resource_id; /* Kafka key; {resource_id} in topic templates */
    const char *metric;      /* {metric} in topic templates */
    const char *json;        /* the event, encoded */
    size_t json_len;
    const void *msgpack; /* the same event as msgpack */
    size_t msgpack_len;
};

struct aiops_sink_ops {
    const char *type;
    size_t size;
    /* As the source's start. */
    int (*start)(struct aiops_sink *s, const struct aiops_config_entry *cfg, char *errbuf,
                 size_t errlen);
    /* Tries to deliver what is queued (bounded by the sink's own timeout), closes its handles,
     * then calls on_stopped(s) from the loop. */
    void (*stop)(struct aiops_sink *s, void (*on_stopped)(struct aiops_sink *s));
    /* Queues an alert; never drops it. Returns 0 or AIOPS_ENOMEM. While the broker is down
     * alerts stay queued and are retried; the pipeline pauses the sources once queued() reaches
     * s->queue_max (backpressure), so the queue stays bounded. */
    int (*publish)(struct aiops_sink *s, const struct aiops_alert *a);
    /* Alerts accepted but not yet acknowledged by the broker. */
    size_t (*queued)(struct aiops_sink *s);
    /* The smallest seq of an alert not yet acknowledged, UINT64_MAX when none is pending. */
    uint64_t (*pending_seq)(struct aiops_sink *s);
    bool (*is_ready)(struct aiops_sink *s);
    void (*write_metrics)(struct aiops_sink *s, struct aiops_buf *out);
};

struct aiops_sink {
    const struct aiops_sink_ops *ops;
    uv_loop_t *loop;
    size_t queue_max; /* from the entry's "buffer" key; default 10,000 alerts */
    char name[64];
    /* Called by the sink when queued() drops (alerts acknowledged), so the pipeline can resume
     * paused sources. May be NULL. */
    void (*on_drained)(void *ctx, struct aiops_sink *s);
    void *ctx;
};

/* Registry (transports/registry.c): the table for a config type, or NULL. */
const struct aiops_source_ops *aiops_source_find(const char *type);
const struct aiops_sink_ops *aiops_sink_find(const char *type);

#endif
