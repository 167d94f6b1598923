/* SPDX-License-Identifier: MIT */
/* The CSV row reader and the replay loop on top of it (what `aiops-agent replay` runs). */
#include "agent/csv.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(csv, .fini = fini);

static FILE *mem_in(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");

    cr_assert(f != NULL);
    return f;
}

static char *field(const char *p, size_t len)
{
    static char buf[2][128];
    static int k;

    k ^= 1;
    snprintf(buf[k], sizeof(buf[k]), "%.*s", (int)len, p);
    return buf[k];
}

Test(csv, reads_nab_rows_after_the_header)
{
    FILE *f = mem_in("timestamp,value\n2014-04-10 07:15:00,20.5\n2014-04-10 07:20:00,-3e2\n");
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;

    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 2));
    cr_assert(eq(str, field(r.ts_raw, r.ts_len), "2014-04-10 07:15:00"));
    cr_assert(eq(str, field(r.value_raw, r.value_len), "20.5"));
    cr_assert(eq(i64, r.point.ts_ms, 1397114100000));
    cr_assert(eq(i64, r.time.ms, 1397114100000));
    cr_assert(eq(dbl, r.point.value, 20.5));
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 3));
    cr_assert(eq(dbl, r.point.value, -300.0));
    cr_assert(eq(str, field(r.value_raw, r.value_len), "-3e2"));
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 0));
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 0), "end of input stays the end");
    fclose(f);
}

Test(csv, takes_the_first_line_as_data_when_there_is_no_header)
{
    FILE *f = mem_in("1397114100,1.5\r\n\r\n   \n2014-04-10T07:20:00Z,2.5");
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;

    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 1));
    cr_assert(eq(i64, r.point.ts_ms, 1397114100000));
    cr_assert(eq(str, field(r.value_raw, r.value_len), "1.5"), "the CR is not part of it");
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1), "blank lines are skipped");
    cr_assert(eq(sz, r.line, 4));
    cr_assert(eq(i64, r.point.ts_ms, 1397114400000));
    cr_assert(eq(dbl, r.point.value, 2.5), "a last line without a newline counts");
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 0));
    fclose(f);
}

Test(csv, reports_malformed_rows_with_their_line_and_goes_on)
{
    FILE *f = mem_in("timestamp,value\n"
                     "2014-04-10 07:15:00,abc\n"
                     "yesterday,1\n"
                     "2014-04-10 07:15:00\n"
                     "2014-04-10 07:15:00,nan\n"
                     "2014-04-10 07:15:00,inf\n"
                     "2014-04-10 07:15:00,\n"
                     "\"2014-04-10 07:15:00,1\n"
                     "2014-02-30 07:15:00,1\n"
                     "2014-04-10 07:15:00,7\n");
    const char *reasons[] = {"value is not a finite number", "unparsable timestamp",
                             "expected timestamp,value",     "value is not a finite number",
                             "value is not a finite number", "value is not a finite number",
                             "unterminated quoted field",    "unparsable timestamp"};
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;

    aiops_csv_init(&c, f);
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        cr_assert(eq(int, aiops_csv_next(&c, &r, &why), AIOPS_EINVAL), "line %zu", i + 2);
        cr_assert(eq(sz, r.line, i + 2));
        cr_assert(eq(str, (char *)why, (char *)reasons[i]), "line %zu", i + 2);
    }
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 10));
    cr_assert(eq(dbl, r.point.value, 7.0));
    fclose(f);
}

Test(csv, unquotes_fields_but_keeps_them_raw_and_ignores_extra_columns)
{
    FILE *f = mem_in("\xEF\xBB\xBF\"timestamp\",\"value\",\"label\"\n"
                     "\"2014-04-10 07:15:00\", \"4.25\" ,1\n"
                     "2014-04-10 07:20:00 , 5 ,0,extra\n");
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;

    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), AIOPS_EINVAL),
              "a quote after blanks is not a quoted field");
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(str, field(r.ts_raw, r.ts_len), "2014-04-10 07:20:00 "));
    cr_assert(eq(str, field(r.value_raw, r.value_len), " 5 "));
    cr_assert(eq(dbl, r.point.value, 5.0));
    fclose(f);

    f = mem_in("\"2014-04-10 07:15:00\",\"4.25\"\n");
    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(str, field(r.ts_raw, r.ts_len), "\"2014-04-10 07:15:00\""));
    cr_assert(eq(dbl, r.point.value, 4.25));
    cr_assert(eq(i64, r.point.ts_ms, 1397114100000));
    fclose(f);
}

Test(csv, skips_a_byte_order_mark_before_the_header)
{
    FILE *f = mem_in("\xEF\xBB\xBFtimestamp,value\n2014-04-10 07:15:00,1\n");
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;

    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 2));
    fclose(f);
}

Test(csv, rejects_an_overlong_line_and_reads_the_next)
{
    size_t n = AIOPS_CSV_LINE_MAX + 100;
    char *text = malloc(n + 64);
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why = NULL;
    FILE *f;

    memset(text, '9', n);
    strcpy(text + n, "\n2014-04-10 07:15:00,3\n");
    f = mem_in(text);
    aiops_csv_init(&c, f);
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), AIOPS_EINVAL));
    cr_assert(eq(str, (char *)why, "line too long"));
    cr_assert(eq(int, aiops_csv_next(&c, &r, &why), 1));
    cr_assert(eq(sz, r.line, 2));
    cr_assert(eq(dbl, r.point.value, 3.0));
    fclose(f);
    free(text);
}

