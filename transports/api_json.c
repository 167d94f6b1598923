/* SPDX-License-Identifier: MIT */
/* The detect API's JSON (see api_json.h). Requests stream through yajl's callbacks straight into
 * struct aiops_detect_request, with no document tree; validation errors are collected in the
 * FastAPI/pydantic v2 shape and ordered as pydantic would report them. */
#include "transports/api_json.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "agent/timestamp.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define ERR_MAX    100 /* validation errors reported per request */
#define KEY_DEPTH  5   /* body field, series, series field, point, point field */
#define NUM_STACK  128 /* longer JSON numbers are copied to the heap */
#define REASON_MAX 256 /* bytes of an anomaly's "reason" */

enum where { W_ROOT, W_BODY, W_SERIES_ARR, W_SERIES, W_DATA_ARR, W_POINT, W_DONE };

/* Fields numbered in the order pydantic validates them (the models' field order), 0 = none. */
enum { F_NONE, F_SERIES, F_METHOD, F_SENSITIVITY, F_OTHER };
enum { S_NONE, S_RESOURCE_ID, S_METRIC_NAME, S_DATA, S_OTHER };
enum { P_NONE, P_TIMESTAMP, P_VALUE, P_OTHER };

static const char *const body_names[] = {"", "series", "method", "sensitivity"};
static const char *const series_names[] = {"", "resource_id", "metric_name", "data"};
static const char *const point_names[] = {"", "timestamp", "value"};

/* Depth of an error's loc below "body". */
enum { L_BODY, L_FIELD, L_SERIES, L_SERIES_FIELD, L_POINT, L_POINT_FIELD };

enum vkind { V_NULL, V_FALSE, V_TRUE, V_NUMBER, V_STRING, V_MAP, V_ARRAY };
enum input_kind { IN_NONE, IN_RAW, IN_STR };

struct err_rec {
    uint32_t key[KEY_DEPTH]; /* sort key: pydantic's order */
    size_t off, len;         /* the error object's text in dec.etext */
};

struct dec {
    const struct aiops_detect_limits *lim;
    struct aiops_detect_request req;
    size_t series_cap;
    enum where where;
    unsigned skip; /* depth inside an ignored or rejected value, 0 when none */
    int body_key, series_key, point_key;
    unsigned body_seen, series_seen, point_seen; /* bit per field seen in the open object */
    size_t si;                                   /* index of the open series item */
    size_t n_items;                              /* items seen so far in the open series array */
    size_t pi;                                   /* index of the open data item */
    size_t n_points;                             /* items seen so far in the open data array */
    size_t points_cap;
    struct aiops_series_input *cur; /* series being filled, NULL past max_series */
    struct aiops_point pt;
    struct aiops_time tm;
    bool ts_ok, value_ok;
    bool method_set, sensitivity_set;
    struct err_rec errs[ERR_MAX];
    size_t n_errs;
    bool lost;              /* errors past ERR_MAX were not recorded */
    struct aiops_buf etext; /* text of the error objects */
    int err;                /* AIOPS_ENOMEM once an allocation failed */
    yajl_handle h;          /* the second pass of json_invalid */
    size_t good; /* bytes up to the end of the last token yajl accepted (syntax errors only) */
};

/* ---- writing JSON ------------------------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at s (RFC 3629), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];

    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
            return 0; /* overlong, or above U+10FFFF */
        return 4;
    }
    return 0;
}

int aiops_json_string(struct aiops_buf *out, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run;

    aiops_buf_append(out, "\"", 1);
    while (i < len) {
        unsigned char c = s[i];
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};

        /* The longest run that needs no escaping goes in one copy. */
        for (run = i;
             run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\'; run++)
            ;
        if (run > i) {
            aiops_buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(s + i, len - i);
            if (n == 0) {
                aiops_buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD for each bad byte */
                i++;
            } else {
                aiops_buf_append(out, s + i, n);
                i += n;
            }
            continue;
        }
        /* The escapes Python's json.dumps writes: short forms, else \u00xx. */
        switch (c) {
        case '"':
            aiops_buf_append(out, "\\\"", 2);
            break;
        case '\\':
            aiops_buf_append(out, "\\\\", 2);
            break;
        case '\n':
            aiops_buf_append(out, "\\n", 2);
            break;
        case '\r':
            aiops_buf_append(out, "\\r", 2);
            break;
        case '\t':
            aiops_buf_append(out, "\\t", 2);
            break;
        case '\b':
            aiops_buf_append(out, "\\b", 2);
            break;
        case '\f':
            aiops_buf_append(out, "\\f", 2);
            break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            aiops_buf_append(out, esc, sizeof(esc));
            break;
        }
        i++;
    }
    return aiops_buf_append(out, "\"", 1);
}

/* Decimal digits of v, right-aligned to end; returns where they start. */
static char *u64_digits(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return end;
}

