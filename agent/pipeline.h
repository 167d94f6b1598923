/* SPDX-License-Identifier: MIT */
/* The streaming pipeline: sources' raw messages -> payload decoders -> series table (ring +
 * incremental detectors) -> event tracker -> sinks and the store. Everything runs on the loop
 * thread, one message at a time, so a message's events are handed to the sinks before the
 * next message is read. Each message gets a sequence number; sources commit (Kafka offsets)
 * only up to the highest number whose effects the sinks and store have acknowledged. */
#ifndef AIOPS_PIPELINE_H
#define AIOPS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/buf.h"
#include "agent/events.h"
#include "transports/payload.h"

struct aiops_config;
struct aiops_store;
struct aiops_pipeline;

/* Builds the pipeline from cfg's sources, sinks, rules and events sections, restores the
 * checkpoints in store (may be NULL: nothing restored or kept), and starts every sink, then
 * every source, on loop. Returns 0, or a negative AIOPS_E* with errbuf naming the bad entry
 * ("sources[1].url: ..."). cfg and store are borrowed until aiops_pipeline_destroy. */
int aiops_pipeline_create(struct aiops_pipeline **out, uv_loop_t *loop,
                          const struct aiops_config *cfg, struct aiops_store *store, char *errbuf,
                          size_t errlen);
/* Stops reading, waits (bounded) until what was read is acknowledged by sinks and store, lets
 * the sources commit, checkpoints every series, stops the sinks, then calls on_stopped(arg). */
void aiops_pipeline_stop(struct aiops_pipeline *p, void (*on_stopped)(void *arg), void *arg);
/* After on_stopped (or after a failed create's cleanup). NULL is a no-op. */
void aiops_pipeline_destroy(struct aiops_pipeline *p);

/* POST /api/v1/ingest: one body, processed like a broker message. Returns the number of points
 * taken (>= 0), AIOPS_EINVAL with *err filled for a malformed body, AIOPS_EBUSY while the
 * sinks are backed up (the caller answers 503), or AIOPS_ENOMEM. */
int aiops_pipeline_ingest(struct aiops_pipeline *p, const void *data, size_t len,
                          struct aiops_payload_error *err);

/* Ready: every source and sink connected, the store writing, not backed up. why gets the first
 * reason it is not. */
bool aiops_pipeline_is_ready(struct aiops_pipeline *p, struct aiops_buf *why);
void aiops_pipeline_write_metrics(struct aiops_pipeline *p, struct aiops_buf *out);

/* GET /api/v1/series: tracked series whose resource or metric contains q ("" for all). */
int aiops_pipeline_series_json(struct aiops_pipeline *p, const char *q, size_t limit,
                               struct aiops_buf *out);
/* GET /api/v1/series/{resource}/{metric}: the recent points with their scores. AIOPS_ENOENT
 * when no such series is tracked. */
int aiops_pipeline_series_points_json(struct aiops_pipeline *p, const char *resource_id,
                                      const char *metric, struct aiops_buf *out);
/* Registers fn to be called on the loop with every published event version, after the sinks
 * and the store have it (the live view's Server-Sent Events). One listener; NULL removes it. */
void aiops_pipeline_set_listener(struct aiops_pipeline *p, aiops_event_publish_fn fn, void *ctx);

/* GET /api/v1/events and /api/v1/incidents. */
const struct aiops_events *aiops_pipeline_events(const struct aiops_pipeline *p);

#endif
