/* SPDX-License-Identifier: MIT */
/* The PostgreSQL store: rows are formatted into libpq text parameters when queued, and the
 * loop sends them one transaction per batch over a non-blocking connection (pipeline mode: a
 * statement per row, then a sync). A row leaves the queue only when its batch commits; a lost
 * connection is reopened with back-off and the batch sent again. See storage/postgres.h. */
#include "storage/postgres.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "agent/timestamp.h"

#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_PARAMS 18
/* Room for one formatted number or timestamp ("2026-01-01 00:00:00.123+00", "%.17g"). */
#define NUM_LEN 40
/* Room for the first error message of a failed batch or connection. */
#define ERRMSG_LEN 256
/* Serialises schema creation between agents starting at once ("aiops" in ASCII). */
#define MIGRATE_LOCK "434479320947"
#define MS           1000000u /* ns per ms, for uv_hrtime() */
/* query_events runs on the loop thread for an API request: it waits this long (ms) for queued
 * rows to be written first (a history view may lag the live one slightly), and its own
 * connection and statement give up after these (s, ms). */
#define QUERY_FLUSH_MS          100
#define QUERY_CONNECT_TIMEOUT   "2"
#define QUERY_STATEMENT_TIMEOUT "2000"

/* ROW_PRUNE is the retention's delete (see store.h), queued like a row so it shares the
 * connection, the batching and the retries; it is not counted as a row written. */
enum row_kind { ROW_DETECTION, ROW_EVENT, ROW_UPSERT, ROW_CHECKPOINT, ROW_PRUNE, ROW_KINDS };

/* Prepared statement names, per enum row_kind: parsing each row's statement again cost about
 * half the server's time per row. */
static const char *const stmt_name[] = {"aiops_detection", "aiops_event", "aiops_upsert",
                                        "aiops_checkpoint", "aiops_prune"};

/* One queued row: one heap block holding its libpq parameters. */
struct row {
    struct row *next;
    uint64_t seq;       /* upserts: the pipeline's sequence number */
    uint64_t queued_ns; /* uv_hrtime() when queued */
    uint8_t kind;       /* enum row_kind */
    uint8_t nparams;
    const char *values[MAX_PARAMS]; /* point into data; NULL is SQL NULL */
    int lengths[MAX_PARAMS];        /* for binary values (the checkpoint's state) */
    int formats[MAX_PARAMS];        /* 0 text, 1 binary */
    char data[];
};

enum conn_state {
    PG_DOWN,       /* no connection; a new attempt at retry_ns */
    PG_CONNECTING, /* PQconnectStart done, PQconnectPoll in progress */
    PG_IDLE,       /* connected, no batch in flight */
    PG_BUSY,       /* a batch was sent; waiting for its sync */
};

/* The poll handle of one connection's socket; a new socket gets a new handle. */
struct pg_poll {
    uv_poll_t handle; /* freed in its close callback */
    int fd;
    int events; /* UV_READABLE | UV_WRITABLE being watched */
};

/* The store's libpq handles; a separate block because the store struct is freed by
 * aiops_store_close() before the handles' close callbacks can run. */
struct pg_io {
    uv_timer_t timer; /* batch_ms, reconnect back-off, connect timeout */
    uv_async_t async; /* another thread queued a row */
    struct pg_poll *poll;
    int open_handles; /* freed when this drops to 0 */
};

struct pg_store {
    struct aiops_store base;
    char *conninfo; /* owned; the libpq URI */
    char *shown;    /* owned; the URL with any password masked, for messages */
    struct pg_io *io;
    /* Loop thread only. */
    PGconn *conn;
    enum conn_state state;
    int conn_dir;            /* CONNECTING: UV_READABLE or UV_WRITABLE, what PQconnectPoll wants */
    uint64_t retry_ns;       /* DOWN: uv_hrtime() of the next attempt */
    uint64_t prune_ns;       /* uv_hrtime() of the next retention round (retention on) */
    uint64_t batch_pruned;   /* BUSY: rows the batch's prune deleted */
    uint64_t backoff_ms;     /* the wait after the next failure */
    uint64_t connect_end_ns; /* CONNECTING: give up at this uv_hrtime() */
    bool need_flush;         /* BUSY: libpq holds output the socket did not take yet */
    bool sync_seen;
    bool batch_error;  /* BUSY: a statement of the batch failed */
    uint8_t prepared;  /* bit per enum row_kind: its statement is prepared on this connection */
    uint8_t preparing; /* BUSY: bits whose PQsendPrepare leads the batch */
    int results;       /* BUSY: results read so far (the prepares' come first) */
    int attempts;      /* times the head row failed alone on a healthy connection */
    size_t solo;       /* rows still to send one per transaction, after a refused batch */
    bool flushing;     /* flush() is driving: write without waiting batch_ms */
    bool handles_gone; /* the handles were closed (by close or the agent's final walk) */
    bool renew_poll;   /* PQconnectPoll ran: libpq may have opened another socket */
    int want_events;   /* what step() waits for: socket events and a deadline (0: none) */
    uint64_t want_ns;
    char why[ERRMSG_LEN];
    uv_mutex_t lock; /* guards every field below */
    struct row *head, **tail;
    struct row *inflight; /* the batch sent, in order; back to head on failure */
    size_t count;         /* rows in head's list */
    size_t inflight_count;
    uint64_t accepted; /* rows ever queued */
    uint64_t finished; /* rows ever committed or dropped */
    bool connected;
    uint64_t pruned;
    uint64_t written;
    uint64_t dropped;
    uint64_t failed;
    uint64_t batches;
    uint64_t retries;
};

