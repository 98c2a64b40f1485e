/* Source locations: the snapshot's "locations" array says where each
 * function was defined and, for an object, where its constructor was
 * (0-based line and column, and a script id). The script's URL is not in
 * the array: it is in the graph, so an offline file names it too. Newer V8
 * writes the Script node's index in each entry (script_object_index);
 * older V8 (Node 20) only the script id, and the Script hangs off every
 * closure: closure -shared-> SharedFunctionInfo -script (or
 * script_or_debug_info)-> Script -name-> the URL string. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

enum { F_NODE, F_SCRIPT_ID, F_SCRIPT_NODE, F_LINE, F_COLUMN };

struct names {
  uint32_t shared, script, script_or_debug_info, name;
};

static void find_names(const struct heap_snapshot *s, struct names *n) {
  n->shared = n->script = n->script_or_debug_info = n->name = HEAP_NO_NODE;
  for (uint32_t i = 0; i < s->string_count; i++) {
    const char *str = heap_str(s, i);
    if (str[0] != 's' && str[0] != 'n') continue;
    if (!strcmp(str, "shared"))
      n->shared = i;
    else if (!strcmp(str, "script"))
      n->script = i;
    else if (!strcmp(str, "script_or_debug_info"))
      n->script_or_debug_info = i;
    else if (!strcmp(str, "name"))
      n->name = i;
  }
}

/* Target of v's first named (property/internal/...) edge called `name`. */
static uint32_t edge_target(const struct heap_snapshot *s, uint32_t v, uint32_t name) {
  if (name == HEAP_NO_NODE) return HEAP_NO_NODE;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (!heap_edge_is_indexed_at(s, v, e) && heap_edge_name_at(s, v, e) == name)
      return s->edge_to[e];
  return HEAP_NO_NODE;
}

static uint32_t script_of_closure(const struct heap_snapshot *s, const struct names *nm,
                                  uint32_t v) {
  if (s->node_kind[s->node_type[v]] != HT_CLOSURE) return HEAP_NO_NODE;
  uint32_t sfi = edge_target(s, v, nm->shared);
  if (sfi == HEAP_NO_NODE) return HEAP_NO_NODE;
  uint32_t sc = edge_target(s, sfi, nm->script);
  return sc != HEAP_NO_NODE ? sc : edge_target(s, sfi, nm->script_or_debug_info);
}

/* The Script node's URL: its "name" string; failing that, its own name
 * (Node names Script nodes by URL, Chromium "system / Script / URL"). */
static const char *script_url(const struct heap_snapshot *s, const struct names *nm, uint32_t sc) {
  uint32_t str = edge_target(s, sc, nm->name);
  if (str != HEAP_NO_NODE) {
    uint8_t k = s->node_kind[s->node_type[str]];
    const char *url = heap_str(s, s->node_name[str]);
    if ((k == HT_STRING || k == HT_SLICED_STRING) && url[0]) return url;
  }
  const char *own = heap_str(s, s->node_name[sc]);
  static const char prefix[] = "system / Script / ";
  if (!strncmp(own, prefix, sizeof prefix - 1)) return own + sizeof prefix - 1;
  if (!strncmp(own, "system / ", 9) || !own[0]) return NULL;
  return own;
}