static void put_u64(struct aiops_buf *out, uint64_t v)
{
    char tmp[24], *p = u64_digits(v, tmp + sizeof(tmp));

    aiops_buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

int aiops_json_number(struct aiops_buf *out, double v)
{
    char tmp[40];
    int n;

    if (!isfinite(v))
        return aiops_buf_append(out, "null", 4);
    /* Whole numbers below 1e15 (counts, durations, most readings) are exact, and %.15g prints
     * them as their digits: write those without printf's cost. -0 still goes to printf. */
    if (v == floor(v) && fabs(v) < 1e15 && (v != 0.0 || !signbit(v))) {
        char *p = u64_digits((uint64_t)fabs(v), tmp + sizeof(tmp));

        if (v < 0)
            *--p = '-';
        return aiops_buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
    }
    n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    return aiops_buf_append(out, tmp, (size_t)n);
}

/* Python's round(v, places) (correctly rounded, ties to even as glibc's printf rounds) written
 * as aiops_json_number writes the double nearest it. Below 1e9 the rounded decimal has at most
 * 13 digits, which is exactly that text once its trailing zeros are dropped; larger values go
 * through the double. */
static void put_rounded(struct aiops_buf *out, double v, int places)
{
    char tmp[64];
    int n;

    if (!isfinite(v) || fabs(v) >= 1e15) { /* nothing after the point to round */
        aiops_json_number(out, v);
        return;
    }
    n = snprintf(tmp, sizeof(tmp), "%.*f", places, v);
    if (fabs(v) >= 1e9) {
        aiops_json_number(out, strtod(tmp, NULL));
        return;
    }
    if (places > 0) {
        while (tmp[n - 1] == '0')
            n--;
        if (tmp[n - 1] == '.')
            n--;
    }
    aiops_buf_append(out, tmp, (size_t)n);
}

/* ---- collecting validation errors --------------------------------------------------------- */

/* The sort key and loc of an error at `depth`, whose last component is `field` for field
 * depths. */
static void make_key(const struct dec *d, int depth, int field, uint32_t key[KEY_DEPTH])
{
    memset(key, 0, KEY_DEPTH * sizeof(*key));
    if (depth == L_BODY)
        return;
    key[0] = depth == L_FIELD ? (uint32_t)field : F_SERIES;
    if (depth >= L_SERIES)
        key[1] = (uint32_t)d->si + 1;
    if (depth == L_SERIES_FIELD)
        key[2] = (uint32_t)field;
    if (depth >= L_POINT) {
        key[2] = S_DATA;
        key[3] = (uint32_t)d->pi + 1;
    }
    if (depth == L_POINT_FIELD)
        key[4] = (uint32_t)field;
}

static void write_loc(struct dec *d, int depth, int field)
{
    struct aiops_buf *b = &d->etext;

    aiops_buf_puts(b, "\"loc\":[\"body\"");
    if (depth == L_FIELD)
        aiops_buf_printf(b, ",\"%s\"", body_names[field]);
    if (depth >= L_SERIES)
        aiops_buf_printf(b, ",\"series\",%zu", d->si);
    if (depth == L_SERIES_FIELD)
        aiops_buf_printf(b, ",\"%s\"", series_names[field]);
    if (depth >= L_POINT)
        aiops_buf_printf(b, ",\"data\",%zu", d->pi);
    if (depth == L_POINT_FIELD)
        aiops_buf_printf(b, ",\"%s\"", point_names[field]);
    aiops_buf_puts(b, "]");
}

/* Records one error. `ctx` is the JSON text of the ctx object's members, or NULL. */
static void add_error(struct dec *d, int depth, int field, const char *type, const char *msg,
                      enum input_kind ik, const char *in, size_t in_len, const char *ctx)
{
    struct err_rec *e;

    if (d->n_errs == ERR_MAX) {
        d->lost = true;
        return;
    }
    e = &d->errs[d->n_errs];
    make_key(d, depth, field, e->key);
    e->off = d->etext.len;
    aiops_buf_printf(&d->etext, "%s{\"type\":\"%s\",", d->etext.len ? "," : "", type);
    write_loc(d, depth, field);
    aiops_buf_puts(&d->etext, ",\"msg\":");
    aiops_json_string(&d->etext, msg, strlen(msg));
    if (ik == IN_RAW) {
        aiops_buf_puts(&d->etext, ",\"input\":");
        aiops_buf_append(&d->etext, in, in_len);
    } else if (ik == IN_STR) {
        aiops_buf_puts(&d->etext, ",\"input\":");
        aiops_json_string(&d->etext, in, in_len);
    }
    if (ctx != NULL)
        aiops_buf_printf(&d->etext, ",\"ctx\":{%s}", ctx);
    aiops_buf_puts(&d->etext, "}");
    if (d->etext.err < 0) {
        d->err = d->etext.err;
        return;
    }
    /* Skip the separating comma: records are joined again after sorting. */
    if (d->etext.data[e->off] == ',')
        e->off++;
    e->len = d->etext.len - e->off;
    d->n_errs++;
}

static bool key_has_prefix(const struct err_rec *e, const uint32_t *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        if (e->key[i] != prefix[i])
            return false;
    }
    return true;
}

static bool has_errors(const struct dec *d, const uint32_t *prefix, int n)
{
    for (size_t i = 0; i < d->n_errs; i++) {
        if (key_has_prefix(&d->errs[i], prefix, n))
            return true;
    }
    return false;
}

/* Forgets errors under a prefix: for a repeated key (the last one wins, as in json.loads) and
 * for a list over its maximum (pydantic then reports only too_long). */
static void drop_errors(struct dec *d, const uint32_t *prefix, int n)
{
    size_t k = 0;

    for (size_t i = 0; i < d->n_errs; i++) {
        if (!key_has_prefix(&d->errs[i], prefix, n))
            d->errs[k++] = d->errs[i];
    }
    d->n_errs = k;
}

static bool key_less(const struct err_rec *a, const struct err_rec *b)
{
    for (int i = 0; i < KEY_DEPTH; i++) {
        if (a->key[i] != b->key[i])
            return a->key[i] < b->key[i];
    }
    return false;
}

/* The 422 body, errors in pydantic's order (stable insertion sort: at most ERR_MAX). */
static int write_detail(struct dec *d, struct aiops_buf *out)
{
    for (size_t i = 1; i < d->n_errs; i++) {
        struct err_rec x = d->errs[i];
        size_t j = i;

        while (j > 0 && key_less(&x, &d->errs[j - 1])) {
            d->errs[j] = d->errs[j - 1];
            j--;
        }
        d->errs[j] = x;
    }
    aiops_buf_puts(out, "{\"detail\":[");
    for (size_t i = 0; i < d->n_errs; i++) {
        if (i > 0)
            aiops_buf_append(out, ",", 1);
        aiops_buf_append(out, d->etext.data + d->errs[i].off, d->errs[i].len);
    }
    return aiops_buf_puts(out, "]}");
}

