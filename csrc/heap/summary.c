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

#define EXIT_BIT (1u << 31)
#define MARK_BIT (1u << 30)

int heap_summary(struct heap_snapshot *s, struct heap_class_row **out, uint32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (heap_build_classes(s) || heap_build_dom_tree(s)) return -1;
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
    if (!s->self_size[v]) continue;
    struct heap_class_row *r = &rows[s->class_of[v]];
    r->count++;
    r->shallow += s->self_size[v];
    uint32_t d = s->distance[v]; /* an unreached node (-5 in DevTools) wins the minimum */
    if (r->count == 1 || d == HEAP_UNREACHABLE ||
        (r->min_distance != HEAP_UNREACHABLE && d < r->min_distance))
      r->min_distance = d;
  }
  /* Retained size per class without double counting: walk the dominator
   * tree top-down and count a node only when no dominator above it (that
   * was counted) has the same class. */
  stack[top++] = s->root;
  while (top > 0) {
    uint32_t item = stack[--top];
    uint32_t v = item & ~(EXIT_BIT | MARK_BIT);
    if (item & EXIT_BIT) {
      if (item & MARK_BIT) seen[s->class_of[v]]--;
      continue;
    }
    uint32_t c = s->class_of[v];
    uint32_t mark = 0;
    if (s->self_size[v] && !seen[c] && v != s->root) {
      rows[c].retained += s->retained[v];
      seen[c]++;
      mark = MARK_BIT;
    }
    size_t need = top + 1 + (s->dom_first[v + 1] - s->dom_first[v]);
    if (need > cap) {
      while (cap < need)
        cap *= 2;
      uint32_t *ns = realloc(stack, cap * 4);
      if (!ns) {
        free(rows);
        free(seen);
        free(stack);
        return -1;
      }
      stack = ns;
    }
    stack[top++] = v | EXIT_BIT | mark;
    for (uint32_t k = s->dom_first[v]; k < s->dom_first[v + 1]; k++)
      stack[top++] = s->dom_child[k];
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
