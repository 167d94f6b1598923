/* SPDX-License-Identifier: MIT */
/* The dashboard's files and its live stream (see api_web.h). A stream is a connection the HTTP
 * server has handed over (aiops_http_stream_begin); each gets every event version the pipeline
 * publishes, "event: stats" every AIOPS_WEB_STATS_MS and a heartbeat comment. One timer ticks
 * while at least one stream is open. */
#include "transports/api_web.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "agent/pipeline.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct client {
    struct aiops_web *web;
    struct aiops_http_exchange *x; /* the server's; valid until on_stream_closed */
    struct client *prev, *next;
};

/* The tick timer lives apart from the web so a closing timer never outlives its memory. */
struct ticker {
    uv_timer_t timer;
    struct aiops_web *web; /* NULL once the ticker is closing */
};

struct aiops_web {
    uv_loop_t *loop;
    struct aiops_pipeline *pipeline; /* borrowed; NULL: no stats, no events */
    size_t max_clients, max_unsent;
    struct client *clients;
    size_t n_clients;
    struct ticker *ticker;                     /* while n_clients > 0 */
    uint64_t last_points;                      /* points decoded at the last stats */
    uint64_t last_stats_ms, last_heartbeat_ms; /* uv_now */
};

int aiops_web_create(struct aiops_web **out, uv_loop_t *loop, size_t max_clients, size_t max_unsent)
{
    struct aiops_web *w = aiops_calloc(1, sizeof(*w));

    if (w == NULL)
        return AIOPS_ENOMEM;
    w->loop = loop;
    w->max_clients = max_clients;
    w->max_unsent = max_unsent;
    *out = w;
    return 0;
}

static void on_ticker_closed(uv_handle_t *h)
{
    aiops_free(h->data);
}

static void ticker_stop(struct aiops_web *w)
{
    if (w->ticker == NULL)
        return;
    w->ticker->web = NULL;
    uv_close((uv_handle_t *)&w->ticker->timer, on_ticker_closed);
    w->ticker = NULL;
}

void aiops_web_destroy(struct aiops_web *w)
{
    if (w == NULL)
        return;
    assert(w->n_clients == 0);
    if (w->pipeline != NULL)
        aiops_pipeline_set_listener(w->pipeline, NULL, NULL);
    ticker_stop(w);
    aiops_free(w);
}

void aiops_web_set_pipeline(struct aiops_web *w, struct aiops_pipeline *p)
{
    if (w->pipeline != NULL)
        aiops_pipeline_set_listener(w->pipeline, NULL, NULL);
    w->pipeline = p;
    if (p != NULL)
        aiops_pipeline_set_listener(p, aiops_web_publish, w);
}

size_t aiops_web_clients(const struct aiops_web *w)
{
    return w->n_clients;
}

/* ---- Embedded files */

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
    };
    const char *dot = strrchr(path, '.');

    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "text/html; charset=utf-8"; /* /dashboard, /docs */
}

void aiops_web_asset(struct aiops_http_exchange *x)
{
    const char *path = x->req.path;
    size_t n = strlen(path);

    if (n > 1 && path[n - 1] == '/') /* /dashboard/ is /dashboard */
        n--;
    for (size_t i = 0; i < aiops_web_asset_count; i++) {
        const struct aiops_web_asset *a = &aiops_web_assets[i];

        if (strlen(a->path) != n || strncmp(a->path, path, n) != 0)
            continue;
        x->res.status = 200;
        x->res.content_type = content_type_of(a->path);
        /* Pages and our scripts revalidate; the pinned libraries under vendor/ may be kept. */
        aiops_buf_printf(
            &x->res.headers, "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n",
            a->etag, strstr(a->path, "/vendor/") ? "public, max-age=86400" : "no-cache");
        aiops_buf_append(&x->res.body, a->data, a->len);
        if (x->res.body.err < 0)
            aiops_http_error(x, 503, "out of memory");
        return;
    }
    aiops_http_error(x, 404, "Not Found");
}

/* ---- Server-Sent Events */

static void send_all(struct aiops_web *w, const char *data, size_t len)
{
    /* A failed write closes that stream; its client leaves in on_stream_closed, later. */
    for (struct client *c = w->clients; c != NULL; c = c->next)
        aiops_http_stream_write(c->x, data, len);
}

void aiops_web_publish(void *ctx, const struct aiops_event *e)
{
    struct aiops_web *w = ctx;
    struct aiops_buf b;

    if (w->n_clients == 0)
        return;
    aiops_buf_init(&b);
    aiops_buf_puts(&b, "event: event\ndata: ");
    aiops_event_to_json(e, &b); /* one line: JSON strings escape newlines */
    aiops_buf_puts(&b, "\n\n");
    if (b.err == 0)
        send_all(w, b.data, b.len);
    aiops_buf_fini(&b);
}

