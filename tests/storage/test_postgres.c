/* SPDX-License-Identifier: MIT */
/* The PostgreSQL store through storage/store.h against a real server: each test of the `pg`
 * suite starts a throw-away PostgreSQL 15 on a free 127.0.0.1 port (tests/storage/pg.sh, about
 * a second) and removes it afterwards. Rows are read back with libpq. Needs the PostgreSQL
 * server binaries (AIOPS_PG_BIN, default /usr/lib/postgresql/15/bin): without them the tests
 * fail, never skip. As root the server runs as the postgres OS user. */
#include "agent/err.h"
#include "agent/mem.h"
#include "storage/postgres.h"
#include "storage/store.h"
#include "tests/storage/support_events.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0      AIOPS_TEST_T0
#define LONG_MS 60000 /* a batch_ms no test waits out */
#define WAIT_MS 15000 /* the longest any test waits for the store */

static char dir[64];
static char url[160];
static char errbuf[512];
static int port;
static uv_loop_t loop;
static uv_timer_t tick; /* keeps uv_run(UV_RUN_ONCE) turning: the store's handles are unref'd */

static char script[512];

/* Runs pg.sh with cmd on dir; returns its stdout's first line in out (may be NULL). */
static void pg_sh(const char *cmd, char *out, size_t len)
{
    char line[1024];
    FILE *p;
    int status;
    bool ok;

    snprintf(script, sizeof(script), "%.*s/pg.sh", (int)(strrchr(__FILE__, '/') - __FILE__),
             __FILE__);
    snprintf(line, sizeof(line), "'%s' %s '%s' %d", script, cmd, dir, (int)getpid());
    p = popen(line, "r");
    cr_assert(p != NULL, "popen %s", line);
    if (out != NULL && fgets(out, (int)len, p) == NULL)
        out[0] = '\0';
    status = pclose(p);
    ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(ok, "%s failed (status %d)", line, status);
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

static void init_loop(void)
{
    cr_assert(eq(int, uv_loop_init(&loop), 0));
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    errbuf[0] = '\0';
}

static void init(void)
{
    char out[64];

    snprintf(dir, sizeof(dir), "/tmp/aiops-pg-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    pg_sh("start", out, sizeof(out));
    cr_assert(eq(int, sscanf(out, "PGPORT=%d", &port), 1), "pg.sh said '%s'", out);
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/aiops_test", port);
    init_loop();
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void fini_loop(void)
{
    aiops_mem_fail_after(-1);
    uv_walk(&loop, close_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(eq(int, uv_loop_close(&loop), 0));
    aiops_test_check_leaks();
}

static void fini(void)
{
    fini_loop();
    pg_sh("destroy", NULL, 0);
}

TestSuite(pg, .init = init, .fini = fini, .timeout = 60);
TestSuite(pg_open, .init = init_loop, .fini = fini_loop, .timeout = 60);

static struct aiops_store *open_store(const char *u, uint32_t batch_ms, uint32_t queue_max)
{
    struct aiops_store *s = NULL;
    int err = aiops_store_open(
        &s, u, &loop, &(struct aiops_store_options){.batch_ms = batch_ms, .queue_max = queue_max},
        errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, 0), "open %s: %s", u, errbuf);
    return s;
}

/* Closes the store and lets the loop free its handles. */
static void close_store(struct aiops_store *s)
{
    aiops_store_close(s);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Turns the loop until the store has nothing queued, or fails the test after WAIT_MS. */
static void run_until_written(struct aiops_store *s)
{
    uint64_t end = now_ms() + WAIT_MS;
    struct aiops_store_stats st;

    for (;;) {
        aiops_store_stats(s, &st);
        if (st.queued == 0)
            return;
        cr_assert(lt(u64, now_ms(), end), "%" PRIu64 " rows still queued", st.queued);
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void run_for(unsigned ms)
{
    uint64_t end = now_ms() + ms;

    while (now_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static PGconn *db(void)
{
    char info[160];
    PGconn *c;

    snprintf(info, sizeof(info), "host=127.0.0.1 port=%d user=postgres dbname=aiops_test", port);
    c = PQconnectdb(info);
    cr_assert(eq(int, PQstatus(c), CONNECTION_OK), "%s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning; SET TimeZone = 'UTC'"));
    return c;
}

/* Runs a statement that returns nothing. */
static void exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    cr_assert(eq(int, PQresultStatus(r), PGRES_COMMAND_OK), "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The one value sql answers, as text in out. */
static char *value(PGconn *c, const char *sql, char *out, size_t len)
{
    PGresult *r = PQexec(c, sql);

    cr_assert(eq(int, PQresultStatus(r), PGRES_TUPLES_OK), "%s: %s", sql, PQerrorMessage(c));
    cr_assert(eq(int, PQntuples(r), 1), "%s", sql);
    snprintf(out, len, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static long count(PGconn *c, const char *sql)
{
    char v[32];

    return strtol(value(c, sql, v, sizeof(v)), NULL, 10);
}

static struct aiops_event stream_event(const char *id, uint32_t v)
{
    struct aiops_event e = {
        .resource_id = "server-01",
        .metric = "cpu_usage",
        .labels_json = "{\"dc\": \"eu-1\"}",
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
        .reason = "value 97.5 is 6.1 sigma above the mean; it's 'odd'",
        .updated_ms = T0 + 1000 * (int64_t)v,
        .version = v,
    };

    snprintf(e.id, sizeof(e.id), "%s", id);
    snprintf(e.incident_id, sizeof(e.incident_id), "fedcba9876543210fedcba9876543210");
    return e;
}

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

Test(pg, creates_the_schema_at_open_once)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    PGconn *c = db();

    cr_assert(aiops_store_is_connected(s));
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM information_schema.tables WHERE table_name IN"
                          " ('detection_history', 'anomaly_events', 'events', 'checkpoints',"
                          " 'schema_version')"),
                 5));
    close_store(s);
    s = open_store(url, LONG_MS, 10); /* a second open finds everything in place */
    close_store(s);
    cr_assert(eq(long, count(c, "SELECT count(*) FROM schema_version WHERE version = 1"), 1));
    PQfinish(c);
}

Test(pg, writes_appended_history_rows_from_the_loop_after_batch_ms)
{
    struct aiops_store *s = open_store(url, 20, 10);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_event_record e = {
        .resource_id = "server-01",
        .metric_name = "cpu_usage",
        .start_ms = T0,
        .end_ms = 951782400000 + 5, /* 2000-02-29T00:00:00.005Z */
        .duration_seconds = 300.0,
        .max_score = 4.25,
        .anomaly_points = 7,
        .peak_value = 97.5,
        .priority = 0.8,
        .created_at_ms = T0,
    };
    struct aiops_store_stats st;
    PGconn *c = db();
    char v[128];

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_append_event(s, &e), 0));
    d.resource_id = "not-finite";
    d.anomaly_percentage = NAN;
    d.detection_time_ms = -INFINITY;
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    run_until_written(s);
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, 3));
    cr_assert(eq(u64, st.batches, 1)); /* all in one transaction */
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM detection_history WHERE resource_id ="
                          " 'not-finite' AND anomaly_percentage = 'NaN'"
                          " AND detection_time_ms = '-Infinity'"),
                 1));
    exec(c, "DELETE FROM detection_history WHERE resource_id = 'not-finite'");
    cr_assert(eq(str,
                 value(c,
                       "SELECT concat_ws('|', resource_id, metric_name, method, sensitivity,"
                       " total_points, anomaly_count, anomaly_percentage, detection_time_ms,"
                       " created_at) FROM detection_history",
                       v, sizeof(v)),
                 "server-01|cpu_usage|zscore|medium|100|3|3|1.5|2026-01-01 00:00:00.123+00"));
    cr_assert(eq(str,
                 value(c,
                       "SELECT concat_ws('|', start_time, end_time, duration_seconds, max_score,"
                       " anomaly_points, peak_value, priority) FROM anomaly_events",
                       v, sizeof(v)),
                 "2026-01-01 00:00:00.123+00|2000-02-29 00:00:00.005+00|300|4.25|7|97.5|0.8"));
    close_store(s);
    PQfinish(c);
}

