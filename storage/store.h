/* SPDX-License-Identifier: MIT */
/* The store interface: where detection history and grouped events are kept. Writes are
 * queued and written in batches off the caller's thread, so storage never limits request
 * throughput. SQLite is the default; PostgreSQL plugs in behind the same ops table. */
#ifndef AIOPS_STORE_H
#define AIOPS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/event.h"

/* One row of detection_history. Strings are borrowed by append and copied. */
struct aiops_detection_record {
    const char *resource_id;
    const char *metric_name;
    const char *method;
    const char *sensitivity;
    int64_t total_points;
    int64_t anomaly_count;
    double anomaly_percentage;
    double detection_time_ms;
    int64_t created_at_ms; /* ms since epoch */
};

/* One row of anomaly_events. Strings are borrowed by append and copied. */
struct aiops_event_record {
    const char *resource_id;
    const char *metric_name;
    int64_t start_ms; /* ms since epoch */
    int64_t end_ms;
    double duration_seconds;
    double max_score;
    int64_t anomaly_points;
    double peak_value;
    double priority;
    int64_t created_at_ms;
};

struct aiops_store_stats {
    uint64_t pruned;  /* rows deleted for being older than the retention */
    uint64_t written; /* rows committed */
    uint64_t dropped; /* rows dropped because the queue was full */
    uint64_t failed;  /* rows lost to write errors */
    uint64_t queued;  /* rows waiting now */
    uint64_t batches; /* transactions committed (each holds one batch of rows) */
    uint64_t retries; /* batches retried after a write or connection error */
};

/* Receives one checkpoint at load: the series key and the blob saved for it. Returns 0 or a
 * negative AIOPS_E* that stops the load. */
typedef int (*aiops_checkpoint_fn)(void *ctx, const char *series_key, const void *blob, size_t len);

/* Which stored events query_events returns. */
struct aiops_event_query {
    const char *resource_id; /* NULL: any */
    int status;              /* -1: any; else enum aiops_event_status */
    int64_t since_ms;        /* events ending at or after this; INT64_MIN: any */
    double min_priority;     /* events at least this important (0: any) */
    size_t limit;            /* rows at most; 0: no limit */
};

/* Receives one stored event; its strings are valid only during the call, which must not call
 * the store. Returns 0 or a negative AIOPS_E* that stops the query (and is returned by it). */
typedef int (*aiops_event_fn)(void *ctx, const struct aiops_event *e);

struct aiops_store;

struct aiops_store_ops {
    const char *scheme; /* URL scheme this store serves ("sqlite") */
    size_t size;        /* sizeof the implementation's struct */
    /* Opens url (schema created/migrated). s->loop is set (NULL outside `run`: a store that
     * needs the loop fails with errbuf saying so). Returns 0 or a negative AIOPS_E*, with
     * errbuf. */
    int (*open)(struct aiops_store *s, const char *url, char *errbuf, size_t errlen);
    /* Writes everything queued, then releases all. */
    void (*close)(struct aiops_store *s);
    /* Queue a row of the detect API's history; AIOPS_EBUSY when the queue is full (the row is
     * counted as dropped). Safe from any thread (the detect API calls them from the pool). */
    int (*append_detection)(struct aiops_store *s, const struct aiops_detection_record *r);
    int (*append_event)(struct aiops_store *s, const struct aiops_event_record *r);
    /* Streaming (loop thread only). Queue a version of a streaming event, inserted or updated
     * by e->id so a retry never duplicates it; seq is the pipeline's sequence number behind it.
     * Never dropped: while the database is unreachable rows stay queued and are retried; the
     * pipeline pauses its sources once stats.queued reaches queue_max. Returns 0 or
     * AIOPS_ENOMEM. */
    int (*upsert_event)(struct aiops_store *s, const struct aiops_event *e, uint64_t seq);
    /* Queue the detector state of one series (replaces the previous one). Best effort: a
     * checkpoint lost to an outage is replaced by the next. Returns 0 or AIOPS_ENOMEM. */
    int (*save_checkpoint)(struct aiops_store *s, const char *series_key, const void *blob,
                           size_t len);
    /* Reads every checkpoint saved (blocking; called at start and on a Kafka partition
     * assignment). Returns 0 or a negative AIOPS_E*. */
    int (*load_checkpoints)(struct aiops_store *s, aiops_checkpoint_fn fn, void *ctx);
    /* Reads the stored events q selects, newest start first, calling fn per row (blocking, a
     * single indexed query; the loop thread calls it for an API request). Rows queued before
     * the call are written first if that takes no more than about 100 ms, so the answer may
     * lag the live events slightly. Returns 0, fn's error, or AIOPS_EIO/AIOPS_ENOMEM. */
    int (*query_events)(struct aiops_store *s, const struct aiops_event_query *q, aiops_event_fn fn,
                        void *ctx);
    /* The smallest seq of an upserted event not yet committed, UINT64_MAX when none. */
    uint64_t (*pending_seq)(struct aiops_store *s);
    /* Blocks until every row queued before the call is written. */
    int (*flush)(struct aiops_store *s);
    /* True while the store can write (for /health). */
    bool (*is_connected)(struct aiops_store *s);
    void (*stats)(struct aiops_store *s, struct aiops_store_stats *out);
};

