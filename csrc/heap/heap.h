/* The native heap snapshot engine: a streaming parser for V8 .heapsnapshot
 * files and JSC (Bun) snapshots into one compact graph model, plus the
 * analyses DevTools and MemLab compute from it. Pure C11, no Lua here: the
 * Lua binding lives in lua_heap.c, and a libFuzzer target can drive
 * heap_parse_memory() directly.
 *
 *   load.c        entry points, the analysis pipeline, parse-only loads (the id pass)
 *   scan.c        JSON scanning primitives (strings, skipping, meta DOM)
 *   parse.c       V8 reader: meta, nodes/edges (serial path), trace_tree
 *   columns.c     nodes/edges fast path, split over two threads
 *   jsc.c         JSC reader (root: the node with id 0)
 *   shapes.c      edge types and names, one shared list per distinct list
 *   wide.c        32-bit size columns (and string offsets) with their rare wide values
 *   graph.c       essential-edge rules, id index
 *   distances.c   distances from the root and the search's parent edges
 *   owners.c      DevTools' attribution of owned arrays' self sizes
 *   domstate.c    attached/detached state of DOM nodes
 *   dominators.c  Lengauer-Tarjan (lt_core.h: its core, for 3- and 4-byte numbers),
 *                 retained sizes, the dominator tree's preorder
 *   locations.c   source locations of functions and objects, script URLs
 *   summary.c     class names and the per-class summary
 *   diff.c        comparison of two snapshots by node id
 *   paths.c       retainer paths, top objects
 *   query.c       instances of a class, edges into a node
 *   leaks.c       three-snapshot leak finding, as a pipeline of stages
 *   leaks_side.c  the baseline and target reduced to ids, extents, type hashes
 *   leaks_rules.c the leak heuristics as rule tables; holders and collections
 *   leaks_shape.c retainer path shapes (collapsed steps) and group signatures
 *
 * Node ordinals are uint32 (below 2^30), sizes uint64 (stored in 16 bits
 * for self sizes, 32 for retained sizes, with a side map for the rare
 * larger one). Threads: the two halves of a big nodes/edges array; the edge
 * lists' packing beside the rest of the parse; the attribution and DOM
 * states beside the essential-edge marks; the distance BFS beside the
 * dominator results; leak finding's baseline and target beside the final's
 * load. Everything else runs on the caller's thread. docs/architecture.md has the memory layout. */
#ifndef MEMDBG_HEAP_H
#define MEMDBG_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NO_NODE UINT32_MAX
#define HEAP_UNREACHABLE UINT32_MAX     /* distance of nodes the BFS never reached */
#define HEAP_SYSTEM_DISTANCE 100000000u /* DevTools adds this for system-only nodes */
#define HEAP_MAX_NODES (1u << 30)       /* ordinals keep their top bits free for flags */
#define HEAP_DETACHED_MARK 0x80         /* detachedness: the snapshot marked this node detached */

/* Error codes, as strings on the Lua side. */
enum heap_err {
  HEAP_OK = 0,
  HEAP_ENOENT,
  HEAP_EIO,
  HEAP_EFORMAT,
  HEAP_ETRUNCATED,
  HEAP_ERANGE,
  HEAP_ENOMEM,
  HEAP_EIDS /* findLeaks: the snapshots' node ids do not match up (not one process) */
};
const char *heap_err_code(int err);

enum heap_format { HEAP_FORMAT_V8 = 1, HEAP_FORMAT_JSC = 2 };

/* Node types we normalise to (V8's meta order; JSC nodes map onto them). */
enum heap_node_type {
  HT_HIDDEN = 0,
  HT_ARRAY,
  HT_STRING,
  HT_OBJECT,
  HT_CODE,
  HT_CLOSURE,
  HT_REGEXP,
  HT_NUMBER,
  HT_NATIVE,
  HT_SYNTHETIC,
  HT_CONCAT_STRING,
  HT_SLICED_STRING,
  HT_SYMBOL,
  HT_BIGINT,
  HT_OBJECT_SHAPE,
  HT_OTHER /* any type this engine does not know */
};
enum heap_edge_type {
  ET_CONTEXT = 0,
  ET_ELEMENT,
  ET_PROPERTY,
  ET_INTERNAL,
  ET_HIDDEN,
  ET_SHORTCUT,
  ET_WEAK,
  ET_OTHER
};

