/* Distances from the root, as DevTools' calculateDistances computes them:
 * a breadth-first search from the user roots (the root's non-synthetic
 * children and "(Document DOM trees)") at distance 1, then from the root
 * itself, which sits at HEAP_SYSTEM_DISTANCE when there were user roots
 * (so system-only objects get that much added) and at 0 otherwise. Weak
 * edges are never followed, nor the links DevTools' filter drops: a
 * NativeContext's sloppy_function_map, the descriptor slots of "(map
 * descriptors)" arrays, and the first of the two edges V8 records for each
 * WeakMap entry (table -> value and key -> value, named alike) that the
 * search meets while the value is unreached. The same search, rerun,
 * gives every node its parent edge for retainer paths. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define NONE UINT32_MAX

/* "<n> / part of key (K @k) -> value (V @v) pair in WeakMap (table @t)":
 * returns the offset of the part after "<n>" (the part both edges of one
 * entry share), or 0 when s is not such a name. */
static size_t ephemeron_suffix(const char *s) {
  const char *p = s;
  while (*p >= '0' && *p <= '9')
    p++;
  if (p == s) return 0;
  static const char head[] = " / part of key (";
  static const char tail[] = ") pair in WeakMap (table @";
  if (strncmp(p, head, sizeof head - 1) != 0) return 0;
  size_t len = strlen(p);
  if (len < 2 || p[len - 1] != ')') return 0;
  const char *end = p + len - 1, *d = end;
  while (d > p && d[-1] >= '0' && d[-1] <= '9')
    d--;
  if (d == end || (size_t)(d - p) < sizeof tail - 1 + sizeof head - 1) return 0;
  const char *t = d - (sizeof tail - 1);
  if (strncmp(t, tail, sizeof tail - 1) != 0) return 0;
  /* between head and tail: "K @k) -> value (V @v" with some split */
  const char *mid = p + sizeof head - 1;
  static const char arrow[] = ") -> value (";
  for (const char *a = mid; (a = strstr(a, arrow)) && a < t; a++) {
    const char *k = a; /* " @<digits>" before the arrow */
    while (k > mid && k[-1] >= '0' && k[-1] <= '9')
      k--;
    if (k == a || k - mid < 2 || k[-1] != '@' || k[-2] != ' ') continue;
    const char *v = t; /* " @<digits>" before the tail */
    while (v > a && v[-1] >= '0' && v[-1] <= '9')
      v--;
    if (v == t || v - (a + sizeof arrow - 1) < 2 || v[-1] != '@' || v[-2] != ' ') continue;
    return (size_t)(p - s);
  }
  return 0;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 1099511628211ull;
  }
  return h;
}

/* For each string, the id of its WeakMap-entry part (equal for the two
 * edges of one entry), or NONE. *out NULL when the snapshot has none. */
static int ephemeron_ids(const struct heap_snapshot *s, uint32_t **out, uint32_t *count) {
  *out = NULL;
  *count = 0;
  uint32_t *ids = NULL, n = 0, *slot = NULL;
  const char **rep = NULL;
  size_t cap = 0;
  for (uint32_t i = 0; i < s->string_count; i++) {
    const char *str = heap_str(s, i);
    if (str[0] < '0' || str[0] > '9') continue;
    size_t off = ephemeron_suffix(str);
    if (!off) continue;
    const char *suf = str + off;
    if (!ids) {
      ids = malloc((size_t)s->string_count * 4);
      if (!ids) return -1;
      memset(ids, 0xFF, (size_t)s->string_count * 4);
    }
    if ((size_t)(n + 1) * 2 > cap) {
      size_t ncap = cap ? cap * 2 : 1024;
      uint32_t *ns = calloc(ncap, 4);
      const char **nr = realloc(rep, (ncap / 2 + 1) * sizeof *nr);
      if (!ns || !nr) {
        free(ns);
        free(nr ? nr : rep);
        free(slot);
        free(ids);
        return -1;
      }
      rep = nr;
      for (uint32_t k = 0; k < n; k++) {
        size_t h = hash_str(rep[k]) & (ncap - 1);
        while (ns[h])
          h = (h + 1) & (ncap - 1);
        ns[h] = k + 1;
      }
      free(slot);
      slot = ns;
      cap = ncap;
    }
    size_t h = hash_str(suf) & (cap - 1);
    while (slot[h] && strcmp(rep[slot[h] - 1], suf) != 0)
      h = (h + 1) & (cap - 1);
    if (!slot[h]) {
      rep[n] = suf;
      slot[h] = ++n;
    }
    ids[i] = slot[h] - 1;
  }
  free(slot);
  free(rep);
  *out = ids;
  *count = n;
  return 0;
}

