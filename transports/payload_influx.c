/* SPDX-License-Identifier: MIT */
/* Influx line protocol payloads (payload.h), hand-parsed (Debian packages no C parser):
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 * one record per line; '#' comments and blank lines are skipped, "\r\n" is accepted. Commas,
 * spaces and '=' are escaped with a backslash in names, keys and tag values; a backslash before
 * anything else is kept. Field values: floats (1, -1.5, 1e3), integers with an 'i' or 'u'
 * suffix, quoted strings (with \" and \\; may span lines) and booleans; strings and booleans
 * are skipped. Timestamps are nanoseconds only; a line without one gets o->now_ms. Each numeric
 * field is one point named measurement.field, its resource the tag o->resource_tag. */
#include "transports/payload.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NUM_MAX 128 /* longest numeric field value, in bytes */

struct field {
    const char *key; /* in d->text */
    size_t key_len;
    double value;
};

struct influx {
    const char *s;
    size_t len;
    struct field *fields; /* one line's numeric fields */
    size_t fields_cap;
};

/* Reads an escaped token up to the first unescaped byte of stops, a newline or the end, and
 * puts its unescaped copy in d->text (which has room for the whole message). */
static const char *token(struct pl_dec *d, const char *s, size_t len, size_t *i, const char *stops,
                         size_t *out_len)
{
    char *out = d->text + d->text_len;
    size_t n = 0;

    while (*i < len) {
        char c = s[*i];

        if (c == '\n' || (c != '\0' && strchr(stops, c) != NULL))
            break;
        if (c == '\\' && *i + 1 < len && (s[*i + 1] == ',' || s[*i + 1] == '=' || s[*i + 1] == ' '))
            c = s[++*i];
        out[n++] = c;
        ++*i;
    }
    out[n] = '\0';
    d->text_len += n + 1;
    *out_len = n;
    return out;
}

