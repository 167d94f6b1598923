/* SPDX-License-Identifier: MIT */
/* Payload decoding's front door (payload.h): options, sniffing a message's format, and the
 * helpers every decoder shares (payload_internal.h): the two walks, errors, scratch buffers,
 * string checks and epoch units. */
#include "transports/payload.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "agent/timestamp.h"
#include "transports/payload_internal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void aiops_payload_options_init(struct aiops_payload_options *o)
{
    memset(o, 0, sizeof(*o));
    o->format = AIOPS_PAYLOAD_AUTO;
    o->resource_tag = "host";
    o->now_ms = 0;
    o->max_points = AIOPS_PAYLOAD_MAX_POINTS;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first line that is neither blank nor a comment reads "measurement[,tags] field=...":
 * a key, an unescaped space, then a '=' on the same line. */
static bool looks_like_influx(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t start, sp = 0;

        while (i < len && is_space(s[i]))
            i++;
        if (i == len)
            return false;
        if (s[i] == '#') {
            while (i < len && s[i] != '\n')
                i++;
            continue;
        }
        if (s[i] < 0x21 || s[i] == ',' || s[i] == '=' || s[i] == '"')
            return false;
        for (start = i; i < len && s[i] != '\n'; i++) {
            if (s[i] == '\\') {
                i++;
                if (i == len || s[i] == '\n')
                    return false;
            } else if (s[i] == ' ' && sp == 0) {
                sp = i;
            } else if (s[i] == '=' && sp != 0) {
                return sp > start;
            } else if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\r') {
                return false;
            }
        }
        return false;
    }
    return false;
}

int aiops_payload_decode(const void *data, size_t len, const struct aiops_payload_options *o,
                         aiops_point_fn fn, void *ctx, struct aiops_payload_error *err)
{
    const unsigned char *s = data;
    struct pl_dec d;
    size_t i = 0;
    int rc;

    switch (o != NULL ? o->format : AIOPS_PAYLOAD_AUTO) {
    case AIOPS_PAYLOAD_JSON:
        return aiops_payload_decode_json(data, len, o, fn, ctx, err);
    case AIOPS_PAYLOAD_MSGPACK:
        return aiops_payload_decode_msgpack(data, len, o, fn, ctx, err);
    case AIOPS_PAYLOAD_INFLUX:
        return aiops_payload_decode_influx(data, len, o, fn, ctx, err);
    case AIOPS_PAYLOAD_AUTO:
        break;
    }
    /* msgpack first: its map/array markers are bytes no text starts with (0x80-0x9f are UTF-8
     * continuation bytes; 0xdc-0xdf would only begin a Syriac/N'Ko measurement name). */
    if (len > 0 && ((s[0] >= 0x80 && s[0] <= 0x9f) || (s[0] >= 0xdc && s[0] <= 0xdf)))
        return aiops_payload_decode_msgpack(data, len, o, fn, ctx, err);
    while (i < len && is_space(s[i]))
        i++;
    if (i < len && (s[i] == '{' || s[i] == '['))
        return aiops_payload_decode_json(data, len, o, fn, ctx, err);
    if (i < len && looks_like_influx(s + i, len - i))
        return aiops_payload_decode_influx(data, len, o, fn, ctx, err);
    pl_init(&d, o, fn, ctx, err);
    if (i == len)
        rc = pl_fail(&d, "empty", "message of %zu bytes has no content", len);
    else
        rc = pl_fail(&d, "unknown_format",
                     "not JSON, msgpack or Influx line protocol (first byte 0x%02x at %zu)", s[i],
                     i);
    pl_fini(&d);
    return rc;
}

/* ---- shared by the decoders ---------------------------------------------------------------- */

void pl_init(struct pl_dec *d, const struct aiops_payload_options *o, aiops_point_fn fn, void *ctx,
             struct aiops_payload_error *err)
{
    memset(d, 0, sizeof(*d));
    d->fn = fn;
    d->ctx = ctx;
    d->err = err;
    d->resource_tag = o != NULL && o->resource_tag != NULL && o->resource_tag[0] != '\0'
                          ? o->resource_tag
                          : "host";
    d->resource_tag_len = strlen(d->resource_tag);
    d->now_ms = o != NULL ? o->now_ms : 0;
    d->max_points = o != NULL && o->max_points != 0 ? o->max_points : AIOPS_PAYLOAD_MAX_POINTS;
    if (d->max_points > INT_MAX) /* the count is returned as an int */
        d->max_points = INT_MAX;
    if (err != NULL) {
        err->reason = NULL;
        err->detail[0] = '\0';
    }
}

