/* memdbg._heap: the Lua binding of the heap snapshot engine, and nothing
 * else: each function checks its arguments, calls the engine (heap.h) and
 * builds tables; the text people read (labels, paths, messages) is
 * lua/memdbg/analysis/heap.lua's, the public API that wraps these. Only the
 * Lua API subset shared by Lua 5.4 and LuaJIT is used (see compat.h). */
#include <stdlib.h>
#include <string.h>

#include "allocfuncs.h"
#include "columns.h"
#include "compat.h"
#include "heap.h"

#define SNAP_MT "memdbg.heap.snapshot"
#define ERRLEN 512

struct snap_ud {
  struct heap_snapshot *s;
};

static struct heap_snapshot *check_open(lua_State *L, int i) {
  struct snap_ud *u = luaL_checkudata(L, i, SNAP_MT);
  if (!u->s) luaL_error(L, "heap snapshot is closed");
  return u->s;
}

static int push_error(lua_State *L, int code, const char *msg) {
  lua_pushnil(L);
  lua_pushstring(L, msg);
  lua_pushstring(L, heap_err_code(code));
  return 3;
}

/* nil, nil, code: a failure heap.lua puts in words (ERANGE, EUNREACHABLE) */
static int push_code(lua_State *L, const char *code) {
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushstring(L, code);
  return 3;
}

/* Progress: call the Lua function at stack index `fn` (errors ignored, a
 * progress bar must not abort a load). */
struct progress {
  lua_State *L;
  int fn;
};

static void progress_cb(void *ud, uint64_t done, uint64_t total) {
  struct progress *p = ud;
  lua_pushvalue(p->L, p->fn);
  lua_pushinteger(p->L, (lua_Integer)done);
  lua_pushinteger(p->L, (lua_Integer)total);
  if (lua_pcall(p->L, 2, 0, 0) != 0) lua_pop(p->L, 1);
}

/* load(path[, progress[, raw]]) */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct progress p = {L, 2};
  int has_progress = lua_type(L, 2) == LUA_TFUNCTION;
  if (!has_progress && !lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "progress must be a function");
  struct heap_load_opts o = {.raw = lua_toboolean(L, 3)};
  char err[ERRLEN] = "";
  struct snap_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = NULL;
  luaL_setmetatable(L, SNAP_MT);
  int rc =
      heap_load_file_opts(path, &o, &u->s, err, sizeof err, has_progress ? progress_cb : NULL, &p);
  if (rc) return push_error(L, rc, err);
  heap_drop_retainers(u->s);
  return 1;
}

/* parse(text[, raw]) */
static int l_parse(lua_State *L) {
  size_t len;
  const char *buf = luaL_checklstring(L, 1, &len);
  struct heap_load_opts o = {.raw = lua_toboolean(L, 2)};
  char err[ERRLEN] = "";
  struct snap_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = NULL;
  luaL_setmetatable(L, SNAP_MT);
  int rc = heap_parse_memory_opts(buf, len, &o, &u->s, err, sizeof err);
  if (rc) return push_error(L, rc, err);
  heap_drop_retainers(u->s);
  return 1;
}

static int l_close(lua_State *L) {
  struct snap_ud *u = luaL_checkudata(L, 1, SNAP_MT);
  heap_free(u->s);
  u->s = NULL;
  return 0;
}

static int l_info(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, s->node_count);
  lua_setfield(L, -2, "nodeCount");
  lua_pushinteger(L, s->edge_count);
  lua_setfield(L, -2, "edgeCount");
  lua_pushstring(L, s->format == HEAP_FORMAT_JSC ? "jsc" : "v8");
  lua_setfield(L, -2, "format");
  lua_pushinteger(L, (lua_Integer)heap_retained_size(s, s->root));
  lua_setfield(L, -2, "totalSize");
  lua_pushinteger(L, s->string_count);
  lua_setfield(L, -2, "stringCount");
  lua_pushboolean(L, s->trace_tree_count > 0);
  lua_setfield(L, -2, "hasAllocationTraces");
  lua_pushboolean(L, s->raw);
  lua_setfield(L, -2, "raw");
  return 1;
}

