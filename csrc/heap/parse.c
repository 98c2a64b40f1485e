/* Streaming reader for V8 .heapsnapshot files. The nodes and edges arrays
 * go through a hand-rolled number loop straight into typed columns laid out
 * by snapshot.meta (columns.c has the fast, split version of that loop);
 * nothing builds a DOM for them. The entry points are in load.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "columns.h"
#include "parser.h"

static uint8_t kind_of_node_type(const char *t) {
  static const char *names[] = {"hidden",
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
  for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(t, names[i])) return (uint8_t)i;
  return HT_OTHER;
}

static uint8_t kind_of_edge_type(const char *t) {
  static const char *names[] = {"context", "element",  "property", "internal",
                                "hidden",  "shortcut", "weak"};
  for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(t, names[i])) return (uint8_t)i;
  return ET_OTHER;
}

/* Copies a meta string list (e.g. meta.node_types[0]) into owned names. */
static uint32_t take_names(struct parser *P, const struct jval *arr, char ***out, uint8_t *kinds,
                           uint8_t (*kind)(const char *), const char *what) {
  struct scanner *sc = &P->sc;
  if (!arr || arr->type != J_ARR || arr->n == 0 || arr->n > 255) {
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.%s is not a list of 1..255 names",
              P->snapshot_off, what);
    return 0; /* not reached; for static analysers */
  }
  *out = scan_alloc(sc, arr->n * sizeof **out);
  memset(*out, 0, arr->n * sizeof **out);
  for (size_t i = 0; i < arr->n; i++) {
    const char *n = arr->items[i].type == J_STR ? arr->items[i].str : "?";
    (*out)[i] = strdup(n);
    if (!(*out)[i]) scan_fail(sc, HEAP_ENOMEM, "out of memory");
    kinds[i] = kind(n);
  }
  return (uint32_t)arr->n;
}

static uint32_t field_roles(struct parser *P, const struct jval *fields, int8_t *roles,
                            const char *what, const char *const *names, const int *values,
                            int nnames) {
  struct scanner *sc = &P->sc;
  if (!fields || fields->type != J_ARR || fields->n == 0 || fields->n > MAX_FIELDS) {
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.%s is not a list of 1..%d field names",
              P->snapshot_off, what, MAX_FIELDS);
    return 0; /* not reached; for static analysers */
  }
  for (size_t i = 0; i < fields->n; i++) {
    roles[i] = R_SKIP;
    if (fields->items[i].type != J_STR) continue;
    for (int k = 0; k < nnames; k++) {
      if (strcmp(fields->items[i].str, names[k]) != 0) continue;
      for (size_t j = 0; j < i; j++) /* the later column would win: ids lost */
        if (roles[j] == values[k])
          scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.%s names \"%s\" twice",
                    P->snapshot_off, what, names[k]);
      roles[i] = (int8_t)values[k];
    }
  }
  return (uint32_t)fields->n;
}

static int has_role(const int8_t *roles, uint32_t n, int role) {
  for (uint32_t i = 0; i < n; i++)
    if (roles[i] == role) return 1;
  return 0;
}

static int64_t meta_int(const struct jval *o, const char *key) {
  const struct jval *v = jget(o, key);
  if (!v || v->type != J_NUM || v->num < 0 || v->num > 4294967295.0) return -1;
  return (int64_t)v->num;
}

