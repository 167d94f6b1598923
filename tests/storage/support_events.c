/* SPDX-License-Identifier: MIT */
/* The query_events contract both stores' suites check (see support_events.h). */
#include "tests/storage/support_events.h"

#include "agent/err.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#define HOUR_MS 3600000

static void copy(char *dst, size_t len, const char *s)
{
    snprintf(dst, len, "%s", s != NULL ? s : "(null)");
}

int aiops_test_gather(void *ctx, const struct aiops_event *e)
{
    struct found *f = ctx;
    struct got *g;

    cr_assert(lt(sz, f->n, sizeof(f->rows) / sizeof(f->rows[0])));
    g = &f->rows[f->n++];
    copy(g->id, sizeof(g->id), e->id);
    copy(g->incident, sizeof(g->incident), e->incident_id);
    copy(g->resource, sizeof(g->resource), e->resource_id);
    copy(g->metric, sizeof(g->metric), e->metric);
    copy(g->labels, sizeof(g->labels), e->labels_json);
    copy(g->severity, sizeof(g->severity), e->severity);
    copy(g->method, sizeof(g->method), e->method);
    copy(g->reason, sizeof(g->reason), e->reason);
    g->status = e->status;
    g->start_ms = e->start_ms;
    g->end_ms = e->end_ms;
    g->updated_ms = e->updated_ms;
    g->points = e->anomaly_points;
    g->duration = e->duration_seconds;
    g->score = e->max_score;
    g->peak = e->peak_value;
    g->priority = e->priority;
    g->version = e->version;
    return f->n == f->stop_at ? AIOPS_EINVAL : 0;
}

/* Queries with q and checks the ids returned, in order ("c,b,a"; "" for none). */
void aiops_test_expect_ids(struct aiops_store *s, struct aiops_event_query q, const char *ids)
{
    struct found f = {0};
    char joined[128] = "";

    cr_assert(eq(int, aiops_store_query_events(s, &q, aiops_test_gather, &f), 0));
    for (size_t i = 0; i < f.n; i++)
        snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", i > 0 ? "," : "",
                 f.rows[i].id);
    cr_assert(eq(str, joined, (char *)ids));
}

/* Stores three events: "a" (server-01, open, two versions), "b" (server-02, resolved, no
 * labels) and "c" (server-01, resolved, no severity or method), started an hour apart. */
void aiops_test_store_three(struct aiops_store *s, aiops_test_event_fn stream_event)
{
    struct aiops_event a1 = stream_event("a", 1), a2 = stream_event("a", 2);
    struct aiops_event b = stream_event("b", 3), c = stream_event("c", 3);

    a1.priority = 0.5;
    a2.priority = 0.6;
    b.resource_id = "server-02";
    b.labels_json = NULL;
    b.start_ms = AIOPS_TEST_T0 + HOUR_MS;
    b.end_ms = AIOPS_TEST_T0 + HOUR_MS + 60000;
    b.priority = 0.9;
    c.start_ms = AIOPS_TEST_T0 + 2 * HOUR_MS;
    c.end_ms = AIOPS_TEST_T0 + 2 * HOUR_MS + 60000;
    c.priority = 0.2;
    c.severity = NULL;
    c.method = NULL;
    c.incident_id[0] = '\0';
    cr_assert(eq(int, aiops_store_upsert_event(s, &a1, 1), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &b, 2), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &c, 3), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &a2, 4), 0));
}

/* The filters, alone and together, the limit and the order, on what store_three wrote. */
void aiops_test_expect_filters(struct aiops_store *s)
{
    struct aiops_event_query q = AIOPS_TEST_ANY_EVENT;

    aiops_test_expect_ids(s, q, "c,b,a");
    q.resource_id = "server-01";
    aiops_test_expect_ids(s, q, "c,a");
    q.status = AIOPS_EVENT_RESOLVED;
    aiops_test_expect_ids(s, q, "c");
    q.resource_id = "nobody";
    aiops_test_expect_ids(s, q, "");
    q = AIOPS_TEST_ANY_EVENT;
    q.status = AIOPS_EVENT_OPEN;
    aiops_test_expect_ids(s, q, "a");
    q.status = AIOPS_EVENT_RESOLVED;
    aiops_test_expect_ids(s, q, "c,b");
    q = AIOPS_TEST_ANY_EVENT;
    q.since_ms = AIOPS_TEST_T0 + HOUR_MS + 60000; /* b ends exactly then: included */
    aiops_test_expect_ids(s, q, "c,b");
    q.since_ms = AIOPS_TEST_T0 + HOUR_MS + 60001;
    aiops_test_expect_ids(s, q, "c");
    q = AIOPS_TEST_ANY_EVENT;
    q.min_priority = 0.55;
    aiops_test_expect_ids(s, q, "b,a");
    q = AIOPS_TEST_ANY_EVENT;
    q.limit = 2;
    aiops_test_expect_ids(s, q, "c,b");
    q.limit = 1;
    q.min_priority = 0.55;
    aiops_test_expect_ids(s, q, "b");
}

/* Every field of "a" (its second version), and the NULLs of "b" and "c". */
void aiops_test_expect_fields(struct aiops_store *s, aiops_test_event_fn stream_event,
                              const char *labels)
{
    struct aiops_event_query q = AIOPS_TEST_ANY_EVENT;
    struct found f = {0};
    struct got *a, *b, *c;

    cr_assert(eq(int, aiops_store_query_events(s, &q, aiops_test_gather, &f), 0));
    cr_assert(eq(sz, f.n, 3));
    c = &f.rows[0];
    b = &f.rows[1];
    a = &f.rows[2];
    cr_assert(eq(str, a->resource, "server-01"));
    cr_assert(eq(str, a->metric, "cpu_usage"));
    cr_assert(eq(str, a->labels, (char *)labels));
    cr_assert(eq(int, a->status, AIOPS_EVENT_OPEN));
    cr_assert(eq(i64, a->start_ms, AIOPS_TEST_T0));
    cr_assert(eq(i64, a->end_ms, AIOPS_TEST_T0 + 120000));
    cr_assert(eq(i64, a->updated_ms, AIOPS_TEST_T0 + 2000));
    cr_assert(eq(dbl, a->duration, 120.0));
    cr_assert(eq(dbl, a->score, 0.9));
    cr_assert(eq(i64, a->points, 2));
    cr_assert(eq(dbl, a->peak, 97.5));
    cr_assert(eq(dbl, a->priority, 0.6));
    cr_assert(eq(str, a->severity, "major"));
    cr_assert(eq(str, a->method, "zscore"));
    cr_assert(eq(str, a->reason, (char *)stream_event("a", 2).reason));
    cr_assert(eq(str, a->incident, "fedcba9876543210fedcba9876543210"));
    cr_assert(eq(u32, a->version, 2));
    cr_assert(eq(str, b->resource, "server-02"));
    cr_assert(eq(str, b->labels, "{}"));
    cr_assert(eq(int, b->status, AIOPS_EVENT_RESOLVED));
    cr_assert(eq(str, c->severity, "(null)"));
    cr_assert(eq(str, c->method, "(null)"));
    cr_assert(eq(str, c->incident, ""));
}

/* An error from fn stops the rows and is what the query returns. */
void aiops_test_expect_fn_error_stops(struct aiops_store *s)
{
    struct aiops_event_query q = AIOPS_TEST_ANY_EVENT;
    struct found f = {.stop_at = 1};

    cr_assert(eq(int, aiops_store_query_events(s, &q, aiops_test_gather, &f), AIOPS_EINVAL));
    cr_assert(eq(sz, f.n, 1));
}