static const char *node_type_name(const struct heap_snapshot *s, uint32_t v) {
  return s->node_type_names[s->node_type[v]];
}

static void push_loc(lua_State *L, const struct heap_location *l) {
  const struct heap_location loc = *l;
  lua_createtable(L, 0, 4);
  if (loc.url) {
    lua_pushstring(L, loc.url);
    lua_setfield(L, -2, "url");
  }
  lua_pushinteger(L, loc.line);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, loc.column);
  lua_setfield(L, -2, "column");
  lua_pushinteger(L, loc.script_id);
  lua_setfield(L, -2, "scriptId");
}

/* Pushes {url, line, column, scriptId} (1-based; url absent when the
 * snapshot does not name the script) or nothing; returns 1 if pushed. */
static int push_location(lua_State *L, const struct heap_snapshot *s, uint32_t v) {
  struct heap_location loc;
  if (!heap_node_location(s, v, &loc)) return 0;
  push_loc(L, &loc);
  return 1;
}

static void push_node(lua_State *L, struct heap_snapshot *s, uint32_t v) {
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, s->node_id[v]);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, heap_str(s, s->node_name[v]));
  lua_setfield(L, -2, "name");
  lua_pushstring(L, heap_node_class(s, v));
  lua_setfield(L, -2, "className");
  lua_pushstring(L, node_type_name(s, v));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)heap_self_size(s, v));
  lua_setfield(L, -2, "selfSize");
  lua_pushinteger(L, (lua_Integer)heap_retained_size(s, v));
  lua_setfield(L, -2, "retainedSize");
  if (s->distance[v] != HEAP_UNREACHABLE) {
    lua_pushinteger(L, s->distance[v]);
    lua_setfield(L, -2, "distance");
  }
  lua_pushinteger(L, s->first_edge[v + 1] - s->first_edge[v]);
  lua_setfield(L, -2, "edgeCount");
  if (v != s->root) {
    lua_pushinteger(L, s->node_id[s->idom[v]]);
    lua_setfield(L, -2, "dominatorId");
  }
  if (s->detachedness) {
    lua_pushboolean(L, (s->detachedness[v] & 3) == 2);
    lua_setfield(L, -2, "detached");
  }
  if (s->trace_node && s->trace_node[v]) {
    lua_pushinteger(L, s->trace_node[v]);
    lua_setfield(L, -2, "traceNodeId");
  }
  if (push_location(L, s, v)) lua_setfield(L, -2, "location");
}

static uint32_t check_id(lua_State *L, struct heap_snapshot *s, int i) {
  lua_Integer id = luaL_checkinteger(L, i);
  if (id < 0 || id > (lua_Integer)UINT32_MAX) return HEAP_NO_NODE;
  return heap_find_id(s, (uint32_t)id);
}

static int l_node(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = check_id(L, s, 2);
  if (v == HEAP_NO_NODE) return push_code(L, "ERANGE");
  if (heap_build_classes(s)) return luaL_error(L, "out of memory");
  push_node(L, s, v);
  return 1;
}

/* location(id) -> {url, line, column, scriptId} | nil (none) | nil, nil, "ERANGE" */
static int l_location(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = check_id(L, s, 2);
  if (v == HEAP_NO_NODE) return push_code(L, "ERANGE");
  if (!push_location(L, s, v)) lua_pushnil(L);
  return 1;
}

static uint32_t node_or_error(lua_State *L, struct heap_snapshot *s) {
  uint32_t v = check_id(L, s, 2);
  if (v == HEAP_NO_NODE) push_code(L, "ERANGE");
  return v;
}

