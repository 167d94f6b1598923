/* SPDX-License-Identifier: MIT */
/* The detect API's JSON: requests decoded with defaults, every validation error in FastAPI's
 * shape with its exact loc, malformed JSON, escapes, the response shape, allocation failures. */
#include "agent/buf.h"
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "agent/timestamp.h"
#include "transports/api_json.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#define T0 1766959200000LL /* 2025-12-28T22:00:00Z in ms */

static struct aiops_buf body, errs;
static struct aiops_detect_request req;

static const struct aiops_detect_limits limits = {
    .max_series = 10,
    .min_points = 10,
    .max_points = 10000,
    .default_method = "isolation-forest",
    .default_sensitivity = AIOPS_SENSITIVITY_MEDIUM,
};

static void init(void)
{
    aiops_buf_init(&body);
    aiops_buf_init(&errs);
    memset(&req, 0, sizeof(req));
}

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_detect_request_fini(&req);
    aiops_buf_fini(&body);
    aiops_buf_fini(&errs);
    aiops_test_check_leaks();
}

TestSuite(api_json, .init = init, .fini = fini);

/* Appends n points a minute apart from 2025-12-28T22:00:00Z; value 98.5 at `spike` (or -1). */
static void points(struct aiops_buf *b, int n, int spike)
{
    char ts[32];

    aiops_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        struct aiops_time t = {.ms = T0 + (int64_t)i * 60000, .tz = AIOPS_TZ_UTC};

        aiops_time_format(&t, ts, sizeof(ts));
        aiops_buf_printf(b, "%s{\"timestamp\":\"%s\",\"value\":%.1f}", i ? "," : "", ts,
                         i == spike ? 98.5 : 45.0 + i % 3);
    }
    aiops_buf_puts(b, "]");
}

static void series_body(int n, const char *tail)
{
    aiops_buf_puts(&body, "{\"series\":[{\"resource_id\":\"pod-1\",\"metric_name\":\"cpu\","
                          "\"data\":");
    points(&body, n, -1);
    aiops_buf_printf(&body, "}]%s}", tail);
}

static int decode_str(const char *s)
{
    return aiops_api_decode_detect(s, strlen(s), &limits, &req, &errs);
}

static int decode(void)
{
    return aiops_api_decode_detect(body.data, body.len, &limits, &req, &errs);
}

/* The error list of a 422 body, checked for the shape; the caller frees the root. */
static yajl_val detail_of(yajl_val *root)
{
    char eb[128];
    const char *path[] = {"detail", NULL};
    yajl_val d;

    *root = yajl_tree_parse(errs.data, eb, sizeof(eb));
    cr_assert(not(eq(ptr, *root, NULL)), "%s: %s", eb, errs.data);
    d = yajl_tree_get(*root, path, yajl_t_array);
    cr_assert(not(eq(ptr, d, NULL)));
    return d;
}

/* Asserts the body holds exactly one error of `type` at `loc` (a JSON array text). */
static void expect_one(const char *type, const char *loc)
{
    char want[512];

    snprintf(want, sizeof(want), "{\"detail\":[{\"type\":\"%s\",\"loc\":%s,", type, loc);
    cr_assert(eq(int, strncmp(errs.data, want, strlen(want)), 0), "got %s\nwant %s", errs.data,
              want);
    cr_assert(eq(ptr, strstr(errs.data + 1, "},{\"type\""), NULL), "more than one: %s", errs.data);
}

Test(api_json, decodes_a_valid_request)
{
    series_body(12, ",\"method\":\"z-score\",\"sensitivity\":\"high\"");
    cr_assert(eq(int, decode(), 0), "%s", errs.data ? errs.data : "");
    cr_assert(eq(sz, errs.len, 0));
    cr_assert(eq(sz, req.n_series, 1));
    cr_assert(eq(str, req.method, "z-score"));
    cr_assert(eq(int, req.sensitivity, AIOPS_SENSITIVITY_HIGH));
    cr_assert(eq(str, req.series[0].resource_id, "pod-1"));
    cr_assert(eq(str, req.series[0].metric_name, "cpu"));
    cr_assert(eq(sz, req.series[0].n, 12));
    cr_assert(eq(i64, req.series[0].points[0].ts_ms, 1766959200000LL));
    cr_assert(eq(i64, req.series[0].points[11].ts_ms, 1766959200000LL + 11 * 60000));
    cr_assert(eq(dbl, req.series[0].points[1].value, 46.0));
    cr_assert(eq(u8, req.series[0].times[0].tz, AIOPS_TZ_UTC));
}

