/* The per-class summary, as DevTools' Summary view computes it (classes:
 * classes.c): nodes with self size 0 are left out; per class the count,
 * shallow size, minimum distance (a class with an unreached node has none,
 * as DevTools' -5 wins its minimum) and retained size, where a node counts
 * only when no dominator above it is of its class. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static int by_retained_desc(const void *a, const void *b) {
  const struct heap_class_row *x = a, *y = b;
  if (x->retained != y->retained) return x->retained < y->retained ? 1 : -1;
  if (x->shallow != y->shallow) return x->shallow < y->shallow ? 1 : -1;
  return x->cls < y->cls ? -1 : x->cls > y->cls;
}

#define MARK_BIT (1u << 31)

int heap_summary(struct heap_snapshot *s, struct heap_class_row **out, uint32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (heap_build_classes(s)) return -1;
  uint32_t nc = s->class_count, n = s->node_count;
  struct heap_class_row *rows = calloc((size_t)nc + 1, sizeof *rows);
  uint32_t *seen = calloc((size_t)nc + 1, 4);
  size_t cap = 1024, top = 0;
  uint32_t *stack = malloc(cap * 4);
  if (!rows || !seen || !stack) {
    free(rows);
    free(seen);
    free(stack);
    return -1;
  }
  for (uint32_t c = 0; c < nc; c++) {
    rows[c].cls = c;
    rows[c].min_distance = HEAP_UNREACHABLE;
  }
  for (uint32_t v = 0; v < n; v++) {
    if (!s->self16[v]) continue;
    struct heap_class_row *r = &rows[s->class_of[v]];
    r->count++;
    r->shallow += heap_self_size(s, v);
    uint32_t d = s->distance[v]; /* an unreached node (-5 in DevTools) wins the minimum */
    if (r->count == 1 || d == HEAP_UNREACHABLE ||
        (r->min_distance != HEAP_UNREACHABLE && d < r->min_distance))
      r->min_distance = d;
  }
  /* Retained size per class without double counting: walk the dominator
   * tree top-down (its preorder, keeping the path from the root on a
   * stack) and count a node only when no dominator above it (that was
   * counted) has the same class. */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v = s->dom_order[i];
    while (top > 0 && (stack[top - 1] & ~MARK_BIT) != s->idom[v]) {
      uint32_t u = stack[--top];
      if (u & MARK_BIT) seen[s->class_of[u & ~MARK_BIT]]--;
    }
    uint32_t c = s->class_of[v], mark = 0;
    if (s->self16[v] && !seen[c] && v != s->root) {
      rows[c].retained += heap_retained_size(s, v);
      seen[c]++;
      mark = MARK_BIT;
    }
    if (top == cap) {
      uint32_t *ns = realloc(stack, cap * 2 * 4);
      if (!ns) {
        free(rows);
        free(seen);
        free(stack);
        return -1;
      }
      stack = ns;
      cap *= 2;
    }
    stack[top++] = v | mark;
  }
  free(seen);
  free(stack);
  uint32_t m = 0;
  for (uint32_t c = 0; c < nc; c++)
    if (rows[c].count) rows[m++] = rows[c];
  qsort(rows, m, sizeof *rows, by_retained_desc);
  *out = rows;
  *nout = m;
  return 0;
}
