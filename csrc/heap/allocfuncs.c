/* Allocations per function (DevTools' Allocation view, bottom-up): V8's
 * trace_tree counts what each stack allocated, with the function at its top;
 * a node's trace_node_id names the stack that allocated it, so the objects
 * still alive are counted against the same function. */
#include <stdlib.h>
#include <string.h>

#include "allocfuncs.h"

int heap_allocation_functions(const struct heap_snapshot *s, struct heap_alloc_fn **out) {
  *out = NULL;
  uint32_t nt = s->trace_tree_count, nf = s->trace_fn_count;
  if (!s->trace_tree || !nt || !nf) return 0;
  struct heap_alloc_fn *rows = calloc(nf, sizeof *rows);
  /* the last trace node that counted a function */
  uint32_t *stamp = malloc((size_t)nf * sizeof *stamp);
  uint32_t *live = calloc(nt, sizeof *live);
  uint64_t *live_size = calloc(nt, sizeof *live_size);
  if (!rows || !stamp || !live || !live_size || heap_trace_live(s, live, live_size)) {
    free(rows);
    free(stamp);
    free(live);
    free(live_size);
    return -1;
  }
  memset(stamp, 0xFF, (size_t)nf * sizeof *stamp);
  for (uint32_t i = 0; i < nt; i++) {
    const struct heap_trace_node *t = &s->trace_tree[i];
    if (t->function_info < nf) {
      rows[t->function_info].count += t->count;
      rows[t->function_info].size += t->size;
      /* the objects still alive, counted against the function at the top */
      rows[t->function_info].live_count += live[i];
      rows[t->function_info].live_size += live_size[i];
    }
    /* inclusive: this node's bytes count once for every function on its stack */
    if (!t->size) continue;
    for (uint32_t a = i, depth = 0; a < nt && depth < 4096; a = s->trace_tree[a].parent, depth++) {
      uint32_t f = s->trace_tree[a].function_info;
      if (f < nf && stamp[f] != i) {
        stamp[f] = i;
        rows[f].total_size += t->size;
      }
    }
  }
  free(stamp);
  free(live);
  free(live_size);
  uint32_t n = 0;
  for (uint32_t f = 0; f < nf; f++) {
    if (!rows[f].count && !rows[f].live_count) continue;
    rows[f].function_info = f;
    rows[n++] = rows[f];
  }
  if (!n) {
    free(rows);
    return 0;
  }
  *out = rows;
  return (int)n;
}
