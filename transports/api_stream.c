/* SPDX-License-Identifier: MIT */
/* The streaming routes (see api_stream.h). */
#include "transports/api_stream.h"

#include "agent/err.h"
#include "agent/pipeline.h"
#include "agent/timestamp.h"
#include "storage/store.h"
#include "transports/api_json.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX     10000

static void json_status(struct aiops_http_exchange *x, int status)
{
    x->res.status = status;
    x->res.content_type = "application/json";
}

/* Percent-decodes s[0..n) into buf; in a query (form) '+' is a space too. False when the
 * result does not fit or holds a NUL. */
static bool unescape(const char *s, size_t n, bool form, char *buf, size_t len)
{
    char raw[1024];
    int out_len = 0;
    char *d;
    bool ok;

    if (n >= sizeof(raw))
        return false;
    if (n == 0) { /* curl reads a length of 0 as "up to the NUL", which raw does not have */
        if (len == 0)
            return false;
        buf[0] = '\0';
        return true;
    }
    memcpy(raw, s, n);
    for (size_t i = 0; form && i < n; i++)
        if (raw[i] == '+')
            raw[i] = ' ';
    d = curl_easy_unescape(NULL, raw, (int)n, &out_len);
    ok = d != NULL && (size_t)out_len < len && memchr(d, '\0', (size_t)out_len) == NULL;
    if (ok) {
        memcpy(buf, d, (size_t)out_len);
        buf[out_len] = '\0';
    }
    curl_free(d);
    return ok;
}

bool aiops_query_get(const char *query, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);

    for (const char *p = query; *p != '\0';) {
        size_t part = strcspn(p, "&");

        if (part > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return unescape(p + nlen + 1, part - nlen - 1, true, buf, len);
        if (part == nlen && strncmp(p, name, nlen) == 0) {
            if (len == 0)
                return false;
            buf[0] = '\0';
            return true;
        }
        p += part;
        p += *p == '&';
    }
    return false;
}

/* A 400/422 {"detail": [{"loc": ["query", name], "msg": ..., "type": ...}]}, FastAPI's shape. */
static void query_error(struct aiops_http_exchange *x, const char *name, const char *msg)
{
    json_status(x, 422);
    x->res.body.len = 0;
    aiops_buf_printf(&x->res.body,
                     "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"query\",\"%s\"],"
                     "\"msg\":",
                     name);
    aiops_json_string(&x->res.body, msg, strlen(msg));
    aiops_buf_puts(&x->res.body, "}]}");
}

static bool no_pipeline(struct aiops_pipeline *p, struct aiops_http_exchange *x)
{
    if (p != NULL)
        return false;
    aiops_http_error(x, 503, "the streaming pipeline is not running");
    return true;
}

/* limit=N in [1, LIST_LIMIT_MAX]; false (and the error set) when malformed. */
static bool parse_limit(struct aiops_http_exchange *x, size_t *out)
{
    char v[32], *end;
    long n;

    *out = LIST_LIMIT_DEFAULT;
    if (!aiops_query_get(x->req.query, "limit", v, sizeof(v)))
        return true;
    n = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || n < 1 || n > LIST_LIMIT_MAX) {
        query_error(x, "limit", "must be a whole number from 1 to 10000");
        return false;
    }
    *out = (size_t)n;
    return true;
}

void aiops_api_ingest(struct aiops_pipeline *p, struct aiops_http_exchange *x)
{
    struct aiops_payload_error perr = {0};
    int n;

    if (no_pipeline(p, x))
        return;
    n = aiops_pipeline_ingest(p, x->req.body, x->req.body_len, &perr);
    if (n == AIOPS_EBUSY) {
        aiops_http_error(x, 503, "the agent is backed up (a sink or the store is behind); retry");
        aiops_buf_puts(&x->res.headers, "Retry-After: 1\r\n");
        return;
    }
    if (n == AIOPS_EINVAL) {
        json_status(x, 400);
        aiops_buf_puts(&x->res.body, "{\"detail\":");
        aiops_json_string(&x->res.body, perr.detail, strlen(perr.detail));
        aiops_buf_puts(&x->res.body, ",\"reason\":");
        aiops_json_string(&x->res.body, perr.reason, strlen(perr.reason));
        aiops_buf_puts(&x->res.body, "}");
        return;
    }
    if (n < 0) {
        aiops_http_error(x, 503, "out of memory while ingesting");
        return;
    }
    json_status(x, 200);
    aiops_buf_printf(&x->res.body, "{\"accepted\":%d}", n);
}

void aiops_api_series(struct aiops_pipeline *p, struct aiops_http_exchange *x)
{
    static const char prefix[] = "/api/v1/series/";
    const char *rest;
    size_t limit;
    char q[256] = "";

    if (no_pipeline(p, x))
        return;
    if (strncmp(x->req.path, prefix, sizeof(prefix) - 1) == 0) {
        char resource[512], metric[512];
        const char *slash;

        rest = x->req.path + sizeof(prefix) - 1;
        slash = strchr(rest, '/');
        if (slash == NULL || slash == rest || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
            !unescape(rest, (size_t)(slash - rest), false, resource, sizeof(resource)) ||
            !unescape(slash + 1, strlen(slash + 1), false, metric, sizeof(metric))) {
            aiops_http_error(x, 404,
                             "Not Found: use /api/v1/series/{resource_id}/{metric} "
                             "(percent-encode '/' inside them)");
            return;
        }
        json_status(x, 200);
        if (aiops_pipeline_series_points_json(p, resource, metric, &x->res.body) == AIOPS_ENOENT) {
            x->res.body.len = 0;
            aiops_http_error(x, 404, "no such series is tracked");
        }
        return;
    }
    if (!parse_limit(x, &limit))
        return;
    if (aiops_query_get(x->req.query, "q", q, sizeof(q)) == false)
        q[0] = '\0';
    json_status(x, 200);
    aiops_pipeline_series_json(p, q, limit, &x->res.body);
}

