/* SPDX-License-Identifier: MIT */
/* msgpack payloads (payload.h), the streaming hot path: our schema (one point map, an array of
 * them, or maps concatenated) and Telegraf's msgpack serializer ({"name", "time", "tags",
 * "fields"} maps, concatenated). A message is first checked whole, byte by byte (check_object:
 * nothing truncated, no container announcing more items than bytes left, nesting bounded), then
 * read once in place by a small cursor reader into an array of validated points (at most
 * max_points, strings copied NUL-terminated into one arena), emitted only when all of it
 * passed. The scratch is sized from the message up front: nothing is allocated per point.
 *
 * Why not msgpack-c's object unpacker: building its msgpack_object tree alone cost 190-520 ns
 * per point of our schema on the development machine (zone chunks malloc'ed and freed per
 * message, page faults when glibc trims them), the whole budget of the 1,000,000 points/s
 * pipeline; it also allocates a container's announced item count up front, which a 6-byte
 * message can set to 4 billion. msgpack-c stays the reference: the tests and the benchmark
 * pack their messages with it. */
#include "transports/payload.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload_internal.h"

#include <math.h>
#include <string.h>

#define MAX_DEPTH 16 /* nested non-empty containers; none of the formats goes past 3 */

/* The big-endian unsigned integer of n = 1, 2, 4 or 8 bytes at p. */
static inline uint64_t be(const uint8_t *p, unsigned n)
{
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;

    switch (n) {
    case 1:
        return p[0];
    case 2:
        memcpy(&v16, p, 2);
        return __builtin_bswap16(v16);
    case 4:
        memcpy(&v32, p, 4);
        return __builtin_bswap32(v32);
    default:
        memcpy(&v64, p, 8);
        return __builtin_bswap64(v64);
    }
}

/* Checks that s[*off..len) starts with one whole object. On success advances *off past it. */
static int check_object(struct pl_dec *d, const uint8_t *s, size_t len, size_t *off)
{
    uint64_t pending[MAX_DEPTH + 1]; /* items still to read in each open container */
    int top = 0;
    size_t i = *off;

    pending[0] = 1;
    while (top >= 0) {
        uint64_t n = 0, skip = 0;
        unsigned hdr = 0; /* bytes of length field */
        bool container = false, map = false;
        uint8_t c;

        if (pending[top] == 0) {
            top--;
            continue;
        }
        pending[top]--;
        if (i >= len)
            return pl_fail(d, "syntax", "msgpack truncated at byte %zu", i);
        c = s[i++];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            ; /* fixint, nil, bool */
        } else if (c <= 0x8f) {
            container = map = true, n = c & 0x0f;
        } else if (c <= 0x9f) {
            container = true, n = c & 0x0f;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4:
            case 0xd9:
                hdr = 1;
                break; /* bin8, str8 */
            case 0xc5:
            case 0xda:
                hdr = 2;
                break; /* bin16, str16 */
            case 0xc6:
            case 0xdb:
                hdr = 4;
                break; /* bin32, str32 */
            case 0xc7:
                hdr = 1, skip = 1;
                break; /* ext8 (+ type byte) */
            case 0xc8:
                hdr = 2, skip = 1;
                break; /* ext16 */
            case 0xc9:
                hdr = 4, skip = 1;
                break; /* ext32 */
            case 0xca:
            case 0xd2:
                skip = 4;
                break; /* float32, int32 */
            case 0xcb:
            case 0xcf:
            case 0xd3:
                skip = 8;
                break; /* float64, uint64, int64 */
            case 0xcc:
            case 0xd0:
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
                skip = 4;
                break;
            case 0xd4:
                skip = 2;
                break; /* fixext 1, 2, 4, 8, 16 (+ type byte) */
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xdc:
                hdr = 2, container = true;
                break;
            case 0xdd:
                hdr = 4, container = true;
                break;
            case 0xde:
                hdr = 2, container = map = true;
                break;
            case 0xdf:
                hdr = 4, container = map = true;
                break;
            default: /* 0xc1 */
                return pl_fail(d, "syntax", "msgpack: invalid byte 0x%02x at byte %zu", c, i - 1);
            }
        }
        if (hdr > 0) {
            if (len - i < hdr)
                return pl_fail(d, "syntax", "msgpack truncated at byte %zu", len);
            n = be(s + i, hdr);
            i += hdr;
            if (!container)
                skip += n, n = 0;
        }
        if (skip > len - i)
            return pl_fail(d, "syntax", "msgpack truncated: %llu bytes needed at byte %zu",
                           (unsigned long long)skip, i);
        i += skip;
        if (container && n > 0) {
            if (map)
                n *= 2;
            if (n > len - i) /* every item takes at least a byte */
                return pl_fail(d, "syntax", "msgpack truncated: %llu items announced at byte %zu",
                               (unsigned long long)n, i);
            if (top == MAX_DEPTH)
                return pl_fail(d, "syntax", "msgpack nested deeper than %d at byte %zu", MAX_DEPTH,
                               i);
            pending[++top] = n;
        }
    }
    *off = i;
    return 0;
}