/* Reads "snapshot": {meta, node_count, edge_count, ...} and sets up the layout. */
static void parse_snapshot_meta(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  P->snapshot_off = scan_offset(sc);
  if (P->snapshot)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"snapshot\" key", P->snapshot_off);
  scan_dom(sc, &P->snapshot);
  const struct jval *meta = jget(P->snapshot, "meta");
  if (!meta) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected snapshot.meta", P->snapshot_off);

  static const char *nnames[] = {"type",       "name",          "id",          "self_size",
                                 "edge_count", "trace_node_id", "detachedness"};
  static const int nroles[] = {R_TYPE, R_NAME, R_ID, R_SELF, R_EDGES, R_TRACE, R_DETACH};
  P->nf = field_roles(P, jget(meta, "node_fields"), P->node_role, "node_fields", nnames, nroles, 7);
  for (int k = 0; k < 5; k++)
    if (!has_role(P->node_role, P->nf, nroles[k]))
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.node_fields lacks \"%s\"",
                P->snapshot_off, nnames[k]);
  static const char *enames[] = {"type", "name_or_index", "to_node"};
  static const int eroles[] = {R_TYPE, R_NAME, R_TO};
  P->ef = field_roles(P, jget(meta, "edge_fields"), P->edge_role, "edge_fields", enames, eroles, 3);
  for (int k = 0; k < 3; k++)
    if (!has_role(P->edge_role, P->ef, eroles[k]))
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.edge_fields lacks \"%s\"",
                P->snapshot_off, enames[k]);
  const struct jval *tfields = jget(meta, "trace_node_fields");
  static const char *tnames[] = {"id", "function_info_index", "count", "size", "children"};
  static const int troles[] = {R_ID, R_FUNC, R_COUNT, R_SIZE, R_CHILDREN};
  if (tfields && tfields->type == J_ARR && tfields->n > 0) {
    P->tf = field_roles(P, tfields, P->trace_role, "trace_node_fields", tnames, troles, 5);
  } else {
    P->tf = 5;
    for (int k = 0; k < 5; k++)
      P->trace_role[k] = (int8_t)troles[k];
  }
  const struct jval *ffields = jget(meta, "trace_function_info_fields");
  s->trace_fn_fields = 6;
  s->trace_fn_name = 1;
  s->trace_fn_script = 2;
  s->trace_fn_line = 4;
  s->trace_fn_column = 5;
  if (ffields && ffields->type == J_ARR && ffields->n > 0 && ffields->n < MAX_FIELDS) {
    s->trace_fn_fields = (uint32_t)ffields->n;
    s->trace_fn_name = s->trace_fn_script = s->trace_fn_line = s->trace_fn_column = -1;
    for (size_t i = 0; i < ffields->n; i++) {
      const char *f = ffields->items[i].type == J_STR ? ffields->items[i].str : "";
      if (!strcmp(f, "name")) s->trace_fn_name = (int)i;
      if (!strcmp(f, "script_name")) s->trace_fn_script = (int)i;
      if (!strcmp(f, "line")) s->trace_fn_line = (int)i;
      if (!strcmp(f, "column")) s->trace_fn_column = (int)i;
    }
  }

  /* locations: [object_index, script_id, line, column] until V8 11.x; newer ones add
   * script_object_index (the Script node) */
  const struct jval *lfields = jget(meta, "location_fields");
  if (lfields && lfields->type == J_ARR && lfields->n > 0 && lfields->n < MAX_FIELDS) {
    static const char *lnames[] = {"object_index", "script_id", "script_object_index", "line",
                                   "column"};
    P->lf = (uint32_t)lfields->n;
    for (int k = 0; k < 5; k++) {
      P->loc_field[k] = -1;
      for (size_t i = 0; i < lfields->n; i++)
        if (lfields->items[i].type == J_STR && !strcmp(lfields->items[i].str, lnames[k]))
          P->loc_field[k] = (int)i;
    }
  }

  const struct jval *nt = jget(meta, "node_types"), *et = jget(meta, "edge_types");
  for (uint32_t i = 0; i < P->nf; i++)
    if (P->node_role[i] == R_TYPE) {
      if (!nt || nt->type != J_ARR || nt->n <= i)
        scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.node_types lacks the type list",
                  P->snapshot_off);
      s->node_type_count = take_names(P, &nt->items[i], &s->node_type_names, s->node_kind,
                                      kind_of_node_type, "node_types");
    }
  for (uint32_t i = 0; i < P->ef; i++)
    if (P->edge_role[i] == R_TYPE) {
      if (!et || et->type != J_ARR || et->n <= i)
        scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.meta.edge_types lacks the type list",
                  P->snapshot_off);
      s->edge_type_count = take_names(P, &et->items[i], &s->edge_type_names, s->edge_kind,
                                      kind_of_edge_type, "edge_types");
    }
  P->declared_nodes = meta_int(P->snapshot, "node_count");
  P->declared_edges = meta_int(P->snapshot, "edge_count");
  P->root_index = meta_int(P->snapshot, "root_index");
}

