/* SPDX-License-Identifier: MIT */
/* Pieces every detector shares: default parameters, the sensitivity -> threshold rule, the
 * |z| -> [0,1] score mapping, create/destroy of incremental state, batch-by-incremental and the
 * standard-deviation explanation. */
#include "detectors/detector.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>

void aiops_detector_params_init(struct aiops_detector_params *p)
{
    p->sensitivity = AIOPS_SENSITIVITY_MEDIUM;
    p->window = 256;
    p->ma_window = 10;    /* the old service's DEFAULT_WINDOW_SIZE */
    p->subsequence = 16;  /* 80 minutes of 5-minute samples (matrix_profile.h) */
    p->z_threshold = 3.0; /* the old service's Z_SCORE_THRESHOLD */
    p->seed = 42;
}

double aiops_detector_z_threshold(const struct aiops_detector_params *p)
{
    switch (p->sensitivity) {
    case AIOPS_SENSITIVITY_LOW:
        return p->z_threshold + 1.0;
    case AIOPS_SENSITIVITY_HIGH:
        return p->z_threshold - 0.5;
    case AIOPS_SENSITIVITY_MEDIUM:
    default:
        return p->z_threshold;
    }
}

/* 1 - 2^(-(z/thr)^2): 0 at z = 0, exactly 0.5 at the threshold, rising towards 1. Monotone in
 * |z|, so "score > 0.5" and "|z| > thr" agree up to rounding at the boundary. */
double aiops_detector_z_score_to_unit(double z, double z_thr)
{
    double r;

    if (isnan(z))
        return 0.0;
    z = fabs(z);
    if (!(z_thr > 0.0))
        return z > 0.0 ? 1.0 : 0.0;
    if (isinf(z))
        return 1.0;
    r = z / z_thr;
    return 1.0 - exp2(-(r * r));
}

int aiops_sensitivity_parse(const char *s, enum aiops_sensitivity *out)
{
    if (s == NULL)
        return AIOPS_EINVAL;
    if (strcasecmp(s, "low") == 0)
        *out = AIOPS_SENSITIVITY_LOW;
    else if (strcasecmp(s, "medium") == 0)
        *out = AIOPS_SENSITIVITY_MEDIUM;
    else if (strcasecmp(s, "high") == 0)
        *out = AIOPS_SENSITIVITY_HIGH;
    else
        return AIOPS_EINVAL;
    return 0;
}

const char *aiops_sensitivity_name(enum aiops_sensitivity s)
{
    switch (s) {
    case AIOPS_SENSITIVITY_LOW:
        return "low";
    case AIOPS_SENSITIVITY_HIGH:
        return "high";
    case AIOPS_SENSITIVITY_MEDIUM:
    default:
        return "medium";
    }
}

int aiops_detector_create(struct aiops_detector **out, const struct aiops_detector_ops *ops,
                          const struct aiops_detector_params *params)
{
    struct aiops_detector *d;
    int err;

    if (ops == NULL || ops->init == NULL || ops->size < sizeof(*d))
        return AIOPS_EINVAL;
    d = aiops_calloc(1, ops->size);
    if (d == NULL)
        return AIOPS_ENOMEM;
    d->ops = ops;
    d->params = *params;
    err = ops->init(d);
    if (err < 0)
        goto err_free_detector;
    *out = d;
    return 0;
err_free_detector:
    aiops_free(d);
    return err;
}

void aiops_detector_destroy(struct aiops_detector *d)
{
    if (d == NULL)
        return;
    if (d->ops->fini != NULL)
        d->ops->fini(d);
    aiops_free(d);
}

int aiops_detector_batch_incremental(const struct aiops_detector_ops *ops,
                                     const struct aiops_detector_params *params,
                                     const struct aiops_point *pts, size_t n,
                                     struct aiops_verdict *out)
{
    struct aiops_detector *d;
    int err;

    err = aiops_detector_create(&d, ops, params);
    if (err < 0)
        return err;
    d->every_point = true;
    for (size_t i = 0; i < n; i++)
        d->ops->update(d, &pts[i], &out[i]);
    aiops_detector_destroy(d);
    return 0;
}

void aiops_hold_off_init(struct aiops_hold_off *h, uint32_t hold, uint32_t rearm)
{
    *h = (struct aiops_hold_off){.hold = hold, .rearm = rearm > 0 ? rearm : 1};
}

void aiops_hold_off_apply(struct aiops_hold_off *h, struct aiops_verdict *v)
{
    h->calm = v->is_anomaly ? 0 : (h->calm < UINT32_MAX ? h->calm + 1 : h->calm);
    if (h->holding && h->left == 0 && h->calm >= h->rearm)
        h->holding = false;
    if (h->left > 0)
        h->left--;
    if (h->holding) {
        v->is_anomaly = false;
        v->score = fmin(v->score, AIOPS_SCORE_HELD);
    } else if (v->is_anomaly) {
        h->holding = true;
        h->left = h->hold;
    }
}

void aiops_detector_explain_band(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    const char *dir = value >= v->expected ? "above" : "below";

    if (len == 0)
        return;
    if (isnan(v->expected) || isnan(v->statistic)) {
        snprintf(buf, len, "value %.4g has anomaly score %.3f", value, v->score);
    } else if (v->statistic >= DBL_MAX) {
        /* A window with no variation at all: any other value is infinitely many sigmas off. */
        snprintf(buf, len, "value %.4g is %s the constant %.4g seen in every recent point", value,
                 dir, v->expected);
    } else {
        snprintf(buf, len,
                 "value %.4g is %.2f standard deviations %s the expected %.4g "
                 "(normal range %.4g to %.4g)",
                 value, v->statistic, dir, v->expected, v->lower, v->upper);
    }
}

void aiops_detector_fini_noop(struct aiops_detector *d)
{
    (void)d;
}
