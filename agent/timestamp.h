/* SPDX-License-Identifier: MIT */
/* Timestamps as metric publishers write them: ISO-8601/RFC 3339 ("2025-12-28T22:00:00Z",
 * "...+02:00", fractions), NAB's "2014-04-10 07:15:00" and epoch seconds. The parsed form
 * keeps how the zone was written so responses echo it the way clients sent it. */
#ifndef AIOPS_TIMESTAMP_H
#define AIOPS_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

enum aiops_tz_kind { AIOPS_TZ_NAIVE, AIOPS_TZ_UTC, AIOPS_TZ_OFFSET };

struct aiops_time {
    int64_t ms;             /* ms since the Unix epoch, UTC (naive times are taken as UTC) */
    int16_t offset_minutes; /* zone offset as written, for AIOPS_TZ_OFFSET */
    uint8_t tz;             /* enum aiops_tz_kind */
};

/* Parses s[0..len). Accepts date-time with 'T' or ' ', optional fraction (any digits,
 * kept to ms), optional 'Z'/'z' or +hh:mm/+hhmm/+hh; a bare date; or a decimal epoch in
 * seconds. Returns 0, or AIOPS_EINVAL for anything else (including impossible dates). */
int aiops_time_parse(const char *s, size_t len, struct aiops_time *out);
/* Epoch in seconds, milliseconds or nanoseconds (told apart by magnitude) to ms. */
int64_t aiops_time_epoch_to_ms(double epoch);
/* Formats as ISO-8601 with the zone as written: naive "2025-12-28T22:00:00", "...Z" or
 * "...+02:00"; ".123" only when there are milliseconds. buf needs 32 bytes. Returns length. */
size_t aiops_time_format(const struct aiops_time *t, char *buf, size_t len);
/* ms since epoch as UTC ISO-8601 ("2026-01-01T00:00:00.123Z"; no ".mmm" when zero). */
size_t aiops_time_format_utc(int64_t ms, char *buf, size_t len);
/* ms since epoch as the stores' UTC text, "2026-01-01 00:00:00.123" (ms always). buf needs 24
 * bytes. Returns the length. */
size_t aiops_time_format_sql(int64_t ms, char *buf, size_t len);
/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days). */
void aiops_time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