/* A numeric field value: 0, or "syntax" / "value" as the reason to reject it. */
static const char *number(const char *s, size_t n, double *out)
{
    char tmp[NUM_MAX + 1], *end;
    size_t i = 0, digits = 0;

    if (n == 0 || n > NUM_MAX)
        return "syntax";
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (s[n - 1] == 'i' || s[n - 1] == 'u') {
        tmp[--n] = '\0';
        if (tmp[0] == '-' && s[n] == 'i')
            i++;
        for (; i < n; i++, digits++)
            if (tmp[i] < '0' || tmp[i] > '9')
                return "syntax";
        if (digits == 0)
            return "syntax";
        errno = 0;
        *out = s[n] == 'i' ? (double)strtoll(tmp, &end, 10) : (double)strtoull(tmp, &end, 10);
        return errno == ERANGE ? "value" : NULL;
    }
    /* [+-]digits[.digits][e[+-]digits]: no "inf", "nan" or hex that strtod would take. */
    if (tmp[i] == '-' || tmp[i] == '+')
        i++;
    for (; tmp[i] >= '0' && tmp[i] <= '9'; i++)
        digits++;
    if (tmp[i] == '.')
        for (i++; tmp[i] >= '0' && tmp[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return "syntax";
    if (tmp[i] == 'e' || tmp[i] == 'E') {
        size_t ed = 0;
        i++;
        if (tmp[i] == '-' || tmp[i] == '+')
            i++;
        for (; tmp[i] >= '0' && tmp[i] <= '9'; i++)
            ed++;
        if (ed == 0)
            return "syntax";
    }
    if (i != n)
        return "syntax";
    *out = strtod(tmp, NULL);
    return isfinite(*out) ? NULL : "value";
}

static bool is_bool(const char *s, size_t n)
{
    static const char *const words[] = {"t", "T", "true",  "True",  "TRUE",
                                        "f", "F", "false", "False", "FALSE"};

    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
        if (strlen(words[k]) == n && memcmp(words[k], s, n) == 0)
            return true;
    return false;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* One record starting at s[*i]; leaves *i at its newline or the end. */
static int parse_line(struct pl_dec *d, struct influx *x, size_t *pi, size_t *line)
{
    const char *s = x->s, *meas, *res = NULL;
    size_t len = x->len, i = *pi, ml, n_tags = 0, n_fields = 0, no = *line;
    struct aiops_metric_point p = {0};
    int rc;

#define FAIL(reason, at, fmt, ...)                                                                 \
    pl_fail(d, reason, "line %zu (byte %zu): " fmt, no, (size_t)(at), ##__VA_ARGS__)
    d->text_len = 0;
    meas = token(d, s, len, &i, ", ", &ml);
    if (ml == 0)
        return FAIL("syntax", i, "missing measurement");
    if (!pl_str_ok(meas, ml))
        return FAIL("syntax", i, "measurement is not UTF-8 text");
    while (i < len && s[i] == ',') {
        size_t kl, vl, at = ++i;
        const char *k = token(d, s, len, &i, "=, ", &kl), *v;

        if (i == len || s[i] != '=' || kl == 0)
            return FAIL("syntax", at, "bad tag key");
        i++;
        v = token(d, s, len, &i, ", ", &vl);
        if (vl == 0)
            return FAIL("syntax", at, "empty tag value");
        if (!pl_str_ok(k, kl) || !pl_str_ok(v, vl))
            return FAIL("syntax", at, "tag is not UTF-8 text");
        if (kl == d->resource_tag_len && memcmp(k, d->resource_tag, kl) == 0) {
            res = v;
            continue;
        }
        rc = pl_reserve_labels(d, n_tags + 1);
        if (rc < 0)
            return rc;
        d->labels[n_tags].key = k;
        d->labels[n_tags++].value = v;
    }
    if (i == len || s[i] != ' ')
        return FAIL("syntax", i, "expected a space and fields");
    while (i < len && s[i] == ' ')
        i++;
    for (;;) {
        size_t kl, at = i, vs;
        const char *k = token(d, s, len, &i, "=, ", &kl), *why;
        double v;

        if (i == len || s[i] != '=' || kl == 0)
            return FAIL("syntax", at, "bad field key");
        if (!pl_str_ok(k, kl))
            return FAIL("syntax", at, "field key is not UTF-8 text");
        vs = ++i;
        if (i < len && s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < len)
                    i++;
                if (s[i] == '\n')
                    ++*line;
            }
            if (i == len)
                return FAIL("syntax", vs, "unterminated string field");
            i++;
        } else {
            while (i < len && s[i] != ',' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r')
                i++;
            if (!is_bool(s + vs, i - vs)) {
                why = number(s + vs, i - vs, &v);
                if (why != NULL)
                    return FAIL(why, vs, "field %s: bad number \"%.*s\"", k,
                                (int)(i - vs < 40 ? i - vs : 40), s + vs);
                rc = pl_reserve((void **)&x->fields, &x->fields_cap, n_fields + 1,
                                sizeof(*x->fields));
                if (rc < 0)
                    return rc;
                x->fields[n_fields++] = (struct field){k, kl, v};
            }
        }
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        break;
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    p.ts_ms = d->now_ms;
    if (i < len && s[i] != '\n' && s[i] != '\r') {
        size_t at = i, nd = 0;
        bool neg = s[i] == '-';
        int64_t ts = 0;

        if (neg)
            i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
            int dig = s[i] - '0';
            if (ts > (INT64_MAX - dig) / 10)
                return FAIL("timestamp", at, "timestamp out of range");
            ts = ts * 10 + dig;
        }
        if (nd == 0)
            return FAIL("syntax", at, "bad timestamp");
        p.ts_ms = floor_div(neg ? -ts : ts, 1000000); /* ns */
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    if (i < len && s[i] != '\n')
        return FAIL("syntax", i, "unexpected byte 0x%02x after the fields", (unsigned char)s[i]);
    if (res == NULL)
        return FAIL("schema", *pi, "tag \"%s\" naming the resource missing", d->resource_tag);
#undef FAIL
    *pi = i;
    p.resource_id = res;
    p.labels = d->labels;
    p.n_labels = n_tags;
    for (size_t k = 0; k < n_fields; k++) {
        rc = pl_join(d, meas, ml, x->fields[k].key, x->fields[k].key_len, &p.metric);
        if (rc < 0)
            return rc;
        p.value = x->fields[k].value;
        rc = pl_point(d, &p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int walk(struct pl_dec *d, void *state)
{
    struct influx *x = state;
    size_t i = 0, line = 1;
    int rc;

    while (i < x->len) {
        char c = x->s[i];

        if (c == '\n') {
            i++;
            line++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            i++;
        } else if (c == '#') {
            while (i < x->len && x->s[i] != '\n')
                i++;
        } else {
            rc = parse_line(d, x, &i, &line);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int aiops_payload_decode_influx(const void *data, size_t len, const struct aiops_payload_options *o,
                                aiops_point_fn fn, void *ctx, struct aiops_payload_error *err)
{
    struct influx x = {.s = data, .len = len};
    struct pl_dec d;
    size_t i = 0;
    int rc;

    pl_init(&d, o, fn, ctx, err);
    while (i < len && (x.s[i] == ' ' || x.s[i] == '\t' || x.s[i] == '\r' || x.s[i] == '\n'))
        i++;
    if (i == len) {
        rc = pl_fail(&d, "empty", "message of %zu bytes has no content", len);
        goto out_fini;
    }
    /* A line's unescaped tokens, each NUL-terminated, never outgrow the message. */
    rc = pl_reserve((void **)&d.text, &d.text_cap, len + 16, 1);
    if (rc < 0)
        goto out_fini;
    rc = pl_run(&d, walk, &x);
    aiops_free(x.fields);
out_fini:
    pl_fini(&d);
    return rc;
}