/* One entry of the snapshot's "locations": where a function is defined, or
 * an object's constructor (V8 writes the constructor's for objects).
 * 0-based as in the file. */
struct heap_loc {
  uint32_t node, script_id, line, column;
};
/* A script the locations name, with its URL from the graph (the Script
 * node's "name" string), or NULL when the snapshot does not say. */
struct heap_script {
  uint32_t id;
  const char *url; /* points into the string pool */
};

struct heap_trace_node {                     /* one node of the allocation trace_tree, flattened */
  uint32_t id, function_info, count, parent; /* parent: index in the array or HEAP_NO_NODE */
  uint64_t size;
};

/* Node sizes in 16 (self) or 32 bits (retained), the rare wider one in a side map (wide.c). */
struct heap_wide {
  uint32_t *key; /* node + 1, 0: empty slot */
  uint64_t *val;
  size_t n, cap;
};

struct heap_snapshot {
  int format;
  uint32_t node_count, edge_count, string_count, root;
  uint64_t edges_offset; /* byte offset of the edges array, for late error messages */

  /* Type names as the file lists them; the per-node/edge byte below indexes
   * these, and kind[] maps each onto the enums above. */
  uint32_t node_type_count, edge_type_count;
  char **node_type_names, **edge_type_names;
  uint8_t node_kind[256], edge_kind[256];

  /* Nodes, one column each (structure of arrays). */
  uint8_t *node_type;
  uint32_t *node_name; /* string index */
  uint32_t *node_id;
  uint16_t *self16; /* read heap_self_size(); UINT16_MAX: in self_wide (rare: 2 nodes in
                       4.35 M on the 323 MB bench file, 4 in 89,544 on express) */
  struct heap_wide self_wide;
  uint32_t
      *first_edge; /* node_count + 1 entries: edges of n are [first_edge[n], first_edge[n+1]) */
  uint32_t *trace_node;  /* NULL unless the file has trace_node_id */
  uint8_t *detachedness; /* NULL unless the file has detachedness: the low two bits the state (0
                          * unknown, 1 attached, 2 detached; propagated as DevTools does),
                          * HEAP_DETACHED_MARK when the file itself marks the node detached */

  /* Edges, in node order: the target of each, and the types and names of
   * each node's edges as a list shared with every node whose edges read
   * alike (shapes.c): edge e of node v is the word
   * edge_words[edge_shape[v] + (e - first_edge[v])], its type (an index
   * into edge_type_names) in the bits above edge_name_bits, its name (a
   * string index, or the element index of element/hidden edges) below:
   * edge_name_mask - 1 stands for UINT32_MAX (no name), edge_name_mask for
   * a name kept whole in the wide list. Read them with
   * heap_edge_type_at(), heap_edge_kind_at(), heap_edge_name_at(). */
  uint32_t *edge_to;        /* target node ordinal */
  uint32_t *edge_from_hint; /* per 256 edges, the node edge 256k belongs to (heap_edge_from) */
  uint32_t edge_hint_count;
  uint32_t *edge_shape; /* per node */
  uint32_t *edge_words;
  uint32_t edge_word_count, edge_name_bits, edge_name_mask;
  uint32_t *wide_name_word, *wide_name, wide_name_count; /* sorted by word */

  /* Strings: NUL-terminated UTF-8 in one pool. */
  char *pool;
  uint32_t *str_off; /* string_count offsets into pool, the low 32 bits (read heap_str()) */
  uint32_t *str_wrap, str_wrap_count; /* strings from which the offsets' high part grows by 1 */

