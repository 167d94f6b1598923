/* SPDX-License-Identifier: MIT */
/* The series table (see series.h): a uthash map from series key to its ring and detectors, and
 * an intrusive list ordered by last update for idle eviction. */
#include "agent/err.h"
#include "agent/mem.h"

#include "agent/hash.h" /* before any header that includes <uthash.h> */

#include "agent/series.h"

#include "config/config.h"
#include "transports/api_json.h"

#include <assert.h>
#include <fnmatch.h>
#include <math.h>
#include <string.h>

#define KEY_SEP   '\x1f' /* between resource, metric and labels */
#define LABEL_SEP '\x1e' /* between a label's key and value */

#define CHECKPOINT_MAGIC 0x31434f41u /* "AOC1" */

void aiops_series_table_init(struct aiops_series_table *t, const struct aiops_config *cfg)
{
    memset(t, 0, sizeof(*t));
    t->cfg = cfg;
}

static void destroy(struct aiops_series *s)
{
    for (size_t i = 0; i < s->n_detectors; i++)
        aiops_detector_destroy(s->detectors[i]);
    aiops_free(s);
}

void aiops_series_table_fini(struct aiops_series_table *t)
{
    struct aiops_series *s, *tmp;

    HASH_ITER(hh, t->by_key, s, tmp)
    {
        HASH_DEL(t->by_key, s);
        destroy(s);
    }
    t->idle_head = t->idle_tail = NULL;
    t->count = 0;
}

int aiops_series_key(const struct aiops_metric_point *p, char *buf, size_t len)
{
    const struct aiops_label *sorted[AIOPS_SERIES_MAX_LABELS] = {0};
    size_t n = 0;

    if (p->n_labels > AIOPS_SERIES_MAX_LABELS)
        return AIOPS_E2BIG;
    /* Labels sorted by key, so {a,b} and {b,a} are one series (insertion sort: few labels). */
    for (size_t i = 0; i < p->n_labels; i++) {
        size_t j = i;

        while (j > 0 && strcmp(sorted[j - 1]->key, p->labels[i].key) > 0) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = &p->labels[i];
    }
#define PUT(s, sep)                                                                                \
    do {                                                                                           \
        size_t l_ = strlen(s);                                                                     \
        if (n + l_ + 2 > len)                                                                      \
            return AIOPS_E2BIG;                                                                    \
        memcpy(buf + n, s, l_);                                                                    \
        n += l_;                                                                                   \
        buf[n++] = (sep);                                                                          \
    } while (0)
    PUT(p->resource_id, KEY_SEP);
    PUT(p->metric, KEY_SEP);
    for (size_t i = 0; i < p->n_labels; i++) {
        PUT(sorted[i]->key, LABEL_SEP);
        PUT(sorted[i]->value, KEY_SEP);
    }
#undef PUT
    buf[--n] = '\0'; /* the last separator */
    return (int)n;
}

struct aiops_series *aiops_series_find(struct aiops_series_table *t, const char *key, size_t len)
{
    struct aiops_series *s;

    HASH_FIND(hh, t->by_key, key, len, s);
    return s;
}

static void idle_unlink(struct aiops_series_table *t, struct aiops_series *s)
{
    if (s->idle_prev != NULL)
        s->idle_prev->idle_next = s->idle_next;
    else
        t->idle_head = s->idle_next;
    if (s->idle_next != NULL)
        s->idle_next->idle_prev = s->idle_prev;
    else
        t->idle_tail = s->idle_prev;
    s->idle_prev = s->idle_next = NULL;
}

static void idle_append(struct aiops_series_table *t, struct aiops_series *s)
{
    s->idle_prev = t->idle_tail;
    s->idle_next = NULL;
    if (t->idle_tail != NULL)
        t->idle_tail->idle_next = s;
    else
        t->idle_head = s;
    t->idle_tail = s;
}

void aiops_series_touch(struct aiops_series_table *t, struct aiops_series *s, uint64_t now_ms)
{
    s->last_seen_ms = now_ms;
    if (t->idle_tail == s)
        return;
    idle_unlink(t, s);
    idle_append(t, s);
}