Test(api_json, fills_defaults_and_ignores_unknown_fields)
{
    series_body(10, ",\"extra\":{\"a\":[1,{\"b\":null}]},\"more\":[[]]");
    cr_assert(eq(int, decode(), 0), "%s", errs.data ? errs.data : "");
    cr_assert(eq(str, req.method, "isolation-forest"));
    cr_assert(eq(int, req.sensitivity, AIOPS_SENSITIVITY_MEDIUM));
}

Test(api_json, accepts_epochs_numeric_strings_and_any_zone)
{
    const char *s =
        "{\"series\":[{\"resource_id\":\"r\",\"metric_name\":\"m\",\"unit\":\"%\",\"data\":["
        "{\"timestamp\":1766959200,\"value\":\"1.5\"},{\"timestamp\":1766959260000,\"value\":2},"
        "{\"timestamp\":\"2025-12-28 22:02:00\",\"value\":-3e2},"
        "{\"timestamp\":\"2025-12-29T00:03:00+02:00\",\"value\":1e300},"
        "{\"timestamp\":\"1766959440\",\"value\":true,\"x\":1},"
        "{\"timestamp\":\"2025-12-28\",\"value\":0},{\"timestamp\":\"2025-12-28\",\"value\":0},"
        "{\"timestamp\":\"2025-12-28\",\"value\":0},{\"timestamp\":\"2025-12-28\",\"value\":0},"
        "{\"value\":5,\"timestamp\":\"2025-12-28\"}]}],\"method\":\"moving-average\"}";

    cr_assert(eq(int, decode_str(s), 0), "%s", errs.data ? errs.data : "");
    cr_assert(eq(sz, req.series[0].n, 10));
    cr_assert(eq(i64, req.series[0].points[1].ts_ms, 1766959260000LL));
    cr_assert(eq(dbl, req.series[0].points[0].value, 1.5));
    cr_assert(eq(dbl, req.series[0].points[2].value, -300.0));
    cr_assert(eq(dbl, req.series[0].points[3].value, 1e300));
    cr_assert(eq(dbl, req.series[0].points[4].value, 1.0));
    cr_assert(eq(u8, req.series[0].times[2].tz, AIOPS_TZ_NAIVE));
    cr_assert(eq(i16, req.series[0].times[3].offset_minutes, 120));
    cr_assert(eq(dbl, req.series[0].points[9].value, 5.0));
}

Test(api_json, decodes_a_thousand_point_request)
{
    series_body(1000, ",\"method\":\"z-score\"");
    cr_assert(eq(int, decode(), 0));
    cr_assert(eq(sz, req.series[0].n, 1000));
    cr_assert(eq(i64, req.series[0].points[999].ts_ms, 1766959200000LL + 999 * 60000LL));
}

/* Values take a fast path when their digits fit 2^53 and strtod otherwise; either way each must
 * be the double strtod reads, bit for bit, around the 2^53 edge and for 15-17 digit reprs. */
