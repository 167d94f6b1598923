/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the HTTP request path: arbitrary bytes as one connection's input, read
 * by the server's request reader in two pieces (the first byte picks the split), and every
 * complete request answered by the API's router (detection inline, no store). Nothing may
 * crash, leak or answer without a status. */
#include "agent/mem.h"
#include "config/config.h"
#include "transports/api.h"
#include "transports/http.h"

#include <stdint.h>
#include <stdlib.h>

static struct aiops_config cfg;
static struct aiops_api *api;
static int answered;

static void on_respond(struct aiops_http_exchange *x)
{
    struct aiops_buf out;

    if (x->res.status < 100 || x->res.status > 599)
        abort();
    aiops_buf_init(&out);
    aiops_http_response_write(x, &out);
    aiops_buf_fini(&out);
    answered++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aiops_http_exchange x;
    struct aiops_http_reader r;
    const char *in;
    size_t split, off = 0, limit;

    if (api == NULL) {
        if (aiops_config_init(&cfg) < 0 || aiops_api_create(&api, NULL, &cfg, NULL, false) < 0)
            abort();
    }
    if (size == 0)
        return 0;
    split = 1 + (size_t)data[0] % size; /* first piece: data[1..split) */
    in = (const char *)data + 1;
    size--;
    split--;
    aiops_http_exchange_init(&x);
    x.respond = on_respond;
    aiops_http_reader_init(&r, &x, 4096); /* a small body limit, so 413 is reached too */
    limit = split;
    for (int rounds = 0; rounds < 64; rounds++) {
        size_t used = 0;
        enum aiops_http_read_status st = aiops_http_reader_feed(&r, in + off, limit - off, &used);

        off += used;
        if (st == AIOPS_HTTP_READ_ERROR) {
            on_respond(&x);
            break;
        }
        if (st == AIOPS_HTTP_READ_REQUEST) {
            answered = 0;
            aiops_api_handle(api, &x);
            if (answered != 1)
                abort(); /* inline mode answers every request before returning */
            if (!x.keep_alive)
                break;
            aiops_http_reader_next(&r);
            continue;
        }
        if (limit == size)
            break;
        limit = size; /* the second piece */
    }
    aiops_http_exchange_fini(&x);
    return 0;
}