void aiops_series_remove(struct aiops_series_table *t, struct aiops_series *s)
{
    HASH_DEL(t->by_key, s);
    idle_unlink(t, s);
    t->count--;
    destroy(s);
}

/* The methods, sensitivity and window of the first rule matching metric, or the defaults. */
struct choice {
    const char *methods[AIOPS_SERIES_MAX_DETECTORS];
    size_t n;
    enum aiops_sensitivity sensitivity;
    uint32_t window;
    char defaults[256]; /* stream_methods, split in place */
};

static void choose(const struct aiops_config *cfg, const char *metric, struct choice *c)
{
    c->n = 0;
    c->window = cfg->window;
    if (aiops_sensitivity_parse(cfg->default_sensitivity, &c->sensitivity) < 0)
        c->sensitivity = AIOPS_SENSITIVITY_MEDIUM;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct aiops_config_rule *r = &cfg->rules[i];

        if (fnmatch(r->match, metric, 0) != 0)
            continue;
        for (size_t j = 0; j < r->n_methods && c->n < AIOPS_SERIES_MAX_DETECTORS; j++)
            c->methods[c->n++] = r->methods[j];
        c->sensitivity = r->sensitivity;
        if (r->window != 0)
            c->window = r->window;
        return;
    }
    snprintf(c->defaults, sizeof(c->defaults), "%s", cfg->stream_methods);
    for (char *save = NULL, *m = strtok_r(c->defaults, ",", &save);
         m != NULL && c->n < AIOPS_SERIES_MAX_DETECTORS; m = strtok_r(NULL, ",", &save))
        c->methods[c->n++] = m;
}

static int labels_json(const struct aiops_metric_point *p, struct aiops_buf *b)
{
    aiops_buf_puts(b, "{");
    for (size_t i = 0; i < p->n_labels; i++) {
        if (i > 0)
            aiops_buf_puts(b, ",");
        aiops_json_string(b, p->labels[i].key, strlen(p->labels[i].key));
        aiops_buf_puts(b, ":");
        aiops_json_string(b, p->labels[i].value, strlen(p->labels[i].value));
    }
    aiops_buf_puts(b, "}");
    return b->err;
}

/* Parses key into p (labels into labels[]); works on copy. */
static int parse_key(char *copy, struct aiops_metric_point *p,
                     struct aiops_label labels[AIOPS_SERIES_MAX_LABELS])
{
    char *sep;

    p->resource_id = copy;
    sep = strchr(copy, KEY_SEP);
    if (sep == NULL || sep == copy)
        return AIOPS_EINVAL;
    *sep = '\0';
    p->metric = sep + 1;
    p->n_labels = 0;
    p->labels = labels;
    sep = strchr(sep + 1, KEY_SEP);
    while (sep != NULL) {
        char *lv;

        *sep = '\0';
        if (p->n_labels == AIOPS_SERIES_MAX_LABELS)
            return AIOPS_EINVAL;
        labels[p->n_labels].key = sep + 1;
        lv = strchr(sep + 1, LABEL_SEP);
        if (lv == NULL)
            return AIOPS_EINVAL;
        *lv = '\0';
        labels[p->n_labels].value = lv + 1;
        p->n_labels++;
        sep = strchr(lv + 1, KEY_SEP);
    }
    return p->metric[0] != '\0' ? 0 : AIOPS_EINVAL;
}

