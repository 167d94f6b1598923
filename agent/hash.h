/* SPDX-License-Identifier: MIT */
/* uthash as the agent uses it: through the agent's allocator (so tests can fail allocations and
 * count blocks), reporting a failed insertion in aiops_hash_add_failed instead of exiting.
 * Include it first, before any header that includes <uthash.h>. */
#ifndef AIOPS_HASH_H
#define AIOPS_HASH_H

#include <stdbool.h>

#include "agent/mem.h"

/* One per file that includes this; clear it before HASH_ADD*, test it after. */
static bool aiops_hash_add_failed;

#define uthash_malloc(sz)        aiops_malloc(sz)
#define uthash_free(ptr, sz)     aiops_free(ptr)
#define HASH_NONFATAL_OOM        1
#define uthash_nonfatal_oom(obj) (aiops_hash_add_failed = true)

#include <uthash.h>

#endif