/* ---- reading checked objects --------------------------------------------------------------- */

enum kind { K_NIL, K_BOOL, K_UINT, K_INT, K_FLOAT, K_STR, K_BIN, K_EXT, K_ARR, K_MAP };

/* One object as read by rd(): a scalar's value, a string's bytes, or a container's size and
 * where its items start. */
struct mv {
    uint8_t kind;    /* enum kind */
    int8_t ext_type; /* K_EXT */
    uint32_t n;      /* K_STR/K_BIN/K_EXT bytes, K_ARR items, K_MAP pairs */
    const char *p;   /* K_STR/K_BIN/K_EXT payload, not NUL-terminated */
    size_t at;       /* K_ARR/K_MAP: offset of the first item */
    union {
        uint64_t u; /* K_UINT, K_BOOL */
        int64_t i;  /* K_INT (negative) */
        double f;   /* K_FLOAT */
    } v;
};

/* Reads the header at s[*i] (inside an object check_object accepted) into v and advances past
 * it: past a container's header only. */
static void rd_head(const uint8_t *s, size_t *i, struct mv *v)
{
    uint8_t c = s[(*i)++];
    unsigned hdr = 0;

    v->n = 0;
    if (c >= 0xa0 && c <= 0xbf) { /* fixstr: most of a message */
        v->kind = K_STR, v->n = c & 0x1f, v->p = (const char *)s + *i;
        *i += v->n;
        return;
    }
    if (c <= 0x7f) {
        v->kind = K_UINT, v->v.u = c;
    } else if (c >= 0xe0) {
        v->kind = K_INT, v->v.i = (int)c - 256; /* negative fixint: -32..-1 */
    } else if (c <= 0x8f) {
        v->kind = K_MAP, v->n = c & 0x0f;
    } else if (c <= 0x9f) {
        v->kind = K_ARR, v->n = c & 0x0f;
    } else {
        switch (c) {
        case 0xc0:
            v->kind = K_NIL;
            return;
        case 0xc2:
        case 0xc3:
            v->kind = K_BOOL, v->v.u = c == 0xc3;
            return;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            v->kind = K_BIN, hdr = 1u << (c - 0xc4);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            v->kind = K_EXT, hdr = 1u << (c - 0xc7);
            break;
        case 0xca: {
            uint32_t b = (uint32_t)be(s + *i, 4);
            float f;
            memcpy(&f, &b, 4);
            v->kind = K_FLOAT, v->v.f = f, *i += 4;
            return;
        }
        case 0xcb: {
            uint64_t b = be(s + *i, 8);
            memcpy(&v->v.f, &b, 8);
            v->kind = K_FLOAT, *i += 8;
            return;
        }
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf: {
            unsigned n = 1u << (c - 0xcc);
            v->kind = K_UINT, v->v.u = be(s + *i, n), *i += n;
            return;
        }
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {
            unsigned n = 1u << (c - 0xd0);
            uint64_t u = be(s + *i, n);
            if (n < 8 && (u >> (8 * n - 1)) != 0) /* sign-extend */
                u |= ~0ull << (8 * n);
            v->kind = K_INT, v->v.i = (int64_t)u, *i += n;
            if (v->v.i >= 0)
                v->kind = K_UINT;
            return;
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            v->kind = K_EXT, v->n = 1u << (c - 0xd4);
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            v->kind = K_STR, hdr = 1u << (c - 0xd9);
            break;
        case 0xdc:
        case 0xdd:
            v->kind = K_ARR, hdr = 2u << (c - 0xdc);
            break;
        default:
            v->kind = K_MAP, hdr = 2u << (c - 0xde);
            break; /* 0xde, 0xdf */
        }
    }
    if (hdr > 0) {
        v->n = (uint32_t)be(s + *i, hdr);
        *i += hdr;
    }
    if (v->kind == K_EXT)
        v->ext_type = (int8_t)s[(*i)++];
    if (v->kind == K_STR || v->kind == K_BIN || v->kind == K_EXT) {
        v->p = (const char *)s + *i;
        *i += v->n;
    }
    v->at = *i;
}

/* Reads one whole object: its header into v, and past a container's items. */
static void rd(const uint8_t *s, size_t *i, struct mv *v)
{
    uint64_t left;

    rd_head(s, i, v);
    if (v->kind != K_ARR && v->kind != K_MAP)
        return;
    for (left = v->kind == K_MAP ? 2 * (uint64_t)v->n : v->n; left > 0; left--) {
        struct mv item;

        rd_head(s, i, &item);
        if (item.kind == K_ARR)
            left += item.n;
        else if (item.kind == K_MAP)
            left += 2 * (uint64_t)item.n;
    }
}

static bool is(const struct mv *k, const char *lit, size_t n)
{
    return k->kind == K_STR && k->n == n && memcmp(k->p, lit, n) == 0;
}

#define IS(k, lit) is((k), lit, sizeof(lit) - 1)

/* A string for a point: non-empty, UTF-8, no NUL. */
static bool str_ok(const struct mv *v)
{
    return v->kind == K_STR && pl_str_ok(v->p, v->n);
}

static bool num(const struct mv *v, double *out)
{
    switch (v->kind) {
    case K_UINT:
        *out = (double)v->v.u;
        return true;
    case K_INT:
        *out = (double)v->v.i;
        return true;
    case K_FLOAT:
        *out = v->v.f;
        return isfinite(*out);
    default:
        return false;
    }
}

/* Epoch numbers, RFC 3339 strings, or the timestamp extension (type -1: 32-bit seconds;
 * 30-bit ns + 34-bit seconds; 32-bit ns + 64-bit signed seconds). */
static bool time_ok(const struct mv *v, int64_t *ms)
{
    const uint8_t *p = (const uint8_t *)v->p;
    uint64_t sec, ns;

    switch (v->kind) {
    case K_UINT:
        return v->v.u <= INT64_MAX && pl_epoch_int((int64_t)v->v.u, ms);
    case K_INT:
        return pl_epoch_int(v->v.i, ms);
    case K_FLOAT:
        return pl_epoch_double(v->v.f, ms);
    case K_STR:
        return pl_time_string(v->p, v->n, ms);
    case K_EXT:
        if (v->ext_type != -1)
            return false;
        if (v->n == 4) {
            sec = be(p, 4), ns = 0;
        } else if (v->n == 8) {
            uint64_t w = be(p, 8);
            sec = w & 0x3ffffffffull, ns = w >> 34;
        } else if (v->n == 12) {
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

/* The keys of a point map either schema uses; kind K_NIL when absent. */
struct keys {
    struct mv res, met, alias, ts, val, lab; /* ours */
    struct mv name, time, tags, fields;      /* Telegraf */
};

/* Reads the pairs of the map m into k; returns the offset past the map. */
static size_t read_keys(const uint8_t *s, const struct mv *m, struct keys *k)
{
    size_t i = m->at;
    struct mv key, skip;

    /* Absent keys read as K_NIL; only the kinds are set: clearing all of *k showed in profiles. */
    k->res.kind = k->met.kind = k->alias.kind = k->ts.kind = k->val.kind = k->lab.kind = K_NIL;
    k->name.kind = k->time.kind = k->tags.kind = k->fields.kind = K_NIL;
    for (uint32_t e = 0; e < m->n; e++) {
        struct mv *slot = &skip;

        rd(s, &i, &key);
        if (key.kind == K_STR) {
            switch (key.n) {
            case 4:
                slot = IS(&key, "name")   ? &k->name
                       : IS(&key, "time") ? &k->time
                       : IS(&key, "tags") ? &k->tags
                                          : &skip;
                break;
            case 5:
                slot = IS(&key, "value") ? &k->val : &skip;
                break;
            case 6:
                slot = IS(&key, "metric")   ? &k->met
                       : IS(&key, "labels") ? &k->lab
                       : IS(&key, "fields") ? &k->fields
                                            : &skip;
                break;
            case 9:
                slot = IS(&key, "timestamp") ? &k->ts : &skip;
                break;
            case 11:
                slot = IS(&key, "resource_id")   ? &k->res
                       : IS(&key, "metric_name") ? &k->alias
                                                 : &skip;
                break;
            }
        }
        rd(s, &i, slot);
    }
    return i;
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

/* The decoding pass validates the whole message into recs; only then are points emitted. */
struct scratch {
    const uint8_t *s;
    size_t len;
    struct rec *recs; /* at most max_points */
    size_t n_recs, recs_cap;
    size_t *lofs; /* labels' key and value offsets in d->text, in pairs */
    size_t n_lofs, lofs_cap;
    uint32_t max_labels; /* of one point */
    size_t max_join;     /* longest Telegraf "name.field" with its NUL */
};

/* Copies s[0..n) and a NUL to the arena; *off is where it went. */
static int put(struct pl_dec *d, const char *s, size_t n, size_t *off)
{
    int rc = pl_reserve((void **)&d->text, &d->text_cap, d->text_len + n + 1, 1);

    if (rc < 0)
        return rc;
    memcpy(d->text + d->text_len, s, n);
    d->text[d->text_len + n] = '\0';
    *off = d->text_len;
    d->text_len += n + 1;
    return 0;
}

/* Checks a {str: str} map and copies it to the arena, all but the key skip (may be NULL),
 * whose value goes to *skipped (when found, *found is set). */
static int labels(struct pl_dec *d, struct scratch *x, const struct mv *m, const char *skip,
                  size_t skip_len, struct mv *skipped, bool *found, size_t idx, uint32_t *n_out)
{
    size_t i = m->at;
    uint32_t n = 0;
    struct mv k, v;
    int rc =
        pl_reserve((void **)&x->lofs, &x->lofs_cap, x->n_lofs + 2 * (size_t)m->n, sizeof(*x->lofs));

    if (rc < 0)
        return rc;
    for (uint32_t e = 0; e < m->n; e++) {
        rd(x->s, &i, &k);
        rd(x->s, &i, &v);
        if (!str_ok(&k) || !str_ok(&v))
            return pl_fail(d, "schema", "point %zu: label %u is not a non-empty UTF-8 string pair",
                           idx, e);
        if (skip != NULL && k.n == skip_len && memcmp(k.p, skip, skip_len) == 0) {
            *skipped = v;
            *found = true;
            continue;
        }
        rc = put(d, k.p, k.n, &x->lofs[x->n_lofs]);
        if (rc == 0)
            rc = put(d, v.p, v.n, &x->lofs[x->n_lofs + 1]);
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
static int our_point(struct pl_dec *d, struct scratch *x, struct keys *k, size_t idx)
{
    const struct mv *met = k->met.kind != K_NIL ? &k->met : &k->alias;
    struct rec r = {.field = SIZE_MAX, .lab = x->n_lofs};
    int rc;

    if (!str_ok(&k->res))
        return pl_fail(d, "schema", "point %zu: resource_id %s", idx,
                       k->res.kind == K_NIL ? "missing" : "is not a non-empty UTF-8 string");
    if (!str_ok(met))
        return pl_fail(d, "schema", "point %zu: metric %s", idx,
                       met->kind == K_NIL ? "missing" : "is not a non-empty UTF-8 string");
    if (!time_ok(&k->ts, &r.ts_ms))
        return pl_fail(d, "timestamp",
                       "point %zu: timestamp missing or not an epoch number, timestamp "
                       "extension or RFC 3339 string",
                       idx);
    if (!num(&k->val, &r.value))
        return pl_fail(d, "value", "point %zu: value missing or not a finite number", idx);
    if (k->lab.kind != K_MAP && k->lab.kind != K_NIL)
        return pl_fail(d, "schema", "point %zu: labels is not a map", idx);
    rc = put(d, k->res.p, k->res.n, &r.res);
    if (rc == 0)
        rc = put(d, met->p, met->n, &r.metric);
    if (rc == 0 && k->lab.kind == K_MAP)
        rc = labels(d, x, &k->lab, NULL, 0, NULL, NULL, idx, &r.n_lab);
    if (rc < 0)
        return rc;
    return add(d, x, &r);
}

/* Telegraf: {"name": str, "time": ext -1 | int, "tags": {...}, "fields": {...}}; one point
 * per numeric field, named name.field; string and boolean fields are skipped. */
static int telegraf_metric(struct pl_dec *d, struct scratch *x, struct keys *k, size_t idx)
{
    struct rec r = {.lab = x->n_lofs};
    struct mv key, val, res;
    bool found = false;
    size_t i;
    int rc;

    if (!str_ok(&k->name))
        return pl_fail(d, "schema", "metric %zu: name missing or not a non-empty string", idx);
    if (k->fields.kind != K_MAP)
        return pl_fail(d, "schema", "metric %zu: fields is not a map", idx);
    if (k->tags.kind != K_MAP)
        return pl_fail(d, "schema", "metric %zu: tags is not a map", idx);
    rc = labels(d, x, &k->tags, d->resource_tag, d->resource_tag_len, &res, &found, idx, &r.n_lab);
    if (rc < 0)
        return rc;
    if (!found)
        return pl_fail(d, "schema", "metric %zu: tag \"%s\" naming the resource missing", idx,
                       d->resource_tag);
    if (!time_ok(&k->time, &r.ts_ms))
        return pl_fail(d, "timestamp", "metric %zu: time missing or not a timestamp", idx);
    rc = put(d, res.p, res.n, &r.res);
    if (rc == 0)
        rc = put(d, k->name.p, k->name.n, &r.metric);
    if (rc < 0)
        return rc;
    i = k->fields.at;
    for (uint32_t e = 0; e < k->fields.n; e++) {
        rd(x->s, &i, &key);
        rd(x->s, &i, &val);
        if (val.kind != K_UINT && val.kind != K_INT && val.kind != K_FLOAT)
            continue; /* strings, booleans: not measurements */
        if (!str_ok(&key))
            return pl_fail(d, "schema", "metric %zu: field %u has an empty or bad name", idx, e);
        if (!num(&val, &r.value))
            return pl_fail(d, "value", "metric %zu: field %.*s is not finite", idx, (int)key.n,
                           key.p);
        rc = put(d, key.p, key.n, &r.field);
        if (rc == 0)
            rc = add(d, x, &r);
        if (rc < 0)
            return rc;
        if (k->name.n + key.n + 2 > x->max_join)
            x->max_join = k->name.n + key.n + 2;
    }
    return 0;
}

/* Decodes the item at s[*i] and advances past it. */
static int one_map(struct pl_dec *d, struct scratch *x, size_t *i, size_t idx)
{
    struct keys k;
    struct mv m;

    rd_head(x->s, i, &m);
    if (m.kind != K_MAP)
        return pl_fail(d, "schema", "item %zu is not a map", idx);
    *i = read_keys(x->s, &m, &k);
    if (k.fields.kind != K_NIL && k.res.kind == K_NIL)
        return telegraf_metric(d, x, &k, idx);
    return our_point(d, x, &k, idx);
}

/* Validates every object of the message into x->recs. */
static int decode(struct pl_dec *d, struct scratch *x)
{
    size_t i = 0, idx = 0; /* items in message order, for error details */
    struct mv root;
    int rc;

    while (i < x->len) {
        size_t at = i;

        rd_head(x->s, &i, &root);
        if (root.kind != K_ARR) {
            i = at;
            rc = one_map(d, x, &i, idx++);
            if (rc < 0)
                return rc;
            continue;
        }
        for (uint32_t e = 0; e < root.n; e++) {
            rc = one_map(d, x, &i, idx++);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
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
    struct scratch x = {.s = data, .len = len};
    struct pl_dec d;
    size_t off = 0;
    int rc = 0;

    pl_init(&d, o, fn, ctx, err);
    if (len == 0)
        rc = pl_fail(&d, "empty", "message of 0 bytes");
    while (off < len && rc == 0)
        rc = check_object(&d, data, len, &off);
    /* Sized once from the message (a point takes 20 bytes or more; its strings and NULs fit in
     * the message plus a byte per string), so the usual message grows nothing point by point. */
    if (rc == 0)
        rc = pl_reserve((void **)&x.recs, &x.recs_cap,
                        len / 20 + 1 < d.max_points ? len / 20 + 1 : d.max_points, sizeof(*x.recs));
    if (rc == 0)
        rc = pl_reserve((void **)&d.text, &d.text_cap, len + len / 4 + 64, 1);
    if (rc == 0)
        rc = decode(&d, &x);
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
