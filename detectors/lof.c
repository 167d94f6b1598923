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
#define LOF_BLOCK        8u   /* distances tested at once against a bound */
#define LOF_HINT_SLACK   1.25 /* squared bound over a hinted k-distance: ~1.7 k candidates in 5-D */

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
    double *feat;              /* owned, LOF_DIM columns of cap features / scale (feature f of
                                * slot i at f * cap + i), so a scan of the window vectorises */
    double *kdist;             /* owned, cap k-distances */
    double *lrd;               /* owned, cap local reachability densities */
    double *scratch;           /* owned, cap doubles for medians and squared distances */
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

    if (k == 0 || (nn->n == k && d2 >= nn->d2[k - 1])) /* k >= 1, but the analyser can't know */
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

/* Squared distances from q to the first n slots of the columns col (stride cap) into d2,
 * summed in feature order as dist2() does, so both give the same bits. */
static void column_dist2(const double *restrict col, size_t cap, uint32_t n,
                         const double *restrict q, double *restrict d2)
{
    const double *c0 = col, *c1 = c0 + cap, *c2 = c1 + cap, *c3 = c2 + cap, *c4 = c3 + cap;

    for (uint32_t i = 0; i < n; i++) {
        double a = q[0] - c0[i], b = q[1] - c1[i], c = q[2] - c2[i], d = q[3] - c3[i];
        double e = q[4] - c4[i];

        d2[i] = a * a + b * b + c * c + d * d + e * e;
    }
}

static inline double min2(double a, double b)
{
    return a < b ? a : b;
}

/* The least of LOF_BLOCK distances, as a tree of independent minimums (a chain would wait on
 * each one). min2() may drop a NaN, but distances are NaN only once a feature overflows
 * (values near DBL_MAX), where the neighbour lists were arbitrary before too. */
static inline double block_min(const double *d)
{
    static_assert(LOF_BLOCK == 8, "block_min spells out the block");
    return min2(min2(min2(d[0], d[1]), min2(d[2], d[3])), min2(min2(d[4], d[5]), min2(d[6], d[7])));
}

/* Offers the slots within squared distance bound (in slot order) and returns how many there
 * were, skip_a and skip_b left out. When that is at least k, the k-th distance is within the
 * bound, so nn holds exactly the k nearest, as a full scan would find them. */
static uint32_t offer_within(const struct lof *l, const double *d2, double bound, uint32_t skip_a,
                             uint32_t skip_b, struct knn *nn)
{
    uint32_t offered = 0, n = l->count;

    nn->n = 0;
    for (uint32_t b = 0; b < n; b += LOF_BLOCK) {
        uint32_t end = n - b < LOF_BLOCK ? n : b + LOF_BLOCK;

        if (end - b == LOF_BLOCK && block_min(d2 + b) > bound) /* most blocks */
            continue;
        for (uint32_t i = b; i < end; i++) {
            if (d2[i] <= bound && i != skip_a && i != skip_b) {
                offer(nn, l->k, i, d2[i]);
                offered++;
            }
        }
    }
    return offered;
}

/* The k nearest held points to q, leaving out slots skip_a and skip_b; ties go to the lower
 * slot. All distances first (a vectorised pass over the columns). hint is a guess of the
 * k-distance (a cached one, 0 for none): inserting every point that beats the k-th so far
 * into the sorted list costs more than the distances, so only the points within the hint
 * (with slack) are offered; if fewer than k are, a wider bound, then every point. Uses
 * l->scratch. */
static void window_knn(const struct lof *l, const double *q, uint32_t skip_a, uint32_t skip_b,
                       double hint, struct knn *nn)
{
    const double *d2 = l->scratch;
    double bound = hint * hint * LOF_HINT_SLACK;

    static_assert(LOF_DIM == 5, "column_dist2 spells out the features");
    column_dist2(l->feat, l->cap, l->count, q, l->scratch);
    if (bound > 0.0 && isfinite(bound)) {
        if (offer_within(l, d2, bound, skip_a, skip_b, nn) >= l->k ||
            offer_within(l, d2, bound * 4.0, skip_a, skip_b, nn) >= l->k)
            return;
    }
    nn->n = 0;
    for (uint32_t i = 0; i < l->count; i++) {
        if (i != skip_a && i != skip_b)
            offer(nn, l->k, i, d2[i]);
    }
}

