/* SPDX-License-Identifier: MIT */
/* Batch detection as the detect API does it: run one method over each series of a request,
 * then group the anomalies into prioritised events. Pure computation (no I/O), so the HTTP
 * server runs it on libuv's thread pool. */
#ifndef AIOPS_DETECT_H
#define AIOPS_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/timestamp.h"
#include "detectors/detector.h"

struct aiops_series_input {
    char *resource_id;          /* owned */
    char *metric_name;          /* owned */
    struct aiops_point *points; /* owned, n entries, in request order */
    struct aiops_time *times;   /* owned, n entries: how each timestamp was written */
    size_t n;
};

struct aiops_detect_request {
    struct aiops_series_input *series; /* owned, n_series entries */
    size_t n_series;
    char *method; /* owned; "isolation-forest" when the request names none */
    enum aiops_sensitivity sensitivity;
};

struct aiops_series_result {
    struct aiops_verdict *verdicts; /* owned, one per input point */
    size_t anomaly_count;
    double detection_time_ms;
};

/* A grouped event: consecutive anomalies of one series no more than the grouping window apart.
 * priority = round(0.5*max_score + 0.3*min(points/10,1) + 0.2*min(duration/600,1), 3). */
struct aiops_group_event {
    size_t series; /* index into the request's series */
    struct aiops_time start, end;
    double duration_seconds;
    double priority;
    double max_score;
    double peak_value; /* value of the highest-scoring point */
    size_t anomaly_points;
};

struct aiops_detect_response {
    const struct aiops_detector_ops *method; /* borrowed from the registry */
    struct aiops_series_result *results;     /* owned, n_series entries */
    size_t n_series;
    struct aiops_group_event *events; /* owned, sorted by priority, highest first */
    size_t n_events;
    size_t total_anomalies;
};

void aiops_detect_request_fini(struct aiops_detect_request *req);
void aiops_detect_response_fini(struct aiops_detect_response *resp);

/* Runs req->method over every series with params for req->sensitivity, then groups with
 * grouping_window_seconds. Returns 0, AIOPS_ENOENT (unknown method) or AIOPS_ENOMEM; *out is
 * filled only on success. */
int aiops_detect_run(const struct aiops_detect_request *req,
                     const struct aiops_detector_params *params, double grouping_window_seconds,
                     struct aiops_detect_response *out);

/* Groups one series' verdicts into events appended to *events (grown with aiops_realloc).
 * Does not sort. Returns 0 or AIOPS_ENOMEM. */
int aiops_group_series(size_t series, const struct aiops_series_input *in,
                       const struct aiops_verdict *verdicts, double window_seconds,
                       struct aiops_group_event **events, size_t *n_events, size_t *cap);
/* Priority of an event, rounded to 3 decimals (the old service's formula). */
double aiops_group_priority(double max_score, size_t points, double duration_seconds);
/* Sorts by priority, highest first; stable for equal priorities. */
void aiops_group_sort(struct aiops_group_event *events, size_t n);

#endif
