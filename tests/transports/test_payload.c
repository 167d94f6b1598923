/* SPDX-License-Identifier: MIT */
/* Payload decoders: every format and form with the exact points it yields (our schema in JSON
 * and msgpack, Telegraf json and msgpack as Telegraf writes them, collectd's JSON as
 * write_http sends it, Influx line protocol), sniffing, every rejection reason, all or nothing,
 * the callback's error, hostile msgpack, and allocation failures. */
#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_GOT 64

/* Each point as one line: "resource|metric|k=v,k=v|ts_ms|value". */
static char got[MAX_GOT][256];
static size_t n_got;
static int fail_at = -1; /* the callback returns AIOPS_EIO on this call (0-based) */
static struct aiops_payload_options opt;
static struct aiops_payload_error perr;
static msgpack_sbuffer sbuf;
static msgpack_packer pk;

static void init(void)
{
    n_got = 0;
    fail_at = -1;
    aiops_payload_options_init(&opt);
    memset(&perr, 0, sizeof(perr));
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void fini(void)
{
    aiops_mem_fail_after(-1);
    msgpack_sbuffer_destroy(&sbuf);
    aiops_test_check_leaks();
}

TestSuite(payload, .init = init, .fini = fini);

static int on_point(void *ctx, const struct aiops_metric_point *p)
{
    char *out;
    int n;

    (void)ctx;
    if ((int)n_got == fail_at)
        return AIOPS_EIO;
    cr_assert(lt(sz, n_got, MAX_GOT));
    out = got[n_got++];
    n = snprintf(out, 256, "%s|%s|", p->resource_id, p->metric);
    for (size_t k = 0; k < p->n_labels; k++)
        n += snprintf(out + n, 256 - (size_t)n, "%s%s=%s", k ? "," : "", p->labels[k].key,
                      p->labels[k].value);
    snprintf(out + n, 256 - (size_t)n, "|%lld|%.15g", (long long)p->ts_ms, p->value);
    return 0;
}

static int decode_len(enum aiops_payload_format f, const void *data, size_t len)
{
    opt.format = f;
    n_got = 0;
    return aiops_payload_decode(data, len, &opt, on_point, NULL, &perr);
}

static int decode(enum aiops_payload_format f, const char *s)
{
    return decode_len(f, s, strlen(s));
}

static int decode_mp(enum aiops_payload_format f)
{
    return decode_len(f, sbuf.data, sbuf.size);
}

/* Asserts the points decoded so far are exactly the NULL-terminated list. */
static void expect_points(const char *const *want)
{
    size_t n = 0;

    for (; want[n] != NULL; n++) {
        cr_assert(lt(sz, n, n_got), "missing point %zu: %s", n, want[n]);
        cr_assert(eq(str, got[n], (char *)want[n]), "point %zu", n);
    }
    cr_assert(eq(sz, n_got, n), "extra point: %s", n_got > n ? got[n] : "");
}

#define EXPECT(...) expect_points((const char *const[]){__VA_ARGS__, NULL})

/* Asserts a rejection: AIOPS_EINVAL, the reason, a detail containing `where`, nothing emitted. */
static void expect_reject(int rc, const char *reason, const char *where)
{
    cr_assert(eq(int, rc, AIOPS_EINVAL), "rc %d (%s)", rc, perr.detail);
    cr_assert(not(eq(ptr, (void *)perr.reason, NULL)));
    cr_assert(eq(str, (char *)perr.reason, (char *)reason), "detail: %s", perr.detail);
    cr_assert(not(eq(ptr, strstr(perr.detail, where), NULL)), "detail \"%s\" lacks \"%s\"",
              perr.detail, where);
    cr_assert(eq(sz, n_got, 0));
}

static void pk_str(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

/* Our schema in msgpack: {"resource_id", "metric", "timestamp": ts, "value", "labels"}. */
static void pk_point(const char *res, const char *metric, int64_t ts, double v, bool label)
{
    msgpack_pack_map(&pk, label ? 5 : 4);
    pk_str("resource_id");
    pk_str(res);
    pk_str("metric");
    pk_str(metric);
    pk_str("timestamp");
    msgpack_pack_int64(&pk, ts);
    pk_str("value");
    msgpack_pack_double(&pk, v);
    if (label) {
        pk_str("labels");
        msgpack_pack_map(&pk, 2);
        pk_str("region");
        pk_str("eu");
        pk_str("az");
        pk_str("b");
    }
}

/* ---- options and sniffing -------------------------------------------------------------------- */

Test(payload, options_default_to_auto_host_and_100000_points)
{
    struct aiops_payload_options o;

    memset(&o, 0x5a, sizeof(o));
    aiops_payload_options_init(&o);
    cr_assert(eq(int, o.format, AIOPS_PAYLOAD_AUTO));
    cr_assert(eq(str, (char *)o.resource_tag, "host"));
    cr_assert(eq(i64, o.now_ms, 0));
    cr_assert(eq(sz, o.max_points, 100000));
}

Test(payload, sniffs_each_format_from_its_first_bytes)
{
    cr_assert(eq(int,
                 decode(AIOPS_PAYLOAD_AUTO, " \n{\"resource_id\":\"r\",\"metric\":\"m\","
                                            "\"timestamp\":1,\"value\":2}"),
                 1));
    EXPECT("r|m||1000|2");
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_AUTO, "cpu,host=h v=1 2000000\n"), 1));
    EXPECT("h|cpu.v||2|1");
    pk_point("r", "m", 3, 4, false);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_AUTO), 1));
    EXPECT("r|m||3000|4");
    msgpack_sbuffer_clear(&sbuf);
    msgpack_pack_array(&pk, 1);
    pk_point("r", "m", 5, 6, false);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_AUTO), 1));
    EXPECT("r|m||5000|6");
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_AUTO, "# only a comment\ncpu,host=h v=1 0"), 1));
}