Test(api_json, reads_every_value_exactly_as_strtod_does)
{
    static const char *const edge[] = {
        "9007199254740992",
        "9007199254740993",
        "9007199254740991",
        "0.9007199254740993",
        "900719925474099.3",
        "1234567890123456789",
        "-0.0",
        "0.1",
        "0.30000000000000004",
        "5e-324",
        "1.7976931348623157e308",
    };
    char text[4000][32];
    size_t n = 0;
    uint64_t x = 88172645463325252ull;

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        snprintf(text[n++], sizeof(text[0]), "%s", edge[i]);
    while (n < sizeof(text) / sizeof(text[0])) { /* xorshift64: doubles of every magnitude */
        double v;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v = (double)(x >> 11) / (double)(UINT64_C(1) << 53) * pow(10.0, (double)(n % 12) - 3);
        snprintf(text[n], sizeof(text[0]), "%.*g", 15 + (int)(n % 3), v);
        n++;
    }
    aiops_buf_puts(&body, "{\"series\":[{\"resource_id\":\"r\",\"metric_name\":\"m\",\"data\":[");
    for (size_t i = 0; i < n; i++)
        aiops_buf_printf(&body, "%s{\"timestamp\":%zu,\"value\":%s}", i ? "," : "", i, text[i]);
    aiops_buf_puts(&body, "]}]}");
    cr_assert(eq(int, decode(), 0), "%.*s", (int)errs.len, errs.data);
    cr_assert(eq(sz, req.series[0].n, n));
    for (size_t i = 0; i < n; i++) {
        double want = strtod(text[i], NULL), got = req.series[0].points[i].value;

        cr_assert(memcmp(&want, &got, sizeof(want)) == 0, "%s: %.17g, not %.17g", text[i], got,
                  want);
    }
}

Test(api_json, decodes_unicode_escapes_in_names)
{
    const char *s = "{\"series\":[{\"resource_id\":\"pod-\\u00e9\\u4e2d\\ud83d\\ude00\\n\","
                    "\"metric_name\":\"c\\\"pu\",\"data\":"
                    "[{\"timestamp\":\"2025-12-28\",\"value\":1},{\"timestamp\":\"2025-12-28\","
                    "\"value\":1},{\"timestamp\":\"2025-12-28\",\"value\":1},{\"timestamp\":"
                    "\"2025-12-28\",\"value\":1},{\"timestamp\":\"2025-12-28\",\"value\":1},"
                    "{\"timestamp\":\"2025-12-28\",\"value\":1},{\"timestamp\":\"2025-12-28\","
                    "\"value\":1},{\"timestamp\":\"2025-12-28\",\"value\":1},{\"timestamp\":"
                    "\"2025-12-28\",\"value\":1},{\"timestamp\":\"2025-12-28\",\"value\":1}]}]}";

    cr_assert(eq(int, decode_str(s), 0), "%s", errs.data ? errs.data : "");
    cr_assert(eq(str, req.series[0].resource_id, "pod-\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\n"));
    cr_assert(eq(str, req.series[0].metric_name, "c\"pu"));
}

Test(api_json, reports_missing_fields_at_their_loc)
{
    cr_assert(eq(int, decode_str("{}"), AIOPS_EINVAL));
    expect_one("missing", "[\"body\",\"series\"]");
    cr_assert(not(eq(ptr, strstr(errs.data, "\"msg\":\"Field required\"}]}"), NULL)));
}

Test(api_json, reports_a_missing_value_inside_a_point)
{
    aiops_buf_puts(&body, "{\"series\":[{\"resource_id\":\"r\",\"metric_name\":\"m\",\"data\":[");
    for (int i = 0; i < 10; i++)
        aiops_buf_printf(&body, "%s{\"timestamp\":\"2025-12-28\"%s}", i ? "," : "",
                         i == 3 ? "" : ",\"value\":1");
    aiops_buf_puts(&body, "]}]}");
    cr_assert(eq(int, decode(), AIOPS_EINVAL));
    cr_assert(eq(str, errs.data,
                 "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"series\",0,\"data\",3,"
                 "\"value\"],\"msg\":\"Field required\"}]}"));
}

