/* Shapes of retainer paths, for a leak group's signature and for showing a
 * path the way a person reads it: an element index, a numbered internal edge
 * (a slot of a Map or Set table) and a run of linked-list links (`next`,
 * `_idleNext`, ...) are one step each, whatever the index or the length. */
#include <stdlib.h>
#include <string.h>

#include "leaks.h"

static const char *const LINKS[] = {"next",  "prev",  "previous",    "_idleNext",       "_idlePrev",
                                    "_next", "_prev", "nextSibling", "previousSibling", NULL};

static int is_link(const char *name) {
  for (const char *const *l = LINKS; *l; l++)
    if (!strcmp(name, *l)) return 1;
  return 0;
}

/* Edge e of node from. */
static int collapses_at(const struct heap_snapshot *s, uint32_t from, uint32_t e) {
  if (heap_edge_is_indexed_at(s, from, e)) return 1;
  const char *name = heap_str(s, heap_edge_name_at(s, from, e));
  uint8_t k = heap_edge_kind_at(s, from, e);
  if (k == ET_INTERNAL && name[0] >= '0' && name[0] <= '9') return 1; /* a table slot */
  return k == ET_PROPERTY && is_link(name);
}

int heap_edge_collapses(const struct heap_snapshot *s, uint32_t e) {
  return collapses_at(s, heap_edge_from(s, e), e);
}

static uint64_t str_hash(uint64_t h, const char *p) {
  while (*p)
    h = (h ^ (unsigned char)*p++) * 1099511628211ull;
  return h;
}

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

/* One step, by names: the edge (collapsed to a marker when it collapses),
 * its type, and the retaining node's class. */
static uint64_t step_hash(const struct heap_snapshot *s, uint32_t e, uint32_t from) {
  uint64_t h = mix(1469598103934665603ull, heap_edge_kind_at(s, from, e));
  h = collapses_at(s, from, e) ? mix(h, 0x5b5d)
                               : str_hash(h, heap_str(s, heap_edge_name_at(s, from, e)));
  return str_hash(mix(h, 0x2f), heap_node_class(s, from));
}

uint64_t heap_path_shape(struct heap_snapshot *s, uint32_t v, uint32_t last) {
  uint64_t h = 1469598103934665603ull, prev = 0;
  uint32_t taken = 0;
  if (heap_build_classes(s) || heap_build_parent_edges(s)) return 0;
  for (uint32_t steps = 0; v != s->root && steps < 100000; steps++) {
    uint32_t e = s->parent_edge[v];
    if (e == UINT32_MAX) break;
    uint32_t from = heap_edge_from(s, e);
    uint64_t step = step_hash(s, e, from);
    if (step != prev) { /* a run of one step counts once */
      if (last && taken++ == last) break;
      h = mix(h, step);
    }
    prev = step;
    v = from;
  }
  return h;
}

/* ---- signatures ----
 * A group's signature names where the program keeps the leak, not the route
 * the distance search happened to find to it, nor which object the baseline
 * happened to have: the holder is the nearest object the baseline had, so it
 * moves between hunts (a Map, then the list the Map's entry became; an
 * emitter's _events, then the array under it). From the holder up, the walk
 * passes over every step to the anchor, the program's own name for what
 * keeps the leak: a scope variable, a global, or a scope (Context) itself,
 * named by its variables. Where several retainers lie at the same distance,
 * the least by (edge kind, name, retainer class) is taken, so discovery
 * order never decides. No anchor up to the root: the holder's class and the
 * two named steps nearest it, as before. */

enum { SIG_MAX_STEPS = 24, SIG_NAMED = 2 };

static int kind_rank(uint8_t k) {
  switch (k) {
  case ET_CONTEXT:
    return 0;
  case ET_PROPERTY:
    return 1;
  case ET_ELEMENT:
    return 2;
  case ET_INTERNAL:
    return 3;
  case ET_HIDDEN:
    return 4;
  default:
    return 5;
  }
}

