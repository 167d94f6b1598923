/* SPDX-License-Identifier: MIT */
/* The embedded SQLite store: append copies a row into a bounded ring of fixed slots and one
 * writer thread commits what is waiting in one transaction per batch, so the HTTP path never
 * waits on the disk. Streaming rows (event upserts, checkpoints) wait in an unbounded list
 * beside the ring, because they must never be dropped. The tables are the old Python
 * service's, adopted in place. */
#include "storage/sqlite.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "agent/timestamp.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* Bytes of a row's strings kept inside its slot; a longer row takes one heap block. */
#define SLOT_TEXT 160
/* How long a write waits for another process's lock (PRAGMA busy_timeout), in ms. */
#define BUSY_TIMEOUT_MS 5000
/* "YYYY-MM-DD HH:MM:SS.mmm" and its NUL, with room for years past 9999. */
#define TIME_LEN 32
/* Page cache as PRAGMA cache_size (negative: KiB). SQLite's 2 MiB default spills big batches
 * to the WAL and reads them back; 16 MiB took bench_store from 63k to ~150k rows/s. */
#define CACHE_KIB "-16384"
/* Room for the SQLite error message a failed batch logs. */
#define ERRMSG_LEN 256
/* How long the writer waits before it retries streaming rows whose batch failed, in ms. */
#define RETRY_MS 1000
/* How long query_events waits for queued rows to be written first, in ms: a history view may
 * lag the live one slightly, but an API request must not wait on a slow disk. */
#define QUERY_FLUSH_MS 100

enum row_kind { ROW_DETECTION, ROW_EVENT, ROW_UPSERT, ROW_CHECKPOINT };

/* Retention (see store.h): each statement deletes at most PRUNE_CHUNK expired rows in its own
 * transaction, so writes and queries get the database between chunks. History rows are taken
 * oldest first by rowid (they are appended in time order, so no index on the time is needed);
 * a chunk deleting fewer than PRUNE_CHUNK rows has reached the first row to keep. */
#define PRUNE_CHUNK   5000
#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
static const char *const prune_sql[] = {
    "DELETE FROM detection_history WHERE rowid IN (SELECT rowid FROM detection_history"
    " ORDER BY rowid LIMIT " STRINGIFY(PRUNE_CHUNK) ") AND created_at < ?1",
    "DELETE FROM anomaly_events WHERE rowid IN (SELECT rowid FROM anomaly_events"
    " ORDER BY rowid LIMIT " STRINGIFY(PRUNE_CHUNK) ") AND created_at < ?1",
    "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE start_time < ?1"
    " AND updated_at < ?1 AND status = 'resolved' LIMIT " STRINGIFY(PRUNE_CHUNK) ")",
    "DELETE FROM checkpoints WHERE rowid IN (SELECT rowid FROM checkpoints"
    " WHERE updated_at < ?1 LIMIT " STRINGIFY(PRUNE_CHUNK) ")",
};
#define N_PRUNE (sizeof(prune_sql) / sizeof(prune_sql[0]))

/* One queued streaming row (ROW_UPSERT or ROW_CHECKPOINT): one heap block holding the row and
 * the strings and blob it points to. */
struct stream_row {
    struct stream_row *next;
    uint8_t kind;       /* enum row_kind */
    uint64_t seq;       /* the pipeline's sequence number (upserts) */
    int64_t created_ms; /* ms since epoch, when it was queued (checkpoints' updated_at) */
    union {
        struct aiops_event e; /* strings point into data */
        struct {
            const char *key;  /* points into data */
            const void *blob; /* points into data */
            size_t len;
        } c;
    } u;
    char data[];
};

/* One queued row. Its string pointers point into text or heap, so it never moves. */
struct slot {
    union {
        struct aiops_detection_record d;
        struct aiops_event_record e;
    } u;
    char *heap;   /* owned; NULL when the strings fit in text */
    uint8_t kind; /* enum row_kind */
    char text[SLOT_TEXT];
};

struct sqlite_store {
    struct aiops_store base;
    sqlite3 *db; /* used by the writer thread only, once it runs */
    sqlite3_stmt *insert_detection;
    sqlite3_stmt *insert_event;
    sqlite3_stmt *upsert_event;
    sqlite3_stmt *save_checkpoint;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *prune[N_PRUNE];
    char *path;         /* owned; the file (or ":memory:"), for messages */
    struct slot *slots; /* owned; a ring of base.queue_max slots */
    uv_thread_t writer;
    uv_mutex_t db_lock;  /* held around every use of db once the writer runs */
    uv_mutex_t lock;     /* guards every field below */
    uv_cond_t wake;      /* the writer waits here for rows, a flush or stopping */
    uv_cond_t done;      /* flushes wait here for `finished` to move */
    size_t head;         /* oldest queued slot */
    size_t count;        /* slots in use, the batch being written included */
    uint64_t accepted;   /* rows ever queued */
    uint64_t finished;   /* rows ever written or failed; accepted - finished == count */
    uint64_t flush_upto; /* write at once, without waiting batch_ms, until finished gets here */
    struct stream_row *stream_head; /* owned; streaming rows waiting, oldest first */
    struct stream_row **stream_tail;
    struct stream_row *inflight; /* owned; the streaming rows of the batch being written */
    size_t stream_count;         /* rows in stream_head's list */
    size_t inflight_count;       /* rows in inflight's list */
    uint64_t stream_accepted;    /* streaming rows ever queued */
    uint64_t stream_finished;    /* streaming rows ever committed (or dropped at close) */
    uint64_t stream_flush_upto;  /* like flush_upto, for stream_finished */
    uint64_t batch_failures;     /* batches that failed; wakes flushes waiting on retries */
    uint64_t retry_at;           /* uv_hrtime() before which no batch is tried after a failure */
    uint64_t pruned;
    uint64_t written;
    uint64_t dropped;
    uint64_t failed;
    uint64_t batches;
    uint64_t retries;
    bool stopping; /* close was called: write what is left, then exit */
    bool connected;
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS detection_history ("
    " id INTEGER PRIMARY KEY, resource_id TEXT, metric_name TEXT, method TEXT,"
    " sensitivity TEXT, total_points INTEGER, anomaly_count INTEGER,"
    " anomaly_percentage REAL, detection_time_ms REAL, created_at TIMESTAMP);"
    "CREATE TABLE IF NOT EXISTS anomaly_events ("
    " id INTEGER PRIMARY KEY, resource_id TEXT, metric_name TEXT, start_time TIMESTAMP,"
    " end_time TIMESTAMP, duration_seconds REAL, max_score REAL, anomaly_points INTEGER,"
    " peak_value REAL, priority REAL, created_at TIMESTAMP);"
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP);"
    /* Version 2: streaming events, one row per id (the latest version), and detector state. */
    "CREATE TABLE IF NOT EXISTS events ("
    " id TEXT PRIMARY KEY, resource_id TEXT, metric TEXT, labels TEXT, status TEXT,"
    " start_time TIMESTAMP, end_time TIMESTAMP, duration_seconds REAL, max_score REAL,"
    " anomaly_points INTEGER, peak_value REAL, priority REAL, severity TEXT, method TEXT,"
    " reason TEXT, incident_id TEXT, updated_at TIMESTAMP, version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " series_key TEXT PRIMARY KEY, state BLOB NOT NULL, updated_at TIMESTAMP);";

