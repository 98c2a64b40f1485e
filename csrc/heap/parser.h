/* Parser state shared by the V8 reader (parse.c) and the JSC reader (jsc.c).
 * Everything allocated while parsing hangs off this struct or the snapshot,
 * so a longjmp'd failure frees it all in one place. */
#ifndef MEMDBG_HEAP_PARSER_H
#define MEMDBG_HEAP_PARSER_H

#include <pthread.h>

#include "scan.h"

#define MAX_FIELDS 64

struct trace_level {
  uint32_t parent, k, rec;
};

struct parser {
  struct scanner sc;
  struct heap_snapshot *s;
  int check_only; /* heap_load_unanalysed: locations are checked, not kept */

  /* V8 */
  struct jval *snapshot; /* the "snapshot" object (meta etc.) */
  size_t snapshot_off, nodes_off, edges_off;
  int have_nodes, have_edges, have_strings;
  uint32_t nf, ef, tf; /* node, edge, trace-node field counts */
  int8_t node_role[MAX_FIELDS], edge_role[MAX_FIELDS], trace_role[MAX_FIELDS];
  int64_t declared_nodes, declared_edges, root_index;
  uint64_t node_cap, edge_cap;
  uint8_t *etype; /* edge types and names as read; shapes.c packs them, then they go */
  uint32_t *ename;
  pthread_t words_th; /* packing them beside the rest of the parse (strings, locations...) */
  int words_running, words_failed;
  struct bytes pool;
  struct u64vec str_off;
  struct u32vec trace_fn;
  struct heap_trace_node *trace;
  size_t trace_n, trace_cap;
  /* "locations": skipped when met, read (and checked) once the meta is
   * known, and for a full load only after the analyses: the text is still
   * mapped */
  const char **locs_at; /* each "locations" value's '[' (a repeated key adds to the list) */
  size_t locs_n, locs_cap;
  int defer_locations; /* finish_v8 leaves them to parser_read_locations() */
  struct heap_locs_builder locb;
  uint32_t lf;      /* location field count */
  int loc_field[5]; /* position of object_index, script_id, script_object_index, line, column */
  struct trace_level *tstack;
  size_t tstack_n, tstack_cap;

  /* JSC */
  int jsc; /* saw "version"/"type" before any V8 key */
  struct u32vec jnodes, jedges;
  struct bytes jpool, jtypes_pool;
  struct u64vec jcls_off, jname_off, jtypes_off;
};

/* Field roles of the nodes, edges and trace arrays, from snapshot.meta. */
enum {
  R_SKIP = 0,
  R_TYPE,
  R_NAME,
  R_ID,
  R_SELF,
  R_EDGES,
  R_TRACE,
  R_DETACH,
  R_TO,
  R_CHILDREN,
  R_FUNC,
  R_COUNT,
  R_SIZE
};

/* A value that fails its check but runs into the end of the file is a
 * number the cut left short (12345 read as 123): the file is truncated, not
 * malformed. Called on the failure paths only. */
static inline void fail_if_cut(struct scanner *sc, const char *p) {
  while (p < sc->end && *p >= '0' && *p <= '9')
    p++;
  while (p < sc->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  if (p >= sc->end) {
    sc->p = sc->end;
    scan_expected(sc, "the rest of a number");
  }
}

/* One value of the nodes array, checked and stored (field `role` of node n).
 * The serial reader (parse.c) and the two-thread path (columns.c) share it so
 * both accept and reject exactly the same input with the same messages. p is
 * the scan position, published to sc only on failure (the loops keep it in a
 * register). */
static inline void store_node_value(struct scanner *sc, struct heap_snapshot *s, int role,
                                    uint64_t n, uint64_t v, uint32_t ntypes, const char *p) {
  switch (role) {
  case R_TYPE:
    if (v >= ntypes) {
      fail_if_cut(sc, p);
      sc->p = p;
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: node type %llu is not in meta.node_types (%u types)", scan_offset(sc),
                (unsigned long long)v, ntypes);
    }
    s->node_type[n] = (uint8_t)v;
    break;
  case R_NAME:
    s->node_name[n] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    break;
  case R_ID:
    if (v > UINT32_MAX) {
      fail_if_cut(sc, p);
      sc->p = p;
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: node id too large", scan_offset(sc));
    }
    s->node_id[n] = (uint32_t)v;
    break;
  case R_SELF:
    if (heap_set_self_size(s, (uint32_t)n, v)) {
      sc->p = p;
      scan_fail(sc, HEAP_ENOMEM, "out of memory");
    }
    break;
  case R_EDGES:
    if (v > UINT32_MAX) {
      fail_if_cut(sc, p);
      sc->p = p;
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: edge count too large", scan_offset(sc));
    }
    s->first_edge[n] = (uint32_t)v;
    break;
  case R_TRACE: /* zero-filled columns (parse.c): a zero is not written, its page not touched */
    if (v) s->trace_node[n] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    break;
  case R_DETACH:
    if (v) s->detachedness[n] = v > 255 ? 255 : (uint8_t)v;
    break;
  default:
    break;
  }
}

/* One value of the edges array (field `role` of edge n); to_node offsets
 * become node ordinals. node_limit is node_count * node_nf. */
static inline void store_edge_value(struct scanner *sc, struct parser *P, int role, uint64_t n,
                                    uint64_t v, uint32_t ntypes, uint32_t node_nf,
                                    uint64_t node_limit, const char *p) {
  switch (role) {
  case R_TYPE:
    if (v >= ntypes) {
      fail_if_cut(sc, p);
      sc->p = p;
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: edge type %llu is not in meta.edge_types (%u types)", scan_offset(sc),
                (unsigned long long)v, ntypes);
    }
    P->etype[n] = (uint8_t)v;
    break;
  case R_NAME:
    P->ename[n] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    break;
  case R_TO: {
    /* constant divisors for the usual layouts: a multiply, not a divide */
    uint64_t q = node_nf == 7 ? v / 7 : node_nf == 6 ? v / 6 : v / node_nf;
    if (v >= node_limit || q * node_nf != v) {
      fail_if_cut(sc, p);
      sc->p = p;
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: edge %llu points to node offset %llu, %s",
                scan_offset(sc), (unsigned long long)n, (unsigned long long)v,
                v >= node_limit ? "past the nodes" : "not a multiple of the node field count");
    }
    P->s->edge_to[n] = (uint32_t)q;
  } break;
  default:
    break;
  }
}

/* parse.c: the V8 reader. */
void parser_init(struct parser *P, const char *buf, size_t len, char *err, size_t errlen,
                 heap_progress_fn progress, void *ud);
void parser_cleanup(struct parser *P);
/* Waits for the edge words (started once the edges are read); fails with
 * ENOMEM when they could not be built. parser_cleanup() waits too. */
void parser_join_words(struct parser *P);
void parse_top(struct parser *P); /* the top-level object, V8 or JSC */
void finish_v8(struct parser *P); /* checks and hand-over after a V8 parse */
/* Reads the source locations the parse found (once; no progress reports).
 * Failures longjmp to P->sc.fail as any parse error does. */
void parser_read_locations(struct parser *P);

/* jsc.c: builds the snapshot model from the raw JSC arrays. */
void jsc_finish(struct parser *P);

#endif
