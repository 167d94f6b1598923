/* SPDX-License-Identifier: MIT */
/* The Local Outlier Factor detector: a point whose neighbourhood in feature space (value,
 * changes, recent shape) is much sparser than its neighbours' is an outlier. Incremental scores
 * each new point against a sliding window with cached densities; batch computes exact LOF over
 * the whole series. Both calibrate LOF on the detector's own score distribution. */
#include "detectors/lof.h"
#include "detectors/robust.h"

#include "agent/err.h"
#include "agent/mem.h"
#include "detectors/zscore.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOF_K            20u  /* neighbours, as the old service's LocalOutlierFactor(n_neighbors) */
#define LOF_DIM          5u   /* features per point, see lof.h */
#define LOF_LAG          3u   /* previous values the features look at */
#define LOF_MIN_POINTS   60u  /* points held before the first score (3k) */
#define LOF_HISTORY      2048 /* log-LOFs the calibration is fitted on */
#define LOF_HISTORY_MIN  48u  /* scores seen before the first flag */
#define LOF_REFRACTORY   60u  /* points after a flag that are not flagged (5 h of 5-min data) */
#define LOF_REFRESH      2u   /* cached points refreshed per update, round-robin */
#define LOF_RESCALE      1.15 /* spread ratio that triggers a rescale and a full refresh */
#define LOF_REACH_FLOOR  0.05 /* smallest reachability distance, robust-spread units */
#define LOF_AVG          6u   /* log-LOFs averaged into the statistic (30 min of 5-min data) */
#define LOF_MIN_SD       0.15 /* floor of the log-LOF standard deviation (a constant history) */
#define LOF_BATCH_MIN_SD 0.2  /* the same floor for batch, whose MAD ignores the tail */

#define MEAN_AD_TO_SD 1.2533

#define NONE UINT32_MAX

struct lof {
    struct aiops_detector base;
    uint32_t cap;              /* points held, params.window */
    uint32_t count;            /* points held, <= cap; slots 0..count-1 are valid */
    uint32_t head;             /* slot the next point goes to (the oldest when full) */
    uint32_t k;                /* neighbours: min(LOF_K, cap - 1) */
    uint32_t warm_up;          /* points held before scoring: min(cap, LOF_MIN_POINTS) */
    uint32_t since_scale;      /* inserts since the spreads were last checked */
    uint32_t rescale_every;    /* inserts between spread checks */
    uint32_t refresh_next;     /* next slot of the round-robin refresh */
    uint32_t refractory;       /* points left with flags suppressed */
    uint32_t nprev;            /* previous finite values known, <= LOF_LAG */
    bool scaled;               /* spreads established, cache valid */
    double thr;                /* z threshold at params.sensitivity */
    double prev[LOF_LAG];      /* prev[0] = x_{t-1} ... */
    double recent[LOF_AVG];    /* the latest log-LOFs, a ring */
    uint32_t nrecent;          /* log-LOFs scored so far (recent[nrecent % LOF_AVG] is next) */
    double scale[LOF_DIM];     /* robust spread of each feature, > 0 */
    double *raw;               /* owned, cap * LOF_DIM unscaled features */
    double *feat;              /* owned, cap * LOF_DIM features / scale */
    double *kdist;             /* owned, cap k-distances */
    double *lrd;               /* owned, cap local reachability densities */
    double *scratch;           /* owned, cap doubles for medians */
    struct aiops_rolling hist; /* log-LOF of the latest scores */
};

/* The k nearest neighbours of one point, nearest first. */
struct knn {
    uint32_t n;
    uint32_t idx[LOF_K];
    double d2[LOF_K]; /* squared distances */
};

static double threshold(enum aiops_sensitivity s)
{
    switch (s) {
    case AIOPS_SENSITIVITY_LOW:
        return 3.5;
    case AIOPS_SENSITIVITY_HIGH:
        return 2.25;
    case AIOPS_SENSITIVITY_MEDIUM:
    default:
        return 2.75;
    }
}

/* Features of x given prev[0..nprev-1] (missing lags repeat the oldest value known). */
static void features(double x, const double *prev, uint32_t nprev, double *f)
{
    double p[LOF_LAG];

    for (uint32_t i = 0; i < LOF_LAG; i++)
        p[i] = nprev == 0 ? x : prev[i < nprev ? i : nprev - 1];
    f[0] = x;
    f[1] = x - p[0];
    f[2] = p[0];
    f[3] = p[1];
    f[4] = p[2];
}

static void push_prev(double *prev, uint32_t *nprev, double x)
{
    memmove(prev + 1, prev, (LOF_LAG - 1) * sizeof(*prev));
    prev[0] = x;
    if (*nprev < LOF_LAG)
        (*nprev)++;
}

