/* SPDX-License-Identifier: MIT */
/* The API's routes answered inline (no loop, no store): status codes, JSON bodies, CORS and the
 * counters /metrics reports. The real server over TCP is tests/integration/. */
#include "agent/mem.h"
#include "config/config.h"
#include "tests/support.h"
#include "transports/api.h"
#include "transports/http.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

static struct aiops_config cfg;
static struct aiops_api *api;
static struct aiops_http_exchange x;
static int answers;

static void on_respond(struct aiops_http_exchange *ex)
{
    (void)ex;
    answers++;
}

static void setup(void)
{
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_api_create(&api, NULL, &cfg, NULL, false), 0));
    aiops_http_exchange_init(&x);
    x.respond = on_respond;
}

static void teardown(void)
{
    aiops_http_exchange_fini(&x);
    aiops_api_destroy(api);
    aiops_config_fini(&cfg);
    aiops_test_check_leaks();
}

TestSuite(api, .init = setup, .fini = teardown);

/* Sends one request through the router; returns the status. */
static int call(enum http_method method, const char *path, const char *body, const char *origin)
{
    struct aiops_http_reader r;
    struct aiops_buf raw;
    size_t used;

    aiops_http_exchange_fini(&x);
    aiops_http_exchange_init(&x);
    x.respond = on_respond;
    aiops_http_reader_init(&r, &x, 1 << 20);
    aiops_buf_init(&raw);
    aiops_buf_printf(&raw, "%s %s HTTP/1.1\r\nOrigin: %s\r\nContent-Length: %zu\r\n\r\n%s",
                     http_method_str(method), path, origin ? origin : "", body ? strlen(body) : 0,
                     body ? body : "");
    cr_assert(
        eq(int, aiops_http_reader_feed(&r, raw.data, raw.len, &used), AIOPS_HTTP_READ_REQUEST));
    aiops_buf_fini(&raw);
    answers = 0;
    aiops_api_handle(api, &x);
    cr_assert(eq(int, answers, 1), "every request is answered exactly once");
    return x.res.status;
}

static bool body_has(const char *needle)
{
    return x.res.body.data != NULL && strstr(x.res.body.data, needle) != NULL;
}

/* A 20-point series around 10 with one spike at index 15. */
static void detect_body(char *buf, size_t len, const char *method)
{
    size_t n = (size_t)snprintf(buf, len,
                                "{\"series\":[{\"resource_id\":\"pod-1\","
                                "\"metric_name\":\"cpu_usage\",\"data\":[");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(buf + n, len - n,
                              "%s{\"timestamp\":\"2026-01-01T00:%02d:00Z\",\"value\":%g}",
                              i ? "," : "", i, i == 15 ? 95.0 : 10.0 + (i % 3) * 0.5);
    snprintf(buf + n, len - n, "]}],\"method\":\"%s\",\"sensitivity\":\"medium\"}", method);
}

Test(api, reports_health_with_version_and_store_state)
{
    cr_assert(eq(int, call(HTTP_GET, "/health", NULL, NULL), 200));
    cr_assert(body_has("\"status\":\"degraded\""), "no store: degraded, %s", x.res.body.data);
    cr_assert(body_has("\"database_connected\":false"));
    cr_assert(body_has("\"version\":\"" AIOPS_VERSION "\""));
}

Test(api, lists_every_method_of_the_contract)
{
    const char *names[] = {"z-score", "moving-average", "isolation-forest",
                           "lof",     "prophet",        "dtai-auto"};

    cr_assert(eq(int, call(HTTP_GET, "/methods", NULL, NULL), 200));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char needle[64];

        snprintf(needle, sizeof(needle), "\"name\":\"%s\"", names[i]);
        cr_assert(body_has(needle), "missing %s", names[i]);
    }
    cr_assert(body_has("\"category\":\"statistical\""));
    cr_assert(body_has("\"best_for\":["));
}

Test(api, detects_a_spike_and_groups_it)
{
    char body[4096];

    detect_body(body, sizeof(body), "z-score");
    cr_assert(eq(int, call(HTTP_POST, "/api/v1/detect", body, NULL), 200), "%s", x.res.body.data);
    cr_assert(body_has("\"method_used\":\"z-score\""));
    cr_assert(body_has("\"timestamp\":\"2026-01-01T00:15:00Z\",\"value\":95"), "%s",
              x.res.body.data);
    cr_assert(body_has("\"total_points\":20"));
    cr_assert(body_has("\"grouped_events\":[{\"resource_id\":\"pod-1\",\"metric\":\"cpu_usage\""));
}

