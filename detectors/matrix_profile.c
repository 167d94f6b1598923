/* SPDX-License-Identifier: MIT */
/* The matrix-profile detector: an exact STOMP matrix profile for the batch path, and an
 * incremental left matrix profile (STAMPI) over a bounded history for replay and streaming, both
 * scored by how far each subsequence is from its nearest neighbour. The contract, the choice of
 * distance and the calibration are in matrix_profile.h. */
#include "detectors/matrix_profile.h"
#include "detectors/robust.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/zscore.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A subsequence whose std is at most this fraction of its mean's magnitude is flat: the
 * z-normalised distance is undefined there and takes STUMPY's convention instead. */
#define FLAT_REL 1e-10

struct matrix_profile {
    struct aiops_detector base;
    uint32_t m;       /* subsequence length, points */
    uint32_t excl;    /* exclusion zone: smallest lag searched, in subsequences */
    uint32_t max_lag; /* largest lag searched: history - m */
    uint32_t xcap;    /* value ring entries: history + 1 */
    uint32_t scap;    /* subsequence ring entries: max_lag + 2 */
    uint32_t quiet;   /* refractory points still to go */
    uint32_t rr;      /* lag to recompute exactly next (bounds rounding drift) */
    uint64_t n;       /* finite points seen */
    double thr;       /* z of the distance at params.sensitivity */
    /* Rings stored twice (slot k and k + cap), so the last cap entries are one contiguous run.
     * All in one owned block starting at x. */
    double *x;   /* values, 2 * xcap */
    double *mu;  /* subsequence means, 2 * scap */
    double *var; /* subsequence population variances, 2 * scap */
    double *df;  /* (x[s + m] - x[s]) / 2, 2 * scap */
    double *dg;  /* (x[s + m] - mu[s + 1]) + (x[s] - mu[s]), 2 * scap */
    double *cov; /* cov[L]: centred dot product of the newest subsequence and the one L before */
    struct aiops_rolling cal; /* the last AIOPS_MP_CALIBRATION distances, for the score */
};

static uint32_t exclusion_zone(uint32_t m)
{
    return m / 2 > 0 ? m / 2 : 1;
}

/* Mean and population variance of x[0..m), two-pass (exactly 0 for a constant run). */
static void mean_var(const double *x, uint32_t m, double *mean, double *var)
{
    double s = 0.0, ss = 0.0, mu;

    for (uint32_t k = 0; k < m; k++)
        s += x[k];
    mu = s / m;
    for (uint32_t k = 0; k < m; k++)
        ss += (x[k] - mu) * (x[k] - mu);
    *mean = mu;
    *var = ss / m;
}

static bool is_flat(double mean, double var)
{
    double sd = sqrt(var);

    return !(sd > FLAT_REL * fabs(mean)) || !(sd > 1e-300);
}

/* Centred dot product of a[0..m) and b[0..m) around their means. */
static double centred_dot(const double *a, double ma, const double *b, double mb, uint32_t m)
{
    double s = 0.0;

    for (uint32_t k = 0; k < m; k++)
        s += (a[k] - ma) * (b[k] - mb);
    return s;
}

/* Squared Euclidean distance of two subsequences from their means, variances and centred dot
 * product: |a - b|^2 = m ((mu_a - mu_b)^2 + var_a + var_b) - 2 cov. */
static double raw_d2(uint32_t m, double mua, double vara, double mub, double varb, double cov)
{
    double dm = mua - mub;

    return m * (dm * dm + vara + varb) - 2.0 * cov;
}

/* Squared z-normalised distance 2m (1 - rho); flat subsequences as in the header. */
static double znorm_d2(uint32_t m, bool flat_a, double vara, bool flat_b, double varb, double cov)
{
    double rho;

    if (flat_a || flat_b)
        return flat_a && flat_b ? 0.0 : (double)m;
    rho = cov / (m * sqrt(vara * varb));
    return 2.0 * m * (1.0 - rho);
}

static double d2_to_dist(double d2)
{
    return d2 > 0.0 ? sqrt(d2) : 0.0; /* rounding can leave a tiny negative */
}

/* Batch tiling for raw distances: TILE_ROWS rows carry each squared distance along its diagonal
 * in O(1) from the row above, starting from an exact sum at the tile's first row, so rounding
 * drift never outlives TILE_ROWS steps; TILE_LAGS lags keep the tile's values, distances and
 * left profile in L1. PROFILE_LANES independent minima let the row minimum vectorise. */
#define TILE_ROWS     64u
#define TILE_LAGS     512u
#define PROFILE_LANES 32u

