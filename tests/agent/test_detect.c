/* SPDX-License-Identifier: MIT */
/* aiops_detect_run end to end: a request of several series through one method, counted,
 * timed, grouped and ordered; unknown methods; allocation failures. */
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(detect, .fini = fini);

#define T0 1767225600000 /* 2026-01-01T00:00:00Z in ms */

/* Series s has n points a minute apart around 50 with small noise; spikes at the given
 * indices (terminated by a negative one). Everything allocated as the JSON parser would. */
static void add_series(struct aiops_detect_request *req, size_t n, const int *spikes)
{
    struct aiops_series_input *s = &req->series[req->n_series++];
    uint64_t st = 1000 + req->n_series;

    s->resource_id = aiops_strdup("pod-1");
    s->metric_name = aiops_strdup("cpu");
    s->points = aiops_calloc(n, sizeof(*s->points));
    s->times = aiops_calloc(n, sizeof(*s->times));
    cr_assert(s->resource_id && s->metric_name && s->points && s->times);
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        s->points[i].ts_ms = T0 + (int64_t)i * 60000;
        s->points[i].value = 50 + (double)(st >> 11) / 9007199254740992.0;
        s->times[i] = (struct aiops_time){.ms = s->points[i].ts_ms, .tz = AIOPS_TZ_UTC};
    }
    for (; spikes != NULL && *spikes >= 0; spikes++)
        s->points[*spikes].value += 20 + *spikes % 3;
}

static void request(struct aiops_detect_request *req, const char *method, size_t max_series)
{
    memset(req, 0, sizeof(*req));
    req->series = aiops_calloc(max_series, sizeof(*req->series));
    req->method = aiops_strdup(method);
    req->sensitivity = AIOPS_SENSITIVITY_MEDIUM;
}

Test(detect, runs_a_method_over_every_series_and_groups_the_anomalies)
{
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    const int spikes0[] = {40, 41, -1};         /* one event of two points */
    const int spikes2[] = {10, 60, 61, 62, -1}; /* two events, the second bigger */

    request(&req, "z-score", 3);
    add_series(&req, 100, spikes0);
    add_series(&req, 100, NULL);
    add_series(&req, 100, spikes2);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), 0));

    cr_assert(eq(ptr, (void *)resp.method, (void *)aiops_detector_find("z-score")));
    cr_assert(eq(sz, resp.n_series, 3));
    cr_assert(eq(sz, resp.results[0].anomaly_count, 2));
    cr_assert(eq(sz, resp.results[1].anomaly_count, 0));
    cr_assert(eq(sz, resp.results[2].anomaly_count, 4));
    cr_assert(eq(sz, resp.total_anomalies, 6));
    for (size_t s = 0; s < 3; s++)
        cr_assert(resp.results[s].detection_time_ms >= 0.0 &&
                  resp.results[s].detection_time_ms < 1000.0);
    cr_assert(resp.results[0].verdicts[40].is_anomaly);
    cr_assert(not(resp.results[0].verdicts[39].is_anomaly));

    /* Series 0's spikes stand out more (series 2 has more of them, so a wider std): its
     * event outranks series 2's three-point one, then series 2's lone point. */
    cr_assert(eq(sz, resp.n_events, 3));
    cr_assert(eq(sz, resp.events[0].series, 0));
    cr_assert(eq(sz, resp.events[0].anomaly_points, 2));
    cr_assert(eq(sz, resp.events[1].series, 2));
    cr_assert(eq(sz, resp.events[1].anomaly_points, 3));
    cr_assert(eq(i64, resp.events[1].start.ms, T0 + 60 * 60000));
    cr_assert(eq(dbl, resp.events[1].duration_seconds, 120.0));
    cr_assert(eq(sz, resp.events[2].series, 2));
    cr_assert(eq(sz, resp.events[2].anomaly_points, 1));
    for (size_t i = 0; i < resp.n_events; i++) {
        const struct aiops_group_event *e = &resp.events[i];

        cr_assert(eq(dbl, e->priority,
                     aiops_group_priority(e->max_score, e->anomaly_points, e->duration_seconds)));
        if (i > 0)
            cr_assert(resp.events[i - 1].priority > e->priority);
    }

    aiops_detect_response_fini(&resp);
    aiops_detect_request_fini(&req);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(detect, uses_the_sensitivity_of_the_request)
{
    struct aiops_detect_request req;
    struct aiops_detect_response lo, hi;
    struct aiops_detector_params p;

    request(&req, "z-score", 1);
    add_series(&req, 60, NULL);
    /* A 4-sigma-ish bump: flagged at high (2.5) and medium (3), not at low (4). */
    req.series[0].points[30].value += 1.1;
    aiops_detector_params_init(&p);
    p.sensitivity = AIOPS_SENSITIVITY_HIGH; /* ignored: the request's sensitivity wins */
    req.sensitivity = AIOPS_SENSITIVITY_LOW;
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &lo), 0));
    req.sensitivity = AIOPS_SENSITIVITY_HIGH;
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &hi), 0));
    cr_assert(hi.total_anomalies > lo.total_anomalies, "high %zu low %zu", hi.total_anomalies,
              lo.total_anomalies);
    aiops_detect_response_fini(&lo);
    aiops_detect_response_fini(&hi);
    aiops_detect_request_fini(&req);
}