/* speedate's reason for rejecting a datetime string (pydantic's ctx.error), for the common
 * shapes; it only runs once aiops_time_parse has failed. */
static const char *datetime_error(const char *s, size_t len)
{
    static const unsigned char dim[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
#define DIGIT(i) ((i) < len && s[i] >= '0' && s[i] <= '9')
#define NUM2(i)  ((unsigned)(s[i] - '0') * 10 + (unsigned)(s[(i) + 1] - '0'))
    size_t i;

    if (len < 10)
        return "input is too short";
    for (i = 0; i < 4; i++) {
        if (!DIGIT(i))
            return "invalid character in year";
    }
    if (s[4] != '-' || s[7] != '-')
        return "invalid date separator, expected `-`";
    if (!DIGIT(5) || !DIGIT(6))
        return "invalid character in month";
    if (!DIGIT(8) || !DIGIT(9))
        return "invalid character in day";
    if (NUM2(5) < 1 || NUM2(5) > 12)
        return "month value is outside expected range of 1-12";
    if (NUM2(8) < 1 || NUM2(8) > dim[NUM2(5)])
        return "day value is outside expected range";
    if (len == 10 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ' && s[10] != '_'))
        return "invalid datetime separator, expected `T`, `t`, `_` or space";
    if (len - 11 < 5)
        return "input is too short";
    if (!DIGIT(11) || !DIGIT(12))
        return "invalid character in hour";
    if (s[13] != ':')
        return "invalid time separator, expected `:`";
    if (!DIGIT(14) || !DIGIT(15))
        return "invalid character in minute";
    if (NUM2(11) > 23)
        return "hour value is outside expected range of 0-23";
    if (NUM2(14) > 59)
        return "minute value is outside expected range of 0-59";
    i = 16;
    if (i < len && s[i] == ':') {
        if (!DIGIT(17) || !DIGIT(18))
            return "invalid character in second";
        if (NUM2(17) > 59)
            return "second value is outside expected range of 0-59";
        i = 19;
        if (i < len && (s[i] == '.' || s[i] == ',')) {
            size_t start = ++i;
            while (DIGIT(i))
                i++;
            if (i == start)
                return "second fraction digits missing after `.`";
        }
    }
    if (i < len && s[i] != 'Z' && s[i] != 'z') {
        if (s[i] != '+' && s[i] != '-')
            return "invalid timezone sign";
        if (!DIGIT(i + 1) || !DIGIT(i + 2))
            return "invalid timezone hour";
        i += 3;
        if (i < len && s[i] == ':')
            i++;
        if (!DIGIT(i) || !DIGIT(i + 1))
            return "invalid timezone minute";
        if (NUM2(i) > 59)
            return "timezone minute value is outside expected range of 0-59";
    }
    return "unexpected extra characters at the end of the input";
#undef DIGIT
#undef NUM2
}

/* ---- the decoder's callbacks --------------------------------------------------------------- */

static void type_error(struct dec *d, int depth, int field, const char *type, const char *msg,
                       enum vkind k, const char *s, size_t len)
{
    switch (k) {
    case V_NULL:
        add_error(d, depth, field, type, msg, IN_RAW, "null", 4, NULL);
        break;
    case V_FALSE:
        add_error(d, depth, field, type, msg, IN_RAW, "false", 5, NULL);
        break;
    case V_TRUE:
        add_error(d, depth, field, type, msg, IN_RAW, "true", 4, NULL);
        break;
    case V_NUMBER:
        add_error(d, depth, field, type, msg, IN_RAW, s, len, NULL);
        break;
    case V_STRING:
        add_error(d, depth, field, type, msg, IN_STR, s, len, NULL);
        break;
    default: /* containers: pydantic echoes them whole; we leave "input" out */
        add_error(d, depth, field, type, msg, IN_NONE, NULL, 0, NULL);
        d->skip = 1;
        break;
    }
}

static void not_an_object(struct dec *d, int depth, enum vkind k, const char *s, size_t len)
{
    type_error(d, depth, 0, "model_attributes_type",
               "Input should be a valid dictionary or object to extract fields from", k, s, len);
}

/* Clinger's fast path: a JSON number whose digits, read as an integer, are at most 2^53 and
 * whose decimal exponent is within 10^22 converts exactly with one division (both operands are
 * exact doubles and the division rounds correctly). That covers the 16-digit shortest reprs most
 * Python floats print as, not only 15 digits. False when it does not apply. */
static bool fast_number(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    size_t i = 0, nd = 0;
    int frac = 0;
    bool neg = false;

    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
        m = m * 10 + (uint64_t)(s[i] - '0');
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++, frac++)
            m = m * 10 + (uint64_t)(s[i] - '0');
    }
    /* 19 digits cannot overflow m; exponents and longer mantissas are left to strtod. */
    if (i != len || nd > 19 || m > (UINT64_C(1) << 53) || frac > 22)
        return false;
    *out = (double)m / pow10[frac];
    if (neg)
        *out = -*out;
    return true;
}

