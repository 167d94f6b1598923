/* SPDX-License-Identifier: MIT */
/* msgpack payloads (payload.h), the streaming hot path: our schema (one point map, an array of
 * them, or maps concatenated) and Telegraf's msgpack serializer ({"name", "time", "tags",
 * "fields"} maps, concatenated). msgpack-c parses each object of the message in turn into a
 * msgpack_object tree, checked whole, then walked into an array of validated points (at most
 * max_points, strings copied NUL-terminated into one arena); the first error rejects the
 * message, and points are emitted only when all of it passed.
 *
 * The parser is msgpack-c's own state machine (msgpack/unpack_template.h, which its
 * msgpack_unpack() instantiates) instantiated here with our callbacks, because with msgpack-c
 * 4.0.0's:
 *  - a container's announced count is allocated before its items are read: 96 GB for the
 *    6-byte array32 of 2^32-1 items (malloc fails), 1.6 GB of address space for a nested claim
 *    of 2^26 items (glibc and ASan grant it; libFuzzer's malloc limit does not). Ours refuse
 *    more items than the bytes left could hold (each takes one), so a tree never exceeds 24
 *    bytes per message byte;
 *  - errors say nothing of where: the template leaves the failing offset in *off;
 *  - nesting is bounded only at 32: MSGPACK_EMBED_STACK_SIZE, set before the template is
 *    included, makes it 16.
 * The tree lives in a thread-local msgpack_zone cleared after each object (the tree is dead
 * before the first callback runs, so a callback may decode again). Its chunk grows to hold the
 * largest tree seen, up to 4 MB, so the steady state mallocs nothing per message (zone chunks
 * malloc'ed and freed per message, and glibc trimming them, showed as page faults before).
 * msgpack-c allocates the zone with plain malloc, outside aiops_mem's counting: it is kept for
 * the thread's life by design. The per-message buffers (points, strings, labels) still go
 * through aiops_malloc and are what the allocation-failure tests fail.
 *
 * bench_payload (Release, 1,000 points per message; best and median of 12 runs on a shared
 * machine): our schema 257 and 268 ns/point, Telegraf 84 and 88 (the hand-written reader this
 * replaced: 197 and ~300, 78 and ~95). Parsing is about half (perf: ~130 ns/point); the
 * library's msgpack_unpack() alone takes 185-195 ns/point on the same message whether its zone
 * is kept (8 KB or 1 MB chunks), made per message (msgpack_unpack_next) or held by a
 * long-lived msgpack_unpacker: none of those is faster than this. */
#define MSGPACK_EMBED_STACK_SIZE 16 /* nested containers; none of the formats goes past 3 */

#include "transports/payload.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload_internal.h"

#include <math.h>
#include <msgpack.h>
#include <msgpack/unpack_define.h>
#include <string.h>

#define ZONE_CHUNK_MIN (64 * 1024)       /* bytes: a zone's first chunk */
#define ZONE_CHUNK_MAX (4 * 1024 * 1024) /* bytes: the most a thread keeps between messages */

/* ---- msgpack-c's unpacker, with bounded allocation ----------------------------------------- */

struct unpack_user {
    msgpack_zone *z;
    size_t items_left; /* announced items the bytes left can still hold */
    size_t used;       /* bytes taken from z */
    uint64_t refused;  /* the announced count refused, or 0 */
    bool nomem;
};

/* Takes n items (a map's pairs count twice) for o from the zone, if the message can hold them. */
static int take(struct unpack_user *u, unsigned int n, size_t items, msgpack_object_type type,
                msgpack_object *o)
{
    size_t size = items * sizeof(msgpack_object);
    void *p;

    if (items > u->items_left) {
        u->refused = n;
        return -1;
    }
    u->items_left -= items;
    o->type = type;
    o->via.array.size = 0; /* same layout as via.map; the items callbacks count up */
    o->via.array.ptr = NULL;
    if (n == 0)
        return 0;
    p = msgpack_zone_malloc(u->z, size);
    if (p == NULL) {
        u->nomem = true;
        return -1;
    }
    u->used += size;
    o->via.array.ptr = p;
    return 0;
}

static inline int cb_array(struct unpack_user *u, unsigned int n, msgpack_object *o)
{
    return take(u, n, n, MSGPACK_OBJECT_ARRAY, o);
}