static const char *const insert_sql[] = {
    [ROW_DETECTION] =
        "INSERT INTO detection_history (resource_id, metric_name, method, sensitivity,"
        " total_points, anomaly_count, anomaly_percentage, detection_time_ms, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    [ROW_EVENT] = "INSERT INTO anomaly_events (resource_id, metric_name, start_time, end_time,"
                  " duration_seconds, max_score, anomaly_points, peak_value, priority, created_at)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    /* A retried or re-sent version never rolls an event back to an older one. */
    [ROW_UPSERT] =
        "INSERT INTO events (id, resource_id, metric, labels, status, start_time, end_time,"
        " duration_seconds, max_score, anomaly_points, peak_value, priority, severity, method,"
        " reason, incident_id, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        " ON CONFLICT (id) DO UPDATE SET resource_id = excluded.resource_id,"
        " metric = excluded.metric, labels = excluded.labels, status = excluded.status,"
        " start_time = excluded.start_time, end_time = excluded.end_time,"
        " duration_seconds = excluded.duration_seconds, max_score = excluded.max_score,"
        " anomaly_points = excluded.anomaly_points, peak_value = excluded.peak_value,"
        " priority = excluded.priority, severity = excluded.severity, method = excluded.method,"
        " reason = excluded.reason, incident_id = excluded.incident_id,"
        " updated_at = excluded.updated_at, version = excluded.version"
        " WHERE excluded.updated_at >= events.updated_at",
    [ROW_CHECKPOINT] = "INSERT INTO checkpoints (series_key, state, updated_at)"
                       " VALUES ($1, $2, now()) ON CONFLICT (series_key) DO UPDATE"
                       " SET state = excluded.state, updated_at = excluded.updated_at",
    /* One statement, one transaction; answers how many rows it deleted. */
    [ROW_PRUNE] =
        "WITH d AS (DELETE FROM detection_history WHERE created_at < $1 RETURNING 1),"
        " a AS (DELETE FROM anomaly_events WHERE created_at < $1 RETURNING 1),"
        " e AS (DELETE FROM events WHERE start_time < $1 AND updated_at < $1"
        " AND status = 'resolved' RETURNING 1),"
        " c AS (DELETE FROM checkpoints WHERE updated_at < $1 RETURNING 1)"
        " SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM a) + (SELECT count(*) FROM e)"
        " + (SELECT count(*) FROM c)",
};

/* Version 1. CREATE ... IF NOT EXISTS and ADD COLUMN IF NOT EXISTS adopt the tables the
 * Python service's SQLAlchemy models left (serial ids, timestamps without zone). */
static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS detection_history ("
    " id bigserial PRIMARY KEY, resource_id text, metric_name text, method text,"
    " sensitivity text, total_points bigint, anomaly_count bigint,"
    " anomaly_percentage double precision, detection_time_ms double precision,"
    " created_at timestamptz);"
    "CREATE TABLE IF NOT EXISTS anomaly_events ("
    " id bigserial PRIMARY KEY, resource_id text, metric_name text, start_time timestamptz,"
    " end_time timestamptz, duration_seconds double precision, max_score double precision,"
    " anomaly_points bigint, peak_value double precision, priority double precision,"
    " created_at timestamptz);"
    "ALTER TABLE detection_history ADD COLUMN IF NOT EXISTS resource_id text,"
    " ADD COLUMN IF NOT EXISTS metric_name text, ADD COLUMN IF NOT EXISTS method text,"
    " ADD COLUMN IF NOT EXISTS sensitivity text, ADD COLUMN IF NOT EXISTS total_points bigint,"
    " ADD COLUMN IF NOT EXISTS anomaly_count bigint,"
    " ADD COLUMN IF NOT EXISTS anomaly_percentage double precision,"
    " ADD COLUMN IF NOT EXISTS detection_time_ms double precision,"
    " ADD COLUMN IF NOT EXISTS created_at timestamptz;"
    "ALTER TABLE anomaly_events ADD COLUMN IF NOT EXISTS resource_id text,"
    " ADD COLUMN IF NOT EXISTS metric_name text, ADD COLUMN IF NOT EXISTS start_time timestamptz,"
    " ADD COLUMN IF NOT EXISTS end_time timestamptz,"
    " ADD COLUMN IF NOT EXISTS duration_seconds double precision,"
    " ADD COLUMN IF NOT EXISTS max_score double precision,"
    " ADD COLUMN IF NOT EXISTS anomaly_points bigint,"
    " ADD COLUMN IF NOT EXISTS peak_value double precision,"
    " ADD COLUMN IF NOT EXISTS priority double precision,"
    " ADD COLUMN IF NOT EXISTS created_at timestamptz;"
    "CREATE INDEX IF NOT EXISTS ix_detection_history_resource_metric_created"
    " ON detection_history (resource_id, metric_name, created_at);"
    "CREATE INDEX IF NOT EXISTS ix_anomaly_events_resource_metric_created"
    " ON anomaly_events (resource_id, metric_name, created_at);"
    "CREATE TABLE IF NOT EXISTS events ("
    " id text PRIMARY KEY, resource_id text, metric text, labels jsonb, status text,"
    " start_time timestamptz, end_time timestamptz, duration_seconds double precision,"
    " max_score double precision, anomaly_points bigint, peak_value double precision,"
    " priority double precision, severity text, method text, reason text, incident_id text,"
    " updated_at timestamptz, version integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ix_events_resource_metric_start"
    " ON events (resource_id, metric, start_time);"
    /* query_events' newest-first order without a resource. */
    "CREATE INDEX IF NOT EXISTS ix_events_start ON events (start_time);"
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " series_key text PRIMARY KEY, state bytea NOT NULL, updated_at timestamptz);"
    /* The retention's deletes by time: BRIN indexes, a few pages for append-only tables. */
    "CREATE INDEX IF NOT EXISTS ix_detection_history_created_brin"
    " ON detection_history USING brin (created_at);"
    "CREATE INDEX IF NOT EXISTS ix_anomaly_events_created_brin"
    " ON anomaly_events USING brin (created_at);";

/* ---- rows ---------------------------------------------------------------------------- */

struct builder {
    struct row *row;
    char *pos;
};

static void put_text(struct builder *b, const char *s)
{
    struct row *r = b->row;

    assert(r->nparams < MAX_PARAMS);
    r->values[r->nparams++] = s != NULL ? memcpy(b->pos, s, strlen(s) + 1) : NULL;
    if (s != NULL)
        b->pos += strlen(s) + 1;
}

__attribute__((format(printf, 2, 3))) static void put_fmt(struct builder *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->pos, NUM_LEN, fmt, ap);
    va_end(ap);
    assert(n > 0 && n < NUM_LEN);
    b->row->values[b->row->nparams++] = b->pos;
    b->pos += n + 1;
}

/* PostgreSQL spells the non-finite values its own way ("-nan" would be refused). */
static void put_double(struct builder *b, double v)
{
    if (isnan(v))
        put_fmt(b, "NaN");
    else if (isinf(v))
        put_fmt(b, "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        put_fmt(b, "%.17g", v);
}

/* ms since epoch as a timestamptz literal in UTC ("2026-01-01 00:00:00.123+00"); a column
 * without zone (the Python service's) takes the same wall time. */
static void time_text(int64_t ms, char out[NUM_LEN])
{
    size_t n = aiops_time_format_sql(ms, out, NUM_LEN);

    snprintf(out + n, NUM_LEN - n, "+00");
}

static void put_time(struct builder *b, int64_t ms)
{
    char text[NUM_LEN];

    time_text(ms, text);
    put_fmt(b, "%s", text);
}

/* Allocates a row with room for `numbers` formatted values, the n strings and blob_len. */
static struct row *row_new(struct builder *b, enum row_kind kind, int numbers,
                           const char *const strings[], size_t n, size_t blob_len)
{
    size_t size = sizeof(struct row) + (size_t)numbers * NUM_LEN + blob_len;

    for (size_t i = 0; i < n; i++)
        size += strings[i] != NULL ? strlen(strings[i]) + 1 : 0;
    b->row = aiops_calloc(1, size);
    if (b->row == NULL)
        return NULL;
    b->row->kind = (uint8_t)kind;
    b->pos = b->row->data;
    return b->row;
}

static void free_rows(struct row *r)
{
    while (r != NULL) {
        struct row *next = r->next;

        aiops_free(r);
        r = next;
    }
}

static uint64_t min_seq(const struct row *r, uint64_t seq)
{
    for (; r != NULL; r = r->next)
        if (r->kind == ROW_UPSERT && r->seq < seq)
            seq = r->seq;
    return seq;
}

/* ---- the connection, driven by step() ------------------------------------------------ */

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    aiops_debug("store", "postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

/* Copies libpq's message without its trailing newline. */
static void set_why(struct pg_store *ps, const char *msg)
{
    snprintf(ps->why, sizeof(ps->why), "%.*s", (int)strcspn(msg, "\n"), msg);
}

static void close_poll_cb(uv_handle_t *h)
{
    aiops_free(h); /* the handle is the first member of its struct pg_poll */
}

static void drop_poll(struct pg_store *ps)
{
    struct pg_poll *p = ps->io != NULL ? ps->io->poll : NULL;

    if (p == NULL)
        return;
    ps->io->poll = NULL;
    if (uv_is_closing((uv_handle_t *)&p->handle))
        aiops_free(p); /* closed by the agent's final walk, whose close had no callback */
    else
        uv_close((uv_handle_t *)&p->handle, close_poll_cb);
}

/* Puts the batch in flight back at the head of the queue. Lock held. */
static void requeue(struct pg_store *ps)
{
    struct row **last = &ps->inflight;

    if (ps->inflight == NULL)
        return;
    while (*last != NULL)
        last = &(*last)->next;
    *last = ps->head;
    if (ps->head == NULL)
        ps->tail = last;
    ps->head = ps->inflight;
    ps->count += ps->inflight_count;
    ps->inflight = NULL;
    ps->inflight_count = 0;
}

/* Back to DOWN: the connection is closed (its poll handle first, before libpq closes the
 * socket), the batch in flight goes back to the head of the queue, and the next attempt is
 * scheduled with back-off. */
static void go_down(struct pg_store *ps)
{
    bool was_connected;

    drop_poll(ps);
    PQfinish(ps->conn);
    ps->conn = NULL;
    ps->prepared = 0;
    ps->state = PG_DOWN;
    ps->retry_ns = uv_hrtime() + ps->backoff_ms * MS;
    ps->backoff_ms = ps->backoff_ms * 2 > AIOPS_POSTGRES_RETRY_MAX_MS ? AIOPS_POSTGRES_RETRY_MAX_MS
                                                                      : ps->backoff_ms * 2;
    uv_mutex_lock(&ps->lock);
    was_connected = ps->connected;
    ps->connected = false;
    if (ps->inflight != NULL || ps->count > 0)
        ps->retries++; /* a batch sent again, or one that waits for the next attempt */
    requeue(ps);
    uv_mutex_unlock(&ps->lock);
    if (was_connected)
        aiops_warn("store", "postgresql: lost %s: %s; rows stay queued, reconnecting", ps->shown,
                   ps->why);
    else
        aiops_debug("store", "postgresql: %s still unreachable: %s", ps->shown, ps->why);
}

static void start_connect(struct pg_store *ps)
{
    ps->conn = PQconnectStart(ps->conninfo);
    if (ps->conn == NULL) {
        set_why(ps, "out of memory");
        go_down(ps);
        return;
    }
    if (PQstatus(ps->conn) == CONNECTION_BAD) {
        set_why(ps, PQerrorMessage(ps->conn));
        go_down(ps);
        return;
    }
    PQsetNoticeProcessor(ps->conn, on_notice, NULL);
    ps->state = PG_CONNECTING;
    ps->conn_dir = UV_WRITABLE; /* libpq: wait for writable before the first PQconnectPoll */
    ps->connect_end_ns = uv_hrtime() + AIOPS_POSTGRES_CONNECT_TIMEOUT_S * 1000 * MS;
}

/* The batch's sync arrived: its rows are committed, or the server refused one of them on a
 * healthy connection. Then the batch's rows are sent again one per transaction, and a row
 * refused AIOPS_POSTGRES_MAX_ATTEMPTS times alone is dropped, so only bad rows are lost. */
static void finish_batch(struct pg_store *ps)
{
    struct row *done = NULL;
    size_t n;
    enum { COMMITTED, RETRIED, DROPPED } outcome;

    uv_mutex_lock(&ps->lock);
    n = ps->inflight_count;
    if (ps->batch_error && (n > 1 || ++ps->attempts < AIOPS_POSTGRES_MAX_ATTEMPTS)) {
        outcome = RETRIED;
        if (n > 1)
            ps->solo = n;
        requeue(ps);
        ps->retries++;
    } else {
        size_t prunes = 0;

        outcome = ps->batch_error ? DROPPED : COMMITTED;
        for (const struct row *r = ps->inflight; r != NULL; r = r->next)
            prunes += r->kind == ROW_PRUNE;
        done = ps->inflight;
        ps->inflight = NULL;
        ps->inflight_count = 0;
        ps->finished += n;
        if (ps->batch_error) {
            ps->failed += n - prunes;
        } else {
            ps->written += n - prunes;
            ps->pruned += ps->batch_pruned;
            ps->batches++;
        }
        ps->attempts = 0;
        ps->solo = ps->solo > n ? ps->solo - n : 0;
    }
    uv_mutex_unlock(&ps->lock);
    if (outcome == DROPPED)
        aiops_error("store", "postgresql: dropped a row the server refused %d times: %s",
                    AIOPS_POSTGRES_MAX_ATTEMPTS, ps->why);
    else if (outcome == RETRIED)
        aiops_warn("store", "postgresql: writing %zu rows failed, trying again: %s", n, ps->why);
    free_rows(done);
    ps->state = PG_IDLE;
}

/* Takes the head of the queue as the next batch and pipelines it: one statement per row,
 * then a sync, which commits them all or none (an implicit transaction). */
static int send_batch(struct pg_store *ps)
{
    struct row *r;
    size_t n = 0;

    uv_mutex_lock(&ps->lock);
    ps->inflight = ps->head;
    for (r = ps->head; r != NULL && n + 1 < (ps->solo > 0 ? 1 : AIOPS_POSTGRES_BATCH_ROWS);
         r = r->next)
        n++;
    if (r != NULL) {
        n++;
        ps->head = r->next;
        r->next = NULL;
        if (ps->head == NULL)
            ps->tail = &ps->head;
    } else {
        ps->head = NULL;
        ps->tail = &ps->head;
    }
    ps->inflight_count = n;
    ps->count -= n;
    uv_mutex_unlock(&ps->lock);

    ps->sync_seen = false;
    ps->batch_error = false;
    ps->batch_pruned = 0;
    ps->preparing = 0;
    ps->results = 0;
    if (PQenterPipelineMode(ps->conn) != 1)
        goto err;
    /* The rows of inflight are the loop's alone until the batch settles. Statements are
     * prepared (ahead of the rows) the first time a connection needs them. */
    for (r = ps->inflight; r != NULL; r = r->next)
        ps->preparing |= (uint8_t)(1u << r->kind) & (uint8_t)~ps->prepared;
    for (int k = 0; k < ROW_KINDS; k++)
        if ((ps->preparing & (1u << k)) &&
            PQsendPrepare(ps->conn, stmt_name[k], insert_sql[k], 0, NULL) != 1)
            goto err;
    for (r = ps->inflight; r != NULL; r = r->next)
        if (PQsendQueryPrepared(ps->conn, stmt_name[r->kind], r->nparams, r->values, r->lengths,
                                r->formats, 0) != 1)
            goto err;
    if (PQpipelineSync(ps->conn) != 1)
        goto err;
    ps->state = PG_BUSY;
    ps->need_flush = true;
    return 0;
err:
    set_why(ps, PQerrorMessage(ps->conn));
    return AIOPS_EIO;
}

/* BUSY: reads what arrived. Returns AIOPS_EIO when the connection broke. */
static int read_results(struct pg_store *ps)
{
    int nulls = 0;

    if (!PQconsumeInput(ps->conn))
        goto err;
    while (!ps->sync_seen && !PQisBusy(ps->conn) && nulls < 2) {
        PGresult *res = PQgetResult(ps->conn);

        if (res == NULL) { /* one statement's results end; two in a row: nothing pending */
            nulls++;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_COMMAND_OK &&
            ps->results < __builtin_popcount(ps->preparing)) {
            /* The n-th prepare's result: mark the n-th kind being prepared. */
            for (int k = 0, seen = 0; k < ROW_KINDS; k++)
                if ((ps->preparing & (1u << k)) && seen++ == ps->results)
                    ps->prepared |= (uint8_t)(1u << k);
        }
        ps->results++;
        switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK: /* only the prune answers with a row: its count */
            if (PQntuples(res) == 1 && PQnfields(res) == 1)
                ps->batch_pruned += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
            break;
        case PGRES_COMMAND_OK:
        case PGRES_PIPELINE_ABORTED: /* skipped after the error already noted */
            break;
        case PGRES_PIPELINE_SYNC:
            ps->sync_seen = true;
            break;
        default:
            if (!ps->batch_error)
                set_why(ps, PQresultErrorMessage(res));
            ps->batch_error = true;
            break;
        }
        PQclear(res);
    }
    if (PQstatus(ps->conn) != CONNECTION_OK)
        goto err;
    if (ps->sync_seen) {
        if (PQexitPipelineMode(ps->conn) != 1)
            goto err;
        finish_batch(ps);
    }
    return 0;
err:
    if (!ps->batch_error || PQstatus(ps->conn) != CONNECTION_OK)
        set_why(ps, PQerrorMessage(ps->conn));
    return AIOPS_EIO;
}

static int enqueue(struct pg_store *ps, struct row *r, bool bounded);

/* Queues the retention's delete of what is older than retention_days (loop thread). */
static void queue_prune(struct pg_store *ps)
{
    struct builder b;

    if (row_new(&b, ROW_PRUNE, 1, NULL, 0, 0) == NULL) {
        aiops_warn("store", "postgresql: out of memory queueing the retention's delete");
        return;
    }
    put_time(&b, aiops_store_prune_before_ms(&ps->base));
    (void)enqueue(ps, b.row, false); /* unbounded: never refused */
}

static void want(struct pg_store *ps, int events, uint64_t deadline_ns)
{
    ps->want_events = events;
    ps->want_ns = deadline_ns;
}

/* Does all the connection can do now, given the socket events seen (0 when woken by the timer
 * or by a queued row), then leaves in want_* what it waits for next. Never blocks. */
static void step(struct pg_store *ps, int ready)
{
    for (;;) {
        uint64_t now = uv_hrtime(), due;
        PostgresPollingStatusType poll;
        struct row *head;
        size_t count;

        switch (ps->state) {
        case PG_DOWN:
            if (now < ps->retry_ns) {
                want(ps, 0, ps->retry_ns);
                return;
            }
            start_connect(ps);
            ready = 0;
            continue;
        case PG_CONNECTING:
            if (!(ready & ps->conn_dir)) {
                if (now >= ps->connect_end_ns) {
                    set_why(ps, "timeout expired");
                    go_down(ps);
                    continue;
                }
                want(ps, ps->conn_dir, ps->connect_end_ns);
                return;
            }
            ready = 0;
            ps->renew_poll = true;
            poll = PQconnectPoll(ps->conn);
            if (poll == PGRES_POLLING_READING) {
                ps->conn_dir = UV_READABLE;
            } else if (poll == PGRES_POLLING_WRITING) {
                ps->conn_dir = UV_WRITABLE;
            } else if (poll == PGRES_POLLING_OK && PQsetnonblocking(ps->conn, 1) == 0) {
                ps->state = PG_IDLE;
                ps->prepared = 0;
                ps->backoff_ms = AIOPS_POSTGRES_RETRY_MIN_MS;
                uv_mutex_lock(&ps->lock);
                ps->connected = true;
                uv_mutex_unlock(&ps->lock);
                aiops_info("store", "postgresql: connected to %s", ps->shown);
            } else {
                set_why(ps, PQerrorMessage(ps->conn));
                go_down(ps);
            }
            continue;
        case PG_IDLE:
            /* Readable while idle: the server is closing the connection (shutdown, admin). */
            if ((ready & UV_READABLE) &&
                (!PQconsumeInput(ps->conn) || PQstatus(ps->conn) != CONNECTION_OK)) {
                set_why(ps, PQerrorMessage(ps->conn));
                go_down(ps);
                continue;
            }
            ready = 0;
            uv_mutex_lock(&ps->lock);
            head = ps->head;
            count = ps->count;
            due = head != NULL ? head->queued_ns + (uint64_t)ps->base.batch_ms * MS : 0;
            uv_mutex_unlock(&ps->lock);
            if (ps->base.retention_days > 0 && now >= ps->prune_ns) {
                queue_prune(ps);
                ps->prune_ns = now + (uint64_t)AIOPS_STORE_PRUNE_EVERY_S * 1000 * MS;
                continue;
            }
            if (head == NULL) {
                want(ps, UV_READABLE, ps->base.retention_days > 0 ? ps->prune_ns : 0);
                return;
            }
            if (!ps->flushing && count < AIOPS_POSTGRES_BATCH_ROWS && now < due) {
                want(ps, UV_READABLE, due);
                return;
            }
            if (send_batch(ps) < 0)
                go_down(ps);
            continue;
        case PG_BUSY:
            if (ps->need_flush) {
                int rc = PQflush(ps->conn);

                if (rc < 0) {
                    set_why(ps, PQerrorMessage(ps->conn));
                    go_down(ps);
                    continue;
                }
                ps->need_flush = rc == 1;
            }
            if (read_results(ps) < 0) {
                go_down(ps);
                continue;
            }
            if (ps->state == PG_BUSY) {
                want(ps, UV_READABLE | (ps->need_flush ? UV_WRITABLE : 0), 0);
                return;
            }
            continue;
        }
    }
}

/* ---- the loop's side: applies want_* to the poll and timer handles ------------------- */

static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *h);

static void apply(struct pg_store *ps)
{
    struct pg_io *io = ps->io;
    int fd = ps->conn != NULL ? PQsocket(ps->conn) : -1;
    uint64_t now;

    /* After close, or after the agent's final walk closed the handles without us. */
    if (ps->handles_gone || uv_is_closing((uv_handle_t *)&io->timer))
        return;
    if (io->poll != NULL && (io->poll->fd != fd || ps->want_events == 0 || ps->renew_poll))
        drop_poll(ps);
    ps->renew_poll = false;
    if (fd >= 0 && ps->want_events != 0) {
        if (io->poll == NULL) {
            struct pg_poll *p = aiops_calloc(1, sizeof(*p));

            if (p == NULL || uv_poll_init(ps->base.loop, &p->handle, fd) < 0) {
                aiops_free(p);
                set_why(ps, "cannot watch the socket");
                go_down(ps); /* DOWN wants no socket, so this does not come back here */
                step(ps, 0);
                apply(ps);
                return;
            }
            p->handle.data = ps;
            p->fd = fd;
            uv_unref((uv_handle_t *)&p->handle);
            io->poll = p;
        }
        if (io->poll->events != ps->want_events) {
            uv_poll_start(&io->poll->handle, ps->want_events, on_poll);
            io->poll->events = ps->want_events;
        }
    }
    if (ps->want_ns == 0) {
        uv_timer_stop(&io->timer);
        return;
    }
    now = uv_hrtime();
    /* Rounded up: a timer that fires a little early would only find nothing due yet. */
    uv_timer_start(&io->timer, on_timer, ps->want_ns > now ? (ps->want_ns - now + MS - 1) / MS : 0,
                   0);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pg_store *ps = h->data;

    /* An error on the socket: let libpq find it by trying both ways. */
    step(ps, status < 0 ? UV_READABLE | UV_WRITABLE : events);
    apply(ps);
}

static void on_timer(uv_timer_t *h)
{
    struct pg_store *ps = h->data;

    step(ps, 0);
    apply(ps);
}

static void on_async(uv_async_t *h)
{
    struct pg_store *ps = h->data;

    step(ps, 0);
    apply(ps);
}

/* ---- open and close ------------------------------------------------------------------ */

/* Copies url into out with any password ("user:secret@host") replaced by "***". */
static void redact(const char *url, char *out, size_t len)
{
    const char *auth = strstr(url, "://"), *at, *colon, *slash;

    snprintf(out, len, "%s", url);
    if (auth == NULL)
        return;
    auth += 3;
    slash = strchr(auth, '/');
    at = strchr(auth, '@');
    if (at == NULL || (slash != NULL && slash < at))
        return;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon != NULL)
        snprintf(out, len, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

/* The libpq URI for url: "postgresql://" plus what follows the scheme (so "postgres://" and
 * "postgresql+asyncpg://" work too), with connect_timeout and application_name added unless
 * the URL sets them. Returns 0, AIOPS_EINVAL (errbuf) or AIOPS_ENOMEM. */
static int make_conninfo(struct pg_store *ps, const char *url, char *errbuf, size_t errlen)
{
    const char *rest = strstr(url, "://");
    char *msg = NULL;
    PQconninfoOption *opts;
    size_t len;
    bool has_timeout, has_name;
    char sep;

    rest += 3; /* the registry checked there is a "scheme://" */
    has_timeout = strstr(rest, "connect_timeout=") != NULL;
    has_name = strstr(rest, "application_name=") != NULL;
    sep = strchr(rest, '?') != NULL ? '&' : '?';
    len = strlen(rest) + 96;
    ps->conninfo = aiops_malloc(len);
    if (ps->conninfo == NULL) {
        snprintf(errbuf, errlen, "postgresql: out of memory opening %s", ps->shown);
        return AIOPS_ENOMEM;
    }
    snprintf(ps->conninfo, len, "postgresql://%s", rest);
    if (!has_timeout) {
        snprintf(ps->conninfo + strlen(ps->conninfo), len - strlen(ps->conninfo),
                 "%cconnect_timeout=%d", sep, AIOPS_POSTGRES_CONNECT_TIMEOUT_S);
        sep = '&';
    }
    if (!has_name)
        snprintf(ps->conninfo + strlen(ps->conninfo), len - strlen(ps->conninfo),
                 "%capplication_name=aiops-agent", sep);
    opts = PQconninfoParse(ps->conninfo, &msg);
    if (opts == NULL) {
        snprintf(errbuf, errlen, "postgresql: bad database URL %s: %.*s", ps->shown,
                 msg != NULL ? (int)strcspn(msg, "\n") : 13, msg != NULL ? msg : "out of memory");
        PQfreemem(msg);
        return msg != NULL ? AIOPS_EINVAL : AIOPS_ENOMEM;
    }
    PQconninfoFree(opts);
    return 0;
}

/* Runs sql (no parameters) on a blocking connection; with errbuf on failure. */
static int exec(PGconn *conn, const char *sql, const char *shown, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    const char *msg;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    snprintf(errbuf, errlen, "postgresql: setting up the schema in %s failed: %.*s", shown,
             (int)strcspn(msg, "\n"), msg);
    PQclear(res);
    return AIOPS_EIO;
}

/* Creates or adopts the tables and stamps AIOPS_POSTGRES_SCHEMA_VERSION, in one transaction
 * that holds an advisory lock, so agents starting together do not race. */
static int migrate(struct pg_store *ps, char *errbuf, size_t errlen)
{
    PGresult *res;
    long version;
    int err;

    err = exec(ps->conn,
               "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
               "CREATE TABLE IF NOT EXISTS schema_version ("
               " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
               ps->shown, errbuf, errlen);
    if (err < 0)
        goto err_rollback;
    res = PQexec(ps->conn, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(errbuf, errlen, "postgresql: reading the schema version in %s failed: %.*s",
                 ps->shown, (int)strcspn(PQerrorMessage(ps->conn), "\n"), PQerrorMessage(ps->conn));
        PQclear(res);
        err = AIOPS_EIO;
        goto err_rollback;
    }
    version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (version > AIOPS_POSTGRES_SCHEMA_VERSION) {
        snprintf(errbuf, errlen,
                 "postgresql: database %s has schema version %ld, newer than the %d this build"
                 " knows; upgrade aiops-agent or use another database",
                 ps->shown, version, AIOPS_POSTGRES_SCHEMA_VERSION);
        err = AIOPS_EINVAL;
        goto err_rollback;
    }
    err = exec(ps->conn, schema_sql, ps->shown, errbuf, errlen);
    if (err == 0 && version < AIOPS_POSTGRES_SCHEMA_VERSION) {
        char sql[80];

        snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version) VALUES (%d)",
                 AIOPS_POSTGRES_SCHEMA_VERSION);
        err = exec(ps->conn, sql, ps->shown, errbuf, errlen);
    }
    if (err == 0)
        err = exec(ps->conn, "COMMIT", ps->shown, errbuf, errlen);
    if (err < 0)
        goto err_rollback;
    return 0;
err_rollback:
    PQclear(PQexec(ps->conn, "ROLLBACK"));
    return err;
}

