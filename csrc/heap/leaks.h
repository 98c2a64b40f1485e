/* Private to leaks*.c: the leak finder's working state and its rules. */
#ifndef MEMDBG_HEAP_LEAKS_H
#define MEMDBG_HEAP_LEAKS_H

#include "heap.h"

enum { AGE_OLD = 0, AGE_NEW1 = 1, AGE_NEW2 = 2, AGE_GONE_IN_B = 3 };

struct leak_ctx {
  struct heap_snapshot *s;
  const struct heap_side *base, *target;
  uint8_t *age;      /* per node of the final snapshot */
  uint32_t *base_at; /* per node: its index in base, or UINT32_MAX */
  uint8_t *cand;     /* per node: AGE_NEW1 / AGE_NEW2 for candidates, 0 otherwise */
  int second_round;  /* some node is new in the final snapshot */
  uint32_t *forced;  /* per node: the growing collection that holds it, or UINT32_MAX */
  uint32_t *holder;  /* per node: its holder */
  uint32_t *gid;     /* per node: its group, or UINT32_MAX */
  struct heap_leak_group *g;
  uint64_t *keys;
  uint32_t *slot;
  size_t cap;
  uint32_t ng, gcap;
  uint8_t *keep; /* per group: the group rules kept it */
  /* string indexes the rules look for (HEAP_NO_NODE when absent) */
  uint32_t str_table, str_elements, str_properties;
  uint32_t link_names[12];
  uint32_t nlinks;
};

void leak_rules_init(struct leak_ctx *c);
/* Can node v be reported as a leaked object? */
int leak_rules_candidate(const struct leak_ctx *c, uint32_t v);
/* Can node v hold leaked objects (it existed in the baseline and is an object)? */
int leak_rules_holder(const struct leak_ctx *c, uint32_t v);
/* Is the group a leak? */
int leak_rules_group(const struct leak_ctx *c, const struct heap_leak_group *g);
/* Rank of a group's leaked class: 0 the program's own objects, 1 its closures, 2 the rest. */
int leak_rules_tier(const struct leak_ctx *c, const struct heap_leak_group *g);

/* Kinds of node that can hold a leak (objects, closures, natives, synthetic
 * roots): only theirs extents are ever asked for. */
int leak_holder_kind(uint8_t kind);
int leak_is_storage(const struct leak_ctx *c, uint32_t from, uint32_t e); /* e leaves from */
int leak_is_collection(const struct leak_ctx *c, uint32_t v);
typedef void (*leak_entry_fn)(const struct leak_ctx *c, uint32_t h, uint32_t container, uint32_t m,
                              void *ud);
void leak_each_entry(const struct leak_ctx *c, uint32_t h, leak_entry_fn fn, void *ud);
uint32_t leak_extent(const struct leak_ctx *c, uint32_t v);
void leak_holder_extents(const struct leak_ctx *c, uint32_t v, uint32_t ext[3]);
/* Sets every group's signature (leaks_shape.c). */
void leak_signatures(struct leak_ctx *c, struct heap_leak_group *g, uint32_t ng);

#endif