static const char *step_name(const struct heap_snapshot *s, uint32_t from, uint32_t e) {
  return collapses_at(s, from, e) ? "" : heap_str(s, heap_edge_name_at(s, from, e));
}

/* <0 when edge a (of node fa) orders before edge b (of node fb), by names only */
static int step_cmp(const struct heap_snapshot *s, uint32_t fa, uint32_t a, uint32_t fb,
                    uint32_t b) {
  int ra = kind_rank(heap_edge_kind_at(s, fa, a)), rb = kind_rank(heap_edge_kind_at(s, fb, b));
  if (ra != rb) return ra - rb;
  int c = strcmp(step_name(s, fa, a), step_name(s, fb, b));
  if (c) return c;
  return strcmp(heap_node_class(s, fa), heap_node_class(s, fb));
}

static int is_scope(const struct heap_snapshot *s, uint32_t v) {
  return !strcmp(heap_node_class(s, v), "system / Context");
}

/* A scope by its variables' names (order-free: a sum). */
static uint64_t scope_hash(const struct heap_snapshot *s, uint32_t v) {
  uint64_t sum = 0;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (heap_edge_kind_at(s, v, e) == ET_CONTEXT)
      sum += mix(7, str_hash(1469598103934665603ull, heap_str(s, heap_edge_name_at(s, v, e))));
  return sum;
}

/* Is edge e (of node u, to node `to`) a shortest-path step the walk may take? */
static int on_shortest(const struct heap_snapshot *s, uint32_t u, uint32_t e, uint32_t to) {
  if (heap_edge_kind_at(s, u, e) == ET_WEAK) return 0;
  if (!s->distance) return s->parent_edge[to] == e;
  uint32_t du = s->distance[u];
  return du != HEAP_UNREACHABLE && du + 1 == s->distance[to];
}

static int by_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t find_node(const uint32_t *nodes, uint32_t n, uint32_t v) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (nodes[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && nodes[lo] == v ? lo : UINT32_MAX;
}

struct sig_walk {
  uint32_t v;     /* where the walk is */
  uint32_t named; /* named steps seen (the fallback hashes the first SIG_NAMED) */
  uint64_t fb;    /* the fallback: named steps nearest the holder */
  uint64_t at;    /* the anchor's hash; 0 until found */
  int done;
};

/* The walks' nodes that need a parent this round, sorted and distinct; the
 * finished ones are settled here. */
static uint32_t sig_pending(const struct heap_snapshot *s, struct sig_walk *w, uint32_t nw,
                            uint32_t *nodes) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < nw; i++) {
    if (w[i].done) continue;
    uint32_t v = w[i].v;
    if (v == s->root || s->parent_edge[v] == UINT32_MAX) {
      w[i].done = 1;
    } else if (is_scope(s, v)) { /* a scope is named by its variables */
      w[i].at = mix(0xc0, scope_hash(s, v)) | 1;
      w[i].done = 1;
    } else {
      nodes[n++] = v;
    }
  }
  qsort(nodes, n, 4, by_u32);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (!k || nodes[k - 1] != nodes[i]) nodes[k++] = nodes[i];
  return k;
}

/* For each pending node, its least shortest-path retainer edge (one pass
 * over every edge; the bitset keeps it to a test per edge). */
static void sig_parents(const struct heap_snapshot *s, const uint32_t *nodes, uint32_t n,
                        uint8_t *mark, uint32_t *best, uint32_t *best_from) {
  for (uint32_t i = 0; i < n; i++) {
    mark[nodes[i] >> 3] |= (uint8_t)(1u << (nodes[i] & 7));
    best[i] = UINT32_MAX;
  }
  for (uint32_t u = 0; u < s->node_count; u++)
    for (uint32_t e = s->first_edge[u], end = s->first_edge[u + 1]; e < end; e++) {
      uint32_t to = s->edge_to[e];
      if (!(mark[to >> 3] & (1u << (to & 7))) || !on_shortest(s, u, e, to)) continue;
      uint32_t i = find_node(nodes, n, to);
      if (best[i] == UINT32_MAX || step_cmp(s, u, e, best_from[i], best[i]) < 0) {
        best[i] = e;
        best_from[i] = u;
      }
    }
  for (uint32_t i = 0; i < n; i++)
    mark[nodes[i] >> 3] = 0;
}

