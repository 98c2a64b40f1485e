/* libFuzzer target for the heap snapshot engine: V8 .heapsnapshot and JSC
 * (Bun) snapshots go through the same entry point, heap_parse_memory(), which
 * also builds the graph, dominators and distances. When a parse succeeds
 * every analysis the Lua side exposes runs on the result, because indices
 * the parser let through only bite there. heap_side_load() (the pass over
 * leak finding's baseline and target: checked as a load checks, reduced to
 * ids, extents and type hashes) reads the same bytes through a memfd, since
 * it only takes a path (for one input in 8: it is the slow part), and must
 * accept exactly what a full parse accepts.
 *
 *   make fuzz                                  (builds build/fuzz/fuzz_heap)
 *   build/fuzz/fuzz_heap -dict=csrc/fuzz/heapsnapshot.dict CORPUS_DIR csrc/fuzz/corpus/heap
 *
 * Besides the sanitizers, a few invariants the Lua binding relies on abort
 * (they would be out-of-bounds reads there): ordinals in range, idom a node,
 * retained >= self size, first_edge monotone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap/heap.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "fuzz_heap: invariant failed: %s (line %d)\n", #c, __LINE__);                \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static volatile uint64_t sink;

/* columns.c splits the nodes/edges arrays in two halves parsed on two threads
 * when they are at least this long (8 MB); weak, so the harness still builds
 * against an engine without it. */
extern size_t heap_split_min
    __attribute__((weak)); /* keeps the reads below from being optimised away */
/* dominators.c: graphs below this many nodes take 3-byte preorder numbers */
extern uint32_t heap_lt_narrow_below __attribute__((weak));

static void check_model(struct heap_snapshot *s) {
  CHECK(s->node_count > 0);
  CHECK(s->root < s->node_count);
  CHECK(s->first_edge[0] == 0 && s->first_edge[s->node_count] == s->edge_count);
  for (uint32_t v = 0; v < s->node_count; v++) {
    CHECK(s->first_edge[v] <= s->first_edge[v + 1]);
    CHECK(s->idom[v] < s->node_count);
    CHECK(heap_retained_size(s, v) >= heap_self_size(s, v));
    sink += strlen(heap_str(s, s->node_name[v])) + s->node_kind[s->node_type[v]];
  }
  for (uint32_t e = 0; e < s->edge_count; e++) {
    char buf[32];
    CHECK(s->edge_to[e] < s->node_count);
    uint32_t from = heap_edge_from(s, e); /* the hinted search finds the node holding e */
    CHECK(from < s->node_count && s->first_edge[from] <= e && e < s->first_edge[from + 1]);
    sink += strlen(heap_edge_name(s, e, buf, sizeof buf)) + heap_edge_kind(s, e);
  }
  for (uint32_t i = 0; i < s->node_count;
       i++) /* the dominator tree's preorder: a permutation, root first */
    CHECK(s->dom_order[i] < s->node_count &&
          (i ? s->idom[s->dom_order[i]] != s->dom_order[i] : s->dom_order[0] == s->root));
  for (uint32_t i = 0; i < s->loc_count; i++) {
    struct heap_location loc;
    CHECK(s->locs[i].node < s->node_count && (!i || s->locs[i - 1].node < s->locs[i].node));
    CHECK(heap_node_location(s, s->locs[i].node, &loc) == 1 && loc.line == s->locs[i].line + 1);
    if (loc.url) sink += strlen(loc.url);
  }
}

