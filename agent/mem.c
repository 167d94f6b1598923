/* SPDX-License-Identifier: MIT */
/* Counting allocator with fault injection (see mem.h). The counters are atomics so the
 * thread pool's detection work can allocate too. */
#include "agent/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live_blocks;
static atomic_long fail_countdown = -1;

static int should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    if (n < 0)
        return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 0;
}

void *aiops_malloc(size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = malloc(size ? size : 1);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *aiops_calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = calloc(n ? n : 1, size ? size : 1);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *aiops_realloc(void *ptr, size_t size)
{
    void *p;

    if (ptr == NULL)
        return aiops_malloc(size);
    if (should_fail())
        return NULL;
    p = realloc(ptr, size ? size : 1);
    return p;
}

void aiops_free(void *ptr)
{
    if (ptr == NULL)
        return;
    atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
}

char *aiops_strndup(const char *s, size_t n)
{
    char *p = aiops_malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *aiops_strdup(const char *s)
{
    return aiops_strndup(s, strlen(s));
}

void aiops_mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

long aiops_mem_live(void)
{
    return atomic_load(&live_blocks);
}
