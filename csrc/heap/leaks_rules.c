/* The leak finder's heuristics, as two small chains of named rules (the way
 * MemLab's leak filter is a chain): which new objects can be reported, and
 * which groups are leaks. A rule names why it excludes, so the list reads as
 * the policy. Plus the holder tests: a holder existed in the baseline and
 * the target; a collection is a holder with storage of its own (a Map or Set
 * table, an array's elements, a dictionary's properties), whose extent can be
 * compared from one snapshot to the next. */
#include <string.h>

#include "leaks.h"

#define NONE UINT32_MAX

/* ---- what can be reported as a leaked object ---- */

/* Strings, numbers, arrays' backing stores, code and V8's hidden objects only
 * ever leak as part of an object, closure, regexp or native object. */
static int not_reportable(const struct leak_ctx *c, uint32_t v) {
  uint8_t k = c->s->node_kind[c->s->node_type[v]];
  return k != HT_OBJECT && k != HT_CLOSURE && k != HT_REGEXP && k != HT_NATIVE;
}

/* Not reachable from the root: garbage the collector has not taken yet. */
static int unreachable(const struct leak_ctx *c, uint32_t v) {
  return c->s->parent_edge[v] == UINT32_MAX;
}

/* V8's own bookkeeping objects ("system / Context" and the like) come and go
 * with the objects that need them: report those, not these. */
static int system_object(const struct leak_ctx *c, uint32_t v) {
  return strncmp(heap_str(c->s, c->s->node_name[v]), "system / ", 9) == 0;
}

static const struct {
  const char *excludes;
  int (*test)(const struct leak_ctx *c, uint32_t v);
} candidate_rules[] = {
    {"strings, numbers, backing stores, code and hidden nodes", not_reportable},
    {"objects no path from the root reaches", unreachable},
    {"V8's bookkeeping objects (system / ...)", system_object},
};

int leak_rules_candidate(const struct leak_ctx *c, uint32_t v) {
  for (size_t i = 0; i < sizeof candidate_rules / sizeof *candidate_rules; i++)
    if (candidate_rules[i].test(c, v)) return 0;
  return 1;
}

/* ---- which groups are leaks ---- */

/* Allocated by the first action only: the second one left none alive
 * (lazily built caches, one-time initialisation). Without a second round
 * (the final snapshot is the target) growth cannot be judged. */
static int not_grown_again(const struct leak_ctx *c, const struct heap_leak_group *g) {
  return g->count == 0 || (c->second_round && g->growth[1] == 0);
}

/* Ages of the new objects a collection holds directly in its storage: bit
 * AGE_NEW1 and bit AGE_NEW2. */
static void add_age(const struct leak_ctx *c, uint32_t h, uint32_t container, uint32_t m,
                    void *ud) {
  (void)h;
  (void)container;
  *(unsigned *)ud |= 1u << c->cand[m];
}

static unsigned entry_ages(const struct leak_ctx *c, uint32_t h) {
  unsigned ages = 0;
  leak_each_entry(c, h, add_age, &ages);
  return ages;
}

/* Held in a collection that replaced entries (both actions put some there)
 * while its storage did not grow after each action: a bounded cache, an LRU
 * at its limit, does not leak. (A collection whose entries are not replaced,
 * a listener list's head in a Map, holds its leak further in.) */
static int bounded_holder(const struct leak_ctx *c, const struct heap_leak_group *g) {
  if (!leak_is_collection(c, g->holder)) return 0;
  const uint32_t *x = g->holder_extent;
  if (x[0] == NONE || x[1] == NONE || x[2] == NONE) return 0;
  if (x[0] < x[1] && x[1] < x[2]) return 0;
  unsigned ages = entry_ages(c, g->holder);
  return (ages & (1u << AGE_NEW1)) && (ages & (1u << AGE_NEW2));
}

static const struct {
  const char *excludes;
  int (*test)(const struct leak_ctx *c, const struct heap_leak_group *g);
} group_rules[] = {
    {"groups the second action did not grow", not_grown_again},
    {"groups held in a collection that stayed bounded", bounded_holder},
};

int leak_rules_group(const struct leak_ctx *c, const struct heap_leak_group *g) {
  for (size_t i = 0; i < sizeof group_rules / sizeof *group_rules; i++)
    if (group_rules[i].test(c, g)) return 0;
  return 1;
}

/* Whether a script is the program's own: not the runtime's (node:, ext:,
 * deno:, extensions), not a dependency's (node_modules). */