Test(api_json, reports_every_error_in_pydantic_order)
{
    yajl_val root, d;
    static const char *const want[][2] = {
        {"string_type", "resource_id"},
        {"missing", "metric_name"},
        {"datetime_from_date_parsing", "0"},
        {"float_parsing", "0"},
        {"datetime_type", "1"},
        {"float_type", "1"},
        {"missing", "2"},
        {"model_attributes_type", "3"},
        {"enum", "method"},
        {"enum", "sensitivity"},
    };
    const char *s = "{\"sensitivity\":\"HIGH\",\"method\":\"nope\",\"series\":[{\"data\":["
                    "{\"value\":\"abc\",\"timestamp\":\"2025-13-01T00:00:00\"},"
                    "{\"timestamp\":null,\"value\":[1]},{\"value\":1},7],\"resource_id\":5}]}";

    cr_assert(eq(int, decode_str(s), AIOPS_EINVAL));
    d = detail_of(&root);
    cr_assert(eq(sz, YAJL_GET_ARRAY(d)->len, 10), "%s", errs.data);
    for (size_t i = 0; i < 10; i++) {
        const char *tp[] = {"type", NULL}, *lp[] = {"loc", NULL};
        yajl_val e = YAJL_GET_ARRAY(d)->values[i];
        yajl_val loc = yajl_tree_get(e, lp, yajl_t_array), last;
        char lastbuf[32];

        cr_assert(not(eq(ptr, loc, NULL)));
        if (loc == NULL)
            return; /* for the analyser: cr_assert has already ended the test */
        last = loc->u.array.values[loc->u.array.len - 1];

        cr_assert(
            eq(str, YAJL_GET_STRING(yajl_tree_get(e, tp, yajl_t_string)), (char *)want[i][0]));
        if (YAJL_IS_STRING(last))
            snprintf(lastbuf, sizeof(lastbuf), "%s", YAJL_GET_STRING(last));
        else
            snprintf(lastbuf, sizeof(lastbuf), "%lld", YAJL_GET_INTEGER(last));
        /* Point errors end in the field; take the point index before it. */
        if (i >= 2 && i <= 6) {
            yajl_val idx = loc->u.array.values[4];
            snprintf(lastbuf, sizeof(lastbuf), "%lld", YAJL_GET_INTEGER(idx));
        }
        cr_assert(eq(str, lastbuf, (char *)want[i][1]), "error %zu: %s", i, errs.data);
    }
    yajl_tree_free(root);
    cr_assert(not(eq(ptr,
                     strstr(errs.data, "\"msg\":\"Input should be a valid datetime or date, "
                                       "month value is outside expected range of 1-12\""),
                     NULL)));
    cr_assert(not(eq(ptr,
                     strstr(errs.data, "\"input\":\"HIGH\",\"ctx\":{\"expected\":\"'low', "
                                       "'medium' or 'high'\"}"),
                     NULL)));
    cr_assert(
        not(eq(ptr, strstr(errs.data, "'z-score', 'moving-average', 'isolation-forest'"), NULL)));
}

Test(api_json, reports_too_few_points)
{
    series_body(3, "");
    cr_assert(eq(int, decode(), AIOPS_EINVAL));
    cr_assert(eq(str, errs.data,
                 "{\"detail\":[{\"type\":\"too_short\",\"loc\":[\"body\",\"series\",0,\"data\"],"
                 "\"msg\":\"List should have at least 10 items after validation, not 3\","
                 "\"ctx\":{\"field_type\":\"List\",\"min_length\":10,\"actual_length\":3}}]}"));
}

Test(api_json, reports_too_many_points_and_series)
{
    struct aiops_detect_limits small = limits;

    small.max_points = 20;
    series_body(21, "");
    cr_assert(
        eq(int, aiops_api_decode_detect(body.data, body.len, &small, &req, &errs), AIOPS_EINVAL));
    expect_one("too_long", "[\"body\",\"series\",0,\"data\"]");
    cr_assert(not(eq(ptr, strstr(errs.data, "at most 20 items after validation, not 21"), NULL)));

    aiops_buf_fini(&errs);
    aiops_buf_fini(&body);
    aiops_buf_puts(&body, "{\"series\":[");
    for (int i = 0; i < 11; i++)
        aiops_buf_printf(&body, "%s{}", i ? "," : "");
    aiops_buf_puts(&body, "]}");
    cr_assert(eq(int, decode(), AIOPS_EINVAL));
    expect_one("too_long", "[\"body\",\"series\"]");
}