static int make_series(struct aiops_series_table *t, const struct aiops_metric_point *p,
                       const char *key, size_t key_len, struct aiops_series **out)
{
    struct aiops_label labels[AIOPS_SERIES_MAX_LABELS];
    bool band;
    struct aiops_detector_params params;
    struct aiops_metric_point parsed;
    struct aiops_series *s;
    struct aiops_buf lj;
    struct choice c;
    size_t size, off;
    char *mem;
    int err;

    char sorted_key[AIOPS_SERIES_KEY_MAX];

    if (key_len >= sizeof(sorted_key))
        return AIOPS_EINVAL;
    choose(t->cfg, p->metric, &c);
    /* The labels as the key holds them (sorted), for labels_json. */
    memcpy(sorted_key, key, key_len);
    sorted_key[key_len] = '\0';
    if (parse_key(sorted_key, &parsed, labels) < 0 || parsed.n_labels != p->n_labels)
        return AIOPS_EINVAL;
    aiops_buf_init(&lj);
    err = labels_json(&parsed, &lj);
    if (err < 0)
        goto err_fini_labels;
    band = false;
    for (size_t i = 0; i < c.n; i++)
        band = band || strcmp(c.methods[i], "prophet") == 0 || strcmp(c.methods[i], "auto") == 0;
    /* One block: the struct, the labels, the ring's arrays, the key twice (one split), the
     * labels' JSON. */
    size = sizeof(*s) + p->n_labels * sizeof(struct aiops_label) +
           (size_t)c.window * (sizeof(uint32_t) + sizeof(float) * (band ? 4 : 1) + 1) +
           2 * (key_len + 1) + lj.len + 1;
    mem = aiops_calloc(1, size);
    if (mem == NULL) {
        err = AIOPS_ENOMEM;
        goto err_fini_labels;
    }
    s = (struct aiops_series *)mem;
    off = sizeof(*s);
    s->labels = (struct aiops_label *)(mem + off);
    off += p->n_labels * sizeof(struct aiops_label);
    s->ts_off = (uint32_t *)(mem + off);
    off += (size_t)c.window * sizeof(uint32_t);
    // cppcheck-suppress invalidPointerCast ; raw bytes of the block, 4-byte aligned here
    s->values = (float *)(mem + off);
    off += (size_t)c.window * sizeof(float);
    if (band) {
        float **arrays[3] = {&s->expected, &s->lower, &s->upper};

        for (int i = 0; i < 3; i++) {
            // cppcheck-suppress invalidPointerCast ; raw bytes of the block, 4-byte aligned
            *arrays[i] = (float *)(mem + off);
            off += (size_t)c.window * sizeof(float);
        }
    }
    s->scores = (uint8_t *)(mem + off);
    off += c.window;
    memcpy(mem + off, key, key_len);
    s->key = mem + off;
    off += key_len + 1;
    memcpy(mem + off, key, key_len);
    if (parse_key(mem + off, &parsed, labels) < 0 || parsed.n_labels != p->n_labels) {
        err = AIOPS_EINVAL;
        goto err_destroy;
    }
    s->resource_id = parsed.resource_id;
    s->metric = parsed.metric;
    s->n_labels = parsed.n_labels;
    memcpy(s->labels, labels, parsed.n_labels * sizeof(labels[0]));
    off += key_len + 1;
    memcpy(mem + off, lj.data, lj.len);
    s->labels_json = mem + off;
    s->cap = c.window;
    s->last_ts_ms = INT64_MIN;
    aiops_config_detector_params(t->cfg, c.sensitivity, &params);
    params.window = c.window;
    for (size_t i = 0; i < c.n; i++) {
        const struct aiops_detector_ops *ops = aiops_detector_find(c.methods[i]);

        if (ops == NULL) { /* validated at load; a rule could still name a removed method */
            err = AIOPS_EINVAL;
            goto err_destroy;
        }
        err = aiops_detector_create(&s->detectors[s->n_detectors], ops, &params);
        if (err < 0)
            goto err_destroy;
        s->n_detectors++;
    }
    aiops_buf_fini(&lj);
    *out = s;
    return 0;
err_destroy:
    destroy(s);
err_fini_labels:
    aiops_buf_fini(&lj);
    return err;
}

