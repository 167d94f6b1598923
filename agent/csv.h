/* SPDX-License-Identifier: MIT */
/* A small reader for `timestamp,value` CSV files (NAB's layout) and the replay loop built on
 * it: rows go one at a time through a detector's incremental path and come out scored. Reads
 * from a borrowed FILE; one line buffer inside the reader, nothing allocated. */
#ifndef AIOPS_CSV_H
#define AIOPS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "agent/timestamp.h"
#include "detectors/detector.h"

#define AIOPS_CSV_LINE_MAX 4096 /* longest line accepted, without its newline */

struct aiops_csv {
    FILE *f;         /* borrowed */
    size_t line;     /* 1-based number of the line last read */
    bool seen_first; /* the first non-blank line (maybe a header) is behind us */
    char buf[AIOPS_CSV_LINE_MAX + 1];
};

/* One data row. The raw fields point into the reader's buffer: valid until the next call. */
struct aiops_csv_row {
    size_t line;        /* 1-based line number in the file */
    const char *ts_raw; /* the timestamp field exactly as written (quotes included) */
    size_t ts_len;
    const char *value_raw; /* the value field exactly as written */
    size_t value_len;
    struct aiops_time time;
    struct aiops_point point;
};

void aiops_csv_init(struct aiops_csv *c, FILE *f);

/* Reads the next data row: at least two comma-separated fields, a timestamp that
 * aiops_time_parse() accepts and a finite number (further fields are ignored; fields may be
 * double-quoted; blank lines and a header, a first line with neither a timestamp nor a number
 * in its two fields, are skipped). Returns 1 with *row filled; 0 at the end of input; AIOPS_EINVAL
 * for a malformed row, consumed, with row->line set and *reason (static text) saying why; AIOPS_EIO
 * when reading fails. */
int aiops_csv_next(struct aiops_csv *c, struct aiops_csv_row *row, const char **reason);

struct aiops_csv_stats {
    size_t rows;      /* data rows scored and written */
    size_t malformed; /* rows skipped */
};

/* Replays in through d: writes the header `timestamp,value,anomaly_score,is_anomaly` and one
 * line per good row (timestamp and value as written, score with 6 decimals, 0/1) to out. A
 * malformed row is skipped, counted and reported on errout as "name:line: reason" (the first
 * few only, then a total). Returns 0, or AIOPS_EIO when reading in or writing out fails. */
int aiops_csv_score_stream(struct aiops_detector *d, FILE *in, const char *name, FILE *out,
                           FILE *errout, struct aiops_csv_stats *stats);

#endif