Test(payload, rejects_empty_and_unknown_formats)
{
    expect_reject(decode(AIOPS_PAYLOAD_AUTO, ""), "empty", "0 bytes");
    expect_reject(decode(AIOPS_PAYLOAD_AUTO, " \r\n\t"), "empty", "4 bytes");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "  "), "empty", "no content");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "\n\n"), "empty", "no content");
    expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, "", 0), "empty", "0 bytes");
    expect_reject(decode(AIOPS_PAYLOAD_AUTO, "hello world"), "unknown_format", "0x68 at 0");
    expect_reject(decode(AIOPS_PAYLOAD_AUTO, "  \"str\""), "unknown_format", "at 2");
    expect_reject(decode_len(AIOPS_PAYLOAD_AUTO, "\x01\x02", 2), "unknown_format", "0x01");
}

/* ---- our schema, JSON ----------------------------------------------------------------------- */

Test(payload, decodes_one_json_point_with_labels_in_order)
{
    int rc = decode(AIOPS_PAYLOAD_JSON,
                    "{\"resource_id\":\"db-1\",\"metric\":\"cpu\",\"timestamp\":1766959200,"
                    "\"value\":97.5,\"labels\":{\"region\":\"eu\",\"az\":\"b\"},\"unit\":\"%\"}");

    cr_assert(eq(int, rc, 1), "%s", perr.detail);
    EXPECT("db-1|cpu|region=eu,az=b|1766959200000|97.5");
}

Test(payload, decodes_a_json_array_with_metric_name_and_every_timestamp_form)
{
    int rc =
        decode(AIOPS_PAYLOAD_JSON,
               "[{\"resource_id\":\"a\",\"metric_name\":\"m\",\"timestamp\":1766959200.25,"
               "\"value\":1},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1766959200123,"
               "\"value\":-2.5e1,\"labels\":null},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1766959200123456,"
               "\"value\":0},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1766959200123456789,"
               "\"value\":3},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":\"2025-12-28T22:00:00Z\","
               "\"value\":4},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":"
               "\"2025-12-29T00:00:00.5+02:00\",\"value\":5}]");

    cr_assert(eq(int, rc, 6), "%s", perr.detail);
    EXPECT("a|m||1766959200250|1", "a|m||1766959200123|-25", "a|m||1766959200123|0",
           "a|m||1766959200123|3", "a|m||1766959200000|4", "a|m||1766959200500|5");
}

Test(payload, tells_epoch_units_apart_by_magnitude)
{
    /* < 1e11 seconds, < 1e14 ms, < 1e17 us, else ns. */
    int rc =
        decode(AIOPS_PAYLOAD_JSON,
               "[{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":99999999999,\"value\":1},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":100000000000,\"value\":1},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":99999999999999,"
               "\"value\":1},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":100000000000000,"
               "\"value\":1},"
               "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":100000000000000000,"
               "\"value\":1}]");

    cr_assert(eq(int, rc, 5), "%s", perr.detail);
    EXPECT("a|m||99999999999000|1", "a|m||100000000000|1", "a|m||99999999999999|1",
           "a|m||100000000000|1", "a|m||100000000000|1");
}