/* Robust spread of column f of rows[0..n-1] (stride LOF_DIM): 1.4826 MAD, else 1.2533 mean
 * absolute deviation, else a millionth of the column's magnitude (a constant column). */
static double spread(const double *rows, size_t n, uint32_t f, double *scratch)
{
    double med, mad, mean_ad = 0.0;

    for (size_t i = 0; i < n; i++)
        scratch[i] = rows[i * LOF_DIM + f];
    med = aiops_select_kth(scratch, n, n / 2);
    for (size_t i = 0; i < n; i++) {
        scratch[i] = fabs(rows[i * LOF_DIM + f] - med);
        mean_ad += scratch[i];
    }
    mad = aiops_select_kth(scratch, n, n / 2) * AIOPS_MAD_TO_SD;
    if (mad > 0.0)
        return mad;
    mean_ad = mean_ad / (double)n * MEAN_AD_TO_SD;
    if (mean_ad > 0.0)
        return mean_ad;
    return fmax(fabs(med), 1.0) * 1e-6;
}

static inline double dist2(const double *a, const double *b)
{
    double s = 0.0;

    for (uint32_t j = 0; j < LOF_DIM; j++) {
        double d = a[j] - b[j];

        s += d * d;
    }
    return s;
}

/* Offers candidate i at squared distance d2 to the sorted neighbour list of size <= k. */
static inline void offer(struct knn *nn, uint32_t k, uint32_t i, double d2)
{
    uint32_t j;

    if (nn->n == k && d2 >= nn->d2[k - 1])
        return;
    j = nn->n < k ? nn->n++ : k - 1;
    while (j > 0 && nn->d2[j - 1] > d2) {
        nn->d2[j] = nn->d2[j - 1];
        nn->idx[j] = nn->idx[j - 1];
        j--;
    }
    nn->d2[j] = d2;
    nn->idx[j] = i;
}

/* The k nearest held points to q, leaving out slots skip_a and skip_b. */
static void window_knn(const struct lof *l, const double *q, uint32_t skip_a, uint32_t skip_b,
                       struct knn *nn)
{
    nn->n = 0;
    for (uint32_t i = 0; i < l->count; i++) {
        if (i == skip_a || i == skip_b)
            continue;
        offer(nn, l->k, i, dist2(q, l->feat + (size_t)i * LOF_DIM));
    }
}

/* Local reachability density of a point with neighbours nn, given their k-distances. */
static double reach_density(const struct knn *nn, const double *kdist)
{
    double sum = 0.0;

    for (uint32_t j = 0; j < nn->n; j++)
        sum += fmax(fmax(kdist[nn->idx[j]], sqrt(nn->d2[j])), LOF_REACH_FLOOR);
    return (double)nn->n / sum;
}

static double outlier_factor(const struct knn *nn, const double *lrd, double own_lrd)
{
    double sum = 0.0;

    for (uint32_t j = 0; j < nn->n; j++)
        sum += lrd[nn->idx[j]];
    return sum / (double)nn->n / own_lrd;
}

/* Recomputes the k-distance and the density of held slot s. */
static void refresh_slot(struct lof *l, uint32_t s)
{
    struct knn nn;

    window_knn(l, l->feat + (size_t)s * LOF_DIM, s, NONE, &nn);
    if (nn.n == 0)
        return;
    l->kdist[s] = sqrt(nn.d2[nn.n - 1]);
    l->lrd[s] = reach_density(&nn, l->kdist);
}

/* Re-measures each feature's spread; on first use or a change beyond LOF_RESCALE, rescales
 * every held point and recomputes every k-distance, then every density. O(count^2). */
static void check_scale(struct lof *l, bool force)
{
    double s[LOF_DIM];
    bool moved = force;

    for (uint32_t f = 0; f < LOF_DIM; f++) {
        s[f] = spread(l->raw, l->count, f, l->scratch);
        if (s[f] > l->scale[f] * LOF_RESCALE || s[f] * LOF_RESCALE < l->scale[f])
            moved = true;
    }
    l->since_scale = 0;
    if (!moved)
        return;
    memcpy(l->scale, s, sizeof(s));
    for (size_t i = 0; i < (size_t)l->count * LOF_DIM; i++)
        l->feat[i] = l->raw[i] / l->scale[i % LOF_DIM];
    for (uint32_t i = 0; i < l->count; i++) {
        struct knn nn;

        window_knn(l, l->feat + (size_t)i * LOF_DIM, i, NONE, &nn);
        l->kdist[i] = nn.n > 0 ? sqrt(nn.d2[nn.n - 1]) : 0.0;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        struct knn nn;

        window_knn(l, l->feat + (size_t)i * LOF_DIM, i, NONE, &nn);
        l->lrd[i] = nn.n > 0 ? reach_density(&nn, l->kdist) : 1.0 / LOF_REACH_FLOOR;
    }
    l->scaled = true;
}

