/* SPDX-License-Identifier: MIT */
/* The SQLite store through storage/store.h: rows land in the old service's tables, in batches,
 * off the caller's thread; full queues, old and newer databases, bad paths, memory URLs,
 * allocation failures and concurrent appenders. Rows are read back with the sqlite3 API. */
#include "agent/err.h"
#include "agent/mem.h"
#include "agent/timestamp.h"
#include "storage/sqlite.h"
#include "storage/store.h"
#include "tests/storage/support_events.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0      AIOPS_TEST_T0
#define LONG_MS 60000 /* a batch_ms no test waits out */

static char dir[64];
static char db_path[128];
static char url[160];
static char errbuf[512];

static void init(void)
{
    snprintf(dir, sizeof(dir), "/tmp/aiops-sqlite-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(db_path, sizeof(db_path), "%s/history.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", db_path); /* four slashes: an absolute path */
    errbuf[0] = '\0';
}

static void fini(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[400];

    aiops_mem_fail_after(-1);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    aiops_test_check_leaks();
}

TestSuite(sqlite, .init = init, .fini = fini);

static struct aiops_detection_record detection(const char *resource, int64_t i)
{
    return (struct aiops_detection_record){
        .resource_id = resource,
        .metric_name = "cpu_usage",
        .method = "zscore",
        .sensitivity = "medium",
        .total_points = 100 + i,
        .anomaly_count = 3,
        .anomaly_percentage = 3.0,
        .detection_time_ms = 1.5,
        .created_at_ms = T0 + i,
    };
}

static struct aiops_store *open_with(const char *u, struct aiops_store_options o)
{
    struct aiops_store *s = NULL;
    int err = aiops_store_open(&s, u, NULL, &o, errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, 0), "open %s: %s", u, errbuf);
    return s;
}

static struct aiops_store *open_store(const char *u, uint32_t batch_ms, uint32_t queue_max)
{
    return open_with(u, (struct aiops_store_options){.batch_ms = batch_ms, .queue_max = queue_max});
}

static sqlite3 *open_db(void)
{
    sqlite3 *db;

    cr_assert(eq(int, sqlite3_open(db_path, &db), SQLITE_OK));
    return db;
}

/* The one integer `sql` answers. */
static int64_t query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v;

    cr_assert(eq(int, sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK), "%s: %s", sql,
              sqlite3_errmsg(db));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW), "%s", sql);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Column i of the current row as text; Criterion's eq(str) takes char *. */
static char *text(sqlite3_stmt *st, int i)
{
    return (char *)sqlite3_column_text(st, i);
}

static int64_t count_rows(const char *table)
{
    sqlite3 *db = open_db();
    char sql[128];
    int64_t n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    n = query(db, sql);
    sqlite3_close(db);
    return n;
}

Test(sqlite, writes_rows_that_sqlite3_reads_back_after_flush)
{
    struct aiops_store *s = open_store(url, LONG_MS, 100);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_event_record e = {
        .resource_id = "server-01",
        .metric_name = "cpu_usage",
        .start_ms = 0,
        .end_ms = 951782400000 + 5, /* 2000-02-29T00:00:00.005Z */
        .duration_seconds = 300.0,
        .max_score = 4.25,
        .anomaly_points = 7,
        .peak_value = 97.5,
        .priority = 0.8,
        .created_at_ms = T0,
    };
    sqlite3_stmt *st;
    sqlite3 *db;

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_append_event(s, &e), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(aiops_store_is_connected(s));

    db = open_db();
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db,
                                    "SELECT resource_id, metric_name, method, sensitivity,"
                                    " total_points, anomaly_count, anomaly_percentage,"
                                    " detection_time_ms, created_at FROM detection_history",
                                    -1, &st, NULL),
                 SQLITE_OK));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW));
    cr_assert(eq(str, text(st, 0), "server-01"));
    cr_assert(eq(str, text(st, 1), "cpu_usage"));
    cr_assert(eq(str, text(st, 2), "zscore"));
    cr_assert(eq(str, text(st, 3), "medium"));
    cr_assert(eq(i64, sqlite3_column_int64(st, 4), 100));
    cr_assert(eq(i64, sqlite3_column_int64(st, 5), 3));
    cr_assert(eq(dbl, sqlite3_column_double(st, 6), 3.0));
    cr_assert(eq(dbl, sqlite3_column_double(st, 7), 1.5));
    cr_assert(eq(str, text(st, 8), "2026-01-01 00:00:00.123"));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_DONE));
    sqlite3_finalize(st);

    cr_assert(eq(int,
                 sqlite3_prepare_v2(db,
                                    "SELECT resource_id, start_time, end_time, duration_seconds,"
                                    " max_score, anomaly_points, peak_value, priority,"
                                    " created_at FROM anomaly_events",
                                    -1, &st, NULL),
                 SQLITE_OK));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW));
    cr_assert(eq(str, text(st, 0), "server-01"));
    cr_assert(eq(str, text(st, 1), "1970-01-01 00:00:00.000"));
    cr_assert(eq(str, text(st, 2), "2000-02-29 00:00:00.005"));
    cr_assert(eq(dbl, sqlite3_column_double(st, 3), 300.0));
    cr_assert(eq(dbl, sqlite3_column_double(st, 4), 4.25));
    cr_assert(eq(i64, sqlite3_column_int64(st, 5), 7));
    cr_assert(eq(dbl, sqlite3_column_double(st, 6), 97.5));
    cr_assert(eq(dbl, sqlite3_column_double(st, 7), 0.8));
    cr_assert(eq(str, text(st, 8), "2026-01-01 00:00:00.123"));
    sqlite3_finalize(st);

    cr_assert(eq(i64, query(db, "PRAGMA user_version"), AIOPS_SQLITE_SCHEMA_VERSION));
    cr_assert(
        eq(i64, query(db, "SELECT max(version) FROM schema_version"), AIOPS_SQLITE_SCHEMA_VERSION));
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND"
                           " sql LIKE '%(resource_id, metric_name, created_at)%'"),
                 2));
    sqlite3_close(db);
    aiops_store_close(s);
}

