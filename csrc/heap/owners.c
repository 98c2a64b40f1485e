/* DevTools' calculateShallowSizes: V8 reports an object's backing stores
 * ((array) nodes: elements, properties, hash tables; hidden "(system)"
 * nodes; ExternalStringData) as nodes of their own. When exactly one
 * object reaches such a node (directly or through other such nodes, weak
 * edges aside), its self size moves into that object, so a Map shows the
 * memory of its table. Nodes reached from two objects, or only from the
 * root or a synthetic node, keep their size. Skipped when the root has no
 * user roots (a snapshot taken with internals exposed). */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define UNVISITED UINT32_MAX
#define MULTIPLE (UINT32_MAX - 1)

static int has_user_roots(const struct heap_snapshot *s) {
  for (uint32_t e = s->first_edge[s->root]; e < s->first_edge[s->root + 1]; e++)
    if (heap_is_user_root(s, s->edge_to[e])) return 1;
  return 0;
}

static uint32_t find_string(const struct heap_snapshot *s, const char *want) {
  for (uint32_t i = 0; i < s->string_count; i++)
    if (!strcmp(heap_str(s, i), want)) return i;
  return HEAP_NO_NODE;
}

int heap_attribute_self_sizes(struct heap_snapshot *s) {
  if (s->format != HEAP_FORMAT_V8 || !has_user_roots(s)) return 0;
  uint32_t n = s->node_count;
  if (n >= MULTIPLE) return 0;
  uint32_t external = find_string(s, "system / ExternalStringData");
  uint32_t *owner = malloc((size_t)n * 4 + 4);
  /* each node enters the worklist at most twice: to an owner, then to MULTIPLE */
  size_t cap = (size_t)n + 1024, top = 0;
  uint32_t *work = malloc(cap * 4);
  if (!owner || !work) {
    free(owner);
    free(work);
    return -1;
  }
  for (uint32_t v = 0; v < n; v++) {
    uint8_t k = s->node_kind[s->node_type[v]];
    if (k == HT_HIDDEN || k == HT_ARRAY || (k == HT_NATIVE && s->node_name[v] == external)) {
      owner[v] = UNVISITED;
    } else {
      owner[v] = v;
      work[top++] = v;
    }
  }
  while (top > 0) {
    uint32_t v = work[--top], o = owner[v];
    for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
      if (heap_edge_kind_at(s, v, e) == ET_WEAK) continue;
      uint32_t t = s->edge_to[e], ot = owner[t];
      if (ot == t || ot == o || ot == MULTIPLE) continue;
      owner[t] = ot == UNVISITED ? o : MULTIPLE;
      if (top == cap) {
        cap *= 2;
        uint32_t *nw = realloc(work, cap * 4);
        if (!nw) {
          free(owner);
          free(work);
          return -1;
        }
        work = nw;
      }
      work[top++] = t;
    }
  }
  free(work);
  for (uint32_t v = 0; v < n; v++) {
    uint32_t o = owner[v];
    if (o == UNVISITED || o == MULTIPLE || o == v) continue;
    if (o == s->root || s->node_kind[s->node_type[o]] == HT_SYNTHETIC) continue;
    if (heap_set_self_size(s, o, heap_self_size(s, o) + heap_self_size(s, v))) {
      free(owner);
      return -1;
    }
    s->self16[v] = 0;
  }
  free(owner);
  return 0;
}
