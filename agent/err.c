/* SPDX-License-Identifier: MIT */
/* Names for the error codes of err.h. */
#include "agent/err.h"

#include <string.h>

const char *aiops_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case AIOPS_ENOMEM:
        return "out of memory";
    case AIOPS_EINVAL:
        return "invalid argument";
    case AIOPS_ENOENT:
        return "not found";
    case AIOPS_EIO:
        return "input/output error";
    case AIOPS_ERANGE:
        return "value out of range";
    case AIOPS_E2BIG:
        return "over the configured limit";
    case AIOPS_ENOSYS:
        return "not implemented";
    case AIOPS_EBUSY:
        return "busy";
    default:
        return err < 0 ? strerror(-err) : "unknown error";
    }
}
