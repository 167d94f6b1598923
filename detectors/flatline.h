/* SPDX-License-Identifier: MIT */
/* The flatline check: a series that stops changing for longer than it ever has (within a
 * horizon), the mark of a stuck exporter, a hung process or a device gone idle. It sees no
 * other kind of anomaly, so it is not a method of its own: `auto` runs it beside its
 * components (auto.c). */
#ifndef AIOPS_FLATLINE_H
#define AIOPS_FLATLINE_H

#include "detectors/detector.h"

extern const struct aiops_detector_ops aiops_flatline_ops; /* "flatline" */

#endif