static const char *const index_sql =
    "CREATE INDEX IF NOT EXISTS ix_detection_history_resource_metric_created"
    " ON detection_history (resource_id, metric_name, created_at);"
    "CREATE INDEX IF NOT EXISTS ix_anomaly_events_resource_metric_created"
    " ON anomaly_events (resource_id, metric_name, created_at);"
    "CREATE INDEX IF NOT EXISTS ix_events_resource_metric_start"
    " ON events (resource_id, metric, start_time);"
    /* query_events' newest-first order without a resource. */
    "CREATE INDEX IF NOT EXISTS ix_events_start ON events (start_time);";

/* Every column after id, so tables the Python service created get what they lack. */
static const struct {
    const char *table;
    const char *column;
    const char *decl;
} columns[] = {
    {"detection_history", "resource_id", "TEXT"},
    {"detection_history", "metric_name", "TEXT"},
    {"detection_history", "method", "TEXT"},
    {"detection_history", "sensitivity", "TEXT"},
    {"detection_history", "total_points", "INTEGER"},
    {"detection_history", "anomaly_count", "INTEGER"},
    {"detection_history", "anomaly_percentage", "REAL"},
    {"detection_history", "detection_time_ms", "REAL"},
    {"detection_history", "created_at", "TIMESTAMP"},
    {"anomaly_events", "resource_id", "TEXT"},
    {"anomaly_events", "metric_name", "TEXT"},
    {"anomaly_events", "start_time", "TIMESTAMP"},
    {"anomaly_events", "end_time", "TIMESTAMP"},
    {"anomaly_events", "duration_seconds", "REAL"},
    {"anomaly_events", "max_score", "REAL"},
    {"anomaly_events", "anomaly_points", "INTEGER"},
    {"anomaly_events", "peak_value", "REAL"},
    {"anomaly_events", "priority", "REAL"},
    {"anomaly_events", "created_at", "TIMESTAMP"},
};

static int from_sqlite(int rc)
{
    return rc == SQLITE_NOMEM ? AIOPS_ENOMEM : AIOPS_EIO;
}

/* ms since epoch to "YYYY-MM-DD HH:MM:SS.mmm" UTC, the text SQLAlchemy's DateTime keeps in
 * SQLite (to ms here). Returns the length. */
static int format_time(int64_t ms, char out[TIME_LEN])
{
    return (int)aiops_time_format_sql(ms, out, TIME_LEN);
}

/* Splits the URL into the file SQLite opens: sqlite:///rel, sqlite:////abs, and ":memory:" for
 * sqlite://, sqlite://:memory:, sqlite:///:memory:. The "+driver" was already ignored by the
 * registry. Returns 0 or AIOPS_EINVAL with errbuf. */
static int parse_url(const char *url, const char **path, char *errbuf, size_t errlen)
{
    const char *rest = strstr(url, "://");

    if (rest == NULL) {
        snprintf(errbuf, errlen, "sqlite: URL '%s' is not sqlite:///path", url);
        return AIOPS_EINVAL;
    }
    rest += 3;
    if (strchr(rest, '?') != NULL) {
        snprintf(errbuf, errlen, "sqlite: URL '%s': query parameters are not supported", url);
        return AIOPS_EINVAL;
    }
    if (*rest == '\0' || strcmp(rest, ":memory:") == 0) {
        *path = ":memory:";
        return 0;
    }
    if (*rest != '/') {
        snprintf(errbuf, errlen,
                 "sqlite: URL '%s' names a host; write sqlite:///relative.db or "
                 "sqlite:////absolute.db",
                 url);
        return AIOPS_EINVAL;
    }
    rest++;
    *path = *rest == '\0' ? ":memory:" : rest;
    return 0;
}

/* Runs one statement that returns a single integer (a PRAGMA, a count). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int has_column(sqlite3 *db, const char *table, const char *column, bool *out)
{
    sqlite3_stmt *st;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
                            NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

/* The schema version a database says it has: PRAGMA user_version, or the schema_version
 * table when that says more. */