/* x86-64 builds target SSE2; on glibc an AVX2 copy of the row loop, chosen once at load time
 * (ifunc), runs the batch path in about 60% of the time. No FMA, so both copies round alike. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define ROW_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef ROW_CLONES
#define ROW_CLONES
#endif

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* One row of a tile: d[0..w) holds the squared distances of subsequence s to s + l0 + j from the
 * row above (carry) or already for row s; brings them to row s when carrying, lowers lb[j] (the
 * left profile of s + l0 + j) and returns the row's smallest. xa = x + s - 1 + l0. */
ROW_CLONES static double raw_row(double *restrict d, double *restrict lb, size_t w,
                                 const double *restrict xa, double xo, double xn, uint32_t m,
                                 bool carry)
{
    double lane[PROFILE_LANES], best;
    size_t j = 0;

    if (carry) {
        const double *xb = xa + m;

        for (size_t k = 0; k < w; k++) {
            double a = xo - xa[k], b = xn - xb[k], v = d[k] + (b * b - a * a);

            d[k] = v;
            lb[k] = v < lb[k] ? v : lb[k];
        }
    } else {
        for (size_t k = 0; k < w; k++)
            lb[k] = d[k] < lb[k] ? d[k] : lb[k];
    }
    for (uint32_t l = 0; l < PROFILE_LANES; l++)
        lane[l] = INFINITY;
    for (; j + PROFILE_LANES <= w; j += PROFILE_LANES) {
        const double *dj = d + j;

        for (uint32_t l = 0; l < PROFILE_LANES; l++)
            lane[l] = dj[l] < lane[l] ? dj[l] : lane[l];
    }
    for (uint32_t h = PROFILE_LANES / 2; h > 0; h /= 2) {
        for (uint32_t l = 0; l < h; l++)
            lane[l] = lane[l + h] < lane[l] ? lane[l + h] : lane[l];
    }
    best = lane[0];
    for (; j < w; j++)
        best = d[j] < best ? d[j] : best;
    return best;
}

/* Smallest squared raw distances of each subsequence of x (ns of them, m points) to those
 * excl..max_lag after it (rbest) and before it (lbest), both INFINITY on entry. Tiles of
 * TILE_ROWS rows by TILE_LAGS lags; O(ns * max_lag) time, no allocation. */
static void raw_profile(const double *x, size_t ns, uint32_t m, size_t excl, size_t max_lag,
                        double *lbest, double *rbest)
{
    double d[TILE_LAGS];

    for (size_t s0 = 0; s0 + excl < ns; s0 += TILE_ROWS) {
        size_t s1 = min_size(s0 + TILE_ROWS, ns - excl);
        size_t top = min_size(max_lag, ns - 1 - s0); /* largest lag of the tile's first row */

        for (size_t l0 = excl; l0 <= top; l0 += TILE_LAGS) {
            size_t w0 = min_size(TILE_LAGS, top + 1 - l0);

            for (size_t j = 0; j < w0; j++)
                d[j] = 0.0;
            for (uint32_t k = 0; k < m; k++) {
                const double *xp = x + s0 + k + l0;
                double xk = x[s0 + k];

                for (size_t j = 0; j < w0; j++) {
                    double a = xk - xp[j];

                    d[j] += a * a;
                }
            }
            for (size_t s = s0; s < s1; s++) {
                size_t last = min_size(max_lag, ns - 1 - s), w;
                double best;

                if (last < l0)
                    break; /* and so for every later row */
                w = min_size(w0, last + 1 - l0);
                best = s == s0 ? raw_row(d, lbest + s + l0, w, x + s + l0, 0.0, 0.0, m, false)
                               : raw_row(d, lbest + s + l0, w, x + s - 1 + l0, x[s - 1],
                                         x[s - 1 + m], m, true);
                rbest[s] = best < rbest[s] ? best : rbest[s];
            }
        }
    }
}

/* The z-normalised profile, row by row (STOMP): cov[L] holds subsequence s against s + L,
 * carried from row s - 1 with SCAMP's centred update. scratch: 5 * ns doubles and ns bytes. */