Test(api_json, reports_an_empty_series_list)
{
    cr_assert(eq(int, decode_str("{\"series\":[]}"), AIOPS_EINVAL));
    expect_one("too_short", "[\"body\",\"series\"]");
    cr_assert(not(eq(ptr, strstr(errs.data, "at least 1 item after validation, not 0"), NULL)));
}

Test(api_json, reports_wrong_container_types)
{
    cr_assert(eq(int, decode_str("{\"series\":{}}"), AIOPS_EINVAL));
    expect_one("list_type", "[\"body\",\"series\"]");
    aiops_buf_fini(&errs);
    cr_assert(eq(int,
                 decode_str("{\"series\":[{\"resource_id\":\"r\",\"metric_name\":\"m\","
                            "\"data\":\"x\"}]}"),
                 AIOPS_EINVAL));
    expect_one("list_type", "[\"body\",\"series\",0,\"data\"]");
    cr_assert(not(eq(ptr, strstr(errs.data, "\"input\":\"x\""), NULL)));
    aiops_buf_fini(&errs);
    cr_assert(eq(int, decode_str("{\"series\":[[1]]}"), AIOPS_EINVAL));
    expect_one("model_attributes_type", "[\"body\",\"series\",0]");
}

Test(api_json, reports_an_empty_resource_id)
{
    series_body(10, "");
    memcpy(strstr(body.data, "\"pod-1\""), "\"\"     ", 7);
    cr_assert(eq(int, decode(), AIOPS_EINVAL));
    cr_assert(eq(str, errs.data,
                 "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":[\"body\",\"series\",0,"
                 "\"resource_id\"],\"msg\":\"String should have at least 1 character\","
                 "\"input\":\"\",\"ctx\":{\"min_length\":1}}]}"));
}

Test(api_json, rejects_non_finite_values)
{
    struct aiops_buf b;
    char *at;

    series_body(10, "");
    at = strstr(body.data, "45.0");
    aiops_buf_init(&b);
    aiops_buf_append(&b, body.data, (size_t)(at - body.data));
    aiops_buf_puts(&b, "\"-Infinity\"");
    aiops_buf_puts(&b, at + 4);
    cr_assert(eq(int, decode_str(b.data), AIOPS_EINVAL));
    cr_assert(not(eq(ptr, strstr(errs.data, "\"input\":\"-Infinity\""), NULL)), "%s", errs.data);
    aiops_buf_fini(&b);
    expect_one("finite_number", "[\"body\",\"series\",0,\"data\",0,\"value\"]");
}

Test(api_json, reports_a_body_that_is_not_an_object)
{
    cr_assert(eq(int, decode_str("[1,2]"), AIOPS_EINVAL));
    expect_one("model_attributes_type", "[\"body\"]");
    aiops_buf_fini(&errs);
    cr_assert(eq(int, decode_str("\"x\""), AIOPS_EINVAL));
    cr_assert(not(eq(ptr, strstr(errs.data, "\"input\":\"x\""), NULL)));
    aiops_buf_fini(&errs);
    cr_assert(eq(int, aiops_api_decode_detect("", 0, &limits, &req, &errs), AIOPS_EINVAL));
    expect_one("missing", "[\"body\"]");
}

Test(api_json, reports_malformed_json_at_its_byte_offset)
{
    cr_assert(eq(int, decode_str("{\"series\": [1, }"), AIOPS_EINVAL));
    cr_assert(eq(str, errs.data,
                 "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",15],\"msg\":\"JSON "
                 "decode error\",\"input\":{},\"ctx\":{\"error\":\"parse error: unallowed token "
                 "at this point in JSON text\"}}]}"));
    aiops_buf_fini(&errs);
    cr_assert(eq(int, decode_str("{\"series\":[]} x"), AIOPS_EINVAL));
    expect_one("json_invalid", "[\"body\",14]");
    aiops_buf_fini(&errs);
    cr_assert(eq(int, decode_str("{\"a\":NaN}"), AIOPS_EINVAL));
    expect_one("json_invalid", "[\"body\",5]");
    aiops_buf_fini(&errs);
    cr_assert(eq(int, decode_str("{\"series\":[{\"a\":"), AIOPS_EINVAL));
    expect_one("json_invalid", "[\"body\",16]");
}

