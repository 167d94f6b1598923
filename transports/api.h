/* SPDX-License-Identifier: MIT */
/* The agent's HTTP API: the routes behind the embedded server (detect, health, methods,
 * metrics, the service root). Detect requests are decoded, detected and encoded on libuv's
 * thread pool; the rest answers on the loop. Owned by the loop thread. */
#ifndef AIOPS_API_H
#define AIOPS_API_H

#include <stdbool.h>

#include <uv.h>

#include "transports/http.h"

struct aiops_config;
struct aiops_store;
struct aiops_api;

/* Borrows cfg and store (store may be NULL: no history kept, health reports it) until
 * aiops_api_destroy. With offload false every request is answered before the handler returns
 * (the fuzz target and tests use this). */
int aiops_api_create(struct aiops_api **out, uv_loop_t *loop, const struct aiops_config *cfg,
                     struct aiops_store *store, bool offload);
/* Call after the HTTP server has closed (no request in flight). NULL is a no-op. */
void aiops_api_destroy(struct aiops_api *api);
/* Lets /metrics report the server's connections. Borrowed; NULL clears it. */
void aiops_api_set_server(struct aiops_api *api, const struct aiops_http_server *server);

/* Gives the streaming routes (ingest, series, events, incidents, ready) their pipeline.
 * Borrowed; NULL: those routes answer 503. */
struct aiops_pipeline;
void aiops_api_set_pipeline(struct aiops_api *api, struct aiops_pipeline *pipeline);

/* The server's handler (aiops_http_handler_fn); ctx is the api. */
void aiops_api_handle(void *ctx, struct aiops_http_exchange *x);

#endif