/* A blocking connection (open's first, load_checkpoints'), with errbuf on failure. */
static int connect_blocking(struct pg_store *ps, PGconn **out, char *errbuf, size_t errlen)
{
    PGconn *conn = PQconnectdb(ps->conninfo);

    if (conn == NULL) {
        snprintf(errbuf, errlen, "postgresql: out of memory connecting to %s", ps->shown);
        return AIOPS_ENOMEM;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);

        /* libpq's message names host and port; several lines when it tried several. */
        snprintf(errbuf, errlen, "postgresql: cannot connect to %s: %.*s", ps->shown,
                 (int)strcspn(msg, "\n"), msg);
        PQfinish(conn);
        return AIOPS_EIO;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    *out = conn;
    return 0;
}

static void close_io_cb(uv_handle_t *h)
{
    struct pg_io *io = h->data;

    if (--io->open_handles == 0)
        aiops_free(io);
}

static int pg_open(struct aiops_store *s, const char *url, char *errbuf, size_t errlen)
{
    struct pg_store *ps = (struct pg_store *)s;
    char shown[512];
    int err;

    redact(url, shown, sizeof(shown));
    if (s->loop == NULL) {
        snprintf(errbuf, errlen,
                 "postgresql needs the agent's loop: database URL %s was opened without one",
                 shown);
        return AIOPS_EINVAL;
    }
    ps->shown = aiops_strdup(shown);
    if (ps->shown == NULL) {
        snprintf(errbuf, errlen, "postgresql: out of memory opening %s", shown);
        return AIOPS_ENOMEM;
    }
    err = make_conninfo(ps, url, errbuf, errlen);
    if (err < 0)
        goto err_free_strings;
    err = connect_blocking(ps, &ps->conn, errbuf, errlen);
    if (err < 0)
        goto err_free_strings;
    err = migrate(ps, errbuf, errlen);
    if (err < 0)
        goto err_finish;
    if (PQsetnonblocking(ps->conn, 1) != 0) {
        snprintf(errbuf, errlen, "postgresql: cannot make the connection to %s non-blocking",
                 shown);
        err = AIOPS_EIO;
        goto err_finish;
    }
    ps->io = aiops_calloc(1, sizeof(*ps->io));
    if (ps->io == NULL) {
        snprintf(errbuf, errlen, "postgresql: out of memory opening %s", shown);
        err = AIOPS_ENOMEM;
        goto err_finish;
    }
    err = uv_mutex_init(&ps->lock);
    if (err < 0)
        goto err_report_uv;
    /* uv_timer_init cannot fail and uv_async_init only on fd exhaustion, so the timer is set up
     * after it: a handle once initialised can only be released through the loop. */
    err = uv_async_init(s->loop, &ps->io->async, on_async);
    if (err < 0)
        goto err_destroy_lock;
    uv_timer_init(s->loop, &ps->io->timer);
    ps->io->async.data = ps;
    ps->io->timer.data = ps;
    ps->io->open_handles = 2;
    uv_unref((uv_handle_t *)&ps->io->async);
    uv_unref((uv_handle_t *)&ps->io->timer);
    ps->head = NULL;
    ps->tail = &ps->head;
    ps->state = PG_IDLE;
    ps->connected = true;
    ps->backoff_ms = AIOPS_POSTGRES_RETRY_MIN_MS;
    step(ps, 0);
    apply(ps);
    return 0;
err_destroy_lock:
    uv_mutex_destroy(&ps->lock);
err_report_uv:
    snprintf(errbuf, errlen, "postgresql: cannot set up the loop for %s: %s", shown,
             uv_strerror(err));
    aiops_free(ps->io);
err_finish:
    PQfinish(ps->conn);
err_free_strings:
    aiops_free(ps->conninfo);
    aiops_free(ps->shown);
    return err;
}