Test(payload, accepts_an_empty_json_array_as_no_points)
{
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_JSON, " [ ] "), 0));
    cr_assert(eq(sz, n_got, 0));
}

Test(payload, rejects_json_points_by_reason)
{
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "{\"resource_id\":\"a\",\"metric\":\"m\""), "syntax",
                  "JSON at byte");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "{\"a\":1}}"), "syntax", "JSON at byte");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "{\"metric\":\"m\",\"timestamp\":1,\"value\":1}"),
                  "schema", "point 0: resource_id missing");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"\",\"metric\":\"m\",\"timestamp\":1,\"value\":1}"),
                  "schema", "resource_id is not a non-empty");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\",\"metric\":7,\"timestamp\":1,\"value\":1}"),
                  "schema", "metric is not");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\\u0000x\",\"metric\":\"m\",\"timestamp\":1,"
                         "\"value\":1}"),
                  "schema", "resource_id");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":true}"),
                  "value", "point 0: value");
    expect_reject(
        decode(AIOPS_PAYLOAD_JSON,
               "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":1e999}"),
        "value", "finite");
    expect_reject(
        decode(AIOPS_PAYLOAD_JSON,
               "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":\"1\"}"),
        "value", "value");
    expect_reject(
        decode(AIOPS_PAYLOAD_JSON, "{\"resource_id\":\"r\",\"metric\":\"m\",\"value\":1}"),
        "timestamp", "point 0: timestamp");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":\"yesterday\","
                         "\"value\":1}"),
                  "timestamp", "point 0");
    expect_reject(
        decode(AIOPS_PAYLOAD_JSON,
               "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1e300,\"value\":1}"),
        "timestamp", "point 0");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":1,"
                         "\"labels\":{\"k\":1}}"),
                  "schema", "label 0");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":1,"
                         "\"labels\":[]}"),
                  "schema", "labels is not an object");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "[1]"), "schema", "item 0 is not an object");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "\"x\""), "schema", "top-level");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]"
                         "]]]]]]]]]]]]]]]]]]"),
                  "syntax", "deeper than 32");
}

Test(payload, emits_nothing_when_one_point_of_a_batch_is_bad)
{
    int rc = decode(AIOPS_PAYLOAD_JSON,
                    "[{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1,\"value\":1},"
                    "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":2,\"value\":2},"
                    "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":3,\"value\":null}]");

    expect_reject(rc, "value", "point 2");
}

Test(payload, rejects_more_points_than_max_points)
{
    const char *two = "[{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1,\"value\":1},"
                      "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":2,\"value\":2}]";

    opt.max_points = 2;
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_JSON, two), 2));
    opt.max_points = 1;
    expect_reject(decode(AIOPS_PAYLOAD_JSON, two), "too_large", "more than 1 points");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h a=1,b=2"), "too_large", "more than 1");
}

Test(payload, stops_at_the_callbacks_error_and_returns_it)
{
    const char *three = "[{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":1,\"value\":1},"
                        "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":2,\"value\":2},"
                        "{\"resource_id\":\"a\",\"metric\":\"m\",\"timestamp\":3,\"value\":3}]";

    fail_at = 1;
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_JSON, three), AIOPS_EIO));
    EXPECT("a|m||1000|1");
    fail_at = 0;
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_INFLUX, "m,host=h a=1,b=2 0"), AIOPS_EIO));
    cr_assert(eq(sz, n_got, 0));
    fail_at = 1;
    pk_point("r", "m", 1, 1, false);
    pk_point("r", "m", 2, 2, false);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_MSGPACK), AIOPS_EIO));
    EXPECT("r|m||1000|1");
}

/* ---- Telegraf json -----------------------------------------------------------------------------
 */

Test(payload, decodes_telegraf_json_as_telegraf_writes_it)
{
    /* Telegraf's json serializer README, one metric (default json_timestamp_units = 1s). */
    int rc = decode(AIOPS_PAYLOAD_AUTO,
                    "{\"fields\":{\"field_1\":30,\"field_2\":4,\"field_N\":59,\"n_images\":660},"
                    "\"name\":\"docker\",\"tags\":{\"host\":\"raynor\"},\"timestamp\":1458229140}");

    cr_assert(eq(int, rc, 4), "%s", perr.detail);
    EXPECT("raynor|docker.field_1||1458229140000|30", "raynor|docker.field_2||1458229140000|4",
           "raynor|docker.field_N||1458229140000|59", "raynor|docker.n_images||1458229140000|660");
}

