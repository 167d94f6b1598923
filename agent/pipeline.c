/* SPDX-License-Identifier: MIT */
/* The streaming pipeline (see pipeline.h). */
#include "agent/pipeline.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "agent/series.h"
#include "agent/timestamp.h"
#include "config/config.h"
#include "storage/store.h"
#include "transports/api_json.h"
#include "transports/transport.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define SWEEP_MS         1000  /* events and idle series are checked this often */
#define BACKOFF_CHECK_MS 50    /* while paused, the sinks' queues are checked this often */
#define STOP_WAIT_MS     10000 /* longest a stop waits for sinks to acknowledge */
#define SINK_BUFFER      10000 /* alerts a sink queues before sources pause */
#define REJECT_LOG_MS    1000  /* at most one malformed-message line per source per second */
#define MAX_ENDPOINTS    16
#define LATENCY_TRACKED  1024 /* messages with alerts in flight whose latency is measured */

/* Publish latency histogram bounds, seconds: from a message's arrival to the broker's ack of
 * the last alert it caused (the target is 5 ms at p99). */
static const double latency_bounds[] = {0.0005, 0.001, 0.002, 0.003, 0.004, 0.005,
                                        0.01,   0.025, 0.05,  0.1,   0.5,   1};
#define N_LATENCY (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/* The reasons of struct aiops_payload_error, plus the pipeline's own. */
static const char *const reasons[] = {"empty",        "syntax",    "schema",         "value",
                                      "timestamp",    "too_large", "unknown_format", "series_key",
                                      "out_of_order", "duplicate", "internal"};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))
enum { R_SERIES_KEY = 7, R_OUT_OF_ORDER = 8, R_DUPLICATE = 9, R_INTERNAL = 10 };

/* Counters of one input: a configured source, or HTTP ingest. */
struct input {
    char name[64];
    uint64_t messages, points, rejected_messages;
    uint64_t rejected[N_REASONS]; /* messages by reason; points for the timestamp policy */
    uint64_t last_log_ms, suppressed;
};

struct aiops_pipeline {
    uv_loop_t *loop;
    const struct aiops_config *cfg;
    struct aiops_store *store;
    struct aiops_series_table series;
    struct aiops_events events;
    struct aiops_payload_options popts;
    struct aiops_source *sources[MAX_ENDPOINTS];
    struct input inputs[MAX_ENDPOINTS + 1]; /* [0] is HTTP ingest, [1 + i] sources[i] */
    size_t n_sources, n_running_sources;
    struct aiops_sink *sinks[MAX_ENDPOINTS];
    size_t n_sinks, n_running_sinks;
    uv_timer_t sweep_timer, checkpoint_timer, backoff_timer, stop_timer;
    int open_handles;
    uint64_t seq;          /* of the last message taken */
    uint64_t current_seq;  /* of the message being processed */
    struct input *current; /* its input */
    bool paused, stopping;
    uint64_t stop_deadline;
    void (*on_stopped)(void *arg);
    void *stopped_arg;
    struct aiops_buf json, msgpack; /* reused alert encodings */
    aiops_event_publish_fn listener;
    void *listener_ctx;
    /* Self-metrics. */
    uint64_t detect_ns, publish_errors, checkpoints_saved, checkpoint_errors, pauses;
    /* Messages whose alerts the sinks still hold: (seq, arrival ns), oldest first. */
    struct {
        uint64_t seq, arrived_ns;
    } in_flight[LATENCY_TRACKED];
    size_t in_flight_head, in_flight_count;
    uint64_t arrived_ns; /* of the message being processed */
    uint64_t latency_buckets[N_LATENCY], latency_count;
    double latency_sum;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t reason_index(const char *reason)
{
    for (size_t i = 0; i < N_REASONS; i++)
        if (reason != NULL && strcmp(reasons[i], reason) == 0)
            return i;
    return R_INTERNAL;
}

/* ---- publishing ---- */

/* Remembers when the message behind the alert being published arrived. */
static void track_latency(struct aiops_pipeline *p)
{
    size_t last = (p->in_flight_head + p->in_flight_count + LATENCY_TRACKED - 1) % LATENCY_TRACKED;
    size_t next = (p->in_flight_head + p->in_flight_count) % LATENCY_TRACKED;

    if (p->n_sinks == 0 || p->in_flight_count == LATENCY_TRACKED ||
        (p->in_flight_count > 0 && p->in_flight[last].seq == p->current_seq))
        return; /* one entry per message; when full, later ones go unmeasured */
    p->in_flight[next].seq = p->current_seq;
    p->in_flight[next].arrived_ns = p->arrived_ns;
    p->in_flight_count++;
}

static uint64_t sinks_pending_seq(struct aiops_pipeline *p)
{
    uint64_t pending = UINT64_MAX;

    for (size_t i = 0; i < p->n_sinks; i++) {
        uint64_t s = p->sinks[i]->ops->pending_seq(p->sinks[i]);

        pending = s < pending ? s : pending;
    }
    return pending;
}

/* A sink's queue shrank: messages whose alerts every sink has acknowledged are done. */
static void on_sink_drained(void *ctx, struct aiops_sink *s)
{
    struct aiops_pipeline *p = ctx;
    uint64_t pending = sinks_pending_seq(p), now = now_ns();

    (void)s;
    while (p->in_flight_count > 0 && p->in_flight[p->in_flight_head].seq < pending) {
        double secs = (double)(now - p->in_flight[p->in_flight_head].arrived_ns) / 1e9;

        for (size_t i = 0; i < N_LATENCY; i++)
            p->latency_buckets[i] += secs <= latency_bounds[i];
        p->latency_count++;
        p->latency_sum += secs;
        p->in_flight_head = (p->in_flight_head + 1) % LATENCY_TRACKED;
        p->in_flight_count--;
    }
}

static void on_publish(void *ctx, const struct aiops_event *e)
{
    struct aiops_pipeline *p = ctx;
    struct aiops_alert a;

    p->json.len = 0;
    p->msgpack.len = 0;
    p->json.err = p->msgpack.err = 0;
    if (aiops_event_to_json(e, &p->json) < 0 || aiops_event_to_msgpack(e, &p->msgpack) < 0) {
        p->publish_errors++;
        aiops_error("pipeline", "event %s: out of memory encoding it", e->id);
        return;
    }
    track_latency(p);
    a = (struct aiops_alert){.seq = p->current_seq,
                             .resource_id = e->resource_id,
                             .metric = e->metric,
                             .json = p->json.data,
                             .json_len = p->json.len,
                             .msgpack = p->msgpack.data,
                             .msgpack_len = p->msgpack.len};
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (p->sinks[i]->ops->publish(p->sinks[i], &a) < 0) {
            p->publish_errors++;
            aiops_error("pipeline", "event %s: %s could not queue it (out of memory)", e->id,
                        p->sinks[i]->name);
        }
    }
    if (p->store != NULL && aiops_store_upsert_event(p->store, e, p->current_seq) < 0) {
        p->publish_errors++;
        aiops_error("pipeline", "event %s: the store could not queue it (out of memory)", e->id);
    }
    if (p->listener != NULL)
        p->listener(p->listener_ctx, e);
}

