/* JavaScriptCore (Bun, Safari Web Inspector) heap snapshots:
 *   {"version":3,"type":"Inspector","nodes":[id,size,classNameIndex,flags,...],
 *    "nodeClassNames":[...],"edges":[fromId,toId,edgeTypeIndex,nameIndexOrData,...],
 *    "edgeTypes":["Internal","Property","Index","Variable"],"edgeNames":[...]}
 * loaded into the V8-shaped model so every analysis runs unchanged:
 * - node type: class "StrongRootBlock" (the VM's strong handles, what Bun's
 *   timers and native objects hold JS values by) -> synthetic, a root
 *   category the leak finder may name as a holder; flags bit 0 ("internal")
 *   -> hidden, class "string" -> string, class "Function"/"...Function" ->
 *   closure, everything else -> object;
 *   the root is the node with id 0 (JSC's "<root>"), else the first node;
 * - edge type: Internal -> internal, Property -> property, Index -> element,
 *   Variable -> context; Property/Variable names index edgeNames, Index
 *   edges keep their index; Internal edges carry no name;
 * - strings: nodeClassNames followed by edgeNames in one table;
 * - edges are regrouped by source node (JSC lists them by source id, but we
 *   do not rely on it);
 * - live cells nothing points to: JSC snapshots hold only cells the full
 *   collection before them marked, but record no edge out of a Map's or
 *   Set's storage (Bun 1.4: a Map shows one edge, to its Structure), so its
 *   entries would look like garbage. Such nodes hang, through numbered
 *   element edges, from one synthetic node, UNRECORDED_CLASS (id
 *   UNRECORDED_ID in every snapshot, a child of the root): they stay
 *   reachable, and the leak finder sees that node grow like a collection. */
#include <stdlib.h>
#include <string.h>

#include "parser.h"

static const char *v8_node_types[] = {"hidden",
                                      "array",
                                      "string",
                                      "object",
                                      "code",
                                      "closure",
                                      "regexp",
                                      "number",
                                      "native",
                                      "synthetic",
                                      "concatenated string",
                                      "sliced string",
                                      "symbol",
                                      "bigint",
                                      "object shape"};
static const char *v8_edge_types[] = {"context", "element",  "property", "internal",
                                      "hidden",  "shortcut", "weak"};

static void copy_names(struct scanner *sc, char ***out, uint32_t *count, uint8_t *kinds,
                       const char **names, uint32_t n) {
  *out = scan_alloc(sc, n * sizeof **out);
  memset(*out, 0, n * sizeof **out);
  *count = n;
  for (uint32_t i = 0; i < n; i++) {
    (*out)[i] = strdup(names[i]);
    if (!(*out)[i]) scan_fail(sc, HEAP_ENOMEM, "out of memory");
    kinds[i] = (uint8_t)i;
  }
}

#define UNRECORDED_ID (UINT32_MAX - 1)
static const char UNRECORDED_CLASS[] = "(held by edges JSC does not record)";

static uint32_t lookup(const uint32_t *sorted_ord, const uint32_t *ids, uint32_t n, uint32_t id) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ids[sorted_ord[mid]] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && ids[sorted_ord[lo]] == id ? sorted_ord[lo] : HEAP_NO_NODE;
}

