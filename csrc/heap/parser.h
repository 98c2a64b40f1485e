/* Parser state shared by the V8 reader (parse.c) and the JSC reader (jsc.c).
 * Everything allocated while parsing hangs off this struct or the snapshot,
 * so a longjmp'd failure frees it all in one place. */
#ifndef MEMDBG_HEAP_PARSER_H
#define MEMDBG_HEAP_PARSER_H

#include "scan.h"

#define MAX_FIELDS 64

struct trace_level {
  uint32_t parent, k, rec;
};

struct parser {
  struct scanner sc;
  struct heap_snapshot *s;
  int ids_only;      /* heap_load_ids: keep only the id column, stop after nodes */
  struct u32vec ids; /* ids_only result */

  /* V8 */
  struct jval *snapshot; /* the "snapshot" object (meta etc.) */
  size_t snapshot_off, nodes_off, edges_off;
  int have_nodes, have_edges, have_strings;
  uint32_t nf, ef, tf; /* node, edge, trace-node field counts */
  int8_t node_role[MAX_FIELDS], edge_role[MAX_FIELDS], trace_role[MAX_FIELDS];
  int64_t declared_nodes, declared_edges, root_index;
  uint64_t node_cap, edge_cap;
  struct bytes pool;
  struct u64vec str_off;
  struct u32vec trace_fn;
  struct heap_trace_node *trace;
  size_t trace_n, trace_cap;
  struct trace_level *tstack;
  size_t tstack_n, tstack_cap;

  /* JSC */
  int jsc; /* saw "version"/"type" before any V8 key */
  struct u32vec jnodes, jedges;
  struct bytes jpool, jtypes_pool;
  struct u64vec jcls_off, jname_off, jtypes_off;
};

/* parse.c: the V8 reader. */
void parser_init(struct parser *P, const char *buf, size_t len, char *err, size_t errlen,
                 heap_progress_fn progress, void *ud);
void parser_cleanup(struct parser *P);
void parse_top(struct parser *P); /* the top-level object, V8 or JSC */
void finish_v8(struct parser *P); /* checks and hand-over after a V8 parse */

/* jsc.c: builds the snapshot model from the raw JSC arrays. */
void jsc_finish(struct parser *P);

#endif
