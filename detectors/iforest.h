/* SPDX-License-Identifier: MIT */
/* The isolation-forest detector (Liu, Ting and Zhou 2008) and the flat forest it is built on.
 * Each point becomes a small feature vector (value, first difference, rate of change and a
 * shingle of recent values); a point that random axis-parallel cuts isolate in few steps is
 * anomalous. registry.c lists its ops table. */
#ifndef AIOPS_IFOREST_H
#define AIOPS_IFOREST_H

#include <stdint.h>

#include "detectors/detector.h"

extern const struct aiops_detector_ops aiops_iforest_ops; /* "isolation-forest" */

/* The shingle: the AIOPS_IFOREST_LAGS values before the current one. */
#define AIOPS_IFOREST_LAGS 6
/* Features per point: value, difference, rate of change, then the shingle. */
#define AIOPS_IFOREST_DIMS (3 + AIOPS_IFOREST_LAGS)

/* A forest of height-limited isolation trees in one flat block. Every tree is stored as a
 * complete binary tree of `height` levels (2^height - 1 internal nodes, 2^height leaves), so a
 * lookup is `height` branch-free steps and rebuilding a tree writes into its own slot: no
 * allocation after init. A branch that stops early (one point left, or only identical points)
 * is padded with pass-through nodes that always go left, down to the leaf that holds its path
 * length. Embedded: init/fini. */
struct aiops_iforest {
    uint32_t n_trees; /* trees held */
    uint32_t psi;     /* subsample size each tree is built from, >= 2 */
    uint32_t height;  /* ceil(log2 psi), the height limit */
    uint32_t dims;    /* features per point, <= 255 */
    uint32_t n_inner; /* 2^height - 1 */
    double *split;    /* owned, n_trees * n_inner cut values */
    uint8_t *feat;    /* owned, n_trees * n_inner cut features */
    float *leaf;      /* owned, n_trees * 2^height path lengths (depth + c(size)) */
    uint32_t *stack;  /* owned, build scratch */
    double c_psi;     /* c(psi): the normaliser of the score */
};

/* Allocates a forest of n_trees trees over subsamples of psi points of `dims` features.
 * Returns 0, AIOPS_EINVAL (n_trees 0, psi < 2, dims 0 or > 255) or AIOPS_ENOMEM. The trees
 * are not usable until built. */
int aiops_iforest_init(struct aiops_iforest *f, uint32_t n_trees, uint32_t psi, uint32_t dims);
void aiops_iforest_fini(struct aiops_iforest *f);

/* Builds tree t from the n points (n <= psi, n >= 1) whose row indices are in idx (reordered
 * in place): row r's features are rows[r * dims ...]. rng is a splitmix64 state. */
void aiops_iforest_build(struct aiops_iforest *f, uint32_t t, const double *rows, uint32_t *idx,
                         uint32_t n, uint64_t *rng);

/* The mean path length of x over trees [0, n_trees) (each must be built). */
double aiops_iforest_path_length(const struct aiops_iforest *f, uint32_t n_trees, const double *x);

/* out[i] = the mean path length of row i of rows (n rows of dims features) over every tree:
 * the same numbers as aiops_iforest_path_length, faster for many points. */
void aiops_iforest_path_lengths(const struct aiops_iforest *f, const double *rows, uint32_t n,
                                double *out);

/* c(n): the mean path length of an unsuccessful search in a binary search tree of n points,
 * which normalises path lengths (Liu et al. 2008, eq. 1). c(0) = c(1) = 0. */
double aiops_iforest_c(double n);

/* Liu's anomaly score 2^(-h / c(psi)) of a mean path length h: near 1 is anomalous, 0.5 or
 * below is normal. */
double aiops_iforest_score(const struct aiops_iforest *f, double h);

#endif
