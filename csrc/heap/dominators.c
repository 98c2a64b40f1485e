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
 * No recursion anywhere, so deep graphs cannot blow the C stack.
 *
 * Memory (the peak of a whole load is here): every working array is
 * indexed by DFS preorder number, and the main loop holds five of them
 * plus the predecessor lists. Those are built after the numbering, in
 * preorder numbers, with essential edges only and without each node's DFS
 * tree edge (the main loop knows the parent); the node -> preorder array
 * they need then becomes the semidominators, the list offsets double as
 * the bucket links (an offset is dead once its vertex's step has read
 * it), and the numbering is simply run again at the end to map the
 * results back to nodes. Nothing is written before it is needed:
 * "linked" is "numbered above the current step", an unprocessed vertex's
 * semidominator is itself, bucket heads start as zero pages. The results
 * then leave preorder numbers for node ordinals, and the dominator tree's
 * own preorder (kept for the summary) gives the order in which retained
 * sizes add up. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"

#define NONE UINT32_MAX
#define BIT(a, i) (((a)[(i) >> 3] >> ((i)&7)) & 1)
#define SET(a, i) ((a)[(i) >> 3] |= (uint8_t)(1u << ((i)&7)))

struct heap_lt; /* heap.h: an opaque struct lt */

struct lt {
  const struct heap_snapshot *s;
  uint32_t *pre;   /* node -> preorder (NONE while unvisited) */
  uint32_t *anc;   /* preorder -> DFS parent, then the path-compressed forest link */
  uint32_t *semi;  /* written at the vertex's own step (pre's array, reused) */
  uint32_t *label; /* idem */
  /* bucket heads (0: empty; vertex 0, the root, is never in a bucket) and
   * immediate dominators share one array: at step w heads are only touched
   * below w and dominators only at or above w */
  uint32_t *idom;
  uint8_t *real;     /* numbered through an essential edge: its DFS parent is a predecessor */
  uint8_t *tree;     /* over edges: the DFS tree edges (left out of the predecessor lists); NULL
                        when renumbering */
  uint8_t *retained; /* has an essential retainer (the orphan test) */
  uint8_t *settled;  /* the main loop gave it a dominator */
  /* predecessors in preorder numbers, grouped by preorder: w's are
   * rfrom[rfirst[w] .. rfirst[w + 1]); after step w, rfirst[w + 1] holds
   * w's bucket link */
  uint32_t *rfirst, *rfrom;
  uint32_t *cstack;
  size_t cstack_cap;
};

static inline int essential(const struct heap_snapshot *s, uint32_t e) {
  return !heap_edge_nonessential(s, e);
}

/* Gives back the whole pages of [from, to): nothing reads them again. */
static void release(const void *from, const void *to) {
  static uintptr_t pg;
  if (!pg) pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)from + pg - 1) & ~(pg - 1), b = (uintptr_t)to & ~(pg - 1);
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

struct frame {
  uint32_t v, e;
};

/* Depth-first numbering from `start` (already numbered), over essential
 * edges, in edge order (DevTools' order). Returns the next number, or
 * NONE when out of memory. */
static uint32_t dfs(struct lt *t, struct frame **stk, size_t *cap, uint32_t start,
                    uint32_t count) {
  const struct heap_snapshot *s = t->s;
  struct frame *st = *stk;
  size_t top = 0;
  st[0] = (struct frame){start, s->first_edge[start]};
  for (;;) {
    uint32_t v = st[top].v, e = st[top].e, end = s->first_edge[v + 1];
    while (e < end && (!essential(s, e) || t->pre[s->edge_to[e]] != NONE))
      e++;
    if (e == end) {
      if (top == 0) break;
      top--;
      continue;
    }
    st[top].e = e + 1;
    uint32_t w = s->edge_to[e];
    t->pre[w] = count;
    if (t->tree) {
      t->anc[count] = t->pre[v];
      SET(t->real, count);
      SET(t->tree, e);
    }
    count++;
    if (++top == *cap) {
      size_t ncap = *cap * 2;
      struct frame *ns = realloc(st, ncap * sizeof *ns);
      if (!ns) return NONE;
      *stk = st = ns;
      *cap = ncap;
    }
    st[top] = (struct frame){w, s->first_edge[w]};
  }
  return count;
}

/* Numbers every node: the root's subgraph, then the orphans (no essential
 * retainer) and theirs, then the rest one by one. The first time (t->tree
 * set) it also records the DFS parents, tree edges and who has an
 * essential retainer; again (t->tree NULL) it only rebuilds pre[]. 0 when
 * out of memory. */
