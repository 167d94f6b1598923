/* SPDX-License-Identifier: MIT */
/* The event tracker: lifecycle, what gets published, incidents and the API's view. */
#include "agent/err.h"
#include "agent/events.h"
#include "agent/mem.h"
#include "config/config.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#define T0            1767225600000 /* 2026-01-01T00:00:00Z in ms */
#define SEC           1000
#define MAX_PUBLISHED 64

static struct aiops_config cfg;
static struct aiops_series_table table;
static struct aiops_events tracker;
static struct aiops_event published[MAX_PUBLISHED];
static char published_ids[MAX_PUBLISHED][AIOPS_EVENT_ID_LEN];
static size_t n_published;

static void on_publish(void *ctx, const struct aiops_event *e)
{
    (void)ctx;
    cr_assert(lt(sz, n_published, MAX_PUBLISHED));
    published[n_published] = *e;
    memcpy(published_ids[n_published], e->id, AIOPS_EVENT_ID_LEN);
    n_published++;
}

static void setup(void)
{
    char errbuf[256];

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(
        int, aiops_config_set(&cfg, "detection.default.methods", "z-score", errbuf, sizeof(errbuf)),
        0));
    cfg.grouping_window_seconds = 60;
    aiops_series_table_init(&table, &cfg);
    n_published = 0;
}

static void start(void)
{
    cr_assert(eq(int, aiops_events_init(&tracker, &cfg, on_publish, NULL), 0));
}

static void init(void)
{
    setup();
    start();
}

