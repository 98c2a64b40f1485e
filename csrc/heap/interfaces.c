/* DevTools' inferInterfaceDefinitions and applyInterfaceDefinitions: plain
 * objects (type "object", name "Object") are named by their properties.
 * Every plain object proposes a name from its property edges in order
 * ("{a, b, c}", __proto__ left out, cut near 120 UTF-16 units); the names
 * that at least max(2, plain objects / 1000) objects propose become
 * definitions, most popular first. Each plain object then takes the
 * definition with the most properties all of which it has (ties: the more
 * popular), or stays "Object". Subset matching walks a trie of the
 * definitions' sorted property lists; any fixed order works, so properties
 * are ordered by string index. */
#include <stdlib.h>
#include <string.h>

#include "ifaces.h"

#define NONE UINT32_MAX
#define MAX_NAME 120 /* DevTools' MAX_INTERFACE_NAME_LENGTH */

struct cand {
  char *name;
  uint32_t props, nprops; /* offset and length in f->props */
  uint32_t count, order;
};

struct tnode {
  uint32_t match;    /* definition index, or NONE */
  uint32_t greatest; /* largest key among the children, or NONE */
};

struct heap_ifaces {
  uint32_t str_object, str_proto;
  /* candidates, then definitions (the first ndefs after sorting) */
  struct cand *c;
  uint32_t nc, ccap, ndefs;
  uint32_t *props;
  size_t nprops, pcap;
  uint32_t *slot; /* name hash -> candidate + 1 */
  size_t scap;
  /* trie */
  struct tnode *t;
  uint32_t nt, tcap;
  uint64_t *ekey; /* (parent << 32 | key) + 1, 0 empty */
  uint32_t *eval;
  size_t ecap, ne;
  /* scratch */
  uint32_t *buf, *states;
  size_t bcap, stcap;
};