/* Fills the neighbourhood fields of out: mean, min and max value (feature 0) of the neighbours
 * in raw units, and the LOF as the statistic. */
static void neighbourhood(const double *raw, const struct knn *nn, double lof,
                          struct aiops_verdict *out)
{
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;

    for (uint32_t j = 0; j < nn->n; j++) {
        double v = raw[(size_t)nn->idx[j] * LOF_DIM];

        sum += v;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    out->expected = sum / (double)nn->n;
    out->lower = lo;
    out->upper = hi;
    out->statistic = lof;
}

/* Score of log-LOF lz against a history's mean and standard deviation: z = how far above. */
static double calibrated(double lz, double mean, double sd, double thr)
{
    double z = (lz - mean) / fmax(sd, LOF_MIN_SD);

    return z > 0.0 ? aiops_detector_z_score_to_unit(z, thr) : 0.0;
}

/* Adds lz to the latest log-LOFs and returns their mean (over fewer at the start). */
static double recent_mean(struct lof *l, double lz)
{
    uint32_t n;
    double sum = 0.0;

    l->recent[l->nrecent % LOF_AVG] = lz;
    if (++l->nrecent == 2 * LOF_AVG)
        l->nrecent = LOF_AVG; /* keeps the count bounded, same slot modulo LOF_AVG */
    n = l->nrecent < LOF_AVG ? l->nrecent : LOF_AVG;
    for (uint32_t i = 0; i < n; i++)
        sum += l->recent[i];
    return sum / n;
}

static int lof_init(struct aiops_detector *d)
{
    struct lof *l = (struct lof *)d;
    uint32_t cap = d->params.window;
    int err = AIOPS_ENOMEM;

    if (cap < 2)
        return AIOPS_EINVAL;
    l->raw = aiops_malloc((size_t)cap * LOF_DIM * sizeof(*l->raw));
    if (l->raw == NULL)
        return err;
    l->feat = aiops_malloc((size_t)cap * LOF_DIM * sizeof(*l->feat));
    if (l->feat == NULL)
        goto err_free_raw;
    /* kdist, lrd and scratch share one block of 3 * cap doubles. */
    l->kdist = aiops_malloc((size_t)cap * 3 * sizeof(*l->kdist));
    if (l->kdist == NULL)
        goto err_free_feat;
    l->lrd = l->kdist + cap;
    l->scratch = l->lrd + cap;
    err = aiops_rolling_init(&l->hist, LOF_HISTORY);
    if (err < 0)
        goto err_free_kdist;
    l->cap = cap;
    l->k = cap - 1 < LOF_K ? cap - 1 : LOF_K;
    l->warm_up = cap < LOF_MIN_POINTS ? cap : LOF_MIN_POINTS;
    l->rescale_every = cap / 4 > 16 ? cap / 4 : 16;
    l->thr = threshold(d->params.sensitivity);
    for (uint32_t f = 0; f < LOF_DIM; f++)
        l->scale[f] = 1.0;
    return 0;
err_free_kdist:
    aiops_free(l->kdist);
err_free_feat:
    aiops_free(l->feat);
err_free_raw:
    aiops_free(l->raw);
    return err;
}

static void lof_fini(struct aiops_detector *d)
{
    struct lof *l = (struct lof *)d;

    aiops_rolling_fini(&l->hist);
    aiops_free(l->kdist);
    aiops_free(l->feat);
    aiops_free(l->raw);
}

/* Scores p against the window before it (the oldest point, about to leave, is left out), then
 * adds it with the k-distance and density just found. No allocation; O(window) per point plus
 * LOF_REFRESH O(window) refreshes, and an O(window^2) full refresh when the spreads move. */
static void lof_update(struct aiops_detector *d, const struct aiops_point *p,
                       struct aiops_verdict *out)
{
    struct lof *l = (struct lof *)d;
    double x = p->value, r[LOF_DIM], q[LOF_DIM];
    uint32_t s = l->head, leaving = l->count == l->cap ? l->head : NONE;
    struct knn nn = {0};
    double own_lrd = 0.0;