Test(pg, upserts_events_by_id_and_keeps_the_newest_version)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event v1 = stream_event("0123456789abcdef0123456789abcdef", 1);
    struct aiops_event v2 = stream_event("0123456789abcdef0123456789abcdef", 2);
    struct aiops_event v3 = stream_event("e2", 3), old = stream_event("e2", 2);
    PGconn *c = db();
    char v[256];

    /* Two versions of one id in one batch, and an older version after a newer one. */
    cr_assert(eq(int, aiops_store_upsert_event(s, &v1, 1), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &v2, 2), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &v3, 3), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &old, 4), 0));
    cr_assert(eq(int, aiops_store_flush(s), 0));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events"), 2));
    cr_assert(eq(str,
                 value(c,
                       "SELECT concat_ws('|', resource_id, metric, labels->>'dc', status,"
                       " start_time, end_time, anomaly_points, severity, method, reason,"
                       " incident_id, updated_at, version) FROM events"
                       " WHERE id = '0123456789abcdef0123456789abcdef'",
                       v, sizeof(v)),
                 "server-01|cpu_usage|eu-1|open|2026-01-01 00:00:00.123+00|"
                 "2026-01-01 00:02:00.123+00|2|major|zscore|"
                 "value 97.5 is 6.1 sigma above the mean; it's 'odd'|"
                 "fedcba9876543210fedcba9876543210|2026-01-01 00:00:02.123+00|2"));
    cr_assert(eq(str, value(c, "SELECT status || version FROM events WHERE id = 'e2'", v, 64),
                 "resolved3"));
    close_store(s);
    PQfinish(c);
}

