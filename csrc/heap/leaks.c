/* Three-snapshot leak finding (MemLab's method, grouped the way a person
 * reads a leak: by what holds it). Baseline A, target B after the action,
 * final C after it again. Only C is analysed; A and B contribute their ids,
 * their nodes' extents and a type/name hash (leaks_side.c). The pipeline:
 *
 *   ages        each node of C: in A (old), new in B (first action), new in C (second)
 *   candidates  new objects the rules say can be reported (leaks_rules.c)
 *   holders     each candidate's holder: the nearest object above it in the
 *               dominator tree that A already had (the Map, the listener list,
 *               the timer list, the closure's context)
 *   direct      collections found growing after each action (their storage's
 *               edges grew from A to B to C) hold what their storage holds
 *   groups      one per (holder, leaked class); closures by function name
 *   growth      members per action; the group rules drop what did not grow
 *               after each action, or sits in a collection that stayed bounded
 *   sizes       retained size of the members no other member holds
 *   nesting     groups held inside other leaked objects are marked nested
 *   order       the program's own classes first, then by retained size
 *
 * Linked lists (Node's timer lists, EventTarget's listeners), Map/Set tables
 * and arrays cost nothing extra: the dominator tree walk gives every member
 * its holder in one pass, however long the chain. */
#include <stdlib.h>
#include <string.h>

#include "leaks.h"

#define NONE UINT32_MAX
#define EXIT_BIT (1u << 31)
#define MARK_BIT (1u << 30)

/* ---- ages: one merge of C's ids with A's and B's ---- */
static int stage_ages(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  if (heap_build_id_index(s)) return -1;
  c->age = malloc((size_t)s->node_count + 1);
  c->base_at = malloc((size_t)s->node_count * 4 + 4);
  if (!c->age || !c->base_at) return -1;
  uint32_t j = 0, k = 0;
  for (uint32_t i = 0; i < s->node_count; i++) {
    uint32_t v = s->by_id[i], id = s->node_id[v];
    while (j < c->base->count && c->base->id[j] < id)
      j++;
    while (k < c->target->count && c->target->id[k] < id)
      k++;
    int in_a = j < c->base->count && c->base->id[j] == id;
    int in_b = k < c->target->count && c->target->id[k] == id;
    c->age[v] = in_a ? AGE_OLD : in_b ? AGE_NEW1 : AGE_NEW2;
    /* anything new at all in the final snapshot: the second action ran and growth can be
     * judged (a final snapshot that is the target has nothing new) */
    if (c->age[v] == AGE_NEW2) c->second_round = 1;
    c->base_at[v] = in_a ? j : NONE;
    if (in_a && !in_b) c->age[v] = AGE_GONE_IN_B; /* back from the dead: an id not to trust */
  }
  return 0;
}

/* ---- candidates ---- */
static int stage_candidates(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  c->cand = calloc((size_t)s->node_count + 1, 1);
  if (!c->cand) return -1;
  for (uint32_t v = 0; v < s->node_count; v++) {
    if (c->age[v] != AGE_NEW1 && c->age[v] != AGE_NEW2) continue;
    if (!leak_rules_candidate(c, v)) continue;
    c->cand[v] = c->age[v];
  }
  return 0;
}

/* ---- direct holders: collections whose storage grew after each action ---- */
static void note_candidate(const struct leak_ctx *c, uint32_t h, uint32_t container, uint32_t m,
                           void *ud) {
  (void)h;
  (void)container;
  if (c->cand[m]) *(int *)ud = 1;
}

/* an entry the dominator tree does not put under h (it is held elsewhere
 * too) is still h's */
static void force_holder(const struct leak_ctx *c, uint32_t h, uint32_t container, uint32_t m,
                         void *ud) {
  (void)ud;
  if (c->cand[m] && c->s->idom[m] != h && c->s->idom[m] != container) c->forced[m] = h;
}

static int stage_direct(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  c->forced = malloc((size_t)s->node_count * 4 + 4);
  if (!c->forced) return -1;
  memset(c->forced, 0xFF, (size_t)s->node_count * 4);
  for (uint32_t h = 0; h < s->node_count; h++) {
    if (!leak_is_collection(c, h)) continue;
    int holds = 0; /* does it hold a candidate at all? (cheap, before any lookup) */
    leak_each_entry(c, h, note_candidate, &holds);
    if (!holds) continue;
    uint32_t ext[3];
    leak_holder_extents(c, h, ext);
    if (ext[0] < ext[1] && ext[1] < ext[2]) leak_each_entry(c, h, force_holder, NULL);
  }
  return 0;
}