void aiops_pipeline_set_listener(struct aiops_pipeline *p, aiops_event_publish_fn fn, void *ctx)
{
    p->listener = fn;
    p->listener_ctx = ctx;
}

/* ---- backpressure ---- */

static bool backed_up(struct aiops_pipeline *p, size_t divisor)
{
    for (size_t i = 0; i < p->n_sinks; i++)
        if (p->sinks[i]->ops->queued(p->sinks[i]) >= p->sinks[i]->queue_max / divisor)
            return true;
    if (p->store != NULL) {
        struct aiops_store_stats st;

        aiops_store_stats(p->store, &st);
        if (st.queued >= p->store->queue_max / divisor)
            return true;
    }
    return false;
}

static void on_backoff_timer(uv_timer_t *t)
{
    struct aiops_pipeline *p = t->data;

    if (p->stopping || backed_up(p, 2))
        return;
    p->paused = false;
    uv_timer_stop(&p->backoff_timer);
    aiops_info("pipeline", "sinks caught up: resuming sources");
    for (size_t i = 0; i < p->n_sources; i++)
        p->sources[i]->ops->resume(p->sources[i]);
}

static void check_backpressure(struct aiops_pipeline *p)
{
    if (p->paused || !backed_up(p, 1))
        return;
    p->paused = true;
    p->pauses++;
    aiops_warn("pipeline", "a sink or the store is backed up: pausing sources");
    for (size_t i = 0; i < p->n_sources; i++)
        p->sources[i]->ops->pause(p->sources[i]);
    uv_timer_start(&p->backoff_timer, on_backoff_timer, BACKOFF_CHECK_MS, BACKOFF_CHECK_MS);
}

/* ---- processing ---- */

static void on_evict(void *ctx, struct aiops_series *s)
{
    struct aiops_pipeline *p = ctx;
    void *blob;
    size_t len;

    aiops_events_detach(&p->events, s);
    if (p->store != NULL && s->dirty && aiops_series_checkpoint(s, &blob, &len) == 0) {
        aiops_store_save_checkpoint(p->store, s->key, blob, len);
        aiops_free(blob);
    }
}

