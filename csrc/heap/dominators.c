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
 * indexed by DFS preorder number, 3 bytes a number below 2^24 - 1 nodes
 * (lt_core.h, compiled for both widths), and the main loop holds five of
 * them plus the predecessor lists. Those are built after the numbering, in
 * preorder numbers, with essential edges only and without each node's DFS
 * tree edge (the main loop knows the parent); the list offsets double as
 * the bucket links (an offset is dead once its vertex's step has read
 * it). Nothing is written before it is needed:
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

/* Graphs with fewer nodes take 3-byte preorder numbers; a knob for the
 * specs and the fuzzer, which also run the 4-byte code on small graphs. */
uint32_t heap_lt_narrow_below = 0xFFFFFFu;

/* The preorder-numbered arrays hold w bytes a number (lt_core.h). */
struct lt {
  const struct heap_snapshot *s;
  int w;
  uint8_t *pre;   /* node -> preorder (all ones while unvisited) */
  uint8_t *anc;   /* preorder -> DFS parent, then the path-compressed forest link */
  uint8_t *semi;  /* written at the vertex's own step */
  uint8_t *label; /* idem */
  /* bucket heads (0: empty; vertex 0, the root, is never in a bucket) and
   * immediate dominators share one array: at step w heads are only touched
   * below w and dominators only at or above w */
  uint8_t *idom;
  uint8_t *real;      /* numbered through an essential edge: its DFS parent is a predecessor */
  uint8_t *tree;      /* over edges: the DFS tree edges (left out of the predecessor lists) */
  uint8_t *retained;  /* has an essential retainer (the orphan test) */
  int retained_given; /* heap_build_graph marked it */
  uint8_t *settled;   /* the main loop gave it a dominator */
  /* predecessors in preorder numbers, grouped by preorder: w's are
   * rfrom[rfirst[w] .. rfirst[w + 1]); after step w, rfirst[w + 1] holds
   * w's bucket link */
  uint32_t *rfirst;
  uint8_t *rfrom;
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

#define LT_W 3
#include "lt_core.h"
#define LT_W 4
#include "lt_core.h"

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

/* From preorder numbers to node ordinals: the dominator tree's preorder
 * (worked out while still in DFS preorder numbers), s->idom, s->dom_order,
 * then the retained sizes in reverse dom_order (children before their
 * dominator). */
static int finish(struct heap_snapshot *s, struct lt *t) {
  uint32_t n = s->node_count;
  uint8_t *tree = t->w == 3 ? tree_order_3(t, n) : tree_order_4(t, n);
  uint32_t *vertex = !tree ? NULL : t->w == 3 ? vertices_3(t, n) : vertices_4(t, n), *order = NULL;
  if (vertex) order = t->w == 3 ? to_nodes_3(s, t, vertex, tree) : to_nodes_4(s, t, vertex, tree);
  free(vertex);
  if (!order) {
    free(tree);
    return -1;
  }
  const uint32_t *idom = s->idom;
  free(s->dom_order);
  s->dom_order = order;

  free(s->retained32);
  heap_wide_free(&s->retained_wide);
  s->retained32 = malloc((size_t)n * 4 + 4);
  if (!s->retained32) return -1;
  for (uint32_t v = 0; v < n; v++)
    s->retained32[v] = s->self16[v];
  for (uint32_t i = 0; i < s->self_wide.cap; i++) { /* the wide self sizes */
    uint32_t v = s->self_wide.key[i] - 1;
    if (s->self_wide.key[i] && s->self16[v] == UINT16_MAX &&
        heap_set_retained_size(s, v, s->self_wide.val[i]))
      return -1;
  }
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
  t->w = n < heap_lt_narrow_below && n < 0xFFFFFFu ? 3 : 4;
  size_t sz = (size_t)n * t->w + 8;
  t->pre = malloc(sz);
  t->anc = malloc(sz);
  t->real = calloc((size_t)n / 8 + 1, 1);
  t->retained = s->essential_to; /* heap_build_graph's, when it ran */
  t->retained_given = t->retained != NULL;
  s->essential_to = NULL;
  if (!t->retained) t->retained = calloc((size_t)n / 8 + 1, 1);
  t->tree = calloc((size_t)s->edge_count / 8 + 1, 1);
  if (!t->pre || !t->anc || !t->real || !t->retained || !t->tree) goto fail;
  if (t->w == 3 ? !number_3(t) || !predecessors_3(t) : !number_4(t) || !predecessors_4(t))
    goto fail;
  /* malloc'd, not written: pages arrive as the main loop reaches them;
   * the bucket heads must read as empty, and calloc's fresh pages do */
  t->semi = malloc(sz);
  t->label = malloc(sz);
  t->idom = calloc(sz, 1);
  t->settled = calloc((size_t)n / 8 + 1, 1);
  if (!t->semi || !t->label || !t->idom || !t->settled) goto fail;
  if (n > 1) {
    if (t->w == 3)
      main_loop_3(t, n);
    else
      main_loop_4(t, n);
  }
  free(t->anc);
  free(t->semi);
  free(t->label);
  free(t->real);
  free(t->settled);
  free(t->rfirst);
  free(t->rfrom);
  free(t->cstack);
  t->anc = t->semi = t->label = t->rfrom = t->real = t->settled = NULL;
  t->rfirst = t->cstack = NULL;
  return (struct heap_lt *)t;
fail:
  lt_free(t);
  free(t);
  return NULL;
}

int heap_dominators_end(struct heap_snapshot *s, struct heap_lt *h) {
  struct lt *t = (struct lt *)h;
  if (!t) return -1;
  int rc = finish(s, t);
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
