/* SPDX-License-Identifier: MIT */
/* `aiops-agent demo`: what the old service's example script did. It makes a 50-point CPU series
 * with one injected spike, sends it to the detect API of a running agent (--url) or runs the
 * same request in-process, and prints the answer as a table. */
#include "agent/buf.h"
#include "agent/cli.h"
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "agent/timestamp.h"
#include "config/config.h"
#include "transports/api_json.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#define DEMO_POINTS   50
#define DEMO_SPIKE_AT 35 /* index of the injected anomaly */

/* A 50-point series a minute apart ending now: a gentle wave with deterministic noise and one
 * spike, the shape of the old example's data. */
static int build_request(struct aiops_buf *body, const char *method, const char *sensitivity)
{
    int64_t start_ms = ((int64_t)time(NULL) / 60 - DEMO_POINTS) * 60000;
    uint32_t noise = 12345;
    char ts[40];

    aiops_buf_puts(body, "{\"series\":[{\"resource_id\":\"pod-web-001\",\"metric_name\":\"cpu\","
                         "\"data\":[");
    for (int i = 0; i < DEMO_POINTS; i++) {
        struct aiops_time t = {.ms = start_ms + (int64_t)i * 60000, .tz = AIOPS_TZ_UTC};
        double value;

        noise = noise * 1103515245u + 12345u; /* a fixed LCG: the same series every run */
        value = 45.0 + 3.0 * sin(i / 6.0) + ((noise >> 16) % 200) / 100.0;
        if (i == DEMO_SPIKE_AT)
            value = 98.5;
        aiops_time_format(&t, ts, sizeof(ts));
        aiops_buf_printf(body, "%s{\"timestamp\":\"%s\",\"value\":%.2f}", i ? "," : "", ts, value);
    }
    aiops_buf_puts(body, "]}],\"method\":");
    aiops_json_string(body, method, strlen(method));
    aiops_buf_puts(body, ",\"sensitivity\":");
    aiops_json_string(body, sensitivity, strlen(sensitivity));
    return aiops_buf_puts(body, "}");
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    return aiops_buf_append(user, data, size * n) == 0 ? size * n : 0;
}

/* POSTs body to url's detect endpoint; the answer goes to out. Returns the HTTP status or -1. */
static long post_detect(const char *url, const struct aiops_buf *body, struct aiops_buf *out)
{
    char endpoint[1024];
    struct curl_slist *headers = NULL;
    long status = -1;
    CURLcode rc;
    CURL *curl;

    snprintf(endpoint, sizeof(endpoint), "%s%s", url,
             strstr(url, "/api/v1/detect") ? "" : "/api/v1/detect");
    curl = curl_easy_init();
    if (curl == NULL)
        return -1;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "aiops-agent: demo: %s: %s\n", endpoint, curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

/* Runs the request in this process, exactly as the API would. */
static int detect_in_process(const struct aiops_config *cfg, const struct aiops_buf *body,
                             struct aiops_buf *out)
{
    struct aiops_detect_limits limits = {
        .max_series = cfg->detect_max_series,
        .min_points = cfg->detect_min_points,
        .max_points = cfg->detect_max_points,
        .default_method = cfg->default_method,
        .default_sensitivity = AIOPS_SENSITIVITY_MEDIUM,
    };
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params params;
    int err;

    err = aiops_api_decode_detect(body->data, body->len, &limits, &req, out);
    if (err < 0)
        return err;
    aiops_config_detector_params(cfg, req.sensitivity, &params);
    err = aiops_detect_run(&req, &params, cfg->grouping_window_seconds, &resp);
    if (err == 0) {
        err = aiops_api_encode_detect(&req, &resp, out);
        aiops_detect_response_fini(&resp);
    }
    aiops_detect_request_fini(&req);
    return err;
}

static const char *str_at(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : "?";
}

static double num_at(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
    return v ? YAJL_GET_DOUBLE(v) : NAN;
}

/* The items of obj[key] when it is an array (*n = 0 and NULL otherwise). */
static yajl_val *array_at(yajl_val obj, const char *key, size_t *n)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_array);

    *n = 0;
    if (v == NULL || !YAJL_IS_ARRAY(v))
        return NULL;
    *n = v->u.array.len;
    return v->u.array.values;
}