Test(sqlite, runs_in_wal_mode)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    sqlite3 *db = open_db();
    sqlite3_stmt *st;

    cr_assert(eq(int, sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW));
    cr_assert(eq(str, text(st, 0), "wal"));
    sqlite3_finalize(st);
    sqlite3_close(db);
    aiops_store_close(s);
}

Test(sqlite, keeps_long_and_missing_strings_intact)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    char long_id[600];
    struct aiops_detection_record d;
    sqlite3 *db;

    memset(long_id, 'r', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    d = detection(long_id, 0);
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    memset(long_id, 'x', 10); /* the store copied it: changing ours changes nothing */
    d = detection(NULL, 1);
    d.sensitivity = NULL;
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));

    db = open_db();
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM detection_history WHERE length(resource_id) ="
                           " 599 AND resource_id NOT LIKE '%x%'"),
                 1));
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM detection_history WHERE resource_id IS NULL"
                           " AND sensitivity IS NULL AND method = 'zscore'"),
                 1));
    sqlite3_close(db);
    aiops_store_close(s);
}

Test(sqlite, writes_many_rows_in_few_transactions)
{
    enum { N = 5000 };
    struct aiops_store *s = open_store(url, 20, 100000);
    struct aiops_store_stats st;

    for (int i = 0; i < N; i++) {
        struct aiops_detection_record d = detection("server-01", i);

        cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    }
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, N));
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(eq(u64, st.dropped, 0));
    cr_assert(st.batches >= 1 && st.batches < N / 10, "%llu batches",
              (unsigned long long)st.batches);
    cr_assert(eq(i64, count_rows("detection_history"), N));
    aiops_store_close(s);
}

Test(sqlite, writes_a_batch_once_batch_ms_has_passed_without_a_flush)
{
    struct aiops_store *s = open_store(url, 10, 100);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_store_stats st = {0};

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    for (int i = 0; i < 500 && st.written == 0; i++) {
        usleep(10000);
        aiops_store_stats(s, &st);
    }
    cr_assert(eq(u64, st.written, 1));
    cr_assert(eq(u64, st.batches, 1));
    aiops_store_close(s);
}

Test(sqlite, refuses_rows_when_the_queue_is_full_and_counts_them_dropped)
{
    struct aiops_store *s = open_store(url, LONG_MS, 4);
    struct aiops_store_stats st;
    int busy = 0;

    for (int i = 0; i < 10; i++) {
        struct aiops_detection_record d = detection("server-01", i);
        int err = aiops_store_append_detection(s, &d);

        cr_assert(err == 0 || err == AIOPS_EBUSY);
        busy += err == AIOPS_EBUSY;
    }
    cr_assert(eq(int, busy, 6));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.dropped, 6));
    cr_assert(eq(u64, st.queued, 4));
    cr_assert(eq(u64, st.written, 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, 4));
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(eq(i64, count_rows("detection_history"), 4));
    aiops_store_close(s);
}

