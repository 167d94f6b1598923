/* SPDX-License-Identifier: MIT */
/* What the payload decoders (payload_json.c, payload_msgpack.c, payload_influx.c) share. The
 * JSON and Influx decoders parse a message, then walk it twice with the same code (pl_run): the
 * first walk validates and counts without calling back, the second emits. So a message is all
 * or nothing, nothing is buffered per point, and every scratch buffer reaches its final size in
 * the first walk: the second can neither fail nor allocate. The msgpack decoder, the hot path,
 * reads once into a bounded array of points instead (see payload_msgpack.c). */
#ifndef AIOPS_PAYLOAD_INTERNAL_H
#define AIOPS_PAYLOAD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/payload.h"

#define AIOPS_PAYLOAD_MAX_POINTS 100000 /* default per message (payload.h) */

struct pl_dec {
    aiops_point_fn fn;
    void *ctx;
    struct aiops_payload_error *err;
    const char *resource_tag; /* never NULL or empty */
    size_t resource_tag_len;
    int64_t now_ms;
    size_t max_points;
    bool emitting; /* false in the validating walk, true in the emitting one */
    size_t n;      /* points counted (first walk) or emitted (second) so far */

    /* Scratch, grown in the first walk only, freed by pl_fini. */
    struct aiops_label *labels; /* one point's (or Telegraf metric's) labels */
    size_t labels_cap;          /* entries */
    char *text;                 /* NUL-terminated copies of one point's strings */
    size_t text_cap, text_len;  /* bytes */
    char *name;                 /* "measurement.field" and collectd names */
    size_t name_cap;            /* bytes */
};

void pl_init(struct pl_dec *d, const struct aiops_payload_options *o, aiops_point_fn fn, void *ctx,
             struct aiops_payload_error *err);
void pl_fini(struct pl_dec *d);

/* Runs walk(d, state) to validate, then again to emit. Returns the number of points or the
 * first negative status. */
int pl_run(struct pl_dec *d, int (*walk)(struct pl_dec *d, void *state), void *state);

/* Fills d->err with reason (static) and a printf detail; returns AIOPS_EINVAL. */
int pl_fail(struct pl_dec *d, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hands one point over: counted (and checked against max_points) in the first walk, where p
 * may be NULL, given to the callback in the second. The caller has validated it. */
int pl_point(struct pl_dec *d, const struct aiops_metric_point *p);

/* Grows *buf (elements of size elem) to hold at least need; AIOPS_ENOMEM on failure. */
int pl_reserve(void **buf, size_t *cap, size_t need, size_t elem);
/* Ensures d->labels holds n entries. */
int pl_reserve_labels(struct pl_dec *d, size_t n);
/* Appends s[0..n) and a NUL to d->text (reserved beforehand with pl_reserve) and returns the
 * copy. */
const char *pl_text_put(struct pl_dec *d, const char *s, size_t n);
/* Builds a "." b (or a alone when b is NULL) in d->name. */
int pl_join(struct pl_dec *d, const char *a, size_t alen, const char *b, size_t blen,
            const char **out);

/* Whether s[0..n) can go out as a point's string: non-empty, well-formed UTF-8, no NUL byte. */
bool pl_str_ok(const char *s, size_t n);

/* Epoch numbers to ms since the epoch, the unit told by magnitude: |v| < 1e11 seconds,
 * < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds. Integers are truncated to the
 * ms, fractions rounded to the nearest ms. false when v is not finite or out of range. */
bool pl_epoch_int(int64_t v, int64_t *ms);
bool pl_epoch_double(double v, int64_t *ms);
/* An RFC 3339 / ISO 8601 string or a decimal epoch string (agent/timestamp.h). */
bool pl_time_string(const char *s, size_t n, int64_t *ms);

#endif