Test(payload, decodes_a_telegraf_json_batch_skipping_strings_and_booleans)
{
    int rc = decode(AIOPS_PAYLOAD_JSON,
                    "{\"metrics\":[{\"fields\":{\"usage_idle\":98.1,\"usage_user\":1.2},"
                    "\"name\":\"cpu\",\"tags\":{\"cpu\":\"cpu0\",\"host\":\"h1\"},"
                    "\"timestamp\":1458229140},"
                    "{\"fields\":{\"state\":\"up\",\"ok\":true,\"rtt\":0.5},\"name\":\"ping\","
                    "\"tags\":{\"host\":\"h2\",\"url\":\"x\"},\"timestamp\":1458229141000},"
                    "{\"fields\":{\"state\":\"down\"},\"name\":\"svc\",\"tags\":{\"host\":\"h3\"},"
                    "\"timestamp\":1458229142}]}");

    cr_assert(eq(int, rc, 3), "%s", perr.detail);
    EXPECT("h1|cpu.usage_idle|cpu=cpu0|1458229140000|98.1",
           "h1|cpu.usage_user|cpu=cpu0|1458229140000|1.2", "h2|ping.rtt|url=x|1458229141000|0.5");
}

Test(payload, accepts_a_telegraf_metric_without_numeric_fields_as_no_points)
{
    const char *m = "{\"fields\":{\"state\":\"up\",\"ok\":false},\"name\":\"svc\","
                    "\"tags\":{\"host\":\"h\"},\"timestamp\":1458229140}";

    cr_assert(eq(int, decode(AIOPS_PAYLOAD_JSON, m), 0), "%s", perr.detail);
    cr_assert(eq(sz, n_got, 0));
    /* ... but it is still checked whole. */
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "{\"fields\":{\"state\":\"up\"},\"name\":\"svc\","
                                             "\"tags\":{},\"timestamp\":1458229140}"),
                  "schema", "tag \"host\"");
}

Test(payload, names_the_missing_resource_tag_of_telegraf_json)
{
    const char *m = "{\"fields\":{\"v\":1},\"name\":\"cpu\",\"tags\":{\"node\":\"n1\"},"
                    "\"timestamp\":1458229140}";

    expect_reject(decode(AIOPS_PAYLOAD_JSON, m), "schema", "tag \"host\"");
    opt.resource_tag = "node";
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_JSON, m), 1));
    EXPECT("n1|cpu.v||1458229140000|1");
    expect_reject(decode(AIOPS_PAYLOAD_JSON, "{\"fields\":{\"v\":1},\"name\":\"cpu\","
                                             "\"tags\":{\"node\":\"n1\"}}"),
                  "timestamp", "metric 0 (cpu)");
}

/* ---- collectd JSON ------------------------------------------------------------------------------
 */

Test(payload, decodes_collectd_json_as_write_http_sends_it)
{
    /* utils_format_json.c: time and interval "%.3f", "" for absent instances, null for a NaN
     * gauge. */
    int rc = decode(AIOPS_PAYLOAD_AUTO,
                    "[{\"values\":[197141504,175136768],\"dstypes\":[\"counter\",\"counter\"],"
                    "\"dsnames\":[\"read\",\"write\"],\"time\":1251533299.000,"
                    "\"interval\":10.000,\"host\":\"leeloo.lan.home.verplant.org\","
                    "\"plugin\":\"disk\",\"plugin_instance\":\"sda\",\"type\":\"disk_octets\","
                    "\"type_instance\":\"\"},"
                    "{\"values\":[1901474177],\"dstypes\":[\"counter\"],\"dsnames\":[\"value\"],"
                    "\"time\":1280959128.125,\"interval\":10.000,\"host\":\"leeloo\","
                    "\"plugin\":\"cpu\",\"plugin_instance\":\"0\",\"type\":\"cpu\","
                    "\"type_instance\":\"idle\"},"
                    "{\"values\":[null],\"dstypes\":[\"gauge\"],\"dsnames\":[\"value\"],"
                    "\"time\":1280959128.000,\"interval\":10.000,\"host\":\"leeloo\","
                    "\"plugin\":\"load\",\"plugin_instance\":\"\",\"type\":\"load\","
                    "\"type_instance\":\"\"}]");

    cr_assert(eq(int, rc, 3), "%s", perr.detail);
    EXPECT("leeloo.lan.home.verplant.org|disk-sda.disk_octets.read||1251533299000|197141504",
           "leeloo.lan.home.verplant.org|disk-sda.disk_octets.write||1251533299000|175136768",
           "leeloo|cpu-0.cpu-idle||1280959128125|1901474177");
}

