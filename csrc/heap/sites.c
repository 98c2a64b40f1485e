/* Allocation sites of a snapshot taken with allocation tracking: the live
 * objects per trace_tree node (nodes carry the trace node id that allocated
 * them), and the allocation stack of a trace node. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

int heap_trace_live(const struct heap_snapshot *s, uint32_t *count, uint64_t *size) {
  uint32_t nt = s->trace_tree_count;
  if (!s->trace_node || !nt) return 0;
  /* trace node id -> index (ids are small and dense in practice) */
  uint32_t maxid = 0;
  for (uint32_t i = 0; i < nt; i++)
    if (s->trace_tree[i].id > maxid) maxid = s->trace_tree[i].id;
  if (maxid > 64u * 1024 * 1024) return 0;
  uint32_t *idx = malloc(((size_t)maxid + 1) * sizeof *idx);
  if (!idx) return -1;
  memset(idx, 0xFF, ((size_t)maxid + 1) * sizeof *idx);
  for (uint32_t i = 0; i < nt; i++)
    idx[s->trace_tree[i].id] = i;
  for (uint32_t v = 0; v < s->node_count; v++) {
    uint32_t t = s->trace_node[v];
    if (t && t <= maxid && idx[t] != UINT32_MAX) {
      count[idx[t]]++;
      size[idx[t]] += heap_self_size(s, v);
    }
  }
  free(idx);
  return 0;
}

int heap_allocation_sites(const struct heap_snapshot *s, struct heap_site **out, uint32_t *n) {
  *out = NULL;
  *n = 0;
  uint32_t nt = s->trace_tree_count;
  if (!s->trace_node || !nt) return 0;
  uint32_t *count = calloc(nt, sizeof *count);
  uint64_t *size = calloc(nt, sizeof *size);
  struct heap_site *rows = malloc((size_t)nt * sizeof *rows);
  if (!count || !size || !rows || heap_trace_live(s, count, size)) {
    free(count);
    free(size);
    free(rows);
    return -1;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < nt; i++)
    if (count[i]) rows[k++] = (struct heap_site){i, count[i], size[i]};
  free(count);
  free(size);
  *out = rows;
  *n = k;
  return 0;
}

uint32_t heap_trace_index(const struct heap_snapshot *s, uint32_t id) {
  for (uint32_t i = 0; i < s->trace_tree_count; i++)
    if (s->trace_tree[i].id == id) return i;
  return HEAP_NO_NODE;
}

const uint32_t *heap_trace_function(const struct heap_snapshot *s, uint32_t t) {
  if (t >= s->trace_tree_count || s->trace_tree[t].function_info >= s->trace_fn_count) return NULL;
  return s->trace_fn + (size_t)s->trace_tree[t].function_info * s->trace_fn_fields;
}

uint32_t heap_trace_stack(const struct heap_snapshot *s, uint32_t id, uint32_t *frames,
                          uint32_t max) {
  uint32_t k = 0;
  for (uint32_t t = heap_trace_index(s, id); t < s->trace_tree_count && k < max;
       t = s->trace_tree[t].parent) {
    const uint32_t *f = heap_trace_function(s, t);
    /* frames without a script are the tree's root and V8's own */
    if (f && s->trace_fn_script >= 0 && heap_str(s, f[s->trace_fn_script])[0]) frames[k++] = t;
  }
  return k;
}
