/* SPDX-License-Identifier: MIT */
/* aiops_time_parse/format/epoch_to_ms: the ISO-8601 shapes publishers send, epochs in every unit,
 * impossible dates, and the zone echoed back as pydantic would print it. */
#include "agent/err.h"
#include "agent/timestamp.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

static void fini(void)
{
    aiops_test_check_leaks();
}

TestSuite(timestamp, .fini = fini);

#define T_2025_12_28_22 1766959200000LL /* 2025-12-28T22:00:00Z in ms */

static struct aiops_time parse_ok(const char *s)
{
    struct aiops_time t;

    cr_assert(eq(int, aiops_time_parse(s, strlen(s), &t), 0), "%s", s);
    return t;
}

static void roundtrip(const char *in, const char *expect)
{
    struct aiops_time t = parse_ok(in);
    char buf[32];
    size_t n = aiops_time_format(&t, buf, sizeof(buf));

    cr_assert(eq(str, buf, (char *)expect), "%s", in);
    cr_assert(eq(sz, n, strlen(expect)));
}

Test(timestamp, parses_utc_naive_and_offset_forms_to_the_same_instant)
{
    struct aiops_time t;

    t = parse_ok("2025-12-28T22:00:00Z");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(u8, t.tz, AIOPS_TZ_UTC));
    t = parse_ok("2025-12-28T22:00:00");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(u8, t.tz, AIOPS_TZ_NAIVE));
    t = parse_ok("2025-12-29T00:00:00+02:00");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(u8, t.tz, AIOPS_TZ_OFFSET));
    cr_assert(eq(i16, t.offset_minutes, 120));
    t = parse_ok("2025-12-28 16:30:00-0530");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(i16, t.offset_minutes, -330));
    t = parse_ok("2025-12-28T23:00:00+01");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    t = parse_ok("2025-12-28t22:00z");
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
}

Test(timestamp, keeps_fractions_to_the_millisecond)
{
    cr_assert(eq(i64, parse_ok("2025-12-28T22:00:00.5Z").ms, T_2025_12_28_22 + 500));
    cr_assert(eq(i64, parse_ok("2025-12-28T22:00:00.123456789Z").ms, T_2025_12_28_22 + 123));
    cr_assert(eq(i64, parse_ok("2025-12-28T22:00:00,25").ms, T_2025_12_28_22 + 250));
}

Test(timestamp, parses_nab_style_and_bare_dates)
{
    cr_assert(eq(i64, parse_ok("2014-04-10 07:15:00").ms, 1397114100000LL));
    cr_assert(eq(i64, parse_ok("2025-12-28").ms, T_2025_12_28_22 - 22 * 3600000LL));
    cr_assert(eq(i64, parse_ok("1970-01-01").ms, 0));
    cr_assert(eq(i64, parse_ok("1969-12-31T23:59:59.999").ms, -1));
    cr_assert(eq(i64, parse_ok("2000-02-29T00:00:00").ms, 951782400000LL));
}

Test(timestamp, parses_decimal_epochs_as_utc)
{
    struct aiops_time t = parse_ok("1766959200");

    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(u8, t.tz, AIOPS_TZ_UTC));
    cr_assert(eq(i64, parse_ok("1766959200.25").ms, T_2025_12_28_22 + 250));
    cr_assert(eq(i64, parse_ok("1766959200123").ms, T_2025_12_28_22 + 123));
    cr_assert(eq(i64, parse_ok("0").ms, 0));
    cr_assert(eq(i64, parse_ok("-1.5").ms, -1500));
}

Test(timestamp, rejects_impossible_dates_and_garbage)
{
    static const char *const bad[] = {
        "",
        "2025-13-01T00:00:00",
        "2025-02-29T00:00:00",
        "2025-12-32",
        "2025-12-28T24:00:00",
        "2025-12-28T22:60:00",
        "2025-12-28T22:00:60",
        "2025-12-28T22:00:00.",
        "2025-12-28X22:00",
        "2025-12-28T22:00:00+24:00",
        "2025-12-28T22:00:00+02:",
        "2025-12-28T22:00:00Zjunk",
        "0000-01-01",
        "abc",
        "1e5",
        "12a",
        "-",
        "1.2.3",
        "2025-1-1",
        "2025-12-28T2:00",
        "nan",
        "inf",
        " 2025-12-28",
    };
    struct aiops_time t;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(eq(int, aiops_time_parse(bad[i], strlen(bad[i]), &t), AIOPS_EINVAL), "%s",
                  bad[i]);
}