  /* Allocation sites (trace_function_infos as 6-tuples, trace_tree flattened). */
  uint32_t trace_fn_fields, trace_fn_count;
  uint32_t *trace_fn; /* trace_fn_count * trace_fn_fields numbers */
  int trace_fn_name, trace_fn_script, trace_fn_line, trace_fn_column; /* field positions or -1 */
  uint32_t trace_tree_count;
  struct heap_trace_node *trace_tree;

  /* Source locations, sorted by node ordinal (one per node at most), and
   * the scripts they name, sorted by id. */
  uint32_t loc_count, script_count;
  struct heap_loc *locs;
  struct heap_script *scripts;

  /* Derived graph data, built by heap_build_graph(). */
  uint8_t *nonessential; /* bitset over edges: ignored by dominators (DevTools' rules) */
  uint8_t *essential_to; /* bitset over nodes with an essential retainer: heap_build_graph
                            marks it, the dominator pass takes it over */
  uint32_t *parent_edge; /* shortest-path parent edge per node (built lazily) */
  /* strings DevTools' distance filter looks for (HEAP_NO_NODE if absent) */
  uint32_t str_native_context, str_sloppy_function_map, str_map_descriptors;
  uint32_t *idom;       /* immediate dominator ordinal (root's is root) */
  uint32_t *dom_order;  /* the dominator tree in preorder (root first) */
  uint32_t *retained32; /* read heap_retained_size(); UINT32_MAX: in retained_wide */
  struct heap_wide retained_wide;
  uint32_t *distance;
  uint32_t *by_id;    /* ordinals sorted by id (built lazily) */
  uint32_t *class_of; /* class index per node (built lazily) */
  uint32_t class_count;
  const char **class_label; /* class -> its name */
  uint32_t *class_name_id;  /* class -> interned name (classes of one name share it) */
  uint32_t *class_loc;      /* class -> index in locs (objects split by constructor), or NO_NODE */
  char **class_strings;     /* names that are not in the pool, owned */
  uint32_t class_string_count;
  int raw; /* loaded raw: V8's self sizes and node names, no DevTools attribution or naming */
  int want_parent_edges;           /* the distance pass keeps parent_edge (heap_load_opts) */
  uint32_t *dom_first, *dom_child; /* dominator tree children, CSR (built lazily) */
};

/* ---- Node sizes (wide.c) ---- */
uint64_t heap_wide_get(const struct heap_wide *w, uint32_t k);
int heap_wide_put(struct heap_wide *w, uint32_t k, uint64_t v); /* -1 when out of memory */
void heap_wide_free(struct heap_wide *w);
static inline uint64_t heap_self_size(const struct heap_snapshot *s, uint32_t v) {
  uint16_t x = s->self16[v];
  return x != UINT16_MAX ? x : heap_wide_get(&s->self_wide, v);
}
static inline uint64_t heap_retained_size(const struct heap_snapshot *s, uint32_t v) {
  uint32_t x = s->retained32[v];
  return x != UINT32_MAX ? x : heap_wide_get(&s->retained_wide, v);
}
int heap_set_self_size(struct heap_snapshot *s, uint32_t v, uint64_t x); /* -1: out of memory */
int heap_set_retained_size(struct heap_snapshot *s, uint32_t v, uint64_t x);