static inline int cb_map(struct unpack_user *u, unsigned int n, msgpack_object *o)
{
    return take(u, n, 2 * (size_t)n, MSGPACK_OBJECT_MAP, o);
}

static inline int cb_array_item(struct unpack_user *u, msgpack_object *c, msgpack_object o)
{
    (void)u;
    c->via.array.ptr[c->via.array.size++] = o;
    return 0;
}

static inline int cb_map_item(struct unpack_user *u, msgpack_object *c, msgpack_object k,
                              msgpack_object v)
{
    (void)u;
    c->via.map.ptr[c->via.map.size].key = k;
    c->via.map.ptr[c->via.map.size++].val = v;
    return 0;
}

static inline msgpack_object cb_root(struct unpack_user *u)
{
    (void)u;
    return (msgpack_object){.type = MSGPACK_OBJECT_NIL};
}

static inline int cb_u64(struct unpack_user *u, uint64_t d, msgpack_object *o)
{
    (void)u;
    o->type = MSGPACK_OBJECT_POSITIVE_INTEGER, o->via.u64 = d;
    return 0;
}

static inline int cb_i64(struct unpack_user *u, int64_t d, msgpack_object *o)
{
    (void)u;
    if (d >= 0)
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER, o->via.u64 = (uint64_t)d;
    else
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER, o->via.i64 = d;
    return 0;
}

static inline int cb_f64(struct unpack_user *u, double d, msgpack_object *o)
{
    (void)u;
    o->type = MSGPACK_OBJECT_FLOAT64, o->via.f64 = d;
    return 0;
}

static inline int cb_nil(struct unpack_user *u, msgpack_object *o)
{
    (void)u;
    o->type = MSGPACK_OBJECT_NIL;
    return 0;
}

static inline int cb_bool(struct unpack_user *u, bool b, msgpack_object *o)
{
    (void)u;
    o->type = MSGPACK_OBJECT_BOOLEAN, o->via.boolean = b;
    return 0;
}

static inline int cb_true(struct unpack_user *u, msgpack_object *o)
{
    return cb_bool(u, true, o);
}

static inline int cb_false(struct unpack_user *u, msgpack_object *o)
{
    return cb_bool(u, false, o);
}

/* Strings, bin and ext point into the message. */
static inline int cb_str(struct unpack_user *u, const char *b, const char *p, unsigned int l,
                         msgpack_object *o)
{
    (void)u, (void)b;
    o->type = MSGPACK_OBJECT_STR, o->via.str.ptr = p, o->via.str.size = l;
    return 0;
}

static inline int cb_bin(struct unpack_user *u, const char *b, const char *p, unsigned int l,
                         msgpack_object *o)
{
    (void)u, (void)b;
    o->type = MSGPACK_OBJECT_BIN, o->via.bin.ptr = p, o->via.bin.size = l;
    return 0;
}

static inline int cb_ext(struct unpack_user *u, const char *b, const char *p, unsigned int l,
                         msgpack_object *o)
{
    (void)u, (void)b;
    if (l == 0) /* the type byte is counted in l */
        return -1;
    o->type = MSGPACK_OBJECT_EXT, o->via.ext.type = (int8_t)p[0];
    o->via.ext.ptr = p + 1, o->via.ext.size = l - 1;
    return 0;
}

#define cb_uint8  cb_u64
#define cb_uint16 cb_u64
#define cb_uint32 cb_u64
#define cb_uint64 cb_u64
#define cb_int8   cb_i64
#define cb_int16  cb_i64
#define cb_int32  cb_i64
#define cb_int64  cb_i64
#define cb_float  cb_f64
#define cb_double cb_f64

#define msgpack_unpack_struct(name)    struct tpl##name
#define msgpack_unpack_func(ret, name) static ret tpl##name
#define msgpack_unpack_callback(name)  cb##name
#define msgpack_unpack_object          msgpack_object
#define msgpack_unpack_user            struct unpack_user
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#include <msgpack/unpack_template.h>
#pragma GCC diagnostic pop

/* The thread's zone for msgpack_object trees (see the file comment). */
static _Thread_local struct {
    msgpack_zone z;
    size_t chunk; /* bytes; 0: z not initialized */
} tl;

static int zone_get(msgpack_zone **out)
{
    if (tl.chunk == 0) {
        if (!msgpack_zone_init(&tl.z, ZONE_CHUNK_MIN))
            return AIOPS_ENOMEM;
        tl.chunk = ZONE_CHUNK_MIN;
    }
    *out = &tl.z;
    return 0;
}

