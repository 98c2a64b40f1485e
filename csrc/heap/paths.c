/* Shortest retainer paths (breadth-first, weak edges skipped; the same
 * search that gives distances) and the largest objects by retained size. */
#include <stdlib.h>

#include "heap.h"

int heap_retainer_path(struct heap_snapshot *s, uint32_t n, uint32_t **edges) {
  *edges = NULL;
  if (n >= s->node_count || heap_build_parent_edges(s)) return -1;
  if (n == s->root) {
    *edges = malloc(sizeof **edges);
    return *edges ? 0 : -1;
  }
  if (s->parent_edge[n] == UINT32_MAX) return -1;
  /* the path is at most as long as the distance (minus the system offset) */
  uint32_t len = 0;
  for (uint32_t v = n; v != s->root; v = heap_edge_from(s, s->parent_edge[v])) {
    len++;
    if (len > s->node_count) return -1; /* cannot happen with BFS parents; be safe */
  }
  uint32_t *out = malloc((size_t)len * sizeof *out + 4);
  if (!out) return -1;
  uint32_t i = len;
  for (uint32_t v = n; v != s->root; v = heap_edge_from(s, s->parent_edge[v]))
    out[--i] = s->parent_edge[v];
  *edges = out;
  return (int)len;
}

static void sift_down(uint32_t *h, uint32_t n, uint32_t i, const struct heap_snapshot *s) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_retained_size(s, h[l]) < heap_retained_size(s, h[m])) m = l;
    if (r < n && heap_retained_size(s, h[r]) < heap_retained_size(s, h[m])) m = r;
    if (m == i) return;
    uint32_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static const struct heap_snapshot *sort_snap;
static int by_key_desc(const void *a, const void *b) {
  uint64_t x = heap_retained_size(sort_snap, *(const uint32_t *)a),
           y = heap_retained_size(sort_snap, *(const uint32_t *)b);
  return x < y ? 1 : x > y ? -1 : 0;
}

int heap_top(struct heap_snapshot *s, uint32_t k, uint32_t **out, uint32_t *count) {
  *out = NULL;
  *count = 0;
  uint32_t *h = malloc((size_t)k * 4 + 4);
  if (!h) return -1;
  uint32_t n = 0;
  for (uint32_t v = 0; v < s->node_count; v++) {
    uint8_t kind = s->node_kind[s->node_type[v]];
    if (v == s->root || kind == HT_SYNTHETIC) continue;
    if (n < k) {
      h[n++] = v;
      if (n == k)
        for (uint32_t i = k / 2 + 1; i-- > 0;)
          sift_down(h, n, i, s);
    } else if (k && heap_retained_size(s, v) > heap_retained_size(s, h[0])) {
      h[0] = v;
      sift_down(h, n, 0, s);
    }
  }
  sort_snap = s;
  qsort(h, n, sizeof *h, by_key_desc);
  *out = h;
  *count = n;
  return 0;
}
