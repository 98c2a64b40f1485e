/* The Lengauer-Tarjan core of dominators.c, written once for two widths
 * of the preorder-numbered arrays: dominators.c includes it with LT_W 3
 * (three bytes a number, graphs below 2^24 - 1 nodes) and LT_W 4. Not a
 * header of its own: everything here is static and named with LT_W. */
#ifndef LT_W
#define LT_W 4 /* for tools that read this file alone */
#endif

#define LT_CAT2(a, b) a##_##b
#define LT_CAT(a, b) LT_CAT2(a, b)
#define LT(name) LT_CAT(name, LT_W)

#if LT_W == 4
#define NIL 0xFFFFFFFFu
static inline uint32_t LT(ld)(const uint8_t *a, size_t i) {
  uint32_t x;
  memcpy(&x, a + i * 4, 4);
  return x;
}
static inline void LT(st)(uint8_t *a, size_t i, uint32_t v) {
  memcpy(a + i * 4, &v, 4);
}
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NIL 0xFFFFFFu
/* loads take 4 bytes at a + 3i (the arrays carry spare bytes at the end)
 * and mask; stores write exactly 3, so a store never half-overlaps the
 * next element's load (the CPU cannot forward from such a store) */
static inline uint32_t LT(ld)(const uint8_t *a, size_t i) {
  uint32_t x;
  memcpy(&x, a + i * 3, 4);
  return x & 0xFFFFFFu;
}
static inline void LT(st)(uint8_t *a, size_t i, uint32_t v) {
  memcpy(a + i * 3, &v, 3);
}
#else
#define NIL 0xFFFFFFu
static inline uint32_t LT(ld)(const uint8_t *a, size_t i) {
  const uint8_t *p = a + i * 3;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}
static inline void LT(st)(uint8_t *a, size_t i, uint32_t v) {
  uint8_t *p = a + i * 3;
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
}
#endif
#define LD LT(ld)
#define ST LT(st)

/* Depth-first numbering from `start` (already numbered), over essential
 * edges, in edge order (DevTools' order). Returns the next number, or
 * NONE when out of memory. */