Test(payload, rejects_collectd_lists_by_reason)
{
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[{\"values\":[1,2],\"dsnames\":[\"value\"],\"time\":1,\"host\":\"h\","
                         "\"plugin\":\"p\",\"type\":\"t\"}]"),
                  "schema", "value list 0");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[{\"values\":[1],\"dsnames\":[\"value\"],\"time\":1,\"host\":\"\","
                         "\"plugin\":\"p\",\"type\":\"t\"}]"),
                  "schema", "host");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[{\"values\":[1],\"dsnames\":[\"value\"],\"time\":1,\"host\":\"h\","
                         "\"plugin\":\"p\"}]"),
                  "schema", "type");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[{\"values\":[\"x\"],\"dsnames\":[\"value\"],\"time\":1,\"host\":\"h\","
                         "\"plugin\":\"p\",\"type\":\"t\"}]"),
                  "value", "values[0]");
    expect_reject(decode(AIOPS_PAYLOAD_JSON,
                         "[{\"values\":[1],\"dsnames\":[\"value\"],\"host\":\"h\","
                         "\"plugin\":\"p\",\"type\":\"t\"}]"),
                  "timestamp", "value list 0");
}

/* ---- msgpack ----------------------------------------------------------------------------------
 */

Test(payload, decodes_msgpack_points_alone_in_an_array_and_concatenated)
{
    pk_point("db-1", "cpu", 1766959200, 97.5, true);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_MSGPACK), 1), "%s", perr.detail);
    EXPECT("db-1|cpu|region=eu,az=b|1766959200000|97.5");

    msgpack_sbuffer_clear(&sbuf);
    msgpack_pack_array(&pk, 2);
    pk_point("a", "m", 1766959200123LL, 1, false);
    pk_point("b", "n", 1766959200123456789LL, -2, true);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_MSGPACK), 2), "%s", perr.detail);
    EXPECT("a|m||1766959200123|1", "b|n|region=eu,az=b|1766959200123|-2");

    msgpack_sbuffer_clear(&sbuf);
    pk_point("a", "m", 1, 1, false);
    msgpack_pack_array(&pk, 1);
    pk_point("b", "m", 2, 2, false);
    pk_point("c", "m", 3, 3, false);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_MSGPACK), 3), "%s", perr.detail);
    EXPECT("a|m||1000|1", "b|m||2000|2", "c|m||3000|3");
}

/* A point map whose timestamp and value the caller packs next. */
static void pk_head(void)
{
    msgpack_pack_map(&pk, 4);
    pk_str("resource_id");
    pk_str("r");
    pk_str("metric_name");
    pk_str("m");
    pk_str("timestamp");
}

Test(payload, reads_msgpack_integers_floats_and_timestamp_extensions)
{
    static const char ts32[] = {0x69, 0x39, 0x6d, 0x45}; /* 1765371205 s */
    char ts64[8], ts96[12];
    uint64_t v64 = ((uint64_t)500000000 << 34) | 1765371205u;

    for (int k = 0; k < 8; k++)
        ts64[k] = (char)(v64 >> (56 - 8 * k));
    memset(ts96, 0, sizeof(ts96));
    ts96[0] = 0x00, ts96[1] = 0x0f, ts96[2] = 0x42, ts96[3] = 0x40; /* 1000000 ns */
    ts96[11] = 0x05;                                                /* 5 s */
    pk_head();
    msgpack_pack_ext(&pk, 4, -1);
    msgpack_pack_ext_body(&pk, ts32, 4);
    pk_str("value");
    msgpack_pack_uint64(&pk, 42);
    pk_head();
    msgpack_pack_ext(&pk, 8, -1);
    msgpack_pack_ext_body(&pk, ts64, 8);
    pk_str("value");
    msgpack_pack_int64(&pk, -7);
    pk_head();
    msgpack_pack_ext(&pk, 12, -1);
    msgpack_pack_ext_body(&pk, ts96, 12);
    pk_str("value");
    msgpack_pack_float(&pk, 0.5f);
    pk_head();
    pk_str("2025-12-28T22:00:00Z");
    pk_str("value");
    msgpack_pack_double(&pk, 1e-3);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_MSGPACK), 4), "%s", perr.detail);
    EXPECT("r|m||1765371205000|42", "r|m||1765371205500|-7", "r|m||5001|0.5",
           "r|m||1766959200000|0.001");
}

