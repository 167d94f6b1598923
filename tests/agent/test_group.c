/* SPDX-License-Identifier: MIT */
/* Grouping anomalies into events, their priority and their order, as the old service did. */
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(group, .fini = fini);

#define T0   1767225600000 /* 2026-01-01T00:00:00Z in ms */
#define MAXP 32

/* A series built from (seconds after T0, value, score); score >= 0.5 marks an anomaly. */
struct fixture {
    struct aiops_series_input in;
    struct aiops_point pts[MAXP];
    struct aiops_time times[MAXP];
    struct aiops_verdict v[MAXP];
};

static void add(struct fixture *f, double sec, double value, double score)
{
    size_t i = f->in.n++;

    cr_assert(i < MAXP);
    f->pts[i] = (struct aiops_point){.ts_ms = T0 + (int64_t)(sec * 1000), .value = value};
    f->times[i] =
        (struct aiops_time){.ms = f->pts[i].ts_ms, .offset_minutes = 120, .tz = AIOPS_TZ_OFFSET};
    f->v[i] = (struct aiops_verdict){.score = score, .is_anomaly = score >= 0.5};
}

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->in.points = f->pts;
    f->in.times = f->times;
}

static size_t group(struct fixture *f, double window, struct aiops_group_event **ev)
{
    size_t n = 0, cap = 0;

    *ev = NULL;
    cr_assert(eq(int, aiops_group_series(3, &f->in, f->v, window, ev, &n, &cap), 0));
    return n;
}

Test(group, joins_an_anomaly_exactly_one_window_after_the_last)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    add(&f, 0, 10, 0.6);
    add(&f, 300, 11, 0.7);
    cr_assert(eq(sz, group(&f, 300, &ev), 1));
    cr_assert(eq(sz, ev[0].anomaly_points, 2));
    cr_assert(eq(dbl, ev[0].duration_seconds, 300.0));
    cr_assert(eq(sz, ev[0].series, 3));
    cr_assert(eq(i64, ev[0].start.ms, T0));
    cr_assert(eq(i64, ev[0].end.ms, T0 + 300000));
    cr_assert(eq(int, ev[0].end.tz, AIOPS_TZ_OFFSET), "the zone as written is kept");
    cr_assert(eq(i16, ev[0].end.offset_minutes, 120));
    aiops_free(ev);
}

Test(group, splits_anomalies_more_than_one_window_apart)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    add(&f, 0, 10, 0.6);
    add(&f, 301, 11, 0.7);
    cr_assert(eq(sz, group(&f, 300, &ev), 2));
    cr_assert(eq(sz, ev[0].anomaly_points, 1));
    cr_assert(eq(dbl, ev[0].duration_seconds, 0.0));
    cr_assert(eq(i64, ev[1].start.ms, T0 + 301000));
    aiops_free(ev);
}

Test(group, measures_the_window_from_the_end_of_the_event_not_its_start)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    for (int i = 0; i < 5; i++)
        add(&f, i * 200.0, 10, 0.6);
    cr_assert(eq(sz, group(&f, 300, &ev), 1));
    cr_assert(eq(dbl, ev[0].duration_seconds, 800.0));
    aiops_free(ev);
}

Test(group, a_normal_point_in_between_ends_the_event)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    add(&f, 0, 10, 0.9);
    add(&f, 10, 1, 0.1);
    add(&f, 20, 12, 0.8);
    add(&f, 30, 13, 0.95);
    cr_assert(eq(sz, group(&f, 300, &ev), 2));
    cr_assert(eq(sz, ev[0].anomaly_points, 1));
    cr_assert(eq(sz, ev[1].anomaly_points, 2));
    cr_assert(eq(i64, ev[1].start.ms, T0 + 20000));
    aiops_free(ev);
}

Test(group, peak_value_is_the_value_of_the_highest_scoring_point_first_on_ties)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    add(&f, 0, 100, 0.6);
    add(&f, 60, 50, 0.9);  /* highest score, though not the highest value */
    add(&f, 120, 70, 0.9); /* tie: the first one stays */
    add(&f, 180, 200, 0.7);
    cr_assert(eq(sz, group(&f, 300, &ev), 1));
    cr_assert(eq(dbl, ev[0].max_score, 0.9));
    cr_assert(eq(dbl, ev[0].peak_value, 50.0));
    cr_assert(eq(sz, ev[0].anomaly_points, 4));
    cr_assert(eq(dbl, ev[0].priority, aiops_group_priority(0.9, 4, 180)));
    aiops_free(ev);
}