Test(sqlite, close_writes_the_rows_still_queued)
{
    struct aiops_store *s = open_store(url, LONG_MS, 100);

    for (int i = 0; i < 10; i++) {
        struct aiops_detection_record d = detection("server-01", i);
        struct aiops_event_record e = {.resource_id = "server-01", .metric_name = "mem"};

        cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
        cr_assert(eq(int, aiops_store_append_event(s, &e), 0));
    }
    aiops_store_close(s);
    cr_assert(eq(i64, count_rows("detection_history"), 10));
    cr_assert(eq(i64, count_rows("anomaly_events"), 10));
}

/* The tables as the Python service's SQLAlchemy models created them, before peak_value. */
static void create_python_db(void)
{
    sqlite3 *db = open_db();
    const char *sql =
        "CREATE TABLE detection_history (id INTEGER NOT NULL, resource_id VARCHAR,"
        " metric_name VARCHAR, method VARCHAR, sensitivity VARCHAR, total_points INTEGER,"
        " anomaly_count INTEGER, anomaly_percentage FLOAT, detection_time_ms FLOAT,"
        " created_at DATETIME, PRIMARY KEY (id));"
        "CREATE TABLE anomaly_events (id INTEGER NOT NULL, resource_id VARCHAR,"
        " metric_name VARCHAR, start_time DATETIME, end_time DATETIME,"
        " duration_seconds FLOAT, max_score FLOAT, anomaly_points INTEGER, priority FLOAT,"
        " created_at DATETIME, PRIMARY KEY (id));"
        "INSERT INTO anomaly_events (resource_id, metric_name, start_time, end_time,"
        " duration_seconds, max_score, anomaly_points, priority, created_at) VALUES"
        " ('old', 'cpu', '2025-01-01 00:00:00.000000', '2025-01-01 00:05:00.000000', 300,"
        " 3.5, 4, 0.7, '2025-01-01 00:06:00.000000');";

    cr_assert(eq(int, sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK), "%s",
              sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(sqlite, adopts_the_tables_the_python_service_left_and_adds_peak_value)
{
    struct aiops_event_record e = {
        .resource_id = "new",
        .metric_name = "cpu",
        .start_ms = T0,
        .end_ms = T0 + 60000,
        .peak_value = 99.5,
        .created_at_ms = T0,
    };
    struct aiops_store *s;
    sqlite3 *db;

    create_python_db();
    s = open_store(url, LONG_MS, 10);
    cr_assert(eq(int, aiops_store_append_event(s, &e), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_close(s);

    db = open_db();
    cr_assert(eq(i64, query(db, "PRAGMA user_version"), AIOPS_SQLITE_SCHEMA_VERSION));
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM anomaly_events WHERE resource_id = 'old'"
                           " AND peak_value IS NULL AND max_score = 3.5"),
                 1));
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM anomaly_events WHERE resource_id = 'new'"
                           " AND peak_value = 99.5 AND start_time = '2026-01-01 00:00:00.123'"),
                 1));
    sqlite3_close(db);

    s = open_store(url, LONG_MS, 10); /* a second open finds everything in place */
    aiops_store_close(s);
}

Test(sqlite, refuses_a_database_with_a_newer_schema_version)
{
    struct aiops_store *s = NULL;
    sqlite3 *db = open_db();
    int err;

    cr_assert(eq(int, sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK));
    sqlite3_close(db);
    err = aiops_store_open(&s, url, NULL,
                           &(struct aiops_store_options){.batch_ms = LONG_MS, .queue_max = 10},
                           errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(ptr, s, NULL));
    cr_assert(strstr(errbuf, "99") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, "newer") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, db_path) != NULL, "%s", errbuf);
    cr_assert(eq(i64, count_rows("sqlite_master"), 0)); /* nothing was created */
}