/* Drives step() with poll(2) until every row queued before the call is written or the
 * deadline passes (logged when report is set). Used from the loop thread, with the loop's
 * handles left alone. */
static int drive_until_written(struct pg_store *ps, uint64_t deadline_ns, bool report)
{
    uint64_t target;
    int ready = 0;

    uv_mutex_lock(&ps->lock);
    target = ps->accepted;
    uv_mutex_unlock(&ps->lock);
    ps->flushing = true;
    for (;;) {
        struct pollfd pfd = {.fd = -1};
        uint64_t now, until;
        bool done;

        step(ps, ready);
        uv_mutex_lock(&ps->lock);
        done = ps->finished >= target;
        uv_mutex_unlock(&ps->lock);
        now = uv_hrtime();
        if (done || now >= deadline_ns)
            break;
        until = ps->want_ns != 0 && ps->want_ns < deadline_ns ? ps->want_ns : deadline_ns;
        if (ps->conn != NULL && ps->want_events != 0) {
            pfd.fd = PQsocket(ps->conn);
            pfd.events = (short)(((ps->want_events & UV_READABLE) ? POLLIN : 0) |
                                 ((ps->want_events & UV_WRITABLE) ? POLLOUT : 0));
        }
        ready = 0;
        if (poll(&pfd, 1, (int)((until - now + MS - 1) / MS)) > 0) {
            ready |= (pfd.revents & (POLLIN | POLLHUP | POLLERR)) ? UV_READABLE : 0;
            ready |= (pfd.revents & (POLLOUT | POLLHUP | POLLERR)) ? UV_WRITABLE : 0;
        }
        ps->renew_poll = true; /* the socket may have changed under the loop's poll handle */
    }
    ps->flushing = false;
    uv_mutex_lock(&ps->lock);
    target = ps->finished >= target ? 0 : target - ps->finished;
    uv_mutex_unlock(&ps->lock);
    if (target > 0 && report)
        aiops_error("store",
                    "postgresql: flush gave up after %d ms with %" PRIu64
                    " rows unwritten to %s: %s",
                    AIOPS_POSTGRES_FLUSH_TIMEOUT_MS, target, ps->shown, ps->why);
    return target > 0 ? AIOPS_EIO : 0;
}

