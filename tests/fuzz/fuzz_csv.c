/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the replay CSV reader: arbitrary bytes as a CSV file, read row by row and
 * scored through both implemented detectors. Rows may be rejected; nothing may crash, leak, or
 * report a row outside the input. */
#include "agent/csv.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/detector.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    struct aiops_detector_params p;
    struct aiops_csv_stats st;
    struct aiops_csv c;
    struct aiops_csv_row r;
    const char *why;
    size_t lines = 1;
    FILE *f;
    int rc;

    if (size == 0)
        return 0;
    if (sink == NULL)
        sink = fopen("/dev/null", "w");
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    aiops_csv_init(&c, f);
    while ((rc = aiops_csv_next(&c, &r, &why)) != 0) {
        if (rc != 1 && rc != AIOPS_EINVAL)
            abort();
        if (r.line == 0 || r.line > lines)
            abort();
        if (rc == 1 && (!isfinite(r.point.value) || r.ts_raw < c.buf ||
                        r.ts_raw + r.ts_len > c.buf + sizeof(c.buf) ||
                        r.value_raw + r.value_len > c.buf + sizeof(c.buf)))
            abort();
    }
    fclose(f);

    aiops_detector_params_init(&p);
    p.window = 8;
    p.ma_window = 3;
    for (size_t m = 0; m < aiops_detector_count(); m++) {
        struct aiops_detector *d;

        if (aiops_detector_create(&d, aiops_detector_at(m), &p) < 0)
            abort();
        f = fmemopen((void *)data, size, "r");
        if (f != NULL) {
            aiops_csv_score_stream(d, f, "fuzz", sink, sink, &st);
            fclose(f);
        }
        aiops_detector_destroy(d);
    }
    if (aiops_mem_live() != 0)
        abort();
    return 0;
}