Test(api_json, keeps_the_last_of_a_repeated_key)
{
    series_body(10, ",\"method\":\"nope\",\"method\":\"z-score\"");
    cr_assert(eq(int, decode(), 0), "%s", errs.data ? errs.data : "");
    cr_assert(eq(str, req.method, "z-score"));
}

Test(api_json, escapes_strings_per_rfc_8259)
{
    const char in[] = "a\"\\\n\t\x01\x1f\x7f\xc3\xa9\xff\xe2\x82\xed\xa0\x80z";

    aiops_json_string(&body, in, sizeof(in) - 1);
    cr_assert(eq(str, body.data,
                 "\"a\\\"\\\\\\n\\t\\u0001\\u001f\x7f\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\""));
}

Test(api_json, prints_numbers_that_round_trip)
{
    aiops_json_number(&body, 45.0);
    aiops_buf_puts(&body, " ");
    aiops_json_number(&body, 0.1);
    aiops_buf_puts(&body, " ");
    aiops_json_number(&body, 1.0 / 3.0);
    aiops_buf_puts(&body, " ");
    aiops_json_number(&body, NAN);
    aiops_buf_puts(&body, " ");
    aiops_json_number(&body, -INFINITY);
    aiops_buf_puts(&body, " ");
    aiops_json_number(&body, 1e300);
    cr_assert(eq(str, body.data, "45 0.1 0.33333333333333331 null null 1e+300"));
}

/* Whole numbers skip printf; they must still read exactly as %.15g writes them. */
Test(api_json, prints_whole_numbers_as_printf_does)
{
    static const double v[] = {0.0,
                               -0.0,
                               1.0,
                               -1.0,
                               7.0,
                               250.0,
                               -4096.0,
                               1e6,
                               1e14,
                               9.99999999999999e14,
                               1e15,
                               -1e15,
                               2e20,
                               1e15 - 1.0,
                               123456789012345.0,
                               -987654321098765.0};
    char want[40];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        body.len = 0;
        aiops_json_number(&body, v[i]);
        snprintf(want, sizeof(want), "%.15g", v[i]);
        cr_assert(eq(str, body.data, want));
    }
}

/* score, anomaly_percentage and detection_time_ms hold Python's round() of the value (ties to
 * even on the binary value, so 2.675 -> 2.67), written as their shortest text. */
Test(api_json, prints_rounded_fields_as_python_does)
{
    static const struct {
        double ms, score;
        size_t anomalies;
        const char *text;
    } cases[] = {
        {0.125, 0.99995, 1, "\"score\":1,\"is_anomaly\":true"},
        {2.675, 0.5, 3, "\"anomaly_percentage\":30,\"detection_time_ms\":2.67}"},
        {12.3, 0.12345, 1, "\"score\":0.1235,"},
        {0.004, 0.00004, 1, "\"detection_time_ms\":0}"},
        {1e10 + 0.126, 0.1, 10, "\"anomaly_percentage\":100,\"detection_time_ms\":10000000000.13}"},
    };

    series_body(10, ",\"method\":\"z-score\"");
    cr_assert(eq(int, decode(), 0));
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct aiops_verdict verdicts[10] = {{0}};
        struct aiops_series_result result = {.verdicts = verdicts,
                                             .anomaly_count = cases[c].anomalies,
                                             .detection_time_ms = cases[c].ms};
        struct aiops_detect_response resp = {
            .method = aiops_detector_find("z-score"), .results = &result, .n_series = 1};

        verdicts[0] = (struct aiops_verdict){.score = cases[c].score, .is_anomaly = true};
        body.len = 0;
        cr_assert(eq(int, aiops_api_encode_detect(&req, &resp, &body), 0));
        cr_assert(not(eq(ptr, strstr(body.data, cases[c].text), NULL)), "%s in %s", cases[c].text,
                  body.data);
    }
}