    if (!isfinite(x)) {
        aiops_rolling_unscored(out);
        return;
    }
    features(x, l->prev, l->nprev, r);
    for (uint32_t f = 0; f < LOF_DIM; f++)
        q[f] = r[f] / l->scale[f];
    aiops_rolling_unscored(out);
    if (l->scaled) {
        double lof, lz, avg;

        window_knn(l, q, leaving, NONE, &nn);
        own_lrd = reach_density(&nn, l->kdist);
        lof = outlier_factor(&nn, l->lrd, own_lrd);
        lz = log(fmin(fmax(lof, 1e-9), 1e300)); /* finite even for lof = inf */
        neighbourhood(l->raw, &nn, lof, out);
        avg = recent_mean(l, lz);
        if (l->hist.count >= LOF_HISTORY_MIN) {
            out->score =
                calibrated(avg, aiops_rolling_mean(&l->hist), aiops_rolling_std(&l->hist), l->thr);
            out->is_anomaly = out->score > 0.5;
        }
        if (l->refractory > 0) {
            l->refractory--;
            out->score *= 0.5; /* still ranked, never above the threshold */
            out->is_anomaly = false;
        } else if (out->is_anomaly) {
            l->refractory = LOF_REFRACTORY;
        }
        aiops_rolling_push(&l->hist, lz);
    }

    memcpy(l->raw + (size_t)s * LOF_DIM, r, sizeof(r));
    memcpy(l->feat + (size_t)s * LOF_DIM, q, sizeof(q));
    l->kdist[s] = nn.n > 0 ? sqrt(nn.d2[nn.n - 1]) : 0.0;
    l->lrd[s] = nn.n > 0 ? own_lrd : 1.0 / LOF_REACH_FLOOR;
    if (l->count < l->cap)
        l->count++;
    if (++l->head == l->cap)
        l->head = 0;
    push_prev(l->prev, &l->nprev, x);