static void znorm_profile(const double *x, size_t ns, uint32_t m, size_t excl, size_t max_lag,
                          double *lbest, double *rbest, double *scratch)
{
    double *mu = scratch, *var = mu + ns, *df = var + ns, *dg = df + ns, *cov = dg + ns;
    unsigned char *flat = (unsigned char *)(cov + ns);

    for (size_t s = 0; s < ns; s++) {
        mean_var(x + s, m, &mu[s], &var[s]);
        flat[s] = is_flat(mu[s], var[s]);
    }
    for (size_t s = 0; s + 1 < ns; s++) {
        df[s] = (x[s + m] - x[s]) / 2.0;
        dg[s] = (x[s + m] - mu[s + 1]) + (x[s] - mu[s]);
    }
    for (size_t lag = excl; lag <= max_lag; lag++)
        cov[lag] = centred_dot(x, mu[0], x + lag, mu[lag], m);
    for (size_t s = 0; s + excl < ns; s++) {
        size_t last = ns - 1 - s < max_lag ? ns - 1 - s : max_lag;
        double best = INFINITY;

        if (s > 0) {
            double dfs = df[s - 1], dgs = dg[s - 1];
            const double *dft = df + s - 1, *dgt = dg + s - 1;

            for (size_t lag = excl; lag <= last; lag++)
                cov[lag] += dfs * dgt[lag] + dft[lag] * dgs;
        }
        for (size_t lag = excl; lag <= last; lag++) {
            double d2 = znorm_d2(m, flat[s], var[s], flat[s + lag], var[s + lag], cov[lag]);

            best = d2 < best ? d2 : best;
            lbest[s + lag] = d2 < lbest[s + lag] ? d2 : lbest[s + lag];
        }
        rbest[s] = best;
    }
}

int aiops_matrix_profile_compute(const double *x, size_t n, uint32_t m, uint32_t excl,
                                 enum aiops_mp_distance kind, double *left, double *full)
{
    size_t ns, max_lag, scratch;
    double *lbest, *rbest;

    if (m < 2 || n < m || excl == 0)
        return AIOPS_EINVAL;
    ns = n - m + 1;
    /* ZNORM also needs 5 * ns doubles and ns flags of scratch after the two profiles. */
    scratch = kind == AIOPS_MP_ZNORM ? 5 * ns * sizeof(double) + ns : 0;
    lbest = aiops_malloc(2 * ns * sizeof(*lbest) + scratch);
    if (lbest == NULL)
        return AIOPS_ENOMEM;
    rbest = lbest + ns; /* smallest squared distance from the left, then from the right */
    for (size_t s = 0; s < ns; s++) {
        lbest[s] = INFINITY;
        rbest[s] = INFINITY;
    }
    max_lag = ns - 1 < AIOPS_MP_BATCH_MAX_LAG ? ns - 1 : AIOPS_MP_BATCH_MAX_LAG;
    if (kind == AIOPS_MP_ZNORM)
        znorm_profile(x, ns, m, excl, max_lag, lbest, rbest, rbest + ns);
    else
        raw_profile(x, ns, m, excl, max_lag, lbest, rbest);
    for (size_t s = 0; s < ns; s++) {
        double best = lbest[s] < rbest[s] ? lbest[s] : rbest[s];

        if (left != NULL)
            left[s] = isinf(lbest[s]) ? INFINITY : d2_to_dist(lbest[s]);
        if (full != NULL)
            full[s] = isinf(best) ? INFINITY : d2_to_dist(best);
    }
    aiops_free(lbest);
    return 0;
}

static int mp_init(struct aiops_detector *d)
{
    struct matrix_profile *mp = (struct matrix_profile *)d;
    uint32_t history =
        d->params.window > AIOPS_MP_MIN_HISTORY ? d->params.window : AIOPS_MP_MIN_HISTORY;
    size_t xs, ss;
    int err;

    if (d->params.subsequence < AIOPS_MP_MIN_M)
        return AIOPS_EINVAL;
    mp->m = d->params.subsequence;
    mp->excl = exclusion_zone(mp->m);
    if (history < 2 * mp->m)
        history = 2 * mp->m;
    mp->max_lag = history - mp->m;
    mp->xcap = history + 1;
    mp->scap = mp->max_lag + 2;
    mp->thr = aiops_detector_z_threshold(&d->params);
    xs = 2 * (size_t)mp->xcap;
    ss = 2 * (size_t)mp->scap;
    mp->x = aiops_calloc(xs + 4 * ss + mp->scap, sizeof(*mp->x));
    if (mp->x == NULL)
        return AIOPS_ENOMEM;
    mp->mu = mp->x + xs;
    mp->var = mp->mu + ss;
    mp->df = mp->var + ss;
    mp->dg = mp->df + ss;
    mp->cov = mp->dg + ss;
    err = aiops_rolling_init(&mp->cal, AIOPS_MP_CALIBRATION);
    if (err < 0)
        goto err_free_rings;
    return 0;
err_free_rings:
    aiops_free(mp->x);
    mp->x = NULL;
    return err;
}

