/* Dominator tree (Lengauer-Tarjan, iterative, path compression) and
 * retained sizes, exactly as DevTools' calculateDominatorsAndRetainedSizes:
 * - only essential edges count (see heap_build_graph: not weak, not a self
 *   edge, not a shortcut from a non-root node, not a WeakMap table->value,
 *   not from a non-page-owned object into a page-owned one);
 * - nodes the root cannot reach none of whose retaining edges is essential
 *   ("only weak retainers") hang from the root, their subgraphs explored
 *   from there, in node order;
 * - whatever is still unreached (cycles that only retain each other) is
 *   numbered one by one as a child of the root, and its semidominator is
 *   taken from its essential retainers alone, as DevTools does;
 * - a node whose dominator the main loop never settles hangs from the root.
 * All arrays are indexed by DFS preorder number to keep them dense; no
 * recursion anywhere, so deep graphs cannot blow the C stack. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define NONE UINT32_MAX

struct lt {
  uint32_t *vertex; /* preorder -> node */
  uint32_t *pre;    /* node -> preorder (NONE if not visited) */
  uint32_t *anc;    /* DFS parent, then the path-compressed forest link */
  uint32_t *semi, *label;
  /* bucket links live in vertex[]: vertex[w] is read once, at the start of
   * step w, and rebuilt from pre[] after the loop */
  uint32_t *next;
  /* bucket heads and immediate dominators share one array: at step w of
   * the main loop heads are only touched below w and dominators only at or
   * above w, so each slot is a head first and a dominator after */
  uint32_t *idom, *head;
  uint8_t *linked; /* bitset: anc[] is a forest link */
  uint32_t *cstack;
  size_t cstack_cap;
};

static inline int is_linked(const struct lt *t, uint32_t v) {
  return (t->linked[v >> 3] >> (v & 7)) & 1;
}

static inline int essential(const struct heap_snapshot *s, uint32_t e) {
  return !heap_edge_nonessential(s, e);
}

/* Depth-first numbering from `start` (already numbered), over essential
 * edges. The explicit stack borrows label[] (node) and semi[] (next edge),
 * which are initialised only after numbering. */
static uint32_t dfs(const struct heap_snapshot *s, struct lt *t, uint32_t start, uint32_t count) {
  uint32_t *st_node = t->label, *st_edge = t->semi;
  uint32_t top = 0;
  st_node[0] = start;
  st_edge[0] = s->first_edge[start];
  for (;;) {
    uint32_t v = st_node[top], e = st_edge[top];
    uint32_t end = s->first_edge[v + 1];
    while (e < end && (!essential(s, e) || t->pre[s->edge_to[e]] != NONE))
      e++;
    if (e == end) {
      if (top == 0) break;
      top--;
      continue;
    }
    st_edge[top] = e + 1;
    uint32_t w = s->edge_to[e];
    t->pre[w] = count;
    t->vertex[count] = w;
    t->anc[count] = t->pre[v];
    count++;
    top++;
    st_node[top] = w;
    st_edge[top] = s->first_edge[w];
  }
  return count;
}

/* DevTools' test for the nodes it explores from the root when the root
 * cannot reach them: no retaining edge counts for dominators. */
static int has_only_weak_retainers(const struct heap_snapshot *s, uint32_t v) {
  for (uint32_t k = s->ret_first[v]; k < s->ret_first[v + 1]; k++)
    if (!(s->ret_from[k] & RET_NONESSENTIAL)) return 0;
  return 1;
}

/* eval() of LT with iterative path compression. */
static uint32_t eval(struct lt *t, uint32_t v) {
  if (!is_linked(t, v)) return v;
  size_t n = 0;
  uint32_t x = v;
  while (is_linked(t, t->anc[x])) {
    if (n == t->cstack_cap) {
      size_t cap = t->cstack_cap ? t->cstack_cap * 2 : 1024;
      uint32_t *ns = realloc(t->cstack, cap * sizeof *ns);
      if (!ns) break; /* compress less; still correct, only slower */
      t->cstack = ns;
      t->cstack_cap = cap;
    }
    t->cstack[n++] = x;
    x = t->anc[x];
  }
  while (n > 0) {
    uint32_t y = t->cstack[--n];
    uint32_t a = t->anc[y];
    if (t->semi[t->label[a]] < t->semi[t->label[y]]) t->label[y] = t->label[a];
    t->anc[y] = t->anc[a];
  }
  return t->label[v];
}