static int read_version(sqlite3 *db, int64_t *out)
{
    int64_t pragma = 0, exists = 0, table = 0;
    int rc;

    rc = query_int(db, "PRAGMA user_version", &pragma);
    if (rc == SQLITE_OK)
        rc = query_int(db,
                       "SELECT count(*) FROM sqlite_master"
                       " WHERE type = 'table' AND name = 'schema_version'",
                       &exists);
    if (rc == SQLITE_OK && exists)
        rc = query_int(db, "SELECT coalesce(max(version), 0) FROM schema_version", &table);
    if (rc == SQLITE_OK)
        *out = pragma > table ? pragma : table;
    return rc;
}

/* Creates the tables, or adopts those the Python service left (adding missing columns), and
 * stamps AIOPS_SQLITE_SCHEMA_VERSION, all in one transaction. A newer schema is refused. */
static int migrate(struct sqlite_store *ss, char *errbuf, size_t errlen)
{
    sqlite3 *db = ss->db;
    char sql[160], now[TIME_LEN];
    int64_t version;
    bool present;
    int rc;

    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err_report;
    rc = read_version(db, &version);
    if (rc != SQLITE_OK)
        goto err_rollback;
    if (version > AIOPS_SQLITE_SCHEMA_VERSION) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        snprintf(errbuf, errlen,
                 "sqlite: database '%s' has schema version %" PRId64
                 ", newer than the %d this build knows; upgrade aiops-agent or use another file",
                 ss->path, version, AIOPS_SQLITE_SCHEMA_VERSION);
        return AIOPS_EINVAL;
    }
    rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof(columns) / sizeof(columns[0]); i++) {
        rc = has_column(db, columns[i].table, columns[i].column, &present);
        if (rc != SQLITE_OK || present)
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", columns[i].table,
                 columns[i].column, columns[i].decl);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, index_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && version < AIOPS_SQLITE_SCHEMA_VERSION) {
        format_time((int64_t)time(NULL) * 1000, now);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_version VALUES (%d, '%s'); PRAGMA user_version = %d",
                 AIOPS_SQLITE_SCHEMA_VERSION, now, AIOPS_SQLITE_SCHEMA_VERSION);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        goto err_rollback;
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err_rollback;
    return 0;
err_rollback:
    snprintf(errbuf, errlen, "sqlite: cannot set up the schema in '%s': %s", ss->path,
             sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return from_sqlite(rc);
err_report:
    snprintf(errbuf, errlen, "sqlite: cannot set up the schema in '%s': %s", ss->path,
             sqlite3_errmsg(db));
    return from_sqlite(rc);
}

static int prepare(struct sqlite_store *ss, char *errbuf, size_t errlen)
{
    static const char *const sql[] = {
        "INSERT INTO detection_history (resource_id, metric_name, method, sensitivity,"
        " total_points, anomaly_count, anomaly_percentage, detection_time_ms, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO anomaly_events (resource_id, metric_name, start_time, end_time,"
        " duration_seconds, max_score, anomaly_points, peak_value, priority, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        /* A retried or re-sent version never rolls an event back to an older one. */
        "INSERT INTO events (id, resource_id, metric, labels, status, start_time, end_time,"
        " duration_seconds, max_score, anomaly_points, peak_value, priority, severity, method,"
        " reason, incident_id, updated_at, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET resource_id = excluded.resource_id,"
        " metric = excluded.metric, labels = excluded.labels, status = excluded.status,"
        " start_time = excluded.start_time, end_time = excluded.end_time,"
        " duration_seconds = excluded.duration_seconds, max_score = excluded.max_score,"
        " anomaly_points = excluded.anomaly_points, peak_value = excluded.peak_value,"
        " priority = excluded.priority, severity = excluded.severity,"
        " method = excluded.method, reason = excluded.reason,"
        " incident_id = excluded.incident_id, updated_at = excluded.updated_at,"
        " version = excluded.version WHERE excluded.updated_at >= events.updated_at",
        "INSERT INTO checkpoints (series_key, state, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (series_key) DO UPDATE SET state = excluded.state,"
        " updated_at = excluded.updated_at",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK",
    };
    sqlite3_stmt **out[] = {&ss->insert_detection, &ss->insert_event, &ss->upsert_event,
                            &ss->save_checkpoint,  &ss->begin,        &ss->commit,
                            &ss->rollback};
    int rc;

    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) + N_PRUNE; i++) {
        size_t n_sql = sizeof(sql) / sizeof(sql[0]);

        if (i < n_sql)
            rc = sqlite3_prepare_v3(ss->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, out[i], NULL);
        else
            rc = sqlite3_prepare_v3(ss->db, prune_sql[i - n_sql], -1, SQLITE_PREPARE_PERSISTENT,
                                    &ss->prune[i - n_sql], NULL);
        if (rc != SQLITE_OK) {
            snprintf(errbuf, errlen, "sqlite: cannot prepare statements for '%s': %s", ss->path,
                     sqlite3_errmsg(ss->db));
            return from_sqlite(rc);
        }
    }
    return 0;
}

static void finalize_all(struct sqlite_store *ss)
{
    sqlite3_finalize(ss->insert_detection);
    sqlite3_finalize(ss->insert_event);
    sqlite3_finalize(ss->upsert_event);
    sqlite3_finalize(ss->save_checkpoint);
    sqlite3_finalize(ss->begin);
    sqlite3_finalize(ss->commit);
    sqlite3_finalize(ss->rollback);
    for (size_t i = 0; i < N_PRUNE; i++)
        sqlite3_finalize(ss->prune[i]);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC); /* the slot outlives the step */
}

static void bind_time(sqlite3_stmt *st, int col, int64_t ms)
{
    char text[TIME_LEN];
    int len = format_time(ms, text);

    sqlite3_bind_text(st, col, text, len, SQLITE_TRANSIENT);
}

