/* SPDX-License-Identifier: MIT */
/* The Kafka source: a consumer group on the configured topics, served from the loop. Each
 * message goes to host->deliver(); its offset is committed only once the pipeline says the
 * message's effects are durable (host->durable_seq()), so a crash replays what was not yet
 * handed on (at-least-once). Malformed messages are skipped and may go to a dead-letter topic. */
#include "transports/kafka.h"

#include "agent/buf.h"
#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "config/config.h"
#include "transports/kafka_common.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define BATCH_MAX 1000 /* messages per loop turn; the rest wait for the next turn */
#define BATCH_BYTES                                                                                \
    (1 << 20)          /* payload bytes per loop turn (about 10,000 msgpack points, a              \
                        * few ms): HTTP requests on the same loop wait no longer */
#define TICK_MS   200  /* period of commits, dead-letter delivery reports and a safety poll */
#define FLUSH_MS  5000 /* longest a revoke or a stop waits for the pipeline and dead letters */
#define MARKS_MAX 1024 /* marks kept per partition (16 KiB); beyond, the newest merge */

/* Message offset and the pipeline's seq behind it. Marks of a partition rise in both. */
struct mark {
    uint64_t seq;
    int64_t offset;
};

/* An assigned partition. */
struct part {
    char *topic; /* owned */
    int32_t partition;
    struct mark *marks; /* owned ring of MARKS_MAX, marks not yet durable */
    size_t head, n;
    int64_t done;      /* offset to commit (last durable + 1), -1 before any */
    int64_t committed; /* last offset committed or being committed, -1 before any */
};

struct kafka_source {
    struct aiops_source base;
    rd_kafka_t *rk;      /* the consumer */
    rd_kafka_queue_t *q; /* its consumer queue; the main queue is forwarded into it */
    rd_kafka_t *dlq;     /* producer of dead letters, NULL without dead_letter_topic */
    char *dlq_topic;     /* owned */
    struct part *parts;  /* owned, n_parts assigned partitions */
    size_t n_parts;
    struct aiops_kafka_watch watch;
    uv_timer_t tick;
    /* Continues a batch cut at BATCH_MAX/BATCH_BYTES in the next loop turn, after I/O. An idle
     * handle, not a 0 ms timer: libuv 1.44 runs a timer re-armed from its own callback again
     * in the same pass, which would starve every socket while a backlog lasts. */
    uv_idle_t again;
    int open_handles;
    void (*on_stopped)(struct aiops_source *s);
    bool paused, stopping;
    bool assigned_once; /* the group gave us partitions at least once */
    bool brokers_down;  /* last error said so; cleared by any sign of life */
    bool fatal;
    uint64_t messages, malformed, dead_lettered, dead_letter_failures;
    uint64_t commits, commit_failures, consume_errors;
};

static struct part *part_find(struct kafka_source *ks, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ks->n_parts; i++)
        if (ks->parts[i].partition == partition && strcmp(ks->parts[i].topic, topic) == 0)
            return &ks->parts[i];
    return NULL;
}

static void part_fini(struct part *p)
{
    aiops_free(p->topic);
    aiops_free(p->marks);
}

/* Starts tracking the partitions of list. On allocation failure a partition stays untracked:
 * its messages are still delivered, its offsets never committed (replayed, not lost). */
static void parts_add(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *list)
{
    struct part *grown;

    grown = aiops_realloc(ks->parts, (ks->n_parts + (size_t)list->cnt + 1) * sizeof(*grown));
    if (grown == NULL) {
        aiops_error("kafka", "%s: out of memory tracking partitions: no commits for them",
                    ks->base.name);
        return;
    }
    ks->parts = grown;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        struct part *p = &ks->parts[ks->n_parts];

        if (part_find(ks, tp->topic, tp->partition) != NULL)
            continue;
        *p = (struct part){.partition = tp->partition, .done = -1, .committed = -1};
        p->topic = aiops_strdup(tp->topic);
        p->marks = aiops_malloc(MARKS_MAX * sizeof(*p->marks));
        if (p->topic == NULL || p->marks == NULL) {
            aiops_error("kafka", "%s: out of memory tracking %s[%" PRId32 "]: no commits for it",
                        ks->base.name, tp->topic, tp->partition);
            part_fini(p);
            continue;
        }
        ks->n_parts++;
    }
}

static void parts_remove(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++) {
        struct part *p = part_find(ks, list->elems[i].topic, list->elems[i].partition);

        if (p == NULL)
            continue;
        part_fini(p);
        *p = ks->parts[--ks->n_parts];
    }
}

