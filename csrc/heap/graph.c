/* Graph indexes over the parsed columns: which edges count for dominators
 * (the dominator pass builds its own retainer lists), node id -> ordinal
 * lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

int heap_edge_is_indexed(const struct heap_snapshot *s, uint32_t e) {
  return heap_edge_is_indexed_at(s, heap_edge_from(s, e), e);
}

const char *heap_edge_name(const struct heap_snapshot *s, uint32_t e, char *buf, size_t buflen) {
  uint32_t v = heap_edge_from(s, e);
  if (heap_edge_is_indexed_at(s, v, e)) {
    snprintf(buf, buflen, "%u", heap_edge_name_at(s, v, e));
    return buf;
  }
  return heap_str(s, heap_edge_name_at(s, v, e));
}

/* The last node whose first edge is at most e (empty nodes come before the
 * node that holds e), searched between the hints of e's block of 256
 * edges: a few nodes instead of all of them. */
uint32_t heap_edge_from(const struct heap_snapshot *s, uint32_t e) {
  uint32_t b = e >> HEAP_EDGE_HINT_SHIFT, lo = 0, hi = s->node_count - 1;
  if (s->edge_from_hint && b < s->edge_hint_count) {
    lo = s->edge_from_hint[b];
    if (b + 1 < s->edge_hint_count) hi = s->edge_from_hint[b + 1];
  }
  while (hi > lo) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (s->first_edge[mid] <= e)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

int heap_build_edge_hints(struct heap_snapshot *s) {
  uint32_t n = s->node_count, count = (s->edge_count >> HEAP_EDGE_HINT_SHIFT) + 1;
  free(s->edge_from_hint);
  s->edge_from_hint = NULL;
  s->edge_hint_count = 0;
  if (!n) return 0;
  uint32_t *hint = malloc((size_t)count * 4);
  if (!hint) return -1;
  uint32_t v = 0;
  for (uint32_t b = 0; b < count; b++) {
    uint32_t e = b << HEAP_EDGE_HINT_SHIFT;
    while (v + 1 < n && s->first_edge[v + 1] <= e)
      v++;
    hint[b] = v;
  }
  s->edge_from_hint = hint;
  s->edge_hint_count = count;
  return 0;
}

/* V8 links a WeakMap's table to each value with an internal edge named
 * "<n> / part of key (K @k) -> value (V @v) pair in WeakMap (table @t)"
 * (older V8: without the "<n> / " auto-index); the same edge also leaves the
 * key. DevTools ignores the table's copy (the value lives as long as the
 * key), so do we. table_id() reads t from such a name, or returns -1. */
static int64_t table_id(const char *str) {
  const char *p = str;
  while (*p >= '0' && *p <= '9')
    p++;
  if (p > str) {
    if (strncmp(p, " / ", 3) != 0) return -1;
    p += 3;
  }
  if (strncmp(p, "part of key (", 13) != 0) return -1;
  size_t len = strlen(p);
  if (len < 2 || p[len - 1] != ')') return -1;
  const char *at = p + len - 1; /* back to the "(table @" that closes the name */
  while (at > p && at[-1] >= '0' && at[-1] <= '9')
    at--;
  if (at - p < 8 || strncmp(at - 8, "(table @", 8) != 0) return -1;
  unsigned long id = strtoul(at, NULL, 10);
  return id <= UINT32_MAX ? (int64_t)id : -1;
}

/* The table id of every string that names a WeakMap table edge, by string
 * (sorted pairs, looked up per internal edge); strings are read once. */
struct tables {
  uint32_t *str, *id, n;
};

static int find_tables(const struct heap_snapshot *s, struct tables *t) {
  uint32_t cap = 0;
  memset(t, 0, sizeof *t);
  for (uint32_t i = 0; i < s->string_count; i++) {
    const char *str = heap_str(s, i);
    if (str[0] != 'p' && (str[0] < '0' || str[0] > '9')) continue;
    int64_t id = table_id(str);
    if (id < 0) continue;
    if (t->n == cap) {
      cap = cap ? cap * 2 : 256;
      uint32_t *ns = realloc(t->str, (size_t)cap * 4), *ni;
      if (!ns) return -1;
      t->str = ns;
      ni = realloc(t->id, (size_t)cap * 4);
      if (!ni) return -1;
      t->id = ni;
    }
    t->str[t->n] = i;
    t->id[t->n++] = (uint32_t)id;
  }
  return 0;
}

static int is_weakmap_table_edge(const struct heap_snapshot *s, const struct tables *t,
                                 uint32_t from, uint32_t name) {
  uint32_t lo = 0, hi = t->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (t->str[mid] < name)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < t->n && t->str[lo] == name && t->id[lo] == s->node_id[from];
}

/* DevTools' "page-owned" objects: what the root's shortcut edges (the
 * global objects: Window, Node's global) and "(Document DOM trees)" reach
 * through non-weak edges. An edge from an object outside that set into it
 * does not count for dominators, so internals that also point into the
 * page's graph do not take over its objects. Returns a bitset or NULL. */
static uint8_t *page_owned(const struct heap_snapshot *s) {
  uint32_t n = s->node_count, root = s->root;
  uint8_t *page = calloc((size_t)n / 8 + 1, 1);
  uint32_t *stack = malloc((size_t)n * 4 + 4);
  if (!page || !stack) {
    free(page);
    free(stack);
    return NULL;
  }
  uint32_t top = 0;
#define PAGE(v) ((page[(v) >> 3] >> ((v)&7)) & 1)
#define MARK(v) (page[(v) >> 3] |= (uint8_t)(1u << ((v)&7)))
  for (uint32_t e = s->first_edge[root]; e < s->first_edge[root + 1]; e++) {
    uint32_t to = s->edge_to[e];
    uint8_t k = heap_edge_kind_at(s, root, e);
    int dom_trees = k == ET_ELEMENT && s->node_kind[s->node_type[to]] == HT_SYNTHETIC &&
                    !strcmp(heap_str(s, s->node_name[to]), "(Document DOM trees)");
    if ((k == ET_SHORTCUT || dom_trees) && !PAGE(to)) {
      MARK(to);
      stack[top++] = to;
    }
  }
  while (top > 0) {
    uint32_t v = stack[--top];
    const uint32_t *w = heap_edge_words(s, v);
    for (uint32_t e = s->first_edge[v], k = 0; e < s->first_edge[v + 1]; e++, k++) {
      uint32_t to = s->edge_to[e];
      if (PAGE(to) || s->edge_kind[heap_word_type(s, w[k])] == ET_WEAK) continue;
      MARK(to);
      stack[top++] = to;
    }
  }
#undef PAGE
#undef MARK
  free(stack);
  return page;
}

int heap_build_graph(struct heap_snapshot *s, char *err, size_t errlen) {
  uint32_t n = s->node_count, m = s->edge_count;
  if (n >= HEAP_MAX_NODES) {
    snprintf(err, errlen, "%u nodes: more than this engine supports (%u)", n, HEAP_MAX_NODES);
    return HEAP_ERANGE;
  }
  free(s->nonessential);
  free(s->essential_to);
  s->nonessential = calloc((size_t)m / 8 + 1, 1);
  s->essential_to = calloc((size_t)n / 8 + 1, 1);
  if (!s->nonessential || !s->essential_to) {
    snprintf(err, errlen, "out of memory marking the essential edges");
    return HEAP_ENOMEM;
  }
  int check_names = s->format == HEAP_FORMAT_V8;
  struct tables tables;
  uint8_t *page = find_tables(s, &tables) ? NULL : page_owned(s);
  if (!page) {
    free(tables.str);
    free(tables.id);
    snprintf(err, errlen, "out of memory marking page-owned objects");
    return HEAP_ENOMEM;
  }
  /* the names are checked per distinct word first: only a bad one sends
   * us looking for the first edge that has it */
  int bad_name = 0;
  for (uint32_t i = 0; check_names && i < s->edge_word_count && !bad_name; i++) {
    uint32_t w = s->edge_words[i], k = s->edge_kind[heap_word_type(s, w)];
    bad_name = k != ET_ELEMENT && k != ET_HIDDEN && (w & s->edge_name_mask) >= s->string_count;
  }
  for (uint32_t from = 0; from < n; from++) {
    int from_page = (page[from >> 3] >> (from & 7)) & 1;
    const uint32_t *words = heap_edge_words(s, from);
    for (uint32_t e = s->first_edge[from], end = s->first_edge[from + 1], i = 0; e < end;
         e++, i++) {
      uint32_t to = s->edge_to[e];
      uint8_t k = s->edge_kind[heap_word_type(s, words[i])];
      if (bad_name && k != ET_ELEMENT && k != ET_HIDDEN &&
          heap_edge_name_at(s, from, e) >= s->string_count) {
        snprintf(err, errlen, "at byte %llu: edge %u names string %u but there are only %u strings",
                 (unsigned long long)s->edges_offset, e, heap_edge_name_at(s, from, e),
                 s->string_count);
        free(page);
        free(tables.str);
        free(tables.id);
        return HEAP_EFORMAT;
      }
      int to_page = (page[to >> 3] >> (to & 7)) & 1;
      /* a shortcut from the root counts for dominators */
      if (k == ET_WEAK || (k == ET_SHORTCUT && from != s->root) || to == from ||
          (from != s->root && to_page && !from_page) ||
          (k == ET_INTERNAL && tables.n &&
           is_weakmap_table_edge(s, &tables, from, heap_edge_name_at(s, from, e))))
        s->nonessential[e >> 3] |= (uint8_t)(1u << (e & 7));
      else
        s->essential_to[to >> 3] |= (uint8_t)(1u << (to & 7));
    }
  }
  free(page);
  free(tables.str);
  free(tables.id);
  return HEAP_OK;
}

void heap_find_filter_strings(struct heap_snapshot *s) {
  s->str_native_context = s->str_sloppy_function_map = s->str_map_descriptors = HEAP_NO_NODE;
  if (s->format != HEAP_FORMAT_V8) return;
  for (uint32_t i = 0; i < s->string_count; i++) {
    const char *str = heap_str(s, i);
    if (str[0] == 's' && !strcmp(str, "system / NativeContext"))
      s->str_native_context = i;
    else if (str[0] == 's' && !strcmp(str, "sloppy_function_map"))
      s->str_sloppy_function_map = i;
    else if (str[0] == '(' && !strcmp(str, "(map descriptors)"))
      s->str_map_descriptors = i;
  }
}

void heap_drop_retainers(struct heap_snapshot *s) {
  (void)s; /* the dominator pass keeps its retainer lists to itself now */
}

/* LSD radix sort, two 16-bit passes. */
void heap_radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n) {
  if (n < 2) return;
  uint32_t *cnt = calloc(65536, sizeof *cnt);
  if (!cnt) { /* fall back to a slower sort rather than fail */
    for (size_t i = 1; i < n; i++) {
      uint32_t x = a[i];
      size_t j = i;
      while (j > 0 && a[j - 1] > x) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
    return;
  }
  for (int pass = 0; pass < 2; pass++) {
    int sh = pass * 16;
    memset(cnt, 0, 65536 * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
      cnt[(a[i] >> sh) & 0xFFFF]++;
    uint32_t sum = 0;
    for (size_t b = 0; b < 65536; b++) {
      uint32_t c = cnt[b];
      cnt[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[cnt[(a[i] >> sh) & 0xFFFF]++] = a[i];
    memcpy(a, tmp, n * sizeof *a);
  }
  free(cnt);
}

/* V8 writes nodes nearly in id order (4 ascending runs in the 392,295
 * nodes of the 30 MB bench file): a few runs are merged, in passes of
 * pairs, stably. 0 when there are too many runs for that to pay. */
#define MAX_RUNS 64
static int merge_runs(uint32_t *ord, uint32_t *tmp, size_t n, const uint32_t *key) {
  size_t start[MAX_RUNS + 1], r = 1;
  start[0] = 0;
  for (size_t i = 1; i < n; i++)
    if (key[ord[i]] < key[ord[i - 1]]) {
      if (r == MAX_RUNS) return 0;
      start[r++] = i;
    }
  start[r] = n;
  uint32_t *src = ord, *dst = tmp;
  while (r > 1) {
    size_t nr = 0;
    for (size_t k = 0; k < r; k += 2) {
      size_t lo = start[k];
      if (k + 1 == r) { /* the odd run out: copied as it is */
        memcpy(dst + lo, src + lo, (n - lo) * sizeof *dst);
      } else {
        size_t mid = start[k + 1], hi = start[k + 2], i = lo, j = mid, o = lo;
        while (i < mid && j < hi)
          dst[o++] = key[src[j]] < key[src[i]] ? src[j++] : src[i++];
        memcpy(dst + o, src + i, (mid - i) * sizeof *dst);
        o += mid - i;
        memcpy(dst + o, src + j, (hi - j) * sizeof *dst);
      }
      start[nr++] = lo;
    }
    start[nr] = n;
    r = nr;
    uint32_t *x = src;
    src = dst;
    dst = x;
  }
  if (src != ord) memcpy(ord, src, n * sizeof *ord);
  return 1;
}

/* Sorts ordinals by key[ordinal], stable. */
void heap_radix_sort_by_key(uint32_t *ord, uint32_t *tmp, size_t n, const uint32_t *key) {
  if (n < 2 || merge_runs(ord, tmp, n, key)) return;
  uint32_t *cnt = calloc(65536, sizeof *cnt);
  if (!cnt) {
    for (size_t i = 1; i < n; i++) {
      uint32_t x = ord[i];
      size_t j = i;
      while (j > 0 && key[ord[j - 1]] > key[x]) {
        ord[j] = ord[j - 1];
        j--;
      }
      ord[j] = x;
    }
    return;
  }
  for (int pass = 0; pass < 2; pass++) {
    int sh = pass * 16;
    memset(cnt, 0, 65536 * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
      cnt[(key[ord[i]] >> sh) & 0xFFFF]++;
    uint32_t sum = 0;
    for (size_t b = 0; b < 65536; b++) {
      uint32_t c = cnt[b];
      cnt[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[cnt[(key[ord[i]] >> sh) & 0xFFFF]++] = ord[i];
    memcpy(ord, tmp, n * sizeof *ord);
  }
  free(cnt);
}

int heap_build_id_index(struct heap_snapshot *s) {
  if (s->by_id) return 0;
  uint32_t n = s->node_count;
  uint32_t *ord = malloc((size_t)n * 4 + 4), *tmp = malloc((size_t)n * 4 + 4);
  if (!ord || !tmp) {
    free(ord);
    free(tmp);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++)
    ord[i] = i;
  heap_radix_sort_by_key(ord, tmp, n, s->node_id);
  free(tmp);
  s->by_id = ord;
  return 0;
}

uint32_t heap_find_id(struct heap_snapshot *s, uint32_t id) {
  if (heap_build_id_index(s)) return HEAP_NO_NODE;
  uint32_t lo = 0, hi = s->node_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->node_id[s->by_id[mid]] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->node_count && s->node_id[s->by_id[lo]] == id ? s->by_id[lo] : HEAP_NO_NODE;
}
