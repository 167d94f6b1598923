/* SPDX-License-Identifier: MIT */
/* Turns the bytes of one connection into requests (http-parser callbacks into an exchange) and
 * a response back into bytes. No I/O here, so the fuzz target drives it directly. */
#include "transports/http.h"

#include "agent/err.h"
#include "transports/api_json.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { HDR_IGNORED, HDR_CONTENT_TYPE, HDR_ORIGIN };

static struct aiops_http_reader *reader_of(http_parser *p)
{
    return p->data;
}

static int fail(struct aiops_http_reader *r, int status)
{
    r->error_status = status;
    return 1; /* non-zero stops http-parser with a callback error */
}

static int on_message_begin(http_parser *p)
{
    struct aiops_http_reader *r = reader_of(p);

    r->header_bytes = 0;
    r->in_message = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct aiops_http_reader *r = reader_of(p);

    if (r->x->url.len + len > AIOPS_HTTP_MAX_URL)
        return fail(r, 414);
    return aiops_buf_append(&r->x->url, at, len) < 0 ? fail(r, 503) : 0;
}

static int count_header(struct aiops_http_reader *r, size_t len)
{
    r->header_bytes += len;
    return r->header_bytes > AIOPS_HTTP_MAX_HEADERS ? fail(r, 431) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct aiops_http_reader *r = reader_of(p);

    if (count_header(r, len))
        return 1;
    if (r->field_done) { /* a new header starts */
        r->field_len = 0;
        r->field_done = false;
    }
    if (r->field_len + len < sizeof(r->field)) {
        memcpy(r->field + r->field_len, at, len);
        r->field_len += len;
    } else {
        r->field_len = sizeof(r->field); /* too long to be one we read */
    }
    return 0;
}