/* Progress callback: done/total in bytes of input. */
typedef void (*heap_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* ---- Parsing (parse.c, jsc.c) ---- */
/* Parses a snapshot held in memory; on failure returns an enum heap_err and
 * writes a message naming the byte offset into err. Also builds the graph
 * (retainers, dominators, retained sizes, distances). */
int heap_parse_memory(const char *buf, size_t len, struct heap_snapshot **out, char *err,
                      size_t errlen);
int heap_parse_memory_ex(const char *buf, size_t len, struct heap_snapshot **out, char *err,
                         size_t errlen, heap_progress_fn progress, void *ud);
/* Maps the file and parses it, releasing consumed pages as it goes. */
int heap_load_file(const char *path, struct heap_snapshot **out, char *err, size_t errlen,
                   heap_progress_fn progress, void *ud);
/* Parses and checks a file as heap_load_file does, without the graph
 * analyses (no dominators or distances) and without source locations
 * (their numbers are checked, not kept). */
int heap_load_unanalysed(const char *path, struct heap_snapshot **out, char *err, size_t errlen,
                         heap_progress_fn progress, void *ud);
/* Load options. raw: keep V8's self sizes and node names (no DevTools
 * self-size attribution, DOM state propagation, Function/RegExp/"{a, b}"
 * names or location split); dominators and distances follow DevTools'
 * rules either way. */
struct heap_load_opts {
  int raw;
  int parent_edges; /* keep the distance search's parent edges (leak finding walks them) */
};
int heap_load_file_opts(const char *path, const struct heap_load_opts *o,
                        struct heap_snapshot **out, char *err, size_t errlen,
                        heap_progress_fn progress, void *ud);
int heap_parse_memory_opts(const char *buf, size_t len, const struct heap_load_opts *o,
                           struct heap_snapshot **out, char *err, size_t errlen);
void heap_free(struct heap_snapshot *s);

/* ---- Graph (graph.c, dominators.c) ---- */
int heap_build_graph(struct heap_snapshot *s, char *err, size_t errlen);
/* Kept for callers: the retainer index now lives and dies inside
 * heap_compute_dominators(), so there is nothing left to drop. */
void heap_drop_retainers(struct heap_snapshot *s);
int heap_compute_dominators(struct heap_snapshot *s);
/* The same in two halves, so other work can run beside the second:
 * begin numbers the graph and runs Lengauer-Tarjan's main loop (NULL when
 * out of memory); end maps the results to nodes, fills idom, dom_order and
 * retained (from the self sizes as they are then) and frees the state. */
struct heap_lt;
extern uint32_t heap_lt_narrow_below; /* graphs below this many nodes: 3-byte numbers (tests) */
struct heap_lt *heap_dominators_begin(struct heap_snapshot *s);
int heap_dominators_end(struct heap_snapshot *s, struct heap_lt *t); /* -1 when out of memory */
int heap_compute_distances(struct heap_snapshot *s);                 /* distances.c */
int heap_build_id_index(struct heap_snapshot *s);
uint32_t heap_find_id(struct heap_snapshot *s, uint32_t id); /* ordinal or HEAP_NO_NODE */
int heap_build_dom_tree(struct heap_snapshot *s);
int heap_build_parent_edges(struct heap_snapshot *s); /* distances.c: the search's tree */
/* DevTools' self-size attribution (owners.c): the self size of an (array),
 * hidden or ExternalStringData node that one object alone reaches (through
 * other such nodes) moves into that object; skipped when the root has no
 * user roots. Returns -1 when out of memory. */
int heap_attribute_self_sizes(struct heap_snapshot *s);
/* DevTools' DOM state propagation (domstate.c): native nodes reachable from
 * an attached native node are attached, the rest reachable from a detached
 * one detached (hidden and weak edges not followed), written back into
 * s->detachedness. */
int heap_propagate_dom_state(struct heap_snapshot *s);
void heap_mark_detached_roots(struct heap_snapshot *s); /* sets HEAP_DETACHED_MARK */
/* A child of the root that DevTools counts as a user root: not synthetic,
 * or "(Document DOM trees)". */
int heap_is_user_root(const struct heap_snapshot *s, uint32_t v);
void heap_find_filter_strings(struct heap_snapshot *s);
void heap_radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n);
void heap_radix_sort_by_key(uint32_t *ord, uint32_t *tmp, size_t n, const uint32_t *key);
static inline int heap_edge_nonessential(const struct heap_snapshot *s, uint32_t e) {
  return (s->nonessential[e >> 3] >> (e & 7)) & 1;
}
uint64_t heap_str_high(const struct heap_snapshot *s, uint32_t i); /* pools past 4 GiB */
static inline const char *heap_str(const struct heap_snapshot *s, uint32_t i) {
  if (i >= s->string_count) return "";
  uint64_t off = s->str_off[i];
  if (s->str_wrap_count) off += heap_str_high(s, i) << 32;
  return s->pool + off;
}
/* Takes n 64-bit string offsets (malloc'd) into s->str_off and
 * s->str_wrap, in place; -1 when out of memory, -2 when offsets past 4 GiB
 * are not ascending (off is freed either way). */
