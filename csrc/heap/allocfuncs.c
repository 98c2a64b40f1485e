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
  uint32_t *stamp =
      malloc((size_t)nf * sizeof *stamp); /* the last trace node that counted a function */
  uint32_t maxid = 0;
  for (uint32_t i = 0; i < nt; i++)
    if (s->trace_tree[i].id > maxid) maxid = s->trace_tree[i].id;
  /* trace node id -> index (ids are small and dense in practice) */
  uint32_t *idx = maxid <= 64u * 1024 * 1024 ? malloc(((size_t)maxid + 1) * sizeof *idx) : NULL;
  if (!rows || !stamp || !idx) {
    free(rows);
    free(stamp);
    free(idx);
    return -1;
  }
  memset(stamp, 0xFF, (size_t)nf * sizeof *stamp);
  memset(idx, 0xFF, ((size_t)maxid + 1) * sizeof *idx);
  for (uint32_t i = 0; i < nt; i++) {
    const struct heap_trace_node *t = &s->trace_tree[i];
    idx[t->id] = i;
    if (t->function_info < nf) {
      rows[t->function_info].count += t->count;
      rows[t->function_info].size += t->size;
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
  if (s->trace_node) {
    for (uint32_t v = 0; v < s->node_count; v++) {
      uint32_t id = s->trace_node[v];
      if (!id || id > maxid || idx[id] == UINT32_MAX) continue;
      uint32_t f = s->trace_tree[idx[id]].function_info;
      if (f >= nf) continue;
      rows[f].live_count++;
      rows[f].live_size += heap_self_size(s, v);
    }
  }
  free(stamp);
  free(idx);
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