/* After a message whose largest tree took peak bytes: a zone that needed more than its chunk
 * is remade larger, so the next such message fits in one chunk (msgpack_zone_clear frees all
 * chunks but the first). */
static void zone_fit(size_t peak)
{
    size_t chunk = tl.chunk;

    while (chunk < peak && chunk < ZONE_CHUNK_MAX)
        chunk *= 2;
    if (chunk != tl.chunk) {
        msgpack_zone_destroy(&tl.z);
        tl.chunk = msgpack_zone_init(&tl.z, chunk) ? chunk : 0;
    }
}

/* Parses the object at s[*off..len) into *obj and advances *off past it. */
static int unpack(struct pl_dec *d, struct unpack_user *u, const char *s, size_t len, size_t *off,
                  msgpack_object *obj)
{
    struct tpl_context ctx;
    int rc;

    tpl_init(&ctx);
    ctx.user = *u;
    ctx.user.items_left = len - *off;
    rc = tpl_execute(&ctx, s, len, off);
    u->used = ctx.user.used;
    if (rc > 0) {
        *obj = tpl_data(&ctx);
        return 0;
    }
    if (rc == 0)
        return pl_fail(d, "syntax", "msgpack truncated at byte %zu", len);
    if (ctx.user.nomem)
        return AIOPS_ENOMEM;
    if (ctx.user.refused > 0)
        return pl_fail(d, "syntax", "msgpack truncated: %llu items announced at byte %zu",
                       (unsigned long long)ctx.user.refused, *off);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR) /* the template's stack is full */
        return pl_fail(d, "syntax", "msgpack nested deeper than %d at byte %zu",
                       MSGPACK_EMBED_STACK_SIZE, *off);
    return pl_fail(d, "syntax", "msgpack: invalid byte 0x%02x at byte %zu", (uint8_t)s[*off], *off);
}

/* ---- walking the tree into points ---------------------------------------------------------- */

static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};

static uint64_t be(const char *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned k = 0; k < n; k++)
        v = v << 8 | (uint8_t)p[k];
    return v;
}

static bool is(const msgpack_object *k, const char *lit, size_t n)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, lit, n) == 0;
}

#define IS(k, lit) is((k), lit, sizeof(lit) - 1)

/* A string for a point: non-empty, UTF-8, no NUL. */
static bool str_ok(const msgpack_object *v)
{
    return v->type == MSGPACK_OBJECT_STR && pl_str_ok(v->via.str.ptr, v->via.str.size);
}

static bool num(const msgpack_object *v, double *out)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)v->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)v->via.i64;
        return true;
    case MSGPACK_OBJECT_FLOAT64:
        *out = v->via.f64;
        return isfinite(*out);
    default:
        return false;
    }
}

/* Epoch numbers, RFC 3339 strings, or the timestamp extension (type -1: 32-bit seconds;
 * 30-bit ns + 34-bit seconds; 32-bit ns + 64-bit signed seconds). */
static bool time_ok(const msgpack_object *v, int64_t *ms)
{
    const char *p = v->via.ext.ptr;
    uint64_t sec, ns;

    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return v->via.u64 <= INT64_MAX && pl_epoch_int((int64_t)v->via.u64, ms);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return pl_epoch_int(v->via.i64, ms);
    case MSGPACK_OBJECT_FLOAT64:
        return pl_epoch_double(v->via.f64, ms);
    case MSGPACK_OBJECT_STR:
        return pl_time_string(v->via.str.ptr, v->via.str.size, ms);
    case MSGPACK_OBJECT_EXT:
        if (v->via.ext.type != -1)
            return false;
        if (v->via.ext.size == 4) {
            sec = be(p, 4), ns = 0;
        } else if (v->via.ext.size == 8) {
            uint64_t w = be(p, 8);
            sec = w & 0x3ffffffffull, ns = w >> 34;
        } else if (v->via.ext.size == 12) {
            int64_t s = (int64_t)be(p + 4, 8);
            ns = be(p, 4);
            if (s > 9000000000000000LL || s < -9000000000000000LL || ns >= 1000000000u)
                return false;
            *ms = s * 1000 + (int64_t)(ns / 1000000);
            return true;
        } else {
            return false;
        }
        if (ns >= 1000000000u)
            return false;
        *ms = (int64_t)sec * 1000 + (int64_t)(ns / 1000000);
        return true;
    default:
        return false;
    }
}