/* Never trust a declared count for an allocation: cap it by what the rest of
 * the input could hold (each number takes at least two bytes). */
static uint64_t plausible(struct parser *P, int64_t declared, uint32_t fields) {
  uint64_t left = (uint64_t)(P->sc.end - P->sc.p);
  uint64_t most = left / (2 * (uint64_t)fields) + 1;
  if (declared < 0) return most < 1024 ? most : 1024;
  return (uint64_t)declared < most ? (uint64_t)declared : most;
}

static void grow_nodes(struct parser *P, uint64_t cap) {
  struct heap_snapshot *s = P->s;
  struct scanner *sc = &P->sc;
  if (cap >= UINT32_MAX)
    scan_fail(sc, HEAP_ERANGE, "at byte %zu: more than 2^32-1 nodes", scan_offset(sc));
  s->node_type = scan_realloc(sc, s->node_type, cap);
  s->node_name = scan_realloc(sc, s->node_name, cap * 4);
  s->node_id = scan_realloc(sc, s->node_id, cap * 4);
  s->self16 = scan_realloc(sc, s->self16, cap * 2);
  s->first_edge = scan_realloc(sc, s->first_edge, (cap + 1) * 4);
  /* zero-filled, and only non-zero values are written: Node fills
   * trace_node_id with 0 unless it tracked allocations, and detachedness
   * outside browsers, and a column never written then takes no memory */
  if (has_role(P->node_role, P->nf, R_TRACE)) {
    if (!s->trace_node) {
      s->trace_node = calloc(cap, 4);
      if (!s->trace_node) scan_fail(sc, HEAP_ENOMEM, "out of memory allocating %zu bytes", cap * 4);
    } else {
      s->trace_node = scan_realloc(sc, s->trace_node, cap * 4);
      memset(s->trace_node + P->node_cap, 0, (cap - P->node_cap) * 4);
    }
  }
  if (has_role(P->node_role, P->nf, R_DETACH)) {
    if (!s->detachedness) {
      s->detachedness = calloc(cap, 1);
      if (!s->detachedness) scan_fail(sc, HEAP_ENOMEM, "out of memory allocating %zu bytes", cap);
    } else {
      s->detachedness = scan_realloc(sc, s->detachedness, cap);
      memset(s->detachedness + P->node_cap, 0, cap - P->node_cap);
    }
  }
  P->node_cap = cap;
}

/* Cold path of the number loops: say why the text after a number is wrong. */
static _Noreturn void separator_error(struct scanner *sc, const char *what) {
  if (sc->p < sc->end && (*sc->p == '.' || *sc->p == 'e' || *sc->p == 'E'))
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected an integer, found a fraction or exponent",
              scan_offset(sc));
  scan_expected(sc, what);
}

#define NUM_OR_FAIL(what)                                                                          \
  do {                                                                                             \
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))                       \
      p++;                                                                                         \
    if (p >= end || (unsigned)(*p - '0') > 9) {                                                    \
      sc->p = p;                                                                                   \
      scan_expected(sc, what);                                                                     \
    }                                                                                              \
    const char *d0 = p;                                                                            \
    v = (uint64_t)(*p++ - '0');                                                                    \
    while (p < end && (unsigned)(*p - '0') <= 9)                                                   \
      v = v * 10 + (uint64_t)(*p++ - '0');                                                         \
    if (p - d0 > 19) {                                                                             \
      sc->p = d0;                                                                                  \
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: number too large", scan_offset(sc));                \
    }                                                                                              \
  } while (0)

#define SEP_OR_BREAK(what)                                                                         \
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))                         \
    p++;                                                                                           \
  if (p < end && *p == ',') {                                                                      \
    p++;                                                                                           \
  } else if (p < end && *p == ']') {                                                               \
    p++;                                                                                           \
    break;                                                                                         \
  } else {                                                                                         \
    sc->p = p;                                                                                     \
    separator_error(sc, what);                                                                     \
  }