/* The nearest holder on v's shortest retainer path (memoised in memo). */
static uint32_t path_holder(struct leak_ctx *c, uint32_t v, uint32_t *memo) {
  struct heap_snapshot *s = c->s;
  uint32_t u = v, h = s->root, steps = 0;
  while (u != s->root && steps++ < s->node_count) {
    uint32_t e = s->parent_edge[u];
    if (e == UINT32_MAX) break;
    u = heap_edge_from(s, e);
    if (memo[u] != UINT32_MAX) {
      h = memo[u];
      break;
    }
    if (leak_rules_holder(c, u)) {
      h = u;
      break;
    }
  }
  /* everything walked through has the same holder */
  for (uint32_t w = v, k = 0; w != u && k < steps; k++) {
    uint32_t e = s->parent_edge[w];
    if (e == UINT32_MAX) break;
    w = heap_edge_from(s, e);
    if (w != u) memo[w] = h;
  }
  return h;
}

/* ---- holders: one walk of the dominator tree, carrying the nearest holder ---- */
static int stage_holders(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  uint32_t n = s->node_count;
  c->holder = malloc((size_t)n * 4 + 4);
  uint32_t *ctx = malloc((size_t)n * 4 + 4); /* the holder v's children see */
  size_t cap = 1024, top = 0;
  uint32_t *stack = malloc(cap * 4);
  if (!c->holder || !ctx || !stack) {
    free(ctx);
    free(stack);
    return -1;
  }
  memset(c->holder, 0xFF, (size_t)n * 4);
  c->holder[s->root] = s->root;
  ctx[s->root] = s->root;
  stack[top++] = s->root;
  while (top > 0) {
    uint32_t v = stack[--top];
    uint32_t above = ctx[v];
    size_t need = top + (s->dom_first[v + 1] - s->dom_first[v]);
    if (need > cap) {
      while (cap < need)
        cap *= 2;
      uint32_t *ns = realloc(stack, cap * 4);
      if (!ns) {
        free(ctx);
        free(stack);
        return -1;
      }
      stack = ns;
    }
    for (uint32_t k = s->dom_first[v]; k < s->dom_first[v + 1]; k++) {
      uint32_t w = s->dom_child[k];
      uint32_t h = c->forced[w] != NONE ? c->forced[w] : above;
      c->holder[w] = h;
      ctx[w] = leak_rules_holder(c, w) ? w : h;
      stack[top++] = w;
    }
  }
  /* a GC root says nothing: objects the runtime also holds natively (Deno's
   * timers) are named by the nearest holder on their retainer path instead */
  memset(ctx, 0xFF, (size_t)n * 4);
  for (uint32_t v = 0; v < n; v++) {
    if (!c->cand[v]) continue;
    uint32_t h = c->holder[v];
    if (h == s->root || s->node_kind[s->node_type[h]] == HT_SYNTHETIC)
      c->holder[v] = path_holder(c, v, ctx);
  }
  free(ctx);
  free(stack);
  return 0;
}

/* ---- groups: (holder, class[, function name]) ---- */
static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint32_t group_for(struct leak_ctx *c, uint32_t holder, uint32_t cls, uint32_t fn) {
  uint64_t key = mix(mix(mix(0x1234567, holder), cls), fn);
  if ((size_t)(c->ng + 1) * 2 > c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return NONE;
    for (uint32_t i = 0; i < c->ng; i++) {
      size_t h = c->keys[i] & (cap - 1);
      while (slot[h])
        h = (h + 1) & (cap - 1);
      slot[h] = i + 1;
    }
    free(c->slot);
    c->slot = slot;
    c->cap = cap;
  }
  size_t h = key & (c->cap - 1);
  while (c->slot[h]) {
    struct heap_leak_group *g = &c->g[c->slot[h] - 1];
    if (c->keys[c->slot[h] - 1] == key && g->holder == holder && g->cls == cls && g->fn_name == fn)
      return c->slot[h] - 1;
    h = (h + 1) & (c->cap - 1);
  }
  if (c->ng == c->gcap) {
    uint32_t gcap = c->gcap ? c->gcap * 2 : 64;
    struct heap_leak_group *ng = realloc(c->g, gcap * sizeof *ng);
    uint64_t *nk = realloc(c->keys, gcap * sizeof *nk);
    if (ng) c->g = ng;
    if (nk) c->keys = nk;
    if (!ng || !nk) return NONE;
    c->gcap = gcap;
  }
  struct heap_leak_group *g = &c->g[c->ng];
  memset(g, 0, sizeof *g);
  g->cls = cls;
  g->fn_name = fn;
  g->holder = holder;
  g->example = NONE;
  c->keys[c->ng] = key;
  c->slot[h] = ++c->ng;
  return c->ng - 1;
}