static uint32_t LT(dfs)(struct lt *t, struct frame **stk, size_t *cap, uint32_t start,
                        uint32_t count) {
  const struct heap_snapshot *s = t->s;
  struct frame *st = *stk;
  size_t top = 0;
  st[0] = (struct frame){start, s->first_edge[start]};
  for (;;) {
    uint32_t v = st[top].v, e = st[top].e, end = s->first_edge[v + 1];
    while (e < end && (!essential(s, e) || LD(t->pre, s->edge_to[e]) != NIL))
      e++;
    if (e == end) {
      if (top == 0) break;
      top--;
      continue;
    }
    st[top].e = e + 1;
    uint32_t w = s->edge_to[e];
    ST(t->pre, w, count);
    ST(t->anc, count, LD(t->pre, v));
    SET(t->real, count);
    SET(t->tree, e);
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
 * retainer) and theirs, then the rest one by one, recording the DFS
 * parents, the tree edges and who has an essential retainer. 0 when out
 * of memory. */
static int LT(number)(struct lt *t) {
  const struct heap_snapshot *s = t->s;
  uint32_t n = s->node_count;
  size_t cap = 1024;
  struct frame *st = malloc(cap * sizeof *st);
  if (!st) return 0;
  memset(t->pre, 0xFF, (size_t)n * LT_W);
  if (!t->retained_given)
    for (uint32_t e = 0; e < s->edge_count; e++)
      if (essential(s, e)) SET(t->retained, s->edge_to[e]);
  ST(t->anc, 0, NIL);
  ST(t->pre, s->root, 0);
  uint32_t count = LT(dfs)(t, &st, &cap, s->root, 1);
  for (uint32_t v = 0; v < n && count != NONE; v++) {
    if (LD(t->pre, v) != NIL || BIT(t->retained, v)) continue;
    ST(t->pre, v, count);
    ST(t->anc, count, 0); /* a virtual edge from the root */
    count = LT(dfs)(t, &st, &cap, v, count + 1);
  }
  for (uint32_t v = 0; v < n && count != NONE; v++) { /* cliques that only retain each other */
    if (LD(t->pre, v) != NIL) continue;
    ST(t->pre, v, count);
    ST(t->anc, count, 0);
    count++;
  }
  free(st);
  return count == n;
}

/* The predecessor lists, in preorder numbers: essential edges but the DFS
 * tree edges. 0 when out of memory. */
static int LT(predecessors)(struct lt *t) {
  const struct heap_snapshot *s = t->s;
  uint32_t n = s->node_count;
  t->rfirst = calloc((size_t)n + 1, 4);
  if (!t->rfirst) return 0;
  for (uint32_t e = 0; e < s->edge_count; e++)
    if (essential(s, e) && !BIT(t->tree, e)) t->rfirst[LD(t->pre, s->edge_to[e])]++;
  uint32_t sum = 0;
  for (uint32_t w = 0; w <= n; w++) {
    uint32_t c = t->rfirst[w];
    t->rfirst[w] = sum;
    sum += c;
  }
  t->rfrom = malloc((size_t)sum * LT_W + 8);
  if (!t->rfrom) return 0;
  for (uint32_t v = 0; v < n; v++) {
    uint32_t pv = LD(t->pre, v);
    for (uint32_t e = s->first_edge[v], end = s->first_edge[v + 1]; e < end; e++)
      if (essential(s, e) && !BIT(t->tree, e))
        ST(t->rfrom, t->rfirst[LD(t->pre, s->edge_to[e])]++, pv);
  }
  /* each rfirst[w] now ends w's list: shift back to starts */
  memmove(t->rfirst + 1, t->rfirst, (size_t)n * 4);
  t->rfirst[0] = 0;
  free(t->tree);
  t->tree = NULL;
  return 1;
}

/* eval() of LT with iterative path compression; vertices numbered lo and
 * above are linked. */
static uint32_t LT(eval)(struct lt *t, uint32_t v, uint32_t lo) {
  if (v < lo) return v;
  size_t n = 0;
  uint32_t x = v, a;
  while ((a = LD(t->anc, x)) >= lo) {
    if (n == t->cstack_cap) {
      size_t cap = t->cstack_cap ? t->cstack_cap * 2 : 1024;
      uint32_t *ns = realloc(t->cstack, cap * sizeof *ns);
      if (!ns) break; /* compress less; still correct, only slower */
      t->cstack = ns;
      t->cstack_cap = cap;
    }
    t->cstack[n++] = x;
    x = a;
  }
  while (n > 0) {
    uint32_t y = t->cstack[--n];
    a = LD(t->anc, y);
    uint32_t la = LD(t->label, a), ly = LD(t->label, y);
    if (LD(t->semi, la) < LD(t->semi, ly)) ST(t->label, y, la);
    ST(t->anc, y, LD(t->anc, a));
  }
  return LD(t->label, v);
}

/* Semidominators, buckets and the first idom pass, vertex n-1 down to 1. */
static void LT(main_loop)(struct lt *t, uint32_t n) {
  const size_t step = (size_t)1 << 20; /* give pages back every 1 MB read */
  uint8_t *rel = t->rfrom + (size_t)t->rfirst[n] * LT_W;
  uint32_t *next = t->rfirst + 1; /* next[w] = rfirst[w + 1] */
  for (uint32_t w = n; w-- > 1;) {
    uint32_t p = LD(t->anc, w), sm = w, ess = 0;
    if (BIT(t->real, w)) { /* the tree edge from p: p is unlinked, its semi is p */
      sm = p;
      ess = 1;
    }
    uint32_t k = t->rfirst[w];
    for (uint32_t end = t->rfirst[w + 1]; k < end; k++) {
      uint32_t u = LT(eval)(t, LD(t->rfrom, k), w + 1);
      uint32_t su = u > w ? LD(t->semi, u) : u; /* unprocessed: its own number */
      if (su < sm) sm = su;
      ess = 1;
    }
    if (!ess) sm = 0; /* an orphan: its one predecessor is the root */
    ST(t->semi, w, sm);
    ST(t->label, w, w);
    next[w] = LD(t->idom, sm);
    ST(t->idom, sm, w);
    /* link(p, w): anc[w] is already p, and w is now at the linked bound */
    for (uint32_t v = LD(t->idom, p); v != 0;) {
      uint32_t u = LT(eval)(t, v, w), nx = next[v];
      ST(t->idom, v, LD(t->semi, u) < LD(t->semi, v) ? u : p);
      SET(t->settled, v);
      v = nx;
    }
    ST(t->idom, p, 0);
    uint8_t *at = t->rfrom + (size_t)t->rfirst[w] * LT_W;
    if ((size_t)(rel - at) >= step) {
      release(at, rel);
      rel = at;
    }
  }
  ST(t->idom, 0, 0);
  for (uint32_t w = 1; w < n; w++) {
    if (!BIT(t->settled, w))
      ST(t->idom, w, 0);
    else if (LD(t->idom, w) != LD(t->semi, w))
      ST(t->idom, w, LD(t->idom, LD(t->idom, w)));
  }
}

/* The dominator tree's own preorder, still in DFS preorder numbers: each
 * vertex's subtree size bottom-up (a vertex comes after its dominator in
 * DFS preorder), then, top-down, its place is its dominator's next free
 * slot. Returns the order (LT_W bytes a number), NULL when out of memory. */
static uint8_t *LT(tree_order)(struct lt *t, uint32_t n) {
  uint8_t *slot = calloc((size_t)n * LT_W + 8, 1), *order = calloc((size_t)n * LT_W + 8, 1);
  if (!slot || !order) {
    free(slot);
    free(order);
    return NULL;
  }
  for (uint32_t w = 0; w < n; w++)
    ST(slot, w, 1);
  for (uint32_t w = n; w-- > 1;) {
    uint32_t d = LD(t->idom, w);
    ST(slot, d, LD(slot, d) + LD(slot, w));
  }
  ST(order, 0, 0);
  ST(slot, 0, 1);
  for (uint32_t w = 1; w < n; w++) {
    uint32_t d = LD(t->idom, w), at = LD(slot, d);
    ST(slot, d, at + LD(slot, w));
    ST(order, at, w);
    ST(slot, w, at + 1);
  }
  free(slot);
  return order;
}

/* vertex[] (preorder -> node), from pre[], which is freed. */
static uint32_t *LT(vertices)(struct lt *t, uint32_t n) {
  uint32_t *vertex = malloc((size_t)n * 4 + 4);
  if (!vertex) return NULL;
  for (uint32_t v = 0; v < n; v++)
    vertex[LD(t->pre, v)] = v;
  free(t->pre);
  t->pre = NULL;
  return vertex;
}

/* From preorder numbers to node ordinals, given vertex (preorder ->
 * node): s->idom, and the tree order, rewritten in place and widened to
 * 4 bytes a node; t->idom is freed. */
static uint32_t *LT(to_nodes)(struct heap_snapshot *s, struct lt *t, const uint32_t *vertex,
                              uint8_t *order) {
  uint32_t n = s->node_count;
  uint32_t *idom = malloc((size_t)n * 4 + 4);
  if (!idom) return NULL;
  for (uint32_t w = 0; w < n; w++)
    idom[vertex[w]] = vertex[LD(t->idom, w)];
  free(t->idom);
  t->idom = NULL;
  free(s->idom);
  s->idom = idom;
  for (uint32_t i = 0; i < n; i++)
    ST(order, i, vertex[LD(order, i)]);
#if LT_W == 4
  return (uint32_t *)(void *)order;
#else
  uint8_t *wide = realloc(order, (size_t)n * 4 + 8);
  if (!wide) return NULL;
  for (uint32_t i = n; i-- > 0;) { /* back to front: cell i moves from 3i to 4i */
    uint32_t v = LD(wide, i);
    memcpy(wide + (size_t)i * 4, &v, 4);
  }
  return (uint32_t *)(void *)wide;
#endif
}

#undef LD
#undef ST
#undef NIL
#undef LT
#undef LT_CAT
#undef LT_CAT2
#undef LT_W