Test(payload, rejects_msgpack_points_by_reason)
{
    pk_head();
    msgpack_pack_int(&pk, 1);
    pk_str("value");
    msgpack_pack_double(&pk, NAN);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "value", "point 0: value");

    msgpack_sbuffer_clear(&sbuf);
    pk_head();
    msgpack_pack_int(&pk, 1);
    pk_str("value");
    msgpack_pack_true(&pk);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "value", "point 0");

    msgpack_sbuffer_clear(&sbuf);
    pk_point("a", "m", 1, 1, false);
    pk_head();
    msgpack_pack_ext(&pk, 4, 5); /* not the timestamp type */
    msgpack_pack_ext_body(&pk, "abcd", 4);
    pk_str("value");
    msgpack_pack_int(&pk, 1);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "timestamp", "point 1");

    msgpack_sbuffer_clear(&sbuf);
    msgpack_pack_map(&pk, 3);
    pk_str("resource_id");
    pk_str("r");
    pk_str("timestamp");
    msgpack_pack_int(&pk, 1);
    pk_str("value");
    msgpack_pack_int(&pk, 1);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "schema", "metric missing");

    msgpack_sbuffer_clear(&sbuf);
    msgpack_pack_map(&pk, 4);
    pk_str("resource_id");
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "\xc3\x28", 2); /* not UTF-8 */
    pk_str("metric");
    pk_str("m");
    pk_str("timestamp");
    msgpack_pack_int(&pk, 1);
    pk_str("value");
    msgpack_pack_int(&pk, 1);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "schema", "resource_id");

    msgpack_sbuffer_clear(&sbuf);
    msgpack_pack_int(&pk, 5);
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "schema", "item 0 is not a map");

    msgpack_sbuffer_clear(&sbuf);
    pk_point("a", "m", 1, 1, true);
    expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, sbuf.data, sbuf.size - 1), "syntax",
                  "truncated");
}

Test(payload, rejects_hostile_msgpack_without_allocating_for_it)
{
    /* array32 announcing 4 billion items, map32 likewise, deep nesting, the unused 0xc1. */
    expect_reject(decode_len(AIOPS_PAYLOAD_AUTO, "\xdd\xff\xff\xff\xff\x01", 6), "syntax",
                  "items announced");
    expect_reject(decode_len(AIOPS_PAYLOAD_AUTO, "\xdf\x7f\xff\xff\xff", 5), "syntax", "truncated");
    expect_reject(decode_len(AIOPS_PAYLOAD_AUTO,
                             "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
                             "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x01",
                             21),
                  "syntax", "deeper than 16");
    expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, "\x91\xc1", 2), "syntax", "0xc1 at byte 1");
    expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, "\x81\xdb\xff\xff\xff\xff", 6), "syntax",
                  "truncated");
}

/* The process's peak virtual size (VmPeak) in KB, or -1. */
static long vm_peak_kb(void)
{
    char line[128];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmPeak: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(payload, refuses_announced_counts_the_message_cannot_hold_before_allocating)
{
    /* msgpack-c's own unpacker maps 24 bytes per announced item up front: 1.6 GB for the
     * nested 2^26 items here, which glibc grants as address space. */
    static const struct {
        const char *s;
        size_t len;
    } hostile[] = {
        {"\xdd\xff\xff\xff\xff\x01", 6},                      /* array32, 2^32-1 items */
        {"\xdf\xff\xff\xff\xff", 5},                          /* map32, 2^32-1 pairs */
        {"\x91\xdd\x04\x00\x00\x00\x01", 7},                  /* nested array32, 2^26 items */
        {"\x81\xa1k\xdf\x00\x40\x00\x00\xa1k\x01", 11},       /* a map value claiming 2^22 pairs */
        {"\x93\xdf\x01\x00\x00\x00\xdf\x01\x00\x00\x00", 11}, /* 2^24 pairs, twice */
        {"\x91\x91\x91\xdd\x01\x00\x00\x00", 8},              /* 2^24 items, 3 deep */
    };
    long peak = vm_peak_kb();
    double t0 = wall_s();

    cr_assert(gt(long, peak, 0));
    for (size_t k = 0; k < sizeof(hostile) / sizeof(hostile[0]); k++) {
        expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, hostile[k].s, hostile[k].len), "syntax",
                      "items announced");
        cr_assert(lt(long, vm_peak_kb() - peak, 16 * 1024), "message %zu mapped %ld KB", k,
                  vm_peak_kb() - peak);
    }
    cr_assert(lt(dbl, wall_s() - t0, 0.5));
    /* A count the bytes can hold is not refused: 3 nil items in 3 bytes. */
    expect_reject(decode_len(AIOPS_PAYLOAD_MSGPACK, "\xdc\x00\x03\xc0\xc0\xc0", 6), "schema",
                  "item 0 is not a map");
}

