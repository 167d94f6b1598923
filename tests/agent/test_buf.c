/* SPDX-License-Identifier: MIT */
/* The growable buffer and the counting allocator under it. */
#include "agent/buf.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

static void fini(void)
{
    aiops_mem_fail_after(-1);
    aiops_test_check_leaks();
}

TestSuite(buf, .fini = fini);

Test(buf, appends_and_formats_and_keeps_a_terminating_nul)
{
    struct aiops_buf b;

    aiops_buf_init(&b);
    cr_assert(eq(int, aiops_buf_puts(&b, "value="), 0));
    cr_assert(eq(int, aiops_buf_printf(&b, "%d/%s", 42, "x"), 0));
    cr_assert(eq(str, b.data, "value=42/x"));
    cr_assert(eq(sz, b.len, strlen("value=42/x")));
    aiops_buf_fini(&b);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(buf, grows_past_its_first_block)
{
    struct aiops_buf b;
    char chunk[1000];

    memset(chunk, 'a', sizeof(chunk));
    aiops_buf_init(&b);
    for (int i = 0; i < 100; i++)
        cr_assert(eq(int, aiops_buf_append(&b, chunk, sizeof(chunk)), 0));
    cr_assert(eq(sz, b.len, 100000));
    cr_assert(b.cap > b.len);
    cr_assert(eq(chr, b.data[99999], 'a'));
    cr_assert(eq(chr, b.data[100000], '\0'));
    aiops_buf_fini(&b);
}

Test(buf, remembers_the_first_allocation_failure_and_ignores_later_appends)
{
    struct aiops_buf b;

    aiops_buf_init(&b);
    aiops_mem_fail_after(0);
    cr_assert(eq(int, aiops_buf_puts(&b, "lost"), AIOPS_ENOMEM));
    aiops_mem_fail_after(-1);
    cr_assert(eq(int, aiops_buf_puts(&b, "also lost"), AIOPS_ENOMEM));
    cr_assert(eq(sz, b.len, 0));
    aiops_buf_fini(&b);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(buf, steal_hands_over_the_data_and_leaves_the_buffer_empty)
{
    struct aiops_buf b;
    size_t len;
    char *p;

    aiops_buf_init(&b);
    aiops_buf_puts(&b, "mine");
    p = aiops_buf_steal(&b, &len);
    cr_assert(eq(str, p, "mine"));
    cr_assert(eq(sz, len, 4));
    cr_assert(eq(ptr, b.data, NULL));
    cr_assert(eq(long, aiops_mem_live(), 1));
    aiops_free(p);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(mem, fails_exactly_the_nth_allocation_and_counts_live_blocks)
{
    void *a, *b, *c;

    aiops_mem_fail_after(2);
    a = aiops_malloc(8);
    b = aiops_calloc(2, 8);
    c = aiops_malloc(8);
    aiops_mem_fail_after(-1);
    cr_assert(ne(ptr, a, NULL));
    cr_assert(ne(ptr, b, NULL));
    cr_assert(eq(ptr, c, NULL));
    cr_assert(eq(long, aiops_mem_live(), 2));
    aiops_free(a);
    aiops_free(b);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(mem, failed_realloc_leaves_the_old_block_intact)
{
    char *p = aiops_strdup("keep"), *q;

    aiops_mem_fail_after(0);
    q = aiops_realloc(p, 1 << 20);
    aiops_mem_fail_after(-1);
    cr_assert(eq(ptr, q, NULL));
    cr_assert(eq(str, p, "keep"));
    aiops_free(p);
    cr_assert(eq(long, aiops_mem_live(), 0));
}