static void fini(void)
{
    aiops_events_fini(&tracker);
    aiops_series_table_fini(&table);
    aiops_config_fini(&cfg);
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(events, .init = init, .fini = fini);

static struct aiops_series *series(const char *resource, const char *metric, const char *service)
{
    struct aiops_label l = {"service", service};
    struct aiops_metric_point p = {.resource_id = resource,
                                   .metric = metric,
                                   .labels = service ? &l : NULL,
                                   .n_labels = service ? 1 : 0};
    struct aiops_series *s;
    char key[256];
    int n = aiops_series_key(&p, key, sizeof(key));

    s = aiops_series_find(&table, key, (size_t)n);
    if (s == NULL)
        cr_assert(eq(int, aiops_series_create(&table, &p, key, (size_t)n, &s, NULL, NULL), 0));
    return s;
}

static void point(struct aiops_series *s, int64_t sec, double value, double score)
{
    struct aiops_verdict v = {.score = score, .is_anomaly = score >= 0.5};

    cr_assert(eq(int,
                 aiops_events_on_point(&tracker, s, T0 + sec * SEC, value, &v, "z-score",
                                       "value is far from expected", (uint64_t)sec * SEC),
                 0));
}

Test(events, anomalies_within_the_window_make_one_event_published_at_open_and_resolve)
{
    struct aiops_series *s = series("h1", "cpu", NULL);

    point(s, 0, 1, 0.1);
    point(s, 10, 90, 0.6); /* opens */
    point(s, 20, 1, 0.1);  /* a normal point does not end it */
    point(s, 40, 95, 0.6); /* within 60 s of the last anomaly */
    point(s, 90, 1, 0.1);  /* 50 s later: still inside the window */
    cr_assert(eq(sz, tracker.n_open, 1));
    point(s, 101, 1, 0.1); /* 61 s after the last anomaly: resolved */
    cr_assert(eq(sz, tracker.n_open, 0));
    cr_assert(eq(sz, n_published, 2), "open and resolve only");
    cr_assert(eq(int, (int)published[0].status, AIOPS_EVENT_OPEN));
    cr_assert(eq(int, (int)published[1].status, AIOPS_EVENT_RESOLVED));
    cr_assert(eq(str, published_ids[0], published_ids[1]), "one stable id");
    cr_assert(eq(i64, published[1].start_ms, T0 + 10 * SEC));
    cr_assert(eq(i64, published[1].end_ms, T0 + 40 * SEC));
    cr_assert(eq(dbl, published[1].duration_seconds, 30.0));
    cr_assert(eq(i64, published[1].anomaly_points, 2));
    cr_assert(eq(u32, published[1].version, 2));
    cr_assert(eq(u64, tracker.stats.anomalous_points, 2));
}

/* A detector holding back after its alert (AIOPS_SCORE_HELD) says the anomaly goes on: the event
 * stretches over those points without counting them as new anomalies. */
Test(events, held_points_extend_the_open_event_and_lower_ones_do_not)
{
    struct aiops_series *s = series("h1", "cpu", NULL);

    point(s, 0, 1, 0.1);
    point(s, 10, 90, 0.9);              /* alert: opens */
    point(s, 20, 91, AIOPS_SCORE_HELD); /* held: still beyond the threshold */
    point(s, 70, 92, AIOPS_SCORE_HELD); /* 60 s after the alert, 50 s after the last held one */
    point(s, 80, 1, 0.3);               /* back to normal: does not extend */
    point(s, 131, 1, 0.1);              /* 61 s after the last held point: resolved */
    cr_assert(eq(sz, tracker.n_open, 0));
    cr_assert(eq(i64, published[n_published - 1].end_ms, T0 + 70 * SEC));
    cr_assert(eq(dbl, published[n_published - 1].duration_seconds, 60.0));
    cr_assert(eq(i64, published[n_published - 1].anomaly_points, 1));
    cr_assert(eq(u64, tracker.stats.anomalous_points, 1));
    point(s, 140, 1, AIOPS_SCORE_HELD); /* no event open: a held score alone opens nothing */
    cr_assert(eq(sz, tracker.n_open, 0));
}

Test(events, a_rising_priority_is_republished_once_per_step)
{
    struct aiops_series *s = series("h1", "cpu", NULL);

    /* Each anomalous point adds 0.03 to the priority (0.3 x points/10); step 0.1. */
    for (int i = 0; i < 10; i++)
        point(s, i, 100 + i, 0.6);
    cr_assert(eq(sz, tracker.n_open, 1));
    cr_assert(ge(sz, n_published, 3), "open plus at least two rises");
    cr_assert(le(sz, n_published, 5), "not one message per point: %zu", n_published);
    for (size_t i = 1; i < n_published; i++)
        cr_assert(ge(dbl, published[i].priority - published[i - 1].priority, 0.1 - 1e-9));
}

Test(events, the_peak_is_the_highest_scored_point_and_sets_severity)
{
    struct aiops_series *s = series("h1", "cpu", NULL);

    point(s, 0, 80, 0.6);
    point(s, 1, 300, 1.0);
    point(s, 2, 90, 0.7);
    point(s, 200, 1, 0.1);
    cr_assert(eq(dbl, published[n_published - 1].peak_value, 300));
    cr_assert(eq(dbl, published[n_published - 1].max_score, 1.0));
    /* 0.5 x 1.0 + 0.3 x 3/10 + 0.2 x 2/600 = 0.591 */
    cr_assert(eq(dbl, published[n_published - 1].priority, 0.591));
    cr_assert(eq(str, (char *)published[n_published - 1].severity, "minor"));
}

Test(events, a_quiet_series_is_resolved_by_the_sweep)
{
    struct aiops_series *s = series("h1", "cpu", NULL);

    point(s, 0, 80, 0.6);
    aiops_events_sweep(&tracker, 30 * SEC);
    cr_assert(eq(sz, tracker.n_open, 1));
    aiops_events_sweep(&tracker, 61 * SEC);
    cr_assert(eq(sz, tracker.n_open, 0));
    cr_assert(eq(ptr, s->event, NULL));
    cr_assert(eq(int, (int)published[n_published - 1].status, AIOPS_EVENT_RESOLVED));
}

Test(events, overlapping_events_of_one_resource_share_an_incident)
{
    struct aiops_series *cpu = series("h1", "cpu", NULL), *mem = series("h1", "mem", NULL),
                        *other = series("h2", "cpu", NULL);

    point(cpu, 0, 80, 0.6);
    point(mem, 5, 80, 0.6);
    point(other, 6, 80, 0.6);
    cr_assert(eq(str, cpu->event->ev.incident_id, mem->event->ev.incident_id));
    cr_assert(not(eq(str, cpu->event->ev.incident_id, other->event->ev.incident_id)));
    cr_assert(eq(sz, cpu->event->incident->metrics, 2));
    cr_assert(eq(sz, cpu->event->incident->resources, 1));
    /* The incident ranks above its best event: it spans two metrics. */
    cr_assert(gt(dbl, cpu->event->incident->priority, cpu->event->ev.priority));
    cr_assert(eq(u64, tracker.stats.incidents_opened, 2));
}

/* Restarts the tracker with the configuration as changed by the test. */
static void restart(void)
{
    aiops_events_fini(&tracker);
    start();
}

Test(events, a_label_can_correlate_events_across_resources)
{
    struct aiops_series *a, *b;

    aiops_config_set(&cfg, "events.correlate_by", "service", NULL, 0);
    restart();
    a = series("h1", "latency", "checkout");
    b = series("h2", "errors", "checkout");
    point(a, 0, 80, 0.6);
    point(b, 3, 80, 0.6);
    cr_assert(eq(str, a->event->ev.incident_id, b->event->ev.incident_id));
    cr_assert(eq(sz, a->event->incident->resources, 2));
}

Test(events, ids_are_stable_across_trackers)
{
    struct aiops_series *s = series("h1", "cpu", NULL);
    char first[AIOPS_EVENT_ID_LEN];

    point(s, 0, 80, 0.6);
    memcpy(first, published_ids[0], sizeof(first));
    aiops_events_fini(&tracker);
    start();
    n_published = 0;
    point(s, 0, 80, 0.6);
    cr_assert(eq(str, published_ids[0], first));
}

Test(events, resolved_events_are_kept_up_to_the_limit_and_filtered)
{
    struct aiops_events_filter f = {.status = -1, .since_ms = INT64_MIN, .limit = 100};
    struct aiops_series *s;
    struct aiops_buf b;

    cfg.events_kept = 10;
    restart();
    s = series("h1", "cpu", NULL);
    for (int i = 0; i < 15; i++) { /* 15 separate events, each resolved by the next point */
        point(s, i * 1000, 80, 0.6);
        point(s, i * 1000 + 100, 1, 0.1);
    }
    cr_assert(eq(sz, tracker.n_resolved, 10));
    aiops_buf_init(&b);
    f.status = AIOPS_EVENT_RESOLVED;
    f.limit = 3;
    cr_assert(eq(int, aiops_events_to_json(&tracker, &f, &b), 0));
    cr_assert(not(eq(ptr, strstr(b.data, "\"status\":\"resolved\""), NULL)), "%s", b.data);
    cr_assert(eq(ptr, strstr(b.data, "\"status\":\"open\""), NULL));
    /* Newest first: the first item starts at 14000 s. */
    cr_assert(not(eq(ptr, strstr(b.data, "\"start_time\":\"2026-01-01T03:53:20Z\""), NULL)), "%s",
              b.data);
    b.len = 0;
    f.resource_id = "nobody";
    aiops_events_to_json(&tracker, &f, &b);
    cr_assert(eq(str, b.data, "[]"));
    aiops_buf_fini(&b);
}

Test(events, opening_survives_every_allocation_failure)
{
    struct aiops_series *s = series("h1", "cpu", NULL);
    struct aiops_verdict v = {.score = 0.9, .is_anomaly = true};
    long live = aiops_mem_live();
    int err;

    for (long k = 0;; k++) {
        aiops_mem_fail_after(k);
        err = aiops_events_on_point(&tracker, s, T0, 5, &v, "z-score", "r", 0);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", k);
        cr_assert(eq(ptr, s->event, NULL));
    }
    cr_assert(eq(sz, tracker.n_open, 1));
}
