/* SPDX-License-Identifier: MIT */
/* The detect API's computation: one method over every series of a request, timed per series,
 * then the anomalies grouped into events ordered by priority. */
#include "agent/detect.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <string.h>
#include <time.h>

void aiops_detect_request_fini(struct aiops_detect_request *req)
{
    for (size_t i = 0; i < req->n_series; i++) {
        struct aiops_series_input *s = &req->series[i];

        aiops_free(s->resource_id);
        aiops_free(s->metric_name);
        aiops_free(s->points);
        aiops_free(s->times);
    }
    aiops_free(req->series);
    aiops_free(req->method);
    memset(req, 0, sizeof(*req));
}

void aiops_detect_response_fini(struct aiops_detect_response *resp)
{
    if (resp->results != NULL) {
        for (size_t i = 0; i < resp->n_series; i++)
            aiops_free(resp->results[i].verdicts);
    }
    aiops_free(resp->results);
    aiops_free(resp->events);
    memset(resp, 0, sizeof(*resp));
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

int aiops_detect_run(const struct aiops_detect_request *req,
                     const struct aiops_detector_params *params, double grouping_window_seconds,
                     struct aiops_detect_response *out)
{
    struct aiops_detect_response resp = {0};
    struct aiops_detector_params p = *params;
    size_t cap = 0;
    int err;

    resp.method = aiops_detector_find(req->method);
    if (resp.method == NULL)
        return AIOPS_ENOENT;
    p.sensitivity = req->sensitivity;
    resp.results = aiops_calloc(req->n_series, sizeof(*resp.results));
    if (resp.results == NULL)
        return AIOPS_ENOMEM;
    resp.n_series = req->n_series;

    for (size_t s = 0; s < req->n_series; s++) {
        const struct aiops_series_input *in = &req->series[s];
        struct aiops_series_result *r = &resp.results[s];
        struct timespec t0, t1;

        r->verdicts = aiops_malloc(in->n * sizeof(*r->verdicts));
        if (r->verdicts == NULL) {
            err = AIOPS_ENOMEM;
            goto err_fini_response;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        err = resp.method->batch(&p, in->points, in->n, r->verdicts);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (err < 0)
            goto err_fini_response;
        r->detection_time_ms = elapsed_ms(&t0, &t1);
        for (size_t i = 0; i < in->n; i++)
            r->anomaly_count += r->verdicts[i].is_anomaly;
        resp.total_anomalies += r->anomaly_count;

        err = aiops_group_series(s, in, r->verdicts, grouping_window_seconds, &resp.events,
                                 &resp.n_events, &cap);
        if (err < 0)
            goto err_fini_response;
    }
    aiops_group_sort(resp.events, resp.n_events);
    *out = resp;
    return 0;
err_fini_response:
    aiops_detect_response_fini(&resp);
    return err;
}