/* The values of the keys either schema uses; &nil when absent. */
struct keys {
    const msgpack_object *res, *met, *alias, *ts, *val, *lab; /* ours */
    const msgpack_object *name, *time, *tags, *fields;        /* Telegraf */
};

static void read_keys(const msgpack_object *m, struct keys *k)
{
    k->res = k->met = k->alias = k->ts = k->val = k->lab = &nil;
    k->name = k->time = k->tags = k->fields = &nil;
    for (uint32_t e = 0; e < m->via.map.size; e++) {
        const msgpack_object *key = &m->via.map.ptr[e].key, *val = &m->via.map.ptr[e].val;

        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        switch (key->via.str.size) {
        case 4:
            if (IS(key, "name"))
                k->name = val;
            else if (IS(key, "time"))
                k->time = val;
            else if (IS(key, "tags"))
                k->tags = val;
            break;
        case 5:
            if (IS(key, "value"))
                k->val = val;
            break;
        case 6:
            if (IS(key, "metric"))
                k->met = val;
            else if (IS(key, "labels"))
                k->lab = val;
            else if (IS(key, "fields"))
                k->fields = val;
            break;
        case 9:
            if (IS(key, "timestamp"))
                k->ts = val;
            break;
        case 11:
            if (IS(key, "resource_id"))
                k->res = val;
            else if (IS(key, "metric_name"))
                k->alias = val;
            break;
        }
    }
}

/* A validated point. Its strings are in the arena d->text by offset (the arena moves as it
 * grows); a Telegraf point's metric is joined from two of them when it is emitted. */
struct rec {
    size_t res, metric; /* offsets in d->text */
    size_t field;       /* offset of the Telegraf field name in d->text, or SIZE_MAX */
    size_t lab;         /* index of its first label's key offset in x->lofs */
    uint32_t n_lab;
    int64_t ts_ms;
    double value;
};

/* The walk validates the whole message into recs; only then are points emitted. */
struct scratch {
    struct rec *recs; /* at most max_points */
    size_t n_recs, recs_cap;
    size_t *lofs; /* labels' key and value offsets in d->text, in pairs */
    size_t n_lofs, lofs_cap;
    uint32_t max_labels; /* of one point */
    size_t max_join;     /* longest Telegraf "name.field" with its NUL */
};

/* Copies a string object and a NUL to the arena; *off is where it went. */
static int put(struct pl_dec *d, const msgpack_object *s, size_t *off)
{
    size_t n = s->via.str.size;
    int rc;

    if (d->text_len + n + 1 > d->text_cap) { /* rarely: the arena is sized from the message */
        rc = pl_reserve((void **)&d->text, &d->text_cap, d->text_len + n + 1, 1);
        if (rc < 0)
            return rc;
    }
    memcpy(d->text + d->text_len, s->via.str.ptr, n);
    d->text[d->text_len + n] = '\0';
    *off = d->text_len;
    d->text_len += n + 1;
    return 0;
}

/* Checks a {str: str} map and copies it to the arena, all but the key skip (may be NULL),
 * whose value goes to *skipped (left alone when absent). */
static int labels(struct pl_dec *d, struct scratch *x, const msgpack_object *m, const char *skip,
                  size_t skip_len, const msgpack_object **skipped, size_t idx, uint32_t *n_out)
{
    uint32_t n = 0;
    int rc = pl_reserve((void **)&x->lofs, &x->lofs_cap, x->n_lofs + 2 * (size_t)m->via.map.size,
                        sizeof(*x->lofs));

    if (rc < 0)
        return rc;
    for (uint32_t e = 0; e < m->via.map.size; e++) {
        const msgpack_object *k = &m->via.map.ptr[e].key, *v = &m->via.map.ptr[e].val;

        if (!str_ok(k) || !str_ok(v))
            return pl_fail(d, "schema", "point %zu: label %u is not a non-empty UTF-8 string pair",
                           idx, e);
        if (skip != NULL && is(k, skip, skip_len)) {
            *skipped = v;
            continue;
        }
        rc = put(d, k, &x->lofs[x->n_lofs]);
        if (rc == 0)
            rc = put(d, v, &x->lofs[x->n_lofs + 1]);
        if (rc < 0)
            return rc;
        x->n_lofs += 2;
        n++;
    }
    if (n > x->max_labels)
        x->max_labels = n;
    *n_out = n;
    return 0;
}