static void parse_v8_nodes(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  if (!P->snapshot)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected \"snapshot\" (with meta) before \"nodes\"",
              scan_offset(sc));
  if (P->have_nodes)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"nodes\" key", scan_offset(sc));
  P->have_nodes = 1;
  P->nodes_off = scan_offset(sc);
  scan_expect(sc, '[', "'[' starting the nodes array");
  grow_nodes(P, plausible(P, P->declared_nodes, P->nf));
  const int8_t *role = P->node_role;
  const uint32_t nf = P->nf, ntypes = s->node_type_count;
  uint64_t n = 0, v, numbers;
  uint32_t f = 0;
  if (P->declared_nodes > 0 && P->node_cap == (uint64_t)P->declared_nodes &&
      columns_parse_split(P, 0, &numbers)) {
    n = numbers / nf;
    f = (uint32_t)(numbers % nf);
    goto parsed;
  }
  const char *p = sc->p, *end = sc->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  if (p < end && *p == ']') {
    p++;
  } else {
    for (;;) {
      NUM_OR_FAIL("a number in the nodes array");
      if (f == 0 && n == P->node_cap) {
        sc->p = p;
        grow_nodes(P, P->node_cap + P->node_cap / 2 + 1024);
      }
      store_node_value(sc, s, role[f], n, v, ntypes, p);
      if (++f == nf) {
        f = 0;
        n++;
      }
      if (p >= sc->next_mark) {
        sc->p = p;
        scan_checkpoint(sc);
      }
      SEP_OR_BREAK("',' or ']' in the nodes array");
    }
  }
  sc->p = p;
parsed:
  if (f != 0)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: the nodes array ends inside a node (%u of %u fields)",
              scan_offset(sc) - 1, f, nf);
  if (P->declared_nodes >= 0 && n != (uint64_t)P->declared_nodes)
    scan_fail(sc, HEAP_EFORMAT,
              "at byte %zu: the nodes array holds %llu nodes but snapshot.node_count is %lld",
              scan_offset(sc) - 1, (unsigned long long)n, (long long)P->declared_nodes);
  if (n == 0) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: the nodes array is empty", P->nodes_off);
  s->node_count = (uint32_t)n;
  /* edge counts -> first-edge offsets */
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint32_t c = s->first_edge[i];
    s->first_edge[i] = (uint32_t)sum;
    sum += c;
    if (sum >= UINT32_MAX)
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: more than 2^32-1 edges", P->nodes_off);
  }
  s->first_edge[n] = (uint32_t)sum;
}

static void *words_thread(void *arg);

static void grow_edges(struct parser *P, uint64_t cap) {
  struct heap_snapshot *s = P->s;
  struct scanner *sc = &P->sc;
  if (cap >= UINT32_MAX)
    scan_fail(sc, HEAP_ERANGE, "at byte %zu: more than 2^32-1 edges", scan_offset(sc));
  P->etype = scan_realloc(sc, P->etype, cap);
  P->ename = scan_realloc(sc, P->ename, cap * 4);
  s->edge_to = scan_realloc(sc, s->edge_to, cap * 4);
  P->edge_cap = cap;
}

