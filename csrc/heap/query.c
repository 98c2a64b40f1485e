/* Queries for leak hunters (the Lua query API): the instances of a class,
 * and the nodes a node immediately dominates, largest retained size first;
 * the edges into a node. Outgoing edges and dominators are plain reads of
 * the model. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static const struct heap_snapshot *sort_snap;
static int by_retained_desc(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  uint64_t rx = heap_retained_size(sort_snap, x), ry = heap_retained_size(sort_snap, y);
  if (rx != ry) return rx < ry ? 1 : -1;
  return x < y ? -1 : x > y;
}

int heap_instances(struct heap_snapshot *s, const char *name, uint32_t limit, uint32_t **out,
                   uint32_t *count, uint32_t *total) {
  *out = NULL;
  *count = *total = 0;
  if (heap_build_classes(s)) return -1;
  uint8_t *want = calloc((size_t)s->class_count + 1, 1);
  if (!want) return -1;
  int any = 0;
  for (uint32_t c = 0; c < s->class_count; c++)
    if (!strcmp(heap_class_name(s, c), name)) want[c] = any = 1;
  uint32_t n = 0;
  if (any)
    for (uint32_t v = 0; v < s->node_count; v++)
      n += want[s->class_of[v]] && s->self16[v] && v != s->root;
  uint32_t *ords = malloc((size_t)n * 4 + 4);
  if (!ords) {
    free(want);
    return -1;
  }
  uint32_t k = 0;
  for (uint32_t v = 0; v < s->node_count && k < n; v++)
    if (want[s->class_of[v]] && s->self16[v] && v != s->root) ords[k++] = v;
  free(want);
  sort_snap = s;
  qsort(ords, k, sizeof *ords, by_retained_desc);
  *total = k;
  *count = limit && limit < k ? limit : k;
  *out = ords;
  return 0;
}

int heap_dominated(struct heap_snapshot *s, uint32_t v, uint32_t **out, uint32_t *count) {
  *out = NULL;
  *count = 0;
  if (heap_build_dom_tree(s)) return -1;
  uint32_t n = s->dom_first[v + 1] - s->dom_first[v];
  uint32_t *kids = malloc((size_t)n * 4 + 4);
  if (!kids) return -1;
  memcpy(kids, s->dom_child + s->dom_first[v], (size_t)n * 4);
  sort_snap = s;
  qsort(kids, n, sizeof *kids, by_retained_desc);
  *out = kids;
  *count = n;
  return 0;
}

int heap_node_retainers(const struct heap_snapshot *s, uint32_t v, uint32_t **edges,
                        uint32_t *count) {
  *edges = NULL;
  *count = 0;
  uint32_t n = 0, cap = 16;
  uint32_t *e = malloc(cap * 4);
  if (!e) return -1;
  for (uint32_t i = 0; i < s->edge_count; i++) {
    if (s->edge_to[i] != v) continue;
    if (n == cap) {
      cap *= 2;
      uint32_t *ne = realloc(e, (size_t)cap * 4);
      if (!ne) {
        free(e);
        return -1;
      }
      e = ne;
    }
    e[n++] = i;
  }
  *edges = e;
  *count = n;
  return 0;
}