static int on_point(void *ctx, const struct aiops_metric_point *pt)
{
    struct aiops_pipeline *p = ctx;
    struct aiops_series *s;
    struct aiops_verdict v;
    char key[AIOPS_SERIES_KEY_MAX], reason[256];
    size_t which;
    int n, err;

    n = aiops_series_key(pt, key, sizeof(key));
    if (n < 0) {
        p->current->rejected[R_SERIES_KEY]++;
        return 0;
    }
    s = aiops_series_find(&p->series, key, (size_t)n);
    if (s == NULL) {
        err = aiops_series_create(&p->series, pt, key, (size_t)n, &s, on_evict, p);
        if (err < 0)
            return err;
    }
    /* Detectors need time to move forward: late and repeated points are counted, not used. */
    if (pt->ts_ms <= s->last_ts_ms) {
        p->current->rejected[pt->ts_ms == s->last_ts_ms ? R_DUPLICATE : R_OUT_OF_ORDER]++;
        return 0;
    }
    aiops_series_update(s, pt->ts_ms, pt->value, &v, &which);
    aiops_series_touch(&p->series, s, uv_now(p->loop));
    p->current->points++;
    reason[0] = '\0'; /* not zero-filled: this runs for every point */
    if (v.is_anomaly)
        s->detectors[which]->ops->explain(&v, pt->value, reason, sizeof(reason));
    if (v.is_anomaly || s->event != NULL)
        return aiops_events_on_point(&p->events, s, pt->ts_ms, pt->value, &v,
                                     s->detectors[which]->ops->name, reason, uv_now(p->loop));
    return 0;
}

static void log_rejected(struct aiops_pipeline *p, struct input *in,
                         const struct aiops_payload_error *e)
{
    uint64_t now = uv_now(p->loop);

    if (in->last_log_ms != 0 && now - in->last_log_ms < REJECT_LOG_MS) {
        in->suppressed++;
        return;
    }
    aiops_warn("pipeline", "%s: malformed message skipped (%s): %s%s", in->name, e->reason,
               e->detail, in->suppressed > 0 ? " (and more since the last line)" : "");
    in->last_log_ms = now;
    in->suppressed = 0;
}

/* One message from input in. Returns its seq (>= 1), or 0 when it was rejected. */
static uint64_t process(struct aiops_pipeline *p, struct input *in, const void *data, size_t len,
                        struct aiops_payload_error *perr)
{
    uint64_t t0 = now_ns();
    int n;

    p->arrived_ns = t0;
    in->messages++;
    p->current_seq = ++p->seq;
    p->current = in;
    p->popts.now_ms = (int64_t)time(NULL) * 1000;
    n = aiops_payload_decode(data, len, &p->popts, on_point, p, perr);
    p->detect_ns += now_ns() - t0;
    if (n == AIOPS_ENOMEM) {
        perr->reason = "internal";
        snprintf(perr->detail, sizeof(perr->detail), "out of memory");
    }
    if (n < 0) {
        in->rejected_messages++;
        in->rejected[reason_index(perr->reason)]++;
        log_rejected(p, in, perr);
    }
    check_backpressure(p);
    return n < 0 ? 0 : p->current_seq;
}

static struct input *input_of(struct aiops_pipeline *p, struct aiops_source *src)
{
    for (size_t i = 0; i < p->n_sources; i++)
        if (p->sources[i] == src)
            return &p->inputs[1 + i];
    return &p->inputs[0];
}

static uint64_t host_deliver(void *ctx, struct aiops_source *src, const void *data, size_t len)
{
    struct aiops_pipeline *p = ctx;
    struct aiops_payload_error perr = {0};

    return process(p, input_of(p, src), data, len, &perr);
}

static uint64_t host_durable_seq(void *ctx)
{
    struct aiops_pipeline *p = ctx;
    uint64_t pending = sinks_pending_seq(p);

    if (p->store != NULL) {
        uint64_t s = aiops_store_pending_seq(p->store);

        pending = s < pending ? s : pending;
    }
    return pending == UINT64_MAX ? p->seq : pending - 1;
}

/* The store can be flushed synchronously; sinks run on this loop and cannot progress while the
 * caller waits, so what they hold stays uncommitted (and is replayed after a crash). */
static void checkpoint_all(struct aiops_pipeline *p, bool only_dirty);

/* Called before a commit (a Kafka revoke, a source's stop): the detector state goes with it. */
static uint64_t host_flush(void *ctx, uint32_t timeout_ms)
{
    struct aiops_pipeline *p = ctx;

    (void)timeout_ms;
    if (p->store != NULL) {
        checkpoint_all(p, true);
        aiops_store_flush(p->store);
    }
    return host_durable_seq(p);
}

static int on_checkpoint_loaded(void *ctx, const char *key, const void *blob, size_t len);

/* Series this agent already tracks keep their live state; the rest come from the store. */
static int on_assigned_checkpoint(void *ctx, const char *key, const void *blob, size_t len)
{
    struct aiops_pipeline *p = ctx;

    if (aiops_series_find(&p->series, key, strlen(key)) != NULL)
        return 0;
    return on_checkpoint_loaded(ctx, key, blob, len);
}

static void host_on_assign(void *ctx)
{
    struct aiops_pipeline *p = ctx;
    uint64_t before = p->series.stats.restored;

    if (p->store == NULL)
        return;
    if (aiops_store_load_checkpoints(p->store, on_assigned_checkpoint, p) < 0)
        aiops_warn("pipeline", "partitions assigned: could not read checkpoints from the store");
    else if (p->series.stats.restored > before)
        aiops_info("pipeline", "partitions assigned: restored %" PRIu64 " series",
                   p->series.stats.restored - before);
}