static int sum_point(void *ctx, const struct aiops_metric_point *p)
{
    double *sum = ctx;

    *sum += p->value;
    return strcmp(p->resource_id, "r") == 0 && p->n_labels == 2 ? 0 : AIOPS_EIO;
}

Test(payload, decodes_msgpack_messages_larger_than_the_parsers_first_memory_chunk)
{
    /* 5,000 points in an array (a 1.8 MB tree, past the 64 KB the decoder starts with), then
     * 5,000 maps concatenated (as many small trees in turn); decoded again, the same points. */
    for (int form = 0; form < 2; form++) {
        msgpack_sbuffer_clear(&sbuf);
        if (form == 0)
            msgpack_pack_array(&pk, 5000);
        for (int k = 1; k <= 5000; k++)
            pk_point("r", "m", 1766959200, k, true);
        for (int round = 0; round < 3; round++) {
            double sum = 0;

            opt.format = AIOPS_PAYLOAD_MSGPACK;
            cr_assert(eq(int,
                         aiops_payload_decode(sbuf.data, sbuf.size, &opt, sum_point, &sum, &perr),
                         5000),
                      "%s", perr.detail);
            cr_assert(eq(dbl, sum, 5000.0 * 5001 / 2));
        }
    }
}

/* Telegraf's msgpack serializer: {"name", "time": ext -1, "tags", "fields"}. */
static void pk_telegraf(const char *name, const char *host, uint32_t sec)
{
    char ts[4] = {(char)(sec >> 24), (char)(sec >> 16), (char)(sec >> 8), (char)sec};

    msgpack_pack_map(&pk, 4);
    pk_str("name");
    pk_str(name);
    pk_str("time");
    msgpack_pack_ext(&pk, 4, -1);
    msgpack_pack_ext_body(&pk, ts, 4);
    pk_str("tags");
    msgpack_pack_map(&pk, 2);
    pk_str("host");
    pk_str(host);
    pk_str("tag_1");
    pk_str("x");
    pk_str("fields");
    msgpack_pack_map(&pk, 4);
    pk_str("field_1");
    msgpack_pack_int64(&pk, 30);
    pk_str("field_2");
    msgpack_pack_true(&pk);
    pk_str("field_3");
    pk_str("field_value");
    pk_str("field_4");
    msgpack_pack_double(&pk, 30.1);
}

Test(payload, decodes_concatenated_telegraf_msgpack_metrics)
{
    pk_telegraf("cpu", "host01", 1458229140);
    pk_telegraf("mem", "host02", 1458229141);
    cr_assert(eq(int, decode_mp(AIOPS_PAYLOAD_AUTO), 4), "%s", perr.detail);
    EXPECT("host01|cpu.field_1|tag_1=x|1458229140000|30",
           "host01|cpu.field_4|tag_1=x|1458229140000|30.1",
           "host02|mem.field_1|tag_1=x|1458229141000|30",
           "host02|mem.field_4|tag_1=x|1458229141000|30.1");
    opt.resource_tag = "dc";
    expect_reject(decode_mp(AIOPS_PAYLOAD_MSGPACK), "schema", "tag \"dc\"");
}

/* ---- Influx line protocol ----------------------------------------------------------------------
 */

