/* SPDX-License-Identifier: MIT */
/* Grouping of a series' anomalous points into events, their priority and the final ordering,
 * as the old service did it: consecutive anomalies no more than the grouping window apart make
 * one event, and any normal point in between ends it. */
#include "agent/detect.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <math.h>
#include <string.h>

double aiops_group_priority(double max_score, size_t points, double duration_seconds)
{
    double p = 0.5 * max_score + 0.3 * fmin((double)points / 10.0, 1.0) +
               0.2 * fmin(duration_seconds / 600.0, 1.0);

    return round(p * 1000.0) / 1000.0; /* round() goes half away from zero */
}

static struct aiops_time time_at(const struct aiops_series_input *in, size_t i)
{
    if (in->times != NULL)
        return in->times[i];
    return (struct aiops_time){.ms = in->points[i].ts_ms, .tz = AIOPS_TZ_UTC};
}

static int grow(struct aiops_group_event **events, size_t n, size_t *cap)
{
    struct aiops_group_event *p;
    size_t ncap;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    p = aiops_realloc(*events, ncap * sizeof(*p));
    if (p == NULL)
        return AIOPS_ENOMEM;
    *events = p;
    *cap = ncap;
    return 0;
}

int aiops_group_series(size_t series, const struct aiops_series_input *in,
                       const struct aiops_verdict *verdicts, double window_seconds,
                       struct aiops_group_event **events, size_t *n_events, size_t *cap)
{
    struct aiops_group_event *ev = NULL; /* the open event, NULL when none */
    int err;

    for (size_t i = 0; i < in->n; i++) {
        const struct aiops_verdict *v = &verdicts[i];

        if (!v->is_anomaly) {
            ev = NULL;
            continue;
        }
        if (ev != NULL && (double)(in->points[i].ts_ms - ev->end.ms) / 1000.0 <= window_seconds) {
            ev->end = time_at(in, i);
            ev->anomaly_points++;
            if (v->score > ev->max_score) {
                ev->max_score = v->score;
                ev->peak_value = in->points[i].value;
            }
        } else {
            err = grow(events, *n_events, cap);
            if (err < 0)
                return err;
            ev = &(*events)[(*n_events)++];
            *ev = (struct aiops_group_event){
                .series = series,
                .start = time_at(in, i),
                .end = time_at(in, i),
                .max_score = v->score,
                .peak_value = in->points[i].value,
                .anomaly_points = 1,
            };
        }
        ev->duration_seconds = (double)(ev->end.ms - ev->start.ms) / 1000.0;
        ev->priority =
            aiops_group_priority(ev->max_score, ev->anomaly_points, ev->duration_seconds);
    }
    return 0;
}

static bool before(const struct aiops_group_event *a, const struct aiops_group_event *b)
{
    return a->priority > b->priority;
}

/* Stable merge of src[lo..mid) and src[mid..hi) into dst[lo..hi). */
static void merge(const struct aiops_group_event *src, struct aiops_group_event *dst, size_t lo,
                  size_t mid, size_t hi)
{
    size_t i = lo, j = mid, k = lo;

    while (i < mid && j < hi)
        dst[k++] = before(&src[j], &src[i]) ? src[j++] : src[i++];
    while (i < mid)
        dst[k++] = src[i++];
    while (j < hi)
        dst[k++] = src[j++];
}

/* Stable insertion sort: the fallback when no scratch buffer can be had. */
static void insertion_sort(struct aiops_group_event *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct aiops_group_event x = e[i];
        size_t j = i;

        while (j > 0 && before(&x, &e[j - 1])) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = x;
    }
}

void aiops_group_sort(struct aiops_group_event *events, size_t n)
{
    struct aiops_group_event *tmp, *src = events, *dst, *swap;

    if (n < 2)
        return;
    if (n <= 32 || (tmp = aiops_malloc(n * sizeof(*tmp))) == NULL) {
        insertion_sort(events, n);
        return;
    }
    dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge(src, dst, lo, mid, hi);
        }
        swap = src;
        src = dst;
        dst = swap;
    }
    if (src != events)
        memcpy(events, src, n * sizeof(*events));
    aiops_free(tmp);
}