int heap_set_string_offsets(struct heap_snapshot *s, uint64_t *off, uint32_t n);
/* Name of an edge: its string, or its index as text in buf. */
const char *heap_edge_name(const struct heap_snapshot *s, uint32_t e, char *buf, size_t buflen);
int heap_edge_is_indexed(const struct heap_snapshot *s, uint32_t e);

/* ---- Edge types and names (shapes.c) ---- */
/* Builds edge_shape/edge_words from per-edge columns (the parser's),
 * which the caller then frees. -1 when out of memory. */
int heap_build_edge_words(struct heap_snapshot *s, uint8_t *type, uint32_t *name);
uint32_t heap_edge_wide_name(const struct heap_snapshot *s, uint32_t word); /* the slow path */
/* The words of node v's edges: element k is edge first_edge[v] + k. */
static inline const uint32_t *heap_edge_words(const struct heap_snapshot *s, uint32_t v) {
  return s->edge_words + s->edge_shape[v];
}
static inline uint8_t heap_word_type(const struct heap_snapshot *s, uint32_t w) {
  return (uint8_t)(w >> s->edge_name_bits);
}
/* Edge e of node v (e in [first_edge[v], first_edge[v + 1])). */
static inline uint8_t heap_edge_type_at(const struct heap_snapshot *s, uint32_t v, uint32_t e) {
  return heap_word_type(s, heap_edge_words(s, v)[e - s->first_edge[v]]);
}
static inline uint8_t heap_edge_kind_at(const struct heap_snapshot *s, uint32_t v, uint32_t e) {
  return s->edge_kind[heap_edge_type_at(s, v, e)];
}
static inline uint32_t heap_edge_name_at(const struct heap_snapshot *s, uint32_t v, uint32_t e) {
  uint32_t i = s->edge_shape[v] + (e - s->first_edge[v]), w = s->edge_words[i] & s->edge_name_mask;
  return w < s->edge_name_mask - 1 ? w : heap_edge_wide_name(s, i);
}
static inline int heap_edge_is_indexed_at(const struct heap_snapshot *s, uint32_t v, uint32_t e) {
  uint8_t k = heap_edge_kind_at(s, v, e);
  return k == ET_ELEMENT || k == ET_HIDDEN;
}
/* The same for an edge alone (finds its node first: a binary search). */
uint8_t heap_edge_type(const struct heap_snapshot *s, uint32_t e);
uint32_t heap_edge_name_index(const struct heap_snapshot *s, uint32_t e);
static inline uint8_t heap_edge_kind(const struct heap_snapshot *s, uint32_t e) {
  return s->edge_kind[heap_edge_type(s, e)];
}

/* ---- Source locations (locations.c) ---- */
/* Reads the raw "locations" numbers (count values, `fields` per entry;
 * field[] gives the position of object_index, script_id,
 * script_object_index, line, column, or -1) once nodes, edges and strings
 * are in: keeps the entries that name a node, and finds each script's URL
 * in the graph (the Script node of script_object_index, or a closure's
 * shared -> script -> name). Returns -1 when out of memory. */
int heap_read_locations(struct heap_snapshot *s, const uint32_t *raw, size_t count, uint32_t fields,
                        const int field[5], uint32_t node_fields);