/* strtod over a JSON number (not NUL-terminated). */
static int parse_number(struct dec *d, const char *s, size_t len, double *out)
{
    char stack[NUM_STACK], *tmp = stack;

    if (fast_number(s, len, out))
        return 0;
    if (len >= sizeof(stack)) {
        tmp = aiops_malloc(len + 1);
        if (tmp == NULL) {
            d->err = AIOPS_ENOMEM;
            return AIOPS_ENOMEM;
        }
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *out = strtod(tmp, NULL);
    if (tmp != stack)
        aiops_free(tmp);
    return 0;
}

/* A float from a string the way pydantic's lax mode takes one: surrounding whitespace, then a
 * decimal number (no hex). Returns false if it is not one. */
static bool parse_float_string(const char *s, size_t len, double *out)
{
    char tmp[NUM_STACK], *end;
    size_t a = 0, b = len;

    while (a < b && strchr(" \t\n\r\f\v", s[a]) != NULL && s[a] != '\0')
        a++;
    while (b > a && strchr(" \t\n\r\f\v", s[b - 1]) != NULL && s[b - 1] != '\0')
        b--;
    if (b == a || b - a >= sizeof(tmp))
        return false;
    for (size_t i = a; i < b; i++) {
        if (strchr("0123456789+-.eEinfatyINFATY", s[i]) == NULL || s[i] == '\0')
            return false;
    }
    memcpy(tmp, s + a, b - a);
    tmp[b - a] = '\0';
    *out = strtod(tmp, &end);
    return end == tmp + (b - a);
}

static void on_timestamp(struct dec *d, enum vkind k, const char *s, size_t len)
{
    char ctx[160];
    double v;

    if (k == V_STRING) {
        if (aiops_time_parse(s, len, &d->tm) == 0) {
            d->ts_ok = true;
            return;
        }
        const char *why = datetime_error(s, len);
        char msg[160];
        snprintf(ctx, sizeof(ctx), "\"error\":\"%s\"", why);
        snprintf(msg, sizeof(msg), "Input should be a valid datetime or date, %s", why);
        add_error(d, L_POINT_FIELD, P_TIMESTAMP, "datetime_from_date_parsing", msg, IN_STR, s, len,
                  ctx);
        return;
    }
    if (k == V_NUMBER) {
        if (parse_number(d, s, len, &v) < 0)
            return;
        if (isfinite(v) && fabs(v) < 2e19) {
            d->tm.ms = aiops_time_epoch_to_ms(v);
            d->tm.tz = AIOPS_TZ_UTC;
            d->tm.offset_minutes = 0;
            /* aiops_time_epoch_to_ms clamps to years 1..9999 */
            if (d->tm.ms > -62135596800000LL && d->tm.ms < 253402300799999LL) {
                d->ts_ok = true;
                return;
            }
        }
        const char *why = v > 0 ? "dates after 9999 are not supported as unix timestamps"
                                : "dates before 1600 are not supported as unix timestamps";
        char msg[160];
        snprintf(ctx, sizeof(ctx), "\"error\":\"%s\"", why);
        snprintf(msg, sizeof(msg), "Input should be a valid datetime, %s", why);
        add_error(d, L_POINT_FIELD, P_TIMESTAMP, "datetime_parsing", msg, IN_RAW, s, len, ctx);
        return;
    }
    type_error(d, L_POINT_FIELD, P_TIMESTAMP, "datetime_type", "Input should be a valid datetime",
               k, s, len);
}

static void on_point_value(struct dec *d, enum vkind k, const char *s, size_t len)
{
    double v;

    switch (k) {
    case V_NUMBER:
        if (parse_number(d, s, len, &v) < 0)
            return;
        break;
    case V_STRING:
        if (!parse_float_string(s, len, &v)) {
            add_error(d, L_POINT_FIELD, P_VALUE, "float_parsing",
                      "Input should be a valid number, unable to parse string as a number", IN_STR,
                      s, len, NULL);
            return;
        }
        break;
    case V_FALSE:
    case V_TRUE:
        v = k == V_TRUE ? 1.0 : 0.0; /* pydantic's lax mode takes bools as numbers */
        break;
    default:
        type_error(d, L_POINT_FIELD, P_VALUE, "float_type", "Input should be a valid number", k, s,
                   len);
        return;
    }
    if (!isfinite(v)) {
        add_error(d, L_POINT_FIELD, P_VALUE, "finite_number", "Input should be a finite number",
                  k == V_STRING ? IN_STR : IN_RAW, s, len, NULL);
        return;
    }
    d->pt.value = v;
    d->value_ok = true;
}

static void on_series_string(struct dec *d, int field, enum vkind k, const char *s, size_t len)
{
    char **slot;

    if (k != V_STRING) {
        type_error(d, L_SERIES_FIELD, field, "string_type", "Input should be a valid string", k, s,
                   len);
        return;
    }
    if (len == 0) {
        add_error(d, L_SERIES_FIELD, field, "string_too_short",
                  "String should have at least 1 character", IN_STR, s, len, "\"min_length\":1");
        return;
    }
    if (d->cur == NULL)
        return;
    slot = field == S_RESOURCE_ID ? &d->cur->resource_id : &d->cur->metric_name;
    aiops_free(*slot);
    *slot = aiops_strndup(s, len);
    if (*slot == NULL)
        d->err = AIOPS_ENOMEM;
}

/* The methods of the API contract, as the old service's Literal listed them (and so its 422). */
static const char method_choices[] = "'z-score', 'moving-average', 'isolation-forest', 'lof', "
                                     "'prophet', 'dtai-auto', 'matrix-profile' or 'auto'";

/* pydantic's enum error; choices hold nothing that needs escaping. */
static void enum_error(struct dec *d, int field, const char *choices, enum vkind k, const char *s,
                       size_t len)
{
    char msg[600], ctx[600];

    snprintf(msg, sizeof(msg), "Input should be %s", choices);
    snprintf(ctx, sizeof(ctx), "\"expected\":\"%s\"", choices);
    if (k == V_STRING)
        add_error(d, L_FIELD, field, "enum", msg, IN_STR, s, len, ctx);
    else if (k == V_NUMBER)
        add_error(d, L_FIELD, field, "enum", msg, IN_RAW, s, len, ctx);
    else if (k == V_NULL)
        add_error(d, L_FIELD, field, "enum", msg, IN_RAW, "null", 4, ctx);
    else if (k == V_TRUE)
        add_error(d, L_FIELD, field, "enum", msg, IN_RAW, "true", 4, ctx);
    else if (k == V_FALSE)
        add_error(d, L_FIELD, field, "enum", msg, IN_RAW, "false", 5, ctx);
    else {
        add_error(d, L_FIELD, field, "enum", msg, IN_NONE, NULL, 0, ctx);
        d->skip = 1;
    }
}

static void on_method(struct dec *d, enum vkind k, const char *s, size_t len)
{
    char *name;

    if (k == V_STRING && memchr(s, '\0', len) == NULL) {
        name = aiops_strndup(s, len);
        if (name == NULL) {
            d->err = AIOPS_ENOMEM;
            return;
        }
        if (aiops_detector_find(name) != NULL) {
            aiops_free(d->req.method);
            d->req.method = name;
            d->method_set = true;
            return;
        }
        aiops_free(name);
    }
    enum_error(d, F_METHOD, method_choices, k, s, len);
}

static void on_sensitivity(struct dec *d, enum vkind k, const char *s, size_t len)
{
    static const char *const names[] = {"low", "medium", "high"};
    static const enum aiops_sensitivity values[] = {AIOPS_SENSITIVITY_LOW, AIOPS_SENSITIVITY_MEDIUM,
                                                    AIOPS_SENSITIVITY_HIGH};

    for (size_t i = 0; k == V_STRING && i < 3; i++) {
        if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0) {
            d->req.sensitivity = values[i];
            return;
        }
    }
    enum_error(d, F_SENSITIVITY, "'low', 'medium' or 'high'", k, s, len);
}

