/* SPDX-License-Identifier: MIT */
/* `auto`: the method a metric gets when none is configured. It runs complementary detectors
 * side by side; each is calibrated so 0.5 is its own threshold at the sensitivity asked for, and
 * auto's score is 0.65 of the strongest component's score plus 0.35 of their mean: one component
 * well past its threshold flags alone, two halfway there flag together, one barely past does not.
 * Beside them runs the flatline check (flatline.h), which sees what neither does, a series that
 * stops changing: its score replaces the blend when higher. A verdict carries the component it
 * came from, whose explanation it gets. After a flag, auto holds back until the series has been
 * normal for a while (AUTO_REARM), so an anomaly, however long, is one alert.
 */
#include "detectors/auto.h"
#include "detectors/flatline.h"
#include "detectors/matrix_profile.h"
#include "detectors/prophet.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The components, chosen on the NAB backtest for quality per unit of CPU (see README). */
static const struct aiops_detector_ops *const parts[] = {
    &aiops_matrix_profile_ops,
    &aiops_prophet_ops,
};
#define N_PARTS COUNT_OF(parts)

/* One alert per anomaly: after a flag auto holds back (aiops_hold_off) until AUTO_REARM points
 * in a row have scored below 0.5. Auto, not its components, does this: they report every point
 * beyond their thresholds (every_point), since their own refractory periods, meant for each of
 * them alone, hid from auto the start of an anomaly that followed another (prophet's threshold
 * doubled for 12 hours after any flag of its own). 16 points is one matrix-profile subsequence.
 * On NAB (standard profile, own; the mean over the files and over the same files less their
 * first 50 to 200 points is in brackets) a fixed refractory period of 16 points with the
 * components' own periods scored 72.1 (68.2); without them, re-arming after 8 points scored
 * 75.4 (71.6), 12 75.5 (71.8), 16 75.6 (71.9), 20 75.8 (72.0), 24 74.3 (71.2), 32 68.9 (67.3);
 * also holding the first 8 to 24 points whatever they score changed nothing. */
#define AUTO_REARM 16
/* Share of the strongest component in the blend, the rest going to the mean; with two components
 * one flags alone from a score of 0.5 / (w + (1 - w) / 2) (0.61 at 0.65). On NAB (standard
 * profile, swept / own), first with the prophet of before its seasonal check: 1 (the maximum
 * alone) 58.9 / 57.1, 0.5 60.9 / 60.9, 0 (the mean alone) 55.0 / 53.6. With the seasonal check
 * and the recent scale prophet flags fewer false alarms alone and deserves more say: 0.5 69.3 /
 * 69.3, 0.55 70.8 / 68.9, 0.6 70.5 / 70.3, 0.65 71.5 / 71.5 (low-FP 63.2, low-FN 76.3; 43
 * windows found against 41, false-alarm points 63 -> 78), 0.7 71.3 / 71.1, 0.75 71.2 / 70.6, 0.8
 * 70.7 / 70.3, 0.9 69.0 / 68.6, 1 69.5 / 66.9. */
#define AUTO_MAX_WEIGHT 0.65

struct auto_detector {
    struct aiops_detector base;
    struct aiops_detector *parts[N_PARTS]; /* owned, n_parts entries */
    size_t n_parts;
    struct aiops_detector *flat; /* owned */
    struct aiops_hold_off hold;
};

static void auto_fini(struct aiops_detector *d)
{
    struct auto_detector *a = (struct auto_detector *)d;

    for (size_t i = 0; i < a->n_parts; i++)
        aiops_detector_destroy(a->parts[i]);
    a->n_parts = 0;
    aiops_detector_destroy(a->flat);
    a->flat = NULL;
}

static int auto_init(struct aiops_detector *d)
{
    struct auto_detector *a = (struct auto_detector *)d;
    int err;

    for (size_t i = 0; i < N_PARTS; i++) {
        err = aiops_detector_create(&a->parts[i], parts[i], &d->params);
        if (err < 0) {
            auto_fini(d);
            return err;
        }
        a->parts[i]->every_point = true;
        a->n_parts++;
    }
    err = aiops_detector_create(&a->flat, &aiops_flatline_ops, &d->params);
    if (err < 0) {
        auto_fini(d);
        return err;
    }
    a->flat->every_point = true;
    aiops_hold_off_init(&a->hold, 0, AUTO_REARM);
    return 0;
}