Test(sqlite, names_the_path_it_cannot_open)
{
    struct aiops_store *s = NULL;
    const char *bad = "sqlite:////nonexistent-aiops-dir/sub/history.db";
    int err;

    err = aiops_store_open(&s, bad, NULL,
                           &(struct aiops_store_options){.batch_ms = LONG_MS, .queue_max = 10},
                           errbuf, sizeof(errbuf));
    cr_assert(err < 0);
    cr_assert(eq(ptr, s, NULL));
    cr_assert(strstr(errbuf, "/nonexistent-aiops-dir/sub/history.db") != NULL, "%s", errbuf);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(sqlite, refuses_a_url_with_a_host)
{
    struct aiops_store *s = NULL;

    cr_assert(eq(int,
                 aiops_store_open(&s, "sqlite://host/x.db", NULL,
                                  &(struct aiops_store_options){.batch_ms = 10, .queue_max = 10},
                                  errbuf, sizeof(errbuf)),
                 AIOPS_EINVAL));
    cr_assert(strstr(errbuf, "sqlite://host/x.db") != NULL, "%s", errbuf);
}

Test(sqlite, keeps_rows_in_memory_for_memory_urls)
{
    static const char *const urls[] = {
        "sqlite://", "sqlite://:memory:", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"};

    cr_assert(eq(int, chdir(dir), 0)); /* nothing may appear here */
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct aiops_store *s = open_store(urls[i], LONG_MS, 10);
        struct aiops_detection_record d = detection("server-01", 0);
        struct aiops_store_stats st;

        cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
        cr_assert(eq(int, aiops_store_flush(s), 0));
        aiops_store_stats(s, &st);
        cr_assert(eq(u64, st.written, 1), "%s", urls[i]);
        aiops_store_close(s);
    }
    cr_assert(eq(int, access(":memory:", F_OK), -1));
}

Test(sqlite, opens_relative_paths_and_ignores_the_driver)
{
    struct aiops_store *s;

    cr_assert(eq(int, chdir(dir), 0));
    s = open_store("sqlite+aiosqlite:///./history.db", LONG_MS, 10);
    aiops_store_close(s);
    cr_assert(eq(int, access(db_path, F_OK), 0));
    cr_assert(eq(i64, count_rows("detection_history"), 0));
}

Test(sqlite, counts_rows_lost_to_a_write_error_and_reports_not_connected)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_store_stats st;
    sqlite3 *db = open_db();

    cr_assert(
        eq(int, sqlite3_exec(db, "DROP TABLE detection_history", NULL, NULL, NULL), SQLITE_OK));
    sqlite3_close(db);
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_flush(s), AIOPS_EIO));
    cr_assert(not(aiops_store_is_connected(s)));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.failed, 1));
    cr_assert(eq(u64, st.written, 0));
    aiops_store_close(s);
}

Test(sqlite, open_cleans_up_after_every_allocation_failure)
{
    long live_before = aiops_mem_live();
    struct aiops_store *s = NULL;
    int err;

    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = aiops_store_open(&s, url, NULL,
                               &(struct aiops_store_options){.batch_ms = LONG_MS, .queue_max = 10},
                               errbuf, sizeof(errbuf));
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        cr_assert(eq(ptr, s, NULL));
        cr_assert(eq(long, aiops_mem_live(), live_before), "leak at allocation %ld", n);
    }
    aiops_store_close(s);
    cr_assert(eq(long, aiops_mem_live(), live_before));
}

Test(sqlite, append_of_a_long_row_fails_cleanly_when_memory_runs_out)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    char long_id[600];
    struct aiops_detection_record d;
    struct aiops_store_stats st;

    memset(long_id, 'r', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    d = detection(long_id, 0);
    aiops_mem_fail_after(0);
    cr_assert(eq(int, aiops_store_append_detection(s, &d), AIOPS_ENOMEM));
    aiops_mem_fail_after(-1);
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.dropped, 1));
    cr_assert(eq(u64, st.queued, 0));
    aiops_store_close(s);
}

enum { THREADS = 4, PER_THREAD = 5000 };

struct appender {
    struct aiops_store *store;
    char resource[16];
    int failures;
};

static void *append_many(void *arg)
{
    struct appender *a = arg;

    for (int i = 0; i < PER_THREAD; i++) {
        struct aiops_detection_record d = detection(a->resource, i);
        struct aiops_event_record e = {.resource_id = a->resource, .metric_name = "cpu"};

        a->failures += aiops_store_append_detection(a->store, &d) != 0;
        a->failures += aiops_store_append_event(a->store, &e) != 0;
    }
    return NULL;
}

