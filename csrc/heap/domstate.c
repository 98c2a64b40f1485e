/* DevTools' propagateDOMState: the embedder marks some native nodes
 * attached (1) or detached (2). Native nodes reachable from an attached one
 * are attached; those reachable only from detached ones are detached. The
 * walk follows every edge but hidden and weak ones and stops at non-native
 * nodes (JavaScript objects carry no DOM state). A node keeps the first
 * state it is given. The result goes into the low two bits of
 * s->detachedness (HEAP_DETACHED_MARK keeps the embedder's own marks);
 * classes name the detached ones "Detached <name>". */
#include <stdlib.h>

#include "heap.h"

struct stack {
  uint32_t *v;
  size_t n, cap;
};

static int push(struct stack *st, uint32_t v) {
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 1024;
    uint32_t *nv = realloc(st->v, cap * 4);
    if (!nv) return -1;
    st->v = nv;
    st->cap = cap;
  }
  st->v[st->n++] = v;
  return 0;
}

/* processNode: gives v the state (natives only), once. */
static int visit(struct heap_snapshot *s, uint8_t *seen, uint32_t v, uint8_t state,
                 struct stack *attached, struct stack *detached) {
  if (seen[v >> 3] & (1u << (v & 7))) return 0;
  seen[v >> 3] |= (uint8_t)(1u << (v & 7));
  if (s->node_kind[s->node_type[v]] != HT_NATIVE) return 0;
  s->detachedness[v] = (uint8_t)((s->detachedness[v] & ~3u) | state);
  if (state == 1) return push(attached, v);
  if (state == 2) return push(detached, v);
  return 0;
}

static int spread(struct heap_snapshot *s, uint8_t *seen, uint32_t v, uint8_t state,
                  struct stack *attached, struct stack *detached) {
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
    uint8_t k = heap_edge_kind_at(s, v, e);
    if (k == ET_HIDDEN || k == ET_WEAK) continue;
    if (visit(s, seen, s->edge_to[e], state, attached, detached)) return -1;
  }
  return 0;
}

void heap_mark_detached_roots(struct heap_snapshot *s) {
  if (!s->detachedness) return;
  for (uint32_t v = 0; v < s->node_count; v++)
    if ((s->detachedness[v] & 3) == 2) s->detachedness[v] |= HEAP_DETACHED_MARK;
}

int heap_propagate_dom_state(struct heap_snapshot *s) {
  if (!s->detachedness) return 0;
  uint32_t n = s->node_count;
  uint8_t *seen = calloc((size_t)n / 8 + 1, 1);
  struct stack attached = {0}, detached = {0};
  int rc = -1;
  if (!seen) return -1;
  for (uint32_t v = 0; v < n; v++) {
    uint8_t state = s->detachedness[v] & 3;
    if (state && visit(s, seen, v, state, &attached, &detached)) goto out;
  }
  while (attached.n)
    if (spread(s, seen, attached.v[--attached.n], 1, &attached, &detached)) goto out;
  while (detached.n) {
    uint32_t v = detached.v[--detached.n];
    if ((s->detachedness[v] & 3) == 1) continue;
    if (spread(s, seen, v, 2, &attached, &detached)) goto out;
  }
  rc = 0;
out:
  free(seen);
  free(attached.v);
  free(detached.v);
  return rc;
}
