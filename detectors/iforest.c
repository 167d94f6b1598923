/* SPDX-License-Identifier: MIT */
/* The isolation-forest detector (Liu, Ting and Zhou 2008). Batch builds one forest on the whole
 * series and scores every point. Incremental keeps params.window feature vectors, scores each
 * point against a forest built from them before adding it, and rebuilds the oldest trees a few
 * at a time, as Random Cut Forest and iForestASD follow a stream. Both paths read Liu's score
 * against the detector's own score distribution, so 0.5 is the threshold on any series. */
#include "detectors/iforest.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EULER_GAMMA 0.5772156649015329

#define IFOREST_TREES     100u /* trees per forest, both paths */
#define IFOREST_BATCH_PSI 256u /* subsample per tree in batch (Liu et al.'s default) */
/* A short series has few distinct subsamples to draw: batch grows 2 trees per point from
 * IFOREST_MIN_TREES up to IFOREST_TREES, so the old service's 10-point README request costs a
 * quarter of a full forest (7 us instead of 39 here) and flags the same spike. */
#define IFOREST_MIN_TREES 25u
/* Subsample per tree when streaming. A small sample isolates a new point against the shape
 * of the window rather than its rare corners, and it is what scored best on NAB. */
#define IFOREST_STREAM_PSI   64u
#define IFOREST_TURNOVER     4u     /* windows each streaming tree lives before it is rebuilt */
#define IFOREST_WARM         64u    /* points before the first streaming forest (or the window) */
#define IFOREST_HIST_WINDOWS 8u     /* raw scores kept for calibration, in windows ... */
#define IFOREST_HIST_MAX     65536u /* ... up to this many */
#define IFOREST_RECAL_EVERY  16u    /* points between two readings of the reference */
#define IFOREST_REF_QUANTILE 0.99   /* streaming reference: this quantile of the recent scores */
#define IFOREST_TUKEY_K      3.0    /* batch reference: Tukey's far-out fence q3 + k * IQR */
#define IFOREST_WIDTH        0.02   /* raw-score excess that moves the score from 0.5 to 0.73 */
/* After a report, this share of a window passes before the next one (an episode is reported
 * once, not at every point the forest has not absorbed yet). */
#define IFOREST_QUIET_NUM 25u
#define IFOREST_QUIET_DEN 64u

/* The raw-score excess over the reference that makes a point anomalous, by sensitivity. */
static double margin_of(enum aiops_sensitivity s)
{
    switch (s) {
    case AIOPS_SENSITIVITY_LOW:
        return 0.04;
    case AIOPS_SENSITIVITY_HIGH:
        return 0.01;
    case AIOPS_SENSITIVITY_MEDIUM:
    default:
        return 0.02;
    }
}

/* ---- random numbers ------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32). */
static uint32_t below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((splitmix64(s) >> 32) * (uint64_t)n) >> 32);
}

/* ---- the forest ------------------------------------------------------------------------- */

double aiops_iforest_c(double n)
{
    if (n <= 1.0)
        return 0.0;
    if (n == 2.0)
        return 1.0;
    return 2.0 * (log(n - 1.0) + EULER_GAMMA) - 2.0 * (n - 1.0) / n;
}

int aiops_iforest_init(struct aiops_iforest *f, uint32_t n_trees, uint32_t psi, uint32_t dims)
{
    uint32_t height = 0;

    if (n_trees == 0 || psi < 2 || dims == 0 || dims > 255)
        return AIOPS_EINVAL;
    while ((1u << height) < psi)
        height++;
    *f = (struct aiops_iforest){0};
    f->n_trees = n_trees;
    f->psi = psi;
    f->height = height;
    f->dims = dims;
    f->n_inner = (1u << height) - 1;
    f->c_psi = aiops_iforest_c((double)psi);
    f->split = aiops_malloc((size_t)n_trees * f->n_inner * sizeof(*f->split));

    if (f->split == NULL)
        goto err;
    f->feat = aiops_malloc((size_t)n_trees * f->n_inner * sizeof(*f->feat));
    if (f->feat == NULL)
        goto err_free_split;
    f->leaf = aiops_malloc((size_t)n_trees * (f->n_inner + 1) * sizeof(*f->leaf));
    if (f->leaf == NULL)
        goto err_free_feat;
    /* (node, lo, n, depth) per pending branch: at most height + 1 on the stack at once */
    f->stack = aiops_malloc((size_t)(height + 2) * 4 * sizeof(*f->stack));
    if (f->stack == NULL)
        goto err_free_leaf;
    return 0;
err_free_leaf:
    aiops_free(f->leaf);
err_free_feat:
    aiops_free(f->feat);
err_free_split:
    aiops_free(f->split);
err:
    *f = (struct aiops_iforest){0};
    return AIOPS_ENOMEM;
}

