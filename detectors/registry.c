/* SPDX-License-Identifier: MIT */
/* The list of detection methods: the ones this build implements, in GET /methods order, and
 * the ones of the API contract still to come (the detect API answers 501 for those). */
#include "detectors/auto.h"
#include "detectors/detector.h"
#include "detectors/lof.h"
#include "detectors/matrix_profile.h"
#include "detectors/prophet.h"
#include "detectors/zscore.h"

#include <string.h>

static const struct aiops_detector_ops *const methods[] = {
    &aiops_zscore_ops,                                    /* statistical */
    &aiops_moving_average_ops, &aiops_lof_ops,            /* ml */
    &aiops_prophet_ops,        &aiops_matrix_profile_ops, /* advanced */
    &aiops_auto_ops,
};

/* Other spellings accepted for an implemented method. */
static const struct {
    const char *alias;
    const struct aiops_detector_ops *ops;
} aliases[] = {
    {"zscore", &aiops_zscore_ops},
    {"z_score", &aiops_zscore_ops},
    {"moving_average", &aiops_moving_average_ops},
    {"matrix-profile", &aiops_matrix_profile_ops},
};

static const char *const iforest_best_for[] = {"high-dimensional or irregular metrics",
                                               "unknown anomaly shapes", NULL};

static const struct aiops_detector_ops planned[] = {
    {.name = "isolation-forest",
     .description = "Isolates anomalies with random partitioning trees.",
     .category = "ml",
     .best_for = iforest_best_for},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

size_t aiops_detector_count(void)
{
    return COUNT_OF(methods);
}

const struct aiops_detector_ops *aiops_detector_at(size_t i)
{
    return i < COUNT_OF(methods) ? methods[i] : NULL;
}

const struct aiops_detector_ops *aiops_detector_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < COUNT_OF(methods); i++) {
        if (strcmp(methods[i]->name, name) == 0)
            return methods[i];
    }
    for (size_t i = 0; i < COUNT_OF(aliases); i++) {
        if (strcmp(aliases[i].alias, name) == 0)
            return aliases[i].ops;
    }
    return NULL;
}

bool aiops_detector_is_planned(const char *name)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < COUNT_OF(planned); i++) {
        if (strcmp(planned[i].name, name) == 0)
            return true;
    }
    return false;
}

size_t aiops_detector_planned_count(void)
{
    return COUNT_OF(planned);
}

const struct aiops_detector_ops *aiops_detector_planned_at(size_t i)
{
    return i < COUNT_OF(planned) ? &planned[i] : NULL;
}