Test(sqlite, keeps_every_row_appended_from_four_threads)
{
    struct aiops_store *s = open_store(url, 5, 4 * THREADS * PER_THREAD);
    struct appender a[THREADS];
    pthread_t t[THREADS];
    struct aiops_store_stats st;
    sqlite3 *db;

    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct appender){.store = s};
        snprintf(a[i].resource, sizeof(a[i].resource), "thread-%d", i);
        cr_assert(eq(int, pthread_create(&t[i], NULL, append_many, &a[i]), 0));
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_assert(eq(int, a[i].failures, 0));
    }
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, 2 * THREADS * PER_THREAD));
    aiops_store_close(s);

    db = open_db();
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM (SELECT resource_id, count(*) AS n"
                           " FROM detection_history GROUP BY resource_id"
                           " HAVING n = 5000 AND resource_id LIKE 'thread-%')"),
                 THREADS));
    cr_assert(eq(i64,
                 query(db, "SELECT count(DISTINCT resource_id || '/' || total_points)"
                           " FROM detection_history"),
                 THREADS * PER_THREAD));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM anomaly_events"), THREADS * PER_THREAD));
    sqlite3_close(db);
}

/* A streaming event at version v; fields that change with v show which version a row holds. */
static struct aiops_event stream_event(const char *id, uint32_t v)
{
    struct aiops_event e = {
        .resource_id = "server-01",
        .metric = "cpu_usage",
        .labels_json = "{\"dc\":\"eu-1\"}",
        .status = v >= 3 ? AIOPS_EVENT_RESOLVED : AIOPS_EVENT_OPEN,
        .start_ms = T0,
        .end_ms = T0 + 60000 * (int64_t)v,
        .duration_seconds = 60.0 * v,
        .max_score = 0.9,
        .anomaly_points = v,
        .peak_value = 97.5,
        .priority = 80.0,
        .severity = "major",
        .method = "zscore",
        .reason = "value 97.5 is 6.1 sigma above the mean",
        .updated_ms = T0 + 1000 * (int64_t)v,
        .version = v,
    };

    snprintf(e.id, sizeof(e.id), "%s", id);
    snprintf(e.incident_id, sizeof(e.incident_id), "fedcba9876543210fedcba9876543210");
    return e;
}

Test(sqlite, upserts_an_event_by_id_so_the_later_version_is_the_one_row)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event v1 = stream_event("0123456789abcdef0123456789abcdef", 1);
    struct aiops_event v2 = stream_event("0123456789abcdef0123456789abcdef", 2);
    struct aiops_store_stats st;
    sqlite3_stmt *st_row;
    sqlite3 *db;

    cr_assert(eq(int, aiops_store_upsert_event(s, &v1, 1), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &v2, 2), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, 2));
    aiops_store_close(s);

    db = open_db();
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events"), 1));
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db,
                                    "SELECT id, resource_id, metric, labels, status, start_time,"
                                    " end_time, anomaly_points, severity, method, reason,"
                                    " incident_id, updated_at, version FROM events",
                                    -1, &st_row, NULL),
                 SQLITE_OK));
    cr_assert(eq(int, sqlite3_step(st_row), SQLITE_ROW));
    cr_assert(eq(str, text(st_row, 0), "0123456789abcdef0123456789abcdef"));
    cr_assert(eq(str, text(st_row, 1), "server-01"));
    cr_assert(eq(str, text(st_row, 2), "cpu_usage"));
    cr_assert(eq(str, text(st_row, 3), "{\"dc\":\"eu-1\"}"));
    cr_assert(eq(str, text(st_row, 4), "open"));
    cr_assert(eq(str, text(st_row, 5), "2026-01-01 00:00:00.123"));
    cr_assert(eq(str, text(st_row, 6), "2026-01-01 00:02:00.123"));
    cr_assert(eq(i64, sqlite3_column_int64(st_row, 7), 2));
    cr_assert(eq(str, text(st_row, 8), "major"));
    cr_assert(eq(str, text(st_row, 9), "zscore"));
    cr_assert(eq(str, text(st_row, 10), "value 97.5 is 6.1 sigma above the mean"));
    cr_assert(eq(str, text(st_row, 11), "fedcba9876543210fedcba9876543210"));
    cr_assert(eq(str, text(st_row, 12), "2026-01-01 00:00:02.123"));
    cr_assert(eq(i64, sqlite3_column_int64(st_row, 13), 2));
    sqlite3_finalize(st_row);
    sqlite3_close(db);
}