/* The same one entry at a time (the parser streams them from the text):
 * add each entry, then finish (sorts, finds the scripts, hands over to s);
 * discard frees what an unfinished builder holds. -1 when out of memory. */
struct heap_locs_builder {
  struct heap_loc *locs;
  size_t n, cap;
  struct heap_script *scripts; /* the URLs found so far, by the first entry that leads to one */
  uint32_t nscripts, scripts_cap;
  uint32_t *found; /* open-addressing set of script ids (id + 1) settled, URL or not */
  size_t found_cap, nfound;
  int named; /* the edge names below are looked up */
  uint32_t str_shared, str_script, str_script_or_debug_info, str_name;
};
int heap_locs_add(const struct heap_snapshot *s, struct heap_locs_builder *b, const uint32_t *entry,
                  uint32_t fields, const int field[5], uint32_t node_fields);
int heap_locs_finish(struct heap_snapshot *s, struct heap_locs_builder *b);
void heap_locs_discard(struct heap_locs_builder *b);
struct heap_location {
  uint32_t script_id;
  uint32_t line, column; /* 1-based */
  const char *url;       /* NULL when the snapshot does not name the script */
};
/* The source location of node n: a function's own, an object's
 * constructor's. Returns 1 and fills *loc, or 0 when the node has none. */
int heap_node_location(const struct heap_snapshot *s, uint32_t n, struct heap_location *loc);
/* Index of node n's entry in s->locs, or HEAP_NO_NODE. */
uint32_t heap_location_index(const struct heap_snapshot *s, uint32_t n);
/* The URL of script `id`, or NULL. */
const char *heap_script_url(const struct heap_snapshot *s, uint32_t id);

/* ---- Classes (classes.c) and the summary (summary.c) ---- */
int heap_build_classes(struct heap_snapshot *s);
const char *heap_class_name(const struct heap_snapshot *s, uint32_t cls);
const char *heap_node_class(const struct heap_snapshot *s, uint32_t n);
/* The location a class is split by (objects whose constructors share a name
 * but not a place); 0 when the class has none. */
int heap_class_location(const struct heap_snapshot *s, uint32_t cls, struct heap_location *loc);
struct heap_class_row {
  uint32_t cls, count;
  uint64_t shallow, retained;
  uint32_t min_distance;
};
/* Rows for every class with at least one node of self size > 0, sorted by
 * retained size descending. Caller frees *rows. */
int heap_summary(struct heap_snapshot *s, struct heap_class_row **rows, uint32_t *nrows);

/* ---- Diff (diff.c) ---- */
struct heap_diff_row {
  const char *name; /* points into one of the two snapshots */
  int has_location; /* the class is split by constructor location */
  struct heap_location location;
  uint32_t added, deleted;
  uint64_t alloc_size, freed_size;
};
int heap_diff(struct heap_snapshot *cur, struct heap_snapshot *base, struct heap_diff_row **rows,
              uint32_t *nrows);
/* The same rows from class counts and sizes alone, for snapshots whose ids
 * were renumbered (heap_ids_compare): added/alloc_size is the growth of a
 * class, deleted/freed_size its shrinking. */
int heap_diff_by_class(struct heap_snapshot *cur, struct heap_snapshot *base,
                       struct heap_diff_row **rows, uint32_t *nrows);

/* ---- Paths and top objects (paths.c) ---- */
/* Shortest retainer path from the root to node n, as edge indexes (the
 * first edge leaves the root). Returns the length, or -1 if unreachable;
 * *edges is malloc'd. */
int heap_retainer_path(struct heap_snapshot *s, uint32_t n, uint32_t **edges);
/* Ordinals of the n largest objects by retained size (root and synthetic
 * nodes excluded). */
int heap_top(struct heap_snapshot *s, uint32_t n, uint32_t **out, uint32_t *count);
uint32_t heap_edge_from(const struct heap_snapshot *s, uint32_t e);
/* The hints heap_edge_from() searches between (built by every load; -1
 * when out of memory, and the search then covers all nodes). */