/* Folds the verdict v of component `by` into out (first: out holds nothing yet). out keeps the
 * strongest component's verdict; *sum and *max gather the scores. */
static void fold(struct aiops_verdict *out, const struct aiops_verdict *v,
                 const struct aiops_detector_ops *by, bool first, double *sum, double *max)
{
    if (first || v->score > out->score) {
        *out = *v;
        out->explained_by = by;
    }
    *sum = (first ? 0.0 : *sum) + v->score;
    *max = out->score;
}

/* Sets out's score to the blend of n component scores with the given sum and maximum, or to the
 * flatline verdict `flat` when that scores higher. */
static void blend(struct aiops_verdict *out, double sum, double max, size_t n,
                  const struct aiops_verdict *flat)
{
    out->score = AUTO_MAX_WEIGHT * max + (1.0 - AUTO_MAX_WEIGHT) * sum / (double)n;
    if (flat->score > out->score) {
        *out = *flat;
        out->explained_by = &aiops_flatline_ops;
    }
    out->is_anomaly = out->score >= 0.5;
}

static void auto_update(struct aiops_detector *d, const struct aiops_point *p,
                        struct aiops_verdict *out)
{
    struct auto_detector *a = (struct auto_detector *)d;
    struct aiops_verdict v, flat;
    double sum = 0.0, max = 0.0;

    for (size_t i = 0; i < a->n_parts; i++) {
        aiops_detector_update(a->parts[i], p, &v);
        fold(out, &v, a->parts[i]->ops, i == 0, &sum, &max);
    }
    aiops_detector_update(a->flat, p, &flat);
    blend(out, sum, max, a->n_parts, &flat);
    if (!d->every_point)
        aiops_hold_off_apply(&a->hold, out);
}

/* Batch: every component's batch path, blended point by point (no refractory period: the
 * detect API reports every anomalous point). */
static int auto_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                      size_t n, struct aiops_verdict *out)
{
    struct aiops_verdict *tmp;
    double *sum, *max;
    int err = 0;

    if (n == 0)
        return 0;
    tmp = aiops_malloc(n * (sizeof(*tmp) + 2 * sizeof(double)));
    if (tmp == NULL)
        return AIOPS_ENOMEM;
    sum = (double *)(tmp + n);
    max = sum + n;
    for (size_t c = 0; c < N_PARTS && err == 0; c++) {
        err = parts[c]->batch(params, pts, n, tmp);
        for (size_t i = 0; err == 0 && i < n; i++)
            fold(&out[i], &tmp[i], parts[c], c == 0, &sum[i], &max[i]);
    }
    if (err == 0)
        err = aiops_flatline_ops.batch(params, pts, n, tmp);
    for (size_t i = 0; err == 0 && i < n; i++)
        blend(&out[i], sum[i], max[i], N_PARTS, &tmp[i]);
    aiops_free(tmp);
    return err;
}

/* The explanation of the component whose verdict won. */
static void auto_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    if (v->explained_by != NULL)
        v->explained_by->explain(v, value, buf, len);
    else
        aiops_detector_explain_band(v, value, buf, len);
}

static const char *const auto_best_for[] = {"metrics with no method configured",
                                            "mixed anomaly kinds: spikes, shifts, new shapes",
                                            "values that get stuck (flatlines)", NULL};

const struct aiops_detector_ops aiops_auto_ops = {
    .name = "auto",
    .description = "Runs complementary detectors together and reports the strongest signal.",
    .category = "advanced",
    .best_for = auto_best_for,
    .size = sizeof(struct auto_detector),
    .init = auto_init,
    .fini = auto_fini,
    .update = auto_update,
    .batch = auto_batch,
    .explain = auto_explain,
};