static int insert(struct sqlite_store *ss, const struct slot *sl)
{
    sqlite3_stmt *st;
    int rc;

    if (sl->kind == ROW_DETECTION) {
        const struct aiops_detection_record *r = &sl->u.d;

        st = ss->insert_detection;
        bind_text(st, 1, r->resource_id);
        bind_text(st, 2, r->metric_name);
        bind_text(st, 3, r->method);
        bind_text(st, 4, r->sensitivity);
        sqlite3_bind_int64(st, 5, r->total_points);
        sqlite3_bind_int64(st, 6, r->anomaly_count);
        sqlite3_bind_double(st, 7, r->anomaly_percentage);
        sqlite3_bind_double(st, 8, r->detection_time_ms);
        bind_time(st, 9, r->created_at_ms);
    } else {
        const struct aiops_event_record *r = &sl->u.e;

        st = ss->insert_event;
        bind_text(st, 1, r->resource_id);
        bind_text(st, 2, r->metric_name);
        bind_time(st, 3, r->start_ms);
        bind_time(st, 4, r->end_ms);
        sqlite3_bind_double(st, 5, r->duration_seconds);
        sqlite3_bind_double(st, 6, r->max_score);
        sqlite3_bind_int64(st, 7, r->anomaly_points);
        sqlite3_bind_double(st, 8, r->peak_value);
        sqlite3_bind_double(st, 9, r->priority);
        bind_time(st, 10, r->created_at_ms);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static const char *status_name(enum aiops_event_status status)
{
    return status == AIOPS_EVENT_RESOLVED ? "resolved" : "open";
}

static int insert_stream(struct sqlite_store *ss, const struct stream_row *row)
{
    sqlite3_stmt *st;
    int rc;

    if (row->kind == ROW_UPSERT) {
        const struct aiops_event *e = &row->u.e;

        st = ss->upsert_event;
        bind_text(st, 1, e->id);
        bind_text(st, 2, e->resource_id);
        bind_text(st, 3, e->metric);
        bind_text(st, 4, e->labels_json != NULL ? e->labels_json : "{}");
        bind_text(st, 5, status_name(e->status));
        bind_time(st, 6, e->start_ms);
        bind_time(st, 7, e->end_ms);
        sqlite3_bind_double(st, 8, e->duration_seconds);
        sqlite3_bind_double(st, 9, e->max_score);
        sqlite3_bind_int64(st, 10, e->anomaly_points);
        sqlite3_bind_double(st, 11, e->peak_value);
        sqlite3_bind_double(st, 12, e->priority);
        bind_text(st, 13, e->severity);
        bind_text(st, 14, e->method);
        bind_text(st, 15, e->reason);
        bind_text(st, 16, e->incident_id[0] != '\0' ? e->incident_id : NULL);
        bind_time(st, 17, e->updated_ms);
        sqlite3_bind_int64(st, 18, e->version);
    } else {
        st = ss->save_checkpoint;
        bind_text(st, 1, row->u.c.key);
        sqlite3_bind_blob(st, 2, row->u.c.blob, (int)row->u.c.len, SQLITE_STATIC);
        bind_time(st, 3, row->created_ms);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Writes slots [head, head + n) of the ring and the streaming rows in `stream` in one
 * transaction. Writer thread only, without the lock: appends never touch these slots until
 * `count` gives them back, nor the rows of `inflight`. On failure, why is copied into
 * why[ERRMSG_LEN] before the rollback clears it. */
static int write_batch(struct sqlite_store *ss, size_t head, size_t n,
                       const struct stream_row *stream, char *why)
{
    size_t max = ss->base.queue_max;
    int rc;

    rc = run(ss->begin);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
        rc = insert(ss, &ss->slots[(head + i) % max]);
    for (const struct stream_row *row = stream; rc == SQLITE_OK && row != NULL; row = row->next)
        rc = insert_stream(ss, row);
    if (rc == SQLITE_OK)
        rc = run(ss->commit);
    if (rc != SQLITE_OK) {
        snprintf(why, ERRMSG_LEN, "%s", sqlite3_errmsg(ss->db));
        if (!sqlite3_get_autocommit(ss->db))
            run(ss->rollback);
    }
    return rc;
}

static void free_rows(struct stream_row *row)
{
    while (row != NULL) {
        struct stream_row *next = row->next;

        aiops_free(row);
        row = next;
    }
}

/* Settles the streaming rows of a batch, with the lock held: committed rows are freed; after a
 * failure they go back to the front of the list to be retried, unless the store is closing. */
static void settle_stream(struct sqlite_store *ss, bool ok)
{
    struct stream_row *rows = ss->inflight, **last = &rows;
    size_t m = ss->inflight_count;

    ss->inflight = NULL;
    ss->inflight_count = 0;
    if (m == 0)
        return;
    if (ok || ss->stopping) {
        if (!ok) {
            aiops_error("store", "sqlite: %zu event and checkpoint rows for '%s' are lost", m,
                        ss->path);
            ss->failed += m;
        }
        ss->stream_finished += m;
        free_rows(rows);
        return;
    }
    while (*last != NULL)
        last = &(*last)->next;
    *last = ss->stream_head;
    if (ss->stream_head == NULL)
        ss->stream_tail = last;
    ss->stream_head = rows;
    ss->stream_count += m;
    ss->retries++;
}

/* Deletes what the retention lets go (writer thread). Returns the rows deleted; a failure is
 * logged and what is left waits for the next round. */
static uint64_t prune(struct sqlite_store *ss)
{
    int64_t before = aiops_store_prune_before_ms(&ss->base);
    uint64_t total = 0;

    for (size_t i = 0; i < N_PRUNE && before != INT64_MIN; i++) {
        int rc, n;

        do {
            uv_mutex_lock(&ss->db_lock);
            bind_time(ss->prune[i], 1, before);
            rc = sqlite3_step(ss->prune[i]);
            n = sqlite3_changes(ss->db);
            sqlite3_reset(ss->prune[i]);
            if (rc != SQLITE_DONE)
                aiops_warn("store", "sqlite: deleting rows past the retention from '%s' failed: %s",
                           ss->path, sqlite3_errmsg(ss->db));
            uv_mutex_unlock(&ss->db_lock);
            if (rc == SQLITE_DONE)
                total += (uint64_t)n;
        } while (rc == SQLITE_DONE && n >= PRUNE_CHUNK);
    }
    if (total > 0)
        aiops_info("store", "sqlite: deleted %" PRIu64 " rows older than %" PRIu32 " days", total,
                   ss->base.retention_days);
    return total;
}

static void writer_main(void *arg)
{
    struct sqlite_store *ss = arg;
    uint64_t deadline = 0; /* uv_hrtime() by which waiting rows are written; 0: none wait */
    uint64_t prune_at = 0; /* uv_hrtime() of the next retention round */
    size_t head, n, m, max = ss->base.queue_max;
    char why[ERRMSG_LEN];
    bool hurry;
    int rc;

    uv_mutex_lock(&ss->lock);
    for (;;) {
        uint64_t now = uv_hrtime();

        n = ss->count;
        m = ss->stream_count;
        if (ss->base.retention_days > 0 && now >= prune_at && !ss->stopping) {
            uint64_t pruned;

            uv_mutex_unlock(&ss->lock);
            pruned = prune(ss);
            uv_mutex_lock(&ss->lock);
            ss->pruned += pruned;
            prune_at = now + (uint64_t)AIOPS_STORE_PRUNE_EVERY_S * 1000000000u;
            continue;
        }
        if (n + m == 0) {
            deadline = 0;
            if (ss->stopping)
                break;
            if (ss->base.retention_days > 0)
                (void)uv_cond_timedwait(&ss->wake, &ss->lock, prune_at - now);
            else
                uv_cond_wait(&ss->wake, &ss->lock);
            continue;
        }
        if (!ss->stopping && now < ss->retry_at) { /* a batch just failed: do not spin */
            (void)uv_cond_timedwait(&ss->wake, &ss->lock, ss->retry_at - now);
            continue;
        }
        hurry = ss->stopping || ss->flush_upto > ss->finished ||
                ss->stream_flush_upto > ss->stream_finished || n + m >= AIOPS_SQLITE_BATCH_ROWS;
        if (!hurry) {
            if (deadline == 0)
                deadline = now + (uint64_t)ss->base.batch_ms * 1000000u;
            if (now < deadline) {
                (void)uv_cond_timedwait(&ss->wake, &ss->lock, deadline - now);
                continue;
            }
        }
        deadline = 0;
        head = ss->head;
        ss->inflight = ss->stream_head;
        ss->inflight_count = m;
        ss->stream_head = NULL;
        ss->stream_tail = &ss->stream_head;
        ss->stream_count = 0;
        uv_mutex_unlock(&ss->lock);

        uv_mutex_lock(&ss->db_lock);
        rc = write_batch(ss, head, n, ss->inflight, why);
        uv_mutex_unlock(&ss->db_lock);
        if (rc != SQLITE_OK && ss->connected) /* only this thread changes connected now */
            aiops_warn("store", "sqlite: writing %zu rows to '%s' failed: %s", n + m, ss->path,
                       why);
        else if (rc == SQLITE_OK && !ss->connected)
            aiops_info("store", "sqlite: writes to '%s' work again", ss->path);
        for (size_t i = 0; i < n; i++) {
            struct slot *sl = &ss->slots[(head + i) % max];

            aiops_free(sl->heap);
            sl->heap = NULL;
        }

        uv_mutex_lock(&ss->lock);
        ss->head = (head + n) % max;
        ss->count -= n;
        ss->finished += n;
        settle_stream(ss, rc == SQLITE_OK);
        if (rc == SQLITE_OK) {
            ss->written += n + m;
            ss->batches++;
        } else {
            ss->failed += n;
            ss->batch_failures++;
            ss->retry_at = uv_hrtime() + (uint64_t)RETRY_MS * 1000000u;
        }
        ss->connected = rc == SQLITE_OK;
        uv_cond_broadcast(&ss->done);
    }
    uv_mutex_unlock(&ss->lock);
}

static int sqlite_open(struct aiops_store *s, const char *url, char *errbuf, size_t errlen)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    const char *path;
    int rc, err;

    err = parse_url(url, &path, errbuf, errlen);
    if (err < 0)
        return err;
    ss->path = aiops_strdup(path);
    if (ss->path == NULL) {
        snprintf(errbuf, errlen, "sqlite: out of memory opening '%s'", path);
        return AIOPS_ENOMEM;
    }
    rc = sqlite3_open_v2(path, &ss->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
    /* WAL lets readers (dashboards, sqlite3) in while the writer commits; ":memory:" keeps
     * its own journal and answers "memory". */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ss->db,
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                          " PRAGMA cache_size = " CACHE_KIB,
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite: cannot open database '%s': %s", path,
                 ss->db != NULL ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc));
        err = from_sqlite(rc);
        goto err_close_db;
    }
    err = migrate(ss, errbuf, errlen);
    if (err < 0)
        goto err_close_db;
    err = prepare(ss, errbuf, errlen);
    if (err < 0)
        goto err_finalize;
    ss->slots = aiops_calloc(s->queue_max, sizeof(*ss->slots));
    if (ss->slots == NULL) {
        snprintf(errbuf, errlen, "sqlite: out of memory for a queue of %" PRIu32 " rows",
                 s->queue_max);
        err = AIOPS_ENOMEM;
        goto err_finalize;
    }
    ss->stream_tail = &ss->stream_head;
    err = uv_mutex_init(&ss->lock);
    if (err < 0)
        goto err_free_slots;
    err = uv_mutex_init(&ss->db_lock);
    if (err < 0)
        goto err_destroy_lock;
    err = uv_cond_init(&ss->wake);
    if (err < 0)
        goto err_destroy_db_lock;
    err = uv_cond_init(&ss->done);
    if (err < 0)
        goto err_destroy_wake;
    ss->connected = true;
    err = uv_thread_create(&ss->writer, writer_main, ss);
    if (err < 0)
        goto err_destroy_done;
    return 0;
err_destroy_done:
    uv_cond_destroy(&ss->done);
err_destroy_wake:
    uv_cond_destroy(&ss->wake);
err_destroy_db_lock:
    uv_mutex_destroy(&ss->db_lock);
err_destroy_lock:
    uv_mutex_destroy(&ss->lock);
err_free_slots:
    /* only the uv_* calls reach here with nothing in errbuf yet */
    snprintf(errbuf, errlen, "sqlite: cannot start the writer for '%s': %s", path,
             uv_strerror(err));
    aiops_free(ss->slots);
err_finalize:
    finalize_all(ss);
err_close_db:
    sqlite3_close(ss->db); /* also after a failed sqlite3_open_v2, which leaves a handle */
    aiops_free(ss->path);
    return err;
}

static void sqlite_close(struct aiops_store *s)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;

    uv_mutex_lock(&ss->lock);
    ss->stopping = true;
    uv_cond_signal(&ss->wake);
    uv_mutex_unlock(&ss->lock);
    uv_thread_join(&ss->writer); /* it writes all that is queued before it returns */
    assert(ss->count == 0 && ss->stream_head == NULL && ss->inflight == NULL);
    uv_cond_destroy(&ss->done);
    uv_cond_destroy(&ss->wake);
    uv_mutex_destroy(&ss->db_lock);
    uv_mutex_destroy(&ss->lock);
    aiops_free(ss->slots);
    finalize_all(ss);
    if (sqlite3_close(ss->db) != SQLITE_OK)
        aiops_warn("store", "sqlite: closing '%s' failed: %s", ss->path, sqlite3_errmsg(ss->db));
    aiops_free(ss->path);
}

