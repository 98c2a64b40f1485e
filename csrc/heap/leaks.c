/* Three-snapshot leak finding (MemLab's method): objects allocated between
 * the baseline and the target that are still alive in the final snapshot.
 * Only the final snapshot is parsed fully; the others contribute sorted id
 * lists. Candidates are objects, closures, regexps and native objects
 * (strings, numbers, arrays' backing stores and hidden/synthetic nodes are
 * never reported on their own), reachable from the root. They are grouped
 * by class and by the shape of their shortest retainer path (edge names,
 * with element indexes collapsed, and retainer classes), so a thousand
 * closures held in one array make one group.
 *
 * A group is kept only when the second action grew it too: some object
 * allocated after the target snapshot and alive in the final one has the same
 * class and path shape. One-time allocations of the first action (caches,
 * lazily built runtime internals) do not grow again, and are not leaks.
 *
 * A group's retained size sums its members that no other member of the same
 * group dominates. Groups held inside other leaked objects (the listeners
 * inside a leaked listener list) are kept and marked nested: the object the
 * user recognises is often the nested one, and its sizes overlap the
 * container's. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static int contains(const uint32_t *ids, uint32_t n, uint32_t id) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ids[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && ids[lo] == id;
}

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t str_hash(uint64_t h, const char *s) {
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

/* Hash of the path from the root to v: per step the edge type, the edge
 * name (indexes collapsed to "[]") and the retaining node's class. A run of
 * identical steps counts once, so the members of a linked list (each one a
 * step further down `next`) share one shape. */
static uint64_t path_shape(const struct heap_snapshot *s, uint32_t v) {
  uint64_t h = 1469598103934665603ull, prev = 0;
  uint32_t steps = 0;
  while (v != s->root && steps++ < 10000) {
    uint32_t e = s->parent_edge[v];
    if (e == UINT32_MAX) break;
    uint32_t from = heap_edge_from(s, e);
    uint64_t step = mix(0, s->edge_kind[s->edge_type[e]]);
    step = heap_edge_is_indexed(s, e) ? mix(step, 0x5b5d) : str_hash(step, heap_str(s, s->edge_name[e]));
    step = mix(step, s->class_of[from]);
    if (step != prev) h = mix(h, step);
    prev = step;
    v = from;
  }
  return h;
}

uint32_t heap_ids_shared(const struct heap_snapshot *s, const uint32_t *ids, uint32_t nids) {
  uint32_t shared = 0;
  for (uint32_t v = 0; v < s->node_count; v++)
    shared += (uint32_t)contains(ids, nids, s->node_id[v]);
  return shared;
}

/* Objects, closures, regexps and native objects reachable from the root:
 * what a leak can be reported as (strings, numbers, arrays' backing stores
 * and hidden nodes only ever leak as part of one of these). */
static int candidate_kind(const struct heap_snapshot *s, uint32_t v) {
  uint8_t k = s->node_kind[s->node_type[v]];
  if (k != HT_OBJECT && k != HT_CLOSURE && k != HT_REGEXP && k != HT_NATIVE) return 0;
  return s->parent_edge[v] != UINT32_MAX; /* unreachable: garbage, not a leak */
}

struct gmap {
  uint32_t *slot;
  uint64_t *keys;
  size_t cap;
};

static int by_retained_desc(const void *a, const void *b) {
  const struct heap_leak_group *x = a, *y = b;
  if (x->retained != y->retained) return x->retained < y->retained ? 1 : -1;
  if (x->nested != y->nested) return x->nested ? 1 : -1; /* the holder before the held */
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return x->cls < y->cls ? -1 : x->cls > y->cls;
}

#define EXIT_BIT (1u << 31)
#define MARK_BIT (1u << 30)
#define NONE UINT32_MAX