/* Appends to a fixed header slot; values past its size are cut (we only compare them). */
static void append_value(char *dst, size_t cap, const char *at, size_t len)
{
    size_t have = strlen(dst);

    if (have + len >= cap)
        len = cap - 1 - have;
    memcpy(dst + have, at, len);
    dst[have + len] = '\0';
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct aiops_http_reader *r = reader_of(p);
    struct aiops_http_exchange *x = r->x;

    if (count_header(r, len))
        return 1;
    if (!r->field_done) {
        r->field_done = true;
        r->in_value = HDR_IGNORED;
        if (r->field_len == 12 && strncasecmp(r->field, "content-type", 12) == 0)
            r->in_value = HDR_CONTENT_TYPE;
        else if (r->field_len == 6 && strncasecmp(r->field, "origin", 6) == 0)
            r->in_value = HDR_ORIGIN;
    }
    if (r->in_value == HDR_CONTENT_TYPE)
        append_value(x->content_type, sizeof(x->content_type), at, len);
    else if (r->in_value == HDR_ORIGIN)
        append_value(x->origin, sizeof(x->origin), at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct aiops_http_reader *r = reader_of(p);

    /* Refuse a declared oversize body before reading it. */
    if ((p->flags & F_CHUNKED) == 0 && p->content_length != ULLONG_MAX &&
        p->content_length > r->max_body) {
        fail(r, 413);
        return -1; /* here 1 would mean "no body", not an error */
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct aiops_http_reader *r = reader_of(p);

    if (r->x->body.len + len > r->max_body)
        return fail(r, 413);
    return aiops_buf_append(&r->x->body, at, len) < 0 ? fail(r, 503) : 0;
}

static int on_message_complete(http_parser *p)
{
    struct aiops_http_reader *r = reader_of(p);
    struct aiops_http_exchange *x = r->x;
    char *q;

    /* Empty buffers have no storage; give every string a NUL-terminated home. */
    if (aiops_buf_append(&x->url, "", 0) < 0 || aiops_buf_append(&x->body, "", 0) < 0)
        return fail(r, 503);
    x->req.method = (enum http_method)p->method;
    x->req.path = x->url.data;
    q = strchr(x->url.data, '?');
    if (q != NULL)
        *q++ = '\0';
    x->req.query = q ? q : "";
    x->req.content_type = x->content_type;
    x->req.origin = x->origin;
    x->req.body = x->body.data;
    x->req.body_len = x->body.len;
    x->keep_alive = http_should_keep_alive(p) != 0;
    r->complete = true;
    r->in_message = false;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void aiops_http_exchange_init(struct aiops_http_exchange *x)
{
    memset(x, 0, sizeof(*x));
    aiops_buf_init(&x->url);
    aiops_buf_init(&x->body);
    aiops_buf_init(&x->res.headers);
    aiops_buf_init(&x->res.body);
}

void aiops_http_exchange_fini(struct aiops_http_exchange *x)
{
    aiops_buf_fini(&x->url);
    aiops_buf_fini(&x->body);
    aiops_buf_fini(&x->res.headers);
    aiops_buf_fini(&x->res.body);
}

/* Empties the exchange but keeps its buffers' memory for the next request. */
static void exchange_reset(struct aiops_http_exchange *x)
{
    void (*respond)(struct aiops_http_exchange *) = x->respond;
    void *owner = x->owner;
    struct aiops_buf url = x->url, body = x->body, headers = x->res.headers, rbody = x->res.body;

    url.len = body.len = headers.len = rbody.len = 0;
    if (url.err || body.err || headers.err || rbody.err) { /* start over after a failure */
        aiops_http_exchange_fini(x);
        aiops_http_exchange_init(x);
    } else {
        memset(x, 0, sizeof(*x));
        x->url = url;
        x->body = body;
        x->res.headers = headers;
        x->res.body = rbody;
    }
    x->respond = respond;
    x->owner = owner;
}

void aiops_http_reader_init(struct aiops_http_reader *r, struct aiops_http_exchange *x,
                            uint64_t max_body)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->x = x;
    r->max_body = max_body;
}

void aiops_http_reader_next(struct aiops_http_reader *r)
{
    exchange_reset(r->x);
    r->complete = false;
    r->field_len = 0;
    r->field_done = false;
    r->in_value = HDR_IGNORED;
    http_parser_pause(&r->parser, 0);
}

static const char *parse_error_message(int status)
{
    switch (status) {
    case 413:
        return "request body is larger than the configured limit (http.max_body_bytes)";
    case 414:
        return "request target is longer than 8192 bytes";
    case 431:
        return "request header fields are larger than 16384 bytes";
    case 503:
        return "out of memory while reading the request";
    default:
        return "malformed HTTP request";
    }
}

enum aiops_http_read_status aiops_http_reader_feed(struct aiops_http_reader *r, const char *data,
                                                   size_t len, size_t *consumed)
{
    enum http_errno e;
    size_t n;

    n = http_parser_execute(&r->parser, &settings, data, len);
    *consumed = n;
    e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->complete && (e == HPE_PAUSED || e == HPE_OK))
        return AIOPS_HTTP_READ_REQUEST;
    if (e == HPE_OK && n == len && !r->parser.upgrade)
        return AIOPS_HTTP_READ_MORE;
    if (r->error_status != 0) {
        aiops_http_error(r->x, r->error_status, parse_error_message(r->error_status));
    } else {
        char msg[160];

        snprintf(msg, sizeof(msg), "malformed HTTP request: %s",
                 r->parser.upgrade ? "protocol upgrades are not supported"
                                   : http_errno_description(e));
        aiops_http_error(r->x, 400, msg);
    }
    r->x->keep_alive = false;
    return AIOPS_HTTP_READ_ERROR;
}

void aiops_http_error(struct aiops_http_exchange *x, int status, const char *msg)
{
    x->res.status = status;
    x->res.content_type = "application/json";
    x->res.body.len = 0;
    aiops_buf_puts(&x->res.body, "{\"detail\":");
    aiops_json_string(&x->res.body, msg, strlen(msg));
    aiops_buf_puts(&x->res.body, "}");
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return status < 500 ? "Client Error" : "Internal Server Error";
    }
}

int aiops_http_response_write(const struct aiops_http_exchange *x, struct aiops_buf *out)
{
    int status = x->res.status ? x->res.status : 500;

    aiops_buf_printf(out,
                     "HTTP/1.1 %d %s\r\nServer: aiops-agent/" AIOPS_VERSION
                     "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s",
                     status, reason_phrase(status),
                     x->res.content_type ? x->res.content_type : "application/json",
                     x->res.body.len, x->keep_alive ? "" : "Connection: close\r\n");
    if (x->res.headers.len > 0)
        aiops_buf_append(out, x->res.headers.data, x->res.headers.len);
    aiops_buf_append(out, "\r\n", 2);
    if (x->req.method != HTTP_HEAD && x->res.body.len > 0)
        aiops_buf_append(out, x->res.body.data, x->res.body.len);
    return out->err;
}
