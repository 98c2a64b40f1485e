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
    if (!heap_edge_is_indexed_at(s, v, e) && heap_edge_name_at(s, v, e) == name) return s->edge_to[e];
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
    uint32_t *ns = realloc(b->script_node, cap * sizeof *ns);
    if (!ns) return -1;
    b->script_node = ns;
    b->cap = cap;
  }
  b->locs[b->n] = (struct heap_loc){idx / node_fields, r[field[F_SCRIPT_ID]], r[field[F_LINE]],
                                    r[field[F_COLUMN]]};
  uint32_t sn = HEAP_NO_NODE;
  if (field[F_SCRIPT_NODE] >= 0) {
    uint32_t si = r[field[F_SCRIPT_NODE]];
    if (si % node_fields == 0 && si / node_fields < s->node_count) sn = si / node_fields;
  }
  b->script_node[b->n++] = sn;
  return 0;
}

void heap_locs_discard(struct heap_locs_builder *b) {
  free(b->locs);
  free(b->script_node);
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

int heap_locs_finish(struct heap_snapshot *s, struct heap_locs_builder *b) {
  struct heap_loc *locs = b->locs;
  uint32_t *script_node = b->script_node;
  if (b->n >= UINT32_MAX) {
    heap_locs_discard(b);
    return -1;
  }
  uint32_t m = (uint32_t)b->n;
  memset(b, 0, sizeof *b);
  if (!m) {
    free(locs);
    free(script_node);
    return 0;
  }
  /* sort by node (stable: the last entry for a node wins, as in DevTools'
   * map): two 16-bit LSD radix passes through one spare pair of arrays */
  int sorted = 1;
  for (uint32_t i = 1; i < m && sorted; i++)
    sorted = locs[i - 1].node < locs[i].node;
  if (!sorted) {
    struct heap_loc *l2 = malloc((size_t)m * sizeof *l2);
    uint32_t *s2 = malloc((size_t)m * 4), *cnt = malloc(65536 * 4);
    if (!l2 || !s2 || !cnt) {
      free(l2);
      free(s2);
      free(cnt);
      goto fail;
    }
    for (int sh = 0; sh < 32; sh += 16) {
      memset(cnt, 0, 65536 * 4);
      for (uint32_t i = 0; i < m; i++)
        cnt[(locs[i].node >> sh) & 0xFFFF]++;
      for (uint32_t d = 0, sum = 0; d < 65536; d++) {
        uint32_t c = cnt[d];
        cnt[d] = sum;
        sum += c;
      }
      for (uint32_t i = 0; i < m; i++) {
        uint32_t at = cnt[(locs[i].node >> sh) & 0xFFFF]++;
        l2[at] = locs[i];
        s2[at] = script_node[i];
      }
      struct heap_loc *tl = locs;
      uint32_t *ts = script_node;
      locs = l2;
      script_node = s2;
      l2 = tl;
      s2 = ts;
    }
    free(l2);
    free(s2);
    free(cnt);
    uint32_t k = 0;
    for (uint32_t i = 0; i < m; i++) {
      if (i + 1 < m && locs[i + 1].node == locs[i].node) continue; /* last one wins */
      locs[k] = locs[i];
      script_node[k++] = script_node[i];
    }
    m = k;
  }

  /* scripts: from script_object_index, else from the closures' shared info */
  struct names nm;
  find_names(s, &nm);
  struct heap_script *scripts = malloc((size_t)m * sizeof *scripts + sizeof *scripts);
  if (!scripts) goto fail;
  uint32_t ns = 0;
  for (uint32_t i = 0; i < m; i++) {
    uint32_t sc = script_node[i];
    if (sc == HEAP_NO_NODE) sc = script_of_closure(s, &nm, locs[i].node);
    if (sc == HEAP_NO_NODE) continue;
    if (ns && scripts[ns - 1].id == locs[i].script_id) continue; /* cheap dedupe of runs */
    const char *url = script_url(s, &nm, sc);
    if (url) scripts[ns++] = (struct heap_script){locs[i].script_id, url};
  }
  free(script_node);
  script_node = NULL;
  qsort(scripts, ns, sizeof *scripts, by_script_id);
  uint32_t k = 0;
  for (uint32_t i = 0; i < ns; i++)
    if (!k || scripts[k - 1].id != scripts[i].id) scripts[k++] = scripts[i];
  s->locs = locs;
  s->loc_count = m;
  s->scripts = scripts;
  s->script_count = k;
  return 0;
fail:
  free(locs);
  free(script_node);
  return -1;
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