void pl_fini(struct pl_dec *d)
{
    aiops_free(d->labels);
    aiops_free(d->text);
    aiops_free(d->name);
}

int pl_run(struct pl_dec *d, int (*walk)(struct pl_dec *d, void *state), void *state)
{
    int rc;

    d->emitting = false;
    d->n = 0;
    rc = walk(d, state);
    if (rc < 0)
        return rc;
    d->emitting = true;
    d->n = 0;
    rc = walk(d, state);
    return rc < 0 ? rc : (int)d->n;
}

int pl_fail(struct pl_dec *d, const char *reason, const char *fmt, ...)
{
    va_list ap;

    if (d->err != NULL) {
        d->err->reason = reason;
        va_start(ap, fmt);
        vsnprintf(d->err->detail, sizeof(d->err->detail), fmt, ap);
        va_end(ap);
    }
    return AIOPS_EINVAL;
}

int pl_point(struct pl_dec *d, const struct aiops_metric_point *p)
{
    int rc;

    if (!d->emitting) {
        if (d->n >= d->max_points)
            return pl_fail(d, "too_large", "more than %zu points in one message", d->max_points);
        d->n++;
        return 0;
    }
    rc = d->fn(d->ctx, p);
    if (rc < 0)
        return rc;
    d->n++;
    return 0;
}

int pl_reserve(void **buf, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap != 0 ? *cap : 16;
    void *p;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        return AIOPS_ENOMEM;
    p = aiops_realloc(*buf, n * elem);
    if (p == NULL)
        return AIOPS_ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

int pl_reserve_labels(struct pl_dec *d, size_t n)
{
    return pl_reserve((void **)&d->labels, &d->labels_cap, n, sizeof(*d->labels));
}

const char *pl_text_put(struct pl_dec *d, const char *s, size_t n)
{
    char *p = d->text + d->text_len;

    memcpy(p, s, n);
    p[n] = '\0';
    d->text_len += n + 1;
    return p;
}

int pl_join(struct pl_dec *d, const char *a, size_t alen, const char *b, size_t blen,
            const char **out)
{
    size_t need = alen + (b != NULL ? 1 + blen : 0) + 1;
    int rc = pl_reserve((void **)&d->name, &d->name_cap, need, 1);

    if (rc < 0)
        return rc;
    memcpy(d->name, a, alen);
    if (b != NULL) {
        d->name[alen] = '.';
        memcpy(d->name + alen + 1, b, blen);
    }
    d->name[need - 1] = '\0';
    *out = d->name;
    return 0;
}

bool pl_str_ok(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    if (len == 0)
        return false;
    while (i < len) {
        unsigned c = s[i], n, min;
        uint32_t cp;
        uint64_t w;

        if (i + 8 <= len) { /* eight ASCII bytes, none of them NUL, at once */
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0 &&
                ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        for (unsigned k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF. */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool pl_epoch_int(int64_t v, int64_t *ms)
{
    uint64_t a = v < 0 ? -(uint64_t)v : (uint64_t)v;

    if (a < 100000000000ull) /* 1e11 s: year 5138 */
        *ms = v * 1000;
    else if (a < 100000000000000ull) /* 1e14 ms */
        *ms = v;
    else if (a < 100000000000000000ull) /* 1e17 us */
        *ms = v / 1000;
    else
        *ms = v / 1000000;
    return true;
}

bool pl_epoch_double(double v, int64_t *ms)
{
    double a = fabs(v), m;

    if (!isfinite(v) || a >= 9.2e18) /* past int64 nanoseconds */
        return false;
    if (a < 1e11)
        m = v * 1e3;
    else if (a < 1e14)
        m = v;
    else if (a < 1e17)
        m = v / 1e3;
    else
        m = v / 1e6;
    *ms = (int64_t)llround(m);
    return true;
}

bool pl_time_string(const char *s, size_t n, int64_t *ms)
{
    struct aiops_time t;

    if (aiops_time_parse(s, n, &t) < 0)
        return false;
    *ms = t.ms;
    return true;
}