static int pg_flush(struct aiops_store *s)
{
    struct pg_store *ps = (struct pg_store *)s;
    uint64_t failed;
    int err;

    uv_mutex_lock(&ps->lock);
    failed = ps->failed;
    uv_mutex_unlock(&ps->lock);
    err =
        drive_until_written(ps, uv_hrtime() + (uint64_t)AIOPS_POSTGRES_FLUSH_TIMEOUT_MS * MS, true);
    apply(ps);
    uv_mutex_lock(&ps->lock);
    if (ps->failed > failed)
        err = AIOPS_EIO;
    uv_mutex_unlock(&ps->lock);
    return err;
}

static void pg_close(struct aiops_store *s)
{
    struct pg_store *ps = (struct pg_store *)s;
    struct pg_io *io = ps->io;
    size_t lost;

    (void)drive_until_written(ps, uv_hrtime() + (uint64_t)AIOPS_POSTGRES_FLUSH_TIMEOUT_MS * MS,
                              true);
    drop_poll(ps);
    ps->handles_gone = true;
    if (uv_is_closing((uv_handle_t *)&io->timer)) {
        /* The agent's final walk closed them (without our callback) and ran the loop. */
        aiops_free(io);
    } else {
        io->timer.data = io; /* closing handles get no more callbacks but this one */
        io->async.data = io;
        uv_close((uv_handle_t *)&io->timer, close_io_cb);
        uv_close((uv_handle_t *)&io->async, close_io_cb);
    }
    PQfinish(ps->conn);
    lost = ps->count + ps->inflight_count;
    if (lost > 0)
        aiops_error("store", "postgresql: %zu rows could not be written to %s and are lost", lost,
                    ps->shown);
    free_rows(ps->inflight);
    free_rows(ps->head);
    uv_mutex_destroy(&ps->lock);
    aiops_free(ps->conninfo);
    aiops_free(ps->shown);
}