Test(pg, pending_seq_names_the_oldest_upsert_not_yet_committed)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event a = stream_event("a", 1), b = stream_event("b", 1);

    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    cr_assert(eq(int, aiops_store_upsert_event(s, &a, 42), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &b, 43), 0));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "k", "x", 1), 0));
    cr_assert(eq(u64, aiops_store_pending_seq(s), 42));
    cr_assert(eq(int, aiops_store_flush(s), 0)); /* with the loop not running */
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    close_store(s);
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

Test(pg, saves_replaces_and_loads_checkpoints)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct loaded l = {0};

    cr_assert(eq(int, aiops_store_save_checkpoint(s, "a", "one", 3), 0));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "b", "\0b\0\\x", 5), 0)); /* binary */
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "a", "three", 5), 0));
    cr_assert(eq(int, aiops_store_save_checkpoint(s, "empty", "", 0), 0));
    /* Still queued: load flushes first, so nothing saved is missed. */
    cr_assert(eq(int, aiops_store_load_checkpoints(s, collect, &l), 0));
    cr_assert(eq(int, l.n, 3));
    for (int i = 0; i < l.n; i++) {
        if (strcmp(l.keys[i], "a") == 0) {
            cr_assert(eq(sz, l.lens[i], 5));
            cr_assert(eq(int, memcmp(l.blobs[i], "three", 5), 0));
        } else if (strcmp(l.keys[i], "b") == 0) {
            cr_assert(eq(sz, l.lens[i], 5));
            cr_assert(eq(int, memcmp(l.blobs[i], "\0b\0\\x", 5), 0));
        } else {
            cr_assert(eq(str, l.keys[i], "empty"));
            cr_assert(eq(sz, l.lens[i], 0));
        }
    }
    close_store(s);
}

Test(pg, drops_only_the_row_the_server_refuses)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event good = stream_event("good", 1), bad = stream_event("bad", 1);
    struct aiops_event after = stream_event("after", 1);
    struct aiops_store_stats st;
    PGconn *c = db();

    bad.labels_json = "{not json"; /* labels is jsonb */
    cr_assert(eq(int, aiops_store_upsert_event(s, &good, 1), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &bad, 2), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &after, 3), 0));
    cr_assert(eq(int, aiops_store_flush(s), AIOPS_EIO));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.failed, 1));
    cr_assert(eq(u64, st.written, 2));
    cr_assert(eq(u64, st.queued, 0));
    cr_assert(ge(u64, st.retries, 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events WHERE id IN ('good', 'after')"), 2));
    cr_assert(aiops_store_is_connected(s));
    close_store(s);
    PQfinish(c);
}

/* The store's backend, found by application_name. */
static bool store_waits_on_a_lock(PGconn *c)
{
    return count(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                    " 'aiops-agent' AND wait_event_type = 'Lock'") == 1;
}

Test(pg, sends_a_batch_again_when_the_connection_dies_before_its_commit)
{
    struct aiops_store *s = open_store(url, 1, 10);
    struct aiops_event e = stream_event("e1", 1);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_store_stats st;
    PGconn *locker = db(), *c = db();
    uint64_t end = now_ms() + WAIT_MS;

    /* Hold the batch in flight: it waits for our lock until its backend is terminated. */
    exec(locker, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 5), 0));
    while (!store_waits_on_a_lock(c)) {
        cr_assert(lt(u64, now_ms(), end), "the batch never reached the lock");
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM"
                          " pg_stat_activity WHERE application_name = 'aiops-agent') t"),
                 1));
    exec(locker, "COMMIT");
    run_until_written(s);
    aiops_store_stats(s, &st);
    cr_assert(ge(u64, st.retries, 1));
    cr_assert(eq(u64, st.written, 2));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events WHERE id = 'e1'"), 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM detection_history"), 1));
    cr_assert(aiops_store_is_connected(s));
    close_store(s);
    PQfinish(c);
    PQfinish(locker);
}

