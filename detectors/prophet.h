/* SPDX-License-Identifier: MIT */
/* The Prophet-style detector: a piecewise-linear trend with changepoints plus daily and weekly
 * Fourier seasonality, fitted by ridge least squares (LAPACK Cholesky), flags points that leave
 * the forecast's interval. registry.c lists its ops table. */
#ifndef AIOPS_PROPHET_H
#define AIOPS_PROPHET_H

#include "detectors/detector.h"

/* "prophet".
 *
 * Model: y(t) = k + m*t + sum_j d_j * max(0, t - c_j) + daily(t) + weekly(t), t in units of
 * the fitted history's span. Changepoints c_j are spread evenly over the first 80% of the
 * history (as Prophet does) and their deltas d_j carry an L2 penalty (Prophet's Laplace prior,
 * made Gaussian so the fit is one Cholesky solve). The daily (order 8) and weekly (order 3)
 * Fourier terms are functions of the UTC second of the day and of the week, taken from ts_ms;
 * each is included only once the history spans two of its periods (Prophet's auto rule).
 *
 * Incremental path (update): keeps the last max(params.window, 640) points (640 is a little
 * over two days of 5-minute samples, so daily seasonality can be fitted; capped at 8192; weekly
 * seasonality needs a window of two weeks of points) and refits, with 8 changepoints, every
 * max(32, history/16) points. Each point is scored against the current fit's forecast, so a
 * level shift is flagged at its start, then absorbed by later refits. The interval's scale is
 * the spread of the last 1024 one-step-ahead residuals: the larger of 1.4826 * MAD and the 99th
 * percentile of |residual| / 2.576, so metrics with heavy-tailed noise get a wider interval;
 * and at least that spread of the last 384 residuals, so a noisier stretch (bursts) widens the
 * interval within a day and a quieter one does not narrow it.
 * Points beyond 2 scales weigh less in later refits (Huber), so a spike does not bend the fit.
 * Seasonal check: a point's z is the lower of the forecast's and of how far it lies outside the
 * range of the values within an hour of the same time on each of the last 3 days (all must
 * agree; a series younger than that uses the whole days its history holds, from one), in units
 * of the larger of the scale and that range / 8. A spike that recurs every day (a nightly job),
 * which the Fourier terms cannot forecast, is then normal from its second day; a new one is
 * not. The history keeps at least 1,024 points for it (3.5 days of 5-minute samples; finer
 * samples need a larger window, 4,400 at 1 minute, up to the cap of 8,192, or the check sees
 * fewer days, or none, and then stays out of the way); the
 * fit still uses the latest max(window, 640). When the check clears a point outside the
 * forecast's band, the band is still the forecast's.
 * The first fit needs 32 points; nothing is scored before it (the warm-up). After a flag, the
 * threshold doubles for 144 points (a refractory period: one incident, one alert, unless a
 * much larger one follows; not with every_point set); the score then uses the doubled
 * threshold, so score >= 0.5 always means is_anomaly.
 *
 * Batch path (without the seasonal check: a detect request rarely spans three days): fits the
 * whole series at once (25 changepoints), refits once with Huber weights
 * so the anomalies themselves do not bend the fit, and scores each point's in-sample residual
 * against the same robust scale of all residuals, whose tail quantile leaves out the longest run
 * of 3 or more residuals beyond 2.576 scales: the one event a request most likely asks about
 * must not widen the interval that judges it (half an hour at twice the value is 2% of a day's
 * points, past the 1% the tail quantile lets through). It sees the future (the fit is two-sided)
 * and has no refractory period, so it flags every point outside the interval; on a clean series
 * its expected values agree with the incremental path's to within the interval.
 *
 * Sensitivity: the interval is expected +/- thr * scale with thr from
 * aiops_detector_z_threshold(): low = z_threshold + 1 (4 by default), medium = z_threshold (3),
 * high = z_threshold - 0.5 (2.5). High is the most sensitive: the narrowest interval, the most
 * alerts. The score is 1 - 2^-(z/thr)^2 of z = |residual| / scale, so it crosses 0.5 exactly at
 * the sensitivity's threshold; `statistic` is z. */
extern const struct aiops_detector_ops aiops_prophet_ops;

#endif