/* parseInt() of an edge name, as DevTools applies it to "(map descriptors)"
 * edges: the leading number of the name (element/hidden edges: the index);
 * -1 for NaN and negative numbers (both pass DevTools' test). */
static int64_t edge_index_value(const struct heap_snapshot *s, uint32_t v, uint32_t e) {
  if (heap_edge_is_indexed_at(s, v, e)) return heap_edge_name_at(s, v, e);
  const char *p = heap_str(s, heap_edge_name_at(s, v, e));
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  if (*p == '-') return -1;
  if (*p == '+') p++;
  if (*p < '0' || *p > '9') return -1;
  int64_t x = 0;
  while (*p >= '0' && *p <= '9' && x < ((int64_t)1 << 40))
    x = x * 10 + (*p++ - '0');
  return x;
}

struct bfs {
  const struct heap_snapshot *s;
  uint32_t *d, *pe;
  const uint32_t *eph; /* string -> WeakMap entry id, or NULL */
  uint8_t *pending;    /* bitset over entry ids: the first edge was met */
  /* the queue: a ring as wide as the widest stretch of the search needs
   * (the nodes of a level or two), not one slot per node */
  uint32_t *q;
  size_t qh, qt, qcap; /* qcap a power of two; positions count up, & (qcap - 1) */
  int failed;
};

static void push(struct bfs *b, uint32_t v) {
  if (b->qt - b->qh == b->qcap) {
    size_t cap = b->qcap * 2;
    uint32_t *nq = malloc(cap * 4);
    if (!nq) {
      b->failed = 1;
      return;
    }
    for (size_t i = b->qh; i < b->qt; i++)
      nq[i & (cap - 1)] = b->q[i & (b->qcap - 1)];
    free(b->q);
    b->q = nq;
    b->qcap = cap;
  }
  b->q[b->qt++ & (b->qcap - 1)] = v;
}

/* DevTools' filter, for an edge whose target is still unreached. */
static int follows(struct bfs *b, uint32_t v, uint32_t e, uint8_t ek) {
  const struct heap_snapshot *s = b->s;
  uint8_t nk = s->node_kind[s->node_type[v]];
  if (nk == HT_HIDDEN && s->node_name[v] == s->str_native_context &&
      !heap_edge_is_indexed_at(s, v, e) && heap_edge_name_at(s, v, e) == s->str_sloppy_function_map)
    return 0;
  if (nk == HT_ARRAY && s->node_name[v] == s->str_map_descriptors) {
    int64_t i = edge_index_value(s, v, e);
    return i < 2 || i % 3 != 1; /* NaN passes too: "NaN % 3 !== 1" */
  }
  if (ek == ET_INTERNAL && b->eph) {
    uint32_t name = heap_edge_name_at(s, v, e);
    uint32_t id = b->eph[name < s->string_count ? name : 0];
    if (name < s->string_count && id != NONE) {
      uint8_t bit = (uint8_t)(1u << (id & 7));
      if (b->pending[id >> 3] & bit) {
        b->pending[id >> 3] &= (uint8_t)~bit;
      } else {
        b->pending[id >> 3] |= bit;
        return 0;
      }
    }
  }
  return 1;
}

