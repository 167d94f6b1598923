/* SPDX-License-Identifier: MIT */
/* The streaming routes of the HTTP API: ingest, series, events, incidents and readiness. Each
 * answers on the loop thread from the pipeline's state. pipeline may be NULL (the detect-only
 * API of tests): the routes then answer 503. */
#ifndef AIOPS_API_STREAM_H
#define AIOPS_API_STREAM_H

#include "transports/http.h"

struct aiops_pipeline;
struct aiops_store;

void aiops_api_ingest(struct aiops_pipeline *p, struct aiops_http_exchange *x);
/* GET /api/v1/series and /api/v1/series/{resource}/{metric}. */
void aiops_api_series(struct aiops_pipeline *p, struct aiops_http_exchange *x);
/* GET /api/v1/events: ?source=memory (default) answers from the pipeline's tracker,
 * ?source=store from the store's history, pipeline or not (503 when store is NULL or cannot be
 * read; the query blocks the loop for at most about 100 ms plus the read itself). */
void aiops_api_events(struct aiops_pipeline *p, struct aiops_store *store,
                      struct aiops_http_exchange *x);
void aiops_api_incidents(struct aiops_pipeline *p, struct aiops_http_exchange *x);
void aiops_api_ready(struct aiops_pipeline *p, struct aiops_http_exchange *x);

/* Copies the percent-decoded value of name from a query string into buf. Returns false when
 * absent (buf untouched) or too long. */
bool aiops_query_get(const char *query, const char *name, char *buf, size_t len);

#endif