/* Is this step named by the program (a property or a scope variable)? */
static int named_step(const struct heap_snapshot *s, uint32_t from, uint32_t e) {
  uint8_t k = heap_edge_kind_at(s, from, e);
  return (k == ET_CONTEXT || k == ET_PROPERTY) && !collapses_at(s, from, e);
}

/* Is node u a user root (the global object, a window)? */
static int user_root(const struct heap_snapshot *s, uint32_t u) {
  if (s->distance) return s->distance[u] == 1;
  return s->parent_edge[u] != UINT32_MAX && heap_edge_from(s, s->parent_edge[u]) == s->root;
}

/* Moves walk w one step up, by edge e of node from. A scope variable or a
 * global is the anchor: the program's own name for what holds the leak. */
static void sig_step(const struct heap_snapshot *s, struct sig_walk *w, uint32_t from, uint32_t e) {
  if (named_step(s, from, e)) {
    uint64_t step = step_hash(s, e, from);
    if (heap_edge_kind_at(s, from, e) == ET_CONTEXT || user_root(s, from)) {
      w->at = str_hash(mix(step, 0x40), heap_node_class(s, w->v)) | 1;
      w->done = 1;
    } else if (w->named++ < SIG_NAMED) {
      w->fb = mix(w->fb, step);
    }
  }
  w->v = from;
}

static void sig_walk(struct heap_snapshot *s, struct sig_walk *w, uint32_t nw) {
  uint32_t *nodes = malloc((size_t)nw * 12 + 12);
  uint8_t *mark = calloc((size_t)s->node_count / 8 + 1, 1);
  if (!nodes || !mark) { /* out of memory: every walk ends unanchored */
    free(nodes);
    free(mark);
    return;
  }
  uint32_t *best = nodes + nw + 1, *best_from = best + nw + 1;
  for (uint32_t round = 0; round < SIG_MAX_STEPS; round++) {
    uint32_t n = sig_pending(s, w, nw, nodes);
    if (!n) break;
    sig_parents(s, nodes, n, mark, best, best_from);
    for (uint32_t i = 0; i < nw; i++) {
      if (w[i].done) continue;
      uint32_t k = find_node(nodes, n, w[i].v);
      uint32_t e = best[k] != UINT32_MAX ? best[k] : s->parent_edge[w[i].v];
      sig_step(s, &w[i], best[k] != UINT32_MAX ? best_from[k] : heap_edge_from(s, e), e);
    }
  }
  free(nodes);
  free(mark);
}

void leak_signatures(struct leak_ctx *c, struct heap_leak_group *g, uint32_t ng) {
  struct heap_snapshot *s = c->s;
  struct sig_walk *w = calloc((size_t)ng + 1, sizeof *w);
  if (w) {
    for (uint32_t i = 0; i < ng; i++)
      w[i].v = g[i].holder;
    sig_walk(s, w, ng);
  }
  for (uint32_t i = 0; i < ng; i++) {
    uint64_t h = str_hash(1469598103934665603ull, heap_class_name(s, g[i].cls));
    if (g[i].fn_name != HEAP_NO_NODE) h = str_hash(mix(h, 0x28), heap_str(s, g[i].fn_name));
    if (w && w[i].at) {
      g[i].signature = mix(h, w[i].at);
    } else { /* no anchor up to the root: the holder's class and the named steps nearest it */
      h = str_hash(mix(h, 0x40), heap_node_class(s, g[i].holder));
      g[i].signature = w ? mix(h, w[i].fb) : h;
    }
  }
  free(w);
}
