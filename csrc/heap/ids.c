/* Whether snapshots number their objects alike: node ids only match within
 * one profiling session of one process (V8 renumbers objects in each, JSC in
 * every snapshot), so a diff compares classes instead, and a leak hunt
 * refuses (EIDS). The policy over heap_ids_compare / heap_side_compare. */
#include "heap.h"

int heap_diff_matched(struct heap_snapshot *cur, struct heap_snapshot *base,
                      struct heap_diff_row **rows, uint32_t *n, struct heap_id_match *how) {
  heap_ids_compare(cur, base, &how->shared, &how->disagree);
  uint32_t fewer = cur->node_count < base->node_count ? cur->node_count : base->node_count;
  how->by_class = heap_ids_renumbered(how->shared, how->disagree, fewer);
  return how->by_class ? heap_diff_by_class(cur, base, rows, n) : heap_diff(cur, base, rows, n);
}

int heap_sides_renumbered(const struct heap_snapshot *s, const struct heap_side *const *sides,
                          int nsides, struct heap_id_match *how) {
  for (int i = 0; i < nsides; i++) {
    heap_side_compare(s, sides[i], &how->shared, &how->disagree);
    uint32_t fewer = sides[i]->count < s->node_count ? sides[i]->count : s->node_count;
    if (heap_ids_renumbered(how->shared, how->disagree, fewer)) {
      how->by_class = 1;
      return i;
    }
  }
  how->by_class = 0;
  return -1;
}