static struct aiops_detector *zscore(uint32_t window)
{
    struct aiops_detector_params p;
    struct aiops_detector *d = NULL;

    aiops_detector_params_init(&p);
    p.window = window;
    cr_assert(eq(int, aiops_detector_create(&d, aiops_detector_find("z-score"), &p), 0));
    return d;
}

Test(csv, score_stream_writes_one_scored_row_per_good_row)
{
    char in[8192], *out = NULL, *err = NULL, want[128];
    size_t out_len = 0, err_len = 0, at = 0;
    struct aiops_csv_stats st;
    struct aiops_detector *d = zscore(32);
    struct aiops_detector *ref = zscore(32);
    FILE *fi, *fo, *fe;
    char *line, *save = NULL;

    at += (size_t)snprintf(in + at, sizeof(in) - at, "timestamp,value\n");
    for (int i = 0; i < 60; i++) {
        double v = i == 45 ? 90.0 : 10 + (i * 37 % 11) / 10.0;

        at += (size_t)snprintf(in + at, sizeof(in) - at, "2014-04-10 %02d:%02d:00,%g\n", i / 60,
                               i % 60, v);
        if (i == 20)
            at += (size_t)snprintf(in + at, sizeof(in) - at, "garbage\n");
    }
    fi = mem_in(in);
    fo = open_memstream(&out, &out_len);
    fe = open_memstream(&err, &err_len);
    cr_assert(eq(int, aiops_csv_score_stream(d, fi, "in.csv", fo, fe, &st), 0));
    fclose(fo);
    fclose(fe);
    fclose(fi);
    cr_assert(eq(sz, st.rows, 60));
    cr_assert(eq(sz, st.malformed, 1));
    cr_assert(eq(str, err, "in.csv:23: expected timestamp,value, row skipped\n"));

    /* Row by row: the same scores the detector gives when fed directly. */
    line = strtok_r(out, "\n", &save);
    cr_assert(eq(str, line, "timestamp,value,anomaly_score,is_anomaly"));
    for (int i = 0; i < 60; i++) {
        double v = i == 45 ? 90.0 : 10 + (i * 37 % 11) / 10.0;
        struct aiops_point pt = {.value = v};
        struct aiops_verdict verdict;
        char vbuf[32];

        aiops_detector_update(ref, &pt, &verdict);
        snprintf(vbuf, sizeof(vbuf), "%g", v);
        snprintf(want, sizeof(want), "2014-04-10 %02d:%02d:00,%s,%.6f,%d", i / 60, i % 60, vbuf,
                 verdict.score, verdict.is_anomaly);
        line = strtok_r(NULL, "\n", &save);
        cr_assert(eq(str, line, want), "row %d", i);
        if (i == 45)
            cr_assert(eq(chr, line[strlen(line) - 1], '1'), "the spike is flagged");
    }
    cr_assert(eq(ptr, strtok_r(NULL, "\n", &save), NULL));
    free(out);
    free(err);
    aiops_detector_destroy(d);
    aiops_detector_destroy(ref);
}

Test(csv, score_stream_reports_a_few_malformed_rows_then_only_the_total)
{
    char in[4096], *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 0, at = 0, lines = 0;
    struct aiops_csv_stats st;
    struct aiops_detector *d = zscore(16);
    FILE *fi, *fo, *fe;

    for (int i = 0; i < 25; i++)
        at += (size_t)snprintf(in + at, sizeof(in) - at, "2014-04-10 00:%02d:00,x%d\n", i, i);
    fi = mem_in(in);
    fo = open_memstream(&out, &out_len);
    fe = open_memstream(&err, &err_len);
    cr_assert(eq(int, aiops_csv_score_stream(d, fi, "bad.csv", fo, fe, &st), 0));
    fclose(fo);
    fclose(fe);
    fclose(fi);
    cr_assert(eq(sz, st.rows, 0));
    cr_assert(eq(sz, st.malformed, 25));
    cr_assert(eq(str, out, "timestamp,value,anomaly_score,is_anomaly\n"));
    for (char *p = err; *p; p++)
        lines += *p == '\n';
    cr_assert(eq(sz, lines, 11), "%s", err);
    cr_assert(strstr(err, "bad.csv:1: value is not a finite number") != NULL, "%s", err);
    cr_assert(strstr(err, "bad.csv: 25 malformed rows skipped in all") != NULL, "%s", err);
    free(out);
    free(err);
    aiops_detector_destroy(d);
}

Test(csv, score_stream_fails_when_the_output_cannot_be_written)
{
    struct aiops_csv_stats st;
    struct aiops_detector *d = zscore(16);
    FILE *fi = mem_in("2014-04-10 07:15:00,1\n"), *fo = fopen("/dev/null", "r");

    cr_assert(fo != NULL);
    cr_assert(eq(int, aiops_csv_score_stream(d, fi, "x.csv", fo, stderr, &st), AIOPS_EIO));
    fclose(fo);
    fclose(fi);
    aiops_detector_destroy(d);
}