int heap_find_leaks(struct heap_snapshot *s, const uint32_t *base_ids, uint32_t nbase,
                    const uint32_t *target_ids, uint32_t ntarget, struct heap_leak_group **out,
                    uint32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (heap_build_classes(s) || heap_build_parent_edges(s) || heap_build_dom_tree(s)) return -1;
  uint32_t n = s->node_count;
  uint32_t *gid = malloc((size_t)n * 4 + 4);
  struct gmap m = {0};
  struct heap_leak_group *g = NULL;
  uint32_t ng = 0, gcap = 0;
  uint32_t *stack = NULL;
  int rc = -1;
  if (!gid) return -1;
  m.cap = 1024;
  m.slot = calloc(m.cap, sizeof *m.slot);
  m.keys = malloc(m.cap * sizeof *m.keys);
  if (!m.slot || !m.keys) goto out;
  for (uint32_t v = 0; v < n; v++) {
    gid[v] = NONE;
    if (!candidate_kind(s, v)) continue;
    uint32_t id = s->node_id[v];
    if (!contains(target_ids, ntarget, id) || contains(base_ids, nbase, id)) continue;
    uint64_t key = mix(path_shape(s, v), s->class_of[v]);
    if ((size_t)(ng + 1) * 2 > m.cap) {
      size_t cap = m.cap * 2;
      uint32_t *slot = calloc(cap, sizeof *slot);
      uint64_t *keys = malloc(cap * sizeof *keys);
      if (!slot || !keys) {
        free(slot);
        free(keys);
        goto out;
      }
      for (size_t i = 0; i < m.cap; i++)
        if (m.slot[i]) {
          size_t h = m.keys[i] & (cap - 1);
          while (slot[h])
            h = (h + 1) & (cap - 1);
          slot[h] = m.slot[i];
          keys[h] = m.keys[i];
        }
      free(m.slot);
      free(m.keys);
      m.slot = slot;
      m.keys = keys;
      m.cap = cap;
    }
    size_t h = key & (m.cap - 1);
    while (m.slot[h] && m.keys[h] != key)
      h = (h + 1) & (m.cap - 1);
    if (!m.slot[h]) {
      if (ng == gcap) {
        gcap = gcap ? gcap * 2 : 64;
        struct heap_leak_group *ngp = realloc(g, gcap * sizeof *g);
        if (!ngp) goto out;
        g = ngp;
      }
      g[ng] = (struct heap_leak_group){s->class_of[v], 0, v, 0, 0, 0};
      m.slot[h] = ++ng;
      m.keys[h] = key;
    }
    uint32_t gi = m.slot[h] - 1;
    if (!g) goto out; /* cannot happen: a slot implies a group */
    g[gi].count++;
    if (s->retained[v] > s->retained[g[gi].example]) g[gi].example = v;
    gid[v] = gi;
  }
  /* the second round: objects new in the final snapshot, by group key.
   * With no such object at all (the final is the target, or only two
   * snapshots were taken) growth cannot be judged and every group stays. */
  uint32_t second_round = 0;
  for (uint32_t v = 0; v < n && ng > 0; v++) {
    if (!candidate_kind(s, v)) continue;
    uint32_t id = s->node_id[v];
    if (contains(target_ids, ntarget, id) || contains(base_ids, nbase, id)) continue;
    second_round++;
    uint64_t key = mix(path_shape(s, v), s->class_of[v]);
    size_t h = key & (m.cap - 1);
    while (m.slot[h] && m.keys[h] != key)
      h = (h + 1) & (m.cap - 1);
    if (m.slot[h]) g[m.slot[h] - 1].grown++;
  }
  /* walk the dominator tree: a member counts towards its group's retained
   * size unless a member of the same group holds it; a group none of whose
   * members is outside every other candidate is nested */
  uint32_t *top_count = calloc((size_t)ng + 1, 4);
  uint32_t *inside_group = calloc((size_t)ng + 1, 4);
  size_t cap = 1024, top = 0;
  uint32_t inside = 0;
  stack = malloc(cap * 4);
  if (!stack || !top_count || !inside_group) {
    free(top_count);
    free(inside_group);
    goto out;
  }
  stack[top++] = s->root;
  while (top > 0) {
    uint32_t item = stack[--top];
    uint32_t v = item & ~(EXIT_BIT | MARK_BIT);
    if (item & EXIT_BIT) {
      if (item & MARK_BIT) {
        inside--;
        inside_group[gid[v]]--;
      }
      continue;
    }
    uint32_t mark = 0;
    if (gid[v] != NONE) {
      if (!inside_group[gid[v]]) g[gid[v]].retained += s->retained[v];
      if (!inside) top_count[gid[v]]++;
      inside++;
      inside_group[gid[v]]++;
      mark = MARK_BIT;
    }
    size_t need = top + 1 + (s->dom_first[v + 1] - s->dom_first[v]);
    if (need > cap) {
      while (cap < need)
        cap *= 2;
      uint32_t *ns = realloc(stack, cap * 4);
      if (!ns) {
        free(top_count);
        free(inside_group);
        goto out;
      }
      stack = ns;
    }
    stack[top++] = v | EXIT_BIT | mark;
    for (uint32_t k = s->dom_first[v]; k < s->dom_first[v + 1]; k++)
      stack[top++] = s->dom_child[k];
  }
  uint32_t kept = 0;
  for (uint32_t i = 0; i < ng; i++) {
    if (second_round && !g[i].grown) continue; /* allocated once by the first action */
    g[i].nested = top_count[i] == 0;
    g[kept++] = g[i];
  }
  free(top_count);
  free(inside_group);
  if (kept) qsort(g, kept, sizeof *g, by_retained_desc);
  *out = g;
  *nout = kept;
  g = NULL;
  rc = 0;
out:
  free(g);
  free(gid);
  free(m.slot);
  free(m.keys);
  free(stack);
  return rc;
}