static void mark_push(struct part *p, uint64_t seq, int64_t offset)
{
    if (p->n == MARKS_MAX) {
        /* Merging into the newest mark only delays its older offset's commit. */
        p->marks[(p->head + p->n - 1) % MARKS_MAX] = (struct mark){seq, offset};
        return;
    }
    p->marks[(p->head + p->n) % MARKS_MAX] = (struct mark){seq, offset};
    p->n++;
}

/* Commits, per partition, past the newest message whose effects are durable. */
static void commit_durable(struct kafka_source *ks, uint64_t durable, bool sync)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;

    list = rd_kafka_topic_partition_list_new((int)ks->n_parts + 1);
    for (size_t i = 0; i < ks->n_parts; i++) {
        struct part *p = &ks->parts[i];

        while (p->n > 0 && p->marks[p->head].seq <= durable) {
            p->done = p->marks[p->head].offset + 1;
            p->head = (p->head + 1) % MARKS_MAX;
            p->n--;
        }
        if (p->done > p->committed) {
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = p->done;
            p->committed = p->done;
        }
    }
    if (list->cnt > 0) {
        err = rd_kafka_commit(ks->rk, list, sync ? 0 : 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* The result callback counts and logs the failures of commits that were sent. */
            if (!sync) {
                ks->commit_failures++;
                aiops_warn("kafka", "%s: commit failed: %s", ks->base.name, rd_kafka_err2str(err));
            }
            for (int i = 0; i < list->cnt; i++) {
                struct part *p = part_find(ks, list->elems[i].topic, list->elems[i].partition);
                if (p != NULL)
                    p->committed = -1; /* retried next tick */
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct kafka_source *ks = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int i = 0; offsets != NULL && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        struct part *p;

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && tp->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        /* e.g. REBALANCE_IN_PROGRESS: commit the same offset again next tick. */
        p = part_find(ks, tp->topic, tp->partition);
        if (p != NULL && p->committed == tp->offset)
            p->committed = -1;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            err = tp->err;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ks->commit_failures++;
        aiops_warn("kafka", "%s: commit failed: %s", ks->base.name, rd_kafka_err2str(err));
        return;
    }
    ks->commits++;
    ks->brokers_down = false;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_source *ks = opaque;

    aiops_kafka_error(rk, err, reason, ks->base.name, &ks->fatal, &ks->brokers_down);
}

/* Statistics arrive every statistics.interval.ms: see aiops_kafka_any_broker_up. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct kafka_source *ks = opaque;

    (void)rk;
    (void)len;
    ks->brokers_down = !aiops_kafka_any_broker_up(json);
    return 0; /* librdkafka frees json */
}

/* The dead-letter producer's reports; its own retries failed when err is set. */
static void on_dead_letter_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_source *ks = opaque;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    ks->dead_letter_failures++;
    aiops_warn("kafka", "%s: dead letter lost: %s", ks->base.name, rd_kafka_err2str(m->err));
}

