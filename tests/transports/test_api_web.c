/* SPDX-License-Identifier: MIT */
/* The dashboard's embedded files and the live stream over a real server on loopback: headers,
 * events, the client bound, slow and departing clients, and a server close that ends every
 * stream at once. */
#include "agent/err.h"
#include "agent/mem.h"
#include "tests/support.h"
#include "transports/api_web.h"
#include "transports/http.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* ---- Embedded files, answered inline. */

static struct aiops_http_exchange x;

static int get(const char *path)
{
    static char p[256];

    aiops_http_exchange_fini(&x);
    aiops_http_exchange_init(&x);
    snprintf(p, sizeof(p), "%s", path);
    x.req.path = p;
    x.req.method = HTTP_GET;
    aiops_web_asset(&x);
    return x.res.status;
}

static bool header_has(const char *needle)
{
    return x.res.headers.data != NULL && strstr(x.res.headers.data, needle) != NULL;
}

static void files_setup(void)
{
    aiops_http_exchange_init(&x);
}

static void files_teardown(void)
{
    aiops_http_exchange_fini(&x);
    aiops_test_check_leaks();
}

TestSuite(web_files, .init = files_setup, .fini = files_teardown);

Test(web_files, serves_every_embedded_file_whole_with_its_type_etag_and_caching)
{
    cr_assert(aiops_web_asset_count >= 10);
    for (size_t i = 0; i < aiops_web_asset_count; i++) {
        const struct aiops_web_asset *a = &aiops_web_assets[i];

        cr_assert(eq(int, get(a->path), 200), "%s", a->path);
        cr_assert(eq(sz, x.res.body.len, a->len), "%s", a->path);
        cr_assert(a->len > 0 && memcmp(x.res.body.data, a->data, a->len) == 0, "%s", a->path);
        cr_assert(header_has("ETag: \""), "%s", a->path);
        cr_assert(header_has(strstr(a->path, "/vendor/") ? "max-age=86400" : "no-cache"), "%s",
                  a->path);
    }
    cr_assert(eq(int, get("/dashboard"), 200));
    cr_assert(eq(str, (char *)x.res.content_type, "text/html; charset=utf-8"));
    cr_assert(strstr(x.res.body.data, "/dashboard/vendor/chart.umd.min.js") != NULL);
    cr_assert(eq(int, get("/dashboard/"), 200), "a trailing slash is the same page");
    cr_assert(eq(int, get("/dashboard/app.js"), 200));
    cr_assert(eq(str, (char *)x.res.content_type, "text/javascript; charset=utf-8"));
    cr_assert(eq(int, get("/docs/vendor/swagger-ui.css"), 200));
    cr_assert(eq(str, (char *)x.res.content_type, "text/css; charset=utf-8"));
    cr_assert(eq(int, get("/openapi.json"), 200));
    cr_assert(eq(str, (char *)x.res.content_type, "application/json"));
}

Test(web_files, answers_unknown_files_404_in_json)
{
    cr_assert(eq(int, get("/dashboard/nope.js"), 404));
    cr_assert(eq(str, x.res.body.data, "{\"detail\":\"Not Found\"}"));
    cr_assert(eq(int, get("/dashboard/../openapi.json"), 404), "paths are matched, not resolved");
}

Test(web_files, the_openapi_document_parses_and_describes_every_route)
{
    static const char *const routes[] = {"/api/v1/detect",
                                         "/health",
                                         "/ready",
                                         "/",
                                         "/methods",
                                         "/metrics",
                                         "/api/v1/ingest",
                                         "/api/v1/series",
                                         "/api/v1/series/{resource_id}/{metric}",
                                         "/api/v1/events",
                                         "/api/v1/incidents",
                                         "/api/v1/stream",
                                         "/dashboard",
                                         "/docs",
                                         "/openapi.json"};
    char ebuf[256];
    yajl_val doc;

    cr_assert(eq(int, get("/openapi.json"), 200));
    doc = yajl_tree_parse(x.res.body.data, ebuf, sizeof(ebuf));
    cr_assert(doc != NULL, "%s", ebuf);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *path[] = {"paths", routes[i], NULL};

        cr_assert(yajl_tree_get(doc, path, yajl_t_object) != NULL, "%s undocumented", routes[i]);
    }
    yajl_tree_free(doc);
}

/* ---- The stream over a real server. */

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    char *in; /* everything received, NUL-terminated */
    size_t len;
    bool eof, closed, no_read;
};

static uv_loop_t loop;
static uv_timer_t tick;
static struct aiops_http_server *server;
static struct aiops_web *web;
static bool server_closed;
static long live_before;