/* {name, type, to|from = id}: element and hidden edges are named by their index */
static void push_edge(lua_State *L, const struct heap_snapshot *s, uint32_t e, const char *end,
                      uint32_t node) {
  lua_createtable(L, 0, 3);
  uint32_t from = heap_edge_from(s, e);
  if (heap_edge_is_indexed_at(s, from, e))
    lua_pushinteger(L, heap_edge_name_at(s, from, e));
  else
    lua_pushstring(L, heap_str(s, heap_edge_name_at(s, from, e)));
  lua_setfield(L, -2, "name");
  lua_pushstring(L, s->edge_type_names[heap_edge_type_at(s, from, e)]);
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, s->node_id[node]);
  lua_setfield(L, -2, end);
}

/* instances(className, limit) -> {ids, largest retained first}, total */
static int l_instances(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  const char *name = luaL_checkstring(L, 2);
  lua_Integer limit = luaL_optinteger(L, 3, 0);
  uint32_t *ords, n, total;
  if (heap_instances(s, name, limit > 0 && limit < UINT32_MAX ? (uint32_t)limit : 0, &ords, &n,
                     &total))
    return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_pushinteger(L, s->node_id[ords[i]]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(ords);
  lua_pushinteger(L, total);
  return 2;
}

/* edges(id) -> {{name, type, to}, ...} in the snapshot's order */
static int l_edges(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = node_or_error(L, s);
  if (v == HEAP_NO_NODE) return 3;
  lua_createtable(L, (int)(s->first_edge[v + 1] - s->first_edge[v]), 0);
  int k = 0;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
    push_edge(L, s, e, "to", s->edge_to[e]);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* retainers(id) -> {{name, type, from}, ...} */
static int l_retainers(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = node_or_error(L, s);
  if (v == HEAP_NO_NODE) return 3;
  uint32_t *edges, n;
  if (heap_node_retainers(s, v, &edges, &n)) return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    push_edge(L, s, edges[i], "from", heap_edge_from(s, edges[i]));
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(edges);
  return 1;
}

/* dominator(id) -> id of its immediate dominator | nil for the root */
static int l_dominator(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = node_or_error(L, s);
  if (v == HEAP_NO_NODE) return 3;
  if (v == s->root)
    lua_pushnil(L);
  else
    lua_pushinteger(L, s->node_id[s->idom[v]]);
  return 1;
}

/* dominated(id) -> ids of the nodes it immediately dominates, largest retained first */
static int l_dominated(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = node_or_error(L, s);
  if (v == HEAP_NO_NODE) return 3;
  uint32_t *kids, n;
  if (heap_dominated(s, v, &kids, &n)) return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_pushinteger(L, s->node_id[kids[i]]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(kids);
  return 1;
}

static int l_summary(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  lua_Integer top = luaL_optinteger(L, 2, 0);
  struct heap_class_row *rows;
  uint32_t n;
  if (heap_summary(s, &rows, &n)) return luaL_error(L, "out of memory computing the summary");
  if (top > 0 && (lua_Integer)n > top) n = (uint32_t)top;
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 5);
    lua_pushstring(L, heap_class_name(s, rows[i].cls));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, rows[i].count);
    lua_setfield(L, -2, "count");
    lua_pushinteger(L, (lua_Integer)rows[i].shallow);
    lua_setfield(L, -2, "shallowSize");
    lua_pushinteger(L, (lua_Integer)rows[i].retained);
    lua_setfield(L, -2, "retainedSize");
    if (rows[i].min_distance != HEAP_UNREACHABLE) {
      lua_pushinteger(L, rows[i].min_distance);
      lua_setfield(L, -2, "distance");
    }
    struct heap_location loc;
    if (heap_class_location(s, rows[i].cls, &loc)) {
      push_loc(L, &loc);
      lua_setfield(L, -2, "location");
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(rows);
  return 1;
}

/* diff(base) -> rows, {matchedBy = "id" | "class", sharedIds, disagreeingIds} */
static int l_diff(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  struct heap_snapshot *base = check_open(L, 2);
  struct heap_diff_row *rows = NULL;
  uint32_t n = 0;
  struct heap_id_match how;
  if (heap_diff_matched(s, base, &rows, &n, &how))
    return luaL_error(L, "out of memory computing the diff");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 7);
    lua_pushstring(L, rows[i].name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, rows[i].added);
    lua_setfield(L, -2, "new");
    lua_pushinteger(L, rows[i].deleted);
    lua_setfield(L, -2, "deleted");
    lua_pushinteger(L, (lua_Integer)rows[i].added - (lua_Integer)rows[i].deleted);
    lua_setfield(L, -2, "delta");
    lua_pushinteger(L, (lua_Integer)rows[i].alloc_size);
    lua_setfield(L, -2, "allocSize");
    lua_pushinteger(L, (lua_Integer)rows[i].freed_size);
    lua_setfield(L, -2, "freedSize");
    lua_pushinteger(L, (lua_Integer)rows[i].alloc_size - (lua_Integer)rows[i].freed_size);
    lua_setfield(L, -2, "sizeDelta");
    if (rows[i].has_location) {
      push_loc(L, &rows[i].location);
      lua_setfield(L, -2, "location");
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(rows);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, how.by_class ? "class" : "id");
  lua_setfield(L, -2, "matchedBy");
  lua_pushinteger(L, how.shared);
  lua_setfield(L, -2, "sharedIds");
  lua_pushinteger(L, how.disagree);
  lua_setfield(L, -2, "disagreeingIds");
  return 2;
}

/* Pushes the steps of the shortest path to node v: an array of tables
 * {id, name, className, type, edge, edgeType, indexed?}, plus location? for
 * a query (locations) or collapses? for a leak report; the first step is
 * the root's child the path starts from. The text people read is
 * heap.lua's. Returns the length, -1 (nothing pushed) when v is
 * unreachable. */
static int push_steps(lua_State *L, struct heap_snapshot *s, uint32_t v, int locations) {
  uint32_t *edges;
  int len = heap_retainer_path(s, v, &edges);
  if (len < 0) return -1;
  lua_createtable(L, len, 0);
  for (int i = 0; i < len; i++) {
    uint32_t e = edges[i], to = s->edge_to[e];
    char nbuf[32];
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, s->node_id[to]);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, heap_str(s, s->node_name[to]));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, heap_node_class(s, to));
    lua_setfield(L, -2, "className");
    lua_pushstring(L, node_type_name(s, to));
    lua_setfield(L, -2, "type");
    lua_pushstring(L, heap_edge_name(s, e, nbuf, sizeof nbuf));
    lua_setfield(L, -2, "edge");
    lua_pushstring(L, s->edge_type_names[heap_edge_type(s, e)]);
    lua_setfield(L, -2, "edgeType");
    if (heap_edge_is_indexed(s, e)) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "indexed");
    }
    if (locations) {
      if (push_location(L, s, to)) lua_setfield(L, -2, "location");
    } else if (heap_edge_collapses(s, e)) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "collapses");
    }
    lua_rawseti(L, -2, i + 1);
  }
  free(edges);
  return len;
}

