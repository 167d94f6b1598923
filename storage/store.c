/* SPDX-License-Identifier: MIT */
/* The store registry: picks the implementation a database URL's scheme names, allocates it
 * and opens it. A new store is one line in `stores` below. */
#include "storage/store.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "storage/postgres.h"
#include "storage/sqlite.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Longest scheme we look at ("postgresql+asyncpg" fits). */
#define SCHEME_MAX 32

static const struct aiops_store_ops *const stores[] = {
    &aiops_sqlite_store_ops,
    &aiops_postgres_store_ops,
};

/* Other spellings of a scheme in `stores` ("postgres://" is libpq's short form). */
static const struct {
    const char *alias;
    const char *scheme;
} aliases[] = {
    {"postgres", "postgresql"},
};

/* Copies url into out with any password ("user:secret@host") replaced by "***", so error
 * messages can name the URL without leaking credentials. */
static void redact(const char *url, char *out, size_t len)
{
    const char *sep = strstr(url, "://");
    const char *auth, *at, *colon, *slash;

    snprintf(out, len, "%s", url);
    if (sep == NULL)
        return;
    auth = sep + 3;
    slash = strchr(auth, '/');
    at = strchr(auth, '@');
    if (at == NULL || (slash != NULL && slash < at))
        return;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL)
        return;
    snprintf(out, len, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

/* Fills base with the URL's scheme without its "+driver" suffix ("sqlite+aiosqlite" ->
 * "sqlite"). Returns 0 or AIOPS_EINVAL when url has no "scheme://". */
static int base_scheme(const char *url, char *base, size_t len)
{
    const char *sep = strstr(url, "://");
    size_t n;

    if (sep == NULL || sep == url)
        return AIOPS_EINVAL;
    n = strcspn(url, "+:");
    if (n >= len)
        return AIOPS_EINVAL;
    memcpy(base, url, n);
    base[n] = '\0';
    return 0;
}

int aiops_store_open(struct aiops_store **out, const char *url, uv_loop_t *loop,
                     const struct aiops_store_options *opts, char *errbuf, size_t errlen)
{
    const struct aiops_store_ops *ops = NULL;
    char scheme[SCHEME_MAX], shown[512];
    struct aiops_store *s;
    int err;

    if (url == NULL)
        url = "";
    redact(url, shown, sizeof(shown));
    if (base_scheme(url, scheme, sizeof(scheme)) < 0) {
        snprintf(errbuf, errlen,
                 "database URL '%s' is not scheme://...; "
                 "try sqlite:///./aiops.db",
                 shown);
        return AIOPS_EINVAL;
    }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcasecmp(scheme, aliases[i].alias) == 0)
            snprintf(scheme, sizeof(scheme), "%s", aliases[i].scheme);
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++)
        if (strcasecmp(scheme, stores[i]->scheme) == 0)
            ops = stores[i];
    if (ops == NULL) {
        snprintf(errbuf, errlen,
                 "database URL '%s': unknown scheme '%s' (supported: sqlite, postgresql)", shown,
                 scheme);
        return AIOPS_EINVAL;
    }
    if (opts->queue_max == 0) {
        snprintf(errbuf, errlen, "database URL '%s': the store queue must hold at least one row",
                 shown);
        return AIOPS_EINVAL;
    }

    s = aiops_calloc(1, ops->size);
    if (s == NULL) {
        snprintf(errbuf, errlen, "database URL '%s': out of memory", shown);
        return AIOPS_ENOMEM;
    }
    s->ops = ops;
    s->loop = loop;
    s->batch_ms = opts->batch_ms;
    s->queue_max = opts->queue_max;
    s->retention_days = opts->retention_days;
    err = ops->open(s, url, errbuf, errlen);
    if (err < 0)
        goto err_free_store;
    *out = s;
    return 0;
err_free_store:
    aiops_free(s);
    return err;
}

void aiops_store_close(struct aiops_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s); /* releases what open acquired; the struct itself is ours */
    aiops_free(s);
}

int64_t aiops_store_prune_before_ms(const struct aiops_store *s)
{
    struct timespec ts;

    if (s->retention_days == 0)
        return INT64_MIN;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)s->retention_days * 86400000;
}