Test(sqlite, keeps_the_newer_version_when_an_older_one_arrives_later)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event v3 = stream_event("e1", 3), v2 = stream_event("e1", 2);
    struct aiops_event other = stream_event("e2", 1);
    sqlite3 *db;

    /* In one batch and across batches: neither may roll the row back. */
    cr_assert(eq(int, aiops_store_upsert_event(s, &v3, 1), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &v2, 2), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &other, 3), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &v2, 4), 0));
    aiops_store_close(s);

    db = open_db();
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events"), 2));
    cr_assert(eq(i64,
                 query(db, "SELECT count(*) FROM events WHERE id = 'e1' AND version = 3"
                           " AND status = 'resolved' AND anomaly_points = 3"),
                 1));
    sqlite3_close(db);
}

Test(sqlite, queues_upserts_past_queue_max_and_never_drops_them)
{
    struct aiops_store *s = open_store(url, LONG_MS, 2);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_store_stats st;

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    for (uint32_t i = 0; i < 5; i++) {
        char id[8];
        struct aiops_event e;

        snprintf(id, sizeof(id), "e%u", i);
        e = stream_event(id, 1);
        cr_assert(eq(int, aiops_store_upsert_event(s, &e, 10 + i), 0));
    }
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 7)); /* what the pipeline's backpressure watches */
    cr_assert(eq(u64, st.dropped, 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(eq(u64, st.written, 7));
    aiops_store_close(s);
    cr_assert(eq(i64, count_rows("events"), 5));
}

Test(sqlite, pending_seq_names_the_oldest_upsert_not_yet_committed)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event a = stream_event("a", 1), b = stream_event("b", 1);

    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "k", "x", 1), 0)); /* has no seq */
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    cr_assert(eq(int, aiops_store_upsert_event(s, &a, 42), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &b, 43), 0));
    cr_assert(eq(u64, aiops_store_pending_seq(s), 42));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    aiops_store_close(s);
}

struct loaded {
    int n;
    char keys[4][16];
    char blobs[4][16];
    size_t lens[4];
};

static int collect(void *ctx, const char *key, const void *blob, size_t len)
{
    struct loaded *l = ctx;

    cr_assert(lt(int, l->n, 4));
    cr_assert(lt(sz, len, sizeof(l->blobs[0])));
    snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
    memcpy(l->blobs[l->n], blob, len);
    l->lens[l->n++] = len;
    return 0;
}

static int stop_at_first(void *ctx, const char *key, const void *blob, size_t len)
{
    (void)key, (void)blob, (void)len;
    ++*(int *)ctx;
    return AIOPS_EINVAL;
}

Test(sqlite, saves_replaces_and_loads_checkpoints)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct loaded l = {0};
    int calls = 0;

    cr_assert(eq(int, aiops_store_save_checkpoint(s, "a", "one", 3), 0));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "b", "\0b\0", 3), 0)); /* binary */
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "a", "three", 5), 0)); /* replaces "one" */
    /* Still queued: load flushes first, so nothing saved is missed. */
    cr_assert(eq(int, aiops_store_load_checkpoints(s, collect, &l), 0));
    cr_assert(eq(int, l.n, 2));
    for (int i = 0; i < 2; i++) {
        if (strcmp(l.keys[i], "a") == 0) {
            cr_assert(eq(sz, l.lens[i], 5));
            cr_assert(eq(int, memcmp(l.blobs[i], "three", 5), 0));
        } else {
            cr_assert(eq(str, l.keys[i], "b"));
            cr_assert(eq(sz, l.lens[i], 3));
            cr_assert(eq(int, memcmp(l.blobs[i], "\0b\0", 3), 0));
        }
    }
    cr_assert(eq(int, aiops_store_load_checkpoints(s, stop_at_first, &calls), AIOPS_EINVAL));
    cr_assert(eq(int, calls, 1));
    aiops_store_close(s);

    s = open_store(url, LONG_MS, 10); /* and after a restart */
    memset(&l, 0, sizeof(l));
    cr_assert(eq(int, aiops_store_load_checkpoints(s, collect, &l), 0));
    cr_assert(eq(int, l.n, 2));
    aiops_store_close(s);
}

Test(sqlite, loads_checkpoints_from_a_memory_database)
{
    struct aiops_store *s = open_store("sqlite://:memory:", LONG_MS, 10);
    struct loaded l = {0};

    cr_assert(eq(int, aiops_store_save_checkpoint(s, "a", "", 0), 0));
    cr_assert(eq(int, aiops_store_load_checkpoints(s, collect, &l), 0));
    cr_assert(eq(int, l.n, 1));
    cr_assert(eq(str, l.keys[0], "a"));
    cr_assert(eq(sz, l.lens[0], 0));
    aiops_store_close(s);
}