/* ---- the ops -------------------------------------------------------------------------- */

/* Queues r; append_* (bounded) are refused when the queue holds queue_max rows. */
static int enqueue(struct pg_store *ps, struct row *r, bool bounded)
{
    bool wake;

    r->queued_ns = uv_hrtime();
    uv_mutex_lock(&ps->lock);
    if (bounded && ps->count + ps->inflight_count >= ps->base.queue_max) {
        ps->dropped++;
        uv_mutex_unlock(&ps->lock);
        aiops_free(r);
        return AIOPS_EBUSY;
    }
    *ps->tail = r;
    ps->tail = &r->next;
    ps->count++;
    ps->accepted++;
    /* Start the batch_ms clock, or write a full batch now. */
    wake = ps->count == 1 || ps->count == AIOPS_POSTGRES_BATCH_ROWS;
    uv_mutex_unlock(&ps->lock);
    if (wake)
        uv_async_send(&ps->io->async);
    return 0;
}

static int refuse(struct pg_store *ps)
{
    uv_mutex_lock(&ps->lock);
    ps->dropped++;
    uv_mutex_unlock(&ps->lock);
    return AIOPS_ENOMEM;
}

static int pg_append_detection(struct aiops_store *s, const struct aiops_detection_record *d)
{
    const char *const strings[] = {d->resource_id, d->metric_name, d->method, d->sensitivity};
    struct builder b;

    if (row_new(&b, ROW_DETECTION, 5, strings, 4, 0) == NULL)
        return refuse((struct pg_store *)s);
    put_text(&b, d->resource_id);
    put_text(&b, d->metric_name);
    put_text(&b, d->method);
    put_text(&b, d->sensitivity);
    put_fmt(&b, "%" PRId64, d->total_points);
    put_fmt(&b, "%" PRId64, d->anomaly_count);
    put_double(&b, d->anomaly_percentage);
    put_double(&b, d->detection_time_ms);
    put_time(&b, d->created_at_ms);
    return enqueue((struct pg_store *)s, b.row, true);
}