void aiops_iforest_fini(struct aiops_iforest *f)
{

    aiops_free(f->stack);
    aiops_free(f->leaf);
    aiops_free(f->feat);
    aiops_free(f->split);
    *f = (struct aiops_iforest){0};
}

void aiops_iforest_build(struct aiops_iforest *f, uint32_t t, const double *rows, uint32_t *idx,
                         uint32_t n, uint64_t *rng)
{
    double *split = f->split + (size_t)t * f->n_inner;
    uint8_t *feat = f->feat + (size_t)t * f->n_inner;
    float *leaf = f->leaf + (size_t)t * (f->n_inner + 1);
    uint32_t *st = f->stack, sp = 0, dims = f->dims, height = f->height;

    assert(t < f->n_trees && n >= 1 && n <= f->psi);
    /* Every node passes left until a cut overwrites it. */
    for (uint32_t i = 0; i < f->n_inner; i++) {
        split[i] = INFINITY;
        feat[i] = 0;
    }
    st[sp++] = 0;
    st[sp++] = 0;
    st[sp++] = n;
    st[sp++] = 0;
    while (sp > 0) {
        uint32_t depth = st[--sp], cnt = st[--sp], lo = st[--sp], node = st[--sp];
        uint32_t q = 0, tried, l, r;
        double mn = 0.0, mx = 0.0, p;

        if (depth < height && cnt > 1) {
            /* A random feature that still varies here; none left means identical points. */
            q = below(rng, dims);
            for (tried = 0; tried < dims; tried++, q = q + 1 == dims ? 0 : q + 1) {
                mn = mx = rows[(size_t)idx[lo] * dims + q];
                for (uint32_t i = lo + 1; i < lo + cnt; i++) {
                    double v = rows[(size_t)idx[i] * dims + q];

                    mn = v < mn ? v : mn;
                    mx = v > mx ? v : mx;
                }
                if (mx > mn)
                    break;
            }
            if (tried < dims) {
                p = mn + uniform(rng) * (mx - mn);
                if (!(p < mx))
                    p = mn;
                /* Partition: <= p to the left (never empty: mn), > p to the right (mx). */
                l = lo;
                r = lo + cnt;
                while (l < r) {
                    if (rows[(size_t)idx[l] * dims + q] <= p) {
                        l++;
                    } else {
                        uint32_t tmp = idx[--r];

                        idx[r] = idx[l];
                        idx[l] = tmp;
                    }
                }
                split[node] = p;
                feat[node] = (uint8_t)q;
                st[sp++] = 2 * node + 2;
                st[sp++] = l;
                st[sp++] = lo + cnt - l;
                st[sp++] = depth + 1;
                st[sp++] = 2 * node + 1;
                st[sp++] = lo;
                st[sp++] = l - lo;
                st[sp++] = depth + 1;
                continue;
            }
        }
        /* A leaf at `depth`: the path ends here, plus c(cnt) for the points it still holds. */
        for (uint32_t d = depth; d < height; d++)
            node = 2 * node + 1;
        leaf[node - f->n_inner] = (float)((double)depth + aiops_iforest_c((double)cnt));
    }
}

/* Trees are walked LANES at a time in lock step: the walks are independent, so their loads
 * overlap instead of each waiting on the one before. */
#define LANES 8