static int insert(struct aiops_series_table *t, struct aiops_series *s,
                  void (*on_evict)(void *ctx, struct aiops_series *s), void *ctx)
{
    if (t->count >= t->cfg->max_series && t->idle_head != NULL) {
        struct aiops_series *victim = t->idle_head;

        t->stats.evicted_full++;
        if (on_evict != NULL)
            on_evict(ctx, victim);
        aiops_series_remove(t, victim);
    }
    aiops_hash_add_failed = false;
    HASH_ADD_KEYPTR(hh, t->by_key, s->key, strlen(s->key), s);
    if (aiops_hash_add_failed)
        return AIOPS_ENOMEM;
    idle_append(t, s);
    t->count++;
    t->stats.created++;
    return 0;
}

int aiops_series_create(struct aiops_series_table *t, const struct aiops_metric_point *p,
                        const char *key, size_t key_len, struct aiops_series **out,
                        void (*on_evict)(void *ctx, struct aiops_series *s), void *ctx)
{
    struct aiops_series *s;
    int err;

    err = make_series(t, p, key, key_len, &s);
    if (err < 0)
        return err;
    err = insert(t, s, on_evict, ctx);
    if (err < 0) {
        destroy(s);
        return err;
    }
    *out = s;
    return 0;
}

/* 7 bits of score, rounded up so that a held score (AIOPS_SCORE_HELD) still reads as held when a
 * checkpoint rebuilds the open event. */
static uint8_t pack_score(double score, bool anomaly)
{
    double q = ceil(fmin(fmax(score, 0.0), 1.0) * 127.0 - 1e-9);

    return (uint8_t)((anomaly ? 0x80 : 0) | (uint8_t)q);
}

/* Keeps ts_ms representable as a 32-bit offset: rebases on the oldest point, or forgets a ring
 * older than 49 days. */
static void ring_fit(struct aiops_series *s, int64_t ts_ms)
{
    uint32_t oldest, shift;

    if (s->count == 0) {
        s->base_ms = ts_ms;
        return;
    }
    if (ts_ms - s->base_ms <= (int64_t)UINT32_MAX)
        return;
    oldest = s->ts_off[(s->head + s->cap - s->count) % s->cap];
    if (ts_ms - (s->base_ms + oldest) > (int64_t)UINT32_MAX) {
        s->count = 0;
        s->head = 0;
        s->base_ms = ts_ms;
        return;
    }
    shift = oldest;
    for (uint32_t i = 0; i < s->cap; i++)
        s->ts_off[i] -= s->ts_off[i] >= shift ? shift : s->ts_off[i];
    s->base_ms += shift;
}

static void ring_push(struct aiops_series *s, int64_t ts_ms, double value,
                      const struct aiops_verdict *v, uint8_t score)
{
    ring_fit(s, ts_ms);
    s->ts_off[s->head] = (uint32_t)(ts_ms - s->base_ms);
    s->values[s->head] = (float)value;
    s->scores[s->head] = score;
    if (s->expected != NULL) {
        s->expected[s->head] = (float)v->expected;
        s->lower[s->head] = (float)v->lower;
        s->upper[s->head] = (float)v->upper;
    }
    if (++s->head == s->cap)
        s->head = 0;
    if (s->count < s->cap)
        s->count++;
}

void aiops_series_update(struct aiops_series *s, int64_t ts_ms, double value,
                         struct aiops_verdict *out, size_t *which)
{
    struct aiops_point p = {.ts_ms = ts_ms, .value = value};
    struct aiops_verdict v;
    bool any;

    *which = 0;
    *out = (struct aiops_verdict){
        .score = 0.0, .expected = NAN, .lower = NAN, .upper = NAN, .statistic = NAN};
    for (size_t i = 0; i < s->n_detectors; i++) {
        aiops_detector_update(s->detectors[i], &p, &v);
        /* An anomalous verdict beats a normal one; among equals the higher score wins. */
        if (i == 0 || (v.is_anomaly && !out->is_anomaly) ||
            (v.is_anomaly == out->is_anomaly && v.score > out->score)) {
            *out = v;
            *which = i;
        }
    }
    any = out->is_anomaly;
    ring_push(s, ts_ms, value, out, pack_score(out->score, any));
    s->last_ts_ms = ts_ms;
    s->points++;
    if (any)
        s->anomalies++;
    s->dirty = true;
}