static uint64_t hash_bytes(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

int heap_is_plain_object(const struct heap_snapshot *s, uint32_t v) {
  if (s->node_kind[s->node_type[v]] != HT_OBJECT) return 0;
  const char *n = heap_str(s, s->node_name[v]);
  return n[0] == 'O' && !strcmp(n, "Object");
}

/* UTF-16 length of a UTF-8 string, as JavaScript's .length counts. */
static size_t len16(const char *p) {
  size_t n = 0;
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if ((c & 0xC0) != 0x80) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

struct text {
  char *v;
  size_t n, cap, n16;
};

static int put(struct text *t, const char *s, size_t len) {
  if (t->n + len + 1 > t->cap) {
    size_t cap = (t->n + len + 1) * 2;
    char *nv = realloc(t->v, cap);
    if (!nv) return -1;
    t->v = nv;
    t->cap = cap;
  }
  memcpy(t->v + t->n, s, len);
  t->n += len;
  t->v[t->n] = 0;
  return 0;
}

/* formatPropertyName: names with , ' " { or } are shown JSON-quoted. */
static int format_name(struct text *t, const char *name) {
  t->n = 0;
  if (put(t, "", 0)) return -1;
  if (!strpbrk(name, ",'\"{}")) return put(t, name, strlen(name));
  if (put(t, "\"", 1)) return -1;
  for (const char *p = name; *p; p++) {
    unsigned char c = (unsigned char)*p;
    char esc[8];
    const char *out = esc;
    size_t len = 2;
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
    } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      esc[0] = '\\';
      esc[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
    } else if (c < 0x20) {
      static const char hex[] = "0123456789abcdef";
      esc[0] = '\\';
      esc[1] = 'u';
      esc[2] = esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      len = 6;
    } else {
      out = (const char *)p;
      len = 1;
    }
    if (put(t, out, len)) return -1;
  }
  return put(t, "\"", 1);
}

static int push_prop(struct heap_ifaces *f, uint32_t p) {
  if (f->nprops == f->pcap) {
    size_t cap = f->pcap ? f->pcap * 2 : 4096;
    uint32_t *np = realloc(f->props, cap * 4);
    if (!np) return -1;
    f->props = np;
    f->pcap = cap;
  }
  f->props[f->nprops++] = p;
  return 0;
}

/* Counts the name (props at the tail of f->props); keeps them if new. */
static int add_candidate(struct heap_ifaces *f, const char *name, size_t first) {
  if ((size_t)(f->nc + 1) * 2 > f->scap) {
    size_t cap = f->scap ? f->scap * 2 : 1024;
    uint32_t *ns = calloc(cap, 4);
    if (!ns) return -1;
    for (uint32_t i = 0; i < f->nc; i++) {
      size_t h = hash_bytes(f->c[i].name) & (cap - 1);
      while (ns[h])
        h = (h + 1) & (cap - 1);
      ns[h] = i + 1;
    }
    free(f->slot);
    f->slot = ns;
    f->scap = cap;
  }
  size_t h = hash_bytes(name) & (f->scap - 1);
  while (f->slot[h] && strcmp(f->c[f->slot[h] - 1].name, name) != 0)
    h = (h + 1) & (f->scap - 1);
  if (f->slot[h]) {
    f->c[f->slot[h] - 1].count++;
    f->nprops = first; /* known: drop the copy */
    return 0;
  }
  if (f->nc == f->ccap) {
    uint32_t cap = f->ccap ? f->ccap * 2 : 256;
    struct cand *nc = realloc(f->c, cap * sizeof *nc);
    if (!nc) return -1;
    f->c = nc;
    f->ccap = cap;
  }
  char *copy = strdup(name);
  if (!copy) return -1;
  f->c[f->nc] = (struct cand){copy, (uint32_t)first, (uint32_t)(f->nprops - first), 1, f->nc};
  f->slot[h] = ++f->nc;
  return 0;
}

static int by_count(const void *a, const void *b) {
  const struct cand *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t child(const struct heap_ifaces *f, uint32_t node, uint32_t key) {
  if (!f->ecap) return NONE;
  uint64_t k = ((uint64_t)node << 32 | key) + 1;
  size_t h = mix64(k) & (f->ecap - 1);
  while (f->ekey[h]) {
    if (f->ekey[h] == k) return f->eval[h];
    h = (h + 1) & (f->ecap - 1);
  }
  return NONE;
}

static int add_child(struct heap_ifaces *f, uint32_t node, uint32_t key, uint32_t *out) {
  uint32_t c = child(f, node, key);
  if (c != NONE) {
    *out = c;
    return 0;
  }
  if ((f->ne + 1) * 2 > f->ecap) {
    size_t cap = f->ecap ? f->ecap * 2 : 1024;
    uint64_t *nk = calloc(cap, 8);
    uint32_t *nv = malloc(cap * 4);
    if (!nk || !nv) {
      free(nk);
      free(nv);
      return -1;
    }
    for (size_t i = 0; i < f->ecap; i++)
      if (f->ekey[i]) {
        size_t h = mix64(f->ekey[i]) & (cap - 1);
        while (nk[h])
          h = (h + 1) & (cap - 1);
        nk[h] = f->ekey[i];
        nv[h] = f->eval[i];
      }
    free(f->ekey);
    free(f->eval);
    f->ekey = nk;
    f->eval = nv;
    f->ecap = cap;
  }
  if (f->nt == f->tcap) {
    uint32_t cap = f->tcap * 2;
    struct tnode *nt = realloc(f->t, cap * sizeof *nt);
    if (!nt) return -1;
    f->t = nt;
    f->tcap = cap;
  }
  c = f->nt++;
  f->t[c] = (struct tnode){NONE, NONE};
  uint64_t k = ((uint64_t)node << 32 | key) + 1;
  size_t h = mix64(k) & (f->ecap - 1);
  while (f->ekey[h])
    h = (h + 1) & (f->ecap - 1);
  f->ekey[h] = k;
  f->eval[h] = c;
  f->ne++;
  if (f->t[node].greatest == NONE || f->t[node].greatest < key) f->t[node].greatest = key;
  *out = c;
  return 0;
}

static uint32_t find_string(const struct heap_snapshot *s, const char *want) {
  for (uint32_t i = 0; i < s->string_count; i++)
    if (!strcmp(heap_str(s, i), want)) return i;
  return NONE;
}

struct heap_ifaces *heap_ifaces_build(const struct heap_snapshot *s) {
  struct heap_ifaces *f = calloc(1, sizeof *f);
  struct text name = {0}, prop = {0};
  if (!f) return NULL;
  f->str_proto = find_string(s, "__proto__");
  f->tcap = 256;
  f->t = malloc(f->tcap * sizeof *f->t);
  if (!f->t) goto fail;
  f->nt = 1;
  f->t[0] = (struct tnode){NONE, NONE};
  uint64_t total = 0;
  for (uint32_t v = 0; v < s->node_count; v++) {
    if (!heap_is_plain_object(s, v)) continue;
    total++;
    name.n = 0;
    name.n16 = 1;
    if (put(&name, "{", 1)) goto fail;
    size_t first = f->nprops;
    for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
      uint32_t en = heap_edge_name_at(s, v, e);
      if (heap_edge_kind_at(s, v, e) != ET_PROPERTY || en == f->str_proto) continue;
      if (format_name(&prop, heap_str(s, en))) goto fail;
      size_t l16 = len16(prop.v);
      if (name.n16 > 1 && name.n16 + l16 > MAX_NAME) break;
      if (name.n16 != 1) {
        if (put(&name, ", ", 2)) goto fail;
        name.n16 += 2;
      }
      if (put(&name, prop.v, prop.n) || push_prop(f, en)) goto fail;
      name.n16 += l16;
    }
    if (f->nprops == first) continue;
    if (put(&name, "}", 1) || add_candidate(f, name.v, first)) goto fail;
  }
  free(name.v);
  free(prop.v);
  name.v = prop.v = NULL;
  free(f->slot);
  f->slot = NULL;
  if (f->nc) qsort(f->c, f->nc, sizeof *f->c, by_count);
  double min = total / 1000.0 > 2 ? total / 1000.0 : 2;
  while (f->ndefs < f->nc && f->c[f->ndefs].count >= min)
    f->ndefs++;
  /* the trie of the definitions' sorted property lists */
  for (uint32_t d = 0; d < f->ndefs; d++) {
    uint32_t *p = f->props + f->c[d].props, np = f->c[d].nprops;
    qsort(p, np, 4, cmp_u32);
    uint32_t node = 0;
    for (uint32_t i = 0; i < np; i++)
      if (add_child(f, node, p[i], &node)) goto fail;
    if (f->t[node].match == NONE) f->t[node].match = d;
  }
  return f;
fail:
  free(name.v);
  free(prop.v);
  heap_ifaces_free(f);
  return NULL;
}

static uint32_t better(const struct heap_ifaces *f, uint32_t a, uint32_t b) {
  if (b == NONE) return a;
  if (a == NONE) return b;
  if (f->c[a].nprops != f->c[b].nprops) return f->c[a].nprops > f->c[b].nprops ? a : b;
  return a <= b ? a : b;
}

const char *heap_ifaces_match(struct heap_ifaces *f, const struct heap_snapshot *s, uint32_t v) {
  if (!f->ndefs) return NULL;
  size_t np = 0;
  for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
    if (heap_edge_kind_at(s, v, e) != ET_PROPERTY) continue;
    if (np == f->bcap) {
      size_t cap = f->bcap ? f->bcap * 2 : 64;
      uint32_t *nb = realloc(f->buf, cap * 4);
      if (!nb) return NULL;
      f->buf = nb;
      f->bcap = cap;
    }
    f->buf[np++] = heap_edge_name_at(s, v, e);
  }
  qsort(f->buf, np, 4, cmp_u32);
  size_t ns = 0;
  uint32_t best = f->t[0].match;
  if (!f->stcap) {
    f->states = malloc(64 * 4);
    if (!f->states) return NULL;
    f->stcap = 64;
  }
  f->states[ns++] = 0;
  for (size_t i = 0; i < np && ns > 0; i++) {
    uint32_t p = f->buf[i];
    size_t old = ns, keep = 0;
    for (size_t k = 0; k < old; k++) {
      uint32_t st = f->states[k];
      uint32_t c = child(f, st, p);
      int alive = f->t[st].greatest != NONE && p < f->t[st].greatest;
      if (alive) f->states[keep++] = st;
      if (c == NONE) continue;
      best = better(f, best, f->t[c].match);
      int dup = 0;
      for (size_t j = 0; j < keep && !dup; j++)
        dup = f->states[j] == c;
      for (size_t j = old; j < ns && !dup; j++)
        dup = f->states[j] == c;
      if (dup) continue;
      if (ns == f->stcap) {
        uint32_t *nsv = realloc(f->states, f->stcap * 2 * 4);
        if (!nsv) return NULL;
        f->states = nsv;
        f->stcap *= 2;
      }
      f->states[ns++] = c;
    }
    /* close the gap between the kept old states and the new ones */
    memmove(f->states + keep, f->states + old, (ns - old) * 4);
    ns = keep + (ns - old);
  }
  return best == NONE ? NULL : f->c[best].name;
}

void heap_ifaces_free(struct heap_ifaces *f) {
  if (!f) return;
  for (uint32_t i = 0; i < f->nc; i++)
    free(f->c[i].name);
  free(f->c);
  free(f->props);
  free(f->slot);
  free(f->t);
  free(f->ekey);
  free(f->eval);
  free(f->buf);
  free(f->states);
  free(f);
}