static void print_result(yajl_val root)
{
    size_t n_results, n_events;
    yajl_val *results = array_at(root, "results", &n_results);
    yajl_val *events = array_at(root, "grouped_events", &n_events);

    for (size_t i = 0; i < n_results; i++) {
        yajl_val r = results[i];
        size_t n_anomalies;
        yajl_val *anomalies = array_at(r, "anomalies", &n_anomalies);

        printf("%s/%s: %.0f points, method %s, %.0f anomalies (%.2f%%) in %.2f ms\n",
               str_at(r, "resource_id"), str_at(r, "metric_name"), num_at(r, "total_points"),
               str_at(r, "method_used"), num_at(r, "anomaly_count"),
               num_at(r, "anomaly_percentage"), num_at(r, "detection_time_ms"));
        if (n_anomalies == 0)
            continue;
        printf("  %-25s %10s %6s  %s\n", "timestamp", "value", "score", "reason");
        for (size_t j = 0; j < n_anomalies; j++) {
            yajl_val a = anomalies[j];
            printf("  %-25s %10.2f %6.3f  %s\n", str_at(a, "timestamp"), num_at(a, "value"),
                   num_at(a, "score"), str_at(a, "reason"));
        }
    }
    if (n_events == 0) {
        printf("grouped events: none\n");
        return;
    }
    printf("grouped events (highest priority first):\n");
    for (size_t i = 0; i < n_events; i++) {
        yajl_val e = events[i];
        printf("  priority %.3f  %s/%s  %s .. %s  %.0f point(s), max score %.3f, peak %.2f\n",
               num_at(e, "priority"), str_at(e, "resource_id"), str_at(e, "metric"),
               str_at(e, "start_time"), str_at(e, "end_time"), num_at(e, "anomaly_points"),
               num_at(e, "max_score"), num_at(e, "peak_value"));
    }
}

int aiops_cmd_demo(int argc, char **argv)
{
    const char *url = NULL, *method = "z-score", *sensitivity = "medium";
    struct aiops_buf body, answer;
    struct aiops_config cfg;
    char errbuf[512];
    yajl_val root;
    int status = 1, err;

    err = aiops_cli_load_config(&cfg, &argc, argv, errbuf, sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "aiops-agent: %s\n", errbuf);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--url") == 0           ? &url
                            : strcmp(argv[i], "--method") == 0      ? &method
                            : strcmp(argv[i], "--sensitivity") == 0 ? &sensitivity
                                                                    : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "usage: aiops-agent demo [--url URL] [--method M] "
                            "[--sensitivity low|medium|high]\n");
            aiops_config_fini(&cfg);
            return 2;
        }
        *slot = argv[++i];
    }
    aiops_buf_init(&body);
    aiops_buf_init(&answer);
    if (build_request(&body, method, sensitivity) < 0)
        goto out;
    printf("demo: 50 points of pod-web-001/cpu, one spike of 98.5 at point %d, method %s, "
           "sensitivity %s, %s\n\n",
           DEMO_SPIKE_AT + 1, method, sensitivity, url ? url : "in-process");
    if (url != NULL) {
        long code = post_detect(url, &body, &answer);
        if (code != 200) {
            if (code > 0)
                fprintf(stderr, "aiops-agent: demo: HTTP %ld: %s\n", code,
                        answer.data ? answer.data : "");
            goto out;
        }
    } else {
        err = detect_in_process(&cfg, &body, &answer);
        if (err < 0) {
            fprintf(stderr, "aiops-agent: demo: %s %s\n", aiops_strerror(err),
                    answer.data ? answer.data : "");
            goto out;
        }
    }
    root = yajl_tree_parse(answer.data ? answer.data : "", errbuf, sizeof(errbuf));
    if (root == NULL) {
        fprintf(stderr, "aiops-agent: demo: the answer is not JSON: %s\n", errbuf);
        goto out;
    }
    print_result(root);
    yajl_tree_free(root);
    status = 0;
out:
    aiops_buf_fini(&answer);
    aiops_buf_fini(&body);
    aiops_config_fini(&cfg);
    return status;
}
