/* The baseline and target snapshots of leak finding, reduced to what the
 * analysis of the final one needs from them: which ids they had, each
 * node's extent (so a holder can be seen growing from one snapshot to the
 * next) and a hash of each node's type and name (so renumbered ids are
 * caught: V8 starts numbering afresh in a new profiling session, and ids
 * then name unrelated objects). The file is parsed and checked in full, as
 * a full load would (a corrupt baseline fails as loudly as a corrupt
 * final; only the source locations' URLs are not looked up), then
 * everything but these three columns is dropped. Both passes run on a
 * thread of their own while the caller's loads the final. */
#include <pthread.h>
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
static uint32_t name_hash(const char *p) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < 32 && p[i]; i++)
    h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

static uint32_t kind_hash(uint32_t name_h, uint8_t kind) {
  return (name_h ^ kind) * 16777619u;
}

uint32_t heap_node_kind_hash(const struct heap_snapshot *s, uint32_t v) {
  return kind_hash(name_hash(heap_str(s, s->node_name[v])), s->node_kind[s->node_type[v]]);
}

/* Per node, its kind hash: each string hashed once, not once a node that
 * names it (4.35 M nodes share 1.07 M strings on the 323 MB bench file,
 * scattered over the pool). NULL when out of memory. */
static uint32_t *kind_hashes(const struct heap_snapshot *s) {
  uint32_t *strh = malloc((size_t)s->string_count * 4 + 4);
  uint32_t *out = strh ? malloc((size_t)s->node_count * 4 + 4) : NULL;
  if (!out) {
    free(strh);
    return NULL;
  }
  for (uint32_t i = 0; i < s->string_count; i++)
    strh[i] = name_hash(heap_str(s, i));
  for (uint32_t v = 0; v < s->node_count; v++) {
    uint32_t name = s->node_name[v];
    out[v] = kind_hash(name < s->string_count ? strh[name] : name_hash(heap_str(s, name)),
                       s->node_kind[s->node_type[v]]);
  }
  free(strh);
  return out;
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
  uint32_t *kinds = kind_hashes(s);
  out->id = malloc((size_t)n * 4 + 4);
  out->extent = malloc((size_t)n * 4 + 4);
  out->kind = malloc((size_t)n * 4 + 4);
  if (!ord || !tmp || !kinds || !out->id || !out->extent || !out->kind) {
    free(ord);
    free(tmp);
    free(kinds);
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
    out->extent[i] = v == s->root || leak_holder_kind(s->node_kind[s->node_type[v]])
                         ? leak_extent(&c, v)
                         : 0; /* never a holder */
    out->kind[i] = kinds[v];
  }
  free(kinds);
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

/* The baseline's and the target's sides, one after the other, on a thread
 * of their own (heap_load_leak_inputs). */
struct sides_job {
  const char *path[2];
  struct heap_side *side[2];
  char err[2][512];
  int rc[2];
};

static void *sides_thread(void *arg) {
  struct sides_job *j = arg;
  for (int i = 0; i < 2; i++) {
    j->rc[i] = heap_side_load(j->path[i], j->side[i], j->err[i], sizeof j->err[i], NULL, NULL);
    if (j->rc[i]) break; /* the first error is the one reported */
  }
  return NULL;
}

int heap_load_leak_inputs(const char *baseline, const char *target, const char *final,
                          const struct heap_load_opts *o, struct heap_side *a, struct heap_side *b,
                          struct heap_snapshot **out, char *err, size_t errlen,
                          heap_progress_fn progress, void *ud) {
  struct sides_job j = {.path = {baseline, target}, .side = {a, b}};
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
  *out = NULL;
  const char *env = getenv("MEMDBG_HEAP_THREADS");
  pthread_t th;
  int threaded = !(env && atoi(env) == 1) && pthread_create(&th, NULL, sides_thread, &j) == 0;
  if (!threaded) { /* in order, and the final only when both sides loaded */
    sides_thread(&j);
    if (j.rc[0] || j.rc[1]) goto sides_failed;
  }
  struct heap_load_opts fo = *o;
  fo.parent_edges = 1; /* the holders' search walks them */
  int rc = heap_load_file_opts(final, &fo, out, err, errlen, progress, ud);
  /* while the sides finish: the final's indexes the leak stages read (built
   * once; out of memory here is found again, and reported, by those stages) */
  if (!rc && threaded)
    (void)(heap_build_id_index(*out) || heap_build_classes(*out) || heap_build_dom_tree(*out));
  if (threaded) pthread_join(th, NULL);
  if (!j.rc[0] && !j.rc[1]) {
    if (!rc && progress) progress(ud, 1, 1);
    return rc;
  }
  heap_free(*out);
  *out = NULL;
sides_failed:; /* the baseline's error first, then the target's, as a load in order reports */
  int i = j.rc[0] ? 0 : 1;
  snprintf(err, errlen, "%s", j.err[i]);
  heap_side_free(a);
  heap_side_free(b);
  return j.rc[i];
}

void heap_side_compare(const struct heap_snapshot *s, const struct heap_side *side,
                       uint32_t *shared, uint32_t *disagree) {
  *shared = *disagree = 0;
  if (heap_build_id_index((struct heap_snapshot *)s)) return;
  uint32_t *kinds = kind_hashes(s);
  uint32_t i = 0, j = 0, n = s->node_count;
  while (i < n && j < side->count) {
    uint32_t v = s->by_id[i], a = s->node_id[v], b = side->id[j];
    if (a < b) {
      i++;
    } else if (b < a) {
      j++;
    } else {
      (*shared)++;
      *disagree += (kinds ? kinds[v] : heap_node_kind_hash(s, v)) != side->kind[j];
      i++;
      j++;
    }
  }
  free(kinds);
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
