/* SPDX-License-Identifier: MIT */
/* The agent's web front: the dashboard, the API docs and /openapi.json served from files
 * embedded at build time (transports/web/, and the npm libraries it pins), and the live
 * Server-Sent Events stream (GET /api/v1/stream) that pushes every published event version
 * and the agent's figures to the dashboard. Owned by the loop thread. */
#ifndef AIOPS_API_WEB_H
#define AIOPS_API_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "agent/event.h"
#include "transports/http.h"

#define AIOPS_WEB_MAX_CLIENTS  64           /* SSE clients at once; more are answered 503 */
#define AIOPS_WEB_MAX_UNSENT   (256 * 1024) /* bytes queued to one client before it is dropped */
#define AIOPS_WEB_STATS_MS     2000         /* how often "event: stats" goes out */
#define AIOPS_WEB_HEARTBEAT_MS 15000        /* a comment line that keeps proxies from timing out */

/* One embedded file (generated into the build directory by transports/web/embed.cmake). */
struct aiops_web_asset {
    const char *path; /* the URL path it is served at */
    const unsigned char *data;
    size_t len;       /* bytes */
    const char *etag; /* "\"<16 hex digits of its SHA-256>\"" */
};
extern const struct aiops_web_asset aiops_web_assets[];
extern const size_t aiops_web_asset_count;

struct aiops_pipeline;
struct aiops_web;

/* loop may be NULL when no stream will be opened (the inline API tests). max_clients and
 * max_unsent bound the SSE clients (AIOPS_WEB_MAX_*). */
int aiops_web_create(struct aiops_web **out, uv_loop_t *loop, size_t max_clients,
                     size_t max_unsent);
/* Call after the HTTP server has closed: no stream may be left. NULL is a no-op. */
void aiops_web_destroy(struct aiops_web *w);
/* Registers w as p's event listener (p borrowed until destroy or the next call; NULL clears). */
void aiops_web_set_pipeline(struct aiops_web *w, struct aiops_pipeline *p);

/* GET of an embedded file: fills x->res (200 with Content-Type, ETag and Cache-Control, or a
 * 404). The caller answers. */
void aiops_web_asset(struct aiops_http_exchange *x);
/* GET /api/v1/stream. Returns true when x became a stream (the caller forgets it); false with
 * x->res holding the error to answer (503 when max_clients are connected). */
bool aiops_web_stream(struct aiops_web *w, struct aiops_http_exchange *x);
/* Sends e to every stream as "event: event" (the pipeline listener; public for tests). */
void aiops_web_publish(void *w, const struct aiops_event *e);
/* Streams open now. */
size_t aiops_web_clients(const struct aiops_web *w);

#endif
