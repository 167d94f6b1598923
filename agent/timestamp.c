/* SPDX-License-Identifier: MIT */
/* Timestamp parsing and formatting for the detect API and CSV replay (see timestamp.h). Civil
 * dates are converted with days-from-civil arithmetic, so nothing here touches the C library's
 * time zone state: thread-safe and allocation-free. */
#include "agent/timestamp.h"

#include "agent/err.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000LL
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the range of Python's datetime. */
#define MIN_MS (-62135596800000LL)
#define MAX_MS 253402300799999LL

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-Compatible Low-Level
 * Date Algorithms"). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void aiops_time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads n digits at s[*i]; false if any is not a digit or the input ends. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *out)
{
    unsigned v = 0;

    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

int64_t aiops_time_epoch_to_ms(double epoch)
{
    double a = fabs(epoch), ms;

    if (isnan(epoch))
        return 0;
    /* pydantic's watershed: above 2e10 seconds (year 2603) the number is milliseconds. Beyond
     * that, microseconds and nanoseconds follow by the same 1000x steps. */
    if (a <= 2e10)
        ms = epoch * 1e3;
    else if (a <= 2e13)
        ms = epoch;
    else if (a <= 2e16)
        ms = epoch / 1e3;
    else
        ms = epoch / 1e6;
    ms = round(ms);
    if (ms < (double)MIN_MS)
        return MIN_MS;
    if (ms > (double)MAX_MS)
        return MAX_MS;
    return (int64_t)ms;
}

/* A decimal epoch: [-+]digits[.digits]. */
static int parse_epoch(const char *s, size_t len, struct aiops_time *out)
{
    char tmp[64];
    size_t i = 0, nd = 0;
    double v;

    if (len == 0 || len >= sizeof(tmp))
        return AIOPS_EINVAL;
    if (s[0] == '-' || s[0] == '+')
        i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        nd++;
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            nd++;
    }
    if (i != len || nd == 0)
        return AIOPS_EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    v = strtod(tmp, NULL);
    if (fabs(v) > 2e19)
        return AIOPS_EINVAL;
    out->ms = aiops_time_epoch_to_ms(v);
    if (out->ms == MIN_MS || out->ms == MAX_MS)
        return AIOPS_EINVAL;
    out->tz = AIOPS_TZ_UTC;
    out->offset_minutes = 0;
    return 0;
}

/* Days since the epoch of the date "YYYY-MM-DD" at s (10 bytes), or false if it is not a real
 * date. The last date read on this thread is remembered: a series' timestamps nearly always
 * share their date with the one before, and checking and converting it is half a parse. */
static bool parse_date(const char *s, int64_t *days)
{
    static _Thread_local struct {
        char text[10];
        int64_t days;
    } last; /* zeroed: matches no date */
    unsigned y, mo, d;
    size_t i = 0;

    if (memcmp(s, last.text, sizeof(last.text)) == 0) {
        *days = last.days;
        return true;
    }
    if (!digits(s, 10, &i, 4, &y) || s[i++] != '-' || !digits(s, 10, &i, 2, &mo) || s[i++] != '-' ||
        !digits(s, 10, &i, 2, &d))
        return false;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    *days = days_from_civil(y, mo, d);
    memcpy(last.text, s, sizeof(last.text));
    last.days = *days;
    return true;
}