int aiops_pipeline_ingest(struct aiops_pipeline *p, const void *data, size_t len,
                          struct aiops_payload_error *err)
{
    struct input *in = &p->inputs[0];
    uint64_t before = in->points;

    if (p->paused || p->stopping)
        return AIOPS_EBUSY;
    if (process(p, in, data, len, err) == 0)
        return strcmp(err->reason, "internal") == 0 ? AIOPS_ENOMEM : AIOPS_EINVAL;
    return (int)(in->points - before);
}

/* ---- timers ---- */

static void checkpoint_all(struct aiops_pipeline *p, bool only_dirty)
{
    struct aiops_series *s, *tmp;

    if (p->store == NULL)
        return;
    HASH_ITER(hh, p->series.by_key, s, tmp)
    {
        void *blob = NULL;
        size_t len;

        // cppcheck-suppress uninitvar ; HASH_ITER sets s before the body runs
        if (only_dirty && !s->dirty)
            continue;
        if (aiops_series_checkpoint(s, &blob, &len) < 0 ||
            aiops_store_save_checkpoint(p->store, s->key, blob, len) < 0) {
            p->checkpoint_errors++;
        } else {
            p->checkpoints_saved++;
            s->dirty = false;
        }
        aiops_free(blob);
    }
}

static void on_checkpoint_timer(uv_timer_t *t)
{
    checkpoint_all(t->data, true);
}

static void on_sweep_timer(uv_timer_t *t)
{
    struct aiops_pipeline *p = t->data;
    uint64_t now = uv_now(p->loop), idle_ms = (uint64_t)(p->cfg->idle_seconds * 1000.0);

    aiops_events_sweep(&p->events, now);
    while (p->series.idle_head != NULL && now - p->series.idle_head->last_seen_ms > idle_ms) {
        struct aiops_series *s = p->series.idle_head;

        on_evict(p, s);
        p->series.stats.evicted_idle++;
        aiops_series_remove(&p->series, s);
    }
}

/* ---- checkpoints at start ---- */

/* Rebuilds the event a restored series had open from the anomalies in its ring, without
 * publishing: ids derive from the series and the start, so it is the same event, and its next
 * update or its resolution reaches the sinks and the store under the id they already hold. */
static void reopen_event(struct aiops_pipeline *p, struct aiops_series *s)
{
    struct aiops_events_stats saved = p->events.stats;
    aiops_event_publish_fn publish = p->events.publish;

    p->events.publish = NULL;
    for (uint32_t i = 0; i < s->count; i++) {
        struct aiops_series_sample x;
        struct aiops_verdict v = {.expected = NAN, .lower = NAN, .upper = NAN};

        aiops_series_sample(s, i, &x);
        if (!x.is_anomaly && s->event == NULL)
            continue;
        v.score = x.score;
        v.is_anomaly = x.is_anomaly;
        if (aiops_events_on_point(&p->events, s, x.ts_ms, x.value, &v, s->detectors[0]->ops->name,
                                  "restored from a checkpoint", uv_now(p->loop)) < 0)
            break;
    }
    p->events.publish = publish;
    p->events.stats = saved;
    if (s->event != NULL)
        p->events.stats.opened++;
}

static int on_checkpoint_loaded(void *ctx, const char *key, const void *blob, size_t len)
{
    struct aiops_pipeline *p = ctx;
    int err = aiops_series_restore(&p->series, key, blob, len, on_evict, p);

    if (err == AIOPS_EINVAL) {
        aiops_warn("pipeline", "checkpoint of a series could not be read; it starts afresh");
        return 0;
    }
    if (err == 0) {
        struct aiops_series *s = aiops_series_find(&p->series, key, strlen(key));

        if (s != NULL) {
            aiops_series_touch(&p->series, s, uv_now(p->loop));
            reopen_event(p, s);
        }
    }
    return err;
}

/* ---- create / stop / destroy ---- */

static int start_sinks(struct aiops_pipeline *p, char *errbuf, size_t errlen)
{
    char why[384];

    for (size_t i = 0; i < p->cfg->n_sinks; i++) {
        const struct aiops_config_entry *e = &p->cfg->sinks[i];
        const struct aiops_sink_ops *ops = aiops_sink_find(e->type);
        const char *buffer = aiops_config_entry_get(e, "buffer", NULL);
        struct aiops_sink *s;
        int err;

        if (ops == NULL) {
            snprintf(errbuf, errlen, "sinks[%zu].type: unknown sink '%s' (kafka, mqtt)", i,
                     e->type);
            return AIOPS_EINVAL;
        }
        if (i >= MAX_ENDPOINTS) {
            snprintf(errbuf, errlen, "sinks: at most %d", MAX_ENDPOINTS);
            return AIOPS_E2BIG;
        }
        s = aiops_calloc(1, ops->size);
        if (s == NULL)
            return AIOPS_ENOMEM;
        s->ops = ops;
        s->loop = p->loop;
        s->queue_max = SINK_BUFFER;
        if (buffer != NULL) {
            char *end;
            unsigned long long v = strtoull(buffer, &end, 10);

            if (*buffer == '\0' || *end != '\0' || v == 0 || v > 100000000) {
                snprintf(errbuf, errlen, "sinks[%zu].buffer: '%s' is not a count of alerts", i,
                         buffer);
                aiops_free(s);
                return AIOPS_EINVAL;
            }
            s->queue_max = (size_t)v;
        }
        snprintf(s->name, sizeof(s->name), "%s[%zu]", e->type, i);
        s->ctx = p;
        s->on_drained = on_sink_drained;
        err = ops->start(s, e, why, sizeof(why));
        if (err < 0) {
            snprintf(errbuf, errlen, "sinks[%zu]: %s", i, why);
            aiops_free(s);
            return err;
        }
        p->sinks[p->n_sinks++] = s;
        p->n_running_sinks++;
    }
    return 0;
}