static void exercise(struct heap_snapshot *s) {
  check_model(s);

  struct heap_class_row *rows = NULL;
  uint32_t nrows = 0;
  if (heap_summary(s, &rows, &nrows) == 0)
    for (uint32_t i = 0; i < nrows; i++)
      sink += strlen(heap_class_name(s, rows[i].cls)) + rows[i].retained;
  free(rows);

  uint32_t *top = NULL, ntop = 0;
  if (heap_top(s, 8, &top, &ntop) == 0) {
    for (uint32_t i = 0; i < ntop; i++) {
      CHECK(top[i] < s->node_count);
      uint32_t *path = NULL;
      int len = heap_retainer_path(s, top[i], &path);
      for (int k = 0; k < len; k++) {
        CHECK(path[k] < s->edge_count);
        sink += heap_edge_from(s, path[k]) + strlen(heap_node_class(s, s->edge_to[path[k]]));
      }
      free(path);
    }
  }
  free(top);

  if (heap_build_id_index(s) == 0) {
    uint32_t step = s->node_count / 16 + 1;
    for (uint32_t v = 0; v < s->node_count; v += step) {
      uint32_t o = heap_find_id(s, s->node_id[v]);
      CHECK(o < s->node_count && s->node_id[o] == s->node_id[v]);
    }
    sink += heap_find_id(s, 0xdeadbeefu);
  }

  if (heap_build_dom_tree(s) == 0)
    for (uint32_t v = 0; v < s->node_count; v++)
      for (uint32_t c = s->dom_first[v]; c < s->dom_first[v + 1]; c++)
        CHECK(s->dom_child[c] < s->node_count);

  struct heap_diff_row *d = NULL;
  uint32_t nd = 0;
  if (heap_diff(s, s, &d, &nd) == 0) CHECK(nd == 0); /* a snapshot against itself changes nothing */
  free(d);

  /* the binding's one-job analyses: detached nodes, allocation sites and their stacks */
  struct heap_class_total *dt = NULL;
  uint32_t ndt = 0;
  if (heap_detached_classes(s, &dt, &ndt) == 0)
    for (uint32_t i = 0; i < ndt; i++)
      CHECK(dt[i].cls < s->class_count && dt[i].count > 0);
  free(dt);
  struct heap_site *sites = NULL;
  uint32_t nsites = 0;
  if (heap_allocation_sites(s, &sites, &nsites) == 0)
    for (uint32_t i = 0; i < nsites; i++) {
      uint32_t frames[64];
      CHECK(sites[i].trace < s->trace_tree_count && sites[i].live_count > 0);
      uint32_t nf = heap_trace_stack(s, s->trace_tree[sites[i].trace].id, frames, 64);
      for (uint32_t k = 0; k < nf; k++)
        CHECK(heap_trace_function(s, frames[k]) != NULL);
    }
  free(sites);

  /* leaks: the base holds the lower half of the ids, the target all of them */
  struct heap_side all, half;
  if (heap_side_of(s, &all) == 0) {
    half = all;
    half.count = all.count / 2;
    struct heap_leak_result r;
    if (heap_find_leaks(s, &half, &all, &r) == 0) {
      for (uint32_t i = 0; i < r.ngroups; i++)
        CHECK(r.groups[i].example < s->node_count && r.groups[i].holder < s->node_count);
      heap_leak_result_free(&r);
    }
    heap_side_free(&all);
  }
}

static void side_pass(const uint8_t *data, size_t size, int parsed) {
  int fd = memfd_create("fuzz", 0);
  if (fd < 0) return;
  if (size && write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return;
  }
  char path[64], err[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  struct heap_side side;
  int rc = heap_side_load(path, &side, err, sizeof err, NULL, NULL);
  CHECK((rc == HEAP_OK) == parsed ||
        rc == HEAP_ENOMEM); /* as strict as a full parse, no stricter */
  if (rc == HEAP_OK)
    for (uint32_t i = 1; i < side.count; i++)
      CHECK(side.id[i - 1] <= side.id[i]);
  heap_side_free(&side);
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct heap_snapshot *s = NULL;
  char err[256];
  err[0] = 0;
  /* a hash of the input picks the paths, so a finding reproduces */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * 16777619u;
  h ^= h >> 15; /* FNV's low bits depend only on the bytes' low bits: mix the high ones in */
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  /* half of the inputs take the two-thread split parse, whatever their size */
  static size_t split_default;
  if (&heap_split_min) {
    if (!split_default) split_default = heap_split_min ? heap_split_min : 1;
    heap_split_min = (h & 16) ? 0 : split_default;
  }
  if (&heap_lt_narrow_below) heap_lt_narrow_below = (h & 32) ? 0 : 0xFFFFFFu; /* half: 4 bytes */
  int rc = heap_parse_memory((const char *)data, size, &s, err, sizeof err);
  if (rc == HEAP_OK) {
    CHECK(s != NULL);
    exercise(s);
    heap_free(s);
  } else {
    CHECK(s == NULL);
    CHECK(err[0] != 0 && memchr(err, 0, sizeof err) != NULL); /* failures always say why */
    sink += strlen(heap_err_code(rc));
  }
  /* the memfd round trip costs ~4x a whole parse (mostly in the kernel): one input in 8 */
  if ((h & 7) == 0) side_pass(data, size, rc == HEAP_OK);
  return 0;
}