static int user_script(const char *url) {
  if (!url || !url[0]) return 0;
  static const char *runtime[] = {
      "node:", "ext:", "deno:", "internal/", "extensions::", "chrome-extension:", "v8/", NULL};
  for (const char **r = runtime; *r; r++)
    if (strncmp(url, *r, strlen(*r)) == 0) return 0;
  return strstr(url, "/node_modules/") == NULL;
}

/* JavaScriptCore's own cells and the built-in classes, by name: a JSC
 * snapshot has no source locations to tell the program's classes by, so
 * these rank after the named classes that are left (the program's). */
static int jsc_runtime_class(const char *name) {
  static const char *exact[] = {"Function",
                                "AsyncFunction",
                                "GeneratorFunction",
                                "Array",
                                "Object",
                                "Map",
                                "Set",
                                "WeakMap",
                                "WeakSet",
                                "WeakRef",
                                "Promise",
                                "Timeout",
                                "Immediate",
                                "RegExp",
                                "Date",
                                "Error",
                                "Arguments",
                                "Symbol",
                                "Sentinel",
                                "GetterSetter",
                                "CustomGetterSetter",
                                "SymbolTable",
                                "BigInt",
                                "Cell Butterfly",
                                "Map Iterator",
                                "Set Iterator",
                                "Array Iterator",
                                "FinalizationRegistry",
                                NULL};
  static const char *suffix[] = {"Environment", "Executable", "CodeBlock", "RareData", NULL};
  for (const char **e = exact; *e; e++)
    if (!strcmp(name, *e)) return 1;
  if (!strncmp(name, "Structure", 9) || !strncmp(name, "Property", 8) ||
      (name[0] == 'J' && name[1] == 'S' && name[2] >= 'A' && name[2] <= 'Z'))
    return 1;
  size_t n = strlen(name);
  for (const char **x = suffix; *x; x++) {
    size_t k = strlen(*x);
    if (n >= k && !strcmp(name + n - k, *x)) return 1;
  }
  return 0;
}

/* The program's own objects first (their constructor is in its code), then
 * its closures, then objects of named classes (JSC: not the engine's own),
 * then the rest. */
int leak_rules_tier(const struct leak_ctx *c, const struct heap_leak_group *g) {
  const struct heap_snapshot *s = c->s;
  uint32_t v = g->example;
  if (v == NONE) return 4;
  uint8_t k = s->node_kind[s->node_type[v]];
  struct heap_location loc;
  int user = heap_node_location(s, v, &loc) && user_script(loc.url);
  if (user && k != HT_CLOSURE) return 0;
  if (user) return 1;
  const char *name = heap_str(s, s->node_name[v]);
  if (s->format == HEAP_FORMAT_JSC && jsc_runtime_class(name)) return 3;
  if (k != HT_CLOSURE && name[0] && name[0] != '(' && strncmp(name, "system / ", 9) != 0) return 2;
  return 3;
}

/* ---- holders and collections ---- */

/* Whether v hangs off its parent by a linked-list link (`next`, `_idleNext`...):
 * a member of a list, not what holds the list. */
static int list_member(const struct leak_ctx *c, uint32_t v) {
  const struct heap_snapshot *s = c->s;
  uint32_t e = s->parent_edge[v];
  if (e == UINT32_MAX) return 0;
  uint32_t from = heap_edge_from(s, e);
  if (heap_edge_kind_at(s, from, e) != ET_PROPERTY) return 0;
  for (uint32_t i = 0; i < c->nlinks; i++)
    if (heap_edge_name_at(s, from, e) == c->link_names[i]) return 1;
  return 0;
}

/* A holder existed in the baseline and the target, and is an object (not a
 * backing store or V8 internal), and not itself a member of a linked list. */
int leak_holder_kind(uint8_t k) {
  return k == HT_OBJECT || k == HT_CLOSURE || k == HT_NATIVE || k == HT_SYNTHETIC;
}

int leak_rules_holder(const struct leak_ctx *c, uint32_t v) {
  if (c->age[v] != AGE_OLD) return 0;
  if (v == c->s->root) return 1;
  if (!leak_holder_kind(c->s->node_kind[c->s->node_type[v]])) return 0;
  return !list_member(c, v);
}