static void parse_v8_edges(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  if (!P->have_nodes)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected \"nodes\" before \"edges\"",
              scan_offset(sc));
  if (P->have_edges)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"edges\" key", scan_offset(sc));
  P->have_edges = 1;
  P->edges_off = scan_offset(sc);
  scan_expect(sc, '[', "'[' starting the edges array");
  uint64_t want = s->first_edge[s->node_count];
  if (P->declared_edges >= 0 && (uint64_t)P->declared_edges != want)
    scan_fail(sc, HEAP_EFORMAT,
              "at byte %zu: the nodes' edge counts add up to %llu but snapshot.edge_count is %lld",
              P->edges_off, (unsigned long long)want, (long long)P->declared_edges);
  grow_edges(P, plausible(P, (int64_t)want, P->ef));
  const int8_t *role = P->edge_role;
  const uint32_t ef = P->ef, ntypes = s->edge_type_count, nf = P->nf;
  const uint64_t node_limit = (uint64_t)s->node_count * nf;
  uint64_t n = 0, v, numbers;
  uint32_t f = 0;
  if (want > 0 && P->edge_cap == want && columns_parse_split(P, 1, &numbers)) {
    n = numbers / ef;
    f = (uint32_t)(numbers % ef);
    goto parsed;
  }
  const char *p = sc->p, *end = sc->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  if (p < end && *p == ']') {
    p++;
  } else {
    for (;;) {
      NUM_OR_FAIL("a number in the edges array");
      if (f == 0 && n == P->edge_cap) {
        if (n >= want) {
          sc->p = p;
          scan_fail(sc, HEAP_EFORMAT,
                    "at byte %zu: the edges array is longer than the nodes' edge counts (%llu)",
                    scan_offset(sc), (unsigned long long)want);
        }
        sc->p = p;
        uint64_t cap = P->edge_cap + P->edge_cap / 2 + 1024;
        grow_edges(P, cap < want ? cap : want);
      }
      store_edge_value(sc, P, role[f], n, v, ntypes, nf, node_limit, p);
      if (++f == ef) {
        f = 0;
        n++;
      }
      if (p >= sc->next_mark) {
        sc->p = p;
        scan_checkpoint(sc);
      }
      SEP_OR_BREAK("',' or ']' in the edges array");
    }
  }
  sc->p = p;
parsed:
  if (f != 0)
    scan_fail(sc, HEAP_EFORMAT,
              "at byte %zu: the edges array ends inside an edge (%u of %u fields)",
              scan_offset(sc) - 1, f, ef);
  if (n != want)
    scan_fail(
        sc, HEAP_EFORMAT,
        "at byte %zu: the edges array holds %llu edges but the nodes' edge counts add up to %llu",
        scan_offset(sc) - 1, (unsigned long long)n, (unsigned long long)want);
  s->edge_count = (uint32_t)n;
  /* the edge words need nothing that comes after the edges: build them
   * on a second thread while this one reads the rest of the file */
  P->words_running =
      s->node_count > 100000 && pthread_create(&P->words_th, NULL, words_thread, P) == 0;
  if (!P->words_running) {
    words_thread(P);
    parser_join_words(P);
  }
}

static void *words_thread(void *arg) {
  struct parser *P = arg;
  P->words_failed = heap_build_edge_words(P->s, P->etype, P->ename) != 0;
  free(P->etype);
  free(P->ename);
  P->etype = NULL;
  P->ename = NULL;
  return NULL;
}

void parser_join_words(struct parser *P) {
  if (P->words_running) {
    pthread_join(P->words_th, NULL);
    P->words_running = 0;
  }
  if (P->words_failed) {
    P->words_failed = 0;
    scan_fail(&P->sc, HEAP_ENOMEM, "out of memory storing the edge names");
  }
}

static void trace_push_level(struct parser *P, uint32_t parent) {
  if (P->tstack_n == P->tstack_cap) {
    P->tstack_cap = P->tstack_cap ? P->tstack_cap * 2 : 64;
    P->tstack = scan_realloc(&P->sc, P->tstack, P->tstack_cap * sizeof *P->tstack);
  }
  P->tstack[P->tstack_n++] = (struct trace_level){parent, 0, HEAP_NO_NODE};
}