static int start_sources(struct aiops_pipeline *p, char *errbuf, size_t errlen)
{
    char why[384];

    for (size_t i = 0; i < p->cfg->n_sources; i++) {
        const struct aiops_config_entry *e = &p->cfg->sources[i];
        const struct aiops_source_ops *ops = aiops_source_find(e->type);
        struct aiops_source *s;
        int err;

        if (ops == NULL) {
            snprintf(errbuf, errlen, "sources[%zu].type: unknown source '%s' (kafka, mqtt)", i,
                     e->type);
            return AIOPS_EINVAL;
        }
        if (i >= MAX_ENDPOINTS) {
            snprintf(errbuf, errlen, "sources: at most %d", MAX_ENDPOINTS);
            return AIOPS_E2BIG;
        }
        s = aiops_calloc(1, ops->size);
        if (s == NULL)
            return AIOPS_ENOMEM;
        s->ops = ops;
        s->loop = p->loop;
        s->host = (struct aiops_source_host){.deliver = host_deliver,
                                             .durable_seq = host_durable_seq,
                                             .flush = host_flush,
                                             .on_assign = host_on_assign,
                                             .ctx = p};
        snprintf(s->name, sizeof(s->name), "%s[%zu]", e->type, i);
        snprintf(p->inputs[1 + p->n_sources].name, sizeof(p->inputs[0].name), "%s", s->name);
        p->sources[p->n_sources++] = s; /* before start: a source may deliver from it */
        err = ops->start(s, e, why, sizeof(why));
        if (err < 0) {
            snprintf(errbuf, errlen, "sources[%zu]: %s", i, why);
            p->sources[--p->n_sources] = NULL;
            aiops_free(s);
            return err;
        }
        p->n_running_sources++;
    }
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct aiops_pipeline *p = h->data;

    p->open_handles--;
}

int aiops_pipeline_create(struct aiops_pipeline **out, uv_loop_t *loop,
                          const struct aiops_config *cfg, struct aiops_store *store, char *errbuf,
                          size_t errlen)
{
    struct aiops_pipeline *p;
    uv_timer_t *timers[4];
    int err;

    p = aiops_calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AIOPS_ENOMEM;
    }
    p->loop = loop;
    p->cfg = cfg;
    p->store = store;
    aiops_buf_init(&p->json);
    aiops_buf_init(&p->msgpack);
    aiops_series_table_init(&p->series, cfg);
    aiops_payload_options_init(&p->popts);
    p->popts.resource_tag = cfg->resource_tag;
    snprintf(p->inputs[0].name, sizeof(p->inputs[0].name), "http");
    err = aiops_events_init(&p->events, cfg, on_publish, p);
    if (err < 0) {
        snprintf(errbuf, errlen, "events.severity_bands: '%s' is not valid", cfg->severity_bands);
        aiops_free(p);
        return err;
    }
    timers[0] = &p->sweep_timer;
    timers[1] = &p->checkpoint_timer;
    timers[2] = &p->backoff_timer;
    timers[3] = &p->stop_timer;
    for (int i = 0; i < 4; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = p;
    }
    p->open_handles = 4;
    *out = p; /* from here on, failures are cleaned up by stop + destroy */
    if (store != NULL) {
        err = aiops_store_load_checkpoints(store, on_checkpoint_loaded, p);
        if (err < 0) {
            snprintf(errbuf, errlen, "restoring checkpoints: %s", aiops_strerror(err));
            return err;
        }
        if (p->series.count > 0)
            aiops_info("pipeline", "restored %zu series from checkpoints", p->series.count);
    }
    err = start_sinks(p, errbuf, errlen);
    if (err < 0)
        return err;
    err = start_sources(p, errbuf, errlen);
    if (err < 0)
        return err;
    uv_timer_start(&p->sweep_timer, on_sweep_timer, SWEEP_MS, SWEEP_MS);
    uv_timer_start(&p->checkpoint_timer, on_checkpoint_timer,
                   (uint64_t)(cfg->checkpoint_seconds * 1000.0),
                   (uint64_t)(cfg->checkpoint_seconds * 1000.0));
    return 0;
}

