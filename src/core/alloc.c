/*
 * alloc.c - the one allocator wrapper. It counts live allocations (so tests find leaks)
 * and can make a chosen allocation fail (so tests exercise out-of-memory paths).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/core.h"

static atomic_long live_count;
static atomic_long fail_countdown = -1;

/* Returns 1 if this allocation must fail (injection), consuming one step of the countdown. */
static int should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    while (n >= 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
            return n == 0;
    }
    return 0;
}

void *td_malloc(size_t size)
{
    void *p;
    if (should_fail())
        return NULL;
    p = malloc(size ? size : 1);
    if (p)
        atomic_fetch_add(&live_count, 1);
    return p;
}

void *td_calloc(size_t count, size_t size)
{
    void *p;
    if (should_fail())
        return NULL;
    p = calloc(count ? count : 1, size ? size : 1);
    if (p)
        atomic_fetch_add(&live_count, 1);
    return p;
}

void *td_realloc(void *ptr, size_t size)
{
    void *p;
    if (!ptr)
        return td_malloc(size);
    if (should_fail())
        return NULL;
    p = realloc(ptr, size ? size : 1);
    return p;
}

void *td_malloc_aligned(size_t alignment, size_t size)
{
    void *p = NULL;
    if (should_fail())
        return NULL;
    if (alignment < sizeof(void *))
        alignment = sizeof(void *);
    if (posix_memalign(&p, alignment, size ? size : 1) != 0)
        return NULL;
    atomic_fetch_add(&live_count, 1);
    return p;
}

char *td_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = td_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void td_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&live_count, 1);
    free(ptr);
}

long td_alloc_live(void)
{
    return atomic_load(&live_count);
}

void td_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}
