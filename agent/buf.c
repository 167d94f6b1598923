/* SPDX-License-Identifier: MIT */
/* Growable byte buffer (see buf.h). */
#include "agent/buf.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void aiops_buf_init(struct aiops_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void aiops_buf_fini(struct aiops_buf *b)
{
    aiops_free(b->data);
    memset(b, 0, sizeof(*b));
}

static int reserve(struct aiops_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap;
    char *p;

    if (b->err != 0)
        return b->err;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = aiops_realloc(b->data, cap);
    if (p == NULL) {
        b->err = AIOPS_ENOMEM;
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int aiops_buf_append(struct aiops_buf *b, const void *data, size_t len)
{
    int err = reserve(b, len);

    if (err < 0)
        return err;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int aiops_buf_puts(struct aiops_buf *b, const char *s)
{
    return aiops_buf_append(b, s, strlen(s));
}

int aiops_buf_printf(struct aiops_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, err;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AIOPS_EINVAL;
    err = reserve(b, (size_t)n);
    if (err < 0)
        return err;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *aiops_buf_steal(struct aiops_buf *b, size_t *len)
{
    char *p = b->data;

    if (len != NULL)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}

int aiops_buf_metric_header(struct aiops_buf *b, const char *name, const char *type,
                            const char *help)
{
    return aiops_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
