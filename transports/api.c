/* SPDX-License-Identifier: MIT */
/* The routes of the HTTP API (see api.h). POST /api/v1/detect decodes, detects and encodes in
 * one pure job on the thread pool, then the loop queues the history rows for the store and
 * answers. Counters for /metrics live here. */
#include "transports/api.h"

#include "agent/detect.h"
#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "agent/pipeline.h"
#include "config/config.h"
#include "storage/store.h"
#include "transports/api_json.h"
#include "transports/api_stream.h"
#include "transports/api_web.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The routes /metrics counts requests by; anything else is "other", so labels stay bounded. */
enum route {
    R_DETECT,
    R_HEALTH,
    R_ROOT,
    R_METHODS,
    R_METRICS,
    R_INGEST,
    R_SERIES,
    R_EVENTS,
    R_INCIDENTS,
    R_READY,
    R_STREAM,
    R_DASHBOARD,
    R_DOCS,
    R_OPENAPI,
    R_OTHER,
    R_COUNT
};
static const char *const route_names[R_COUNT] = {
    "/api/v1/detect", "/health",        "/",
    "/methods",       "/metrics",       "/api/v1/ingest",
    "/api/v1/series", "/api/v1/events", "/api/v1/incidents",
    "/ready",         "/api/v1/stream", "/dashboard",
    "/docs",          "/openapi.json",  "other"};
/* Status classes counted per route. */
enum { C_2XX, C_4XX, C_5XX, C_COUNT };
static const char *const class_names[C_COUNT] = {"2xx", "4xx", "5xx"};

/* Detect latency histogram bounds in seconds (Prometheus' default buckets, plus 0.5 ms). */
static const double latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_BUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

struct aiops_api {
    uv_loop_t *loop;
    const struct aiops_config *cfg;
    struct aiops_store *store;              /* borrowed; NULL: no history */
    const struct aiops_http_server *server; /* borrowed, for /metrics */
    struct aiops_pipeline *pipeline;        /* borrowed; NULL: no streaming routes */
    struct aiops_web *web;                  /* the dashboard's files and live stream */
    struct aiops_detect_limits limits;
    bool offload;
    uint64_t started_ms; /* uv_hrtime at create, in ms */
    uint64_t requests[R_COUNT][C_COUNT];
    uint64_t detect_series, detect_points, detect_anomalies, detect_events;
    uint64_t detect_latency_buckets[N_BUCKETS];
    uint64_t detect_latency_count;
    double detect_latency_sum; /* seconds */
    uint64_t store_rejected;   /* rows the store's queue refused */
    uint64_t in_flight;        /* detect jobs on the thread pool */
};

/* One detect request, from body to answer. Everything but `x` and `api` is the job's. */
struct detect_job {
    uv_work_t work;
    struct aiops_api *api;
    struct aiops_http_exchange *x;
    uint64_t start_ns;
    struct aiops_detector_params params;
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    bool have_resp;
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int aiops_api_create(struct aiops_api **out, uv_loop_t *loop, const struct aiops_config *cfg,
                     struct aiops_store *store, bool offload)
{
    struct aiops_api *api;
    enum aiops_sensitivity sens = AIOPS_SENSITIVITY_MEDIUM;