static void finish_stop(struct aiops_pipeline *p)
{
    uv_timer_t *timers[4] = {&p->sweep_timer, &p->checkpoint_timer, &p->backoff_timer,
                             &p->stop_timer};

    for (int i = 0; i < 4; i++)
        if (!uv_is_closing((uv_handle_t *)timers[i]))
            uv_close((uv_handle_t *)timers[i], on_handle_closed);
    if (p->on_stopped != NULL)
        p->on_stopped(p->stopped_arg);
}

static void on_sink_stopped(struct aiops_sink *s)
{
    struct aiops_pipeline *p = s->ctx;

    if (--p->n_running_sinks == 0)
        finish_stop(p);
}

/* Nothing more comes in: save every series, then let the sinks deliver what they hold. */
static void after_sources(struct aiops_pipeline *p)
{
    checkpoint_all(p, false);
    if (p->n_running_sinks == 0) {
        finish_stop(p);
        return;
    }
    for (size_t i = 0; i < p->n_sinks; i++)
        p->sinks[i]->ops->stop(p->sinks[i], on_sink_stopped);
}

static void on_source_stopped(struct aiops_source *s)
{
    struct aiops_pipeline *p = s->host.ctx;

    if (--p->n_running_sources == 0)
        after_sources(p);
}

static void stop_sources(struct aiops_pipeline *p)
{
    uv_timer_stop(&p->stop_timer);
    if (p->n_running_sources == 0) {
        after_sources(p);
        return;
    }
    for (size_t i = 0; i < p->n_sources; i++)
        p->sources[i]->ops->stop(p->sources[i], on_source_stopped);
}

/* Waits until what was read is acknowledged, so the sources' final commit covers it. */
static void on_stop_timer(uv_timer_t *t)
{
    struct aiops_pipeline *p = t->data;

    if (host_durable_seq(p) >= p->seq || uv_now(p->loop) >= p->stop_deadline) {
        if (host_durable_seq(p) < p->seq)
            aiops_warn("pipeline", "stopping with messages not yet acknowledged by the sinks; "
                                   "their offsets stay uncommitted and are read again");
        stop_sources(p);
    }
}

void aiops_pipeline_stop(struct aiops_pipeline *p, void (*on_stopped)(void *arg), void *arg)
{
    p->stopping = true;
    p->on_stopped = on_stopped;
    p->stopped_arg = arg;
    uv_timer_stop(&p->sweep_timer);
    uv_timer_stop(&p->checkpoint_timer);
    uv_timer_stop(&p->backoff_timer);
    for (size_t i = 0; i < p->n_running_sources; i++)
        p->sources[i]->ops->pause(p->sources[i]);
    p->stop_deadline = uv_now(p->loop) + STOP_WAIT_MS;
    uv_timer_start(&p->stop_timer, on_stop_timer, 0, 20);
}

void aiops_pipeline_destroy(struct aiops_pipeline *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_sources; i++)
        aiops_free(p->sources[i]);
    for (size_t i = 0; i < p->n_sinks; i++)
        aiops_free(p->sinks[i]);
    aiops_events_fini(&p->events);
    aiops_series_table_fini(&p->series);
    aiops_buf_fini(&p->json);
    aiops_buf_fini(&p->msgpack);
    aiops_free(p);
}

/* ---- reading it ---- */

bool aiops_pipeline_is_ready(struct aiops_pipeline *p, struct aiops_buf *why)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        if (!p->sources[i]->ops->is_ready(p->sources[i])) {
            aiops_buf_printf(why, "source %s is not connected", p->sources[i]->name);
            return false;
        }
    }
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (!p->sinks[i]->ops->is_ready(p->sinks[i])) {
            aiops_buf_printf(why, "sink %s is not connected", p->sinks[i]->name);
            return false;
        }
    }
    if (p->store != NULL && !aiops_store_is_connected(p->store)) {
        aiops_buf_puts(why, "the store is not writing");
        return false;
    }
    if (p->paused) {
        aiops_buf_puts(why, "sinks are backed up; sources are paused");
        return false;
    }
    if (p->stopping) {
        aiops_buf_puts(why, "shutting down");
        return false;
    }
    return true;
}