/* Copies the n strings *fields point to into dst and points the fields at the copies. */
static void copy_strings(char *dst, const char **const fields[], const size_t len[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*fields[i] == NULL)
            continue;
        memcpy(dst, *fields[i], len[i] + 1);
        *fields[i] = dst;
        dst += len[i] + 1;
    }
}

/* Queues one row: rec is copied into the next free slot and the n strings its fields point
 * to (fields index into rec) are copied after it. Cheap: one lock, no allocation unless the
 * strings outgrow SLOT_TEXT. */
static int enqueue(struct sqlite_store *ss, enum row_kind kind, const void *rec, size_t size,
                   const size_t offsets[], size_t n)
{
    const char **fields[4];
    size_t len[4], total = 0, max = ss->base.queue_max;
    char *heap = NULL;
    struct slot *sl;

    assert(n <= 4);
    for (size_t i = 0; i < n; i++) {
        const char *str = *(const char *const *)((const char *)rec + offsets[i]);

        len[i] = str != NULL ? strlen(str) : 0;
        total += str != NULL ? len[i] + 1 : 0;
    }
    if (total > SLOT_TEXT) {
        heap = aiops_malloc(total);
        if (heap == NULL) {
            uv_mutex_lock(&ss->lock);
            ss->dropped++;
            uv_mutex_unlock(&ss->lock);
            return AIOPS_ENOMEM;
        }
    }

    uv_mutex_lock(&ss->lock);
    if (ss->count == max) {
        ss->dropped++;
        uv_mutex_unlock(&ss->lock);
        aiops_free(heap);
        return AIOPS_EBUSY;
    }
    sl = &ss->slots[(ss->head + ss->count) % max];
    memcpy(&sl->u, rec, size);
    sl->kind = (uint8_t)kind;
    sl->heap = heap;
    for (size_t i = 0; i < n; i++)
        fields[i] = (const char **)((char *)&sl->u + offsets[i]);
    copy_strings(heap != NULL ? heap : sl->text, fields, len, n);
    ss->count++;
    ss->accepted++;
    /* Wake the writer to start its batch_ms clock, or to write a full batch now. */
    if (ss->count == 1 || ss->count == AIOPS_SQLITE_BATCH_ROWS)
        uv_cond_signal(&ss->wake);
    uv_mutex_unlock(&ss->lock);
    return 0;
}