Test(sqlite, keeps_upserts_queued_through_a_write_error_and_retries_them)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event e = stream_event("e1", 1);
    struct aiops_store_stats st;
    sqlite3 *db = open_db();

    cr_assert(eq(int,
                 sqlite3_exec(db, "ALTER TABLE events RENAME TO events_away", NULL, NULL, NULL),
                 SQLITE_OK));
    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 7), 0));
    cr_assert(eq(int, aiops_store_flush(s), AIOPS_EIO));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 1));
    cr_assert(eq(u64, st.failed, 0));
    cr_assert(ge(u64, st.retries, 1));
    cr_assert(eq(u64, aiops_store_pending_seq(s), 7));

    cr_assert(eq(int,
                 sqlite3_exec(db, "ALTER TABLE events_away RENAME TO events", NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(db);
    /* The writer retries after its back-off; a flush that meets one more failure says so. */
    for (int i = 0; i < 3 && aiops_store_flush(s) != 0; i++)
        ;
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(eq(u64, st.written, 1));
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    cr_assert(aiops_store_is_connected(s));
    aiops_store_close(s);
    cr_assert(eq(i64, count_rows("events"), 1));
}

/* A database as version 1 of this agent left it: two tables, stamped 1, with rows. */
static void create_v1_db(void)
{
    sqlite3 *db = open_db();
    const char *sql =
        "CREATE TABLE detection_history (id INTEGER PRIMARY KEY, resource_id TEXT,"
        " metric_name TEXT, method TEXT, sensitivity TEXT, total_points INTEGER,"
        " anomaly_count INTEGER, anomaly_percentage REAL, detection_time_ms REAL,"
        " created_at TIMESTAMP);"
        "CREATE TABLE anomaly_events (id INTEGER PRIMARY KEY, resource_id TEXT,"
        " metric_name TEXT, start_time TIMESTAMP, end_time TIMESTAMP, duration_seconds REAL,"
        " max_score REAL, anomaly_points INTEGER, peak_value REAL, priority REAL,"
        " created_at TIMESTAMP);"
        "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP);"
        "INSERT INTO schema_version VALUES (1, '2026-01-01 00:00:00.000');"
        "INSERT INTO detection_history (resource_id) VALUES ('v1-row');"
        "PRAGMA user_version = 1;";

    cr_assert(eq(int, sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK), "%s",
              sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(sqlite, migrates_a_version_1_database_to_add_events_and_checkpoints)
{
    struct aiops_store *s;
    struct aiops_event e = stream_event("e1", 1);
    sqlite3 *db;

    create_v1_db();
    s = open_store(url, LONG_MS, 10);
    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 1), 0));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "k", "x", 1), 0));
    aiops_store_close(s);

    db = open_db();
    cr_assert(eq(i64, query(db, "PRAGMA user_version"), 2));
    cr_assert(eq(i64, query(db, "SELECT max(version) FROM schema_version"), 2));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM schema_version"), 2));
    cr_assert(eq(
        i64, query(db, "SELECT count(*) FROM detection_history WHERE resource_id = 'v1-row'"), 1));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events"), 1));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM checkpoints"), 1));
    sqlite3_close(db);

    s = open_store(url, LONG_MS, 10); /* opening again changes nothing */
    aiops_store_close(s);
    db = open_db();
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM schema_version"), 2));
    sqlite3_close(db);
}

Test(sqlite, upsert_and_checkpoint_fail_cleanly_when_memory_runs_out)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event e = stream_event("e1", 1);
    struct aiops_store_stats st;
    long live = aiops_mem_live();

    aiops_mem_fail_after(0);
    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 1), AIOPS_ENOMEM));
    aiops_mem_fail_after(0);
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "k", "x", 1), AIOPS_ENOMEM));
    aiops_mem_fail_after(-1);
    cr_assert(eq(long, aiops_mem_live(), live));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    aiops_store_close(s);
}

/* ---- query_events: the contract is in support_events.c ---------------------------- */

Test(sqlite, query_events_filters_orders_and_round_trips_stored_events)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);

    /* Queued only: batch_ms is a minute away, so the first query sees them because it has
     * the writer write them first. */
    aiops_test_store_three(s, stream_event);
    aiops_test_expect_filters(s);
    aiops_test_expect_fields(s, stream_event, "{\"dc\":\"eu-1\"}");
    aiops_test_expect_fn_error_stops(s);
    aiops_store_close(s);
}