/* trace_tree is nested: [id, function_info_index, count, size, [children...], ...]. */
static void parse_trace_tree(struct parser *P) {
  struct scanner *sc = &P->sc;
  scan_expect(sc, '[', "'[' starting trace_tree");
  P->tstack_n = 0;
  trace_push_level(P, HEAP_NO_NODE);
  for (;;) {
    int c = scan_peek(sc);
    if (c == ']') {
      sc->p++;
      if (--P->tstack_n == 0) break;
    } else {
      struct trace_level *L = &P->tstack[P->tstack_n - 1];
      int role = (unsigned char)P->trace_role[L->k];
      if (c == '[') {
        if (role != R_CHILDREN || L->rec == HEAP_NO_NODE)
          scan_expected(sc, "a number in trace_tree");
        sc->p++;
        L->k = (L->k + 1) % P->tf;
        trace_push_level(P, L->rec);
        if (scan_peek(sc) == ']') continue;
        continue; /* no separator right after '[' */
      }
      uint64_t v = scan_uint(sc);
      if (L->k == 0) {
        if (P->trace_n == P->trace_cap) {
          P->trace_cap = P->trace_cap ? P->trace_cap * 2 : 256;
          P->trace = scan_realloc(sc, P->trace, P->trace_cap * sizeof *P->trace);
        }
        L->rec = (uint32_t)P->trace_n;
        P->trace[P->trace_n++] = (struct heap_trace_node){0, HEAP_NO_NODE, 0, L->parent, 0};
      }
      struct heap_trace_node *t = &P->trace[L->rec];
      uint32_t v32 = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
      switch (role) {
      case R_ID:
        t->id = v32;
        break;
      case R_FUNC:
        t->function_info = v32;
        break;
      case R_COUNT:
        t->count = v32;
        break;
      case R_SIZE:
        t->size = v;
        break;
      case R_CHILDREN:
        scan_expected(sc, "a children array in trace_tree");
      default:
        break;
      }
      L->k = (L->k + 1) % P->tf;
    }
    c = scan_peek(sc);
    if (c == ',') {
      sc->p++;
      continue;
    }
    if (c == ']') continue;
    scan_expected(sc, "',' or ']' in trace_tree");
  }
}

/* Checks what could not be checked while streaming (strings come last). */
void finish_v8(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  size_t end = scan_offset(sc);
  parser_join_words(P);
  if (!P->snapshot)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"snapshot\" key: not a V8 heap snapshot", end);
  if (!P->have_nodes) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"nodes\" array", end);
  if (!P->have_edges) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"edges\" array", end);
  if (!P->have_strings) scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"strings\" array", end);
  s->format = HEAP_FORMAT_V8;
  s->string_count = (uint32_t)P->str_off.n;
  s->pool = P->pool.v;
  P->pool.v = NULL;
  uint64_t *off = P->str_off.v;
  P->str_off.v = NULL;
  int packed = heap_set_string_offsets(s, off, s->string_count);
  if (packed == -2)
    scan_fail(sc, HEAP_ERANGE, "at byte %zu: more than 4 GiB of strings out of order", end);
  if (packed) scan_fail(sc, HEAP_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < s->node_count; i++)
    if (s->node_name[i] >= s->string_count)
      scan_fail(sc, HEAP_EFORMAT,
                "at byte %zu: node %u (id %u) names string %u but there are only %u strings",
                P->nodes_off, i, s->node_id[i], s->node_name[i], s->string_count);
  s->edges_offset = P->edges_off; /* edge names are checked while building the retainer index */
  s->root = 0;
  if (P->root_index >= 0) {
    if ((uint64_t)P->root_index % P->nf || (uint64_t)P->root_index / P->nf >= s->node_count)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot.root_index %lld is not a node",
                P->snapshot_off, (long long)P->root_index);
    s->root = (uint32_t)(P->root_index / P->nf);
  }
  s->trace_fn = P->trace_fn.v;
  P->trace_fn.v = NULL;
  s->trace_fn_count = s->trace_fn_fields ? (uint32_t)(P->trace_fn.n / s->trace_fn_fields) : 0;
  s->trace_tree = P->trace;
  P->trace = NULL;
  s->trace_tree_count = (uint32_t)P->trace_n;
  if (!P->defer_locations) parser_read_locations(P);
}

