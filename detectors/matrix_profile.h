/* SPDX-License-Identifier: MIT */
/* The matrix-profile detector ("dtai-auto", alias "matrix-profile"): a point is anomalous when the
 * subsequence of params.subsequence points ending at it is unlike every other one (a discord, Yeh
 * et al. 2016). Batch computes the exact matrix profile (STOMP, Zhu et al. 2016: raw squared
 * distances carried along each diagonal in O(1), summed afresh every 64 rows to bound rounding
 * drift; z-normalised ones with SCAMP's centred update); the incremental path keeps the LEFT matrix
 * profile (STAMPI): each new subsequence against every earlier one in the last max(params.window,
 * AIOPS_MP_MIN_HISTORY) points, O(that) per point. Exclusion zone m/2.
 *
 * Distance: the detector scores the non-normalised Euclidean distance (STUMPY's "aamp"); the
 * z-normalised one (AIOPS_MP_ZNORM) ignores level and amplitude, so it misses the level shifts
 * and bursts that make up most cloud-metric anomalies (NAB standard 15.7 against 54.7).
 * m = params.subsequence (`detection.subsequence_length`), 16 by default: 80 minutes of 5-minute
 * samples, the span of a typical cloud-metric anomaly; NAB scored 12 to 32 within 3 points.
 *
 * Verdict: statistic = the distance (in the series' units times sqrt(m)), lower = 0, upper = the
 * distance that scores 0.5, expected = NAN. Score: z = (d - mean) / std of the last
 * AIOPS_MP_CALIBRATION distances (batch: median and 1.4826 MAD of the whole profile), mapped by
 * aiops_detector_z_score_to_unit() at aiops_detector_z_threshold(): low = z_threshold + 1,
 * medium = z_threshold (3 by default), high = z_threshold - 0.5 (more alerts); so 0.5 is the
 * threshold. After a flagged point the next m points are not flagged (refractory period, score
 * capped at 0.5; not with every_point set), and the first AIOPS_MP_WARM_UP points of a stream are
 * never flagged. */
#ifndef AIOPS_MATRIX_PROFILE_H
#define AIOPS_MATRIX_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "detectors/detector.h"

#define AIOPS_MP_MIN_M       4u    /* the shortest subsequence accepted, points */
#define AIOPS_MP_MIN_HISTORY 1024u /* incremental history, points, at least (3.5 days at 5 min) */
#define AIOPS_MP_CALIBRATION 2048u /* recent distances the incremental score is calibrated on */
#define AIOPS_MP_WARM_UP     256u  /* points before the incremental path flags anything */
/* Batch is exact up to this many subsequences; longer series search neighbours within this many
 * subsequences either side, so batch stays O(n * AIOPS_MP_BATCH_MAX_LAG). */
#define AIOPS_MP_BATCH_MAX_LAG 16384u

extern const struct aiops_detector_ops aiops_matrix_profile_ops; /* "dtai-auto" */

enum aiops_mp_distance {
    AIOPS_MP_RAW,   /* Euclidean distance of the subsequences as they are */
    AIOPS_MP_ZNORM, /* Euclidean distance of the z-normalised subsequences, in [0, 2 sqrt(m)] */
};

/* Computes the matrix profile of x[0..n) (distance `kind`) for subsequences of m points: for each
 * subsequence start s in [0, n - m], left[s] is the distance to its nearest neighbour starting at
 * s - L, full[s] to the nearest on either side, with L >= excl (the exclusion zone, >= 1) and L
 * <= AIOPS_MP_BATCH_MAX_LAG. INFINITY where no neighbour exists. ZNORM: a flat subsequence (std
 * 0) is at distance 0 from another flat one and sqrt(m) from any other (as STUMPY). Either output
 * may be NULL. x must be finite. O((n - m)^2) time, O(n) memory (allocated here and freed).
 * Returns 0, AIOPS_EINVAL (m < 2, n < m, excl == 0) or AIOPS_ENOMEM. */
int aiops_matrix_profile_compute(const double *x, size_t n, uint32_t m, uint32_t excl,
                                 enum aiops_mp_distance kind, double *left, double *full);

#endif