static int number(struct lt *t) {
  const struct heap_snapshot *s = t->s;
  uint32_t n = s->node_count;
  size_t cap = 1024;
  struct frame *st = malloc(cap * sizeof *st);
  if (!st) return 0;
  memset(t->pre, 0xFF, (size_t)n * 4);
  if (t->tree) {
    for (uint32_t e = 0; e < s->edge_count; e++)
      if (essential(s, e)) SET(t->retained, s->edge_to[e]);
    t->anc[0] = NONE;
  }
  t->pre[s->root] = 0;
  uint32_t count = dfs(t, &st, &cap, s->root, 1);
  for (uint32_t v = 0; v < n && count != NONE; v++) {
    if (t->pre[v] != NONE || BIT(t->retained, v)) continue;
    t->pre[v] = count;
    if (t->tree) t->anc[count] = 0; /* a virtual edge from the root */
    count = dfs(t, &st, &cap, v, count + 1);
  }
  for (uint32_t v = 0; v < n && count != NONE; v++) { /* cliques that only retain each other */
    if (t->pre[v] != NONE) continue;
    t->pre[v] = count;
    if (t->tree) t->anc[count] = 0;
    count++;
  }
  free(st);
  return count == n;
}

/* The predecessor lists, in preorder numbers: essential edges but the DFS
 * tree edges. 0 when out of memory. */
static int predecessors(struct lt *t) {
  const struct heap_snapshot *s = t->s;
  uint32_t n = s->node_count;
  t->rfirst = calloc((size_t)n + 1, 4);
  if (!t->rfirst) return 0;
  for (uint32_t e = 0; e < s->edge_count; e++)
    if (essential(s, e) && !BIT(t->tree, e)) t->rfirst[t->pre[s->edge_to[e]]]++;
  uint32_t sum = 0;
  for (uint32_t w = 0; w <= n; w++) {
    uint32_t c = t->rfirst[w];
    t->rfirst[w] = sum;
    sum += c;
  }
  t->rfrom = malloc((size_t)sum * 4 + 4);
  if (!t->rfrom) return 0;
  for (uint32_t v = 0; v < n; v++) {
    uint32_t pv = t->pre[v];
    for (uint32_t e = s->first_edge[v], end = s->first_edge[v + 1]; e < end; e++)
      if (essential(s, e) && !BIT(t->tree, e)) t->rfrom[t->rfirst[t->pre[s->edge_to[e]]]++] = pv;
  }
  /* each rfirst[w] now ends w's list: shift back to starts */
  memmove(t->rfirst + 1, t->rfirst, (size_t)n * 4);
  t->rfirst[0] = 0;
  free(t->tree);
  t->tree = NULL;
  t->semi = t->pre; /* nothing reads node -> preorder again until renumbering */
  t->pre = NULL;
  return 1;
}

/* eval() of LT with iterative path compression; vertices numbered lo and
 * above are linked. */