Test(pg, keeps_rows_through_a_server_outage_and_writes_each_once)
{
    struct aiops_store *s = open_store(url, 5, 10);
    struct aiops_store_stats st;
    uint64_t end;
    PGconn *c;

    for (uint32_t i = 0; i < 5; i++) {
        char id[8];
        struct aiops_event e;

        snprintf(id, sizeof(id), "e%u", i);
        e = stream_event(id, 1);
        cr_assert(eq(int, aiops_store_upsert_event(s, &e, i), 0));
    }
    run_until_written(s);

    pg_sh("stop", NULL, 0);
    end = now_ms() + WAIT_MS;
    while (aiops_store_is_connected(s)) { /* the server's goodbye reaches the idle socket */
        cr_assert(lt(u64, now_ms(), end), "the store did not notice the outage");
        uv_run(&loop, UV_RUN_ONCE);
    }
    for (uint32_t i = 5; i < 10; i++) {
        char id[8];
        struct aiops_event e;

        snprintf(id, sizeof(id), "e%u", i);
        e = stream_event(id, 1);
        cr_assert(eq(int, aiops_store_upsert_event(s, &e, i), 0));
    }
    {
        struct aiops_event e0 = stream_event("e0", 2);

        cr_assert(eq(int, aiops_store_upsert_event(s, &e0, 10), 0));
    }
    run_for(400); /* reconnect attempts fail meanwhile */
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.queued, 6));
    cr_assert(ge(u64, st.retries, 1));
    cr_assert(eq(u64, st.failed, 0));
    cr_assert(eq(u64, aiops_store_pending_seq(s), 5));
    cr_assert(not(aiops_store_is_connected(s)));

    pg_sh("restart", NULL, 0);
    run_until_written(s);
    cr_assert(aiops_store_is_connected(s));
    c = db();
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events"), 10));
    cr_assert(eq(long, count(c, "SELECT count(DISTINCT id) FROM events"), 10));
    cr_assert(eq(long, count(c, "SELECT version FROM events WHERE id = 'e0'"), 2));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.written, 11));
    cr_assert(eq(u64, aiops_store_pending_seq(s), UINT64_MAX));
    close_store(s);
    PQfinish(c);
}

Test(pg, close_writes_what_is_queued)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_detection_record d = detection("server-01", 0);
    PGconn *c = db();

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    close_store(s);
    cr_assert(eq(long, count(c, "SELECT count(*) FROM detection_history"), 1));
    PQfinish(c);
}

/* The agent's shutdown order: its final walk closes every handle, the loop closes, then the
 * store closes and writes what is left without the loop. */
Test(pg, close_after_the_loops_final_walk_writes_the_queue_without_the_loop)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);
    struct aiops_event e = stream_event("e1", 1);
    long live;
    PGconn *c = db();

    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 1), 0));
    uv_walk(&loop, close_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(eq(int, uv_loop_close(&loop), 0));
    aiops_store_close(s);
    live = aiops_mem_live();
    cr_assert(eq(long, live, 0), "%ld blocks left", live);
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events"), 1));
    PQfinish(c);
    init_loop(); /* for fini */
}

Test(pg, refuses_history_rows_when_the_queue_is_full_but_never_upserts)
{
    struct aiops_store *s = open_store(url, LONG_MS, 2);
    struct aiops_detection_record d = detection("server-01", 0);
    struct aiops_event e = stream_event("e1", 1);
    struct aiops_store_stats st;

    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_append_detection(s, &d), 0));
    cr_assert(eq(int, aiops_store_append_detection(s, &d), AIOPS_EBUSY));
    cr_assert(eq(int, aiops_store_upsert_event(s, &e, 1), 0));
    aiops_store_stats(s, &st);
    cr_assert(eq(u64, st.dropped, 1));
    cr_assert(eq(u64, st.queued, 3));
    close_store(s);
}

