/* SPDX-License-Identifier: MIT */
/* JSON payloads (payload.h): our schema, Telegraf's json serializer and collectd's JSON, told
 * apart per object by their keys. yajl's callbacks build a small document tree in one arena
 * (strings copied NUL-terminated, so points point straight into it); the tree is then walked
 * twice, to validate and to emit.
 *
 * Rules: booleans are not numbers anywhere. Telegraf string and boolean fields are skipped, as
 * in the Influx line protocol, so a metric decodes the same in both. collectd writes a NaN gauge
 * as null: no data, skipped; counters and derives are passed on as written (no rates). */
#include "transports/payload.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload_internal.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define MAX_DEPTH 32 /* deeper nesting is rejected: none of the formats goes past 4 */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    uint8_t type; /* enum jtype */
    bool is_int;  /* J_NUM written as an integer that fits i */
    size_t n;     /* J_STR bytes; J_ARR items; J_OBJ members */
    int64_t i;    /* J_NUM when is_int */
    union {
        double d;        /* J_NUM */
        const char *s;   /* J_STR, NUL-terminated */
        struct jv *kids; /* J_ARR: n items; J_OBJ: 2n, key then value */
    } u;
};

struct chunk {
    struct chunk *next;
    size_t cap, used; /* bytes of data */
    alignas(max_align_t) unsigned char data[];
};

struct builder {
    struct chunk *chunks;
    struct jv *stack; /* values of the open containers, in order */
    size_t top, cap;
    size_t open[MAX_DEPTH]; /* index in stack of each open container */
    unsigned depth;
    int err;         /* AIOPS_ENOMEM, or AIOPS_EINVAL when too deep */
    size_t too_deep; /* byte offset of the container that was too deep */
    yajl_handle h;
};

static void *arena_alloc(struct builder *b, size_t n)
{
    struct chunk *c = b->chunks;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = c != NULL ? c->cap * 2 : 4096;

        if (cap < n)
            cap = n;
        c = aiops_malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->next = b->chunks;
        c->cap = cap;
        c->used = 0;
        b->chunks = c;
    }
    p = c->data + c->used;
    c->used += n;
    return p;
}

static struct jv *push(struct builder *b, enum jtype t)
{
    struct jv *v;

    if (b->err < 0)
        return NULL;
    if (pl_reserve((void **)&b->stack, &b->cap, b->top + 1, sizeof(*b->stack)) < 0) {
        b->err = AIOPS_ENOMEM;
        return NULL;
    }
    v = &b->stack[b->top++];
    memset(v, 0, sizeof(*v));
    v->type = (uint8_t)t;
    return v;
}

static int cb_null(void *ctx)
{
    return push(ctx, J_NULL) != NULL;
}

static int cb_boolean(void *ctx, int val)
{
    struct jv *v = push(ctx, J_BOOL);

    if (v != NULL)
        v->i = val != 0;
    return v != NULL;
}

