/* SPDX-License-Identifier: MIT */
/* The flatline check (see flatline.h). A run is a stretch of bit-for-bit equal values. The
 * record is the longest run that ended within the last FLAT_HORIZON to 2 * FLAT_HORIZON points
 * (two epochs, so it is forgotten without storing every run). A run is flagged the moment it
 * outgrows both the record and the sensitivity's minimum, in a series that does not normally
 * move in steps (FLAT_STEPPED); on the incremental path the rest of it
 * scores AIOPS_SCORE_HELD, so an event stays open until the value moves, while batch reports
 * every point of it. The verdict's expected value and band are the stuck value; its statistic is
 * the run's length in points.
 *
 * On the NAB files (standard profile, swept / own, auto 71.5 / 71.5 without it) a minimum run of
 * 3 points scored 71.9, 6 72.6, 12 to 48 73.0, with a warm-up of 64 to 512 points and a horizon
 * of 2,048 or 8,192 alike: one stuck disk (ec2_disk_write_bytes_c0d644, writes at exactly 0 for
 * 493 points against a record of 262) is found; the cost is four false alarms, records broken
 * earlier in that file and in art_load_balancer_spikes, whose values repeat. */
#include "detectors/flatline.h"

#include <math.h>
#include <stdio.h>

/* Points a run must last before it counts, by sensitivity (at 5-minute samples medium is an
 * hour). */
#define FLAT_MIN_RUN_LOW    24u
#define FLAT_MIN_RUN_MEDIUM 12u
#define FLAT_MIN_RUN_HIGH   6u
/* Points seen before a run may start for it to be judged: the record needs a history, and a
 * series constant from its first point is just a constant series. */
#define FLAT_WARM_UP 256u
/* Points of an epoch: about 28 days at 5-minute samples (prophet's longest history). */
#define FLAT_HORIZON 8192u
/* A series whose value changes less than once in this many points (over the two epochs) moves
 * in steps, as a replica count or a configured limit does: a long stretch without change is its
 * normal, so no run of it is judged. (The stuck disk on NAB changes at one point in four.) */
#define FLAT_STEPPED 50u
/* The score of the point that breaks the record: a flag of its own in auto's blend. */
#define FLAT_SCORE 0.75

struct flatline {
    struct aiops_detector base;
    uint32_t min_run;   /* FLAT_MIN_RUN_* at params.sensitivity */
    uint64_t seen;      /* finite points so far */
    uint64_t run_start; /* index (in `seen` terms) of the current run's first point */
    double last;        /* the latest finite value */
    uint64_t record[2]; /* longest run that ended in this epoch of FLAT_HORIZON points, and in
                         * the one before */
    uint64_t moves[2];  /* points that differed from the point before, in the same epochs */
};

static int flatline_init(struct aiops_detector *d)
{
    struct flatline *f = (struct flatline *)d;

    switch (d->params.sensitivity) {
    case AIOPS_SENSITIVITY_LOW:
        f->min_run = FLAT_MIN_RUN_LOW;
        break;
    case AIOPS_SENSITIVITY_HIGH:
        f->min_run = FLAT_MIN_RUN_HIGH;
        break;
    case AIOPS_SENSITIVITY_MEDIUM:
    default:
        f->min_run = FLAT_MIN_RUN_MEDIUM;
        break;
    }
    return 0;
}

/* Starts a new epoch when the next point is the first of one: the older one is forgotten. */
static void roll_epochs(struct flatline *f)
{
    if (f->seen == 0 || f->seen % FLAT_HORIZON != 0)
        return;
    f->record[1] = f->record[0];
    f->moves[1] = f->moves[0];
    f->record[0] = f->moves[0] = 0;
}

/* Points in the two epochs `record` and `moves` cover, the latest point included. */
static uint64_t epoch_points(const struct flatline *f)
{
    uint64_t first = (f->seen - 1) / FLAT_HORIZON * FLAT_HORIZON; /* this epoch's first point */

    return f->seen - (first >= FLAT_HORIZON ? first - FLAT_HORIZON : 0);
}

static void flatline_update(struct aiops_detector *d, const struct aiops_point *p,
                            struct aiops_verdict *out)
{
    struct flatline *f = (struct flatline *)d;
    uint64_t run, bar;

    *out = (struct aiops_verdict){
        .score = 0.0, .expected = NAN, .lower = NAN, .upper = NAN, .statistic = NAN};
    if (!isfinite(p->value))
        return;
    roll_epochs(f);
    if (f->seen == 0 || p->value != f->last) {
        if (f->seen - f->run_start > f->record[0])
            f->record[0] = f->seen - f->run_start; /* the run that just ended */
        f->moves[0] += f->seen > 0;
        f->run_start = f->seen;
        f->last = p->value;
    }
    f->seen++;
    run = f->seen - f->run_start;
    bar = f->record[0] > f->record[1] ? f->record[0] : f->record[1];
    bar = bar + 1 > f->min_run ? bar + 1 : f->min_run;
    if (f->run_start < FLAT_WARM_UP || run < bar ||
        FLAT_STEPPED * (f->moves[0] + f->moves[1]) < epoch_points(f))
        return;
    out->expected = out->lower = out->upper = p->value;
    out->statistic = (double)run;
    if (run == bar || d->every_point) {
        out->score = FLAT_SCORE;
        out->is_anomaly = true;
    } else {
        out->score = AIOPS_SCORE_HELD;
    }
}

static int flatline_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                          size_t n, struct aiops_verdict *out)
{
    return aiops_detector_batch_incremental(&aiops_flatline_ops, params, pts, n, out);
}

static void flatline_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (isnan(v->statistic))
        snprintf(buf, len, "value %.4g has anomaly score %.3f", value, v->score);
    else
        snprintf(buf, len,
                 "value %.4g has not changed for %.0f points, longer than any stretch before it",
                 value, v->statistic);
}

static const char *const flatline_best_for[] = {"stuck exporters and hung processes", NULL};

const struct aiops_detector_ops aiops_flatline_ops = {
    .name = "flatline",
    .description = "Flags a series that stops changing for longer than it ever has.",
    .category = "statistical",
    .best_for = flatline_best_for,
    .size = sizeof(struct flatline),
    .init = flatline_init,
    .fini = aiops_detector_fini_noop,
    .update = flatline_update,
    .batch = flatline_batch,
    .explain = flatline_explain,
};
