/* SPDX-License-Identifier: MIT */
/* The embedded HTTP/1.1 server on the libuv loop: connections, keep-alive, pipelining and
 * chunked bodies through http-parser. It knows nothing of routes: each complete request is an
 * exchange handed to one handler, which answers it (now or later) with aiops_http_respond. */
#ifndef AIOPS_HTTP_H
#define AIOPS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include "agent/buf.h"

/* Limits of one request; the server answers 4xx and closes the connection past them. */
#define AIOPS_HTTP_MAX_URL     8192  /* bytes of request target (414) */
#define AIOPS_HTTP_MAX_HEADERS 16384 /* bytes of header lines (431) */

/* What the server accepts and how long it waits (http.* in the configuration). */
struct aiops_http_limits {
    uint64_t max_body;   /* bytes of request body (413 past it) */
    uint32_t idle_ms;    /* a connection with no request in flight is closed after this */
    uint32_t request_ms; /* a request must arrive whole within this long of its first byte, or
                          * it is answered 408 and the connection closed: a client trickling a
                          * byte now and then cannot hold a socket */
};

struct aiops_http_request {
    enum http_method method;
    const char *path;         /* NUL-terminated, without the query */
    const char *query;        /* after '?', NUL-terminated, "" when none */
    const char *content_type; /* "" when absent */
    const char *origin;       /* the Origin header, "" when absent */
    const char *body;         /* body_len bytes, NUL-terminated */
    size_t body_len;
};

struct aiops_http_response {
    int status;               /* set by the handler; 500 if left 0 */
    const char *content_type; /* static string; default application/json */
    struct aiops_buf headers; /* extra header lines, each ending in "\r\n" */
    struct aiops_buf body;
};

/* One request and its answer. Owned by the server (or by whoever feeds the reader); the
 * handler borrows it from the handler call until it calls aiops_http_respond. */
struct aiops_http_exchange {
    struct aiops_http_request req;
    struct aiops_http_response res;
    bool keep_alive; /* the client allows another request on this connection */
    /* Sends res; set by the owner. Call it once, on the loop thread. */
    void (*respond)(struct aiops_http_exchange *x);
    void *owner; /* the owner's state (the connection) */
    /* The request's storage. */
    struct aiops_buf url;
    struct aiops_buf body;
    char content_type[128];
    char origin[256];
};

/* Sends the exchange's response. After this the handler must not touch x. */
static inline void aiops_http_respond(struct aiops_http_exchange *x)
{
    x->respond(x);
}

/* ---- Streaming responses (Server-Sent Events): headers now, the body in pieces for as long as
 * the connection lives. The connection is then the stream's alone (Connection: close, no
 * Content-Length); the client's further bytes are read and dropped, so its going away is seen. */

/* Called once when the stream is over for any reason: the client went away, a write failed or
 * overflowed, aiops_http_stream_end, or the server closed. Always from a loop callback, never
 * from inside the stream calls below. After it x is gone: the owner must forget it. */
typedef void (*aiops_http_stream_closed_fn)(void *arg);

/* Instead of aiops_http_respond: sends the status line, content_type, x->res.headers and
 * "Connection: close". At most max_unsent bytes may wait in the socket's queue; a write past
 * that drops the (slow) client. Call it from the handler, like aiops_http_respond. Returns 0;
 * or AIOPS_ENOMEM, AIOPS_EIO (the client is gone) or a UV_* code, and then the connection
 * closes (also when the server is closing), x is gone at once and on_closed is never called. */
int aiops_http_stream_begin(struct aiops_http_exchange *x, int status, const char *content_type,
                            size_t max_unsent, aiops_http_stream_closed_fn on_closed, void *arg);
/* Queues len bytes (copied). Returns 0; AIOPS_EBUSY when the client is too slow (the stream
 * is then closing); AIOPS_EIO when it is already closing; AIOPS_ENOMEM. */
int aiops_http_stream_write(struct aiops_http_exchange *x, const void *data, size_t len);
/* Closes the stream once what was queued is written; on_closed follows. */
void aiops_http_stream_end(struct aiops_http_exchange *x);

/* Fills x->res with a JSON error {"detail": msg} (FastAPI's shape for non-validation errors). */
void aiops_http_error(struct aiops_http_exchange *x, int status, const char *msg);

/* Reads requests from a byte stream: http-parser plus the limits above. One exchange at a
 * time: after a request completes the reader stops, and the caller hands the exchange to its
 * handler, then calls aiops_http_reader_next before feeding the rest. Embedded: init/fini. */
struct aiops_http_reader {
    http_parser parser;
    struct aiops_http_exchange *x; /* borrowed: where requests are assembled */
    uint64_t max_body;             /* bytes */
    size_t header_bytes;
    char field[64]; /* the header name being read (only short names matter) */
    size_t field_len;
    int in_value; /* which header the value belongs to (0: ignored) */
    bool field_done;
    bool complete;    /* a whole request is in x */
    bool in_message;  /* part of a request has been read */
    int error_status; /* the 4xx a failing callback chose (0: parser's 400) */
};

enum aiops_http_read_status {
    AIOPS_HTTP_READ_MORE,    /* every byte consumed; feed more */
    AIOPS_HTTP_READ_REQUEST, /* a request is complete in x; *consumed bytes were used */
    AIOPS_HTTP_READ_ERROR,   /* the stream is broken; x->res holds the error to send */
};

void aiops_http_reader_init(struct aiops_http_reader *r, struct aiops_http_exchange *x,
                            uint64_t max_body);
/* Parses data[0..len); on AIOPS_HTTP_READ_REQUEST, the bytes after *consumed are the next
 * request's and must be fed again after aiops_http_reader_next. */
enum aiops_http_read_status aiops_http_reader_feed(struct aiops_http_reader *r, const char *data,
                                                   size_t len, size_t *consumed);
/* Clears the exchange for the next request on the same stream. */
void aiops_http_reader_next(struct aiops_http_reader *r);
/* Empties and frees the exchange's buffers. */
void aiops_http_exchange_init(struct aiops_http_exchange *x);
void aiops_http_exchange_fini(struct aiops_http_exchange *x);
/* Serialises x->res as an HTTP/1.1 response (status line, headers, body) into out. */
int aiops_http_response_write(const struct aiops_http_exchange *x, struct aiops_buf *out);

typedef void (*aiops_http_handler_fn)(void *ctx, struct aiops_http_exchange *x);

struct aiops_http_server;

/* Listens on host:port on loop; every request goes to handler(ctx, x). Returns 0 or a negative
 * AIOPS_E* (or UV_*) code with errbuf saying why (e.g. the port is taken). */
int aiops_http_server_create(struct aiops_http_server **out, uv_loop_t *loop, const char *host,
                             int port, const struct aiops_http_limits *limits,
                             aiops_http_handler_fn handler, void *ctx, char *errbuf, size_t errlen);
/* Streams are ended by aiops_http_server_close at once (they never finish on their own). */
/* After aiops_http_server_close: closes every connection now, even those mid-request (their
 * handler still answers, into nothing). For a shutdown that has waited long enough. */
void aiops_http_server_drop(struct aiops_http_server *s);
/* The port actually bound (for port 0). */
int aiops_http_server_port(const struct aiops_http_server *s);
/* Stops accepting, lets requests in flight (with the handler, or partly read) finish and be
 * answered, closes every connection, then frees s and calls on_closed(arg) from the loop. */
void aiops_http_server_close(struct aiops_http_server *s, void (*on_closed)(void *arg), void *arg);
/* Open connections and requests answered, for /metrics. */
size_t aiops_http_server_connections(const struct aiops_http_server *s);

#endif
