/* SPDX-License-Identifier: MIT */
/* Order statistics the detectors share for robust scales (median, MAD, quantiles): selection in
 * place in expected linear time, no allocation, so the incremental paths can call them. */
#ifndef AIOPS_ROBUST_H
#define AIOPS_ROBUST_H

#include <stddef.h>

/* 1.4826 * MAD estimates the standard deviation of normally distributed data. */
#define AIOPS_MAD_TO_SD 1.4826

/* The k-th smallest of a[0..n-1] (k < n), reordering a around it (Wirth's selection). */
double aiops_select_kth(double *a, size_t n, size_t k);
/* The median of a[0..n-1] (n > 0; the mean of the two middle values for even n); reorders a. */
double aiops_median(double *a, size_t n);

#endif