static int l_retainer_path(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  uint32_t v = check_id(L, s, 2);
  if (v == HEAP_NO_NODE) return push_code(L, "ERANGE");
  if (heap_build_classes(s)) return luaL_error(L, "out of memory");
  if (push_steps(L, s, v, 1) < 0) return push_code(L, "EUNREACHABLE");
  return 1;
}

static int l_top(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  lua_Integer k = luaL_optinteger(L, 2, 20);
  if (k < 0 || k > (lua_Integer)s->node_count) k = s->node_count;
  uint32_t *ords, n;
  if (heap_build_classes(s) || heap_top(s, (uint32_t)k, &ords, &n))
    return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    push_node(L, s, ords[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(ords);
  return 1;
}

/* detached() -> {{name, count, retainedSize}, ...}: detached DOM nodes per class */
static int l_detached(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  struct heap_class_total *rows;
  uint32_t n;
  if (heap_detached_classes(s, &rows, &n)) return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, heap_class_name(s, rows[i].cls));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, rows[i].count);
    lua_setfield(L, -2, "count");
    lua_pushinteger(L, (lua_Integer)rows[i].size);
    lua_setfield(L, -2, "retainedSize");
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(rows);
  return 1;
}

/* line and column of trace function info f: V8 writes them 1-based already
 * (AllocationTracker adds one), 0 for none, which is left out. */