static int stage_groups(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  c->gid = malloc((size_t)s->node_count * 4 + 4);
  if (!c->gid) return -1;
  for (uint32_t v = 0; v < s->node_count; v++) {
    c->gid[v] = NONE;
    if (!c->cand[v]) continue;
    uint32_t fn = s->node_kind[s->node_type[v]] == HT_CLOSURE ? s->node_name[v] : HEAP_NO_NODE;
    uint32_t gi = group_for(c, c->holder[v], s->class_of[v], fn);
    if (gi == NONE) return -1;
    struct heap_leak_group *g = &c->g[gi];
    g->growth[c->cand[v] - 1]++;
    if (c->cand[v] == AGE_NEW1) {
      g->count++;
      if (g->example == NONE || heap_retained_size(s, v) > heap_retained_size(s, g->example))
        g->example = v;
    }
    c->gid[v] = gi;
  }
  return 0;
}

/* ---- growth: the group rules ---- */
static int stage_growth(struct leak_ctx *c) {
  c->keep = calloc((size_t)c->ng + 1, 1);
  if (!c->keep) return -1;
  for (uint32_t i = 0; i < c->ng; i++) {
    struct heap_leak_group *g = &c->g[i];
    leak_holder_extents(c, g->holder, g->holder_extent);
    g->direct = leak_is_collection(c, g->holder) && g->holder_extent[0] < g->holder_extent[1] &&
                g->holder_extent[1] < g->holder_extent[2];
    c->keep[i] = leak_rules_group(c, g);
  }
  return 0;
}

/* ---- sizes and nesting: one walk of the dominator tree ---- */
static int stage_sizes(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  uint32_t *top_count = calloc((size_t)c->ng + 1, 4);
  uint32_t *inside_group = calloc((size_t)c->ng + 1, 4);
  size_t cap = 1024, top = 0;
  uint32_t inside = 0;
  uint32_t *stack = malloc(cap * 4);
  int rc = -1;
  if (!stack || !top_count || !inside_group) goto out;
  stack[top++] = s->root;
  while (top > 0) {
    uint32_t item = stack[--top];
    uint32_t v = item & ~(EXIT_BIT | MARK_BIT);
    if (item & EXIT_BIT) {
      if (item & MARK_BIT) {
        inside--;
        inside_group[c->gid[v]]--;
      }
      continue;
    }
    uint32_t mark = 0, gi = c->gid[v];
    if (gi != NONE && c->cand[v] == AGE_NEW1 && c->keep[gi]) {
      if (!inside_group[gi]) c->g[gi].retained += heap_retained_size(s, v);
      if (!inside) top_count[gi]++;
      inside++;
      inside_group[gi]++;
      mark = MARK_BIT;
    }
    size_t need = top + 1 + (s->dom_first[v + 1] - s->dom_first[v]);
    if (need > cap) {
      while (cap < need)
        cap *= 2;
      uint32_t *ns = realloc(stack, cap * 4);
      if (!ns) goto out;
      stack = ns;
    }
    stack[top++] = v | EXIT_BIT | mark;
    for (uint32_t k = s->dom_first[v]; k < s->dom_first[v + 1]; k++)
      stack[top++] = s->dom_child[k];
  }
  for (uint32_t i = 0; i < c->ng; i++)
    c->g[i].nested = top_count[i] == 0;
  rc = 0;
out:
  free(stack);
  free(top_count);
  free(inside_group);
  return rc;
}