Test(api, answers_a_validation_error_with_422_in_fastapis_shape)
{
    cr_assert(eq(int, call(HTTP_POST, "/api/v1/detect", "{\"series\":[]}", NULL), 422));
    cr_assert(body_has("{\"detail\":[{"), "%s", x.res.body.data);
    cr_assert(body_has("\"loc\":[\"body\",\"series\"]"), "%s", x.res.body.data);
}

Test(api, answers_malformed_json_with_a_4xx_naming_the_offset)
{
    int status = call(HTTP_POST, "/api/v1/detect", "{\"series\": [", NULL);

    cr_assert(status == 400 || status == 422, "status %d", status);
    cr_assert(body_has("json_invalid"), "%s", x.res.body.data);
}

Test(api, answers_unknown_paths_404_and_wrong_methods_405_in_json)
{
    cr_assert(eq(int, call(HTTP_GET, "/api/v1/nothing", NULL, NULL), 404));
    cr_assert(eq(str, x.res.body.data, "{\"detail\":\"Not Found\"}"));
    cr_assert(eq(int, call(HTTP_GET, "/api/v1/detect", NULL, NULL), 405));
    cr_assert(not(eq(ptr, strstr(x.res.headers.data, "Allow: POST"), NULL)));
    cr_assert(eq(int, call(HTTP_DELETE, "/health", NULL, NULL), 405));
}

Test(api, counts_requests_and_detections_in_metrics)
{
    char body[4096];

    detect_body(body, sizeof(body), "z-score");
    call(HTTP_POST, "/api/v1/detect", body, NULL);
    call(HTTP_POST, "/api/v1/detect", "{}", NULL);
    call(HTTP_GET, "/nope", NULL, NULL);
    cr_assert(eq(int, call(HTTP_GET, "/metrics", NULL, NULL), 200));
    cr_assert(eq(int, strncmp(x.res.content_type, "text/plain; version=0.0.4", 25), 0));
    cr_assert(body_has("aiops_http_requests_total{route=\"/api/v1/detect\",code=\"2xx\"} 1\n"));
    cr_assert(body_has("aiops_http_requests_total{route=\"/api/v1/detect\",code=\"4xx\"} 1\n"));
    cr_assert(body_has("aiops_http_requests_total{route=\"other\",code=\"4xx\"} 1\n"));
    cr_assert(body_has("aiops_detect_points_total 20\n"));
    cr_assert(body_has("aiops_detect_request_seconds_count 2\n"));
}

Test(api, sends_no_cors_headers_unless_origins_are_configured)
{
    cr_assert(eq(int, call(HTTP_GET, "/health", NULL, "http://evil.example"), 200));
    cr_assert(eq(sz, x.res.headers.len, 0));
    cr_assert(eq(int, call(HTTP_OPTIONS, "/api/v1/detect", NULL, "http://evil.example"), 405));
}

Test(api, allows_a_configured_origin_and_answers_its_preflight)
{
    char err[256];

    cr_assert(eq(int,
                 aiops_config_set(&cfg, "http.cors_origins", "http://a.example, http://dash", err,
                                  sizeof(err)),
                 0),
              "%s", err);
    cr_assert(eq(int, call(HTTP_GET, "/health", NULL, "http://dash"), 200));
    cr_assert(
        not(eq(ptr, strstr(x.res.headers.data, "Access-Control-Allow-Origin: http://dash"), NULL)));
    cr_assert(eq(int, call(HTTP_OPTIONS, "/api/v1/detect", NULL, "http://a.example"), 204));
    cr_assert(not(eq(ptr, strstr(x.res.headers.data, "Access-Control-Allow-Methods"), NULL)));
    cr_assert(eq(int, call(HTTP_GET, "/health", NULL, "http://other"), 200));
    cr_assert(eq(ptr, strstr(x.res.headers.data ? x.res.headers.data : "", "Allow-Origin"), NULL));
}

Test(api, events_from_the_store_need_a_store_and_a_known_source)
{
    cr_assert(eq(int, call(HTTP_GET, "/api/v1/events?source=store", NULL, NULL), 503));
    cr_assert(body_has("\"detail\":\"the agent has no store"));
    cr_assert(eq(int, call(HTTP_GET, "/api/v1/events?source=disk", NULL, NULL), 422));
    cr_assert(body_has("\"loc\":[\"query\",\"source\"]"));
    cr_assert(eq(int, call(HTTP_GET, "/api/v1/events?source=memory", NULL, NULL), 503));
    cr_assert(body_has("pipeline is not running"));
}