static void handle(void *ctx, struct aiops_http_exchange *ex)
{
    (void)ctx;
    if (strcmp(ex->req.path, "/api/v1/stream") == 0 && aiops_web_stream(web, ex))
        return;
    if (strcmp(ex->req.path, "/api/v1/stream") != 0)
        aiops_web_asset(ex);
    aiops_http_respond(ex);
}

static void on_tick(uv_timer_t *t)
{
    (void)t; /* wakes the loop so run_until checks its deadline */
}

static void start_server(size_t max_clients, size_t max_unsent)
{
    char err[256];

    live_before = aiops_mem_live();
    cr_assert(eq(int, uv_loop_init(&loop), 0));
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    cr_assert(eq(int, aiops_web_create(&web, &loop, max_clients, max_unsent), 0));
    cr_assert(
        eq(int,
           aiops_http_server_create(&server, &loop, "127.0.0.1", 0,
                                    &(struct aiops_http_limits){
                                        .max_body = 1 << 20, .idle_ms = 30000, .request_ms = 60000},
                                    handle, NULL, err, sizeof(err)),
           0),
        "%s", err);
    server_closed = false;
}

static bool run_until(bool (*done)(void *), void *arg, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;

    while (!done(arg)) {
        if (uv_hrtime() > deadline)
            return false;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static void on_server_closed(void *arg)
{
    (void)arg;
    server_closed = true;
}

static bool is_server_closed(void *arg)
{
    (void)arg;
    return server_closed;
}

static void on_client_closed(uv_handle_t *h)
{
    ((struct client *)h->data)->closed = true;
}

static void stop_server(struct client **clients, size_t n)
{
    aiops_http_server_close(server, on_server_closed, NULL);
    cr_assert(run_until(is_server_closed, NULL, 2000), "the server closed");
    for (size_t i = 0; i < n; i++)
        if (!uv_is_closing((uv_handle_t *)&clients[i]->tcp))
            uv_close((uv_handle_t *)&clients[i]->tcp, on_client_closed);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(eq(sz, aiops_web_clients(web), 0));
    aiops_web_destroy(web);
    cr_assert(eq(int, uv_loop_close(&loop), 0), "no handle left open");
    for (size_t i = 0; i < n; i++) {
        free(clients[i]->in);
        free(clients[i]);
    }
    cr_assert(eq(long, aiops_mem_live(), live_before), "nothing leaked");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(65536);
    buf->len = 65536;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;

    if (n < 0) {
        c->eof = true;
        uv_read_stop(s);
    } else if (n > 0) {
        c->in = realloc(c->in, c->len + (size_t)n + 1);
        memcpy(c->in + c->len, buf->base, (size_t)n);
        c->len += (size_t)n;
        c->in[c->len] = '\0';
    }
    free(buf->base);
}

static void on_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    static char request[] = "GET /api/v1/stream HTTP/1.1\r\nHost: t\r\n\r\n";
    uv_buf_t b = uv_buf_init(request, sizeof(request) - 1);

    cr_assert(eq(int, status, 0));
    uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (!c->no_read)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static struct client *connect_client(bool no_read)
{
    struct client *c = calloc(1, sizeof(*c));
    struct sockaddr_in addr;

    c->no_read = no_read;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->connect.data = c;
    uv_ip4_addr("127.0.0.1", aiops_http_server_port(server), &addr);
    uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    return c;
}

static bool has_text(void *arg)
{
    struct client **cp = arg;
    const char *needle = (const char *)cp[1];

    return cp[0]->in != NULL && strstr(cp[0]->in, needle) != NULL;
}

static bool wait_text(struct client *c, const char *needle)
{
    void *arg[2] = {c, (void *)needle};

    return run_until(has_text, arg, 3000);
}

static bool clients_are(void *arg)
{
    return aiops_web_clients(web) == *(size_t *)arg;
}

static bool wait_clients(size_t n)
{
    return run_until(clients_are, &n, 3000);
}

static void fake_event(struct aiops_event *e, const char *reason)
{
    *e = (struct aiops_event){.resource_id = "web-1",
                              .metric = "cpu",
                              .labels_json = "{}",
                              .status = AIOPS_EVENT_OPEN,
                              .priority = 0.5,
                              .severity = "minor",
                              .method = "z-score",
                              .reason = reason,
                              .version = 1};
    strcpy(e->id, "0123456789abcdef0123456789abcdef");
}

static void stream_teardown(void)
{
    aiops_test_check_leaks();
}

TestSuite(web_stream, .fini = stream_teardown, .timeout = 30);

Test(web_stream, sends_event_stream_headers_then_every_published_event)
{
    struct client *c[2];
    struct aiops_event e;

    start_server(4, AIOPS_WEB_MAX_UNSENT);
    c[0] = connect_client(false);
    c[1] = connect_client(false);
    cr_assert(wait_text(c[0], ": connected\n\n") && wait_text(c[1], ": connected\n\n"));
    cr_assert(strncmp(c[0]->in, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", c[0]->in);
    cr_assert(strstr(c[0]->in, "Content-Type: text/event-stream") != NULL);
    cr_assert(strstr(c[0]->in, "Cache-Control: no-cache") != NULL);
    cr_assert(strstr(c[0]->in, "Content-Length") == NULL, "a stream has no length");
    cr_assert(eq(sz, aiops_web_clients(web), 2));
    fake_event(&e, "line one\nline two"); /* a newline must not break the SSE framing */
    aiops_web_publish(web, &e);
    for (int i = 0; i < 2; i++) {
        cr_assert(wait_text(c[i], "event: event\ndata: {\"id\":\"0123456789abcdef"));
        cr_assert(wait_text(c[i], "\"reason\":\"line one\\nline two\""), "%s", c[i]->in);
        cr_assert(wait_text(c[i], "\"version\":1}\n\n"));
    }
    stop_server(c, 2);
}

Test(web_stream, a_server_close_ends_every_open_stream_at_once)
{
    struct client *c[3];
    uint64_t t0;

    start_server(4, AIOPS_WEB_MAX_UNSENT);
    for (int i = 0; i < 3; i++)
        c[i] = connect_client(false);
    cr_assert(wait_clients(3));
    t0 = uv_hrtime();
    aiops_http_server_close(server, on_server_closed, NULL);
    cr_assert(run_until(is_server_closed, NULL, 1000), "streams do not hold up a shutdown");
    cr_assert(uv_hrtime() - t0 < 500000000u);
    cr_assert(eq(sz, aiops_web_clients(web), 0));
    for (int i = 0; i < 3; i++) {
        while (!c[i]->eof)
            uv_run(&loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&c[i]->tcp, on_client_closed);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    aiops_web_destroy(web);
    cr_assert(eq(int, uv_loop_close(&loop), 0));
    for (int i = 0; i < 3; i++) {
        free(c[i]->in);
        free(c[i]);
    }
    cr_assert(eq(long, aiops_mem_live(), live_before));
}

Test(web_stream, answers_503_past_the_client_bound)
{
    struct client *c[2];

    start_server(1, AIOPS_WEB_MAX_UNSENT);
    c[0] = connect_client(false);
    cr_assert(wait_clients(1));
    c[1] = connect_client(false);
    cr_assert(wait_text(c[1], "HTTP/1.1 503"));
    cr_assert(wait_text(c[1], "too many live streams"));
    cr_assert(eq(sz, aiops_web_clients(web), 1));
    stop_server(c, 2);
}

Test(web_stream, a_client_that_goes_away_is_forgotten)
{
    struct client *c[2];

    start_server(4, AIOPS_WEB_MAX_UNSENT);
    c[0] = connect_client(false);
    c[1] = connect_client(false);
    cr_assert(wait_clients(2));
    uv_close((uv_handle_t *)&c[0]->tcp, on_client_closed);
    cr_assert(wait_clients(1), "the server saw the client leave");
    stop_server(c, 2);
}

Test(web_stream, a_client_that_does_not_read_is_dropped_not_buffered_forever)
{
    struct client *c[2];
    struct aiops_event e;
    char *reason = malloc(60000);
    int i;

    memset(reason, 'x', 59999);
    reason[59999] = '\0';
    fake_event(&e, reason);
    start_server(4, 64 * 1024);
    c[0] = connect_client(true); /* never reads: the kernel's buffers fill, then ours */
    c[1] = connect_client(false);
    cr_assert(wait_clients(2));
    for (i = 0; i < 2000 && aiops_web_clients(web) == 2; i++) {
        aiops_web_publish(web, &e);
        uv_run(&loop, UV_RUN_NOWAIT);
        c[1]->len = 0; /* the reader keeps up; drop what it got */
    }
    cr_assert(wait_clients(1), "the slow client was dropped after %d events", i);
    free(reason);
    stop_server(c, 2);
}

Test(web_stream, creation_fails_cleanly_when_memory_runs_out)
{
    long live = aiops_mem_live();

    for (long n = 0;; n++) {
        struct aiops_web *w = NULL;
        int err;

        aiops_mem_fail_after(n);
        err = aiops_web_create(&w, NULL, 1, 1);
        aiops_mem_fail_after(-1);
        if (err == 0) {
            aiops_web_destroy(w);
            break;
        }
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(w == NULL);
        cr_assert(eq(long, aiops_mem_live(), live), "leak at allocation %ld", n);
    }
    cr_assert(eq(long, aiops_mem_live(), live));
}