/* ---- allocation sites: the trace node most members were allocated at ---- */
static int by_pair(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int stage_traces(struct leak_ctx *c) {
  struct heap_snapshot *s = c->s;
  if (!s->trace_node) return 0;
  size_t n = 0;
  for (uint32_t v = 0; v < s->node_count; v++)
    n += c->gid[v] != NONE && c->keep[c->gid[v]] && c->cand[v] == AGE_NEW1 && s->trace_node[v];
  if (!n) return 0;
  uint64_t *pairs = malloc(n * sizeof *pairs);
  if (!pairs) return -1;
  n = 0;
  for (uint32_t v = 0; v < s->node_count; v++)
    if (c->gid[v] != NONE && c->keep[c->gid[v]] && c->cand[v] == AGE_NEW1 && s->trace_node[v])
      pairs[n++] = (uint64_t)c->gid[v] << 32 | s->trace_node[v];
  qsort(pairs, n, sizeof *pairs, by_pair);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && pairs[j] == pairs[i])
      j++;
    struct heap_leak_group *g = &c->g[pairs[i] >> 32];
    if (j - i > g->trace_count) {
      g->trace_count = (uint32_t)(j - i);
      g->trace = (uint32_t)pairs[i];
    }
    i = j;
  }
  free(pairs);
  return 0;
}

/* ---- class growth: objects alive at the end, per class and action ---- */
static int by_size_desc(const void *a, const void *b) {
  const struct heap_leak_class *x = a, *y = b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x->cls < y->cls ? -1 : x->cls > y->cls;
}

static int stage_classes(struct leak_ctx *c, struct heap_leak_result *r) {
  struct heap_snapshot *s = c->s;
  struct heap_leak_class *k = calloc((size_t)s->class_count + 1, sizeof *k);
  if (!k) return -1;
  for (uint32_t v = 0; v < s->node_count; v++)
    if (c->cand[v]) {
      struct heap_leak_class *x = &k[s->class_of[v]];
      x->rounds[c->cand[v] - 1]++;
      x->size += heap_self_size(s, v);
    }
  uint32_t kept = 0;
  for (uint32_t i = 0; i < s->class_count; i++)
    if (k[i].rounds[0] && (k[i].rounds[1] || !c->second_round)) {
      k[kept] = k[i];
      k[kept++].cls = i;
    }
  if (kept) qsort(k, kept, sizeof *k, by_size_desc);
  r->classes = k;
  r->nclasses = kept;
  return 0;
}

/* ---- order ---- */
static int by_rank(const void *a, const void *b) {
  const struct heap_leak_group *x = a, *y = b;
  if (x->tier != y->tier) return x->tier < y->tier ? -1 : 1;
  if (x->retained != y->retained) return x->retained < y->retained ? 1 : -1;
  if (x->nested != y->nested) return x->nested ? 1 : -1; /* the holder before the held */
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return x->cls < y->cls ? -1 : x->cls > y->cls;
}

static void stage_order(struct leak_ctx *c, struct heap_leak_result *r) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < c->ng; i++)
    if (c->keep[i]) {
      c->g[i].tier = (uint32_t)leak_rules_tier(c, &c->g[i]);
      c->g[kept++] = c->g[i];
    }
  leak_signatures(c, c->g, kept);
  if (kept) qsort(c->g, kept, sizeof *c->g, by_rank);
  r->groups = c->g;
  r->ngroups = kept;
  c->g = NULL;
}

static void ctx_free(struct leak_ctx *c) {
  free(c->age);
  free(c->base_at);
  free(c->cand);
  free(c->forced);
  free(c->holder);
  free(c->gid);
  free(c->g);
  free(c->keys);
  free(c->slot);
  free(c->keep);
}

int heap_find_leaks(struct heap_snapshot *s, const struct heap_side *base,
                    const struct heap_side *target, struct heap_leak_result *out) {
  memset(out, 0, sizeof *out);
  if (heap_build_classes(s) || heap_build_parent_edges(s) || heap_build_dom_tree(s)) return -1;
  struct leak_ctx c = {.s = s, .base = base, .target = target};
  leak_rules_init(&c);
  int rc = -1;
  if (stage_ages(&c) || stage_candidates(&c) || stage_direct(&c) || stage_holders(&c) ||
      stage_groups(&c) || stage_growth(&c) || stage_sizes(&c) || stage_traces(&c) ||
      stage_classes(&c, out))
    goto done;
  stage_order(&c, out);
  rc = 0;
done:
  if (rc) heap_leak_result_free(out);
  ctx_free(&c);
  return rc;
}

void heap_leak_result_free(struct heap_leak_result *r) {
  free(r->groups);
  free(r->classes);
  memset(r, 0, sizeof *r);
}
