/* SPDX-License-Identifier: MIT */
/* A streaming event: consecutive anomalies of one series, from the first anomalous point until
 * the grouping window passes quietly. Built by the event tracker (agent/events.c), published
 * to the sinks as an alert and upserted into the store by id. */
#ifndef AIOPS_EVENT_H
#define AIOPS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"

#define AIOPS_EVENT_ID_LEN 33 /* 32 hex digits + NUL */

enum aiops_event_status { AIOPS_EVENT_OPEN, AIOPS_EVENT_RESOLVED };

/* Strings are owned by whoever built the event (the tracker), borrowed by everyone else. */
struct aiops_event {
    char id[AIOPS_EVENT_ID_LEN]; /* stable: same series and start, same id */
    const char *resource_id;
    const char *metric;
    const char *labels_json; /* {"k":"v",...}; "{}" when none */
    enum aiops_event_status status;
    int64_t start_ms; /* ms since epoch: first anomalous point */
    int64_t end_ms;   /* last anomalous point */
    double duration_seconds;
    double max_score;       /* [0,1] */
    int64_t anomaly_points; /* anomalous points so far */
    double peak_value;      /* the value farthest from expected */
    double priority;        /* [0,1]: score, points and duration, as the detect API ranks */
    const char *severity;   /* "critical", "major", "minor", "warning" */
    const char *method;     /* the detector that scored the peak */
    const char *reason;     /* why the peak point is anomalous */
    char incident_id[AIOPS_EVENT_ID_LEN];
    int64_t updated_ms; /* ms since epoch, when this version was made */
    uint32_t version;   /* 1 at open, +1 per published change */
};

/* Appends the event as one JSON object (the alert's payload and the API's item). */
int aiops_event_to_json(const struct aiops_event *e, struct aiops_buf *out);
/* Appends the event as a msgpack map with the same keys. */
int aiops_event_to_msgpack(const struct aiops_event *e, struct aiops_buf *out);
const char *aiops_event_status_name(enum aiops_event_status s);

#endif