/* The parser remembers the last date it read: what follows the date must still be checked, and
 * a neighbouring impossible date must not borrow the remembered one's answer. */
Test(timestamp, checks_the_rest_of_a_timestamp_whose_date_it_remembers)
{
    struct aiops_time t;

    cr_assert(
        eq(i64, parse_ok("2024-02-29T10:00:00").ms, parse_ok("2024-02-29T09:00:00").ms + 3600000));
    cr_assert(eq(int, aiops_time_parse("2024-02-29T25:00:00", 19, &t), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_time_parse("2023-02-29T10:00:00", 19, &t), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_time_parse("2024-02-29junk", 14, &t), AIOPS_EINVAL));
    cr_assert(eq(i64, parse_ok("2024-03-01").ms - parse_ok("2024-02-29").ms, 86400000));
}

Test(timestamp, only_reads_the_given_length)
{
    struct aiops_time t;
    const char *s = "2025-12-28T22:00:00Zgarbage";

    cr_assert(eq(int, aiops_time_parse(s, 20, &t), 0));
    cr_assert(eq(i64, t.ms, T_2025_12_28_22));
    cr_assert(eq(int, aiops_time_parse(s, 21, &t), AIOPS_EINVAL));
}

Test(timestamp, formats_the_zone_as_written)
{
    roundtrip("2025-12-28T22:00:00", "2025-12-28T22:00:00");
    roundtrip("2025-12-28 22:00:00", "2025-12-28T22:00:00");
    roundtrip("2025-12-28T22:00:00Z", "2025-12-28T22:00:00Z");
    roundtrip("2025-12-28T22:00:00+00:00", "2025-12-28T22:00:00Z"); /* pydantic prints Z */
    roundtrip("2025-12-29T00:00:00+02:00", "2025-12-29T00:00:00+02:00");
    roundtrip("2025-12-28T16:30:00-0530", "2025-12-28T16:30:00-05:30");
    roundtrip("2025-12-28T22:00:00.120Z", "2025-12-28T22:00:00.120Z");
    roundtrip("2025-12-28T22:00:00.000", "2025-12-28T22:00:00");
    roundtrip("2025-12-28", "2025-12-28T00:00:00");
    roundtrip("1766959200", "2025-12-28T22:00:00Z");
    roundtrip("0001-01-01T00:00:00", "0001-01-01T00:00:00");
    roundtrip("9999-12-31T23:59:59.999", "9999-12-31T23:59:59.999");
    roundtrip("1900-03-01T01:02:03.004-23:59", "1900-03-01T01:02:03.004-23:59");
}

Test(timestamp, formats_into_short_buffers_without_overflow)
{
    struct aiops_time t = {.ms = T_2025_12_28_22, .tz = AIOPS_TZ_UTC};
    char buf[8];

    cr_assert(eq(sz, aiops_time_format(&t, buf, sizeof(buf)), 7));
    cr_assert(eq(str, buf, "2025-12"));
    cr_assert(eq(sz, aiops_time_format(&t, buf, 0), 0));
}

Test(timestamp, tells_epoch_units_apart_by_magnitude)
{
    cr_assert(eq(i64, aiops_time_epoch_to_ms(1766959200.0), T_2025_12_28_22));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(1766959200123.0), T_2025_12_28_22 + 123));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(1766959200123456.0), T_2025_12_28_22 + 123));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(1766959200123456789.0), T_2025_12_28_22 + 123));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(-86400.0), -86400000));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(0.0), 0));
    cr_assert(eq(i64, aiops_time_epoch_to_ms(0.0015), 2));
}

Test(timestamp, agrees_with_days_from_civil_over_four_centuries)
{
    /* Every day's midnight, formatted and parsed back, moves by exactly one day. */
    struct aiops_time t = {.ms = -11676096000000LL, .tz = AIOPS_TZ_NAIVE}; /* 1600-01-01 */
    char buf[32];

    for (int i = 0; i < 146097 + 400; i += 7) {
        struct aiops_time back;
        size_t n = aiops_time_format(&t, buf, sizeof(buf));

        cr_assert(eq(int, aiops_time_parse(buf, n, &back), 0), "%s", buf);
        cr_assert(eq(i64, back.ms, t.ms), "%s", buf);
        t.ms += 7 * 86400000LL;
    }
}
