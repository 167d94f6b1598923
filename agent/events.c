/* SPDX-License-Identifier: MIT */
/* The event tracker (see events.h). Events live in intrusive lists: open events (swept for
 * quiet ones) and the bounded tail of resolved ones. Open incidents are found by their
 * correlation key in a uthash map; resolved ones form a bounded list, newest first. */
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"

#include "agent/hash.h" /* before any header that includes <uthash.h> */

#include "agent/events.h"

#include "agent/timestamp.h"
#include "config/config.h"
#include "transports/api_json.h"

#include <math.h>
#include <string.h>
#include <time.h>

#define INCIDENTS_KEPT 1000

/* 128-bit id from two FNV-1a passes with different bases: stable across restarts. */
static void make_id(char out[AIOPS_EVENT_ID_LEN], const char *a, const char *b, int64_t ms)
{
    uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};

    for (int k = 0; k < 2; k++) {
        const char *parts[2] = {a, b};

        for (int j = 0; j < 2; j++) {
            for (const char *p = parts[j]; p != NULL && *p != '\0'; p++)
                h[k] = (h[k] ^ (unsigned char)*p) * 0x100000001b3ull;
            h[k] = (h[k] ^ 0x1f) * 0x100000001b3ull;
        }
        for (int i = 0; i < 8; i++)
            h[k] = (h[k] ^ (uint64_t)((ms >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    }
    snprintf(out, AIOPS_EVENT_ID_LEN, "%016llx%016llx", (unsigned long long)h[0],
             (unsigned long long)h[1]);
}

int aiops_events_init(struct aiops_events *t, const struct aiops_config *cfg,
                      aiops_event_publish_fn publish, void *ctx)
{
    memset(t, 0, sizeof(*t));
    t->window_ms = cfg->grouping_window_seconds * 1000.0;
    t->priority_step = cfg->priority_step;
    if (aiops_config_parse_bands(cfg->severity_bands, t->bands) < 0)
        return AIOPS_EINVAL;
    t->correlate_by = cfg->correlate_by;
    t->kept_max = cfg->events_kept;
    t->publish = publish;
    t->ctx = ctx;
    return 0;
}

static void free_event(struct aiops_tracked_event *te)
{
    aiops_free(te->resource_id);
    aiops_free(te->metric);
    aiops_free(te->labels_json);
    aiops_free(te->correlation);
    aiops_free(te);
}

static void free_incident(struct aiops_incident *inc)
{
    for (size_t i = 0; i < inc->n_resources; i++)
        aiops_free(inc->resource_ids[i]);
    aiops_free(inc->key);
    aiops_free(inc);
}

void aiops_events_fini(struct aiops_events *t)
{
    struct aiops_tracked_event *te, *next;
    struct aiops_incident *inc, *inext;

    for (te = t->open_head; te != NULL; te = next) {
        next = te->next;
        if (te->series != NULL)
            te->series->event = NULL;
        free_event(te);
    }
    for (te = t->resolved_head; te != NULL; te = next) {
        next = te->next;
        free_event(te);
    }
    HASH_ITER(hh, t->open_incidents, inc, inext)
    {
        HASH_DEL(t->open_incidents, inc);
        free_incident(inc);
    }
    for (inc = t->resolved_incidents; inc != NULL; inc = inext) {
        inext = inc->next;
        free_incident(inc);
    }
    memset(t, 0, sizeof(*t));
}

static const char *severity_of(const struct aiops_events *t, double priority)
{
    if (priority >= t->bands[0])
        return "critical";
    if (priority >= t->bands[1])
        return "major";
    if (priority >= t->bands[2])
        return "minor";
    return "warning";
}

/* The detect API's ranking (agent/group.c), so streamed and batch events compare. */
static double priority_of(const struct aiops_event *e)
{
    return aiops_group_priority(e->max_score, (size_t)e->anomaly_points, e->duration_seconds);
}

static void publish(struct aiops_events *t, struct aiops_tracked_event *te)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    te->ev.updated_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    te->ev.version++;
    te->published_priority = te->ev.priority;
    t->stats.published++;
    if (t->publish != NULL)
        t->publish(t->ctx, &te->ev);
}

static const char *correlation_of(const struct aiops_events *t, const struct aiops_series *s)
{
    if (t->correlate_by[0] != '\0')
        for (size_t i = 0; i < s->n_labels; i++)
            if (strcmp(s->labels[i].key, t->correlate_by) == 0)
                return s->labels[i].value;
    return s->resource_id;
}

static void incident_priority(struct aiops_incident *inc, double event_priority)
{
    double p;

    inc->max_event_priority = fmax(inc->max_event_priority, event_priority);
    p = inc->max_event_priority;
    /* Rises with the breadth of the incident: more metrics, more resources. */
    p += 0.05 * (double)(inc->metrics > 0 ? inc->metrics - 1 : 0) +
         0.1 * (double)(inc->resources > 0 ? inc->resources - 1 : 0);
    inc->priority = fmin(round(p * 1000.0) / 1000.0, 1.0);
}

/* Remembers resource in inc (up to INCIDENT_RES_MAX distinct ones). 0 or AIOPS_ENOMEM. */
static int add_resource(struct aiops_incident *inc, const char *resource_id)
{
    char *copy;

    for (size_t i = 0; i < inc->n_resources; i++)
        if (strcmp(inc->resource_ids[i], resource_id) == 0)
            return 0;
    inc->resources++;
    if (inc->n_resources == INCIDENT_RES_MAX)
        return 0; /* counted, not remembered: the count may grow past the truth, not below */
    copy = aiops_strdup(resource_id);
    if (copy == NULL) {
        inc->resources--;
        return AIOPS_ENOMEM;
    }
    inc->resource_ids[inc->n_resources++] = copy;
    return 0;
}

static struct aiops_incident *join_incident(struct aiops_events *t, struct aiops_tracked_event *te)
{
    struct aiops_incident *inc;

    HASH_FIND_STR(t->open_incidents, te->correlation, inc);
    if (inc == NULL) {
        inc = aiops_calloc(1, sizeof(*inc));
        if (inc == NULL)
            return NULL;
        inc->key = aiops_strdup(te->correlation);
        if (inc->key == NULL || add_resource(inc, te->resource_id) < 0)
            goto err_free;
        aiops_hash_add_failed = false;
        HASH_ADD_KEYPTR(hh, t->open_incidents, inc->key, strlen(inc->key), inc);
        if (aiops_hash_add_failed)
            goto err_free;
        make_id(inc->id, "incident", te->correlation, te->ev.start_ms);
        inc->start_ms = te->ev.start_ms;
        t->n_incidents++;
        t->stats.incidents_opened++;
    } else if (add_resource(inc, te->resource_id) < 0) {
        return NULL;
    }
    inc->open_events++;
    inc->events++;
    inc->metrics++;
    inc->end_ms = te->ev.end_ms > inc->end_ms ? te->ev.end_ms : inc->end_ms;
    return inc;
err_free:
    free_incident(inc);
    return NULL;
}

static void leave_incident(struct aiops_events *t, struct aiops_tracked_event *te)
{
    struct aiops_incident *inc = te->incident;

    te->incident = NULL;
    if (inc == NULL || --inc->open_events > 0)
        return;
    /* Resolved: the newest of the kept ones; the oldest falls off past INCIDENTS_KEPT. */
    HASH_DEL(t->open_incidents, inc);
    inc->prev = NULL;
    inc->next = t->resolved_incidents;
    if (t->resolved_incidents != NULL)
        t->resolved_incidents->prev = inc;
    else
        t->resolved_incidents_tail = inc;
    t->resolved_incidents = inc;
    if (t->n_incidents - HASH_COUNT(t->open_incidents) > INCIDENTS_KEPT) {
        struct aiops_incident *old = t->resolved_incidents_tail;

        t->resolved_incidents_tail = old->prev;
        if (old->prev != NULL)
            old->prev->next = NULL;
        else
            t->resolved_incidents = NULL;
        free_incident(old);
        t->n_incidents--;
    }
}

static void unlink_open(struct aiops_events *t, struct aiops_tracked_event *te)
{
    if (te->prev != NULL)
        te->prev->next = te->next;
    else
        t->open_head = te->next;
    if (te->next != NULL)
        te->next->prev = te->prev;
    te->prev = te->next = NULL;
    t->n_open--;
}

static void resolve(struct aiops_events *t, struct aiops_tracked_event *te)
{
    unlink_open(t, te);
    if (te->series != NULL)
        te->series->event = NULL;
    te->series = NULL;
    te->ev.status = AIOPS_EVENT_RESOLVED;
    t->stats.resolved++;
    leave_incident(t, te);
    publish(t, te);
    /* Newest resolved first; the oldest falls off past kept_max. */
    te->next = t->resolved_head;
    if (t->resolved_head != NULL)
        t->resolved_head->prev = te;
    else
        t->resolved_tail = te;
    t->resolved_head = te;
    t->n_resolved++;
    while (t->n_resolved > t->kept_max && t->resolved_tail != NULL) {
        struct aiops_tracked_event *old = t->resolved_tail;

        t->resolved_tail = old->prev;
        if (old->prev != NULL)
            old->prev->next = NULL;
        else
            t->resolved_head = NULL;
        free_event(old);
        t->n_resolved--;
    }
}

static int open_event(struct aiops_events *t, struct aiops_series *s, int64_t ts_ms, double value,
                      const struct aiops_verdict *v, const char *method, const char *reason,
                      uint64_t now_ms)
{
    struct aiops_tracked_event *te = aiops_calloc(1, sizeof(*te));

    if (te == NULL)
        return AIOPS_ENOMEM;
    te->resource_id = aiops_strdup(s->resource_id);
    te->metric = aiops_strdup(s->metric);
    te->labels_json = aiops_strdup(s->labels_json);
    te->correlation = aiops_strdup(correlation_of(t, s));
    if (te->resource_id == NULL || te->metric == NULL || te->labels_json == NULL ||
        te->correlation == NULL) {
        free_event(te);
        return AIOPS_ENOMEM;
    }
    make_id(te->ev.id, s->key, "", ts_ms);
    te->ev.resource_id = te->resource_id;
    te->ev.metric = te->metric;
    te->ev.labels_json = te->labels_json;
    te->ev.method = te->method;
    te->ev.reason = te->reason;
    te->ev.status = AIOPS_EVENT_OPEN;
    te->ev.start_ms = te->ev.end_ms = ts_ms;
    te->ev.max_score = v->score;
    te->ev.anomaly_points = 1;
    te->ev.peak_value = value;
    snprintf(te->method, sizeof(te->method), "%s", method);
    snprintf(te->reason, sizeof(te->reason), "%s", reason);
    te->ev.priority = priority_of(&te->ev);
    te->ev.severity = severity_of(t, te->ev.priority);
    te->last_anomaly_mono_ms = now_ms;
    te->incident = join_incident(t, te);
    if (te->incident == NULL) {
        free_event(te);
        return AIOPS_ENOMEM;
    }
    snprintf(te->ev.incident_id, sizeof(te->ev.incident_id), "%s", te->incident->id);
    incident_priority(te->incident, te->ev.priority);
    te->series = s;
    s->event = te;
    te->next = t->open_head;
    if (t->open_head != NULL)
        t->open_head->prev = te;
    t->open_head = te;
    t->n_open++;
    t->stats.opened++;
    publish(t, te);
    return 0;
}

/* Moves an open event's end to ts_ms (and its incident's) and re-prices it; publishes it when its
 * priority rose by priority_step since it was last published. */
static void extend(struct aiops_events *t, struct aiops_tracked_event *te, int64_t ts_ms,
                   uint64_t now_ms)
{
    te->ev.end_ms = ts_ms;
    te->ev.duration_seconds = (double)(ts_ms - te->ev.start_ms) / 1000.0;
    te->last_anomaly_mono_ms = now_ms;
    te->ev.priority = priority_of(&te->ev);
    te->ev.severity = severity_of(t, te->ev.priority);
    if (te->incident != NULL) {
        if (ts_ms > te->incident->end_ms)
            te->incident->end_ms = ts_ms;
        incident_priority(te->incident, te->ev.priority);
    }
    if (te->ev.priority - te->published_priority >= t->priority_step - 1e-9)
        publish(t, te);
}

int aiops_events_on_point(struct aiops_events *t, struct aiops_series *s, int64_t ts_ms,
                          double value, const struct aiops_verdict *v, const char *method,
                          const char *reason, uint64_t now_ms)
{
    struct aiops_tracked_event *te = s->event;

    /* Quiet for the whole window in the stream's own time: the event is over. */
    if (te != NULL && (double)(ts_ms - te->ev.end_ms) > t->window_ms) {
        resolve(t, te);
        te = NULL;
    }
    if (!v->is_anomaly) {
        /* A held point (see AIOPS_SCORE_HELD): the anomaly alerted on goes on. */
        if (te != NULL && v->score >= AIOPS_SCORE_HELD)
            extend(t, te, ts_ms, now_ms);
        return 0;
    }
    t->stats.anomalous_points++;
    if (te == NULL)
        return open_event(t, s, ts_ms, value, v, method, reason, now_ms);
    te->ev.anomaly_points++;
    if (v->score > te->ev.max_score) {
        te->ev.max_score = v->score;
        te->ev.peak_value = value;
        snprintf(te->method, sizeof(te->method), "%s", method);
        snprintf(te->reason, sizeof(te->reason), "%s", reason);
    }
    t->stats.updated++;
    extend(t, te, ts_ms, now_ms);
    return 0;
}

void aiops_events_sweep(struct aiops_events *t, uint64_t now_ms)
{
    struct aiops_tracked_event *te, *next;

    for (te = t->open_head; te != NULL; te = next) {
        next = te->next;
        if ((double)(now_ms - te->last_anomaly_mono_ms) > t->window_ms)
            resolve(t, te);
    }
}

void aiops_events_detach(struct aiops_events *t, struct aiops_series *s)
{
    if (s->event != NULL)
        resolve(t, s->event);
}

static bool matches(const struct aiops_event *e, const struct aiops_events_filter *f)
{
    if (f->resource_id != NULL && strcmp(e->resource_id, f->resource_id) != 0)
        return false;
    if (f->status >= 0 && (int)e->status != f->status)
        return false;
    return e->end_ms >= f->since_ms && e->priority >= f->min_priority;
}

int aiops_events_to_json(const struct aiops_events *t, const struct aiops_events_filter *f,
                         struct aiops_buf *out)
{
    const struct aiops_tracked_event *lists[2] = {t->open_head, t->resolved_head};
    size_t n = 0;

    aiops_buf_puts(out, "[");
    for (int l = 0; l < 2; l++) {
        for (const struct aiops_tracked_event *te = lists[l]; te != NULL && n < f->limit;
             te = te->next) {
            if (!matches(&te->ev, f))
                continue;
            if (n++ > 0)
                aiops_buf_puts(out, ",");
            aiops_event_to_json(&te->ev, out);
        }
    }
    aiops_buf_puts(out, "]");
    return out->err;
}

int aiops_incidents_to_json(const struct aiops_events *t, size_t limit, struct aiops_buf *out)
{
    size_t n = 0;

    aiops_buf_puts(out, "[");
    const struct aiops_incident *lists[2] = {t->open_incidents, t->resolved_incidents};

    for (int l = 0; l < 2; l++) {
        for (const struct aiops_incident *inc = lists[l]; inc != NULL && n < limit;
             inc = l == 0 ? inc->hh.next : inc->next, n++) {
            char start[32], end[32];

            aiops_time_format_utc(inc->start_ms, start, sizeof(start));
            aiops_time_format_utc(inc->end_ms, end, sizeof(end));
            aiops_buf_printf(out, "%s{\"id\":\"%s\",\"key\":", n > 0 ? "," : "", inc->id);
            aiops_json_string(out, inc->key, strlen(inc->key));
            aiops_buf_printf(out,
                             ",\"status\":\"%s\",\"start_time\":\"%s\",\"end_time\":\"%s\","
                             "\"events\":%zu,\"open_events\":%zu,\"metrics\":%zu,\"resources\":%zu,"
                             "\"priority\":",
                             inc->open_events > 0 ? "open" : "resolved", start, end, inc->events,
                             inc->open_events, inc->metrics, inc->resources);
            aiops_json_number(out, inc->priority);
            aiops_buf_puts(out, "}");
        }
    }
    aiops_buf_puts(out, "]");
    return out->err;
}
