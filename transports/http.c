/* SPDX-License-Identifier: MIT */
/* The HTTP server's sockets: accepts connections on the loop, reads requests through the
 * reader (http_reader.c), hands each to the handler and writes the answers back in order.
 * A connection has at most one request with the handler; while it does, reading stops, so a
 * pipelining client is served in order and buffers stay bounded. */
#include "transports/http.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define READ_CHUNK 65536 /* bytes asked of the kernel per read */
#define SWEEP_MS   5000  /* how often idle and slow connections are looked for, at most */

struct conn {
    uv_tcp_t tcp; /* first: the handle's data is the conn */
    struct aiops_http_server *srv;
    struct aiops_http_reader reader;
    struct aiops_http_exchange x;
    char *in; /* bytes read and not yet parsed */
    size_t in_len, in_cap;
    uint64_t last_active_ms;   /* uv_now of the last read or answer */
    uint64_t request_start_ms; /* uv_now of the first byte of the request being read */
    bool busy;                 /* x is with the handler */
    bool processing;           /* inside process(): answers made now must not recurse */
    bool last_request;         /* answered with Connection: close; read no more */
    bool closing;              /* uv_close called */
    bool closed;               /* its close callback ran */
    bool reading;
    /* A streaming response (aiops_http_stream_begin) owns the connection from then on. */
    bool streaming;
    bool end_when_flushed; /* aiops_http_stream_end: close once unsent is 0 */
    size_t unsent;         /* bytes handed to uv_write and not yet written */
    size_t max_unsent;     /* bytes; past it a stream's client is dropped */
    aiops_http_stream_closed_fn stream_closed;
    void *stream_arg;
    struct conn *prev, *next; /* the server's list */
};

struct write_req {
    uv_write_t req;
    struct conn *c;
    bool close_after;
    struct aiops_buf out;
};

struct aiops_http_server {
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_loop_t *loop;
    struct aiops_http_limits limits;
    aiops_http_handler_fn handler;
    void *ctx;
    struct conn *conns; /* open connections */
    size_t n_conns;
    int port;
    bool stopping;
    int open_handles; /* listener + sweep timer */
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

static void process(struct conn *c);
static int queue_write(struct conn *c, struct write_req *w);
static void maybe_finish_close(struct aiops_http_server *s);

static void conn_free(struct conn *c)
{
    struct aiops_http_server *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    aiops_http_exchange_fini(&c->x);
    aiops_free(c->in);
    aiops_free(c);
    maybe_finish_close(s);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    c->closed = true;
    if (c->streaming && c->stream_closed != NULL)
        c->stream_closed(c->stream_arg); /* the owner forgets x before it is freed */
    /* The handler still holds x: respond() frees the conn when it answers. */
    if (!c->busy)
        conn_free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;

    c->unsent -= w->out.len;
    if (status < 0 || w->close_after || (c->end_when_flushed && c->unsent == 0))
        conn_close(c);
    aiops_buf_fini(&w->out);
    aiops_free(w);
}

/* Writes x's response; closes afterwards when the client or the server ends the connection. */
static void send_response(struct conn *c)
{
    struct write_req *w;

    if (c->closing)
        return;
    if (c->srv->stopping)
        c->x.keep_alive = false;
    w = aiops_calloc(1, sizeof(*w));
    if (w == NULL) {
        conn_close(c);
        return;
    }
    w->c = c;
    w->close_after = !c->x.keep_alive;
    aiops_buf_init(&w->out);
    if (aiops_http_response_write(&c->x, &w->out) < 0) {
        aiops_buf_fini(&w->out);
        aiops_free(w);
        conn_close(c);
        return;
    }
    queue_write(c, w);
}

/* Hands w to libuv; w is freed by on_write, or here when uv_write refuses it. */
static int queue_write(struct conn *c, struct write_req *w)
{
    uv_buf_t b = uv_buf_init(w->out.data, (unsigned int)w->out.len);
    int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);

    if (err < 0) {
        aiops_buf_fini(&w->out);
        aiops_free(w);
        conn_close(c);
        return err;
    }
    c->unsent += w->out.len;
    return 0;
}

static void respond(struct aiops_http_exchange *x)
{
    struct conn *c = x->owner;
    bool keep = x->keep_alive && !c->srv->stopping;

    assert(c->busy);
    c->busy = false;
    if (c->closing) { /* the peer went away while the handler worked */
        if (c->closed)
            conn_free(c);
        return;
    }
    send_response(c);
    c->last_active_ms = uv_now(c->srv->loop);
    if (!keep) {
        c->last_request = true; /* on_write closes the connection */
        return;
    }
    aiops_http_reader_next(&c->reader);
    if (!c->processing)
        process(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)hint;
    if (c->in_cap - c->in_len < READ_CHUNK) {
        char *p = aiops_realloc(c->in, c->in_len + READ_CHUNK);

        if (p == NULL) {
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        c->in = p;
        c->in_cap = c->in_len + READ_CHUNK;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned int)(c->in_cap - c->in_len));
}