Test(detect, gives_the_same_verdicts_as_the_method_batch)
{
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    struct aiops_verdict v[80];
    const int spikes[] = {20, 50, -1};

    request(&req, "moving-average", 1);
    add_series(&req, 80, spikes);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), 0));
    cr_assert(
        eq(int, aiops_detector_find("moving-average")->batch(&p, req.series[0].points, 80, v), 0));
    for (size_t i = 0; i < 80; i++) {
        cr_assert(eq(int, resp.results[0].verdicts[i].is_anomaly, v[i].is_anomaly));
        cr_assert(eq(dbl, resp.results[0].verdicts[i].score, v[i].score));
    }
    cr_assert(resp.results[0].verdicts[20].is_anomaly && resp.results[0].verdicts[50].is_anomaly);
    aiops_detect_response_fini(&resp);
    aiops_detect_request_fini(&req);
}

Test(detect, refuses_an_unknown_method_without_touching_the_response)
{
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;

    aiops_detector_params_init(&p);
    memset(&resp, 0x5a, sizeof(resp));
    request(&req, "magic", 1);
    add_series(&req, 20, NULL);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), AIOPS_ENOENT));
    for (size_t i = 0; i < sizeof(resp); i++)
        cr_assert(eq(u8, ((unsigned char *)&resp)[i], 0x5a));
    aiops_detect_request_fini(&req);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(detect, handles_a_request_with_an_empty_series)
{
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;

    request(&req, "z-score", 1);
    add_series(&req, 0, NULL);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), 0));
    cr_assert(eq(sz, resp.results[0].anomaly_count, 0));
    cr_assert(eq(sz, resp.n_events, 0));
    aiops_detect_response_fini(&resp);
    aiops_detect_request_fini(&req);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(detect, leaks_nothing_when_an_allocation_fails)
{
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    const int spikes[] = {12, 32, 52, -1};
    const char *methods[] = {"z-score", "moving-average"};
    long live_before;
    int err;

    aiops_detector_params_init(&p);
    for (size_t m = 0; m < 2; m++) {
        request(&req, methods[m], 2);
        add_series(&req, 64, spikes);
        add_series(&req, 64, spikes);
        live_before = aiops_mem_live();
        for (long n = 0;; n++) {
            aiops_mem_fail_after(n);
            err = aiops_detect_run(&req, &p, 30, &resp);
            aiops_mem_fail_after(-1);
            if (err == 0)
                break;
            cr_assert(eq(int, err, AIOPS_ENOMEM));
            cr_assert(eq(long, aiops_mem_live(), live_before), "%s: leak at allocation %ld",
                      methods[m], n);
        }
        cr_assert(resp.n_events >= 6, "%s: %zu events", methods[m], resp.n_events);
        aiops_detect_response_fini(&resp);
        aiops_detect_request_fini(&req);
    }
    cr_assert(eq(long, aiops_mem_live(), 0));
}
