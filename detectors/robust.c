/* SPDX-License-Identifier: MIT */
/* Order statistics shared by the detectors (see robust.h). */
#include "detectors/robust.h"

#include <stddef.h>

double aiops_select_kth(double *a, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;

    while (lo < hi) {
        double pivot = a[kk];
        ptrdiff_t i = lo, j = hi;

        do {
            while (a[i] < pivot)
                i++;
            while (pivot < a[j])
                j--;
            if (i <= j) {
                double t = a[i];

                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            lo = i;
        if (kk < i)
            hi = j;
    }
    return a[kk];
}

double aiops_median(double *a, size_t n)
{
    double hi = aiops_select_kth(a, n, n / 2);

    if (n % 2 == 1)
        return hi;
    return 0.5 * (hi + aiops_select_kth(a, n / 2, n / 2 - 1));
}
