/* SPDX-License-Identifier: MIT */
/* The series table: keys, rules, the ring, eviction and checkpoints. */
#include "agent/err.h"
#include "agent/mem.h"
#include "agent/series.h"
#include "config/config.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

static struct aiops_config cfg;
static struct aiops_series_table table;

static void init(void)
{
    char errbuf[256];

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(
        eq(int,
           aiops_config_set(&cfg, "detection.default.methods", "z-score", errbuf, sizeof(errbuf)),
           0),
        "%s", errbuf);
    cfg.window = 16;
    aiops_series_table_init(&table, &cfg);
}

static void fini(void)
{
    aiops_series_table_fini(&table);
    aiops_config_fini(&cfg);
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(series, .init = init, .fini = fini);

#define T0 1767225600000 /* 2026-01-01T00:00:00Z in ms */

static struct aiops_series *get(const char *resource, const char *metric,
                                const struct aiops_label *labels, size_t n_labels)
{
    struct aiops_metric_point p = {.resource_id = resource,
                                   .metric = metric,
                                   .labels = labels,
                                   .n_labels = n_labels,
                                   .ts_ms = T0,
                                   .value = 1};
    struct aiops_series *s;
    char key[AIOPS_SERIES_KEY_MAX];
    int n = aiops_series_key(&p, key, sizeof(key));

    cr_assert(gt(int, n, 0));
    s = aiops_series_find(&table, key, (size_t)n);
    if (s == NULL)
        cr_assert(eq(int, aiops_series_create(&table, &p, key, (size_t)n, &s, NULL, NULL), 0));
    return s;
}

Test(series, labels_in_any_order_name_one_series)
{
    const struct aiops_label ab[] = {{"a", "1"}, {"b", "2"}}, ba[] = {{"b", "2"}, {"a", "1"}};
    struct aiops_series *s1 = get("h1", "cpu", ab, 2), *s2 = get("h1", "cpu", ba, 2);

    cr_assert(eq(ptr, s1, s2));
    cr_assert(eq(str, (char *)s1->resource_id, "h1"));
    cr_assert(eq(str, (char *)s1->metric, "cpu"));
    cr_assert(eq(sz, s1->n_labels, 2));
    cr_assert(eq(str, (char *)s1->labels[0].key, "a"));
    cr_assert(eq(str, (char *)s1->labels[1].value, "2"));
    cr_assert(eq(str, (char *)s1->labels_json, "{\"a\":\"1\",\"b\":\"2\"}"));
    cr_assert(not(eq(ptr, get("h1", "cpu", NULL, 0), s1)), "no labels is another series");
    cr_assert(eq(sz, table.count, 2));
}

Test(series, a_key_too_long_or_with_too_many_labels_is_refused)
{
    struct aiops_label many[AIOPS_SERIES_MAX_LABELS + 1];
    struct aiops_metric_point p = {
        .resource_id = "h", .metric = "m", .labels = many, .n_labels = AIOPS_SERIES_MAX_LABELS + 1};
    char key[64], big[2000];

    for (size_t i = 0; i < AIOPS_SERIES_MAX_LABELS + 1; i++)
        many[i] = (struct aiops_label){"k", "v"};
    cr_assert(eq(int, aiops_series_key(&p, key, sizeof(key)), AIOPS_E2BIG));
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    p = (struct aiops_metric_point){.resource_id = big, .metric = "m"};
    cr_assert(eq(int, aiops_series_key(&p, key, sizeof(key)), AIOPS_E2BIG));
}

Test(series, the_first_matching_rule_chooses_methods_and_window)
{
    char errbuf[256];
    struct aiops_config_rule rule = {
        .match = "latency*", .sensitivity = AIOPS_SENSITIVITY_HIGH, .window = 32};
    char *methods[] = {"prophet", "z-score"};
    struct aiops_series *lat, *cpu;

    (void)errbuf;
    rule.methods = methods;
    rule.n_methods = 2;
    cfg.rules = &rule;
    cfg.n_rules = 1;
    lat = get("h1", "latency_p99", NULL, 0);
    cpu = get("h1", "cpu", NULL, 0);
    cfg.rules = NULL;
    cfg.n_rules = 0;
    cr_assert(eq(sz, lat->n_detectors, 2));
    cr_assert(eq(str, (char *)lat->detectors[0]->ops->name, "prophet"));
    cr_assert(eq(str, (char *)lat->detectors[1]->ops->name, "z-score"));
    cr_assert(eq(u32, lat->cap, 32));
    cr_assert(eq(int, (int)lat->detectors[1]->params.sensitivity, AIOPS_SENSITIVITY_HIGH));
    cr_assert(eq(sz, cpu->n_detectors, 1));
    cr_assert(eq(str, (char *)cpu->detectors[0]->ops->name, "z-score"));
    cr_assert(eq(u32, cpu->cap, 16));
}

Test(series, the_ring_keeps_the_newest_window_oldest_first)
{
    struct aiops_series *s = get("h1", "cpu", NULL, 0);
    struct aiops_series_sample x;
    struct aiops_verdict v;
    size_t which;

    for (int i = 0; i < 40; i++)
        aiops_series_update(s, T0 + i * 1000, 10.0 + i, &v, &which);
    cr_assert(eq(u32, s->count, 16));
    aiops_series_sample(s, 0, &x);
    cr_assert(eq(i64, x.ts_ms, T0 + 24 * 1000));
    cr_assert(eq(dbl, x.value, 34.0));
    aiops_series_sample(s, 15, &x);
    cr_assert(eq(i64, x.ts_ms, T0 + 39 * 1000));
    cr_assert(eq(u64, s->points, 40));
}

Test(series, a_spike_is_scored_anomalous_and_kept_with_its_score)
{
    struct aiops_series *s = get("h1", "cpu", NULL, 0);
    struct aiops_series_sample x;
    struct aiops_verdict v;
    uint64_t noise = 7;
    size_t which;

    for (int i = 0; i < 30; i++) {
        aiops_series_update(s, T0 + i * 1000, 50.0 + aiops_test_noise(&noise), &v, &which);
        cr_assert(not(v.is_anomaly), "point %d", i);
    }
    aiops_series_update(s, T0 + 30 * 1000, 500.0, &v, &which);
    cr_assert(v.is_anomaly);
    aiops_series_sample(s, s->count - 1, &x);
    cr_assert(x.is_anomaly);
    cr_assert(gt(dbl, x.score, 0.5));
    cr_assert(eq(u64, s->anomalies, 1));
}

Test(series, timestamps_more_than_49_days_apart_still_fit_the_ring)
{
    struct aiops_series *s = get("h1", "cpu", NULL, 0);
    struct aiops_series_sample x;
    struct aiops_verdict v;
    size_t which;
    int64_t day = 86400000;

    for (int i = 0; i < 100; i++) /* one point a day for 100 days */
        aiops_series_update(s, T0 + i * day, i, &v, &which);
    for (uint32_t i = 0; i < s->count; i++) {
        aiops_series_sample(s, i, &x);
        cr_assert(eq(i64, x.ts_ms, T0 + (84 + (int64_t)i) * day));
    }
}

static int evicted;
static void on_evict(void *ctx, struct aiops_series *s)
{
    (void)ctx;
    cr_assert(eq(str, (char *)s->resource_id, "h1"), "the least recently updated goes");
    evicted++;
}

Test(series, a_full_table_evicts_the_series_idle_longest)
{
    struct aiops_metric_point p = {.resource_id = "h3", .metric = "cpu", .ts_ms = T0};
    struct aiops_series *s1, *s2, *s3;
    char key[256];
    int n;

    cfg.max_series = 2;
    s1 = get("h1", "cpu", NULL, 0);
    s2 = get("h2", "cpu", NULL, 0);
    aiops_series_touch(&table, s2, 10);
    aiops_series_touch(&table, s1, 20);
    aiops_series_touch(&table, s2, 30); /* h1 is now the idle one */
    n = aiops_series_key(&p, key, sizeof(key));
    cr_assert(eq(int, aiops_series_create(&table, &p, key, (size_t)n, &s3, on_evict, NULL), 0));
    cr_assert(eq(int, evicted, 1));
    cr_assert(eq(sz, table.count, 2));
    cr_assert(eq(u64, table.stats.evicted_full, 1));
}

Test(series, a_restored_checkpoint_scores_like_the_uninterrupted_series)
{
    struct aiops_series *a = get("h1", "cpu", NULL, 0), *b;
    struct aiops_verdict va, vb;
    uint64_t noise = 3;
    size_t which, len;
    void *blob;

    for (int i = 0; i < 50; i++)
        aiops_series_update(a, T0 + i * 1000, 100.0 + aiops_test_gauss(&noise), &va, &which);
    cr_assert(eq(int, aiops_series_checkpoint(a, &blob, &len), 0));
    cr_assert(eq(int,
                 aiops_series_restore(&table,
                                      "h9\x1f"
                                      "cpu",
                                      blob, len, NULL, NULL),
                 0));
    aiops_free(blob);
    b = aiops_series_find(&table,
                          "h9\x1f"
                          "cpu",
                          6);
    cr_assert(not(eq(ptr, b, NULL)));
    cr_assert(eq(u32, b->count, a->count));
    cr_assert(eq(i64, b->last_ts_ms, a->last_ts_ms));
    for (int i = 50; i < 80; i++) {
        double x = i == 70 ? 130.0 : 100.0 + aiops_test_gauss(&noise);

        aiops_series_update(a, T0 + i * 1000, x, &va, &which);
        aiops_series_update(b, T0 + i * 1000, x, &vb, &which);
        cr_assert(eq(int, va.is_anomaly, vb.is_anomaly), "point %d", i);
        cr_assert(lt(dbl, fabs(va.score - vb.score), 1e-3), "point %d", i);
    }
    cr_assert(eq(u64, b->anomalies, 1), "the spike at 70, found without a new warm-up");
}

Test(series, a_damaged_checkpoint_is_refused)
{
    char junk[40] = {0};

    cr_assert(eq(int, aiops_series_restore(&table, "h\x1fm", junk, sizeof(junk), NULL, NULL),
                 AIOPS_EINVAL));
    cr_assert(
        eq(int, aiops_series_restore(&table, "no-separator", junk, 4, NULL, NULL), AIOPS_EINVAL));
    cr_assert(eq(sz, table.count, 0));
}

Test(series, creation_survives_every_allocation_failure)
{
    struct aiops_metric_point p = {.resource_id = "h1", .metric = "cpu", .ts_ms = T0};
    struct aiops_series *s;
    char key[256];
    long live = aiops_mem_live();
    int n = aiops_series_key(&p, key, sizeof(key)), err;

    for (long k = 0;; k++) {
        aiops_mem_fail_after(k);
        err = aiops_series_create(&table, &p, key, (size_t)n, &s, NULL, NULL);
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", k);
        cr_assert(eq(sz, table.count, 0));
    }
    cr_assert(eq(sz, table.count, 1));
}

Test(series, a_forecaster_series_keeps_its_band_and_others_keep_none)
{
    struct aiops_config_rule rule = {
        .match = "latency*", .sensitivity = AIOPS_SENSITIVITY_MEDIUM, .window = 512};
    char *methods[] = {"prophet"};
    struct aiops_series *lat, *cpu;
    struct aiops_series_sample x;
    struct aiops_verdict v;
    uint64_t noise = 5;
    size_t which;

    rule.methods = methods;
    rule.n_methods = 1;
    cfg.rules = &rule;
    cfg.n_rules = 1;
    lat = get("h1", "latency", NULL, 0);
    cpu = get("h1", "cpu", NULL, 0);
    cfg.rules = NULL;
    cfg.n_rules = 0;
    cr_assert(not(eq(ptr, lat->expected, NULL)));
    cr_assert(eq(ptr, cpu->expected, NULL), "a z-score series pays for no band");
    for (int i = 0; i < 400; i++) {
        double y = 100.0 + 20.0 * sin(2 * M_PI * i / 96.0) + aiops_test_gauss(&noise);

        aiops_series_update(lat, T0 + (int64_t)i * 900000, y, &v, &which);
        aiops_series_update(cpu, T0 + (int64_t)i * 900000, y, &v, &which);
    }
    aiops_series_sample(lat, lat->count - 1, &x);
    cr_assert(isfinite(x.expected) && isfinite(x.lower) && isfinite(x.upper),
              "the forecaster's band is kept once it is warm");
    cr_assert(lt(dbl, x.lower, x.expected));
    cr_assert(gt(dbl, x.upper, x.expected));
    cr_assert(lt(dbl, fabs(x.expected - x.value), 10.0), "the band follows the daily shape");
    aiops_series_sample(cpu, cpu->count - 1, &x);
    cr_assert(isnan(x.expected));
}
