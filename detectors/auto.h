/* SPDX-License-Identifier: MIT */
/* The `auto` method: complementary detectors run together, the strongest score reported.
 * registry.c lists it; auto.c names its components. */
#ifndef AIOPS_AUTO_H
#define AIOPS_AUTO_H

#include "detectors/detector.h"

extern const struct aiops_detector_ops aiops_auto_ops; /* "auto" */

#endif
