/* SPDX-License-Identifier: MIT */
/* `timestamp,value` CSV rows for replay (see csv.h): split, parse, and the replay loop that
 * scores each row with a detector's incremental path as it is read. */
#include "agent/csv.h"

#include "agent/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_REPORT_MAX 10 /* malformed rows reported one by one before only counting */

struct field {
    const char *raw; /* as written */
    size_t raw_len;
    const char *text; /* quotes and surrounding blanks removed */
    size_t len;
};

void aiops_csv_init(struct aiops_csv *c, FILE *f)
{
    c->f = f;
    c->line = 0;
    c->seen_first = false;
}

/* Reads one line without its newline (and a trailing CR). Returns its length, -1 at the end
 * of input, -2 for a line over AIOPS_CSV_LINE_MAX (consumed), AIOPS_EIO on a read error. */
static long read_line(struct aiops_csv *c)
{
    size_t n = 0;
    bool too_long = false;
    int ch;

    for (;;) {
        ch = getc_unlocked(c->f);
        if (ch == EOF || ch == '\n')
            break;
        if (n < AIOPS_CSV_LINE_MAX)
            c->buf[n++] = (char)ch;
        else
            too_long = true;
    }
    if (ch == EOF) {
        if (ferror(c->f))
            return AIOPS_EIO;
        if (n == 0 && !too_long)
            return -1;
    }
    c->line++;
    if (too_long)
        return -2;
    if (n > 0 && c->buf[n - 1] == '\r')
        n--;
    c->buf[n] = '\0';
    return (long)n;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Splits the first two fields of s[0..len). Returns the number of fields found (at most 2),
 * or -1 with *reason set for a broken quote. */
static int split(const char *s, size_t len, struct field f[2], const char **reason)
{
    size_t pos = 0;
    int k;

    for (k = 0; k < 2; k++) {
        const char *end;

        if (k > 0) {
            if (pos >= len)
                break;
            pos++; /* the comma */
        }
        f[k].raw = s + pos;
        if (pos < len && s[pos] == '"') {
            end = memchr(s + pos + 1, '"', len - pos - 1);
            if (end == NULL) {
                *reason = "unterminated quoted field";
                return -1;
            }
            f[k].text = s + pos + 1;
            f[k].len = (size_t)(end - f[k].text);
            pos = (size_t)(end - s) + 1;
            if (pos < len && s[pos] != ',') {
                *reason = "text after a closing quote";
                return -1;
            }
            f[k].raw_len = (size_t)(s + pos - f[k].raw);
        } else {
            end = memchr(s + pos, ',', len - pos);
            pos = end != NULL ? (size_t)(end - s) : len;
            f[k].raw_len = (size_t)(s + pos - f[k].raw);
            f[k].text = f[k].raw;
            f[k].len = f[k].raw_len;
            while (f[k].len > 0 && is_blank(f[k].text[0])) {
                f[k].text++;
                f[k].len--;
            }
            while (f[k].len > 0 && is_blank(f[k].text[f[k].len - 1]))
                f[k].len--;
        }
    }
    return k;
}

static bool parse_number(const char *s, size_t len, double *out)
{
    char tmp[64];
    char *end;

    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *out = strtod(tmp, &end);
    return end == tmp + len && isfinite(*out);
}

int aiops_csv_next(struct aiops_csv *c, struct aiops_csv_row *row, const char **reason)
{
    struct field f[2];
    const char *s;
    long n;
    int k;

    for (;;) {
        n = read_line(c);
        if (n == -1)
            return 0;
        if (n < -2)
            return (int)n;
        row->line = c->line;
        if (n == -2) {
            c->seen_first = true;
            *reason = "line too long";
            return AIOPS_EINVAL;
        }
        s = c->buf;
        if (c->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3; /* a UTF-8 byte-order mark */
            n -= 3;
        }
        if (strspn(s, " \t") == (size_t)n)
            continue;
        k = split(s, (size_t)n, f, reason);
        if (!c->seen_first) {
            c->seen_first = true;
            if (k == 2 && !parse_number(f[1].text, f[1].len, &row->point.value) &&
                aiops_time_parse(f[0].text, f[0].len, &row->time) < 0)
                continue; /* the header: neither a timestamp nor a number */
        }
        if (k < 0)
            return AIOPS_EINVAL;
        if (k < 2) {
            *reason = "expected timestamp,value";
            return AIOPS_EINVAL;
        }
        if (aiops_time_parse(f[0].text, f[0].len, &row->time) < 0) {
            *reason = "unparsable timestamp";
            return AIOPS_EINVAL;
        }
        if (!parse_number(f[1].text, f[1].len, &row->point.value)) {
            *reason = "value is not a finite number";
            return AIOPS_EINVAL;
        }
        row->point.ts_ms = row->time.ms;
        row->ts_raw = f[0].raw;
        row->ts_len = f[0].raw_len;
        row->value_raw = f[1].raw;
        row->value_len = f[1].raw_len;
        return 1;
    }
}

int aiops_csv_score_stream(struct aiops_detector *d, FILE *in, const char *name, FILE *out,
                           FILE *errout, struct aiops_csv_stats *stats)
{
    struct aiops_csv csv;
    struct aiops_csv_row row;
    struct aiops_verdict v;
    const char *reason = NULL;
    int rc;

    *stats = (struct aiops_csv_stats){0};
    aiops_csv_init(&csv, in);
    fputs("timestamp,value,anomaly_score,is_anomaly\n", out);
    while ((rc = aiops_csv_next(&csv, &row, &reason)) != 0) {
        if (rc == AIOPS_EINVAL) {
            if (stats->malformed++ < CSV_REPORT_MAX)
                fprintf(errout, "%s:%zu: %s, row skipped\n", name, row.line, reason);
            continue;
        }
        if (rc < 0) {
            fprintf(errout, "%s:%zu: read error\n", name, csv.line);
            return rc;
        }
        aiops_detector_update(d, &row.point, &v);
        fwrite(row.ts_raw, 1, row.ts_len, out);
        putc_unlocked(',', out);
        fwrite(row.value_raw, 1, row.value_len, out);
        fprintf(out, ",%.6f,%d\n", v.score, v.is_anomaly ? 1 : 0);
        stats->rows++;
    }
    if (stats->malformed > CSV_REPORT_MAX)
        fprintf(errout, "%s: %zu malformed rows skipped in all\n", name, stats->malformed);
    if (fflush(out) != 0 || ferror(out))
        return AIOPS_EIO;
    return 0;
}