static void begin_series(struct dec *d)
{
    d->si = d->n_items++;
    d->where = W_SERIES;
    d->series_key = S_NONE;
    d->series_seen = 0;
    d->cur = NULL;
    d->points_cap = 0;
    if (d->si >= d->lim->max_series)
        return;
    if (d->req.n_series == d->series_cap) {
        size_t cap = d->series_cap ? d->series_cap * 2 : 4;
        struct aiops_series_input *p = aiops_realloc(d->req.series, cap * sizeof(*p));
        if (p == NULL) {
            d->err = AIOPS_ENOMEM;
            return;
        }
        d->req.series = p;
        d->series_cap = cap;
    }
    d->cur = &d->req.series[d->req.n_series++];
    memset(d->cur, 0, sizeof(*d->cur));
}

static void push_point(struct dec *d)
{
    struct aiops_series_input *s = d->cur;

    if (s == NULL || d->pi >= d->lim->max_points)
        return;
    if (s->n == d->points_cap) {
        size_t cap = d->points_cap ? d->points_cap * 2 : 64;
        struct aiops_point *p;
        struct aiops_time *t;

        if (cap > d->lim->max_points)
            cap = d->lim->max_points;
        p = aiops_realloc(s->points, cap * sizeof(*p));
        if (p == NULL)
            goto err_nomem;
        s->points = p;
        t = aiops_realloc(s->times, cap * sizeof(*t));
        if (t == NULL)
            goto err_nomem;
        s->times = t;
        d->points_cap = cap;
    }
    d->pt.ts_ms = d->tm.ms;
    s->points[s->n] = d->pt;
    s->times[s->n] = d->tm;
    s->n++;
    return;
err_nomem:
    d->err = AIOPS_ENOMEM;
}

static int on_value(struct dec *d, enum vkind k, const char *s, size_t len)
{
    if (d->skip > 0) {
        d->skip += k == V_MAP || k == V_ARRAY;
        return 1;
    }
    switch (d->where) {
    case W_ROOT:
        if (k == V_MAP)
            d->where = W_BODY;
        else
            not_an_object(d, L_BODY, k, s, len);
        break;
    case W_BODY:
        if (d->body_key == F_SERIES) {
            if (k == V_ARRAY) {
                d->where = W_SERIES_ARR;
                d->n_items = 0;
            } else {
                type_error(d, L_FIELD, F_SERIES, "list_type", "Input should be a valid list", k, s,
                           len);
            }
        } else if (d->body_key == F_METHOD) {
            on_method(d, k, s, len);
        } else if (d->body_key == F_SENSITIVITY) {
            on_sensitivity(d, k, s, len);
        } else if (k == V_MAP || k == V_ARRAY) {
            d->skip = 1; /* unknown fields are ignored, as pydantic does */
        }
        break;
    case W_SERIES_ARR:
        if (k == V_MAP) {
            begin_series(d);
        } else {
            d->si = d->n_items++;
            not_an_object(d, L_SERIES, k, s, len);
        }
        break;
    case W_SERIES:
        if (d->series_key == S_RESOURCE_ID || d->series_key == S_METRIC_NAME) {
            on_series_string(d, d->series_key, k, s, len);
        } else if (d->series_key == S_DATA) {
            if (k == V_ARRAY) {
                d->where = W_DATA_ARR;
                d->n_points = 0;
            } else {
                type_error(d, L_SERIES_FIELD, S_DATA, "list_type", "Input should be a valid list",
                           k, s, len);
            }
        } else if (k == V_MAP || k == V_ARRAY) {
            d->skip = 1;
        }
        break;
    case W_DATA_ARR:
        d->pi = d->n_points++;
        if (k == V_MAP) {
            d->where = W_POINT;
            d->point_key = P_NONE;
            d->point_seen = 0;
            d->ts_ok = d->value_ok = false;
        } else {
            not_an_object(d, L_POINT, k, s, len);
        }
        break;
    case W_POINT:
        if (d->point_key == P_TIMESTAMP)
            on_timestamp(d, k, s, len);
        else if (d->point_key == P_VALUE)
            on_point_value(d, k, s, len);
        else if (k == V_MAP || k == V_ARRAY)
            d->skip = 1;
        break;
    case W_DONE:
        break;
    }
    return d->err == 0;
}