static void push_position(lua_State *L, const struct heap_snapshot *s, const uint32_t *f) {
  if (s->trace_fn_line >= 0 && f[s->trace_fn_line] > 0) {
    lua_pushinteger(L, (lua_Integer)f[s->trace_fn_line]);
    lua_setfield(L, -2, "line");
  }
  if (s->trace_fn_column >= 0 && f[s->trace_fn_column] > 0) {
    lua_pushinteger(L, (lua_Integer)f[s->trace_fn_column]);
    lua_setfield(L, -2, "column");
  }
}

/* allocationFunctions() -> {{functionName, url, line?, column?, count, size,
 * totalSize, liveCount, liveSize}, ...} (allocfuncs.c) */
static int l_allocation_functions(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  struct heap_alloc_fn *rows;
  int n = heap_allocation_functions(s, &rows);
  if (n < 0) return luaL_error(L, "out of memory");
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    const struct heap_alloc_fn *r = &rows[i];
    const uint32_t *f = s->trace_fn + (size_t)r->function_info * s->trace_fn_fields;
    lua_createtable(L, 0, 9);
    lua_pushstring(L, s->trace_fn_name >= 0 ? heap_str(s, f[s->trace_fn_name]) : "");
    lua_setfield(L, -2, "functionName");
    lua_pushstring(L, s->trace_fn_script >= 0 ? heap_str(s, f[s->trace_fn_script]) : "");
    lua_setfield(L, -2, "url");
    push_position(L, s, f);
    lua_pushinteger(L, (lua_Integer)r->count);
    lua_setfield(L, -2, "count");
    lua_pushinteger(L, (lua_Integer)r->size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)r->total_size);
    lua_setfield(L, -2, "totalSize");
    lua_pushinteger(L, (lua_Integer)r->live_count);
    lua_setfield(L, -2, "liveCount");
    lua_pushinteger(L, (lua_Integer)r->live_size);
    lua_setfield(L, -2, "liveSize");
    lua_rawseti(L, -2, i + 1);
  }
  free(rows);
  return 1;
}

/* allocationSites() -> {{traceNodeId, liveCount, liveSize, functionName?, scriptName?, line?,
 * column?}, ...}: live objects per trace_tree node (sites.c) */
static int l_allocation_sites(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  struct heap_site *rows;
  uint32_t n;
  if (heap_allocation_sites(s, &rows, &n)) return luaL_error(L, "out of memory");
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, s->trace_tree[rows[i].trace].id);
    lua_setfield(L, -2, "traceNodeId");
    lua_pushinteger(L, rows[i].live_count);
    lua_setfield(L, -2, "liveCount");
    lua_pushinteger(L, (lua_Integer)rows[i].live_size);
    lua_setfield(L, -2, "liveSize");
    const uint32_t *f = heap_trace_function(s, rows[i].trace);
    if (f) {
      if (s->trace_fn_name >= 0) {
        lua_pushstring(L, heap_str(s, f[s->trace_fn_name]));
        lua_setfield(L, -2, "functionName");
      }
      if (s->trace_fn_script >= 0) {
        lua_pushstring(L, heap_str(s, f[s->trace_fn_script]));
        lua_setfield(L, -2, "scriptName");
      }
      push_position(L, s, f);
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(rows);
  return 1;
}

