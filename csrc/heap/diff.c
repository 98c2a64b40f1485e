/* Comparison of two snapshots of one process, DevTools' Comparison view:
 * per class (name and, for objects, constructor location, as the summary
 * splits them), `added` counts the class's ids only in the current
 * snapshot, `deleted` its ids only in the base, with their self sizes
 * summed as alloc_size and freed_size. Ids are matched within a class, as
 * DevTools does: an object whose class changed counts as deleted from the
 * old class and new in the other. Nodes with self size 0 are left out, as
 * in the summary.
 *
 * Ids only match within one profiling session: V8 numbers objects afresh
 * when a new session starts, and the same ids then name unrelated objects.
 * heap_diff_by_class is the comparison for that case: per class, the growth
 * of the count and of the size (added/alloc_size) or their shrinking
 * (deleted/freed_size); it cannot tell objects apart, and says so. */

#include <stdlib.h>
#include <string.h>

#include "heap.h"

struct name_map {
  uint32_t *slot; /* row index + 1, 0 = empty */
  size_t cap;
  struct heap_diff_row *rows;
  uint32_t n, rcap;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t hash_row(const struct heap_diff_row *r) {
  uint64_t h = hash_str(r->name);
  if (r->has_location)
    h ^= ((uint64_t)r->location.script_id * 1000003u + r->location.line) * 1000003u +
         r->location.column + 0x9e3779b97f4a7c15ull;
  return h;
}

static int same_row(const struct heap_diff_row *a, const struct heap_diff_row *b) {
  if (strcmp(a->name, b->name) != 0 || a->has_location != b->has_location) return 0;
  return !a->has_location ||
         (a->location.script_id == b->location.script_id && a->location.line == b->location.line &&
          a->location.column == b->location.column);
}

/* The row (index) of node v's class in snapshot s, or -1 when out of memory. */
static int64_t row_for(struct name_map *m, const struct heap_snapshot *s, uint32_t v) {
  struct heap_diff_row key = {0};
  key.name = heap_node_class(s, v);
  key.has_location = heap_class_location(s, s->class_of[v], &key.location);
  if ((size_t)(m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (uint32_t i = 0; i < m->n; i++) {
      size_t h = hash_row(&m->rows[i]) & (cap - 1);
      while (slot[h])
        h = (h + 1) & (cap - 1);
      slot[h] = i + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
  }
  size_t h = hash_row(&key) & (m->cap - 1);
  while (m->slot[h]) {
    struct heap_diff_row *r = &m->rows[m->slot[h] - 1];
    if (same_row(r, &key)) return m->slot[h] - 1;
    h = (h + 1) & (m->cap - 1);
  }
  if (m->n == m->rcap) {
    m->rcap = m->rcap ? m->rcap * 2 : 256;
    struct heap_diff_row *nr = realloc(m->rows, m->rcap * sizeof *nr);
    if (!nr) return -1;
    m->rows = nr;
  }
  struct heap_diff_row *r = &m->rows[m->n];
  *r = key;
  m->slot[h] = ++m->n;
  return m->n - 1;
}

static int by_size_delta(const void *a, const void *b) {
  const struct heap_diff_row *x = a, *y = b;
  int64_t dx = (int64_t)x->alloc_size - (int64_t)x->freed_size,
          dy = (int64_t)y->alloc_size - (int64_t)y->freed_size;
  if (dx != dy) return dx < dy ? 1 : -1;
  return strcmp(x->name, y->name);
}

int heap_diff(struct heap_snapshot *cur, struct heap_snapshot *base, struct heap_diff_row **out,
              uint32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (heap_build_classes(cur) || heap_build_classes(base) || heap_build_id_index(cur) ||
      heap_build_id_index(base))
    return -1;
  struct name_map m = {0};
  uint32_t i = 0, j = 0, nc = cur->node_count, nb = base->node_count;
  while (i < nc || j < nb) {
    uint32_t a = i < nc ? cur->by_id[i] : HEAP_NO_NODE, b = j < nb ? base->by_id[j] : HEAP_NO_NODE;
    uint32_t ida = a != HEAP_NO_NODE ? cur->node_id[a] : UINT32_MAX;
    uint32_t idb = b != HEAP_NO_NODE ? base->node_id[b] : UINT32_MAX;
    int in_cur = a != HEAP_NO_NODE && (b == HEAP_NO_NODE || ida <= idb);
    int in_base = b != HEAP_NO_NODE && (a == HEAP_NO_NODE || idb <= ida);
    i += in_cur;
    j += in_base;
    /* a node counts in its snapshot's class when its self size is not 0 */
    int64_t rc = in_cur && cur->self16[a] ? row_for(&m, cur, a) : -2;
    int64_t rb = in_base && base->self16[b] ? row_for(&m, base, b) : -2;
    if (rc == -1 || rb == -1) goto fail;
    if (rc >= 0 && rc == rb) continue; /* in both, same class */
    if (rc >= 0 && m.rows) {
      m.rows[rc].added++;
      m.rows[rc].alloc_size += heap_self_size(cur, a);
    }
    if (rb >= 0 && m.rows) {
      m.rows[rb].deleted++;
      m.rows[rb].freed_size += heap_self_size(base, b);
    }
  }
  free(m.slot);
  uint32_t k = 0;
  for (uint32_t r = 0; r < m.n && m.rows; r++)
    if (m.rows[r].added || m.rows[r].deleted) m.rows[k++] = m.rows[r];
  if (k) qsort(m.rows, k, sizeof *m.rows, by_size_delta);
  *out = m.rows;
  *nout = k;
  return 0;
fail:
  free(m.slot);
  free(m.rows);
  return -1;
}

/* Per class (name and location): count and self size in one snapshot,
 * into m (added and alloc_size for sign > 0, deleted and freed_size
 * otherwise). */
static int tally(struct name_map *m, struct heap_snapshot *s, int sign) {
  for (uint32_t v = 0; v < s->node_count; v++) {
    if (!s->self16[v]) continue;
    int64_t i = row_for(m, s, v);
    if (i < 0 || !m->rows) return -1;
    struct heap_diff_row *r = &m->rows[i];
    if (sign > 0) {
      r->added++;
      r->alloc_size += heap_self_size(s, v);
    } else {
      r->deleted++;
      r->freed_size += heap_self_size(s, v);
    }
  }
  return 0;
}

int heap_diff_by_class(struct heap_snapshot *cur, struct heap_snapshot *base,
                       struct heap_diff_row **out, uint32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (heap_build_classes(cur) || heap_build_classes(base)) return -1;
  struct name_map m = {0};
  if (tally(&m, cur, 1) || tally(&m, base, -1)) {
    free(m.slot);
    free(m.rows);
    return -1;
  }
  free(m.slot);
  uint32_t k = 0;
  for (uint32_t i = 0; i < m.n; i++) {
    struct heap_diff_row r = m.rows[i];
    /* counts now minus counts before: only the difference is known */
    uint32_t now = r.added, before = r.deleted;
    uint64_t snow = r.alloc_size, sbefore = r.freed_size;
    r.added = now > before ? now - before : 0;
    r.deleted = before > now ? before - now : 0;
    r.alloc_size = snow > sbefore ? snow - sbefore : 0;
    r.freed_size = sbefore > snow ? sbefore - snow : 0;
    if (r.added || r.deleted || r.alloc_size || r.freed_size) m.rows[k++] = r;
  }
  if (k) qsort(m.rows, k, sizeof *m.rows, by_size_delta);
  *out = m.rows;
  *nout = k;
  return 0;
}