/* The summed path lengths of x over trees [t, end). */
static double path_sum(const struct aiops_iforest *f, uint32_t t, uint32_t end, const double *x)
{
    uint32_t height = f->height, n_inner = f->n_inner;
    const double *split = f->split;
    const uint8_t *feat = f->feat;
    const float *leaf = f->leaf;
    double sum = 0.0;

    for (; t + LANES <= end; t += LANES) {
        size_t base[LANES];
        uint32_t i[LANES];

        for (int l = 0; l < LANES; l++) {
            base[l] = (size_t)(t + l) * n_inner;
            i[l] = 0;
        }
        for (uint32_t d = 0; d < height; d++) {
            for (int l = 0; l < LANES; l++)
                i[l] = 2 * i[l] + 1 + (x[feat[base[l] + i[l]]] > split[base[l] + i[l]]);
        }
        for (int l = 0; l < LANES; l++)
            sum += leaf[base[l] + t + l + (i[l] - n_inner)];
    }
    for (; t < end; t++) {
        size_t b = (size_t)t * n_inner;
        uint32_t i = 0;

        for (uint32_t d = 0; d < height; d++)
            i = 2 * i + 1 + (x[feat[b + i]] > split[b + i]);
        sum += leaf[b + t + (i - n_inner)];
    }
    return sum;
}

double aiops_iforest_path_length(const struct aiops_iforest *f, uint32_t n_trees, const double *x)
{
    return path_sum(f, 0, n_trees, x) / n_trees;
}

void aiops_iforest_path_lengths(const struct aiops_iforest *f, const double *rows, uint32_t n,
                                double *out)
{
    /* A block of trees at a time over every point: the block stays in L1 while the rows
     * stream past, instead of every tree being fetched again for every point. */
    enum { BLOCK = 2 * LANES };

    for (uint32_t i = 0; i < n; i++)
        out[i] = 0.0;
    for (uint32_t t = 0; t < f->n_trees; t += BLOCK) {
        uint32_t end = t + BLOCK < f->n_trees ? t + BLOCK : f->n_trees;

        for (uint32_t i = 0; i < n; i++)
            out[i] += path_sum(f, t, end, rows + (size_t)i * f->dims);
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] /= f->n_trees;
}

double aiops_iforest_score(const struct aiops_iforest *f, double h)
{
    return f->c_psi > 0.0 ? exp2(-h / f->c_psi) : 0.5;
}

/* ---- features --------------------------------------------------------------------------- */

/* The features of value x after the previous values prev[0] (latest), prev[1], ...: the value,
 * its difference and rate of change (as the old service computed them), then the shingle, as
 * the previous values themselves (streaming) or as x minus each of them (batch). Cuts are
 * axis-parallel and uniform between a node's extremes, so each feature's scale cancels out and
 * the shingle needs no normalising.
 * Why two shingles: in batch most trees' subsamples miss any given spike, and a spike that is
 * extreme in every offset is still isolated in those trees, while the points after it, which
 * hold it in one offset only, stay quiet. Streaming scored far better on NAB with the plain
 * values (55.4 against 35.4 with offsets). */
static void features(double x, const double *prev, bool offsets, double *out)
{
    double d = x - prev[0];

    out[0] = x;
    out[1] = d;
    out[2] = fabs(prev[0]) > 1e-9 ? d / fabs(prev[0]) : 0.0;
    for (uint32_t k = 0; k < AIOPS_IFOREST_LAGS; k++)
        out[3 + k] = offsets ? x - prev[k] : prev[k];
}

/* The history of values before the first one: the first value, repeated. */
static void history_start(double *prev, double x)
{
    for (uint32_t k = 0; k < AIOPS_IFOREST_LAGS; k++)
        prev[k] = x;
}

static void history_push(double *prev, double x)
{
    memmove(prev + 1, prev, (AIOPS_IFOREST_LAGS - 1) * sizeof(*prev));
    prev[0] = x;
}

/* ---- calibration ------------------------------------------------------------------------ */