int aiops_time_parse(const char *s, size_t len, struct aiops_time *out)
{
    unsigned h = 0, mi = 0, sec = 0, ms = 0, oh, om = 0;
    struct aiops_time t = {0};
    size_t i = 10;
    int64_t days;

    if (s == NULL)
        return AIOPS_EINVAL;
    if (len < 10 || s[4] != '-')
        return parse_epoch(s, len, out);
    if (!parse_date(s, &days))
        return AIOPS_EINVAL;
    t.tz = AIOPS_TZ_NAIVE;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ' && s[i] != '_') /* as pydantic */
            return AIOPS_EINVAL;
        i++;
        if (!digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' || !digits(s, len, &i, 2, &mi))
            return AIOPS_EINVAL;
        if (i < len && s[i] == ':') {
            i++;
            if (!digits(s, len, &i, 2, &sec))
                return AIOPS_EINVAL;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                unsigned n = 0;
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
                    if (n < 3)
                        ms = ms * 10 + (unsigned)(s[i] - '0');
                }
                if (n == 0)
                    return AIOPS_EINVAL;
                for (; n < 3; n++)
                    ms *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return AIOPS_EINVAL;
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            t.tz = AIOPS_TZ_UTC;
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            if (!digits(s, len, &i, 2, &oh))
                return AIOPS_EINVAL;
            if (i < len && s[i] == ':') {
                i++;
                if (!digits(s, len, &i, 2, &om))
                    return AIOPS_EINVAL;
            } else if (i < len && !digits(s, len, &i, 2, &om)) {
                return AIOPS_EINVAL;
            }
            if (oh > 23 || om > 59)
                return AIOPS_EINVAL;
            t.offset_minutes = (int16_t)(sign * (int)(oh * 60 + om));
            /* pydantic reads a zero offset as UTC and writes it back as 'Z'. */
            t.tz = t.offset_minutes == 0 ? AIOPS_TZ_UTC : AIOPS_TZ_OFFSET;
        }
        if (i != len)
            return AIOPS_EINVAL;
    }
    t.ms = days * MS_PER_DAY + (int64_t)(h * 3600 + mi * 60 + sec) * 1000 + ms -
           (int64_t)t.offset_minutes * 60000;
    *out = t;
    return 0;
}

static char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Writes local ms since epoch as "YYYY-MM-DD<sep>HH:MM:SS", then ".mmm" when there are ms or
 * always_ms; clamped to the years 0001-9999. Returns the end. */
static char *put_datetime(char *p, int64_t local, char sep, bool always_ms)
{
    int64_t days, rem, y;
    unsigned mo, d, ms, sod;

    if (local < MIN_MS)
        local = MIN_MS;
    if (local > MAX_MS)
        local = MAX_MS;
    days = local / MS_PER_DAY;
    rem = local % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    aiops_time_civil_from_days(days, &y, &mo, &d);
    sod = (unsigned)(rem / 1000);
    ms = (unsigned)(rem % 1000);
    p = put2(p, (unsigned)(y / 100));
    p = put2(p, (unsigned)(y % 100));
    *p++ = '-';
    p = put2(p, mo);
    *p++ = '-';
    p = put2(p, d);
    *p++ = sep;
    p = put2(p, sod / 3600);
    *p++ = ':';
    p = put2(p, sod / 60 % 60);
    *p++ = ':';
    p = put2(p, sod % 60);
    if (ms != 0 || always_ms) {
        *p++ = '.';
        *p++ = (char)('0' + ms / 100);
        p = put2(p, ms % 100);
    }
    return p;
}

/* Copies tmp[0..n) into buf, truncated to len - 1 and NUL-terminated. Returns the length. */
static size_t copy_out(const char *tmp, size_t n, char *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

size_t aiops_time_format(const struct aiops_time *t, char *buf, size_t len)
{
    char tmp[40], *p;
    int off = t->tz == AIOPS_TZ_OFFSET ? t->offset_minutes : 0;

    p = put_datetime(tmp, t->ms + (int64_t)off * 60000, 'T', false);
    if (t->tz == AIOPS_TZ_UTC || (t->tz == AIOPS_TZ_OFFSET && off == 0)) {
        *p++ = 'Z';
    } else if (t->tz == AIOPS_TZ_OFFSET) {
        unsigned a = (unsigned)(off < 0 ? -off : off);
        *p++ = off < 0 ? '-' : '+';
        p = put2(p, a / 60);
        *p++ = ':';
        p = put2(p, a % 60);
    }
    return copy_out(tmp, (size_t)(p - tmp), buf, len);
}

size_t aiops_time_format_utc(int64_t ms, char *buf, size_t len)
{
    struct aiops_time t = {.ms = ms, .tz = AIOPS_TZ_UTC};

    return aiops_time_format(&t, buf, len);
}

size_t aiops_time_format_sql(int64_t ms, char *buf, size_t len)
{
    char tmp[40];

    return copy_out(tmp, (size_t)(put_datetime(tmp, ms, ' ', true) - tmp), buf, len);
}
