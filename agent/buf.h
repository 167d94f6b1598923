/* SPDX-License-Identifier: MIT */
/* A growable byte buffer for building HTTP responses and JSON. Embedded: init/fini. */
#ifndef AIOPS_BUF_H
#define AIOPS_BUF_H

#include <stddef.h>

struct aiops_buf {
    char *data; /* owned; NUL-terminated when len > 0 */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    int err;    /* first AIOPS_ENOMEM seen; appends after it are no-ops */
};

void aiops_buf_init(struct aiops_buf *b);
void aiops_buf_fini(struct aiops_buf *b);
/* Appends; on allocation failure sets b->err and returns it, later appends do nothing. */
int aiops_buf_append(struct aiops_buf *b, const void *data, size_t len);
int aiops_buf_puts(struct aiops_buf *b, const char *s);
int aiops_buf_printf(struct aiops_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends a Prometheus metric's "# HELP" and "# TYPE" lines (text format 0.0.4). */
int aiops_buf_metric_header(struct aiops_buf *b, const char *name, const char *type,
                            const char *help);
/* Gives the data to the caller (free with aiops_free) and leaves b empty. */
char *aiops_buf_steal(struct aiops_buf *b, size_t *len);

#endif