#define HIST_BINS 4096 /* raw scores in [0, 1], to 1/4096 */

/* The recent raw scores as a sliding histogram: O(1) push, a quantile by a walk down the bins. */
struct score_hist {
    uint16_t *ring; /* owned, cap bin indices, oldest at head once full */
    uint32_t *bins; /* owned, HIST_BINS counts */
    uint32_t cap;   /* scores kept */
    uint32_t n;     /* scores held, <= cap */
    uint32_t head;  /* slot of the next score */
};

static int hist_init(struct score_hist *h, uint32_t cap)
{
    h->ring = aiops_malloc((size_t)cap * sizeof(*h->ring));
    if (h->ring == NULL)
        return AIOPS_ENOMEM;
    h->bins = aiops_calloc(HIST_BINS, sizeof(*h->bins));
    if (h->bins == NULL) {
        aiops_free(h->ring);
        return AIOPS_ENOMEM;
    }
    h->cap = cap;
    h->n = 0;
    h->head = 0;
    return 0;
}

static void hist_fini(struct score_hist *h)
{
    aiops_free(h->bins);
    aiops_free(h->ring);
}

static void hist_push(struct score_hist *h, double s)
{
    double x = s * HIST_BINS;
    uint32_t b = x <= 0.0 ? 0 : x >= HIST_BINS - 1 ? HIST_BINS - 1 : (uint32_t)x;

    if (h->n == h->cap)
        h->bins[h->ring[h->head]]--;
    else
        h->n++;
    h->ring[h->head] = (uint16_t)b;
    h->bins[b]++;
    h->head = h->head + 1 == h->cap ? 0 : h->head + 1;
}

/* The q-quantile, rounded up to its bin's upper edge. Needs n > 0. */
static double hist_quantile(const struct score_hist *h, double q)
{
    uint32_t above = (uint32_t)((1.0 - q) * h->n), seen = 0, b = HIST_BINS;

    while (b > 0) {
        seen += h->bins[--b];
        if (seen > above)
            break;
    }
    return (double)(b + 1) / HIST_BINS;
}

static void unscored(struct aiops_verdict *out)
{
    out->score = 0.0;
    out->is_anomaly = false;
    out->expected = NAN;
    out->lower = NAN;
    out->upper = NAN;
    out->statistic = NAN;
}

/* Raw score s against the reference: a logistic in the excess over ref + margin, so the score
 * is 0.5 exactly where the point turns anomalous. A score at or under the reference never is. */
static void verdict(double s, double ref, double margin, struct aiops_verdict *out)
{
    double e = s - ref - margin;

    assert(margin > 0.0);
    out->expected = NAN;
    out->lower = NAN;
    out->upper = NAN;
    out->statistic = s;
    out->score = 1.0 / (1.0 + exp(-e / IFOREST_WIDTH));
    out->is_anomaly = e > 0.0;
    if (!out->is_anomaly && out->score > 0.5) /* rounding at e == 0 */
        out->score = 0.5;
}

/* ---- incremental ------------------------------------------------------------------------ */

struct iforest {
    struct aiops_detector base;
    struct aiops_iforest forest;
    double *rows;     /* owned, (cap + mem_cap) * AIOPS_IFOREST_DIMS: the window (a ring), then
                       * the memory of anomalous points (a ring) */
    uint32_t cap;     /* params.window */
    uint32_t count;   /* window rows held, <= cap */
    uint32_t head;    /* window slot of the next row */
    uint32_t *pool;   /* owned, cap row indices, always a permutation of [0, cap) */
    uint32_t *sample; /* owned, psi row indices handed to a tree build */
    uint32_t mem_cap; /* rows of anomalous points remembered (psi / 8) */
    uint32_t mem_n;   /* remembered rows held, <= mem_cap */
    uint32_t mem_head;
    double prev[AIOPS_IFOREST_LAGS]; /* the latest finite values, prev[0] newest */
    uint64_t n_seen;                 /* finite values seen */
    uint32_t warm;                   /* window rows before the first forest */
    uint32_t built;                  /* trees built: 0 until the first forest, then n_trees */
    uint32_t next;                   /* the tree rebuilt next (the oldest) */
    uint32_t owed;                   /* rebuild credit, in 1/n_trees of a rebuild */
    uint32_t period;                 /* credit per rebuild: IFOREST_TURNOVER * cap */
    uint64_t rng;                    /* splitmix64 state, from params.seed */
    struct score_hist hist;
    uint32_t min_hist;  /* scores seen before the first verdict: window / 2, in [16, 128] */
    uint32_t since_ref; /* points since the reference was read */
    double ref;         /* IFOREST_REF_QUANTILE of the recent raw scores */
    double margin;      /* at params.sensitivity */
    uint32_t quiet_len; /* points without a report after one */
    uint32_t quiet;     /* of which are left */
};