void aiops_series_sample(const struct aiops_series *s, uint32_t i, struct aiops_series_sample *out)
{
    uint32_t at = (s->head + s->cap - s->count + i) % s->cap;

    assert(i < s->count);
    out->ts_ms = s->base_ms + s->ts_off[at];
    out->value = s->values[at];
    out->score = (double)(s->scores[at] & 0x7f) / 127.0;
    out->is_anomaly = (s->scores[at] & 0x80) != 0;
    out->expected = s->expected != NULL ? s->expected[at] : NAN;
    out->lower = s->lower != NULL ? s->lower[at] : NAN;
    out->upper = s->upper != NULL ? s->upper[at] : NAN;
}

/* Blob: magic, count, base_ms, then count (offset, value) pairs, little-endian host order
 * (checkpoints are read back by agents of the same build on the same kind of machine). */
struct blob_head {
    uint32_t magic;
    uint32_t count;
    int64_t base_ms;
};

int aiops_series_checkpoint(const struct aiops_series *s, void **blob, size_t *len)
{
    struct blob_head h = {.magic = CHECKPOINT_MAGIC, .count = s->count, .base_ms = s->base_ms};
    size_t n = sizeof(h) + (size_t)s->count * (sizeof(uint32_t) + sizeof(float));
    char *b = aiops_malloc(n), *p;

    if (b == NULL)
        return AIOPS_ENOMEM;
    memcpy(b, &h, sizeof(h));
    p = b + sizeof(h);
    for (uint32_t i = 0; i < s->count; i++) {
        uint32_t at = (s->head + s->cap - s->count + i) % s->cap;

        memcpy(p, &s->ts_off[at], sizeof(uint32_t));
        memcpy(p + sizeof(uint32_t), &s->values[at], sizeof(float));
        p += sizeof(uint32_t) + sizeof(float);
    }
    *blob = b;
    *len = n;
    return 0;
}

int aiops_series_restore(struct aiops_series_table *t, const char *key, const void *blob,
                         size_t len, void (*on_evict)(void *ctx, struct aiops_series *s), void *ctx)
{
    struct aiops_label labels[AIOPS_SERIES_MAX_LABELS];
    struct aiops_metric_point p;
    struct aiops_series *s, *old;
    struct blob_head h;
    char copy[AIOPS_SERIES_KEY_MAX];
    const char *q;
    size_t key_len = strlen(key);
    int err;

    if (key_len >= sizeof(copy) || len < sizeof(h))
        return AIOPS_EINVAL;
    memcpy(&h, blob, sizeof(h));
    if (h.magic != CHECKPOINT_MAGIC ||
        len != sizeof(h) + (size_t)h.count * (sizeof(uint32_t) + sizeof(float)))
        return AIOPS_EINVAL;
    memcpy(copy, key, key_len + 1);
    err = parse_key(copy, &p, labels);
    if (err < 0)
        return err;
    err = make_series(t, &p, key, key_len, &s);
    if (err < 0)
        return err;
    q = (const char *)blob + sizeof(h);
    /* Feed the newest cap points (a checkpoint from a larger window keeps its tail). */
    for (uint32_t i = 0; i < h.count; i++, q += sizeof(uint32_t) + sizeof(float)) {
        struct aiops_verdict v;
        uint32_t off;
        float value;
        size_t which;

        if (h.count - i > s->cap)
            continue;
        memcpy(&off, q, sizeof(off));
        memcpy(&value, q + sizeof(off), sizeof(value));
        if (h.base_ms + off <= s->last_ts_ms || !isfinite(value))
            continue;
        aiops_series_update(s, h.base_ms + off, value, &v, &which);
    }
    s->points = 0; /* counts are of what this process saw */
    s->anomalies = 0;
    s->dirty = false;
    old = aiops_series_find(t, key, key_len);
    if (old != NULL)
        aiops_series_remove(t, old);
    err = insert(t, s, on_evict, ctx);
    if (err < 0) {
        destroy(s);
        return err;
    }
    t->stats.restored++;
    return 0;
}