static double num(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);

    cr_assert(not(eq(ptr, v, NULL)), "no number %s", key);
    return YAJL_GET_DOUBLE(v);
}

static const char *str(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

    cr_assert(not(eq(ptr, v, NULL)), "no string %s", key);
    return YAJL_GET_STRING(v);
}

Test(api_json, encodes_a_detection_with_its_anomalies_and_events)
{
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    struct aiops_buf out;
    char eb[128];
    yajl_val root, results, r, anomalies, a, events, e;
    const char *pr[] = {"results", NULL}, *pa[] = {"anomalies", NULL};
    const char *pe[] = {"grouped_events", NULL}, *pi[] = {"is_anomaly", NULL};

    aiops_buf_puts(&body, "{\"series\":[{\"resource_id\":\"pod-\\u00e9\",\"metric_name\":\"cpu\","
                          "\"data\":");
    points(&body, 40, 25);
    aiops_buf_puts(&body, "}],\"method\":\"z-score\"}");
    cr_assert(eq(int, decode(), 0));
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), 0));
    aiops_buf_init(&out);
    cr_assert(eq(int, aiops_api_encode_detect(&req, &resp, &out), 0));

    root = yajl_tree_parse(out.data, eb, sizeof(eb));
    cr_assert(not(eq(ptr, root, NULL)), "%s: %s", eb, out.data);
    results = yajl_tree_get(root, pr, yajl_t_array);
    cr_assert(eq(sz, YAJL_GET_ARRAY(results)->len, 1));
    r = YAJL_GET_ARRAY(results)->values[0];
    cr_assert(eq(str, (char *)str(r, "resource_id"), "pod-\xc3\xa9"));
    cr_assert(eq(str, (char *)str(r, "metric_name"), "cpu"));
    cr_assert(eq(str, (char *)str(r, "method_used"), "z-score"));
    cr_assert(eq(dbl, num(r, "total_points"), 40));
    cr_assert(eq(dbl, num(r, "anomaly_count"), 1));
    cr_assert(eq(dbl, num(r, "anomaly_percentage"), 2.5));
    cr_assert(num(r, "detection_time_ms") >= 0);
    anomalies = yajl_tree_get(r, pa, yajl_t_array);
    cr_assert(eq(sz, YAJL_GET_ARRAY(anomalies)->len, 1));
    a = YAJL_GET_ARRAY(anomalies)->values[0];
    cr_assert(eq(str, (char *)str(a, "timestamp"), "2025-12-28T22:25:00Z"));
    cr_assert(eq(dbl, num(a, "value"), 98.5));
    cr_assert(eq(dbl, num(a, "score"), round(resp.results[0].verdicts[25].score * 1e4) / 1e4));
    cr_assert(not(eq(ptr, yajl_tree_get(a, pi, yajl_t_true), NULL)));
    cr_assert(strlen(str(a, "reason")) > 10);
    events = yajl_tree_get(root, pe, yajl_t_array);
    cr_assert(not(eq(ptr, events, NULL)));
    if (events == NULL)
        return; /* for the analyser: cr_assert has already ended the test */
    cr_assert(eq(sz, events->u.array.len, 1));
    e = events->u.array.values[0];
    cr_assert(eq(str, (char *)str(e, "metric"), "cpu"));
    cr_assert(eq(str, (char *)str(e, "start_time"), "2025-12-28T22:25:00Z"));
    cr_assert(eq(str, (char *)str(e, "end_time"), "2025-12-28T22:25:00Z"));
    cr_assert(eq(dbl, num(e, "duration_seconds"), 0));
    cr_assert(eq(dbl, num(e, "anomaly_points"), 1));
    cr_assert(eq(dbl, num(e, "peak_value"), 98.5));
    cr_assert(eq(dbl, num(e, "priority"), resp.events[0].priority));
    cr_assert(eq(dbl, num(root, "total_series"), 1));
    cr_assert(eq(dbl, num(root, "total_anomalies"), 1));
    cr_assert(not(eq(ptr, strstr(out.data, "{\"results\":[{\"resource_id\":"), NULL)));
    yajl_tree_free(root);
    aiops_buf_fini(&out);
    aiops_detect_response_fini(&resp);
}