void jsc_finish(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  size_t end = scan_offset(sc);
  if (!P->have_nodes) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"nodes\" array", end);
  if (!P->have_edges) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"edges\" array", end);
  if (P->jnodes.n % 4 || P->jnodes.n == 0)
    scan_fail(sc, HEAP_EFORMAT,
              "at byte %zu: the nodes array must hold [id,size,class,flags] quadruples",
              P->nodes_off);
  if (P->jedges.n % 4)
    scan_fail(sc, HEAP_EFORMAT,
              "at byte %zu: the edges array must hold [from,to,type,name] quadruples",
              P->edges_off);
  if (P->jnodes.n / 4 >= UINT32_MAX || P->jedges.n / 4 >= UINT32_MAX)
    scan_fail(sc, HEAP_ERANGE, "at byte %zu: too many nodes or edges", P->nodes_off);
  uint32_t n = (uint32_t)(P->jnodes.n / 4), m = (uint32_t)(P->jedges.n / 4);
  uint32_t ncls = (uint32_t)P->jcls_off.n, nnames = (uint32_t)P->jname_off.n;
  s->format = HEAP_FORMAT_JSC;

  copy_names(sc, &s->node_type_names, &s->node_type_count, s->node_kind, v8_node_types, 15);
  copy_names(sc, &s->edge_type_names, &s->edge_type_count, s->edge_kind, v8_edge_types, 7);

  /* the file's edgeTypes -> our edge kinds */
  uint8_t etype_map[256] = {0};
  uint32_t netypes = (uint32_t)P->jtypes_off.n;
  if (netypes > 256) netypes = 256;
  for (uint32_t i = 0; i < netypes; i++) {
    const char *t = P->jtypes_pool.v + P->jtypes_off.v[i];
    etype_map[i] = !strcmp(t, "Property")   ? ET_PROPERTY
                   : !strcmp(t, "Index")    ? ET_ELEMENT
                   : !strcmp(t, "Variable") ? ET_CONTEXT
                                            : ET_INTERNAL;
  }

  /* one string table: class names, edge names, then UNRECORDED_CLASS */
  s->string_count = ncls + nnames + 1;
  uint64_t *off = scan_alloc(sc, ((size_t)s->string_count + 1) * sizeof *off);
  for (uint32_t i = 0; i < ncls; i++)
    off[i] = P->jcls_off.v[i];
  for (uint32_t i = 0; i < nnames; i++)
    off[ncls + i] = P->jname_off.v[i];
  off[ncls + nnames] = P->jpool.n;
  P->jpool.v = scan_realloc(sc, P->jpool.v, P->jpool.n + sizeof UNRECORDED_CLASS);
  memcpy(P->jpool.v + P->jpool.n, UNRECORDED_CLASS, sizeof UNRECORDED_CLASS);
  P->jpool.n += sizeof UNRECORDED_CLASS;
  int packed = heap_set_string_offsets(s, off, s->string_count);
  if (packed == -2)
    scan_fail(sc, HEAP_ERANGE, "at byte %zu: more than 4 GiB of strings out of order", end);
  if (packed) scan_fail(sc, HEAP_ENOMEM, "out of memory");
  s->pool = P->jpool.v;
  P->jpool.v = NULL;

  /* room for the synthetic holder of the unrecorded edges' targets */
  s->node_count = n;
  s->node_type = scan_alloc(sc, (size_t)n + 1);
  s->node_name = scan_alloc(sc, ((size_t)n + 1) * 4);
  s->node_id = scan_alloc(sc, ((size_t)n + 1) * 4);
  s->self16 = scan_alloc(sc, ((size_t)n + 1) * 2);
  s->first_edge = scan_alloc(sc, ((size_t)n + 2) * 4);
  const uint32_t *J = P->jnodes.v;
  s->root = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = J[i * 4], size = J[i * 4 + 1], cls = J[i * 4 + 2], flags = J[i * 4 + 3];
    if (cls >= ncls)
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: node %u (id %u) has class name index %u but there are only %u",
                P->nodes_off, i, id, cls, ncls);
    const char *name = heap_str(s, cls);
    size_t len = strlen(name);
    uint8_t t = HT_OBJECT;
    if (!strcmp(name, "StrongRootBlock"))
      t = HT_SYNTHETIC; /* a block of the VM's strong handles: a root, like V8's (Strong roots) */
    else if (flags & 1)
      t = HT_HIDDEN;
    else if (!strcmp(name, "string"))
      t = HT_STRING;
    else if (len >= 8 && !strcmp(name + len - 8, "Function"))
      t = HT_CLOSURE;
    if (id == 0) {
      t = HT_SYNTHETIC;
      s->root = i;
    }
    s->node_type[i] = t;
    s->node_name[i] = cls;
    s->node_id[i] = id;
    if (heap_set_self_size(s, i, size)) scan_fail(sc, HEAP_ENOMEM, "out of memory");
    s->first_edge[i] = 0;
  }

  /* id -> ordinal, to resolve the edges' node ids */
  uint32_t *ord = scan_alloc(sc, ((size_t)n + 1) * 4);
  uint32_t *tmp = scan_alloc(sc, (size_t)n * 4);
  for (uint32_t i = 0; i < n; i++)
    ord[i] = i;
  heap_radix_sort_by_key(ord, tmp, n, s->node_id);
  free(tmp);
  s->by_id = ord; /* reused as the id index */
  for (uint32_t i = 1; i < n; i++)
    if (s->node_id[ord[i]] == s->node_id[ord[i - 1]])
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: node id %u appears twice", P->nodes_off,
                s->node_id[ord[i]]);

  /* resolve edges in place: from/to ids -> ordinals, then count per source */
  uint32_t *E = P->jedges.v;
  for (uint32_t e = 0; e < m; e++) {
    uint32_t from = lookup(ord, s->node_id, n, E[e * 4]),
             to = lookup(ord, s->node_id, n, E[e * 4 + 1]);
    uint32_t ti = E[e * 4 + 2], name = E[e * 4 + 3];
    if (from == HEAP_NO_NODE || to == HEAP_NO_NODE)
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: edge %u refers to node id %u, which is not in the nodes array",
                P->edges_off, e, from == HEAP_NO_NODE ? E[e * 4] : E[e * 4 + 1]);
    if (ti >= netypes)
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: edge %u has type index %u but there are only %u edge types",
                P->edges_off, e, ti, netypes);
    uint8_t kind = etype_map[ti];
    if ((kind == ET_PROPERTY || kind == ET_CONTEXT) && name >= nnames)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: edge %u names edge name %u but there are only %u",
                P->edges_off, e, name, nnames);
    E[e * 4] = from;
    E[e * 4 + 1] = to;
    E[e * 4 + 2] = kind;
    E[e * 4 + 3] = kind == ET_ELEMENT ? name : (kind == ET_INTERNAL ? UINT32_MAX : ncls + name);
    s->first_edge[from]++;
  }
  /* the live cells no edge reaches (see the top) */
  uint8_t *reached = scan_alloc(sc, (size_t)n / 8 + 1);
  memset(reached, 0, (size_t)n / 8 + 1);
  for (uint32_t e = 0; e < m; e++)
    reached[E[e * 4 + 1] >> 3] |= (uint8_t)(1u << (E[e * 4 + 1] & 7));
  uint32_t orphans = 0;
  for (uint32_t i = 0; i < n; i++)
    orphans += i != s->root && !((reached[i >> 3] >> (i & 7)) & 1);
  uint32_t hold = HEAP_NO_NODE; /* the synthetic node's ordinal */
  if (orphans && s->node_id[ord[n - 1]] < UNRECORDED_ID && (uint64_t)m + orphans + 1 < UINT32_MAX) {
    hold = n;
    s->node_type[hold] = HT_SYNTHETIC;
    s->node_name[hold] = ncls + nnames;
    s->node_id[hold] = UNRECORDED_ID;
    if (heap_set_self_size(s, hold, 0)) scan_fail(sc, HEAP_ENOMEM, "out of memory");
    ord[n] = hold; /* the largest id: the id index stays sorted */
    s->node_count = n + 1;
    s->first_edge[hold] = orphans;
    s->first_edge[s->root]++;
  }
  uint32_t nn = s->node_count, mm = hold == HEAP_NO_NODE ? m : m + orphans + 1;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < nn; i++) {
    uint32_t c = s->first_edge[i];
    s->first_edge[i] = (uint32_t)sum;
    sum += c;
  }
  s->first_edge[nn] = (uint32_t)sum;
  s->edge_count = mm;
  P->etype = scan_alloc(sc, mm ? mm : 1);
  P->ename = scan_alloc(sc, (size_t)mm * 4 + 4);
  s->edge_to = scan_alloc(sc, (size_t)mm * 4 + 4);
  uint32_t *fill = scan_alloc(sc, (size_t)nn * 4 + 4);
  memcpy(fill, s->first_edge, (size_t)nn * 4);
  for (uint32_t e = 0; e < m; e++) {
    uint32_t at = fill[E[e * 4]]++;
    s->edge_to[at] = E[e * 4 + 1];
    P->etype[at] = (uint8_t)E[e * 4 + 2];
    P->ename[at] = E[e * 4 + 3];
  }
  if (hold != HEAP_NO_NODE) {
    uint32_t at = fill[s->root]++;
    s->edge_to[at] = hold;
    P->etype[at] = ET_INTERNAL;
    P->ename[at] = UINT32_MAX;
    for (uint32_t i = 0, k = 0; i < n; i++)
      if (i != s->root && !((reached[i >> 3] >> (i & 7)) & 1)) {
        at = fill[hold]++;
        s->edge_to[at] = i;
        P->etype[at] = ET_ELEMENT;
        P->ename[at] = k++;
      }
  }
  free(reached);
  free(fill);
  if (heap_build_edge_words(s, P->etype, P->ename))
    scan_fail(sc, HEAP_ENOMEM, "out of memory storing the edge names");
  free(P->etype);
  free(P->ename);
  P->etype = NULL;
  P->ename = NULL;
  /* Internal edges have no name: point them at an empty string if any */
}
