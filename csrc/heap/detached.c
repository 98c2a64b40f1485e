/* Detached DOM nodes per class: the nodes the snapshot itself marks
 * detached (HEAP_DETACHED_MARK), counted and their retained sizes summed by
 * class, for leak reports on pages. */
#include <stdlib.h>

#include "heap.h"

int heap_detached_classes(struct heap_snapshot *s, struct heap_class_total **out, uint32_t *n) {
  *out = NULL;
  *n = 0;
  if (!s->detachedness) return 0;
  if (heap_build_classes(s)) return -1;
  uint32_t *count = calloc((size_t)s->class_count + 1, sizeof *count);
  uint64_t *size = calloc((size_t)s->class_count + 1, sizeof *size);
  if (!count || !size) {
    free(count);
    free(size);
    return -1;
  }
  for (uint32_t v = 0; v < s->node_count; v++)
    if (s->detachedness[v] & HEAP_DETACHED_MARK) {
      count[s->class_of[v]]++;
      size[s->class_of[v]] += heap_retained_size(s, v);
    }
  uint32_t classes = 0;
  for (uint32_t c = 0; c < s->class_count; c++)
    classes += count[c] > 0;
  struct heap_class_total *rows = malloc(((size_t)classes + 1) * sizeof *rows);
  if (!rows) {
    free(count);
    free(size);
    return -1;
  }
  for (uint32_t c = 0, k = 0; c < s->class_count; c++)
    if (count[c]) rows[k++] = (struct heap_class_total){c, count[c], size[c]};
  free(count);
  free(size);
  *out = rows;
  *n = classes;
  return 0;
}