/* How a store queues rows and how long it keeps them. */
struct aiops_store_options {
    uint32_t batch_ms;       /* longest a queued row waits before it is written */
    uint32_t queue_max;      /* rows queued at most (>= 1) */
    uint32_t retention_days; /* 0: rows are kept forever */
};

/* Retention: at open and every AIOPS_STORE_PRUNE_EVERY_S after, a store deletes the history
 * rows (detection_history, anomaly_events) created, and the resolved events and checkpoints
 * last updated, more than retention_days ago. Open events are kept, however old. */
#define AIOPS_STORE_PRUNE_EVERY_S 3600u

struct aiops_store {
    const struct aiops_store_ops *ops;
    uv_loop_t *loop;         /* the agent's loop, or NULL */
    uint32_t batch_ms;       /* longest a queued row waits before it is written */
    uint32_t queue_max;      /* rows queued at most */
    uint32_t retention_days; /* 0: rows are kept forever */
};

/* Opens the store the URL names ("sqlite:///./aiops.db", "sqlite+aiosqlite:///...",
 * "sqlite://:memory:"). *out untouched on failure; errbuf says why. */
int aiops_store_open(struct aiops_store **out, const char *url, uv_loop_t *loop,
                     const struct aiops_store_options *opts, char *errbuf, size_t errlen);
/* The moment before which rows are old enough to prune, in ms since the epoch, for a store
 * keeping rows retention_days; INT64_MIN when it keeps them forever. */
int64_t aiops_store_prune_before_ms(const struct aiops_store *s);
/* Flushes and frees. NULL is a no-op. */
void aiops_store_close(struct aiops_store *s);

static inline int aiops_store_append_detection(struct aiops_store *s,
                                               const struct aiops_detection_record *r)
{
    return s->ops->append_detection(s, r);
}
static inline int aiops_store_append_event(struct aiops_store *s,
                                           const struct aiops_event_record *r)
{
    return s->ops->append_event(s, r);
}
static inline int aiops_store_upsert_event(struct aiops_store *s, const struct aiops_event *e,
                                           uint64_t seq)
{
    return s->ops->upsert_event(s, e, seq);
}
static inline int aiops_store_save_checkpoint(struct aiops_store *s, const char *series_key,
                                              const void *blob, size_t len)
{
    return s->ops->save_checkpoint(s, series_key, blob, len);
}
static inline int aiops_store_load_checkpoints(struct aiops_store *s, aiops_checkpoint_fn fn,
                                               void *ctx)
{
    return s->ops->load_checkpoints(s, fn, ctx);
}
static inline int aiops_store_query_events(struct aiops_store *s, const struct aiops_event_query *q,
                                           aiops_event_fn fn, void *ctx)
{
    return s->ops->query_events(s, q, fn, ctx);
}
static inline uint64_t aiops_store_pending_seq(struct aiops_store *s)
{
    return s->ops->pending_seq(s);
}
static inline int aiops_store_flush(struct aiops_store *s)
{
    return s->ops->flush(s);
}
static inline bool aiops_store_is_connected(struct aiops_store *s)
{
    return s->ops->is_connected(s);
}
static inline void aiops_store_stats(struct aiops_store *s, struct aiops_store_stats *out)
{
    s->ops->stats(s, out);
}

#endif
