/* Shapes of retainer paths, for a leak group's signature and for showing a
 * path the way a person reads it: an element index, a numbered internal edge
 * (a slot of a Map or Set table) and a run of linked-list links (`next`,
 * `_idleNext`, ...) are one step each, whatever the index or the length. */
#include <stdlib.h>
#include <string.h>

#include "leaks.h"

static const char *const LINKS[] = {"next",  "prev",  "previous",    "_idleNext",       "_idlePrev",
                                    "_next", "_prev", "nextSibling", "previousSibling", NULL};

int heap_edge_collapses(const struct heap_snapshot *s, uint32_t e) {
  uint32_t from = heap_edge_from(s, e);
  if (heap_edge_is_indexed_at(s, from, e)) return 1;
  const char *name = heap_str(s, heap_edge_name_at(s, from, e));
  uint8_t k = heap_edge_kind_at(s, from, e);
  if (k == ET_INTERNAL && name[0] >= '0' && name[0] <= '9') return 1; /* a table slot */
  if (k != ET_PROPERTY) return 0;
  for (const char *const *l = LINKS; *l; l++)
    if (!strcmp(name, *l)) return 1;
  return 0;
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
  h = heap_edge_collapses(s, e) ? mix(h, 0x5b5d)
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

uint64_t leak_signature(const struct leak_ctx *c, const struct heap_leak_group *g) {
  struct heap_snapshot *s = c->s;
  uint64_t h = str_hash(1469598103934665603ull, heap_class_name(s, g->cls));
  if (g->fn_name != HEAP_NO_NODE) h = str_hash(mix(h, 0x28), heap_str(s, g->fn_name));
  h = str_hash(mix(h, 0x40), heap_node_class(s, g->holder));
  /* the two steps nearest the holder: a shortest path further up is one of
   * several of the same length, and which one depends on the run */
  return mix(h, heap_path_shape(s, g->holder, 2));
}