Test(pg, accepts_sqlalchemy_and_libpq_spellings_of_the_url)
{
    const char *const schemes[] = {"postgresql+asyncpg", "postgres", "postgresql+psycopg2"};

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        char u[200];

        snprintf(u, sizeof(u), "%s://postgres@127.0.0.1:%d/aiops_test?sslmode=disable", schemes[i],
                 port);
        close_store(open_store(u, LONG_MS, 10));
    }
}

Test(pg, refuses_a_database_with_a_newer_schema_version)
{
    struct aiops_store *s = NULL;
    PGconn *c = db();
    int err;

    exec(c, "CREATE TABLE schema_version (version integer NOT NULL, applied_at timestamptz);"
            "INSERT INTO schema_version VALUES (99, now())");
    err = aiops_store_open(&s, url, &loop,
                           &(struct aiops_store_options){.batch_ms = LONG_MS, .queue_max = 10},
                           errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(ptr, s, NULL));
    cr_assert(strstr(errbuf, "99") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, "newer") != NULL, "%s", errbuf);
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM information_schema.tables WHERE"
                          " table_name = 'events'"),
                 0));
    PQfinish(c);
}

Test(pg, adopts_the_tables_the_python_service_left)
{
    struct aiops_event_record e = {.resource_id = "new", .metric_name = "cpu", .peak_value = 9.5};
    struct aiops_store *s;
    PGconn *c = db();

    exec(c, "CREATE TABLE anomaly_events (id SERIAL PRIMARY KEY, resource_id VARCHAR,"
            " metric_name VARCHAR, start_time TIMESTAMP WITHOUT TIME ZONE,"
            " end_time TIMESTAMP WITHOUT TIME ZONE, duration_seconds FLOAT, max_score FLOAT,"
            " anomaly_points INTEGER, priority FLOAT, created_at TIMESTAMP WITHOUT TIME ZONE);"
            "INSERT INTO anomaly_events (resource_id, max_score) VALUES ('old', 3.5)");
    e.start_ms = T0;
    s = open_store(url, LONG_MS, 10);
    cr_assert(eq(int, aiops_store_append_event(s, &e), 0));
    close_store(s);
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM anomaly_events WHERE resource_id = 'old'"
                          " AND peak_value IS NULL AND max_score = 3.5"),
                 1));
    cr_assert(eq(long,
                 count(c, "SELECT count(*) FROM anomaly_events WHERE resource_id = 'new'"
                          " AND peak_value = 9.5 AND start_time = '2026-01-01 00:00:00.123'"),
                 1));
    PQfinish(c);
}

Test(pg, open_cleans_up_after_every_allocation_failure)
{
    long live_before = aiops_mem_live();
    struct aiops_store *s = NULL;
    int err;

    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = aiops_store_open(&s, url, &loop,
                               &(struct aiops_store_options){.batch_ms = LONG_MS, .queue_max = 10},
                               errbuf, sizeof(errbuf));
        aiops_mem_fail_after(-1);
        if (err == 0)
            break;
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        cr_assert(eq(ptr, s, NULL));
        cr_assert(eq(long, aiops_mem_live(), live_before), "leak at allocation %ld", n);
    }
    close_store(s);
    cr_assert(eq(long, aiops_mem_live(), live_before));
}

/* No server needed below. */

Test(pg_open, names_an_unreachable_server_without_its_password)
{
    struct aiops_store *s = NULL;
    /* Port 1 on loopback: refused at once. */
    int err = aiops_store_open(&s, "postgresql://aiops:s3cret@127.0.0.1:1/aiops", &loop,
                               &(struct aiops_store_options){.batch_ms = 10, .queue_max = 10},
                               errbuf, sizeof(errbuf));

    cr_assert(lt(int, err, 0));
    cr_assert(eq(ptr, s, NULL));
    cr_assert(strstr(errbuf, "cannot connect") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, "127.0.0.1") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, "s3cret") == NULL, "%s", errbuf);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(pg_open, refuses_a_malformed_url)
{
    struct aiops_store *s = NULL;
    int err = aiops_store_open(&s, "postgresql://[::1/x", &loop,
                               &(struct aiops_store_options){.batch_ms = 10, .queue_max = 10},
                               errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, AIOPS_EINVAL), "%s", errbuf);
    cr_assert(strstr(errbuf, "bad database URL") != NULL, "%s", errbuf);
}

