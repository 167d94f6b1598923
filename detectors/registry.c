/* SPDX-License-Identifier: MIT */
/* The list of detection methods, in GET /methods order, and the other spellings the API and the
 * configuration accept. A new detector is one line in `methods` (and its header). */
#include "detectors/auto.h"
#include "detectors/detector.h"
#include "detectors/iforest.h"
#include "detectors/lof.h"
#include "detectors/matrix_profile.h"
#include "detectors/prophet.h"
#include "detectors/zscore.h"

#include <string.h>

/* clang-format off */
static const struct aiops_detector_ops *const methods[] = {
    &aiops_zscore_ops,
    &aiops_moving_average_ops,
    &aiops_iforest_ops,
    &aiops_lof_ops,
    &aiops_prophet_ops,
    &aiops_matrix_profile_ops,
    &aiops_auto_ops,
};
/* clang-format on */

/* Other spellings accepted for an implemented method. */
static const struct {
    const char *alias;
    const struct aiops_detector_ops *ops;
} aliases[] = {
    {"zscore", &aiops_zscore_ops},
    {"z_score", &aiops_zscore_ops},
    {"moving_average", &aiops_moving_average_ops},
    {"iforest", &aiops_iforest_ops},
    {"isolation_forest", &aiops_iforest_ops},
    {"matrix-profile", &aiops_matrix_profile_ops},
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