    l->since_scale++;
    if (!l->scaled) {
        if (l->count >= l->warm_up)
            check_scale(l, true);
    } else if (l->since_scale >= l->rescale_every) {
        check_scale(l, false);
    } else {
        for (uint32_t i = 0; i < LOF_REFRESH; i++) {
            if (l->refresh_next >= l->count)
                l->refresh_next = 0;
            if (l->refresh_next != s)
                refresh_slot(l, l->refresh_next);
            l->refresh_next++;
        }
    }
}

/* Projection on the unit vector (1, 0, 1, 1, 1) / 2: value and shingle move together, so this
 * spreads the points most; |difference of projections| <= distance (Cauchy-Schwarz). */
static double project(const double *f)
{
    return (f[0] + f[2] + f[3] + f[4]) * 0.5;
}

struct keyed {
    double key;
    uint32_t i;
};

static int keyed_less(const void *a, const void *b)
{
    double x = ((const struct keyed *)a)->key, y = ((const struct keyed *)b)->key;

    return (x > y) - (x < y);
}

/* Exact k nearest neighbours of every row of feat[0..m-1]: rows sorted by a projection, each
 * search walks outwards from the row's rank and stops once the gap in projection is at least
 * the k-th distance so far (a lower bound of every farther candidate's distance). */
static void batch_knn(const double *feat, const struct keyed *order, uint32_t m, uint32_t k,
                      struct knn *nn)
{
    for (uint32_t p = 0; p < m; p++) {
        uint32_t i = order[p].i;
        const double *q = feat + (size_t)i * LOF_DIM;
        double key = order[p].key;
        uint32_t lo = p, hi = p + 1; /* next candidates: lo - 1 and hi */
        struct knn *out = &nn[i];

        out->n = 0;
        for (;;) {
            double gl = lo > 0 ? key - order[lo - 1].key : INFINITY;
            double gh = hi < m ? order[hi].key - key : INFINITY;
            double g = fmin(gl, gh);
            uint32_t c;

            if (isinf(g) || (out->n == k && g * g >= out->d2[k - 1]))
                break;
            c = gl <= gh ? order[--lo].i : order[hi++].i;
            offer(out, k, c, dist2(q, feat + (size_t)c * LOF_DIM));
        }
    }
}

/* LOF of every finite point against all the others, exact; z against the mean and standard
 * deviation of all the series' log-LOFs. Non-finite values are skipped and unscored. */
static int lof_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                     size_t n, struct aiops_verdict *out)
{
    double thr = threshold(params->sensitivity), prev[LOF_LAG], scale[LOF_DIM];
    double *raw, *feat, *kdist, *lrd, *lz, mean, sd;
    uint32_t m = 0, nprev = 0, k, *at;
    struct keyed *order;
    struct knn *nn;
    int err = AIOPS_ENOMEM;

    for (size_t i = 0; i < n; i++) {
        aiops_rolling_unscored(&out[i]);
        m += isfinite(pts[i].value);
    }
    if (m < 3)
        return 0;
    k = m - 1 < LOF_K ? m - 1 : LOF_K;
    /* raw, feat: m * LOF_DIM each; kdist, lrd, lz: m each (lz doubles as the median scratch). */
    raw = aiops_malloc((size_t)m * (2 * LOF_DIM + 3) * sizeof(*raw));
    if (raw == NULL)
        return AIOPS_ENOMEM;
    feat = raw + (size_t)m * LOF_DIM;
    kdist = feat + (size_t)m * LOF_DIM;
    lrd = kdist + m;
    lz = lrd + m;
    order = aiops_malloc((size_t)m * sizeof(*order));
    if (order == NULL)
        goto out_free_raw;
    nn = aiops_malloc((size_t)m * sizeof(*nn));
    if (nn == NULL)
        goto out_free_order;
    at = aiops_malloc((size_t)m * sizeof(*at));
    if (at == NULL)
        goto out_free_nn;

    for (size_t i = 0, j = 0; i < n; i++) {
        if (!isfinite(pts[i].value))
            continue;
        features(pts[i].value, prev, nprev, raw + j * LOF_DIM);
        push_prev(prev, &nprev, pts[i].value);
        at[j++] = (uint32_t)i;
    }
    for (uint32_t f = 0; f < LOF_DIM; f++)
        scale[f] = spread(raw, m, f, lz);
    for (size_t i = 0; i < (size_t)m * LOF_DIM; i++)
        feat[i] = raw[i] / scale[i % LOF_DIM];
    for (uint32_t i = 0; i < m; i++)
        order[i] = (struct keyed){.key = project(feat + (size_t)i * LOF_DIM), .i = i};
    qsort(order, m, sizeof(*order), keyed_less);
    batch_knn(feat, order, m, k, nn);

    for (uint32_t i = 0; i < m; i++)
        kdist[i] = sqrt(nn[i].d2[nn[i].n - 1]);
    for (uint32_t i = 0; i < m; i++)
        lrd[i] = reach_density(&nn[i], kdist);
    for (uint32_t i = 0; i < m; i++) {
        double lof = outlier_factor(&nn[i], lrd, lrd[i]);

        lz[i] = log(fmin(fmax(lof, 1e-9), 1e300));
        neighbourhood(raw, &nn[i], lof, &out[at[i]]);
    }
    /* Robust centre and spread: the series holds its anomalies, which must not widen them. */
    for (uint32_t i = 0; i < m; i++)
        kdist[i] = lz[i];
    mean = aiops_select_kth(kdist, m, m / 2);
    for (uint32_t i = 0; i < m; i++)
        kdist[i] = fabs(lz[i] - mean);
    sd = aiops_select_kth(kdist, m, m / 2) * AIOPS_MAD_TO_SD;
    for (uint32_t i = 0; i < m; i++) {
        struct aiops_verdict *v = &out[at[i]];
        uint32_t from = i + 1 >= LOF_AVG ? i + 1 - LOF_AVG : 0;
        double avg = 0.0;

        for (uint32_t j = from; j <= i; j++)
            avg += lz[j];
        avg /= (double)(i + 1 - from);
        v->score = calibrated(avg, mean, fmax(sd, LOF_BATCH_MIN_SD), thr);
        v->is_anomaly = v->score > 0.5;
    }
    err = 0;

    aiops_free(at);
out_free_nn:
    aiops_free(nn);
out_free_order:
    aiops_free(order);
out_free_raw:
    aiops_free(raw);
    return err;
}

static void lof_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (isnan(v->statistic) || isnan(v->expected)) {
        snprintf(buf, len, "value %.4g has anomaly score %.3f", value, v->score);
        return;
    }
    snprintf(buf, len,
             "value %.4g has local outlier factor %.2f: its neighbourhood is %.1f times sparser "
             "than that of its nearest neighbours (values %.4g to %.4g, mean %.4g)",
             value, v->statistic, v->statistic, v->lower, v->upper, v->expected);
}

static const char *const lof_best_for[] = {"local density changes", "clustered normal behaviour",
                                           "changes of pattern", NULL};

const struct aiops_detector_ops aiops_lof_ops = {
    .name = "lof",
    .description = "Local Outlier Factor: compares each point's density with its neighbours'.",
    .category = "ml",
    .best_for = lof_best_for,
    .size = sizeof(struct lof),
    .init = lof_init,
    .fini = lof_fini,
    .update = lof_update,
    .batch = lof_batch,
    .explain = lof_explain,
};