/* Rebuilds tree t from a fresh sample: window rows, and the remembered anomalous points (at
 * most half the sample), so that a pattern reported before is not new every time it recurs. */
static void build_tree(struct iforest *f, uint32_t t)
{
    uint32_t psi = f->forest.psi, mem = f->mem_n < psi / 2 ? f->mem_n : psi / 2;
    uint32_t n = f->count < psi - mem ? f->count : psi - mem;

    if (f->count < f->cap) { /* rows [0, count) only: start them over in order */
        for (uint32_t i = 0; i < f->count; i++)
            f->pool[i] = i;
    }
    for (uint32_t i = 0; i < n; i++) { /* a partial Fisher-Yates shuffle: n distinct rows */
        uint32_t j = i + below(&f->rng, f->count - i), tmp = f->pool[j];

        f->pool[j] = f->pool[i];
        f->pool[i] = tmp;
        f->sample[i] = tmp;
    }
    for (uint32_t j = 0; j < mem; j++)
        f->sample[n + j] = f->cap + j;
    aiops_iforest_build(&f->forest, t, f->rows, f->sample, n + mem, &f->rng);
}

static void rebuild_all(struct iforest *f)
{
    for (uint32_t t = 0; t < f->forest.n_trees; t++)
        build_tree(f, t);
    f->built = f->forest.n_trees;
    f->owed = 0;
}

static int iforest_init(struct aiops_detector *d)
{
    struct iforest *f = (struct iforest *)d;
    uint32_t w = d->params.window, psi;
    int err;

    if (w < 2 || w > (1u << 24))
        return AIOPS_EINVAL;
    psi = w < IFOREST_STREAM_PSI ? w : IFOREST_STREAM_PSI;
    err = aiops_iforest_init(&f->forest, IFOREST_TREES, psi, AIOPS_IFOREST_DIMS);
    if (err < 0)
        return err;
    f->cap = w;
    f->mem_cap = psi / 8;
    f->rows = aiops_malloc(((size_t)w + f->mem_cap) * AIOPS_IFOREST_DIMS * sizeof(*f->rows));
    if (f->rows == NULL)
        goto err_fini_forest;
    f->pool = aiops_malloc((size_t)w * sizeof(*f->pool));
    if (f->pool == NULL)
        goto err_free_rows;
    f->sample = aiops_malloc((size_t)psi * sizeof(*f->sample));
    if (f->sample == NULL)
        goto err_free_pool;
    if (hist_init(&f->hist, w < IFOREST_HIST_MAX / IFOREST_HIST_WINDOWS ? IFOREST_HIST_WINDOWS * w
                                                                        : IFOREST_HIST_MAX) < 0)
        goto err_free_sample;
    for (uint32_t i = 0; i < w; i++)
        f->pool[i] = i;
    f->warm = w < IFOREST_WARM ? w : IFOREST_WARM;
    f->period = IFOREST_TURNOVER * w;
    f->rng = d->params.seed;
    f->min_hist = w / 2 < 16 ? 16 : w / 2 > 128 ? 128 : w / 2;
    f->margin = margin_of(d->params.sensitivity);
    f->quiet_len = (w * IFOREST_QUIET_NUM + IFOREST_QUIET_DEN - 1) / IFOREST_QUIET_DEN;
    return 0;
err_free_sample:
    aiops_free(f->sample);
err_free_pool:
    aiops_free(f->pool);
err_free_rows:
    aiops_free(f->rows);
err_fini_forest:
    aiops_iforest_fini(&f->forest);
    return AIOPS_ENOMEM;
}