static int cb_number(void *ctx, const char *s, size_t len)
{
    struct jv *v = push(ctx, J_NUM);
    char tmp[64], *num = tmp, *end;
    bool integral = true;

    if (v == NULL)
        return 0;
    if (len >= sizeof(tmp)) {
        num = arena_alloc(ctx, len + 1);
        if (num == NULL) {
            ((struct builder *)ctx)->err = AIOPS_ENOMEM;
            return 0;
        }
    }
    memcpy(num, s, len);
    num[len] = '\0';
    for (size_t k = 0; k < len; k++)
        integral &= s[k] != '.' && s[k] != 'e' && s[k] != 'E';
    v->u.d = strtod(num, NULL); /* out of range: +-inf, rejected where a value is needed */
    if (integral) {
        errno = 0;
        v->i = strtoll(num, &end, 10);
        v->is_int = errno == 0 && *end == '\0';
    }
    return 1;
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    struct builder *b = ctx;
    struct jv *v = push(b, J_STR);
    char *copy;

    if (v == NULL)
        return 0;
    copy = arena_alloc(b, len + 1);
    if (copy == NULL) {
        b->err = AIOPS_ENOMEM;
        return 0;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->u.s = copy;
    v->n = len;
    return 1;
}

static int cb_start(struct builder *b, enum jtype t)
{
    if (b->depth == MAX_DEPTH) {
        b->err = AIOPS_EINVAL;
        b->too_deep = yajl_get_bytes_consumed(b->h);
        return 0;
    }
    if (push(b, t) == NULL)
        return 0;
    b->open[b->depth++] = b->top - 1;
    return 1;
}

static int cb_start_map(void *ctx)
{
    return cb_start(ctx, J_OBJ);
}

static int cb_start_array(void *ctx)
{
    return cb_start(ctx, J_ARR);
}

/* Moves the open container's children from the stack into the arena. */
static int cb_end(void *ctx)
{
    struct builder *b = ctx;
    size_t at = b->open[--b->depth], n = b->top - at - 1;
    struct jv *c = &b->stack[at];

    if (n > 0) {
        struct jv *kids = arena_alloc(b, n * sizeof(*kids));

        if (kids == NULL) {
            b->err = AIOPS_ENOMEM;
            return 0;
        }
        memcpy(kids, c + 1, n * sizeof(*kids));
        c->u.kids = kids;
    }
    c->n = c->type == J_OBJ ? n / 2 : n;
    b->top = at + 1;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_string,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

static void builder_fini(struct builder *b)
{
    while (b->chunks != NULL) {
        struct chunk *next = b->chunks->next;
        aiops_free(b->chunks);
        b->chunks = next;
    }
    aiops_free(b->stack);
}

/* ---- walking the tree ---------------------------------------------------------------------- */

static const struct jv *get(const struct jv *o, const char *key)
{
    size_t kl = strlen(key);

    for (size_t k = 0; k < o->n; k++) {
        const struct jv *kv = &o->u.kids[2 * k];
        if (kv->n == kl && memcmp(kv->u.s, key, kl) == 0)
            return kv + 1;
    }
    return NULL;
}

static bool str_ok(const struct jv *v)
{
    return v != NULL && v->type == J_STR && pl_str_ok(v->u.s, v->n);
}

static bool num_ok(const struct jv *v)
{
    return v != NULL && v->type == J_NUM && isfinite(v->u.d);
}

static bool time_ok(const struct jv *v, int64_t *ms)
{
    if (v == NULL)
        return false;
    if (v->type == J_NUM)
        return v->is_int ? pl_epoch_int(v->i, ms) : pl_epoch_double(v->u.d, ms);
    if (v->type == J_STR)
        return pl_time_string(v->u.s, v->n, ms);
    return false;
}

/* Fills d->labels from a {str: str} object, leaving out the key `skip` (may be NULL). */
static int labels(struct pl_dec *d, const struct jv *o, const char *skip, const char *what,
                  size_t idx, size_t *n_out)
{
    size_t n = 0;
    int rc = pl_reserve_labels(d, o->n);

    if (rc < 0)
        return rc;
    for (size_t k = 0; k < o->n; k++) {
        const struct jv *key = &o->u.kids[2 * k], *val = key + 1;

        if (skip != NULL && strcmp(key->u.s, skip) == 0)
            continue;
        if (!str_ok(key) || !str_ok(val))
            return pl_fail(d, "schema", "%s %zu: label %zu is not a non-empty UTF-8 string pair",
                           what, idx, k);
        d->labels[n].key = key->u.s;
        d->labels[n].value = val->u.s;
        n++;
    }
    *n_out = n;
    return 0;
}

/* Our schema: {"resource_id", "metric" | "metric_name", "timestamp", "value", "labels"?}. */
static int our_point(struct pl_dec *d, const struct jv *o, size_t idx)
{
    const struct jv *res = get(o, "resource_id"), *met = get(o, "metric");
    const struct jv *lab = get(o, "labels");
    struct aiops_metric_point p = {0};
    int rc;

    if (met == NULL)
        met = get(o, "metric_name");
    if (!str_ok(res))
        return pl_fail(d, "schema", "point %zu: resource_id %s", idx,
                       res == NULL ? "missing" : "is not a non-empty UTF-8 string");
    if (!str_ok(met))
        return pl_fail(d, "schema", "point %zu: metric %s", idx,
                       met == NULL ? "missing" : "is not a non-empty UTF-8 string");
    if (!time_ok(get(o, "timestamp"), &p.ts_ms))
        return pl_fail(d, "timestamp",
                       "point %zu: timestamp missing or not an epoch number or "
                       "RFC 3339 string",
                       idx);
    if (!num_ok(get(o, "value")))
        return pl_fail(d, "value", "point %zu: value missing or not a finite number", idx);
    if (lab != NULL && lab->type == J_OBJ) {
        rc = labels(d, lab, NULL, "point", idx, &p.n_labels);
        if (rc < 0)
            return rc;
    } else if (lab != NULL && lab->type != J_NULL) {
        return pl_fail(d, "schema", "point %zu: labels is not an object", idx);
    }
    p.resource_id = res->u.s;
    p.metric = met->u.s;
    p.labels = d->labels;
    p.value = get(o, "value")->u.d;
    return pl_point(d, &p);
}

/* Telegraf: {"fields": {...}, "name": str, "tags": {...}, "timestamp": epoch}. */
static int telegraf_metric(struct pl_dec *d, const struct jv *o, size_t idx)
{
    const struct jv *name = get(o, "name"), *fields = get(o, "fields"), *tags = get(o, "tags");
    const struct jv *res = tags != NULL && tags->type == J_OBJ ? get(tags, d->resource_tag) : NULL;
    struct aiops_metric_point p = {0};
    int rc;

    if (!str_ok(name))
        return pl_fail(d, "schema", "metric %zu: name missing or not a non-empty string", idx);
    if (fields == NULL || fields->type != J_OBJ)
        return pl_fail(d, "schema", "metric %zu (%s): fields is not an object", idx, name->u.s);
    if (tags != NULL && tags->type != J_OBJ)
        return pl_fail(d, "schema", "metric %zu (%s): tags is not an object", idx, name->u.s);
    if (!str_ok(res))
        return pl_fail(d, "schema", "metric %zu (%s): tag \"%s\" naming the resource %s", idx,
                       name->u.s, d->resource_tag, res == NULL ? "missing" : "is not a string");
    if (!time_ok(get(o, "timestamp"), &p.ts_ms))
        return pl_fail(d, "timestamp", "metric %zu (%s): timestamp missing or not an epoch", idx,
                       name->u.s);
    rc = labels(d, tags, d->resource_tag, "metric", idx, &p.n_labels);
    if (rc < 0)
        return rc;
    p.resource_id = res->u.s;
    p.labels = d->labels;
    for (size_t k = 0; k < fields->n; k++) {
        const struct jv *key = &fields->u.kids[2 * k], *val = key + 1;

        if (val->type != J_NUM) /* strings, booleans: not measurements */
            continue;
        if (!str_ok(key))
            return pl_fail(d, "schema", "metric %zu (%s): field %zu has an empty or bad name", idx,
                           name->u.s, k);
        if (!isfinite(val->u.d))
            return pl_fail(d, "value", "metric %zu (%s): field %s is not finite", idx, name->u.s,
                           key->u.s);
        rc = pl_join(d, name->u.s, name->n, key->u.s, key->n, &p.metric);
        if (rc < 0)
            return rc;
        p.value = val->u.d;
        rc = pl_point(d, &p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Appends v to buf[0..*len) after sep (none at the start). A required part must be a
 * non-empty string; an optional one may be absent or "" (collectd writes "" for none). */
static bool part(char *buf, size_t *len, size_t cap, char sep, const struct jv *v, bool required)
{
    if (v == NULL || v->type != J_STR || v->n == 0)
        return !required && (v == NULL || v->type == J_STR);
    if (!pl_str_ok(v->u.s, v->n) || *len + 1 + v->n >= cap)
        return false;
    if (*len > 0)
        buf[(*len)++] = sep;
    memcpy(buf + *len, v->u.s, v->n);
    *len += v->n;
    return true;
}

/* collectd: {"values": [...], "dstypes": [...], "dsnames": [...], "time": s, "host", "plugin",
 * "plugin_instance", "type", "type_instance"}. The metric is
 * plugin[-plugin_instance].type[-type_instance], plus ".dsname" unless the dsname is "value". */
static int collectd_list(struct pl_dec *d, const struct jv *o, size_t idx)
{
    const struct jv *vals = get(o, "values"), *names = get(o, "dsnames");
    const struct jv *res = get(o, d->resource_tag);
    struct aiops_metric_point p = {0};
    char base[1024];
    size_t bl = 0, tl;
    int rc;

    if (res == NULL || res->type != J_STR)
        res = get(o, "host");
    if (vals == NULL || vals->type != J_ARR || names == NULL || names->type != J_ARR ||
        names->n != vals->n)
        return pl_fail(d, "schema",
                       "value list %zu: values and dsnames are not arrays of one "
                       "length",
                       idx);
    if (!str_ok(res))
        return pl_fail(d, "schema", "value list %zu: host missing or empty", idx);
    if (!part(base, &bl, sizeof(base), '-', get(o, "plugin"), true) ||
        !part(base, &bl, sizeof(base), '-', get(o, "plugin_instance"), false))
        return pl_fail(d, "schema", "value list %zu: bad plugin or plugin_instance", idx);
    tl = 0;
    base[bl++] = '.';
    if (!part(base + bl, &tl, sizeof(base) - bl, '-', get(o, "type"), true) ||
        !part(base + bl, &tl, sizeof(base) - bl, '-', get(o, "type_instance"), false))
        return pl_fail(d, "schema", "value list %zu: bad type or type_instance", idx);
    bl += tl;
    if (!time_ok(get(o, "time"), &p.ts_ms))
        return pl_fail(d, "timestamp", "value list %zu: time missing or not an epoch", idx);
    p.resource_id = res->u.s;
    for (size_t k = 0; k < vals->n; k++) {
        const struct jv *v = &vals->u.kids[k], *dn = &names->u.kids[k];
        bool plain;

        if (!str_ok(dn))
            return pl_fail(d, "schema", "value list %zu: dsnames[%zu] is not a string", idx, k);
        if (v->type == J_NULL) /* collectd's NaN gauge */
            continue;
        if (!num_ok(v))
            return pl_fail(d, "value", "value list %zu: values[%zu] is not a finite number", idx,
                           k);
        plain = strcmp(dn->u.s, "value") == 0;
        rc = pl_join(d, base, bl, plain ? NULL : dn->u.s, dn->n, &p.metric);
        if (rc < 0)
            return rc;
        p.value = v->u.d;
        rc = pl_point(d, &p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int one_object(struct pl_dec *d, const struct jv *o, size_t idx)
{
    if (o->type != J_OBJ)
        return pl_fail(d, "schema", "item %zu is not an object", idx);
    if (get(o, "fields") != NULL && get(o, "resource_id") == NULL)
        return telegraf_metric(d, o, idx);
    if (get(o, "values") != NULL && get(o, "dsnames") != NULL)
        return collectd_list(d, o, idx);
    return our_point(d, o, idx);
}

static int walk(struct pl_dec *d, void *state)
{
    const struct jv *root = state, *items = root;
    int rc;

    if (root->type == J_OBJ) {
        const struct jv *batch = get(root, "metrics");

        if (batch == NULL || batch->type != J_ARR || get(root, "resource_id") != NULL)
            return one_object(d, root, 0);
        items = batch; /* Telegraf's batch form {"metrics": [...]} */
    } else if (root->type != J_ARR) {
        return pl_fail(d, "schema", "the top-level value is not an object or an array");
    }
    for (size_t k = 0; k < items->n; k++) {
        rc = one_object(d, &items->u.kids[k], k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int aiops_payload_decode_json(const void *data, size_t len, const struct aiops_payload_options *o,
                              aiops_point_fn fn, void *ctx, struct aiops_payload_error *err)
{
    const unsigned char *s = data;
    struct builder b = {0};
    struct pl_dec d;
    yajl_status st;
    size_t i = 0, at;
    int rc;

    pl_init(&d, o, fn, ctx, err);
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == len) {
        rc = pl_fail(&d, "empty", "message of %zu bytes has no content", len);
        goto out_fini;
    }
    b.h = yajl_alloc(&callbacks, NULL, &b);
    if (b.h == NULL) {
        rc = AIOPS_ENOMEM;
        goto out_fini;
    }
    st = yajl_parse(b.h, s, len);
    at = yajl_get_bytes_consumed(b.h);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(b.h);
        at = len; /* what is missing is at the end */
    }
    if (b.err == AIOPS_ENOMEM) {
        rc = AIOPS_ENOMEM;
    } else if (b.err < 0) {
        rc = pl_fail(&d, "syntax", "JSON nested deeper than %d at byte %zu", MAX_DEPTH, b.too_deep);
    } else if (st != yajl_status_ok) {
        unsigned char *why = yajl_get_error(b.h, 0, s, len);
        const char *w = why != NULL ? (const char *)why : "invalid JSON";
        size_t wl = strcspn(w, "\n");

        rc = pl_fail(&d, "syntax", "JSON at byte %zu: %.*s", at, (int)wl, w);
        if (why != NULL)
            yajl_free_error(b.h, why);
    } else {
        rc = pl_run(&d, walk, &b.stack[0]);
    }
    yajl_free(b.h);
out_fini:
    builder_fini(&b);
    pl_fini(&d);
    return rc;
}