/* Appends each stored event to the {"events":[...]} being built. */
struct store_answer {
    struct aiops_buf *out;
    size_t n;
};

static int add_stored_event(void *ctx, const struct aiops_event *e)
{
    struct store_answer *a = ctx;

    if (a->n++ > 0)
        aiops_buf_puts(a->out, ",");
    return aiops_event_to_json(e, a->out);
}

/* The history from the store: every event it kept, not only those the tracker still holds. */
static void events_from_store(struct aiops_store *store, const struct aiops_events_filter *f,
                              struct aiops_http_exchange *x)
{
    struct aiops_event_query q = {
        .resource_id = f->resource_id,
        .status = f->status,
        .since_ms = f->since_ms,
        .min_priority = f->min_priority,
        .limit = f->limit,
    };
    struct store_answer a = {.out = &x->res.body};
    int err;

    json_status(x, 200);
    aiops_buf_puts(&x->res.body, "{\"events\":[");
    err = aiops_store_query_events(store, &q, add_stored_event, &a);
    aiops_buf_puts(&x->res.body, "]}");
    if (err < 0) {
        x->res.body.len = 0;
        aiops_http_error(x, 503,
                         err == AIOPS_ENOMEM ? "out of memory while reading the store"
                                             : "the store could not be read; see the agent's log");
    }
}

void aiops_api_events(struct aiops_pipeline *p, struct aiops_store *store,
                      struct aiops_http_exchange *x)
{
    struct aiops_events_filter f = {.status = -1, .since_ms = INT64_MIN};
    char resource[512], v[64], *end;
    bool from_store = false;

    if (aiops_query_get(x->req.query, "source", v, sizeof(v)) && strcmp(v, "memory") != 0) {
        if (strcmp(v, "store") != 0) {
            query_error(x, "source", "must be memory or store");
            return;
        }
        from_store = true;
    }
    if (from_store && store == NULL) {
        aiops_http_error(x, 503, "the agent has no store to read events from");
        return;
    }
    if ((!from_store && no_pipeline(p, x)) || !parse_limit(x, &f.limit))
        return;
    if (aiops_query_get(x->req.query, "resource", resource, sizeof(resource)))
        f.resource_id = resource;
    if (aiops_query_get(x->req.query, "status", v, sizeof(v))) {
        if (strcmp(v, "open") == 0) {
            f.status = AIOPS_EVENT_OPEN;
        } else if (strcmp(v, "resolved") == 0) {
            f.status = AIOPS_EVENT_RESOLVED;
        } else {
            query_error(x, "status", "must be open or resolved");
            return;
        }
    }
    if (aiops_query_get(x->req.query, "since", v, sizeof(v))) {
        struct aiops_time t;

        if (aiops_time_parse(v, strlen(v), &t) < 0) {
            query_error(x, "since", "must be an ISO-8601 time or epoch seconds");
            return;
        }
        f.since_ms = t.ms;
    }
    if (aiops_query_get(x->req.query, "min_priority", v, sizeof(v))) {
        f.min_priority = strtod(v, &end);
        if (v[0] == '\0' || *end != '\0' || !(f.min_priority >= 0 && f.min_priority <= 1)) {
            query_error(x, "min_priority", "must be a number from 0 to 1");
            return;
        }
    }
    if (from_store) {
        events_from_store(store, &f, x);
        return;
    }
    json_status(x, 200);
    aiops_buf_puts(&x->res.body, "{\"events\":");
    aiops_events_to_json(aiops_pipeline_events(p), &f, &x->res.body);
    aiops_buf_puts(&x->res.body, "}");
}

void aiops_api_incidents(struct aiops_pipeline *p, struct aiops_http_exchange *x)
{
    size_t limit;

    if (no_pipeline(p, x) || !parse_limit(x, &limit))
        return;
    json_status(x, 200);
    aiops_buf_puts(&x->res.body, "{\"incidents\":");
    aiops_incidents_to_json(aiops_pipeline_events(p), limit, &x->res.body);
    aiops_buf_puts(&x->res.body, "}");
}

void aiops_api_ready(struct aiops_pipeline *p, struct aiops_http_exchange *x)
{
    struct aiops_buf why;

    if (no_pipeline(p, x))
        return;
    aiops_buf_init(&why);
    if (aiops_pipeline_is_ready(p, &why)) {
        json_status(x, 200);
        aiops_buf_puts(&x->res.body, "{\"status\":\"ready\"}");
    } else {
        json_status(x, 503);
        aiops_buf_puts(&x->res.body, "{\"status\":\"not ready\",\"reason\":");
        aiops_json_string(&x->res.body, why.data != NULL ? why.data : "", why.len);
        aiops_buf_puts(&x->res.body, "}");
    }
    aiops_buf_fini(&why);
}