/* The scaled features of held slot s, gathered from the columns. */
static void slot_features(const struct lof *l, uint32_t s, double *q)
{
    for (uint32_t f = 0; f < LOF_DIM; f++)
        q[f] = l->feat[(size_t)f * l->cap + s];
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

    double q[LOF_DIM];

    slot_features(l, s, q);
    window_knn(l, q, s, NONE, l->kdist[s], &nn);
    if (nn.n == 0)
        return;
    l->kdist[s] = sqrt(nn.d2[nn.n - 1]);
    l->lrd[s] = reach_density(&nn, l->kdist);
}

/* Re-measures each feature's spread; on first use or a change beyond LOF_RESCALE, rescales
 * every held point and recomputes every k-distance, then every density. O(count^2). */
static void check_scale(struct lof *l, bool force)
{
    double s[LOF_DIM], q[LOF_DIM];
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
    for (uint32_t i = 0; i < l->count; i++) {
        for (uint32_t f = 0; f < LOF_DIM; f++)
            l->feat[(size_t)f * l->cap + i] = l->raw[(size_t)i * LOF_DIM + f] / l->scale[f];
    }
    for (uint32_t i = 0; i < l->count; i++) {
        struct knn nn;

        slot_features(l, i, q);
        window_knn(l, q, i, NONE, l->kdist[i], &nn); /* the k-distance before the rescale */
        l->kdist[i] = nn.n > 0 ? sqrt(nn.d2[nn.n - 1]) : 0.0;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        struct knn nn;

        slot_features(l, i, q);
        window_knn(l, q, i, NONE, l->kdist[i], &nn);
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

        /* the latest point's k-distance: neighbours in time are often alike */
        window_knn(l, q, leaving, NONE, l->kdist[s == 0 ? l->cap - 1 : s - 1], &nn);
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
        } else if (out->is_anomaly && !d->every_point) {
            l->refractory = LOF_REFRACTORY;
        }
        aiops_rolling_push(&l->hist, lz);
    }

    memcpy(l->raw + (size_t)s * LOF_DIM, r, sizeof(r));
    for (uint32_t f = 0; f < LOF_DIM; f++)
        l->feat[(size_t)f * l->cap + s] = q[f];
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

/* Batch kNN goes through a k-d tree over the m points: median splits on the widest feature,
 * so the nearest-neighbour ball of a point is searched in the few leaves near it in all five
 * features. (A sorted projection prunes on one feature-mix only, and on seasonal data every
 * point at the same level of the cycle falls within its gap.) */
#define KD_LEAF 8u /* points per leaf at most */

struct kd_node {
    double split;     /* coordinate on dim of the median point: lower half <=, upper half >= */
    uint32_t lo, hi;  /* points held: tree positions lo..hi-1 */
    uint32_t upper;   /* node of the upper half (the lower half is the next node), 0 at a leaf */
    uint32_t min_idx; /* lowest point index held, for ties at the k-th distance */
    uint32_t dim;     /* feature split on */
};

struct kd_tree {
    const double *feat;   /* borrowed, m rows of LOF_DIM */
    uint32_t *perm;       /* point index at each tree position */
    double *pts;          /* rows in tree order, so a leaf is contiguous */
    struct kd_node *node; /* nnodes used, preorder */
    uint32_t nnodes;
};

/* Nodes a tree over n points needs: every leaf holds at least (KD_LEAF + 1) / 2 points. */
static size_t kd_max_nodes(size_t n)
{
    return 2 * (n / ((KD_LEAF + 1) / 2)) + 1;
}

/* Whether point a comes before point b on feature dim (ties by index, so the order is total
 * and the duplicates of a point end up in index order). */
static bool kd_less(const double *feat, uint32_t dim, uint32_t a, uint32_t b)
{
    double x = feat[(size_t)a * LOF_DIM + dim], y = feat[(size_t)b * LOF_DIM + dim];

    return x < y || (x == y && a < b);
}

static void swap_u32(uint32_t *a, uint32_t *b)
{
    uint32_t t = *a;

    *a = *b;
    *b = t;
}