#define HEAP_EDGE_HINT_SHIFT 8
int heap_build_edge_hints(struct heap_snapshot *s);

/* ---- Queries (query.c) ---- */
/* Ordinals of the nodes of every class called `name` (self size > 0, as the
 * summary counts them), largest retained size first; *count is at most
 * limit (0: no limit), *total how many there are. Caller frees *out. */
int heap_instances(struct heap_snapshot *s, const char *name, uint32_t limit, uint32_t **out,
                   uint32_t *count, uint32_t *total);
/* Ordinals of the nodes v immediately dominates, largest retained size
 * first. Caller frees *out. */
int heap_dominated(struct heap_snapshot *s, uint32_t v, uint32_t **out, uint32_t *count);
/* Indexes of the edges pointing to node v, in edge order (a scan of every
 * edge: the retainer index is dropped after loading). Caller frees. */
int heap_node_retainers(const struct heap_snapshot *s, uint32_t v, uint32_t **edges,
                        uint32_t *count);

/* ---- Leaks (leaks*.c) ---- */
/* What leak finding keeps of the baseline and the target snapshot (loaded
 * and checked in full, then dropped): the node ids, sorted, and per id the
 * node's extent (its own edges plus those of its storage: a Map or Set
 * table, an array's elements, a dictionary's properties; 0 for kinds that
 * never hold a leak: strings, arrays, code...) and a hash of its type and
 * name, which must agree wherever another snapshot has that id. */
struct heap_side {
  uint32_t count;
  uint32_t *id, *extent, *kind;
};
int heap_side_load(const char *path, struct heap_side *out, char *err, size_t errlen,
                   heap_progress_fn progress, void *ud);
int heap_side_of(const struct heap_snapshot *s, struct heap_side *out);
/* The three inputs of leak finding: the baseline's and the target's sides
 * on a second thread while this one loads the final in full
 * (MEMDBG_HEAP_THREADS=1: one after the other). The first failing file in
 * the order baseline, target, final decides the error, as loading them in
 * order would. */
int heap_load_leak_inputs(const char *baseline, const char *target, const char *final,
                          const struct heap_load_opts *o, struct heap_side *a, struct heap_side *b,
                          struct heap_snapshot **out, char *err, size_t errlen,
                          heap_progress_fn progress, void *ud);
void heap_side_free(struct heap_side *side);
uint32_t heap_node_extent(const struct heap_snapshot *s, uint32_t v);
uint32_t heap_node_kind_hash(const struct heap_snapshot *s, uint32_t v);
/* Ids s shares with side, and how many of those name a node of another
 * type or name there: V8 renumbers objects when a new profiling session
 * starts, so two sessions' snapshots reuse ids for unrelated objects. */
void heap_side_compare(const struct heap_snapshot *s, const struct heap_side *side,
                       uint32_t *shared, uint32_t *disagree);
/* The same check between two loaded snapshots (diff). */
void heap_ids_compare(const struct heap_snapshot *a, const struct heap_snapshot *b,
                      uint32_t *shared, uint32_t *disagree);
/* Whether disagree out of shared ids means the ids were renumbered. */
int heap_ids_renumbered(uint32_t shared, uint32_t disagree, uint32_t fewer_nodes);