/* Pushes the allocation stack of trace node `id` (heap_trace_stack): frames
 * from the allocating function outwards, {functionName, url, line?, column?}. */
static void push_trace_frames(lua_State *L, struct heap_snapshot *s, uint32_t id) {
  uint32_t frames[64];
  uint32_t n = heap_trace_stack(s, id, frames, 64);
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *f = heap_trace_function(s, frames[i]);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, s->trace_fn_name >= 0 ? heap_str(s, f[s->trace_fn_name]) : "");
    lua_setfield(L, -2, "functionName");
    lua_pushstring(L, heap_str(s, f[s->trace_fn_script]));
    lua_setfield(L, -2, "url");
    push_position(L, s, f);
    lua_rawseti(L, -2, (int)i + 1);
  }
}

static void push_leak_group(lua_State *L, struct heap_snapshot *s,
                            const struct heap_leak_group *g) {
  lua_createtable(L, 0, 16);
  lua_pushstring(L, heap_class_name(s, g->cls));
  lua_setfield(L, -2, "class");
  if (g->fn_name != HEAP_NO_NODE) {
    lua_pushstring(L, heap_str(s, g->fn_name));
    lua_setfield(L, -2, "functionName");
  }
  lua_pushinteger(L, g->count);
  lua_setfield(L, -2, "count");
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, g->growth[0]);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, g->growth[1]);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "growth");
  lua_pushinteger(L, (lua_Integer)g->retained);
  lua_setfield(L, -2, "retainedSize");
  lua_pushinteger(L, s->node_id[g->example]);
  lua_setfield(L, -2, "exampleId");
  lua_pushboolean(L, (int)g->nested);
  lua_setfield(L, -2, "nested");
  if (push_steps(L, s, g->example, 0) < 0) lua_newtable(L);
  lua_setfield(L, -2, "path");
  struct heap_location loc;
  if (heap_node_location(s, g->example, &loc)) {
    lua_createtable(L, 0, 3);
    if (loc.url) {
      lua_pushstring(L, loc.url);
      lua_setfield(L, -2, "url");
    }
    lua_pushinteger(L, loc.line);
    lua_setfield(L, -2, "line");
    lua_pushinteger(L, loc.column);
    lua_setfield(L, -2, "column");
    lua_setfield(L, -2, "location");
  }
  /* two 32-bit halves: a Lua 5.1 number cannot hold 64 bits */
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, (lua_Integer)(g->signature >> 32));
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, (lua_Integer)(g->signature & 0xFFFFFFFFu));
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "signature");
  /* the holder */
  lua_createtable(L, 0, 9);
  lua_pushinteger(L, s->node_id[g->holder]);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, heap_str(s, s->node_name[g->holder]));
  lua_setfield(L, -2, "name");
  lua_pushstring(L, heap_node_class(s, g->holder));
  lua_setfield(L, -2, "className");
  lua_pushstring(L, node_type_name(s, g->holder));
  lua_setfield(L, -2, "type");
  if (push_steps(L, s, g->holder, 0) < 0) lua_newtable(L);
  lua_setfield(L, -2, "path");
  lua_createtable(L, 3, 0);
  for (int i = 0; i < 3; i++) {
    if (g->holder_extent[i] == UINT32_MAX)
      lua_pushboolean(L, 0);
    else
      lua_pushinteger(L, g->holder_extent[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "edges");
  lua_pushboolean(L, (int)g->direct);
  lua_setfield(L, -2, "growing");
  lua_pushinteger(L, (lua_Integer)heap_retained_size(s, g->holder));
  lua_setfield(L, -2, "retainedSize");
  lua_setfield(L, -2, "holder");
  if (g->trace) {
    lua_createtable(L, 0, 3);
    push_trace_frames(L, s, g->trace);
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, g->trace_count);
    lua_setfield(L, -2, "count");
    lua_setfield(L, -2, "allocation");
  }
}

