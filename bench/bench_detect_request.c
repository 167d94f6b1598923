/* SPDX-License-Identifier: MIT */
/* CPU cost of one detect request outside HTTP: decoding the JSON body, detecting, encoding the
 * response, on one core. bench/run.sh measures the whole server; this says where its time goes.
 * Usage: bench_detect_request BODY.json [iterations]   (bench/make_request.py writes bodies) */
#include "agent/buf.h"
#include "agent/detect.h"
#include "bench/clock.h"
#include "config/config.h"
#include "transports/api_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        goto out;
    data = malloc((size_t)n + 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    *len = (size_t)n;
out:
    if (f != NULL)
        fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    struct aiops_config cfg;
    struct aiops_detector_params params;
    struct aiops_detect_limits lim;
    double t_decode = 0, t_detect = 0, t_encode = 0;
    size_t len, points = 0;
    long iters = argc > 2 ? atol(argv[2]) : 2000;
    char *body;

    if (argc < 2 || iters <= 0) {
        fprintf(stderr, "usage: bench_detect_request BODY.json [iterations]\n");
        return 2;
    }
    body = read_file(argv[1], &len);
    if (body == NULL || aiops_config_init(&cfg) < 0) {
        fprintf(stderr, "bench_detect_request: cannot read %s\n", argv[1]);
        return 1;
    }
    lim = (struct aiops_detect_limits){.max_series = 10,
                                       .min_points = 10,
                                       .max_points = 1000000,
                                       .default_method = "isolation-forest",
                                       .default_sensitivity = AIOPS_SENSITIVITY_MEDIUM};
    for (long i = 0; i < iters; i++) {
        struct aiops_detect_request req;
        struct aiops_detect_response resp;
        struct aiops_buf out;
        double t0, t1, t2, t3;

        aiops_buf_init(&out);
        t0 = bench_cpu_seconds();
        if (aiops_api_decode_detect(body, len, &lim, &req, &out) != 0) {
            fprintf(stderr, "bench_detect_request: rejected: %.*s\n", (int)out.len, out.data);
            return 1;
        }
        t1 = bench_cpu_seconds();
        aiops_config_detector_params(&cfg, req.sensitivity, &params);
        if (aiops_detect_run(&req, &params, cfg.grouping_window_seconds, &resp) < 0)
            return 1;
        t2 = bench_cpu_seconds();
        if (aiops_api_encode_detect(&req, &resp, &out) < 0)
            return 1;
        t3 = bench_cpu_seconds();
        t_decode += t1 - t0;
        t_detect += t2 - t1;
        t_encode += t3 - t2;
        for (size_t s = 0; i == 0 && s < req.n_series; s++)
            points += req.series[s].n;
        aiops_detect_response_fini(&resp);
        aiops_detect_request_fini(&req);
        aiops_buf_fini(&out);
    }
    printf("%s: %zu bytes, %zu points; per request: decode %.1f us (%.0f ns/point), "
           "detect %.1f us, encode %.1f us\n",
           argv[1], len, points, t_decode / (double)iters * 1e6,
           t_decode / (double)iters / (double)points * 1e9, t_detect / (double)iters * 1e6,
           t_encode / (double)iters * 1e6);
    aiops_config_fini(&cfg);
    free(body);
    return 0;
}