Test(group, a_series_without_anomalies_makes_no_event)
{
    struct fixture f;
    struct aiops_group_event *ev;

    setup(&f);
    for (int i = 0; i < 10; i++)
        add(&f, i * 60.0, 10, 0.2);
    cr_assert(eq(sz, group(&f, 300, &ev), 0));
    aiops_free(ev);
}

Test(group, priority_weighs_score_size_and_duration_like_the_old_service)
{
    /* 0.5*score + 0.3*min(points/10,1) + 0.2*min(duration/600,1), to 3 decimals. */
    cr_assert(eq(dbl, aiops_group_priority(1.0, 1, 0), 0.53));
    cr_assert(eq(dbl, aiops_group_priority(0.8, 5, 120), 0.59));
    cr_assert(eq(dbl, aiops_group_priority(1.0, 10, 600), 1.0));
    cr_assert(eq(dbl, aiops_group_priority(1.0, 40, 6000), 1.0), "both terms are capped");
    cr_assert(eq(dbl, aiops_group_priority(0.7777, 3, 45), 0.494)); /* 0.38885+0.09+0.015 */
    cr_assert(eq(dbl, aiops_group_priority(0.001, 0, 0), 0.001), "half rounds away from zero");
    cr_assert(eq(dbl, aiops_group_priority(0.5123, 2, 33), 0.327)); /* 0.32715 */
}

static struct aiops_group_event ev_with(double priority, size_t tag)
{
    return (struct aiops_group_event){.priority = priority, .series = tag};
}

Test(group, sorts_by_priority_highest_first_keeping_ties_in_order)
{
    struct aiops_group_event e[6] = {ev_with(0.3, 0), ev_with(0.9, 1), ev_with(0.5, 2),
                                     ev_with(0.9, 3), ev_with(0.3, 4), ev_with(0.95, 5)};
    const size_t want[6] = {5, 1, 3, 2, 0, 4};

    aiops_group_sort(e, 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert(eq(sz, e[i].series, want[i]), "position %zu", i);
}

static void check_sorted_stably(struct aiops_group_event *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        cr_assert(e[i - 1].priority >= e[i].priority, "position %zu", i);
        if (e[i - 1].priority == e[i].priority)
            cr_assert(e[i - 1].series < e[i].series, "tie order lost at %zu", i);
    }
}

Test(group, sorts_large_arrays_stably_with_or_without_scratch_memory)
{
    enum { N = 1001 };
    static struct aiops_group_event e[N], g[N];
    uint32_t st = 77;

    for (size_t i = 0; i < N; i++) {
        st = st * 1103515245u + 12345u;
        e[i] = ev_with((double)((st >> 16) % 20) / 20.0, i);
    }
    memcpy(g, e, sizeof(e));
    aiops_group_sort(e, N);
    check_sorted_stably(e, N);
    aiops_mem_fail_after(0); /* no scratch buffer: the in-place fallback */
    aiops_group_sort(g, N);
    aiops_mem_fail_after(-1);
    check_sorted_stably(g, N);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(group, reports_a_failed_allocation_and_keeps_what_it_had)
{
    struct fixture f;
    struct aiops_group_event *ev = NULL;
    size_t n = 0, cap = 0;

    setup(&f);
    add(&f, 0, 10, 0.6);
    aiops_mem_fail_after(0);
    cr_assert(eq(int, aiops_group_series(0, &f.in, f.v, 300, &ev, &n, &cap), AIOPS_ENOMEM));
    aiops_mem_fail_after(-1);
    cr_assert(eq(ptr, ev, NULL));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(group, appends_to_events_of_earlier_series)
{
    struct fixture f;
    struct aiops_group_event *ev = NULL;
    size_t n = 0, cap = 0;

    setup(&f);
    for (int i = 0; i < 20; i++)
        add(&f, i * 1000.0, i, 0.6); /* 20 separate events per call */
    cr_assert(eq(int, aiops_group_series(0, &f.in, f.v, 300, &ev, &n, &cap), 0));
    cr_assert(eq(int, aiops_group_series(1, &f.in, f.v, 300, &ev, &n, &cap), 0));
    cr_assert(eq(sz, n, 40));
    cr_assert(cap >= n);
    cr_assert(eq(sz, ev[19].series, 0));
    cr_assert(eq(sz, ev[20].series, 1));
    cr_assert(eq(dbl, ev[39].peak_value, 19.0));
    aiops_free(ev);
}