/* Sums the samples of one metric family in the pipeline's Prometheus text. */
static double metric_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    double sum = 0;

    for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n'), l = l ? l + 1 : l) {
        if (strncmp(l, name, n) == 0 && (l[n] == ' ' || l[n] == '{')) {
            const char *sp = strchr(l + n, ' ');

            if (sp != NULL)
                sum += strtod(sp + 1, NULL);
        }
    }
    return sum;
}

/* "event: stats" with the figures the dashboard's header shows. */
static void stats_event(struct aiops_web *w, struct aiops_buf *out)
{
    struct aiops_buf m;
    uint64_t now = uv_now(w->loop), points;
    double secs = (double)(now - w->last_stats_ms) / 1e3;

    aiops_buf_init(&m);
    aiops_pipeline_write_metrics(w->pipeline, &m);
    points = (uint64_t)metric_sum(m.data, "aiops_points_decoded_total");
    aiops_buf_printf(out,
                     "event: stats\ndata: {\"points_per_second\":%.1f,\"points_total\":%llu,"
                     "\"series\":%.0f,\"open_events\":%zu,\"anomalous_points_total\":%.0f,"
                     "\"stream_clients\":%zu,\"time_ms\":%lld}\n\n",
                     secs > 0 && points >= w->last_points ? (double)(points - w->last_points) / secs
                                                          : 0.0,
                     (unsigned long long)points, metric_sum(m.data, "aiops_series"),
                     aiops_pipeline_events(w->pipeline)->n_open,
                     metric_sum(m.data, "aiops_anomalous_points_total"), w->n_clients,
                     (long long)time(NULL) * 1000);
    aiops_buf_fini(&m);
    w->last_points = points;
    w->last_stats_ms = now;
}

static void on_tick(uv_timer_t *t)
{
    struct ticker *tk = t->data;
    struct aiops_web *w = tk->web;
    struct aiops_buf b;

    if (w == NULL)
        return;
    aiops_buf_init(&b);
    if (w->pipeline != NULL)
        stats_event(w, &b);
    if (uv_now(w->loop) - w->last_heartbeat_ms >= AIOPS_WEB_HEARTBEAT_MS) {
        aiops_buf_puts(&b, ": heartbeat\n\n");
        w->last_heartbeat_ms = uv_now(w->loop);
    }
    if (b.err == 0 && b.len > 0)
        send_all(w, b.data, b.len);
    aiops_buf_fini(&b);
}

static int ticker_start(struct aiops_web *w)
{
    struct ticker *tk;

    if (w->ticker != NULL)
        return 0;
    tk = aiops_calloc(1, sizeof(*tk));
    if (tk == NULL)
        return AIOPS_ENOMEM;
    uv_timer_init(w->loop, &tk->timer);
    tk->timer.data = tk;
    tk->web = w;
    /* A stream keeps its connection (and so the loop) alive; the timer itself must not. */
    uv_timer_start(&tk->timer, on_tick, AIOPS_WEB_STATS_MS, AIOPS_WEB_STATS_MS);
    uv_unref((uv_handle_t *)&tk->timer);
    w->ticker = tk;
    w->last_stats_ms = w->last_heartbeat_ms = uv_now(w->loop);
    return 0;
}

static void on_stream_closed(void *arg)
{
    struct client *c = arg;
    struct aiops_web *w = c->web;

    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    aiops_free(c);
    if (--w->n_clients == 0)
        ticker_stop(w);
}

bool aiops_web_stream(struct aiops_web *w, struct aiops_http_exchange *x)
{
    struct client *c;
    struct aiops_buf b;

    if (w->n_clients >= w->max_clients) {
        aiops_http_error(x, 503, "too many live streams are open; retry later");
        aiops_buf_puts(&x->res.headers, "Retry-After: 5\r\n");
        return false;
    }
    c = aiops_calloc(1, sizeof(*c));
    if (c == NULL || ticker_start(w) < 0) {
        aiops_free(c);
        aiops_http_error(x, 503, "out of memory");
        return false;
    }
    c->web = w;
    c->x = x;
    /* no-transform: a compressing proxy would hold events back. */
    aiops_buf_puts(&x->res.headers, "Cache-Control: no-cache, no-transform\r\n"
                                    "X-Accel-Buffering: no\r\n");
    if (aiops_http_stream_begin(x, 200, "text/event-stream; charset=utf-8", w->max_unsent,
                                on_stream_closed, c) < 0) {
        aiops_free(c); /* x is gone with its connection; nothing to answer */
        if (w->n_clients == 0)
            ticker_stop(w);
        return true;
    }
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    w->n_clients++;
    /* The browser reconnects 2 s after a drop; the first figures go out at once. */
    aiops_buf_init(&b);
    aiops_buf_puts(&b, "retry: 2000\n: connected\n\n");
    if (w->pipeline != NULL)
        stats_event(w, &b);
    if (b.err == 0)
        aiops_http_stream_write(x, b.data, b.len);
    aiops_buf_fini(&b);
    return true;
}