Test(pg_open, needs_the_agents_loop)
{
    struct aiops_store *s = NULL;
    int err = aiops_store_open(&s, "postgresql://127.0.0.1:1/x", NULL,
                               &(struct aiops_store_options){.batch_ms = 10, .queue_max = 10},
                               errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(strstr(errbuf, "postgresql needs the agent's loop") != NULL, "%s", errbuf);
}

/* ---- query_events: the contract is in support_events.c ---------------------------- */

Test(pg, query_events_filters_orders_and_round_trips_stored_events)
{
    struct aiops_store *s = open_store(url, LONG_MS, 10);

    /* Queued only: batch_ms is a minute away, so the first query sees them because it has
     * the batch written first. jsonb gives the labels back in its own spelling. */
    aiops_test_store_three(s, stream_event);
    aiops_test_expect_filters(s);
    aiops_test_expect_fields(s, stream_event, "{\"dc\": \"eu-1\"}");
    aiops_test_expect_fn_error_stops(s);
    close_store(s);
}

Test(pg, query_events_fails_at_once_while_the_server_is_down)
{
    struct aiops_store *s = open_store(url, 5, 10);
    struct aiops_event_query q = AIOPS_TEST_ANY_EVENT;
    struct found f = {0};
    uint64_t end, start;

    aiops_test_store_three(s, stream_event);
    run_until_written(s);
    pg_sh("stop", NULL, 0);
    end = now_ms() + WAIT_MS;
    while (aiops_store_is_connected(s)) {
        cr_assert(lt(u64, now_ms(), end), "the store did not notice the outage");
        uv_run(&loop, UV_RUN_ONCE);
    }
    start = now_ms();
    cr_assert(eq(int, aiops_store_query_events(s, &q, aiops_test_gather, &f), AIOPS_EIO));
    cr_assert(lt(u64, now_ms() - start, 1000));
    cr_assert(eq(sz, f.n, 0));

    pg_sh("restart", NULL, 0);
    while (!aiops_store_is_connected(s)) {
        cr_assert(lt(u64, now_ms(), end), "the store did not reconnect");
        uv_run(&loop, UV_RUN_ONCE);
    }
    aiops_test_expect_ids(s, q, "c,b,a");
    close_store(s);
}

/* The retention: as the store connects it deletes, in one statement of the loop's pipeline,
 * history rows and resolved events older than retention_days; newer rows and open events stay. */
Test(pg, deletes_what_is_older_than_the_retention_and_keeps_open_events)
{
    struct aiops_store *s = open_store(url, 10, 100), *r = NULL;
    PGconn *c = db();
    struct aiops_store_stats st;
    uint64_t end;
    int err;

    exec(c, "INSERT INTO detection_history (resource_id, created_at) VALUES"
            " ('old', now() - interval '40 days'), ('old', now() - interval '31 days'),"
            " ('recent', now() - interval '29 days');"
            "INSERT INTO anomaly_events (resource_id, created_at) VALUES"
            " ('old', now() - interval '40 days'), ('recent', now());"
            "INSERT INTO events (id, status, start_time, updated_at, version) VALUES"
            " ('old-resolved', 'resolved', now() - interval '40 days',"
            " now() - interval '40 days', 1),"
            " ('old-open', 'open', now() - interval '40 days', now() - interval '40 days', 1),"
            " ('recent-resolved', 'resolved', now(), now(), 1);"
            "INSERT INTO checkpoints (series_key, state, updated_at) VALUES"
            " ('gone', '\\x00', now() - interval '40 days'), ('live', '\\x00', now())");
    close_store(s);
    err = aiops_store_open(
        &r, url, &loop,
        &(struct aiops_store_options){.batch_ms = 10, .queue_max = 100, .retention_days = 30},
        errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, 0), "%s", errbuf);
    end = now_ms() + WAIT_MS;
    do {
        uv_run(&loop, UV_RUN_ONCE);
        aiops_store_stats(r, &st);
    } while (st.pruned < 5 && now_ms() < end);
    cr_assert(eq(u64, st.pruned, 5), "2 + 1 history rows, 1 event, 1 checkpoint");
    cr_assert(eq(u64, st.written, 0), "the delete is not a row written");
    close_store(r);
    cr_assert(eq(long, count(c, "SELECT count(*) FROM detection_history"), 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM anomaly_events"), 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM checkpoints WHERE series_key = 'live'"), 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM checkpoints"), 1));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events WHERE id <> 'old-resolved'"), 2));
    cr_assert(eq(long, count(c, "SELECT count(*) FROM events"), 2));
    PQfinish(c);
}