static void iforest_fini(struct aiops_detector *d)
{
    struct iforest *f = (struct iforest *)d;

    hist_fini(&f->hist);
    aiops_free(f->sample);
    aiops_free(f->pool);
    aiops_free(f->rows);
    aiops_iforest_fini(&f->forest);
}

/* Scores row (the features of the current point) against the forest and the recent scores. */
static void score_row(struct iforest *f, const double *row, struct aiops_verdict *out)
{
    double s =
        aiops_iforest_score(&f->forest, aiops_iforest_path_length(&f->forest, f->built, row));

    if (f->hist.n >= f->min_hist) {
        verdict(s, f->ref, f->margin, out);
        if (out->is_anomaly && f->mem_cap > 0) { /* remember it, even when not reported */
            memcpy(f->rows + ((size_t)f->cap + f->mem_head) * AIOPS_IFOREST_DIMS, row,
                   AIOPS_IFOREST_DIMS * sizeof(*row));
            f->mem_head = f->mem_head + 1 == f->mem_cap ? 0 : f->mem_head + 1;
            if (f->mem_n < f->mem_cap)
                f->mem_n++;
        }
        if (f->quiet > 0) {
            f->quiet--;
            out->score *= 0.5;
            out->is_anomaly = false;
        } else if (out->is_anomaly && !f->base.every_point) {
            f->quiet = f->quiet_len;
        }
    } else {
        out->statistic = s;
    }
    hist_push(&f->hist, s);
    if (++f->since_ref >= IFOREST_RECAL_EVERY || f->hist.n == f->min_hist) {
        f->ref = hist_quantile(&f->hist, IFOREST_REF_QUANTILE);
        f->since_ref = 0;
    }
}

static void iforest_update(struct aiops_detector *d, const struct aiops_point *p,
                           struct aiops_verdict *out)
{
    struct iforest *f = (struct iforest *)d;
    double x = p->value, *row;

    unscored(out);
    if (!isfinite(x))
        return;
    if (f->n_seen == 0)
        history_start(f->prev, x);
    row = f->rows + (size_t)f->head * AIOPS_IFOREST_DIMS;
    features(x, f->prev, false, row);
    if (f->built > 0)
        score_row(f, row, out);

    /* Only then does the point join the window. */
    f->head = f->head + 1 == f->cap ? 0 : f->head + 1;
    if (f->count < f->cap)
        f->count++;
    history_push(f->prev, x);
    f->n_seen++;

    /* The first forest at `warm` rows, a new one each time the window doubles until it is
     * full, then the oldest tree each time one is due, so each tree lives TURNOVER windows. */
    if (f->count < f->warm)
        return;
    if (f->built == 0 ||
        (f->n_seen == f->count && ((f->count & (f->count - 1)) == 0 || f->count == f->cap))) {
        rebuild_all(f);
        return;
    }
    f->owed += f->forest.n_trees;
    while (f->owed >= f->period) {
        build_tree(f, f->next);
        f->next = f->next + 1 == f->forest.n_trees ? 0 : f->next + 1;
        f->owed -= f->period;
    }
}

/* ---- batch ------------------------------------------------------------------------------ */