static int add(struct pl_dec *d, struct scratch *x, const struct rec *r)
{
    int rc = pl_point(d, NULL); /* counts, and rejects past max_points */

    if (rc == 0)
        rc = pl_reserve((void **)&x->recs, &x->recs_cap, x->n_recs + 1, sizeof(*x->recs));
    if (rc < 0)
        return rc;
    x->recs[x->n_recs++] = *r;
    return 0;
}

/* Our schema: {"resource_id", "metric" | "metric_name", "timestamp", "value", "labels"?}. */
static int our_point(struct pl_dec *d, struct scratch *x, const struct keys *k, size_t idx)
{
    const msgpack_object *met = k->met != &nil ? k->met : k->alias;
    struct rec r = {.field = SIZE_MAX, .lab = x->n_lofs};
    int rc;

    if (!str_ok(k->res))
        return pl_fail(d, "schema", "point %zu: resource_id %s", idx,
                       k->res->type == MSGPACK_OBJECT_NIL ? "missing"
                                                          : "is not a non-empty UTF-8 string");
    if (!str_ok(met))
        return pl_fail(d, "schema", "point %zu: metric %s", idx,
                       met->type == MSGPACK_OBJECT_NIL ? "missing"
                                                       : "is not a non-empty UTF-8 string");
    if (!time_ok(k->ts, &r.ts_ms))
        return pl_fail(d, "timestamp",
                       "point %zu: timestamp missing or not an epoch number, timestamp "
                       "extension or RFC 3339 string",
                       idx);
    if (!num(k->val, &r.value))
        return pl_fail(d, "value", "point %zu: value missing or not a finite number", idx);
    if (k->lab->type != MSGPACK_OBJECT_MAP && k->lab->type != MSGPACK_OBJECT_NIL)
        return pl_fail(d, "schema", "point %zu: labels is not a map", idx);
    rc = put(d, k->res, &r.res);
    if (rc == 0)
        rc = put(d, met, &r.metric);
    if (rc == 0 && k->lab->type == MSGPACK_OBJECT_MAP)
        rc = labels(d, x, k->lab, NULL, 0, NULL, idx, &r.n_lab);
    if (rc < 0)
        return rc;
    return add(d, x, &r);
}

/* Telegraf: {"name": str, "time": ext -1 | int, "tags": {...}, "fields": {...}}; one point
 * per numeric field, named name.field; string and boolean fields are skipped. */
static int telegraf_metric(struct pl_dec *d, struct scratch *x, const struct keys *k, size_t idx)
{
    struct rec r = {.lab = x->n_lofs};
    const msgpack_object *res = NULL, *f = k->fields;
    int rc;

    if (!str_ok(k->name))
        return pl_fail(d, "schema", "metric %zu: name missing or not a non-empty string", idx);
    if (f->type != MSGPACK_OBJECT_MAP)
        return pl_fail(d, "schema", "metric %zu: fields is not a map", idx);
    if (k->tags->type != MSGPACK_OBJECT_MAP)
        return pl_fail(d, "schema", "metric %zu: tags is not a map", idx);
    rc = labels(d, x, k->tags, d->resource_tag, d->resource_tag_len, &res, idx, &r.n_lab);
    if (rc < 0)
        return rc;
    if (res == NULL)
        return pl_fail(d, "schema", "metric %zu: tag \"%s\" naming the resource missing", idx,
                       d->resource_tag);
    if (!time_ok(k->time, &r.ts_ms))
        return pl_fail(d, "timestamp", "metric %zu: time missing or not a timestamp", idx);
    rc = put(d, res, &r.res);
    if (rc == 0)
        rc = put(d, k->name, &r.metric);
    if (rc < 0)
        return rc;
    for (uint32_t e = 0; e < f->via.map.size; e++) {
        const msgpack_object *key = &f->via.map.ptr[e].key, *val = &f->via.map.ptr[e].val;

        if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
            val->type != MSGPACK_OBJECT_NEGATIVE_INTEGER && val->type != MSGPACK_OBJECT_FLOAT64)
            continue; /* strings, booleans: not measurements */
        if (!str_ok(key))
            return pl_fail(d, "schema", "metric %zu: field %u has an empty or bad name", idx, e);
        if (!num(val, &r.value))
            return pl_fail(d, "value", "metric %zu: field %.*s is not finite", idx,
                           (int)key->via.str.size, key->via.str.ptr);
        rc = put(d, key, &r.field);
        if (rc == 0)
            rc = add(d, x, &r);
        if (rc < 0)
            return rc;
        if (k->name->via.str.size + key->via.str.size + 2 > x->max_join)
            x->max_join = k->name->via.str.size + key->via.str.size + 2;
    }
    return 0;
}