void aiops_pipeline_write_metrics(struct aiops_pipeline *p, struct aiops_buf *b)
{
    const struct aiops_events_stats *es = &p->events.stats;
    const struct aiops_series_stats *ss = &p->series.stats;
    size_t n_inputs = p->n_sources + 1;

    aiops_buf_metric_header(b, "aiops_points_received_total", "counter",
                            "Messages taken from each input (a message holds one or more points).");
    for (size_t i = 0; i < n_inputs; i++)
        aiops_buf_printf(b, "aiops_points_received_total{source=\"%s\"} %" PRIu64 "\n",
                         p->inputs[i].name, p->inputs[i].messages);
    aiops_buf_metric_header(b, "aiops_points_decoded_total", "counter",
                            "Points decoded and scored, by input.");
    for (size_t i = 0; i < n_inputs; i++)
        aiops_buf_printf(b, "aiops_points_decoded_total{source=\"%s\"} %" PRIu64 "\n",
                         p->inputs[i].name, p->inputs[i].points);
    aiops_buf_metric_header(b, "aiops_points_rejected_total", "counter",
                            "Malformed messages and refused points, by input and reason.");
    for (size_t i = 0; i < n_inputs; i++)
        for (size_t r = 0; r < N_REASONS; r++)
            if (p->inputs[i].rejected[r] > 0)
                aiops_buf_printf(b,
                                 "aiops_points_rejected_total{source=\"%s\",reason=\"%s\"} "
                                 "%" PRIu64 "\n",
                                 p->inputs[i].name, reasons[r], p->inputs[i].rejected[r]);
    aiops_buf_metric_header(b, "aiops_series", "gauge", "Series tracked now.");
    aiops_buf_printf(b, "aiops_series %zu\n", p->series.count);
    aiops_buf_metric_header(b, "aiops_series_evicted_total", "counter",
                            "Series evicted, by cause.");
    aiops_buf_printf(b, "aiops_series_evicted_total{cause=\"idle\"} %" PRIu64 "\n",
                     ss->evicted_idle);
    aiops_buf_printf(b, "aiops_series_evicted_total{cause=\"full\"} %" PRIu64 "\n",
                     ss->evicted_full);
    aiops_buf_metric_header(b, "aiops_series_restored_total", "counter",
                            "Series restored from checkpoints.");
    aiops_buf_printf(b, "aiops_series_restored_total %" PRIu64 "\n", ss->restored);
    aiops_buf_metric_header(b, "aiops_detect_seconds_total", "counter",
                            "Time spent decoding, detecting and grouping streamed messages.");
    aiops_buf_printf(b, "aiops_detect_seconds_total %.6f\n", (double)p->detect_ns / 1e9);
    aiops_buf_metric_header(b, "aiops_anomalous_points_total", "counter",
                            "Streamed points found anomalous.");
    aiops_buf_printf(b, "aiops_anomalous_points_total %" PRIu64 "\n", es->anomalous_points);
    aiops_buf_metric_header(b, "aiops_events_total", "counter", "Streaming events, by transition.");
    aiops_buf_printf(b, "aiops_events_total{transition=\"opened\"} %" PRIu64 "\n", es->opened);
    aiops_buf_printf(b, "aiops_events_total{transition=\"resolved\"} %" PRIu64 "\n", es->resolved);
    aiops_buf_metric_header(b, "aiops_events_open", "gauge", "Streaming events open now.");
    aiops_buf_printf(b, "aiops_events_open %zu\n", p->events.n_open);
    aiops_buf_metric_header(b, "aiops_incidents_total", "counter", "Incidents opened.");
    aiops_buf_printf(b, "aiops_incidents_total %" PRIu64 "\n", es->incidents_opened);
    aiops_buf_metric_header(b, "aiops_alerts_published_total", "counter",
                            "Event versions published (open, priority rises, resolve).");
    aiops_buf_printf(b, "aiops_alerts_published_total %" PRIu64 "\n", es->published);
    aiops_buf_metric_header(
        b, "aiops_noise_reduction_ratio", "gauge",
        "Anomalous points per published alert (higher: fewer, grouped alerts).");
    aiops_buf_printf(b, "aiops_noise_reduction_ratio %.3f\n",
                     es->published > 0 ? (double)es->anomalous_points / (double)es->published
                                       : 0.0);
    aiops_buf_metric_header(b, "aiops_publish_errors_total", "counter",
                            "Alerts a sink or store could not queue.");
    aiops_buf_printf(b, "aiops_publish_errors_total %" PRIu64 "\n", p->publish_errors);
    aiops_buf_metric_header(b, "aiops_sources_paused", "gauge",
                            "1 while sources are paused (backpressure).");
    aiops_buf_printf(b, "aiops_sources_paused %d\n", p->paused ? 1 : 0);
    aiops_buf_metric_header(b, "aiops_backpressure_pauses_total", "counter",
                            "Times sources were paused.");
    aiops_buf_printf(b, "aiops_backpressure_pauses_total %" PRIu64 "\n", p->pauses);
    aiops_buf_metric_header(b, "aiops_checkpoints_saved_total", "counter",
                            "Series checkpoints queued.");
    aiops_buf_printf(b, "aiops_checkpoints_saved_total %" PRIu64 "\n", p->checkpoints_saved);
    aiops_buf_metric_header(
        b, "aiops_publish_latency_seconds", "histogram",
        "From a message's arrival to every sink's acknowledgement of its alerts.");
    for (size_t i = 0; i < N_LATENCY; i++)
        aiops_buf_printf(b, "aiops_publish_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                         latency_bounds[i], p->latency_buckets[i]);
    aiops_buf_printf(b,
                     "aiops_publish_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                     "aiops_publish_latency_seconds_sum %.6f\n"
                     "aiops_publish_latency_seconds_count %" PRIu64 "\n",
                     p->latency_count, p->latency_sum, p->latency_count);
    aiops_buf_metric_header(b, "aiops_sink_queue_depth", "gauge",
                            "Alerts queued and not yet acknowledged.");
    for (size_t i = 0; i < p->n_sinks; i++)
        aiops_buf_printf(b, "aiops_sink_queue_depth{sink=\"%s\"} %zu\n", p->sinks[i]->name,
                         p->sinks[i]->ops->queued(p->sinks[i]));
    for (size_t i = 0; i < p->n_sources; i++)
        p->sources[i]->ops->write_metrics(p->sources[i], b);
    for (size_t i = 0; i < p->n_sinks; i++)
        p->sinks[i]->ops->write_metrics(p->sinks[i], b);
}

static void time_json(struct aiops_buf *b, int64_t ms)
{
    char buf[32];

    aiops_time_format_utc(ms, buf, sizeof(buf));
    aiops_buf_printf(b, "\"%s\"", buf);
}

static void series_head_json(const struct aiops_series *s, struct aiops_buf *b)
{
    struct aiops_series_sample last;

    aiops_buf_puts(b, "{\"resource_id\":");
    aiops_json_string(b, s->resource_id, strlen(s->resource_id));
    aiops_buf_puts(b, ",\"metric\":");
    aiops_json_string(b, s->metric, strlen(s->metric));
    aiops_buf_printf(b, ",\"labels\":%s,\"methods\":[", s->labels_json);
    for (size_t i = 0; i < s->n_detectors; i++)
        aiops_buf_printf(b, "%s\"%s\"", i > 0 ? "," : "", s->detectors[i]->ops->name);
    aiops_buf_printf(b, "],\"points\":%" PRIu64 ",\"anomalies\":%" PRIu64 ",\"anomaly_rate\":",
                     s->points, s->anomalies);
    aiops_json_number(b, s->points > 0 ? (double)s->anomalies / (double)s->points : 0.0);
    if (s->count > 0) {
        aiops_series_sample(s, s->count - 1, &last);
        aiops_buf_puts(b, ",\"last_value\":");
        aiops_json_number(b, last.value);
        aiops_buf_puts(b, ",\"last_timestamp\":");
        time_json(b, last.ts_ms);
    }
    aiops_buf_puts(b, ",\"open_event\":");
    if (s->event != NULL)
        aiops_buf_printf(b, "\"%s\"", s->event->ev.id);
    else
        aiops_buf_puts(b, "null");
}

int aiops_pipeline_series_json(struct aiops_pipeline *p, const char *q, size_t limit,
                               struct aiops_buf *out)
{
    struct aiops_series *s;
    size_t n = 0, total = 0;

    aiops_buf_puts(out, "{\"series\":[");
    /* Most recently updated first. */
    for (s = p->series.idle_tail; s != NULL; s = s->idle_prev) {
        if (q[0] != '\0' && strstr(s->resource_id, q) == NULL && strstr(s->metric, q) == NULL)
            continue;
        total++;
        if (n >= limit)
            continue;
        if (n++ > 0)
            aiops_buf_puts(out, ",");
        series_head_json(s, out);
        aiops_buf_puts(out, "}");
    }
    aiops_buf_printf(out, "],\"total\":%zu}", total);
    return out->err;
}

int aiops_pipeline_series_points_json(struct aiops_pipeline *p, const char *resource_id,
                                      const char *metric, struct aiops_buf *out)
{
    struct aiops_series *s;

    for (s = p->series.idle_tail; s != NULL; s = s->idle_prev)
        if (strcmp(s->resource_id, resource_id) == 0 && strcmp(s->metric, metric) == 0)
            break;
    if (s == NULL)
        return AIOPS_ENOENT;
    series_head_json(s, out);
    aiops_buf_puts(out, ",\"data\":[");
    for (uint32_t i = 0; i < s->count; i++) {
        struct aiops_series_sample x;

        aiops_series_sample(s, i, &x);
        aiops_buf_puts(out, i > 0 ? ",{\"timestamp\":" : "{\"timestamp\":");
        time_json(out, x.ts_ms);
        aiops_buf_puts(out, ",\"value\":");
        aiops_json_number(out, x.value);
        aiops_buf_puts(out, ",\"score\":");
        aiops_json_number(out, round(x.score * 1000.0) / 1000.0);
        aiops_buf_printf(out, ",\"is_anomaly\":%s", x.is_anomaly ? "true" : "false");
        if (isfinite(x.expected) && isfinite(x.lower) && isfinite(x.upper)) {
            aiops_buf_puts(out, ",\"expected\":");
            aiops_json_number(out, x.expected);
            aiops_buf_puts(out, ",\"lower\":");
            aiops_json_number(out, x.lower);
            aiops_buf_puts(out, ",\"upper\":");
            aiops_json_number(out, x.upper);
        }
        aiops_buf_puts(out, "}");
    }
    aiops_buf_puts(out, "]}");
    return out->err;
}

const struct aiops_events *aiops_pipeline_events(const struct aiops_pipeline *p)
{
    return &p->events;
}
