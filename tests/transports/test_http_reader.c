/* SPDX-License-Identifier: MIT */
/* The HTTP request reader: requests assembled from bytes in any split, pipelining, chunked
 * bodies, and each limit answered with its 4xx. */
#include "agent/mem.h"
#include "tests/support.h"
#include "transports/http.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

static struct aiops_http_exchange x;
static struct aiops_http_reader r;
static long live_before;

static void setup(void)
{
    live_before = aiops_mem_live();
    aiops_http_exchange_init(&x);
    aiops_http_reader_init(&r, &x, 1024);
}

static void teardown(void)
{
    aiops_http_exchange_fini(&x);
    cr_assert(eq(long, aiops_mem_live(), live_before));
    aiops_test_check_leaks();
}

TestSuite(http_reader, .init = setup, .fini = teardown);

static enum aiops_http_read_status feed(const char *s, size_t *used)
{
    return aiops_http_reader_feed(&r, s, strlen(s), used);
}

Test(http_reader, reads_a_get_with_its_query_and_headers)
{
    const char *in = "GET /api/v1/events?status=open HTTP/1.1\r\nHost: a\r\n"
                     "Origin: http://dash\r\nContent-Type: text/plain\r\n\r\n";
    size_t used;

    cr_assert(eq(int, feed(in, &used), AIOPS_HTTP_READ_REQUEST));
    cr_assert(eq(sz, used, strlen(in)));
    cr_assert(eq(int, x.req.method, HTTP_GET));
    cr_assert(eq(str, (char *)x.req.path, "/api/v1/events"));
    cr_assert(eq(str, (char *)x.req.query, "status=open"));
    cr_assert(eq(str, (char *)x.req.origin, "http://dash"));
    cr_assert(eq(str, (char *)x.req.content_type, "text/plain"));
    cr_assert(eq(sz, x.req.body_len, 0));
    cr_assert(x.keep_alive);
}

Test(http_reader, assembles_a_request_fed_one_byte_at_a_time)
{
    const char *in = "POST /api/v1/detect HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    size_t n = strlen(in), used = 0;
    enum aiops_http_read_status st = AIOPS_HTTP_READ_MORE;

    for (size_t i = 0; i < n; i++) {
        st = aiops_http_reader_feed(&r, in + i, 1, &used);
        if (i + 1 < n)
            cr_assert(eq(int, st, AIOPS_HTTP_READ_MORE), "at byte %zu", i);
    }
    cr_assert(eq(int, st, AIOPS_HTTP_READ_REQUEST));
    cr_assert(eq(str, (char *)x.req.body, "{\"a\":1}"));
    cr_assert(eq(int, x.req.method, HTTP_POST));
}

Test(http_reader, stops_after_each_pipelined_request_and_continues_after_next)
{
    const char *in = "GET /health HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n";
    size_t used, used2;

    cr_assert(eq(int, feed(in, &used), AIOPS_HTTP_READ_REQUEST));
    cr_assert(eq(str, (char *)x.req.path, "/health"));
    cr_assert(lt(sz, used, strlen(in)));
    aiops_http_reader_next(&r);
    cr_assert(eq(int, aiops_http_reader_feed(&r, in + used, strlen(in) - used, &used2),
                 AIOPS_HTTP_READ_REQUEST));
    cr_assert(eq(str, (char *)x.req.path, "/metrics"));
    cr_assert(eq(sz, used + used2, strlen(in)));
}

Test(http_reader, joins_a_chunked_body)
{
    const char *in = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
    size_t used;

    cr_assert(eq(int, feed(in, &used), AIOPS_HTTP_READ_REQUEST));
    cr_assert(eq(str, (char *)x.req.body, "abcdefg"));
    cr_assert(eq(sz, x.req.body_len, 7));
}

Test(http_reader, refuses_a_declared_oversize_body_with_413_before_reading_it)
{
    size_t used;

    cr_assert(eq(int, feed("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", &used),
                 AIOPS_HTTP_READ_ERROR));
    cr_assert(eq(int, x.res.status, 413));
    cr_assert(not(x.keep_alive));
    cr_assert(eq(int, strncmp(x.res.body.data, "{\"detail\":\"request body is larger", 33), 0));
}

Test(http_reader, refuses_an_oversize_chunked_body_with_413)
{
    char in[2048];
    size_t used;

    snprintf(in, sizeof(in), "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 1500);
    memset(in + strlen(in), 'a', 1500);
    in[sizeof(in) - 1] = '\0';
    cr_assert(
        eq(int, aiops_http_reader_feed(&r, in, sizeof(in) - 1, &used), AIOPS_HTTP_READ_ERROR));
    cr_assert(eq(int, x.res.status, 413));
}

Test(http_reader, refuses_huge_headers_with_431_and_long_urls_with_414)
{
    static char in[40000];
    size_t used;

    strcpy(in, "GET / HTTP/1.1\r\nX-Big: ");
    memset(in + strlen(in), 'b', 20000);
    cr_assert(eq(int, aiops_http_reader_feed(&r, in, strlen(in), &used), AIOPS_HTTP_READ_ERROR));
    cr_assert(eq(int, x.res.status, 431));

    aiops_http_exchange_fini(&x);
    aiops_http_exchange_init(&x);
    aiops_http_reader_init(&r, &x, 1024);
    memset(in, 0, sizeof(in));
    strcpy(in, "GET /");
    memset(in + 5, 'u', 9000);
    cr_assert(eq(int, aiops_http_reader_feed(&r, in, strlen(in), &used), AIOPS_HTTP_READ_ERROR));
    cr_assert(eq(int, x.res.status, 414));
}

Test(http_reader, answers_garbage_with_a_400_that_says_what_is_wrong)
{
    size_t used;

    cr_assert(eq(int, feed("HELLO\r\n\r\n", &used), AIOPS_HTTP_READ_ERROR));
    cr_assert(eq(int, x.res.status, 400));
    cr_assert(not(eq(ptr, strstr(x.res.body.data, "malformed HTTP request"), NULL)));
}

Test(http_reader, does_not_keep_an_http10_connection_alive_unless_asked)
{
    size_t used;

    cr_assert(eq(int, feed("GET / HTTP/1.0\r\n\r\n", &used), AIOPS_HTTP_READ_REQUEST));
    cr_assert(not(x.keep_alive));
    aiops_http_reader_next(&r);
    aiops_http_reader_init(&r, &x, 1024);
    cr_assert(eq(int, feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &used),
                 AIOPS_HTTP_READ_REQUEST));
    cr_assert(x.keep_alive);
}

Test(http_reader, writes_a_response_with_length_and_close_when_not_kept_alive)
{
    struct aiops_buf out;

    aiops_buf_init(&out);
    x.req.method = HTTP_GET;
    aiops_http_error(&x, 404, "Not Found");
    x.keep_alive = false;
    cr_assert(eq(int, aiops_http_response_write(&x, &out), 0));
    cr_assert(eq(int, strncmp(out.data, "HTTP/1.1 404 Not Found\r\n", 24), 0));
    cr_assert(not(eq(ptr, strstr(out.data, "Content-Length: 22\r\n"), NULL)));
    cr_assert(not(eq(ptr, strstr(out.data, "Connection: close\r\n"), NULL)));
    cr_assert(not(eq(ptr, strstr(out.data, "\r\n\r\n{\"detail\":\"Not Found\"}"), NULL)));
    aiops_buf_fini(&out);
}