void parser_read_locations(struct parser *P) {
  struct scanner *sc = &P->sc;
  struct heap_snapshot *s = P->s;
  struct heap_locs_builder *b = &P->locb;
  uint32_t entry[MAX_FIELDS];
  sc->progress = NULL;
  long pg = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < P->locs_n; i++) {
    sc->p = P->locs_at[i];
    /* give the text back behind us, as the first reading did */
    sc->released = (const char *)((uintptr_t)sc->p & ~(uintptr_t)(pg - 1));
    sc->next_mark = sc->p + ((size_t)4 << 20);
    scan_expect(sc, '[', "'[' starting locations");
    if (scan_peek(sc) == ']') continue;
    for (uint32_t k = 0;;) {
      uint64_t x = scan_uint(sc);
      if (x > UINT32_MAX)
        scan_fail(sc, HEAP_ERANGE, "at byte %zu: locations value %llu too large", scan_offset(sc),
                  (unsigned long long)x);
      entry[k++] = (uint32_t)x;
      if (k == P->lf && P->check_only) {
        k = 0;
      } else if (k == P->lf) {
        if (heap_locs_add(s, b, entry, P->lf, P->loc_field, P->nf))
          scan_fail(sc, HEAP_ENOMEM, "out of memory reading the locations");
        k = 0;
      }
      if (sc->p >= sc->next_mark) {
        scan_checkpoint(sc);
        sc->next_mark = sc->p + ((size_t)4 << 20);
      }
      int c = scan_peek(sc);
      sc->p++;
      if (c == ',') continue;
      if (c == ']') break;
      sc->p--;
      scan_expected(sc, "',' or ']' in a number array");
    }
  }
  P->locs_n = 0;
  if (!P->check_only && heap_locs_finish(s, b))
    scan_fail(sc, HEAP_ENOMEM, "out of memory reading the locations");
}

/* Parses the value at the cursor for a top-level key. Returns 0 when the
 * key must wait (nodes/edges before the meta that lays them out). */
static int parse_key_value(struct parser *P, const char *key) {
  struct scanner *sc = &P->sc;
  int v8 = P->snapshot != NULL, jsc = P->jsc;
  if (!strcmp(key, "snapshot") && !jsc) {
    parse_snapshot_meta(P);
  } else if (!strcmp(key, "nodes") && v8) {
    parse_v8_nodes(P);
  } else if (!strcmp(key, "edges") && v8) {
    if (!P->have_nodes) return 0;
    parse_v8_edges(P);
  } else if (!strcmp(key, "strings") && !jsc) {
    if (P->have_strings)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"strings\" key", scan_offset(sc));
    P->have_strings = 1;
    scan_string_array(sc, &P->pool, &P->str_off);
  } else if (!strcmp(key, "trace_function_infos") && !jsc) {
    scan_uint_array(sc, &P->trace_fn, "trace_function_infos");
  } else if (!strcmp(key, "locations") && !jsc) {
    if (P->locs_n == P->locs_cap) {
      P->locs_cap = P->locs_cap ? P->locs_cap * 2 : 1;
      P->locs_at = scan_realloc(sc, P->locs_at, P->locs_cap * sizeof *P->locs_at);
    }
    P->locs_at[P->locs_n++] = sc->p;
    scan_skip_value(sc); /* read (and its numbers checked) by parser_read_locations() */
  } else if (!strcmp(key, "trace_tree") && !jsc) {
    parse_trace_tree(P);
  } else if ((!strcmp(key, "version") || !strcmp(key, "type")) && !v8) {
    P->jsc = 1;
    scan_skip_value(sc);
  } else if (!strcmp(key, "nodes") && jsc) {
    if (P->have_nodes)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"nodes\" key", scan_offset(sc));
    P->have_nodes = 1;
    P->nodes_off = scan_offset(sc);
    scan_uint_array(sc, &P->jnodes, "nodes");
  } else if (!strcmp(key, "edges") && jsc) {
    if (P->have_edges)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: a second \"edges\" key", scan_offset(sc));
    P->have_edges = 1;
    P->edges_off = scan_offset(sc);
    scan_uint_array(sc, &P->jedges, "edges");
  } else if (!strcmp(key, "nodeClassNames") && !v8) {
    P->jsc = 1; /* only JSC has this key */
    scan_string_array(sc, &P->jpool, &P->jcls_off);
  } else if (!strcmp(key, "edgeNames") && !v8) {
    P->jsc = 1; /* only JSC has this key */
    scan_string_array(sc, &P->jpool, &P->jname_off);
  } else if (!strcmp(key, "edgeTypes") && !v8) {
    P->jsc = 1; /* only JSC has this key */
    scan_string_array(sc, &P->jtypes_pool, &P->jtypes_off);
  } else if (!strcmp(key, "nodes") || !strcmp(key, "edges")) {
    return 0; /* the format or layout is not known yet */
  } else {
    scan_skip_value(sc); /* samples, locations, scopes, ...: not needed */
  }
  return 1;
}