int heap_compute_dominators(struct heap_snapshot *s) {
  uint32_t n = s->node_count;
  struct lt t = {0};
  size_t sz = (size_t)n * sizeof(uint32_t) + 4;
  t.vertex = malloc(sz);
  t.pre = malloc(sz);
  t.anc = malloc(sz);
  t.semi = malloc(sz);
  t.label = malloc(sz);
  t.idom = t.head = malloc(sz);
  t.next = t.vertex;
  t.linked = calloc((size_t)n / 8 + 1, 1);
  int rc = -1;
  if (!t.vertex || !t.pre || !t.anc || !t.semi || !t.label || !t.idom || !t.linked) goto out;
  memset(t.pre, 0xFF, (size_t)n * sizeof *t.pre);

  /* number the graph: the root's subgraph, then orphans (weakly held only) */
  uint32_t count = 0;
  t.pre[s->root] = 0;
  t.vertex[0] = s->root;
  t.anc[0] = NONE;
  count = dfs(s, &t, s->root, 1);
  for (uint32_t v = 0; v < n; v++) {
    if (t.pre[v] != NONE || !has_only_weak_retainers(s, v)) continue;
    t.pre[v] = count;
    t.vertex[count] = v;
    t.anc[count] = 0; /* a virtual edge from the root */
    count = dfs(s, &t, v, count + 1);
  }
  for (uint32_t v = 0; v < n; v++) { /* cliques that only retain each other */
    if (t.pre[v] != NONE) continue;
    t.pre[v] = count;
    t.vertex[count] = v;
    t.anc[count++] = 0;
  }

  for (uint32_t i = 0; i < count; i++) {
    t.semi[i] = i;
    t.label[i] = i;
    t.head[i] = NONE;
  }
  /* which nodes the main loop gave a dominator (a bucket that is never
   * processed leaves its nodes to the root) */
  uint8_t *settled = calloc((size_t)n / 8 + 1, 1);
  if (!settled) goto out;
  for (uint32_t w = count - 1; w >= 1; w--) {
    uint32_t p = t.anc[w];
    uint32_t sm = w, essential_retainers = 0;
    uint32_t x = t.vertex[w];
    for (uint32_t k = s->ret_first[x]; k < s->ret_first[x + 1]; k++) {
      uint32_t r = s->ret_from[k];
      if (r & RET_NONESSENTIAL) continue;
      essential_retainers = 1;
      uint32_t u = eval(&t, t.pre[RET_NODE(r)]);
      if (t.semi[u] < sm) sm = t.semi[u];
    }
    if (!essential_retainers) sm = 0; /* an orphan: its one predecessor is the root */
    t.semi[w] = sm;
    t.next[w] = t.head[sm];
    t.head[sm] = w;
    t.linked[w >> 3] |= (uint8_t)(1u << (w & 7)); /* link(p, w): anc[w] is already p */
    for (uint32_t v = t.head[p]; v != NONE;) {
      uint32_t u = eval(&t, v), next = t.next[v];
      t.idom[v] = t.semi[u] < t.semi[v] ? u : p;
      settled[v >> 3] |= (uint8_t)(1u << (v & 7));
      v = next;
    }
    t.head[p] = NONE;
  }
  t.idom[0] = 0;
  for (uint32_t w = 1; w < count; w++) {
    if (!((settled[w >> 3] >> (w & 7)) & 1))
      t.idom[w] = 0;
    else if (t.idom[w] != t.semi[w])
      t.idom[w] = t.idom[t.idom[w]];
  }
  free(settled);
  for (uint32_t v = 0; v < n; v++)
    if (t.pre[v] != NONE) t.vertex[t.pre[v]] = v;

  /* the working arrays and the retainer index (nothing reads it after
   * this) go before the results arrive, and pre[] becomes the node-indexed
   * idom: lower peak memory */
  free(t.anc);
  free(t.semi);
  free(t.label);
  free(t.linked);
  free(t.cstack);
  t.anc = t.semi = t.label = t.head = t.cstack = NULL;
  t.linked = NULL;
  heap_drop_retainers(s);
  free(s->idom);
  s->idom = t.pre;
  t.pre = NULL;
  s->retained = malloc((size_t)n * sizeof(uint64_t) + 8);
  if (!s->retained) goto out;

  /* back to node ordinals; retained sizes accumulate in reverse preorder */
  for (uint32_t v = 0; v < n; v++) {
    s->idom[v] = s->root;
    s->retained[v] = s->self_size[v];
  }
  for (uint32_t w = 1; w < count; w++)
    s->idom[t.vertex[w]] = t.vertex[t.idom[w]];
  for (uint32_t w = count - 1; w >= 1; w--)
    s->retained[t.vertex[t.idom[w]]] += s->retained[t.vertex[w]];
  rc = 0;
out:
  free(t.vertex);
  free(t.pre);
  free(t.anc);
  free(t.semi);
  free(t.label);
  free(t.idom);
  free(t.linked);
  free(t.cstack);
  return rc;
}

/* Children lists of the dominator tree (CSR), for top-down walks. */
int heap_build_dom_tree(struct heap_snapshot *s) {
  if (s->dom_first) return 0;
  uint32_t n = s->node_count;
  uint32_t *first = calloc((size_t)n + 2, 4), *child = malloc((size_t)n * 4 + 4);
  if (!first || !child) {
    free(first);
    free(child);
    return -1;
  }
  for (uint32_t v = 0; v < n; v++)
    if (v != s->root) first[s->idom[v] + 1]++;
  for (uint32_t i = 0; i < n; i++)
    first[i + 1] += first[i];
  for (uint32_t v = 0; v < n; v++)
    if (v != s->root) child[first[s->idom[v]]++] = v;
  memmove(first + 1, first, (size_t)n * 4);
  first[0] = 0;
  s->dom_first = first;
  s->dom_child = child;
  return 0;
}
