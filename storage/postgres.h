/* SPDX-License-Identifier: MIT */
/* The PostgreSQL store behind storage/store.h: libpq, non-blocking, driven by the agent's loop.
 * Only the store registry in storage/store.c names it. */
#ifndef AIOPS_POSTGRES_H
#define AIOPS_POSTGRES_H

#include "storage/store.h"

/* Rows sent in one transaction at most; a queue this long is written without waiting for
 * batch_ms. */
#define AIOPS_POSTGRES_BATCH_ROWS 512
/* The schema this build creates and reads (table schema_version); a newer one is refused. */
#define AIOPS_POSTGRES_SCHEMA_VERSION 1
/* Seconds one connection attempt may take (libpq's connect_timeout, unless the URL sets it). */
#define AIOPS_POSTGRES_CONNECT_TIMEOUT_S 5
/* How long flush (and so close) keeps trying before it gives up, in ms. */
#define AIOPS_POSTGRES_FLUSH_TIMEOUT_MS 10000
/* Reconnect back-off after a lost or failed connection: doubles from MIN to MAX, in ms. */
#define AIOPS_POSTGRES_RETRY_MIN_MS 100
#define AIOPS_POSTGRES_RETRY_MAX_MS 5000
/* A row the server refuses on a healthy connection (not an outage) is tried alone this many
 * times, then counted as failed and dropped, so one bad row cannot stop all writes. */
#define AIOPS_POSTGRES_MAX_ATTEMPTS 3

/* Serves "postgresql://", "postgres://" and "postgresql+<driver>://" (SQLAlchemy's
 * "postgresql+asyncpg://") URLs; the driver is dropped and the rest handed to libpq as a
 * connection URI, so its query parameters (sslmode=...) work.
 *
 * open() needs s->loop: it fails with errbuf "postgresql needs the agent's loop" when it is
 * NULL (CLI commands). It connects synchronously (connect_timeout), so an unreachable server
 * or a bad URL fails open with a clear errbuf, and creates or migrates the schema (tables
 * detection_history, anomaly_events, events, checkpoints, schema_version). After that every
 * write is queued and sent from the loop, one transaction per batch (libpq pipeline mode: one
 * parameterised statement per row, then a sync). A row leaves the queue only when its
 * transaction commits. A lost connection keeps the rows queued and reconnects with back-off
 * (stats.retries counts the batches sent again): upserts by id make that idempotent, but a
 * detection_history or anomaly_events row of a batch that committed just before the
 * connection dropped, unacknowledged, is written twice. stats.retries counts batches sent
 * again and reconnect attempts made while rows waited. A batch the server refuses on a healthy
 * connection is sent again one row per transaction; a row refused
 * AIOPS_POSTGRES_MAX_ATTEMPTS times alone is dropped (stats.failed), the others land.
 *
 * Threads: append_detection and append_event may be called from any thread (a mutex guards the
 * queue and a uv_async_t wakes the loop); everything else from the loop thread only.
 * flush() drives the connection synchronously with poll() for at most
 * AIOPS_POSTGRES_FLUSH_TIMEOUT_MS; the agent calls it at shutdown, when the loop runs nothing
 * else. load_checkpoints() flushes, then reads on a separate blocking connection.
 *
 * Handles: the store's libpq socket poll, timer and async handles are unreferenced, so the
 * store never keeps uv_run() going by itself. close() closes them; they are freed by their
 * close callbacks, so run the loop once more after close (uv_run), or close the store after
 * the loop's final uv_walk()/uv_run() already closed every handle. */
extern const struct aiops_store_ops aiops_postgres_store_ops;

#endif