static void stop_reading(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* True while part of a request has arrived: a shutdown waits for the rest. */
static bool is_mid_request(const struct conn *c)
{
    return c->reader.in_message || c->in_len > 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;

    (void)buf;
    if (nread < 0) {
        conn_close(c); /* EOF or error; a request with the handler finishes first */
        return;
    }
    if (c->streaming) { /* a stream's client has nothing more to say: drop what it sends */
        c->in_len = 0;
        return;
    }
    if (!is_mid_request(c))
        c->request_start_ms = uv_now(c->srv->loop);
    c->in_len += (size_t)nread;
    c->last_active_ms = uv_now(c->srv->loop);
    process(c);
}

/* Parses what was read, one request at a time, until the input runs out or a request is
 * with the handler. */
static void process(struct conn *c)
{
    c->processing = true;
    while (!c->busy && !c->closing && !c->last_request) {
        enum aiops_http_read_status st;
        size_t used;

        if (c->in_len == 0)
            break; /* never feed 0 bytes: http-parser takes that for end of stream */
        st = aiops_http_reader_feed(&c->reader, c->in, c->in_len, &used);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (st == AIOPS_HTTP_READ_MORE)
            break;
        if (st == AIOPS_HTTP_READ_ERROR) {
            c->in_len = 0;
            c->last_request = true;
            send_response(c); /* keep_alive is off: closes after the write */
            break;
        }
        c->busy = true;
        c->srv->handler(c->srv->ctx, &c->x); /* may answer at once (respond) or later */
    }
    c->processing = false;
    if (c->streaming)
        return; /* aiops_http_stream_begin keeps reading, to see the client go */
    if (c->closing || c->busy || c->last_request) {
        stop_reading(c);
    } else if (c->srv->stopping && !is_mid_request(c)) {
        conn_close(c);
    } else if (!c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
        else
            conn_close(c);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct aiops_http_server *s = listener->data;
    struct conn *c;

    if (status < 0) {
        aiops_warn("http", "accept failed: %s", uv_strerror(status));
        return;
    }
    c = aiops_calloc(1, sizeof(*c));
    if (c == NULL)
        goto err_reject;
    if (uv_tcp_init(s->loop, &c->tcp) < 0) {
        aiops_free(c);
        goto err_reject;
    }
    c->tcp.data = c;
    c->srv = s;
    aiops_http_exchange_init(&c->x);
    c->x.respond = respond;
    c->x.owner = c;
    aiops_http_reader_init(&c->reader, &c->x, s->limits.max_body);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    c->last_active_ms = uv_now(s->loop);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    process(c);
    return;
err_reject : {
    /* Accept and drop, so the pending connection does not wake us forever. */
    uv_tcp_t *t = aiops_calloc(1, sizeof(*t));

    aiops_warn("http", "out of memory: refusing a connection");
    if (t != NULL && uv_tcp_init(s->loop, t) == 0) {
        uv_accept(listener, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, (uv_close_cb)aiops_free);
    } else {
        aiops_free(t);
    }
}
}

/* Closes connections that sat idle (no request in flight) for limits.idle_ms, and answers
 * 408 to requests still incomplete limits.request_ms after their first byte, so idle
 * keep-alive clients and slow senders cannot hold sockets forever. */
static void on_sweep(uv_timer_t *t)
{
    struct aiops_http_server *s = t->data;
    uint64_t now = uv_now(s->loop);

    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        if (c->busy || c->streaming || c->closing || c->last_request)
            continue;
        if (is_mid_request(c) && now - c->request_start_ms >= s->limits.request_ms) {
            c->in_len = 0;
            c->last_request = true;
            stop_reading(c);
            c->x.keep_alive = false;
            aiops_http_error(&c->x, 408, "the request did not arrive in time");
            send_response(c);
        } else if (now - c->last_active_ms >= s->limits.idle_ms) {
            conn_close(c);
        }
    }
}

int aiops_http_server_create(struct aiops_http_server **out, uv_loop_t *loop, const char *host,
                             int port, const struct aiops_http_limits *limits,
                             aiops_http_handler_fn handler, void *ctx, char *errbuf, size_t errlen)
{
    struct aiops_http_server *s;
    struct sockaddr_storage addr;
    int namelen = sizeof(addr);
    uint64_t sweep_ms;
    int err;

    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        snprintf(errbuf, errlen, "http.listen: '%s' is not an IPv4 or IPv6 address", host);
        return AIOPS_EINVAL;
    }
    s = aiops_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AIOPS_ENOMEM;
    }
    s->loop = loop;
    s->limits = *limits;
    s->handler = handler;
    s->ctx = ctx;
    err = uv_tcp_init(loop, &s->listener);
    if (err < 0)
        goto err_free_server;
    s->listener.data = s;
    s->open_handles = 1;
    err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (err < 0) {
        snprintf(errbuf, errlen, "http.listen: cannot listen on %s:%d: %s", host, port,
                 uv_strerror(err));
        goto err_close_listener;
    }
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &namelen);
    s->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                               : ((struct sockaddr_in *)&addr)->sin_port);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->open_handles++;
    sweep_ms = limits->idle_ms < limits->request_ms ? limits->idle_ms : limits->request_ms;
    sweep_ms = sweep_ms / 4 < SWEEP_MS ? sweep_ms / 4 + 1 : SWEEP_MS;
    uv_timer_start(&s->sweep, on_sweep, sweep_ms, sweep_ms);
    uv_unref((uv_handle_t *)&s->sweep);
    *out = s;
    return 0;
