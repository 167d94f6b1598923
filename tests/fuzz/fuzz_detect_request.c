/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the detect API's JSON: arbitrary bytes as a request body, decoded, and
 * when valid run through z-score and encoded. Nothing may crash or leak, a rejection must be a
 * 422 body, and every encoded response must be the JSON it claims to be. */
#include "agent/buf.h"
#include "agent/detect.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "transports/api_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const struct aiops_buf *b)
{
    yajl_val v = yajl_tree_parse(b->data, NULL, 0);

    if (v == NULL)
        abort();
    yajl_tree_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct aiops_detect_limits limits = {
        .max_series = 10,
        .min_points = 10,
        .max_points = 2000,
        .default_method = "z-score",
        .default_sensitivity = AIOPS_SENSITIVITY_MEDIUM,
    };
    struct aiops_detect_request req;
    struct aiops_detect_response resp;
    struct aiops_detector_params p;
    struct aiops_buf out;
    int err;

    aiops_buf_init(&out);
    err = aiops_api_decode_detect((const char *)data, size, &limits, &req, &out);
    if (err == AIOPS_EINVAL) {
        if (out.len == 0 || strncmp(out.data, "{\"detail\":[", 11) != 0)
            abort();
        check_json(&out);
    } else if (err == 0) {
        if (out.len != 0 || req.n_series == 0 || req.method == NULL)
            abort();
        /* Every accepted request runs, as the API would run it, with z-score. */
        aiops_free(req.method);
        req.method = aiops_strdup("z-score");
        if (req.method == NULL)
            abort();
        aiops_detector_params_init(&p);
        p.sensitivity = req.sensitivity;
        if (aiops_detect_run(&req, &p, 300, &resp) == 0) {
            if (aiops_api_encode_detect(&req, &resp, &out) < 0)
                abort();
            check_json(&out);
            aiops_detect_response_fini(&resp);
        }
        aiops_detect_request_fini(&req);
    } else {
        abort();
    }
    aiops_buf_fini(&out);
    if (aiops_mem_live() != 0)
        abort();
    return 0;
}