static void mp_fini(struct aiops_detector *d)
{
    struct matrix_profile *mp = (struct matrix_profile *)d;

    aiops_rolling_fini(&mp->cal);
    aiops_free(mp->x);
    mp->x = NULL;
}

static void ring_put(double *ring, uint32_t cap, uint64_t idx, double v)
{
    uint32_t k = (uint32_t)(idx % cap);

    ring[k] = v;
    ring[k + cap] = v;
}

/* Entry idx of a doubled ring whose newest entry is `newest`; the entries back to newest - cap
 * + 1 sit contiguously before it, so p[-L] is entry idx - L. */
static double *ring_at(double *ring, uint32_t cap, uint64_t newest, uint64_t idx)
{
    assert(idx <= newest && newest - idx < cap);
    return ring + (newest % cap) + cap - (newest - idx);
}

/* Adds x and returns the left matrix profile distance (non-normalised) of the subsequence
 * ending at it, or -1 while it has no earlier neighbour. O(history + m), no allocation. */
static double push(struct matrix_profile *mp, double x)
{
    uint32_t m = mp->m;
    uint64_t i, lags, newest;
    double mean, var, best, *xi, *ci = mp->cov, *mup, *varp;

    ring_put(mp->x, mp->xcap, mp->n, x);
    newest = mp->n++;
    if (mp->n < m)
        return -1.0;
    i = mp->n - m; /* the newest subsequence starts at point i */
    xi = ring_at(mp->x, mp->xcap, newest, i);
    mean_var(xi, m, &mean, &var);
    ring_put(mp->mu, mp->scap, i, mean);
    ring_put(mp->var, mp->scap, i, var);
    if (i >= 1) {
        double xo = xi[-1], muo = *ring_at(mp->mu, mp->scap, i, i - 1);

        ring_put(mp->df, mp->scap, i - 1, (x - xo) / 2.0);
        ring_put(mp->dg, mp->scap, i - 1, (x - mean) + (xo - muo));
    }
    if (i < mp->excl)
        return -1.0;
    lags = i < mp->max_lag ? i : mp->max_lag;
    if (i >= 1) {
        /* Lags carried from the previous subsequence (SCAMP): cov[L] += df[i-1] dg[i-1-L] +
         * df[i-1-L] dg[i-1]. A lag seen for the first time is computed below. */
        uint64_t carried = lags < i ? lags : i - 1;
        double *dgp = ring_at(mp->dg, mp->scap, i - 1, i - 1);
        double *dfp = ring_at(mp->df, mp->scap, i - 1, i - 1);
        double dfn = dfp[0], dgn = dgp[0];

        for (uint64_t L = mp->excl; L <= carried; L++)
            ci[L] += dfn * dgp[-(ptrdiff_t)L] + dfp[-(ptrdiff_t)L] * dgn;
    }
    mup = ring_at(mp->mu, mp->scap, i, i);
    varp = ring_at(mp->var, mp->scap, i, i);
    if (lags == i)
        ci[i] = centred_dot(xi, mean, xi - i, mup[-(ptrdiff_t)i], m);
    {
        /* One lag per point, in turn, is recomputed exactly: drift never outlives a cycle. */
        uint64_t L = mp->excl + mp->rr % (lags - mp->excl + 1);

        ci[L] = centred_dot(xi, mean, xi - L, mup[-(ptrdiff_t)L], m);
        mp->rr = (uint32_t)((mp->rr + 1) % (mp->max_lag + 1));
    }
    best = INFINITY;
    for (uint64_t L = mp->excl; L <= lags; L++) {
        double d2 = raw_d2(m, mean, var, mup[-(ptrdiff_t)L], varp[-(ptrdiff_t)L], ci[L]);

        best = d2 < best ? d2 : best;
    }
    return d2_to_dist(best);
}

/* Fills out for distance d against a centre and spread of recent distances at threshold thr;
 * a spread of 0 makes any larger distance infinitely many spreads away. */
static void verdict(double d, double centre, double spread, double thr, struct aiops_verdict *out)
{
    double z;

    out->expected = NAN;
    out->statistic = d;
    out->lower = 0.0;
    out->upper = centre + thr * spread;
    if (!(spread > 1e-12 * fmax(centre, 1e-300)))
        z = d > centre * (1.0 + 1e-9) + 1e-300 ? INFINITY : 0.0;
    else
        z = (d - centre) / spread;
    out->score = z > 0.0 ? aiops_detector_z_score_to_unit(z, thr) : 0.0;
    out->is_anomaly = z > thr;
    if (!out->is_anomaly && out->score > 0.5)
        out->score = 0.5; /* z == thr up to rounding */
}