/* Reorders a[0..n-1] so that a[k] is the k-th by kd_less on dim, smaller ones before it and
 * larger ones after (quickselect, median-of-3 pivot). */
static void kd_select(const double *feat, uint32_t dim, uint32_t *a, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n - 1;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, store = lo;

        if (kd_less(feat, dim, a[mid], a[lo]))
            swap_u32(&a[mid], &a[lo]);
        if (kd_less(feat, dim, a[hi], a[lo]))
            swap_u32(&a[hi], &a[lo]);
        if (kd_less(feat, dim, a[mid], a[hi]))
            swap_u32(&a[mid], &a[hi]); /* a[hi], the pivot, is the median of the three */
        for (uint32_t i = lo; i < hi; i++) {
            if (kd_less(feat, dim, a[i], a[hi]))
                swap_u32(&a[i], &a[store++]);
        }
        swap_u32(&a[store], &a[hi]);
        if (store == k)
            return;
        if (k < store)
            hi = store - 1;
        else
            lo = store + 1;
    }
}

/* Builds the subtree over tree positions lo..hi-1 and returns its node. */
static uint32_t kd_build(struct kd_tree *t, uint32_t lo, uint32_t hi)
{
    uint32_t id = t->nnodes++, mid, dim = 0;
    struct kd_node *nd = &t->node[id];
    double widest = -1.0;

    *nd = (struct kd_node){.lo = lo, .hi = hi, .min_idx = NONE};
    if (hi - lo <= KD_LEAF) {
        for (uint32_t p = lo; p < hi; p++)
            nd->min_idx = t->perm[p] < nd->min_idx ? t->perm[p] : nd->min_idx;
        return id;
    }
    for (uint32_t f = 0; f < LOF_DIM; f++) {
        double a = INFINITY, b = -INFINITY;

        for (uint32_t p = lo; p < hi; p++) {
            double v = t->feat[(size_t)t->perm[p] * LOF_DIM + f];

            a = fmin(a, v);
            b = fmax(b, v);
        }
        if (b - a > widest) {
            widest = b - a;
            dim = f;
        }
    }
    mid = lo + (hi - lo) / 2;
    kd_select(t->feat, dim, t->perm + lo, hi - lo, mid - lo);
    nd->dim = dim;
    nd->split = t->feat[(size_t)t->perm[mid] * LOF_DIM + dim];
    kd_build(t, lo, mid);
    nd->upper = kd_build(t, mid, hi);
    nd->min_idx = t->node[id + 1].min_idx < t->node[nd->upper].min_idx ? t->node[id + 1].min_idx
                                                                       : t->node[nd->upper].min_idx;
    return id;
}

/* Whether candidate i at d2 comes before candidate j at e2: nearer, or as near and lower. */
static inline bool nearer(double d2, uint32_t i, double e2, uint32_t j)
{
    return d2 < e2 || (d2 == e2 && i < j);
}

/* offer() for candidates in any order: ties at equal distance go to the lower index, so the
 * list is the one a scan in index order finds. */
static inline void offer_any(struct knn *nn, uint32_t k, uint32_t i, double d2)
{
    uint32_t j;

    if (nn->n == k && !nearer(d2, i, nn->d2[k - 1], nn->idx[k - 1]))
        return;
    j = nn->n < k ? nn->n++ : k - 1;
    while (j > 0 && nearer(d2, i, nn->d2[j - 1], nn->idx[j - 1])) {
        nn->d2[j] = nn->d2[j - 1];
        nn->idx[j] = nn->idx[j - 1];
        j--;
    }
    nn->d2[j] = d2;
    nn->idx[j] = i;
}

/* Squared lower bound of the distance from q to a cell, off[f] being q's offset from the cell
 * on feature f (0 inside). Summed in feature order with |off[f]| <= |q[f] - x[f]| for every
 * point x of the cell, so it is <= dist2() of each, rounding included. */
static inline double cell_dist2(const double *off)
{
    double s = 0.0;

    for (uint32_t f = 0; f < LOF_DIM; f++)
        s += off[f] * off[f];
    return s;
}

/* Adds the points of subtree id nearer q than the list's k-th (point self left out); rd is
 * cell_dist2(off) of the subtree's cell. Depth-first, the half holding q first, so the k-th
 * distance shrinks early; a cell farther than it is skipped (as far: only if no index in it
 * could win the tie). */
