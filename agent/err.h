/* SPDX-License-Identifier: MIT */
/* Error codes shared by every module: 0 is success, a negative AIOPS_E* is a failure.
 * Codes reuse -errno where one fits, as libuv does, so they print with aiops_strerror(). */
#ifndef AIOPS_ERR_H
#define AIOPS_ERR_H

#include <errno.h>

#define AIOPS_ENOMEM (-ENOMEM) /* an allocation failed */
#define AIOPS_EINVAL (-EINVAL) /* an argument or an input is malformed */
#define AIOPS_ENOENT (-ENOENT) /* a file, key or method does not exist */
#define AIOPS_EIO    (-EIO)    /* a read/write or a library call failed */
#define AIOPS_ERANGE (-ERANGE) /* a number is outside its allowed range */
#define AIOPS_E2BIG  (-E2BIG)  /* an input is over its configured limit */
#define AIOPS_ENOSYS (-ENOSYS) /* known, but not implemented yet */
#define AIOPS_EBUSY  (-EBUSY)  /* a queue is full; retry later */

/* Returns a static, human-readable name for an AIOPS_E* code (or any -errno). */
const char *aiops_strerror(int err);

#endif