static int pg_append_event(struct aiops_store *s, const struct aiops_event_record *e)
{
    const char *const strings[] = {e->resource_id, e->metric_name};
    struct builder b;

    if (row_new(&b, ROW_EVENT, 8, strings, 2, 0) == NULL)
        return refuse((struct pg_store *)s);
    put_text(&b, e->resource_id);
    put_text(&b, e->metric_name);
    put_time(&b, e->start_ms);
    put_time(&b, e->end_ms);
    put_double(&b, e->duration_seconds);
    put_double(&b, e->max_score);
    put_fmt(&b, "%" PRId64, e->anomaly_points);
    put_double(&b, e->peak_value);
    put_double(&b, e->priority);
    put_time(&b, e->created_at_ms);
    return enqueue((struct pg_store *)s, b.row, true);
}

static int pg_upsert_event(struct aiops_store *s, const struct aiops_event *e, uint64_t seq)
{
    const char *labels = e->labels_json != NULL ? e->labels_json : "{}";
    const char *const strings[] = {e->id,       e->resource_id, e->metric, labels,
                                   e->severity, e->method,      e->reason, e->incident_id};
    struct builder b;

    if (row_new(&b, ROW_UPSERT, 10, strings, 8, 0) == NULL)
        return AIOPS_ENOMEM;
    b.row->seq = seq;
    put_text(&b, e->id);
    put_text(&b, e->resource_id);
    put_text(&b, e->metric);
    put_text(&b, labels);
    put_text(&b, e->status == AIOPS_EVENT_RESOLVED ? "resolved" : "open");
    put_time(&b, e->start_ms);
    put_time(&b, e->end_ms);
    put_double(&b, e->duration_seconds);
    put_double(&b, e->max_score);
    put_fmt(&b, "%" PRId64, e->anomaly_points);
    put_double(&b, e->peak_value);
    put_double(&b, e->priority);
    put_text(&b, e->severity);
    put_text(&b, e->method);
    put_text(&b, e->reason);
    put_text(&b, e->incident_id[0] != '\0' ? e->incident_id : NULL);
    put_time(&b, e->updated_ms);
    put_fmt(&b, "%" PRIu32, e->version);
    return enqueue((struct pg_store *)s, b.row, false);
}

static int pg_save_checkpoint(struct aiops_store *s, const char *series_key, const void *blob,
                              size_t len)
{
    const char *const strings[] = {series_key};
    struct builder b;

    if (len > INT32_MAX)
        return AIOPS_E2BIG;
    if (row_new(&b, ROW_CHECKPOINT, 0, strings, 1, len) == NULL)
        return AIOPS_ENOMEM;
    put_text(&b, series_key);
    if (len > 0)
        memcpy(b.pos, blob, len);
    b.row->values[1] = b.pos;
    b.row->lengths[1] = (int)len;
    b.row->formats[1] = 1; /* bytea, binary: no escaping */
    b.row->nparams = 2;
    return enqueue((struct pg_store *)s, b.row, false);
}

static uint64_t pg_pending_seq(struct aiops_store *s)
{
    struct pg_store *ps = (struct pg_store *)s;
    uint64_t seq;

    uv_mutex_lock(&ps->lock);
    seq = min_seq(ps->head, min_seq(ps->inflight, UINT64_MAX));
    uv_mutex_unlock(&ps->lock);
    return seq;
}

/* Flushes (so checkpoints saved a moment ago are seen), then reads on a connection of its
 * own: the store's may be down, or in the middle of a batch. */