Test(api_json, encodes_null_events_when_nothing_is_anomalous)
{
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    struct aiops_buf out;

    series_body(10, ",\"method\":\"z-score\"");
    cr_assert(eq(int, decode(), 0));
    aiops_detector_params_init(&p);
    cr_assert(eq(int, aiops_detect_run(&req, &p, 300, &resp), 0));
    aiops_buf_init(&out);
    cr_assert(eq(int, aiops_api_encode_detect(&req, &resp, &out), 0));
    cr_assert(not(eq(ptr,
                     strstr(out.data, "\"anomalies\":[],\"total_points\":10,\"anomaly_count\""
                                      ":0,\"anomaly_percentage\":0,"),
                     NULL)),
              "%s", out.data);
    cr_assert(not(eq(ptr,
                     strstr(out.data, "\"grouped_events\":null,\"total_series\":1,"
                                      "\"total_anomalies\":0}"),
                     NULL)),
              "%s", out.data);
    aiops_buf_fini(&out);
    aiops_detect_response_fini(&resp);
}

/* Decodes `s` with the n-th allocation failing, for every n, until it succeeds. */
static void fail_loop(const char *s, int expect)
{
    long live_before = aiops_mem_live();
    int err;

    for (long n = 0;; n++) {
        struct aiops_buf e;

        aiops_buf_init(&e);
        aiops_mem_fail_after(n);
        err = aiops_api_decode_detect(s, strlen(s), &limits, &req, &e);
        aiops_mem_fail_after(-1);
        aiops_buf_fini(&e);
        if (err == expect)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld", n);
        cr_assert(eq(long, aiops_mem_live(), live_before), "leak at allocation %ld", n);
        cr_assert(eq(sz, req.n_series, 0));
    }
    aiops_detect_request_fini(&req);
    cr_assert(eq(long, aiops_mem_live(), live_before));
}

Test(api_json, frees_everything_when_an_allocation_fails)
{
    aiops_buf_puts(&body, "{\"series\":[");
    for (int s = 0; s < 3; s++) {
        aiops_buf_printf(
            &body, "%s{\"resource_id\":\"r%d\",\"metric_name\":\"m\",\"data\":", s ? "," : "", s);
        points(&body, 150, 7);
        aiops_buf_puts(&body, "}");
    }
    aiops_buf_puts(&body, "],\"method\":\"z-score\",\"method\":\"lof\"}");
    fail_loop(body.data, 0);
    fail_loop("{\"series\":[{\"data\":[{\"value\":\"x\"}]}],\"method\":\"no\"}", AIOPS_EINVAL);
    fail_loop("{\"series\":[", AIOPS_EINVAL);
}

Test(api_json, reports_invalid_utf8_at_its_byte_offset)
{
    const char *bad[] = {"{\"series\":\"\xff\"}", "{\"series\":\"\xc0\xaf\"}",
                         "{\"series\":\"\xed\xa0\x80\"}", "{\"series\":\"\xe2\x82\"}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert(eq(int, decode_str(bad[i]), AIOPS_EINVAL), "case %zu", i);
        expect_one("json_invalid", "[\"body\",11]");
        aiops_buf_fini(&errs);
    }
    /* Well-formed multi-byte names pass: 2, 3 and 4 byte sequences. */
    cr_assert(
        eq(int, decode_str("{\"series\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"), AIOPS_EINVAL));
    cr_assert(eq(ptr, strstr(errs.data, "json_invalid"), NULL), "%s", errs.data);
}