/* findLeaks(baseline, target, final[, progress[, raw]]) -> groups, nodeCount, classes, format
 * | nil, err, code | nil, nil, "EIDS", side (1 baseline, 2 target), shared, disagree */
static int l_find_leaks(lua_State *L) {
  const char *pa = luaL_checkstring(L, 1), *pb = luaL_checkstring(L, 2),
             *pc = luaL_checkstring(L, 3);
  int has_progress = lua_type(L, 4) == LUA_TFUNCTION;
  struct progress p = {L, 4};
  heap_progress_fn cb = has_progress ? progress_cb : NULL;
  char err[ERRLEN] = "";
  struct heap_side a = {0}, b = {0};
  struct heap_snapshot *s = NULL;
  struct heap_load_opts o = {.raw = lua_toboolean(L, 5)};
  /* the progress callback only ever runs on this thread (the final's load) */
  int rc = heap_load_leak_inputs(pa, pb, pc, &o, &a, &b, &s, err, sizeof err, cb, &p);
  if (rc) return push_error(L, rc, err);
  heap_drop_retainers(s);
  const struct heap_side *sides[2] = {&a, &b};
  struct heap_id_match how;
  int renumbered = heap_sides_renumbered(s, sides, 2, &how);
  if (renumbered >= 0) {
    heap_side_free(&a);
    heap_side_free(&b);
    heap_free(s);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushstring(L, heap_err_code(HEAP_EIDS));
    lua_pushinteger(L, renumbered + 1);
    lua_pushinteger(L, how.shared);
    lua_pushinteger(L, how.disagree);
    return 6;
  }
  struct heap_leak_result r;
  int frc = heap_find_leaks(s, &a, &b, &r);
  heap_side_free(&a);
  heap_side_free(&b);
  if (frc) {
    heap_free(s);
    return luaL_error(L, "out of memory finding leaks");
  }
  lua_createtable(L, (int)r.ngroups, 0);
  for (uint32_t i = 0; i < r.ngroups; i++) {
    push_leak_group(L, s, &r.groups[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_pushinteger(L, s->node_count);
  lua_createtable(L, (int)r.nclasses, 0);
  for (uint32_t i = 0; i < r.nclasses; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, heap_class_name(s, r.classes[i].cls));
    lua_setfield(L, -2, "class");
    lua_pushinteger(L, r.classes[i].rounds[0]);
    lua_setfield(L, -2, "first");
    lua_pushinteger(L, r.classes[i].rounds[1]);
    lua_setfield(L, -2, "second");
    lua_pushinteger(L, (lua_Integer)r.classes[i].size);
    lua_setfield(L, -2, "size");
    lua_rawseti(L, -2, (int)i + 1);
  }
  heap_leak_result_free(&r);
  lua_pushstring(L, s->format == HEAP_FORMAT_JSC ? "jsc" : "v8");
  heap_free(s);
  return 4;
}

static int l_ids_compare(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  struct heap_snapshot *base = check_open(L, 2);
  uint32_t shared, disagree;
  heap_ids_compare(s, base, &shared, &disagree);
  lua_pushinteger(L, shared);
  lua_pushinteger(L, disagree);
  return 2;
}

/* _columns() -> {id, self, retained, distance, dominator, class = binary
 * strings, one native-endian value per node (u32; self and retained f64)},
 * {class names}, {class locations ({script, line, column}, 0-based) or false}.
 * For bench/conformance-devtools: every node at once, without a table per
 * node. */
static int l_columns(lua_State *L) {
  struct heap_snapshot *s = check_open(L, 1);
  if (heap_build_classes(s)) return luaL_error(L, "out of memory");
  uint32_t n = s->node_count;
  double *f = malloc((size_t)n * sizeof *f + 8);
  if (!f) return luaL_error(L, "out of memory");
  lua_createtable(L, 0, 6);
  lua_pushlstring(L, (const char *)s->node_id, (size_t)n * 4);
  lua_setfield(L, -2, "id");
  for (uint32_t v = 0; v < n; v++)
    f[v] = (double)heap_self_size(s, v);
  lua_pushlstring(L, (const char *)f, (size_t)n * 8);
  lua_setfield(L, -2, "self");
  for (uint32_t v = 0; v < n; v++)
    f[v] = (double)heap_retained_size(s, v);
  lua_pushlstring(L, (const char *)f, (size_t)n * 8);
  lua_setfield(L, -2, "retained");
  lua_pushlstring(L, (const char *)s->distance, (size_t)n * 4);
  lua_setfield(L, -2, "distance");
  lua_pushlstring(L, (const char *)s->idom, (size_t)n * 4);
  lua_setfield(L, -2, "dominator");
  lua_pushlstring(L, (const char *)s->class_of, (size_t)n * 4);
  lua_setfield(L, -2, "class");
  free(f);
  lua_createtable(L, (int)s->class_count, 0);
  lua_createtable(L, (int)s->class_count, 0);
  for (uint32_t c = 0; c < s->class_count; c++) {
    lua_pushstring(L, heap_class_name(s, c));
    lua_rawseti(L, -3, (int)c + 1);
    if (s->class_loc[c] != HEAP_NO_NODE) {
      const struct heap_loc *l = &s->locs[s->class_loc[c]];
      lua_createtable(L, 3, 0);
      lua_pushinteger(L, (lua_Integer)l->script_id);
      lua_rawseti(L, -2, 1);
      lua_pushinteger(L, (lua_Integer)l->line);
      lua_rawseti(L, -2, 2);
      lua_pushinteger(L, (lua_Integer)l->column);
      lua_rawseti(L, -2, 3);
    } else {
      lua_pushboolean(L, 0);
    }
    lua_rawseti(L, -2, (int)c + 1);
  }
  return 3;
}

static const luaL_Reg snap_methods[] = {{"info", l_info},
                                        {"idsCompare", l_ids_compare},
                                        {"_columns", l_columns},
                                        {"summary", l_summary},
                                        {"diff", l_diff},
                                        {"node", l_node},
                                        {"location", l_location},
                                        {"instances", l_instances},
                                        {"edges", l_edges},
                                        {"retainers", l_retainers},
                                        {"dominator", l_dominator},
                                        {"dominated", l_dominated},
                                        {"retainerPath", l_retainer_path},
                                        {"top", l_top},
                                        {"detached", l_detached},
                                        {"allocationSites", l_allocation_sites},
                                        {"allocationFunctions", l_allocation_functions},
                                        {"close", l_close},
                                        {NULL, NULL}};

/* _tune(split_min_bytes[, narrow_below_nodes]) -> the previous values;
 * for the specs only (the two-thread parse, the 3-byte dominator arrays). */
static int l_tune(lua_State *L) {
  lua_Integer v = luaL_checkinteger(L, 1);
  lua_pushinteger(L, (lua_Integer)heap_split_min);
  lua_pushinteger(L, (lua_Integer)heap_lt_narrow_below);
  heap_split_min = v < 1 ? 1 : (size_t)v;
  if (!lua_isnoneornil(L, 2)) {
    lua_Integer w = luaL_checkinteger(L, 2);
    heap_lt_narrow_below = w < 0 ? 0 : w > 0xFFFFFF ? 0xFFFFFFu : (uint32_t)w;
  }
  return 2;
}

static const luaL_Reg funcs[] = {{"load", l_load},
                                 {"parse", l_parse},
                                 {"findLeaks", l_find_leaks},
                                 {"_tune", l_tune},
                                 {NULL, NULL}};

int luaopen_memdbg__heap(lua_State *L) {
  if (luaL_newmetatable(L, SNAP_MT)) {
    luaL_newlib(L, snap_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