Test(sqlite, query_events_reads_a_memory_database)
{
    struct aiops_store *s = open_store("sqlite://:memory:", LONG_MS, 10);

    aiops_test_store_three(s, stream_event);
    aiops_test_expect_ids(s, AIOPS_TEST_ANY_EVENT, "c,b,a");
    aiops_store_close(s);
}

Test(sqlite, query_events_reports_a_read_error)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event_query q = AIOPS_TEST_ANY_EVENT;
    struct found f = {0};
    sqlite3 *db = open_db();

    cr_assert(eq(int, sqlite3_exec(db, "DROP TABLE events", NULL, NULL, NULL), SQLITE_OK));
    sqlite3_close(db);
    cr_assert(eq(int, aiops_store_query_events(s, &q, aiops_test_gather, &f), AIOPS_EIO));
    cr_assert(eq(sz, f.n, 0));
    aiops_store_close(s);
}

/* The retention: history rows and resolved events older than retention_days go, in chunks, as
 * the store opens; newer rows and open events stay. */
Test(sqlite, deletes_what_is_older_than_the_retention_and_keeps_open_events)
{
    int64_t now_ms = (int64_t)time(NULL) * 1000, old_ms = now_ms - 40 * 86400000LL;
    struct aiops_store *s = open_store(url, LONG_MS, 20000);
    struct aiops_store_stats st;
    sqlite3 *db;
    char sql[1024], old[40], recent[40];
    int waited = 0;

    /* More old rows than one delete takes (5,000), so the chunks have to follow each other. */
    for (int i = 0; i < 12000; i++) {
        struct aiops_detection_record d = detection("old", i);

        d.created_at_ms = old_ms + i;
        cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    }
    for (int i = 0; i < 2; i++) {
        struct aiops_detection_record d = detection("recent", i);

        d.created_at_ms = now_ms - 86400000 + i;
        cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    }
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_close(s);
    aiops_time_format_sql(old_ms, old, sizeof(old));
    aiops_time_format_sql(now_ms - 86400000, recent, sizeof(recent));
    db = open_db();
    snprintf(sql, sizeof(sql),
             "INSERT INTO anomaly_events (resource_id, created_at) VALUES ('old', '%s'),"
             " ('recent', '%s');"
             "INSERT INTO events (id, status, start_time, updated_at, version) VALUES"
             " ('old-resolved', 'resolved', '%s', '%s', 1), ('old-open', 'open', '%s', '%s', 1),"
             " ('recent-resolved', 'resolved', '%s', '%s', 1);"
             "INSERT INTO checkpoints (series_key, state, updated_at) VALUES ('gone', x'00', '%s'),"
             " ('live', x'00', '%s');",
             old, recent, old, old, old, old, recent, recent, old, recent);
    cr_assert(eq(int, sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK), "%s",
              sqlite3_errmsg(db));
    sqlite3_close(db);

    s = open_with(url, (struct aiops_store_options){
                           .batch_ms = LONG_MS, .queue_max = 10, .retention_days = 30});
    do {
        aiops_store_stats(s, &st);
        if (st.pruned < 12003)
            usleep(10000);
    } while (st.pruned < 12003 && ++waited < 500);
    cr_assert(eq(u64, st.pruned, 12003), "12,000 + 1 history rows, 1 event, 1 checkpoint");
    aiops_store_close(s);
    cr_assert(eq(i64, count_rows("detection_history"), 2));
    cr_assert(eq(i64, count_rows("anomaly_events"), 1));
    cr_assert(eq(i64, count_rows("checkpoints"), 1));
    db = open_db();
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events WHERE id = 'old-resolved'"), 0));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events WHERE id = 'old-open'"), 1));
    cr_assert(eq(i64, query(db, "SELECT count(*) FROM events WHERE id = 'recent-resolved'"), 1));
    cr_assert(
        eq(i64, query(db, "SELECT count(*) FROM detection_history WHERE resource_id = 'old'"), 0));
    sqlite3_close(db);
}

Test(sqlite, keeps_everything_when_the_retention_is_zero)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_detection_record d = detection("ancient", 0);
    struct aiops_store_stats st;

    d.created_at_ms = 0; /* 1970 */
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    aiops_store_close(s);
    s = open_store(url, LONG_MS, 10);
    cr_assert(eq(int, aiops_store_flush(s), 0));
    aiops_store_stats(s, &st);
    aiops_store_close(s);
    cr_assert(eq(u64, st.pruned, 0));
    cr_assert(eq(i64, count_rows("detection_history"), 1));
}