static void run(struct bfs *b) {
  const struct heap_snapshot *s = b->s;
  while (b->qh < b->qt && !b->failed) {
    uint32_t v = b->q[b->qh++ & (b->qcap - 1)];
    uint32_t dv = b->d[v] + 1;
    const uint32_t *w = heap_edge_words(s, v);
    for (uint32_t e = s->first_edge[v], end = s->first_edge[v + 1], k = 0; e < end; e++, k++) {
      uint8_t ek = s->edge_kind[heap_word_type(s, w[k])];
      if (ek == ET_WEAK) continue;
      uint32_t to = s->edge_to[e];
      if (b->d[to] != HEAP_UNREACHABLE || !follows(b, v, e, ek)) continue;
      b->d[to] = dv;
      if (b->pe) b->pe[to] = e;
      push(b, to);
    }
  }
}

int heap_is_user_root(const struct heap_snapshot *s, uint32_t v) {
  if (s->node_kind[s->node_type[v]] != HT_SYNTHETIC) return 1;
  return !strcmp(heap_str(s, s->node_name[v]), "(Document DOM trees)");
}

/* d (and pe, when given) for every node; returns -1 when out of memory. */
static int distances(const struct heap_snapshot *s, uint32_t *d, uint32_t *pe) {
  uint32_t n = s->node_count, root = s->root;
  struct bfs b = {s, d, pe, NULL, NULL, malloc(4096 * 4), 0, 0, 4096, 0};
  uint32_t neph = 0, *eph = NULL;
  if (!b.q || ephemeron_ids(s, &eph, &neph)) {
    free(b.q);
    return -1;
  }
  if (eph) {
    b.pending = calloc((size_t)neph / 8 + 1, 1);
    if (!b.pending) {
      free(b.q);
      free(eph);
      return -1;
    }
    b.eph = eph;
  }
  for (uint32_t i = 0; i < n; i++)
    d[i] = HEAP_UNREACHABLE;
  if (pe)
    for (uint32_t i = 0; i < n; i++)
      pe[i] = NONE;
  /* user roots may be queued twice (two root edges to one node), as in DevTools */
  for (uint32_t e = s->first_edge[root]; e < s->first_edge[root + 1]; e++) {
    uint32_t to = s->edge_to[e];
    if (!heap_is_user_root(s, to)) continue;
    if (pe && d[to] == HEAP_UNREACHABLE) pe[to] = e;
    d[to] = 1;
    push(&b, to);
  }
  run(&b);
  d[root] = b.qt > 0 ? HEAP_SYSTEM_DISTANCE : 0;
  if (pe) pe[root] = NONE;
  push(&b, root);
  run(&b);
  free(b.q);
  free(eph);
  free(b.pending);
  return b.failed ? -1 : 0;
}

int heap_compute_distances(struct heap_snapshot *s) {
  uint32_t *d = malloc((size_t)s->node_count * 4 + 4), *pe = NULL;
  if (!d) return -1;
  if (s->want_parent_edges && !s->parent_edge && !(pe = malloc((size_t)s->node_count * 4 + 4))) {
    free(d);
    return -1;
  }
  heap_find_filter_strings(s);
  if (distances(s, d, pe)) {
    free(d);
    free(pe);
    return -1;
  }
  free(s->distance);
  s->distance = d;
  if (pe) s->parent_edge = pe;
  return 0;
}

/* The edge the distance search reached each node by (NONE for the root and
 * unreached nodes): rerun rather than kept, as few callers need it (leak
 * finding asks the load to keep them: heap_load_opts.parent_edges). */
int heap_build_parent_edges(struct heap_snapshot *s) {
  if (s->parent_edge) return 0;
  uint32_t n = s->node_count;
  uint32_t *pe = malloc((size_t)n * 4 + 4), *d = malloc((size_t)n * 4 + 4);
  if (!pe || !d || distances(s, d, pe)) {
    free(pe);
    free(d);
    return -1;
  }
  free(d);
  s->parent_edge = pe;
  return 0;
}
