/* The baseline and target snapshots of leak finding, reduced to what the
 * analysis of the final one needs from them: which ids they had, each
 * node's extent (so a holder can be seen growing from one snapshot to the
 * next) and a hash of each node's type and name (so renumbered ids are
 * caught: V8 starts numbering afresh in a new profiling session, and ids
 * then name unrelated objects). The file is parsed and checked in full, as
 * a full load would (a corrupt baseline fails as loudly as a corrupt
 * final), then everything but these three columns is dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaks.h"

uint32_t heap_node_extent(const struct heap_snapshot *s, uint32_t v) {
  struct leak_ctx c = {.s = (struct heap_snapshot *)s};
  leak_rules_init(&c);
  return leak_extent(&c, v);
}

/* The type and the first 32 bytes of the name: enough to tell objects apart
 * (a string's name is its text, which may run to megabytes). */
uint32_t heap_node_kind_hash(const struct heap_snapshot *s, uint32_t v) {
  uint32_t h = 2166136261u ^ s->node_kind[s->node_type[v]];
  h *= 16777619u;
  const char *p = heap_str(s, s->node_name[v]);
  for (int i = 0; i < 32 && p[i]; i++)
    h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

void heap_side_free(struct heap_side *side) {
  if (!side) return;
  free(side->id);
  free(side->extent);
  free(side->kind);
  memset(side, 0, sizeof *side);
}

int heap_side_of(const struct heap_snapshot *s, struct heap_side *out) {
  uint32_t n = s->node_count;
  memset(out, 0, sizeof *out);
  uint32_t *ord = malloc((size_t)n * 4 + 4), *tmp = malloc((size_t)n * 4 + 4);
  out->id = malloc((size_t)n * 4 + 4);
  out->extent = malloc((size_t)n * 4 + 4);
  out->kind = malloc((size_t)n * 4 + 4);
  if (!ord || !tmp || !out->id || !out->extent || !out->kind) {
    free(ord);
    free(tmp);
    heap_side_free(out);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++)
    ord[i] = i;
  heap_radix_sort_by_key(ord, tmp, n, s->node_id);
  free(tmp);
  struct leak_ctx c = {.s = (struct heap_snapshot *)s};
  leak_rules_init(&c);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v = ord[i];
    out->id[i] = s->node_id[v];
    out->extent[i] = leak_extent(&c, v);
    out->kind[i] = heap_node_kind_hash(s, v);
  }
  free(ord);
  out->count = n;
  return 0;
}

int heap_side_load(const char *path, struct heap_side *out, char *err, size_t errlen,
                   heap_progress_fn progress, void *ud) {
  struct heap_snapshot *s = NULL;
  memset(out, 0, sizeof *out);
  int rc = heap_load_unanalysed(path, &s, err, errlen, progress, ud);
  if (rc || !s) return rc ? rc : HEAP_ENOMEM;
  if (heap_side_of(s, out)) {
    snprintf(err, errlen, "%s: out of memory", path);
    rc = HEAP_ENOMEM;
  }
  heap_free(s);
  return rc;
}

void heap_side_compare(const struct heap_snapshot *s, const struct heap_side *side,
                       uint32_t *shared, uint32_t *disagree) {
  *shared = *disagree = 0;
  if (heap_build_id_index((struct heap_snapshot *)s)) return;
  uint32_t i = 0, j = 0, n = s->node_count;
  while (i < n && j < side->count) {
    uint32_t v = s->by_id[i], a = s->node_id[v], b = side->id[j];
    if (a < b) {
      i++;
    } else if (b < a) {
      j++;
    } else {
      (*shared)++;
      *disagree += heap_node_kind_hash(s, v) != side->kind[j];
      i++;
      j++;
    }
  }
}

void heap_ids_compare(const struct heap_snapshot *a, const struct heap_snapshot *b,
                      uint32_t *shared, uint32_t *disagree) {
  *shared = *disagree = 0;
  if (heap_build_id_index((struct heap_snapshot *)a) ||
      heap_build_id_index((struct heap_snapshot *)b))
    return;
  uint32_t i = 0, j = 0;
  while (i < a->node_count && j < b->node_count) {
    uint32_t u = a->by_id[i], w = b->by_id[j];
    if (a->node_id[u] < b->node_id[w]) {
      i++;
    } else if (b->node_id[w] < a->node_id[u]) {
      j++;
    } else {
      (*shared)++;
      *disagree += heap_node_kind_hash(a, u) != heap_node_kind_hash(b, w);
      i++;
      j++;
    }
  }
}

/* In one session an id names one object for good: the few disagreements
 * seen there are objects V8 changes in place (a string flattened). Another
 * session's numbering makes most shared ids disagree; so does next to no
 * overlap at all (JSC numbers every snapshot afresh). */
int heap_ids_renumbered(uint32_t shared, uint32_t disagree, uint32_t fewer_nodes) {
  if (fewer_nodes >= 100 && shared < fewer_nodes / 100) return 1;
  return disagree >= 50 && (uint64_t)disagree * 20 >= shared;
}
