/* SPDX-License-Identifier: MIT */
/* The one allocator of the agent. Tests make the n-th allocation fail and count live blocks,
 * so every constructor's failure ladder can be checked for leaks. Thread-safe. */
#ifndef AIOPS_MEM_H
#define AIOPS_MEM_H

#include <stddef.h>

void *aiops_malloc(size_t size);
void *aiops_calloc(size_t n, size_t size);
/* Like realloc(); on failure returns NULL and leaves ptr untouched. */
void *aiops_realloc(void *ptr, size_t size);
void aiops_free(void *ptr);
/* Copies a NUL-terminated string (or its first n bytes) into a new block. */
char *aiops_strdup(const char *s);
char *aiops_strndup(const char *s, size_t n);

/* Test hooks: the n-th allocation from now fails (n = 0: the next one); -1 turns it off. */
void aiops_mem_fail_after(long n);
/* Number of blocks allocated through aiops_* and not yet freed. */
long aiops_mem_live(void);

#endif