static int lookup(const char *const *names, int n, const unsigned char *key, size_t len)
{
    for (int i = 1; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
            return i;
    }
    return n; /* the "other" field */
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct dec *d = ctx;
    uint32_t prefix[KEY_DEPTH];
    int f;

    if (d->skip > 0)
        return 1;
    if (d->where == W_BODY) {
        f = d->body_key = lookup(body_names, F_OTHER, key, len);
        if (f == F_OTHER || !(d->body_seen & (1u << f))) {
            d->body_seen |= 1u << f;
            return 1;
        }
        /* A repeated key: json.loads keeps the last value, so forget the first. */
        make_key(d, L_FIELD, f, prefix);
        drop_errors(d, prefix, 1);
        if (f == F_SERIES) {
            struct aiops_detect_request tmp = {.series = d->req.series,
                                               .n_series = d->req.n_series};
            aiops_detect_request_fini(&tmp);
            d->req.series = NULL;
            d->req.n_series = 0;
            d->series_cap = 0;
        }
    } else if (d->where == W_SERIES) {
        f = d->series_key = lookup(series_names, S_OTHER, key, len);
        if (f == S_OTHER || !(d->series_seen & (1u << f))) {
            d->series_seen |= 1u << f;
            return 1;
        }
        make_key(d, L_SERIES_FIELD, f, prefix);
        drop_errors(d, prefix, 3);
        if (f == S_DATA && d->cur != NULL)
            d->cur->n = 0;
    } else if (d->where == W_POINT) {
        f = d->point_key = lookup(point_names, P_OTHER, key, len);
        if (f == P_OTHER || !(d->point_seen & (1u << f))) {
            d->point_seen |= 1u << f;
            return 1;
        }
        make_key(d, L_POINT_FIELD, f, prefix);
        drop_errors(d, prefix, 5);
        if (f == P_TIMESTAMP)
            d->ts_ok = false;
        else
            d->value_ok = false;
    }
    return 1;
}

static void missing(struct dec *d, int depth, int field)
{
    add_error(d, depth, field, "missing", "Field required", IN_NONE, NULL, 0, NULL);
}

static int cb_end_map(void *ctx)
{
    struct dec *d = ctx;

    if (d->skip > 0) {
        d->skip--;
        return 1;
    }
    switch (d->where) {
    case W_POINT:
        if (!(d->point_seen & (1u << P_TIMESTAMP)))
            missing(d, L_POINT_FIELD, P_TIMESTAMP);
        if (!(d->point_seen & (1u << P_VALUE)))
            missing(d, L_POINT_FIELD, P_VALUE);
        if (d->ts_ok && d->value_ok)
            push_point(d);
        d->where = W_DATA_ARR;
        break;
    case W_SERIES:
        for (int f = S_RESOURCE_ID; f <= S_DATA; f++) {
            if (!(d->series_seen & (1u << f)))
                missing(d, L_SERIES_FIELD, f);
        }
        d->where = W_SERIES_ARR;
        break;
    case W_BODY:
        if (!(d->body_seen & (1u << F_SERIES)))
            missing(d, L_FIELD, F_SERIES);
        d->where = W_DONE;
        break;
    default:
        break;
    }
    return d->err == 0;
}

/* pydantic's too_short/too_long for a list of `count` items at `depth`/`field`. */
static void check_length(struct dec *d, int depth, int field, size_t count, size_t min, size_t max)
{
    uint32_t prefix[KEY_DEPTH];
    int n = depth == L_FIELD ? 1 : 3;
    char msg[160], ctx[160];

    make_key(d, depth, field, prefix);
    if (count > max) {
        drop_errors(d, prefix, n);
        snprintf(msg, sizeof(msg), "List should have at most %zu item%s after validation, not %zu",
                 max, max == 1 ? "" : "s", count);
        snprintf(ctx, sizeof(ctx),
                 "\"field_type\":\"List\",\"max_length\":%zu,\"actual_length\":%zu", max, count);
        add_error(d, depth, field, "too_long", msg, IN_NONE, NULL, 0, ctx);
    } else if (count < min && !has_errors(d, prefix, n)) {
        snprintf(msg, sizeof(msg), "List should have at least %zu item%s after validation, not %zu",
                 min, min == 1 ? "" : "s", count);
        snprintf(ctx, sizeof(ctx),
                 "\"field_type\":\"List\",\"min_length\":%zu,\"actual_length\":%zu", min, count);
        add_error(d, depth, field, "too_short", msg, IN_NONE, NULL, 0, ctx);
    }
}

static int cb_end_array(void *ctx)
{
    struct dec *d = ctx;

    if (d->skip > 0) {
        d->skip--;
        return 1;
    }
    if (d->where == W_DATA_ARR) {
        check_length(d, L_SERIES_FIELD, S_DATA, d->n_points, d->lim->min_points,
                     d->lim->max_points);
        d->where = W_SERIES;
    } else if (d->where == W_SERIES_ARR) {
        check_length(d, L_FIELD, F_SERIES, d->n_items, 1, d->lim->max_series);
        d->where = W_BODY;
    }
    return d->err == 0;
}

static int cb_null(void *ctx)
{
    return on_value(ctx, V_NULL, NULL, 0);
}

static int cb_boolean(void *ctx, int b)
{
    return on_value(ctx, b ? V_TRUE : V_FALSE, NULL, 0);
}