void leak_rules_init(struct leak_ctx *c) {
  const struct heap_snapshot *s = c->s;
  static const char *links[] = {"next",  "prev",  "previous",    "_idleNext",      "_idlePrev",
                                "_next", "_prev", "nextSibling", "previousSibling"};
  c->str_table = c->str_elements = c->str_properties = NONE;
  c->nlinks = 0;
  if (s->format != HEAP_FORMAT_V8) return;
  for (uint32_t i = 0; i < s->string_count; i++) {
    const char *t = heap_str(s, i);
    if (!strchr("tepn_", t[0]) || !t[0]) continue; /* none of the names below: most strings */
    if (!strcmp(t, "table"))
      c->str_table = i;
    else if (!strcmp(t, "elements"))
      c->str_elements = i;
    else if (!strcmp(t, "properties"))
      c->str_properties = i;
    else
      for (size_t k = 0; k < sizeof links / sizeof *links; k++)
        if (!strcmp(t, links[k]) && c->nlinks < sizeof c->link_names / sizeof *c->link_names)
          c->link_names[c->nlinks++] = i;
  }
}

int leak_is_storage(const struct leak_ctx *c, uint32_t from, uint32_t e) {
  const struct heap_snapshot *s = c->s;
  if (heap_edge_kind_at(s, from, e) != ET_INTERNAL) return 0;
  uint32_t name = heap_edge_name_at(s, from, e);
  if (name != c->str_table && name != c->str_elements && name != c->str_properties) return 0;
  uint8_t k = s->node_kind[s->node_type[s->edge_to[e]]];
  return k == HT_ARRAY || k == HT_HIDDEN;
}

/* Entries of collection h: the targets of its element edges (JSC arrays hold
 * their elements so) and of every edge of its storage. */
void leak_each_entry(const struct leak_ctx *c, uint32_t h, leak_entry_fn fn, void *ud) {
  const struct heap_snapshot *s = c->s;
  for (uint32_t e = s->first_edge[h]; e < s->first_edge[h + 1]; e++) {
    if (heap_edge_kind_at(s, h, e) == ET_ELEMENT) {
      fn(c, h, h, s->edge_to[e], ud);
    } else if (leak_is_storage(c, h, e)) {
      uint32_t t = s->edge_to[e];
      for (uint32_t f = s->first_edge[t]; f < s->first_edge[t + 1]; f++)
        fn(c, h, t, s->edge_to[f], ud);
    }
  }
}

/* The edges first, the holder rules last: those look up the node's parent
 * (a search over first_edge), and most nodes hold nothing. */
int leak_is_collection(const struct leak_ctx *c, uint32_t v) {
  const struct heap_snapshot *s = c->s;
  if (c->age[v] != AGE_OLD || !leak_holder_kind(s->node_kind[s->node_type[v]])) return 0;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (heap_edge_kind_at(s, v, e) == ET_ELEMENT) return leak_rules_holder(c, v);
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (leak_is_storage(c, v, e)) {
      uint32_t t = s->edge_to[e];
      /* an empty store holds nothing */
      if (s->first_edge[t + 1] > s->first_edge[t]) return leak_rules_holder(c, v);
    }
  return 0;
}

static uint32_t side_extent(const struct heap_side *side, uint32_t id) {
  uint32_t lo = 0, hi = side->count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (side->id[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < side->count && side->id[lo] == id ? side->extent[lo] : NONE;
}

/* Edges of v's own storage (0 when it has none). */
static uint64_t storage_edges(const struct leak_ctx *c, uint32_t v) {
  const struct heap_snapshot *s = c->s;
  uint64_t x = 0;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (leak_is_storage(c, v, e)) {
      uint32_t t = s->edge_to[e];
      x += s->first_edge[t + 1] - s->first_edge[t];
    }
  return x;
}

/* A node's extent: its edges, those of its own storage, and those of the
 * storage of each entry there (a Map of arrays, a dictionary of listener
 * arrays such as an EventEmitter's _events: the growth is one level in). */
uint32_t leak_extent(const struct leak_ctx *c, uint32_t v) {
  const struct heap_snapshot *s = c->s;
  uint64_t x = s->first_edge[v + 1] - s->first_edge[v];
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
    if (leak_is_storage(c, v, e)) {
      uint32_t t = s->edge_to[e];
      x += s->first_edge[t + 1] - s->first_edge[t];
      for (uint32_t f = s->first_edge[t]; f < s->first_edge[t + 1]; f++) {
        uint8_t k = s->node_kind[s->node_type[s->edge_to[f]]];
        if (k == HT_OBJECT) x += storage_edges(c, s->edge_to[f]);
      }
    }
  return x > NONE - 1 ? NONE - 1 : (uint32_t)x;
}

void leak_holder_extents(const struct leak_ctx *c, uint32_t v, uint32_t ext[3]) {
  const struct heap_snapshot *s = c->s;
  ext[2] = leak_extent(c, v);
  ext[0] = c->base_at[v] != NONE ? c->base->extent[c->base_at[v]] : NONE;
  ext[1] = side_extent(c->target, s->node_id[v]);
}