/* Re-reads a value skipped earlier (the text is all mapped, so seeking back
 * is free; released pages fault back in from the file). */
static void parse_deferred(struct parser *P, const char *key, const char *at) {
  struct scanner *sc = &P->sc;
  const char *resume = sc->p;
  sc->p = at;
  if (!parse_key_value(P, key)) {
    if (!P->snapshot && !P->jsc)
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: no \"snapshot\" key: not a V8 heap snapshot",
                scan_offset(sc));
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected \"nodes\" before \"%s\"", scan_offset(sc),
              key);
  }
  sc->p = resume;
}

void parse_top(struct parser *P) {
  struct scanner *sc = &P->sc;
  const char *nodes_at = NULL, *edges_at = NULL;
  if (sc->end - sc->p >= 3 && !memcmp(sc->p, "\xEF\xBB\xBF", 3)) sc->p += 3;
  scan_expect(sc, '{', "'{' starting a heap snapshot");
  if (scan_peek(sc) == '}')
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: an empty object is not a heap snapshot",
              scan_offset(sc));
  for (;;) {
    char key[64];
    scan_key(sc, key, sizeof key);
    scan_ws(sc);
    if (!parse_key_value(P, key)) {
      /* JSON objects are unordered: come back once the meta is known */
      if (!strcmp(key, "nodes"))
        nodes_at = sc->p;
      else
        edges_at = sc->p;
      scan_skip_value(sc);
    }
    int c = scan_peek(sc);
    if (c == ',') {
      sc->p++;
      continue;
    }
    if (c == '}') {
      sc->p++;
      break;
    }
    scan_expected(sc, "',' or '}' after a top-level value");
  }
  scan_ws(sc);
  if (sc->p != sc->end)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: trailing data after the snapshot", scan_offset(sc));
  if (nodes_at) parse_deferred(P, "nodes", nodes_at);
  if (edges_at) parse_deferred(P, "edges", edges_at);
}

void parser_cleanup(struct parser *P) {
  if (P->words_running) {
    pthread_join(P->words_th, NULL);
    P->words_running = 0;
  }
  jval_free(P->snapshot);
  free(P->pool.v);
  free(P->str_off.v);
  free(P->trace_fn.v);
  free(P->trace);
  free(P->locs_at);
  heap_locs_discard(&P->locb);
  free(P->etype);
  free(P->ename);
  free(P->tstack);
  free(P->jnodes.v);
  free(P->jedges.v);
  free(P->jpool.v);
  free(P->jtypes_pool.v);
  free(P->jcls_off.v);
  free(P->jname_off.v);
  free(P->jtypes_off.v);
  free(P->sc.scratch.v);
}

void parser_init(struct parser *P, const char *buf, size_t len, char *err, size_t errlen,
                 heap_progress_fn progress, void *ud) {
  memset(P, 0, sizeof *P);
  P->sc.base = P->sc.p = buf;
  P->sc.end = buf + len;
  P->sc.err = err;
  P->sc.errlen = errlen;
  P->sc.progress = progress;
  P->sc.progress_ud = ud;
  P->sc.released = buf;
  P->sc.next_mark = buf; /* report 0 at once */
  /* V8's trace_tree layout until a meta says otherwise (the tree may come first) */
  static const int8_t troles[] = {R_ID, R_FUNC, R_COUNT, R_SIZE, R_CHILDREN};
  P->tf = 5;
  memcpy(P->trace_role, troles, sizeof troles);
  /* V8's location layout until a meta says otherwise */
  P->lf = 4;
  static const int lfields[] = {0, 1, -1, 2, 3};
  memcpy(P->loc_field, lfields, sizeof lfields);
}