static uint32_t eval(struct lt *t, uint32_t v, uint32_t lo) {
  if (v < lo) return v;
  size_t n = 0;
  uint32_t x = v;
  while (t->anc[x] >= lo) {
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

/* Semidominators, buckets and the first idom pass, vertex n-1 down to 1. */
static void main_loop(struct lt *t, uint32_t n) {
  const size_t step = (size_t)1 << 18; /* give pages back every 1 MB read */
  uint32_t *rel = t->rfrom + t->rfirst[n], *next = t->rfirst + 1; /* next[w] = rfirst[w + 1] */
  for (uint32_t w = n; w-- > 1;) {
    uint32_t p = t->anc[w], sm = w, ess = 0;
    if (BIT(t->real, w)) { /* the tree edge from p: p is unlinked, its semi is p */
      sm = p;
      ess = 1;
    }
    uint32_t k = t->rfirst[w];
    for (uint32_t end = t->rfirst[w + 1]; k < end; k++) {
      uint32_t u = eval(t, t->rfrom[k], w + 1);
      uint32_t su = u > w ? t->semi[u] : u; /* unprocessed: its own number */
      if (su < sm) sm = su;
      ess = 1;
    }
    if (!ess) sm = 0; /* an orphan: its one predecessor is the root */
    t->semi[w] = sm;
    t->label[w] = w;
    next[w] = t->idom[sm];
    t->idom[sm] = w;
    /* link(p, w): anc[w] is already p, and w is now at the linked bound */
    for (uint32_t v = t->idom[p]; v != 0;) {
      uint32_t u = eval(t, v, w), nx = next[v];
      t->idom[v] = t->semi[u] < t->semi[v] ? u : p;
      SET(t->settled, v);
      v = nx;
    }
    t->idom[p] = 0;
    if ((size_t)(rel - (t->rfrom + t->rfirst[w])) >= step) {
      release(t->rfrom + t->rfirst[w], rel);
      rel = t->rfrom + t->rfirst[w];
    }
  }
  t->idom[0] = 0;
  for (uint32_t w = 1; w < n; w++) {
    if (!BIT(t->settled, w))
      t->idom[w] = 0;
    else if (t->idom[w] != t->semi[w])
      t->idom[w] = t->idom[t->idom[w]];
  }
}

static void lt_free(struct lt *t) {
  free(t->pre);
  free(t->anc);
  free(t->semi);
  free(t->label);
  free(t->idom);
  free(t->real);
  free(t->tree);
  free(t->retained);
  free(t->settled);
  free(t->rfirst);
  free(t->rfrom);
  free(t->cstack);
  memset(t, 0, sizeof *t);
}

/* From preorder numbers to node ordinals: s->idom (in pre's place), the
 * dominator tree's preorder s->dom_order, then the retained sizes in
 * reverse dom_order (children before their dominator). */
static int finish(struct heap_snapshot *s, struct lt *t) {
  uint32_t n = s->node_count;
  uint32_t *vertex = malloc((size_t)n * 4 + 4);
  if (!vertex) return -1;
  for (uint32_t v = 0; v < n; v++)
    vertex[t->pre[v]] = v;
  uint32_t *idom = t->pre, *idom_pre = t->idom;
  for (uint32_t v = 0; v < n; v++)
    idom[v] = vertex[idom_pre[idom[v]]];
  t->pre = NULL;
  free(s->idom);
  s->idom = idom;
  free(idom_pre);
  t->idom = NULL;

  /* dominator subtree sizes bottom-up (reverse DFS preorder sees a node
   * before its dominator), then slots top-down: a node's place in the
   * dominator tree's preorder is its dominator's next free slot */
  uint32_t *slot = malloc((size_t)n * 4 + 4), *order = malloc((size_t)n * 4 + 4);
  if (!slot || !order) {
    free(slot);
    free(order);
    free(vertex);
    return -1;
  }
  for (uint32_t v = 0; v < n; v++)
    slot[v] = 1;
  for (uint32_t w = n; w-- > 1;)
    slot[idom[vertex[w]]] += slot[vertex[w]];
  order[0] = s->root;
  slot[s->root] = 1;
  for (uint32_t w = 1; w < n; w++) {
    uint32_t v = vertex[w], at = slot[idom[v]];
    slot[idom[v]] += slot[v];
    order[at] = v;
    slot[v] = at + 1;
  }
  free(vertex);
  free(slot);
  free(s->dom_order);
  s->dom_order = order;

  free(s->retained32);
  heap_wide_free(&s->retained_wide);
  s->retained32 = malloc((size_t)n * 4 + 4);
  if (!s->retained32) return -1;
  memcpy(s->retained32, s->self32, (size_t)n * 4);
  for (uint32_t v = 0; v < s->self_wide.cap; v++) /* the wide self sizes stay wide */
    if (s->self_wide.key[v] &&
        heap_wide_put(&s->retained_wide, s->self_wide.key[v] - 1, s->self_wide.val[v]))
      return -1;
  for (uint32_t i = n; i-- > 1;) {
    uint32_t v = order[i], d = idom[v];
    uint64_t sum = (uint64_t)s->retained32[d] + s->retained32[v];
    if (sum < UINT32_MAX)
      s->retained32[d] = (uint32_t)sum;
    else if (heap_set_retained_size(s, d, heap_retained_size(s, d) + heap_retained_size(s, v)))
      return -1;
  }
  return 0;
}

struct heap_lt *heap_dominators_begin(struct heap_snapshot *s) {
  uint32_t n = s->node_count;
  struct lt *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->s = s;
  size_t sz = (size_t)n * 4 + 4;
  t->pre = malloc(sz);
  t->anc = malloc(sz);
  t->real = calloc((size_t)n / 8 + 1, 1);
  t->retained = calloc((size_t)n / 8 + 1, 1);
  t->tree = calloc((size_t)s->edge_count / 8 + 1, 1);
  if (!t->pre || !t->anc || !t->real || !t->retained || !t->tree) goto fail;
  if (!number(t) || !predecessors(t)) goto fail;
  /* malloc'd, not written: pages arrive as the main loop reaches them;
   * the bucket heads must read as empty, and calloc's fresh pages do */
  t->label = malloc(sz);
  t->idom = calloc((size_t)n + 1, 4);
  t->settled = calloc((size_t)n / 8 + 1, 1);
  if (!t->label || !t->idom || !t->settled) goto fail;
  if (n > 1) main_loop(t, n);
  free(t->anc);
  free(t->semi);
  free(t->label);
  free(t->real);
  free(t->settled);
  free(t->rfirst);
  free(t->rfrom);
  free(t->cstack);
  t->anc = t->semi = t->label = t->rfirst = t->rfrom = t->cstack = NULL;
  t->real = t->settled = NULL;
  return (struct heap_lt *)t;
fail:
  lt_free(t);
  free(t);
  return NULL;
}

int heap_dominators_end(struct heap_snapshot *s, struct heap_lt *h) {
  struct lt *t = (struct lt *)h;
  int rc = -1;
  if (!t) return -1;
  t->pre = malloc((size_t)s->node_count * 4 + 4);
  if (t->pre && number(t)) rc = finish(s, t);
  lt_free(t);
  free(t);
  return rc;
}

int heap_compute_dominators(struct heap_snapshot *s) {
  return heap_dominators_end(s, heap_dominators_begin(s));
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