/* The k-th smallest of a[0..n) (Hoare's selection; reorders a). */
static double select_kth(double *a, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n - 1;

    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        uint32_t i = lo, j = hi;

        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double tmp = a[i];

                a[i] = a[j];
                a[j] = tmp;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

/* Tukey's far-out fence of s[0..n): an outlier of the scores, never a fixed share of points
 * (scratch holds n). */
static double tukey_fence(const double *s, uint32_t n, double *scratch)
{
    double q1, q3;

    memcpy(scratch, s, (size_t)n * sizeof(*s));
    q1 = select_kth(scratch, n, (n - 1) / 4);
    q3 = select_kth(scratch, n, (3 * (n - 1)) / 4);
    return q3 + IFOREST_TUKEY_K * (q3 - q1);
}

static int iforest_batch(const struct aiops_detector_params *params, const struct aiops_point *pts,
                         size_t n, struct aiops_verdict *out)
{
    struct aiops_iforest forest;
    double prev[AIOPS_IFOREST_LAGS], *rows, *s, ref, margin = margin_of(params->sensitivity);
    uint32_t *idx, *sample, m = 0, psi, n_trees;
    uint64_t rng = params->seed;
    int err;

    for (size_t i = 0; i < n; i++) {
        unscored(&out[i]);
        m += isfinite(pts[i].value);
    }
    if (m < 2)
        return 0;
    if (n > UINT32_MAX)
        return AIOPS_E2BIG;
    psi = m < IFOREST_BATCH_PSI ? m : IFOREST_BATCH_PSI;
    n_trees = 2 * m < IFOREST_MIN_TREES ? IFOREST_MIN_TREES : 2 * m;
    err = aiops_iforest_init(&forest, n_trees < IFOREST_TREES ? n_trees : IFOREST_TREES, psi,
                             AIOPS_IFOREST_DIMS);
    if (err < 0)
        return err;
    err = AIOPS_ENOMEM;
    rows = aiops_malloc((size_t)m * AIOPS_IFOREST_DIMS * sizeof(*rows));
    if (rows == NULL)
        goto err_fini_forest;
    idx = aiops_malloc(((size_t)m + psi) * sizeof(*idx));
    if (idx == NULL)
        goto err_free_rows;
    sample = idx + m;
    s = aiops_malloc((size_t)m * 2 * sizeof(*s));
    if (s == NULL)
        goto err_free_idx;

    m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = pts[i].value;

        if (!isfinite(x))
            continue;
        if (m == 0)
            history_start(prev, x);
        features(x, prev, true, rows + (size_t)m * AIOPS_IFOREST_DIMS);
        history_push(prev, x);
        idx[m] = m;
        m++;
    }
    for (uint32_t t = 0; t < forest.n_trees; t++) {
        for (uint32_t i = 0; i < psi; i++) { /* psi distinct points per tree */
            uint32_t j = i + below(&rng, m - i), tmp = idx[j];

            idx[j] = idx[i];
            idx[i] = tmp;
            sample[i] = tmp; /* build reorders its sample; idx stays a permutation */
        }
        aiops_iforest_build(&forest, t, rows, sample, psi, &rng);
    }
    aiops_iforest_path_lengths(&forest, rows, m, s);
    for (uint32_t i = 0; i < m; i++)
        s[i] = aiops_iforest_score(&forest, s[i]);
    ref = tukey_fence(s, m, s + m);
    m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(pts[i].value))
            verdict(s[m++], ref, margin, &out[i]);
    }
    err = 0;
    aiops_free(s);
err_free_idx:
    aiops_free(idx);
err_free_rows:
    aiops_free(rows);
err_fini_forest:
    aiops_iforest_fini(&forest);
    return err;
}

static void iforest_explain(const struct aiops_verdict *v, double value, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (isnan(v->statistic))
        snprintf(buf, len, "value %.4g has anomaly score %.3f", value, v->score);
    else
        snprintf(buf, len,
                 "value %.4g is isolated in unusually few random cuts (isolation score %.3f, "
                 "anomaly score %.3f)",
                 value, v->statistic, v->score);
}

static const char *const iforest_best_for[] = {"high-dimensional or irregular metrics",
                                               "unknown anomaly shapes", NULL};

const struct aiops_detector_ops aiops_iforest_ops = {
    .name = "isolation-forest",
    .description = "Isolates anomalies with random partitioning trees.",
    .category = "ml",
    .best_for = iforest_best_for,
    .size = sizeof(struct iforest),
    .init = iforest_init,
    .fini = iforest_fini,
    .update = iforest_update,
    .batch = iforest_batch,
    .explain = iforest_explain,
};
