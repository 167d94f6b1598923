/* SPDX-License-Identifier: MIT */
/* The event tracker: turns each series' anomalous points into streaming events (open, update,
 * resolve), correlates overlapping events of one resource (or one label's value) into
 * incidents, and decides when a change is worth publishing: at open, when the priority has
 * risen by priority_step, at resolve. Keeps open events and the last `events_kept` resolved
 * ones for the API. Owned by the loop thread. */
#ifndef AIOPS_EVENTS_H
#define AIOPS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"
#include "agent/event.h"
#include "agent/series.h"

#include <uthash.h>

struct aiops_config;

/* Called for every version worth publishing. e is borrowed for the call. */
typedef void (*aiops_event_publish_fn)(void *ctx, const struct aiops_event *e);

struct aiops_incident;

struct aiops_tracked_event {
    struct aiops_event ev;
    struct aiops_series *series; /* while open; NULL once resolved */
    struct aiops_incident *incident;
    struct aiops_tracked_event *prev, *next; /* in the open list or the resolved list */
    double published_priority;               /* at the last publish */
    uint64_t last_anomaly_mono_ms;           /* uv_now of the last anomalous point */
    char method[32];
    char reason[256];
    /* Owned copies (the series may be evicted while the event is kept). */
    char *resource_id, *metric, *labels_json, *correlation;
};

#define INCIDENT_RES_MAX 32 /* distinct resources remembered per incident */

struct aiops_incident {
    UT_hash_handle hh; /* in open_incidents, by key, while open */
    char id[AIOPS_EVENT_ID_LEN];
    char *key; /* the resource or the label's value */
    int64_t start_ms, end_ms;
    size_t open_events, events;
    size_t metrics;   /* events joined (each is one series) */
    size_t resources; /* distinct resources */
    char *resource_ids[INCIDENT_RES_MAX];
    size_t n_resources;
    double max_event_priority;
    double priority;                    /* the highest event's, raised by the incident's breadth */
    struct aiops_incident *prev, *next; /* in the resolved list */
};

struct aiops_events_stats {
    uint64_t anomalous_points;
    uint64_t opened, updated, resolved, published;
    uint64_t incidents_opened;
};

struct aiops_events {
    double window_ms;
    double priority_step;
    double bands[3];
    const char *correlate_by; /* label name, or "" */
    size_t kept_max;
    aiops_event_publish_fn publish;
    void *ctx;
    struct aiops_tracked_event *open_head, *resolved_head, *resolved_tail;
    size_t n_open, n_resolved;
    struct aiops_incident *open_incidents;                               /* uthash head, by key */
    struct aiops_incident *resolved_incidents, *resolved_incidents_tail; /* newest first */
    size_t n_incidents;
    struct aiops_events_stats stats;
};

int aiops_events_init(struct aiops_events *t, const struct aiops_config *cfg,
                      aiops_event_publish_fn publish, void *ctx);
/* Frees everything; open events are dropped without publishing (their series' checkpoints
 * keep them). */
void aiops_events_fini(struct aiops_events *t);

/* One scored point of s. method/reason describe the detector that scored it. now_mono_ms is
 * uv_now. Returns 0 or AIOPS_ENOMEM (the point's event bookkeeping is lost, not the point). */
int aiops_events_on_point(struct aiops_events *t, struct aiops_series *s, int64_t ts_ms,
                          double value, const struct aiops_verdict *v, const char *method,
                          const char *reason, uint64_t now_mono_ms);
/* Resolves open events whose series has been quiet (by the wall clock) for the window. */
void aiops_events_sweep(struct aiops_events *t, uint64_t now_mono_ms);
/* The series is going away (eviction): its open event is resolved now. */
void aiops_events_detach(struct aiops_events *t, struct aiops_series *s);

/* GET /api/v1/events: a JSON array of events, newest first, filtered. */
struct aiops_events_filter {
    const char *resource_id; /* NULL: any */
    int status;              /* -1 any, else enum aiops_event_status */
    int64_t since_ms;        /* events ending at or after; INT64_MIN: any */
    double min_priority;
    size_t limit;
};
int aiops_events_to_json(const struct aiops_events *t, const struct aiops_events_filter *f,
                         struct aiops_buf *out);
int aiops_incidents_to_json(const struct aiops_events *t, size_t limit, struct aiops_buf *out);

#endif
