/* Class names and the per-class summary, as DevTools' Summary view does it:
 * objects and native nodes are grouped by their constructor name, other
 * nodes by "(type)" ("(string)", "(array)", "(closure)", ...), hidden ones
 * as "(system)" and code as "(compiled code)"; nodes with self size 0 are
 * left out. For JSC snapshots every node is grouped by its class name, which
 * is what JSC records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static const char *type_label(const struct heap_snapshot *s, uint8_t type, char *buf, size_t len) {
  switch (s->node_kind[type]) {
  case HT_HIDDEN:
    return "(system)";
  case HT_CODE:
    return "(compiled code)";
  default:
    snprintf(buf, len, "(%s)", s->node_type_names[type]);
    return buf;
  }
}

int heap_build_classes(struct heap_snapshot *s) {
  if (s->class_of) return 0;
  uint32_t n = s->node_count;
  uint32_t *by_str = malloc(((size_t)s->string_count + 1) * 4);
  uint32_t by_type[256];
  uint32_t *cls = malloc((size_t)n * 4 + 4);
  uint32_t cap = 256, count = 0;
  uint32_t *names = malloc(cap * 4);
  const char **labels = malloc(cap * sizeof *labels);
  if (!by_str || !cls || !names || !labels) goto fail;
  memset(by_str, 0xFF, ((size_t)s->string_count + 1) * 4);
  memset(by_type, 0xFF, sizeof by_type);
  for (uint32_t v = 0; v < n; v++) {
    uint8_t t = s->node_type[v];
    uint8_t k = s->node_kind[t];
    int by_name = s->format == HEAP_FORMAT_JSC ? 1 : (k == HT_OBJECT || k == HT_NATIVE);
    uint32_t *slot =
        by_name ? &by_str[s->node_name[v] < s->string_count ? s->node_name[v] : s->string_count]
                : &by_type[t];
    if (*slot == UINT32_MAX) {
      if (count == cap) {
        cap *= 2;
        uint32_t *nn = realloc(names, cap * 4);
        if (!nn) goto fail;
        names = nn;
        const char **nl = realloc(labels, cap * sizeof *labels);
        if (!nl) goto fail;
        labels = nl;
      }
      if (by_name) {
        names[count] = s->node_name[v];
        labels[count] = NULL;
      } else {
        char buf[128];
        names[count] = HEAP_NO_NODE;
        labels[count] = strdup(type_label(s, t, buf, sizeof buf));
        if (!labels[count]) goto fail;
      }
      *slot = count++;
    }
    cls[v] = *slot;
  }
  free(by_str);
  s->class_of = cls;
  s->class_name = names;
  s->class_label = labels;
  s->class_count = count;
  return 0;
fail:
  if (labels)
    for (uint32_t i = 0; i < count; i++)
      if (names && names[i] == HEAP_NO_NODE) free((void *)labels[i]);
  free(by_str);
  free(cls);
  free(names);
  free(labels);
  return -1;
}

const char *heap_class_name(const struct heap_snapshot *s, uint32_t c) {
  if (c >= s->class_count) return "";
  return s->class_name[c] == HEAP_NO_NODE ? s->class_label[c] : heap_str(s, s->class_name[c]);
}

const char *heap_node_class(const struct heap_snapshot *s, uint32_t v) {
  return s->class_of ? heap_class_name(s, s->class_of[v]) : heap_str(s, s->node_name[v]);
}

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
    if (s->distance[v] < r->min_distance) r->min_distance = s->distance[v];
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
