/* SPDX-License-Identifier: MIT */
/* JSON of the detect API, byte-compatible with the FastAPI service it replaces: decoding a
 * POST /api/v1/detect body into a request (with FastAPI/pydantic-shaped validation errors) and
 * encoding the response. Pure functions, safe on any thread. */
#ifndef AIOPS_API_JSON_H
#define AIOPS_API_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"
#include "agent/detect.h"

struct aiops_detect_limits {
    uint32_t max_series;                        /* 10 */
    uint32_t min_points;                        /* 10 */
    uint32_t max_points;                        /* per series */
    const char *default_method;                 /* "isolation-forest" */
    enum aiops_sensitivity default_sensitivity; /* medium */
};

/* Decodes a detect request. Returns 0 with *out filled (free with aiops_detect_request_fini),
 * or AIOPS_EINVAL with *out zeroed and `errors` holding the whole 422 body:
 * {"detail":[{"type":"...","loc":["body","series",0,"data"],"msg":"...","input":...}, ...]}.
 * Malformed JSON gives type "json_invalid" with loc ["body", byte offset]. Method names are
 * checked against the detector registry. AIOPS_ENOMEM on allocation failure. */
int aiops_api_decode_detect(const char *body, size_t len, const struct aiops_detect_limits *limits,
                            struct aiops_detect_request *out, struct aiops_buf *errors);

/* Encodes the response of a finished detection (see the README for the shape). */
int aiops_api_encode_detect(const struct aiops_detect_request *req,
                            const struct aiops_detect_response *resp, struct aiops_buf *out);

/* Appends s as a JSON string (quotes included, escaped) / a number (finite as shortest
 * round-trip-ish %.15g, non-finite as null). Shared by every JSON writer of the agent. */
int aiops_json_string(struct aiops_buf *out, const char *s, size_t len);
int aiops_json_number(struct aiops_buf *out, double v);

#endif