    api = aiops_calloc(1, sizeof(*api));
    if (api == NULL)
        return AIOPS_ENOMEM;
    if (aiops_web_create(&api->web, loop, AIOPS_WEB_MAX_CLIENTS, AIOPS_WEB_MAX_UNSENT) < 0) {
        aiops_free(api);
        return AIOPS_ENOMEM;
    }
    api->loop = loop;
    api->cfg = cfg;
    api->store = store;
    api->offload = offload;
    api->started_ms = now_ms();
    if (cfg->default_sensitivity != NULL)
        aiops_sensitivity_parse(cfg->default_sensitivity, &sens); /* validated with the config */
    api->limits = (struct aiops_detect_limits){
        .max_series = cfg->detect_max_series,
        .min_points = cfg->detect_min_points,
        .max_points = cfg->detect_max_points,
        .default_method = cfg->default_method,
        .default_sensitivity = sens,
    };
    *out = api;
    return 0;
}

void aiops_api_destroy(struct aiops_api *api)
{
    if (api == NULL)
        return;
    assert(api->in_flight == 0);
    aiops_web_destroy(api->web);
    aiops_free(api);
}

void aiops_api_set_server(struct aiops_api *api, const struct aiops_http_server *server)
{
    api->server = server;
}

void aiops_api_set_pipeline(struct aiops_api *api, struct aiops_pipeline *pipeline)
{
    api->pipeline = pipeline;
    aiops_web_set_pipeline(api->web, pipeline);
}

static void json_reply(struct aiops_http_exchange *x, int status)
{
    x->res.status = status;
    x->res.content_type = "application/json";
}

/* ---- CORS: off unless http.cors_origins lists the origin (or "*"). */

static bool origin_allowed(const struct aiops_api *api, const char *origin)
{
    const char *list = api->cfg->cors_origins;
    size_t n = strlen(origin);

    if (list == NULL || list[0] == '\0' || n == 0)
        return false;
    while (*list != '\0') {
        size_t len;

        list += strspn(list, " ,");
        len = strcspn(list, ",");
        while (len > 0 && list[len - 1] == ' ')
            len--;
        if ((len == 1 && list[0] == '*') || (len == n && strncasecmp(list, origin, n) == 0))
            return true;
        list += len;
        list += strspn(list, " ");
    }
    return false;
}

static void add_cors(const struct aiops_api *api, struct aiops_http_exchange *x)
{
    if (!origin_allowed(api, x->req.origin))
        return;
    aiops_buf_printf(&x->res.headers, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
                     x->req.origin);
}

/* ---- Counting and answering. */

static void finish(struct aiops_api *api, struct aiops_http_exchange *x, enum route r)
{
    int status = x->res.status ? x->res.status : 500;
    int cls = status < 400 ? C_2XX : status < 500 ? C_4XX : C_5XX;

    api->requests[r][cls]++;
    add_cors(api, x);
    aiops_http_respond(x);
}

/* ---- POST /api/v1/detect */

static void detect_compute(struct detect_job *job)
{
    struct aiops_http_exchange *x = job->x;
    int err;

    x->res.body.len = 0;
    err = aiops_api_decode_detect(x->req.body, x->req.body_len, &job->api->limits, &job->req,
                                  &x->res.body);
    if (err == AIOPS_EINVAL) {
        json_reply(x, 422);
        return;
    }
    if (err < 0) {
        aiops_http_error(x, 503, "out of memory while decoding the request");
        return;
    }
    err = aiops_detect_run(&job->req, &job->params, job->api->cfg->grouping_window_seconds,
                           &job->resp);
    if (err < 0) { /* the method was checked by the decoder: only memory can fail here */
        aiops_http_error(x, 503, "out of memory while detecting");
        return;
    }
    job->have_resp = true;
    if (aiops_api_encode_detect(&job->req, &job->resp, &x->res.body) < 0) {
        aiops_http_error(x, 503, "out of memory while encoding the response");
        return;
    }
    json_reply(x, 200);
}

/* Queues the request's history rows: one per series, one per grouped event. */
static void detect_record(struct aiops_api *api, const struct detect_job *job)
{
    const struct aiops_detect_request *req = &job->req;
    const struct aiops_detect_response *resp = &job->resp;
    const char *sens = aiops_sensitivity_name(req->sensitivity);
    int64_t now = wall_ms();

    for (size_t i = 0; i < resp->n_series; i++) {
        const struct aiops_series_input *in = &req->series[i];
        const struct aiops_series_result *r = &resp->results[i];
        struct aiops_detection_record rec = {
            .resource_id = in->resource_id,
            .metric_name = in->metric_name,
            .method = resp->method->name,
            .sensitivity = sens,
            .total_points = (int64_t)in->n,
            .anomaly_count = (int64_t)r->anomaly_count,
            .anomaly_percentage =
                in->n ? round((double)r->anomaly_count * 10000.0 / (double)in->n) / 100.0 : 0,
            .detection_time_ms = r->detection_time_ms,
            .created_at_ms = now,
        };

        api->detect_points += in->n;
        if (api->store != NULL && aiops_store_append_detection(api->store, &rec) < 0)
            api->store_rejected++;
    }
    for (size_t i = 0; i < resp->n_events; i++) {
        const struct aiops_group_event *e = &resp->events[i];
        const struct aiops_series_input *in = &req->series[e->series];
        struct aiops_event_record rec = {
            .resource_id = in->resource_id,
            .metric_name = in->metric_name,
            .start_ms = e->start.ms,
            .end_ms = e->end.ms,
            .duration_seconds = e->duration_seconds,
            .max_score = e->max_score,
            .anomaly_points = (int64_t)e->anomaly_points,
            .peak_value = e->peak_value,
            .priority = e->priority,
            .created_at_ms = now,
        };

        if (api->store != NULL && aiops_store_append_event(api->store, &rec) < 0)
            api->store_rejected++;
    }
    api->detect_series += resp->n_series;
    api->detect_anomalies += resp->total_anomalies;
    api->detect_events += resp->n_events;
}

static void detect_done(struct detect_job *job)
{
    struct aiops_api *api = job->api;
    double secs = (double)(uv_hrtime() - job->start_ns) / 1e9;

    if (job->have_resp && job->x->res.status == 200)
        detect_record(api, job);
    for (size_t i = 0; i < N_BUCKETS; i++)
        api->detect_latency_buckets[i] += secs <= latency_buckets[i];
    api->detect_latency_count++;
    api->detect_latency_sum += secs;
    if (job->have_resp)
        aiops_detect_response_fini(&job->resp);
    aiops_detect_request_fini(&job->req);
    finish(api, job->x, R_DETECT);
    aiops_free(job);
}

static void on_detect_work(uv_work_t *w)
{
    detect_compute((struct detect_job *)w);
}

static void on_detect_done(uv_work_t *w, int status)
{
    struct detect_job *job = (struct detect_job *)w;

    (void)status; /* never cancelled: the loop runs until the work is done */
    job->api->in_flight--;
    detect_done(job);
}

static void handle_detect(struct aiops_api *api, struct aiops_http_exchange *x)
{
    struct detect_job *job = aiops_calloc(1, sizeof(*job));

    if (job == NULL) {
        aiops_http_error(x, 503, "out of memory");
        finish(api, x, R_DETECT);
        return;
    }
    job->api = api;
    job->x = x;
    job->start_ns = uv_hrtime();
    aiops_config_detector_params(api->cfg, AIOPS_SENSITIVITY_MEDIUM, &job->params);
    /* Even a 10-point request goes to the pool: the loop then only moves bytes while the pool
     * works, which measured 23k req/s against 16k when small requests ran on the loop. */
    if (api->offload && uv_queue_work(api->loop, &job->work, on_detect_work, on_detect_done) == 0) {
        api->in_flight++;
        return;
    }
    detect_compute(job);
    detect_done(job);
}

/* ---- GET /health, GET /, GET /methods */

static void handle_health(struct aiops_api *api, struct aiops_http_exchange *x)
{
    bool db = api->store != NULL && aiops_store_is_connected(api->store);

    json_reply(x, 200);
    aiops_buf_printf(&x->res.body,
                     "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_seconds\":%.3f,"
                     "\"database_connected\":%s}",
                     db ? "healthy" : "degraded", AIOPS_VERSION,
                     (double)(now_ms() - api->started_ms) / 1e3, db ? "true" : "false");
}

static void handle_root(struct aiops_http_exchange *x)
{
    json_reply(x, 200);
    aiops_buf_puts(&x->res.body,
                   "{\"service\":\"aiops-agent\",\"version\":\"" AIOPS_VERSION "\","
                   "\"description\":\"Streaming anomaly detection for infrastructure metrics\","
                   "\"links\":{\"detect\":\"/api/v1/detect\",\"health\":\"/health\","
                   "\"methods\":\"/methods\",\"metrics\":\"/metrics\","
                   "\"ingest\":\"/api/v1/ingest\",\"series\":\"/api/v1/series\","
                   "\"events\":\"/api/v1/events\",\"incidents\":\"/api/v1/incidents\","
                   "\"ready\":\"/ready\",\"stream\":\"/api/v1/stream\","
                   "\"dashboard\":\"/dashboard\",\"docs\":\"/docs\","
                   "\"openapi\":\"/openapi.json\"}}");
}

static void method_json(struct aiops_buf *b, const struct aiops_detector_ops *ops)
{
    aiops_buf_puts(b, "{\"name\":");
    aiops_json_string(b, ops->name, strlen(ops->name));
    aiops_buf_puts(b, ",\"description\":");
    aiops_json_string(b, ops->description, strlen(ops->description));
    aiops_buf_puts(b, ",\"category\":");
    aiops_json_string(b, ops->category, strlen(ops->category));
    aiops_buf_puts(b, ",\"best_for\":[");
    for (size_t i = 0; ops->best_for != NULL && ops->best_for[i] != NULL; i++) {
        if (i > 0)
            aiops_buf_puts(b, ",");
        aiops_json_string(b, ops->best_for[i], strlen(ops->best_for[i]));
    }
    aiops_buf_puts(b, "]}");
}

static void handle_methods(struct aiops_http_exchange *x)
{
    struct aiops_buf *b = &x->res.body;

    json_reply(x, 200);
    aiops_buf_puts(b, "{\"methods\":[");
    for (size_t i = 0; i < aiops_detector_count(); i++) {
        if (i > 0)
            aiops_buf_puts(b, ",");
        method_json(b, aiops_detector_at(i));
    }
    aiops_buf_puts(b, "]}");
}

/* ---- GET /metrics (Prometheus text format 0.0.4) */

static void handle_metrics(struct aiops_api *api, struct aiops_http_exchange *x)
{
    struct aiops_buf *b = &x->res.body;
    struct aiops_store_stats st = {0};

    x->res.status = 200;
    x->res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    aiops_buf_metric_header(b, "aiops_build_info", "gauge", "Version of the running agent.");
    aiops_buf_printf(b, "aiops_build_info{version=\"%s\"} 1\n", AIOPS_VERSION);
    aiops_buf_metric_header(b, "aiops_uptime_seconds", "gauge", "Seconds since the agent started.");
    aiops_buf_printf(b, "aiops_uptime_seconds %.3f\n", (double)(now_ms() - api->started_ms) / 1e3);
    aiops_buf_metric_header(b, "aiops_http_requests_total", "counter",
                            "HTTP requests answered, by route and status class.");
    for (int r = 0; r < R_COUNT; r++)
        for (int c = 0; c < C_COUNT; c++)
            aiops_buf_printf(b, "aiops_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                             route_names[r], class_names[c],
                             (unsigned long long)api->requests[r][c]);
    aiops_buf_metric_header(b, "aiops_http_connections", "gauge", "Open HTTP connections.");
    aiops_buf_printf(b, "aiops_http_connections %zu\n",
                     api->server ? aiops_http_server_connections(api->server) : 0);
    aiops_buf_metric_header(b, "aiops_detect_series_total", "counter",
                            "Series detected by the API.");
    aiops_buf_printf(b, "aiops_detect_series_total %llu\n", (unsigned long long)api->detect_series);
    aiops_buf_metric_header(b, "aiops_detect_points_total", "counter",
                            "Points detected by the API.");
    aiops_buf_printf(b, "aiops_detect_points_total %llu\n", (unsigned long long)api->detect_points);
    aiops_buf_metric_header(b, "aiops_detect_anomalies_total", "counter",
                            "Anomalous points found.");
    aiops_buf_printf(b, "aiops_detect_anomalies_total %llu\n",
                     (unsigned long long)api->detect_anomalies);
    aiops_buf_metric_header(b, "aiops_detect_events_total", "counter", "Grouped events produced.");
    aiops_buf_printf(b, "aiops_detect_events_total %llu\n", (unsigned long long)api->detect_events);
    aiops_buf_metric_header(b, "aiops_detect_request_seconds", "histogram",
                            "Time from a detect request's arrival to its answer.");
    for (size_t i = 0; i < N_BUCKETS; i++) {
        aiops_buf_printf(b, "aiops_detect_request_seconds_bucket{le=\"%g\"} %llu\n",
                         latency_buckets[i], (unsigned long long)api->detect_latency_buckets[i]);
    }
    aiops_buf_printf(b,
                     "aiops_detect_request_seconds_bucket{le=\"+Inf\"} %llu\n"
                     "aiops_detect_request_seconds_sum %.6f\n"
                     "aiops_detect_request_seconds_count %llu\n",
                     (unsigned long long)api->detect_latency_count, api->detect_latency_sum,
                     (unsigned long long)api->detect_latency_count);
    if (api->store != NULL)
        aiops_store_stats(api->store, &st);
    aiops_buf_metric_header(b, "aiops_store_rows_total", "counter",
                            "History rows by outcome: written, dropped (queue full), failed.");
    aiops_buf_printf(b,
                     "aiops_store_rows_total{outcome=\"written\"} %llu\n"
                     "aiops_store_rows_total{outcome=\"dropped\"} %llu\n"
                     "aiops_store_rows_total{outcome=\"failed\"} %llu\n",
                     (unsigned long long)st.written, (unsigned long long)st.dropped,
                     (unsigned long long)st.failed);
    aiops_buf_metric_header(b, "aiops_store_rows_pruned_total", "counter",
                            "Rows deleted for being older than storage.retention_days.");
    aiops_buf_printf(b, "aiops_store_rows_pruned_total %llu\n", (unsigned long long)st.pruned);
    aiops_buf_metric_header(b, "aiops_store_queue_depth", "gauge",
                            "History rows waiting to be written.");
    aiops_buf_printf(b, "aiops_store_queue_depth %llu\n", (unsigned long long)st.queued);
    aiops_buf_metric_header(b, "aiops_store_connected", "gauge", "1 while the store can write.");
    aiops_buf_printf(b, "aiops_store_connected %d\n",
                     api->store != NULL && aiops_store_is_connected(api->store));
    if (api->pipeline != NULL)
        aiops_pipeline_write_metrics(api->pipeline, b);
}

/* ---- Routing */

static enum route route_of(const char *path)
{
    for (int r = 0; r < R_OTHER; r++)
        if (strcmp(path, route_names[r]) == 0)
            return (enum route)r;
    if (strncmp(path, "/api/v1/series/", 15) == 0)
        return R_SERIES;
    if (strncmp(path, "/dashboard/", 11) == 0)
        return R_DASHBOARD;
    if (strncmp(path, "/docs/", 6) == 0)
        return R_DOCS;
    return R_OTHER;
}

static void handle_preflight(struct aiops_api *api, struct aiops_http_exchange *x, enum route r)
{
    if (!origin_allowed(api, x->req.origin)) {
        aiops_http_error(x, 405, "Method Not Allowed");
        finish(api, x, r);
        return;
    }
    x->res.status = 204;
    aiops_buf_puts(&x->res.headers, "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                                    "Access-Control-Allow-Headers: Content-Type\r\n"
                                    "Access-Control-Max-Age: 600\r\n");
    finish(api, x, r);
}

void aiops_api_handle(void *ctx, struct aiops_http_exchange *x)
{
    struct aiops_api *api = ctx;
    enum route r = route_of(x->req.path);
    bool get = x->req.method == HTTP_GET || x->req.method == HTTP_HEAD;

    if (r == R_OTHER) {
        aiops_http_error(x, 404, "Not Found");
    } else if (x->req.method == HTTP_OPTIONS) {
        handle_preflight(api, x, r);
        return;
    } else if (r == R_DETECT || r == R_INGEST) {
        if (x->req.method == HTTP_POST && r == R_DETECT) {
            handle_detect(api, x);
            return;
        }
        if (x->req.method == HTTP_POST)
            aiops_api_ingest(api->pipeline, x);
        else
            aiops_http_error(x, 405, "Method Not Allowed");
    } else if (!get) {
        aiops_http_error(x, 405, "Method Not Allowed");
    } else if (r == R_HEALTH) {
        handle_health(api, x);
    } else if (r == R_ROOT) {
        handle_root(x);
    } else if (r == R_METHODS) {
        handle_methods(x);
    } else if (r == R_SERIES) {
        aiops_api_series(api->pipeline, x);
    } else if (r == R_EVENTS) {
        aiops_api_events(api->pipeline, api->store, x);
    } else if (r == R_INCIDENTS) {
        aiops_api_incidents(api->pipeline, x);
    } else if (r == R_READY) {
        aiops_api_ready(api->pipeline, x);
    } else if (r == R_DASHBOARD || r == R_DOCS || r == R_OPENAPI) {
        aiops_web_asset(x);
    } else if (r == R_STREAM) {
        if (api->pipeline == NULL) {
            aiops_http_error(x, 503, "the streaming pipeline is not running");
        } else if (aiops_web_stream(api->web, x)) {
            api->requests[r][C_2XX]++; /* x is the stream's now: nothing to answer */
            return;
        }
    } else {
        handle_metrics(api, x);
    }
    if (x->res.status == 405)
        aiops_buf_puts(&x->res.headers,
                       r == R_DETECT || r == R_INGEST ? "Allow: POST\r\n" : "Allow: GET\r\n");
    finish(api, x, r);
}
