/* SPDX-License-Identifier: MIT */
/* `aiops-agent run`: the agent in the foreground. One libuv loop owns the HTTP server and the
 * API; the store writes on its own thread. SIGINT/SIGTERM stop accepting, let requests in
 * flight finish, flush the store and exit 0. */
#include "agent/cli.h"
#include "agent/err.h"
#include "agent/log.h"
#include "agent/pipeline.h"
#include "config/config.h"
#include "storage/store.h"
#include "transports/api.h"
#include "transports/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* Longest a shutdown waits for requests in flight before it closes their connections. */
#define DRAIN_TIMEOUT_MS 10000

struct agent {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t drain_timer;
    struct aiops_http_server *http;
    struct aiops_api *api;
    struct aiops_pipeline *pipeline;
    bool pipeline_running;
    bool stopping;
};

static void on_pipeline_stopped(void *arg)
{
    struct agent *a = arg;

    a->pipeline_running = false;
}

static void on_http_closed(void *arg)
{
    struct agent *a = arg;

    a->http = NULL;
    uv_close((uv_handle_t *)&a->drain_timer, NULL);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct agent *a = t->data;

    aiops_warn("agent", "requests still in flight after %d ms; closing their connections",
               DRAIN_TIMEOUT_MS);
    /* Work already on the thread pool still finishes: the loop runs until it has. */
    if (a->http != NULL)
        aiops_http_server_drop(a->http);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct agent *a = sig->data;

    if (a->stopping)
        return;
    a->stopping = true;
    aiops_info("agent", "received %s: draining requests in flight, then stopping",
               signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_timer_start(&a->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    uv_unref((uv_handle_t *)&a->drain_timer);
    /* HTTP ingest answers 503 from here on; sources stop once the sinks have what was read. */
    aiops_pipeline_stop(a->pipeline, on_pipeline_stopped, a);
    aiops_http_server_close(a->http, on_http_closed, a);
}

static int serve(struct agent *a, const struct aiops_config *cfg, struct aiops_store *store)
{
    char host[64], errbuf[512];
    int port, err;

    err = aiops_config_listen_split(cfg->listen, host, sizeof(host), &port);
    if (err < 0) {
        aiops_error("agent", "http.listen: '%s' is not ADDR:PORT", cfg->listen);
        return err;
    }
    err = aiops_api_create(&a->api, &a->loop, cfg, store, true);
    if (err < 0) {
        aiops_error("agent", "api: %s", aiops_strerror(err));
        return err;
    }
    a->pipeline_running = true;
    err = aiops_pipeline_create(&a->pipeline, &a->loop, cfg, store, errbuf, sizeof(errbuf));
    if (err < 0) {
        aiops_error("agent", "%s", errbuf);
        goto err_destroy_api;
    }
    aiops_api_set_pipeline(a->api, a->pipeline);
    err = aiops_http_server_create(
        &a->http, &a->loop, host, port,
        &(struct aiops_http_limits){.max_body = cfg->max_body_bytes,
                                    .idle_ms = cfg->http_idle_timeout_ms,
                                    .request_ms = cfg->http_request_timeout_ms},
        aiops_api_handle, a->api, errbuf, sizeof(errbuf));
    if (err < 0) {
        aiops_error("agent", "%s", errbuf);
        goto err_destroy_api;
    }
    aiops_api_set_server(a->api, a->http);
    uv_signal_init(&a->loop, &a->sigint);
    uv_signal_init(&a->loop, &a->sigterm);
    uv_timer_init(&a->loop, &a->drain_timer);
    a->drain_timer.data = a;
    a->sigint.data = a->sigterm.data = a;
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    aiops_info("agent", "aiops-agent %s listening on http://%s%s%s:%d (store %s)", AIOPS_VERSION,
               strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
               aiops_http_server_port(a->http), cfg->database_url);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    aiops_api_set_server(a->api, NULL);
    aiops_api_destroy(a->api);
    return 0;
err_destroy_api:
    aiops_api_destroy(a->api);
    a->api = NULL;
    return err;
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int aiops_cmd_run(int argc, char **argv)
{
    struct aiops_config cfg;
    struct aiops_store *store = NULL;
    struct agent a;
    char errbuf[512];
    int err, status = 1;

    err = aiops_cli_load_config(&cfg, &argc, argv, errbuf, sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "aiops-agent: %s\n", errbuf);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: aiops-agent run [--config FILE] [--listen ADDR:PORT] "
                   "[--database-url URL]\n                       [--log-level L] "
                   "[--log-format text|json] [--set KEY=VALUE]\n");
            aiops_config_fini(&cfg);
            return 0;
        }
        fprintf(stderr, "aiops-agent run: unexpected argument '%s' (see --help)\n", argv[i]);
        aiops_config_fini(&cfg);
        return 2;
    }
    /* Detection is CPU-bound: more pool threads than cores only adds preemption to the tail
     * latency. Set before the pool starts (at the first offloaded request); a user's value wins. */
    if (getenv("UV_THREADPOOL_SIZE") == NULL) {
        char n[16];

        snprintf(n, sizeof(n), "%u", uv_available_parallelism());
        setenv("UV_THREADPOOL_SIZE", n, 0);
    }
    memset(&a, 0, sizeof(a));
    err = uv_loop_init(&a.loop);
    if (err < 0) {
        aiops_error("agent", "event loop: %s", uv_strerror(err));
        goto out_fini_config;
    }
    err =
        aiops_store_open(&store, cfg.database_url, &a.loop,
                         &(struct aiops_store_options){.batch_ms = cfg.store_batch_ms,
                                                       .queue_max = cfg.store_queue_max,
                                                       .retention_days = cfg.store_retention_days},
                         errbuf, sizeof(errbuf));
    if (err < 0) {
        aiops_error("agent", "storage: %s", errbuf);
        goto out_close_loop;
    }
    if (serve(&a, &cfg, store) == 0)
        status = 0;
    /* A failed start: stop what the pipeline started (sources, sinks) before closing. */
    if (a.pipeline != NULL && a.pipeline_running && !a.stopping)
        aiops_pipeline_stop(a.pipeline, on_pipeline_stopped, &a);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    aiops_pipeline_destroy(a.pipeline);
    aiops_store_close(store); /* flushes what the last requests and events queued */
    store = NULL;
out_close_loop:
    /* Close whatever is left (handles of a failed start), then the loop itself. */
    uv_walk(&a.loop, close_handle, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    if (status == 0)
        aiops_info("agent", "stopped cleanly");
out_fini_config:
    aiops_config_fini(&cfg);
    return status;
}
