/* SPDX-License-Identifier: MIT */
/* The checks the payload fuzz targets share: every point handed over is well-formed, a message
 * is all or nothing (the count returned is the count handed over; a rejection hands over
 * nothing and names a reason of the fixed set), and nothing leaks. */
#ifndef AIOPS_FUZZ_PAYLOAD_CHECK_H
#define AIOPS_FUZZ_PAYLOAD_CHECK_H

#include "agent/err.h"
#include "agent/mem.h"
#include "transports/payload.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef int (*payload_decoder)(const void *data, size_t len, const struct aiops_payload_options *o,
                               aiops_point_fn fn, void *ctx, struct aiops_payload_error *err);

static int on_point(void *ctx, const struct aiops_metric_point *p)
{
    size_t *n = ctx;

    if (p->resource_id[0] == '\0' || p->metric[0] == '\0' || !isfinite(p->value))
        abort();
    for (size_t k = 0; k < p->n_labels; k++)
        if (strlen(p->labels[k].key) == 0 || strlen(p->labels[k].value) == 0)
            abort();
    ++*n;
    return 0;
}

static void check_payload(payload_decoder decode, const uint8_t *data, size_t size)
{
    static const char *const reasons[] = {"empty",     "syntax",    "schema",        "value",
                                          "timestamp", "too_large", "unknown_format"};
    struct aiops_payload_options o;
    struct aiops_payload_error err;
    size_t n = 0;
    int rc;

    aiops_payload_options_init(&o);
    o.max_points = 1000;
    rc = decode(data, size, &o, on_point, &n, &err);
    if (rc >= 0 && (size_t)rc != n)
        abort();
    if (rc < 0) {
        bool known = false;

        if (rc != AIOPS_EINVAL || n != 0 || err.reason == NULL)
            abort();
        for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
            known |= strcmp(err.reason, reasons[k]) == 0;
        if (!known || memchr(err.detail, '\0', sizeof(err.detail)) == NULL)
            abort();
    }
    if (aiops_mem_live() != 0)
        abort();
}

#endif