static int sqlite_append_detection(struct aiops_store *s, const struct aiops_detection_record *r)
{
    static const size_t offsets[] = {
        offsetof(struct aiops_detection_record, resource_id),
        offsetof(struct aiops_detection_record, metric_name),
        offsetof(struct aiops_detection_record, method),
        offsetof(struct aiops_detection_record, sensitivity),
    };

    return enqueue((struct sqlite_store *)s, ROW_DETECTION, r, sizeof(*r), offsets, 4);
}

static int sqlite_append_event(struct aiops_store *s, const struct aiops_event_record *r)
{
    static const size_t offsets[] = {
        offsetof(struct aiops_event_record, resource_id),
        offsetof(struct aiops_event_record, metric_name),
    };

    return enqueue((struct sqlite_store *)s, ROW_EVENT, r, sizeof(*r), offsets, 2);
}

/* Queues a streaming row built by the caller; never refused. */
static void enqueue_stream(struct sqlite_store *ss, struct stream_row *row)
{
    row->next = NULL;
    row->created_ms = (int64_t)time(NULL) * 1000;
    uv_mutex_lock(&ss->lock);
    *ss->stream_tail = row;
    ss->stream_tail = &row->next;
    ss->stream_count++;
    ss->stream_accepted++;
    if (ss->count + ss->stream_count == 1 ||
        ss->count + ss->stream_count == AIOPS_SQLITE_BATCH_ROWS)
        uv_cond_signal(&ss->wake);
    uv_mutex_unlock(&ss->lock);
}