static void pause_list(struct kafka_source *ks, rd_kafka_topic_partition_list_t *list, bool pause)
{
    rd_kafka_resp_err_t err;

    err =
        pause ? rd_kafka_pause_partitions(ks->rk, list) : rd_kafka_resume_partitions(ks->rk, list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        aiops_warn("kafka", "%s: %s: %s", ks->base.name, pause ? "pause" : "resume",
                   rd_kafka_err2str(err));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_source *ks = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        aiops_info("kafka", "%s: assigned %d partition(s)", ks->base.name, parts->cnt);
        parts_add(ks, parts);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (ks->paused)
            pause_list(ks, parts, true);
        ks->assigned_once = true;
        ks->brokers_down = false;
        if (ks->base.host.on_assign != NULL)
            ks->base.host.on_assign(ks->base.host.ctx);
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            aiops_info("kafka", "%s: revoked %d partition(s)", ks->base.name, parts->cnt);
        else
            aiops_warn("kafka", "%s: rebalance: %s", ks->base.name, rd_kafka_err2str(err));
        /* Partitions lost (session timeout) belong to someone else already: no commit. */
        if (!rd_kafka_assignment_lost(rk))
            commit_durable(ks, ks->base.host.flush(ks->base.host.ctx, FLUSH_MS), true);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        parts_remove(ks, parts);
    }
    if (error != NULL) {
        aiops_warn("kafka", "%s: rebalance: %s", ks->base.name, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static void dead_letter(struct kafka_source *ks, const rd_kafka_message_t *m)
{
    char partition[16], offset[24];
    rd_kafka_resp_err_t err;
    const char *topic = rd_kafka_topic_name(m->rkt);

    if (ks->dlq == NULL)
        return;
    snprintf(partition, sizeof(partition), "%" PRId32, m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    err = rd_kafka_producev(
        ks->dlq, RD_KAFKA_V_TOPIC(ks->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_HEADER("aiops.source.topic", topic, -1),
        RD_KAFKA_V_HEADER("aiops.source.partition", partition, -1),
        RD_KAFKA_V_HEADER("aiops.source.offset", offset, -1), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ks->dead_letter_failures++;
        aiops_warn("kafka", "%s: dead letter lost: %s", ks->base.name, rd_kafka_err2str(err));
        return;
    }
    ks->dead_lettered++;
}

static void handle(struct kafka_source *ks, rd_kafka_message_t *m)
{
    struct part *p;
    uint64_t seq;

    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        ks->consume_errors++;
        aiops_warn("kafka", "%s: consume: %s", ks->base.name, rd_kafka_message_errstr(m));
        return;
    }
    ks->messages++;
    ks->brokers_down = false;
    p = part_find(ks, rd_kafka_topic_name(m->rkt), m->partition);
    seq = ks->base.host.deliver(ks->base.host.ctx, &ks->base, m->payload, m->len);
    if (seq == 0) {
        /* Done with it: committable as soon as the messages before it are. */
        ks->malformed++;
        dead_letter(ks, m);
        seq = p != NULL && p->n > 0 ? p->marks[(p->head + p->n - 1) % MARKS_MAX].seq : 0;
    }
    if (p != NULL)
        mark_push(p, seq, m->offset);
}

static void on_again(uv_idle_t *t);

/* Serves the consumer queue (messages, rebalances, errors, commit results) until it is empty,
 * the source pauses or BATCH_MAX messages (or BATCH_BYTES) were handled. Commits wait for the tick:
 * the sinks acknowledge later anyway, and at most 1000 / TICK_MS commit requests a second go out.
 */
static void serve(struct kafka_source *ks)
{
    rd_kafka_message_t *m;
    size_t bytes = 0;
    int n = 0;

    aiops_kafka_watch_drain(&ks->watch);
    /* Served even while paused: rebalances must go on, and paused partitions fetch nothing. */
    while (!ks->stopping && (m = rd_kafka_consumer_poll(ks->rk, 0)) != NULL) {
        bytes += m->len;
        handle(ks, m);
        rd_kafka_message_destroy(m);
        if (ks->paused)
            break;
        if (++n == BATCH_MAX || bytes >= BATCH_BYTES) {
            uv_idle_start(&ks->again, on_again);
            break;
        }
    }
}

static void on_again(uv_idle_t *t)
{
    uv_idle_stop(t);
    serve(t->data);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    serve(h->data);
}

/* Commits, serves dead-letter reports, and polls in case an IO event was missed (also keeps
 * max.poll.interval.ms satisfied when the topics are idle). */
static void on_tick(uv_timer_t *t)
{
    struct kafka_source *ks = t->data;

    if (ks->dlq != NULL)
        rd_kafka_poll(ks->dlq, 0);
    serve(ks);
    commit_durable(ks, ks->base.host.durable_seq(ks->base.host.ctx), false);
}

static rd_kafka_topic_partition_list_t *topic_list(const char *topics)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    char name[256];

    for (const char *s = topics; *s != '\0';) {
        size_t len = strcspn(s, ",");
        const char *t = s;

        s += len + (s[len] == ',');
        while (len > 0 && (*t == ' ' || *t == '\t'))
            t++, len--;
        while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= sizeof(name))
            continue;
        memcpy(name, t, len);
        name[len] = '\0';
        rd_kafka_topic_partition_list_add(list, name, RD_KAFKA_PARTITION_UA);
    }
    return list;
}

static const char *const source_keys[] = {"topics", "group", "dead_letter_topic", NULL};
/* At-least-once: offsets are stored and committed by us only, once durable. */
static const char *const source_forced[] = {"enable.auto.commit", "false",
                                            "enable.auto.offset.store", "false", NULL};

static int dead_letter_producer(struct kafka_source *ks, const struct aiops_config_entry *cfg,
                                char *errbuf, size_t errlen)
{
    /* Consumer-only properties are ignored by a producer (librdkafka warns once). */
    /* Never expire locally: a dead letter is retried while the agent lives. */
    static const char *const defaults[] = {"client.id", "aiops-agent-dead-letters",
                                           "message.timeout.ms", "0", NULL};
    rd_kafka_conf_t *conf;
    char errstr[256];
    int err;

    err = aiops_kafka_conf_new(&conf, cfg, source_keys, defaults, NULL, errbuf, errlen);
    if (err < 0)
        return err;
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dead_letter_report);
    ks->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (ks->dlq == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new() frees conf only on success */
        snprintf(errbuf, errlen, "kafka: dead_letter_topic: %s", errstr);
        return AIOPS_EINVAL;
    }
    return 0;
}

static int source_start(struct aiops_source *s, const struct aiops_config_entry *cfg, char *errbuf,
                        size_t errlen)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    const char *topics = aiops_config_entry_get(cfg, "topics", "");
    const char *dlq = aiops_config_entry_get(cfg, "dead_letter_topic", NULL);
    const char *defaults[] = {"group.id",
                              aiops_config_entry_get(cfg, "group", "aiops-agent"),
                              "auto.offset.reset",
                              "earliest",
                              "statistics.interval.ms",
                              "5000",
                              NULL};
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t kerr;
    char errstr[256];
    int err;

    ks->watch.fds[0] = ks->watch.fds[1] = -1;
    err = aiops_kafka_conf_new(&conf, cfg, source_keys, defaults, source_forced, errbuf, errlen);
    if (err < 0)
        return err;
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    list = topic_list(topics);
    if (list->cnt == 0) {
        snprintf(errbuf, errlen, "kafka: topics: missing");
        err = AIOPS_EINVAL;
        goto err_destroy_conf;
    }
    if (dlq != NULL && dlq[0] != '\0') {
        ks->dlq_topic = aiops_strdup(dlq);
        if (ks->dlq_topic == NULL) {
            err = AIOPS_ENOMEM;
            goto err_destroy_conf;
        }
        err = dead_letter_producer(ks, cfg, errbuf, errlen);
        if (err < 0)
            goto err_free_dlq_topic;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (ks->rk == NULL) {
        snprintf(errbuf, errlen, "kafka: %s", errstr);
        err = AIOPS_EINVAL;
        goto err_destroy_dlq;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(ks->rk);
    ks->q = rd_kafka_queue_get_consumer(ks->rk);
    kerr = rd_kafka_subscribe(ks->rk, list);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errlen, "kafka: topics: %s", rd_kafka_err2str(kerr));
        err = AIOPS_EINVAL;
        goto err_destroy_rk;
    }
    err = aiops_kafka_watch_start(&ks->watch, s->loop, ks->q, on_readable, ks);
    if (err < 0) {
        snprintf(errbuf, errlen, "kafka: pipe: %s", aiops_strerror(err));
        goto err_destroy_rk;
    }
    /* Nothing below fails: from here on, handles are closed through stop(). */
    rd_kafka_topic_partition_list_destroy(list);
    uv_timer_init(s->loop, &ks->tick);
    uv_idle_init(s->loop, &ks->again);
    ks->tick.data = ks->again.data = ks;
    ks->open_handles = 3;
    uv_timer_start(&ks->tick, on_tick, TICK_MS, TICK_MS);
    uv_idle_start(&ks->again, on_again);
    aiops_info("kafka", "%s: consuming %s as group %s", s->name, topics, defaults[1]);
    return 0;
err_destroy_rk:
    rd_kafka_queue_destroy(ks->q);
    rd_kafka_consumer_close(ks->rk);
    rd_kafka_destroy(ks->rk);
    ks->rk = NULL;
    ks->q = NULL;
err_destroy_dlq:
    if (ks->dlq != NULL)
        rd_kafka_destroy(ks->dlq);
    ks->dlq = NULL;
err_free_dlq_topic:
    aiops_free(ks->dlq_topic);
    ks->dlq_topic = NULL;
err_destroy_conf:
    rd_kafka_topic_partition_list_destroy(list);
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    return err;
}