static int by_script_id(const void *a, const void *b) {
  const struct heap_script *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static size_t id_slot(uint32_t id, size_t cap) {
  return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static int found(const struct heap_locs_builder *b, uint32_t id) {
  if (!b->found_cap) return 0;
  for (size_t i = id_slot(id, b->found_cap);; i = (i + 1) & (b->found_cap - 1)) {
    if (!b->found[i]) return 0;
    if (b->found[i] == id + 1) return 1;
  }
}

/* Marks script `id` settled, with its URL or none (NULL: its Script node
 * has no URL); -1 when out of memory. */
static int add_script(struct heap_locs_builder *b, uint32_t id, const char *url) {
  if (url) {
    if (b->nscripts == b->scripts_cap) {
      uint32_t cap = b->scripts_cap ? b->scripts_cap * 2 : 64;
      struct heap_script *ns = realloc(b->scripts, cap * sizeof *ns);
      if (!ns) return -1;
      b->scripts = ns;
      b->scripts_cap = cap;
    }
    b->scripts[b->nscripts++] = (struct heap_script){id, url};
  }
  if ((b->nfound + 1) * 2 > b->found_cap) {
    size_t cap = b->found_cap ? b->found_cap * 2 : 128;
    uint32_t *nf = calloc(cap, 4);
    if (!nf) return -1;
    for (size_t i = 0; i < b->found_cap; i++) {
      if (!b->found[i]) continue;
      size_t j = id_slot(b->found[i] - 1, cap);
      while (nf[j])
        j = (j + 1) & (cap - 1);
      nf[j] = b->found[i];
    }
    free(b->found);
    b->found = nf;
    b->found_cap = cap;
  }
  size_t j = id_slot(id, b->found_cap);
  while (b->found[j])
    j = (j + 1) & (b->found_cap - 1);
  b->found[j] = id + 1;
  b->nfound++;
  return 0;
}

int heap_locs_add(const struct heap_snapshot *s, struct heap_locs_builder *b, const uint32_t *r,
                  uint32_t fields, const int field[5], uint32_t node_fields) {
  (void)fields;
  if (field[F_NODE] < 0 || field[F_SCRIPT_ID] < 0 || field[F_LINE] < 0 || field[F_COLUMN] < 0 ||
      !node_fields)
    return 0;
  /* keep the entries that name a node */
  uint32_t idx = r[field[F_NODE]];
  if (idx % node_fields || idx / node_fields >= s->node_count) return 0;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap + b->cap / 2 : 1024;
    struct heap_loc *nl = realloc(b->locs, cap * sizeof *nl);
    if (!nl) return -1;
    b->locs = nl;
    b->cap = cap;
  }
  uint32_t id = r[field[F_SCRIPT_ID]], v = idx / node_fields;
  b->locs[b->n++] = (struct heap_loc){v, id, r[field[F_LINE]], r[field[F_COLUMN]]};
  /* the script's URL, from the graph: the Script node of
   * script_object_index, else the closure's shared info; tried entry by
   * entry until one leads to the Script node */
  if (found(b, id)) return 0;
  struct names nm;
  if (!b->named) {
    find_names(s, &nm);
    b->str_shared = nm.shared;
    b->str_script = nm.script;
    b->str_script_or_debug_info = nm.script_or_debug_info;
    b->str_name = nm.name;
    b->named = 1;
  }
  nm = (struct names){b->str_shared, b->str_script, b->str_script_or_debug_info, b->str_name};
  uint32_t sc = HEAP_NO_NODE;
  if (field[F_SCRIPT_NODE] >= 0) {
    uint32_t si = r[field[F_SCRIPT_NODE]];
    if (si % node_fields == 0 && si / node_fields < s->node_count) sc = si / node_fields;
  }
  if (sc == HEAP_NO_NODE) sc = script_of_closure(s, &nm, v);
  return sc == HEAP_NO_NODE ? 0 : add_script(b, id, script_url(s, &nm, sc));
}

void heap_locs_discard(struct heap_locs_builder *b) {
  free(b->locs);
  free(b->scripts);
  free(b->found);
  memset(b, 0, sizeof *b);
}

int heap_read_locations(struct heap_snapshot *s, const uint32_t *raw, size_t count, uint32_t fields,
                        const int field[5], uint32_t node_fields) {
  struct heap_locs_builder b = {0};
  if (!fields) return 0;
  for (size_t i = 0; i + fields <= count; i += fields)
    if (heap_locs_add(s, &b, raw + i, fields, field, node_fields)) {
      heap_locs_discard(&b);
      return -1;
    }
  return heap_locs_finish(s, &b);
}

/* In-place MSD radix sort by node, 8 bits a level from the top (American
 * flag sort: each bucket's front swaps its misplaced entries to theirs),
 * small buckets by insertion. */
static void msd_sort(struct heap_loc *l, size_t m, int shift) {
  if (m < 32) {
    for (size_t i = 1; i < m; i++) {
      struct heap_loc x = l[i];
      size_t j = i;
      for (; j > 0 && l[j - 1].node > x.node; j--)
        l[j] = l[j - 1];
      l[j] = x;
    }
    return;
  }
  size_t start[257], next[256];
  memset(next, 0, sizeof next);
  for (size_t i = 0; i < m; i++)
    next[(l[i].node >> shift) & 255]++;
  start[0] = 0;
  for (int d = 0; d < 256; d++) {
    start[d + 1] = start[d] + next[d];
    next[d] = start[d];
  }
  for (int d = 0; d < 256; d++)
    while (next[d] < start[d + 1]) {
      uint32_t to = (l[next[d]].node >> shift) & 255;
      if (to == (uint32_t)d) {
        next[d]++;
        continue;
      }
      struct heap_loc x = l[next[to]];
      l[next[to]++] = l[next[d]];
      l[next[d]] = x;
    }
  if (shift > 0)
    for (int d = 0; d < 256; d++)
      msd_sort(l + start[d], start[d + 1] - start[d], shift - 8);
}

/* Sorts the entries by node, the last entry for a node winning (as in
 * DevTools' map), in place: drop the earlier duplicates (a bitset over the
 * nodes), then sort what is left. */
static int sort_by_node(const struct heap_snapshot *s, struct heap_loc *l, uint32_t *m) {
  uint8_t *has = calloc((size_t)s->node_count / 8 + 1, 1);
  if (!has) return -1;
  uint32_t k = *m;
  for (uint32_t i = *m; i-- > 0;) { /* from the end: the last one stays */
    uint32_t v = l[i].node;
    if ((has[v >> 3] >> (v & 7)) & 1) continue;
    has[v >> 3] |= (uint8_t)(1u << (v & 7));
    l[--k] = l[i];
  }
  free(has);
  memmove(l, l + k, (size_t)(*m - k) * sizeof *l);
  *m -= k;
  int shift = 0;
  while (shift < 24 && (s->node_count - 1) >> (shift + 8))
    shift += 8;
  msd_sort(l, *m, shift);
  return 0;
}

int heap_locs_finish(struct heap_snapshot *s, struct heap_locs_builder *b) {
  struct heap_loc *locs = b->locs;
  struct heap_script *scripts = b->scripts;
  uint32_t m = (uint32_t)b->n, ns = b->nscripts;
  free(b->found);
  memset(b, 0, sizeof *b);
  int sorted = 1;
  for (uint32_t i = 1; i < m && sorted; i++)
    sorted = locs[i - 1].node < locs[i].node;
  if (!sorted && sort_by_node(s, locs, &m)) {
    free(locs);
    free(scripts);
    return -1;
  }
  if (ns) qsort(scripts, ns, sizeof *scripts, by_script_id);
  s->locs = locs;
  s->loc_count = m;
  s->scripts = scripts;
  s->script_count = ns;
  return 0;
}

uint32_t heap_location_index(const struct heap_snapshot *s, uint32_t n) {
  uint32_t lo = 0, hi = s->loc_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->locs[mid].node < n)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->loc_count && s->locs[lo].node == n ? lo : HEAP_NO_NODE;
}

const char *heap_script_url(const struct heap_snapshot *s, uint32_t id) {
  uint32_t lo = 0, hi = s->script_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->scripts[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->script_count && s->scripts[lo].id == id ? s->scripts[lo].url : NULL;
}

int heap_node_location(const struct heap_snapshot *s, uint32_t n, struct heap_location *loc) {
  uint32_t i = heap_location_index(s, n);
  if (i == HEAP_NO_NODE) return 0;
  const struct heap_loc *l = &s->locs[i];
  loc->script_id = l->script_id;
  loc->line = l->line + 1;
  loc->column = l->column + 1;
  loc->url = heap_script_url(s, l->script_id);
  return 1;
}
