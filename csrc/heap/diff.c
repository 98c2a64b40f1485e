/* Comparison of two snapshots of one process, DevTools' Comparison view:
 * nodes are matched by id; per class name, `added` counts ids only in the
 * current snapshot, `deleted` ids only in the base, with their self sizes
 * summed as alloc_size and freed_size. Nodes with self size 0 are left out,
 * as in the summary.
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

static struct heap_diff_row *row_for(struct name_map *m, const char *name) {
  if ((size_t)(m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return NULL;
    for (uint32_t i = 0; i < m->n; i++) {
      size_t h = hash_str(m->rows[i].name) & (cap - 1);
      while (slot[h])
        h = (h + 1) & (cap - 1);
      slot[h] = i + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
  }
  size_t h = hash_str(name) & (m->cap - 1);
  while (m->slot[h]) {
    struct heap_diff_row *r = &m->rows[m->slot[h] - 1];
    if (!strcmp(r->name, name)) return r;
    h = (h + 1) & (m->cap - 1);
  }
  if (m->n == m->rcap) {
    m->rcap = m->rcap ? m->rcap * 2 : 256;
    struct heap_diff_row *nr = realloc(m->rows, m->rcap * sizeof *nr);
    if (!nr) return NULL;
    m->rows = nr;
  }
  struct heap_diff_row *r = &m->rows[m->n];
  memset(r, 0, sizeof *r);
  r->name = name;
  m->slot[h] = ++m->n;
  return r;
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
    if (a != HEAP_NO_NODE && (b == HEAP_NO_NODE || ida < idb)) {
      i++;
      if (!cur->self_size[a]) continue;
      struct heap_diff_row *r = row_for(&m, heap_node_class(cur, a));
      if (!r) goto fail;
      r->added++;
      r->alloc_size += cur->self_size[a];
    } else if (b != HEAP_NO_NODE && (a == HEAP_NO_NODE || idb < ida)) {
      j++;
      if (!base->self_size[b]) continue;
      struct heap_diff_row *r = row_for(&m, heap_node_class(base, b));
      if (!r) goto fail;
      r->deleted++;
      r->freed_size += base->self_size[b];
    } else {
      i++;
      j++;
    }
  }
  free(m.slot);
  uint32_t k = 0;
  for (uint32_t r = 0; r < m.n; r++)
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

/* Per class name: count and self size in one snapshot, into m (added and
 * alloc_size for sign > 0, deleted and freed_size otherwise). */
static int tally(struct name_map *m, struct heap_snapshot *s, int sign) {
  for (uint32_t v = 0; v < s->node_count; v++) {
    if (!s->self_size[v]) continue;
    struct heap_diff_row *r = row_for(m, heap_node_class(s, v));
    if (!r) return -1;
    if (sign > 0) {
      r->added++;
      r->alloc_size += s->self_size[v];
    } else {
      r->deleted++;
      r->freed_size += s->self_size[v];
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