static int cb_number(void *ctx, const char *s, size_t len)
{
    return on_value(ctx, V_NUMBER, s, len);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return on_value(ctx, V_STRING, (const char *)s, len);
}

static int cb_start_map(void *ctx)
{
    return on_value(ctx, V_MAP, NULL, 0);
}

static int cb_start_array(void *ctx)
{
    return on_value(ctx, V_ARRAY, NULL, 0);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* A second pass over a body with a syntax error, noting where each token yajl accepted ends.
 * The decoding pass leaves this out: one call per token costs more than the rare re-parse. */
static int track(void *ctx)
{
    struct dec *d = ctx;

    d->good = yajl_get_bytes_consumed(d->h);
    return 1;
}

static int track_boolean(void *ctx, int b)
{
    (void)b;
    return track(ctx);
}

static int track_number(void *ctx, const char *s, size_t len)
{
    (void)s, (void)len;
    return track(ctx);
}

static int track_string(void *ctx, const unsigned char *s, size_t len)
{
    (void)s, (void)len;
    return track(ctx);
}

static const yajl_callbacks track_callbacks = {
    .yajl_null = track,
    .yajl_boolean = track_boolean,
    .yajl_number = track_number,
    .yajl_string = track_string,
    .yajl_start_map = track,
    .yajl_map_key = track_string,
    .yajl_end_map = track,
    .yajl_start_array = track,
    .yajl_end_array = track,
};

/* The first offset from i on that is not JSON whitespace, or len. */
static size_t skip_json_space(const char *body, size_t len, size_t i)
{
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    return i;
}

/* FastAPI's answer to a body json.loads rejects, with yajl's reason. Python's json.loads points
 * at the start of the token it could not take: after the last good one, its whitespace and one
 * ':' or ','. yajl's own offset is past the bad token. */
static int json_invalid(struct dec *d, const char *body, size_t len, struct aiops_buf *out)
{
    yajl_handle h = yajl_alloc(&track_callbacks, NULL, d);
    unsigned char *why;
    const char *w;
    size_t wl, offset;
    int err;

    if (h == NULL)
        return AIOPS_ENOMEM;
    d->h = h;
    d->good = 0;
    yajl_config(h, yajl_dont_validate_strings, 1);
    if (yajl_parse(h, (const unsigned char *)body, len) == yajl_status_ok)
        yajl_complete_parse(h);
    offset = skip_json_space(body, len, d->good);
    if (offset < len && (body[offset] == ':' || body[offset] == ','))
        offset = skip_json_space(body, len, offset + 1);
    why = yajl_get_error(h, 0, (const unsigned char *)body, len);
    w = why != NULL ? (const char *)why : "invalid JSON";
    wl = strlen(w);
    while (wl > 0 && (w[wl - 1] == '\n' || w[wl - 1] == ' ' || w[wl - 1] == '.'))
        wl--;
    aiops_buf_printf(out,
                     "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",%zu],"
                     "\"msg\":\"JSON decode error\",\"input\":{},\"ctx\":{\"error\":",
                     offset);
    aiops_json_string(out, w, wl);
    err = aiops_buf_puts(out, "}}]}");
    if (why != NULL)
        yajl_free_error(h, why);
    yajl_free(h);
    return err;
}

/* Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or len. yajl can check this itself, but its per-byte
 * check inside the lexer costs a third of the decode; this loop skips ASCII 32 bytes at a time. */
