/* SPDX-License-Identifier: MIT */
/* The Local Outlier Factor detector (Breunig et al. 2000, k = 20 as the old service used): each
 * point's density against its neighbours' in a space of robustly scaled shape features. The
 * registry lists its ops table; nothing else names it. */
#ifndef AIOPS_LOF_H
#define AIOPS_LOF_H

#include "detectors/detector.h"

/* "lof". Features of a point x_t: the value x_t, the first difference (rate of change)
 * x_t - x_{t-1} and the shingle x_{t-1}, x_{t-2}, x_{t-3}; each divided by its robust spread
 * (1.4826 MAD) over the data held, so no feature dominates the Euclidean distance.
 *
 * Incremental: the new point's LOF against the last params.window points, using their cached
 * k-distances and local reachability densities, which are refreshed round-robin (2 points per
 * update) and in full when a feature's spread moves by more than 15% (checked every window/4
 * points). The LOF is calibrated on the detector's own history: statistic z = how many standard
 * deviations the mean of the latest 6 log-LOFs sits above the mean of the last 2,048 log-LOFs.
 * Nothing is scored before min(window, 60) points and nothing flagged before 48 scores; after a
 * flag the next 60 points are not flagged (a refractory period: one alert per incident; not with
 * every_point set) and their scores are halved. The verdict's statistic is the point's own LOF.
 *
 * Batch: exact LOF over the whole series (kNN through a k-d tree, no window); z of
 * the same trailing mean of 6 log-LOFs against the median and 1.4826 MAD (at least 0.2) of all
 * the series' log-LOFs, which holds its own anomalies; no refractory period. The two paths agree on
 * isolated spikes and level shifts in stationary data; they differ where the window matters (a
 * pattern that recurs once per 1,000 points is novel to a 256-point window, not to the whole
 * series) and in that incremental flags one point per incident, batch every outlying point.
 *
 * Sensitivity: a point is anomalous when z exceeds 3.5 (low), 2.75 (medium) or 2.25 (high);
 * score = 1 - 2^-((z / threshold)^2), so 0.5 is exactly the threshold. expected/lower/upper are
 * the mean, minimum and maximum value of the point's k nearest neighbours; statistic is the LOF
 * (about 1 for a point as dense as its neighbours). */
extern const struct aiops_detector_ops aiops_lof_ops;

#endif
