/* Allocations per function of a snapshot taken with allocation tracking. */
#ifndef MEMDBG_HEAP_ALLOCFUNCS_H
#define MEMDBG_HEAP_ALLOCFUNCS_H

#include "heap.h"

struct heap_alloc_fn {
  uint32_t function_info; /* index into trace_fn */
  uint64_t count, size;   /* allocated while it was the top frame (its trace nodes' counts) */
  uint64_t total_size;    /* allocated while it was on the stack (each stack counted once) */
  uint64_t live_count, live_size; /* of those, the objects still in the snapshot */
};

/* One row per function that allocated or has live objects, in function
 * order; *out is malloc'ed (NULL when none). Returns the row count, 0 for a
 * snapshot without trace_tree, -1 when out of memory. DevTools' Allocation
 * view (bottom-up) in numbers. */
int heap_allocation_functions(const struct heap_snapshot *s, struct heap_alloc_fn **out);

#endif