static int one_map(struct pl_dec *d, struct scratch *x, const msgpack_object *m, size_t idx)
{
    struct keys k;

    if (m->type != MSGPACK_OBJECT_MAP)
        return pl_fail(d, "schema", "item %zu is not a map", idx);
    read_keys(m, &k);
    if (k.fields != &nil && k.res == &nil)
        return telegraf_metric(d, x, &k, idx);
    return our_point(d, x, &k, idx);
}

/* Parses and walks each object of the message in turn into x->recs. */
static int decode(struct pl_dec *d, struct scratch *x, const char *s, size_t len)
{
    size_t off = 0, idx = 0; /* items in message order, for error details */
    size_t peak = 0;         /* bytes of the largest tree */
    struct unpack_user u = {0};
    msgpack_object root = {.type = MSGPACK_OBJECT_NIL};
    int rc = zone_get(&u.z);

    if (rc < 0)
        return rc;
    while (rc == 0 && off < len) {
        rc = unpack(d, &u, s, len, &off, &root);
        if (rc == 0 && root.type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t e = 0; e < root.via.array.size && rc == 0; e++)
                rc = one_map(d, x, &root.via.array.ptr[e], idx++);
        } else if (rc == 0) {
            rc = one_map(d, x, &root, idx++);
        }
        msgpack_zone_clear(u.z); /* the tree is dead: its strings were copied */
        peak = u.used > peak ? u.used : peak;
        u.used = 0;
    }
    zone_fit(peak);
    return rc;
}

static int emit(struct pl_dec *d, struct scratch *x)
{
    int rc;

    d->emitting = true;
    d->n = 0;
    for (size_t k = 0; k < x->n_recs; k++) {
        const struct rec *r = &x->recs[k];
        struct aiops_metric_point p = {
            .resource_id = d->text + r->res,
            .metric = d->text + r->metric,
            .labels = d->labels,
            .n_labels = r->n_lab,
            .ts_ms = r->ts_ms,
            .value = r->value,
        };

        for (uint32_t l = 0; l < r->n_lab; l++) {
            d->labels[l].key = d->text + x->lofs[r->lab + 2 * l];
            d->labels[l].value = d->text + x->lofs[r->lab + 2 * l + 1];
        }
        if (r->field != SIZE_MAX) { /* reserved beforehand: cannot fail */
            const char *name = d->text + r->metric, *field = d->text + r->field;
            pl_join(d, name, strlen(name), field, strlen(field), &p.metric);
        }
        rc = pl_point(d, &p);
        if (rc < 0)
            return rc;
    }
    return (int)d->n;
}

int aiops_payload_decode_msgpack(const void *data, size_t len,
                                 const struct aiops_payload_options *o, aiops_point_fn fn,
                                 void *ctx, struct aiops_payload_error *err)
{
    struct scratch x = {0};
    struct pl_dec d;
    int rc = 0;

    pl_init(&d, o, fn, ctx, err);
    if (len == 0)
        rc = pl_fail(&d, "empty", "message of 0 bytes");
    /* Sized once from the message (a point takes 20 bytes or more; its strings and NULs fit in
     * the message plus a byte per string), so the usual message grows nothing point by point. */
    if (rc == 0)
        rc = pl_reserve((void **)&x.recs, &x.recs_cap,
                        len / 20 + 1 < d.max_points ? len / 20 + 1 : d.max_points, sizeof(*x.recs));
    if (rc == 0)
        rc = pl_reserve((void **)&d.text, &d.text_cap, len + len / 4 + 64, 1);
    if (rc == 0)
        rc = decode(&d, &x, data, len);
    if (rc == 0)
        rc = pl_reserve_labels(&d, x.max_labels);
    if (rc == 0)
        rc = pl_reserve((void **)&d.name, &d.name_cap, x.max_join, 1);
    if (rc == 0)
        rc = emit(&d, &x);
    aiops_free(x.recs);
    aiops_free(x.lofs);
    pl_fini(&d);
    return rc;
}