static int pg_load_checkpoints(struct aiops_store *s, aiops_checkpoint_fn fn, void *ctx)
{
    struct pg_store *ps = (struct pg_store *)s;
    char errbuf[512];
    PGresult *res;
    PGconn *conn;
    int err;

    if (pg_flush(s) < 0)
        aiops_warn("store", "postgresql: loading checkpoints without the latest ones");
    err = connect_blocking(ps, &conn, errbuf, sizeof(errbuf));
    if (err < 0) {
        aiops_error("store", "loading checkpoints: %s", errbuf);
        return err;
    }
    /* Binary results: the state comes back as the bytes saved, not as bytea's hex text. */
    res = PQexecParams(conn, "SELECT series_key, state FROM checkpoints", 0, NULL, NULL, NULL, NULL,
                       1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(res);

        aiops_error("store", "postgresql: reading checkpoints from %s failed: %.*s", ps->shown,
                    (int)strcspn(msg, "\n"), msg);
        err = AIOPS_EIO;
    }
    for (int i = 0; err == 0 && i < PQntuples(res); i++) {
        /* text columns in binary format are their bytes, without a NUL: copy the key. */
        int klen = PQgetlength(res, i, 0);
        char *key = aiops_strndup(PQgetvalue(res, i, 0), (size_t)klen);

        if (key == NULL) {
            err = AIOPS_ENOMEM;
            break;
        }
        err = fn(ctx, key, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        aiops_free(key);
    }
    PQclear(res);
    PQfinish(conn);
    return err;
}

static bool pg_is_connected(struct aiops_store *s)
{
    struct pg_store *ps = (struct pg_store *)s;
    bool connected;

    uv_mutex_lock(&ps->lock);
    connected = ps->connected;
    uv_mutex_unlock(&ps->lock);
    return connected;
}

/* The value of a column, NULL for SQL NULL. */
static const char *value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t value_int(const PGresult *res, int row, int col)
{
    const char *v = value(res, row, col);

    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static double value_double(const PGresult *res, int row, int col)
{
    const char *v = value(res, row, col);

    return v != NULL ? strtod(v, NULL) : 0;
}

/* Row i of a query_events result; the strings point into res. */
static void read_event(const PGresult *res, int i, struct aiops_event *e)
{
    const char *status = value(res, i, 4), *labels = value(res, i, 3);
    const char *incident = value(res, i, 15);

    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(res, i, 0));
    e->resource_id = value(res, i, 1);
    e->metric = value(res, i, 2);
    e->labels_json = labels != NULL ? labels : "{}";
    e->status =
        status != NULL && strcmp(status, "resolved") == 0 ? AIOPS_EVENT_RESOLVED : AIOPS_EVENT_OPEN;
    e->start_ms = value_int(res, i, 5);
    e->end_ms = value_int(res, i, 6);
    e->duration_seconds = value_double(res, i, 7);
    e->max_score = value_double(res, i, 8);
    e->anomaly_points = value_int(res, i, 9);
    e->peak_value = value_double(res, i, 10);
    e->priority = value_double(res, i, 11);
    e->severity = value(res, i, 12);
    e->method = value(res, i, 13);
    e->reason = value(res, i, 14);
    snprintf(e->incident_id, sizeof(e->incident_id), "%s", incident != NULL ? incident : "");
    e->updated_ms = value_int(res, i, 16);
    e->version = (uint32_t)value_int(res, i, 17);
}

/* Gives the batch in hand up to QUERY_FLUSH_MS, then reads on a short-lived blocking
 * connection of its own (the store's is non-blocking and may be mid-batch), bounded by
 * QUERY_CONNECT_TIMEOUT and QUERY_STATEMENT_TIMEOUT so a dead database holds the loop only
 * briefly; while the store knows the database is down it fails at once. Only the filters set
 * become SQL, so the planner can use the indexes. Times come back as epoch ms. */
static int pg_query_events(struct aiops_store *s, const struct aiops_event_query *q,
                           aiops_event_fn fn, void *ctx)
{
    static const char *const keywords[] = {"dbname", "connect_timeout", NULL};
    struct pg_store *ps = (struct pg_store *)s;
    const char *params[5], *conn_values[] = {ps->conninfo, QUERY_CONNECT_TIMEOUT, NULL};
    char sql[768], since[NUM_LEN], priority[NUM_LEN], limit[NUM_LEN];
    struct aiops_event e;
    PGresult *res = NULL;
    PGconn *conn;
    int n = 0, err = 0;

    if (!pg_is_connected(s)) {
        aiops_warn("store", "postgresql: events not read: %s is down: %s", ps->shown, ps->why);
        return AIOPS_EIO;
    }
    (void)drive_until_written(ps, uv_hrtime() + (uint64_t)QUERY_FLUSH_MS * MS, false);
    apply(ps);
    snprintf(sql, sizeof(sql),
             "SELECT id, resource_id, metric, labels::text, status,"
             " round(extract(epoch FROM start_time) * 1000)::bigint,"
             " round(extract(epoch FROM end_time) * 1000)::bigint, duration_seconds, max_score,"
             " anomaly_points, peak_value, priority, severity, method, reason, incident_id,"
             " round(extract(epoch FROM updated_at) * 1000)::bigint, version FROM events"
             " WHERE true");
    if (q->resource_id != NULL) {
        params[n++] = q->resource_id;
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " AND resource_id = $%d", n);
    }
    if (q->status >= 0) {
        params[n++] = q->status == AIOPS_EVENT_RESOLVED ? "resolved" : "open";
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " AND status = $%d", n);
    }
    if (q->since_ms != INT64_MIN) {
        time_text(q->since_ms, since);
        params[n++] = since;
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " AND end_time >= $%d", n);
    }
    if (q->min_priority > 0) {
        snprintf(priority, sizeof(priority), "%.17g", q->min_priority);
        params[n++] = priority;
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " AND priority >= $%d", n);
    }
    snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " ORDER BY start_time DESC");
    if (q->limit > 0) {
        snprintf(limit, sizeof(limit), "%zu", q->limit);
        params[n++] = limit;
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " LIMIT $%d", n);
    }

    /* dbname expands to the store's URI; the shorter connect_timeout after it wins. */
    conn = PQconnectdbParams(keywords, conn_values, 1);
    if (conn == NULL)
        return AIOPS_ENOMEM;
    PQsetNoticeProcessor(conn, on_notice, NULL);
    if (PQstatus(conn) == CONNECTION_OK)
        res = PQexec(conn, "SET statement_timeout = " QUERY_STATEMENT_TIMEOUT);
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQerrorMessage(conn);

        aiops_error("store", "postgresql: reading events from %s failed: %.*s", ps->shown,
                    (int)strcspn(msg, "\n"), msg);
        err = AIOPS_EIO;
    }
    for (int i = 0; err == 0 && i < PQntuples(res); i++) {
        read_event(res, i, &e);
        err = fn(ctx, &e);
    }
    PQclear(res);
    PQfinish(conn);
    return err;
}

static void pg_stats(struct aiops_store *s, struct aiops_store_stats *out)
{
    struct pg_store *ps = (struct pg_store *)s;

    uv_mutex_lock(&ps->lock);
    out->pruned = ps->pruned;
    out->written = ps->written;
    out->dropped = ps->dropped;
    out->failed = ps->failed;
    out->queued = ps->count + ps->inflight_count;
    out->batches = ps->batches;
    out->retries = ps->retries;
    uv_mutex_unlock(&ps->lock);
}

const struct aiops_store_ops aiops_postgres_store_ops = {
    .scheme = "postgresql",
    .size = sizeof(struct pg_store),
    .open = pg_open,
    .close = pg_close,
    .append_detection = pg_append_detection,
    .append_event = pg_append_event,
    .upsert_event = pg_upsert_event,
    .save_checkpoint = pg_save_checkpoint,
    .load_checkpoints = pg_load_checkpoints,
    .query_events = pg_query_events,
    .pending_seq = pg_pending_seq,
    .flush = pg_flush,
    .is_connected = pg_is_connected,
    .stats = pg_stats,
};
