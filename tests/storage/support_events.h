/* SPDX-License-Identifier: MIT */
/* What the SQLite and PostgreSQL suites both check of query_events: the same three events
 * stored, the same filters, order, fields and error path. Linked into the storage suites. */
#ifndef AIOPS_TESTS_STORAGE_SUPPORT_EVENTS_H
#define AIOPS_TESTS_STORAGE_SUPPORT_EVENTS_H

#include "agent/event.h"
#include "storage/store.h"

#include <stddef.h>
#include <stdint.h>

#define AIOPS_TEST_T0        1767225600123 /* 2026-01-01T00:00:00.123Z in ms */
#define AIOPS_TEST_ANY_EVENT ((struct aiops_event_query){.status = -1, .since_ms = INT64_MIN})

/* A copy of one event query_events passed, whose strings live only during the call. */
struct got {
    char id[AIOPS_EVENT_ID_LEN], incident[AIOPS_EVENT_ID_LEN];
    char resource[32], metric[32], labels[64], severity[16], method[16], reason[96];
    enum aiops_event_status status;
    int64_t start_ms, end_ms, updated_ms, points;
    double duration, score, peak, priority;
    uint32_t version;
};

struct found {
    struct got rows[8];
    size_t n;
    size_t stop_at; /* fn fails on this call (1-based); 0: never */
};

/* A suite's event of id at version v (open below 3, resolved from 3), starting at
 * AIOPS_TEST_T0. */
typedef struct aiops_event (*aiops_test_event_fn)(const char *id, uint32_t v);

/* Copies e into the struct found at ctx; fails on call number stop_at. */
int aiops_test_gather(void *ctx, const struct aiops_event *e);
/* Queries with q and checks the ids returned, in order ("c,b,a"; "" for none). */
void aiops_test_expect_ids(struct aiops_store *s, struct aiops_event_query q, const char *ids);
/* Stores "a" (server-01, open, two versions), "b" (server-02, resolved, no labels) and "c"
 * (server-01, resolved, no severity or method), started an hour apart. */
void aiops_test_store_three(struct aiops_store *s, aiops_test_event_fn stream_event);
/* The filters, alone and together, the limit and the order, on what store_three wrote. */
void aiops_test_expect_filters(struct aiops_store *s);
/* Every field of "a" (its second version; labels as the store gives them back), and the NULLs
 * of "b" and "c". */
void aiops_test_expect_fields(struct aiops_store *s, aiops_test_event_fn stream_event,
                              const char *labels);
/* An error from fn stops the rows and is what the query returns. */
void aiops_test_expect_fn_error_stops(struct aiops_store *s);

#endif