struct heap_leak_group {
  uint32_t cls;              /* class of the leaked objects */
  uint32_t fn_name;          /* closures: the function's name (string index), else HEAP_NO_NODE */
  uint32_t holder;           /* ordinal of the holder: the nearest object above them that the
                                baseline already had (the root when none) */
  uint32_t count;            /* members allocated by the first action and alive at the end */
  uint32_t growth[2];        /* new after the first action, new after the second */
  uint32_t example;          /* the member with the largest retained size */
  uint64_t retained;         /* members not held by another member of the group */
  uint32_t holder_extent[3]; /* baseline, target, final; UINT32_MAX when unknown */
  uint32_t nested;           /* every member is held inside another leaked object */
  uint32_t direct;           /* the holder is a collection found growing after each action */
  uint32_t trace;            /* the allocation trace node most members come from (0: none) */
  uint32_t trace_count;      /* how many members come from it */
  uint64_t signature;        /* leaked class and the scope variable or global keeping it
                                (leaks_shape.c): stable across hunts and runs */
  uint32_t tier; /* 0 the program's own objects, 1 its closures, 2 named classes, 3 the rest */
};
/* Per class, objects alive at the end that each action allocated. */
struct heap_leak_class {
  uint32_t cls, rounds[2];
  uint64_t size;
};
struct heap_leak_result {
  struct heap_leak_group *groups;
  uint32_t ngroups;
  struct heap_leak_class *classes; /* classes that both actions grew, largest size first */
  uint32_t nclasses;
};
int heap_find_leaks(struct heap_snapshot *final, const struct heap_side *base,
                    const struct heap_side *target, struct heap_leak_result *out);
void heap_leak_result_free(struct heap_leak_result *r);
/* Hash of the shortest path from the root to v (its `last` steps nearest v;
 * 0 for all), with element indexes, numbered internal edges (Map/Set tables)
 * and runs of one step (linked lists) collapsed; names, not ids. */
uint64_t heap_path_shape(struct heap_snapshot *s, uint32_t v, uint32_t last);
/* Whether edge e is one step of a run to collapse into one (an element,
 * a numbered internal edge, a linked-list link). */
int heap_edge_collapses(const struct heap_snapshot *s, uint32_t e);

/* ---- Lists of one analysis each (detached.c, sites.c, ids.c) ---- */
struct heap_class_total {
  uint32_t cls, count;
  uint64_t size;
};
/* Detached DOM nodes (those the snapshot itself marks) per class: count and
 * retained size, in class order. Caller frees *out; -1 when out of memory. */
int heap_detached_classes(struct heap_snapshot *s, struct heap_class_total **out, uint32_t *n);
struct heap_site {
  uint32_t trace; /* index in trace_tree */
  uint32_t live_count;
  uint64_t live_size;
};
/* Adds the live objects each trace_tree node allocated (the nodes whose
 * trace_node_id names it) into count[i] and size[i], arrays of
 * trace_tree_count the caller zeroed; -1 when out of memory. */
int heap_trace_live(const struct heap_snapshot *s, uint32_t *count, uint64_t *size);
/* Live objects per trace_tree node of a snapshot taken with allocation
 * tracking (none without one), in trace_tree order. Caller frees *out. */
int heap_allocation_sites(const struct heap_snapshot *s, struct heap_site **out, uint32_t *n);
/* trace_tree index of trace node `id`, or HEAP_NO_NODE. */
uint32_t heap_trace_index(const struct heap_snapshot *s, uint32_t id);
/* The trace_function_infos entry of trace_tree index t, or NULL. */
const uint32_t *heap_trace_function(const struct heap_snapshot *s, uint32_t t);
/* The allocation stack of trace node `id`, from the allocating function
 * outwards, as trace_tree indexes (frames without a script left out): at
 * most max of them into frames; returns how many. */
uint32_t heap_trace_stack(const struct heap_snapshot *s, uint32_t id, uint32_t *frames,
                          uint32_t max);
struct heap_id_match {
  uint32_t shared, disagree; /* ids in common, and of those naming another type or name */
  int by_class;              /* renumbered: objects cannot be matched by id */
};
/* diff of cur against base: by id, or by class when the ids were renumbered
 * (how says which and why). */
int heap_diff_matched(struct heap_snapshot *cur, struct heap_snapshot *base,
                      struct heap_diff_row **rows, uint32_t *n, struct heap_id_match *how);
/* The first of the sides whose ids s does not share (another session or
 * process), with how, or -1 when every side matches. */
int heap_sides_renumbered(const struct heap_snapshot *s, const struct heap_side *const *sides,
                          int nsides, struct heap_id_match *how);

#endif