/* Copies s (NULL stays NULL) to *pos and returns the copy; *pos moves past it. */
static const char *put_string(char **pos, const char *s)
{
    char *copy = *pos;
    size_t len;

    if (s == NULL)
        return NULL;
    len = strlen(s) + 1;
    memcpy(copy, s, len);
    *pos += len;
    return copy;
}

static size_t string_size(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

static int sqlite_upsert_event(struct aiops_store *s, const struct aiops_event *e, uint64_t seq)
{
    const char *const strings[] = {e->resource_id, e->metric, e->labels_json,
                                   e->severity,    e->method, e->reason};
    size_t size = sizeof(struct stream_row);
    struct stream_row *row;
    char *pos;

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        size += string_size(strings[i]);
    row = aiops_malloc(size);
    if (row == NULL)
        return AIOPS_ENOMEM;
    row->kind = ROW_UPSERT;
    row->seq = seq;
    row->u.e = *e;
    pos = row->data;
    row->u.e.resource_id = put_string(&pos, e->resource_id);
    row->u.e.metric = put_string(&pos, e->metric);
    row->u.e.labels_json = put_string(&pos, e->labels_json);
    row->u.e.severity = put_string(&pos, e->severity);
    row->u.e.method = put_string(&pos, e->method);
    row->u.e.reason = put_string(&pos, e->reason);
    enqueue_stream((struct sqlite_store *)s, row);
    return 0;
}

static int sqlite_save_checkpoint(struct aiops_store *s, const char *series_key, const void *blob,
                                  size_t len)
{
    struct stream_row *row;
    char *pos;

    row = aiops_malloc(sizeof(*row) + strlen(series_key) + 1 + len);
    if (row == NULL)
        return AIOPS_ENOMEM;
    row->kind = ROW_CHECKPOINT;
    row->seq = 0;
    pos = row->data;
    row->u.c.key = put_string(&pos, series_key);
    if (len > 0)
        memcpy(pos, blob, len);
    row->u.c.blob = pos;
    row->u.c.len = len;
    enqueue_stream((struct sqlite_store *)s, row);
    return 0;
}

static uint64_t min_seq(const struct stream_row *row, uint64_t seq)
{
    for (; row != NULL; row = row->next)
        if (row->kind == ROW_UPSERT && row->seq < seq)
            seq = row->seq;
    return seq;
}

static uint64_t sqlite_pending_seq(struct aiops_store *s)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    uint64_t seq;

    uv_mutex_lock(&ss->lock);
    seq = min_seq(ss->stream_head, min_seq(ss->inflight, UINT64_MAX));
    uv_mutex_unlock(&ss->lock);
    return seq;
}

/* Waits until every row queued before the call is written, a batch fails (AIOPS_EIO) or, when
 * timeout_ns is not 0, that long passes (AIOPS_EBUSY). */
static int flush_within(struct sqlite_store *ss, uint64_t timeout_ns)
{
    uint64_t target, stream_target, failures_before, now, end = 0;
    int err = 0;

    uv_mutex_lock(&ss->lock);
    target = ss->accepted;
    stream_target = ss->stream_accepted;
    failures_before = ss->batch_failures;
    if (ss->flush_upto < target)
        ss->flush_upto = target;
    if (ss->stream_flush_upto < stream_target)
        ss->stream_flush_upto = stream_target;
    uv_cond_signal(&ss->wake);
    if (timeout_ns != 0)
        end = uv_hrtime() + timeout_ns;
    /* A failed batch ends the wait: its streaming rows stay queued for the writer's retry. */
    while ((ss->finished < target || ss->stream_finished < stream_target) &&
           ss->batch_failures == failures_before) {
        if (end == 0) {
            uv_cond_wait(&ss->done, &ss->lock);
            continue;
        }
        now = uv_hrtime();
        if (now >= end) {
            err = AIOPS_EBUSY;
            break;
        }
        (void)uv_cond_timedwait(&ss->done, &ss->lock, end - now);
    }
    if (ss->batch_failures > failures_before)
        err = AIOPS_EIO;
    uv_mutex_unlock(&ss->lock);
    return err;
}

static int sqlite_flush(struct aiops_store *s)
{
    return flush_within((struct sqlite_store *)s, 0);
}

/* Flushes what is queued (so checkpoints saved a moment ago are seen), then reads the table on
 * the writer's connection, which also serves ":memory:" databases. */
static int sqlite_load_checkpoints(struct aiops_store *s, aiops_checkpoint_fn fn, void *ctx)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st;
    int rc, err = 0;

    if (sqlite_flush(s) < 0)
        aiops_warn("store", "sqlite: loading checkpoints from '%s' without the latest ones",
                   ss->path);
    uv_mutex_lock(&ss->db_lock);
    rc = sqlite3_prepare_v2(ss->db, "SELECT series_key, state FROM checkpoints", -1, &st, NULL);
    while (rc == SQLITE_OK && err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const void *blob = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);

        err = fn(ctx, key != NULL ? key : "", blob != NULL ? blob : "", len);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        aiops_error("store", "sqlite: reading checkpoints from '%s' failed: %s", ss->path,
                    sqlite3_errmsg(ss->db));
        err = from_sqlite(rc);
    }
    sqlite3_finalize(st);
    uv_mutex_unlock(&ss->db_lock);
    return err;
}