Test(payload, decodes_influx_lines_with_escapes_types_and_comments)
{
    int rc;

    opt.now_ms = 1700000000000;
    rc = decode(AIOPS_PAYLOAD_INFLUX,
                "# a comment\n"
                "\n"
                "cpu,host=h1,region=eu usage_idle=98.1,usage_user=12i 1465839830100400200\n"
                "disk\\ io,host=h\\ 2,path=C:\\\\x,k\\=y=a\\,b reads=5u,msg=\"say \\\"hi\\\", "
                "ok\",up=true,f\\ x=-1.5e2 1465839830100000000\r\n"
                "  mem,host=h3 used=1e3\n"
                "ping,host=h4 ok=T,s=\"multi\nline\",rtt=2.\n");

    cr_assert(eq(int, rc, 6), "%s", perr.detail);
    EXPECT("h1|cpu.usage_idle|region=eu|1465839830100|98.1",
           "h1|cpu.usage_user|region=eu|1465839830100|12",
           "h 2|disk io.reads|path=C:\\\\x,k=y=a,b|1465839830100|5",
           "h 2|disk io.f x|path=C:\\\\x,k=y=a,b|1465839830100|-150",
           "h3|mem.used||1700000000000|1000", "h4|ping.rtt||1700000000000|2");
}

Test(payload, reads_every_influx_number_form)
{
    int rc = decode(AIOPS_PAYLOAD_INFLUX, "m,host=h a=-3i,b=+1.5,c=.5,d=1E2,e=7u,f=-0.25e-2 0");

    cr_assert(eq(int, rc, 6), "%s", perr.detail);
    EXPECT("h|m.a||0|-3", "h|m.b||0|1.5", "h|m.c||0|0.5", "h|m.d||0|100", "h|m.e||0|7",
           "h|m.f||0|-0.0025");
}

Test(payload, stamps_influx_lines_without_a_timestamp_with_now)
{
    opt.now_ms = 1700000000123;
    cr_assert(eq(int, decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1\nm,host=h v=2 -1500000"), 2));
    EXPECT("h|m.v||1700000000123|1", "h|m.v||-2|2");
}

Test(payload, rejects_influx_lines_with_their_line_number)
{
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1\nm,host=h\n"), "syntax",
                  "line 2 (byte 21): expected a space");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1\n\n# c\nm,host=h v=abc"), "syntax",
                  "line 4");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host= v=1"), "syntax", "empty tag value");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host v=1"), "syntax", "bad tag key");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h =1"), "syntax", "bad field key");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=\"open"), "syntax", "unterminated");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1 12x"), "syntax", "after the fields");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=inf"), "syntax", "bad number");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1.2i"), "syntax", "bad number");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=-1u"), "syntax", "bad number");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1e999"), "value", "field v");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=99999999999999999999i"), "value",
                  "field v");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1 99999999999999999999"), "timestamp",
                  "line 1");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h v=1\nm,dc=x v=2"), "schema",
                  "line 2 (byte 13): tag \"host\"");
    expect_reject(decode(AIOPS_PAYLOAD_INFLUX, "m,host=h\xff v=1"), "syntax", "UTF-8");
}

/* ---- allocation failures --------------------------------------------------------------------- */

/* Decodes with the 1st, 2nd, ... allocation failing until it succeeds: each failure is
 * AIOPS_ENOMEM, emits nothing and leaks nothing. */
static void decode_failing_allocations(enum aiops_payload_format f, const void *data, size_t len,
                                       int want)
{
    long live = aiops_mem_live();
    int rc;

    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        rc = decode_len(f, data, len);
        aiops_mem_fail_after(-1);
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", n);
        if (rc >= 0) {
            cr_assert(eq(int, rc, want));
            cr_assert(eq(sz, n_got, (size_t)want));
            cr_assert(gt(long, n, 0), "the decoder allocates");
            break;
        }
        cr_assert(eq(int, rc, AIOPS_ENOMEM), "allocation %ld: %d %s", n, rc, perr.detail);
        cr_assert(eq(sz, n_got, 0));
    }
}

Test(payload, frees_everything_when_an_allocation_fails)
{
    const char *json = "{\"metrics\":[{\"fields\":{\"a\":1,\"b\":2},\"name\":\"cpu\","
                       "\"tags\":{\"host\":\"h\",\"x\":\"y\"},\"timestamp\":1},"
                       "{\"resource_id\":\"r\",\"metric\":\"m\",\"timestamp\":1,\"value\":1,"
                       "\"labels\":{\"k\":\"v\"}}]}";
    const char *influx = "cpu,host=h,a=b x=1,y=2 1\nmem,host=h z=3\n";

    decode_failing_allocations(AIOPS_PAYLOAD_JSON, json, strlen(json), 3);
    decode_failing_allocations(AIOPS_PAYLOAD_INFLUX, influx, strlen(influx), 3);
    pk_point("r", "m", 1, 1, true);
    pk_telegraf("cpu", "h", 1);
    decode_failing_allocations(AIOPS_PAYLOAD_MSGPACK, sbuf.data, sbuf.size, 3);
}