static size_t utf8_invalid_at(const char *body, size_t len)
{
    const unsigned char *s = (const unsigned char *)body;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i], n, min;
        uint32_t cp;

        if (i + 32 <= len) {
            uint64_t v[4];

            memcpy(v, s + i, sizeof(v));
            if (((v[0] | v[1] | v[2] | v[3]) & 0x8080808080808080ull) == 0) {
                i += 32;
                continue;
            }
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        for (unsigned k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

int aiops_api_decode_detect(const char *body, size_t len, const struct aiops_detect_limits *limits,
                            struct aiops_detect_request *out, struct aiops_buf *errors)
{
    struct dec *d;
    yajl_handle h;
    yajl_status st;
    size_t bad_utf8;
    int err;

    memset(out, 0, sizeof(*out));
    if (len == 0) /* FastAPI: no body at all is a missing body */
        return aiops_buf_puts(errors, "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],"
                                      "\"msg\":\"Field required\",\"input\":null}]}") < 0
                   ? AIOPS_ENOMEM
                   : AIOPS_EINVAL;
    d = aiops_calloc(1, sizeof(*d));
    if (d == NULL)
        return AIOPS_ENOMEM;
    d->lim = limits;
    d->req.sensitivity = limits->default_sensitivity;
    aiops_buf_init(&d->etext);
    h = yajl_alloc(&callbacks, NULL, d);
    if (h == NULL) {
        err = AIOPS_ENOMEM;
        goto err_free_dec;
    }

    yajl_config(h, yajl_dont_validate_strings, 1);
    bad_utf8 = utf8_invalid_at(body, len);
    if (bad_utf8 < len) {
        aiops_buf_printf(errors,
                         "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",%zu],"
                         "\"msg\":\"JSON decode error\",\"input\":{},"
                         "\"ctx\":{\"error\":\"invalid UTF-8 byte\"}}]}",
                         bad_utf8);
        err = errors->err < 0 ? errors->err : AIOPS_EINVAL;
        goto err_free_handle;
    }
    st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (d->err < 0) {
        err = d->err;
        goto err_free_handle;
    }
    if (st != yajl_status_ok) {
        err = json_invalid(d, body, len, errors) < 0 ? AIOPS_ENOMEM : AIOPS_EINVAL;
        goto err_free_handle;
    }
    if (d->n_errs > 0 || d->lost) {
        err = write_detail(d, errors) < 0 ? AIOPS_ENOMEM : AIOPS_EINVAL;
        goto err_free_handle;
    }
    if (!d->method_set) {
        d->req.method = aiops_strdup(limits->default_method);
        if (d->req.method == NULL) {
            err = AIOPS_ENOMEM;
            goto err_free_handle;
        }
    }
    yajl_free(h);
    aiops_buf_fini(&d->etext);
    *out = d->req;
    aiops_free(d);
    return 0;
err_free_handle:
    yajl_free(h);
err_free_dec:
    aiops_detect_request_fini(&d->req);
    aiops_buf_fini(&d->etext);
    aiops_free(d);
    return err;
}

/* ---- the response -------------------------------------------------------------------------- */

static void put_time(struct aiops_buf *out, const struct aiops_time *t)
{
    char ts[40];
    size_t n = aiops_time_format(t, ts, sizeof(ts));

    aiops_buf_append(out, "\"", 1);
    aiops_buf_append(out, ts, n);
    aiops_buf_append(out, "\"", 1);
}

static struct aiops_time time_of(const struct aiops_series_input *in, size_t i)
{
    if (in->times != NULL)
        return in->times[i];
    return (struct aiops_time){.ms = in->points[i].ts_ms, .tz = AIOPS_TZ_UTC};
}

static void put_key(struct aiops_buf *out, const char *key)
{
    aiops_buf_puts(out, key);
}

static void encode_series(struct aiops_buf *out, const struct aiops_detect_request *req,
                          const struct aiops_detect_response *resp, size_t s)
{
    const struct aiops_series_input *in = &req->series[s];
    const struct aiops_series_result *r = &resp->results[s];
    const struct aiops_detector_ops *ops = resp->method;
    char reason[REASON_MAX] = "";
    bool first = true;

    put_key(out, "{\"resource_id\":");
    aiops_json_string(out, in->resource_id, strlen(in->resource_id));
    put_key(out, ",\"metric_name\":");
    aiops_json_string(out, in->metric_name, strlen(in->metric_name));
    put_key(out, ",\"method_used\":");
    aiops_json_string(out, ops->name, strlen(ops->name));
    put_key(out, ",\"anomalies\":[");
    for (size_t i = 0; i < in->n; i++) {
        const struct aiops_verdict *v = &r->verdicts[i];
        struct aiops_time t;

        if (!v->is_anomaly)
            continue;
        t = time_of(in, i);
        put_key(out, first ? "{\"timestamp\":" : ",{\"timestamp\":");
        first = false;
        put_time(out, &t);
        put_key(out, ",\"value\":");
        aiops_json_number(out, in->points[i].value);
        put_key(out, ",\"score\":");
        put_rounded(out, v->score, 4);
        put_key(out, ",\"is_anomaly\":true,\"reason\":");
        reason[0] = '\0';
        if (ops->explain != NULL)
            ops->explain(v, in->points[i].value, reason, sizeof(reason));
        aiops_json_string(out, reason, strnlen(reason, sizeof(reason)));
        aiops_buf_append(out, "}", 1);
    }
    put_key(out, "],\"total_points\":");
    put_u64(out, in->n);
    put_key(out, ",\"anomaly_count\":");
    put_u64(out, r->anomaly_count);
    put_key(out, ",\"anomaly_percentage\":");
    put_rounded(out, in->n ? (double)r->anomaly_count / (double)in->n * 100.0 : 0.0, 2);
    put_key(out, ",\"detection_time_ms\":");
    put_rounded(out, r->detection_time_ms, 2);
    aiops_buf_append(out, "}", 1);
}

static void encode_event(struct aiops_buf *out, const struct aiops_detect_request *req,
                         const struct aiops_group_event *e)
{
    const struct aiops_series_input *in = &req->series[e->series];

    put_key(out, "{\"resource_id\":");
    aiops_json_string(out, in->resource_id, strlen(in->resource_id));
    put_key(out, ",\"metric\":");
    aiops_json_string(out, in->metric_name, strlen(in->metric_name));
    put_key(out, ",\"start_time\":");
    put_time(out, &e->start);
    put_key(out, ",\"end_time\":");
    put_time(out, &e->end);
    put_key(out, ",\"duration_seconds\":");
    aiops_json_number(out, e->duration_seconds);
    put_key(out, ",\"priority\":");
    aiops_json_number(out, e->priority);
    put_key(out, ",\"max_score\":");
    aiops_json_number(out, e->max_score);
    put_key(out, ",\"anomaly_points\":");
    put_u64(out, e->anomaly_points);
    put_key(out, ",\"peak_value\":");
    aiops_json_number(out, e->peak_value);
    aiops_buf_append(out, "}", 1);
}

int aiops_api_encode_detect(const struct aiops_detect_request *req,
                            const struct aiops_detect_response *resp, struct aiops_buf *out)
{
    size_t n = resp->n_series < req->n_series ? resp->n_series : req->n_series;

    put_key(out, "{\"results\":[");
    for (size_t s = 0; s < n; s++) {
        if (s > 0)
            aiops_buf_append(out, ",", 1);
        encode_series(out, req, resp, s);
    }
    if (resp->n_events == 0) {
        put_key(out, "],\"grouped_events\":null");
    } else {
        put_key(out, "],\"grouped_events\":[");
        for (size_t i = 0; i < resp->n_events; i++) {
            if (i > 0)
                aiops_buf_append(out, ",", 1);
            encode_event(out, req, &resp->events[i]);
        }
        aiops_buf_append(out, "]", 1);
    }
    put_key(out, ",\"total_series\":");
    put_u64(out, n);
    put_key(out, ",\"total_anomalies\":");
    put_u64(out, resp->total_anomalies);
    aiops_buf_append(out, "}", 1);
    return out->err;
}