/* ms since epoch from a stored time ("YYYY-MM-DD HH:MM:SS.mmm", or the Python service's
 * microseconds); 0 when NULL or unreadable. */
static int64_t column_time(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    struct aiops_time t;

    if (text == NULL || aiops_time_parse(text, strlen(text), &t) < 0)
        return 0;
    return t.ms;
}

static const char *column_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* The event in the current row; its strings point into st until the next step. */
static void read_event(sqlite3_stmt *st, struct aiops_event *e)
{
    const char *id = column_text(st, 0), *status = column_text(st, 4);
    const char *labels = column_text(st, 3), *incident = column_text(st, 15);

    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id != NULL ? id : "");
    e->resource_id = column_text(st, 1);
    e->metric = column_text(st, 2);
    e->labels_json = labels != NULL ? labels : "{}";
    e->status =
        status != NULL && strcmp(status, "resolved") == 0 ? AIOPS_EVENT_RESOLVED : AIOPS_EVENT_OPEN;
    e->start_ms = column_time(st, 5);
    e->end_ms = column_time(st, 6);
    e->duration_seconds = sqlite3_column_double(st, 7);
    e->max_score = sqlite3_column_double(st, 8);
    e->anomaly_points = sqlite3_column_int64(st, 9);
    e->peak_value = sqlite3_column_double(st, 10);
    e->priority = sqlite3_column_double(st, 11);
    e->severity = column_text(st, 12);
    e->method = column_text(st, 13);
    e->reason = column_text(st, 14);
    snprintf(e->incident_id, sizeof(e->incident_id), "%s", incident != NULL ? incident : "");
    e->updated_ms = column_time(st, 16);
    e->version = (uint32_t)sqlite3_column_int64(st, 17);
}

/* Gives the writer up to QUERY_FLUSH_MS for what is queued, then reads on the writer's
 * connection (which also serves ":memory:" databases) under db_lock: fn must not call the
 * store. Only the filters set become SQL, so the planner can use the indexes. */
static int sqlite_query_events(struct aiops_store *s, const struct aiops_event_query *q,
                               aiops_event_fn fn, void *ctx)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    char sql[640], since[TIME_LEN];
    struct aiops_event e;
    sqlite3_stmt *st = NULL;
    int rc, err = 0, col = 1;

    (void)flush_within(ss, (uint64_t)QUERY_FLUSH_MS * 1000000u);
    snprintf(sql, sizeof(sql),
             "SELECT id, resource_id, metric, labels, status, start_time, end_time,"
             " duration_seconds, max_score, anomaly_points, peak_value, priority, severity,"
             " method, reason, incident_id, updated_at, version FROM events WHERE 1%s%s%s%s"
             " ORDER BY start_time DESC%s",
             q->resource_id != NULL ? " AND resource_id = ?" : "",
             q->status >= 0 ? " AND status = ?" : "",
             q->since_ms != INT64_MIN ? " AND end_time >= ?" : "",
             q->min_priority > 0 ? " AND priority >= ?" : "", q->limit > 0 ? " LIMIT ?" : "");
    uv_mutex_lock(&ss->db_lock);
    rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (q->resource_id != NULL)
            sqlite3_bind_text(st, col++, q->resource_id, -1, SQLITE_STATIC);
        if (q->status >= 0)
            sqlite3_bind_text(st, col++, status_name((enum aiops_event_status)q->status), -1,
                              SQLITE_STATIC);
        if (q->since_ms != INT64_MIN) /* the stored text sorts as the time it spells */
            sqlite3_bind_text(st, col++, since, format_time(q->since_ms, since), SQLITE_STATIC);
        if (q->min_priority > 0)
            sqlite3_bind_double(st, col++, q->min_priority);
        if (q->limit > 0)
            sqlite3_bind_int64(st, col,
                               q->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)q->limit);
    }
    while (rc == SQLITE_OK && err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_event(st, &e);
        err = fn(ctx, &e);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        aiops_error("store", "sqlite: reading events from '%s' failed: %s", ss->path,
                    sqlite3_errmsg(ss->db));
        err = from_sqlite(rc);
    }
    sqlite3_finalize(st);
    uv_mutex_unlock(&ss->db_lock);
    return err;
}

static bool sqlite_is_connected(struct aiops_store *s)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    bool connected;

    uv_mutex_lock(&ss->lock);
    connected = ss->connected;
    uv_mutex_unlock(&ss->lock);
    return connected;
}

static void sqlite_stats(struct aiops_store *s, struct aiops_store_stats *out)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;

    uv_mutex_lock(&ss->lock);
    out->pruned = ss->pruned;
    out->written = ss->written;
    out->dropped = ss->dropped;
    out->failed = ss->failed;
    out->queued = ss->count + ss->stream_count + ss->inflight_count;
    out->batches = ss->batches;
    out->retries = ss->retries;
    uv_mutex_unlock(&ss->lock);
}

const struct aiops_store_ops aiops_sqlite_store_ops = {
    .scheme = "sqlite",
    .size = sizeof(struct sqlite_store),
    .open = sqlite_open,
    .close = sqlite_close,
    .append_detection = sqlite_append_detection,
    .append_event = sqlite_append_event,
    .upsert_event = sqlite_upsert_event,
    .save_checkpoint = sqlite_save_checkpoint,
    .load_checkpoints = sqlite_load_checkpoints,
    .query_events = sqlite_query_events,
    .pending_seq = sqlite_pending_seq,
    .flush = sqlite_flush,
    .is_connected = sqlite_is_connected,
    .stats = sqlite_stats,
};