err_close_listener:
    /* The handle must be closed before its memory goes: run the loop until it is. */
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    aiops_free(s);
    return err;
err_free_server:
    snprintf(errbuf, errlen, "http: %s", uv_strerror(err));
    aiops_free(s);
    return err;
}

int aiops_http_server_port(const struct aiops_http_server *s)
{
    return s->port;
}

size_t aiops_http_server_connections(const struct aiops_http_server *s)
{
    return s->n_conns;
}

static void maybe_finish_close(struct aiops_http_server *s)
{
    if (!s->stopping || s->open_handles > 0 || s->conns != NULL)
        return;
    if (s->on_closed)
        s->on_closed(s->on_closed_arg);
    aiops_free(s);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct aiops_http_server *s = h->data;

    s->open_handles--;
    maybe_finish_close(s);
}

void aiops_http_server_close(struct aiops_http_server *s, void (*on_closed)(void *arg), void *arg)
{
    struct conn *c, *next;

    s->stopping = true;
    s->on_closed = on_closed;
    s->on_closed_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    /* Idle connections and streams go now; busy ones close after their answer is written. */
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->streaming || (!c->busy && !is_mid_request(c)))
            conn_close(c);
    }
}

void aiops_http_server_drop(struct aiops_http_server *s)
{
    struct conn *c, *next;

    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}

/* ---- Streaming responses */

int aiops_http_stream_begin(struct aiops_http_exchange *x, int status, const char *content_type,
                            size_t max_unsent, aiops_http_stream_closed_fn on_closed, void *arg)
{
    struct conn *c = x->owner;
    struct write_req *w;
    int err;

    assert(c->busy && !c->streaming);
    c->busy = false;
    c->streaming = true;
    c->last_request = true;
    c->max_unsent = max_unsent;
    c->in_len = 0;
    if (c->closing) { /* the peer went away while the handler worked */
        if (c->closed)
            conn_free(c);
        return AIOPS_EIO;
    }
    if (c->srv->stopping) { /* a shutdown has begun: a stream would only hold it up */
        conn_close(c);
        return AIOPS_EIO;
    }
    w = aiops_calloc(1, sizeof(*w));
    if (w == NULL) {
        conn_close(c);
        return AIOPS_ENOMEM;
    }
    w->c = c;
    aiops_buf_init(&w->out);
    aiops_buf_printf(&w->out,
                     "HTTP/1.1 %d %s\r\nServer: aiops-agent/" AIOPS_VERSION
                     "\r\nContent-Type: %s\r\nConnection: close\r\n",
                     status, status == 200 ? "OK" : "Status", content_type);
    if (x->res.headers.len > 0)
        aiops_buf_append(&w->out, x->res.headers.data, x->res.headers.len);
    if (aiops_buf_append(&w->out, "\r\n", 2) < 0) {
        aiops_buf_fini(&w->out);
        aiops_free(w);
        conn_close(c);
        return AIOPS_ENOMEM;
    }
    err = queue_write(c, w);
    if (err < 0)
        return err;
    c->last_active_ms = uv_now(c->srv->loop);
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    /* Only now is the owner told of the end: a failed begin never calls on_closed. */
    c->stream_closed = on_closed;
    c->stream_arg = arg;
    return 0;
}

int aiops_http_stream_write(struct aiops_http_exchange *x, const void *data, size_t len)
{
    struct conn *c = x->owner;
    struct write_req *w;

    assert(c->streaming);
    if (c->closing || c->end_when_flushed)
        return AIOPS_EIO;
    if (c->unsent + len > c->max_unsent) {
        aiops_warn("http", "dropping a stream's client: %zu bytes unsent", c->unsent);
        conn_close(c);
        return AIOPS_EBUSY;
    }
    w = aiops_calloc(1, sizeof(*w));
    if (w == NULL)
        return AIOPS_ENOMEM;
    w->c = c;
    aiops_buf_init(&w->out);
    if (aiops_buf_append(&w->out, data, len) < 0) {
        aiops_buf_fini(&w->out);
        aiops_free(w);
        return AIOPS_ENOMEM;
    }
    c->last_active_ms = uv_now(c->srv->loop);
    return queue_write(c, w) < 0 ? AIOPS_EIO : 0;
}

void aiops_http_stream_end(struct aiops_http_exchange *x)
{
    struct conn *c = x->owner;

    assert(c->streaming);
    if (c->unsent == 0)
        conn_close(c);
    else
        c->end_when_flushed = true;
}