/* Not flagged (warm-up or refractory): keeps the statistic, caps the score at 0.5. */
static void hold(struct aiops_verdict *out)
{
    out->is_anomaly = false;
    if (out->score > 0.5)
        out->score = 0.5;
}

static void mp_update(struct aiops_detector *d, const struct aiops_point *p,
                      struct aiops_verdict *out)
{
    struct matrix_profile *mp = (struct matrix_profile *)d;
    double dist;

    aiops_rolling_unscored(out);
    if (!isfinite(p->value))
        return;
    dist = push(mp, p->value);
    if (dist < 0.0)
        return;
    if (mp->cal.count >= 2)
        verdict(dist, aiops_rolling_mean(&mp->cal), aiops_rolling_std(&mp->cal), mp->thr, out);
    else
        out->statistic = dist;
    aiops_rolling_push(&mp->cal, dist);
    if (mp->quiet > 0) {
        mp->quiet--;
        hold(out);
    } else if (mp->n <= AIOPS_MP_WARM_UP) {
        hold(out);
    } else if (out->is_anomaly && !d->every_point) {
        mp->quiet = mp->m;
    }
}

/* The whole series: non-finite values are carried forward from the nearest finite one (and
 * left unscored). Point p scores the two-sided profile of the subsequence ending at p against
 * the profile's median and MAD (x 1.4826, the normal-consistent scale), with the same refractory
 * period as the incremental path. */
static int mp_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                    size_t n, struct aiops_verdict *out)
{
    uint32_t m = params->subsequence, excl, quiet = 0;
    double thr = aiops_detector_z_threshold(params), last = NAN, med, mad;
    double *x, *full, *work;
    size_t ns;
    int err;

    if (m < AIOPS_MP_MIN_M)
        return AIOPS_EINVAL;
    excl = exclusion_zone(m);
    for (size_t i = 0; i < n; i++)
        aiops_rolling_unscored(&out[i]);
    if (n < (size_t)m + excl + 1)
        return 0;
    ns = n - m + 1;
    x = aiops_malloc((n + 2 * ns) * sizeof(*x));
    if (x == NULL)
        return AIOPS_ENOMEM;
    full = x + n;
    work = full + ns;
    for (size_t i = 0; i < n && isnan(last); i++) {
        if (isfinite(pts[i].value))
            last = pts[i].value;
    }
    if (isnan(last))
        last = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(pts[i].value))
            last = pts[i].value;
        x[i] = last;
    }
    err = aiops_matrix_profile_compute(x, n, m, excl, AIOPS_MP_RAW, NULL, full);
    if (err < 0)
        goto out_free_x;
    for (size_t s = 0; s < ns; s++)
        work[s] = full[s];
    med = aiops_median(work, ns);
    for (size_t s = 0; s < ns; s++)
        work[s] = fabs(full[s] - med);
    mad = AIOPS_MAD_TO_SD * aiops_median(work, ns);
    for (size_t i = m - 1; i < n; i++) {
        if (!isfinite(pts[i].value))
            continue;
        verdict(full[i - m + 1], med, mad, thr, &out[i]);
        if (quiet > 0) {
            quiet--;
            hold(&out[i]);
        } else if (out[i].is_anomaly) {
            quiet = m;
        }
    }
out_free_x:
    aiops_free(x);
    return err;
}

static void mp_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (isnan(v->statistic) || isnan(v->upper))
        snprintf(buf, len, "value %.4g has anomaly score %.3f", value, v->score);
    else
        snprintf(buf, len,
                 "value %.4g ends a stretch unlike anything before it in the searched history "
                 "(distance %.4g, normal up to %.4g)",
                 value, v->statistic, v->upper);
}

static const char *const mp_best_for[] = {"unusual shapes (discords)", "periodic signals",
                                          "level shifts and spikes in cloud metrics", NULL};

const struct aiops_detector_ops aiops_matrix_profile_ops = {
    .name = "dtai-auto",
    .description = "Matrix profile discords: subsequences unlike any other (alias "
                   "matrix-profile).",
    .category = "advanced",
    .best_for = mp_best_for,
    .size = sizeof(struct matrix_profile),
    .init = mp_init,
    .fini = mp_fini,
    .update = mp_update,
    .batch = mp_batch,
    .explain = mp_explain,
};