static void on_closed(uv_handle_t *h)
{
    struct kafka_source *ks = h->data;

    if (--ks->open_handles > 0)
        return;
    aiops_kafka_watch_fini(&ks->watch);
    ks->on_stopped(&ks->base);
}

static void source_stop(struct aiops_source *s, void (*on_stopped)(struct aiops_source *s))
{
    struct kafka_source *ks = (struct kafka_source *)s;

    assert(!ks->stopping);
    ks->stopping = true;
    ks->on_stopped = on_stopped;
    /* Blocks the loop for a moment: flush, final commit, leaving the group. The rebalance
     * callback runs inside rd_kafka_consumer_close() and commits again, harmlessly. */
    commit_durable(ks, s->host.flush(s->host.ctx, FLUSH_MS), true);
    rd_kafka_consumer_close(ks->rk);
    aiops_kafka_watch_disable(&ks->watch);
    rd_kafka_queue_destroy(ks->q);
    rd_kafka_destroy(ks->rk);
    if (ks->dlq != NULL) {
        if (rd_kafka_flush(ks->dlq, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
            aiops_warn("kafka", "%s: %d dead letter(s) not delivered", s->name,
                       rd_kafka_outq_len(ks->dlq));
        rd_kafka_destroy(ks->dlq);
    }
    for (size_t i = 0; i < ks->n_parts; i++)
        part_fini(&ks->parts[i]);
    aiops_free(ks->parts);
    aiops_free(ks->dlq_topic);
    uv_close((uv_handle_t *)&ks->tick, on_closed);
    uv_close((uv_handle_t *)&ks->again, on_closed);
    aiops_kafka_watch_close(&ks->watch, on_closed);
}

/* The current assignment (the caller destroys it), or NULL. */
static rd_kafka_topic_partition_list_t *assignment_of(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *list = NULL;

    if (rd_kafka_assignment(rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return list;
}

static void set_paused(struct kafka_source *ks, bool paused)
{
    rd_kafka_topic_partition_list_t *list;

    if (ks->paused == paused || ks->stopping)
        return;
    ks->paused = paused;
    list = assignment_of(ks->rk);
    if (list != NULL) {
        pause_list(ks, list, paused);
        rd_kafka_topic_partition_list_destroy(list);
    }
    if (!paused)
        uv_idle_start(&ks->again, on_again);
}

static void source_pause(struct aiops_source *s)
{
    set_paused((struct kafka_source *)s, true);
}

static void source_resume(struct aiops_source *s)
{
    set_paused((struct kafka_source *)s, false);
}

static bool source_is_ready(struct aiops_source *s)
{
    struct kafka_source *ks = (struct kafka_source *)s;

    return ks->assigned_once && !ks->fatal && !ks->brokers_down && !ks->stopping;
}

/* Lag per partition: the cached high watermark (updated by fetches) minus our position. */
static void write_lag(struct kafka_source *ks, struct aiops_buf *out)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)ks->n_parts + 1);
    int64_t low, high; /* watermarks */

    for (size_t i = 0; i < ks->n_parts; i++)
        rd_kafka_topic_partition_list_add(list, ks->parts[i].topic, ks->parts[i].partition);
    rd_kafka_position(ks->rk, list);
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];

        /* Unknown until the first fetch answers: no sample rather than a wrong one. */
        if (tp->offset < 0 ||
            rd_kafka_get_watermark_offsets(ks->rk, tp->topic, tp->partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        aiops_buf_printf(out,
                         "aiops_kafka_consumer_lag{source=\"%s\",topic=\"%s\",partition=\"%" PRId32
                         "\"} %" PRId64 "\n",
                         ks->base.name, tp->topic, tp->partition, high - tp->offset);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void source_write_metrics(struct aiops_source *s, struct aiops_buf *out)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"aiops_kafka_source_up", source_is_ready(s)},
        {"aiops_kafka_source_paused", ks->paused},
        {"aiops_kafka_source_assigned_partitions", ks->n_parts},
        {"aiops_kafka_source_messages_total", ks->messages},
        {"aiops_kafka_source_malformed_total", ks->malformed},
        {"aiops_kafka_source_dead_lettered_total", ks->dead_lettered},
        {"aiops_kafka_source_dead_letter_failures_total", ks->dead_letter_failures},
        {"aiops_kafka_source_consume_errors_total", ks->consume_errors},
        {"aiops_kafka_source_commits_total", ks->commits},
        {"aiops_kafka_source_commit_failures_total", ks->commit_failures},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        aiops_buf_printf(out, "%s{source=\"%s\"} %" PRIu64 "\n", rows[i].name, s->name,
                         rows[i].value);
    if (!ks->stopping)
        write_lag(ks, out);
}

const struct aiops_source_ops aiops_kafka_source_ops = {
    .type = "kafka",
    .size = sizeof(struct kafka_source),
    .start = source_start,
    .stop = source_stop,
    .pause = source_pause,
    .resume = source_resume,
    .is_ready = source_is_ready,
    .write_metrics = source_write_metrics,
};
