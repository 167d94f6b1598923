/* SPDX-License-Identifier: MIT */
/* What every registered detector promises, whatever its method: a complete ops table, scores
 * in [0,1] that agree with is_anomaly, one verdict per point, determinism, and constructors
 * that leak nothing when an allocation fails. One parameterised run per registry index. */
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DETECTORS 16
#define N             400

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(contract, .fini = fini);

static size_t indices[MAX_DETECTORS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static size_t n_detectors(void)
{
    size_t n = aiops_detector_count();

    return n < MAX_DETECTORS ? n : MAX_DETECTORS;
}

/* A noisy wave with spikes, a dip and a level shift: something for every method to find. */
static void series(struct aiops_point *pts, size_t n)
{
    uint64_t st = 12345;

    for (size_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        pts[i].ts_ms = 1700000000000 + (int64_t)i * 60000;
        pts[i].value = 50 + 5 * sin(i / 20.0) + (double)(st >> 11) / 9007199254740992.0;
        if (i % 67 == 33)
            pts[i].value += 30;
        if (i == 150)
            pts[i].value -= 40;
        if (i >= 300)
            pts[i].value += 15;
    }
}

/* Thresholds semantics: is_anomaly means score >= 0.5 and a normal point scores <= 0.5. */
static void check_verdicts(const char *name, const char *path, const struct aiops_verdict *v,
                           size_t n)
{
    size_t flagged = 0;

    for (size_t i = 0; i < n; i++) {
        cr_assert(v[i].score >= 0.0 && v[i].score <= 1.0, "%s %s: point %zu score %g", name, path,
                  i, v[i].score);
        if (v[i].is_anomaly)
            cr_assert(v[i].score >= 0.5, "%s %s: anomaly %zu scored %g", name, path, i, v[i].score);
        else
            cr_assert(v[i].score <= 0.5, "%s %s: normal %zu scored %g", name, path, i, v[i].score);
        flagged += v[i].is_anomaly;
    }
    cr_assert(flagged > 0, "%s %s found none of the spikes", name, path);
    cr_assert(flagged < n / 4, "%s %s flagged %zu of %zu", name, path, flagged, n);
}

ParameterizedTestParameters(contract, has_a_complete_ops_table_and_is_findable_by_name)
{
    return cr_make_param_array(size_t, indices, n_detectors());
}

ParameterizedTest(size_t *idx, contract, has_a_complete_ops_table_and_is_findable_by_name)
{
    const struct aiops_detector_ops *o = aiops_detector_at(*idx);

    cr_assert(o != NULL);
    cr_assert(eq(ptr, (void *)aiops_detector_find(o->name), (void *)o));
    cr_assert(o->description != NULL && strlen(o->description) > 10);
    cr_assert(strcmp(o->category, "statistical") == 0 || strcmp(o->category, "ml") == 0 ||
              strcmp(o->category, "advanced") == 0);
    cr_assert(o->best_for != NULL && o->best_for[0] != NULL);
    cr_assert(o->size >= sizeof(struct aiops_detector));
    cr_assert(o->init && o->fini && o->update && o->batch && o->explain, "%s: empty slot", o->name);
}

ParameterizedTestParameters(contract, batch_gives_one_bounded_verdict_per_point)
{
    return cr_make_param_array(size_t, indices, n_detectors());
}

ParameterizedTest(size_t *idx, contract, batch_gives_one_bounded_verdict_per_point)
{
    const struct aiops_detector_ops *o = aiops_detector_at(*idx);
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N + 1];
    struct aiops_detector_params p;

    series(pts, N);
    aiops_detector_params_init(&p);
    memset(&v[N], 0xa5, sizeof(v[N]));
    cr_assert(eq(int, o->batch(&p, pts, N, v), 0));
    for (size_t k = 0; k < sizeof(v[N]); k++)
        cr_assert(eq(u8, ((unsigned char *)&v[N])[k], 0xa5), "%s wrote past n", o->name);
    check_verdicts(o->name, "batch", v, N);
    cr_assert(eq(int, o->batch(&p, pts, 0, v), 0), "%s: an empty series", o->name);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

ParameterizedTestParameters(contract, incremental_is_bounded_and_deterministic)
{
    return cr_make_param_array(size_t, indices, n_detectors());
}

ParameterizedTest(size_t *idx, contract, incremental_is_bounded_and_deterministic)
{
    const struct aiops_detector_ops *o = aiops_detector_at(*idx);
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N], w[N];
    struct aiops_detector_params p;
    struct aiops_detector *a = NULL, *b = NULL;
    long live;

    series(pts, N);
    aiops_detector_params_init(&p);
    p.window = 64;
    cr_assert(eq(int, aiops_detector_create(&a, o, &p), 0));
    cr_assert(eq(int, aiops_detector_create(&b, o, &p), 0));
    live = aiops_mem_live();
    for (size_t i = 0; i < N; i++) {
        aiops_detector_update(a, &pts[i], &v[i]);
        aiops_detector_update(b, &pts[i], &w[i]);
        cr_assert(eq(dbl, v[i].score, w[i].score), "%s: point %zu not deterministic", o->name, i);
    }
    cr_assert(eq(long, aiops_mem_live(), live), "%s: update allocated", o->name);
    check_verdicts(o->name, "incremental", v, N);
    aiops_detector_destroy(a);
    aiops_detector_destroy(b);
}

ParameterizedTestParameters(contract, explains_an_anomaly_with_its_value)
{
    return cr_make_param_array(size_t, indices, n_detectors());
}

ParameterizedTest(size_t *idx, contract, explains_an_anomaly_with_its_value)
{
    const struct aiops_detector_ops *o = aiops_detector_at(*idx);
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    char buf[256], want[32];
    size_t i;

    series(pts, N);
    aiops_detector_params_init(&p);
    cr_assert(eq(int, o->batch(&p, pts, N, v), 0));
    for (i = 0; i < N && !v[i].is_anomaly; i++)
        ;
    cr_assert(i < N);
    o->explain(&v[i], pts[i].value, buf, sizeof(buf));
    snprintf(want, sizeof(want), "value %.4g ", pts[i].value);
    cr_assert(eq(int, strncmp(buf, want, strlen(want)), 0), "%s: '%s'", o->name, buf);
}

ParameterizedTestParameters(contract, create_leaks_nothing_when_an_allocation_fails)
{
    return cr_make_param_array(size_t, indices, n_detectors());
}

ParameterizedTest(size_t *idx, contract, create_leaks_nothing_when_an_allocation_fails)
{
    const struct aiops_detector_ops *o = aiops_detector_at(*idx);
    static struct aiops_point pts[N];
    static struct aiops_verdict v[N];
    struct aiops_detector_params p;
    long live_before = aiops_mem_live();
    int err;

    aiops_detector_params_init(&p);
    aiops_test_create_with_failing_allocations(o, &p);

    series(pts, N);
    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = o->batch(&p, pts, N, v);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(long, aiops_mem_live(), live_before), "batch leak at allocation %ld", n);
    }
}