static void kd_search(const struct kd_tree *t, uint32_t id, const double *q, uint32_t self,
                      double *off, double rd, uint32_t k, struct knn *nn)
{
    const struct kd_node *nd = &t->node[id];
    uint32_t near, far;
    double old, diff;

    if (nn->n == k && (rd > nn->d2[k - 1] || (rd == nn->d2[k - 1] && nd->min_idx > nn->idx[k - 1])))
        return;
    if (nd->upper == 0) {
        for (uint32_t p = nd->lo; p < nd->hi; p++) {
            const double *x = t->pts + (size_t)p * LOF_DIM;
            double a = q[0] - x[0], b = q[1] - x[1], c = q[2] - x[2], d, e;
            double s = a * a + b * b + c * c; /* dist2()'s sum so far: stop if already past */

            if ((nn->n == k && s > nn->d2[k - 1]) || t->perm[p] == self)
                continue;
            d = q[3] - x[3];
            e = q[4] - x[4];
            offer_any(nn, k, t->perm[p], s + d * d + e * e);
        }
        return;
    }
    diff = q[nd->dim] - nd->split;
    near = diff < 0.0 ? id + 1 : nd->upper;
    far = diff < 0.0 ? nd->upper : id + 1;
    kd_search(t, near, q, self, off, rd, k, nn);
    old = off[nd->dim];
    off[nd->dim] = diff; /* every point of the far half is at least this far on dim */
    kd_search(t, far, q, self, off, cell_dist2(off), k, nn);
    off[nd->dim] = old;
}

/* Exact k nearest neighbours of every row of feat[0..m-1] (m >= 2), ties to the lower index:
 * the list a full scan in index order would give. Queries go in tree order, so consecutive
 * ones touch the same leaves. */
static void batch_knn(struct kd_tree *t, uint32_t m, uint32_t k, struct knn *nn)
{
    for (uint32_t i = 0; i < m; i++)
        t->perm[i] = i;
    t->nnodes = 0;
    kd_build(t, 0, m);
    assert(t->nnodes <= kd_max_nodes(m));
    for (uint32_t p = 0; p < m; p++)
        memcpy(t->pts + (size_t)p * LOF_DIM, t->feat + (size_t)t->perm[p] * LOF_DIM,
               LOF_DIM * sizeof(*t->pts));
    for (uint32_t p = 0; p < m; p++) {
        double off[LOF_DIM] = {0};
        uint32_t i = t->perm[p];

        nn[i].n = 0;
        kd_search(t, 0, t->pts + (size_t)p * LOF_DIM, i, off, 0.0, k, &nn[i]);
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
    struct kd_tree tree;
    struct knn *nn;
    int err = AIOPS_ENOMEM;

    for (size_t i = 0; i < n; i++) {
        aiops_rolling_unscored(&out[i]);
        m += isfinite(pts[i].value);
    }
    if (m < 3)
        return 0;
    k = m - 1 < LOF_K ? m - 1 : LOF_K;
    /* raw, feat, tree.pts: m * LOF_DIM each; kdist, lrd, lz: m each (lz doubles as the median
     * scratch). */
    raw = aiops_malloc((size_t)m * (3 * LOF_DIM + 3) * sizeof(*raw));
    if (raw == NULL)
        return AIOPS_ENOMEM;
    feat = raw + (size_t)m * LOF_DIM;
    tree.pts = feat + (size_t)m * LOF_DIM;
    kdist = tree.pts + (size_t)m * LOF_DIM;
    lrd = kdist + m;
    lz = lrd + m;
    tree.feat = feat;
    tree.node = aiops_malloc(kd_max_nodes(m) * sizeof(*tree.node));
    if (tree.node == NULL)
        goto out_free_raw;
    nn = aiops_malloc((size_t)m * sizeof(*nn));
    if (nn == NULL)
        goto out_free_nodes;
    /* at, then tree.perm: m each */
    at = aiops_malloc((size_t)m * 2 * sizeof(*at));
    if (at == NULL)
        goto out_free_nn;
    tree.perm = at + m;

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
    batch_knn(&tree, m, k, nn);

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
out_free_nodes:
    aiops_free(tree.node);
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
